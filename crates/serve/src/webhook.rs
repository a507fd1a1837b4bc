//! Alerts POSTed to a webhook (a SOAR, a chat relay, an incident tool), as well as
//! written to stdout or a file.
//!
//! Each alert is one request whose body is the alert's JSON line (the `json` format,
//! `id` first), `Content-Type: application/json`, with `Authorization: Bearer TOKEN`
//! when a token is given (`PULLWATCH_WEBHOOK_TOKEN`: kept out of the config file and
//! the process's arguments, which other users can read).
//!
//! **Retries.** Connection errors, timeouts, `429` and `5xx` are retried with
//! exponential backoff (a `Retry-After` in seconds is honoured when longer), up to
//! [`RetryPolicy::attempts`] and never past [`RetryPolicy::deadline`], so a dead
//! endpoint delays the pipeline by a bounded time and never stops it. Any other
//! answer that is not a success (`400`, `401`, `404`, a redirect) is the endpoint
//! refusing this alert: retrying cannot change that, so it is counted and logged, not
//! retried. An alert that could not be delivered is counted and logged, and the
//! service goes on: the alert is still in the service's other output, and a webhook
//! outage must not take detection down with it.
//!
//! **Queue.** Alerts are posted by a thread of the sink's own, from a bounded queue
//! ([`QUEUE`] alerts): a slow or dead endpoint delays neither detection nor the other
//! outputs, and HTTP ingest is not refused because the pipeline waits on a webhook.
//! When the queue is full an alert is not queued (counted in `dropped`, logged); it is
//! still in the other output. When the service ends, the sink waits for the queue to
//! drain, at most [`RetryPolicy::deadline`].
//!
//! **Client.** `ureq` 3: blocking (the posting thread needs no async runtime), small, with rustls for `https://` endpoints and no system TLS
//! library to link. Redirects are not followed: an alert is not re-sent to wherever a
//! `3xx` points.

use pullwatch_model::Alert;
use pullwatch_report::AlertSink;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The environment variable holding the webhook's bearer token.
pub const TOKEN_ENV: &str = "PULLWATCH_WEBHOOK_TOKEN";

/// Alerts waiting to be posted, at most.
pub const QUEUE: usize = 1000;

/// How hard one alert is pushed before it is given up.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Requests per alert, the first included.
    pub attempts: u32,
    /// The wait before the first retry; doubled for each next one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// One request's limit: connecting, sending, and the answer.
    pub request_timeout: Duration,
    /// No request starts and no wait reaches past this, counted from the first try.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waits of 0.5, 1, 2 and 4 s, 5 s per request, 30 s in all.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            request_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

/// Counts, shared so they can be read (by tests, by metrics) while the sink is in use.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Alerts the endpoint accepted (2xx).
    pub delivered: AtomicU64,
    /// Requests repeated after a retryable failure.
    pub retries: AtomicU64,
    /// Alerts given up after the attempts or the deadline ran out.
    pub failed: AtomicU64,
    /// Alerts the endpoint refused with a status that is not retried.
    pub rejected: AtomicU64,
    /// Alerts not queued: the queue was full.
    pub dropped: AtomicU64,
    /// Alerts queued and not yet delivered, given up or refused.
    pub pending: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook URL {0:?}: only http:// and https:// URLs can receive alerts")]
    Scheme(String),
    #[error("webhook token in ${TOKEN_ENV} is not a valid header value")]
    Token,
    #[error("cannot start the webhook sender: {0}")]
    Thread(#[source] std::io::Error),
}

/// Posts one alert at a time, with the retries; [`WebhookSink`] runs it on its thread.
pub struct WebhookClient {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
    policy: RetryPolicy,
    stats: Arc<WebhookStats>,
}

/// What one request came to.
enum Attempt {
    Delivered,
    /// Worth another try; the endpoint may have said when (`Retry-After`).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Refused(String),
}

impl WebhookClient {
    pub fn new(
        url: &str,
        token: Option<&str>,
        policy: RetryPolicy,
    ) -> Result<WebhookClient, WebhookError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(WebhookError::Scheme(url.to_string()));
        }
        let auth = match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Some(format!("Bearer {t}")),
            Some(_) => return Err(WebhookError::Token),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(policy.request_timeout))
            .user_agent(format!("pullwatch/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(WebhookClient {
            agent,
            url: url.to_string(),
            auth,
            policy,
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> Arc<WebhookStats> {
        self.stats.clone()
    }

    fn attempt(&self, body: &str, timeout: Duration) -> Attempt {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let sent = req
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body);
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    why: e.to_string(),
                    after: None,
                }
            }
        };
        let status = resp.status();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read (a little of) the answer so the connection can be reused.
        let _ = resp.into_body().with_config().limit(64 << 10).read_to_vec();
        if status.is_success() {
            Attempt::Delivered
        } else if status.as_u16() == 429 || status.is_server_error() {
            Attempt::Retry {
                why: format!("answered {status}"),
                after,
            }
        } else {
            Attempt::Refused(format!("answered {status}"))
        }
    }

    /// Posts one alert's line, retrying as the policy allows. Returns whether the
    /// endpoint accepted it.
    pub fn post(&self, body: &str) -> bool {
        let p = &self.policy;
        let start = Instant::now();
        let mut backoff = p.first_backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let left = p.deadline.saturating_sub(start.elapsed());
            let why = match self.attempt(body, p.request_timeout.min(left)) {
                Attempt::Delivered => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Attempt::Refused(why) => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "pullwatch: webhook {}: {why}; the alert is not sent again",
                        self.url
                    );
                    return false;
                }
                Attempt::Retry { why, after } => {
                    let wait = after.map_or(backoff, |a| a.max(backoff).min(p.max_backoff));
                    let left = p.deadline.saturating_sub(start.elapsed());
                    if tries < p.attempts && wait < left {
                        std::thread::sleep(wait);
                        backoff = (backoff * 2).min(p.max_backoff);
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    why
                }
            };
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "pullwatch: webhook {}: {why}; gave up on the alert after {tries} attempt(s) in {:.1}s",
                self.url,
                start.elapsed().as_secs_f64()
            );
            return false;
        }
    }
}

