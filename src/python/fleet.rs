//! The `Adapter` (a fleet of MCP servers) and its result types, over `crate::fleet`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rmcp::model;
use tokio::sync::broadcast;

use crate::auth::Tokens;
use crate::error::Error;
use crate::fleet::definition::ServerDefinition;
use crate::fleet::load::{load_paths, load_update, load_value};
use crate::fleet::management;
use crate::fleet::manager::{Fleet, FleetOptions, ServerInfo, StatusUpdate};
use crate::python::awaitable::spawn;
use crate::python::convert::{JsonValue, json_to_py, object_to_py, opt_seconds, py_to_json, py_to_object, request_options, seconds};
use crate::python::oauth::login_authorizer;
use crate::python::errors::{config_error, to_py_err};
use crate::python::handlers::PyHandlers;
use crate::python::tokens::PyTokenSource;
use crate::python::types::{CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate, py_opt, py_str, short, to_py_value};

/// A spec from Python: a mapping, or an object with `to_dict()` (such as `mcpfleet.MCPServer`),
/// and its token provider (the `token_provider`/`tokenProvider` key or attribute), which stays
/// a Python object.
fn spec_parts<'py>(spec: &Bound<'py, PyAny>) -> PyResult<(serde_json::Value, Option<Bound<'py, PyAny>>)> {
    let py = spec.py();
    if let Ok(dict) = spec.cast::<PyDict>() {
        let mut provider = None;
        let mut plain = None;
        for key in ["token_provider", "tokenProvider"] {
            if let Some(value) = dict.get_item(key)? {
                let copy = plain.get_or_insert(dict.copy()?);
                copy.del_item(key)?;
                provider = Some(value);
            }
        }
        return Ok((py_to_json(plain.as_ref().unwrap_or(dict))?, provider.filter(|p| !p.is_none())));
    }
    if spec.hasattr("to_dict")? {
        let provider = spec.getattr_opt(pyo3::intern!(py, "token_provider"))?.filter(|p| !p.is_none());
        return Ok((py_to_json(&spec.call_method0("to_dict")?)?, provider));
    }
    Ok((py_to_json(spec)?, None))
}

type Providers = Mutex<HashMap<String, Arc<PyTokenSource>>>;

/// Records a spec's provider under each of its servers' names, then gives every definition
/// with a recorded provider its token source. Providers are for remote servers only.
fn attach_providers(providers: &Providers, defs: &mut [ServerDefinition], provider: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let mut map = providers.lock().unwrap();
    if let Some(provider) = provider {
        let source = PyTokenSource::new(provider)?;
        for def in defs.iter() {
            map.insert(def.name.clone(), source.clone());
        }
    }
    for def in defs.iter_mut() {
        let Some(source) = map.get(&def.name) else { continue };
        if !def.kind.is_remote() {
            return Err(config_error(format!(
                "server `{}`: a token_provider is only for remote servers (streamable-http or sse), not {}",
                def.name,
                def.kind.as_str()
            )));
        }
        def.tokens = Some(Tokens::new(source.clone()));
    }
    Ok(())
}

fn definitions(providers: &Providers, spec: &Bound<'_, PyAny>, label: &str) -> PyResult<Vec<ServerDefinition>> {
    let (json, provider) = spec_parts(spec)?;
    let mut defs = load_value(&json, label).map_err(|p| to_py_err(Error::Invalid(p)))?;
    attach_providers(providers, &mut defs, provider.as_ref())?;
    Ok(defs)
}

/// A fleet of MCP servers: one registry, supervised lifecycles, and all tools under prefixes.
#[pyclass(module = "mcpfleet._core", subclass, frozen)]
pub struct Adapter {
    fleet: Arc<Fleet>,
    management_tools: bool,
    /// Token providers by server name (kept across `update()` of that server).
    providers: Providers,
    /// The fleet's handlers and each server's own, to bind to the loop the fleet is used from.
    handlers: Mutex<Vec<PyHandlers>>,
    /// Where the definitions come from when they are a cluster's `MCPServer` resources.
    kubernetes: Option<crate::kubernetes::KubeOptions>,
    /// The cluster's watch while the fleet is entered.
    kube_source: Arc<tokio::sync::Mutex<Option<crate::kubernetes::KubeSource>>>,
}

