//! Kubernetes as the registry: the `MCPServer` resources of a namespace (or of every one) are
//! listed, then watched, and the fleet is reconciled with them after the list and after each
//! change, so only servers whose definition changed restart. The watch survives what clusters
//! do (kube-runtime's watcher relists after an expired resource version and reconnects with
//! backoff); running servers are left alone meanwhile.
//!
//! A resource is read like an `MCPServer` document in a file, by the same code: an invalid one
//! is left out (with its problems logged) and never stops the others.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::fleet::definition::ServerDefinition;
use crate::fleet::load::load_value;
use crate::fleet::manager::Fleet;

pub mod lease;
pub mod secrets;
pub mod status;

use status::{Problem, Resources, Tracked};

pub const GROUP: &str = "mcpfleet.dev";
pub const MUSTER_GROUP: &str = "muster.giantswarm.io";
const VERSION: &str = "v1alpha1";
/// How long the first list may take (retries included) before the source gives up.
const FIRST_SYNC: Duration = Duration::from_secs(30);
/// How often a resource whose Secret could not be read is read again.
const SECRET_RETRY: Duration = Duration::from_secs(10);
pub const LEASE_DURATION: Duration = Duration::from_secs(15);

/// Where the `MCPServer` resources are, and what the source does besides following them.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// One namespace, or every namespace when None.
    pub namespace: Option<String>,
    /// A kubeconfig file; else in-cluster configuration, `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub label_selector: Option<String>,
    /// `mcpfleet.dev` or muster's `muster.giantswarm.io`.
    pub group: String,
    /// Read `clientCredentialsSecretRef` Secrets of other namespaces than the resource's.
    pub cross_namespace_secrets: bool,
    /// Write each resource's status subresource.
    pub write_status: bool,
    /// Elect one status writer among replicas through a Lease (else this one writes).
    pub leader_election: bool,
    /// The Lease's namespace: the followed namespace, else the pod's (else "default").
    pub lease_namespace: Option<String>,
    pub lease_name: String,
    pub lease_duration: Duration,
}

impl Default for KubeOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            kubeconfig: None,
            context: None,
            label_selector: None,
            group: GROUP.to_owned(),
            cross_namespace_secrets: false,
            write_status: true,
            leader_election: true,
            lease_namespace: None,
            lease_name: "mcpfleet".to_owned(),
            lease_duration: LEASE_DURATION,
        }
    }
}

/// The running watch (and status writer, and election); dropping it stops them (servers stay
/// as they are).
pub struct KubeSource {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Times the watch failed after its first list and was resumed.
    pub reconnects: Arc<AtomicU64>,
    /// Whether this replica writes status.
    pub leading: watch::Receiver<bool>,
    /// Without an election, the constant answer's sender (kept so that it stays open).
    _leading_fixed: Option<watch::Sender<bool>>,
}

impl KubeSource {
    /// Stops following; a leader gives its Lease up (waited for at most 5 s).
    pub async fn stop(mut self) {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(6), task).await;
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
        Some(status) if status.code == 410 => format!("the watch of mcpservers.{} {scope} is too far behind: its resource version expired (410, {}); listing again", options.group, status.message),
        _ => format!("watching mcpservers.{} {scope}: {error}", options.group),
    }
}

/// A resource read like an `MCPServer` document, with its Secret's credentials filled in; or
/// why it is left out (also logged).
async fn read(object: &DynamicObject, group: &str, client: &kube::Client, cross_namespace: bool) -> std::result::Result<ServerDefinition, Problem> {
    let definition = read_spec(object, group)?;
    let (namespace, name) = key(object);
    let definition = secrets::resolve(client, definition, &namespace, cross_namespace).await.map_err(|e| {
        tracing::warn!("mcpservers/{namespace}/{name} is left out: {e}");
        Problem { state: "Failed", reason: "SecretUnavailable", message: e.to_string() }
    })?;
    // What registering it would refuse is found now, so that it never holds up the others.
    crate::fleet::manager::check(&definition).map_err(|e| {
        let message = crate::util::redact::scrub(&e.to_string());
        tracing::warn!("mcpservers/{namespace}/{name} is left out: {message}");
        Problem { state: "Invalid", reason: "InvalidSpec", message }
    })?;
    Ok(definition)
}