/// The webhook as an [`AlertSink`]: alerts are queued and posted by a thread of its own.
pub struct WebhookSink {
    queue: Option<SyncSender<String>>,
    stats: Arc<WebhookStats>,
    url: String,
    drain_within: Duration,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl WebhookSink {
    pub fn new(
        url: &str,
        token: Option<&str>,
        policy: RetryPolicy,
    ) -> Result<WebhookSink, WebhookError> {
        let drain_within = policy.deadline;
        let client = WebhookClient::new(url, token, policy)?;
        let stats = client.stats();
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let worker = std::thread::Builder::new()
            .name("pullwatch-webhook".into())
            .spawn(move || {
                for line in rx {
                    client.post(&line);
                    client.stats.pending.fetch_sub(1, Ordering::Relaxed);
                }
            })
            .map_err(WebhookError::Thread)?;
        Ok(WebhookSink {
            queue: Some(tx),
            stats,
            url: url.to_string(),
            drain_within,
            worker: Some(worker),
        })
    }

    /// A sink for `url` with the token from [`TOKEN_ENV`] and the default policy.
    pub fn from_env(url: &str) -> Result<WebhookSink, WebhookError> {
        let token = std::env::var(TOKEN_ENV).ok();
        WebhookSink::new(url, token.as_deref(), RetryPolicy::default())
    }

    pub fn stats(&self) -> Arc<WebhookStats> {
        self.stats.clone()
    }

    /// Waits until every queued alert was delivered, refused or given up, or `within`
    /// passed; returns whether the queue is empty.
    pub fn drain(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while self.stats.pending.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl AlertSink for WebhookSink {
    /// Queues the alert's line; never waits on the endpoint and never fails (see the
    /// module's documentation).
    fn emit(&mut self, alert: &Alert, id: &str) -> io::Result<()> {
        let Some(q) = &self.queue else {
            return Ok(());
        };
        let line = pullwatch_report::json::alert_line_with_id(alert, id);
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = q.try_send(line) {
            self.stats.pending.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let why = match e {
                TrySendError::Full(_) => "its queue is full",
                TrySendError::Disconnected(_) => "its sender stopped",
            };
            eprintln!(
                "pullwatch: webhook {}: alert {id} not sent: {why}",
                self.url
            );
        }
        Ok(())
    }

    /// Does not wait for the endpoint: called after every batch of alerts.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for WebhookSink {
    /// The service is ending: what is queued gets its chance, for a bounded time.
    fn drop(&mut self) {
        drop(self.queue.take());
        if !self.drain(self.drain_within) {
            eprintln!(
                "pullwatch: webhook {}: {} alert(s) still queued at exit were not sent",
                self.url,
                self.stats.pending.load(Ordering::Relaxed)
            );
            return;
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Every alert to each of several sinks, in order (stdout or a file, then a webhook).
pub struct TeeSink {
    sinks: Vec<Box<dyn AlertSink>>,
}

impl TeeSink {
    pub fn new(sinks: Vec<Box<dyn AlertSink>>) -> TeeSink {
        TeeSink { sinks }
    }
}

impl AlertSink for TeeSink {
    /// Every sink gets the alert even when one before it failed; the first error is
    /// returned.
    fn emit(&mut self, alert: &Alert, id: &str) -> io::Result<()> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            if let Err(e) = s.emit(alert, id) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        for s in &mut self.sinks {
            if let Err(e) = s.flush() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

/// `sink`, and the webhook at `url` too when one is configured (the token from
/// [`TOKEN_ENV`]): what `pullwatch run` writes alerts to.
pub fn with_webhook(
    sink: Box<dyn AlertSink>,
    url: Option<&str>,
) -> Result<Box<dyn AlertSink>, WebhookError> {
    match url {
        None => Ok(sink),
        Some(u) => Ok(Box::new(TeeSink::new(vec![
            sink,
            Box::new(WebhookSink::from_env(u)?),
        ]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_and_printable_tokens_are_taken() {
        let p = RetryPolicy::default;
        assert!(WebhookClient::new("http://127.0.0.1:9/x", None, p()).is_ok());
        assert!(WebhookClient::new("HTTPS://127.0.0.1/x", Some("t0k"), p()).is_ok());
        assert!(matches!(
            WebhookSink::new("file:///etc/passwd", None, p()),
            Err(WebhookError::Scheme(_))
        ));
        assert!(matches!(
            WebhookClient::new("http://127.0.0.1/x", Some("a\nb"), p()),
            Err(WebhookError::Token)
        ));
        let s = WebhookClient::new("http://127.0.0.1/x", Some(" t "), p()).unwrap();
        assert_eq!(s.auth.as_deref(), Some("Bearer t"));
    }
}