impl Adapter {
    /// The cluster's watch, started once (a fleet of a cluster only).
    fn source_started(&self) -> impl std::future::Future<Output = PyResult<()>> + Send + 'static {
        let (fleet, kubernetes, kube_source) = (self.fleet.clone(), self.kubernetes.clone(), self.kube_source.clone());
        async move {
            let Some(options) = kubernetes else { return Ok(()) };
            let mut held = kube_source.lock().await;
            if held.is_none() {
                *held = Some(crate::kubernetes::follow(fleet, options).await.map_err(to_py_err)?);
            }
            Ok(())
        }
    }
}

/// `kubernetes={"namespace": ..., "kubeconfig": ..., "context": ..., "label_selector": ..., "group": ...,
/// "cross_namespace_secrets": ..., "write_status": ..., "leader_election": ..., "lease_duration": ...,
/// "lease_namespace": ..., "lease_name": ...}`.
pub fn kube_options(given: &Bound<'_, PyDict>) -> PyResult<crate::kubernetes::KubeOptions> {
    let mut options = crate::kubernetes::KubeOptions::default();
    for (key, value) in given.iter() {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        match key.as_str() {
            "namespace" => options.namespace = Some(value.extract()?),
            "kubeconfig" => options.kubeconfig = Some(value.extract::<std::path::PathBuf>()?),
            "context" => options.context = Some(value.extract()?),
            "label_selector" => options.label_selector = Some(value.extract()?),
            "group" => options.group = value.extract()?,
            "cross_namespace_secrets" => options.cross_namespace_secrets = value.extract()?,
            "write_status" => options.write_status = value.extract()?,
            "leader_election" => options.leader_election = value.extract()?,
            "lease_namespace" => options.lease_namespace = Some(value.extract()?),
            "lease_name" => options.lease_name = value.extract()?,
            "lease_duration" => {
                let seconds: f64 = value.extract()?;
                if !(1.0..=3600.0).contains(&seconds) {
                    return Err(config_error(format!("kubernetes: lease_duration must be between 1 and 3600 seconds, got {seconds}")));
                }
                options.lease_duration = std::time::Duration::from_secs_f64(seconds);
            }
            other => {
                return Err(config_error(format!(
                    "kubernetes: unknown option {other:?} (namespace, kubeconfig, context, label_selector, group, cross_namespace_secrets, write_status, leader_election, lease_namespace, lease_name, lease_duration)"
                )));
            }
        }
    }
    Ok(options)
}

impl Adapter {
    /// What a `serve_*` call publishes; management tools by default as the Adapter says.
    fn gateway_options(&self, py: Python<'_>, name: String, management_tools: Option<bool>, tool_search: bool) -> crate::gateway::GatewayOptions {
        self.bind_providers(py);
        crate::gateway::GatewayOptions { name, management_tools: management_tools.unwrap_or(self.management_tools), tool_search }
    }

    /// Token providers run on the loop the fleet is driven from.
    fn bind_providers(&self, py: Python<'_>) {
        for provider in self.providers.lock().unwrap().values() {
            provider.bind_running_loop(py);
        }
        for handlers in self.handlers.lock().unwrap().iter() {
            handlers.bind_running_loop(py);
        }
    }
}

/// What a reload changed, as a dict of name lists.
struct Reloaded(crate::fleet::manager::Reconciled);

impl<'py> IntoPyObject<'py> for Reloaded {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("added", self.0.added)?;
        d.set_item("updated", self.0.updated)?;
        d.set_item("removed", self.0.removed)?;
        Ok(d)
    }
}

/// One path, or a list of them.
pub(crate) fn config_paths(config: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if config.is_instance_of::<PyList>() || config.is_instance_of::<pyo3::types::PyTuple>() {
        config.try_iter()?.map(|p| p?.extract::<PathBuf>()).collect()
    } else {
        Ok(vec![config.extract::<PathBuf>()?])
    }
}

