//! The webhook sink against a real HTTP server on loopback: retried on 503 until
//! delivered exactly once, never retried on 400, bounded when nothing listens, and
//! never holding up the caller while it posts.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pullwatch_model::{Alert, AlertEntity, AlertImage, Severity, Ts};
use pullwatch_report::{AlertSink, CollectSink};
use pullwatch_serve::webhook::{RetryPolicy, TeeSink, WebhookSink};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the server got.
#[derive(Clone, Debug)]
struct Seen {
    body: String,
    content_type: Option<String>,
    auth: Option<String>,
    answered: u16,
}

#[derive(Default)]
struct Script {
    /// Statuses to answer, in order; 200 once they run out.
    answers: Vec<u16>,
    seen: Vec<Seen>,
}

async fn hook(
    State(s): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let mut s = s.lock().unwrap();
    let n = s.seen.len();
    let status = s.answers.get(n).copied().unwrap_or(200);
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    s.seen.push(Seen {
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: h("content-type"),
        auth: h("authorization"),
        answered: status,
    });
    (StatusCode::from_u16(status).unwrap(), "")
}

/// Serves the script on 127.0.0.1 (a free port) from a thread of its own.
fn server(answers: Vec<u16>) -> (String, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        answers,
        seen: Vec::new(),
    }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hooks/pullwatch", listener.local_addr().unwrap());
    let state = script.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new()
                .route("/hooks/pullwatch", post(hook))
                .with_state(state);
            axum::serve(l, app).await.unwrap();
        });
    });
    (url, script)
}

fn alert() -> Alert {
    Alert {
        rule: "an0691.chain",
        analytic: "AN0691",
        technique: "T1204.003",
        severity: Severity::High,
        time: Ts(1_795_166_190_000_000_000),
        entity: AlertEntity::default(),
        image: AlertImage::default(),
        reasons: vec!["ran sh ('sh' in suspicious_binaries)".into()],
        evidence: vec![],
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RetryPolicy::default()
    }
}

#[test]
fn two_503s_are_retried_and_the_alert_arrives_once() {
    let (url, script) = server(vec![503, 503]);
    let mut sink = WebhookSink::new(&url, Some("s3cret"), fast()).unwrap();
    let stats = sink.stats();
    sink.emit(&alert(), "72ff7138bc30193987aa87aa64676cdf")
        .unwrap();
    sink.flush().unwrap();
    assert!(sink.drain(Duration::from_secs(10)));
    let seen = script.lock().unwrap().seen.clone();
    assert_eq!(
        seen.iter().map(|s| s.answered).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
    let expected =
        pullwatch_report::json::alert_line_with_id(&alert(), "72ff7138bc30193987aa87aa64676cdf");
    // Every try carries the same alert; exactly one was accepted.
    assert!(seen.iter().all(|s| s.body == expected));
    assert_eq!(seen.iter().filter(|s| s.answered == 200).count(), 1);
    assert!(seen
        .iter()
        .all(|s| s.content_type.as_deref() == Some("application/json")));
    assert!(seen
        .iter()
        .all(|s| s.auth.as_deref() == Some("Bearer s3cret")));
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
    assert_eq!(stats.failed.load(Ordering::Relaxed), 0);
}

#[test]
fn a_400_is_not_retried() {
    let (url, script) = server(vec![400]);
    let mut sink = WebhookSink::new(&url, None, fast()).unwrap();
    let stats = sink.stats();
    sink.emit(&alert(), "a1").unwrap();
    assert!(sink.drain(Duration::from_secs(10)));
    let seen = script.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].auth, None);
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 1);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 0);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
    // The next alert is tried on its own.
    sink.emit(&alert(), "a2").unwrap();
    assert!(sink.drain(Duration::from_secs(10)));
    assert_eq!(script.lock().unwrap().seen.len(), 2);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
}

#[test]
fn a_429_is_retried_and_an_endless_500_gives_up_after_the_attempts() {
    let (url, script) = server(vec![429, 500, 500, 500, 500, 500]);
    let mut sink = WebhookSink::new(&url, None, fast()).unwrap();
    let stats = sink.stats();
    sink.emit(&alert(), "a1").unwrap();
    assert!(sink.drain(Duration::from_secs(10)));
    assert_eq!(script.lock().unwrap().seen.len(), 5);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 4);
    assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
}

#[test]
fn nothing_listening_is_given_up_within_the_deadline() {
    // A port that was just free: connecting is refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let policy = RetryPolicy {
        attempts: 100,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        request_timeout: Duration::from_millis(500),
        deadline: Duration::from_secs(1),
    };
    let mut sink = WebhookSink::new(&format!("http://127.0.0.1:{port}/x"), None, policy).unwrap();
    let stats = sink.stats();
    let t = Instant::now();
    // A dead webhook never fails the service's output, nor holds it up.
    sink.emit(&alert(), "a1").unwrap();
    assert!(t.elapsed() < Duration::from_millis(200));
    assert!(sink.drain(Duration::from_secs(5)));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    assert!(stats.retries.load(Ordering::Relaxed) >= 2);
}

#[test]
fn the_tee_gives_every_alert_to_the_file_and_the_webhook() {
    let (url, script) = server(vec![]);
    struct Shared(Arc<Mutex<CollectSink>>);
    impl AlertSink for Shared {
        fn emit(&mut self, a: &Alert, id: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().emit(a, id)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let collected = Arc::new(Mutex::new(CollectSink::default()));
    let mut tee = TeeSink::new(vec![
        Box::new(Shared(collected.clone())),
        Box::new(WebhookSink::new(&url, None, fast()).unwrap()),
    ]);
    tee.emit(&alert(), "a1").unwrap();
    tee.emit(&alert(), "a2").unwrap();
    tee.flush().unwrap();
    assert_eq!(collected.lock().unwrap().alerts.len(), 2);
    // Dropped as the service ends: the queue is drained first.
    drop(tee);
    let seen = script.lock().unwrap().seen.clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].body.starts_with("{\"id\":\"a2\""));
}

#[test]
fn a_slow_endpoint_does_not_hold_up_the_caller_and_the_end_waits_for_it() {
    let (url, script) = server(vec![]);
    // The server's handler holds the lock: while the test holds it, every request
    // waits.
    let guard = script.lock().unwrap();
    let mut sink = WebhookSink::new(&url, None, fast()).unwrap();
    let stats = sink.stats();
    let t = Instant::now();
    for i in 0..3 {
        sink.emit(&alert(), &format!("a{i}")).unwrap();
    }
    sink.flush().unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert!(!sink.drain(Duration::from_millis(300)));
    assert_eq!(stats.pending.load(Ordering::Relaxed), 3);
    drop(guard);
    // Dropping the sink (the service ending) waits for what was queued.
    drop(sink);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 3);
    assert_eq!(stats.pending.load(Ordering::Relaxed), 0);
    let seen = script.lock().unwrap().seen.clone();
    let ids: Vec<bool> = (0..3)
        .map(|i| seen[i].body.starts_with(&format!("{{\"id\":\"a{i}\"")))
        .collect();
    assert_eq!(ids, [true, true, true]);
}
