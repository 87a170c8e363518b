//! OAuth 2.1 as the MCP authorization spec describes it, on rmcp's `AuthorizationManager`:
//! discovery (RFC 9728 protected-resource metadata, RFC 8414 / OIDC), client identity
//! (pre-registered, client ID metadata document, dynamic registration), PKCE S256, the
//! `resource` parameter, scope selection and step-up, client credentials, refresh.
//!
//! [`OAuthSource`] is a [`TokenSource`]: it answers every request with the current access
//! token, refreshing it shortly before it expires, and once more after a 401.

mod redirect;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use oauth2::TokenResponse as _;
use rmcp::transport::auth::{
    AuthError, AuthorizationCallback, AuthorizationManager, AuthorizationRequest, AuthorizationSession, ClientCredentialsConfig,
    CredentialStore, OAuthClientConfig, StoredCredentials,
};
pub use rmcp::transport::auth::{InMemoryCredentialStore, JwtSigningAlgorithm};
use url::Url;

pub use redirect::{Authorizer, Headless, Loopback, Redirect, RedirectFn};
pub use store::{FileStore, credentials_to_record, now_secs, record_to_credentials};

use super::{Rejection, TokenError, TokenSource, parse_www_authenticate};

/// How the client gets its tokens.
#[derive(Clone)]
pub enum Grant {
    /// A user authorizes in a browser (authorization code + PKCE); refreshed with the refresh token.
    AuthorizationCode,
    /// The client authenticates as itself with `client_id` and `client_secret`
    /// (`client_secret_basic` or `client_secret_post`, whichever the server supports).
    ClientCredentials,
    /// The client authenticates as itself with a signed JWT (RFC 7523 `private_key_jwt`).
    PrivateKeyJwt { key_pem: Arc<Vec<u8>>, algorithm: JwtSigningAlgorithm },
}

impl Grant {
    /// The grant for a configured name (`authorization_code`, `client_credentials`,
    /// `private_key_jwt`); a private key makes `client_credentials` sign a JWT.
    pub fn from_names(grant: &str, key_pem: Option<Vec<u8>>, algorithm: Option<&str>) -> Result<Self, String> {
        Ok(match (grant, key_pem) {
            ("authorization_code", None) => Grant::AuthorizationCode,
            ("client_credentials", None) => Grant::ClientCredentials,
            ("client_credentials" | "private_key_jwt", Some(key_pem)) => {
                Grant::PrivateKeyJwt { key_pem: Arc::new(key_pem), algorithm: signing_algorithm(algorithm.unwrap_or("ES256"))? }
            }
            ("private_key_jwt", None) => return Err("the private_key_jwt grant needs a private key".into()),
            ("authorization_code", Some(_)) => return Err("a private key is for the client_credentials or private_key_jwt grant".into()),
            (other, _) => return Err(format!("grant must be authorization_code, client_credentials or private_key_jwt, not {other:?}")),
        })
    }

    fn is_client_credentials(&self) -> bool {
        !matches!(self, Grant::AuthorizationCode)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::PrivateKeyJwt { .. } => "private_key_jwt",
        }
    }
}

/// A JWT signing algorithm by name.
pub fn signing_algorithm(name: &str) -> Result<JwtSigningAlgorithm, String> {
    Ok(match name {
        "RS256" => JwtSigningAlgorithm::RS256,
        "RS384" => JwtSigningAlgorithm::RS384,
        "RS512" => JwtSigningAlgorithm::RS512,
        "ES256" => JwtSigningAlgorithm::ES256,
        "ES384" => JwtSigningAlgorithm::ES384,
        other => return Err(format!("signing algorithm must be one of RS256, RS384, RS512, ES256, ES384, not {other:?}")),
    })
}

/// The client side of an OAuth setup. Secrets never appear in `Debug`.
#[derive(Clone)]
pub struct OAuthSettings {
    /// A pre-registered client; `None` uses a client ID metadata document or registers.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Scopes to ask for; empty lets discovery choose (challenge, then resource metadata).
    pub scopes: Vec<String>,
    /// Fixed redirect URI; `None` takes a free loopback port for each login.
    pub redirect_uri: Option<String>,
    /// HTTPS URL of this client's metadata document (used when the server supports it).
    pub client_metadata_url: Option<String>,
    /// Name sent with dynamic client registration.
    pub client_name: String,
    pub grant: Grant,
    pub store: Arc<dyn CredentialStore>,
    /// Upper bound of one login, the user's part included.
    pub login_timeout: Duration,
}

