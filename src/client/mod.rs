//! One MCP client over any transport: connect (initialize), list, call, read, ping, close.

pub mod callbacks;
mod answer_tasks;
mod handler;
mod mrtr;
pub mod output;
pub mod tasks;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest, GetPromptRequestParams, GetPromptResult, JsonObject, MetaObject,
    PaginatedRequestParams, PingRequest, Prompt, ProtocolVersion, ReadResourceRequestParams, ReadResourceResult, RequestMetaObject, Resource, ResourceTemplate,
    ServerPeerInfo, ServerResult, Tool,
};
// Logging is deprecated by SEP-2577 (2026-07-28); servers of the 2025 era still use it.
#[allow(deprecated)]
use rmcp::model::{LoggingLevel, SetLevelRequestParams};
use rmcp::service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt, Peer, PeerRequestOptions, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::InsufficientScopeError;
use rmcp::RoleClient;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::auth::find_token_error;
use crate::error::{Error, Result};
use crate::transport::decode::{PROTOCOL_ERROR_MARKER, unreadable_reason};
use crate::transport::direct_post::{self, CallMessage, CallParams, DirectFailure, DirectPost, Pending};
use crate::transport::stdio_direct::{InFlight, StdioDirect};
use crate::transport::http::{parse_http_url, redact_url};
use crate::transport::sse::{SseTransport, SseTransportError, error_chain};
use crate::transport::stdio::{self, ChildProcess, StderrBuffer};
use crate::transport::{Declaring, TransportConfig, streamable_http};
pub use callbacks::{ClientCallbacks, ProgressSink};
pub use handler::{Handler, log_to_tracing};

/// A failed connection attempt, and whether the `server/discover` probe may be to blame.
enum Attempt {
    Settled(Error),
    ProbeFailed(Error),
}

impl Attempt {
    fn into_error(self) -> Error {
        match self {
            Attempt::Settled(e) | Attempt::ProbeFailed(e) => e,
        }
    }
}

impl From<Error> for Attempt {
    fn from(error: Error) -> Self {
        Attempt::Settled(error)
    }
}

#[derive(Clone, Copy)]
enum Probe {
    Failed,
    Settled,
}

impl Probe {
    fn attempt(self, error: Error) -> Attempt {
        match self {
            Probe::Failed => Attempt::ProbeFailed(error),
            Probe::Settled => Attempt::Settled(error),
        }
    }
}

/// How long a stdio server may take to start and answer `initialize`, unless told otherwise.
pub const DEFAULT_STDIO_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a list may run before we call the server's pagination broken.
const MAX_PAGES: usize = 10_000;
/// Most items a list may hold (tools, prompts, resources) before we call the server broken.
const MAX_LIST_ITEMS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Name for log records and messages.
    pub name: String,
    /// Limit for starting/connecting and the `initialize` handshake.
    pub init_timeout: Duration,
    /// Default limit for each request; calls may pass their own.
    pub request_timeout: Duration,
    /// What the client answers to the server's own requests; declared as its capabilities.
    pub callbacks: ClientCallbacks,
    /// Which protocol version to speak, or how to find one.
    pub protocol: Protocol,
}

/// How a client settles the protocol version with its server.
///
/// `Auto` prefers a session where the server offers one: in 2026-07-28 (stateless) mode
/// a server cannot ask the client anything mid-call (every SDK server's `ctx.elicit`,
/// sampling and roots fail there), and it announces list changes only on
/// `subscriptions/listen`. `Latest` is what the official SDK calls "auto".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Protocol {
    /// The `initialize` handshake (2025-11-25, or the older version the server answers with);
    /// a server that refuses it (a 2026-07-28-only server) is reached by `server/discover`.
    #[default]
    Auto,
    /// `server/discover` for 2026-07-28 first, `initialize` for a server that does not know it.
    Latest,
    /// Exactly this version: `initialize` up to 2025-11-25, `server/discover` from 2026-07-28.
    Pinned(ProtocolVersion),
}

