//! Rust futures as Python awaitables, without a foreign thread ever taking the GIL.
//!
//! A call spawns its future on the runtime and returns a `PendingCall`. When the future is done,
//! the runtime thread queues the outcome with the call's event loop and, if the queue was empty,
//! wakes the loop through a descriptor it watches (`loop.add_reader`): an eventfd on Linux, a
//! pipe elsewhere (and on Linux with `MCPFLEET_WAKER=pipe`, so that path is tested too). The loop thread then settles the whole
//! batch: Python objects are made there, with the GIL it already holds. Compared with a GIL
//! hand-off per result, this saves a thread switch and a GIL transfer per call, and nothing can
//! race interpreter finalization.
//!
//! `PendingCall` speaks the coroutine protocol (`send`/`throw`/`close`), so `asyncio.create_task`
//! takes it (it is registered as a `collections.abc.Coroutine`) and a cancelled task reaches
//! `throw`, which aborts the Rust future: rmcp then tells the server `notifications/cancelled`.
//!
//! `mcpfleet.sync` calls the same methods through `call_blocking`: the call's outcome then goes
//! to a slot the calling thread waits on (without the GIL, waking every 50 ms to let Ctrl-C
//! through), with no event loop at all.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyStopIteration};
use pyo3::intern;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType, PyWeakrefReference};
use futures::FutureExt;
use tokio::task::AbortHandle;

use crate::python::runtime;

/// Work for the loop thread: settling a call, or calling a Python token provider.
pub type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// What wakes a loop: an eventfd (one descriptor, a counter) or a non-blocking pipe.
struct Waker {
    read: OwnedFd,
    /// The pipe's write end; None for an eventfd (written through `read`).
    write: Option<OwnedFd>,
}

/// Whether this process wakes loops through pipes (read once).
fn use_pipe() -> bool {
    static PIPE: LazyLock<bool> = LazyLock::new(|| !cfg!(target_os = "linux") || std::env::var_os("MCPFLEET_WAKER").is_some_and(|v| v == "pipe"));
    *PIPE
}

impl Waker {
    fn new() -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        if !use_pipe() {
            // SAFETY: eventfd has no memory preconditions; the result is checked.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and is owned by nothing else.
            return Ok(Self { read: unsafe { OwnedFd::from_raw_fd(fd) }, write: None });
        }
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes; the result is checked.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: fcntl on descriptors we own; failures are reported.
            let ok = unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) | libc::O_NONBLOCK) == 0
                    && libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) == 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Self { read, write: Some(write) })
    }

    fn fd(&self) -> libc::c_int {
        self.read.as_raw_fd()
    }

    /// Makes the descriptor readable. A full pipe already is.
    fn wake(&self) {
        match &self.write {
            None => {
                let one: u64 = 1;
                // SAFETY: writes 8 bytes from a live u64 to our own eventfd. It can only fail
                // when the counter would overflow, in which case the loop is due to wake anyway.
                unsafe { libc::write(self.read.as_raw_fd(), (&raw const one).cast(), 8) };
            }
            Some(write) => {
                let byte = [1u8];
                // SAFETY: writes 1 byte from a live array to our own pipe; EAGAIN means it is full.
                unsafe { libc::write(write.as_raw_fd(), byte.as_ptr().cast(), 1) };
            }
        }
    }

    /// Makes the descriptor unreadable again (nothing read is data).
    fn drain(&self) {
        let mut buffer = [0u8; 256];
        loop {
            // SAFETY: reads at most `buffer.len()` bytes into it; EAGAIN (nothing left) ends the loop.
            let n = unsafe { libc::read(self.read.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
            if self.write.is_none() || n < buffer.len() as isize {
                return;
            }
        }
    }
}

/// One per asyncio event loop: the descriptor it watches and the jobs waiting to run there.
struct LoopBridge {
    waker: Waker,
    pending: Mutex<Vec<Job>>,
    /// The weak reference whose callback unregisters this bridge when the loop is collected.
    loop_ref: Mutex<Option<Py<PyWeakrefReference>>>,
    /// Set when the loop has been collected: nothing queued here would ever run.
    gone: AtomicBool,
}

impl LoopBridge {
    fn new() -> std::io::Result<Self> {
        Ok(Self { waker: Waker::new()?, pending: Mutex::new(Vec::new()), loop_ref: Mutex::new(None), gone: AtomicBool::new(false) })
    }

    /// Called on the runtime thread. One wake-up per batch, not per result.
    fn complete(&self, job: Job) {
        let mut pending = self.pending.lock().unwrap();
        let first = pending.is_empty();
        pending.push(job);
        drop(pending);
        if first {
            self.waker.wake();
        }
    }

    /// Called on the loop thread: settles everything queued so far.
    fn settle_all(&self, py: Python<'_>) {
        self.waker.drain();
        let batch = std::mem::take(&mut *self.pending.lock().unwrap());
        for job in batch {
            job(py);
        }
    }
}

/// How loops are woken in this process: "eventfd" or "pipe".
#[pyfunction]
pub fn _waker_kind() -> &'static str {
    if use_pipe() { "pipe" } else { "eventfd" }
}