impl OAuthSettings {
    pub fn new(grant: Grant) -> Self {
        Self {
            client_id: None,
            client_secret: None,
            scopes: Vec::new(),
            redirect_uri: None,
            client_metadata_url: None,
            client_name: "mcpfleet".into(),
            grant,
            store: Arc::new(InMemoryCredentialStore::new()),
            login_timeout: Duration::from_secs(300),
        }
    }

    /// What is wrong with these settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.client_secret.is_some() && self.client_id.is_none() {
            return Err("a client secret needs its client ID".into());
        }
        match &self.grant {
            Grant::AuthorizationCode => {}
            Grant::ClientCredentials if self.client_id.is_none() || self.client_secret.is_none() => {
                return Err("the client_credentials grant needs a client ID and a client secret".into());
            }
            Grant::PrivateKeyJwt { .. } if self.client_id.is_none() => {
                return Err("the private_key_jwt grant needs a client ID".into());
            }
            _ => {}
        }
        if let Some(url) = &self.client_metadata_url {
            let ok = Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.path().len() > 1);
            if !ok {
                return Err(format!("client metadata URL {url:?} must be an https URL with a path"));
            }
        }
        Ok(())
    }
}

/// Same settings (stores compared by identity).
impl PartialEq for OAuthSettings {
    fn eq(&self, other: &Self) -> bool {
        let grants_equal = match (&self.grant, &other.grant) {
            (Grant::AuthorizationCode, Grant::AuthorizationCode) | (Grant::ClientCredentials, Grant::ClientCredentials) => true,
            (Grant::PrivateKeyJwt { key_pem: a, algorithm: x }, Grant::PrivateKeyJwt { key_pem: b, algorithm: y }) => {
                a == b && format!("{x:?}") == format!("{y:?}")
            }
            _ => false,
        };
        grants_equal
            && self.client_id == other.client_id
            && self.client_secret == other.client_secret
            && self.scopes == other.scopes
            && self.redirect_uri == other.redirect_uri
            && self.client_metadata_url == other.client_metadata_url
            && self.client_name == other.client_name
            && self.login_timeout == other.login_timeout
            && std::ptr::addr_eq(Arc::as_ptr(&self.store), Arc::as_ptr(&other.store))
    }
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("grant", &self.grant.name())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_metadata_url", &self.client_metadata_url)
            .finish_non_exhaustive()
    }
}

/// OAuth tokens for one MCP server.
pub struct OAuthSource {
    url: Url,
    settings: OAuthSettings,
    /// The TLS-configured client, when the server needs one (also for the OAuth endpoints).
    http: Option<reqwest::Client>,
    /// Runs the user's part inside requests: a login when connecting, a scope step-up. `None`
    /// (a fleet server) reports `AuthRequired` instead and waits for `login()`.
    inline: Option<Arc<dyn Authorizer>>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Holds the client identity and metadata once authorized or restored from the store.
    manager: Option<AuthorizationManager>,
    /// The store was read (once per process).
    restored: bool,
    /// The last 401 challenge: where discovery starts.
    challenge: Option<String>,
    /// The redirect URI of the last login; a step-up must use the same one.
    redirect_uri: Option<String>,
}

