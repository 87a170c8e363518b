//! Python callables that the core calls from its own threads: token providers, token stores,
//! authorize callbacks, the browser opener. Each call runs as a job on the event loop the
//! callable belongs to (the one running when the client was made or last used), so the
//! runtime thread never takes the GIL; an awaitable result becomes a task on that loop.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use pyo3::intern;
use pyo3::prelude::*;
use tokio::sync::oneshot;

use crate::auth::TokenError;
use crate::python::awaitable::LoopHandle;

/// Turns the callable's value into the core's (on the loop thread, with the GIL).
pub type Convert<T> = fn(&Bound<'_, PyAny>) -> Result<T, TokenError>;

pub struct PyCallback {
    target: Arc<Py<PyAny>>,
    /// What the callable is, for messages ("the token provider").
    role: &'static str,
    home: Mutex<Option<LoopHandle>>,
}

impl PyCallback {
    pub fn new(target: &Bound<'_, PyAny>, role: &'static str) -> Arc<Self> {
        let callback = Arc::new(Self { target: Arc::new(target.clone().unbind()), role, home: Mutex::new(None) });
        callback.bind_running_loop(target.py());
        callback
    }

    /// Makes the running loop (if any) the callable's home; in a blocking call, the loop of
    /// `mcpfleet._home` (the caller's thread is blocked, even if it runs a loop).
    pub fn bind_running_loop(&self, py: Python<'_>) {
        let handle = if crate::python::awaitable::blocking() { LoopHandle::home(py) } else { LoopHandle::current(py) };
        match handle {
            Ok(handle) => *self.home.lock().unwrap() = Some(handle),
            Err(e) if crate::python::awaitable::blocking() => tracing::warn!("no loop for {}: {e}", self.role),
            Err(_) => {}
        }
    }

    /// Calls `invoke(target)` on the home loop and converts its (awaited) value. The call is
    /// queued at once, so calls made in order run in order.
    pub fn call<T, I>(&self, invoke: I, convert: Convert<T>) -> BoxFuture<'static, Result<T, TokenError>>
    where
        T: Send + 'static,
        I: for<'py> FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> + Send + 'static,
    {
        let role = self.role;
        let (tx, rx) = oneshot::channel();
        let reply: Reply = Box::new(move |py, outcome| {
            let _ = tx.send(outcome.map_err(|e| failed(py, e)).and_then(|value| convert(&value)));
        });
        if let Err(e) = self.queue(invoke, reply) {
            return Box::pin(std::future::ready(Err(e)));
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(TokenError::new(format!("the event loop of {role} dropped the call")))) })
    }

    /// Calls `invoke(target)` on the home loop without waiting for it; a failure is logged.
    pub fn fire<I>(&self, invoke: I)
    where
        I: for<'py> FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> + Send + 'static,
    {
        let role = self.role;
        let reply: Reply = Box::new(move |py, outcome| {
            if let Err(e) = outcome {
                tracing::warn!("{role} failed: {}", failed(py, e).message);
            }
        });
        if let Err(e) = self.queue(invoke, reply) {
            tracing::warn!("{e}");
        }
    }

    fn queue<I>(&self, invoke: I, reply: Reply) -> Result<(), TokenError>
    where
        I: for<'py> FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> + Send + 'static,
    {
        let role = self.role;
        let Some(home) = self.home.lock().unwrap().clone() else {
            return Err(TokenError::new(format!("{role} has no event loop: use the client from async code (await initialize() first) or from mcpfleet.sync")));
        };
        let target = self.target.clone();
        let job = move |py: Python<'_>| run_on_loop(py, target.bind(py), invoke, reply);
        if !home.run(Box::new(job)) {
            return Err(TokenError::new(format!("the event loop {role} belongs to is gone")));
        }
        Ok(())
    }
}

type Reply = Box<dyn for<'py> FnOnce(Python<'py>, PyResult<Bound<'py, PyAny>>) + Send>;

/// On the loop thread: calls, and for an awaitable schedules it with a done-callback.
fn run_on_loop<'py, I>(py: Python<'py>, target: &Bound<'py, PyAny>, invoke: I, reply: Reply)
where
    I: FnOnce(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
{
    let value = match invoke(target) {
        Ok(value) => value,
        Err(e) => return reply(py, Err(e)),
    };
    match value.hasattr(intern!(py, "__await__")) {
        Ok(true) => {}
        Ok(false) => return reply(py, Ok(value)),
        Err(e) => return reply(py, Err(e)),
    }
    let done = match Py::new(py, Done { reply: Mutex::new(Some(reply)) }) {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!("cannot await a Python callback: {e}");
            return; // the caller fails when the reply is dropped
        }
    };
    let scheduled = py
        .import(intern!(py, "asyncio"))
        .and_then(|asyncio| asyncio.call_method1(intern!(py, "ensure_future"), (value,)))
        .and_then(|task| task.call_method1(intern!(py, "add_done_callback"), (done.clone_ref(py),)));
    if let Err(e) = scheduled {
        if let Some(reply) = done.get().reply.lock().unwrap().take() {
            reply(py, Err(e));
        }
    }
}

/// The callable's exception, as message and cause.
pub fn failed(py: Python<'_>, error: PyErr) -> TokenError {
    let kind = error.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let text = error.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let message = if text.is_empty() { kind } else { format!("{kind}: {text}") };
    TokenError { cause: Some(Arc::new(error)), ..TokenError::new(message) }
}

/// Name of a value's type, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
}

/// Done-callback of an awaitable callback's task.
#[pyclass(frozen, module = "mcpfleet._core")]
struct Done {
    reply: Mutex<Option<Reply>>,
}

#[pymethods]
impl Done {
    fn __call__(&self, task: &Bound<'_, PyAny>) {
        let Some(reply) = self.reply.lock().unwrap().take() else { return };
        let py = task.py();
        let cancelled = task.call_method0(intern!(py, "cancelled")).and_then(|c| c.is_truthy()).unwrap_or(false);
        if cancelled {
            let error = pyo3::exceptions::asyncio::CancelledError::new_err("the callback's task was cancelled");
            return reply(py, Err(error));
        }
        reply(py, task.call_method0(intern!(py, "result")));
    }
}
