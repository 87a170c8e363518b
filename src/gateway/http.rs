//! The gateway over streamable HTTP: one path, loopback by default, `Origin` checked against
//! loopback origins (DNS-rebinding protection), and an optional bearer token compared in
//! constant time. Binding another address without a token must be asked for explicitly.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::direct::{DirectCalls, SessionActivity};
use super::{Gateway, Session};

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;
/// A client that has not sent its request headers (or a call's body) by then is disconnected
/// (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Sessions without a request or an open event stream for this long are ended (the client then
/// initializes again), unless told otherwise.
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// Origins whose pages may use the gateway (DNS-rebinding protection); `direct` mirrors them.
const ALLOWED_ORIGINS: [&str; 5] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", "https://localhost:*", "https://127.0.0.1:*"];

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// The MCP endpoint; other paths answer 404.
    pub path: String,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Allow a non-loopback address without a token.
    pub allow_unauthenticated: bool,
    /// A session with neither a request nor an open event stream for this long is ended.
    pub session_idle: Duration,
    /// What `/readyz` says, and what `/metrics` adds to the fleet's metrics.
    pub probes: Arc<Probes>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            path: "/mcp".into(),
            auth_token: None,
            allow_unauthenticated: false,
            session_idle: SESSION_IDLE,
            probes: Arc::new(Probes::new(true)),
        }
    }
}

/// The state behind `/healthz` (the process answers), `/readyz` (ready, and not draining) and
/// the parts of `/metrics` that are not the fleet's.
#[derive(Debug)]
pub struct Probes {
    ready: AtomicBool,
    draining: AtomicBool,
    kube: OnceLock<KubeGauges>,
}

/// What `/metrics` tells of a cluster source.
#[derive(Debug)]
pub struct KubeGauges {
    pub reconnects: Arc<AtomicU64>,
    pub leading: tokio::sync::watch::Receiver<bool>,
}

impl Probes {
    pub fn new(ready: bool) -> Self {
        Self { ready: AtomicBool::new(ready), draining: AtomicBool::new(false), kube: OnceLock::new() }
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// `/readyz` answers 503 from now on, so that a load balancer sends no new clients.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn set_kube(&self, gauges: KubeGauges) {
        let _ = self.kube.set(gauges);
    }

    fn readiness(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            Err("draining: shutting down")
        } else if !self.ready.load(Ordering::Relaxed) {
            Err("not ready: the server definitions are not listed yet")
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to serve on {0} without an auth token: anyone who can reach it could run the fleet's tools (give a token, or say explicitly that none is needed)")]
    Unauthenticated(String),
    #[error("invalid host {0:?}: give an IP address such as 127.0.0.1 or ::1, or localhost")]
    BadHost(String),
    #[error("the path must start with `/`, got {0:?}")]
    BadPath(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    /// The cluster's resources could not be followed.
    #[error("{0}")]
    Source(String),
}

/// A running HTTP front. Dropping it does not stop it; call [`HttpServer::close`].
pub struct HttpServer {
    pub local_addr: SocketAddr,
    pub url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Stops accepting, ends every session and waits for the accept loop to finish.
    pub async fn close(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

fn resolve(host: &str) -> Result<IpAddr, ServeError> {
    if host == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    host.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| ServeError::BadHost(host.to_string()))
}

/// Starts serving and returns once the port is bound.
pub async fn serve_http(gateway: &Gateway, options: HttpOptions) -> Result<HttpServer, ServeError> {
    let ip = resolve(&options.host)?;
    let token = options.auth_token.clone().filter(|t| !t.is_empty());
    if !ip.is_loopback() && token.is_none() && !options.allow_unauthenticated {
        return Err(ServeError::Unauthenticated(ip.to_string()));
    }
    if !options.path.starts_with('/') {
        return Err(ServeError::BadPath(options.path.clone()));
    }
    let listener = tokio::net::TcpListener::bind((ip, options.port))
        .await
        .map_err(|source| ServeError::Bind { addr: format!("{ip}:{}", options.port), source })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: ip.to_string(), source })?;
    gateway.reconnect_servers().await;
    if let Some(t) = &token {
        crate::util::redact::register([t.as_str()]);
    }

    let stop = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        // A page on another site must not drive a local gateway through the browser.
        .with_allowed_origins(ALLOWED_ORIGINS)
        .enforce_origin_validation()
        // No resumable streams (no event store), so no priming event: one write less per reply.
        .with_sse_retry(None);
    if !ip.is_loopback() {
        // Clients reach it by names we cannot know; the token (or the explicit choice) guards it.
        config = config.disable_allowed_hosts();
    }
    let mut sessions = LocalSessionManager::default();
    // Expiry is ours (`SessionActivity`): rmcp's counts neither direct calls nor open streams.
    sessions.session_config.keep_alive = None;
    sessions.session_config.sse_retry = None;
    let sessions = Arc::new(sessions);
    let factory_gateway = gateway.clone();
    let service: StreamableHttpService<Session, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(factory_gateway.session()), sessions.clone(), config);
    let front = Arc::new(Front {
        shared: gateway.shared.clone(),
        probes: options.probes.clone(),
        service,
        path: options.path.clone(),
        token: token.clone(),
        direct: DirectCalls::new(gateway.shared.clone(), sessions.clone(), ip.is_loopback()),
        activity: Arc::new(SessionActivity::default()),
    });
    let sweep = (options.session_idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    let expiry = front.activity.clone().expire(Arc::downgrade(&sessions), options.session_idle, sweep);
    let expiry_stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = expiry => {}
            _ = expiry_stop.cancelled() => {}
        }
    });

    let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
    let url = format!("http://{host}:{}{}", local_addr.port(), options.path);
    let accept_stop = stop.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let (stream, _) = tokio::select! {
                _ = accept_stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("gateway: accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let (front, conn_stop) = (front.clone(), accept_stop.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let handler = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let front = front.clone();
                    async move { Ok::<_, Infallible>(front.serve(request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
                let connection = builder.serve_connection(io, handler);
                tokio::select! {
                    _ = connection => {}
                    _ = conn_stop.cancelled() => {}
                }
            });
        }
    });
    Ok(HttpServer { local_addr, url, stop, task })
}

