//! A 2026-07-28 client has no session the servers' questions could travel on: when a server
//! asks something during its call, the gateway answers the call with `input_required` (the
//! questions, and a `requestState` naming the call), keeps the call running, and hands the
//! client's answers to the server when the client calls again with that state.
// Sampling and roots are deprecated in 2026-07-28 (SEP-2577); 2025-era servers use them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, ListRootsRequest, ListRootsResult, LoggingMessageNotificationParam,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::downstream::Declared;
use crate::client::callbacks::{Answer, Elicitation, LogSink, RootsSource, Sampling};
use crate::client::{ClientCallbacks, ProgressSink};

/// How long a call waits for the client to come back with its answers.
const ROUND_TIMEOUT: Duration = Duration::from_secs(600);
/// Most calls waiting for their clients at once; a server's question beyond that is not asked.
const MAX_WAITING: usize = 1024;
/// Most questions in one `input_required` answer.
const MAX_QUESTIONS: usize = 16;

/// A server's question, and where its answer goes.
struct Question {
    request: InputRequest,
    answer: oneshot::Sender<Value>,
}

/// Asks the client of a 2026-07-28 call, through the call's next `input_required` answer.
struct Asking(mpsc::Sender<Question>);

impl Asking {
    fn ask<T: DeserializeOwned + Send + 'static>(&self, request: InputRequest, what: &'static str) -> Answer<T> {
        let questions = self.0.clone();
        Box::pin(async move {
            let (answer, answered) = oneshot::channel();
            questions
                .send(Question { request, answer })
                .await
                .map_err(|_| ErrorData::internal_error("the gateway's client is no longer asked (its call ended)", None))?;
            let value = answered.await.map_err(|_| ErrorData::internal_error(format!("the gateway's client gave no {what}"), None))?;
            serde_json::from_value(value).map_err(|e| ErrorData::invalid_params(format!("the gateway's client answered with no valid {what}: {e}"), None))
        })
    }
}

impl Elicitation for Asking {
    fn elicit(&self, _server: &Arc<str>, params: ElicitRequestParams) -> Answer<ElicitResult> {
        self.ask(InputRequest::Elicitation(ElicitRequest::new(params)), "elicitation result")
    }
}

impl Sampling for Asking {
    fn create_message(&self, _server: &Arc<str>, params: CreateMessageRequestParams) -> Answer<CreateMessageResult> {
        self.ask(InputRequest::CreateMessage(CreateMessageRequest::new(params)), "sampling result")
    }
}

impl RootsSource for Asking {
    fn list_roots(&self, _server: &Arc<str>) -> Answer<ListRootsResult> {
        self.ask(InputRequest::ListRoots(ListRootsRequest::default()), "list of roots")
    }
}

/// Where the progress and logs of a call that spans rounds go: to the client's current
/// request, and nowhere while the call waits for the client.
#[derive(Clone, Default)]
pub struct RoundSinks {
    progress: Arc<Mutex<Option<ProgressSink>>>,
    log: Arc<Mutex<Option<Arc<dyn LogSink>>>>,
}

impl RoundSinks {
    pub fn set(&self, progress: Option<ProgressSink>, log: Option<Arc<dyn LogSink>>) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = progress;
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = log;
    }

    fn progress_sink(&self) -> ProgressSink {
        let current = self.progress.clone();
        Arc::new(move |p| {
            if let Some(sink) = current.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                sink(p)
            }
        })
    }
}

impl LogSink for RoundSinks {
    fn log(&self, server: &Arc<str>, params: LoggingMessageNotificationParam) {
        if let Some(sink) = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            sink.log(server, params)
        }
    }
}

/// A call that spans rounds: its task, the questions it has not yet put to the client, the
/// ones waiting for answers.
pub struct Call {
    tool: String,
    task: JoinHandle<Result<CallToolResult, ErrorData>>,
    questions: mpsc::Receiver<Question>,
    waiting: Vec<(String, oneshot::Sender<Value>)>,
    pub sinks: RoundSinks,
    asked: u64,
}

