//! The running fleet: one supervisor task per started server (start, watch, restart with
//! backoff, give up in `CrashLoop`), status updates on a broadcast channel, and the catalog of
//! aggregated tools and prompts, rebuilt whenever a server comes up, goes down or changes its
//! tool list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource, ResourceTemplate, ServerPeerInfo, Tool};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::OAuthSource;
use crate::auth::oauth::Authorizer;
use crate::client::tasks::Task;
use crate::client::{ClientCallbacks, ClientOptions, Connection, DEFAULT_STDIO_INIT_TIMEOUT, RequestOptions, ToolReply};
use crate::error::{Error, Result};
use crate::fleet::definition::{ServerDefinition, ServerKind, did_you_mean};
use crate::util::redact::redact_url;
use crate::fleet::naming::{Collision, assign, public_name};
use crate::fleet::metrics::CallMetrics;
use crate::fleet::relay::Relay;
use crate::transport::{HttpOptions, StdioParams, TransportConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Stopped,
    Starting,
    Running,
    Connecting,
    Connected,
    Disconnected,
    AuthRequired,
    Failed,
    Restarting,
    CrashLoop,
}

impl ServerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Stopped => "Stopped",
            ServerState::Starting => "Starting",
            ServerState::Running => "Running",
            ServerState::Connecting => "Connecting",
            ServerState::Connected => "Connected",
            ServerState::Disconnected => "Disconnected",
            ServerState::AuthRequired => "AuthRequired",
            ServerState::Failed => "Failed",
            ServerState::Restarting => "Restarting",
            ServerState::CrashLoop => "CrashLoop",
        }
    }

    pub fn is_up(self) -> bool {
        matches!(self, ServerState::Running | ServerState::Connected)
    }

    fn down(kind: ServerKind) -> Self {
        if kind.is_remote() { ServerState::Disconnected } else { ServerState::Stopped }
    }

    fn starting(kind: ServerKind) -> Self {
        if kind.is_remote() { ServerState::Connecting } else { ServerState::Starting }
    }

    fn up(kind: ServerKind) -> Self {
        if kind.is_remote() { ServerState::Connected } else { ServerState::Running }
    }

    /// The seed project's process statuses.
    pub fn process_status(self) -> &'static str {
        match self {
            ServerState::Starting | ServerState::Connecting => "ProcessStarting",
            ServerState::Running | ServerState::Connected => "ProcessRunning",
            ServerState::Failed | ServerState::CrashLoop | ServerState::Restarting | ServerState::AuthRequired => "ProcessExitedWithError",
            ServerState::Stopped | ServerState::Disconnected => "ProcessStopped",
        }
    }
}

/// One state change of one server.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub name: String,
    pub state: ServerState,
    pub process_status: &'static str,
    pub error: Option<String>,
}

/// What a 401 said, for a server in `AuthRequired`.
#[derive(Debug, Clone)]
pub struct AuthInfo {
    pub url: String,
    pub www_authenticate: String,
}

/// A snapshot of one server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub definition: Arc<ServerDefinition>,
    pub state: ServerState,
    pub last_error: Option<String>,
    pub tool_count: usize,
    pub restart_count: u32,
    pub uptime: Option<Duration>,
    pub pid: Option<u32>,
    pub auth: Option<AuthInfo>,
    /// While connected, what the server said of itself in `initialize` (its name and version,
    /// protocol version, capabilities and instructions).
    pub peer: Option<Arc<ServerPeerInfo>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTool {
    pub public_name: String,
    pub server: String,
    /// The tool as the server describes it (its own name).
    pub tool: Tool,
    /// What it says about tasks (`execution`, 2025-11-25), which rmcp's `Tool` does not hold.
    pub execution: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CatalogPrompt {
    pub public_name: String,
    pub server: String,
    pub prompt: Prompt,
}

/// Which lists of the aggregated view changed from one catalog to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogChange {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
}

impl CatalogChange {
    pub fn any(self) -> bool {
        self.tools || self.prompts || self.resources
    }
}

/// The aggregated view, rebuilt as a whole and swapped in (readers never wait).
#[derive(Debug, Default)]
pub struct Catalog {
    /// Counts the catalogs whose tools, prompts or resources differ from the one before.
    pub generation: u64,
    /// What differs from the catalog of the previous generation.
    pub change: CatalogChange,
    pub tools: Vec<CatalogTool>,
    pub prompts: Vec<CatalogPrompt>,
    pub resources: Vec<(String, Resource)>,
    /// `(server, template)`: reads of URIs they match go to that server.
    pub resource_templates: Vec<(String, ResourceTemplate)>,
    pub collisions: Vec<Collision>,
    tool_index: HashMap<String, usize>,
    prompt_index: HashMap<String, usize>,
    /// Public names of tools of servers that are not up (last seen), for precise errors.
    offline_tools: HashMap<String, String>,
}

impl Catalog {
    pub fn tool(&self, public: &str) -> Option<&CatalogTool> {
        self.tool_index.get(public).map(|&i| &self.tools[i])
    }
}

#[derive(Default)]
struct Status {
    state: Option<ServerState>,
    last_error: Option<String>,
    restart_count: u32,
    up_since: Option<Instant>,
    connection: Option<Arc<Connection>>,
    tools: Vec<Tool>,
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    resource_templates: Vec<ResourceTemplate>,
    /// Tool names from the last time the server was up.
    known_tools: Vec<String>,
    auth: Option<AuthInfo>,
}

struct Run {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Slot {
    name: String,
    definition: Mutex<Arc<ServerDefinition>>,
    status: Mutex<Status>,
    run: tokio::sync::Mutex<Option<Run>>,
    /// Callers of `start` waiting for the next outcome (up, or a failed attempt). They stay
    /// across a restart by `update`/`restart`, and are told when the server is stopped instead.
    waiters: Mutex<Vec<oneshot::Sender<Result<()>>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterStop {
    Release,
    Keep,
}

impl Slot {
    fn settle_waiters(&self, outcome: &Result<()>) {
        for waiter in std::mem::take(&mut *self.waiters.lock().unwrap()) {
            let _ = waiter.send(outcome.clone());
        }
    }

    fn definition(&self) -> Arc<ServerDefinition> {
        self.definition.lock().unwrap().clone()
    }

