//! Tasks as protocol 2025-11-25 has them (experimental there; the TypeScript SDK and
//! server-everything serve them): `tools/call` with a `task` field starts one, `tasks/get`
//! tells its state, `tasks/result` waits for its result (the server's questions arrive
//! meanwhile), `tasks/cancel` ends it. rmcp models only the 2026 extension's shape, so these
//! requests go around it, on the stdio and streamable-HTTP direct paths.
//!
//! A tool that requires a task says so in a field rmcp does not keep (`execution`); a call to
//! it without one fails with "requires task augmentation", and the call is then made as a task,
//! as are later calls to that tool.

use std::time::Duration;

use rmcp::model::{CallToolResult, JsonObject};
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
        }
    }
}

impl Connection {
    /// Starts `name` as a task and returns it at once.
    pub async fn start_task(&self, name: &str, arguments: Option<&JsonObject>, ttl: Option<Duration>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<Task> {
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

    pub async fn get_task(&self, task_id: &str, timeout: Option<Duration>) -> Result<Task> {
        self.raw_request("tasks/get", Some(task_id), TaskId { task_id }, timeout).await
    }

    /// Waits for the task's result (the server's questions on the way go to the handlers).
    pub async fn task_result(&self, task_id: &str, timeout: Option<Duration>) -> Result<CallToolResult> {
        self.raw_request("tasks/result", Some(task_id), TaskId { task_id }, timeout).await
    }

    pub async fn cancel_task(&self, task_id: &str, timeout: Option<Duration>) -> Result<Task> {
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
