//! Legacy HTTP+SSE transport (MCP 2024-11-05): GET an event stream whose first `endpoint`
//! event names the URL to POST messages to; responses arrive as `message` events.
//! rmcp has no client for it any more, so it lives here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::SseStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::decode::MessageDecoder;
use super::http::{HttpOptions, same_origin, www_authenticate};
use crate::auth::{Rejection, TokenError, Tokens};
use crate::error::{Error, Result};
use crate::util::redact::{MAX_QUOTE_CHARS, quote, redact_url};

/// Failure of one POST on an established SSE session.
#[derive(Debug, thiserror::Error)]
pub enum SseTransportError {
    #[error("POST {url} failed: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("POST {url} answered HTTP {status}")]
    Status { url: String, status: u16, www_authenticate: String },
    #[error("{0}")]
    Token(#[from] TokenError),
}

pub struct SseTransport {
    http: reqwest::Client,
    headers: HeaderMap,
    post_url: url::Url,
    tokens: Option<Tokens>,
    rx: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: JoinHandle<()>,
    /// Shared with the reader: which requests are pending, so replies match by exact id.
    decoder: Arc<Mutex<MessageDecoder>>,
}

/// Largest SSE event accepted; a longer one (or one that never ends) ends the stream.
pub(crate) const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The response body, failing once an event grows past [`MAX_EVENT_BYTES`]: the SSE parser
/// itself would buffer an endless event without bound.
pub(crate) fn bounded_events(
    body: impl futures::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) -> impl futures::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let mut since_blank = 0usize;
    let mut after_newline = false;
    body.map(move |chunk| {
        let chunk = chunk?;
        for &b in chunk.iter() {
            match b {
                b'\n' if after_newline => since_blank = 0,
                b'\n' => after_newline = true,
                b'\r' => {}
                _ => {
                    after_newline = false;
                    since_blank += 1;
                }
            }
        }
        if since_blank > MAX_EVENT_BYTES {
            return Err(std::io::Error::other(format!("an SSE event is longer than {MAX_EVENT_BYTES} bytes")));
        }
        Ok(chunk)
    })
}

