//! What a client answers when the server asks something of it (elicitation, sampling, roots),
//! where the server's logs and a call's progress go. A client declares exactly the
//! capabilities it has a handler for.
// Sampling, roots and logging are deprecated in 2026-07-28 (SEP-2577); 2025-era servers use them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, FormElicitationCapability, ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    Root, RootsCapabilities, SamplingCapability, UrlElicitationCapability,
};
use serde_json::Value;

pub type Answer<T> = BoxFuture<'static, Result<T, ErrorData>>;

/// Answers `elicitation/create` (form and URL mode).
pub trait Elicitation: Send + Sync {
    fn elicit(&self, server: &Arc<str>, params: ElicitRequestParams) -> Answer<ElicitResult>;
}

/// Answers `sampling/createMessage`.
pub trait Sampling: Send + Sync {
    fn create_message(&self, server: &Arc<str>, params: CreateMessageRequestParams) -> Answer<CreateMessageResult>;
}

/// Answers `roots/list`.
pub trait RootsSource: Send + Sync {
    fn list_roots(&self, server: &Arc<str>) -> Answer<ListRootsResult>;
}

/// Receives `notifications/message` (instead of the `mcpfleet::server_log` target).
pub trait LogSink: Send + Sync {
    fn log(&self, server: &Arc<str>, params: LoggingMessageNotificationParam);
}

/// Receives the progress of one request.
pub type ProgressSink = Arc<dyn Fn(ProgressNotificationParam) + Send + Sync>;

/// The handlers of one client; what is `None` is not declared to the server.
#[derive(Clone, Default)]
pub struct ClientCallbacks {
    pub elicitation: Option<Arc<dyn Elicitation>>,
    pub sampling: Option<Arc<dyn Sampling>>,
    pub roots: Option<Arc<dyn RootsSource>>,
    pub log: Option<Arc<dyn LogSink>>,
}

impl std::fmt::Debug for ClientCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCallbacks")
            .field("elicitation", &self.elicitation.is_some())
            .field("sampling", &self.sampling.is_some())
            .field("roots", &self.roots.is_some())
            .field("log", &self.log.is_some())
            .finish()
    }
}

impl ClientCallbacks {
    /// These, with each handler not set here taken from `fallback` (a fleet's defaults).
    pub fn or(&self, fallback: &ClientCallbacks) -> ClientCallbacks {
        ClientCallbacks {
            elicitation: self.elicitation.clone().or_else(|| fallback.elicitation.clone()),
            sampling: self.sampling.clone().or_else(|| fallback.sampling.clone()),
            roots: self.roots.clone().or_else(|| fallback.roots.clone()),
            log: self.log.clone().or_else(|| fallback.log.clone()),
        }
    }

    pub fn capabilities(&self) -> ClientCapabilities {
        let mut capabilities = ClientCapabilities::default();
        if self.elicitation.is_some() {
            let mut elicitation = ElicitationCapability::new();
            elicitation.form = Some(FormElicitationCapability::new());
            elicitation.url = Some(UrlElicitationCapability::new());
            capabilities.elicitation = Some(elicitation);
        }
        if self.sampling.is_some() {
            capabilities.sampling = Some(SamplingCapability::default());
        }
        if self.roots.is_some() {
            let mut roots = RootsCapabilities::default();
            roots.list_changed = Some(true);
            capabilities.roots = Some(roots);
        }
        capabilities
    }
}

/// A fixed list of roots that can be replaced (the client then tells the server).
#[derive(Default)]
pub struct RootList(RwLock<Arc<Vec<Root>>>);

impl RootList {
    pub fn new(roots: Vec<Root>) -> Arc<Self> {
        Arc::new(Self(RwLock::new(Arc::new(roots))))
    }

    pub fn set(&self, roots: Vec<Root>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(roots);
    }

