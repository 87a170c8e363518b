//! `tools/call` over streamable HTTP without rmcp's client worker: one POST in the session rmcp
//! negotiated, its reply read where it arrives (a JSON body, or the request's event stream) and
//! decoded as a `CallToolResult` directly (or kept as raw JSON for a gateway to pass on). rmcp's way passes each call through its service loop
//! and transport worker (channel hops each way, a task per POST) and decodes replies through an
//! untagged enum of every result type; calls are what a fleet does most.
//!
//! A call takes this way only once rmcp's transport has a session (seen on its own requests),
//! and gives way back to rmcp whenever the server did not take the request: no session yet,
//! 404 (session gone: rmcp starts a new one), 401/403 (the token source reacts), a connection
//! that could not be made. Whatever else arrives on the call's stream is handled as rmcp would:
//! notifications go to the handler, server requests are answered by it, and a stream that
//! breaks off is resumed with `Last-Event-ID`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use futures::stream::BoxStream;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyDataStream, Full};
use rmcp::model::{
    CancelledNotificationParam, ClientJsonRpcMessage, ErrorData, JsonObject, JsonRpcError, JsonRpcMessage,
    JsonRpcResponse, JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage,
};
use rmcp::service::{RequestContext, Service};
use rmcp::{Peer, RoleClient};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sse_stream::SseStream;

use super::decode::top_level_id;
use super::http1::{Http1Origin, Lease, SendError};
use super::sse::{MAX_EVENT_BYTES, bounded_events};
use crate::auth::Tokens;
use crate::client::{Handler, ProgressSink};

/// Versions whose sessions take plain calls (no per-request metadata or standard headers).
const SESSION_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Times a call's broken-off event stream is resumed before the call fails.
const MAX_RESUMES: usize = 5;
/// Longest wait before a resume, whatever the server's `retry` says.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(5);
/// How long the end of a call's event stream is awaited after the answer (off the call's
/// path), so that its connection can serve another call.
const STREAM_END_WAIT: Duration = Duration::from_secs(5);
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// The session rmcp's transport holds: its id and the headers it sends with it.
struct Session {
    id: Arc<str>,
    headers: HeaderMap,
}

/// Shared between rmcp's transport (which records its session on every POST) and the direct
/// calls (which use it).
#[derive(Clone, Default)]
pub struct SessionSeen(Arc<Mutex<Option<Arc<Session>>>>);

impl SessionSeen {
    /// rmcp posts a message in session `id` with `headers` (custom ones and the protocol version).
    pub fn record(&self, id: &Arc<str>, headers: &HashMap<HeaderName, HeaderValue>) {
        let mut current = self.0.lock().unwrap();
        if current.as_ref().is_some_and(|s| Arc::ptr_eq(&s.id, id) || *s.id == **id) {
            return;
        }
        // By `HeaderName`: it hashes unlike the `str` it borrows as.
        let version = headers.get(&HeaderName::from_static("mcp-protocol-version")).and_then(|v| v.to_str().ok());
        if !version.is_some_and(|v| SESSION_VERSIONS.contains(&v)) {
            *current = None;
            return;
        }
        let headers = headers.iter().filter(|(k, _)| !is_per_message_header(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        *current = Some(Arc::new(Session { id: id.clone(), headers }));
    }

    fn get(&self) -> Option<Arc<Session>> {
        self.0.lock().unwrap().clone()
    }

    fn forget(&self, session: &Session) {
        let mut current = self.0.lock().unwrap();
        if current.as_ref().is_some_and(|s| s.id == session.id) {
            *current = None;
        }
    }
}

fn is_per_message_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    name == "mcp-method" || name == "mcp-name" || name.starts_with("mcp-param-")
}

/// Why a direct call failed after the server may have taken it (never retried: a tool call
/// need not be idempotent).
#[derive(Debug)]
pub enum DirectFailure {
    /// The server answered with a JSON-RPC error.
    Server(ErrorData),
    /// The request or its reply was lost on the way.
    Transport(String),
    /// The reply could not be read.
    Protocol(String),
}

pub struct DirectPost {
    http: reqwest::Client,
    url: url::Url,
    /// `http://` servers: calls over hyper's own connections, around reqwest.
    plain: Option<Plain>,
    tokens: Option<Tokens>,
    session: SessionSeen,
    next_id: AtomicU64,
}

/// A request (a `tools/call` unless said otherwise), encoded from borrowed parts.
#[derive(Serialize)]
pub(crate) struct CallMessage<'a, P = CallParams<'a>> {
    pub jsonrpc: &'static str,
    pub id: &'a str,
    pub method: &'a str,
    pub params: P,
}

#[derive(Serialize)]
pub(crate) struct CallParams<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<&'a JsonObject>,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<&'a JsonObject>,
}

