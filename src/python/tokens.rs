//! Python token providers: a callable (sync or async) or an object with `get_access_token()`,
//! returning a token string or None. Called on the event loop the client was used from, for
//! every HTTP request; the runtime thread never takes the GIL for it (the call is a loop job).

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::auth::{TokenError, TokenSource};
use crate::python::awaitable::LoopHandle;

type Reply = oneshot::Sender<Result<Option<String>, TokenError>>;

pub struct PyTokenSource {
    provider: Arc<Py<PyAny>>,
    /// The loop the provider runs on: the one running when the client was made or last used.
    home: Mutex<Option<LoopHandle>>,
}

impl PyTokenSource {
    pub fn new(provider: &Bound<'_, PyAny>) -> PyResult<Arc<Self>> {
        let py = provider.py();
        if !provider.is_callable() && !provider.hasattr(intern!(py, "get_access_token"))? {
            return Err(PyTypeError::new_err(format!(
                "token_provider must be a callable or have a get_access_token() method, not {}",
                provider.get_type().name()?
            )));
        }
        let source = Arc::new(Self { provider: Arc::new(provider.clone().unbind()), home: Mutex::new(None) });
        source.bind_running_loop(py);
        Ok(source)
    }

    /// Makes the running loop (if any) the provider's home.
    pub fn bind_running_loop(&self, py: Python<'_>) {
        if let Ok(handle) = LoopHandle::current(py) {
            *self.home.lock().unwrap() = Some(handle);
        }
    }
}

impl TokenSource for PyTokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, TokenError>> {
        let home = self.home.lock().unwrap().clone();
        let provider = self.provider.clone();
        Box::pin(async move {
            let Some(home) = home else {
                return Err(TokenError::new("the token provider has no event loop: use the client from async code (await initialize() first)"));
            };
            let (tx, rx) = oneshot::channel();
            if !home.run(Box::new(move |py| call_provider(py, &provider, tx))) {
                return Err(TokenError::new("the event loop the token provider belongs to is gone"));
            }
            rx.await.unwrap_or_else(|_| Err(TokenError::new("the token provider's event loop dropped the call")))
        })
    }
}

/// On the loop thread: calls the provider; an awaitable result becomes a task whose completion
/// answers the request.
fn call_provider(py: Python<'_>, provider: &Py<PyAny>, tx: Reply) {
    let provider = provider.bind(py);
    let value = match provider.getattr(intern!(py, "get_access_token")) {
        Ok(method) => method.call0(),
        Err(_) => provider.call0(),
    };
    let value = match value {
        Ok(value) => value,
        Err(e) => {
            let _ = tx.send(Err(provider_failed(py, e)));
            return;
        }
    };
    match value.hasattr(intern!(py, "__await__")) {
        Ok(true) => {}
        Ok(false) => {
            let _ = tx.send(token_value(&value));
            return;
        }
        Err(e) => {
            let _ = tx.send(Err(provider_failed(py, e)));
            return;
        }
    }
    let done = match Py::new(py, ProviderDone { tx: Mutex::new(Some(tx)) }) {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!("cannot await the token provider: {e}");
            return; // the request fails when the reply is dropped
        }
    };
    let scheduled = py
        .import(intern!(py, "asyncio"))
        .and_then(|asyncio| asyncio.call_method1(intern!(py, "ensure_future"), (value,)))
        .and_then(|task| task.call_method1(intern!(py, "add_done_callback"), (done.clone_ref(py),)));
    if let Err(e) = scheduled {
        if let Some(tx) = done.get().tx.lock().unwrap().take() {
            let _ = tx.send(Err(provider_failed(py, e)));
        }
    }
}

fn token_value(value: &Bound<'_, PyAny>) -> Result<Option<String>, TokenError> {
    if value.is_none() {
        return Ok(None);
    }
    match value.extract::<String>() {
        Ok(token) if token.is_empty() => Ok(None),
        Ok(token) => Ok(Some(token)),
        Err(_) => Err(TokenError::new(format!(
            "the token provider returned {}, expected a str or None",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
        ))),
    }
}

/// The provider's exception, as message and cause.
fn provider_failed(py: Python<'_>, error: PyErr) -> TokenError {
    let kind = error.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let text = error.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let message = if text.is_empty() { kind } else { format!("{kind}: {text}") };
    TokenError { message, cause: Some(Arc::new(error)) }
}

/// Done-callback of an async provider's task.
#[pyclass(frozen, module = "mcpfleet._core")]
struct ProviderDone {
    tx: Mutex<Option<Reply>>,
}

#[pymethods]
impl ProviderDone {
    fn __call__(&self, task: &Bound<'_, PyAny>) {
        let Some(tx) = self.tx.lock().unwrap().take() else { return };
        let py = task.py();
        let cancelled = task.call_method0(intern!(py, "cancelled")).and_then(|c| c.is_truthy()).unwrap_or(false);
        let outcome = if cancelled {
            Err(TokenError::new("the token provider's task was cancelled"))
        } else {
            match task.call_method0(intern!(py, "result")) {
                Ok(value) => token_value(&value),
                Err(e) => Err(provider_failed(py, e)),
            }
        };
        let _ = tx.send(outcome);
    }
}