/// Where jobs reach one event loop's thread (see `LoopHandle::run`).
#[derive(Clone)]
pub struct LoopHandle(Arc<LoopBridge>);

impl LoopHandle {
    /// The running loop's handle; an error outside a running loop.
    pub fn current(py: Python<'_>) -> PyResult<Self> {
        bridge_for(&running_loop(py)?).map(Self)
    }

    /// The loop callbacks run on during blocking calls: `mcpfleet._home`'s, on a thread of its
    /// own (the calling thread is blocked, and may itself be running a loop).
    pub fn home(py: Python<'_>) -> PyResult<Self> {
        let event_loop = py.import(intern!(py, "mcpfleet._home"))?.call_method0(intern!(py, "home_loop"))?;
        bridge_for(&event_loop).map(Self)
    }

    /// Runs `job` on the loop's thread, with the GIL, soon. False when the loop is gone.
    pub fn run(&self, job: Job) -> bool {
        if self.0.gone.load(Ordering::Acquire) {
            return false;
        }
        self.0.complete(job);
        true
    }
}

static BRIDGES: LazyLock<Mutex<HashMap<usize, Arc<LoopBridge>>>> = LazyLock::new(Default::default);

/// The loop's reader callback.
#[pyclass(frozen, module = "mcpfleet._core")]
struct SettleCompletions {
    bridge: Arc<LoopBridge>,
}

#[pymethods]
impl SettleCompletions {
    fn __call__(&self, py: Python<'_>) {
        self.bridge.settle_all(py);
    }
}

/// Weak-reference callback: the loop is gone, so is its bridge (and its descriptors).
#[pyclass(frozen, module = "mcpfleet._core")]
struct ForgetLoop {
    key: usize,
}

#[pymethods]
impl ForgetLoop {
    fn __call__(&self, _reference: &Bound<'_, PyAny>) {
        let bridge = BRIDGES.lock().unwrap().remove(&self.key);
        if let Some(bridge) = bridge {
            bridge.gone.store(true, Ordering::Release);
            bridge.loop_ref.lock().unwrap().take();
        }
    }
}

fn bridge_for(event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<LoopBridge>> {
    let key = event_loop.as_ptr() as usize;
    if let Some(bridge) = BRIDGES.lock().unwrap().get(&key) {
        return Ok(bridge.clone());
    }
    let py = event_loop.py();
    let bridge = Arc::new(LoopBridge::new().map_err(|e| PyOSError::new_err(format!("cannot create the wake-up descriptor for asyncio results: {e}")))?);
    event_loop.call_method1(intern!(py, "add_reader"), (bridge.waker.fd(), SettleCompletions { bridge: bridge.clone() }))?;
    // A loop without weak-reference support keeps its bridge (its descriptors) for the process lifetime.
    if let Ok(reference) = PyWeakrefReference::new_with(event_loop, ForgetLoop { key }) {
        *bridge.loop_ref.lock().unwrap() = Some(reference.unbind());
    }
    BRIDGES.lock().unwrap().insert(key, bridge.clone());
    Ok(bridge)
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?.call0()
}

thread_local! {
    /// Set while `call_blocking` runs a method on this thread: its call is waited for, not awaited.
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is making a blocking call (`mcpfleet.sync`).
pub fn blocking() -> bool {
    BLOCKING.get()
}

/// How often a blocked thread takes the GIL back to run signal handlers (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Converts a finished call's value, on the thread that waited for it.
type Outcome = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Where a blocking call's outcome waits for its caller.
#[derive(Default)]
struct Slot {
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, outcome: Outcome) {
        *self.outcome.lock().unwrap() = Some(outcome);
        self.ready.notify_all();
    }

    fn take_within(&self, limit: Duration) -> Option<Outcome> {
        let guard = self.outcome.lock().unwrap();
        let (mut guard, _) = self.ready.wait_timeout_while(guard, limit, |o| o.is_none()).unwrap();
        guard.take()
    }
}

/// `function(*args, **kwargs)` with this thread's calls made blocking; a `PendingCall` it
/// returns is waited for (Ctrl-C cancels it), anything else is returned as it is.
#[pyfunction]
#[pyo3(name = "_call_blocking", signature = (function, /, *args, **kwargs))]
pub fn call_blocking(py: Python<'_>, function: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
    let previous = BLOCKING.replace(true);
    let made = function.call(args, kwargs);
    BLOCKING.set(previous);
    let made = made?;
    match made.cast::<PendingCall>() {
        Ok(pending) => pending.get().wait(py),
        Err(_) => Ok(made.unbind()),
    }
}

/// Makes the running loop ready to take jobs (its reader is added on its own thread).
#[pyfunction]
pub fn _register_loop(py: Python<'_>) -> PyResult<()> {
    LoopHandle::current(py).map(|_| ())
}

/// Runs `future` on the runtime; the returned object is awaited in the current event loop
/// (or, in a blocking call, waited for).
pub fn spawn<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    // `map`, not an async block: that would hold the (large) future twice, as the captured
    // value and as what it awaits, and the whole of it is moved into the task.
    if blocking() {
        let slot = Arc::new(Slot::default());
        let filled = slot.clone();
        let task = runtime::handle().spawn(future.map(move |outcome| {
            filled.put(Box::new(move |py| outcome.and_then(|value| value.into_py_any(py))));
        }));
        return Ok(Bound::new(py, PendingCall { delivery: Delivery::Blocking(slot), abort: task.abort_handle() })?.into_any());
    }
    let event_loop = running_loop(py)?;
    let bridge = bridge_for(&event_loop)?;
    let py_future = event_loop.call_method0(intern!(py, "create_future"))?.unbind();
    let target = py_future.clone_ref(py);
    let task = runtime::handle().spawn(future.map(move |outcome| {
        bridge.complete(Box::new(move |py| {
            let future = target.bind(py);
            // A future cancelled meanwhile refuses the result (InvalidStateError): nothing to do.
            let _ = match outcome.and_then(|value| value.into_py_any(py)) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
                Err(err) => future.call_method1(intern!(py, "set_exception"), (err.into_value(py),)),
            };
        }));
    }));
    Ok(Bound::new(py, PendingCall { delivery: Delivery::Loop(py_future), abort: task.abort_handle() })?.into_any())
}