/// A message from the server, read only as far as routing it needs.
#[derive(Deserialize)]
pub(crate) struct Probe<'a> {
    #[serde(borrow)]
    pub jsonrpc: Option<&'a str>,
    pub id: Option<RequestId>,
    pub method: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    pub result: Option<&'a RawValue>,
    pub error: Option<ErrorData>,
}

struct Plain {
    origin: Http1Origin,
    /// The request target (path and query) and the `Host` header.
    target: http::Uri,
    host: HeaderValue,
}

impl Plain {
    fn new(url: &url::Url, connect_timeout: Duration) -> Option<Self> {
        // Credentials in the URL are reqwest's to send (basic auth).
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let origin = Http1Origin::new(url, connect_timeout)?;
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str()?),
            None => url.host_str()?.to_string(),
        };
        Some(Self { origin, target: target.parse().ok()?, host: HeaderValue::from_str(&host).ok()? })
    }
}

/// A reply's head, and its body as a byte stream, from whichever client sent the request.
struct Reply {
    status: StatusCode,
    media_type: String,
    content_length: Option<u64>,
    body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// The connection the body arrives on (plain HTTP), pooled again once the body is read.
    lease: Option<Lease>,
}

impl Reply {
    fn from_reqwest(response: reqwest::Response) -> Self {
        let status = response.status();
        let media_type = media_type(response.headers());
        let content_length = response.content_length();
        let body = response.bytes_stream().map(|chunk| chunk.map_err(|e| std::io::Error::other(e.without_url()))).boxed();
        Reply { status, media_type, content_length, body, lease: None }
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase()
}

/// How a POST went.
enum Sent {
    Reply(Reply),
    /// The server never got it: the rmcp way may try.
    NotTaken,
    Failed(DirectFailure),
}

/// What one message of the reply stream meant for the call.
enum Read<R> {
    Answer(Result<R, DirectFailure>),
    Other,
}

impl DirectPost {
    pub fn new(http: reqwest::Client, url: url::Url, tokens: Option<Tokens>, session: SessionSeen, connect_timeout: Duration) -> Self {
        let plain = Plain::new(&url, connect_timeout);
        Self { http, url, plain, tokens, session, next_id: AtomicU64::new(1) }
    }

    /// Whether rmcp has a session a call can use.
    pub fn ready(&self) -> bool {
        self.session.get().is_some()
    }

