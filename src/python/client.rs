//! The client classes: one Rust base (`MCPClientBase`) with every MCP method, and thin
//! subclasses per transport that only build the configuration.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::auth::Tokens;
use crate::client::{ClientOptions, Connection, Protocol, RequestOptions};
use crate::python::awaitable::spawn;
use crate::python::callback::{PyCallback, type_name};
use crate::python::convert::{JsonValue, opt_seconds, py_to_object, request_options, seconds};
use crate::python::handlers::{PyHandlers, model_json, progress_sink, root_list};
use crate::python::oauth::PyOAuth;
use crate::python::tokens::PyTokenSource;
use crate::python::errors::{ServerNotRunningError, config_error, to_py_err};
use crate::python::types::{py_list, py_str, CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate, ServerInfo, Tool};
use crate::transport::http::redact_url;
use crate::transport::stdio::StderrBuffer;
use crate::transport::{HttpOptions, StdioParams, TransportConfig};

struct ClientState {
    config: TransportConfig,
    options: ClientOptions,
    connection: Mutex<Option<Arc<Connection>>>,
    /// Serializes initialize/close so two concurrent `initialize()` calls start one server.
    lifecycle: tokio::sync::Mutex<()>,
    /// Outlives the connection, so a crashed server's last words stay readable.
    stderr: Mutex<Option<Arc<StderrBuffer>>>,
    /// Python callables behind the token source; they run on the loop the client is used from.
    callbacks: Callbacks,
    /// The elicitation/sampling/roots/log handlers (also in `options.callbacks`).
    handlers: PyHandlers,
    /// `subscribe()` callbacks by resource URI.
    subscriptions: Arc<Mutex<HashMap<String, Option<Arc<PyCallback>>>>>,
    /// The connection whose resource updates are being delivered (its address), if any.
    delivering: Mutex<usize>,
}

impl ClientState {
    fn connection(&self) -> PyResult<Arc<Connection>> {
        self.connection.lock().unwrap().clone().ok_or_else(|| {
            ServerNotRunningError::new_err((
                format!("client for `{}` is not connected: call `await client.initialize()` or use `async with client:`", self.options.name),
                None::<()>,
            ))
        })
    }
}

/// The MCP client methods shared by every transport. Use a subclass: StdioClient,
/// StreamableHTTPClient or SSEClient.
#[pyclass(subclass, module = "mcpfleet._core", frozen, name = "MCPClientBase")]
pub struct ClientBase {
    state: Arc<ClientState>,
}

