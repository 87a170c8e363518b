//! The fleet served as one MCP server: every aggregated tool, prompt and resource under its
//! public name, calls routed to the owning server, and the fleet's changes sent to every client
//! as they happen (`notifications/*/list_changed` to sessions, `subscriptions/listen` streams for
//! 2026-07-28 clients, which have no session).

// resources/subscribe and logging/setLevel are legacy-only (deprecated in rmcp), and what
// clients holding a 2025-11-25 session use.
#![allow(deprecated)]

mod direct;
mod downstream;
mod rounds;
pub mod http;
pub mod search;
pub mod serve;

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    Implementation, JsonObject, ListPromptsResult, ProgressNotificationParam, ProgressToken, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt,
    ReadResourceRequestParams, ReadResourceResponse, RequestMetaObject, ResourceUpdatedNotificationParam, ResultType, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::client::{ProgressSink, RequestOptions, ToolReply};
use crate::error::Error;
use crate::fleet::manager::{Catalog, CatalogChange, Fleet};
use crate::fleet::management;

/// A client that does not take a notification within this time is dropped from the fan-out.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the gateway publishes besides the fleet's own catalog.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The server name clients see.
    pub name: String,
    /// Publish `mcpserver_*`: a client may then create servers, that is run commands.
    pub management_tools: bool,
    /// Publish `search_tools` and `call_tool` instead of every tool (for fleets with hundreds).
    pub tool_search: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self { name: "mcpfleet".into(), management_tools: false, tool_search: false }
    }
}

struct Shared {
    fleet: Arc<Fleet>,
    options: GatewayOptions,
    /// Sessions (stdio, or HTTP in session mode) that hear of changes by notification.
    peers: Mutex<HashMap<u64, Peer<RoleServer>>>,
    next_peer: AtomicU64,
    /// For `subscriptions/listen` streams.
    changes: broadcast::Sender<CatalogChange>,
    /// Resource URI → the sessions subscribed to it (`resources/subscribe`).
    subscriptions: Mutex<HashMap<String, HashSet<u64>>>,
    /// HTTP sessions whose client takes elicitation, sampling or roots: their calls go through
    /// rmcp, whose stream for the call carries the servers' questions.
    asking_sessions: Mutex<HashSet<Arc<str>>>,
    /// 2026-07-28 calls waiting for their clients' answers.
    rounds: rounds::Waiting,
    /// While the gateway lives, the fleet's servers connect able to ask its clients.
    _attachment: crate::fleet::relay::Attachment,
}

/// The fleet as an MCP server. Cheap to clone: every connection's handler shares one state.
/// Dropping the last clone of the [`Gateway`] that `new` returned stops the change fan-out.
pub struct Gateway {
    shared: Arc<Shared>,
    fan_out: Arc<FanOut>,
}

struct FanOut(JoinHandle<()>);

impl Drop for FanOut {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Clone for Gateway {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone(), fan_out: self.fan_out.clone() }
    }
}

impl Gateway {
    /// Must run inside a tokio runtime (the fan-out task starts here).
    pub fn new(fleet: Arc<Fleet>, options: GatewayOptions) -> Self {
        let shared = Arc::new(Shared {
            options,
            peers: Mutex::new(HashMap::new()),
            next_peer: AtomicU64::new(1),
            changes: broadcast::Sender::new(64),
            subscriptions: Mutex::new(HashMap::new()),
            asking_sessions: Mutex::default(),
            rounds: rounds::Waiting::default(),
            _attachment: fleet.relay().attach(),
            fleet,
        });
        let updates = shared.fleet.resource_updates();
        let task = tokio::spawn(fan_out(Arc::downgrade(&shared), shared.fleet.watch_catalog(), updates));
        Self { shared, fan_out: Arc::new(FanOut(task)) }
    }

    /// A handler for one connection (or one stateless request).
    pub fn session(&self) -> Session {
        Session {
            shared: self.shared.clone(),
            _fan_out: self.fan_out.clone(),
            registration: OnceLock::new(),
            http_session: OnceLock::new(),
            connected: Mutex::new(None),
            log_level: Arc::new(AtomicU8::new(downstream::LOGS_OFF)),
        }
    }

    /// Reconnects the fleet's servers that are up but cannot yet ask this gateway's clients.
    pub async fn reconnect_servers(&self) {
        self.shared.fleet.reconnect_for_handlers().await;
    }

