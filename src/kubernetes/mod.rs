//! Kubernetes as the registry: the `MCPServer` resources of a namespace (or of every one) are
//! listed, then watched, and the fleet is reconciled with them after the list and after each
//! change, so only servers whose definition changed restart. The watch survives what clusters
//! do (kube-runtime's watcher relists after an expired resource version and reconnects with
//! backoff); running servers are left alone meanwhile.
//!
//! A resource is read like an `MCPServer` document in a file, by the same code: an invalid one
//! is left out (with its problems logged) and never stops the others.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::fleet::manager::Fleet;
use crate::fleet::definition::ServerDefinition;
use crate::fleet::load::load_value;

pub const GROUP: &str = "mcpfleet.dev";
pub const MUSTER_GROUP: &str = "muster.giantswarm.io";
const VERSION: &str = "v1alpha1";
/// How long the first list may take (retries included) before the source gives up.
const FIRST_SYNC: Duration = Duration::from_secs(30);

/// Where the `MCPServer` resources are.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    /// One namespace, or every namespace when None.
    pub namespace: Option<String>,
    /// A kubeconfig file; else in-cluster configuration, `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub label_selector: Option<String>,
    /// `mcpfleet.dev` or muster's `muster.giantswarm.io`.
    pub group: String,
}

/// The running watch; dropping it stops it (servers stay as they are).
pub struct KubeSource {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl KubeSource {
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for KubeSource {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn client(options: &KubeOptions) -> Result<kube::Client> {
    let context = kube::config::KubeConfigOptions { context: options.context.clone(), ..Default::default() };
    let config = match (&options.kubeconfig, &options.context) {
        (Some(path), _) => {
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Config(format!("kubeconfig {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &context).await.map_err(|e| Error::Config(format!("kubeconfig {}: {e}", path.display())))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&context).await.map_err(|e| Error::Config(format!("kubeconfig: {e}")))?,
        (None, None) => kube::Config::infer().await.map_err(|e| Error::Config(format!("no Kubernetes configuration found (in-cluster, $KUBECONFIG or ~/.kube/config): {e}")))?,
    };
    kube::Client::try_from(config).map_err(|e| Error::Config(format!("Kubernetes client: {e}")))
}

fn resource(group: &str) -> Result<ApiResource> {
    if group != GROUP && group != MUSTER_GROUP {
        return Err(Error::Config(format!("group must be {GROUP:?} or {MUSTER_GROUP:?}, got {group:?}")));
    }
    Ok(ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, VERSION, "MCPServer"), "mcpservers"))
}

/// A watch failure in words an operator can act on: a 403 names the verb and resource the RBAC
/// rules lack, a 404 the missing CRD.
fn describe(error: &watcher::Error, options: &KubeOptions) -> String {
    let api = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status)) | watcher::Error::WatchStartFailed(kube::Error::Api(status)) | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status),
        watcher::Error::WatchError(status) => Some(status),
        _ => None,
    };
    let scope = options.namespace.as_deref().map_or_else(|| "in every namespace".to_owned(), |ns| format!("in namespace {ns:?}"));
    let verb = if matches!(error, watcher::Error::InitialListFailed(_)) { "list" } else { "watch" };
    match api {
        Some(status) if status.code == 403 => format!(
            "the apiserver refused to {verb} mcpservers.{} {scope} (403): the RBAC rules lack verb {verb:?} on resource \"mcpservers\" in API group {:?} ({})",
            options.group, options.group, status.message
        ),
        Some(status) if status.code == 404 => format!("the apiserver has no mcpservers.{} (404): apply the CRD (deploy/crd.yaml) first", options.group),
        _ => format!("watching mcpservers.{} {scope}: {error}", options.group),
    }
}

/// A resource read like an `MCPServer` document; an invalid one is None, its problems logged.
fn read(object: &DynamicObject, group: &str) -> Option<ServerDefinition> {
    let (namespace, name) = key(object);
    let label = format!("mcpservers/{namespace}/{name}");
    let document = serde_json::json!({
        "apiVersion": format!("{group}/{VERSION}"),
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": object.data.get("spec").cloned().unwrap_or(serde_json::Value::Null),
    });
    match load_value(&document, &label) {
        Ok(mut found) if found.len() == 1 => found.pop(),
        Ok(_) => None,
        Err(problems) => {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            tracing::warn!("{label} is left out: {}", text.join("; "));
            None
        }
    }
}

/// The definitions of the resources as they are now: each name once (the first namespace in
/// order keeps it).
fn definitions(read: &BTreeMap<(String, String), Option<ServerDefinition>>) -> Vec<ServerDefinition> {
    let mut names = std::collections::HashSet::new();
    let mut definitions = Vec::new();
    for ((namespace, name), definition) in read {
        let Some(definition) = definition else { continue };
        if names.insert(definition.name.clone()) {
            definitions.push(definition.clone());
        } else {
            tracing::warn!("mcpservers/{namespace}/{name}: a server named {name:?} exists in another namespace; this one is left out");
        }
    }
    definitions
}