    fn state(&self) -> ServerState {
        let kind = self.definition().kind;
        self.status.lock().unwrap().state.unwrap_or(ServerState::down(kind))
    }
}

#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// How long `close()` waits for all servers to stop.
    pub shutdown_timeout: Option<Duration>,
    /// Handlers for every server's requests (elicitation, sampling, roots, logs), unless a
    /// server has its own ([`Fleet::set_callbacks`]).
    pub callbacks: ClientCallbacks,
}

struct Inner {
    slots: Mutex<BTreeMap<String, Arc<Slot>>>,
    /// Taken at `close()`, which ends every subscriber's stream once it has read the rest.
    updates: Mutex<Option<broadcast::Sender<StatusUpdate>>>,
    /// The latest catalog; receivers are woken only when a list changed (never lags).
    catalog: watch::Sender<Arc<Catalog>>,
    /// Rebuilds one at a time, so the newest state is the one that stays.
    rebuilding: Mutex<()>,
    resource_updates: broadcast::Sender<(String, String)>,
    shutdown: CancellationToken,
    options: FleetOptions,
    /// Handlers given to one server, over the fleet's.
    callbacks: Mutex<HashMap<String, ClientCallbacks>>,
    /// The gateway's clients, asked before those handlers while the fleet is served.
    relay: Arc<Relay>,
    metrics: CallMetrics,
}

/// A fleet of MCP servers. Dropping it stops every server it started.
pub struct Fleet {
    inner: Arc<Inner>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

impl Fleet {
    pub fn new(options: FleetOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::new(BTreeMap::new()),
                updates: Mutex::new(Some(broadcast::Sender::new(1024))),
                catalog: watch::Sender::new(Arc::new(Catalog::default())),
                rebuilding: Mutex::new(()),
                resource_updates: broadcast::Sender::new(256),
                shutdown: CancellationToken::new(),
                options,
                callbacks: Mutex::default(),
                relay: Arc::default(),
                metrics: CallMetrics::default(),
            }),
        }
    }

    /// Where a gateway registers its clients, so that servers' requests reach them.
    pub fn relay(&self) -> &Arc<Relay> {
        &self.inner.relay
    }

    /// Reconnects each server that is up with other capabilities than its handlers now give
    /// (a gateway was attached since it connected), so that it may ask the gateway's clients.
    pub async fn reconnect_for_handlers(&self) {
        let slots: Vec<_> = self.inner.slots.lock().unwrap().values().cloned().collect();
        let stale = slots.into_iter().filter(|slot| {
            let status = slot.status.lock().unwrap();
            let declared = match (&status.connection, status.state) {
                (Some(c), Some(state)) if state.is_up() => c.declared_capabilities(),
                _ => return false,
            };
            declared != self.inner.callbacks_for(&slot.name).capabilities()
        });
        let restarts = stale.map(|slot| {
            let inner = self.inner.clone();
            async move {
                tracing::info!(server = %slot.name, "reconnecting so that the server may ask the gateway's clients (elicitation, sampling, roots)");
                inner.stop(&slot, AfterStop::Keep).await;
                let _ = Inner::start(&inner, slot).await;
            }
        });
        futures::future::join_all(restarts).await;
    }

    /// The server a public tool name is routed to.
    pub fn server_of_tool(&self, public: &str) -> Option<String> {
        match self.catalog().tool(public) {
            Some(entry) => Some(entry.server.clone()),
            None => self.passthrough(),
        }
    }

    /// Tells every server that is up that the roots changed (it then asks for them again).
    pub async fn notify_roots_changed(&self) {
        let connections: Vec<_> = self.names().iter().filter_map(|name| self.connection_of(name).ok()).collect();
        futures::future::join_all(connections.iter().map(|c| c.notify_roots_changed())).await;
    }

    /// Gives one server its own handlers (over the fleet's); they take effect at its next
    /// connection (restart it to apply them at once).
    pub fn set_callbacks(&self, server: &str, callbacks: ClientCallbacks) {
        self.inner.callbacks.lock().unwrap().insert(server.to_owned(), callbacks);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StatusUpdate> {
        match &*self.inner.updates.lock().unwrap() {
            Some(sender) => sender.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.inner.catalog.borrow().clone()
    }

    /// The latest catalog, and a wake-up whenever its tools, prompts or resources change
    /// (`Catalog::change` says which; `generation` counts the changes).
    pub fn watch_catalog(&self) -> watch::Receiver<Arc<Catalog>> {
        self.inner.catalog.subscribe()
    }

    pub fn names(&self) -> Vec<String> {
        self.inner.slots.lock().unwrap().keys().cloned().collect()
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>> {
        let slots = self.inner.slots.lock().unwrap();
        slots.get(name).cloned().ok_or_else(|| Error::UnknownServer {
            name: name.to_string(),
            suggestions: did_you_mean(name, slots.keys().map(String::as_str)).map(|s| vec![s.to_string()]).unwrap_or_default(),
        })
    }

    /// Registers a definition (it does not start it).
    pub fn add(&self, definition: ServerDefinition) -> Result<()> {
        let definition = with_oauth(definition, None)?;
        let mut slots = self.inner.slots.lock().unwrap();
        if let Some(existing) = slots.get(&definition.name) {
            return Err(Error::Config(format!("MCP server `{}` already exists (defined by {})", definition.name, existing.definition().origin)));
        }
        let name = definition.name.clone();
        let kind = definition.kind;
        slots.insert(
            name.clone(),
            Arc::new(Slot { name: name.clone(), definition: Mutex::new(Arc::new(definition)), status: Mutex::default(), run: tokio::sync::Mutex::new(None), waiters: Mutex::default() }),
        );
        drop(slots);
        self.inner.publish(StatusUpdate { name, state: ServerState::down(kind), process_status: "ProcessInitializing", error: None });
        Ok(())
    }

    /// Registers several definitions, none if any name is taken.
    pub fn add_all(&self, definitions: Vec<ServerDefinition>) -> Result<()> {
        {
            let slots = self.inner.slots.lock().unwrap();
            let taken: Vec<_> = definitions.iter().filter(|d| slots.contains_key(&d.name)).map(|d| format!("`{}`", d.name)).collect();
            match taken.as_slice() {
                [] => {}
                [one] => return Err(Error::Config(format!("MCP server {one} already exists"))),
                many => return Err(Error::Config(format!("MCP servers already exist: {}", many.join(", ")))),
            }
        }
        let definitions = definitions.into_iter().map(|d| with_oauth(d, None)).collect::<Result<Vec<_>>>()?;
        for d in definitions {
            self.add(d)?;
        }
        Ok(())
    }

    /// Registers definitions (all or none) and, when `start_auto`, starts the autoStart ones
    /// (a failed start shows in the returned state and last error).
    pub async fn create(&self, definitions: Vec<ServerDefinition>, start_auto: bool) -> Result<Vec<ServerInfo>> {
        let names: Vec<(String, bool)> = definitions.iter().map(|d| (d.name.clone(), d.auto_start)).collect();
        self.add_all(definitions)?;
        if start_auto {
            let starts = names.iter().filter(|(_, auto)| *auto).map(|(name, _)| self.start(name));
            futures::future::join_all(starts).await;
        }
        Ok(names.iter().filter_map(|(name, _)| self.info(name).ok()).collect())
    }

    pub fn info(&self, name: &str) -> Result<ServerInfo> {
        let slot = self.slot(name)?;
        Ok(self.inner.info(&slot))
    }

    pub fn list(&self) -> Vec<ServerInfo> {
        let slots: Vec<_> = self.inner.slots.lock().unwrap().values().cloned().collect();
        slots.iter().map(|s| self.inner.info(s)).collect()
    }

    /// Starts a server and waits for its first attempt: `Ok` once it is up, or that attempt's
    /// error (the supervisor keeps retrying as its restart policy says). Idempotent.
    pub async fn start(&self, name: &str) -> Result<()> {
        let slot = self.slot(name)?;
        Inner::start(&self.inner, slot).await
    }

    /// Stops a server (its supervisor too). Idempotent.
    pub async fn stop(&self, name: &str) -> Result<()> {
        let slot = self.slot(name)?;
        self.inner.stop(&slot, AfterStop::Release).await;
        Ok(())
    }

    pub async fn restart(&self, name: &str) -> Result<()> {
        let slot = self.slot(name)?;
        self.inner.stop(&slot, AfterStop::Keep).await;
        Inner::start(&self.inner, slot).await
    }

    /// Starts every `autoStart` server at once; each has its own timeout, and one that fails
    /// neither delays nor fails the others. Returns each server's first outcome.
    pub async fn start_auto(&self) -> Vec<(String, Result<()>)> {
        let slots: Vec<_> = self.inner.slots.lock().unwrap().values().filter(|s| s.definition().auto_start).cloned().collect();
        let starts = slots.into_iter().map(|slot| {
            let inner = self.inner.clone();
            async move { (slot.name.clone(), Inner::start(&inner, slot).await) }
        });
        futures::future::join_all(starts).await
    }

    /// Replaces a definition. A running server restarts when something that matters changed;
    /// a stopped one starts when it became `autoStart` and `start_if_auto` is set.
    pub async fn update(&self, name: &str, definition: ServerDefinition, start_if_auto: bool) -> Result<()> {
        self.update_with(name, definition, start_if_auto, true).await
    }

    /// [`Fleet::update`]; without `wait`, a restart or start runs in the background.
    async fn update_with(&self, name: &str, definition: ServerDefinition, start_if_auto: bool, wait: bool) -> Result<()> {
        if definition.name != name {
            return Err(Error::Config(format!("the definition is named `{}`, not `{name}`; a server cannot be renamed (delete and create it)", definition.name)));
        }
        let slot = self.slot(name)?;
        let definition = with_oauth(definition, Some(&slot.definition()))?;
        let old = std::mem::replace(&mut *slot.definition.lock().unwrap(), Arc::new(definition));
        let new = slot.definition();
        let supervised = slot.run.lock().await.as_ref().is_some_and(|r| !r.task.is_finished());
        // A server that gave up (needs authorization, crash loop, failed) gets another chance
        // with a definition that differs where it matters.
        let gave_up = matches!(slot.state(), ServerState::AuthRequired | ServerState::CrashLoop | ServerState::Failed);
        if (supervised || gave_up) && old.needs_restart_for(&new) {
            let inner = self.inner.clone();
            let restart = async move {
                inner.stop(&slot, AfterStop::Keep).await;
                Inner::start(&inner, slot).await
            };
            if wait {
                return restart.await;
            }
            tokio::spawn(restart);
            return Ok(());
        }
        if !supervised && start_if_auto && new.auto_start && !old.auto_start {
            if wait {
                return Inner::start(&self.inner, slot).await;
            }
            self.start_in_background(slot);
            return Ok(());
        }
        self.inner.rebuild_catalog();
        Ok(())
    }

    fn start_in_background(&self, slot: Arc<Slot>) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _ = Inner::start(&inner, slot).await;
        });
    }

    /// Makes the fleet hold exactly `definitions` (a configuration read again): new servers are
    /// added (and started when autoStart), missing ones removed, changed ones updated, which
    /// restarts them only when something that matters changed. Unchanged servers are untouched.
    pub async fn reconcile(&self, definitions: Vec<ServerDefinition>) -> Result<Reconciled> {
        self.reconcile_with(definitions, true).await
    }

    /// [`Fleet::reconcile`], returning once the fleet holds the definitions: servers start and
    /// restart in the background (a slow one holds up no later change).
    pub async fn reconcile_in_background(&self, definitions: Vec<ServerDefinition>) -> Result<Reconciled> {
        self.reconcile_with(definitions, false).await
    }

    async fn reconcile_with(&self, definitions: Vec<ServerDefinition>, wait: bool) -> Result<Reconciled> {
        let mut done = Reconciled::default();
        let wanted: std::collections::HashSet<String> = definitions.iter().map(|d| d.name.clone()).collect();
        for name in self.names() {
            if !wanted.contains(&name) {
                self.remove(&name).await?;
                done.removed.push(name);
            }
        }
        let mut added = Vec::new();
        for def in definitions {
            match self.slot(&def.name) {
                Err(_) => added.push(def),
                Ok(slot) => {
                    let old = slot.definition();
                    if !same_definition(&old, &def) {
                        let name = def.name.clone();
                        // A failed start is the server's state, not a failed reload.
                        let _ = self.update_with(&name, def, true, wait).await;
                        done.updated.push(name);
                    }
                }
            }
        }
        done.added = added.iter().map(|d| d.name.clone()).collect();
        if wait {
            self.create(added, true).await?;
        } else {
            let auto: Vec<String> = added.iter().filter(|d| d.auto_start).map(|d| d.name.clone()).collect();
            self.add_all(added)?;
            for name in auto {
                self.start_in_background(self.slot(&name)?);
            }
        }
        Ok(done)
    }

    /// Gets OAuth tokens for a server (`auth: {type: oauth}` or an OAuth object from the host
    /// language): the client-credentials exchange, or the authorization-code flow with
    /// `authorizer` doing the user's part. Then a server that is not up starts again.
    pub async fn login(&self, name: &str, authorizer: &dyn Authorizer) -> Result<()> {
        let slot = self.slot(name)?;
        let oauth = oauth_of(&slot.definition())?;
        oauth.login(authorizer).await?;
        if slot.state().is_up() {
            return Ok(());
        }
        self.inner.stop(&slot, AfterStop::Keep).await;
        Inner::start(&self.inner, slot).await
    }

    /// Forgets a server's OAuth tokens (memory and token store). A running server keeps its
    /// session until the server refuses the old token.
    pub async fn logout(&self, name: &str) -> Result<()> {
        let slot = self.slot(name)?;
        Ok(oauth_of(&slot.definition())?.logout().await?)
    }

    /// Stops and unregisters a server.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let slot = self.slot(name)?;
        self.inner.stop(&slot, AfterStop::Release).await;
        self.inner.slots.lock().unwrap().remove(name);
        self.inner.rebuild_catalog();
        Ok(())
    }

    /// Stops every server concurrently, within the shutdown timeout.
    pub async fn close(&self) {
        let slots: Vec<_> = self.inner.slots.lock().unwrap().values().cloned().collect();
        let limit = self.inner.options.shutdown_timeout.unwrap_or(SHUTDOWN_TIMEOUT);
        let stops = futures::future::join_all(slots.iter().map(|s| self.inner.stop(s, AfterStop::Release)));
        if tokio::time::timeout(limit, stops).await.is_err() {
            tracing::warn!("some servers did not stop within {limit:?}; their process groups are being killed");
        }
        self.inner.shutdown.cancel();
        self.inner.updates.lock().unwrap().take();
    }

    pub async fn call_tool(&self, public: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<CallToolResult> {
        self.call_tool_as(public, arguments, options).await
    }

    /// Calls a tool; the result as [`ToolReply`] says (decoded, or the server's JSON).
    pub async fn call_tool_as<R: ToolReply>(&self, public: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<R> {
        let catalog = self.catalog();
        let Some(entry) = catalog.tool(public) else {
            if let Some(server) = self.passthrough() {
                return self.connection_of(&server)?.call_tool_as(public, arguments, options).await;
            }
            return Err(self.missing(public, &catalog, true));
        };
        let conn = self.connection_of(&entry.server)?;
        let name = entry.tool.name.clone();
        let _in_flight = self.inner.metrics.started();
        let started = std::time::Instant::now();
        let result = conn.call_tool_as::<R>(&name, arguments, options).await;
        let failed = result.as_ref().map_or(true, R::is_error);
        self.inner.metrics.record(&entry.server, public, started.elapsed(), failed);
        result
    }

    pub fn call_metrics(&self) -> &CallMetrics {
        &self.inner.metrics
    }

    /// The fleet's metrics in Prometheus' text format: its tool calls, and each server's state,
    /// restarts and tools.
    pub fn render_metrics(&self, out: &mut String) {
        use crate::fleet::metrics::{escape, header};
        use std::fmt::Write;
        self.inner.metrics.render(out);
        let servers = self.list();
        header(out, "mcpfleet_server_up", "gauge", "1 while the server is running or connected.");
        for s in &servers {
            let _ = writeln!(out, "mcpfleet_server_up{{server=\"{}\"}} {}", escape(&s.definition.name), u8::from(s.state.is_up()));
        }
        header(out, "mcpfleet_server_state", "gauge", "1 for the state each server is in.");
        for s in &servers {
            let _ = writeln!(out, "mcpfleet_server_state{{server=\"{}\",state=\"{}\"}} 1", escape(&s.definition.name), s.state.as_str());
        }
        header(out, "mcpfleet_server_restarts_total", "counter", "Restarts of each server after it failed.");
        for s in &servers {
            let _ = writeln!(out, "mcpfleet_server_restarts_total{{server=\"{}\"}} {}", escape(&s.definition.name), s.restart_count);
        }
        header(out, "mcpfleet_server_tools", "gauge", "Tools each server offers (after its allow and deny lists).");
        for s in &servers {
            let _ = writeln!(out, "mcpfleet_server_tools{{server=\"{}\"}} {}", escape(&s.definition.name), s.tool_count);
        }
    }

    /// Starts a tool as a task on the server that offers it: that server's name, and the task
    /// (its id is that server's: [`Fleet::task`] takes both).
    pub async fn start_task(&self, public: &str, arguments: Option<&JsonObject>, ttl: Option<Duration>, options: RequestOptions) -> Result<(String, Task)> {
        let catalog = self.catalog();
        let (server, name) = match catalog.tool(public) {
            Some(entry) => (entry.server.clone(), entry.tool.name.to_string()),
            None => match self.passthrough() {
                Some(server) => (server, public.to_owned()),
                None => return Err(self.missing(public, &catalog, true)),
            },
        };
        drop(catalog);
        let task = self.connection_of(&server)?.start_task(&name, arguments, ttl, options.meta.as_ref(), options.timeout).await?;
        Ok((server, task))
    }

    /// The connection a task of `server` runs on, for `get_task`, `task_result` and `cancel_task`.
    pub fn task(&self, server: &str) -> Result<Arc<Connection>> {
        self.connection_of(server)
    }

    pub async fn get_prompt(&self, public: &str, arguments: Option<JsonObject>, options: RequestOptions) -> Result<GetPromptResult> {
        let catalog = self.catalog();
        let Some(&i) = catalog.prompt_index.get(public) else {
            if let Some(server) = self.passthrough() {
                return self.connection_of(&server)?.get_prompt_with(public, arguments, options).await;
            }
            return Err(self.missing(public, &catalog, false));
        };
        let entry = &catalog.prompts[i];
        let conn = self.connection_of(&entry.server)?;
        conn.get_prompt_with(&entry.prompt.name, arguments, options).await
    }

    /// Reads a resource from `server`, or from the server that lists `uri`.
    pub async fn read_resource(&self, uri: &str, server: Option<&str>, options: RequestOptions) -> Result<ReadResourceResult> {
        let server = self.resource_server(uri, server)?;
        self.connection_of(&server)?.read_resource_with(uri, options).await
    }

    /// Subscribes to updates of a resource at the server that lists it; they arrive on
    /// [`Fleet::resource_updates`].
    pub async fn subscribe_resource(&self, uri: &str, subscribe: bool) -> Result<()> {
        let server = self.resource_server(uri, None)?;
        let conn = self.connection_of(&server)?;
        if subscribe { conn.subscribe(uri, None, None).await } else { conn.unsubscribe(uri, None, None).await }
    }

    /// `(server, uri)` of every `notifications/resources/updated` a server sends.
    pub fn resource_updates(&self) -> broadcast::Receiver<(String, String)> {
        self.inner.resource_updates.subscribe()
    }

    /// The server that lists `uri`, or whose resource template it matches.
    fn resource_server(&self, uri: &str, server: Option<&str>) -> Result<String> {
        Ok(match server {
            Some(s) => s.to_string(),
            None => {
                let catalog = self.catalog();
                let listed = catalog.resources.iter().find(|(_, r)| r.uri == uri).map(|(s, _)| s);
                // Else the template with the longest literal start that the URI has.
                let templated = || {
                    catalog
                        .resource_templates
                        .iter()
                        .map(|(s, t)| (s, t.uri_template.split('{').next().unwrap_or_default()))
                        .filter(|(_, literal)| !literal.is_empty() && uri.starts_with(literal))
                        .max_by_key(|(_, literal)| literal.len())
                        .map(|(s, _)| s)
                };
                match listed.or_else(templated).cloned().or_else(|| self.passthrough()) {
                    Some(s) => s,
                    None => return Err(Error::Config(format!("no running server lists the resource {uri:?}; pass server= to read it anyway"))),
                }
            }
        })
    }

    /// A fleet of one server published without a prefix (`toolPrefix: ""`) is a transparent
    /// proxy: names it does not list still go to it, and it answers them as it would alone.
    fn passthrough(&self) -> Option<String> {
        let slots = self.inner.slots.lock().unwrap();
        let mut all = slots.values();
        let (Some(slot), None) = (all.next(), all.next()) else { return None };
        (slot.definition().tool_prefix.as_deref() == Some("") && slot.state().is_up()).then(|| slot.name.clone())
    }

    fn connection_of(&self, server: &str) -> Result<Arc<Connection>> {
        let slot = self.slot(server)?;
        let status = slot.status.lock().unwrap();
        match (&status.connection, status.state) {
            (Some(c), Some(state)) if state.is_up() => Ok(c.clone()),
            (_, state) => Err(Error::ServerDown {
                server: server.to_string(),
                state: state.unwrap_or(ServerState::down(slot.definition().kind)).as_str(),
                last_error: status.last_error.clone(),
            }),
        }
    }

    fn missing(&self, public: &str, catalog: &Catalog, tool: bool) -> Error {
        if let Some(server) = catalog.offline_tools.get(public) {
            if let Ok(slot) = self.slot(server) {
                return Error::ServerDown { server: server.clone(), state: slot.state().as_str(), last_error: slot.status.lock().unwrap().last_error.clone() };
            }
        }
        let names: Vec<&str> = if tool {
            catalog.tools.iter().map(|t| t.public_name.as_str()).collect()
        } else {
            catalog.prompts.iter().map(|p| p.public_name.as_str()).collect()
        };
        let mut suggestions: Vec<String> = names.iter().filter(|n| n.contains(public) || public.contains(**n)).take(3).map(|s| s.to_string()).collect();
        if let Some(close) = did_you_mean(public, names.iter().copied()) {
            if !suggestions.iter().any(|s| s == close) {
                suggestions.insert(0, close.to_string());
            }
        }
        suggestions.truncate(3);
        Error::ToolNotFound { name: public.to_string(), suggestions }
    }
}

impl Inner {
    fn publish(&self, update: StatusUpdate) {
        if let Some(sender) = &*self.updates.lock().unwrap() {
            let _ = sender.send(update);
        }
    }

    fn info(&self, slot: &Slot) -> ServerInfo {
        let definition = slot.definition();
        let status = slot.status.lock().unwrap();
        // A process that died is down at once, even before its supervisor has taken note.
        let ended = status.connection.as_ref().is_some_and(|c| c.has_ended());
        ServerInfo {
            state: if ended { ServerState::Failed } else { status.state.unwrap_or(ServerState::down(definition.kind)) },
            last_error: status.last_error.clone(),
            tool_count: status.tools.iter().filter(|t| definition.tools.admits(&t.name)).count(),
            restart_count: status.restart_count,
            uptime: status.up_since.map(|t| t.elapsed()),
            pid: status.connection.as_ref().and_then(|c| c.pid()),
            auth: status.auth.clone(),
            peer: status.connection.as_ref().map(|c| c.server_info_shared()),
            definition,
        }
    }

    fn callbacks_for(&self, server: &str) -> ClientCallbacks {
        let own = match self.callbacks.lock().unwrap().get(server) {
            Some(own) => own.or(&self.options.callbacks),
            None => self.options.callbacks.clone(),
        };
        if self.relay.is_attached() { self.relay.wrap(server, own) } else { own }
    }

    fn set_state(&self, slot: &Slot, state: ServerState, error: Option<String>) {
        {
            let mut status = slot.status.lock().unwrap();
            if status.state == Some(state) && error.is_none() {
                return;
            }
            status.state = Some(state);
            if error.is_some() {
                status.last_error = error.clone();
            } else if state.is_up() {
                // Up again: the old error is history (status updates keep it).
                status.last_error = None;
            }
            if !state.is_up() {
                status.up_since = None;
            }
        }
        match (&error, state) {
            (Some(e), _) => tracing::warn!(server = %slot.name, "{}: {e}", state.as_str()),
            (None, _) => tracing::info!(server = %slot.name, "{}", state.as_str()),
        }
        self.publish(StatusUpdate { name: slot.name.clone(), state, process_status: state.process_status(), error });
    }

    async fn start(inner: &Arc<Inner>, slot: Arc<Slot>) -> Result<()> {
        let mut run = slot.run.lock().await;
        let running = run.as_ref().is_some_and(|r| !r.task.is_finished());
        if running && slot.state().is_up() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        slot.waiters.lock().unwrap().push(tx);
        if !running {
            let stop = inner.shutdown.child_token();
            let task = tokio::spawn(supervise(inner.clone(), slot.clone(), stop.clone()));
            *run = Some(Run { stop, task });
        }
        drop(run);
        rx.await.unwrap_or_else(|_| Err(Error::NotConnected(format!("server `{}` was closed while starting", slot.name))))
    }

    /// Stops the supervisor. `then` says what becomes of callers waiting in `start`: told that
    /// the server stopped, or kept for the start that follows (restart, update).
    async fn stop(&self, slot: &Slot, then: AfterStop) {
        let run = slot.run.lock().await.take();
        if let Some(run) = run {
            run.stop.cancel();
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, run.task).await.is_err() {
                tracing::warn!(server = %slot.name, "did not stop within {SHUTDOWN_TIMEOUT:?}");
            }
        }
        let kind = slot.definition().kind;
        if slot.state() != ServerState::down(kind) {
            self.set_state(slot, ServerState::down(kind), None);
        }
        if then == AfterStop::Release {
            let state = ServerState::down(kind).as_str();
            slot.settle_waiters(&Err(Error::ServerDown { server: slot.name.clone(), state, last_error: Some("stopped before it was up".into()) }));
        }
    }

    fn rebuild_catalog(&self) {
        let _one_at_a_time = self.rebuilding.lock().unwrap_or_else(|e| e.into_inner());
        let slots: Vec<_> = self.slots.lock().unwrap().values().cloned().collect();
        let mut tool_items = Vec::new();
        let mut tool_defs: HashMap<(String, String), (Tool, Option<JsonObject>)> = HashMap::new();
        let mut prompt_items = Vec::new();
        let mut prompt_defs: HashMap<(String, String), Prompt> = HashMap::new();
        let mut resources = Vec::new();
        let mut resource_templates = Vec::new();
        let mut offline_tools = HashMap::new();
        for slot in &slots {
            let def = slot.definition();
            let prefix = def.prefix();
            let status = slot.status.lock().unwrap();
            if let Some(connection) = &status.connection {
                for tool in status.tools.iter().filter(|t| def.tools.admits(&t.name)) {
                    tool_items.push((slot.name.clone(), prefix.clone(), tool.name.to_string()));
                    tool_defs.insert((slot.name.clone(), tool.name.to_string()), (tool.clone(), connection.tool_execution(&tool.name)));
                }
                for prompt in &status.prompts {
                    prompt_items.push((slot.name.clone(), prefix.clone(), prompt.name.clone()));
                    prompt_defs.insert((slot.name.clone(), prompt.name.clone()), prompt.clone());
                }
                resources.extend(status.resources.iter().map(|r| (slot.name.clone(), r.clone())));
                resource_templates.extend(status.resource_templates.iter().map(|t| (slot.name.clone(), t.clone())));
            } else {
                for tool in status.known_tools.iter().filter(|t| def.tools.admits(t)) {
                    offline_tools.insert(public_name(&prefix, tool), slot.name.clone());
                }
            }
        }
        let (named_tools, collisions) = assign(&tool_items);
        for c in &collisions {
            tracing::warn!(
                "tool name `{}` is offered by `{}` and `{}`; `{}` keeps it, the other is published as `{}`",
                c.wanted, c.winner, c.loser_server, c.winner, c.renamed_to
            );
        }
        let (named_prompts, _) = assign(&prompt_items);
        let tools: Vec<CatalogTool> = named_tools
            .into_iter()
            .map(|n| {
                let (tool, execution) = tool_defs[&(n.server.clone(), n.original.clone())].clone();
                CatalogTool { tool, execution, public_name: n.public, server: n.server }
            })
            .collect();
        let prompts: Vec<CatalogPrompt> = named_prompts
            .into_iter()
            .map(|n| CatalogPrompt { prompt: prompt_defs[&(n.server.clone(), n.original.clone())].clone(), public_name: n.public, server: n.server })
            .collect();
        for name in tools.iter().map(|t| &t.public_name) {
            offline_tools.remove(name);
        }
        let old = self.catalog.borrow().clone();
        let change = CatalogChange {
            tools: old.tools != tools,
            prompts: old.prompts != prompts,
            resources: old.resources != resources || old.resource_templates != resource_templates,
        };
        let catalog = Catalog {
            generation: if change.any() { old.generation + 1 } else { old.generation },
            change: if change.any() { change } else { old.change },
            tool_index: tools.iter().enumerate().map(|(i, t)| (t.public_name.clone(), i)).collect(),
            prompt_index: prompts.iter().enumerate().map(|(i, p)| (p.public_name.clone(), i)).collect(),
            tools,
            prompts,
            resources,
            resource_templates,
            collisions,
            offline_tools,
        };
        // Collisions and offline names may change silently; watchers hear of list changes only.
        self.catalog.send_if_modified(|current| {
            *current = Arc::new(catalog);
            change.any()
        });
    }
}

