//! A client connected to the gateway, as handlers the fleet's servers can ask (see
//! [`crate::fleet::relay`]): their elicitation, sampling and roots requests are sent on to it,
//! during a call on that call's own stream, and their logs reach it at the level it set.
// Sampling, roots and logging are deprecated in 2026-07-28 (SEP-2577); 2025-era sessions use them.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientResult, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, GetExtensions, ListRootsRequest, ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, RequestId, ServerRequest,
};
use rmcp::service::{OriginatingRequestId, PeerRequestOptions, ServiceError};
use rmcp::{ErrorData, Peer, RoleServer};
use tokio::sync::mpsc;

use crate::client::ClientCallbacks;
use crate::client::callbacks::{Answer, Elicitation, LogSink, RootsSource, Sampling};

/// How long a client may take to answer a server's question (a person may be filling a form).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// Most log messages waiting to go to one client; more are dropped.
const LOG_BACKLOG: usize = 512;
/// No `logging/setLevel` yet: the client gets no logs.
pub const LOGS_OFF: u8 = u8::MAX;

/// What of elicitation, sampling and roots a client declared.
pub struct Declared {
    pub elicitation: bool,
    pub url_elicitation: bool,
    pub sampling: bool,
    pub roots: bool,
}

impl Declared {
    pub fn of(capabilities: &ClientCapabilities) -> Self {
        Self {
            elicitation: capabilities.elicitation.is_some(),
            url_elicitation: capabilities.elicitation.as_ref().is_some_and(|e| e.url.is_some()),
            sampling: capabilities.sampling.is_some(),
            roots: capabilities.roots.is_some(),
        }
    }

    pub fn any(&self) -> bool {
        self.elicitation || self.sampling || self.roots
    }
}

/// A client's session, asked on behalf of a server.
struct Downstream {
    peer: Peer<RoleServer>,
    /// The client's call this question belongs to: the question travels on its stream.
    origin: Option<RequestId>,
}

impl Downstream {
    async fn ask(&self, mut request: ServerRequest) -> Result<ClientResult, ErrorData> {
        if let Some(origin) = &self.origin {
            request.extensions_mut().insert(OriginatingRequestId(origin.clone()));
        }
        // On a task of its own: the upstream request being answered runs in rmcp's handler
        // scope, whose task-local request id rmcp would put on this request instead of ours.
        let peer = self.peer.clone();
        let mut sending = tokio::spawn(async move {
            match peer.send_request_with_option(request, PeerRequestOptions::with_timeout(ANSWER_TIMEOUT)).await {
                Ok(handle) => handle.await_response().await,
                Err(e) => Err(e),
            }
        });
        let abort = sending.abort_handle();
        let _abort_if_dropped = scopeguard(move || abort.abort());
        let outcome = (&mut sending).await.map_err(|_| ErrorData::internal_error("the question to the gateway's client was abandoned", None))?;
        outcome.map_err(|e| match e {
            ServiceError::McpError(error) => error,
            other => ErrorData::internal_error(format!("the gateway's client did not answer: {other}"), None),
        })
    }
}

/// Runs `f` when dropped.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

fn unexpected() -> ErrorData {
    ErrorData::internal_error("the gateway's client answered with another kind of result", None)
}

impl Downstream {
    /// `request`, answered with the result `expected` takes out of the client's answer.
    fn forward<T: Send + 'static>(&self, request: ServerRequest, expected: fn(ClientResult) -> Option<T>) -> Answer<T> {
        let me = Downstream { peer: self.peer.clone(), origin: self.origin.clone() };
        Box::pin(async move { expected(me.ask(request).await?).ok_or_else(unexpected) })
    }
}

impl Elicitation for Downstream {
    fn elicit(&self, _server: &Arc<str>, params: ElicitRequestParams) -> Answer<ElicitResult> {
        self.forward(ServerRequest::ElicitRequest(ElicitRequest::new(params)), |r| match r {
            ClientResult::ElicitResult(result) => Some(result),
            _ => None,
        })
    }
}

impl Sampling for Downstream {
    fn create_message(&self, _server: &Arc<str>, params: CreateMessageRequestParams) -> Answer<CreateMessageResult> {
        self.forward(ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params)), |r| match r {
            ClientResult::CreateMessageResult(result) => Some(*result),
            _ => None,
        })
    }
}

impl RootsSource for Downstream {
    fn list_roots(&self, _server: &Arc<str>) -> Answer<ListRootsResult> {
        self.forward(ServerRequest::ListRootsRequest(ListRootsRequest::default()), |r| match r {
            ClientResult::ListRootsResult(result) => Some(result),
            _ => None,
        })
    }
}

/// The handlers that ask this client what it declared; during a call, on that call's stream.
pub fn asking(peer: Peer<RoleServer>, origin: Option<RequestId>, declared: &Declared) -> ClientCallbacks {
    let downstream = Arc::new(Downstream { peer, origin });
    ClientCallbacks {
        elicitation: declared.elicitation.then(|| downstream.clone() as Arc<dyn Elicitation>),
        sampling: declared.sampling.then(|| downstream.clone() as Arc<dyn Sampling>),
        roots: declared.roots.then(|| downstream as Arc<dyn RootsSource>),
        log: None,
    }
}

pub fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// Servers' logs to one client, in order, at or above the level it set, each under the
/// logger name `server` or `server/logger`. The sending task ends with the sink.
pub struct LogRelay {
    level: Arc<AtomicU8>,
    queue: mpsc::Sender<LoggingMessageNotificationParam>,
}

impl LogRelay {
    /// The sink, and its sending task, which ends once the sink is dropped and all is sent.
    pub fn new(peer: Peer<RoleServer>, level: Arc<AtomicU8>) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (queue, mut queued) = mpsc::channel::<LoggingMessageNotificationParam>(LOG_BACKLOG);
        let sender = tokio::spawn(async move {
            while let Some(message) = queued.recv().await {
                if tokio::time::timeout(super::NOTIFY_TIMEOUT, peer.notify_logging_message(message)).await.map_or(true, |sent| sent.is_err()) {
                    return;
                }
            }
        });
        (Arc::new(Self { level, queue }), sender)
    }
}

impl LogSink for LogRelay {
    fn log(&self, server: &Arc<str>, mut params: LoggingMessageNotificationParam) {
        if level_rank(params.level) < self.level.load(Ordering::Relaxed) {
            return;
        }
        params.logger = Some(match params.logger.take() {
            Some(logger) if !logger.is_empty() => format!("{server}/{logger}"),
            _ => server.to_string(),
        });
        let _ = self.queue.try_send(params);
    }
}