fn read_spec(object: &DynamicObject, group: &str) -> std::result::Result<ServerDefinition, Problem> {
    let (namespace, name) = key(object);
    let label = format!("mcpservers/{namespace}/{name}");
    let document = serde_json::json!({
        "apiVersion": format!("{group}/{VERSION}"),
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": object.data.get("spec").cloned().unwrap_or(serde_json::Value::Null),
    });
    match load_value(&document, &label) {
        Ok(mut found) if found.len() == 1 => Ok(found.pop().expect("one definition")),
        Ok(found) => Err(Problem { state: "Invalid", reason: "InvalidSpec", message: format!("expected one server, found {}", found.len()) }),
        Err(problems) => {
            let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            let message = text.join("; ");
            tracing::warn!("{label} is left out: {message}");
            Err(Problem { state: "Invalid", reason: "InvalidSpec", message })
        }
    }
}

/// A followed resource: the object as last read, and what was made of it.
struct Entry {
    object: DynamicObject,
    read: std::result::Result<ServerDefinition, Problem>,
}

impl Entry {
    fn waits_for_secret(&self) -> bool {
        matches!(&self.read, Err(p) if p.reason == "SecretUnavailable")
    }
}

/// The fleet's definitions (each name once: the first namespace in order keeps it) and every
/// resource as the status writer sees it.
fn definitions(current: &BTreeMap<(String, String), Entry>) -> (Vec<ServerDefinition>, Resources) {
    let mut names = HashSet::new();
    let mut definitions = Vec::new();
    let mut tracked = BTreeMap::new();
    for ((namespace, name), entry) in current {
        let server = match &entry.read {
            Ok(definition) if names.insert(definition.name.clone()) => {
                definitions.push(definition.clone());
                Ok(definition.name.clone())
            }
            Ok(definition) => {
                let message = format!("a server named {:?} exists in another namespace; this one is left out", definition.name);
                tracing::warn!("mcpservers/{namespace}/{name}: {message}");
                Err(Problem { state: "Failed", reason: "NameConflict", message })
            }
            Err(problem) => Err(problem.clone()),
        };
        let status = entry.object.data.get("status").filter(|s| s.is_object()).cloned();
        tracked.insert((namespace.clone(), name.clone()), Tracked { generation: entry.object.metadata.generation, server, status });
    }
    (definitions, Arc::new(tracked))
}

fn key(object: &DynamicObject) -> (String, String) {
    (object.metadata.namespace.clone().unwrap_or_default(), object.metadata.name.clone().unwrap_or_default())
}