impl SseTransport {
    /// Opens the event stream and waits (up to `timeout`) for the `endpoint` event.
    pub async fn connect(sse_url: &url::Url, options: &HttpOptions, timeout: Duration) -> Result<Self> {
        let http = options.build_client()?;
        let headers = options.header_map()?;
        let shown = redact_url(sse_url.as_str());
        let tokens = options.tokens.clone();
        let get = || http.get(sse_url.clone()).headers(headers.clone()).header(ACCEPT, "text/event-stream");
        let response = tokio::time::timeout(timeout, send_authorized(tokens.as_ref(), false, get))
            .await
            .map_err(|_| Error::Timeout { operation: format!("connecting to {shown}"), timeout, detail: None })?
            .map_err(|e| match e {
                SendError::Token(t) => Error::Token(t),
                SendError::Request(e) => Error::Start(format!("cannot connect to SSE server {shown}: {}", error_chain(&e))),
            })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::AuthRequired {
                url: shown.clone(),
                status: status.as_u16(),
                www_authenticate: www_authenticate(response.headers()),
            });
        }
        if !status.is_success() {
            return Err(Error::Start(format!("SSE server {shown} answered HTTP {status} to GET")));
        }
        let mut events = SseStream::from_bytes_stream(bounded_events(response.bytes_stream().map(|chunk| chunk.map_err(|e| std::io::Error::other(e.without_url())))));
        let endpoint = tokio::time::timeout(timeout, async {
            loop {
                match events.next().await {
                    Some(Ok(ev)) if ev.event.as_deref() == Some("endpoint") => return Ok(ev.data.unwrap_or_default()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(Error::Protocol(format!("SSE stream from {shown} broke: {e}"))),
                    None => {
                        return Err(Error::Protocol(format!("SSE stream from {shown} ended before the `endpoint` event")));
                    }
                }
            }
        })
        .await
        .map_err(|_| Error::Timeout {
            operation: format!("waiting for the `endpoint` event from {shown}"),
            timeout,
            detail: None,
        })??;
        let post_url = sse_url
            .join(endpoint.trim())
            .map_err(|e| Error::Protocol(format!("SSE `endpoint` event {:?} is not a valid URL: {e}", redact_url(&quote(endpoint.trim(), MAX_QUOTE_CHARS)))))?;
        // A different origin would receive our headers (tokens): refuse.
        if !same_origin(sse_url, &post_url) {
            return Err(Error::Protocol(format!(
                "refusing SSE `endpoint` {}: it is not on the origin of {shown}; messages (and credentials) may only go to the server's own origin",
                redact_url(post_url.as_str())
            )));
        }

        let (tx, rx) = mpsc::channel(64);
        let origin = shown;
        let decoder = Arc::new(Mutex::new(MessageDecoder::default()));
        let reader_decoder = decoder.clone();
        let reader = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!(url = %origin, "SSE stream broke: {e}");
                        break;
                    }
                };
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let Some(data) = event.data else { continue };
                let message = {
                    let mut decoder = reader_decoder.lock().unwrap_or_else(|e| e.into_inner());
                    match decoder.decode(data.as_bytes()) {
                        Ok(message) => message,
                        // A reply that cannot be read fails its request now, not at its timeout.
                        Err(e) => match decoder.claim_unreadable(data.as_bytes()) {
                            Some(id) => Some(MessageDecoder::unreadable_reply(id, &format!("it is not valid JSON-RPC ({e})"))),
                            None => {
                                tracing::warn!(url = %origin, "ignoring an SSE message that is not JSON-RPC: {e}");
                                None
                            }
                        },
                    }
                };
                if let Some(message) = message {
                    if tx.send(message).await.is_err() {
                        break;
                    }
                }
            }
            tracing::debug!(url = %origin, "SSE stream ended");
        });
        Ok(Self { http, headers, post_url, tokens, rx, reader, decoder })
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseTransportError;

    fn send(&mut self, item: ClientJsonRpcMessage) -> impl Future<Output = Result<(), SseTransportError>> + Send + 'static {
        self.decoder.lock().unwrap_or_else(|e| e.into_inner()).note_sent(&item);
        let in_session = !super::is_initialize(&item);
        let request = self.http.post(self.post_url.clone()).headers(self.headers.clone()).json(&item);
        let url = redact_url(self.post_url.as_str());
        let tokens = self.tokens.clone();
        async move {
            let response = match request.try_clone().filter(|_| tokens.is_some()) {
                // Cloned (headers and body) only when a refusal may need a second attempt.
                Some(template) => send_authorized(tokens.as_ref(), in_session, || template.try_clone().expect("a JSON body clones")).await,
                None => request.send().await.map_err(SendError::request),
            }
            .map_err(|e| match e {
                SendError::Token(t) => SseTransportError::Token(t),
                SendError::Request(source) => SseTransportError::Request { url: url.clone(), source },
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            Err(SseTransportError::Status { url, status: status.as_u16(), www_authenticate: www_authenticate(response.headers()) })
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.rx.recv()
    }

    async fn close(&mut self) -> Result<(), SseTransportError> {
        self.reader.abort();
        Ok(())
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

enum SendError {
    Token(TokenError),
    Request(reqwest::Error),
}

impl SendError {
    /// The one place reqwest errors enter: without the URL, which may hold credentials.
    fn request(e: reqwest::Error) -> Self {
        SendError::Request(e.without_url())
    }
}

/// Sends `build()` with the current token. On 401 or 403 `insufficient_scope` the token source
/// may fix the token (refresh, step-up); then the request goes once more.
async fn send_authorized(
    tokens: Option<&Tokens>,
    in_session: bool,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, SendError> {
    let Some(tokens) = tokens else { return build().send().await.map_err(SendError::request) };
    let with = |token: Option<String>| match token {
        Some(token) => build().bearer_auth(token),
        None => build(),
    };
    let token = tokens.bearer().await.map_err(SendError::Token)?;
    let response = with(token.clone()).send().await.map_err(SendError::request)?;
    let challenge = www_authenticate(response.headers());
    let rejection = match response.status() {
        StatusCode::UNAUTHORIZED => Rejection::Unauthorized { challenge: &challenge, sent: token.as_deref(), in_session },
        StatusCode::FORBIDDEN if challenge.contains("insufficient_scope") => Rejection::InsufficientScope { challenge: &challenge },
        _ => return Ok(response),
    };
    if !tokens.rejected(rejection).await.map_err(SendError::Token)? {
        return Ok(response);
    }
    let token = tokens.bearer().await.map_err(SendError::Token)?;
    with(token).send().await.map_err(SendError::request)
}

/// An error with its sources, for messages ("connection refused" hides two levels down).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    let mut out = e.to_string();
    let mut source = e.source();
    // rmcp's `Client(reqwest::Error)` variant hides its cause from `source()`.
    if let Some(StreamableHttpError::Client(inner)) = e.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
        source = Some(inner as &(dyn std::error::Error + 'static));
    }
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
