//! Docker Engine events read live from the API socket (`GET /events`), for hosts where
//! pullwatch runs beside the daemon rather than behind a log shipper.
//!
//! Each event the daemon streams is appended, as the JSON line it sent, to the service's
//! spool ([`crate::spool`]), and the follower decodes it there with the Docker events
//! decoder. Events pushed over the socket therefore take the same path as files and
//! HTTP pushes: one decoder, positions and checkpoints in the spool, replay after a
//! restart.
//!
//! **Resuming.** The daemon replays what it still holds (`since=`) on a new connection.
//! After each batch appended to the spool, the time of the newest event (`timeNano`)
//! and the `(id, action)` of the events at exactly that time are written to
//! `docker-events.cursor` in the state directory, replaced atomically. A reconnection,
//! or a restart of the service, asks for `since` one second before that time (the
//! daemon's `since` is in seconds, and events of the same second may have been logged
//! after the cursor was written), and skips what the cursor says was already appended:
//! events older than the cursor's time, and those at its time with a remembered
//! `(id, action)`. The engine does not dedupe Docker events (they carry no id of their
//! own), so the skip has to happen here, or a chain would see its records twice. The
//! one window left is a crash between the append and the cursor write: that batch is
//! appended again after the restart.
//!
//! **Backoff.** A missing socket, a refused connection, an error answer or the stream
//! ending (the daemon restarting) are retried after 250 ms, doubling up to 30 s; a
//! connection that got a `200` resets the delay.
//!
//! **Client.** hyper 1's HTTP/1 client connection over a `tokio::net::UnixStream`
//! (wrapped by hyper-util's `TokioIo`): both are in the tree already for the HTTP
//! ingest server, hyper decodes the chunked body, and the body is read frame by frame
//! as raw bytes, so the spool gets exactly the line the daemon wrote. bollard would
//! add a large typed API surface and re-serialise events through its own model, which
//! drops fields (the legacy `status`/`id`/`from`) the decoder reads.

use crate::metrics::Metrics;
use crate::spool::{Spool, SpoolError};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The spool source the daemon's events are kept under: a clock of their own in the
/// merge, apart from what is pushed over HTTP.
pub const DOCKER_SOURCE: &str = "docker-events";

/// The cursor's file name in the state directory.
pub const CURSOR_FILE: &str = "docker-events.cursor";

/// How far back `since` reaches before the last event seen: the daemon's `since` has
/// a resolution of seconds.
const OVERLAP_SECS: i64 = 1;

/// `(id, action)` pairs remembered at the cursor's time. Events sharing one
/// nanosecond are rare; the bound only matters for a daemon that stamps many alike.
const MAX_SEEN_AT_CURSOR: usize = 1024;

const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a wait looks at the stop flags.
const STOP_POLL: Duration = Duration::from_millis(50);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to read the daemon's events.
#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// The Engine API socket (`/var/run/docker.sock`; Podman's compat socket works too).
    pub socket: PathBuf,
    /// Where the cursor is kept (the service's state directory).
    pub state_dir: PathBuf,
    /// `v1.43` to ask for `/v1.43/events`; without it the daemon's own version answers.
    pub api_version: Option<String>,
    /// On a first start (no cursor yet), how far back to ask the daemon to replay, so
    /// that a chain begun just before the service started is still seen. The daemon
    /// holds only its recent events anyway.
    pub first_lookback: Duration,
    /// A line longer than this is dropped (and counted), as files' long lines are.
    pub max_line_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("the daemon answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the event stream ended")]
    Ended,
    #[error("cannot keep the events cursor: {0}")]
    Cursor(#[source] std::io::Error),
    #[error("cannot write the spool: {0}")]
    Spool(#[source] std::io::Error),
}

/// The last event appended: where a new connection resumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `timeNano` of the newest event appended.
    pub time_nano: i64,
    /// `(id, action)` of the events appended at exactly `time_nano`.
    pub seen: BTreeSet<(String, String)>,
}