/// `(server names, problems)` of configuration files or directories, read without starting
/// anything: what `mcpfleet validate` reports.
#[pyfunction]
pub fn _check_config(py: Python<'_>, config: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, Py<PyAny>)> {
    let paths = config_paths(config)?;
    let (names, problems) = match py.detach(|| load_paths(&paths)) {
        Ok(defs) => (defs.into_iter().map(|d| d.name).collect(), serde_json::Value::Array(Vec::new())),
        Err(problems) => (Vec::new(), crate::python::errors::problems_json(&problems)),
    };
    Ok((names, json_to_py(py, &problems)?.unbind()))
}

#[pymethods]
impl Adapter {
    #[new]
    #[pyo3(signature = (servers = None, *, management_tools = false, config = None, token_providers = None, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None, kubernetes = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        servers: Option<&Bound<'_, PyAny>>,
        management_tools: bool,
        config: Option<&Bound<'_, PyAny>>,
        token_providers: Option<&Bound<'_, PyDict>>,
        elicitation_handler: Option<&Bound<'_, PyAny>>,
        sampling_handler: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log_handler: Option<&Bound<'_, PyAny>>,
        kubernetes: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = config.map(config_paths).transpose()?;
        let kubernetes = kubernetes.map(kube_options).transpose()?;
        if kubernetes.is_some() && (config.is_some() || servers.is_some()) {
            return Err(config_error("a fleet of a cluster's MCPServer resources takes its servers from the cluster only (no servers or config)"));
        }
        let handlers = PyHandlers::new(elicitation_handler, sampling_handler, roots, log_handler)?;
        let fleet = Fleet::new(FleetOptions { callbacks: handlers.callbacks.clone(), ..FleetOptions::default() });
        let providers = Providers::default();
        if let Some(given) = token_providers {
            let mut map = providers.lock().unwrap();
            for (name, provider) in given.iter() {
                map.insert(name.extract::<String>()?, PyTokenSource::new(&provider)?);
            }
        }
        let mut all = Vec::new();
        if let Some(paths) = config {
            all = py.detach(|| load_paths(&paths)).map_err(|p| to_py_err(Error::Invalid(p)))?;
            attach_providers(&providers, &mut all, None)?;
        }
        if let Some(servers) = servers {
            let mut problems = Vec::new();
            let items: Vec<Bound<'_, PyAny>> = if servers.is_instance_of::<PyList>() || servers.is_instance_of::<pyo3::types::PyTuple>() {
                servers.try_iter()?.collect::<PyResult<_>>()?
            } else {
                vec![servers.clone()]
            };
            for (i, item) in items.iter().enumerate() {
                let (json, provider) = spec_parts(item)?;
                match load_value(&json, &format!("servers[{i}]")) {
                    Ok(mut defs) => {
                        attach_providers(&providers, &mut defs, provider.as_ref())?;
                        all.append(&mut defs);
                    }
                    Err(mut p) => problems.append(&mut p),
                }
            }
            if !problems.is_empty() {
                return Err(to_py_err(Error::Invalid(problems)));
            }
        }
        fleet.add_all(all).map_err(to_py_err)?;
        Ok(Self { fleet: Arc::new(fleet), management_tools, providers, handlers: Mutex::new(vec![handlers]), kubernetes, kube_source: Arc::default() })
    }

    /// Starts every autoStart server concurrently. Returns {name: error message or None}.
    fn start_auto<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            let outcomes = fleet.start_auto().await;
            Ok(outcomes.into_iter().map(|(name, r)| (name, r.err().map(|e| e.to_string()))).collect::<std::collections::BTreeMap<_, _>>())
        })
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        this.bind_providers(slf.py());
        let fleet = this.fleet.clone();
        let me: Py<PyAny> = slf.clone().into_any().unbind();
        let source = this.source_started();
        spawn(slf.py(), async move {
            source.await?;
            fleet.start_auto().await;
            Ok(me)
        })
    }

    /// Lists the cluster's resources and starts watching them (a fleet from `from_kubernetes`;
    /// nothing otherwise). Entering the fleet does it.
    fn _start_source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let source = self.source_started();
        spawn(py, async move { source.await })
    }

    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc_info: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let fleet = self.fleet.clone();
        let kube_source = self.kube_source.clone();
        spawn(py, async move {
            if let Some(source) = kube_source.lock().await.take() {
                source.stop().await;
            }
            fleet.close().await;
            Ok(false)
        })
    }

    /// Serves the fleet as one MCP server over streamable HTTP at `http://host:port/path`;
    /// returns a `GatewayServer` at once (its `url`, `await close()`).
    #[pyo3(signature = (host = "127.0.0.1", port = 0, path = "/mcp", auth_token = None, *, management_tools = None, allow_unauthenticated = false, name = "mcpfleet", tool_search = false))]
    #[allow(clippy::too_many_arguments)]
    fn serve_http<'py>(
        &self,
        py: Python<'py>,
        host: &str,
        port: u16,
        path: &str,
        auth_token: Option<String>,
        management_tools: Option<bool>,
        allow_unauthenticated: bool,
        name: &str,
        tool_search: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = self.gateway_options(py, name.to_owned(), management_tools, tool_search);
        let http = crate::gateway::http::HttpOptions {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            auth_token,
            allow_unauthenticated,
            ..Default::default()
        };
        crate::python::gateway::start_http(py, self.fleet.clone(), options, http)
    }

    /// Serves the fleet as one MCP server on this process's stdin and stdout until stdin
    /// closes. Nothing else may write to stdout meanwhile.
    #[pyo3(signature = (*, management_tools = None, name = "mcpfleet", read_fd = 0, write_fd = 1, tool_search = false))]
    fn serve_stdio<'py>(
        &self,
        py: Python<'py>,
        management_tools: Option<bool>,
        name: &str,
        read_fd: i32,
        write_fd: i32,
        tool_search: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = self.gateway_options(py, name.to_owned(), management_tools, tool_search);
        crate::python::gateway::start_stdio(py, self.fleet.clone(), options, read_fd, write_fd)
    }

    /// Reads configuration files again and makes the fleet hold exactly what they define: new
    /// servers are added (autoStart ones started), missing ones deleted, changed ones updated
    /// (restarted only when something that matters changed). A configuration with any problem
    /// raises `ConfigError` and changes nothing. Returns `{"added", "updated", "removed"}`.
    fn reload<'py>(&self, py: Python<'py>, config: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.bind_providers(py);
        let paths = config_paths(config)?;
        let mut definitions = py.detach(|| load_paths(&paths)).map_err(|p| to_py_err(Error::Invalid(p)))?;
        attach_providers(&self.providers, &mut definitions, None)?;
        let fleet = self.fleet.clone();
        spawn(py, async move {
            let done = fleet.reconcile(definitions).await.map_err(to_py_err)?;
            Ok(Reloaded(done))
        })
    }

    /// Stops every server (concurrently, bounded in time).
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let fleet = self.fleet.clone();
        spawn(py, async move {
            fleet.close().await;
            Ok(())
        })
    }

    /// Registers a server (a dict or an `MCPServer`) and starts it if it is `autoStart`, whether
    /// or not the fleet was entered (a notebook builds one cell by cell). Returns its
    /// `MCPServerInfo` (a failed start shows in `state`/`last_error`).
    fn create<'py>(&self, py: Python<'py>, spec: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let defs = definitions(&self.providers, spec, "create()")?;
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            let mut infos: Vec<MCPServerInfo> = fleet.create(defs, true).await.map_err(to_py_err)?.into_iter().map(MCPServerInfo).collect();
            Ok(if infos.len() == 1 { OneOrMany::One(infos.remove(0)) } else { OneOrMany::Many(infos) })
        })
    }

    /// Replaces a server's definition; a running server restarts when something that matters
    /// changed (command, args, env, url, headers, type, timeouts, prefix, auth).
    fn update<'py>(&self, py: Python<'py>, name: String, spec: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (json, provider) = spec_parts(spec)?;
        let mut def = load_update(&name, &json, "update()").map_err(to_py_err)?;
        attach_providers(&self.providers, std::slice::from_mut(&mut def), provider.as_ref())?;
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            fleet.update(&name, def, true).await.map_err(to_py_err)?;
            fleet.info(&name).map(MCPServerInfo).map_err(to_py_err)
        })
    }

    /// Gets OAuth tokens for a server with `auth: {type: oauth, ...}`, then starts it again if
    /// it is not up (a server waiting in `AuthRequired`). The user's part: `authorize(url)`
    /// returns the redirect URL (headless), else a browser opens (`open_browser`) and a
    /// loopback port catches the redirect; either within `timeout` seconds. Client-credentials
    /// servers need neither. Returns the server's info.
    #[pyo3(signature = (name, *, authorize = None, open_browser = true, timeout = 300.0))]
    fn login<'py>(
        &self,
        py: Python<'py>,
        name: String,
        authorize: Option<&Bound<'py, PyAny>>,
        open_browser: bool,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let authorizer = login_authorizer(py, authorize, open_browser, seconds(timeout, "timeout")?)?;
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            fleet.login(&name, authorizer.as_ref()).await.map_err(to_py_err)?;
            fleet.info(&name).map(MCPServerInfo).map_err(to_py_err)
        })
    }

    /// Forgets a server's OAuth tokens, in memory and in its token store.
    fn logout<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        let fleet = self.fleet.clone();
        spawn(py, async move { fleet.logout(&name).await.map_err(to_py_err) })
    }

    /// Stops and removes a server.
    fn delete<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        self.providers.lock().unwrap().remove(&name);
        let fleet = self.fleet.clone();
        spawn(py, async move { fleet.remove(&name).await.map_err(to_py_err) })
    }

    /// The problems of a definition, as messages (empty when it is valid). Registers nothing.
    fn validate(&self, spec: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        Ok(match load_value(&spec_parts(spec)?.0, "validate()") {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(|p| p.to_string()).collect(),
        })
    }

    fn list_mcp_servers(&self) -> Vec<MCPServerInfo> {
        self.fleet.list().into_iter().map(MCPServerInfo).collect()
    }

    fn get_mcp_server(&self, name: &str) -> PyResult<MCPServerInfo> {
        self.fleet.info(name).map(MCPServerInfo).map_err(to_py_err)
    }

    /// Starts a server and waits for the outcome of its next attempt: its info once up, or that
    /// attempt's error (the supervisor keeps retrying as the restart policy says).
    fn start<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            fleet.start(&name).await.map_err(to_py_err)?;
            fleet.info(&name).map(MCPServerInfo).map_err(to_py_err)
        })
    }

    fn stop<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        let fleet = self.fleet.clone();
        spawn(py, async move { fleet.stop(&name).await.map_err(to_py_err) })
    }

    fn restart<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        self.bind_providers(py);
        let fleet = self.fleet.clone();
        spawn(py, async move {
            fleet.restart(&name).await.map_err(to_py_err)?;
            fleet.info(&name).map(MCPServerInfo).map_err(to_py_err)
        })
    }

    /// The tools of every running server under their public names (plus the management tools
    /// when enabled), sorted by name.
    fn get_tools(&self) -> Vec<ToolMetadata> {
        let catalog = self.fleet.catalog();
        let mut tools: Vec<ToolMetadata> =
            catalog.tools.iter().map(|t| ToolMetadata { name: t.public_name.clone(), server: Some(t.server.clone()), tool: t.tool.clone(), execution: t.execution.clone() }).collect();
        if self.management_tools {
            tools.extend(management::tools().into_iter().map(|t| ToolMetadata { name: t.name.to_string(), server: None, tool: t, execution: None }));
            tools.sort_by(|a, b| a.name.cmp(&b.name));
        }
        tools
    }

    /// Gives one server its own handlers, over the fleet's (each one not given here stays the
    /// fleet's). They apply from its next start: restart a running server to apply them now.
    #[pyo3(signature = (server, *, elicitation_handler = None, sampling_handler = None, roots = None, log_handler = None))]
    fn set_handlers(
        &self,
        py: Python<'_>,
        server: String,
        elicitation_handler: Option<&Bound<'_, PyAny>>,
        sampling_handler: Option<&Bound<'_, PyAny>>,
        roots: Option<&Bound<'_, PyAny>>,
        log_handler: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.fleet.info(&server).map_err(to_py_err)?;
        let handlers = PyHandlers::new(elicitation_handler, sampling_handler, roots, log_handler)?;
        handlers.bind_running_loop(py);
        self.fleet.set_callbacks(&server, handlers.callbacks.clone());
        self.handlers.lock().unwrap().push(handlers);
        Ok(())
    }

    /// Calls a tool by its public name on the server that offers it.
    #[pyo3(signature = (name, arguments = None, *, timeout = None, meta = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn execute_tool<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let mut options = request_options(timeout, meta.as_ref())?;
        options.progress = crate::python::handlers::progress_sink(progress.as_ref())?;
        let fleet = self.fleet.clone();
        let management = self.management_tools;
        spawn(py, async move {
            // The name is checked first so that ordinary calls never copy their arguments.
            if management && management::TOOL_NAMES.contains(&name.as_str()) {
                if let Some(result) = management::call(&fleet, &name, arguments.clone()).await {
                    return Ok(CallToolResult(result));
                }
            }
            fleet.call_tool(&name, arguments, options).await.map(CallToolResult).map_err(to_py_err)
        })
    }

    /// Starts a tool (by public name) as a task on its server; returns the task with the
    /// server's name under ``"server"`` (the other task methods take it).
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
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let ttl = opt_seconds(ttl, "ttl")?;
        let options = request_options(timeout, meta.as_ref())?;
        let fleet = self.fleet.clone();
        spawn(py, async move {
            let (server, task) = fleet.start_task(&name, arguments.as_ref(), ttl, options).await.map_err(to_py_err)?;
            let JsonValue(mut task) = JsonValue::from(task);
            if let Some(task) = task.as_object_mut() {
                task.insert("server".into(), serde_json::Value::String(server));
            }
            Ok(JsonValue(task))
        })
    }

    /// A task's state (``tasks/get``) at ``server``.
    #[pyo3(signature = (server, task_id, *, timeout = None))]
    fn get_task<'py>(&self, py: Python<'py>, server: String, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = opt_seconds(timeout, "timeout")?;
        let connection = self.fleet.task(&server).map_err(to_py_err)?;
        spawn(py, async move { connection.get_task(&task_id, timeout).await.map(JsonValue::from).map_err(to_py_err) })
    }

    /// Waits for a task's result (``tasks/result``) at ``server``.
    #[pyo3(signature = (server, task_id, *, timeout = None))]
    fn task_result<'py>(&self, py: Python<'py>, server: String, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = opt_seconds(timeout, "timeout")?;
        let connection = self.fleet.task(&server).map_err(to_py_err)?;
        spawn(py, async move { connection.task_result(&task_id, timeout).await.map(CallToolResult).map_err(to_py_err) })
    }

    /// Cancels a task (``tasks/cancel``) at ``server``.
    #[pyo3(signature = (server, task_id, *, timeout = None))]
    fn cancel_task<'py>(&self, py: Python<'py>, server: String, task_id: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let timeout = opt_seconds(timeout, "timeout")?;
        let connection = self.fleet.task(&server).map_err(to_py_err)?;
        spawn(py, async move { connection.cancel_task(&task_id, timeout).await.map(JsonValue::from).map_err(to_py_err) })
    }

    /// Prompts of every running server, under public names.
    fn list_prompts(&self) -> Vec<Prompt> {
        self.fleet
            .catalog()
            .prompts
            .iter()
            .map(|p| {
                let mut prompt: model::Prompt = p.prompt.clone();
                prompt.name = p.public_name.clone();
                Prompt(prompt)
            })
            .collect()
    }

    #[pyo3(signature = (name, arguments = None, *, timeout = None, meta = None))]
    fn get_prompt<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let arguments = py_to_object(arguments.as_ref(), "arguments")?;
        let options = request_options(timeout, meta.as_ref())?;
        let fleet = self.fleet.clone();
        spawn(py, async move { fleet.get_prompt(&name, arguments, options).await.map(GetPromptResult).map_err(to_py_err) })
    }

    /// Resources of every running server, as (server name, Resource) pairs.
    fn list_resources(&self) -> Vec<(String, Resource)> {
        self.fleet.catalog().resources.iter().map(|(s, r)| (s.clone(), Resource(r.clone()))).collect()
    }

    /// `(server, template)` for every resource template of every running server; a
    /// `read_resource` of a URI it matches goes to that server.
    fn list_resource_templates(&self) -> Vec<(String, ResourceTemplate)> {
        self.fleet.catalog().resource_templates.iter().map(|(s, t)| (s.clone(), ResourceTemplate(t.clone()))).collect()
    }

    /// Reads a resource from the server that lists it, or from `server`.
    #[pyo3(signature = (uri, *, server = None, timeout = None, meta = None))]
    fn read_resource<'py>(
        &self,
        py: Python<'py>,
        uri: String,
        server: Option<String>,
        timeout: Option<f64>,
        meta: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = request_options(timeout, meta.as_ref())?;
        let fleet = self.fleet.clone();
        spawn(py, async move { fleet.read_resource(&uri, server.as_deref(), options).await.map(ReadResourceResult).map_err(to_py_err) })
    }

    /// Public names that two servers wanted, and what the second one got instead.
    fn tool_name_collisions(&self) -> Vec<(String, String, String, String)> {
        self.fleet.catalog().collisions.iter().map(|c| (c.wanted.clone(), c.winner.clone(), c.loser_server.clone(), c.renamed_to.clone())).collect()
    }

    /// An async iterator of `McpDiscreteStatusUpdate`s from now on.
    fn status_updates(&self) -> StatusStream {
        StatusStream { rx: Arc::new(tokio::sync::Mutex::new(self.fleet.subscribe())) }
    }

    fn __repr__(&self) -> String {
        let servers = self.fleet.list();
        let up = servers.iter().filter(|s| s.state.is_up()).count();
        format!("Adapter(servers={}, running={up}, tools={})", servers.len(), self.fleet.catalog().tools.len())
    }
}