    /// Connected sessions that receive change notifications.
    pub fn session_count(&self) -> usize {
        self.shared.peers.lock().unwrap().len()
    }
}

/// Sends each catalog change to every session and every `listen` stream.
async fn fan_out(
    shared: std::sync::Weak<Shared>,
    mut catalog: tokio::sync::watch::Receiver<Arc<Catalog>>,
    mut updates: broadcast::Receiver<(String, String)>,
) {
    let mut seen = catalog.borrow_and_update().generation;
    loop {
        let changed = tokio::select! {
            changed = catalog.changed() => changed,
            update = updates.recv() => {
                match update {
                    Ok((_server, uri)) => {
                        let Some(shared) = shared.upgrade() else { return };
                        relay_update(&shared, uri).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
                continue;
            }
        };
        if changed.is_err() {
            return;
        }
        let (generation, change) = {
            let c = catalog.borrow_and_update();
            (c.generation, c.change)
        };
        if generation == seen {
            continue;
        }
        // Generations skipped while we were busy may have changed any list.
        let change = if generation == seen + 1 { change } else { CatalogChange { tools: true, prompts: true, resources: true } };
        seen = generation;
        let Some(shared) = shared.upgrade() else { return };
        let _ = shared.changes.send(change);
        let peers: Vec<(u64, Peer<RoleServer>)> = shared.peers.lock().unwrap().iter().map(|(k, v)| (*k, v.clone())).collect();
        let sends = peers.into_iter().map(|(id, peer)| async move {
            let sent = tokio::time::timeout(NOTIFY_TIMEOUT, async {
                if change.tools {
                    peer.notify_tool_list_changed().await?;
                }
                if change.prompts {
                    peer.notify_prompt_list_changed().await?;
                }
                if change.resources {
                    peer.notify_resource_list_changed().await?;
                }
                Ok::<(), rmcp::service::ServiceError>(())
            })
            .await;
            (id, matches!(sent, Ok(Ok(()))) && !peer.is_transport_closed())
        });
        for (id, ok) in futures::future::join_all(sends).await {
            if !ok {
                shared.peers.lock().unwrap().remove(&id);
            }
        }
    }
}

/// A resource update from a server, to every session subscribed to its URI.
async fn relay_update(shared: &Shared, uri: String) {
    let peers: Vec<Peer<RoleServer>> = {
        let subscribed = shared.subscriptions.lock().unwrap().get(&uri).cloned().unwrap_or_default();
        let peers = shared.peers.lock().unwrap();
        subscribed.iter().filter_map(|id| peers.get(id).cloned()).collect()
    };
    let sends = peers.into_iter().map(|peer| {
        let uri = uri.clone();
        async move { tokio::time::timeout(NOTIFY_TIMEOUT, peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))).await }
    });
    futures::future::join_all(sends).await;
}

/// The handler of one connection.
pub struct Session {
    shared: Arc<Shared>,
    _fan_out: Arc<FanOut>,
    /// Set once the client is initialized: its key among the notified peers.
    registration: OnceLock<u64>,
    /// Over HTTP, the session's id.
    http_session: OnceLock<Arc<str>>,
    /// The client as the fleet's servers may ask it outside calls (roots) and send logs to.
    connected: Mutex<Option<crate::fleet::relay::Registration>>,
    /// The rank of the level the client set with `logging/setLevel` ([`downstream::LOGS_OFF`] before).
    log_level: Arc<AtomicU8>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(session) = self.http_session.get() {
            self.shared.asking_sessions.lock().unwrap().remove(session);
        }
        if let Some(id) = self.registration.get() {
            self.shared.peers.lock().unwrap().remove(id);
            let mut subscriptions = self.shared.subscriptions.lock().unwrap();
            subscriptions.values_mut().for_each(|s| {
                s.remove(id);
            });
            subscriptions.retain(|_, s| !s.is_empty());
        }
    }
}

impl Session {
    fn fleet(&self) -> &Fleet {
        &self.shared.fleet
    }

    /// The caller's own `_meta` of a request (rmcp moved it into the context), for the server.
    fn forwarded(meta: Option<RequestMetaObject>, context: &mut RequestContext<RoleServer>) -> RequestOptions {
        let meta = meta.or_else(|| Some(std::mem::take(&mut context.meta)));
        RequestOptions { meta: forwarded_meta(meta), ..Default::default() }
    }

