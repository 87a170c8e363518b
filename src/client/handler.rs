//! What the client does with messages the server sends on its own: its requests (elicitation,
//! sampling, roots) go to the client's callbacks, its notifications to logs, progress sinks and
//! change counters.
// Server logging is deprecated in the 2026-07-28 spec but still what ≤2025-11-25 servers send.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CustomRequest, CustomResult, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
    ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, ProtocolVersion, ResourceUpdatedNotificationParam,
    ServerNotification,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};

use super::callbacks::{Answer, ClientCallbacks, ProgressRoutes, apply_defaults};

#[derive(Clone)]
pub struct Handler {
    pub(crate) name: Arc<str>,
    /// Bumped on every `notifications/tools/list_changed`.
    pub(crate) tools_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Bumped on every `notifications/prompts/list_changed` and `resources/list_changed`.
    pub(crate) others_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// URIs of `notifications/resources/updated`.
    pub(crate) resource_updated: tokio::sync::broadcast::Sender<String>,
    pub(crate) callbacks: Arc<ClientCallbacks>,
    pub(crate) progress: Arc<ProgressRoutes>,
    /// What the `initialize` handshake proposes.
    handshake_version: ProtocolVersion,
    /// Declares the 2026-07-28 tasks extension (SEP-2663), which this client follows.
    tasks_extension: bool,
    /// The handlers' answers that a 2025-11-25 server asked to be run as tasks.
    pub(crate) answer_tasks: Arc<super::answer_tasks::AnswerTasks>,
}

impl Handler {
    pub fn new(name: Arc<str>, callbacks: ClientCallbacks, handshake_version: ProtocolVersion, tasks_extension: bool) -> Self {
        Self {
            handshake_version,
            tasks_extension,
            answer_tasks: Arc::default(),
            name,
            callbacks: Arc::new(callbacks),
            progress: Arc::default(),
            tools_changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            others_changed: Arc::new(tokio::sync::watch::Sender::new(0)),
            resource_updated: tokio::sync::broadcast::Sender::new(64),
        }
    }
}

impl Handler {
    /// A notification that arrived outside rmcp's service loop (on a direct call's stream).
    pub(crate) fn notified(&self, notification: ServerNotification) {
        match notification {
            ServerNotification::LoggingMessageNotification(n) => self.log(&n.params),
            ServerNotification::ToolListChangedNotification(_) => self.tool_list_changed(),
            ServerNotification::PromptListChangedNotification(_) | ServerNotification::ResourceListChangedNotification(_) => {
                self.others_changed.send_modify(|n| *n += 1)
            }
            ServerNotification::ResourceUpdatedNotification(n) => {
                let _ = self.resource_updated.send(n.params.uri);
            }
            ServerNotification::ProgressNotification(n) => self.progress.deliver(n.params),
            _ => {}
        }
    }

    fn log(&self, params: &LoggingMessageNotificationParam) {
        match &self.callbacks.log {
            Some(sink) => sink.log(&self.name, params.clone()),
            None => log_to_tracing(&self.name, params),
        }
    }

    fn tool_list_changed(&self) {
        self.tools_changed.send_modify(|n| *n += 1);
        tracing::debug!(server = %self.name, "server reported a changed tool list");
    }
}

/// Where a server's logs go when no log handler takes them: the `mcpfleet::server_log` target.
pub fn log_to_tracing(server: &str, params: &LoggingMessageNotificationParam) {
    let logger = params.logger.as_deref().unwrap_or("");
    let data = match &params.data {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match params.level {
        LoggingLevel::Debug => tracing::debug!(target: "mcpfleet::server_log", server = %server, logger, "{data}"),
        LoggingLevel::Info | LoggingLevel::Notice => {
            tracing::info!(target: "mcpfleet::server_log", server = %server, logger, "{data}")
        }
        LoggingLevel::Warning => tracing::warn!(target: "mcpfleet::server_log", server = %server, logger, "{data}"),
        _ => tracing::error!(target: "mcpfleet::server_log", server = %server, logger, "{data}"),
    }
}

/// "Method not found", saying what the client lacks.
fn not_handled(method: &str, lacking: &str) -> ErrorData {
    ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, format!("{method}: the client has no {lacking}"), None)
}

/// A handler's answer, abandoned if the server cancels its request.
async fn answered<T>(answer: Answer<T>, context: &RequestContext<RoleClient>) -> Result<T, ErrorData> {
    tokio::select! {
        result = answer => result,
        _ = context.ct.cancelled() => Err(ErrorData::internal_error("the server cancelled the request", None)),
    }
}

impl ClientHandler for Handler {
    async fn create_elicitation(&self, params: ElicitRequestParams, context: RequestContext<RoleClient>) -> Result<ElicitResult, ErrorData> {
        let Some(elicitation) = &self.callbacks.elicitation else {
            tracing::debug!(server = %self.name, "declined an elicitation: the client has no elicitation handler");
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let mut result = answered(elicitation.elicit(&self.name, params.clone()), &context).await?;
        apply_defaults(&params, &mut result);
        Ok(result)
    }

    async fn create_message(&self, params: CreateMessageRequestParams, context: RequestContext<RoleClient>) -> Result<CreateMessageResult, ErrorData> {
        match &self.callbacks.sampling {
            Some(sampling) => answered(sampling.create_message(&self.name, params), &context).await,
            None => Err(not_handled("sampling/createMessage", "sampling handler")),
        }
    }

    async fn list_roots(&self, context: RequestContext<RoleClient>) -> Result<ListRootsResult, ErrorData> {
        match &self.callbacks.roots {
            Some(roots) => answered(roots.list_roots(&self.name), &context).await,
            None => Err(not_handled("roots/list", "list of roots")),
        }
    }

    async fn on_custom_request(&self, request: CustomRequest, context: RequestContext<RoleClient>) -> Result<CustomResult, ErrorData> {
        self.answer_tasks.handle(self, request, context).await
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.progress.deliver(params);
    }

    async fn on_logging_message(&self, params: LoggingMessageNotificationParam, _cx: NotificationContext<RoleClient>) {
        self.log(&params);
    }

    async fn on_tool_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.tool_list_changed();
    }

    async fn on_prompt_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.others_changed.send_modify(|n| *n += 1);
    }

    async fn on_resource_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.others_changed.send_modify(|n| *n += 1);
    }

    async fn on_resource_updated(&self, params: ResourceUpdatedNotificationParam, _cx: NotificationContext<RoleClient>) {
        let _ = self.resource_updated.send(params.uri);
    }

    fn get_info(&self) -> ClientConfig {
        // What `initialize` proposes (2025-11-25 unless pinned lower); `server/discover` names
        // its versions itself.
        let mut capabilities = self.callbacks.capabilities();
        if self.tasks_extension {
            capabilities.extensions.get_or_insert_default().insert(rmcp::model::TASKS_EXTENSION_ID.to_owned(), Default::default());
        }
        ClientConfig::new(capabilities, Implementation::new("mcpfleet", env!("CARGO_PKG_VERSION")))
            .with_protocol_version(self.handshake_version.clone())
    }
}