/// `create()` returns the info of the one server it created, or a list for a document with many.
#[derive(IntoPyObject)]
enum OneOrMany {
    One(MCPServerInfo),
    Many(Vec<MCPServerInfo>),
}

/// Status updates as an async iterator.
#[pyclass(module = "mcpfleet._core", frozen)]
pub struct StatusStream {
    rx: Arc<tokio::sync::Mutex<broadcast::Receiver<StatusUpdate>>>,
}

#[pymethods]
impl StatusStream {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.rx.clone();
        spawn(py, async move {
            let mut rx = rx.lock().await;
            loop {
                match rx.recv().await {
                    Ok(update) => return Ok(McpDiscreteStatusUpdate(update)),
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("status updates: {n} were dropped (the consumer is too slow)"),
                    Err(broadcast::error::RecvError::Closed) => return Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
                }
            }
        })
    }
}

/// One state change of one fleet server.
#[pyclass(module = "mcpfleet", frozen)]
pub struct McpDiscreteStatusUpdate(StatusUpdate);

#[pymethods]
impl McpDiscreteStatusUpdate {
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    /// "ProcessInitializing", "ProcessStarting", "ProcessRunning", "ProcessExitedWithError" or "ProcessStopped".
    #[getter]
    fn process_status(&self) -> &str {
        self.0.process_status
    }
    /// The server state: "Starting", "Running", "Connected", "Failed", "Restarting", "CrashLoop", ...
    #[getter]
    fn state(&self) -> &str {
        self.0.state.as_str()
    }
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "McpDiscreteStatusUpdate(name={}, process_status={}, state={}, error={})",
            py_str(&self.0.name),
            py_str(self.0.process_status),
            py_str(self.0.state.as_str()),
            py_opt(self.0.error.as_deref().map(short).as_deref())
        )
    }
}

