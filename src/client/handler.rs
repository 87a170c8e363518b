//! What the client does with messages the server sends on its own: log notifications.
// Server logging is deprecated in the 2026-07-28 spec but still what ≤2025-11-25 servers send.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, LoggingLevel, LoggingMessageNotificationParam, ProtocolVersion, ResourceUpdatedNotificationParam,
    ServerNotification,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient};

#[derive(Clone)]
pub struct Handler {
    pub(crate) name: Arc<str>,
    /// Bumped on every `notifications/tools/list_changed`.
    pub(crate) tools_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// Bumped on every `notifications/prompts/list_changed` and `resources/list_changed`.
    pub(crate) others_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// URIs of `notifications/resources/updated`.
    pub(crate) resource_updated: tokio::sync::broadcast::Sender<String>,
}

impl Handler {
    pub fn new(name: Arc<str>) -> Self {
        Self {
            name,
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
            _ => {}
        }
    }

    fn log(&self, params: &LoggingMessageNotificationParam) {
        let logger = params.logger.as_deref().unwrap_or("");
        let data = match &params.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match params.level {
            LoggingLevel::Debug => tracing::debug!(target: "mcpfleet::server_log", server = %self.name, logger, "{data}"),
            LoggingLevel::Info | LoggingLevel::Notice => {
                tracing::info!(target: "mcpfleet::server_log", server = %self.name, logger, "{data}")
            }
            LoggingLevel::Warning => tracing::warn!(target: "mcpfleet::server_log", server = %self.name, logger, "{data}"),
            _ => tracing::error!(target: "mcpfleet::server_log", server = %self.name, logger, "{data}"),
        }
    }

    fn tool_list_changed(&self) {
        self.tools_changed.send_modify(|n| *n += 1);
        tracing::debug!(server = %self.name, "server reported a changed tool list");
    }
}

impl ClientHandler for Handler {
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
        // 2025-11-25 is the newest version with the initialize handshake every server speaks.
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("mcpfleet", env!("CARGO_PKG_VERSION")))
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}
