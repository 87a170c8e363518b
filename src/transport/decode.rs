//! Decoding a server's JSON-RPC messages, with a fast path for `tools/call` results.
//!
//! rmcp's `ServerResult` is an untagged enum of about twenty result types: decoding a
//! `CallToolResult` tries (and fails, building an error message each time) fifteen others first,
//! about ten times the cost of decoding the type itself. The transport knows which requests
//! were `tools/call`, so their responses are decoded as `CallToolResult` directly; anything
//! unexpected falls back to the generic decoding.

use std::collections::HashSet;

use rmcp::model::{
    CallToolResult, ClientJsonRpcMessage, ClientNotification, ClientRequest, CustomRequest, ErrorCode, ErrorData, JsonRpcError, JsonRpcMessage,
    JsonRpcResponse, JsonRpcVersion2_0, RequestId, ServerJsonRpcMessage, ServerRequest, ServerResult,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Beyond this many unanswered calls (answers lost to cancellation), the set starts over.
const MAX_TRACKED_CALLS: usize = 4096;

/// Requests sent and not yet answered; beyond this many (answers lost), the set starts over.
const MAX_PENDING: usize = 65_536;

/// Marks an error reply that mcpfleet made for a request whose real reply could not be read.
pub const PROTOCOL_ERROR_MARKER: &str = "mcpfleet-protocol-error";

#[derive(Default)]
pub struct MessageDecoder {
    tool_calls: HashSet<RequestId>,
    /// Ids of requests sent and not answered: a reply must carry one of them exactly (`"1"` does
    /// not answer `1`).
    pending: HashSet<RequestId>,
}

#[derive(Deserialize)]
struct ResponseProbe<'a> {
    #[serde(borrow)]
    jsonrpc: Option<&'a str>,
    id: Option<RequestId>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    method: Option<IgnoredAny>,
    error: Option<IgnoredAny>,
}

impl MessageDecoder {
    pub fn note_sent(&mut self, message: &ClientJsonRpcMessage) {
        match message {
            JsonRpcMessage::Request(request) => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.clear();
                }
                self.pending.insert(request.id.clone());
                if matches!(request.request, ClientRequest::CallToolRequest(_)) {
                    if self.tool_calls.len() >= MAX_TRACKED_CALLS {
                        self.tool_calls.clear();
                    }
                    self.tool_calls.insert(request.id.clone());
                }
            }
            // A cancelled request's late answer is a stray.
            JsonRpcMessage::Notification(n) => {
                if let ClientNotification::CancelledNotification(c) = &n.notification {
                    if let Some(id) = &c.params.request_id {
                        self.pending.remove(id);
                        self.tool_calls.remove(id);
                    }
                }
            }
            _ => {}
        }
    }

    /// Decodes one message. `Ok(None)`: a reply to no request of ours (logged at DEBUG).
    pub fn decode(&mut self, line: &[u8]) -> serde_json::Result<Option<ServerJsonRpcMessage>> {
        if !self.tool_calls.is_empty() {
            if let Some(message) = self.decode_tool_result(line) {
                return Ok(Some(message));
            }
        }
        let message = keep_task_augmentation(line, serde_json::from_slice::<ServerJsonRpcMessage>(line)?);
        let id = match &message {
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            _ => None,
        };
        if let Some(id) = id {
            self.tool_calls.remove(id);
            if !self.pending.remove(id) {
                tracing::debug!(id = %id, "dropping a reply to no pending request");
                return Ok(None);
            }
        }
        Ok(Some(message))
    }

    /// For a line that could not be decoded: the pending request it answers, found by its
    /// top-level `id`, which then counts as answered.
    pub fn claim_unreadable(&mut self, line: &[u8]) -> Option<RequestId> {
        let id = top_level_id(line)?;
        self.tool_calls.remove(&id);
        self.pending.remove(&id).then_some(id)
    }

    /// The error reply that stands in for a reply that could not be read.
    pub fn unreadable_reply(id: RequestId, reason: &str) -> ServerJsonRpcMessage {
        JsonRpcMessage::Error(JsonRpcError {
            jsonrpc: JsonRpcVersion2_0,
            id: Some(id),
            error: ErrorData {
                code: ErrorCode::PARSE_ERROR,
                message: format!("the server's reply could not be read: {reason}").into(),
                data: Some(serde_json::json!({ PROTOCOL_ERROR_MARKER: true })),
            },
        })
    }

    fn decode_tool_result(&mut self, line: &[u8]) -> Option<ServerJsonRpcMessage> {
        let probe: ResponseProbe<'_> = serde_json::from_slice(line).ok()?;
        if probe.jsonrpc != Some("2.0") || probe.method.is_some() || probe.error.is_some() {
            return None;
        }
        let id = probe.id?;
        if !self.tool_calls.contains(&id) {
            return None;
        }
        let result: CallToolResult = serde_json::from_str(probe.result?.get()).ok()?;
        self.tool_calls.remove(&id);
        self.pending.remove(&id);
        Some(JsonRpcMessage::Response(JsonRpcResponse { jsonrpc: JsonRpcVersion2_0, id, result: ServerResult::CallToolResult(result) }))
    }
}