impl Drop for Call {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the call's task is given: handlers that ask through rounds, and the switchable sinks.
pub struct Start {
    pub callbacks: ClientCallbacks,
    pub progress: ProgressSink,
    questions: mpsc::Receiver<Question>,
    pub sinks: RoundSinks,
}

/// Handlers for what the client declared in its request, asking through rounds.
pub fn start(declared: &Declared) -> Start {
    let (ask, questions) = mpsc::channel(MAX_QUESTIONS);
    let asking = Arc::new(Asking(ask));
    let sinks = RoundSinks::default();
    let callbacks = ClientCallbacks {
        elicitation: declared.elicitation.then(|| asking.clone() as Arc<dyn Elicitation>),
        sampling: declared.sampling.then(|| asking.clone() as Arc<dyn Sampling>),
        roots: declared.roots.then(|| asking as Arc<dyn RootsSource>),
        log: Some(Arc::new(sinks.clone())),
    };
    Start { callbacks, progress: sinks.progress_sink(), questions, sinks }
}

impl Call {
    pub fn new(tool: String, start: Start, task: JoinHandle<Result<CallToolResult, ErrorData>>) -> Self {
        Self { tool, task, questions: start.questions, waiting: Vec::new(), sinks: start.sinks, asked: 0 }
    }

    /// Hands the client's answers to the questions waiting for them (an unanswered one fails).
    fn answer(&mut self, mut responses: InputResponses) {
        for (key, answer) in self.waiting.drain(..) {
            if let Some(value) = responses.remove(&key) {
                let _ = answer.send(value);
            }
        }
    }

    /// Runs the call until it ends or asks: its result, or the questions for the client.
    async fn round(&mut self, cancelled: &CancellationToken) -> Result<Result<CallToolResult, ErrorData>, InputRequests> {
        tokio::select! {
            result = &mut self.task => Ok(result.unwrap_or_else(|e| Err(ErrorData::internal_error(format!("the call failed: {e}"), None)))),
            Some(first) = self.questions.recv() => {
                let mut requests = InputRequests::new();
                let mut next = Some(first);
                while let Some(question) = next.take() {
                    self.asked += 1;
                    let key = format!("q{}", self.asked);
                    requests.insert(key.clone(), question.request);
                    self.waiting.push((key, question.answer));
                    if requests.len() < MAX_QUESTIONS {
                        next = self.questions.try_recv().ok();
                    }
                }
                Err(requests)
            }
            _ = cancelled.cancelled() => Ok(Err(ErrorData::internal_error("cancelled by the client", None))),
        }
    }
}

/// Calls waiting for their clients' answers, by `requestState`.
#[derive(Default)]
pub struct Waiting(Arc<Mutex<HashMap<String, (Call, tokio::task::AbortHandle)>>>);

pub enum Outcome {
    Done(Result<CallToolResult, ErrorData>),
    Ask(InputRequiredResult),
}

impl Waiting {
    /// The call a client came back to with `state`, given its answers; `None` if unknown,
    /// expired or for another tool.
    pub fn resume(&self, state: &str, tool: &str, responses: Option<InputResponses>) -> Option<Call> {
        let mut waiting = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.get(state).is_none_or(|(call, _)| call.tool != tool) {
            return None;
        }
        let (mut call, expiry) = waiting.remove(state)?;
        expiry.abort();
        call.answer(responses.unwrap_or_default());
        Some(call)
    }

