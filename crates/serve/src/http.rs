//! The service's HTTP side: ingest endpoints for pushed records, the Kubernetes audit
//! webhook, and health, readiness and metrics for whoever runs it.
//!
//! - `POST /v1/ingest`: NDJSON, a JSON array, or one JSON document, of any format
//!   pullwatch reads (Falco's `http_output` posts one alert per request here).
//! - `POST /v1/k8s-audit`: what the API server's audit webhook backend sends (an
//!   `audit.k8s.io/v1` `EventList`).
//! - `GET /healthz` (the process answers), `GET /readyz` (the pipeline runs and is not
//!   shutting down), `GET /metrics` (Prometheus text).
//!
//! Accepted records go to the spool before the answer (see [`crate::spool`]): a 200
//! means the records are on disk and will be read. Requests are bounded in size (413),
//! the backlog in bytes (429 with `Retry-After`), and with a token configured every
//! ingest needs `Authorization: Bearer TOKEN` (401).

use crate::metrics::Metrics;
use crate::spool::{to_lines, Spool, SpoolError, DEFAULT_SOURCE};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::RequestExt;
use axum::Router;
use http_body_util::BodyExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct HttpState {
    /// `None` when records come from Kafka: health and metrics only, no ingest.
    pub spool: Option<Arc<Spool>>,
    pub metrics: Arc<Metrics>,
    pub token: Option<String>,
    pub ready: Arc<AtomicBool>,
    pub stopping: Arc<AtomicBool>,
}

pub fn router(state: Arc<HttpState>, max_body: usize) -> Router {
    Router::new()
        .route("/v1/ingest", post(ingest))
        .route("/v1/k8s-audit", post(k8s_audit))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Compares in time independent of where the first difference is, so the token
/// cannot be guessed a byte at a time from response times.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(s: &HttpState, headers: &HeaderMap) -> bool {
    let Some(token) = &s.token else {
        return true;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

/// `?source=NAME`: which pushing sensor this is (see [`crate::spool`]).
#[derive(serde::Deserialize)]
pub struct Push {
    source: Option<String>,
}

/// Takes one push: checks who sends it and whether the service takes pushes before the
/// body is read, then reads the body in the frames it arrives in (within the body limit)
/// and appends its lines to the spool.
async fn take(
    s: &HttpState,
    headers: &HeaderMap,
    request: Request,
    list_items: bool,
    source: &str,
) -> Response {
    if !authorized(s, headers) {
        s.metrics.reject("unauthorized");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    if s.stopping.load(Ordering::Relaxed) {
        s.metrics.reject("stopping");
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let Some(spool) = &s.spool else {
        return (
            StatusCode::NOT_FOUND,
            "ingest is off: this service reads its records from Kafka\n",
        )
            .into_response();
    };
    let frames = match read_frames(request).await {
        Ok(frames) => frames,
        Err(BodyError::TooLarge) => {
            s.metrics.reject("too large");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than --max-body\n",
            )
                .into_response();
        }
        Err(BodyError::Broken) => {
            s.metrics.reject("body unreadable");
            return (StatusCode::BAD_REQUEST, "the body could not be read\n").into_response();
        }
    };
    let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let (lines, n) = to_lines(&parts, list_items);
    if n == 0 {
        return (StatusCode::OK, "{\"accepted\":0}\n").into_response();
    }
    match spool.push(source, &lines.parts()) {
        Ok(()) => {
            s.metrics.http_accepted.inc_by(n);
            (StatusCode::OK, format!("{{\"accepted\":{n}}}\n")).into_response()
        }
        Err(SpoolError::Full(_)) => {
            s.metrics.reject("backlog full");
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "ingest backlog full, retry later\n",
            )
                .into_response()
        }
        Err(e @ SpoolError::TooManySources(_)) => {
            s.metrics.reject("too many sources");
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{e}: push under a name already in use\n"),
            )
                .into_response()
        }
        Err(SpoolError::BadSource) => {
            s.metrics.reject("bad source");
            (
                StatusCode::BAD_REQUEST,
                "source: 1 to 64 letters, digits, '-' or '_'\n",
            )
                .into_response()
        }
        Err(SpoolError::Io(e)) => {
            s.metrics.reject("spool error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot store records: {e}\n"),
            )
                .into_response()
        }
    }
}

enum BodyError {
    TooLarge,
    Broken,
}

