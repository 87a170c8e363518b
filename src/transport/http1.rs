//! Plain HTTP/1.1 to one `http://` origin for the call path: hyper's connection-level client
//! with a small pool of idle connections. reqwest's stack does per-request work a gateway pays
//! on every call (URL ↔ URI conversions and parsing in its redirect layer, proxy matching,
//! connector clones, pool keys); a call needs none of it. TLS, proxies and redirects stay
//! with reqwest: an origin that needs them never gets here.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

/// Idle connections kept per origin.
const MAX_IDLE: usize = 32;

type Idle = Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>;

pub struct Http1Origin {
    host: String,
    port: u16,
    connect_timeout: Duration,
    idle: Idle,
}

/// Why a request was not answered.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: the server never saw the request.
    Connect(String),
    /// The request may have reached the server.
    Request(hyper::Error),
}

/// A connection lent to one request; it goes back to the pool when the response has been
/// read to its end ([`Lease::finished`]), and is closed otherwise.
pub struct Lease {
    idle: Idle,
    sender: Option<SendRequest<Full<Bytes>>>,
    finished: bool,
}

impl Lease {
    pub fn finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(sender) = self.sender.take() else { return };
        if self.finished && !sender.is_closed() {
            let mut idle = self.idle.lock().unwrap();
            if idle.len() < MAX_IDLE {
                idle.push(sender);
            }
        }
    }
}

impl Http1Origin {
    /// `None` unless the URL is plain `http://` and no proxy is configured in the environment
    /// (reqwest honours those; so must every request to this server).
    pub fn new(url: &url::Url, connect_timeout: Duration) -> Option<Self> {
        if url.scheme() != "http" || proxy_configured() {
            return None;
        }
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Self { host, port: url.port_or_known_default()?, connect_timeout, idle: Idle::default() })
    }

    /// Sends the request on an idle connection, or a new one. A request that an idle
    /// connection turned away unsent (closed meanwhile) is sent once more on a new connection.
    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<(http::Response<Incoming>, Lease), SendError> {
        let mut request = request;
        let mut fresh = false;
        loop {
            let mut sender = match self.idle_connection().await {
                Some(sender) => sender,
                None => {
                    fresh = true;
                    self.connect().await?
                }
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease { idle: self.idle.clone(), sender: Some(sender), finished: false })),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => request = unsent,
                    _ => return Err(SendError::Request(e.into_error())),
                },
            }
        }
    }

    async fn idle_connection(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let mut sender = self.idle.lock().unwrap().pop()?;
            if sender.is_closed() {
                continue;
            }
            if sender.is_ready() {
                return Some(sender);
            }
            // Idle connections finished their last response; readiness follows at once.
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(100), sender.ready()).await {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let connect = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port)).await?.collect();
            let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, format!("{} has no address", self.host));
            for addr in addrs {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        let stream = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(SendError::Connect(e.to_string())),
            Err(_) => return Err(SendError::Connect(format!("no connection within {:?}", self.connect_timeout))),
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| SendError::Connect(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a connection to an MCP server ended: {e}");
            }
        });
        Ok(sender)
    }
}

fn proxy_configured() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}
