//! 2026-07-28 input-required rounds (SEP-2322): a server that needs the client's input (an
//! elicitation, a completion, its roots) answers a call with `input_required`; the client's
//! handlers answer each request and the call is sent again with the answers and the server's
//! state, until it completes.

use std::time::Duration;

use rmcp::model::{
    ClientResult, DEFAULT_MRTR_MAX_ROUNDS, InputRequest, InputRequests, InputRequiredResult, InputResponses, NumberOrString, ServerRequest,
};
use rmcp::service::{RequestContext, Service, ServiceError};
use rmcp::{ErrorData, Peer, RoleClient};

use super::Handler;

pub const MAX_ROUNDS: usize = DEFAULT_MRTR_MAX_ROUNDS;

/// Rounds with neither requests nor an answer only carry the server's state: back off a little.
pub struct Rounds {
    state_only: usize,
}

impl Rounds {
    pub fn new() -> Self {
        Self { state_only: 0 }
    }

    /// The answers to one `input_required` result, and the state to send back with them.
    pub async fn answer(
        &mut self,
        handler: &Handler,
        peer: &Peer<RoleClient>,
        result: InputRequiredResult,
    ) -> Result<(Option<InputResponses>, Option<String>), ServiceError> {
        let requests = result.input_requests.unwrap_or_default();
        if requests.is_empty() {
            if result.request_state.is_none() {
                return Err(ServiceError::UnexpectedResponse);
            }
            let millis = (50u64 << self.state_only.min(3)).min(250);
            tokio::time::sleep(Duration::from_millis(millis)).await;
            self.state_only += 1;
            return Ok((None, result.request_state));
        }
        self.state_only = 0;
        Ok((Some(answer_all(handler, peer, requests).await?), result.request_state))
    }
}

/// The handlers' answers to a server's input requests, all asked at once.
pub async fn answer_all(handler: &Handler, peer: &Peer<RoleClient>, requests: InputRequests) -> Result<InputResponses, ServiceError> {
    let answers = futures::future::try_join_all(requests.into_iter().map(|(key, request)| answer_one(handler, peer, key, request))).await?;
    Ok(answers.into_iter().collect())
}

async fn answer_one(handler: &Handler, peer: &Peer<RoleClient>, key: String, request: InputRequest) -> Result<(String, serde_json::Value), ServiceError> {
    let request = match request {
        InputRequest::CreateMessage(r) => ServerRequest::CreateMessageRequest(r),
        InputRequest::Elicitation(r) => ServerRequest::ElicitRequest(r),
        InputRequest::ListRoots(r) => ServerRequest::ListRootsRequest(r),
        _ => return Err(ServiceError::McpError(ErrorData::invalid_params("an input request of a kind this client does not know", None))),
    };
    let context = RequestContext::new(NumberOrString::String(key.as_str().into()), peer.clone());
    let answer = handler.handle_request(request, context).await.map_err(ServiceError::McpError)?;
    let value = match answer {
        ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
        ClientResult::ElicitResult(r) => serde_json::to_value(r),
        ClientResult::ListRootsResult(r) => serde_json::to_value(r),
        _ => return Err(ServiceError::UnexpectedResponse),
    }
    .map_err(|e| ServiceError::McpError(ErrorData::internal_error(format!("an input response could not be encoded: {e}"), None)))?;
    Ok((key, value))
}