/// A fleet server: its definition (secrets redacted) and how it is doing.
#[pyclass(module = "mcpfleet", frozen)]
pub struct MCPServerInfo(ServerInfo);

#[pymethods]
impl MCPServerInfo {
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        crate::python::types::html_of(slf.as_any())
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.definition.name
    }
    #[getter]
    fn r#type(&self) -> &str {
        self.0.definition.kind.as_str()
    }
    #[getter]
    fn state(&self) -> &str {
        self.0.state.as_str()
    }
    #[getter]
    fn tool_prefix(&self) -> String {
        self.0.definition.prefix()
    }
    #[getter]
    fn description(&self) -> &str {
        &self.0.definition.description
    }
    #[getter]
    fn auto_start(&self) -> bool {
        self.0.definition.auto_start
    }
    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    #[getter]
    fn tool_count(&self) -> usize {
        self.0.tool_count
    }
    #[getter]
    fn restart_count(&self) -> u32 {
        self.0.restart_count
    }
    /// Seconds since the server came up, or None when it is not up.
    #[getter]
    fn uptime(&self) -> Option<f64> {
        self.0.uptime.map(|d| d.as_secs_f64())
    }
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.0.pid
    }
    /// What the server said about how to use it when it connected (None when it is not up or
    /// said nothing).
    #[getter]
    fn instructions(&self) -> Option<&str> {
        self.0.peer.as_ref().and_then(|p| p.instructions.as_deref())
    }
    /// While the server is up, what it said of itself in `initialize` (name, version,
    /// `protocol_version`, `capabilities`, `instructions`); None when it is not up.
    #[getter]
    fn server_info(&self) -> Option<crate::python::types::ServerInfo> {
        self.0.peer.clone().map(crate::python::types::ServerInfo)
    }
    /// The protocol version negotiated with the server while it is up.
    #[getter]
    fn protocol_version(&self) -> Option<String> {
        self.0.peer.as_ref().map(|p| p.protocol_version.to_string())
    }
    /// The definition as a dict in the flat shape; env and header values are redacted.
    #[getter]
    fn definition<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0.definition.redacted_json())
    }
    /// For a server in AuthRequired: {"url", "issuer", "scope", "resource_metadata_url", "www_authenticate"}.
    #[getter]
    fn auth_info<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(auth) = &self.0.auth else { return Ok(None) };
        let c = crate::auth::parse_www_authenticate(&auth.www_authenticate);
        let value = serde_json::json!({
            "url": auth.url, "issuer": c.issuer, "scope": c.scope, "resource_metadata_url": c.resource_metadata_url,
            "www_authenticate": auth.www_authenticate,
        });
        json_to_py(py, &value).map(Some)
    }
    fn __repr__(&self) -> String {
        format!(
            "MCPServerInfo(name={}, type={}, state={}, tools={}, last_error={})",
            py_str(&self.0.definition.name),
            py_str(self.0.definition.kind.as_str()),
            py_str(self.0.state.as_str()),
            self.0.tool_count,
            py_opt(self.0.last_error.as_deref().map(short).as_deref())
        )
    }
}

