//! `pullwatch run --webhook URL`: the alert goes to the output and, as its JSON line,
//! to the webhook (with the bearer token from `PULLWATCH_WEBHOOK_TOKEN`), after the
//! endpoint's first answer was a 503.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request: its request line, headers (lower-cased names) and body.
type Request = (String, Vec<(String, String)>, String);

/// Answers 503 to the first request and 200 after, on 127.0.0.1; records each one.
fn webhook_server() -> (String, Arc<Mutex<Vec<Request>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let n = {
                let mut v = rec.lock().unwrap();
                v.push((
                    first.trim().to_string(),
                    headers,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                v.len()
            };
            let status = if n == 1 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

#[test]
fn the_alert_goes_to_stdout_and_to_the_webhook_once() {
    let (url, seen) = webhook_server();
    let events = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/docker/events.jsonl"
    ))
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .args(["run", "--stdin", "--webhook", &url])
        .env("PULLWATCH_WEBHOOK_TOKEN", "t0ken")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&events).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("\"rule\":\"an0691.chain\""));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (line, headers, body) in &seen {
        assert_eq!(line, "POST /alerts HTTP/1.1");
        let h = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("content-type"), Some("application/json"));
        assert_eq!(h("authorization"), Some("Bearer t0ken"));
        // The same line the output got.
        assert_eq!(body, lines[0]);
    }
}

#[test]
fn a_webhook_that_is_not_http_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .args(["run", "--stdin", "--webhook", "ftp://127.0.0.1/x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http:// and https://"));
}
