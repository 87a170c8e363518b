//! Streamable HTTP: rmcp's client transport with bounded reconnects and session re-initialization.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::http::HttpOptions;
use crate::error::Result;

/// Reconnect attempts for a dropped SSE stream before the transport gives up.
const MAX_RECONNECTS: usize = 5;

pub fn transport(url: &url::Url, options: &HttpOptions) -> Result<StreamableHttpClientTransport<reqwest::Client>> {
    let client = options.build_client()?;
    let headers: HashMap<_, _> = options.header_map()?.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(MAX_RECONNECTS);
    retry.base_duration = Duration::from_millis(500);
    retry.max_delay = Some(Duration::from_secs(8));
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
        .custom_headers(headers)
        .reinit_on_expired_session(true);
    config.retry_config = Arc::new(retry);
    Ok(StreamableHttpClientTransport::with_client(client, config))
}