fn key(object: &DynamicObject) -> (String, String) {
    (object.metadata.namespace.clone().unwrap_or_default(), object.metadata.name.clone().unwrap_or_default())
}

/// Lists the resources, makes the fleet hold exactly them, then follows their changes until
/// the returned source is stopped. Fails if the first list does not succeed within 30 s.
pub async fn follow(fleet: Arc<Fleet>, options: KubeOptions) -> Result<KubeSource> {
    let api_resource = resource(&options.group)?;
    let client = client(&options).await?;
    let api: Api<DynamicObject> = match &options.namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &api_resource),
        None => Api::all_with(client, &api_resource),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = &options.label_selector {
        config = config.labels(selector);
    }
    let stop = CancellationToken::new();
    let (synced_tx, synced) = tokio::sync::oneshot::channel::<Result<()>>();
    let task_stop = stop.clone();
    let task = tokio::spawn(async move {
        let mut synced_tx = Some(synced_tx);
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        // Each resource is read once, when it changes.
        let mut current: BTreeMap<(String, String), Option<ServerDefinition>> = BTreeMap::new();
        let mut listing: BTreeMap<(String, String), Option<ServerDefinition>> = BTreeMap::new();
        loop {
            let first = tokio::select! {
                _ = task_stop.cancelled() => return,
                event = stream.next() => event,
            };
            // A burst (many resources created at once) is applied with one reconcile.
            let mut events = vec![first];
            while let Some(more) = stream.next().now_or_never() {
                events.push(more);
            }
            let mut changed = false;
            for event in events {
                match event {
                    None => return,
                    Some(Err(e)) => {
                        let message = describe(&e, &options);
                        if let Some(tx) = synced_tx.take() {
                            let _ = tx.send(Err(Error::Config(message)));
                            return;
                        }
                        tracing::warn!("{message}; retrying with backoff (running servers are left alone)");
                    }
                    Some(Ok(Event::Init)) => listing.clear(),
                    Some(Ok(Event::InitApply(object))) => {
                        listing.insert(key(&object), read(&object, &options.group));
                    }
                    Some(Ok(Event::InitDone)) => {
                        current = std::mem::take(&mut listing);
                        changed = true;
                    }
                    Some(Ok(Event::Apply(object))) => {
                        current.insert(key(&object), read(&object, &options.group));
                        changed = true;
                    }
                    Some(Ok(Event::Delete(object))) => {
                        current.remove(&key(&object));
                        changed = true;
                    }
                }
            }
            if !changed {
                continue;
            }
            match fleet.reconcile(definitions(&current)).await {
                Ok(done) if !(done.added.is_empty() && done.updated.is_empty() && done.removed.is_empty()) => {
                    tracing::info!(added = ?done.added, updated = ?done.updated, removed = ?done.removed, "applied the cluster's MCPServer resources");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("applying the cluster's MCPServer resources failed: {e}"),
            }
            if let Some(tx) = synced_tx.take() {
                let _ = tx.send(Ok(()));
            }
        }
    });
    let source = KubeSource { stop, task: Some(task) };
    match tokio::time::timeout(FIRST_SYNC, synced).await {
        Ok(Ok(Ok(()))) => Ok(source),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(Error::Transport("the Kubernetes watch ended before its first list".into())),
        Err(_) => Err(Error::Timeout { operation: "listing the cluster's MCPServer resources".into(), timeout: FIRST_SYNC, detail: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(namespace: &str, name: &str, spec: serde_json::Value) -> ((String, String), Option<ServerDefinition>) {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer",
            "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "generation": 3, "labels": {"team": "wetter"}},
            "spec": spec,
            "status": {"state": "Running"},
        }))
        .unwrap();
        ((namespace.into(), name.into()), read(&object, GROUP))
    }

    #[test]
    fn resources_read_like_documents_and_bad_ones_are_left_out() {
        let objects = BTreeMap::from([
            object("a", "wetter", serde_json::json!({"type": "stdio", "command": "uvx", "args": ["mcp-server-time"], "toolPrefix": "w", "autoStart": true})),
            object("a", "broken", serde_json::json!({"type": "stdio", "url": "http://x"})),
            object("b", "wetter", serde_json::json!({"type": "sse", "url": "http://h/sse"})),
        ]);
        let found = definitions(&objects);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "wetter");
        assert_eq!(found[0].command.as_deref(), Some("uvx"));
        assert!(found[0].auto_start);
    }
}