    /// A call answered in one response.
    async fn call_once(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        progress: Option<ProgressSink>,
        asker: Option<Asker>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Dropping the fleet call when the client cancels cancels the upstream request too.
        tokio::select! {
            result = self.shared.call_tool(request, progress, asker) => Ok(complete(result?)),
            _ = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the client", None)),
        }
    }

    /// A 2026-07-28 call whose servers may ask the client: it runs on, and each question is
    /// answered to the client as `input_required`; the client's next request with the
    /// `requestState` brings the answers.
    async fn call_in_rounds(
        &self,
        mut request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        declared: downstream::Declared,
        progress: Option<ProgressSink>,
        log: Option<Arc<downstream::LogRelay>>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = match request.request_state.take() {
            Some(state) => match self.shared.rounds.resume(&state, &request.name, request.input_responses.take()) {
                Some(call) => call,
                None => {
                    return Err(ErrorData::invalid_params(
                        "the requestState is unknown, expired or belongs to another tool's call; call the tool again without it",
                        None,
                    ));
                }
            },
            None => {
                let start = rounds::start(&declared);
                let asker = Asker { callbacks: start.callbacks.clone(), url_elicitation: declared.url_elicitation };
                let task_progress = progress.is_some().then(|| start.progress.clone());
                let (shared, name) = (self.shared.clone(), request.name.to_string());
                let task = tokio::spawn(async move { shared.call_tool(request, task_progress, Some(asker)).await });
                rounds::Call::new(name, start, task)
            }
        };
        let sinks = call.sinks.clone();
        sinks.set(progress, log.map(|l| l as Arc<dyn crate::client::callbacks::LogSink>));
        let outcome = self.shared.rounds.drive(call, &context.ct).await;
        sinks.set(None, None);
        match outcome {
            rounds::Outcome::Done(result) => Ok(complete(result?)),
            rounds::Outcome::Ask(questions) => Ok(CallToolResponse::InputRequired(questions)),
        }
    }

    /// Registers the client with the fleet's relay: its roots (if it has any) and, once it
    /// asked for them, the servers' logs.
    fn register_client(&self, peer: &Peer<RoleServer>) {
        let declared = peer.peer_info().map(|info| downstream::Declared::of(&info.capabilities));
        let roots = declared.is_some_and(|d| d.roots);
        let logs = self.log_level.load(Ordering::Relaxed) != downstream::LOGS_OFF;
        if !roots && !logs {
            return;
        }
        let only_roots = downstream::Declared { elicitation: false, url_elicitation: false, sampling: false, roots };
        let mut callbacks = downstream::asking(peer.clone(), None, &only_roots);
        if logs {
            callbacks.log = Some(downstream::LogRelay::new(peer.clone(), self.log_level.clone()).0);
        }
        *self.connected.lock().unwrap() = Some(self.fleet().relay().connected(callbacks));
    }

    fn instructions(&self) -> String {
        let servers = self.fleet().list();
        let mut text = format!(
            "{} serves the tools, prompts and resources of {} MCP server(s) as one; each name starts with its server's prefix.",
            self.shared.options.name,
            servers.len()
        );
        for s in servers.iter().take(50) {
            let def = &s.definition;
            text.push_str(&format!("\n- `{}_…` from `{}`", def.prefix(), def.name));
            if !def.description.is_empty() {
                text.push_str(&format!(": {}", def.description));
            }
        }
        if servers.len() > 50 {
            text.push_str(&format!("\n- and {} more", servers.len() - 50));
        }
        text
    }
}

/// What of a client's request `_meta` goes on to the server: the caller's own keys (trace
/// context, vendor keys). The protocol's per-request keys describe the client's link to us,
/// and the progress token is the client's: the server gets one of ours (see [`ProgressRelay`]).
fn forwarded_meta(meta: Option<RequestMetaObject>) -> Option<JsonObject> {
    let mut meta = meta?.0.0;
    meta.retain(|key, _| key != "progressToken" && !key.starts_with("io.modelcontextprotocol/"));
    (!meta.is_empty()).then_some(meta)
}

/// Most progress notifications of one call waiting to go to the client; more are dropped.
const PROGRESS_BACKLOG: usize = 256;

/// A server's progress for one call, sent on to the client under the client's token, in order.
struct ProgressRelay {
    sink: ProgressSink,
    sender: JoinHandle<()>,
}

