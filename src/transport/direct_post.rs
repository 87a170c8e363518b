//! `tools/call` over streamable HTTP without rmcp's client worker: one POST in the session rmcp
//! negotiated, its reply read where it arrives (a JSON body, or the request's event stream) and
//! decoded as a `CallToolResult` directly. rmcp's way passes each call through its service loop
//! and transport worker (channel hops each way, a task per POST) and decodes replies through an
//! untagged enum of every result type; calls are what a fleet does most.
//!
//! A call takes this way only once rmcp's transport has a session (seen on its own requests),
//! and gives way back to rmcp whenever the server did not take the request: no session yet,
//! 404 (session gone: rmcp starts a new one), 401/403 (the token source reacts), a connection
//! that could not be made. Whatever else arrives on the call's stream is handled as rmcp would:
//! notifications go to the handler, server requests are answered by it, and a stream that
//! breaks off is resumed with `Last-Event-ID`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rmcp::model::{
    CallToolResult, CancelledNotificationParam, ClientJsonRpcMessage, ErrorData, JsonObject, JsonRpcError, JsonRpcMessage,
    JsonRpcResponse, JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage,
};
use rmcp::service::{RequestContext, Service};
use rmcp::{Peer, RoleClient};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sse_stream::SseStream;

use super::decode::top_level_id;
use super::sse::{MAX_EVENT_BYTES, bounded_events};
use crate::auth::Tokens;
use crate::client::Handler;

/// Versions whose sessions take plain calls (no per-request metadata or standard headers).
const SESSION_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Times a call's broken-off event stream is resumed before the call fails.
const MAX_RESUMES: usize = 5;
/// Longest wait before a resume, whatever the server's `retry` says.
const MAX_RESUME_DELAY: Duration = Duration::from_secs(5);

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
    tokens: Option<Tokens>,
    session: SessionSeen,
    next_id: AtomicU64,
}

#[derive(Serialize)]
struct CallMessage<'a> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'static str,
    params: CallParams<'a>,
}

#[derive(Serialize)]
struct CallParams<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a JsonObject>,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<&'a JsonObject>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a str>,
    id: Option<RequestId>,
    method: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorData>,
}

/// What one message of the reply stream meant for the call.
enum Read {
    Answer(Result<CallToolResult, DirectFailure>),
    Other,
}

impl DirectPost {
    pub fn new(http: reqwest::Client, url: url::Url, tokens: Option<Tokens>, session: SessionSeen) -> Self {
        Self { http, url, tokens, session, next_id: AtomicU64::new(1) }
    }

    /// Whether rmcp has a session a call can use.
    pub fn ready(&self) -> bool {
        self.session.get().is_some()
    }

    /// `None`: the server did not take the call; send it the rmcp way. Dropping the future
    /// before the answer cancels the call at the server.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        meta: Option<&JsonObject>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Option<Result<CallToolResult, DirectFailure>> {
        let session = self.session.get()?;
        let id = format!("mcpfleet-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let message = CallMessage { jsonrpc: "2.0", id: &id, method: "tools/call", params: CallParams { name, arguments, meta } };
        let body = match serde_json::to_vec(&message) {
            Ok(body) => body,
            Err(e) => return Some(Err(DirectFailure::Protocol(format!("the call could not be encoded: {e}")))),
        };
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.bearer().await.ok()??),
            None => None,
        };
        let request = self.in_session(self.http.post(self.url.clone()), &session, token.as_deref(), "application/json, text/event-stream");
        let response = match request.header(CONTENT_TYPE, "application/json").body(body).send().await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return None,
            Err(e) => return Some(Err(DirectFailure::Transport(super::sse::error_chain(&e.without_url())))),
        };
        let request_id = RequestId::String(id.into());
        let mut pending = Pending { peer, id: Some(request_id.clone()) };
        let status = response.status();
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
            _ => {}
        }
        let media_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let outcome = if media_type.starts_with("text/event-stream") && status.is_success() {
            self.read_stream(response, &request_id, &session, token.as_deref(), handler, peer).await
        } else if media_type.starts_with("application/json") {
            match read_bounded(response).await {
                Ok(body) => match self.read_message(&body, &request_id, &session, token.as_deref(), handler, peer).await {
                    Read::Answer(answer) => answer,
                    Read::Other => Err(DirectFailure::Protocol(format!("HTTP {status}: the reply did not answer the call"))),
                },
                Err(e) => Err(e),
            }
        } else {
            Err(DirectFailure::Transport(format!("the server answered HTTP {status} ({media_type:?})")))
        };
        pending.id = None;
        Some(outcome)
    }

    /// Reads the call's event stream (resuming it if it breaks off) until the answer.
    async fn read_stream(
        &self,
        response: reqwest::Response,
        id: &RequestId,
        session: &Session,
        token: Option<&str>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Result<CallToolResult, DirectFailure> {
        let mut events = SseStream::from_bytes_stream(bounded_events(response.bytes_stream())).boxed();
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
                    events = SseStream::from_bytes_stream(bounded_events(response.bytes_stream())).boxed();
                }
                Ok(response) => {
                    return Err(DirectFailure::Transport(format!("resuming the call's event stream: HTTP {}", response.status())));
                }
                Err(e) => tracing::debug!("resuming a call's event stream failed: {}", super::sse::error_chain(&e.without_url())),
            }
        }
    }

    /// One message from the server: the answer, or something to hand to the handler.
    async fn read_message(
        &self,
        data: &[u8],
        id: &RequestId,
        session: &Session,
        token: Option<&str>,
        handler: &Handler,
        peer: &Peer<RoleClient>,
    ) -> Read {
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
                (Some(result), None) => serde_json::from_str::<CallToolResult>(result.get())
                    .map_err(|e| DirectFailure::Protocol(format!("the server's reply could not be read: {e}"))),
                (None, Some(error)) => Err(DirectFailure::Server(error)),
                _ => Err(DirectFailure::Protocol("the server's reply has neither a result nor an error".into())),
            });
        }
        match serde_json::from_slice::<ServerJsonRpcMessage>(data) {
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
struct Pending<'a> {
    peer: &'a Peer<RoleClient>,
    id: Option<RequestId>,
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
async fn read_bounded(response: reqwest::Response) -> Result<bytes::Bytes, DirectFailure> {
    if response.content_length().is_some_and(|n| n > MAX_EVENT_BYTES as u64) {
        return Err(DirectFailure::Protocol(format!("the reply is longer than {MAX_EVENT_BYTES} bytes")));
    }
    let mut body = bytes::BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| DirectFailure::Transport(super::sse::error_chain(&e.without_url())))?;
        if body.len() + chunk.len() > MAX_EVENT_BYTES {
            return Err(DirectFailure::Protocol(format!("the reply is longer than {MAX_EVENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