impl ClientBase {
    /// Starts handing this connection's resource updates to the `subscribe()` callbacks.
    fn deliver_updates(&self, conn: &Arc<Connection>) {
        let id = Arc::as_ptr(conn) as usize;
        {
            let mut delivering = self.state.delivering.lock().unwrap();
            if *delivering == id {
                return;
            }
            *delivering = id;
        }
        let mut updates = conn.resource_updates();
        let subscriptions = self.state.subscriptions.clone();
        crate::python::runtime::handle().spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(uri) => {
                        let callback = subscriptions.lock().unwrap().get(&uri).cloned().flatten();
                        if let Some(callback) = callback {
                            callback.fire(move |f| f.call1((uri,)));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => tracing::warn!("{n} resource updates were dropped: the callbacks did not keep up"),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    fn new(config: TransportConfig, options: ClientOptions, handlers: PyHandlers) -> Self {
        Self::with_callbacks(config, options, Callbacks::None, handlers)
    }

    fn with_callbacks(config: TransportConfig, mut options: ClientOptions, callbacks: Callbacks, handlers: PyHandlers) -> Self {
        options.callbacks = handlers.callbacks.clone();
        Self {
            state: Arc::new(ClientState {
                config,
                options,
                connection: Mutex::new(None),
                lifecycle: tokio::sync::Mutex::new(()),
                stderr: Mutex::new(None),
                callbacks,
                handlers,
                subscriptions: Arc::default(),
                delivering: Mutex::new(0),
            }),
        }
    }

    fn bind_provider(&self, py: Python<'_>) {
        self.state.handlers.bind_running_loop(py);
        match &self.state.callbacks {
            Callbacks::None => {}
            Callbacks::Provider(provider) => provider.bind_running_loop(py),
            Callbacks::OAuth(oauth) => oauth.get().bind_running_loop(py),
        }
    }

    fn describe(&self) -> String {
        let state = &self.state;
        let status = match state.connection.lock().unwrap().as_ref() {
            None => "not connected".to_string(),
            Some(c) if c.is_closed() => "closed".to_string(),
            Some(c) => match c.pid() {
                Some(pid) => format!("connected, pid={pid}"),
                None => "connected".to_string(),
            },
        };
        match &state.config {
            TransportConfig::Stdio(p) => format!(
                "StdioClient(command={}, args={}, env_keys={}, state={})",
                py_str(&p.command),
                py_list(p.args.iter().map(String::as_str)),
                py_list(p.env.iter().map(|(k, _)| k.as_str())),
                py_str(&status)
            ),
            TransportConfig::StreamableHttp { url, options } | TransportConfig::Sse { url, options } => format!(
                "{}(url={}, header_names={}{}, state={})",
                if matches!(state.config, TransportConfig::Sse { .. }) { "SSEClient" } else { "StreamableHTTPClient" },
                py_str(&redact_url(url)),
                py_list(header_names(options)),
                match (&state.callbacks, options.tokens.is_some()) {
                    (Callbacks::OAuth(_), _) => ", auth=OAuth",
                    (_, true) => ", token_provider=True",
                    _ => "",
                },
                py_str(&status)
            ),
        }
    }
}

/// Where a client's tokens come from, on the Python side.
pub enum Callbacks {
    None,
    Provider(Arc<PyTokenSource>),
    OAuth(Py<PyOAuth>),
}

/// A Python token provider and the core's view of it (with its timeout).
pub fn token_source(provider: Option<&Bound<'_, PyAny>>, timeout: f64) -> PyResult<(Option<Arc<PyTokenSource>>, Option<Tokens>)> {
    let Some(provider) = provider.filter(|p| !p.is_none()) else { return Ok((None, None)) };
    let source = PyTokenSource::new(provider)?;
    let tokens = Tokens { source: source.clone(), timeout: seconds(timeout, "token_timeout")?, oauth: None };
    Ok((Some(source), Some(tokens)))
}

/// Gives an HTTP client its tokens: from `token_provider` or from `auth` (not both).
fn with_tokens(
    mut config: TransportConfig,
    provider: Option<&Bound<'_, PyAny>>,
    token_timeout: f64,
    auth: Option<&Bound<'_, PyAny>>,
) -> PyResult<(TransportConfig, Callbacks)> {
    let provider = provider.filter(|p| !p.is_none());
    let auth = auth.filter(|a| !a.is_none());
    let (TransportConfig::StreamableHttp { url, options } | TransportConfig::Sse { url, options }) = &mut config else {
        return Ok((config, Callbacks::None));
    };
    match (provider, auth) {
        (Some(_), Some(_)) => Err(config_error("pass token_provider or auth, not both")),
        (Some(provider), None) => {
            let (source, tokens) = token_source(Some(provider), token_timeout)?;
            options.tokens = tokens;
            Ok((config, source.map(Callbacks::Provider).unwrap_or(Callbacks::None)))
        }
        (None, Some(auth)) => {
            let oauth = auth.cast::<PyOAuth>().map_err(|_| {
                PyTypeError::new_err(format!("auth must be a mcpfleet.OAuth, not {}", crate::python::callback::type_name(auth)))
            })?;
            let parsed = crate::transport::http::parse_http_url(url).map_err(to_py_err)?;
            let tls = options.ca_bundle.is_some() || options.client_cert.is_some() || options.insecure;
            let http = if tls { Some(options.build_client().map_err(to_py_err)?) } else { None };
            let source = oauth.get().source(&parsed, http, true);
            options.tokens = Some(oauth.get().tokens(source));
            Ok((config, Callbacks::OAuth(oauth.clone().unbind())))
        }
        (None, None) => Ok((config, Callbacks::None)),
    }
}

fn header_names(options: &HttpOptions) -> Vec<&str> {
    options.headers.iter().map(|(k, _)| k.as_str()).collect()
}

async fn initialize(state: Arc<ClientState>) -> PyResult<ServerInfo> {
    let _guard = state.lifecycle.lock().await;
    let current = state.connection.lock().unwrap().clone();
    if let Some(conn) = current {
        if !conn.is_closed() {
            return Ok(ServerInfo(conn.server_info_shared()));
        }
    }
    let conn = Arc::new(Connection::connect(&state.config, state.options.clone()).await.map_err(to_py_err)?);
    *state.stderr.lock().unwrap() = conn.stderr().cloned();
    let info = ServerInfo(conn.server_info_shared());
    *state.connection.lock().unwrap() = Some(conn);
    Ok(info)
}

async fn close(state: Arc<ClientState>) {
    let _guard = state.lifecycle.lock().await;
    let conn = state.connection.lock().unwrap().take();
    if let Some(conn) = conn {
        conn.close().await;
    }
}

#[pymethods]
impl ClientBase {
    /// Starts (stdio) or reaches (HTTP) the server and performs the MCP handshake.
    /// Returns the server's `ServerInfo`. Calling it again on a connected client is a no-op.
    fn initialize<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.bind_provider(py);
        spawn(py, initialize(self.state.clone()))
    }

    /// Ends the session; a stdio server's whole process group is stopped (stdin EOF, grace
    /// period, SIGTERM, SIGKILL). Safe to call twice.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        spawn(py, async move {
            close(state).await;
            Ok(())
        })
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.get().bind_provider(slf.py());
        let state = slf.get().state.clone();
        let this: Py<PyAny> = slf.clone().into_any().unbind();
        spawn(slf.py(), async move {
            initialize(state).await?;
            Ok(this)
        })
    }

    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc_info: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        spawn(py, async move {
            close(state).await;
            Ok(false)
        })
    }

    /// All tools of the server (pagination followed to the end).
    #[pyo3(signature = (*, timeout = None, meta = None))]
    fn list_tools<'py>(&self, py: Python<'py>, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move {
            let tools = conn.list_tools(options.timeout, options.meta.as_ref()).await.map_err(to_py_err)?;
            Ok(crate::python::types::ToolList(tools.into_iter().map(|tool| { let execution = conn.tool_execution(&tool.name); Tool(tool, execution) }).collect()))
        })
    }

    /// Calls a tool. A tool that fails returns a result with `is_error=True`.
    #[pyo3(signature = (name, arguments = None, *, timeout = None, meta = None, progress = None))]
    fn call_tool<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let mut options = request_options(timeout, meta.as_ref())?;
        options.progress = progress_sink(progress.as_ref())?;
        spawn(py, async move { conn.call_tool(&name, arguments, options).await.map(CallToolResult).map_err(to_py_err) })
    }

    /// All resources of the server.
    #[pyo3(signature = (*, timeout = None, meta = None))]
    fn list_resources<'py>(&self, py: Python<'py>, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move {
            let resources = conn.list_resources(options.timeout, options.meta.as_ref()).await.map_err(to_py_err)?;
            Ok(resources.into_iter().map(Resource).collect::<Vec<_>>())
        })
    }

    /// The server's resource templates (URI templates of resources it can read).
    #[pyo3(signature = (*, timeout = None, meta = None))]
    fn list_resource_templates<'py>(&self, py: Python<'py>, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move {
            let templates = conn.list_resource_templates(options.timeout, options.meta.as_ref()).await.map_err(to_py_err)?;
            Ok(templates.into_iter().map(ResourceTemplate).collect::<Vec<_>>())
        })
    }

    /// `resources/subscribe`: `on_update(uri)` (sync or async; optional) is called for each
    /// `notifications/resources/updated` about `uri`.
    #[pyo3(signature = (uri, on_update = None, *, timeout = None, meta = None))]
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        uri: String,
        on_update: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        let callback = match on_update.filter(|f| !f.is_none()) {
            Some(f) if f.is_callable() => Some(PyCallback::new(&f, "the resource update callback")),
            Some(f) => return Err(PyTypeError::new_err(format!("on_update must be a function (sync or async), not {}", type_name(&f)))),
            None => None,
        };
        self.state.subscriptions.lock().unwrap().insert(uri.clone(), callback);
        self.deliver_updates(&conn);
        let subscriptions = self.state.subscriptions.clone();
        spawn(py, async move {
            let outcome = conn.subscribe(&uri, options.timeout, options.meta.as_ref()).await;
            if outcome.is_err() {
                subscriptions.lock().unwrap().remove(&uri);
            }
            outcome.map_err(to_py_err)
        })
    }

    /// `resources/unsubscribe`; the URI's callback is forgotten at once.
    #[pyo3(signature = (uri, *, timeout = None, meta = None))]
    fn unsubscribe<'py>(&self, py: Python<'py>, uri: String, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        self.state.subscriptions.lock().unwrap().remove(&uri);
        spawn(py, async move { conn.unsubscribe(&uri, options.timeout, options.meta.as_ref()).await.map_err(to_py_err) })
    }

    /// `completion/complete`: values for an argument of a prompt (``ref={"type": "ref/prompt",
    /// "name": ...}``) or resource template (``{"type": "ref/resource", "uri": ...}``).
    /// ``argument`` is ``{"name": ..., "value": <what is typed so far>}``; returns
    /// ``{"values": [...], "total": ..., "hasMore": ...}`` (no values from a server without
    /// the completions capability).
    #[pyo3(signature = (r#ref, argument, *, context_arguments = None, timeout = None, meta = None))]
    fn complete<'py>(
        &self,
        py: Python<'py>,
        r#ref: Bound<'py, PyAny>,
        argument: Bound<'py, PyAny>,
        context_arguments: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let RequestOptions { timeout, meta, .. } = request_options(timeout, meta.as_ref())?;
        let mut params = serde_json::Map::new();
        params.insert("ref".into(), model_json(&r#ref)?);
        params.insert("argument".into(), model_json(&argument)?);
        if let Some(context) = py_to_object(context_arguments.as_ref(), "context_arguments")? {
            params.insert("context".into(), serde_json::json!({ "arguments": context }));
        }
        if let Some(meta) = meta {
            params.insert("_meta".into(), serde_json::Value::Object(meta));
        }
        let params: rmcp::model::CompleteRequestParams = serde_json::from_value(serde_json::Value::Object(params))
            .map_err(|e| config_error(format!("complete(): {e} (ref: {{\"type\": \"ref/prompt\", \"name\": ...}} or {{\"type\": \"ref/resource\", \"uri\": ...}}; argument: {{\"name\": ..., \"value\": ...}})")))?;
        spawn(py, async move {
            let completion = conn.complete(params, timeout).await.map_err(to_py_err)?;
            Ok(JsonValue(serde_json::to_value(&completion).unwrap_or_default()))
        })
    }

    /// Starts a tool as a task (protocol 2025-11-25) and returns the task at once:
    /// ``{"taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttl", "pollInterval"}``.
    /// ``ttl`` (seconds) asks the server to keep it that long.
    #[pyo3(signature = (name, arguments = None, *, ttl = None, timeout = None, meta = None))]
    fn start_task<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
        ttl: Option<f64>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let ttl = opt_seconds(ttl, "ttl")?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move { conn.start_task(&name, arguments.as_ref(), ttl, options.meta.as_ref(), options.timeout).await.map(JsonValue::from).map_err(to_py_err) })
    }

    /// The task's state (``tasks/get``), as ``start_task`` returns it.
    #[pyo3(signature = (task_id, *, timeout = None))]
    fn get_task<'py>(&self, py: Python<'py>, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let timeout = opt_seconds(timeout, "timeout")?;
        spawn(py, async move { conn.get_task(&task_id, timeout).await.map(JsonValue::from).map_err(to_py_err) })
    }

    /// Waits for the task's result (``tasks/result``); the server's questions meanwhile go to
    /// this client's handlers.
    #[pyo3(signature = (task_id, *, timeout = None))]
    fn task_result<'py>(&self, py: Python<'py>, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let timeout = opt_seconds(timeout, "timeout")?;
        spawn(py, async move { conn.task_result(&task_id, timeout).await.map(CallToolResult).map_err(to_py_err) })
    }

    /// Cancels the task (``tasks/cancel``); returns it as the server left it.
    #[pyo3(signature = (task_id, *, timeout = None))]
    fn cancel_task<'py>(&self, py: Python<'py>, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let timeout = opt_seconds(timeout, "timeout")?;
        spawn(py, async move { conn.cancel_task(&task_id, timeout).await.map(JsonValue::from).map_err(to_py_err) })
    }

    /// Reads one resource by URI.
    #[pyo3(signature = (uri, *, timeout = None, meta = None, progress = None))]
    fn read_resource<'py>(
        &self,
        py: Python<'py>,
        uri: String,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let mut options = request_options(timeout, meta.as_ref())?;
        options.progress = progress_sink(progress.as_ref())?;
        spawn(py, async move { conn.read_resource_with(&uri, options).await.map(ReadResourceResult).map_err(to_py_err) })
    }

    /// All prompts of the server.
    #[pyo3(signature = (*, timeout = None, meta = None))]
    fn list_prompts<'py>(&self, py: Python<'py>, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move {
            let prompts = conn.list_prompts(options.timeout, options.meta.as_ref()).await.map_err(to_py_err)?;
            Ok(prompts.into_iter().map(Prompt).collect::<Vec<_>>())
        })
    }

    /// Renders a prompt with its arguments.
    #[pyo3(signature = (name, arguments = None, *, timeout = None, meta = None, progress = None))]
    fn get_prompt<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let mut options = request_options(timeout, meta.as_ref())?;
        options.progress = progress_sink(progress.as_ref())?;
        spawn(py, async move { conn.get_prompt_with(&name, arguments, options).await.map(GetPromptResult).map_err(to_py_err) })
    }

    /// Checks that the server answers.
    #[pyo3(signature = (*, timeout = None, meta = None))]
    fn ping<'py>(&self, py: Python<'py>, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move { conn.ping(options.timeout, options.meta.as_ref()).await.map_err(to_py_err) })
    }

    /// Asks the server to send log messages at `level` ("debug", "info", "notice", "warning",
    /// "error", "critical", "alert", "emergency") and above. They arrive on the
    /// `mcpfleet.server` logger.
    #[pyo3(signature = (level, *, timeout = None, meta = None))]
    fn set_logging_level<'py>(&self, py: Python<'py>, level: String, timeout: Option<f64>, meta: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.state.connection()?;
        let options = request_options(timeout, meta.as_ref())?;
        spawn(py, async move { conn.set_logging_level(&level, options.timeout, options.meta.as_ref()).await.map_err(to_py_err) })
    }

    /// Replaces the roots given as `roots=` and tells the server (`roots/list_changed`), which
    /// then asks for them again.
    fn set_roots<'py>(&self, py: Python<'py>, roots: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let Some(list) = &self.state.handlers.root_list else {
            return Err(config_error("this client has no list of roots: pass roots=[...] when creating it (a roots function is asked each time)"));
        };
        list.set(root_list(&roots)?);
        let conn = self.state.connection.lock().unwrap().clone().filter(|c| !c.is_closed());
        spawn(py, async move {
            match conn {
                Some(conn) => conn.notify_roots_changed().await.map_err(to_py_err),
                None => Ok(()),
            }
        })
    }

    /// The server's `initialize` answer, or None before `initialize()`.
    #[getter]
    fn server_info(&self) -> Option<ServerInfo> {
        self.state.connection.lock().unwrap().as_ref().map(|c| ServerInfo(c.server_info_shared()))
    }

    /// The protocol version agreed with the server, or None before `initialize()`.
    #[getter]
    fn protocol_version(&self) -> Option<String> {
        self.state.connection.lock().unwrap().as_ref().map(|c| c.server_info().protocol_version.to_string())
    }

    /// True between a successful `initialize()` and `close()`.
    #[getter]
    fn is_connected(&self) -> bool {
        self.state.connection.lock().unwrap().as_ref().is_some_and(|c| !c.is_closed())
    }

    /// "stdio", "streamable-http" or "sse".
    #[getter]
    fn transport(&self) -> &'static str {
        self.state.config.kind()
    }

    /// The name used in log records and error messages.
    #[getter]
    fn name(&self) -> &str {
        &self.state.options.name
    }

    fn __repr__(&self) -> String {
        crate::util::redact::scrub(&self.describe())
    }
}