    /// `None`: the server did not take the call; send it the rmcp way. Dropping the future
    /// before the answer cancels the call at the server.
    pub async fn call_tool<R: DeserializeOwned>(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        meta: Option<&JsonObject>,
        progress: Option<&ProgressSink>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Option<Result<R, DirectFailure>> {
        let id = format!("mcpfleet-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (meta, _route) = handler.progress.token_for_request(&id, meta.map(Cow::Borrowed), progress);
        self.request(&id, "tools/call", CallParams { name, arguments, meta: meta.as_deref() }, handler, peer).await
    }

    /// Any request in the session, its answer decoded as `R` (see [`DirectPost::call_tool`]).
    pub async fn request_with<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: P,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Option<Result<R, DirectFailure>> {
        let id = format!("mcpfleet-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.request(&id, method, params, handler, peer).await
    }

    async fn request<P: Serialize, R: DeserializeOwned>(
        &self,
        id: &str,
        method: &str,
        params: P,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Option<Result<R, DirectFailure>> {
        let session = self.session.get()?;
        let message = CallMessage { jsonrpc: "2.0", id, method, params };
        let body = match serde_json::to_vec(&message) {
            Ok(body) => body,
            Err(e) => return Some(Err(DirectFailure::Protocol(format!("the call could not be encoded: {e}")))),
        };
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.bearer().await.ok()??),
            None => None,
        };
        let reply = match self.post(body, &session, token.as_deref()).await {
            Sent::Reply(reply) => reply,
            Sent::NotTaken => return None,
            Sent::Failed(failure) => return Some(Err(failure)),
        };
        let request_id = RequestId::String(id.to_owned().into());
        let mut pending = Pending { peer, id: Some(request_id.clone()) };
        let status = reply.status;
        match status {
            StatusCode::NOT_FOUND => {
                self.session.forget(&session);
                pending.id = None;
                return None;
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                pending.id = None;
                return None;
            }
            // Plain HTTP does not follow redirects; the rmcp way does, within the origin.
            _ if status.is_redirection() => {
                pending.id = None;
                return None;
            }
            _ => {}
        }
        let outcome = if reply.media_type.starts_with("text/event-stream") && status.is_success() {
            self.read_stream(reply, &request_id, &session, token.as_deref(), handler, peer).await
        } else if reply.media_type.starts_with("application/json") {
                match read_bounded(reply).await {
                Ok(body) => match self.read_message(&body, &request_id, &session, token.as_deref(), handler, peer).await {
                    Read::Answer(answer) => answer,
                    Read::Other => Err(DirectFailure::Protocol(format!("HTTP {status}: the reply did not answer the call"))),
                },
                Err(e) => Err(e),
            }
        } else {
            Err(DirectFailure::Transport(format!("the server answered HTTP {status} ({:?})", reply.media_type)))
        };
        pending.id = None;
        Some(outcome)
    }

    /// Reads the call's event stream (resuming it if it breaks off) until the answer.
    async fn read_stream<R: DeserializeOwned>(
        &self,
        reply: Reply,
        id: &RequestId,
        session: &Session,
        token: Option<&str>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Result<R, DirectFailure> {
        let Reply { body, mut lease, .. } = reply;
        let mut events = SseStream::from_bytes_stream(bounded_events(body)).boxed();
        let mut last_event_id: Option<String> = None;
        let mut retry = Duration::from_millis(500);
        let mut resumes = 0;
        loop {
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::debug!("a call's event stream broke off: {e}");
                        break;
                    }
                };
                if let Some(event_id) = event.id.filter(|i| !i.is_empty()) {
                    last_event_id = Some(event_id);
                }
                if let Some(ms) = event.retry {
                    retry = Duration::from_millis(ms).min(MAX_RESUME_DELAY);
                }
                let Some(data) = event.data.filter(|d| !d.is_empty()) else { continue };
                if let Read::Answer(answer) = self.read_message(data.as_bytes(), id, session, token, handler, peer).await {
                    // The stream ends right after the answer (usually in the same read); its end
                    // lets the connection serve another call. A server slower to end it is
                    // waited for in the background, not by the caller.
                    if let Some(mut lease) = lease.take() {
                        match events.next().now_or_never() {
                            Some(None) => lease.finished(),
                            Some(Some(_)) => {}
                            None => {
                                tokio::spawn(async move {
                                    if let Ok(None) = tokio::time::timeout(STREAM_END_WAIT, events.next()).await {
                                        lease.finished();
                                    }
                                });
                            }
                        }
                    }
                    return answer;
                }
            }
            let Some(from) = last_event_id.clone().filter(|_| resumes < MAX_RESUMES) else {
                return Err(DirectFailure::Transport("the server ended the call's event stream without answering".into()));
            };
            resumes += 1;
            tracing::debug!("resuming a call's event stream after event {from:?}");
            tokio::time::sleep(retry).await;
            let request = self.in_session(self.http.get(self.url.clone()), session, token, "text/event-stream");
            match request.header("last-event-id", from).send().await {
                Ok(response) if response.status().is_success() => {
                    lease = None;
                    events = SseStream::from_bytes_stream(bounded_events(Reply::from_reqwest(response).body)).boxed();
                }
                Ok(response) => {
                    return Err(DirectFailure::Transport(format!("resuming the call's event stream: HTTP {}", response.status())));
                }
                Err(e) => tracing::debug!("resuming a call's event stream failed: {}", super::sse::error_chain(&e.without_url())),
            }
        }
    }