enum Delivery {
    /// An asyncio future of the loop the call was made on.
    Loop(Py<PyAny>),
    /// A slot a blocked thread waits on.
    Blocking(Arc<Slot>),
}

/// An MCP operation in progress; await it (or hand it to `asyncio.create_task`). Cancelling
/// the awaiting task cancels the operation. Dropped without being awaited, it is cancelled.
#[pyclass(frozen, module = "mcpfleet._core")]
pub struct PendingCall {
    delivery: Delivery,
    abort: AbortHandle,
}

impl PendingCall {
    fn future<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyAny>> {
        match &self.delivery {
            Delivery::Loop(future) => Ok(future.bind(py)),
            Delivery::Blocking(_) => Err(PyRuntimeError::new_err("this call was made by mcpfleet.sync; it is waited for, not awaited")),
        }
    }

    /// Blocks this thread (without the GIL) until the call is done. Ctrl-C (any exception a
    /// signal handler raises) cancels the call and is raised.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Delivery::Blocking(slot) = &self.delivery else {
            return Err(PyRuntimeError::new_err("this call belongs to an event loop: await it"));
        };
        loop {
            if let Some(outcome) = py.detach(|| slot.take_within(SIGNAL_CHECK)) {
                return outcome(py);
            }
            if let Err(interrupted) = py.check_signals() {
                self.abort.abort();
                return Err(interrupted);
            }
        }
    }

    fn cancel(&self, py: Python<'_>) {
        self.abort.abort();
        if let Delivery::Loop(future) = &self.delivery {
            let _ = future.bind(py).call_method0(intern!(py, "cancel"));
        }
    }

    fn step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let future = self.future(py)?;
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            let value = future.call_method0(intern!(py, "result"))?;
            return Err(PyStopIteration::new_err((value.unbind(),)));
        }
        // What `Future.__await__` does before yielding to the task.
        future.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
        Ok(future.clone().unbind())
    }
}

#[pymethods]
impl PendingCall {
    /// `PendingCall[int]` in annotations, as the stub declares it generic.
    #[classmethod]
    #[pyo3(signature = (item, /))]
    fn __class_getitem__<'py>(cls: &Bound<'py, PyType>, item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        py.import(intern!(py, "types"))?.getattr(intern!(py, "GenericAlias"))?.call1((cls, item))
    }

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    #[pyo3(signature = (value, /))]
    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let _ = value;
        self.step(py)
    }

    /// The awaiting task was cancelled (or something else was thrown in): abort, then re-raise.
    #[pyo3(signature = (kind, value = None, traceback = None, /))]
    fn throw(&self, py: Python<'_>, kind: &Bound<'_, PyAny>, value: Option<&Bound<'_, PyAny>>, traceback: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let _ = traceback;
        self.cancel(py);
        let exception = match kind.cast::<PyType>() {
            Ok(kind) => match value {
                Some(v) if v.is_instance(kind)? => v.clone(),
                Some(v) if !v.is_none() => kind.call1((v,))?,
                _ => kind.call0()?,
            },
            Err(_) => kind.clone(),
        };
        Err(PyErr::from_value(exception))
    }

    fn close(&self, py: Python<'_>) {
        self.cancel(py);
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.abort.abort();
    }
}
