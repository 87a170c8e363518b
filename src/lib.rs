//! mcpfleet's core: MCP clients for stdio, streamable HTTP and legacy SSE servers, and the
//! built-in demo server. It knows nothing of Python; `src/python/` is the binding layer.

pub mod auth;
pub mod client;
pub mod demo_server;
pub mod error;
pub mod fleet;
pub mod gateway;
pub mod kubernetes;
pub mod process;
pub mod transport;
pub mod util;

#[cfg(feature = "python")]
mod python;

pub use client::{ClientOptions, Connection};
pub use error::{Error, Result};
pub use transport::{HttpOptions, StdioParams, TransportConfig};
