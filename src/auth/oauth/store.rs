//! Where OAuth credentials live between requests and between processes: rmcp's
//! `CredentialStore` in memory, or our file store (one JSON file, written atomically, mode 0600).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth2::TokenResponse as _;
use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde_json::{Map, Value};

/// Version of the stored record format.
const RECORD_VERSION: u64 = 1;

/// Credentials as one JSON object: rmcp's `StoredCredentials` fields plus `version` and the
/// absolute `expires_at` (seconds since the epoch), so a later process knows whether to refresh.
pub fn credentials_to_record(credentials: &StoredCredentials) -> Result<Map<String, Value>, String> {
    let mut record = match serde_json::to_value(credentials).map_err(|e| e.to_string())? {
        Value::Object(map) => map,
        _ => return Err("credentials did not serialize to an object".into()),
    };
    record.insert("version".into(), RECORD_VERSION.into());
    if let Some(expires_at) = expires_at(credentials) {
        record.insert("expires_at".into(), expires_at.into());
    }
    Ok(record)
}

/// The inverse of [`credentials_to_record`]. `expires_at`, when present, wins over
/// `token_received_at` + `expires_in`: a record written by hand (or by another tool) may carry
/// only the absolute expiry.
pub fn record_to_credentials(mut record: Map<String, Value>) -> Result<StoredCredentials, String> {
    match record.remove("version") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(RECORD_VERSION) => {}
        Some(other) => return Err(format!("unsupported record version {other} (expected {RECORD_VERSION})")),
    }
    let expires_at = match record.remove("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or("expires_at must be a non-negative integer")?),
        Some(_) => return Err("expires_at must be seconds since the epoch (an integer)".into()),
    };
    let mut credentials: StoredCredentials =
        serde_json::from_value(Value::Object(record)).map_err(|e| format!("not a credentials record: {e}"))?;
    if let Some(expires_at) = expires_at {
        rebase_expiry(&mut credentials, expires_at);
    }
    Ok(credentials)
}

fn expires_at(credentials: &StoredCredentials) -> Option<u64> {
    let token = credentials.token_response.as_ref()?;
    Some(credentials.token_received_at? + token.expires_in()?.as_secs())
}

/// Makes `token_received_at` + `expires_in` end at `expires_at`.
fn rebase_expiry(credentials: &mut StoredCredentials, expires_at: u64) {
    let Some(token) = credentials.token_response.as_mut() else { return };
    match (credentials.token_received_at, token.expires_in()) {
        (Some(received), Some(lifetime)) if received + lifetime.as_secs() == expires_at => {}
        (Some(received), _) if received <= expires_at => {
            token.set_expires_in(Some(&std::time::Duration::from_secs(expires_at - received)));
        }
        _ => {
            let now = now_secs();
            credentials.token_received_at = Some(now);
            token.set_expires_in(Some(&std::time::Duration::from_secs(expires_at.saturating_sub(now))));
        }
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// One JSON file per server. Written to a temporary file in the same directory (mode 0600)
/// and renamed over the old one, so a crash never leaves half a file and the tokens are never
/// readable by others, not even for a moment.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Option<StoredCredentials>, String> {
        let text = match crate::util::file::read_text(&self.path, crate::util::file::MAX_FILE_BYTES) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(format!("cannot read token store {}: {e}", self.path.display())),
        };
        let record = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => return Ok(None),
            Ok(_) => return Err(format!("token store {}: expected a JSON object", self.path.display())),
            Err(e) => return Err(format!("token store {}: not JSON ({e})", self.path.display())),
        };
        record_to_credentials(record).map(Some).map_err(|e| format!("token store {}: {e}", self.path.display()))
    }

    fn write(&self, credentials: &StoredCredentials) -> Result<(), String> {
        let record = credentials_to_record(credentials)?;
        let text = serde_json::to_vec_pretty(&Value::Object(record)).map_err(|e| e.to_string())?;
        write_atomically(&self.path, &text).map_err(|e| format!("cannot write token store {}: {e}", self.path.display()))
    }

    fn remove(&self) -> Result<(), String> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove token store {}: {e}", self.path.display())),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tokens".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn store_error(message: String) -> AuthError {
    AuthError::CredentialStoreError(message)
}

#[async_trait::async_trait]
impl CredentialStore for FileStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read()).await.map_err(|e| store_error(e.to_string()))?.map_err(store_error)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write(&credentials)).await.map_err(|e| store_error(e.to_string()))?.map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.remove()).await.map_err(|e| store_error(e.to_string()))?.map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(expires_in: u64, received: u64) -> StoredCredentials {
        let token: rmcp::transport::auth::OAuthTokenResponse = serde_json::from_value(serde_json::json!({
            "access_token": "at-secret", "token_type": "Bearer", "expires_in": expires_in, "refresh_token": "rt-secret"
        }))
        .unwrap();
        StoredCredentials::new("client-1".into(), Some(token), vec!["read".into()], Some(received))
    }

    #[tokio::test]
    async fn file_store_round_trips_with_absolute_expiry_and_mode_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("mcpfleet-store-{}", std::process::id()));
        let store = FileStore::new(dir.join("sub").join("server.json"));
        assert!(store.load().await.unwrap().is_none());
        store.save(credentials(3600, 1_000)).await.unwrap();
        let mode = std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let raw: Value = serde_json::from_slice(&std::fs::read(store.path()).unwrap()).unwrap();
        assert_eq!(raw["expires_at"], 4_600);
        assert_eq!(raw["version"], 1);
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.client_id, "client-1");
        assert_eq!(loaded.token_response.unwrap().refresh_token().unwrap().secret(), "rt-secret");
        store.clear().await.unwrap();
        assert!(store.load().await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn expires_at_wins_over_the_relative_lifetime() {
        let mut record = credentials_to_record(&credentials(3600, 1_000)).unwrap();
        record.insert("expires_at".into(), 2_000.into());
        let back = record_to_credentials(record).unwrap();
        assert_eq!(expires_at(&back), Some(2_000));
    }

    #[test]
    fn bad_records_are_refused_with_the_reason() {
        let mut record = credentials_to_record(&credentials(60, 5)).unwrap();
        record.insert("version".into(), 7.into());
        assert!(record_to_credentials(record).unwrap_err().contains("unsupported record version 7"));
        let err = record_to_credentials(Map::new()).unwrap_err();
        assert!(err.contains("client_id"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_file_names_the_file() {
        let path = std::env::temp_dir().join(format!("mcpfleet-corrupt-{}.json", std::process::id()));
        std::fs::write(&path, "{not json").unwrap();
        let err = FileStore::new(&path).load().await.unwrap_err().to_string();
        assert!(err.contains(path.to_str().unwrap()) && err.contains("not JSON"), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
