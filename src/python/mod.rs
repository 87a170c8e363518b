//! The PyO3 binding layer: thin wrappers over the core. Nothing here knows MCP details.

mod awaitable;
mod callback;
mod client;
mod convert;
mod errors;
mod fleet;
mod gateway;
mod handlers;
mod logging;
mod oauth;
mod runtime;
mod tokens;
mod types;

use std::time::Duration;

use pyo3::prelude::*;

/// Runs the built-in demo server until stdin closes (stdio) or Ctrl-C / SIGTERM (HTTP).
#[pyfunction]
#[pyo3(signature = (http_port = None))]
fn run_demo_server(py: Python<'_>, http_port: Option<u16>) -> PyResult<()> {
    py.detach(|| {
        // One thread: a request never waits for a wake-up of another worker.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            match http_port {
                None => tokio::select! {
                    r = crate::demo_server::serve_stdio() => r,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                },
                Some(port) => {
                    let (port, serve) = crate::demo_server::bind_http(port).await?;
                    eprintln!("mcpfleet demo server listening on http://127.0.0.1:{port}/mcp");
                    tokio::select! {
                        r = serve => r,
                        _ = tokio::signal::ctrl_c() => Ok(()),
                    }
                }
            }
        })
    })
    .map_err(|e: std::io::Error| pyo3::exceptions::PyOSError::new_err(e.to_string()))
}

/// Ends every stdio server process group still running (TERM, then KILL after `grace`).
#[pyfunction]
#[pyo3(signature = (grace = 2.0))]
fn _terminate_all_servers(py: Python<'_>, grace: f64) -> PyResult<()> {
    let grace = convert::seconds_or_zero(grace, "grace")?;
    py.detach(|| crate::transport::stdio::terminate_all_process_groups(grace));
    Ok(())
}

/// Interpreter exit (registered with `atexit`): ends the servers, then stops the logging
/// thread before finalization (a foreign thread that takes the GIL while the interpreter
/// finalizes is ended with `pthread_exit`, which aborts a Rust thread).
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    py.detach(|| {
        // First, so that no supervisor restarts what is about to be ended.
        crate::process::begin_shutdown();
        crate::transport::stdio::terminate_all_process_groups(Duration::from_secs(2));
        logging::stop();
    });
}

/// Number of stdio server process groups started and not yet cleaned up.
#[pyfunction]
fn _live_server_process_groups() -> usize {
    crate::transport::stdio::live_process_group_count()
}

/// Text with every secret taken out: URL passwords and query values, and registered header,
/// env and token values. What `repr()`s written in Python pass through.
#[pyfunction]
fn _redact(text: &str) -> String {
    crate::util::redact::scrub(text)
}

/// The process watchdog's pid (None before the first stdio server), for tests.
#[pyfunction]
fn _watchdog_pid() -> Option<u32> {
    crate::process::watchdog::pid()
}

/// Sets the Python logging level from which mcpfleet's own records are emitted.
#[pyfunction]
fn _set_log_level(level: u8) {
    logging::set_level(level);
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // Without `logging` imported nobody has configured it yet: the level is the default WARNING.
    // Not importing it here keeps the built-in server's start-up short.
    let level: u8 = match py.import("sys")?.getattr("modules")?.get_item("logging") {
        Ok(logging) => logging.call_method1("getLogger", ("mcpfleet",))?.call_method0("getEffectiveLevel")?.extract()?,
        Err(_) => 30,
    };
    logging::install(level);
    // pyo3-async-runtimes helpers, where used, share our runtime.
    let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime::runtime());

    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<awaitable::PendingCall>()?;
    m.add_class::<client::ClientBase>()?;
    m.add_class::<client::StdioClient>()?;
    m.add_class::<client::StreamableHTTPClient>()?;
    m.add_class::<client::SSEClient>()?;
    m.add_class::<client::MCPClientConfig>()?;
    m.add_class::<oauth::PyOAuth>()?;
    m.add_class::<oauth::PyFileTokenStore>()?;
    m.add_class::<fleet::Adapter>()?;
    m.add_class::<fleet::StatusStream>()?;
    m.add_class::<fleet::McpDiscreteStatusUpdate>()?;
    m.add_class::<fleet::MCPServerInfo>()?;
    m.add_class::<fleet::ToolMetadata>()?;
    m.add_class::<gateway::GatewayServer>()?;
    m.add_function(wrap_pyfunction!(client::new_mcp_client_from_type, m)?)?;
    m.add_class::<types::Tool>()?;
    m.add_class::<types::CallToolResult>()?;
    m.add_class::<types::TextContent>()?;
    m.add_class::<types::ImageContent>()?;
    m.add_class::<types::AudioContent>()?;
    m.add_class::<types::EmbeddedResource>()?;
    m.add_class::<types::ResourceLink>()?;
    m.add_class::<types::Resource>()?;
    m.add_class::<types::ResourceTemplate>()?;
    m.add_class::<types::TextResourceContents>()?;
    m.add_class::<types::BlobResourceContents>()?;
    m.add_class::<types::ReadResourceResult>()?;
    m.add_class::<types::Prompt>()?;
    m.add_class::<types::PromptArgument>()?;
    m.add_class::<types::PromptMessage>()?;
    m.add_class::<types::GetPromptResult>()?;
    m.add_class::<types::ServerInfo>()?;
    m.add_class::<handlers::ElicitationRequest>()?;
    m.add_class::<handlers::SamplingRequest>()?;
    m.add_class::<handlers::LogMessage>()?;
    m.add_function(wrap_pyfunction!(run_demo_server, m)?)?;
    m.add_function(wrap_pyfunction!(_terminate_all_servers, m)?)?;
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_live_server_process_groups, m)?)?;
    m.add_function(wrap_pyfunction!(_set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(_redact, m)?)?;
    m.add_function(wrap_pyfunction!(awaitable::call_blocking, m)?)?;
    m.add_function(wrap_pyfunction!(awaitable::_register_loop, m)?)?;
    m.add_function(wrap_pyfunction!(awaitable::_waker_kind, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::_check_config, m)?)?;
    m.add_function(wrap_pyfunction!(gateway::_serve_fleet, m)?)?;
    m.add_function(wrap_pyfunction!(_watchdog_pid, m)?)?;
    Ok(())
}
