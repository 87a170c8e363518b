//! The client's answers run as tasks, as protocol 2025-11-25 lets a server ask: an
//! `elicitation/create` or `sampling/createMessage` with `task` in its params is answered at
//! once with the task, the handler runs meanwhile, and the server asks `tasks/get`,
//! `tasks/result`, `tasks/list` and `tasks/cancel` of the client. The client declares this
//! (`capabilities.tasks`) only for the handlers it has, in sessions of that version.
//!
//! rmcp's types hold neither the capability nor the `task` field: the transports add the first
//! to `initialize` and hand such requests over as "custom" ones (see
//! [`crate::transport::with_extra_capabilities`] and `keep_task_augmentation`).
// Sampling is deprecated in the 2026-07-28 spec but still what 2025-11-25 servers ask for.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{CreateMessageRequestParams, CustomRequest, CustomResult, ElicitRequestParams, JsonObject, NumberOrString};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Handler;
use super::callbacks::ClientCallbacks;

/// Tasks kept at once; a server that starts more is refused until some end.
const MAX_TASKS: usize = 64;
/// How long a finished task is kept when the server asked for longer, or for no limit.
const MAX_KEPT: Duration = Duration::from_secs(600);
const POLL_INTERVAL_MS: u64 = 500;

/// The `tasks` capability for the handlers a client has, if any of them can run as a task.
pub fn capability(callbacks: &ClientCallbacks) -> Option<JsonObject> {
    let mut requests = serde_json::Map::new();
    if callbacks.elicitation.is_some() {
        requests.insert("elicitation".into(), json!({ "create": {} }));
    }
    if callbacks.sampling.is_some() {
        requests.insert("sampling".into(), json!({ "createMessage": {} }));
    }
    if requests.is_empty() {
        return None;
    }
    let tasks = json!({ "list": {}, "cancel": {}, "requests": requests });
    Some(JsonObject::from_iter([("tasks".to_owned(), tasks)]))
}

type Outcome = Option<Result<Value, ErrorData>>;

struct Entry {
    status: &'static str,
    created_at: String,
    last_updated_at: String,
    ttl: Option<u64>,
    outcome: watch::Receiver<Outcome>,
    runner: tokio::task::AbortHandle,
    ended: Option<Instant>,
}

impl Entry {
    fn task(&self, id: &str) -> Value {
        json!({
            "taskId": id,
            "status": self.status,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "ttl": self.ttl,
            "pollInterval": POLL_INTERVAL_MS,
        })
    }

    fn kept_for(&self) -> Duration {
        self.ttl.map(Duration::from_millis).unwrap_or(MAX_KEPT).min(MAX_KEPT)
    }
}

#[derive(Default)]
pub struct AnswerTasks {
    tasks: Mutex<HashMap<String, Entry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskIdParams {
    task_id: String,
}

#[derive(Deserialize, Default)]
struct TaskParams {
    ttl: Option<u64>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> ErrorData {
    ErrorData::invalid_params(message, None)
}

impl AnswerTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A server's request to the client, of a kind rmcp hands over as "custom".
    pub async fn handle(&self, handler: &Handler, request: CustomRequest, context: RequestContext<RoleClient>) -> Result<CustomResult, ErrorData> {
        let CustomRequest { method, params, .. } = request;
        let params = params.unwrap_or(Value::Null);
        let task_id = || serde_json::from_value::<TaskIdParams>(params.clone()).map(|p| p.task_id).map_err(|e| invalid(format!("{method}: {e}")));
        let result = match method.as_str() {
            "elicitation/create" | "sampling/createMessage" => self.start(handler, &method, params.clone(), context.peer.clone())?,
            "tasks/get" => self.get(&task_id()?)?,
            "tasks/result" => self.result(&task_id()?, &context).await?,
            "tasks/list" => json!({ "tasks": self.list() }),
            "tasks/cancel" => self.cancel(&task_id()?)?,
            _ => return Err(ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, method, None)),
        };
        Ok(CustomResult::new(result))
    }