fn env_pairs(env: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let Some(env) = env else { return Ok(Vec::new()) };
    env.iter()
        .map(|(k, v)| {
            let key: String = k.extract().map_err(|_| PyTypeError::new_err("env keys must be str"))?;
            let value: String = v.extract().map_err(|_| PyTypeError::new_err(format!("env[{key:?}] must be a str")))?;
            Ok((key, value))
        })
        .collect()
}

fn header_pairs(headers: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let Some(headers) = headers else { return Ok(Vec::new()) };
    headers
        .iter()
        .map(|(k, v)| {
            let key: String = k.extract().map_err(|_| PyTypeError::new_err("header names must be str"))?;
            let value: String = v.extract().map_err(|_| PyTypeError::new_err(format!("headers[{key:?}] must be a str")))?;
            Ok((key, value))
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn stdio_config(
    command: String,
    args: Option<Vec<String>>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    init_timeout: f64,
    timeout: f64,
    name: Option<String>,
    stderr_lines: usize,
    shutdown_grace: f64,
) -> PyResult<(TransportConfig, ClientOptions)> {
    if command.trim().is_empty() {
        return Err(config_error("command must not be empty"));
    }
    let mut params = StdioParams::new(command.clone());
    params.args = args.unwrap_or_default();
    params.env = env;
    params.cwd = cwd;
    params.stderr_lines = stderr_lines;
    params.shutdown_grace = seconds(shutdown_grace, "shutdown_grace")?;
    let name = name.unwrap_or(command);
    params.log_name = name.clone();
    let options = ClientOptions { name, init_timeout: seconds(init_timeout, "init_timeout")?, request_timeout: seconds(timeout, "timeout")?, ..Default::default() };
    Ok((TransportConfig::Stdio(params), options))
}

#[allow(clippy::too_many_arguments)]
fn http_config(
    kind: &str,
    url: String,
    headers: Vec<(String, String)>,
    timeout: f64,
    init_timeout: Option<f64>,
    ca_bundle: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    insecure: bool,
    name: Option<String>,
    tokens: Option<Tokens>,
) -> PyResult<(TransportConfig, ClientOptions)> {
    crate::transport::http::parse_http_url(&url).map_err(to_py_err)?;
    let options = HttpOptions { headers, ca_bundle, client_cert, client_key, insecure, tokens, ..HttpOptions::default() };
    // Fail on bad headers now, not at the first request.
    options.header_map().map_err(to_py_err)?;
    let request_timeout = seconds(timeout, "timeout")?;
    let client_options = ClientOptions {
        name: name.unwrap_or_else(|| redact_url(&url)),
        init_timeout: match init_timeout {
            Some(t) => seconds(t, "init_timeout")?,
            None => request_timeout,
        },
        request_timeout,
        ..Default::default()
    };
    let config = if kind == "sse" { TransportConfig::Sse { url, options } } else { TransportConfig::StreamableHttp { url, options } };
    Ok((config, client_options))
}

/// A client for a server started as a child process speaking MCP over stdin/stdout.
///
/// The child inherits this process's environment plus `env`, runs in its own process group
/// and is ended with its whole group by `close()`, by garbage collection, or at interpreter exit.
#[pyclass(extends = ClientBase, subclass, module = "mcpfleet._core", frozen)]
pub struct StdioClient;

#[pymethods]
impl StdioClient {
    #[new]
    #[pyo3(signature = (command, args = None, env = None, cwd = None, init_timeout = 10.0, timeout = 30.0, *, name = None, stderr_lines = 200, shutdown_grace = 2.0, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None, protocol = "auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        command: String,
        args: Option<Vec<String>>,
        env: Option<&Bound<'_, PyDict>>,
        cwd: Option<PathBuf>,
        init_timeout: f64,
        timeout: f64,
        name: Option<String>,
        stderr_lines: usize,
        shutdown_grace: f64,
        elicitation_handler: Option<&Bound<'_, PyAny>>,
        sampling_handler: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log_handler: Option<&Bound<'_, PyAny>>,
        protocol: &str,
    ) -> PyResult<PyClassInitializer<Self>> {
        let handlers = PyHandlers::new(elicitation_handler, sampling_handler, roots, log_handler)?;
        let protocol = Protocol::parse(protocol).map_err(to_py_err)?;
        let (config, mut options) = stdio_config(command, args, env_pairs(env)?, cwd, init_timeout, timeout, name, stderr_lines, shutdown_grace)?;
        options.protocol = protocol;
        Ok(PyClassInitializer::from(ClientBase::new(config, options, handlers)).add_subclass(StdioClient))
    }

    /// The recent stderr of the server (bounded; also after it exited or was closed).
    fn get_stderr(slf: PyRef<'_, Self>) -> String {
        slf.as_super().state.stderr.lock().unwrap().as_ref().map(|b| b.text()).unwrap_or_default()
    }

    /// The server process id while connected, else None.
    #[getter]
    fn pid(slf: PyRef<'_, Self>) -> Option<u32> {
        slf.as_super().state.connection.lock().unwrap().as_ref().filter(|c| !c.is_closed()).and_then(|c| c.pid())
    }
}

/// A client for a remote server over streamable HTTP (MCP 2025-03-26 and later).
#[pyclass(extends = ClientBase, subclass, module = "mcpfleet._core", frozen)]
pub struct StreamableHTTPClient;

#[pymethods]
impl StreamableHTTPClient {
    #[new]
    #[pyo3(signature = (url, headers = None, timeout = 30.0, *, init_timeout = None, ca_bundle = None, client_cert = None, client_key = None, insecure = false, name = None, token_provider = None, token_timeout = 10.0, auth = None, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None, protocol = "auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: String,
        headers: Option<&Bound<'_, PyDict>>,
        timeout: f64,
        init_timeout: Option<f64>,
        ca_bundle: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        insecure: bool,
        name: Option<String>,
        token_provider: Option<&Bound<'_, PyAny>>,
        token_timeout: f64,
        auth: Option<&Bound<'_, PyAny>>,
        elicitation_handler: Option<&Bound<'_, PyAny>>,
        sampling_handler: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log_handler: Option<&Bound<'_, PyAny>>,
        protocol: &str,
    ) -> PyResult<PyClassInitializer<Self>> {
        let handlers = PyHandlers::new(elicitation_handler, sampling_handler, roots, log_handler)?;
        let protocol = Protocol::parse(protocol).map_err(to_py_err)?;
        let (config, mut options) =
            http_config("streamable-http", url, header_pairs(headers)?, timeout, init_timeout, ca_bundle, client_cert, client_key, insecure, name, None)?;
        options.protocol = protocol;
        let (config, callbacks) = with_tokens(config, token_provider, token_timeout, auth)?;
        Ok(PyClassInitializer::from(ClientBase::with_callbacks(config, options, callbacks, handlers)).add_subclass(StreamableHTTPClient))
    }
}

/// A client for a remote server over the legacy HTTP+SSE transport (MCP 2024-11-05).
#[pyclass(extends = ClientBase, subclass, module = "mcpfleet._core", frozen)]
pub struct SSEClient;

#[pymethods]
impl SSEClient {
    #[new]
    #[pyo3(signature = (url, headers = None, timeout = 30.0, *, init_timeout = None, ca_bundle = None, client_cert = None, client_key = None, insecure = false, name = None, token_provider = None, token_timeout = 10.0, auth = None, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None, protocol = "auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        url: String,
        headers: Option<&Bound<'_, PyDict>>,
        timeout: f64,
        init_timeout: Option<f64>,
        ca_bundle: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        insecure: bool,
        name: Option<String>,
        token_provider: Option<&Bound<'_, PyAny>>,
        token_timeout: f64,
        auth: Option<&Bound<'_, PyAny>>,
        elicitation_handler: Option<&Bound<'_, PyAny>>,
        sampling_handler: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log_handler: Option<&Bound<'_, PyAny>>,
        protocol: &str,
    ) -> PyResult<PyClassInitializer<Self>> {
        let handlers = PyHandlers::new(elicitation_handler, sampling_handler, roots, log_handler)?;
        let protocol = Protocol::parse(protocol).map_err(to_py_err)?;
        let (config, mut options) = http_config("sse", url, header_pairs(headers)?, timeout, init_timeout, ca_bundle, client_cert, client_key, insecure, name, None)?;
        options.protocol = protocol;
        let (config, callbacks) = with_tokens(config, token_provider, token_timeout, auth)?;
        Ok(PyClassInitializer::from(ClientBase::with_callbacks(config, options, callbacks, handlers)).add_subclass(SSEClient))
    }
}

