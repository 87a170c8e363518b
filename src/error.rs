//! The core's error type. The Python layer maps each variant to one exception class.

use std::fmt;
use std::time::Duration;

use crate::util::redact::{MAX_QUOTE_CHARS, quote, redact_url, scrub};

use crate::transport::stdio::ExitInfo;

/// Everything that can go wrong talking to an MCP server.
#[derive(Clone)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments or configuration (unknown transport type, malformed URL or header, ...).
    Config(String),

    /// The server could not be started or reached (missing command, connection refused, ...).
    Start(String),

    /// The stdio command cannot be run at all; trying again will not help.
    CannotRun { command: String, reason: CannotRun },

    /// The stdio server process exited while the client needed it.
    Exited { exit: ExitInfo, stderr_tail: String },

    /// No answer within the allowed time. The request has been cancelled on the server.
    Timeout { operation: String, timeout: Duration, detail: Option<String> },

    /// The server answered with a JSON-RPC error.
    Server { operation: String, code: i32, message: String, data: Option<serde_json::Value> },

    /// The peer broke the protocol (unexpected response, bad framing, cross-origin SSE endpoint, ...).
    Protocol(String),

    /// The connection failed after it was established (HTTP error status, stream closed, ...).
    Transport(String),

    /// The remote server answered 401/403 with a `WWW-Authenticate` challenge.
    AuthRequired { url: String, status: u16, www_authenticate: String },

    /// The token provider failed, or gave no token in time; the request was not sent.
    Token(crate::auth::TokenError),

    /// The client is not connected: never initialized, or closed.
    NotConnected(String),

    /// Definitions with problems; nothing was registered.
    Invalid(Vec<crate::fleet::definition::Problem>),

    /// No server of the fleet offers this tool (or prompt).
    ToolNotFound { name: String, suggestions: Vec<String> },

    /// The fleet server behind a name is not up.
    ServerDown { server: String, state: &'static str, last_error: Option<String> },

    /// No fleet server has this name.
    UnknownServer { name: String, suggestions: Vec<String> },
}

/// Why a stdio command cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CannotRun {
    CommandNotFound,
    PermissionDenied,
    NotExecutable,
    CwdMissing(String),
}

impl fmt::Display for CannotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CannotRun::CommandNotFound => f.write_str("command not found"),
            CannotRun::PermissionDenied => f.write_str("permission denied"),
            CannotRun::NotExecutable => f.write_str("not an executable file"),
            CannotRun::CwdMissing(dir) => write!(f, "working directory {dir} does not exist"),
        }
    }
}

impl Error {
    /// Whether trying again without a change to the definition cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Config(_) | Error::CannotRun { .. } | Error::Invalid(_))
    }
}

impl From<crate::auth::TokenError> for Error {
    fn from(e: crate::auth::TokenError) -> Self {
        Error::Token(e)
    }
}

impl Error {
    /// The message before redaction; only `Display` may call it.
    fn raw_message(&self) -> String {
        match self {
            Error::Config(m) | Error::Start(m) | Error::Protocol(m) | Error::Transport(m) | Error::NotConnected(m) => m.clone(),
            Error::CannotRun { command, reason } => format!("cannot start stdio server `{command}`: {reason}"),
            Error::Exited { exit, stderr_tail } => exited_message(exit, stderr_tail),
            Error::Timeout { operation, timeout, detail } => format!("{operation} timed out after {}{}", format_duration(*timeout), detail_suffix(detail)),
            Error::Server { operation, code, message, .. } => format!("server error {code} on {operation}: {}", quote(message, MAX_QUOTE_CHARS)),
            Error::AuthRequired { url, www_authenticate, .. } => {
                let challenge = if www_authenticate.is_empty() { String::new() } else { format!(" (WWW-Authenticate: {})", quote(www_authenticate, MAX_QUOTE_CHARS)) };
                format!("{} requires authorization{challenge}", redact_url(url))
            }
            Error::Token(e) => e.to_string(),
            Error::Invalid(problems) => invalid_message(problems),
            Error::ToolNotFound { name, suggestions } => format!("no tool named `{name}`{}", suggestion_suffix(suggestions)),
            Error::ServerDown { server, state, last_error } => {
                format!("server `{server}` is {state}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())
            }
            Error::UnknownServer { name, suggestions } => format!("no MCP server named `{name}`{}", suggestion_suffix(suggestions)),
        }
    }
}

/// Every error's text passes here, and so through the one redaction that every message, log
/// record and `repr()` shares.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&scrub(&self.raw_message()))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Error::Config(_) => "Config",
            Error::Start(_) => "Start",
            Error::CannotRun { .. } => "CannotRun",
            Error::Exited { .. } => "Exited",
            Error::Timeout { .. } => "Timeout",
            Error::Server { .. } => "Server",
            Error::Protocol(_) => "Protocol",
            Error::Transport(_) => "Transport",
            Error::AuthRequired { .. } => "AuthRequired",
            Error::Token(_) => "Token",
            Error::NotConnected(_) => "NotConnected",
            Error::Invalid(_) => "Invalid",
            Error::ToolNotFound { .. } => "ToolNotFound",
            Error::ServerDown { .. } => "ServerDown",
            Error::UnknownServer { .. } => "UnknownServer",
        };
        write!(f, "Error::{variant}({:?})", self.to_string())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Token(e) => Some(e),
            _ => None,
        }
    }
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
