//! `tracing` events → Python `logging`. Records go over a channel to one thread that takes the
//! GIL per batch, so tokio workers never wait for the GIL.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Python levels: DEBUG 10, INFO 20, WARNING 30, ERROR 40.
static THRESHOLD: AtomicU8 = AtomicU8::new(20);

struct Record {
    logger: &'static str,
    level: u8,
    message: String,
}

struct PyLogLayer {
    tx: Mutex<mpsc::Sender<Record>>,
}

fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        _ => 10,
    }
}

fn is_ours(target: &str) -> bool {
    target.starts_with("_core") || target.starts_with("mcpfleet")
}

fn logger_for(target: &str) -> &'static str {
    if target.starts_with("mcpfleet::stderr") {
        "mcpfleet.stderr"
    } else if target.starts_with("mcpfleet::server_log") {
        "mcpfleet.server"
    } else if is_ours(target) {
        "mcpfleet"
    } else if target.starts_with("kube") {
        // kube-client and kube-runtime: the apiserver's side of a fleet of a cluster.
        "mcpfleet.kubernetes"
    } else {
        "mcpfleet.rmcp"
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    server: Option<String>,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "server" => self.server = Some(value.to_string()),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "server" => self.server = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for PyLogLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        let level = python_level(metadata.level());
        // Other crates (rmcp, hyper) only from WARNING: their debug output is not for users.
        let floor = if is_ours(metadata.target()) { THRESHOLD.load(Ordering::Relaxed) } else { THRESHOLD.load(Ordering::Relaxed).max(30) };
        level >= floor
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = match fields.server {
            Some(server) => format!("[{server}] {}{}", fields.message, fields.extra),
            None => format!("{}{}", fields.message, fields.extra),
        };
        // Every record leaves through the one redaction errors and reprs use.
        let message = crate::util::redact::scrub(&message);
        let logger = logger_for(event.metadata().target());
        let mut level = python_level(event.metadata().level());
        if logger == "mcpfleet.rmcp" && crate::util::is_expected_library_noise(&message) {
            level = 10;
            if level < THRESHOLD.load(Ordering::Relaxed) {
                return;
            }
        }
        let record = Record { logger, level, message };
        let _ = self.tx.lock().unwrap().send(record);
    }
}

/// Set at interpreter exit. The forwarder holds this lock while it has the GIL, so once
/// `stop()` has set it, the thread never touches the GIL again: a foreign thread taking the
/// GIL during finalization is ended with `pthread_exit`, which aborts a Rust thread.
static STOPPED: Mutex<bool> = Mutex::new(false);

fn forward(rx: mpsc::Receiver<Record>) {
    while let Ok(first) = rx.recv() {
        let stopped = STOPPED.lock().unwrap();
        if *stopped {
            return;
        }
        let attached = Python::try_attach(|py| {
            let logging = py.import("logging")?;
            let mut next = Some(first);
            while let Some(record) = next.take() {
                logging.call_method1("getLogger", (record.logger,))?.call_method1("log", (record.level, record.message))?;
                next = rx.try_recv().ok();
            }
            PyResult::Ok(())
        });
        drop(stopped);
        if attached.is_none() {
            return; // the interpreter is finalizing
        }
    }
}

/// Stops forwarding for good (at interpreter exit). Call without holding the GIL.
pub fn stop() {
    *STOPPED.lock().unwrap() = true;
}

/// Installs the bridge once. INFO and above are always sent (Python's logging filters them);
/// DEBUG only when the `mcpfleet` logger was at DEBUG at import, or after `_set_log_level(10)`.
pub fn install(level: u8) {
    THRESHOLD.store(level.min(20), Ordering::Relaxed);
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("mcpfleet-logging".into()).spawn(move || forward(rx));
        if spawned.is_ok() {
            // Another library may already own the global subscriber; then we stay quiet.
            let _ = tracing_subscriber::registry().with(PyLogLayer { tx: Mutex::new(tx) }).try_init();
        }
    });
}

pub fn set_level(level: u8) {
    THRESHOLD.store(level, Ordering::Relaxed);
}