/// How many frames of one body are kept as hyper handed them over. A body sent with
/// Content-Length arrives in a handful (hyper reads a few hundred KiB at a time); a
/// client sending chunks of a byte each would otherwise make the service hold a frame
/// (and the buffer behind it) per byte. Past this many, the rest is joined into one
/// buffer, as a body is copied once at most.
const FRAMES_KEPT: usize = 64;

/// The body's data frames as hyper hands them over (slices of its read buffer, not
/// copied), with the router's body limit applied; past [`FRAMES_KEPT`] frames, the
/// rest of the body in one buffer.
async fn read_frames(request: Request) -> Result<Vec<Bytes>, BodyError> {
    let mut body = request.into_limited_body();
    let mut frames = Vec::new();
    let mut joined: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
            Err(e) if over_limit(&e) => return Err(BodyError::TooLarge),
            Err(_) => return Err(BodyError::Broken),
        };
        match joined.as_mut() {
            Some(rest) => rest.extend_from_slice(&data),
            None if frames.len() < FRAMES_KEPT => frames.push(data),
            None => joined = Some(data.to_vec()),
        }
    }
    frames.extend(joined.map(Bytes::from));
    Ok(frames)
}

/// Whether a body error is the body limit's: the limit's error arrives wrapped in
/// axum's error type, once per body layer around it.
fn over_limit(e: &axum::Error) -> bool {
    let mut inner: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(e) = inner {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        inner = e.source();
    }
    false
}

async fn ingest(
    State(s): State<Arc<HttpState>>,
    Query(q): Query<Push>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let source = q.source.as_deref().unwrap_or(DEFAULT_SOURCE);
    take(&s, &headers, request, false, source).await
}

async fn k8s_audit(
    State(s): State<Arc<HttpState>>,
    Query(q): Query<Push>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let source = q.source.as_deref().unwrap_or("k8s-audit");
    take(&s, &headers, request, true, source).await
}

async fn readyz(State(s): State<Arc<HttpState>>) -> Response {
    if s.ready.load(Ordering::Relaxed) && !s.stopping.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(s): State<Arc<HttpState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

/// The server's TLS configuration from PEM files: a certificate chain and its key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not go together: {e}"))?;
    Ok(Arc::new(cfg))
}

/// Accepts TCP connections and completes their TLS handshake before axum sees them.
/// A handshake that does not finish in time (a client that connects and says nothing)
/// is dropped rather than holding the listener.
struct TlsListener {
    inner: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.inner.accept().await {
                Ok(c) => c,
                // Out of file descriptors and the like: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) =
                tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves on `listener` (over TLS when `tls` is given) until `stop` is set.
pub fn serve(
    listener: std::net::TcpListener,
    state: Arc<HttpState>,
    max_body: usize,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let stopping = state.stopping.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("pullwatch-http".into())
        .spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = router(state, max_body);
                let shutdown = async move {
                    while !stopping.load(Ordering::Relaxed) {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                };
                let _ = match tls {
                    None => {
                        axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                    Some(cfg) => {
                        let listener = TlsListener {
                            inner: listener,
                            acceptor: tokio_rustls::TlsAcceptor::from(cfg),
                        };
                        axum::serve(listener, app)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                };
            });
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that arrives in pieces of a byte each, as a client sending one-byte chunks
    /// would deliver it.
    struct Dribble(std::vec::IntoIter<u8>);

    impl hyper::body::Body for Dribble {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .next()
                    .map(|b| Ok(hyper::body::Frame::data(Bytes::from(vec![b])))),
            )
        }
    }

    fn read(body: Vec<u8>) -> Vec<Bytes> {
        let request = Request::new(Body::new(Dribble(body.into_iter())));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        match rt.block_on(read_frames(request)) {
            Ok(frames) => frames,
            Err(_) => panic!("the body could not be read"),
        }
    }

    #[test]
    fn a_body_in_many_small_frames_is_held_in_a_bounded_number_of_parts() {
        let body: Vec<u8> = b"{\"a\":1}\n".repeat(1000);
        let frames = read(body.clone());
        assert_eq!(frames.len(), FRAMES_KEPT + 1);
        assert_eq!(frames.concat(), body);
        let few = read(b"{}\n".to_vec());
        assert_eq!(few.len(), 3);
        assert_eq!(few.concat(), b"{}\n");
    }
}
