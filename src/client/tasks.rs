//! Tasks as protocol 2025-11-25 has them (experimental there; the TypeScript SDK and
//! server-everything serve them): `tools/call` with a `task` field starts one, `tasks/get`
//! tells its state, `tasks/result` waits for its result (the server's questions arrive
//! meanwhile), `tasks/cancel` ends it. rmcp models only the 2026 extension's shape, so these
//! requests go around it, on the stdio and streamable-HTTP direct paths.
//!
//! A tool that requires a task says so in a field rmcp does not keep (`execution`); a call to
//! it without one fails with "requires task augmentation", and the call is then made as a task,
//! as are later calls to that tool.
//!
//! Protocol 2026-07-28 has tasks as an extension (SEP-2663), which rmcp models: a client that
//! declares it may get a task instead of a result from any `tools/call`; it polls `tasks/get`,
//! answers the task's input requests with `tasks/update`, and ends it with `tasks/cancel`.
//! There is no `tasks/result`: the last `tasks/get` carries the result.

use std::time::Duration;

use rmcp::model::{CallToolResult, CancelTaskParams, GetTaskParams, JsonObject, TaskPayload, UpdateTaskParams};
use serde::{Deserialize, Serialize};

use super::{Connection, describe};
use crate::error::{Error, Result};

/// Names of the tools a connection calls as tasks; looked at only once one is known.
#[derive(Default)]
pub(crate) struct TaskTools {
    any: std::sync::atomic::AtomicBool,
    names: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl TaskTools {
    pub fn contains(&self, name: &str) -> bool {
        self.any.load(std::sync::atomic::Ordering::Relaxed) && self.names.lock().unwrap_or_else(|e| e.into_inner()).contains(name)
    }

    pub fn insert(&self, name: &str) {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned());
        self.any.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A page of `tools/list` with what rmcp's `Tool` drops.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolsPage {
    pub tools: Vec<ListedTool>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListedTool {
    #[serde(flatten)]
    pub tool: rmcp::model::Tool,
    /// `{"taskSupport": "forbidden" | "optional" | "required"}`.
    #[serde(default)]
    pub execution: Option<JsonObject>,
}

/// A task as the server reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_id: String,
    /// `working`, `input_required`, `completed`, `failed` or `cancelled`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_at: Option<String>,
    /// Milliseconds the server keeps the task after it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Milliseconds the server suggests between polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
}

impl From<&rmcp::model::Task> for Task {
    fn from(task: &rmcp::model::Task) -> Self {
        let status = serde_json::to_value(task.status).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default();
        Self {
            task_id: task.task_id.clone(),
            status,
            status_message: task.status_message.clone(),
            created_at: Some(task.created_at.clone()),
            last_updated_at: Some(task.last_updated_at.clone()),
            ttl: task.ttl_ms,
            poll_interval: task.poll_interval_ms,
        }
    }
}

impl Task {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// What a server says when a tool needs a task (the TypeScript SDK's wording).
const NEEDS_A_TASK: &str = "requires task augmentation";

/// Whether a failed call's text says the tool runs only as a task.
pub(crate) fn asks_for_a_task(result: &CallToolResult) -> bool {
    result.is_error == Some(true) && result.content.iter().any(|c| c.as_text().is_some_and(|t| t.text.contains(NEEDS_A_TASK)))
}

/// The same, on a result kept as the server's JSON: only small error results are looked at.
pub(crate) fn raw_asks_for_a_task(raw: &str) -> bool {
    raw.len() < 4096 && raw.contains(NEEDS_A_TASK) && raw.contains("\"isError\":true")
}

#[derive(Serialize)]
struct StartParams<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a JsonObject>,
    task: TaskParams,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<&'a JsonObject>,
}

#[derive(Serialize)]
struct TaskParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskId<'a> {
    pub task_id: &'a str,
}

#[derive(Deserialize)]
struct Created {
    task: Task,
}

/// Cancels the task at the server unless defused (a caller that gave up).
struct CancelOnDrop<'a> {
    connection: &'a Connection,
    task_id: Option<String>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let Some(task_id) = self.task_id.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (peer, direct) = (self.connection.peer.clone(), self.connection.raw_path());
        if let Some(send) = direct {
            runtime.spawn(send.cancel_task(peer, task_id));
        } else if self.connection.speaks_tasks_extension() {
            runtime.spawn(async move {
                let cancel = peer.cancel_task(CancelTaskParams::new(task_id));
                if let Err(e) = tokio::time::timeout(Duration::from_secs(5), cancel).await.unwrap_or(Err(rmcp::service::ServiceError::Timeout { timeout: Duration::from_secs(5) })) {
                    tracing::debug!("tasks/cancel failed: {e}");
                }
            });
        }
    }
}

