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

/// The `initialize` request with capabilities rmcp's types have no field for (the 2025-11-25
/// `tasks` capability) added to the ones it declares: sent as a request of rmcp's "custom" kind,
/// which carries any JSON. Other messages pass unchanged.
pub fn with_extra_capabilities(
    message: rmcp::model::ClientJsonRpcMessage,
    extra: Option<&rmcp::model::JsonObject>,
) -> rmcp::model::ClientJsonRpcMessage {
    use rmcp::model::{ClientJsonRpcMessage, ClientRequest, CustomRequest};
    let Some(extra) = extra else { return message };
    let ClientJsonRpcMessage::Request(mut request) = message else { return message };
    if let ClientRequest::InitializeRequest(initialize) = &request.request {
        if let Ok(mut params) = serde_json::to_value(&initialize.params) {
            if let Some(capabilities) = params.get_mut("capabilities").and_then(serde_json::Value::as_object_mut) {
                for (key, value) in extra {
                    capabilities.entry(key.clone()).or_insert_with(|| value.clone());
                }
                request.request = ClientRequest::CustomRequest(CustomRequest::new("initialize", Some(params)));
            }
        }
    }
    ClientJsonRpcMessage::Request(request)
}

/// A transport whose `initialize` declares capabilities rmcp has no field for (see
/// [`with_extra_capabilities`]). For transports of our own, where rmcp does not look at the
/// message after us; streamable HTTP adds them in its HTTP client instead.
pub struct Declaring<T> {
    pub inner: T,
    pub extra: Option<std::sync::Arc<rmcp::model::JsonObject>>,
}

impl<T: rmcp::transport::Transport<rmcp::RoleClient>> rmcp::transport::Transport<rmcp::RoleClient> for Declaring<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: rmcp::model::ClientJsonRpcMessage,
    ) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send + 'static {
        let item = with_extra_capabilities(item, self.extra.as_deref());
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<rmcp::model::ServerJsonRpcMessage>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = std::result::Result<(), Self::Error>> + Send {
        self.inner.close()
    }
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