/// Settings for `new_mcp_client_from_type`: `command`/`args`/`env`/`cwd` for stdio,
/// `url`/`headers` and TLS options for remote servers.
#[pyclass(module = "mcpfleet", get_all, set_all)]
pub struct MCPClientConfig {
    command: Option<String>,
    args: Vec<String>,
    env: Py<PyDict>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    headers: Py<PyDict>,
    timeout: f64,
    init_timeout: Option<f64>,
    ca_bundle: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    insecure: bool,
    name: Option<String>,
    elicitation_handler: Option<Py<PyAny>>,
    sampling_handler: Option<Py<PyAny>>,
    roots: Option<Py<PyAny>>,
    log_handler: Option<Py<PyAny>>,
    protocol: String,
}

#[pymethods]
impl MCPClientConfig {
    #[new]
    #[pyo3(signature = (command = None, args = None, env = None, cwd = None, url = None, headers = None, timeout = 30.0, init_timeout = None, *, ca_bundle = None, client_cert = None, client_key = None, insecure = false, name = None, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None, protocol = "auto"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        command: Option<String>,
        args: Option<Vec<String>>,
        env: Option<Bound<'_, PyDict>>,
        cwd: Option<PathBuf>,
        url: Option<String>,
        headers: Option<Bound<'_, PyDict>>,
        timeout: f64,
        init_timeout: Option<f64>,
        ca_bundle: Option<PathBuf>,
        client_cert: Option<PathBuf>,
        client_key: Option<PathBuf>,
        insecure: bool,
        name: Option<String>,
        elicitation_handler: Option<Py<PyAny>>,
        sampling_handler: Option<Py<PyAny>>,
        roots: Option<Py<PyAny>>,
        log_handler: Option<Py<PyAny>>,
        protocol: &str,
    ) -> Self {
        Self {
            protocol: protocol.to_owned(),
            elicitation_handler,
            sampling_handler,
            roots,
            log_handler,
            command,
            args: args.unwrap_or_default(),
            env: env.unwrap_or_else(|| PyDict::new(py)).unbind(),
            cwd,
            url,
            headers: headers.unwrap_or_else(|| PyDict::new(py)).unbind(),
            timeout,
            init_timeout,
            ca_bundle,
            client_cert,
            client_key,
            insecure,
            name,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let keys = |d: &Py<PyDict>| d.bind(py).keys().iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let text = match (&self.command, &self.url) {
            (Some(command), _) => format!(
                "MCPClientConfig(command={}, args={}, env_keys={})",
                py_str(command),
                py_list(self.args.iter().map(String::as_str)),
                py_list(keys(&self.env).iter().map(String::as_str))
            ),
            (None, Some(url)) => format!(
                "MCPClientConfig(url={}, header_names={})",
                py_str(&redact_url(url)),
                py_list(keys(&self.headers).iter().map(String::as_str))
            ),
            (None, None) => "MCPClientConfig()".to_string(),
        };
        crate::util::redact::scrub(&text)
    }
}