/// The first poll comes this soon; the pause then doubles up to the server's interval.
const FIRST_POLL: Duration = Duration::from_millis(20);
/// The longest pause between polls when the server suggests none.
const DEFAULT_POLL_CEILING: Duration = Duration::from_secs(2);
/// A task that asks more questions than this is given up.
const MAX_TASK_QUESTIONS: usize = 1024;

fn poll_ceiling(suggested_ms: Option<u64>) -> Duration {
    match suggested_ms {
        Some(ms) if ms > 0 => Duration::from_millis(ms).max(FIRST_POLL),
        _ => DEFAULT_POLL_CEILING,
    }
}

impl Connection {
    /// A 2026-07-28 connection that declared the tasks extension.
    pub(crate) fn speaks_tasks_extension(&self) -> bool {
        !self.info.protocol_version.has_initialize()
    }

    /// Follows a task the server made of a call (SEP-2663) to its end: polls it, with a pause
    /// that grows from 20 ms to the server's suggested interval; answers its input requests
    /// with the handlers (each once); cancels it if the caller gives up or time runs out.
    pub(crate) async fn follow_task(&self, label: String, task: rmcp::model::Task, deadline: tokio::time::Instant, limit: Duration, cancel_on_give_up: bool) -> Result<CallToolResult> {
        let what = || label.clone();
        let timed_out = || Error::Timeout {
            operation: what(),
            timeout: limit,
            detail: Some(format!("task {}{}", task.task_id, if cancel_on_give_up { " was cancelled" } else { " goes on at the server" })),
        };
        let mut guard = CancelOnDrop { connection: self, task_id: cancel_on_give_up.then(|| task.task_id.clone()) };
        let mut answered = std::collections::HashSet::new();
        let mut ceiling = poll_ceiling(task.poll_interval_ms);
        let mut pause = FIRST_POLL;
        loop {
            let wake = (tokio::time::Instant::now() + pause).min(deadline);
            tokio::time::sleep_until(wake).await;
            if wake >= deadline {
                return Err(timed_out());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let params = GetTaskParams::new(task.task_id.clone());
            let got = self.request("tasks/get", Some(&task.task_id), Some(left), || self.peer.get_task(params)).await.map_err(|e| match e {
                Error::Timeout { .. } => timed_out(),
                e => e,
            })?;
            let detailed = got.task;
            ceiling = poll_ceiling(detailed.task.poll_interval_ms.or(Some(ceiling.as_millis() as u64)));
            pause = (pause * 2).min(ceiling);
            match detailed.payload {
                TaskPayload::Completed { result } => {
                    guard.task_id = None;
                    return serde_json::from_value(serde_json::Value::Object(result))
                        .map_err(|e| Error::Protocol(format!("{}: the task's result could not be read: {e}", what())));
                }
                TaskPayload::Failed { error } => {
                    guard.task_id = None;
                    let data = serde_json::from_value::<rmcp::ErrorData>(serde_json::Value::Object(error))
                        .unwrap_or_else(|e| rmcp::ErrorData::internal_error(format!("the task failed with an error that could not be read: {e}"), None));
                    return Err(super::server_error(what(), data));
                }
                TaskPayload::Cancelled => {
                    guard.task_id = None;
                    return Err(Error::Protocol(format!("{}: the server cancelled task {}", what(), task.task_id)));
                }
                TaskPayload::InputRequired { input_requests } => {
                    let fresh: rmcp::model::InputRequests = input_requests.into_iter().filter(|(key, _)| !answered.contains(key)).collect();
                    if fresh.is_empty() {
                        continue;
                    }
                    if answered.len() + fresh.len() > MAX_TASK_QUESTIONS {
                        return Err(Error::Protocol(format!("{}: task {} asked more than {MAX_TASK_QUESTIONS} questions", what(), task.task_id)));
                    }
                    answered.extend(fresh.keys().cloned());
                    let answers = tokio::time::timeout_at(deadline, super::mrtr::answer_all(&self.handler, &self.peer, fresh))
                        .await
                        .map_err(|_| timed_out())?
                        .map_err(|e| Error::Protocol(format!("{}: {e}", what())))?;
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    let params = UpdateTaskParams::new(task.task_id.clone(), answers);
                    self.request("tasks/update", Some(&task.task_id), Some(left), || self.peer.update_task(params)).await?;
                    pause = FIRST_POLL;
                }
                _ => {}
            }
        }
    }

    /// Starts `name` as a task and returns it at once.
    pub async fn start_task(&self, name: &str, arguments: Option<&JsonObject>, ttl: Option<Duration>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<Task> {
        if self.speaks_tasks_extension() {
            return Box::pin(self.start_modern_task(name, arguments, meta, timeout)).await;
        }
        let params = StartParams { name, arguments, task: TaskParams { ttl: ttl.map(|t| t.as_millis() as u64) }, meta };
        let created: serde_json::Value = self.raw_request("tools/call", Some(name), params, timeout).await?;
        match serde_json::from_value::<Created>(created) {
            Ok(created) => Ok(created.task),
            Err(_) => Err(Error::Protocol(format!(
                "{}: the server did not start a task (it does not run this tool as one)",
                describe("tools/call", Some(name))
            ))),
        }
    }

    /// 2026-07-28: the server decides whether a call becomes a task; questions it asks before
    /// deciding are answered as in any call.
    async fn start_modern_task(&self, name: &str, arguments: Option<&JsonObject>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<Task> {
        let mut params = rmcp::model::CallToolRequestParams::new(name.to_owned());
        params.arguments = arguments.cloned();
        params.meta = super::request_meta(meta);
        match self.call_in_rounds(params, timeout, None, false).await? {
            super::Settled::Task(task) => Ok(Task::from(&task)),
            super::Settled::Done(_) => Err(Error::Protocol(format!(
                "{}: the server did not start a task (it ran the call at once)",
                describe("tools/call", Some(name))
            ))),
        }
    }

    pub async fn get_task(&self, task_id: &str, timeout: Option<Duration>) -> Result<Task> {
        if self.speaks_tasks_extension() {
            let params = GetTaskParams::new(task_id);
            let got = self.request("tasks/get", Some(task_id), timeout, || self.peer.get_task(params)).await?;
            return Ok(Task::from(&got.task.task));
        }
        self.raw_request("tasks/get", Some(task_id), TaskId { task_id }, timeout).await
    }

    /// Waits for the task's result (the server's questions on the way go to the handlers).
    pub async fn task_result(&self, task_id: &str, timeout: Option<Duration>) -> Result<CallToolResult> {
        if self.speaks_tasks_extension() {
            let limit = timeout.unwrap_or(self.options.request_timeout);
            let deadline = tokio::time::Instant::now() + limit;
            let params = GetTaskParams::new(task_id);
            let got = self.request("tasks/get", Some(task_id), Some(limit), || self.peer.get_task(params)).await?;
            return Box::pin(self.follow_task(describe("tasks/get", Some(task_id)), got.task.task, deadline, limit, false)).await;
        }
        self.raw_request("tasks/result", Some(task_id), TaskId { task_id }, timeout).await
    }

    pub async fn cancel_task(&self, task_id: &str, timeout: Option<Duration>) -> Result<Task> {
        if self.speaks_tasks_extension() {
            let params = CancelTaskParams::new(task_id);
            self.request("tasks/cancel", Some(task_id), timeout, || self.peer.cancel_task(params)).await?;
            return self.get_task(task_id, timeout).await;
        }
        self.raw_request("tasks/cancel", Some(task_id), TaskId { task_id }, timeout).await
    }

    /// A call run as a task: started, waited for, its result; cancelled if the caller gives up.
    pub(crate) async fn call_as_task(&self, name: &str, arguments: Option<&JsonObject>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<CallToolResult> {
        let limit = timeout.unwrap_or(self.options.request_timeout);
        let deadline = tokio::time::Instant::now() + limit;
        let task = self.start_task(name, arguments, None, meta, Some(limit)).await?;
        let mut guard = CancelOnDrop { connection: self, task_id: Some(task.task_id.clone()) };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = self.task_result(&task.task_id, Some(left)).await;
        if result.is_ok() {
            guard.task_id = None;
        }
        result
    }
}