/// What [`Fleet::reconcile`] changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

/// Equal but for where they were read and the live token source (moving a definition down a
/// file or adding a comment above it changes nothing).
fn same_definition(old: &ServerDefinition, new: &ServerDefinition) -> bool {
    let mut new = new.clone();
    new.origin = old.origin.clone();
    new.tokens = old.tokens.clone();
    *old == new
}

fn oauth_of(def: &ServerDefinition) -> Result<Arc<OAuthSource>> {
    def.tokens.as_ref().and_then(|t| t.oauth.clone()).ok_or_else(|| {
        Error::Config(format!("server `{}` has no OAuth settings (give it `auth: {{type: oauth}}` or an OAuth object)", def.name))
    })
}

/// What registering a definition would refuse (its OAuth settings: files, keys, grants),
/// found without registering it.
pub fn check(def: &ServerDefinition) -> Result<()> {
    with_oauth(def.clone(), None).map(|_| ())
}

/// Gives a definition with `auth: {type: oauth}` its token source: the one of `previous` when
/// the OAuth settings, URL and TLS are unchanged (it holds the tokens), else a new one.
fn with_oauth(mut def: ServerDefinition, previous: Option<&ServerDefinition>) -> Result<ServerDefinition> {
    let Some(spec) = def.oauth.clone() else { return Ok(def) };
    if def.tokens.is_some() {
        return Ok(def);
    }
    if let Some(old) = previous.filter(|old| old.oauth.as_ref() == Some(&spec) && old.url == def.url && old.tls == def.tls) {
        def.tokens = old.tokens.clone();
        return Ok(def);
    }
    let fail = |message: String| Error::Config(format!("server `{}`: auth: {message}", def.name));
    let spec = expanded(&def)?.oauth.unwrap_or(spec);
    let read = |path: &str| crate::util::file::read_bounded(path.as_ref(), crate::util::file::MAX_FILE_BYTES).map_err(|e| format!("cannot read {path}: {e}"));
    let settings = crate::fleet::definition::oauth_settings(&spec, &read).map_err(fail)?;
    settings.check().map_err(fail)?;
    let (TransportConfig::StreamableHttp { url, options } | TransportConfig::Sse { url, options }) = transport_config(&def)? else {
        return Err(fail("OAuth is only for remote servers".into()));
    };
    let url = crate::transport::http::parse_http_url(&url)?;
    let tls = options.ca_bundle.is_some() || options.client_cert.is_some() || options.insecure;
    let http = if tls { Some(options.build_client()?) } else { None };
    let source = Arc::new(OAuthSource::new(url, settings, http, None));
    def.tokens = Some(crate::auth::Tokens::from_oauth(source, Duration::from_secs(30)));
    Ok(def)
}