/// A server's request that it wants run as a task (2025-11-25: `elicitation/create` or
/// `sampling/createMessage` with `task` in its params) as a request of rmcp's "custom" kind, so
/// the client's handler sees the `task` that rmcp's own types drop.
pub(crate) fn keep_task_augmentation(line: &[u8], message: ServerJsonRpcMessage) -> ServerJsonRpcMessage {
    #[derive(Deserialize)]
    struct Probe {
        method: String,
        params: Option<serde_json::Value>,
    }
    let JsonRpcMessage::Request(request) = &message else { return message };
    let asks = matches!(request.request, ServerRequest::ElicitRequest(_) | ServerRequest::CreateMessageRequest(_));
    if !asks || !line.windows(6).any(|w| w == b"\"task\"") {
        return message;
    }
    let Ok(probe) = serde_json::from_slice::<Probe>(line) else { return message };
    if !probe.params.as_ref().and_then(|p| p.get("task")).is_some_and(serde_json::Value::is_object) {
        return message;
    }
    let JsonRpcMessage::Request(mut request) = message else { return message };
    request.request = ServerRequest::CustomRequest(CustomRequest::new(probe.method, probe.params));
    JsonRpcMessage::Request(request)
}

/// Why a reply could not be read, in words a user can act on.
pub(crate) fn unreadable_reason(line: &[u8], error: &serde_json::Error) -> String {
    if std::str::from_utf8(line).is_err() {
        "it is not valid UTF-8".to_string()
    } else if error.to_string().contains("recursion limit") {
        "it nests deeper than the JSON parser allows".to_string()
    } else {
        format!("it is not valid JSON-RPC ({error})")
    }
}

