//! The user's part of the authorization-code flow: show the authorization URL, get back the URL
//! the browser was redirected to. Either a loopback listener catches the redirect (RFC 8252
//! §7.3), or the host application does it (headless: it returns the redirect URL).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::auth::TokenError;

/// Runs the user's part of one authorization.
pub trait Authorizer: Send + Sync {
    /// Prepares for one authorization and fixes its redirect URI (`configured` when the
    /// definition names one). Called before the client registers, which needs the URI.
    fn begin<'a>(&'a self, configured: Option<&'a str>) -> BoxFuture<'a, Result<Box<dyn Redirect>, TokenError>>;
}

/// One prepared authorization.
pub trait Redirect: Send {
    fn redirect_uri(&self) -> &str;
    /// Sends the user to `authorization_url`; resolves to the URL the browser came back to.
    fn finish(self: Box<Self>, authorization_url: String) -> BoxFuture<'static, Result<String, TokenError>>;
}

/// A host-side function that takes the authorization URL and returns the redirect URL.
pub type RedirectFn = Arc<dyn Fn(String) -> BoxFuture<'static, Result<String, TokenError>> + Send + Sync>;

/// Headless: the host application gets the URL and hands back the redirect URL.
pub struct Headless {
    pub callback: RedirectFn,
    /// Redirect URI when the definition names none.
    pub default_redirect_uri: String,
}

impl Authorizer for Headless {
    fn begin<'a>(&'a self, configured: Option<&'a str>) -> BoxFuture<'a, Result<Box<dyn Redirect>, TokenError>> {
        let uri = configured.unwrap_or(&self.default_redirect_uri).to_string();
        let callback = self.callback.clone();
        Box::pin(async move { Ok(Box::new(HeadlessRedirect { uri, callback }) as Box<dyn Redirect>) })
    }
}

struct HeadlessRedirect {
    uri: String,
    callback: RedirectFn,
}

impl Redirect for HeadlessRedirect {
    fn redirect_uri(&self) -> &str {
        &self.uri
    }

    fn finish(self: Box<Self>, authorization_url: String) -> BoxFuture<'static, Result<String, TokenError>> {
        (self.callback)(authorization_url)
    }
}

/// Opens the authorization URL (a browser) and catches the redirect on 127.0.0.1.
pub struct Loopback {
    /// Shows the URL to the user; `None` only logs it.
    pub open: Option<Arc<dyn Fn(&str) + Send + Sync>>,
    /// How long the user has to finish.
    pub timeout: Duration,
}

impl Authorizer for Loopback {
    fn begin<'a>(&'a self, configured: Option<&'a str>) -> BoxFuture<'a, Result<Box<dyn Redirect>, TokenError>> {
        Box::pin(async move {
            let (bind, path) = match configured {
                None => ("127.0.0.1:0".to_string(), "/callback".to_string()),
                Some(uri) => loopback_address(uri)?,
            };
            let listener = TcpListener::bind(&bind)
                .await
                .map_err(|e| TokenError::oauth(format!("cannot listen on {bind} for the authorization redirect: {e}")))?;
            let port = listener.local_addr().map_err(|e| TokenError::oauth(e.to_string()))?.port();
            let uri = match configured {
                Some(uri) => uri.to_string(),
                None => format!("http://127.0.0.1:{port}{path}"),
            };
            Ok(Box::new(LoopbackRedirect { uri, path, listener, open: self.open.clone(), timeout: self.timeout }) as Box<dyn Redirect>)
        })
    }
}