/// An aggregated tool: its public name, the server that offers it and its own name there.
#[pyclass(module = "mcpfleet", frozen)]
pub struct ToolMetadata {
    name: String,
    server: Option<String>,
    tool: model::Tool,
    execution: Option<model::JsonObject>,
}

#[pymethods]
impl ToolMetadata {
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        crate::python::types::html_of(slf.as_any())
    }
    /// The tool as clients of the fleet see it (its public name), as the MCP specification
    /// spells it: a dict with camelCase keys.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut tool = self.tool.clone();
        tool.name = self.name.clone().into();
        crate::python::types::tool_dict(py, &tool, self.execution.as_ref())
    }
    /// The same tool as the official `mcp` SDK's `mcp.types.Tool`.
    fn to_mcp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::python::types::sdk_model(py, "Tool", self.to_dict(py)?)
    }
    /// The public name (`{prefix}_{tool}`), what `execute_tool` takes.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
    /// The server's own name for it.
    #[getter]
    fn original_name(&self) -> &str {
        &self.tool.name
    }
    /// The fleet server offering it (None for the management tools).
    #[getter]
    fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }
    #[getter]
    fn description(&self) -> Option<&str> {
        self.tool.description.as_deref()
    }
    #[getter]
    fn input_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_py(py, &self.tool.input_schema)
    }
    #[getter]
    fn output_schema<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.tool.output_schema.as_ref().map(|s| object_to_py(py, s)).transpose()
    }
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.tool.annotations)
    }
    #[getter]
    fn title(&self) -> Option<&str> {
        self.tool.title.as_deref()
    }
    /// Icons for the tool (each a dict: `src`, `mimeType`, `sizes`, `theme`).
    #[getter]
    fn icons<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.tool.icons)
    }
    /// The tool's `_meta` as the server gave it.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.tool.meta)
    }
    /// What the tool says about tasks (protocol 2025-11-25), e.g. ``{"taskSupport": "required"}``,
    /// or None. ``execute_tool`` runs a tool that requires a task as one.
    #[getter]
    fn execution<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(py, &self.execution)
    }
    fn __repr__(&self) -> String {
        format!("ToolMetadata(name={}, server={}, description={})", py_str(&self.name), py_opt(self.server.as_deref()), py_opt(self.tool.description.as_deref().map(short).as_deref()))
    }
}
