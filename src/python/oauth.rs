//! `OAuth` (how a client or fleet server gets OAuth tokens), `FileTokenStore`, and Python
//! token stores (objects with load/save/clear), over `crate::auth::oauth`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};

use crate::auth::oauth::{
    Authorizer, FileStore, Grant, Headless, InMemoryCredentialStore, Loopback, OAuthSettings, OAuthSource,
    credentials_to_record, record_to_credentials,
};
use crate::auth::{TokenError, TokenErrorKind, Tokens};
use crate::python::callback::{PyCallback, type_name};
use crate::python::convert::{json_to_py, py_to_json, seconds};
use crate::python::types::{py_list, py_opt, py_str};

/// Redirect URI for headless logins when none is configured.
const HEADLESS_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A token file: one JSON file, written atomically with mode 0600, keeping the absolute
/// expiry so a restarted process refreshes instead of asking the user again.
#[pyclass(module = "mcpfleet._core", frozen, name = "FileTokenStore")]
pub struct PyFileTokenStore {
    store: FileStore,
}

#[pymethods]
impl PyFileTokenStore {
    #[new]
    fn new(path: PathBuf) -> Self {
        Self { store: FileStore::new(path) }
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }

    fn __repr__(&self) -> String {
        format!("FileTokenStore({})", py_str(&self.store.path().display().to_string()))
    }
}

/// How to store tokens: a memory store, a file, or a Python object.
enum StoreChoice {
    Memory,
    File(FileStore),
    Python(Arc<PyCallback>),
}

/// How a client gets OAuth tokens; pass it as `auth=` to a client or a fleet server.
#[pyclass(module = "mcpfleet._core", frozen, name = "OAuth")]
pub struct PyOAuth {
    settings: OAuthSettings,
    store: StoreChoice,
    authorize: Option<Arc<PyCallback>>,
    open_browser: bool,
    opener: Option<Arc<PyCallback>>,
}

#[pymethods]
impl PyOAuth {
    #[new]
    #[pyo3(signature = (*, client_id = None, client_secret = None, scopes = None, grant = "authorization_code", redirect_uri = None, client_metadata_url = None, client_name = "mcpfleet", private_key = None, signing_algorithm = "ES256", credentials = None, client_id_key = "client-id", client_secret_key = "client-secret", store = None, authorize = None, open_browser = true, login_timeout = 300.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        client_id: Option<String>,
        client_secret: Option<String>,
        scopes: Option<&Bound<'_, PyAny>>,
        grant: &str,
        redirect_uri: Option<String>,
        client_metadata_url: Option<String>,
        client_name: &str,
        private_key: Option<&Bound<'_, PyAny>>,
        signing_algorithm: &str,
        credentials: Option<&Bound<'_, PyAny>>,
        client_id_key: &str,
        client_secret_key: &str,
        store: Option<&Bound<'_, PyAny>>,
        authorize: Option<&Bound<'_, PyAny>>,
        open_browser: bool,
        login_timeout: f64,
    ) -> PyResult<Self> {
        let (mut client_id, mut client_secret) = (client_id, client_secret);
        if let Some(mapping) = credentials.filter(|c| !c.is_none()) {
            let (id, secret) = from_mapping(mapping, client_id_key, client_secret_key)?;
            client_id = client_id.or(Some(id));
            client_secret = client_secret.or(secret);
        }
        let key_pem = private_key.filter(|k| !k.is_none()).map(read_key).transpose()?;
        let grant = Grant::from_names(grant, key_pem, Some(signing_algorithm)).map_err(PyValueError::new_err)?;
        let mut settings = OAuthSettings::new(grant);
        settings.client_id = client_id;
        settings.client_secret = client_secret;
        settings.scopes = scope_list(scopes)?;
        settings.redirect_uri = redirect_uri;
        settings.client_metadata_url = client_metadata_url;
        settings.client_name = client_name.to_string();
        settings.login_timeout = seconds(login_timeout, "login_timeout")?;
        settings.check().map_err(PyValueError::new_err)?;
        let store = store_choice(store)?;
        let (authorize, opener) = user_callbacks(py, authorize, open_browser)?;
        Ok(Self { settings, store, authorize, open_browser, opener })
    }

    #[getter]
    fn grant(&self) -> &'static str {
        self.settings.grant.name()
    }

    #[getter]
    fn client_id(&self) -> Option<String> {
        self.settings.client_id.clone()
    }

    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.settings.scopes.clone()
    }

    #[getter]
    fn redirect_uri(&self) -> Option<String> {
        self.settings.redirect_uri.clone()
    }

    fn __repr__(&self) -> String {
        let s = &self.settings;
        let store = match &self.store {
            StoreChoice::Memory => "memory".to_string(),
            StoreChoice::File(f) => format!("FileTokenStore({})", py_str(&f.path().display().to_string())),
            StoreChoice::Python(_) => "python".to_string(),
        };
        format!(
            "OAuth(grant={}, client_id={}, client_secret={}, scopes={}, redirect_uri={}, store={}, authorize={})",
            py_str(s.grant.name()),
            py_opt(s.client_id.as_deref()),
            if s.client_secret.is_some() { "'***'" } else { "None" },
            py_list(s.scopes.iter().map(String::as_str)),
            py_opt(s.redirect_uri.as_deref()),
            store,
            if self.authorize.is_some() { "callback" } else if self.open_browser { "browser" } else { "none" },
        )
    }
}