impl ProgressRelay {
    fn new(peer: Peer<RoleServer>, token: ProgressToken) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ProgressNotificationParam>(PROGRESS_BACKLOG);
        let sender = tokio::spawn(async move {
            while let Some(mut progress) = rx.recv().await {
                progress.progress_token = token.clone();
                if tokio::time::timeout(NOTIFY_TIMEOUT, peer.notify_progress(progress)).await.is_err() {
                    return;
                }
            }
        });
        Self { sink: Arc::new(move |progress| drop(tx.try_send(progress))), sender }
    }

    /// Once the call is over: what is still queued goes out before the answer (briefly waited for).
    async fn flush(self) {
        let Self { sink, sender } = self;
        drop(sink);
        drain(sender).await;
    }
}

/// Waits briefly for a sending task to send what is queued (its queue's senders are gone).
async fn drain(mut sender: JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(1), &mut sender).await.is_err() {
        sender.abort();
    }
}

/// A client that can be asked during its call.
struct Asker {
    callbacks: crate::client::ClientCallbacks,
    /// It takes URL-mode elicitations.
    url_elicitation: bool,
}

impl Shared {
    /// A `tools/call` from any client: the search tools, the management tools, else the fleet.
    /// The server's progress goes to `progress`.
    async fn call_tool(&self, request: CallToolRequestParams, progress: Option<ProgressSink>, asker: Option<Asker>) -> Result<CallToolResult, ErrorData> {
        self.call_tool_as(request, progress, asker).await
    }

    /// [`Shared::call_tool`] with the result as `R` (the direct path passes the server's JSON on).
    async fn call_tool_as<R: ToolReply>(&self, mut request: CallToolRequestParams, progress: Option<ProgressSink>, asker: Option<Asker>) -> Result<R, ErrorData> {
        let ours = |result: CallToolResult| R::from_result(result).map_err(|e| ErrorData::internal_error(format!("the result could not be encoded: {e}"), None));
        let mut via_search = false;
        if self.options.tool_search {
            if request.name == search::SEARCH_TOOLS {
                return ours(search::search_result(&self.fleet.catalog(), request.arguments.as_ref()));
            }
            if request.name == search::CALL_TOOL {
                let arguments = request.arguments.take().unwrap_or_default();
                let Some(name) = arguments.get("name").and_then(serde_json::Value::as_str) else {
                    return Err(ErrorData::invalid_params("call_tool needs `name`, the name search_tools gave", None));
                };
                request.name = name.to_string().into();
                via_search = true;
                request.arguments = match arguments.get("arguments") {
                    Some(serde_json::Value::Object(a)) => Some(a.clone()),
                    None | Some(serde_json::Value::Null) => None,
                    Some(_) => return Err(ErrorData::invalid_params("call_tool: `arguments` must be an object", None)),
                };
            }
        }
        if self.options.management_tools {
            if let Some(result) = management::call(&self.fleet, &request.name, request.arguments.clone()).await {
                return ours(result);
            }
        }
        let options = RequestOptions { meta: forwarded_meta(request.meta), progress, ..Default::default() };
        let _asked = asker.and_then(|asker| {
            let server = self.fleet.server_of_tool(&request.name)?;
            Some(self.fleet.relay().during_call(&server, asker.callbacks, asker.url_elicitation))
        });
        match self.fleet.call_tool_as(&request.name, request.arguments, options).await {
            Ok(result) => Ok(result),
            // A model that asked `call_tool` for a wrong name reads why, and can search again.
            Err(error @ Error::ToolNotFound { .. }) if via_search => {
                ours(CallToolResult::error(vec![ContentBlock::text(format!("{error}; use search_tools to find tools"))]))
            }
            Err(error) => ours(call_failure(error)?),
        }
    }
}

/// Upstream answers in its own era; 2026-07-28 clients need the marker (rmcp strips it again
/// for older ones).
fn complete(mut result: CallToolResult) -> CallToolResponse {
    result.result_type = Some(ResultType::COMPLETE);
    result.into()
}

/// A core error as the client sees it: routing failures are JSON-RPC errors, failures of a
/// call that reached its server are tool errors the model can read.
fn call_failure(error: Error) -> Result<CallToolResult, ErrorData> {
    match error {
        Error::ToolNotFound { .. } => Err(ErrorData::invalid_params(error.to_string(), None)),
        other => Ok(CallToolResult::error(vec![ContentBlock::text(other.to_string())])),
    }
}

