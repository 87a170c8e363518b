//! The fleet served as one MCP server: `Adapter.serve_http()` / `serve_stdio()`.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::fleet::manager::Fleet;
use crate::gateway::http::{HttpOptions, HttpServer, ServeError, serve_http};
use crate::gateway::{Gateway, GatewayOptions, serve_stream};
use crate::python::awaitable::spawn;
use crate::python::errors::config_error;

fn serve_error(e: ServeError) -> PyErr {
    match e {
        ServeError::Bind { .. } => PyOSError::new_err(e.to_string()),
        other => config_error(other.to_string()),
    }
}

/// A fleet served over streamable HTTP. `url` is where clients connect; `await close()` (or
/// `async with`) stops it. The fleet itself goes on.
#[pyclass(module = "mcpfleet", frozen)]
pub struct GatewayServer {
    url: String,
    running: Mutex<Option<(HttpServer, Gateway)>>,
}

#[pymethods]
impl GatewayServer {
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections and ends every client session.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.lock().unwrap().take();
        spawn(py, async move {
            if let Some((server, _gateway)) = running {
                server.close().await;
            }
            Ok(())
        })
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let me: Py<PyAny> = slf.clone().into_any().unbind();
        spawn(slf.py(), async move { Ok(me) })
    }

    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc_info: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        let state = if self.running.lock().unwrap().is_some() { "serving" } else { "closed" };
        crate::util::redact::scrub(&format!("GatewayServer(url={:?}, {state})", self.url))
    }
}

pub fn start_http<'py>(py: Python<'py>, fleet: Arc<Fleet>, options: GatewayOptions, http: HttpOptions) -> PyResult<Bound<'py, PyAny>> {
    spawn(py, async move {
        let gateway = Gateway::new(fleet, options);
        let server = serve_http(&gateway, http).await.map_err(serve_error)?;
        Ok(GatewayServer { url: server.url.clone(), running: Mutex::new(Some((server, gateway))) })
    })
}

/// Serves on `read_fd`/`write_fd` (by default this process's stdin and stdout) until the input closes.
pub fn start_stdio<'py>(py: Python<'py>, fleet: Arc<Fleet>, options: GatewayOptions, read_fd: i32, write_fd: i32) -> PyResult<Bound<'py, PyAny>> {
    spawn(py, async move {
        let os_error = |e: std::io::Error| PyOSError::new_err(e.to_string());
        use crate::gateway::serve::{own_fd, reader, writer};
        let read = own_fd(read_fd, false).and_then(reader).map_err(os_error)?;
        let write = own_fd(write_fd, true).and_then(writer).map_err(os_error)?;
        let gateway = Gateway::new(fleet, options);
        serve_stream(&gateway, read, write).await.map_err(os_error)
    })
}

/// `mcpfleet serve`: loads the configuration, serves it (stdio on `read_fd`/`write_fd`, or HTTP
/// at `http=(host, port)`) until SIGINT, SIGTERM, SIGHUP or the end of input, then stops every
/// server. Blocks (without the GIL) and needs no asyncio. Returns "signal" or "input-closed".
/// With `kubernetes` (the options of `Adapter.from_kubernetes`), the servers are a cluster's
/// `MCPServer` resources and `config` must be empty.
#[pyfunction]
#[pyo3(signature = (config, *, http = None, path = "/mcp", auth_token = None, allow_unauthenticated = false, management_tools = false, tool_search = false, watch = false, read_fd = 0, write_fd = 1, kubernetes = None, drain = 15.0))]
#[allow(clippy::too_many_arguments)]
pub fn _serve_fleet(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    http: Option<(String, u16)>,
    path: &str,
    auth_token: Option<String>,
    allow_unauthenticated: bool,
    management_tools: bool,
    tool_search: bool,
    watch: bool,
    read_fd: i32,
    write_fd: i32,
    kubernetes: Option<&Bound<'_, PyDict>>,
    drain: f64,
) -> PyResult<&'static str> {
    use crate::gateway::serve::{Ended, Front, ServeOptions, serve};
    let kubernetes = kubernetes.map(crate::python::fleet::kube_options).transpose()?;
    if !(0.0..=3600.0).contains(&drain) {
        return Err(config_error(format!("drain must be between 0 and 3600 seconds, got {drain}")));
    }
    let paths = crate::python::fleet::config_paths(config)?;
    if kubernetes.is_some() && (!paths.is_empty() || watch) {
        return Err(config_error("a fleet of the cluster's MCPServer resources takes its servers from the cluster only: give no CONFIG (and no --watch)".to_owned()));
    }
    let definitions = if kubernetes.is_some() {
        Vec::new()
    } else {
        py.detach(|| crate::fleet::load::load_paths(&paths)).map_err(|p| crate::python::errors::to_py_err(crate::error::Error::Invalid(p)))?
    };
    let front = match http {
        Some((host, port)) => Front::Http(HttpOptions { host, port, path: path.to_owned(), auth_token, allow_unauthenticated, ..HttpOptions::default() }),
        None => {
            let os_error = |e: std::io::Error| PyOSError::new_err(e.to_string());
            let read = crate::gateway::serve::own_fd(read_fd, false).map_err(os_error)?;
            let write = crate::gateway::serve::own_fd(write_fd, true).map_err(os_error)?;
            Front::Stdio { read, write }
        }
    };
    let options = ServeOptions {
        gateway: GatewayOptions { name: "mcpfleet".into(), management_tools, tool_search },
        front,
        watch: watch.then_some(paths),
        kubernetes,
        drain: std::time::Duration::from_secs_f64(drain),
    };
    let (done, outcome) = std::sync::mpsc::channel();
    crate::python::runtime::handle().spawn(async move {
        let fleet = Arc::new(Fleet::new(crate::fleet::manager::FleetOptions::default()));
        let result = match fleet.add_all(definitions) {
            Ok(()) => serve(fleet, options).await.map_err(serve_error_text),
            Err(e) => Err((true, e.to_string())),
        };
        let _ = done.send(result);
    });
    match py.detach(move || outcome.recv()) {
        Ok(Ok(Ended::Signal)) => Ok("signal"),
        Ok(Ok(Ended::InputClosed)) => Ok("input-closed"),
        Ok(Err((true, message))) => Err(config_error(message)),
        Ok(Err((false, message))) => Err(PyOSError::new_err(message)),
        Err(_) => Err(PyOSError::new_err("the serving task ended without an answer")),
    }
}

/// (is a configuration error, message): the error crosses threads as data.
fn serve_error_text(e: ServeError) -> (bool, String) {
    (!matches!(e, ServeError::Bind { .. } | ServeError::Source(_)), e.to_string())
}