/// The address to listen on for a configured redirect URI: it must be http on a loopback host.
fn loopback_address(uri: &str) -> Result<(String, String), TokenError> {
    let parsed = url::Url::parse(uri).map_err(|e| TokenError::oauth(format!("redirect URI {uri:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    if parsed.scheme() != "http" || !loopback {
        return Err(TokenError::oauth(format!(
            "redirect URI {uri:?} cannot be caught here: a browser login needs http://127.0.0.1:PORT/... or http://localhost:PORT/...; \
             for any other redirect URI pass an authorize callback that returns the redirect URL"
        )));
    }
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    Ok((format!("{host}:{}", parsed.port().unwrap_or(80)), parsed.path().to_string()))
}

struct LoopbackRedirect {
    uri: String,
    path: String,
    listener: TcpListener,
    open: Option<Arc<dyn Fn(&str) + Send + Sync>>,
    timeout: Duration,
}

impl Redirect for LoopbackRedirect {
    fn redirect_uri(&self) -> &str {
        &self.uri
    }

    fn finish(self: Box<Self>, authorization_url: String) -> BoxFuture<'static, Result<String, TokenError>> {
        let this = *self;
        Box::pin(async move {
            tracing::warn!("to authorize, open this URL in a browser: {authorization_url}");
            if let Some(open) = &this.open {
                open(&authorization_url);
            }
            tokio::time::timeout(this.timeout, catch_redirect(&this.listener, &this.path, &this.uri))
                .await
                .map_err(|_| TokenError::oauth(format!("no authorization redirect within {:.1}s", this.timeout.as_secs_f64())))?
        })
    }
}

/// Answers requests on the listener until one arrives on `path` with `code` or `error`.
async fn catch_redirect(listener: &TcpListener, path: &str, redirect_uri: &str) -> Result<String, TokenError> {
    loop {
        let (mut stream, _) = listener.accept().await.map_err(|e| TokenError::oauth(format!("redirect listener failed: {e}")))?;
        let mut buffer = vec![0u8; 8192];
        let mut filled = 0;
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            while filled < buffer.len() {
                let n = stream.read(&mut buffer[filled..]).await?;
                if n == 0 {
                    break;
                }
                filled += n;
                if buffer[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            std::io::Result::Ok(())
        })
        .await;
        if !matches!(read, Ok(Ok(()))) {
            continue;
        }
        let head = String::from_utf8_lossy(&buffer[..filled]);
        let target = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("");
        let Ok(url) = url::Url::parse(redirect_uri).and_then(|base| base.join(target)) else { continue };
        let has = |key: &str| url.query_pairs().any(|(k, _)| k == key);
        if url.path() != path || !(has("code") || has("error")) {
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            continue;
        }
        let body = if has("error") {
            "Authorization failed. You can close this window."
        } else {
            "Authorization complete. You can close this window and return to the application."
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        return Ok(url.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_catches_the_redirect_and_ignores_other_requests() {
        let authorizer = Loopback { open: None, timeout: Duration::from_secs(5) };
        let redirect = authorizer.begin(None).await.unwrap();
        let uri = redirect.redirect_uri().to_string();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"), "{uri}");
        let waiting = tokio::spawn(redirect.finish("https://as.example/authorize".into()));
        let http = reqwest::Client::new();
        let miss = http.get(uri.replace("/callback", "/favicon.ico")).send().await.unwrap();
        assert_eq!(miss.status(), 404);
        let hit = http.get(format!("{uri}?code=c-1&state=s-1")).send().await.unwrap();
        assert_eq!(hit.status(), 200);
        let caught = waiting.await.unwrap().unwrap();
        assert!(caught.ends_with("/callback?code=c-1&state=s-1"), "{caught}");
    }

    #[tokio::test]
    async fn loopback_gives_up_after_its_timeout() {
        let authorizer = Loopback { open: None, timeout: Duration::from_millis(100) };
        let redirect = authorizer.begin(None).await.unwrap();
        let err = redirect.finish("https://as.example/authorize".into()).await.unwrap_err();
        assert!(err.message.contains("no authorization redirect within"), "{err}");
    }

    #[tokio::test]
    async fn a_redirect_uri_off_loopback_needs_a_callback() {
        let authorizer = Loopback { open: None, timeout: Duration::from_secs(1) };
        let err = authorizer.begin(Some("https://app.example/cb")).await.err().unwrap();
        assert!(err.message.contains("pass an authorize callback"), "{err}");
    }
}