/// A definition's `${VAR}`s expanded from the environment now, and checked again as expanded.
pub fn expanded(def: &ServerDefinition) -> Result<ServerDefinition> {
    let def = def.expanded().map_err(|u| Error::Config(format!("server `{}`: environment variable `{}` (used in {}) is not set", def.name, u.variable, u.field)))?;
    if let Some(url) = &def.url {
        crate::fleet::definition::check_http_url(url)
            .map_err(|reason| Error::Config(format!("server `{}`: url {:?} (expanded) is not an http:// or https:// URL: {reason}", def.name, redact_url(url))))?;
    }
    if def.command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Error::Config(format!("server `{}`: command is empty once its variables are expanded", def.name)));
    }
    Ok(def)
}

/// The transport for a definition, with `${VAR}`s expanded from the environment now.
pub fn transport_config(def: &ServerDefinition) -> Result<TransportConfig> {
    let def = expanded(def)?;
    match def.kind {
        ServerKind::Stdio => {
            let mut params = StdioParams::new(def.command.clone().unwrap_or_default());
            params.args = def.args;
            params.env = def.env;
            params.cwd = def.cwd.map(Into::into);
            params.log_name = def.name;
            Ok(TransportConfig::Stdio(params))
        }
        ServerKind::StreamableHttp | ServerKind::Sse => {
            let url = def.url.unwrap_or_default();
            let options = HttpOptions {
                headers: def.headers,
                tokens: def.tokens,
                ca_bundle: def.tls.ca_bundle.map(Into::into),
                client_cert: def.tls.client_cert.map(Into::into),
                client_key: def.tls.client_key.map(Into::into),
                insecure: def.tls.insecure,
                ..HttpOptions::default()
            };
            Ok(if def.kind == ServerKind::Sse { TransportConfig::Sse { url, options } } else { TransportConfig::StreamableHttp { url, options } })
        }
    }
}