impl Cursor {
    /// The cursor in `dir`, if one was written. An unreadable cursor is reported and
    /// ignored: the service then starts as on a first run rather than not at all.
    pub fn load(dir: &Path) -> Option<Cursor> {
        let path = dir.join(CURSOR_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                eprintln!("pullwatch: docker: cannot read {}: {e}", path.display());
                return None;
            }
        };
        match serde_json::from_slice(&text) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "pullwatch: docker: ignoring {} ({e}); resuming as on a first start",
                    path.display()
                );
                None
            }
        }
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        pullwatch_state::atomic::replace(&dir.join(CURSOR_FILE), dir, CURSOR_FILE, |w| {
            w.write_all(&bytes)
        })
    }

    /// The `since` to ask for: a second before the cursor.
    pub fn since_secs(&self) -> i64 {
        self.time_nano
            .div_euclid(1_000_000_000)
            .saturating_sub(OVERLAP_SECS)
    }

    /// True when the event was appended before (it is at or behind the cursor).
    fn covers(&self, k: &EventKey) -> bool {
        k.time_nano < self.time_nano
            || (k.time_nano == self.time_nano
                && self.seen.contains(&(k.id.clone(), k.action.clone())))
    }

    /// Moves the cursor to an event just appended.
    fn advance(&mut self, k: EventKey) {
        if k.time_nano > self.time_nano {
            self.time_nano = k.time_nano;
            self.seen.clear();
        }
        if k.time_nano == self.time_nano && self.seen.len() < MAX_SEEN_AT_CURSOR {
            self.seen.insert((k.id, k.action));
        }
    }
}

/// What identifies an event for the overlap: its time, actor and action.
#[derive(Debug, PartialEq, Eq)]
struct EventKey {
    time_nano: i64,
    id: String,
    action: String,
}

/// The fields of an event the cursor needs; everything else is the decoder's.
#[derive(Deserialize)]
struct KeyWire {
    #[serde(rename = "timeNano")]
    time_nano: Option<i64>,
    time: Option<i64>,
    #[serde(rename = "Action")]
    action: Option<String>,
    status: Option<String>,
    #[serde(rename = "Actor")]
    actor: Option<KeyActor>,
    id: Option<String>,
}

#[derive(Deserialize)]
struct KeyActor {
    #[serde(rename = "ID")]
    id: Option<String>,
}

/// The key of one event line, or `None` when it is not an event pullwatch could place
/// (the line is still appended: the decoder then reports it, located).
fn event_key(line: &[u8]) -> Option<EventKey> {
    let w: KeyWire = serde_json::from_slice(line).ok()?;
    let time_nano = match (w.time_nano, w.time) {
        (Some(n), _) => n,
        (None, Some(s)) => s.checked_mul(1_000_000_000)?,
        (None, None) => return None,
    };
    let id = w
        .actor
        .and_then(|a| a.id)
        .filter(|i| !i.is_empty())
        .or(w.id)
        .unwrap_or_default();
    Some(EventKey {
        time_nano,
        id,
        action: w.action.or(w.status).unwrap_or_default(),
    })
}

/// Splits a byte stream into lines, holding a partial line until its newline and
/// dropping (and counting) lines longer than the limit without holding them whole.
struct LineSplitter {
    carry: Vec<u8>,
    discarding: bool,
    max: usize,
    too_long: u64,
}

impl LineSplitter {
    fn new(max: usize) -> LineSplitter {
        LineSplitter {
            carry: Vec::new(),
            discarding: false,
            max,
            too_long: 0,
        }
    }

    /// Feeds bytes; `line` gets every complete, non-empty line without its newline.
    fn feed(&mut self, mut bytes: &[u8], line: &mut dyn FnMut(&[u8])) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&bytes[..nl], &bytes[nl + 1..]);
            if self.discarding {
                self.discarding = false;
            } else if self.carry.len() + head.len() > self.max {
                self.too_long += 1;
                self.carry.clear();
            } else if self.carry.is_empty() {
                emit_trimmed(head, line);
            } else {
                self.carry.extend_from_slice(head);
                let whole = std::mem::take(&mut self.carry);
                emit_trimmed(&whole, line);
            }
            bytes = rest;
        }
        if self.discarding {
            return;
        }
        if self.carry.len() + bytes.len() > self.max {
            self.too_long += 1;
            self.carry.clear();
            self.discarding = true;
        } else {
            self.carry.extend_from_slice(bytes);
        }
    }

    /// A new connection: a partial line of the old one is never completed.
    fn reset(&mut self) {
        self.carry.clear();
        self.discarding = false;
    }
}