    /// One message from the server: the answer, or something to hand to the handler.
    async fn read_message<R: DeserializeOwned>(
        &self,
        data: &[u8],
        id: &RequestId,
        session: &Session,
        token: Option<&str>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Read<R> {
        let probe: Probe<'_> = match serde_json::from_slice(data) {
            Ok(probe) => probe,
            Err(e) => {
                if top_level_id(data).as_ref() == Some(id) {
                    return Read::Answer(Err(DirectFailure::Protocol(format!("the server's reply could not be read: it is not valid JSON-RPC ({e})"))));
                }
                tracing::warn!("ignoring a message that is not JSON-RPC: {e}");
                return Read::Other;
            }
        };
        if probe.method.is_none() {
            if probe.id.as_ref() != Some(id) {
                tracing::debug!("dropping a reply to no pending request");
                return Read::Other;
            }
            if probe.jsonrpc != Some("2.0") {
                return Read::Answer(Err(DirectFailure::Protocol("the server's reply is not JSON-RPC 2.0".into())));
            }
            return Read::Answer(match (probe.result, probe.error) {
                (Some(result), None) => serde_json::from_str::<R>(result.get())
                    .map_err(|e| DirectFailure::Protocol(format!("the server's reply could not be read: {e}"))),
                (None, Some(error)) => Err(DirectFailure::Server(error)),
                _ => Err(DirectFailure::Protocol("the server's reply has neither a result nor an error".into())),
            });
        }
        match serde_json::from_slice::<ServerJsonRpcMessage>(data).map(|m| super::decode::keep_task_augmentation(data, m)) {
            Ok(JsonRpcMessage::Notification(n)) => handler.notified(n.notification),
            Ok(JsonRpcMessage::Request(r)) => {
                let context = RequestContext::new(r.id.clone(), peer.clone());
                let reply: ClientJsonRpcMessage = match handler.handle_request(r.request, context).await {
                    Ok(result) => JsonRpcMessage::Response(JsonRpcResponse { jsonrpc: JsonRpcVersion2_0, id: r.id, result }),
                    Err(error) => JsonRpcMessage::Error(JsonRpcError { jsonrpc: JsonRpcVersion2_0, id: Some(r.id), error }),
                };
                self.post_reply(&reply, session, token).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("ignoring a server message that could not be read: {e}"),
        }
        Read::Other
    }

    /// POSTs a message in rmcp's session: over a plain connection for `http://` servers, else
    /// through reqwest.
    async fn post(&self, body: Vec<u8>, session: &Session, token: Option<&str>) -> Sent {
        const ACCEPT_BOTH: &str = "application/json, text/event-stream";
        let Some(plain) = &self.plain else {
            let request = self.in_session(self.http.post(self.url.clone()), session, token, ACCEPT_BOTH);
            return match request.header(CONTENT_TYPE, "application/json").body(body).send().await {
                Ok(response) => Sent::Reply(Reply::from_reqwest(response)),
                Err(e) if e.is_connect() => Sent::NotTaken,
                Err(e) => Sent::Failed(DirectFailure::Transport(super::sse::error_chain(&e.without_url()))),
            };
        };
        let mut request = http::Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = plain.target.clone();
        let headers = request.headers_mut();
        headers.reserve(session.headers.len() + 5);
        headers.insert(HOST, plain.host.clone());
        for (name, value) in &session.headers {
            headers.append(name, value.clone());
        }
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_BOTH));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match HeaderValue::from_str(&session.id) {
            Ok(id) => headers.insert(MCP_SESSION_ID, id),
            Err(_) => return Sent::NotTaken,
        };
        if let Some(token) = token {
            let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) else { return Sent::NotTaken };
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        match plain.origin.send(request).await {
            Ok((response, lease)) => {
                let (head, body) = response.into_parts();
                let body = BodyDataStream::new(body).map(|chunk| chunk.map_err(std::io::Error::other)).boxed();
                let content_length = head.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
                Sent::Reply(Reply { status: head.status, media_type: media_type(&head.headers), content_length, body, lease: Some(lease) })
            }
            Err(SendError::Connect(e)) => {
                tracing::debug!("a direct call could not connect: {e}");
                Sent::NotTaken
            }
            Err(SendError::Request(e)) => Sent::Failed(DirectFailure::Transport(super::sse::error_chain(&e))),
        }
    }