fn client_options(def: &ServerDefinition, callbacks: ClientCallbacks) -> ClientOptions {
    let init_timeout = def.init_timeout.unwrap_or(if def.kind.is_remote() { def.timeout } else { DEFAULT_STDIO_INIT_TIMEOUT });
    ClientOptions { name: def.name.clone(), init_timeout, request_timeout: def.timeout, callbacks, protocol: def.protocol.clone() }
}

/// What a server offers besides its tools, re-listed together on a prompts or resources
/// list_changed.
struct Others {
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    resource_templates: Vec<ResourceTemplate>,
}

impl Others {
    fn store(self, status: &mut Status) {
        status.prompts = self.prompts;
        status.resources = self.resources;
        status.resource_templates = self.resource_templates;
    }
}

async fn fetch_others(conn: &Connection) -> Result<Others> {
    let caps = conn.server_info().capabilities.clone();
    let prompts = if caps.prompts.is_some() { conn.list_prompts(None, None).await? } else { Vec::new() };
    let (resources, resource_templates) = if caps.resources.is_some() {
        // A server that lists resources but has no templates answers "method not found".
        let templates = match conn.list_resource_templates(None, None).await {
            Err(Error::Server { code: -32601, .. }) => Vec::new(),
            other => other?,
        };
        (conn.list_resources(None, None).await?, templates)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Others { prompts, resources, resource_templates })
}