    /// One round of `call`: its result, or it waits (under a new state) for the client's answers.
    pub async fn drive(&self, mut call: Call, cancelled: &CancellationToken) -> Outcome {
        let questions = match call.round(cancelled).await {
            Ok(result) => return Outcome::Done(result),
            Err(questions) => questions,
        };
        call.sinks.set(None, None);
        let state = uuid::Uuid::new_v4().simple().to_string();
        let mut waiting = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() >= MAX_WAITING {
            return Outcome::Done(Err(ErrorData::internal_error("the gateway has too many calls waiting for their clients' answers", None)));
        }
        let expiry = {
            let waiting = Arc::downgrade(&self.0);
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ROUND_TIMEOUT).await;
                if let Some(waiting) = waiting.upgrade() {
                    waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&state);
                }
            })
        };
        waiting.insert(state.clone(), (call, expiry.abort_handle()));
        Outcome::Ask(InputRequiredResult::new(Some(questions), Some(state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ContentBlock, ElicitationAction};

    fn form() -> ElicitRequestParams {
        serde_json::from_value(serde_json::json!({"mode": "form", "message": "name?", "requestedSchema": {"type": "object", "properties": {}}})).unwrap()
    }

    /// A call whose server asks twice, then answers with what it was told.
    fn asking_call(waiting_for: &Declared) -> Call {
        let start = start(waiting_for);
        let elicitation = start.callbacks.elicitation.clone().unwrap();
        let task = tokio::spawn(async move {
            let first = elicitation.elicit(&"srv".into(), form()).await?;
            let second = elicitation.elicit(&"srv".into(), form()).await?;
            Ok(CallToolResult::success(vec![ContentBlock::text(format!("{:?} {:?}", first.content, second.action))]))
        });
        Call::new("ask".into(), start, task)
    }

    const DECLARED: Declared = Declared { elicitation: true, url_elicitation: false, sampling: false, roots: false };

    fn answers(key: &str, answer: Value) -> Option<InputResponses> {
        Some(InputResponses::from([(key.to_owned(), answer)]))
    }

    #[tokio::test]
    async fn each_question_is_a_round_and_the_answers_reach_the_running_call() {
        let waiting = Waiting::default();
        let never = CancellationToken::new();
        let Outcome::Ask(first) = waiting.drive(asking_call(&DECLARED), &never).await else { panic!("no question") };
        let state = first.request_state.clone().unwrap();
        assert!(matches!(first.input_requests.as_ref().unwrap()["q1"], InputRequest::Elicitation(_)));
        assert!(waiting.resume(&state, "other_tool", None).is_none(), "a state is bound to its tool");
        let call = waiting.resume(&state, "ask", answers("q1", serde_json::json!({"action": "accept", "content": {"name": "Ada"}}))).unwrap();
        assert!(waiting.resume(&state, "ask", None).is_none(), "a state is used once");
        let Outcome::Ask(second) = waiting.drive(call, &never).await else { panic!("no second question") };
        let call = waiting.resume(second.request_state.as_deref().unwrap(), "ask", answers("q2", serde_json::json!({"action": "decline"}))).unwrap();
        let Outcome::Done(Ok(result)) = waiting.drive(call, &never).await else { panic!("no result") };
        assert_eq!(result.content[0].as_text().unwrap().text, format!("{:?} {:?}", Some(serde_json::json!({"name": "Ada"})), ElicitationAction::Decline));
    }

    #[tokio::test]
    async fn a_wrong_or_missing_answer_fails_the_servers_question_not_the_gateway() {
        let waiting = Waiting::default();
        let never = CancellationToken::new();
        let Outcome::Ask(first) = waiting.drive(asking_call(&DECLARED), &never).await else { panic!("no question") };
        let call = waiting.resume(first.request_state.as_deref().unwrap(), "ask", answers("q1", serde_json::json!({"action": 7}))).unwrap();
        let Outcome::Done(Err(error)) = waiting.drive(call, &never).await else { panic!("the bad answer was taken") };
        assert!(error.message.contains("no valid elicitation result"), "{error:?}");
        let Outcome::Ask(first) = waiting.drive(asking_call(&DECLARED), &never).await else { panic!("no question") };
        let call = waiting.resume(first.request_state.as_deref().unwrap(), "ask", None).unwrap();
        let Outcome::Done(Err(error)) = waiting.drive(call, &never).await else { panic!("no answer was taken") };
        assert!(error.message.contains("gave no elicitation result"), "{error:?}");
    }

    #[tokio::test]
    async fn a_cancelled_round_ends_the_call() {
        let waiting = Waiting::default();
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let start = start(&DECLARED);
        let task = tokio::spawn(std::future::pending());
        let Outcome::Done(Err(error)) = waiting.drive(Call::new("t".into(), start, task), &cancelled).await else { panic!() };
        assert!(error.message.contains("cancelled"));
    }
}
