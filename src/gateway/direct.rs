//! `tools/call` in an HTTP session, answered by the gateway itself: the request goes straight to
//! the fleet and the reply is one `application/json` body, instead of travelling through rmcp's
//! session worker and service loop and back as a server-sent event stream (two channel hops
//! each way, a response head written before the result is known, an event id per request).
//! Calls are the hot path of a gateway; everything else goes to rmcp.
//!
//! Only requests rmcp would accept take this way: the checks below are a stricter subset of
//! rmcp's (Host, Origin, Accept, Content-Type, protocol version, session); whatever does not pass
//! them exactly, rmcp answers. A session's `notifications/cancelled` for a call served here
//! cancels it here.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use http_body_util::BodyExt;
use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, JsonRpcError, JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::client::ToolReply;
use super::http::Response;

/// rmcp's default request body limit; larger bodies are rmcp's to refuse.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// Versions with sessions (and without the 2026-07-28 per-request metadata).
const SESSION_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

pub struct DirectCalls {
    shared: Arc<Shared>,
    sessions: Arc<LocalSessionManager>,
    /// Host must name a loopback address (the server listens on one).
    loopback_host: bool,
    /// Calls served here, by session and request id, for `notifications/cancelled`.
    in_flight: Mutex<HashMap<(Arc<str>, RequestId), CancellationToken>>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: Option<RequestId>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

impl DirectCalls {
    pub fn new(shared: Arc<Shared>, sessions: Arc<LocalSessionManager>, loopback_host: bool) -> Self {
        Self { shared, sessions, loopback_host, in_flight: Mutex::new(HashMap::new()) }
    }

    /// The session of a POST that may be served here, judged by its head alone.
    pub fn candidate<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let session = headers.get("mcp-session-id")?.to_str().ok()?;
        let length: u64 = headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()?;
        if length > MAX_BODY_BYTES || !media_type_is(headers.get(CONTENT_TYPE)?, "application/json") {
            return None;
        }
        let accept = headers.get(ACCEPT)?.to_str().ok()?;
        let accepts = |wanted: &str| accept.split(',').any(|part| part.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(wanted));
        if !accepts("application/json") || !accepts("text/event-stream") {
            return None;
        }
        if let Some(version) = headers.get("mcp-protocol-version") {
            if !SESSION_VERSIONS.iter().any(|v| version.as_bytes() == v.as_bytes()) {
                return None;
            }
        }
        // SEP-2243 headers must agree with the body: rmcp checks them.
        if headers.keys().any(|k| k.as_str() == "mcp-method" || k.as_str() == "mcp-name" || k.as_str().starts_with("mcp-param-")) {
            return None;
        }
        if self.loopback_host && !headers.get(HOST).and_then(|h| h.to_str().ok()).is_some_and(is_loopback_authority) {
            return None;
        }
        if let Some(origin) = headers.get(ORIGIN) {
            if !origin.to_str().ok().is_some_and(is_loopback_origin) {
                return None;
            }
        }
        Some(session)
    }

    /// Serves the message when it is a call or a cancellation of one served here; `None` leaves
    /// it to rmcp.
    pub async fn serve(&self, session: &str, body: &[u8]) -> Option<Response> {
        let probe: Probe<'_> = serde_json::from_slice(body).ok()?;
        if probe.jsonrpc != "2.0" {
            return None;
        }
        match (probe.method.as_ref(), probe.id) {
            ("tools/call", Some(id)) => {
                let params: CallToolRequestParams = serde_json::from_str(probe.params?.get()).ok()?;
                // Progress goes to the client on the call's event stream: rmcp's way.
                if params.meta.as_ref().is_some_and(|m| m.get_progress_token().is_some()) {
                    return None;
                }
                // A client the servers may ask something gets their questions on rmcp's stream.
                if self.shared.asking_sessions.lock().unwrap().contains(session) {
                    return None;
                }
                let session: Arc<str> = session.into();
                if !self.sessions.has_session(&session).await.unwrap_or(false) {
                    return None;
                }
                let cancel = CancellationToken::new();
                let key = (session, id.clone());
                {
                    let mut in_flight = self.in_flight.lock().unwrap();
                    if in_flight.contains_key(&key) {
                        return None;
                    }
                    in_flight.insert(key.clone(), cancel.clone());
                }
                let _registered = Registered { calls: self, key };
                Some(tokio::select! {
                    result = self.shared.call_tool_as::<SessionReply>(params, None, None) => reply(id, result),
                    // Like rmcp: the request's stream ends without an answer.
                    _ = cancel.cancelled() => event_stream_without_events(),
                })
            }
            ("notifications/cancelled", None) => {
                let params: CancelledNotificationParam = serde_json::from_str(probe.params?.get()).ok()?;
                let key = (Arc::<str>::from(session), params.request_id?);
                let cancel = self.in_flight.lock().unwrap().remove(&key)?;
                cancel.cancel();
                Some(accepted())
            }
            _ => None,
        }
    }
}

struct Registered<'a> {
    calls: &'a DirectCalls,
    key: (Arc<str>, RequestId),
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.calls.in_flight.lock().unwrap().remove(&self.key);
    }
}

/// A tool result for a session client (≤ 2025-11-25): the server's JSON as it came (the
/// direct way upstream is a session too), or a result made here, stripped as rmcp strips
/// results for such clients.
#[derive(Deserialize)]
#[serde(transparent)]
struct SessionReply(Box<RawValue>);

impl ToolReply for SessionReply {
    fn from_result(result: rmcp::model::CallToolResult) -> Result<Self, serde_json::Error> {
        let mut result = ServerResult::CallToolResult(result);
        result.strip_result_type_for_legacy_peer();
        result.strip_non_object_output_for_legacy_peer();
        serde_json::value::to_raw_value(&result).map(SessionReply)
    }