    pub fn get(&self) -> Arc<Vec<Root>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl RootsSource for RootList {
    fn list_roots(&self, _server: &Arc<str>) -> Answer<ListRootsResult> {
        let roots = self.get().as_ref().clone();
        Box::pin(std::future::ready(Ok(ListRootsResult::new(roots))))
    }
}

/// A root from a path or URI: an absolute path becomes a `file://` URI.
pub fn root(location: &str, name: Option<String>) -> Result<Root, String> {
    let uri = if location.contains("://") {
        url::Url::parse(location).map_err(|e| format!("root {location:?} is not a valid URI: {e}"))?.to_string()
    } else {
        let path = std::path::Path::new(location);
        if !path.is_absolute() {
            return Err(format!("root {location:?} must be an absolute path or a URI"));
        }
        url::Url::from_file_path(path).map_err(|_| format!("root {location:?} cannot be written as a file:// URI"))?.to_string()
    };
    let mut root = Root::new(uri);
    root.name = name;
    Ok(root)
}

/// SEP-1034: an accepted form answer gets the schema's default for each field it left out.
pub fn apply_defaults(params: &ElicitRequestParams, result: &mut ElicitResult) {
    let ElicitRequestParams::FormElicitationParams { requested_schema, .. } = params else { return };
    if result.action != ElicitationAction::Accept {
        return;
    }
    let content = result.content.get_or_insert_with(|| Value::Object(Default::default()));
    let Value::Object(content) = content else { return };
    for (name, property) in &requested_schema.properties {
        if content.contains_key(name) {
            continue;
        }
        if let Ok(Value::Object(property)) = serde_json::to_value(property) {
            if let Some(default) = property.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
}

/// Progress sinks by the token their request carries.
#[derive(Default)]
pub struct ProgressRoutes(RwLock<HashMap<ProgressToken, ProgressSink>>);

impl ProgressRoutes {
    /// Routes `token`'s progress to `sink` until the guard is dropped.
    pub fn route(self: &Arc<Self>, token: ProgressToken, sink: ProgressSink) -> ProgressRoute {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(token.clone(), sink);
        ProgressRoute { routes: self.clone(), token }
    }

    /// For a request sent around rmcp: with a sink, its id doubles as the progress token, added
    /// to `meta` and routed to the sink until the returned guard is dropped.
    pub fn token_for_request<'m>(
        self: &Arc<Self>,
        id: &str,
        meta: Option<std::borrow::Cow<'m, serde_json::Map<String, Value>>>,
        sink: Option<&ProgressSink>,
    ) -> (Option<std::borrow::Cow<'m, serde_json::Map<String, Value>>>, Option<ProgressRoute>) {
        let Some(sink) = sink else { return (meta, None) };
        let mut meta = meta.map(std::borrow::Cow::into_owned).unwrap_or_default();
        meta.insert("progressToken".into(), Value::String(id.to_owned()));
        let token = ProgressToken(rmcp::model::NumberOrString::String(id.into()));
        (Some(std::borrow::Cow::Owned(meta)), Some(self.route(token, sink.clone())))
    }

    pub fn deliver(&self, params: ProgressNotificationParam) {
        let sink = {
            let routes = self.0.read().unwrap_or_else(|e| e.into_inner());
            if routes.is_empty() {
                return;
            }
            routes.get(&params.progress_token).cloned()
        };
        if let Some(sink) = sink {
            sink(params);
        }
    }
}

pub struct ProgressRoute {
    routes: Arc<ProgressRoutes>,
    token: ProgressToken,
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        self.routes.0.write().unwrap_or_else(|e| e.into_inner()).remove(&self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(schema: Value) -> ElicitRequestParams {
        serde_json::from_value(serde_json::json!({"mode": "form", "message": "m", "requestedSchema": schema})).unwrap()
    }

    #[test]
    fn defaults_fill_only_the_fields_an_accepted_answer_left_out() {
        let params = form(serde_json::json!({"type": "object", "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
            "verified": {"type": "boolean", "default": true},
            "nickname": {"type": "string"},
        }}));
        let mut accepted = ElicitResult::new(ElicitationAction::Accept).with_content(serde_json::json!({"age": 41}));
        apply_defaults(&params, &mut accepted);
        assert_eq!(
            accepted.content,
            Some(serde_json::json!({"name": "John Doe", "age": 41, "score": 95.5, "status": "active", "verified": true}))
        );
        let mut declined = ElicitResult::new(ElicitationAction::Decline);
        apply_defaults(&params, &mut declined);
        assert_eq!(declined.content, None);
    }

    #[test]
    fn capabilities_follow_the_handlers() {
        assert_eq!(serde_json::to_value(ClientCallbacks::default().capabilities()).unwrap(), serde_json::json!({}));
        let roots = ClientCallbacks { roots: Some(RootList::new(vec![])), ..Default::default() };
        assert_eq!(serde_json::to_value(roots.capabilities()).unwrap(), serde_json::json!({"roots": {"listChanged": true}}));
    }

    #[test]
    fn roots_from_paths_and_uris() {
        assert_eq!(root("/srv/data dir", None).unwrap().uri, "file:///srv/data%20dir");
        assert_eq!(root("file:///tmp/x", Some("x".into())).unwrap().name.as_deref(), Some("x"));
        assert!(root("relative/path", None).unwrap_err().contains("absolute"));
    }

    #[test]
    fn progress_reaches_its_route_until_dropped() {
        let routes = Arc::new(ProgressRoutes::default());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let token = ProgressToken(rmcp::model::NumberOrString::Number(7));
        let route = routes.route(token.clone(), Arc::new(move |p: ProgressNotificationParam| sink_seen.lock().unwrap().push(p.progress)));
        routes.deliver(ProgressNotificationParam::new(token.clone(), 1.0));
        drop(route);
        routes.deliver(ProgressNotificationParam::new(token, 2.0));
        assert_eq!(*seen.lock().unwrap(), vec![1.0]);
    }
}