/// An error answer's body, short enough for one log line.
fn for_log(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn emit_trimmed(l: &[u8], line: &mut dyn FnMut(&[u8])) {
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    if !l.trim_ascii().is_empty() {
        line(l);
    }
}

/// The request path: `/events` or `/vX.Y/events`, with `since`.
fn events_path(api_version: Option<&str>, since: i64) -> String {
    match api_version
        .map(|v| v.trim_matches('/'))
        .filter(|v| !v.is_empty())
    {
        Some(v) if v.starts_with('v') => format!("/{v}/events?since={since}"),
        Some(v) => format!("/v{v}/events?since={since}"),
        None => format!("/events?since={since}"),
    }
}

/// Set by the service to stop the reader; any one set stops it.
#[derive(Clone, Default)]
pub struct StopFlags(pub Vec<Arc<AtomicBool>>);

impl StopFlags {
    fn stopped(&self) -> bool {
        self.0.iter().any(|f| f.load(Ordering::Relaxed))
    }

    /// Sleeps `d`, or less when a stop flag is set; returns whether it was.
    async fn sleep(&self, d: Duration) -> bool {
        let end = tokio::time::Instant::now() + d;
        loop {
            if self.stopped() {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= end {
                return false;
            }
            tokio::time::sleep(STOP_POLL.min(end - now)).await;
        }
    }

    /// Resolves when a stop flag is set.
    async fn wait(&self) {
        while !self.stopped() {
            tokio::time::sleep(STOP_POLL).await;
        }
    }
}

/// The reader's state across connections.
struct Reader {
    opts: DockerOptions,
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    stop: StopFlags,
    cursor: Option<Cursor>,
    lines: LineSplitter,
}

/// How one connection ended.
enum Ended {
    Stopped,
    /// The stream was established (a `200`) before it ended or failed.
    AfterData(DockerError),
    Failed(DockerError),
}

impl Reader {
    fn since(&self) -> i64 {
        match &self.cursor {
            Some(c) => c.since_secs(),
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let back = self.opts.first_lookback.as_secs();
                i64::try_from(now.saturating_sub(back)).unwrap_or(i64::MAX)
            }
        }
    }

    /// Reads until the service stops: connection after connection.
    async fn run(&mut self) {
        let mut delay = BACKOFF_FIRST;
        let mut last_error = String::new();
        let mut first = true;
        loop {
            if self.stop.stopped() {
                return;
            }
            if !first {
                self.metrics.docker_reconnects.inc();
            }
            first = false;
            let failure = match self.connection().await {
                Ended::Stopped => return,
                Ended::AfterData(e) => {
                    delay = BACKOFF_FIRST;
                    e
                }
                Ended::Failed(e) => e,
            };
            self.metrics.docker_connected.set(0);
            let msg = failure.to_string();
            // A daemon down for an hour should not write a line per attempt.
            if msg != last_error {
                eprintln!(
                    "pullwatch: docker: {msg}; reconnecting (backing off up to {}s)",
                    BACKOFF_MAX.as_secs()
                );
                last_error = msg;
            }
            if self.stop.sleep(delay).await {
                return;
            }
            delay = (delay * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection: request, then the streamed events until it ends.
    async fn connection(&mut self) -> Ended {
        let path = self.opts.socket.display().to_string();
        let stream = tokio::select! {
            _ = self.stop.wait() => return Ended::Stopped,
            r = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(&self.opts.socket)) => match r {
                Ok(Ok(s)) => s,
                Ok(Err(source)) => return Ended::Failed(DockerError::Connect { path, source }),
                Err(_) => return Ended::Failed(DockerError::ConnectTimeout(path)),
            },
        };
        let (mut send, conn) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(x) => x,
                Err(e) => return Ended::Failed(e.into()),
            };
        // The connection task drives the socket; it ends when `send` and the body drop.
        let driver = tokio::spawn(conn);
        let ended = self.exchange(&mut send).await;
        drop(send);
        driver.abort();
        ended
    }

    async fn exchange(
        &mut self,
        send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    ) -> Ended {
        // `since` is taken now, and the cursor it came from is what this connection's
        // replay is judged against.
        let replay_from = self.cursor.clone();
        let req =
            match hyper::Request::get(events_path(self.opts.api_version.as_deref(), self.since()))
                .header(hyper::header::HOST, "docker")
                .header(hyper::header::ACCEPT, "application/json")
                .body(Empty::<Bytes>::new())
            {
                Ok(r) => r,
                Err(e) => return Ended::Failed(e.into()),
            };
        let resp = tokio::select! {
            _ = self.stop.wait() => return Ended::Stopped,
            r = send.send_request(req) => match r {
                Ok(r) => r,
                Err(e) => return Ended::Failed(e.into()),
            },
        };
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let text = tokio::time::timeout(Duration::from_secs(2), body.collect())
                .await
                .ok()
                .and_then(|r| r.ok())
                .map(|c| String::from_utf8_lossy(&c.to_bytes()).trim().to_string())
                .unwrap_or_default();
            return Ended::Failed(DockerError::Status {
                status: status.as_u16(),
                body: for_log(&text),
            });
        }
        self.metrics.docker_connected.set(1);
        self.lines.reset();
        let mut batch: Vec<u8> = Vec::new();
        let mut next = self.cursor.clone().unwrap_or_default();
        loop {
            let frame = tokio::select! {
                _ = self.stop.wait() => return Ended::Stopped,
                f = body.frame() => f,
            };
            let mut got = match frame {
                None => return Ended::AfterData(DockerError::Ended),
                Some(Err(e)) => return Ended::AfterData(e.into()),
                Some(Ok(f)) => f.into_data().ok(),
            };
            // Everything the daemon already sent goes in one append and one cursor
            // write: under a burst the batches grow rather than the writes.
            loop {
                if let Some(data) = got.take() {
                    self.take(&data, replay_from.as_ref(), &mut next, &mut batch);
                }
                match tokio::time::timeout(Duration::ZERO, body.frame()).await {
                    Ok(Some(Ok(f))) => got = f.into_data().ok(),
                    // The stream's end or error is seen again by the outer loop's
                    // next read, after this batch is stored.
                    _ => break,
                }
            }
            if let Err(e) = self.store(&mut batch, &next).await {
                return match e {
                    StoreError::Stopped => Ended::Stopped,
                    StoreError::Failed(e) => Ended::AfterData(e),
                };
            }
        }
    }

    /// Splits received bytes into events: those the cursor covers are skipped, the
    /// others are added to `batch` and move `next`.
    fn take(
        &mut self,
        data: &[u8],
        replay_from: Option<&Cursor>,
        next: &mut Cursor,
        batch: &mut Vec<u8>,
    ) {
        let metrics = &self.metrics;
        let before = self.lines.too_long;
        self.lines.feed(data, &mut |line| {
            let key = event_key(line);
            if let (Some(k), Some(c)) = (&key, replay_from) {
                if c.covers(k) {
                    metrics.docker_duplicates.inc();
                    return;
                }
            }
            batch.extend_from_slice(line);
            batch.push(b'\n');
            metrics.docker_events.inc();
            if let Some(k) = key {
                next.advance(k);
            }
        });
        let dropped = self.lines.too_long - before;
        if dropped > 0 {
            metrics.docker_too_long.inc_by(dropped);
            eprintln!(
                "pullwatch: docker: dropped {dropped} event(s) longer than {} bytes",
                self.opts.max_line_bytes
            );
        }
    }

    /// Appends the batch to the spool, then moves the cursor past it. A full spool
    /// (the pipeline is behind) is waited out: the daemon holds its stream meanwhile.
    async fn store(&mut self, batch: &mut Vec<u8>, next: &Cursor) -> Result<(), StoreError> {
        if !batch.is_empty() {
            loop {
                match self.spool.append(DOCKER_SOURCE, batch) {
                    Ok(()) => break,
                    Err(SpoolError::Full(_)) => {
                        if self.stop.sleep(Duration::from_millis(200)).await {
                            return Err(StoreError::Stopped);
                        }
                    }
                    Err(SpoolError::Io(e)) => {
                        return Err(StoreError::Failed(DockerError::Spool(e)));
                    }
                    Err(e @ (SpoolError::BadSource | SpoolError::TooManySources(_))) => {
                        return Err(StoreError::Failed(DockerError::Spool(
                            std::io::Error::other(e.to_string()),
                        )));
                    }
                }
            }
            batch.clear();
        }
        if self.cursor.as_ref() != Some(next) && next.time_nano != 0 {
            next.save(&self.opts.state_dir)
                .map_err(|e| StoreError::Failed(DockerError::Cursor(e)))?;
            self.cursor = Some(next.clone());
        }
        Ok(())
    }
}

enum StoreError {
    Stopped,
    Failed(DockerError),
}

/// Starts the reader on its own thread (with a single-threaded tokio runtime); it
/// returns when a stop flag is set.
pub fn spawn(
    opts: DockerOptions,
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    stop: StopFlags,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let cursor = Cursor::load(&opts.state_dir);
    let lines = LineSplitter::new(opts.max_line_bytes);
    std::thread::Builder::new()
        .name("pullwatch-docker".into())
        .spawn(move || {
            let mut reader = Reader {
                opts,
                spool,
                metrics,
                stop,
                cursor,
                lines,
            };
            rt.block_on(reader.run());
        })
}

/// The reader `pullwatch run` starts when `--docker-socket` is given: it resumes from
/// the cursor in `state_dir`, reaches back `time_window` on a first start, and stops
/// on either flag.
pub fn start(
    settings: &crate::RunSettings,
    state_dir: &Path,
    cfg: &pullwatch_engine::config::Config,
    spool: Option<&Arc<Spool>>,
    metrics: &Arc<Metrics>,
    stop: [&Arc<AtomicBool>; 2],
) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    let (Some(socket), Some(spool)) = (&settings.docker_socket, spool) else {
        return Ok(None);
    };
    let opts = DockerOptions {
        socket: socket.clone(),
        state_dir: state_dir.to_path_buf(),
        api_version: None,
        first_lookback: Duration::from_nanos(u64::try_from(cfg.time_window.0 .0).unwrap_or(0)),
        max_line_bytes: settings.max_line_bytes,
    };
    let flags = StopFlags(stop.iter().map(|f| Arc::clone(f)).collect());
    spawn(opts, spool.clone(), metrics.clone(), flags).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: i64, id: &str, action: &str) -> EventKey {
        EventKey {
            time_nano: t,
            id: id.into(),
            action: action.into(),
        }
    }

    #[test]
    fn the_cursor_covers_older_events_and_those_seen_at_its_time() {
        let mut c = Cursor::default();
        c.advance(key(5_000_000_000, "a", "create"));
        c.advance(key(5_500_000_000, "a", "start"));
        c.advance(key(5_500_000_000, "b", "start"));
        assert_eq!(c.since_secs(), 4);
        assert!(c.covers(&key(5_000_000_000, "a", "create")));
        assert!(c.covers(&key(5_500_000_000, "b", "start")));
        // Same nanosecond, another event: new.
        assert!(!c.covers(&key(5_500_000_000, "c", "start")));
        assert!(!c.covers(&key(5_500_000_001, "a", "start")));
        // Moving on forgets what was seen at the old time.
        c.advance(key(6_000_000_000, "a", "die"));
        assert_eq!(c.seen.len(), 1);
        assert!(c.covers(&key(5_500_000_000, "c", "start")));
    }

    #[test]
    fn the_cursor_survives_a_save_and_a_bad_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Cursor::load(dir.path()), None);
        let mut c = Cursor::default();
        c.advance(key(1_795_166_195_000_000_000, "c0ffee", "exec_start: sh"));
        c.save(dir.path()).unwrap();
        assert_eq!(Cursor::load(dir.path()), Some(c));
        std::fs::write(dir.path().join(CURSOR_FILE), b"{not json").unwrap();
        assert_eq!(Cursor::load(dir.path()), None);
    }

    #[test]
    fn event_keys_come_from_modern_and_legacy_fields() {
        let modern = br#"{"status":"start","id":"abc","from":"x","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{}},"scope":"local","time":17,"timeNano":17000000001}"#;
        assert_eq!(event_key(modern), Some(key(17_000_000_001, "abc", "start")));
        let legacy = br#"{"status":"pull","id":"nginx:1","time":17}"#;
        assert_eq!(
            event_key(legacy),
            Some(key(17_000_000_000, "nginx:1", "pull"))
        );
        // Podman's pull names no actor id.
        let podman = br#"{"status":"pull","Type":"image","Action":"pull","Actor":{"ID":"","Attributes":{"name":"x"}},"time":3,"timeNano":3}"#;
        assert_eq!(event_key(podman), Some(key(3, "", "pull")));
        assert_eq!(event_key(b"not json"), None);
        assert_eq!(event_key(br#"{"time":9223372036854775807}"#), None);
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_overlong_ones_dropped() {
        let mut s = LineSplitter::new(10);
        let mut out: Vec<Vec<u8>> = Vec::new();
        s.feed(b"{\"a\":", &mut |l| out.push(l.to_vec()));
        s.feed(b"1}\n\r\n{\"b\":2}\r\n", &mut |l| out.push(l.to_vec()));
        assert_eq!(out, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        out.clear();
        s.feed(b"0123456789abc", &mut |l| out.push(l.to_vec()));
        s.feed(b"def\n{}\n", &mut |l| out.push(l.to_vec()));
        assert_eq!(out, vec![b"{}".to_vec()]);
        assert_eq!(s.too_long, 1);
        s.feed(b"0123456\n", &mut |l| out.push(l.to_vec()));
        s.feed(b"01234", &mut |l| out.push(l.to_vec()));
        s.feed(b"567890\n", &mut |l| out.push(l.to_vec()));
        assert_eq!(out.len(), 2);
        assert_eq!(s.too_long, 2);
    }

    #[test]
    fn the_path_takes_an_optional_api_version() {
        assert_eq!(events_path(None, 12), "/events?since=12");
        assert_eq!(events_path(Some("v1.43"), 12), "/v1.43/events?since=12");
        assert_eq!(events_path(Some("1.43"), 12), "/v1.43/events?since=12");
        assert_eq!(events_path(Some(""), 12), "/events?since=12");
    }
}
