//! Token sources: where the bearer token of each HTTP request comes from (a host-language
//! callable, or the OAuth flows). Asked on every request, so a refreshed token is used at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

/// Supplies the bearer token for the next request; `None` sends no `Authorization` header.
pub trait TokenSource: Send + Sync + 'static {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, TokenError>>;

    /// The server refused a request. `Ok(true)`: the source has a better token now (refreshed,
    /// or a wider scope), so the request is sent once more. The default never retries.
    fn rejected<'a>(&'a self, _rejection: Rejection<'a>) -> BoxFuture<'a, Result<bool, TokenError>> {
        Box::pin(async { Ok(false) })
    }
}

/// Why the server refused a request, with its `WWW-Authenticate` value.
#[derive(Debug, Clone, Copy)]
pub enum Rejection<'a> {
    /// 401: the token (`sent`, if any) is missing, expired or revoked. `in_session`: the
    /// session is up (not the `initialize` handshake), so a login may run inside this request;
    /// during `initialize` the client logs in itself, outside the handshake's timeout.
    Unauthorized { challenge: &'a str, sent: Option<&'a str>, in_session: bool },
    /// 403 `insufficient_scope`: the token lacks a scope the request needs.
    InsufficientScope { challenge: &'a str },
}

/// Where a token failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// A host-language token provider raised, returned a wrong type, or took too long.
    Provider,
    /// An OAuth flow failed: discovery, registration, token endpoint, store, redirect.
    OAuth,
}

/// A token source failed. `cause` is the source's own error (for the Python binding: the
/// exception the provider raised), kept so the caller can chain it.
#[derive(Clone, thiserror::Error)]
#[error("{}: {message}", match .kind { TokenErrorKind::Provider => "token provider failed", TokenErrorKind::OAuth => "OAuth failed" })]
pub struct TokenError {
    pub message: String,
    pub kind: TokenErrorKind,
    pub cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TokenError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), kind: TokenErrorKind::Provider, cause: None }
    }

    pub fn oauth(message: impl Into<String>) -> Self {
        Self { message: message.into(), kind: TokenErrorKind::OAuth, cause: None }
    }

    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }
}

impl fmt::Debug for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenError")
            .field("message", &self.message)
            .field("kind", &self.kind)
            .field("has_cause", &self.cause.is_some())
            .finish()
    }
}

/// A token source with the time it may take for one token.
#[derive(Clone)]
pub struct Tokens {
    pub source: Arc<dyn TokenSource>,
    /// Bounds one token; OAuth sources get longer, since a refresh is a round trip.
    pub timeout: Duration,
    /// The same source when it runs the OAuth flows (for `login`).
    pub oauth: Option<Arc<crate::auth::OAuthSource>>,
}

impl Tokens {
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Self { source, timeout: Duration::from_secs(10), oauth: None }
    }

    /// Tokens from an OAuth source, which can also log in (`oauth`).
    pub fn from_oauth(source: Arc<crate::auth::OAuthSource>, timeout: Duration) -> Self {
        Self { source: source.clone(), timeout, oauth: Some(source) }
    }

    /// The token for one request, within the timeout. Never logs the token.
    pub async fn bearer(&self) -> Result<Option<String>, TokenError> {
        match tokio::time::timeout(self.timeout, self.source.token()).await {
            Ok(Ok(Some(token))) => {
                crate::util::redact::register([token.as_str()]);
                Ok(Some(token))
            }
            Ok(result) => result,
            Err(_) => Err(TokenError::new(format!("no token within {:.1}s (the provider's timeout)", self.timeout.as_secs_f64()))),
        }
    }

    /// Tells the source the server refused a request; `true` when it is worth sending again.
    pub async fn rejected(&self, rejection: Rejection<'_>) -> Result<bool, TokenError> {
        self.source.rejected(rejection).await
    }
}

/// The same source (by identity) and timeout.
impl PartialEq for Tokens {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.source), Arc::as_ptr(&other.source)) && self.timeout == other.timeout
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// The `TokenError` somewhere in an error's source chain (also inside an `io::Error`, whose
/// `source()` skips the error it wraps).
pub fn find_token_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TokenError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(t) = e.downcast_ref::<TokenError>() {
            return Some(t);
        }
        if let Some(t) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<TokenError>()) {
            return Some(t);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slow;
    impl TokenSource for Slow {
        fn token(&self) -> BoxFuture<'_, Result<Option<String>, TokenError>> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(Some("late".into()))
            })
        }
    }

    #[tokio::test]
    async fn a_slow_source_times_out() {
        let tokens = Tokens { source: Arc::new(Slow), timeout: Duration::from_millis(50), oauth: None };
        let err = tokens.bearer().await.unwrap_err();
        assert!(err.to_string().contains("no token within 0.1s"), "{err}");
    }

    #[test]
    fn token_errors_are_found_inside_io_errors() {
        let io = std::io::Error::other(TokenError::new("boom"));
        let wrapped = rmcp::transport::streamable_http_client::StreamableHttpError::<std::io::Error>::Io(io);
        assert_eq!(find_token_error(&wrapped).map(|t| t.message.as_str()), Some("boom"));
    }
}