impl PyOAuth {
    /// The token source for one server. `inline`: the client may run a login itself (direct
    /// clients); a fleet server waits for `Adapter.login()` instead.
    pub fn source(&self, url: &url::Url, http: Option<reqwest::Client>, inline: bool) -> Arc<OAuthSource> {
        let mut settings = self.settings.clone();
        settings.store = match &self.store {
            StoreChoice::Memory => Arc::new(InMemoryCredentialStore::new()),
            StoreChoice::File(file) => Arc::new(file.clone()),
            StoreChoice::Python(callback) => Arc::new(PyStore { callback: callback.clone() }),
        };
        let authorizer = inline.then(|| self.authorizer());
        Arc::new(OAuthSource::new(url.clone(), settings, http, authorizer))
    }

    pub fn tokens(&self, source: Arc<OAuthSource>) -> Tokens {
        // A token may need discovery and a refresh round trip.
        Tokens::from_oauth(source, Duration::from_secs(30))
    }

    /// The user's part of a login: the `authorize` callback, else a browser and a loopback
    /// listener.
    pub fn authorizer(&self) -> Arc<dyn Authorizer> {
        authorizer(self.authorize.clone(), self.opener.clone(), self.settings.login_timeout)
    }

    /// Python callables (store, authorize, opener) run on the loop the client is used from.
    pub fn bind_running_loop(&self, py: Python<'_>) {
        if let StoreChoice::Python(callback) = &self.store {
            callback.bind_running_loop(py);
        }
        for callback in self.authorize.iter().chain(self.opener.iter()) {
            callback.bind_running_loop(py);
        }
    }
}

/// Headless with `authorize`, else a loopback listener (and the browser, with `opener`).
fn authorizer(authorize: Option<Arc<PyCallback>>, opener: Option<Arc<PyCallback>>, timeout: Duration) -> Arc<dyn Authorizer> {
    match authorize {
        Some(callback) => Arc::new(Headless { callback: redirect_fn(callback), default_redirect_uri: HEADLESS_REDIRECT_URI.into() }),
        None => {
            let open = opener.map(|o| {
                Arc::new(move |url: &str| {
                    let url = url.to_string();
                    o.fire(move |open| open.call1((url,)));
                }) as Arc<dyn Fn(&str) + Send + Sync>
            });
            Arc::new(Loopback { open, timeout })
        }
    }
}

/// The `authorize` callback (checked) and, without it, the browser opener.
fn user_callbacks(
    py: Python<'_>,
    authorize: Option<&Bound<'_, PyAny>>,
    open_browser: bool,
) -> PyResult<(Option<Arc<PyCallback>>, Option<Arc<PyCallback>>)> {
    let authorize = match authorize.filter(|a| !a.is_none()) {
        Some(callable) if !callable.is_callable() => {
            return Err(PyTypeError::new_err(format!("authorize must be a callable (url -> redirect URL), not {}", type_name(callable))));
        }
        Some(callable) => Some(PyCallback::new(callable, "the authorize callback")),
        None => None,
    };
    let opener = if open_browser && authorize.is_none() {
        Some(PyCallback::new(&py.import("webbrowser")?.getattr("open")?, "the browser opener"))
    } else {
        None
    };
    Ok((authorize, opener))
}

/// The user's part of a login from `Adapter.login()` arguments (called on the running loop).
pub fn login_authorizer(py: Python<'_>, authorize: Option<&Bound<'_, PyAny>>, open_browser: bool, timeout: Duration) -> PyResult<Arc<dyn Authorizer>> {
    let (authorize, opener) = user_callbacks(py, authorize, open_browser)?;
    Ok(authorizer(authorize, opener, timeout))
}

/// An authorize callback as the core's redirect function.
pub fn redirect_fn(callback: Arc<PyCallback>) -> crate::auth::oauth::RedirectFn {
    Arc::new(move |url: String| {
        let call = callback.call(move |f| f.call1((url,)), redirect_value);
        Box::pin(async move { call.await.map_err(as_oauth) })
    })
}

fn redirect_value(value: &Bound<'_, PyAny>) -> Result<String, TokenError> {
    value.extract::<String>().map_err(|_| {
        TokenError::oauth(format!("the authorize callback returned {}, expected the redirect URL (a str)", type_name(value)))
    })
}