fn request_error(error: Error) -> ErrorData {
    match error {
        Error::ToolNotFound { .. } | Error::Config(_) | Error::UnknownServer { .. } => ErrorData::invalid_params(error.to_string(), None),
        Error::Server { code, ref message, ref data, .. } => ErrorData::new(rmcp::model::ErrorCode(code), message.clone(), data.clone()),
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new(self.shared.options.name.clone(), env!("CARGO_PKG_VERSION")))
        .with_instructions(self.instructions())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let id = self.shared.next_peer.fetch_add(1, Ordering::Relaxed);
        if self.registration.set(id).is_err() {
            return;
        }
        self.register_client(&context.peer);
        let asks = context.peer.peer_info().is_some_and(|info| downstream::Declared::of(&info.capabilities).any());
        let http_session = context.extensions.get::<::http::request::Parts>().and_then(|parts| parts.headers.get("mcp-session-id")?.to_str().ok());
        if let (true, Some(session)) = (asks, http_session) {
            let session: Arc<str> = session.into();
            let _ = self.http_session.set(session.clone());
            self.shared.asking_sessions.lock().unwrap().insert(session);
        }
        self.shared.peers.lock().unwrap().insert(id, context.peer);
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        let _ = tokio::time::timeout(NOTIFY_TIMEOUT, self.fleet().notify_roots_changed()).await;
    }

    async fn list_tools(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListToolsResult, ErrorData> {
        let catalog = self.fleet().catalog();
        let mut tools: Vec<Tool> = if self.shared.options.tool_search {
            search::tools(catalog.tools.len())
        } else {
            catalog
                .tools
                .iter()
                .map(|t| {
                    let mut tool = t.tool.clone();
                    tool.name = t.public_name.clone().into();
                    tool
                })
                .collect()
        };
        if self.shared.options.management_tools {
            tools.extend(management::tools());
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if self.shared.options.tool_search && (name == search::SEARCH_TOOLS || name == search::CALL_TOOL) {
            return search::tools(0).into_iter().find(|t| t.name == name);
        }
        let catalog = self.fleet().catalog();
        if let Some(t) = catalog.tool(name) {
            let mut tool = t.tool.clone();
            tool.name = t.public_name.clone().into();
            return Some(tool);
        }
        self.shared.options.management_tools.then(|| management::tools().into_iter().find(|t| t.name == name)).flatten()
    }

    async fn call_tool(&self, mut request: CallToolRequestParams, mut context: RequestContext<RoleServer>) -> Result<CallToolResponse, ErrorData> {
        // rmcp moves the request's `_meta` into the context.
        if request.meta.is_none() {
            request.meta = Some(std::mem::take(&mut context.meta));
        }
        let meta = request.meta.as_ref();
        let relay = meta.and_then(|m| m.get_progress_token()).map(|token| ProgressRelay::new(context.peer.clone(), token));
        // A 2026-07-28 client names its version, capabilities and log level in every request.
        let modern = meta.and_then(|m| m.protocol_version()).is_some();
        let log = meta.and_then(|m| m.log_level()).filter(|_| modern).map(|level| {
            downstream::LogRelay::new(context.peer.clone(), Arc::new(AtomicU8::new(downstream::level_rank(level))))
        });
        let (log_sink, log_sender) = match log {
            Some((sink, sender)) => (Some(sink), Some(sender)),
            None => (None, None),
        };
        let outcome = if modern {
            let declared = downstream::Declared::of(&meta.and_then(|m| m.client_capabilities()).unwrap_or_default());
            if declared.any() || request.request_state.is_some() {
                self.call_in_rounds(request, &context, declared, relay.as_ref().map(|r| r.sink.clone()), log_sink).await
            } else {
                let asker = log_sink.map(|log| Asker { callbacks: crate::client::ClientCallbacks { log: Some(log), ..Default::default() }, url_elicitation: false });
                self.call_once(request, &context, relay.as_ref().map(|r| r.sink.clone()), asker).await
            }
        } else {
            // A client in a session is asked on the call's own stream.
            let asker = context.peer.peer_info().map(|info| downstream::Declared::of(&info.capabilities)).filter(|d| d.any()).map(|declared| Asker {
                callbacks: downstream::asking(context.peer.clone(), Some(context.id.clone()), &declared),
                url_elicitation: declared.url_elicitation,
            });
            self.call_once(request, &context, relay.as_ref().map(|r| r.sink.clone()), asker).await
        };
        if let Some(relay) = relay {
            relay.flush().await;
        }
        if let Some(sender) = log_sender {
            drain(sender).await;
        }
        outcome
    }

    async fn list_prompts(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListPromptsResult, ErrorData> {
        let catalog = self.fleet().catalog();
        let prompts: Vec<Prompt> = catalog
            .prompts
            .iter()
            .map(|p| {
                let mut prompt = p.prompt.clone();
                prompt.name = p.public_name.clone();
                prompt
            })
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(&self, request: GetPromptRequestParams, mut context: RequestContext<RoleServer>) -> Result<GetPromptResponse, ErrorData> {
        tokio::select! {
            result = self.fleet().get_prompt(&request.name, request.arguments, Self::forwarded(request.meta, &mut context)) => result
                .map(|mut r| {
                    r.result_type = Some(ResultType::COMPLETE);
                    r.into()
                })
                .map_err(request_error),
            _ = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the client", None)),
        }
    }

    async fn list_resources(&self, _request: Option<PaginatedRequestParams>, _context: RequestContext<RoleServer>) -> Result<ListResourcesResult, ErrorData> {
        let catalog = self.fleet().catalog();
        Ok(ListResourcesResult::with_all_items(catalog.resources.iter().map(|(_, r)| r.clone()).collect()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let catalog = self.fleet().catalog();
        Ok(ListResourceTemplatesResult::with_all_items(catalog.resource_templates.iter().map(|(_, t)| t.clone()).collect()))
    }

    async fn read_resource(&self, request: ReadResourceRequestParams, mut context: RequestContext<RoleServer>) -> Result<ReadResourceResponse, ErrorData> {
        tokio::select! {
            result = self.fleet().read_resource(&request.uri, None, Self::forwarded(request.meta, &mut context)) => result
                .map(|mut r| {
                    r.result_type = Some(ResultType::COMPLETE);
                    r.into()
                })
                .map_err(|e| match e {
                Error::Config(message) => ErrorData::resource_not_found(message, None),
                other => request_error(other),
            }),
            _ = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the client", None)),
        }
    }

    /// From now on the servers' logs at this level and above go to the client too (they still
    /// go to mcpfleet's own logging).
    async fn set_level(&self, request: SetLevelRequestParams, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        let was = self.log_level.swap(downstream::level_rank(request.level), Ordering::Relaxed);
        if was == downstream::LOGS_OFF {
            self.register_client(&context.peer);
        }
        Ok(())
    }

    async fn subscribe(&self, request: SubscribeRequestParams, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.fleet().subscribe_resource(&request.uri, true).await.map_err(|e| match e {
            Error::Config(message) => ErrorData::resource_not_found(message, None),
            other => request_error(other),
        })?;
        // A session that did not say `initialized` has no id yet: take one now.
        let id = *self.registration.get_or_init(|| {
            let id = self.shared.next_peer.fetch_add(1, Ordering::Relaxed);
            self.shared.peers.lock().unwrap().insert(id, context.peer.clone());
            id
        });
        self.shared.subscriptions.lock().unwrap().entry(request.uri).or_default().insert(id);
        Ok(())
    }

    async fn unsubscribe(&self, request: UnsubscribeRequestParams, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        if let Some(id) = self.registration.get() {
            let mut subscriptions = self.shared.subscriptions.lock().unwrap();
            if let Some(s) = subscriptions.get_mut(&request.uri) {
                s.remove(id);
            }
        }
        // The upstream subscription stays while other sessions may want it; it ends with the server.
        Ok(())
    }

    fn accepted_subscription_filter(&self, _requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        Some(SubscriptionFilter::builder().tools_list_changed().prompts_list_changed().resources_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.shared.changes.subscribe();
        let sink = context.sink().clone();
        loop {
            let change = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok(change) => change,
                    // Missed some: any list may have changed.
                    Err(broadcast::error::RecvError::Lagged(_)) => CatalogChange { tools: true, prompts: true, resources: true },
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            };
            let accepted = context.accepted();
            let sent = async {
                if change.tools && accepted.tools_list_changed == Some(true) {
                    sink.notify_tool_list_changed().await?;
                }
                if change.prompts && accepted.prompts_list_changed == Some(true) {
                    sink.notify_prompt_list_changed().await?;
                }
                if change.resources && accepted.resources_list_changed == Some(true) {
                    sink.notify_resource_list_changed().await?;
                }
                Ok::<(), rmcp::service::SubscriptionSendError>(())
            };
            if tokio::time::timeout(NOTIFY_TIMEOUT, sent).await.map_or(true, |r| r.is_err()) {
                return Ok(());
            }
        }
    }
}

/// Serves the gateway on a byte stream pair (stdin/stdout, a socket) until it closes.
pub async fn serve_stream<R, W>(gateway: &Gateway, read: R, write: W) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use rmcp::ServiceExt;
    gateway.reconnect_servers().await;
    let running = gateway.session().serve((read, write)).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::http::{HttpOptions, serve_http};
    use super::*;
    use crate::client::{ClientOptions, Connection};
    use crate::fleet::load::load_value;
    use crate::fleet::manager::FleetOptions;
    use crate::transport::{HttpOptions as ClientHttp, TransportConfig};

    async fn demo_fleet() -> (Arc<Fleet>, JoinHandle<std::io::Result<()>>) {
        let (port, serve) = crate::demo_server::bind_http(0).await.unwrap();
        let server = tokio::spawn(serve);
        let fleet = Arc::new(Fleet::new(FleetOptions::default()));
        let spec = serde_json::json!({"name": "demo", "url": format!("http://127.0.0.1:{port}/mcp"), "toolPrefix": "d", "autoStart": true, "description": "the built-in server"});
        fleet.add(load_value(&spec, "test").unwrap().remove(0)).unwrap();
        fleet.start_auto().await;
        (fleet, server)
    }

    fn client(url: &str, headers: Vec<(String, String)>) -> TransportConfig {
        TransportConfig::StreamableHttp { url: url.into(), options: ClientHttp { headers, ..ClientHttp::default() } }
    }

    fn options() -> ClientOptions {
        ClientOptions { name: "test".into(), init_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(10), ..Default::default() }
    }

    #[tokio::test]
    async fn serves_the_catalog_routes_calls_and_announces_changes() {
        let (fleet, server) = demo_fleet().await;
        let gateway = Gateway::new(fleet.clone(), GatewayOptions::default());
        let front = serve_http(&gateway, HttpOptions::default()).await.unwrap();
        let c = Connection::connect(&client(&front.url, vec![]), options()).await.unwrap();
        let info = c.server_info();
        assert!(info.instructions.as_deref().unwrap_or_default().contains("`d_…` from `demo`: the built-in server"), "{info:?}");
        let names: Vec<String> = c.list_tools(None, None).await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert!(names.contains(&"d_add".into()) && !names.iter().any(|n| n.starts_with("mcpserver_")), "{names:?}");
        let r = c.call_tool("d_add", serde_json::json!({"a": 2, "b": 40}).as_object().cloned(), RequestOptions::default()).await.unwrap();
        assert_eq!(r.structured_content, Some(serde_json::json!({"result": 42})));
        let r = c.call_tool("d_fail", serde_json::json!({"message": "on purpose"}).as_object().cloned(), RequestOptions::default()).await.unwrap();
        assert_eq!(r.is_error, Some(true));
        let err = c.call_tool("d_ad", None, RequestOptions::default()).await.unwrap_err();
        assert!(matches!(&err, Error::Server { code: -32602, message, .. } if message.contains("did you mean `d_add`")), "{err:?}");
        assert_eq!(c.list_prompts(None, None).await.unwrap()[0].name, "d_greet");
        assert_eq!(c.list_resources(None, None).await.unwrap()[0].uri, crate::demo_server::GREETING_URI);
        let read = c.read_resource(crate::demo_server::GREETING_URI, None).await.unwrap();
        assert_eq!(read.contents.len(), 1);

        // A server going down is announced, and its tools' calls say why.
        let mut changed = c.tools_changed();
        changed.borrow_and_update();
        fleet.stop("demo").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), changed.changed()).await.expect("tools/list_changed").unwrap();
        assert!(c.list_tools(None, None).await.unwrap().is_empty());
        let r = c.call_tool("d_add", None, RequestOptions::default()).await.unwrap();
        assert!(r.is_error == Some(true) && format!("{:?}", r.content).contains("server `demo` is Disconnected"), "{r:?}");
        fleet.start("demo").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), changed.changed()).await.expect("tools/list_changed").unwrap();
        assert_eq!(gateway.session_count(), 1);
        c.close().await;
        front.close().await;
        fleet.close().await;
        server.abort();
    }

    /// A session over raw HTTP: its id.
    async fn raw_session(http: &reqwest::Client, url: &str) -> String {
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
        let r = raw_post(http, url, None, init).await;
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        assert_eq!(raw_post(http, url, Some(&id), r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await.status(), 202);
        id
    }

    async fn raw_post(http: &reqwest::Client, url: &str, session: Option<&str>, body: &'static str) -> reqwest::Response {
        let mut request = http.post(url).header("Content-Type", "application/json").header("Accept", "application/json, text/event-stream").body(body);
        if let Some(id) = session {
            request = request.header("Mcp-Session-Id", id).header("MCP-Protocol-Version", "2025-11-25");
        }
        request.send().await.unwrap()
    }

    const RAW_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"d_echo","arguments":{"text":"hi"}}}"#;

    #[tokio::test]
    async fn idle_sessions_end_but_not_under_an_open_stream_or_calls() {
        let (fleet, server) = demo_fleet().await;
        let gateway = Gateway::new(fleet.clone(), GatewayOptions::default());
        let idle = Duration::from_millis(400);
        let front = serve_http(&gateway, HttpOptions { session_idle: idle, ..HttpOptions::default() }).await.unwrap();
        let http = reqwest::Client::new();
        let (quiet, streaming, busy) = (raw_session(&http, &front.url).await, raw_session(&http, &front.url).await, raw_session(&http, &front.url).await);
        let stream = http.get(&front.url).header("Accept", "text/event-stream").header("Mcp-Session-Id", &streaming).header("MCP-Protocol-Version", "2025-11-25").send().await.unwrap();
        assert_eq!(stream.status(), 200);
        // Calls answered by the gateway itself count as use.
        for _ in 0..12 {
            let r = raw_post(&http, &front.url, Some(&busy), RAW_CALL).await;
            assert_eq!(r.headers()["content-type"], "application/json");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(raw_post(&http, &front.url, Some(&quiet), RAW_CALL).await.status(), 404, "the quiet session outlived its idle time");
        assert_eq!(raw_post(&http, &front.url, Some(&busy), RAW_CALL).await.status(), 200);
        assert_eq!(raw_post(&http, &front.url, Some(&streaming), RAW_CALL).await.status(), 200, "a session with an open stream was ended");
        drop(stream);
        tokio::time::sleep(idle * 3).await;
        assert_eq!(raw_post(&http, &front.url, Some(&streaming), RAW_CALL).await.status(), 404, "the stream closed long ago");
        front.close().await;
        fleet.close().await;
        server.abort();
    }

    #[tokio::test]
    async fn the_front_checks_token_origin_path_and_address() {
        let (fleet, server) = demo_fleet().await;
        let gateway = Gateway::new(fleet.clone(), GatewayOptions { management_tools: true, ..GatewayOptions::default() });
        let token = "gw-token-0123456789";
        let front = serve_http(&gateway, HttpOptions { auth_token: Some(token.into()), ..HttpOptions::default() }).await.unwrap();
        let err = Connection::connect(&client(&front.url, vec![]), options()).await.err().unwrap();
        assert!(matches!(err, Error::AuthRequired { status: 401, .. }), "{err:?}");
        let err = Connection::connect(&client(&front.url, vec![("Authorization".into(), "Bearer wrong".into())]), options()).await.err().unwrap();
        assert!(matches!(&err, Error::AuthRequired { www_authenticate, .. } if www_authenticate.contains("invalid_token")), "{err:?}");
        let c = Connection::connect(&client(&front.url, vec![("Authorization".into(), format!("Bearer {token}"))]), options()).await.unwrap();
        let names: Vec<String> = c.list_tools(None, None).await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert!(names.contains(&"mcpserver_list".into()), "{names:?}");
        c.close().await;

        let http = reqwest::Client::new();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let post = |url: String| http.post(url).header("Authorization", format!("Bearer {token}")).header("Content-Type", "application/json").header("Accept", "application/json, text/event-stream").body(body);
        let foreign = post(front.url.clone()).header("Origin", "https://evil.example").send().await.unwrap();
        assert_eq!(foreign.status(), 403);
        let elsewhere = post(front.url.replace("/mcp", "/other")).send().await.unwrap();
        assert_eq!(elsewhere.status(), 404);
        front.close().await;

        let open = serve_http(&gateway, HttpOptions { host: "0.0.0.0".into(), ..HttpOptions::default() }).await;
        assert!(matches!(open, Err(super::http::ServeError::Unauthenticated(_))), "{:?}", open.err());
        fleet.close().await;
        server.abort();
    }
}