async fn fetch_lists(conn: &Connection) -> Result<(Vec<Tool>, Others)> {
    let tools = if conn.server_info().capabilities.tools.is_some() { conn.list_tools(None, None).await? } else { Vec::new() };
    Ok((tools, fetch_others(conn).await?))
}

/// Once the process is exiting, a server goes down and stays down.
fn stopped_for_shutdown(inner: &Inner, slot: &Slot, kind: ServerKind) -> bool {
    if !crate::process::is_shutting_down() {
        return false;
    }
    inner.set_state(slot, ServerState::down(kind), None);
    slot.settle_waiters(&Err(Error::NotConnected("this process is shutting down".into())));
    true
}

/// One server's life: start, watch, restart on failure as the policy says, until stopped.
async fn supervise(inner: Arc<Inner>, slot: Arc<Slot>, stop: CancellationToken) {
    let mut attempts = 0u32;
    loop {
        let def = slot.definition();
        if stopped_for_shutdown(&inner, &slot, def.kind) {
            return;
        }
        inner.set_state(&slot, ServerState::starting(def.kind), None);
        let connected = async {
            let config = transport_config(&def)?;
            let conn = Arc::new(Connection::connect(&config, client_options(&def, inner.callbacks_for(&def.name))).await?);
            match fetch_lists(&conn).await {
                Ok(lists) => Ok((conn, lists)),
                Err(e) => {
                    conn.close().await;
                    Err(e)
                }
            }
        };
        let outcome = tokio::select! {
            r = connected => r,
            _ = stop.cancelled() => return,
        };
        let failure = match outcome {
            Ok((conn, lists)) => {
                {
                    let mut status = slot.status.lock().unwrap();
                    status.connection = Some(conn.clone());
                    let (tools, others) = lists;
                    status.known_tools = tools.iter().map(|t| t.name.to_string()).collect();
                    status.tools = tools;
                    others.store(&mut status);
                    status.auth = None;
                    status.up_since = Some(Instant::now());
                }
                inner.rebuild_catalog();
                inner.set_state(&slot, ServerState::up(def.kind), None);
                slot.settle_waiters(&Ok(()));
                let up_at = Instant::now();
                let failure = watch(&inner, &slot, &conn, &def, &stop).await;
                {
                    let mut status = slot.status.lock().unwrap();
                    if failure.is_some() {
                        // Not up from this moment on, although the Failed update (with the reason)
                        // is published once the connection is closed.
                        status.state = Some(ServerState::Failed);
                    }
                    status.connection = None;
                    status.tools.clear();
                    status.prompts.clear();
                    status.resources.clear();
                    status.resource_templates.clear();
                    status.up_since = None;
                }
                inner.rebuild_catalog();
                conn.close().await;
                let Some(failure) = failure else { return };
                if up_at.elapsed() >= def.restart.reset_after {
                    attempts = 0;
                }
                failure
            }
            Err(e) => e,
        };
        // The exit handler's kill is no crash: nothing restarts once the process is exiting.
        if stopped_for_shutdown(&inner, &slot, def.kind) {
            return;
        }
        let message = failure.to_string();
        // A bad definition or a command that cannot run does not fix itself by restarting.
        let permanent = failure.is_permanent();
        if let Error::AuthRequired { url, www_authenticate, .. } = &failure {
            slot.status.lock().unwrap().auth = Some(AuthInfo { url: url.clone(), www_authenticate: www_authenticate.clone() });
            inner.set_state(&slot, ServerState::AuthRequired, Some(message));
            slot.settle_waiters(&Err(failure));
            return;
        }
        inner.set_state(&slot, ServerState::Failed, Some(message.clone()));
        slot.settle_waiters(&Err(failure));
        if !def.restart.enabled || permanent {
            return;
        }
        attempts += 1;
        if attempts > def.restart.max_restarts {
            inner.set_state(&slot, ServerState::CrashLoop, Some(format!("gave up after {} restarts; last error: {message}", def.restart.max_restarts)));
            return;
        }
        slot.status.lock().unwrap().restart_count += 1;
        let delay = def.restart.delay(attempts);
        inner.set_state(&slot, ServerState::Restarting, Some(format!("restart {attempts} of {} in {:.1}s after: {message}", def.restart.max_restarts, delay.as_secs_f64())));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Watches a server that is up. `None`: asked to stop; `Some(error)`: it failed.
async fn watch(inner: &Inner, slot: &Slot, conn: &Connection, def: &ServerDefinition, stop: &CancellationToken) -> Option<Error> {
    let mut tools_changed = conn.tools_changed();
    let mut others_changed = conn.others_changed();
    let mut resource_updates = conn.resource_updates();
    let mut updates_open = true;
    let period = def.ping_interval.unwrap_or(Duration::from_secs(86400 * 365));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = conn.ended() => {
                // Down from this moment: nobody may see the dead run as up while its last
                // stderr lines are collected for the message.
                slot.status.lock().unwrap().state = Some(ServerState::Failed);
                return Some(conn.exited().await);
            }
            changed = tools_changed.changed() => {
                if changed.is_err() {
                    continue;
                }
                match conn.list_tools(None, None).await {
                    Ok(tools) => {
                        {
                            let mut status = slot.status.lock().unwrap();
                            status.known_tools = tools.iter().map(|t| t.name.to_string()).collect();
                            status.tools = tools;
                        }
                        inner.rebuild_catalog();
                        tracing::info!(server = %slot.name, "tool list changed; re-listed");
                    }
                    Err(e) => tracing::warn!(server = %slot.name, "re-listing tools after tools/list_changed failed: {e}"),
                }
            }
            update = resource_updates.recv(), if updates_open => match update {
                Ok(uri) => {
                    let _ = inner.resource_updates.send((slot.name.clone(), uri));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => updates_open = false,
            },
            changed = others_changed.changed() => {
                if changed.is_err() {
                    continue;
                }
                match fetch_others(conn).await {
                    Ok(others) => {
                        others.store(&mut slot.status.lock().unwrap());
                        inner.rebuild_catalog();
                    }
                    Err(e) => tracing::warn!(server = %slot.name, "re-listing prompts and resources after a list_changed failed: {e}"),
                }
            }
            _ = ping.tick(), if def.ping_interval.is_some() => {
                if let Err(e) = conn.ping(Some(def.timeout.min(Duration::from_secs(10))), None).await {
                    // A 401 stays what it is, so the server waits in AuthRequired instead of restarting.
                    return Some(match e {
                        Error::AuthRequired { .. } | Error::Token(_) => e,
                        other => Error::Transport(format!("health check failed: {other}")),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::load::load_value;

    fn definition(value: serde_json::Value) -> ServerDefinition {
        load_value(&value, "test").unwrap().remove(0)
    }

    #[tokio::test]
    async fn remote_server_lifecycle_and_routing() {
        let (port, serve) = crate::demo_server::bind_http(0).await.unwrap();
        let server = tokio::spawn(serve);
        let fleet = Fleet::new(FleetOptions::default());
        fleet.add(definition(serde_json::json!({"name": "demo", "type": "streamable-http", "url": format!("http://127.0.0.1:{port}/mcp"), "toolPrefix": "d", "autoStart": true}))).unwrap();
        fleet.add(definition(serde_json::json!({"name": "gone", "url": "http://127.0.0.1:9/mcp", "autoStart": true, "restart": {"maxRestarts": 1, "initialDelay": 0.05}}))).unwrap();
        let mut updates = fleet.subscribe();
        let mut catalog = fleet.watch_catalog();
        assert_eq!(catalog.borrow_and_update().generation, 0);
        let outcomes = fleet.start_auto().await;
        // Up: one change of tools, prompts and resources; the failing server changes nothing.
        assert!(catalog.has_changed().unwrap());
        let first = catalog.borrow_and_update().clone();
        assert_eq!((first.generation, first.change), (1, CatalogChange { tools: true, prompts: true, resources: true }));
        assert!(outcomes.iter().any(|(n, r)| n == "demo" && r.is_ok()), "{outcomes:?}");
        assert!(outcomes.iter().any(|(n, r)| n == "gone" && matches!(r, Err(Error::Start(_)))), "{outcomes:?}");

        let names: Vec<_> = fleet.catalog().tools.iter().map(|t| t.public_name.clone()).collect();
        assert!(names.contains(&"d_echo".to_string()) && names.contains(&"d_add".to_string()), "{names:?}");
        let r = fleet.call_tool("d_add", serde_json::json!({"a": 1, "b": 2}).as_object().cloned(), RequestOptions::default()).await.unwrap();
        assert_eq!(r.structured_content, Some(serde_json::json!({"result": 3})));
        let err = fleet.call_tool("d_ech", None, RequestOptions::default()).await.unwrap_err();
        assert!(matches!(&err, Error::ToolNotFound { suggestions, .. } if suggestions.contains(&"d_echo".to_string())), "{err:?}");

        assert!(!catalog.has_changed().unwrap(), "calls and failed starts do not touch the catalog");
        fleet.stop("demo").await.unwrap();
        assert_eq!(catalog.borrow_and_update().generation, 2);
        let err = fleet.call_tool("d_add", None, RequestOptions::default()).await.unwrap_err();
        assert!(matches!(&err, Error::ServerDown { state: "Disconnected", .. }), "{err:?}");
        assert!(fleet.catalog().tools.is_empty());
        fleet.restart("demo").await.unwrap();
        assert_eq!(fleet.info("demo").unwrap().state, ServerState::Connected);

        // the unreachable one retried once, then gave up
        tokio::time::timeout(Duration::from_secs(10), async {
            while fleet.info("gone").unwrap().state != ServerState::CrashLoop {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("CrashLoop reached");
        assert_eq!(fleet.info("gone").unwrap().restart_count, 1);
        let mut seen = Vec::new();
        while let Ok(u) = updates.try_recv() {
            if u.name == "gone" {
                seen.push(u.state);
            }
        }
        assert_eq!(
            seen,
            [ServerState::Connecting, ServerState::Failed, ServerState::Restarting, ServerState::Connecting, ServerState::Failed, ServerState::CrashLoop]
        );
        fleet.remove("demo").await.unwrap();
        assert!(matches!(fleet.info("demo"), Err(Error::UnknownServer { .. })));
        fleet.close().await;
        server.abort();
    }

    #[tokio::test]
    async fn reconcile_touches_only_what_changed() {
        let (port, serve) = crate::demo_server::bind_http(0).await.unwrap();
        let server = tokio::spawn(serve);
        let url = format!("http://127.0.0.1:{port}/mcp");
        let spec = |name: &str, prefix: &str, origin_line: usize| {
            let mut d = definition(serde_json::json!({"name": name, "url": url, "toolPrefix": prefix, "autoStart": true, "pingInterval": 0}));
            d.origin = format!("fleet.yaml:{origin_line}");
            d
        };
        let fleet = Fleet::new(FleetOptions::default());
        fleet.add_all(vec![spec("a", "a", 1), spec("b", "b", 5), spec("c", "c", 9)]).unwrap();
        fleet.start_auto().await;
        let generation = fleet.catalog().generation;
        // Same definitions read from other lines (a comment added above): nothing to do.
        let done = fleet.reconcile(vec![spec("a", "a", 3), spec("b", "b", 7), spec("c", "c", 11)]).await.unwrap();
        assert_eq!(done, Reconciled::default());
        assert_eq!(fleet.catalog().generation, generation);
        // b renamed its prefix, c removed, d added.
        let done = fleet.reconcile(vec![spec("a", "a", 1), spec("b", "bee", 5), spec("d", "d", 9)]).await.unwrap();
        assert_eq!(done, Reconciled { added: vec!["d".into()], updated: vec!["b".into()], removed: vec!["c".into()] });
        let names: Vec<String> = fleet.catalog().tools.iter().map(|t| t.public_name.clone()).collect();
        assert!(names.contains(&"bee_echo".into()) && names.contains(&"d_echo".into()) && names.contains(&"a_echo".into()), "{names:?}");
        assert!(!names.iter().any(|n| n.starts_with("c_") || n.starts_with("b_")), "{names:?}");
        fleet.close().await;
        server.abort();
    }

}