/// The pod's namespace (in a cluster), else "default".
fn own_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok())
        .map(|ns| ns.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// This replica's name in the Lease: the pod's (host) name and a random part.
fn identity() -> String {
    let host = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).ok().filter(|h| !h.is_empty());
    let host = host.or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned())).unwrap_or_else(|| "mcpfleet".into());
    format!("{host}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Lists the resources, makes the fleet hold exactly them, then follows their changes until
/// the returned source is stopped; writes their status when this replica leads. Fails if the
/// first list does not succeed within 30 s.
pub async fn follow(fleet: Arc<Fleet>, options: KubeOptions) -> Result<KubeSource> {
    let api_resource = resource(&options.group)?;
    let client = client(&options).await?;
    let api: Api<DynamicObject> = match &options.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &api_resource),
        None => Api::all_with(client.clone(), &api_resource),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = &options.label_selector {
        config = config.labels(selector);
    }
    let stop = CancellationToken::new();
    let reconnects = Arc::new(AtomicU64::new(0));
    let (resources_tx, resources) = watch::channel::<Resources>(Arc::default());
    let (synced_tx, synced) = tokio::sync::oneshot::channel::<Result<()>>();
    let mut tasks = Vec::new();
    let task_stop = stop.clone();
    let task_reconnects = reconnects.clone();
    let watch_client = client.clone();
    let watch_options = options.clone();
    let watch_fleet = fleet.clone();
    // What the fleet should hold, newest only: applied by its own task, so that starting
    // servers never holds up the watch, and what arrives meanwhile is applied in one go.
    let wanted = Arc::new(Wanted::default());
    let applier_stop = stop.clone();
    let applier_fleet = fleet.clone();
    let applier_wanted = wanted.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = applier_stop.cancelled() => return,
                _ = applier_wanted.ready.notified() => {}
            }
            let next = applier_wanted.definitions.lock().unwrap().take();
            if let Some(definitions) = next {
                apply(&applier_fleet, definitions).await;
            }
        }
    }));
    tasks.push(tokio::spawn(async move {
        let (options, client, fleet) = (watch_options, watch_client, watch_fleet);
        let mut synced_tx = Some(synced_tx);
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        let mut current: BTreeMap<(String, String), Entry> = BTreeMap::new();
        let mut listing: BTreeMap<(String, String), Entry> = BTreeMap::new();
        let mut retry_secrets = tokio::time::interval(SECRET_RETRY);
        retry_secrets.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry_secrets.reset();
        loop {
            let first = tokio::select! {
                _ = task_stop.cancelled() => return,
                event = stream.next() => Some(event),
                _ = retry_secrets.tick() => None,
            };
            let mut changed = false;
            let Some(first) = first else {
                for entry in current.values_mut().filter(|e| e.waits_for_secret()) {
                    entry.read = read(&entry.object, &options.group, &client, options.cross_namespace_secrets).await;
                    changed |= entry.read.is_ok();
                }
                if changed {
                    let (definitions, tracked) = definitions(&current);
                    resources_tx.send_replace(tracked);
                    wanted.set(definitions);
                }
                continue;
            };
            // A burst (many resources created at once) is applied with one reconcile.
            let mut events = vec![first];
            while let Some(more) = stream.next().now_or_never() {
                events.push(more);
            }
            for event in events {
                match event {
                    None => return,
                    Some(Err(e)) => {
                        let message = describe(&e, &options);
                        if let Some(tx) = synced_tx.take() {
                            let _ = tx.send(Err(Error::Config(message)));
                            return;
                        }
                        task_reconnects.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("{message}; retrying with backoff (running servers are left alone)");
                    }
                    Some(Ok(Event::Init)) => listing.clear(),
                    Some(Ok(Event::InitApply(object))) => {
                        let read = read(&object, &options.group, &client, options.cross_namespace_secrets).await;
                        listing.insert(key(&object), Entry { object, read });
                    }
                    Some(Ok(Event::InitDone)) => {
                        current = std::mem::take(&mut listing);
                        changed = true;
                    }
                    Some(Ok(Event::Apply(object))) => {
                        let key = key(&object);
                        // Status and metadata changes (our own status writes among them) do not
                        // change the generation: nothing to read again.
                        match current.get_mut(&key) {
                            Some(entry) if entry.object.metadata.generation == object.metadata.generation && entry.object.metadata.uid == object.metadata.uid && !entry.waits_for_secret() => {
                                let status = object.data.get("status").filter(|s| s.is_object()).cloned();
                                entry.object = object;
                                resources_tx.send_if_modified(|resources| match Arc::make_mut(resources).get_mut(&key) {
                                    Some(tracked) if tracked.status != status => {
                                        tracked.status = status;
                                        true
                                    }
                                    _ => false,
                                });
                            }
                            _ => {
                                let read = read(&object, &options.group, &client, options.cross_namespace_secrets).await;
                                current.insert(key, Entry { object, read });
                                changed = true;
                            }
                        }
                    }
                    Some(Ok(Event::Delete(object))) => {
                        current.remove(&key(&object));
                        changed = true;
                    }
                }
            }
            if changed {
                let (definitions, tracked) = definitions(&current);
                resources_tx.send_replace(tracked);
                match synced_tx.take() {
                    // The first list is applied before `follow` returns: the fleet then holds it.
                    Some(tx) => {
                        apply(&fleet, definitions).await;
                        let _ = tx.send(Ok(()));
                    }
                    None => wanted.set(definitions),
                }
            }
        }
    }));
    let mut leading_fixed = None;
    let leading = if options.write_status && options.leader_election {
        let lease = lease::LeaseOptions {
            namespace: options.lease_namespace.clone().or_else(|| options.namespace.clone()).unwrap_or_else(own_namespace),
            name: options.lease_name.clone(),
            identity: identity(),
            duration: options.lease_duration,
        };
        let (leading, task) = lease::elect(client.clone(), lease, stop.clone());
        tasks.push(task);
        leading
    } else {
        let (fixed, leading) = watch::channel(options.write_status);
        leading_fixed = Some(fixed);
        leading
    };
    if options.write_status {
        let writer = status::Writer { fleet, client, api_resource, resources, leading: leading.clone(), stop: stop.clone() };
        tasks.push(writer.spawn());
    }
    let source = KubeSource { stop, tasks, reconnects, leading, _leading_fixed: leading_fixed };
    match tokio::time::timeout(FIRST_SYNC, synced).await {
        Ok(Ok(Ok(()))) => Ok(source),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(Error::Transport("the Kubernetes watch ended before its first list".into())),
        Err(_) => Err(Error::Timeout { operation: "listing the cluster's MCPServer resources".into(), timeout: FIRST_SYNC, detail: None }),
    }
}

