//! The gateway over streamable HTTP: one path, loopback by default, `Origin` checked against
//! loopback origins (DNS-rebinding protection), and an optional bearer token compared in
//! constant time. Binding another address without a token must be asked for explicitly.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::{Gateway, Session};

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 1024;
/// A client that has not sent its request headers by then is disconnected (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Sessions idle this long are ended (the client then initializes again). Long, because rmcp
/// does not count an open event stream as activity.
const SESSION_IDLE: Duration = Duration::from_secs(24 * 3600);

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
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), port: 0, path: "/mcp".into(), auth_token: None, allow_unauthenticated: false }
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
    if let Some(t) = &token {
        crate::util::redact::register([t.as_str()]);
    }

    let stop = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        // A page on another site must not drive a local gateway through the browser.
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", "https://localhost:*", "https://127.0.0.1:*"])
        .enforce_origin_validation()
        // No resumable streams (no event store), so no priming event: one write less per reply.
        .with_sse_retry(None);
    if !ip.is_loopback() {
        // Clients reach it by names we cannot know; the token (or the explicit choice) guards it.
        config = config.disable_allowed_hosts();
    }
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    sessions.session_config.sse_retry = None;
    let factory_gateway = gateway.clone();
    let service: StreamableHttpService<Session, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(factory_gateway.session()), sessions.into(), config);

    let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
    let url = format!("http://{host}:{}{}", local_addr.port(), options.path);
    let path = options.path.clone();
    let accept_stop = stop.clone();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
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
            let (service, path, token, conn_stop) = (service.clone(), path.clone(), token.clone(), accept_stop.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let handler = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (service, path, token) = (service.clone(), path.clone(), token.clone());
                    async move { Ok::<_, Infallible>(front(&service, &path, token.as_deref(), request).await) }
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

type Response = http::Response<BoxBody<Bytes, Infallible>>;

fn plain(status: http::StatusCode, text: &str) -> Response {
    let body = http_body_util::Full::new(Bytes::from(text.to_string())).map_err(|e| match e {}).boxed();
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Path and bearer token, then rmcp (which checks `Host` and `Origin`).
async fn front(
    service: &StreamableHttpService<Session, LocalSessionManager>,
    path: &str,
    token: Option<&str>,
    request: http::Request<hyper::body::Incoming>,
) -> Response {
    let request_path = request.uri().path();
    if request_path != path && request_path.strip_suffix('/') != Some(path) {
        return plain(http::StatusCode::NOT_FOUND, &format!("not found; the MCP endpoint is {path}"));
    }
    if let Some(expected) = token {
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
    service.handle(request).await
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
