//! The fleet served as one MCP server: `Adapter.serve_http()` / `serve_stdio()`.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

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

pub fn start_stdio<'py>(py: Python<'py>, fleet: Arc<Fleet>, options: GatewayOptions) -> PyResult<Bound<'py, PyAny>> {
    spawn(py, async move {
        let gateway = Gateway::new(fleet, options);
        serve_stream(&gateway, tokio::io::stdin(), tokio::io::stdout()).await.map_err(|e| PyOSError::new_err(e.to_string()))
    })
}