/// The definitions the fleet should hold next (the newest replace any not applied yet).
#[derive(Default)]
struct Wanted {
    definitions: std::sync::Mutex<Option<Vec<ServerDefinition>>>,
    ready: tokio::sync::Notify,
}

impl Wanted {
    fn set(&self, definitions: Vec<ServerDefinition>) {
        *self.definitions.lock().unwrap() = Some(definitions);
        self.ready.notify_one();
    }
}

/// Makes the fleet hold the resources' servers (they start in the background).
async fn apply(fleet: &Fleet, definitions: Vec<ServerDefinition>) {
    match fleet.reconcile_in_background(definitions).await {
        Ok(done) if !(done.added.is_empty() && done.updated.is_empty() && done.removed.is_empty()) => {
            tracing::info!(added = ?done.added, updated = ?done.updated, removed = ?done.removed, "applied the cluster's MCPServer resources");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("applying the cluster's MCPServer resources failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(namespace: &str, name: &str, spec: serde_json::Value) -> ((String, String), Entry) {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "mcpfleet.dev/v1alpha1", "kind": "MCPServer",
            "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "generation": 3, "labels": {"team": "wetter"}},
            "spec": spec,
            "status": {"state": "Running"},
        }))
        .unwrap();
        let read = read_spec(&object, GROUP);
        ((namespace.into(), name.into()), Entry { object, read })
    }

    #[test]
    fn resources_read_like_documents_and_bad_ones_are_left_out_with_their_problem() {
        let objects = BTreeMap::from([
            object("a", "wetter", serde_json::json!({"type": "stdio", "command": "uvx", "args": ["mcp-server-time"], "toolPrefix": "w", "autoStart": true})),
            object("a", "broken", serde_json::json!({"type": "stdio", "url": "http://x"})),
            object("b", "wetter", serde_json::json!({"type": "sse", "url": "http://h/sse"})),
        ]);
        let (found, tracked) = definitions(&objects);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "wetter");
        assert_eq!(found[0].command.as_deref(), Some("uvx"));
        assert!(found[0].auto_start);
        let at = |ns: &str, name: &str| &tracked[&(ns.to_owned(), name.to_owned())];
        assert_eq!(at("a", "wetter").server, Ok("wetter".to_owned()));
        assert_eq!(at("a", "wetter").generation, Some(3));
        assert_eq!(at("a", "wetter").status.as_ref().unwrap()["state"], "Running");
        let broken = at("a", "broken").server.clone().unwrap_err();
        assert_eq!(broken.reason, "InvalidSpec");
        assert!(broken.message.contains("spec.command") || broken.message.contains("url"), "{}", broken.message);
        assert_eq!(at("b", "wetter").server.clone().unwrap_err().reason, "NameConflict");
    }
}