/// Builds the client for a transport type: "stdio", "streamable-http" or "sse".
#[pyfunction]
pub fn new_mcp_client_from_type(py: Python<'_>, r#type: &str, config: PyRef<'_, MCPClientConfig>) -> PyResult<Py<PyAny>> {
    // Exactly muster's three names: this is its `NewMCPClientFromType`. (Definitions also take
    // `http`, which desktop-client configs write.)
    let kind = match crate::fleet::definition::ServerKind::parse_exact(r#type) {
        Some(kind) => kind.as_str(),
        None => {
            let hint = crate::fleet::definition::ServerKind::parse(r#type).map(|k| format!(" (did you mean {:?}?)", k.as_str())).unwrap_or_default();
            return Err(config_error(format!("unknown MCP client type {:?}{hint}: expected \"stdio\", \"streamable-http\" or \"sse\"", r#type)));
        }
    };
    let package = py.import("mcpfleet")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("timeout", config.timeout)?;
    kwargs.set_item("name", config.name.clone())?;
    kwargs.set_item("elicitation_handler", &config.elicitation_handler)?;
    kwargs.set_item("sampling_handler", &config.sampling_handler)?;
    kwargs.set_item("roots", &config.roots)?;
    kwargs.set_item("log_handler", &config.log_handler)?;
    kwargs.set_item("protocol", &config.protocol)?;
    if kind == "stdio" {
        let command = config.command.clone().ok_or_else(|| config_error("MCPClientConfig.command is required for type \"stdio\""))?;
        if config.url.is_some() {
            return Err(config_error("MCPClientConfig.url is not used by type \"stdio\"; give command/args instead"));
        }
        kwargs.set_item("args", config.args.clone())?;
        kwargs.set_item("env", config.env.bind(py))?;
        kwargs.set_item("cwd", config.cwd.clone())?;
        kwargs.set_item("init_timeout", config.init_timeout.unwrap_or(crate::client::DEFAULT_STDIO_INIT_TIMEOUT.as_secs_f64()))?;
        return Ok(package.getattr("StdioClient")?.call((command,), Some(&kwargs))?.unbind());
    }
    let url = config.url.clone().ok_or_else(|| config_error(format!("MCPClientConfig.url is required for type {kind:?}")))?;
    if config.command.is_some() {
        return Err(config_error(format!("MCPClientConfig.command is not used by type {kind:?}; give url instead")));
    }
    kwargs.set_item("headers", config.headers.bind(py))?;
    kwargs.set_item("init_timeout", config.init_timeout)?;
    kwargs.set_item("ca_bundle", config.ca_bundle.clone())?;
    kwargs.set_item("client_cert", config.client_cert.clone())?;
    kwargs.set_item("client_key", config.client_key.clone())?;
    kwargs.set_item("insecure", config.insecure)?;
    let class = if kind == "sse" { "SSEClient" } else { "StreamableHTTPClient" };
    Ok(package.getattr(class)?.call((url,), Some(&kwargs))?.unbind())
}
