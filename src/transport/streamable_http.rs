//! Streamable HTTP: rmcp's client transport with bounded reconnects and session re-initialization,
//! over a reqwest client that asks the token source (if any) for a bearer token on every request
//! and lets it react once to a refusal (refresh after 401, step-up after 403 insufficient_scope).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::{Error as SseError, Sse};

use super::direct_post::{DirectPost, SessionSeen};
use super::http::HttpOptions;
use crate::auth::{Rejection, TokenError, Tokens};
use crate::error::Result;

/// Reconnect attempts for a dropped SSE stream before the transport gives up.
const MAX_RECONNECTS: usize = 5;

/// rmcp's transport, and the way for calls around it, sharing one connection pool and session.
/// `extra_capabilities`: declared in `initialize` besides rmcp's (see [`super::with_extra_capabilities`]).
pub fn transport(
    url: &url::Url,
    options: &HttpOptions,
    extra_capabilities: Option<Arc<rmcp::model::JsonObject>>,
) -> Result<(StreamableHttpClientTransport<AuthorizedClient>, DirectPost)> {
    let session = SessionSeen::default();
    let client = AuthorizedClient { http: options.build_client()?, tokens: options.tokens.clone(), session: session.clone(), extra_capabilities };
    let direct = DirectPost::new(client.http.clone(), url.clone(), options.tokens.clone(), session, options.connect_timeout);
    let headers: HashMap<_, _> = options.header_map()?.into_iter().filter_map(|(k, v)| Some((k?, v))).collect();
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(MAX_RECONNECTS);
    retry.base_duration = Duration::from_millis(500);
    retry.max_delay = Some(Duration::from_secs(8));
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
        .custom_headers(headers)
        .reinit_on_expired_session(true);
    config.retry_config = Arc::new(retry);
    Ok((StreamableHttpClientTransport::with_client(client, config), direct))
}

/// reqwest, with the bearer token taken from `tokens` for each request (when set).
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    tokens: Option<Tokens>,
    /// The session rmcp holds, for [`DirectPost`].
    session: SessionSeen,
    extra_capabilities: Option<Arc<rmcp::model::JsonObject>>,
}

type HttpError = StreamableHttpError<reqwest::Error>;

impl AuthorizedClient {
    async fn bearer(&self, given: Option<String>) -> std::result::Result<Option<String>, HttpError> {
        match &self.tokens {
            None => Ok(given),
            Some(tokens) => tokens.bearer().await.map_err(token_failure),
        }
    }

    /// Runs `call` with the current token. When the server refuses it (401, or 403
    /// `insufficient_scope`), the token source may fix that (refresh, step-up): then `call`
    /// runs once more with the new token.
    async fn with_token<T, F, Fut>(&self, given: Option<String>, in_session: bool, call: F) -> std::result::Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = std::result::Result<T, HttpError>>,
    {
        let token = self.bearer(given).await?;
        let outcome = call(token.clone()).await;
        let Some(tokens) = &self.tokens else { return outcome };
        let rejection = match &outcome {
            Err(StreamableHttpError::AuthRequired(e)) => {
                Rejection::Unauthorized { challenge: &e.www_authenticate_header, sent: token.as_deref(), in_session }
            }
            Err(StreamableHttpError::InsufficientScope(e)) => Rejection::InsufficientScope { challenge: &e.www_authenticate_header },
            _ => return outcome,
        };
        match tokens.rejected(rejection).await {
            Ok(true) => call(self.bearer(None).await?).await,
            Ok(false) => outcome,
            Err(e) => Err(token_failure(e)),
        }
    }
}

/// An io::Error carries the failure through rmcp to the request that needed the token.
fn token_failure(e: TokenError) -> HttpError {
    StreamableHttpError::Io(std::io::Error::other(e))
}

impl StreamableHttpClient for AuthorizedClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> std::result::Result<StreamableHttpPostResponse, HttpError> {
        self.post_message_with_response_limits(uri, message, session_id, auth, headers, StreamableHttpResponseLimits::default()).await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> std::result::Result<StreamableHttpPostResponse, HttpError> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(uri, message, session_id, auth, headers, limits).await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> std::result::Result<StreamableHttpPostResponse, HttpError> {
        if let Some(id) = &session_id {
            if !super::is_initialize(&message) {
                self.session.record(id, &headers);
            }
        }
        let in_session = !super::is_initialize(&message);
        let message = super::with_extra_capabilities(message, self.extra_capabilities.as_deref());
        if self.tokens.is_none() {
            return self.http.post_message_with_response_limits(uri, message, session_id, auth, headers, limits).await;
        }
        // Kept for a possible second attempt after a refusal.
        self.with_token(auth, in_session, |token| {
            self.http.post_message_with_response_limits(uri.clone(), message.clone(), session_id.clone(), token, headers.clone(), limits.clone())
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> std::result::Result<(), HttpError> {
        self.with_token(auth, true, |token| self.http.delete_session(uri.clone(), session_id.clone(), token, headers.clone())).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> std::result::Result<BoxStream<'static, std::result::Result<Sse, SseError>>, HttpError> {
        self.with_token(auth, true, |token| self.http.get_stream(uri.clone(), session_id.clone(), last_event_id.clone(), token, headers.clone())).await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> std::result::Result<BoxStream<'static, std::result::Result<Sse, SseError>>, HttpError> {
        self.with_token(auth, true, |token| {
            self.http.get_stream_with_max_sse_event_size(uri.clone(), session_id.clone(), last_event_id.clone(), token, headers.clone(), max_sse_event_size)
        })
        .await
    }
}
