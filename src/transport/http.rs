//! Options shared by the HTTP transports: headers, TLS, timeouts, redirect policy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::Tokens;
use crate::error::{Error, Result};

/// How to reach a remote MCP server.
#[derive(Clone)]
pub struct HttpOptions {
    /// Sent on every request. Values are secrets: never logged or shown.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
    /// PEM bundle of extra trusted CA certificates (added to the system roots).
    pub ca_bundle: Option<PathBuf>,
    /// PEM client certificate chain for mTLS; the key is in `client_key` or in the same file.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Logged as a warning every time a client is built.
    pub insecure: bool,
    /// Where each request's bearer token comes from (instead of a fixed `Authorization` header).
    pub tokens: Option<Tokens>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            ca_bundle: None,
            client_cert: None,
            client_key: None,
            insecure: false,
            tokens: None,
        }
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("header_names", &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("connect_timeout", &self.connect_timeout)
            .field("ca_bundle", &self.ca_bundle)
            .field("client_cert", &self.client_cert)
            .field("insecure", &self.insecure)
            .field("token_provider", &self.tokens.is_some())
            .finish()
    }
}

impl HttpOptions {
    /// The custom headers, checked. Errors name the header, never its value.
    pub fn header_map(&self) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::Config(format!("invalid HTTP header name {name:?}")))?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                Error::Config(format!("invalid value for HTTP header {name:?}: control characters or non-ASCII text are not allowed"))
            })?;
            value.set_sensitive(true);
            map.append(header, value);
        }
        Ok(map)
    }

    /// A reqwest client with these TLS settings. Redirects are followed only within the same
    /// origin, so credentials never travel to another host.
    pub fn build_client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .redirect(same_origin_redirects());
        if let Some(path) = &self.ca_bundle {
            let pem = read_file(path, "CA bundle")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("CA bundle {}: not a PEM certificate bundle ({e})", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Config(format!("CA bundle {}: no certificate found", path.display())));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(cert_path) = &self.client_cert {
            let mut pem = read_file(cert_path, "client certificate")?;
            if let Some(key_path) = &self.client_key {
                pem.push(b'\n');
                pem.extend(read_file(key_path, "client key")?);
            }
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Config(format!("client certificate {}: expected PEM certificate and private key ({e})", cert_path.display()))
            })?;
            builder = builder.identity(identity);
        } else if self.client_key.is_some() {
            return Err(Error::Config("client_key given without client_cert".into()));
        }
        if self.insecure {
            tracing::warn!("TLS certificate verification is disabled for this server (insecure=True)");
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }
}

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    crate::util::file::read_bounded(path, crate::util::file::MAX_FILE_BYTES).map_err(|e| Error::Config(format!("cannot read {what} {}: {e}", path.display())))
}

fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("too many redirects");
        }
        let same = attempt.previous().first().is_some_and(|first| same_origin(first, attempt.url()));
        if same { attempt.follow() } else { attempt.stop() }
    })
}

/// Scheme, host and port all equal.
pub fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// Parses a server URL, requiring http or https.
pub fn parse_http_url(url: &str) -> Result<url::Url> {
    let parsed = url::Url::parse(url).map_err(|e| Error::Config(format!("invalid server URL {:?}: {e}", redact_url(url))))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(Error::Config(format!("invalid server URL {:?}: scheme must be http or https, not {other:?}", redact_url(url)))),
    }
}

pub use crate::util::redact::redact_url;

/// `WWW-Authenticate` of a 401/403 response, joined when there are several.
pub fn www_authenticate(headers: &HeaderMap) -> String {
    headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .take(16)
        .map(|v| crate::util::redact::quote(v, MAX_CHALLENGE_CHARS))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A longer `WWW-Authenticate` is cut: real challenges are a few hundred bytes.
pub const MAX_CHALLENGE_CHARS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_never_show_values() {
        let opts = HttpOptions { headers: vec![("X-Key".into(), "sec\nret".into())], ..Default::default() };
        let msg = opts.header_map().unwrap_err().to_string();
        assert!(msg.contains("X-Key") && !msg.contains("sec"), "{msg}");
        let dbg = format!("{:?}", HttpOptions { headers: vec![("Authorization".into(), "Bearer s3cr3t".into())], ..Default::default() });
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
    }

    #[test]
    fn origins() {
        let a = url::Url::parse("http://h:80/sse").unwrap();
        assert!(same_origin(&a, &url::Url::parse("http://h/messages").unwrap()));
        assert!(!same_origin(&a, &url::Url::parse("http://evil/messages").unwrap()));
        assert!(!same_origin(&a, &url::Url::parse("https://h/messages").unwrap()));
        assert!(!same_origin(&a, &url::Url::parse("http://h:81/messages").unwrap()));
    }

    #[test]
    fn redacted_urls_keep_no_secrets() {
        let r = redact_url("https://user:pw@h/mcp?api_key=abc&x=1");
        assert!(!r.contains("pw") && !r.contains("abc"), "{r}");
        assert!(r.contains("api_key=***"), "{r}");
        assert_eq!(redact_url("http://h/mcp"), "http://h/mcp");
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_http_url("ftp://x").unwrap_err().to_string().contains("scheme"));
        assert!(parse_http_url("not a url").is_err());
        assert!(parse_http_url("https://x/mcp").is_ok());
    }
}
