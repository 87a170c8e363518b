//! The one tokio runtime of the extension: current-thread, driven by the `mcpfleet-io` thread.
//!
//! One thread on purpose: every task that serves a request (rmcp's service loop, the transport,
//! the waiting call) runs where the last one left off, so a request costs no wake-ups of other
//! workers (each costs tens of microseconds on small VMs). JSON work per message is small; the
//! MCP servers do the heavy lifting in their own processes.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

pub fn runtime() -> &'static Runtime {
    static DRIVER: std::sync::Once = std::sync::Once::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("mcpfleet-blocking")
            .build()
            .expect("cannot build the tokio runtime")
    });
    // Only `Runtime::block_on` drives a current-thread runtime's IO and timers.
    DRIVER.call_once(|| {
        std::thread::Builder::new()
            .name("mcpfleet-io".into())
            .spawn(|| RUNTIME.get().expect("initialized above").block_on(std::future::pending::<()>()))
            .expect("cannot start the mcpfleet-io thread");
    });
    runtime
}

pub fn handle() -> &'static Handle {
    runtime().handle()
}