    /// A request in rmcp's session: its headers, the session id, the token.
    fn in_session(&self, request: reqwest::RequestBuilder, session: &Session, token: Option<&str>, accept: &'static str) -> reqwest::RequestBuilder {
        let request = request.headers(session.headers.clone()).header(ACCEPT, accept).header("mcp-session-id", &*session.id);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn post_reply(&self, reply: &ClientJsonRpcMessage, session: &Session, token: Option<&str>) {
        let request = self.in_session(self.http.post(self.url.clone()), session, token, "application/json, text/event-stream");
        match request.json(reply).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => tracing::warn!("the server refused the answer to its request: HTTP {}", response.status()),
            Err(e) => tracing::warn!("answering the server's request failed: {}", super::sse::error_chain(&e.without_url())),
        }
    }
}

/// A call the server has and that has no answer yet: if the caller gives up on it (drop,
/// timeout), the server hears so.
/// A request in flight: dropped before its answer, it is cancelled at the server.
pub(crate) struct Pending<'a> {
    pub(crate) peer: &'a Peer<RoleClient>,
    pub(crate) id: Option<RequestId>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let peer = self.peer.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let params = CancelledNotificationParam::new(Some(id), Some("the caller gave up".into()));
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}

/// The whole body, up to [`MAX_EVENT_BYTES`].
async fn read_bounded(reply: Reply) -> Result<Bytes, DirectFailure> {
    if reply.content_length.is_some_and(|n| n > MAX_EVENT_BYTES as u64) {
        return Err(DirectFailure::Protocol(format!("the reply is longer than {MAX_EVENT_BYTES} bytes")));
    }
    let Reply { mut body, mut lease, .. } = reply;
    let mut whole = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| DirectFailure::Transport(super::sse::error_chain(&e)))?;
        if whole.len() + chunk.len() > MAX_EVENT_BYTES {
            return Err(DirectFailure::Protocol(format!("the reply is longer than {MAX_EVENT_BYTES} bytes")));
        }
        whole.extend_from_slice(&chunk);
    }
    if let Some(lease) = lease.as_mut() {
        lease.finished();
    }
    Ok(whole.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(url: &str) -> Option<Plain> {
        Plain::new(&url::Url::parse(url).unwrap(), Duration::from_secs(1))
    }

    #[test]
    fn plain_http_only_where_reqwest_adds_nothing() {
        let p = plain("http://127.0.0.1:8080/mcp?tenant=ü&x=1").unwrap();
        assert_eq!(p.target.to_string(), "/mcp?tenant=%C3%BC&x=1");
        assert_eq!(p.host, "127.0.0.1:8080");
        let p = plain("http://[::1]:9/").unwrap();
        assert_eq!((p.target.to_string().as_str(), p.host.to_str().unwrap()), ("/", "[::1]:9"));
        assert_eq!(plain("http://Example.COM/mcp").unwrap().host, "example.com");
        // TLS, and credentials in the URL (reqwest sends them as basic auth), stay with reqwest.
        assert!(plain("https://127.0.0.1:8443/mcp").is_none());
        assert!(plain("http://user:secret@127.0.0.1:8080/mcp").is_none());
        assert!(plain("http://user@127.0.0.1:8080/mcp").is_none());
    }
}
