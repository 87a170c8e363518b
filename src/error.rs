//! The core's error type. The Python layer maps each variant to one exception class.

use std::time::Duration;

use crate::transport::stdio::ExitInfo;

/// Everything that can go wrong talking to an MCP server.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments or configuration (unknown transport type, malformed URL or header, ...).
    #[error("{0}")]
    Config(String),

    /// The server could not be started or reached (missing command, connection refused, ...).
    #[error("{0}")]
    Start(String),

    /// The stdio server process exited while the client needed it.
    #[error("{}", exited_message(.exit, .stderr_tail))]
    Exited { exit: ExitInfo, stderr_tail: String },

    /// No answer within the allowed time. The request has been cancelled on the server.
    #[error("{operation} timed out after {}{}", format_duration(*.timeout), detail_suffix(.detail))]
    Timeout { operation: String, timeout: Duration, detail: Option<String> },

    /// The server answered with a JSON-RPC error.
    #[error("server error {code} on {operation}: {message}")]
    Server { operation: String, code: i32, message: String, data: Option<serde_json::Value> },

    /// The peer broke the protocol (unexpected response, bad framing, cross-origin SSE endpoint, ...).
    #[error("{0}")]
    Protocol(String),

    /// The connection failed after it was established (HTTP error status, stream closed, ...).
    #[error("{0}")]
    Transport(String),

    /// The remote server answered 401/403 with a `WWW-Authenticate` challenge.
    #[error("{url} requires authorization{}", if .www_authenticate.is_empty() { String::new() } else { format!(" (WWW-Authenticate: {})", .www_authenticate) })]
    AuthRequired { url: String, status: u16, www_authenticate: String },

    /// The token provider failed, or gave no token in time; the request was not sent.
    #[error(transparent)]
    Token(#[from] crate::auth::TokenError),

    /// The client is not connected: never initialized, or closed.
    #[error("{0}")]
    NotConnected(String),

    /// Definitions with problems; nothing was registered.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<crate::fleet::definition::Problem>),

    /// No server of the fleet offers this tool (or prompt).
    #[error("no tool named `{name}`{}", suggestion_suffix(.suggestions))]
    ToolNotFound { name: String, suggestions: Vec<String> },

    /// The fleet server behind a name is not up.
    #[error("server `{server}` is {state}{}", .last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    ServerDown { server: String, state: &'static str, last_error: Option<String> },

    /// No fleet server has this name.
    #[error("no MCP server named `{name}`{}", suggestion_suffix(.suggestions))]
    UnknownServer { name: String, suggestions: Vec<String> },
}

fn invalid_message(problems: &[crate::fleet::definition::Problem]) -> String {
    match problems {
        [one] => format!("invalid MCP server definition: {one}"),
        many => {
            let lines: Vec<String> = many.iter().map(|p| format!("  {p}")).collect();
            format!("invalid MCP server definitions ({} problems):\n{}", many.len(), lines.join("\n"))
        }
    }
}

fn suggestion_suffix(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!("; close matches: {}", many.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn exited_message(exit: &ExitInfo, stderr_tail: &str) -> String {
    let tail = stderr_tail.trim_end();
    if tail.is_empty() {
        format!("server process {exit}")
    } else {
        format!("server process {exit}; last stderr lines:\n{tail}")
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
}

pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 && secs.fract() == 0.0 { format!("{}s", secs as u64) } else { format!("{secs:.3}s") }
}