    fn asks_for_a_task(&self) -> bool {
        crate::client::tasks::raw_asks_for_a_task(self.0.get())
    }

    fn is_error(&self) -> bool {
        crate::client::raw_is_error(self.0.get())
    }
}

#[derive(Serialize)]
struct RawResponse<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: &'a RawValue,
}

/// The JSON-RPC reply in the shape a session client expects, as rmcp would send it.
fn reply(id: RequestId, result: Result<SessionReply, rmcp::ErrorData>) -> Response {
    let result = result.and_then(|SessionReply(result)| match result.get().starts_with('{') {
        true => Ok(result),
        false => Err(rmcp::ErrorData::internal_error("the server's tool result is not a JSON object", None)),
    });
    let body = match result {
        Ok(result) => serde_json::to_vec(&RawResponse { jsonrpc: "2.0", id: &id, result: &result }),
        Err(error) => serde_json::to_vec(&ServerJsonRpcMessage::Error(JsonRpcError { jsonrpc: JsonRpcVersion2_0, id: Some(id), error })),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return super::http::plain(http::StatusCode::INTERNAL_SERVER_ERROR, &format!("the reply could not be encoded: {e}")),
    };
    with_type(http::StatusCode::OK, Bytes::from(body), "application/json")
}

fn event_stream_without_events() -> Response {
    with_type(http::StatusCode::OK, Bytes::new(), "text/event-stream")
}

fn accepted() -> Response {
    let mut response = http::Response::new(http_body_util::Empty::new().map_err(|e| match e {}).boxed());
    *response.status_mut() = http::StatusCode::ACCEPTED;
    response
}

fn with_type(status: http::StatusCode, body: Bytes, media_type: &'static str) -> Response {
    let mut response = http::Response::new(http_body_util::Full::new(body).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static(media_type));
    response
}

fn media_type_is(value: &http::HeaderValue, wanted: &str) -> bool {
    value.to_str().ok().is_some_and(|v| v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(wanted))
}

const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host.is_empty() => host,
        _ => authority,
    };
    LOOPBACK_HOSTS.iter().any(|h| host.eq_ignore_ascii_case(h))
}

/// An origin the front allows (see `http::ALLOWED_ORIGINS`): a loopback host with a port.
fn is_loopback_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    let Some((host, port)) = rest.rsplit_once(':') else { return false };
    let port_ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let host_ok = match scheme {
        "http" => LOOPBACK_HOSTS.contains(&host),
        "https" => host == "localhost" || host == "127.0.0.1",
        _ => false,
    };
    port_ok && host_ok
}

/// When each session was last used and how many event streams it holds open: a session is
/// idle only when it has neither. (rmcp's own expiry counts neither calls served here nor an
/// open stream.)
#[derive(Default)]
pub struct SessionActivity {
    sessions: Mutex<HashMap<Arc<str>, Activity>>,
}

struct Activity {
    last: Instant,
    open_streams: usize,
}

impl SessionActivity {
    /// A request named the session. Only sessions already seen count: any client can send any id.
    pub fn touch(&self, session: &str) {
        if let Some(a) = self.sessions.lock().unwrap().get_mut(session) {
            a.last = Instant::now();
        }
    }

    /// Counts a stream of a session that exists (rmcp has accepted the stream) as open until
    /// the guard drops.
    pub fn stream_opened(self: &Arc<Self>, session: &str) -> StreamGuard {
        let session: Arc<str> = session.into();
        let mut sessions = self.sessions.lock().unwrap();
        let a = sessions.entry(session.clone()).or_insert(Activity { last: Instant::now(), open_streams: 0 });
        a.open_streams += 1;
        a.last = Instant::now();
        StreamGuard { activity: self.clone(), session }
    }

    /// Ends sessions idle for `idle`, every `every`, until the manager is gone.
    pub async fn expire(self: Arc<Self>, sessions: std::sync::Weak<LocalSessionManager>, idle: Duration, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let Some(manager) = sessions.upgrade() else { return };
            let live: HashSet<Arc<str>> = manager.sessions.read().await.keys().cloned().collect();
            let expired: Vec<Arc<str>> = {
                let mut activity = self.sessions.lock().unwrap();
                let now = Instant::now();
                activity.retain(|id, a| a.open_streams > 0 || live.contains(id));
                live.iter()
                    .filter(|id| {
                        let a = activity.entry((*id).clone()).or_insert(Activity { last: now, open_streams: 0 });
                        a.open_streams == 0 && now.duration_since(a.last) >= idle
                    })
                    .cloned()
                    .collect()
            };
            for id in expired {
                tracing::debug!("gateway: ending a session idle for {idle:?}");
                let _ = manager.close_session(&id).await;
                self.sessions.lock().unwrap().remove(&id);
            }
        }
    }
}

pub struct StreamGuard {
    activity: Arc<SessionActivity>,
    session: Arc<str>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(a) = self.activity.sessions.lock().unwrap().get_mut(&self.session) {
            a.open_streams = a.open_streams.saturating_sub(1);
            a.last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_and_allowed_origins_pass() {
        for ok in ["localhost", "127.0.0.1:8080", "[::1]:1", "LOCALHOST:99"] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in ["evil.com", "127.0.0.1.evil.com:80", "localhost.evil:1", "", ":80", "[::1]x"] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
        for ok in ["http://localhost:3000", "http://127.0.0.1:1", "http://[::1]:8080", "https://localhost:443"] {
            assert!(is_loopback_origin(ok), "{ok}");
        }
        for bad in ["http://evil.com:80", "http://localhost", "https://[::1]:1", "null", "file://localhost:1", "http://localhost:80/x", "http://localhost.evil.com:1"] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }
}