impl fmt::Debug for OAuthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSource").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl OAuthSource {
    pub fn new(url: Url, settings: OAuthSettings, http: Option<reqwest::Client>, inline: Option<Arc<dyn Authorizer>>) -> Self {
        Self { url, settings, http, inline, state: Default::default() }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The authorizer used inside requests, if any.
    pub fn inline_authorizer(&self) -> Option<&Arc<dyn Authorizer>> {
        self.inline.as_ref()
    }

    /// Whether a login can be driven here without a user: the client-credentials grants.
    pub fn needs_user(&self) -> bool {
        !self.settings.grant.is_client_credentials()
    }

    /// Gets tokens now: the client-credentials exchange, or the authorization-code flow with
    /// `authorizer` doing the user's part. Bounded by the settings' `login_timeout`.
    pub async fn login(&self, authorizer: &dyn Authorizer) -> Result<(), TokenError> {
        let limit = self.settings.login_timeout;
        tokio::time::timeout(limit, self.login_unbounded(authorizer))
            .await
            .map_err(|_| TokenError::oauth(format!("login did not finish within {:.1}s", limit.as_secs_f64())))?
    }

    async fn login_unbounded(&self, authorizer: &dyn Authorizer) -> Result<(), TokenError> {
        let mut state = self.state.lock().await;
        if self.settings.grant.is_client_credentials() {
            return self.client_credentials(&mut state).await.map(drop);
        }
        let redirect = authorizer.begin(self.settings.redirect_uri.as_deref()).await?;
        let redirect_uri = redirect.redirect_uri().to_string();
        let manager = self.discovered_manager(state.challenge.as_deref()).await?;
        let settings = &self.settings;
        let mut request = AuthorizationRequest::new(redirect_uri.clone()).with_client_name(settings.client_name.clone());
        if !settings.scopes.is_empty() {
            request = request.with_scopes(settings.scopes.clone());
        }
        if let Some(client_id) = &settings.client_id {
            request = request.with_preregistered_client(client_id.clone());
            if let Some(secret) = &settings.client_secret {
                request = request.with_client_secret(secret.clone());
            }
        }
        if let Some(url) = &settings.client_metadata_url {
            request = request.with_client_metadata_url(url.clone());
        }
        let session = AuthorizationSession::new(manager, request).await.map_err(|(_, e)| oauth_error("cannot start the authorization", e))?;
        let callback = redirect.finish(session.auth_url.clone()).await?;
        let manager = session.auth_manager;
        exchange_code(&manager, &callback).await?;
        tracing::info!(url = %self.url, "authorized");
        state.manager = Some(manager);
        state.restored = true;
        state.redirect_uri = Some(redirect_uri);
        Ok(())
    }

    /// Forgets the tokens, in memory and in the store.
    pub async fn logout(&self) -> Result<(), TokenError> {
        let mut state = self.state.lock().await;
        state.manager = None;
        state.restored = true;
        self.settings.store.clear().await.map_err(|e| oauth_error("cannot clear the token store", e))
    }

    async fn new_manager(&self) -> Result<AuthorizationManager, TokenError> {
        let mut manager = AuthorizationManager::new(self.url.as_str()).await.map_err(|e| oauth_error("bad server URL", e))?;
        if let Some(http) = &self.http {
            manager.with_client(http.clone()).map_err(|e| oauth_error("cannot use the TLS settings", e))?;
        }
        manager.set_credential_store(SharedStore(self.settings.store.clone()));
        Ok(manager)
    }

    /// A manager that knows the authorization server, found from `challenge` (a 401's
    /// `WWW-Authenticate`) or from the well-known paths.
    async fn discovered_manager(&self, challenge: Option<&str>) -> Result<AuthorizationManager, TokenError> {
        let mut manager = self.new_manager().await?;
        let resolution =
            manager.resolve_metadata_from_challenge(challenge).await.map_err(|e| oauth_error("authorization server discovery failed", e))?;
        manager.set_metadata(resolution.metadata);
        Ok(manager)
    }

    /// A manager for credentials found in the store (a previous run's tokens), if any.
    async fn restore(&self) -> Result<Option<AuthorizationManager>, TokenError> {
        let stored = self.settings.store.load().await.map_err(|e| oauth_error("cannot read the token store", e))?;
        let Some(stored) = stored.filter(|s| s.token_response.is_some()) else { return Ok(None) };
        let mut manager = self.new_manager().await?;
        if !manager.initialize_from_store().await.map_err(|e| oauth_error("cannot use the stored tokens", e))? {
            return Ok(None);
        }
        // The store keeps the client ID only; a confidential client needs its secret back.
        if let (Some(id), Some(secret)) = (&self.settings.client_id, &self.settings.client_secret) {
            if *id == stored.client_id && !self.settings.grant.is_client_credentials() {
                let redirect = self.settings.redirect_uri.clone().unwrap_or_else(|| self.url.to_string());
                let config = OAuthClientConfig::new(id.clone(), redirect).with_client_secret(secret.clone());
                manager.configure_client(config).map_err(|e| oauth_error("cannot configure the client", e))?;
            }
        }
        tracing::debug!(url = %self.url, "using stored OAuth credentials");
        Ok(Some(manager))
    }

    async fn client_credentials(&self, state: &mut State) -> Result<String, TokenError> {
        let settings = &self.settings;
        let (Some(client_id), resource) = (settings.client_id.clone(), Some(self.url.to_string())) else {
            return Err(TokenError::oauth("the client credentials grant needs a client ID"));
        };
        let config = match &settings.grant {
            Grant::PrivateKeyJwt { key_pem, algorithm } => ClientCredentialsConfig::PrivateKeyJwt {
                client_id,
                signing_key: key_pem.to_vec(),
                signing_algorithm: *algorithm,
                token_endpoint_audience: None,
                scopes: settings.scopes.clone(),
                resource,
            },
            _ => ClientCredentialsConfig::ClientSecret {
                client_id,
                client_secret: settings.client_secret.clone().ok_or_else(|| TokenError::oauth("the client credentials grant needs a client secret"))?,
                scopes: settings.scopes.clone(),
                resource,
            },
        };
        let mut manager = self.discovered_manager(state.challenge.as_deref()).await?;
        manager.validate_client_credentials_metadata(&config).map_err(|e| oauth_error("the authorization server does not accept this client", e))?;
        manager.configure_client_credentials(&config).map_err(|e| oauth_error("cannot configure the client", e))?;
        let (manager, token) = exchange_client_credentials(manager, config).await?;
        state.manager = Some(manager);
        state.restored = true;
        Ok(token)
    }

    async fn current_token(&self) -> Result<Option<String>, TokenError> {
        let mut state = self.state.lock().await;
        if state.manager.is_none() && !state.restored {
            state.restored = true;
            state.manager = self.restore().await?;
        }
        if let Some(manager) = &state.manager {
            match manager.get_access_token().await {
                Ok(token) => return Ok(Some(token)),
                // Expired with no usable refresh token: a new grant, or the user, must act.
                Err(AuthError::AuthorizationRequired) => state.manager = None,
                Err(e) => return Err(oauth_error("cannot refresh the access token", e)),
            }
        }
        if self.settings.grant.is_client_credentials() {
            return self.client_credentials(&mut state).await.map(Some);
        }
        Ok(None)
    }

    async fn unauthorized(&self, challenge: &str, sent: Option<&str>, in_session: bool) -> Result<bool, TokenError> {
        let mut state = self.state.lock().await;
        state.challenge = Some(challenge.to_string());
        if let (Some(sent), Some(manager)) = (sent, &state.manager) {
            // Another request may have refreshed since this one took its token.
            if manager.get_access_token().await.is_ok_and(|current| current != sent) {
                return Ok(true);
            }
            match manager.refresh_token().await {
                Ok(_) => {
                    tracing::info!(url = %self.url, "refreshed the access token after a 401");
                    return Ok(true);
                }
                Err(e) => tracing::info!(url = %self.url, "refresh after a 401 failed: {e}"),
            }
            state.manager = None;
        }
        if self.settings.grant.is_client_credentials() {
            self.client_credentials(&mut state).await?;
            return Ok(true);
        }
        match &self.inline {
            Some(authorizer) if in_session => {
                drop(state);
                tracing::info!(url = %self.url, "authorization required: logging in");
                self.login(authorizer.as_ref()).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn insufficient_scope(&self, challenge: &str) -> Result<bool, TokenError> {
        let Some(authorizer) = self.inline.clone() else { return Ok(false) };
        let state = self.state.lock().await;
        let Some(manager) = &state.manager else { return Ok(false) };
        let scope = parse_www_authenticate(challenge)
            .challenges
            .iter()
            .find_map(|c| c.param("scope").map(str::to_string))
            .unwrap_or_default();
        if !manager.can_attempt_scope_upgrade().await {
            tracing::warn!(url = %self.url, "the server keeps asking for more scope ({scope}); not authorizing again");
            return Ok(false);
        }
        let redirect = authorizer.begin(state.redirect_uri.as_deref().or(self.settings.redirect_uri.as_deref())).await?;
        let url = manager.request_scope_upgrade(&scope).await.map_err(|e| oauth_error("cannot ask for more scope", e))?;
        let callback = tokio::time::timeout(self.settings.login_timeout, redirect.finish(url))
            .await
            .map_err(|_| TokenError::oauth("the scope step-up did not finish in time"))??;
        exchange_code(manager, &callback).await?;
        Ok(true)
    }
}

impl TokenSource for OAuthSource {
    fn token(&self) -> BoxFuture<'_, Result<Option<String>, TokenError>> {
        Box::pin(self.current_token())
    }

    fn rejected<'a>(&'a self, rejection: Rejection<'a>) -> BoxFuture<'a, Result<bool, TokenError>> {
        Box::pin(async move {
            match rejection {
                Rejection::Unauthorized { challenge, sent, in_session } => self.unauthorized(challenge, sent, in_session).await,
                Rejection::InsufficientScope { challenge } => self.insufficient_scope(challenge).await,
            }
        })
    }
}

/// rmcp's exchange future is not `Send` (its JWT path keeps a form serializer across an
/// await), so it runs to completion on a blocking thread.
async fn exchange_client_credentials(
    manager: AuthorizationManager,
    config: ClientCredentialsConfig,
) -> Result<(AuthorizationManager, String), TokenError> {
    let runtime = tokio::runtime::Handle::current();
    let (manager, outcome) = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let outcome = manager.exchange_client_credentials(&config).await.map(|t| t.access_token().secret().clone());
            (manager, outcome)
        })
    })
    .await
    .map_err(|e| TokenError::oauth(format!("the client credentials exchange stopped: {e}")))?;
    let token = outcome.map_err(|e| oauth_error("client credentials grant failed", e))?;
    Ok((manager, token))
}

