//! OAuth client credentials from a Secret (`auth.clientCredentialsSecretRef`, muster's shape):
//! `data[clientIdKey]` and `data[clientSecretKey]`, `client-id` and `client-secret` unless told
//! otherwise. The values are registered as secrets before anything can print them; what goes
//! wrong is said without them.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::fleet::definition::{DEFAULT_CLIENT_ID_KEY, DEFAULT_CLIENT_SECRET_KEY, ServerDefinition};

/// Why a resource's Secret could not be used (for its status; holds no secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth.clientCredentialsSecretRef: {0}")]
pub struct SecretProblem(String);

/// Fills the client ID and secret of a definition whose `auth` names a Secret. `namespace` is
/// the resource's; a Secret elsewhere is read only when `cross_namespace` allows it.
pub async fn resolve(client: &kube::Client, mut definition: ServerDefinition, namespace: &str, cross_namespace: bool) -> Result<ServerDefinition, SecretProblem> {
    let Some(spec) = definition.oauth.as_mut() else { return Ok(definition) };
    let Some(reference) = spec.secret_ref.clone() else { return Ok(definition) };
    let secret_namespace = reference.namespace.clone().unwrap_or_else(|| namespace.to_owned());
    let shown = format!("{secret_namespace}/{}", reference.name);
    if secret_namespace != namespace && !cross_namespace {
        return Err(SecretProblem(format!(
            "the Secret {shown} is in another namespace than the resource ({namespace}); Secrets of other namespaces are read only when allowed (cross_namespace_secrets=True, --cross-namespace-secrets)"
        )));
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), &secret_namespace);
    let secret = match api.get_opt(&reference.name).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return Err(SecretProblem(format!("the Secret {shown} does not exist"))),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(SecretProblem(format!(
                "the apiserver refused to get the Secret {shown} (403): the RBAC rules lack verb \"get\" on resource \"secrets\" in namespace {secret_namespace:?}"
            )));
        }
        Err(e) => return Err(SecretProblem(format!("reading the Secret {shown} failed: {}", crate::util::redact::scrub(&e.to_string())))),
    };
    let data = secret.data.unwrap_or_default();
    let value = |key: &str| -> Result<String, SecretProblem> {
        let Some(bytes) = data.get(key) else {
            let keys: Vec<&str> = data.keys().map(String::as_str).collect();
            return Err(SecretProblem(format!("the Secret {shown} has no key {key:?} (its keys: {})", if keys.is_empty() { "none".into() } else { keys.join(", ") })));
        };
        let text = std::str::from_utf8(&bytes.0).map_err(|_| SecretProblem(format!("the value of {key:?} in the Secret {shown} is not UTF-8 text")))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(SecretProblem(format!("the value of {key:?} in the Secret {shown} is empty")));
        }
        Ok(text.to_owned())
    };
    // A clientId written in the spec wins over the Secret's.
    let id = match spec.client_id.take() {
        Some(id) => id,
        None => value(reference.client_id_key.as_deref().unwrap_or(DEFAULT_CLIENT_ID_KEY))?,
    };
    let secret = value(reference.client_secret_key.as_deref().unwrap_or(DEFAULT_CLIENT_SECRET_KEY))?;
    crate::util::redact::register([secret.as_str(), id.as_str()]);
    spec.client_id = Some(id);
    spec.client_secret = Some(secret);
    Ok(definition)
}