/// The top-level `"id"` of a JSON object, read without decoding the rest: works on text that
/// is not UTF-8 or nests too deep for a parser. Bounded by the line; no recursion.
pub(crate) fn top_level_id(line: &[u8]) -> Option<RequestId> {
    let mut depth = 0usize;
    let mut i = 0;
    let n = line.len();
    let skip_string = |mut j: usize| -> usize {
        j += 1;
        while j < n {
            match line[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        n
    };
    while i < n {
        match line[i] {
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' => {
                let end = skip_string(i);
                let key = &line[i..end];
                i = end;
                if depth != 1 || key != b"\"id\"" {
                    continue;
                }
                let mut j = i;
                while j < n && line[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j >= n || line[j] != b':' {
                    continue;
                }
                j += 1;
                while j < n && line[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < n && line[j] == b'"' {
                    let end = skip_string(j);
                    return serde_json::from_slice::<String>(&line[j..end]).ok().map(|s| RequestId::String(s.into()));
                }
                let end = line[j..].iter().position(|b| !(b.is_ascii_digit() || *b == b'-')).map_or(n, |e| j + e);
                return std::str::from_utf8(&line[j..end]).ok()?.parse::<i64>().ok().map(RequestId::Number);
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequestParams, ClientRequest, JsonRpcRequest, NumberOrString};

    fn sent_call(decoder: &mut MessageDecoder, id: i64) {
        let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(CallToolRequestParams::new("echo")));
        decoder.note_sent(&JsonRpcMessage::Request(JsonRpcRequest::new(NumberOrString::Number(id), request)));
    }

    #[test]
    fn a_request_run_as_a_task_keeps_its_task() {
        let mut decoder = MessageDecoder::default();
        let line = br#"{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{"task":{"ttl":600000},"message":"name?","requestedSchema":{"type":"object","properties":{}}}}"#;
        let Some(JsonRpcMessage::Request(request)) = decoder.decode(line).unwrap() else { panic!("not a request") };
        let ServerRequest::CustomRequest(custom) = request.request else { panic!("not kept as a custom request") };
        assert_eq!(custom.method, "elicitation/create");
        assert_eq!(custom.params.unwrap()["task"]["ttl"], 600000);
        // Without `task` (or with "task" only inside the message), it is an elicitation as ever.
        let plain = br#"{"jsonrpc":"2.0","id":4,"method":"elicitation/create","params":{"message":"the \"task\" ahead","requestedSchema":{"type":"object","properties":{}}}}"#;
        let Some(JsonRpcMessage::Request(request)) = decoder.decode(plain).unwrap() else { panic!("not a request") };
        assert!(matches!(request.request, ServerRequest::ElicitRequest(_)));
    }

    #[test]
    fn initialize_declares_what_rmcp_has_no_field_for() {
        use rmcp::model::{ClientCapabilities, Implementation, InitializeRequest, InitializeRequestParams};
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation = Some(Default::default());
        let params = InitializeRequestParams::new(capabilities, Implementation::new("t", "1"));
        let message = ClientJsonRpcMessage::request(ClientRequest::InitializeRequest(InitializeRequest::new(params)), RequestId::Number(0));
        let extra = serde_json::json!({"tasks": {"requests": {"elicitation": {"create": {}}}}});
        let sent = crate::transport::with_extra_capabilities(message, extra.as_object());
        let wire = serde_json::to_value(&sent).unwrap();
        assert_eq!(wire["method"], "initialize");
        assert_eq!(wire["id"], 0);
        assert!(wire["params"]["capabilities"]["elicitation"].is_object());
        assert_eq!(wire["params"]["capabilities"]["tasks"], extra["tasks"]);
        assert_eq!(wire["params"]["clientInfo"]["name"], "t");
    }

    #[test]
    fn tool_results_decode_like_the_generic_path() {
        let line = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"structuredContent":{"a":1},"isError":false}}"#;
        let generic: ServerJsonRpcMessage = serde_json::from_slice(line).unwrap();
        let mut decoder = MessageDecoder::default();
        sent_call(&mut decoder, 7);
        let fast = decoder.decode_tool_result(line).expect("fast path taken");
        assert_eq!(serde_json::to_value(&fast).unwrap(), serde_json::to_value(&generic).unwrap());
        assert!(matches!(fast, JsonRpcMessage::Response(r) if matches!(r.result, ServerResult::CallToolResult(_))));
        assert!(decoder.tool_calls.is_empty());
    }

    #[test]
    fn other_messages_take_the_generic_path() {
        let mut decoder = MessageDecoder::default();
        sent_call(&mut decoder, 1);
        let list = ClientRequest::ListToolsRequest(Default::default());
        decoder.note_sent(&JsonRpcMessage::Request(JsonRpcRequest::new(NumberOrString::Number(2), list)));
        // not a tracked tool call
        let tools = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#;
        assert!(matches!(decoder.decode(tools).unwrap(), Some(JsonRpcMessage::Response(r)) if matches!(r.result, ServerResult::ListToolsResult(_))));
        // an error for the tracked id forgets it
        let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown tool"}}"#;
        assert!(matches!(decoder.decode(error).unwrap(), Some(JsonRpcMessage::Error(_))));
        assert!(decoder.tool_calls.is_empty());
        // a wrong version is still rejected
        sent_call(&mut decoder, 3);
        assert!(decoder.decode(br#"{"jsonrpc":"1.0","id":3,"result":{"content":[]}}"#).is_err());
    }

    #[test]
    fn ids_match_exactly_and_strays_are_dropped() {
        let mut decoder = MessageDecoder::default();
        sent_call(&mut decoder, 1);
        assert!(decoder.decode(br#"{"jsonrpc":"2.0","id":"1","result":{"content":[]}}"#).unwrap().is_none());
        assert!(decoder.decode(br#"{"jsonrpc":"2.0","id":9,"result":{}}"#).unwrap().is_none());
        assert!(decoder.decode(br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#).unwrap().is_some());
        // answered once; the second answer is a stray
        assert!(decoder.decode(br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#).unwrap().is_none());
    }

    #[test]
    fn unreadable_replies_are_matched_by_their_id() {
        assert_eq!(top_level_id(b"{\"jsonrpc\":\"2.0\",\"result\":{\"id\":5,\"t\":\"\xff\"},\"id\" : 42}"), Some(NumberOrString::Number(42)));
        assert_eq!(top_level_id(br#"{"id":"a\"b","result":[[[[]]]]}"#), Some(NumberOrString::String("a\"b".into())));
        assert_eq!(top_level_id(br#"{"result":{"id":1}}"#), None);
        let deep = format!("{{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let mut decoder = MessageDecoder::default();
        sent_call(&mut decoder, 7);
        assert!(decoder.decode(deep.as_bytes()).is_err());
        assert_eq!(decoder.claim_unreadable(deep.as_bytes()), Some(NumberOrString::Number(7)));
        assert_eq!(decoder.claim_unreadable(deep.as_bytes()), None);
    }
}
