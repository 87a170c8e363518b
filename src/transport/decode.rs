//! Decoding a server's JSON-RPC messages, with a fast path for `tools/call` results.
//!
//! rmcp's `ServerResult` is an untagged enum of about twenty result types: decoding a
//! `CallToolResult` tries (and fails, building an error message each time) fifteen others first,
//! about ten times the cost of decoding the type itself. The transport knows which requests
//! were `tools/call`, so their responses are decoded as `CallToolResult` directly; anything
//! unexpected falls back to the generic decoding.

use std::collections::HashSet;

use rmcp::model::{
    CallToolResult, ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Beyond this many unanswered calls (answers lost to cancellation), the set starts over.
const MAX_TRACKED_CALLS: usize = 4096;

#[derive(Default)]
pub struct MessageDecoder {
    tool_calls: HashSet<RequestId>,
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
        if let JsonRpcMessage::Request(request) = message {
            if matches!(request.request, ClientRequest::CallToolRequest(_)) {
                if self.tool_calls.len() >= MAX_TRACKED_CALLS {
                    self.tool_calls.clear();
                }
                self.tool_calls.insert(request.id.clone());
            }
        }
    }

    pub fn decode(&mut self, line: &[u8]) -> serde_json::Result<ServerJsonRpcMessage> {
        if !self.tool_calls.is_empty() {
            if let Some(message) = self.decode_tool_result(line) {
                return Ok(message);
            }
        }
        let message = serde_json::from_slice::<ServerJsonRpcMessage>(line)?;
        match &message {
            JsonRpcMessage::Response(r) => {
                self.tool_calls.remove(&r.id);
            }
            JsonRpcMessage::Error(e) => {
                if let Some(id) = &e.id {
                    self.tool_calls.remove(id);
                }
            }
            _ => {}
        }
        Ok(message)
    }

    fn decode_tool_result(&mut self, line: &[u8]) -> Option<ServerJsonRpcMessage> {
        let probe: ResponseProbe<'_> = serde_json::from_slice(line).ok()?;
        if probe.jsonrpc != Some("2.0") || probe.method.is_some() || probe.error.is_some() {
            return None;
        }
        let id = probe.id?;
        if !self.tool_calls.remove(&id) {
            return None;
        }
        let result: CallToolResult = serde_json::from_str(probe.result?.get()).ok()?;
        Some(JsonRpcMessage::Response(JsonRpcResponse { jsonrpc: JsonRpcVersion2_0, id, result: ServerResult::CallToolResult(result) }))
    }
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
        // not a tracked id
        let tools = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#;
        assert!(matches!(decoder.decode(tools).unwrap(), JsonRpcMessage::Response(r) if matches!(r.result, ServerResult::ListToolsResult(_))));
        // an error for the tracked id forgets it
        let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown tool"}}"#;
        assert!(matches!(decoder.decode(error).unwrap(), JsonRpcMessage::Error(_)));
        assert!(decoder.tool_calls.is_empty());
        // a wrong version is still rejected
        sent_call(&mut decoder, 3);
        assert!(decoder.decode(br#"{"jsonrpc":"1.0","id":3,"result":{"content":[]}}"#).is_err());
    }
}