impl Protocol {
    /// "auto", "latest" or one of the versions this client speaks.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "auto" => return Ok(Protocol::Auto),
            "latest" => return Ok(Protocol::Latest),
            _ => {}
        }
        match ProtocolVersion::KNOWN_VERSIONS.iter().find(|v| v.as_str() == text) {
            Some(version) => Ok(Protocol::Pinned(version.clone())),
            None => Err(Error::Config(format!(
                "unknown protocol {text:?}: expected \"auto\", \"latest\" or one of {}",
                ProtocolVersion::KNOWN_VERSIONS.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The version the `initialize` handshake proposes.
    fn handshake_version(&self) -> ProtocolVersion {
        match self {
            Protocol::Pinned(version) if version.has_initialize() => version.clone(),
            _ => ProtocolVersion::LATEST_WITH_INITIALIZE,
        }
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            name: "server".into(),
            init_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            callbacks: ClientCallbacks::default(),
            protocol: Protocol::default(),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::Auto => f.write_str("auto"),
            Protocol::Latest => f.write_str("latest"),
            Protocol::Pinned(version) => f.write_str(version.as_str()),
        }
    }
}

fn discover(version: ProtocolVersion) -> ClientLifecycleMode {
    ClientLifecycleMode::Discover { preferred_versions: vec![version] }
}

/// What a tool call gives back: the decoded result, or its JSON as the server sent it.
pub trait ToolReply: DeserializeOwned + Send {
    /// The same from a result rmcp decoded.
    fn from_result(result: CallToolResult) -> std::result::Result<Self, serde_json::Error>;

    /// Why it does not match the tool's `outputSchema` (only decoded results are checked: the
    /// server's JSON goes on to a client that checks it itself).
    fn check(&self, _tool: &str, _schemas: &output::OutputSchemas) -> std::result::Result<(), String> {
        Ok(())
    }

    /// A failure that says the tool runs only as a task ([`tasks`]).
    fn asks_for_a_task(&self) -> bool;

    /// The tool reported an error (`isError: true`).
    fn is_error(&self) -> bool;
}

/// `isError` of a result kept as the server's JSON (read without building the rest).
pub(crate) fn raw_is_error(raw: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Flag {
        #[serde(rename = "isError", default)]
        is_error: Option<bool>,
    }
    raw.contains("\"isError\"") && serde_json::from_str::<Flag>(raw).is_ok_and(|f| f.is_error == Some(true))
}

impl ToolReply for CallToolResult {
    fn from_result(result: CallToolResult) -> std::result::Result<Self, serde_json::Error> {
        Ok(result)
    }

    fn check(&self, tool: &str, schemas: &output::OutputSchemas) -> std::result::Result<(), String> {
        schemas.check(tool, self)
    }

    fn asks_for_a_task(&self) -> bool {
        tasks::asks_for_a_task(self)
    }

    fn is_error(&self) -> bool {
        self.is_error == Some(true)
    }
}

impl ToolReply for Box<RawValue> {
    fn from_result(result: CallToolResult) -> std::result::Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(&result)
    }

    fn asks_for_a_task(&self) -> bool {
        tasks::raw_asks_for_a_task(self.get())
    }

    fn is_error(&self) -> bool {
        raw_is_error(self.get())
    }
}

/// What a caller may add to one request.
#[derive(Clone, Default)]
pub struct RequestOptions {
    /// Limit for this request; the connection's `request_timeout` when `None`.
    pub timeout: Option<Duration>,
    /// The request's `_meta` (trace context, a caller's own keys), sent as given.
    pub meta: Option<JsonObject>,
    /// Where the server's `notifications/progress` for this request go.
    pub progress: Option<ProgressSink>,
}

impl std::fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("meta", &self.meta.as_ref().map(|m| m.keys().collect::<Vec<_>>()))
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl RequestOptions {
    pub fn timeout(timeout: Option<Duration>) -> Self {
        Self { timeout, ..Default::default() }
    }
}

/// An initialized connection to one MCP server.
/// How a 2026-07-28 call ended: a result, or a task the server made of it.
pub(crate) enum Settled {
    Done(CallToolResult),
    Task(rmcp::model::Task),
}

pub struct Connection {
    peer: Peer<RoleClient>,
    /// Streamable HTTP: calls around rmcp's client worker.
    direct: Option<Arc<DirectPost>>,
    handler: Handler,
    service: Mutex<Option<RunningService<RoleClient, Handler>>>,
    process: Option<Arc<ChildProcess>>,
    info: Arc<ServerPeerInfo>,
    options: ClientOptions,
    kind: &'static str,
    /// The server's URL (redacted) for remote servers, for errors that must name it.
    url: Option<String>,
    closed: AtomicBool,
    runtime: tokio::runtime::Handle,
    output_schemas: output::OutputSchemas,
    tools_changed: Arc<tokio::sync::watch::Sender<u64>>,
    others_changed: Arc<tokio::sync::watch::Sender<u64>>,
    resource_updated: tokio::sync::broadcast::Sender<String>,
    /// Tools that run only as tasks (learned from their first call).
    task_tools: tasks::TaskTools,
    /// On 2026-07-28, where a server announces list changes only on `subscriptions/listen`.
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Each tool's `execution`, as last listed.
    executions: Mutex<Arc<std::collections::HashMap<String, JsonObject>>>,
}

impl Connection {
    /// Starts or reaches the server and performs the `initialize` handshake. Must run inside
    /// a tokio runtime. A server that answers 401 to a client whose OAuth can involve the user
    /// right here (a browser, a headless callback) is logged in to, then connected to again.
    pub async fn connect(config: &TransportConfig, options: ClientOptions) -> Result<Self> {
        let first = Self::connect_negotiating(config, options.clone()).await;
        let (TransportConfig::StreamableHttp { options: http, .. } | TransportConfig::Sse { options: http, .. }) = config else {
            return first;
        };
        match (&first, http.tokens.as_ref().and_then(|t| t.oauth.as_ref())) {
            (Err(Error::AuthRequired { status: 401, .. }), Some(oauth)) => match oauth.inline_authorizer() {
                Some(authorizer) => {
                    tracing::info!(server = %options.name, "authorization required: logging in");
                    oauth.login(authorizer.as_ref()).await?;
                    Self::connect_negotiating(config, options).await
                }
                None => first,
            },
            _ => first,
        }
    }

    /// Connects as [`ClientOptions::protocol`] says. A fallback is a new connection (a stdio
    /// server is started again): the first one's transport is spent.
    async fn connect_negotiating(config: &TransportConfig, options: ClientOptions) -> Result<Self> {
        let name = options.name.clone();
        match options.protocol.clone() {
            Protocol::Auto => match Self::connect_once(config, options.clone(), ClientLifecycleMode::Initialize).await {
                // A JSON-RPC error to `initialize` (not a closed connection, not a timeout).
                Err(Attempt::Settled(Error::Server { code, message, .. })) => {
                    tracing::debug!(server = %name, "initialize refused ({code}: {message}); connecting with server/discover");
                    Self::connect_once(config, options, discover(ProtocolVersion::LATEST)).await.map_err(Attempt::into_error)
                }
                other => other.map_err(Attempt::into_error),
            },
            Protocol::Latest => {
                let lifecycle = ClientLifecycleMode::Auto {
                    preferred_versions: vec![ProtocolVersion::LATEST],
                    legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
                };
                match Self::connect_once(config, options.clone(), lifecycle).await {
                    // The probe failed in a way rmcp does not take for "legacy": the server closed
                    // the connection, answered something else, or HTTP 400.
                    Err(Attempt::ProbeFailed(error)) => {
                        tracing::debug!(server = %name, "server/discover failed ({error}); connecting with initialize");
                        Self::connect_once(config, options, ClientLifecycleMode::Initialize).await.map_err(Attempt::into_error)
                    }
                    other => other.map_err(Attempt::into_error),
                }
            }
            Protocol::Pinned(version) if version.has_initialize() => {
                Self::connect_once(config, options, ClientLifecycleMode::Initialize).await.map_err(Attempt::into_error)
            }
            Protocol::Pinned(version) => Self::connect_once(config, options, discover(version)).await.map_err(Attempt::into_error),
        }
    }

    async fn connect_once(config: &TransportConfig, options: ClientOptions, lifecycle: ClientLifecycleMode) -> std::result::Result<Self, Attempt> {
        let discovering = matches!(lifecycle, ClientLifecycleMode::Discover { .. });
        Self::connect_with(config, options, lifecycle).await.map_err(|attempt| match attempt {
            Attempt::Settled(Error::Server { code, message, data, .. }) if discovering => Attempt::Settled(Error::Server {
                operation: "server/discover (the server may not speak 2026-07-28: protocol=\"auto\" falls back to initialize)".into(),
                code,
                message,
                data,
            }),
            other => other,
        })
    }

    async fn connect_with(config: &TransportConfig, options: ClientOptions, lifecycle: ClientLifecycleMode) -> std::result::Result<Self, Attempt> {
        let probing = matches!(lifecycle, ClientLifecycleMode::Auto { .. });
        let failed = |e: &ClientInitializeError| if probing && e.auth_challenge().is_none() && !matches!(e, ClientInitializeError::Cancelled) { Probe::Failed } else { Probe::Settled };
        config.register_secrets();
        // The tasks extension exists only in 2026-07-28, where each request carries the
        // capabilities; a session's `initialize` does not name it.
        let modern = !matches!(lifecycle, ClientLifecycleMode::Initialize);
        let handler = Handler::new(options.name.as_str().into(), options.callbacks.clone(), options.protocol.handshake_version(), modern);
        // 2025-11-25 sessions: the handlers' answers can run as tasks (a capability rmcp has no field for).
        let extra_capabilities = (!modern && options.protocol.handshake_version() == ProtocolVersion::V_2025_11_25)
            .then(|| answer_tasks::capability(&options.callbacks))
            .flatten()
            .map(Arc::new);
        let mut direct = None;
        let tools_changed = handler.tools_changed.clone();
        let others_changed = handler.others_changed.clone();
        let resource_updated = handler.resource_updated.clone();
        let init_timeout = options.init_timeout;
        let (service, process) = match config {
            TransportConfig::Stdio(params) => {
                let (child, transport) = stdio::spawn(params)?;
                let child = Arc::new(child);
                let outcome = tokio::select! {
                    r = tokio::time::timeout(init_timeout, handler.clone().serve_with_lifecycle(Declaring { inner: transport, extra: extra_capabilities }, lifecycle)) => match r {
                        Ok(Ok(service)) => Ok(service),
                        Ok(Err(e)) => {
                            let probe = failed(&e);
                            Err(probe.attempt(init_error_stdio(e, &child).await))
                        }
                        Err(_) => Err(Attempt::Settled(Error::Timeout {
                            operation: format!("initialize of stdio server `{}`", params.command),
                            timeout: init_timeout,
                            detail: Some(child.stdout_noise().describe().unwrap_or_else(|| "the server did not answer".into())),
                        })),
                    },
                    exit = child.exited() => Err(Attempt::Settled(child.exited_error(exit).await)),
                };
                match outcome {
                    Ok(service) => (service, Some(child)),
                    Err(e) => {
                        child.shutdown(Duration::from_millis(500)).await;
                        return Err(e);
                    }
                }
            }
            TransportConfig::StreamableHttp { url, options: http } => {
                let parsed = parse_http_url(url).map_err(Attempt::Settled)?;
                let (transport, direct_post) = streamable_http::transport(&parsed, http, extra_capabilities).map_err(Attempt::Settled)?;
                direct = Some(Arc::new(direct_post));
                let service = tokio::time::timeout(init_timeout, handler.clone().serve_with_lifecycle(transport, lifecycle))
                    .await
                    .map_err(|_| Attempt::Settled(init_timeout_error(&redact_url(url), init_timeout)))?
                    .map_err(|e| failed(&e).attempt(init_error_remote(e, &redact_url(url))))?;
                (service, None)
            }
            TransportConfig::Sse { url, options: http } => {
                let parsed = parse_http_url(url).map_err(Attempt::Settled)?;
                let transport = SseTransport::connect(&parsed, http, init_timeout).await.map_err(Attempt::Settled)?;
                let transport = Declaring { inner: transport, extra: extra_capabilities };
                let service = tokio::time::timeout(init_timeout, handler.clone().serve_with_lifecycle(transport, lifecycle))
                    .await
                    .map_err(|_| Attempt::Settled(init_timeout_error(&redact_url(url), init_timeout)))?
                    .map_err(|e| failed(&e).attempt(init_error_remote(e, &redact_url(url))))?;
                (service, None)
            }
        };
        let peer = service.peer().clone();
        // The cache answers list calls with stale pages (even after errors); a manager must not.
        peer.set_response_cache_config(rmcp::service::ClientCacheConfig::disabled()).await;
        let info = peer.peer_info().ok_or_else(|| Attempt::Settled(Error::Protocol("server sent no initialize result".into())))?;
        tracing::debug!(server = %options.name, version = %info.protocol_version, "initialized");
        let connection = Self {
            peer,
            direct,
            handler,
            service: Mutex::new(Some(service)),
            process,
            info,
            options,
            kind: config.kind(),
            url: match config {
                TransportConfig::StreamableHttp { url, .. } | TransportConfig::Sse { url, .. } => Some(redact_url(url)),
                TransportConfig::Stdio(_) => None,
            },
            closed: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
            output_schemas: output::OutputSchemas::default(),
            tools_changed,
            others_changed,
            resource_updated,
            task_tools: tasks::TaskTools::default(),
            listener: Mutex::new(None),
            executions: Mutex::default(),
        };
        connection.listen_for_changes();
        Ok(connection)
    }

    /// The server's `initialize` result: name, version, protocol version, capabilities, instructions.
    pub fn server_info(&self) -> &ServerPeerInfo {
        &self.info
    }

    /// What this client told the server it can answer (elicitation, sampling, roots).
    pub fn declared_capabilities(&self) -> rmcp::model::ClientCapabilities {
        self.handler.callbacks.capabilities()
    }

    /// The server's `initialize` answer, shared.
    pub fn server_info_shared(&self) -> Arc<ServerPeerInfo> {
        self.info.clone()
    }

    pub fn transport_kind(&self) -> &'static str {
        self.kind
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The stdio server's pid.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid())
    }

    /// The stdio server's recent stderr.
    pub fn stderr(&self) -> Option<&Arc<StderrBuffer>> {
        self.process.as_ref().map(|p| p.stderr())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Changes with every `notifications/tools/list_changed` from the server.
    pub fn tools_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tools_changed.subscribe()
    }

    /// Changes with every `notifications/prompts/list_changed` or `resources/list_changed`.
    pub fn others_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.others_changed.subscribe()
    }

    /// URIs the server reports as updated (`notifications/resources/updated`).
    pub fn resource_updates(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.resource_updated.subscribe()
    }

    /// Whether a stdio server has exited or its stdout broke (remote servers: never).
    pub fn has_ended(&self) -> bool {
        self.process.as_ref().is_some_and(|p| p.exit_info().is_some() || p.broken().is_some())
    }

    /// Resolves as soon as a stdio server exits or its stdout breaks (before its last stderr
    /// lines are collected); never for remote servers.
    pub async fn ended(&self) {
        match &self.process {
            Some(process) => tokio::select! {
                _ = process.exited() => {}
                _ = process.broke() => {}
            },
            None => std::future::pending().await,
        }
    }

    /// Resolves when a stdio server exits, with the error that describes it (status, stderr);
    /// never for remote servers (ping tells whether they are alive).
    pub async fn exited(&self) -> Error {
        match &self.process {
            Some(process) => tokio::select! {
                exit = process.exited() => process.exited_error(exit).await,
                reason = process.broke() => Error::Protocol(format!("stdio server `{}`: {reason}", self.options.name)),
            },
            None => std::future::pending().await,
        }
    }

    /// The lists of a feature the server did not declare are empty, without asking it (such a
    /// server answers "method not found").
    pub async fn list_tools(&self, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<Vec<Tool>> {
        if self.info.capabilities.tools.is_none() {
            return Ok(Vec::new());
        }
        if self.info.protocol_version == ProtocolVersion::V_2025_11_25 {
            if let Some(raw) = self.raw_path() {
                return tokio::select! {
                    biased;
                    listed = Box::pin(self.list_tools_raw(raw, timeout, meta)) => listed,
                    _ = self.ended() => Err(Box::pin(self.exited()).await),
                };
            }
        }
        let tools = self.list_all("tools/list", timeout, meta, |p| async move { self.peer.list_tools(p).await.map(|r| (r.tools, r.next_cursor)) }).await?;
        self.output_schemas.learn(&tools);
        Ok(tools)
    }

    /// `tools/list` around rmcp, whose `Tool` drops `execution` (2025-11-25): what each tool
    /// says about tasks is kept, and a tool that runs only as a task is called as one at once.
    async fn list_tools_raw(&self, raw: RawSender, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<Vec<Tool>> {
        let page = |params: Option<PaginatedRequestParams>| {
            let raw = &raw;
            async move {
                let mut params = params.unwrap_or_default();
                params.meta = request_meta(meta);
                let page: tasks::ToolsPage = raw.request(&self.peer, "tools/list", None, params, timeout).await?;
                Ok((page.tools, page.next_cursor))
            }
        };
        let listed = paginate("tools/list", page).await?;
        let mut executions = std::collections::HashMap::new();
        let tools: Vec<Tool> = listed
            .into_iter()
            .map(|listed| {
                if let Some(execution) = listed.execution {
                    if execution.get("taskSupport").and_then(serde_json::Value::as_str) == Some("required") {
                        self.task_tools.insert(&listed.tool.name);
                    }
                    executions.insert(listed.tool.name.to_string(), execution);
                }
                listed.tool
            })
            .collect();
        *self.executions.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(executions);
        self.output_schemas.learn(&tools);
        Ok(tools)
    }

    /// What the tool said about tasks when last listed (`execution`, 2025-11-25), if anything.
    pub fn tool_execution(&self, name: &str) -> Option<JsonObject> {
        self.executions.lock().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    pub async fn list_resources(&self, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<Vec<Resource>> {
        if self.info.capabilities.resources.is_none() {
            return Ok(Vec::new());
        }
        self.list_all("resources/list", timeout, meta, |p| async move {
            self.peer.list_resources(p).await.map(|r| (r.resources, r.next_cursor))
        })
        .await
    }

    /// `logging/setLevel`: the server sends log messages at `level` ("debug" … "emergency") and
    /// above. Asked even when the server did not declare `logging`: many log all the same.
    #[allow(deprecated)]
    pub async fn set_logging_level(&self, level: &str, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<()> {
        let level: LoggingLevel = serde_json::from_value(serde_json::Value::from(level.to_ascii_lowercase())).map_err(|_| {
            Error::Config(format!("unknown logging level {level:?}: expected debug, info, notice, warning, error, critical, alert or emergency"))
        })?;
        let mut params = SetLevelRequestParams::new(level);
        params.meta = request_meta(meta);
        #[allow(deprecated)]
        let fut = self.peer.set_level(params);
        self.request("logging/setLevel", None, timeout, move || fut).await
    }

    /// `resources/subscribe`: the server then sends `notifications/resources/updated` for `uri`.
    pub async fn subscribe(&self, uri: &str, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<()> {
        let mut params = rmcp::model::SubscribeRequestParams::new(uri);
        params.meta = request_meta(meta);
        #[allow(deprecated)]
        let fut = self.peer.subscribe(params);
        self.request("resources/subscribe", Some(uri), timeout, move || fut).await
    }

    /// `completion/complete`: values for a prompt's or resource template's argument. A server
    /// without the `completions` capability offers none (it is not asked).
    pub async fn complete(&self, params: rmcp::model::CompleteRequestParams, timeout: Option<Duration>) -> Result<rmcp::model::CompletionInfo> {
        if self.info.capabilities.completions.is_none() {
            return Ok(rmcp::model::CompletionInfo::default());
        }
        let target = params.argument.name.clone();
        let result = self.request("completion/complete", Some(&target), timeout, || self.peer.complete(params)).await?;
        Ok(result.completion)
    }

    pub async fn unsubscribe(&self, uri: &str, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<()> {
        let mut params = rmcp::model::UnsubscribeRequestParams::new(uri);
        params.meta = request_meta(meta);
        #[allow(deprecated)]
        let fut = self.peer.unsubscribe(params);
        self.request("resources/unsubscribe", Some(uri), timeout, move || fut).await
    }

    pub async fn list_resource_templates(&self, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<Vec<ResourceTemplate>> {
        if self.info.capabilities.resources.is_none() {
            return Ok(Vec::new());
        }
        self.list_all("resources/templates/list", timeout, meta, |p| async move {
            self.peer.list_resource_templates(p).await.map(|r| (r.resource_templates, r.next_cursor))
        })
        .await
    }

    pub async fn list_prompts(&self, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<Vec<Prompt>> {
        if self.info.capabilities.prompts.is_none() {
            return Ok(Vec::new());
        }
        self.list_all("prompts/list", timeout, meta, |p| async move { self.peer.list_prompts(p).await.map(|r| (r.prompts, r.next_cursor)) })
            .await
    }

    /// A tool that fails reports it in the result (`is_error`); only protocol and transport
    /// failures are errors here.
    pub async fn call_tool(&self, name: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<CallToolResult> {
        self.call_tool_as(name, arguments, options).await
    }

    /// [`Connection::call_tool`] with the result as `R`: with `Box<RawValue>`, the server's JSON
    /// for a gateway to pass on undecoded (encoded again where rmcp carried the call).
    pub async fn call_tool_as<R: ToolReply>(&self, name: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<R> {
        let RequestOptions { timeout, meta, progress } = options;
        if self.task_tools.contains(name) {
            return Box::pin(self.task_call(name, arguments.as_ref(), meta.as_ref(), timeout)).await;
        }
        if let Some(direct) = self.direct.as_ref().filter(|d| d.ready() && !self.is_closed()) {
            let limit = timeout.unwrap_or(self.options.request_timeout);
            let call = Box::pin(direct.call_tool(name, arguments.as_ref(), meta.as_ref(), progress.as_ref(), &self.handler, &self.peer));
            match tokio::time::timeout(limit, call).await {
                Ok(Some(Ok(result))) => return self.checked_or_task(name, result, arguments.as_ref(), meta.as_ref(), timeout).await,
                Ok(Some(Err(failure))) => return Err(self.direct_error(name, failure)),
                Ok(None) => {}
                Err(_) => return Err(Error::Timeout { operation: describe("tools/call", Some(name)), timeout: limit, detail: None }),
            }
        }
        if let Some(process) = self.process.as_ref().filter(|_| self.info.protocol_version.has_initialize()) {
            let result = self.call_stdio(process.direct(), name, arguments.as_ref(), meta.as_ref(), progress.as_ref(), timeout).await?;
            return self.checked_or_task(name, result, arguments.as_ref(), meta.as_ref(), timeout).await;
        }
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = arguments;
        params.meta = meta.map(|m| RequestMetaObject(MetaObject(m)));
        let result = if self.info.protocol_version.has_initialize() {
            // A session: the server asks for input with requests of its own, mid-call.
            // Boxed: stdio and HTTP calls go around rmcp, and its request's large state would
            // otherwise be part of theirs.
            match Box::pin(self.call_once(params, timeout, progress)).await? {
                CallToolResponse::Complete(result) => result,
                _ => return Err(Error::Protocol(format!("{}: unexpected response type", describe("tools/call", Some(name))))),
            }
        } else {
            match Box::pin(self.call_in_rounds(params, timeout, progress, true)).await? {
                Settled::Done(result) => result,
                Settled::Task(_) => return Err(Error::Protocol(format!("{}: a task was not followed", describe("tools/call", Some(name))))),
            }
        };
        let result = R::from_result(result).map_err(|e| Error::Protocol(format!("{}: {e}", describe("tools/call", Some(name)))))?;
        self.checked(name, result)
    }

    /// Without a session (2026-07-28), list changes come only on a `subscriptions/listen`
    /// stream: one is kept open (and opened again, with a pause that grows, when it ends) for
    /// the lists the server says can change, and its notifications count as they do in a session.
    fn listen_for_changes(&self) {
        use rmcp::model::SubscriptionFilter;
        if self.info.protocol_version.has_initialize() {
            return;
        }
        let capabilities = &self.info.capabilities;
        let mut filter = SubscriptionFilter::builder();
        let mut any = false;
        if capabilities.tools.as_ref().is_some_and(|t| t.list_changed == Some(true)) {
            filter = filter.tools_list_changed();
            any = true;
        }
        if capabilities.prompts.as_ref().is_some_and(|p| p.list_changed == Some(true)) {
            filter = filter.prompts_list_changed();
            any = true;
        }
        if capabilities.resources.as_ref().is_some_and(|r| r.list_changed == Some(true)) {
            filter = filter.resources_list_changed();
            any = true;
        }
        if !any {
            return;
        }
        let filter = filter.build();
        let (peer, handler, server) = (self.peer.clone(), self.handler.clone(), self.options.name.clone());
        let task = self.runtime.spawn(async move {
            let mut pause = Duration::from_millis(500);
            while !peer.is_transport_closed() {
                match peer.listen(filter.clone()).await {
                    Ok(mut subscription) => {
                        pause = Duration::from_millis(500);
                        while let Ok(Some(notification)) = subscription.next().await {
                            handler.notified(notification);
                        }
                    }
                    Err(e) => tracing::debug!(server = %server, "subscriptions/listen failed: {e}"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        });
        *self.listener.lock().unwrap() = Some(task);
    }

    /// The way around rmcp for this connection: a stdio server or a streamable-HTTP server,
    /// either in a session.
    pub(crate) fn raw_path(&self) -> Option<RawSender> {
        let route = match (&self.process, &self.direct) {
            (Some(process), _) if self.info.protocol_version.has_initialize() => RawRoute::Stdio(process.clone()),
            (_, Some(direct)) if direct.ready() => RawRoute::Http(direct.clone()),
            _ => return None,
        };
        Some(RawSender { route, handler: self.handler.clone(), server: self.options.name.clone(), timeout: self.options.request_timeout })
    }

    /// A request rmcp has no type for, its answer as `T`.
    pub(crate) async fn raw_request<P: serde::Serialize, T: DeserializeOwned>(&self, method: &str, target: Option<&str>, params: P, timeout: Option<Duration>) -> Result<T> {
        if self.is_closed() {
            return Err(Error::NotConnected(format!("client for `{}` is closed", self.options.name)));
        }
        let Some(sender) = self.raw_path() else {
            return Err(Error::Protocol(format!(
                "{}: `{}` is reached over a transport or protocol version mcpfleet sends such requests on only in a stdio or streamable-HTTP session",
                describe(method, target),
                self.options.name
            )));
        };
        sender.request(&self.peer, method, target, params, timeout).await
    }

    /// A result checked; or, if it says the tool runs only as a task, the call made again as one.
    async fn checked_or_task<R: ToolReply>(&self, name: &str, result: R, arguments: Option<&JsonObject>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<R> {
        if !result.asks_for_a_task() {
            return self.checked(name, result);
        }
        tracing::debug!(server = %self.options.name, tool = name, "the tool runs only as a task: calling it as one");
        self.task_tools.insert(name);
        Box::pin(self.task_call(name, arguments, meta, timeout)).await
    }

    async fn task_call<R: ToolReply>(&self, name: &str, arguments: Option<&JsonObject>, meta: Option<&JsonObject>, timeout: Option<Duration>) -> Result<R> {
        let result = self.call_as_task(name, arguments, meta, timeout).await?;
        let result = R::from_result(result).map_err(|e| Error::Protocol(format!("{}: {e}", describe("tools/call", Some(name)))))?;
        self.checked(name, result)
    }

    fn checked<R: ToolReply>(&self, tool: &str, result: R) -> Result<R> {
        match result.check(tool, &self.output_schemas) {
            Ok(()) => Ok(result),
            Err(why) => Err(Error::Protocol(format!("{}: {why}", describe("tools/call", Some(tool))))),
        }
    }

    /// A `tools/call` to a stdio server in a session, around rmcp's service loop (see
    /// [`StdioDirect`]): the reply comes back as the server wrote it and is decoded once, into `R`.
    async fn call_stdio<R: ToolReply>(
        &self,
        direct: &StdioDirect,
        name: &str,
        arguments: Option<&JsonObject>,
        meta: Option<&JsonObject>,
        progress: Option<&ProgressSink>,
        timeout: Option<Duration>,
    ) -> Result<R> {
        if self.is_closed() {
            return Err(Error::NotConnected(format!("client for `{}` is closed", self.options.name)));
        }
        let what = || describe("tools/call", Some(name));
        let (n, reply) = direct.expect();
        let mut in_flight = InFlight { direct, peer: &self.peer, n, answered: false };
        let id = format!("{}{n}", crate::transport::stdio_direct::ID_PREFIX);
        let (meta, _route) = self.handler.progress.token_for_request(&id, meta.map(std::borrow::Cow::Borrowed), progress);
        let message = CallMessage { jsonrpc: "2.0", id: &id, method: "tools/call", params: CallParams { name, arguments, meta: meta.as_deref() } };
        let mut line = serde_json::to_vec(&message).map_err(|e| Error::Protocol(format!("{}: the call could not be encoded: {e}", what())))?;
        line.push(b'\n');
        let limit = timeout.unwrap_or(self.options.request_timeout);
        let exchange = async {
            direct.send(line).await.map_err(|e| Error::Transport(format!("{}: {e}", what())))?;
            reply.await.map_err(|_| Error::Transport(format!("{}: the connection to `{}` closed", what(), self.options.name)))
        };
        let line = tokio::select! {
            biased;
            r = tokio::time::timeout(limit, exchange) => match r {
                Ok(Ok(line)) => line,
                Ok(Err(e)) => return Err(if self.has_ended() { Box::pin(self.exited()).await } else { e }),
                Err(_) => return Err(Error::Timeout { operation: what(), timeout: limit, detail: None }),
            },
            _ = self.ended() => return Err(Box::pin(self.exited()).await),
        };
        in_flight.answered = true;
        // Checked against the output schema by the caller (`checked_or_task`).
        decode_reply::<R>(&line).map_err(|failure| match failure {
            DirectFailure::Server(data) => server_error(what(), data),
            DirectFailure::Protocol(reason) | DirectFailure::Transport(reason) => Error::Protocol(format!("{}: {reason}", what())),
        })
    }

    /// One `tools/call` over rmcp.
    async fn call_once(&self, params: CallToolRequestParams, timeout: Option<Duration>, progress: Option<ProgressSink>) -> Result<CallToolResponse> {
        let name = params.name.clone();
        let Some(progress) = progress else {
            return self.request("tools/call", Some(&name), timeout, || self.peer.call_tool_once(params)).await;
        };
        let mut params = params;
        let meta = params.meta.take().map(|m| m.0.0);
        let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params));
        let options = RequestOptions { timeout, meta, progress: Some(progress) };
        Ok(match Box::pin(self.send_with_progress("tools/call", Some(&name), request, options)).await? {
            ServerResult::CallToolResult(result) => CallToolResponse::Complete(result),
            ServerResult::InputRequiredResult(result) => CallToolResponse::InputRequired(result),
            ServerResult::CreateTaskResult(result) => CallToolResponse::Task(result),
            ServerResult::EmptyResult(_) => CallToolResponse::Complete(CallToolResult::default()),
            _ => return Err(Error::Protocol(format!("{}: unexpected response type", describe("tools/call", Some(&name))))),
        })
    }

    /// A 2026-07-28 call: each `input_required` answer is answered by the handlers and the call
    /// sent again, all within the call's time limit. A call the server makes a task is followed
    /// to its end, or (`follow` false) handed back as the task.
    async fn call_in_rounds(&self, mut params: CallToolRequestParams, timeout: Option<Duration>, progress: Option<ProgressSink>, follow: bool) -> Result<Settled> {
        let name = params.name.clone();
        let limit = timeout.unwrap_or(self.options.request_timeout);
        let deadline = tokio::time::Instant::now() + limit;
        let timed_out = || Error::Timeout { operation: describe("tools/call", Some(&name)), timeout: limit, detail: None };
        let mut rounds = mrtr::Rounds::new();
        for _ in 0..mrtr::MAX_ROUNDS {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.call_once(params.clone(), Some(left), progress.clone()).await {
                Ok(CallToolResponse::Complete(result)) => return Ok(Settled::Done(result)),
                Ok(CallToolResponse::InputRequired(input)) => {
                    let answered = tokio::time::timeout_at(deadline, rounds.answer(&self.handler, &self.peer, input)).await.map_err(|_| timed_out())?;
                    let (responses, state) = answered.map_err(|e| Error::Protocol(format!("{}: {e}", describe("tools/call", Some(&name)))))?;
                    params.input_responses = responses;
                    params.request_state = state;
                }
                Ok(CallToolResponse::Task(created)) if follow => {
                    let label = describe("tools/call", Some(&name));
                    return Box::pin(self.follow_task(label, created.task, deadline, limit, true)).await.map(Settled::Done);
                }
                Ok(CallToolResponse::Task(created)) => return Ok(Settled::Task(created.task)),
                Ok(_) => return Err(Error::Protocol(format!("{}: unexpected response type", describe("tools/call", Some(&name))))),
                Err(Error::Timeout { .. }) => return Err(timed_out()),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Protocol(format!("{}: the server asked for input more than {} times", describe("tools/call", Some(&name)), mrtr::MAX_ROUNDS)))
    }

    /// Sends a request whose progress goes to `options.progress` (rmcp gives every request a
    /// progress token; this learns which one and routes it).
    async fn send_with_progress(
        &self,
        method: &'static str,
        target: Option<&str>,
        request: ClientRequest,
        options: RequestOptions,
    ) -> Result<ServerResult> {
        let RequestOptions { timeout, meta, progress } = options;
        let mut peer_options = PeerRequestOptions::no_options();
        if let Some(meta) = meta {
            peer_options = peer_options.with_meta(RequestMetaObject(MetaObject(meta)));
        }
        let exchange = async {
            let handle = self.peer.send_request_with_option(request, peer_options).await?;
            let _route = progress.map(|sink| self.handler.progress.route(handle.progress_token.clone(), sink));
            let mut pending = Pending { peer: &self.peer, id: Some(handle.id.clone()) };
            let result = handle.await_response().await;
            pending.id = None;
            result
        };
        self.request(method, target, timeout, move || exchange).await
    }

    pub async fn read_resource(&self, uri: &str, timeout: Option<Duration>) -> Result<ReadResourceResult> {
        self.read_resource_with(uri, RequestOptions { timeout, ..Default::default() }).await
    }

    /// [`Connection::read_resource`] with the request's `_meta` and a progress sink.
    pub async fn read_resource_with(&self, uri: &str, options: RequestOptions) -> Result<ReadResourceResult> {
        if options.meta.is_none() && options.progress.is_none() {
            return self.request("resources/read", Some(uri), options.timeout, || self.peer.read_resource(ReadResourceRequestParams::new(uri))).await;
        }
        let request = ClientRequest::ReadResourceRequest(rmcp::model::ReadResourceRequest::new(ReadResourceRequestParams::new(uri)));
        match Box::pin(self.send_with_progress("resources/read", Some(uri), request, options)).await? {
            ServerResult::ReadResourceResult(result) => Ok(result),
            _ => Err(Error::Protocol(format!("{}: unexpected response type", describe("resources/read", Some(uri))))),
        }
    }

    pub async fn get_prompt(&self, name: &str, arguments: Option<JsonObject>, timeout: Option<Duration>) -> Result<GetPromptResult> {
        self.get_prompt_with(name, arguments, RequestOptions { timeout, ..Default::default() }).await
    }

    /// [`Connection::get_prompt`] with the request's `_meta` and a progress sink.
    pub async fn get_prompt_with(&self, name: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<GetPromptResult> {
        let mut params = GetPromptRequestParams::new(name);
        if let Some(args) = arguments {
            params = params.with_arguments(args);
        }
        if options.meta.is_none() && options.progress.is_none() {
            return self.request("prompts/get", Some(name), options.timeout, || self.peer.get_prompt(params)).await;
        }
        let request = ClientRequest::GetPromptRequest(rmcp::model::GetPromptRequest::new(params));
        match Box::pin(self.send_with_progress("prompts/get", Some(name), request, options)).await? {
            ServerResult::GetPromptResult(result) => Ok(result),
            _ => Err(Error::Protocol(format!("{}: unexpected response type", describe("prompts/get", Some(name))))),
        }
    }

    /// `notifications/roots/list_changed`: the server asks for the roots again.
    #[allow(deprecated)]
    pub async fn notify_roots_changed(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::NotConnected(format!("client for `{}` is closed", self.options.name)));
        }
        self.peer
            .notify_roots_list_changed()
            .await
            .map_err(|e| Error::Transport(format!("notifications/roots/list_changed to `{}`: {e}", self.options.name)))
    }

    pub async fn ping(&self, timeout: Option<Duration>, meta: Option<&JsonObject>) -> Result<()> {
        let request = ClientRequest::PingRequest(PingRequest::default());
        if let Some(meta) = meta {
            let options = RequestOptions { timeout, meta: Some(meta.clone()), progress: None };
            return self.send_with_progress("ping", None, request, options).await.map(|_| ());
        }
        let request = self.peer.send_request(request);
        self.request("ping", None, timeout, move || request).await.map(|_| ())
    }

    /// Ends the session: the service stops (stdin closed / HTTP session deleted), then a stdio
    /// server's process group is ended (grace period, TERM, KILL). Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(listener) = self.listener.lock().unwrap().take() {
            listener.abort();
        }
        let service = self.service.lock().unwrap().take();
        if let Some(mut service) = service {
            let _ = service.close_with_timeout(Duration::from_secs(2)).await;
        }
        if let Some(process) = &self.process {
            process.shutdown(Duration::from_secs(2)).await;
        }
    }

    async fn list_all<T, F, Fut>(&self, method: &'static str, timeout: Option<Duration>, meta: Option<&JsonObject>, page: F) -> Result<Vec<T>>
    where
        F: Fn(Option<PaginatedRequestParams>) -> Fut,
        Fut: Future<Output = std::result::Result<(Vec<T>, Option<String>), ServiceError>>,
    {
        let with_meta = |params: Option<PaginatedRequestParams>| match meta {
            Some(_) => {
                let mut params = params.unwrap_or_default();
                params.meta = request_meta(meta);
                Some(params)
            }
            None => params,
        };
        paginate(method, |params| self.request(method, None, timeout, || page(with_meta(params)))).await
    }

    /// Runs one request with the timeout, failing at once if a stdio server exits meanwhile.
    ///
    /// Takes the request as a function that makes it: a future given as an argument would be
    /// kept twice in this one's state (as the argument and inside the timeout), and every
    /// request's future is moved whole into its task.
    async fn request<T, F>(
        &self,
        method: &'static str,
        target: Option<&str>,
        timeout: Option<Duration>,
        make: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, ServiceError>>,
    {
        if self.is_closed() {
            return Err(Error::NotConnected(format!("client for `{}` is closed", self.options.name)));
        }
        let limit = timeout.unwrap_or(self.options.request_timeout);
        let timed = tokio::time::timeout(limit, make());
        tokio::pin!(timed);
        // The failure paths are boxed, so their state is not part of every request's.
        tokio::select! {
            biased;
            r = &mut timed => match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(Box::pin(self.request_error(method, target, e)).await),
                Err(_) => Err(Error::Timeout { operation: describe(method, target), timeout: limit, detail: None }),
            },
            _ = self.ended() => Err(Box::pin(self.exited()).await),
        }
    }

    fn direct_error(&self, name: &str, failure: DirectFailure) -> Error {
        direct_failure(describe("tools/call", Some(name)), failure)
    }

    async fn request_error(&self, method: &'static str, target: Option<&str>, e: ServiceError) -> Error {
        match e {
            ServiceError::McpError(data) if data.data.as_ref().is_some_and(|d| d.get(PROTOCOL_ERROR_MARKER).is_some()) => {
                Error::Protocol(format!("{}: {}", describe(method, target), data.message))
            }
            ServiceError::McpError(data) => server_error(describe(method, target), data),
            ServiceError::TransportClosed => {
                if let Some(reason) = self.process.as_ref().and_then(|p| p.broken()) {
                    return Error::Protocol(format!("{}: stdio server `{}`: {reason}", describe(method, target), self.options.name));
                }
                if let Some(process) = &self.process {
                    if let Some(exit) = process.exit_within(Duration::from_secs(2)).await {
                        return process.exited_error(exit).await;
                    }
                }
                if self.is_closed() {
                    Error::NotConnected(format!("client for `{}` is closed", self.options.name))
                } else {
                    Error::Transport(format!("{}: the connection to `{}` closed", describe(method, target), self.options.name))
                }
            }
            ServiceError::Timeout { timeout } => Error::Timeout { operation: describe(method, target), timeout, detail: None },
            ServiceError::TransportSend(ref err) => {
                if let Some(token) = find_token_error(err.error.as_ref()) {
                    return Error::Token(token.clone());
                }
                if let Some(auth) = auth_error(&e, err.error.as_ref(), self.url.as_deref().unwrap_or(&self.options.name)) {
                    return auth;
                }
                Error::Transport(format!("{}: {}", describe(method, target), error_chain(err.error.as_ref())))
            }
            ServiceError::UnexpectedResponse => Error::Protocol(format!("{}: unexpected response type", describe(method, target))),
            other => Error::Protocol(format!("{}: {other}", describe(method, target))),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.lock().unwrap().take() {
            listener.abort();
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let service = self.service.lock().unwrap().take();
        let process = self.process.take();
        // Closing needs the runtime; if it is gone, the process group guard ends the group.
        self.runtime.spawn(async move {
            if let Some(mut service) = service {
                let _ = service.close_with_timeout(Duration::from_secs(1)).await;
            }
            if let Some(process) = process {
                process.shutdown(Duration::from_secs(2)).await;
            }
        });
    }
}

fn server_error(operation: String, data: rmcp::ErrorData) -> Error {
    let mut message = data.message.into_owned();
    // -32021, "missing required client capability": in a session the tasks extension (2026 only) cannot be declared.
    if data.code.0 == -32021 && message.contains(rmcp::model::TASKS_EXTENSION_ID) {
        message.push_str(" (mcpfleet declares the tasks extension with protocol 2026-07-28: connect with protocol=\"latest\" or \"2026-07-28\")");
    }
    Error::Server { operation, code: data.code.0, message, data: data.data }
}

/// A 401/403 anywhere in the error's source chain.
fn auth_error(service_error: &ServiceError, source: &(dyn std::error::Error + 'static), url: &str) -> Option<Error> {
    if let Some(header) = service_error.auth_challenge() {
        let status = if has_source::<InsufficientScopeError>(source) { 403 } else { 401 };
        return Some(Error::AuthRequired { url: url.to_string(), status, www_authenticate: header.to_string() });
    }
    sse_auth_error(source)
}

fn sse_auth_error(source: &(dyn std::error::Error + 'static)) -> Option<Error> {
    let mut current = Some(source);
    while let Some(e) = current {
        if let Some(SseTransportError::Status { url, status: status @ (401 | 403), www_authenticate }) = e.downcast_ref() {
            return Some(Error::AuthRequired { url: url.clone(), status: *status, www_authenticate: www_authenticate.clone() });
        }
        current = e.source();
    }
    None
}

fn has_source<E: std::error::Error + 'static>(source: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(source);
    while let Some(e) = current {
        if e.downcast_ref::<E>().is_some() {
            return true;
        }
        current = e.source();
    }
    false
}

/// A direct call's reply line: the result as `R`, or the server's error.
/// A caller's `meta=` as a request's `_meta`.
fn request_meta(meta: Option<&JsonObject>) -> Option<RequestMetaObject> {
    meta.map(|m| RequestMetaObject(MetaObject(m.clone())))
}

/// Every page of a list, within bounds: pages, items, and a cursor that comes round again.
async fn paginate<T, F, Fut>(method: &str, page: F) -> Result<Vec<T>>
where
    F: Fn(Option<PaginatedRequestParams>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let params = cursor.take().map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
        let (page_items, next) = page(params).await?;
        items.extend(page_items);
        if items.len() > MAX_LIST_ITEMS {
            return Err(Error::Protocol(format!("{method}: the server listed more than {MAX_LIST_ITEMS} items")));
        }
        match next {
            Some(next) if !seen.insert(next.clone()) => {
                return Err(Error::Protocol(format!("{method}: the server repeated the cursor {next:?}; pagination would never end")));
            }
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
    Err(Error::Protocol(format!("{method}: more than {MAX_PAGES} pages")))
}

fn decode_reply<R: DeserializeOwned>(line: &[u8]) -> std::result::Result<R, DirectFailure> {
    let unreadable = |e: serde_json::Error| DirectFailure::Protocol(format!("the server's reply could not be read: {}", unreadable_reason(line, &e)));
    let probe: direct_post::Probe<'_> = serde_json::from_slice(line).map_err(unreadable)?;
    if probe.jsonrpc != Some("2.0") {
        return Err(DirectFailure::Protocol("the server's reply is not JSON-RPC 2.0".into()));
    }
    match (probe.result, probe.error) {
        (Some(result), None) => serde_json::from_str::<R>(result.get()).map_err(unreadable),
        (None, Some(error)) => Err(DirectFailure::Server(error)),
        _ => Err(DirectFailure::Protocol("the server's reply has neither a result nor an error".into())),
    }
}

/// Where a request can go around rmcp, its reply kept as the server wrote it (what rmcp's
/// types cannot hold, such as 2025-11-25 tasks).
#[derive(Clone)]
pub(crate) enum RawRoute {
    Stdio(Arc<ChildProcess>),
    Http(Arc<DirectPost>),
}

#[derive(Clone)]
pub(crate) struct RawSender {
    route: RawRoute,
    handler: Handler,
    server: String,
    timeout: Duration,
}

impl RawSender {
    async fn request<P: serde::Serialize, T: DeserializeOwned>(&self, peer: &Peer<RoleClient>, method: &str, target: Option<&str>, params: P, limit: Option<Duration>) -> Result<T> {
        let what = || describe(method, target);
        let limit = limit.unwrap_or(self.timeout);
        let failed = |failure: DirectFailure| direct_failure(what(), failure);
        let timed_out = || Error::Timeout { operation: what(), timeout: limit, detail: None };
        match &self.route {
            RawRoute::Http(direct) => match tokio::time::timeout(limit, direct.request_with::<P, T>(method, params, &self.handler, peer)).await {
                Ok(Some(reply)) => reply.map_err(failed),
                Ok(None) => Err(Error::Protocol(format!("{}: the server did not take the request in its session", what()))),
                Err(_) => Err(timed_out()),
            },
            RawRoute::Stdio(process) => {
                let direct = process.direct();
                let (n, reply) = direct.expect();
                let mut in_flight = InFlight { direct, peer, n, answered: false };
                let id = format!("{}{n}", crate::transport::stdio_direct::ID_PREFIX);
                let mut line = serde_json::to_vec(&CallMessage { jsonrpc: "2.0", id: &id, method, params })
                    .map_err(|e| Error::Protocol(format!("{}: the request could not be encoded: {e}", what())))?;
                line.push(b'\n');
                let exchange = async {
                    direct.send(line).await.map_err(|e| Error::Transport(format!("{}: {e}", what())))?;
                    reply.await.map_err(|_| Error::Transport(format!("{}: the connection to `{}` closed", what(), self.server)))
                };
                let line = tokio::time::timeout(limit, exchange).await.map_err(|_| timed_out())??;
                in_flight.answered = true;
                decode_reply::<T>(&line).map_err(failed)
            }
        }
    }

    /// Cancels a task the caller gave up on (in the background, briefly).
    pub(crate) async fn cancel_task(self, peer: Peer<RoleClient>, task_id: String) {
        let params = tasks::TaskId { task_id: &task_id };
        let cancelled: Result<serde_json::Value> = self.request(&peer, "tasks/cancel", Some(&task_id), params, Some(Duration::from_secs(5))).await;
        if let Err(e) = cancelled {
            tracing::debug!(server = %self.server, "a task the caller gave up on could not be cancelled: {e}");
        }
    }
}

fn describe(method: &str, target: Option<&str>) -> String {
    match target {
        Some(t) => format!("{method} {t:?}"),
        None => method.to_string(),
    }
}

/// A request sent around rmcp that failed, as the error of `what`.
fn direct_failure(what: String, failure: DirectFailure) -> Error {
    match failure {
        DirectFailure::Server(data) => server_error(what, data),
        DirectFailure::Transport(reason) => Error::Transport(format!("{what}: {reason}")),
        DirectFailure::Protocol(reason) => Error::Protocol(format!("{what}: {reason}")),
    }
}

fn init_timeout_error(url: &str, timeout: Duration) -> Error {
    Error::Timeout { operation: format!("initialize of {url}"), timeout, detail: None }
}

async fn init_error_stdio(e: ClientInitializeError, child: &ChildProcess) -> Error {
    match e {
        ClientInitializeError::JsonRpcError(data) => server_error("initialize".into(), data),
        other => match child.exit_within(Duration::from_secs(2)).await {
            Some(exit) => child.exited_error(exit).await,
            None => Error::Protocol(format!("initialize failed: {other}")),
        },
    }
}

fn init_error_remote(e: ClientInitializeError, url: &str) -> Error {
    if let Some(header) = e.auth_challenge() {
        let status = match &e {
            ClientInitializeError::TransportError { error, .. } if has_source::<InsufficientScopeError>(error.error.as_ref()) => 403,
            _ => 401,
        };
        return Error::AuthRequired { url: url.to_string(), status, www_authenticate: header.to_string() };
    }
    match e {
        ClientInitializeError::JsonRpcError(data) => server_error("initialize".into(), data),
        ClientInitializeError::TransportError { error, .. } => {
            if let Some(token) = find_token_error(error.error.as_ref()) {
                return Error::Token(token.clone());
            }
            if let Some(auth) = sse_auth_error(error.error.as_ref()) {
                return auth;
            }
            Error::Start(format!("cannot connect to {url}: {}", error_chain(error.error.as_ref())))
        }
        ClientInitializeError::ConnectionClosed(what) => Error::Start(format!("{url} closed the connection during initialize ({what})")),
        other => Error::Protocol(format!("initialize of {url} failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{HttpOptions, StdioParams};

    fn options(init_ms: u64) -> ClientOptions {
        ClientOptions { name: "test".into(), init_timeout: Duration::from_millis(init_ms), request_timeout: Duration::from_secs(5), ..Default::default() }
    }

    fn sh(script: &str) -> TransportConfig {
        let mut p = StdioParams::new("sh");
        p.args = vec!["-c".into(), script.into()];
        p.shutdown_grace = Duration::from_millis(200);
        TransportConfig::Stdio(p)
    }

    #[tokio::test]
    async fn demo_server_over_streamable_http() {
        let (port, serve) = crate::demo_server::bind_http(0).await.unwrap();
        let server = tokio::spawn(serve);
        let config = TransportConfig::StreamableHttp { url: format!("http://127.0.0.1:{port}/mcp"), options: HttpOptions::default() };
        let c = Connection::connect(&config, options(5000)).await.unwrap();
        assert_eq!(c.server_info().server_info.as_ref().unwrap().name, "mcpfleet-demo");
        let names: Vec<_> = c.list_tools(None, None).await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert!(names.contains(&"add".to_string()) && names.contains(&"echo".to_string()), "{names:?}");
        let args = serde_json::json!({"a": 2, "b": 40}).as_object().cloned();
        let r = c.call_tool("add", args, RequestOptions::default()).await.unwrap();
        assert_eq!(r.structured_content, Some(serde_json::json!({"result": 42})));
        let r = c.call_tool("fail", None, RequestOptions::default()).await.unwrap();
        assert_eq!(r.is_error, Some(true));
        let err = c.call_tool("sleep", serde_json::json!({"seconds": 5}).as_object().cloned(), RequestOptions::timeout(Some(Duration::from_millis(200)))).await;
        assert!(matches!(err, Err(Error::Timeout { .. })), "{err:?}");
        let err = c.call_tool("nope", None, RequestOptions::default()).await.unwrap_err();
        assert!(matches!(err, Error::Server { .. }), "{err:?}");
        let text = c.read_resource(crate::demo_server::GREETING_URI, None).await.unwrap();
        assert_eq!(text.contents.len(), 1);
        c.ping(None, None).await.unwrap();
        c.close().await;
        assert!(matches!(c.ping(None, None).await, Err(Error::NotConnected(_))));
        server.abort();
    }

    /// A call's future is moved whole into its task (and allocated with it): it must not carry
    /// rmcp's request twice, nor the failure paths' state.
    #[tokio::test]
    async fn a_calls_future_stays_small() {
        let (port, serve) = crate::demo_server::bind_http(0).await.unwrap();
        let server = tokio::spawn(serve);
        let config = TransportConfig::StreamableHttp { url: format!("http://127.0.0.1:{port}/mcp"), options: HttpOptions::default() };
        let c = Connection::connect(&config, options(5000)).await.unwrap();
        let call = std::mem::size_of_val(&c.call_tool("add", None, RequestOptions::default()));
        assert!(call < 2048, "call_tool's future is {call} bytes");
        server.abort();
    }

    #[tokio::test]
    async fn connection_refused_is_a_start_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let config = TransportConfig::StreamableHttp { url: format!("http://127.0.0.1:{port}/mcp"), options: HttpOptions::default() };
        let err = Connection::connect(&config, options(5000)).await.err().unwrap();
        assert!(matches!(err, Error::Start(_)), "{err:?}");
        assert!(err.to_string().contains("onnection refused"), "{err}");
    }

    #[tokio::test]
    async fn silent_server_times_out_at_init() {
        let started = std::time::Instant::now();
        let err = Connection::connect(&sh("exec sleep 30"), options(300)).await.err().unwrap();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn garbage_on_stdout_is_named_in_the_timeout() {
        let err = Connection::connect(&sh("echo 'this is not json'; exec sleep 30"), options(500)).await.err().unwrap();
        let msg = err.to_string();
        assert!(msg.contains("this is not json") && msg.contains("non-JSON"), "{msg}");
    }

    #[tokio::test]
    async fn exit_during_init_reports_status_and_stderr() {
        let err = Connection::connect(&sh("echo 'fatal: no config' >&2; exit 3"), options(5000)).await.err().unwrap();
        match &err {
            Error::Exited { exit, stderr_tail } => {
                assert_eq!(exit.as_code(), 3);
                assert!(stderr_tail.contains("fatal: no config"), "{stderr_tail}");
            }
            other => panic!("expected Exited, got {other:?}"),
        }
    }

    async fn hostile() -> Connection {
        let mut p = StdioParams::new("python3");
        p.args = vec![concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hostile_server.py").into()];
        p.shutdown_grace = Duration::from_millis(300);
        Connection::connect(&TransportConfig::Stdio(p), options(10_000)).await.unwrap()
    }

    #[tokio::test]
    async fn lists_of_undeclared_features_are_empty() {
        // The server declares only tools and answers anything else with "method not found".
        let c = hostile().await;
        assert!(c.list_resources(None, None).await.unwrap().is_empty());
        assert!(c.list_resource_templates(None, None).await.unwrap().is_empty());
        assert!(c.list_prompts(None, None).await.unwrap().is_empty());
        assert_eq!(c.list_tools(None, None).await.unwrap().len(), 8);
        let err = c.read_resource("file:///etc/hostname", None).await.unwrap_err();
        assert!(matches!(err, Error::Server { code: -32601, .. }), "{err:?}");
        c.close().await;
    }

    #[tokio::test]
    async fn unreadable_replies_fail_their_request_at_once() {
        let c = hostile().await;
        for tool in ["bad_utf8", "deep"] {
            let started = std::time::Instant::now();
            let err = c.call_tool(tool, None, RequestOptions::timeout(Some(Duration::from_secs(20)))).await.unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{tool}: {err:?}");
            assert!(started.elapsed() < Duration::from_secs(5), "{tool}: took {:?}", started.elapsed());
            // The connection still works.
            assert!(c.call_tool("ok", None, RequestOptions::default()).await.is_ok());
        }
        let msg = c.call_tool("bad_utf8", None, RequestOptions::default()).await.unwrap_err().to_string();
        assert!(msg.contains("not valid UTF-8"), "{msg}");
        // A reply with id "1" does not answer request 1: the call times out.
        let err = c.call_tool("string_id", None, RequestOptions::timeout(Some(Duration::from_millis(500)))).await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        c.close().await;
    }

    #[tokio::test]
    async fn unframeable_stdout_breaks_the_connection_at_once() {
        for tool in ["huge", "endless"] {
            let c = hostile().await;
            let started = std::time::Instant::now();
            let err = c.call_tool(tool, None, RequestOptions::timeout(Some(Duration::from_secs(30)))).await.unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{tool}: {err:?}");
            assert!(err.to_string().contains("longer than"), "{err}");
            assert!(started.elapsed() < Duration::from_secs(10), "{tool}: took {:?}", started.elapsed());
            // Every later request fails at once, and the connection says it ended.
            let err = c.call_tool("ok", None, RequestOptions::timeout(Some(Duration::from_secs(30)))).await.unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{err:?}");
            assert!(matches!(tokio::time::timeout(Duration::from_secs(1), c.exited()).await, Ok(Error::Protocol(_))));
            c.close().await;
        }
    }

    /// Not a test: the core's own round-trip rate, without Python in the client.
    /// `MCPFLEET_PYTHON=.venv/bin/python cargo test --release --lib -- --ignored --nocapture core_throughput`
    #[tokio::test]
    #[ignore]
    async fn core_throughput() {
        let python = std::env::var("MCPFLEET_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut p = StdioParams::new(python);
        p.args = vec!["-m".into(), "mcpfleet.demo_server".into()];
        let c = Arc::new(Connection::connect(&TransportConfig::Stdio(p), options(10000)).await.unwrap());
        let args = serde_json::json!({"text": "hello"}).as_object().cloned();
        for _ in 0..500 {
            c.call_tool("echo", args.clone(), RequestOptions::default()).await.unwrap();
        }
        let n = 5000;
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            c.call_tool("echo", args.clone(), RequestOptions::default()).await.unwrap();
        }
        let seq = n as f64 / t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let c = c.clone();
            let args = args.clone();
            set.spawn(async move {
                for _ in 0..n / 16 {
                    c.call_tool("echo", args.clone(), RequestOptions::default()).await.unwrap();
                }
            });
        }
        set.join_all().await;
        let conc = (n / 16 * 16) as f64 / t0.elapsed().as_secs_f64();
        eprintln!("core: sequential {seq:.0}/s, 16 in flight {conc:.0}/s");
        c.close().await;
    }
}