fn as_oauth(mut error: TokenError) -> TokenError {
    error.kind = TokenErrorKind::OAuth;
    error
}

fn from_mapping(mapping: &Bound<'_, PyAny>, id_key: &str, secret_key: &str) -> PyResult<(String, Option<String>)> {
    let get = |key: &str| -> PyResult<Option<String>> {
        let value = match mapping.get_item(key) {
            Ok(value) => value,
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(mapping.py()) => return Ok(None),
            Err(e) => return Err(e),
        };
        // Secrets as Kubernetes keeps them may be bytes.
        if let Ok(bytes) = value.cast::<PyBytes>() {
            return String::from_utf8(bytes.as_bytes().to_vec())
                .map(Some)
                .map_err(|_| PyValueError::new_err(format!("credentials[{key:?}] is not UTF-8")));
        }
        value.extract::<String>().map(Some).map_err(|_| PyTypeError::new_err(format!("credentials[{key:?}] must be a str or bytes")))
    };
    let id = get(id_key)?.ok_or_else(|| PyValueError::new_err(format!("credentials has no {id_key:?} key (the client ID; see client_id_key)")))?;
    Ok((id, get(secret_key)?))
}

fn read_key(key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = key.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(text) = key.cast::<PyString>() {
        let text = text.to_str()?;
        if text.contains("-----BEGIN") {
            return Ok(text.as_bytes().to_vec());
        }
    }
    let path: PathBuf = key.extract().map_err(|_| PyTypeError::new_err("private_key must be PEM text, PEM bytes or a path"))?;
    crate::util::file::read_bounded(&path, crate::util::file::MAX_FILE_BYTES)
        .map_err(|e| PyValueError::new_err(format!("cannot read private_key {}: {e}", path.display())))
}

fn scope_list(scopes: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    let Some(scopes) = scopes.filter(|s| !s.is_none()) else { return Ok(Vec::new()) };
    if let Ok(text) = scopes.extract::<String>() {
        return Ok(text.split_whitespace().map(str::to_string).collect());
    }
    scopes.extract::<Vec<String>>().map_err(|_| PyTypeError::new_err("scopes must be a space-separated str or a list of str"))
}

fn store_choice(store: Option<&Bound<'_, PyAny>>) -> PyResult<StoreChoice> {
    let Some(store) = store.filter(|s| !s.is_none()) else { return Ok(StoreChoice::Memory) };
    if let Ok(file) = store.cast::<PyFileTokenStore>() {
        return Ok(StoreChoice::File(file.get().store.clone()));
    }
    let py = store.py();
    let has = |name| store.hasattr(name).unwrap_or(false);
    if has(intern!(py, "load")) && has(intern!(py, "save")) && has(intern!(py, "clear")) {
        return Ok(StoreChoice::Python(PyCallback::new(store, "the token store")));
    }
    if let Ok(path) = store.extract::<PathBuf>() {
        return Ok(StoreChoice::File(FileStore::new(path)));
    }
    Err(PyTypeError::new_err(format!(
        "store must be a FileTokenStore, a path, or an object with load(), save(record) and clear(), not {}",
        type_name(store)
    )))
}

/// A Python object as the token store: `load() -> dict | None`, `save(dict)`, `clear()`, each
/// sync or async. The dict is the record `FileTokenStore` writes.
struct PyStore {
    callback: Arc<PyCallback>,
}

fn store_failed(what: &str, error: TokenError) -> AuthError {
    AuthError::CredentialStoreError(format!("the token store's {what}() failed: {}", error.message))
}

#[async_trait::async_trait]
impl CredentialStore for PyStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let record = self
            .callback
            .call(|store| store.call_method0(intern!(store.py(), "load")), |value| {
                if value.is_none() {
                    return Ok(None);
                }
                match py_to_json(value) {
                    Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
                    _ => Err(TokenError::oauth(format!("load() returned {}, expected a dict or None", type_name(value)))),
                }
            })
            .await
            .map_err(|e| store_failed("load", e))?;
        match record {
            None => Ok(None),
            Some(record) => record_to_credentials(record).map(Some).map_err(|e| AuthError::CredentialStoreError(format!("the token store's load() returned a bad record: {e}"))),
        }
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let record = credentials_to_record(&credentials).map_err(AuthError::CredentialStoreError)?;
        let record = serde_json::Value::Object(record);
        self.callback
            .call(move |store| {
                let py = store.py();
                let dict = json_to_py(py, &record)?;
                store.call_method1(intern!(py, "save"), (dict,))
            }, |_| Ok(()))
            .await
            .map_err(|e| store_failed("save", e))
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.callback.call(|store| store.call_method0(intern!(store.py(), "clear")), |_| Ok(())).await.map_err(|e| store_failed("clear", e))
    }
}