pub(super) type Response = http::Response<BoxBody<Bytes, Infallible>>;

pub(super) fn plain(status: http::StatusCode, text: &str) -> Response {
    let body = http_body_util::Full::new(Bytes::from(text.to_string())).map_err(|e| match e {}).boxed();
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

struct Front {
    shared: Arc<super::Shared>,
    probes: Arc<Probes>,
    service: StreamableHttpService<Session, LocalSessionManager>,
    path: String,
    token: Option<String>,
    direct: DirectCalls,
    activity: Arc<SessionActivity>,
}

impl Front {
    /// Path and bearer token; then a call is served directly, anything else by rmcp (which
    /// checks `Host` and `Origin`).
    async fn serve(&self, request: http::Request<hyper::body::Incoming>) -> Response {
        let request_path = request.uri().path();
        let mcp = request_path == self.path || request_path.strip_suffix('/') == Some(self.path.as_str());
        // Probes carry no token.
        match request_path {
            _ if mcp => {}
            "/healthz" => return plain(http::StatusCode::OK, "ok"),
            "/readyz" => {
                return match self.probes.readiness() {
                    Ok(()) => plain(http::StatusCode::OK, "ready"),
                    Err(why) => plain(http::StatusCode::SERVICE_UNAVAILABLE, why),
                };
            }
            "/metrics" => {}
            _ => return plain(http::StatusCode::NOT_FOUND, &format!("not found; the MCP endpoint is {}", self.path)),
        }
        if let Some(expected) = &self.token {
            let given = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
            if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
                let mut response = plain(http::StatusCode::UNAUTHORIZED, "a valid bearer token is required");
                let challenge = if given.is_some() { r#"Bearer realm="mcpfleet", error="invalid_token""# } else { r#"Bearer realm="mcpfleet""# };
                response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(challenge));
                return response;
            }
        }
        if !mcp {
            return self.metrics();
        }
        let session = request.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(session) = &session {
            self.activity.touch(session);
        }
        match *request.method() {
            http::Method::POST => {
                let Some(session) = self.direct.candidate(request.headers()).map(str::to_owned) else {
                    return self.service.handle(request).await;
                };
                // The head promised at most MAX_BODY_BYTES; hyper holds the body to its length.
                let (parts, body) = request.into_parts();
                let body = match tokio::time::timeout(HEADER_TIMEOUT, body.collect()).await {
                    Ok(Ok(collected)) => collected.to_bytes(),
                    Ok(Err(_)) => return plain(http::StatusCode::BAD_REQUEST, "the request body could not be read"),
                    Err(_) => return plain(http::StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time"),
                };
                if let Some(response) = self.direct.serve(&session, &body).await {
                    return response;
                }
                self.service.handle(http::Request::from_parts(parts, http_body_util::Full::new(body))).await
            }
            http::Method::GET => {
                let response = self.service.handle(request).await;
                match session {
                    Some(session) if response.status() == http::StatusCode::OK => {
                        let guard = self.activity.stream_opened(&session);
                        response.map(|body| Guarded { body, _guard: guard }.boxed())
                    }
                    _ => response,
                }
            }
            _ => self.service.handle(request).await,
        }
    }
}

impl Front {
    /// `/metrics`: the fleet's, the gateway's clients, and the cluster source's.
    fn metrics(&self) -> Response {
        use crate::fleet::metrics::header;
        use std::fmt::Write;
        let mut out = String::with_capacity(4096);
        self.shared.fleet.render_metrics(&mut out);
        header(&mut out, "mcpfleet_connected_clients", "gauge", "Clients with an MCP session with the gateway.");
        let _ = writeln!(out, "mcpfleet_connected_clients {}", self.shared.peers.lock().unwrap().len());
        header(&mut out, "mcpfleet_ready", "gauge", "1 while /readyz answers 200.");
        let _ = writeln!(out, "mcpfleet_ready {}", u8::from(self.probes.readiness().is_ok()));
        if let Some(kube) = self.probes.kube.get() {
            header(&mut out, "mcpfleet_kubernetes_watch_reconnects_total", "counter", "Times the watch of the MCPServer resources failed and was resumed.");
            let _ = writeln!(out, "mcpfleet_kubernetes_watch_reconnects_total {}", kube.reconnects.load(Ordering::Relaxed));
            header(&mut out, "mcpfleet_kubernetes_status_writer", "gauge", "1 while this replica holds the Lease and writes status.");
            let _ = writeln!(out, "mcpfleet_kubernetes_status_writer {}", u8::from(*kube.leading.borrow()));
        }
        let body = http_body_util::Full::new(Bytes::from(out)).map_err(|e| match e {}).boxed();
        let mut response = http::Response::new(body);
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
        response
    }
}

/// A response body that holds a guard until the body is done with.
struct Guarded<B, G> {
    body: B,
    _guard: G,
}

impl<B: hyper::body::Body + Unpin, G: Unpin> hyper::body::Body for Guarded<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Equal without an early exit: the time taken does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