/// Trades the code in the redirect URL for tokens (saved to the store by the manager).
async fn exchange_code(manager: &AuthorizationManager, redirect_url: &str) -> Result<(), TokenError> {
    let parsed = Url::parse(redirect_url).map_err(|e| TokenError::oauth(format!("the redirect URL is not a URL: {e}")))?;
    if let Some(error) = parsed.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()) {
        let description = parsed.query_pairs().find(|(k, _)| k == "error_description").map(|(_, v)| format!(": {v}")).unwrap_or_default();
        return Err(TokenError::oauth(format!("the authorization server refused: {error}{description}")));
    }
    let callback = AuthorizationCallback::from_redirect_url(redirect_url).map_err(|e| oauth_error("bad redirect URL", e))?;
    manager
        .exchange_code_for_token_with_issuer(&callback.code, &callback.csrf_token, callback.issuer.as_deref())
        .await
        .map_err(|e| oauth_error("the token request failed", e))?;
    Ok(())
}

/// The step that failed and rmcp's reason (also kept as the cause).
fn oauth_error(context: &str, error: AuthError) -> TokenError {
    TokenError { cause: None, ..TokenError::oauth(format!("{context}: {error}")) }.caused_by(error)
}

/// rmcp takes its store by value; ours is shared with the settings (and the fleet).
struct SharedStore(Arc<dyn CredentialStore>);

#[async_trait::async_trait]
impl CredentialStore for SharedStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        self.0.load().await
    }
    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.0.save(credentials).await
    }
    async fn clear(&self) -> Result<(), AuthError> {
        self.0.clear().await
    }
    async fn on_refresh_token_rejected(&self, credentials: &StoredCredentials) -> Result<(), AuthError> {
        self.0.on_refresh_token_rejected(credentials).await
    }
    async fn acquire_refresh_guard(&self) -> Result<Option<rmcp::transport::auth::CredentialRefreshGuard>, AuthError> {
        self.0.acquire_refresh_guard().await
    }
}