    /// Starts the handler on the request and answers with the task at once.
    fn start(&self, handler: &Handler, method: &str, mut params: Value, peer: rmcp::Peer<RoleClient>) -> Result<Value, ErrorData> {
        let task: TaskParams = params.as_object_mut().and_then(|p| p.remove("task")).and_then(|t| serde_json::from_value(t).ok()).unwrap_or_default();
        let (tx, rx) = watch::channel(None);
        let runner = {
            let handler = handler.clone();
            let method = method.to_owned();
            async move {
                let context = RequestContext::new(NumberOrString::String(uuid::Uuid::new_v4().to_string().into()), peer);
                let encode = |v: Result<Value, serde_json::Error>| v.map_err(|e| ErrorData::internal_error(format!("the answer could not be encoded: {e}"), None));
                if method == "elicitation/create" {
                    let params: ElicitRequestParams = serde_json::from_value(params).map_err(|e| invalid(format!("elicitation/create: {e}")))?;
                    encode(serde_json::to_value(handler.create_elicitation(params, context).await?))
                } else {
                    let params: CreateMessageRequestParams = serde_json::from_value(params).map_err(|e| invalid(format!("sampling/createMessage: {e}")))?;
                    encode(serde_json::to_value(handler.create_message(params, context).await?))
                }
            }
        };
        let mut tasks = self.lock();
        self.forget_expired(&mut tasks);
        if tasks.len() >= MAX_TASKS {
            return Err(ErrorData::internal_error(format!("the client runs {MAX_TASKS} tasks already"), None));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let created = now();
        let store = Arc::downgrade(&handler.answer_tasks);
        let finished_id = id.clone();
        let runner = tokio::spawn(async move {
            let outcome = runner.await;
            if let Some(store) = store.upgrade() {
                store.finish(&finished_id, if outcome.is_ok() { "completed" } else { "failed" });
            }
            let _ = tx.send(Some(outcome));
        });
        let entry = Entry {
            status: "working",
            created_at: created.clone(),
            last_updated_at: created,
            ttl: task.ttl,
            outcome: rx,
            runner: runner.abort_handle(),
            ended: None,
        };
        let task = entry.task(&id);
        tasks.insert(id, entry);
        Ok(json!({ "task": task }))
    }

    fn finish(&self, id: &str, status: &'static str) {
        if let Some(entry) = self.lock().get_mut(id) {
            if entry.ended.is_none() {
                entry.status = status;
                entry.last_updated_at = now();
                entry.ended = Some(Instant::now());
            }
        }
    }

    fn forget_expired(&self, tasks: &mut HashMap<String, Entry>) {
        tasks.retain(|_, entry| entry.ended.is_none_or(|ended| ended.elapsed() < entry.kept_for()));
    }

    fn get(&self, id: &str) -> Result<Value, ErrorData> {
        let tasks = self.lock();
        tasks.get(id).map(|entry| entry.task(id)).ok_or_else(|| invalid(format!("no task {id:?}")))
    }

    fn list(&self) -> Vec<Value> {
        let mut tasks = self.lock();
        self.forget_expired(&mut tasks);
        tasks.iter().map(|(id, entry)| entry.task(id)).collect()
    }

    /// Waits for the handler's answer (as long as the server's request lasts).
    async fn result(&self, id: &str, context: &RequestContext<RoleClient>) -> Result<Value, ErrorData> {
        let mut outcome = self.lock().get(id).map(|entry| entry.outcome.clone()).ok_or_else(|| invalid(format!("no task {id:?}")))?;
        let outcome = tokio::select! {
            changed = outcome.wait_for(Option::is_some) => match changed {
                Ok(outcome) => outcome.clone(),
                // The runner was aborted: the task was cancelled.
                Err(_) => None,
            },
            _ = context.ct.cancelled() => return Err(ErrorData::internal_error("the server cancelled the request", None)),
        };
        match outcome {
            Some(Ok(mut value)) => {
                if let Some(result) = value.as_object_mut() {
                    let meta = result.entry("_meta").or_insert_with(|| json!({}));
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert("io.modelcontextprotocol/related-task".into(), json!({ "taskId": id }));
                    }
                }
                Ok(value)
            }
            Some(Err(error)) => Err(error),
            None => Err(invalid(format!("task {id:?} was cancelled"))),
        }
    }

    fn cancel(&self, id: &str) -> Result<Value, ErrorData> {
        let mut tasks = self.lock();
        let entry = tasks.get_mut(id).ok_or_else(|| invalid(format!("no task {id:?}")))?;
        if entry.ended.is_some() {
            return Err(invalid(format!("task {id:?} has already ended ({})", entry.status)));
        }
        entry.runner.abort();
        entry.status = "cancelled";
        entry.last_updated_at = now();
        entry.ended = Some(Instant::now());
        Ok(entry.task(id))
    }
}

impl Drop for AnswerTasks {
    fn drop(&mut self) {
        for entry in self.tasks.get_mut().unwrap_or_else(|e| e.into_inner()).values() {
            entry.runner.abort();
        }
    }
}
