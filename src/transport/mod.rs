//! The three MCP transports and their shared HTTP options.

pub mod decode;
pub mod direct_post;
pub mod http;
pub mod http1;
mod outbox;
pub mod sse;
pub mod stdio;
pub mod stdio_direct;
pub mod streamable_http;

pub use http::HttpOptions;
pub use stdio::StdioParams;

/// Whether a message is the `initialize` request (the handshake, before a session exists).
pub fn is_initialize(message: &rmcp::model::ClientJsonRpcMessage) -> bool {
    use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
    matches!(message, ClientJsonRpcMessage::Request(r) if matches!(r.request, ClientRequest::InitializeRequest(_)))
}

/// Which transport a client uses, with its parameters.
#[derive(Debug, Clone)]
pub enum TransportConfig {
    Stdio(StdioParams),
    StreamableHttp { url: String, options: HttpOptions },
    Sse { url: String, options: HttpOptions },
}

impl TransportConfig {
    /// The transport's name as used in configuration: `stdio`, `streamable-http` or `sse`.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportConfig::Stdio(_) => "stdio",
            TransportConfig::StreamableHttp { .. } => "streamable-http",
            TransportConfig::Sse { .. } => "sse",
        }
    }

    /// Makes the values this transport sends (env and header values, URL credentials) known to
    /// the redaction every message, log record and `repr()` passes through.
    pub fn register_secrets(&self) {
        use crate::util::redact::{register, register_url};
        match self {
            TransportConfig::Stdio(p) => register(p.env.iter().map(|(_, v)| v.as_str())),
            TransportConfig::StreamableHttp { url, options } | TransportConfig::Sse { url, options } => {
                register(options.headers.iter().map(|(_, v)| v.as_str()));
                // "Bearer abc…": the token alone too, should a message quote it.
                register(options.headers.iter().filter_map(|(_, v)| v.split_once(' ').map(|(_, t)| t)));
                register_url(url);
            }
        }
    }
}
