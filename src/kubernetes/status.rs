//! The status subresource of each `MCPServer`: what the fleet knows of its server (state, last
//! error, last connection, restarts, tools) or why the resource is not in the fleet, with the
//! generation it describes and a `Ready` condition.
//!
//! Writes are coalesced: changes that arrive together wake the writer once, it computes every
//! resource's status and patches only those that differ from what the apiserver has (or what
//! it last wrote), a few at a time. Only the leader writes (see [`super::lease`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::jiff::{Timestamp, Unit};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::fleet::manager::{Fleet, ServerInfo};

/// Changes that arrive within this window are written together.
const COALESCE: Duration = Duration::from_millis(150);
/// Longest `lastError` and condition message written.
const MAX_ERROR_CHARS: usize = 1024;
const WRITES_AT_ONCE: usize = 8;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a resource has no server in the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `state` written to its status.
    pub state: &'static str,
    /// The `Ready` condition's reason.
    pub reason: &'static str,
    pub message: String,
}

/// A resource as the status writer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub generation: Option<i64>,
    /// The fleet's server made of it, or why there is none.
    pub server: Result<String, Problem>,
    /// Its status as the apiserver last showed it.
    pub status: Option<Value>,
}

/// Every followed resource, by (namespace, name).
pub type Resources = Arc<BTreeMap<(String, String), Tracked>>;

pub struct Writer {
    pub fleet: Arc<Fleet>,
    pub client: kube::Client,
    pub api_resource: ApiResource,
    pub resources: watch::Receiver<Resources>,
    pub leading: watch::Receiver<bool>,
    pub stop: CancellationToken,
}

impl Writer {
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        let mut updates = self.fleet.subscribe();
        let mut catalog = self.fleet.watch_catalog();
        let mut written: HashMap<(String, String), Value> = HashMap::new();
        let mut retry: Option<(Instant, Duration)> = None;
        let mut first = true;
        let mut warned_forbidden = false;
        loop {
            if !first {
                let retry_at = retry.map(|(at, _)| tokio::time::Instant::from_std(at));
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    changed = self.resources.changed() => if changed.is_err() { return },
                    update = updates.recv() => if matches!(update, Err(broadcast::error::RecvError::Closed)) { return },
                    changed = catalog.changed() => if changed.is_err() { return },
                    changed = self.leading.changed() => {
                        if changed.is_err() { return }
                        // Another replica may have written meanwhile.
                        written.clear();
                    }
                    _ = async { tokio::time::sleep_until(retry_at.unwrap()).await }, if retry_at.is_some() => {}
                }
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(COALESCE) => {}
                }
            }
            first = false;
            if !*self.leading.borrow_and_update() {
                continue;
            }
            let resources = self.resources.borrow_and_update().clone();
            let infos: HashMap<String, ServerInfo> = self.fleet.list().into_iter().map(|i| (i.definition.name.clone(), i)).collect();
            let now = Timestamp::now().round(Unit::Second).unwrap_or_else(|_| Timestamp::now());
            let due: Vec<((String, String), Value)> = resources
                .iter()
                .filter_map(|(key, tracked)| {
                    let previous = written.get(key).or(tracked.status.as_ref());
                    let status = compute(tracked, &infos, previous, now)?;
                    (previous != Some(&status)).then(|| (key.clone(), status))
                })
                .collect();
            let writes = futures::stream::iter(due)
                .map(|(key, status)| {
                    let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &key.0, &self.api_resource);
                    async move {
                        let mut body = status.clone();
                        if body.get("lastError").is_none() {
                            body["lastError"] = Value::Null;
                        }
                        let patched = tokio::time::timeout(WRITE_TIMEOUT, api.patch_status(&key.1, &PatchParams::default(), &Patch::Merge(json!({"status": body})))).await;
                        (key, status, patched)
                    }
                })
                .buffer_unordered(WRITES_AT_ONCE)
                .collect::<Vec<_>>()
                .await;
            let mut failed = false;
            for (key, status, patched) in writes {
                match patched {
                    Ok(Ok(_)) => {
                        written.insert(key, status);
                    }
                    // Deleted meanwhile.
                    Ok(Err(kube::Error::Api(e))) if e.code == 404 => {}
                    Ok(Err(kube::Error::Api(e))) if e.code == 403 => {
                        failed = true;
                        if !warned_forbidden {
                            warned_forbidden = true;
                            tracing::warn!(
                                "the apiserver refused to patch mcpservers/status of {}/{} (403): the RBAC rules lack verb \"patch\" on resource \"mcpservers/status\" in API group {:?}",
                                key.0, key.1, self.api_resource.group
                            );
                        }
                    }
                    Ok(Err(e)) => {
                        failed = true;
                        tracing::debug!("writing the status of mcpservers/{}/{} failed: {e}", key.0, key.1);
                    }
                    Err(_) => failed = true,
                }
            }
            written.retain(|key, _| resources.contains_key(key));
            retry = if failed {
                let delay = retry.map_or(Duration::from_secs(1), |(_, d)| (d * 2).min(Duration::from_secs(30)));
                Some((Instant::now() + delay, delay))
            } else {
                None
            };
        }
    }
}

fn text(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn bounded(message: &str) -> String {
    let scrubbed = crate::util::redact::scrub(message);
    match scrubbed.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}…", &scrubbed[..end]),
        None => scrubbed,
    }
}

/// A resource's status now; None while its server is not in the fleet yet.
fn compute(tracked: &Tracked, infos: &HashMap<String, ServerInfo>, previous: Option<&Value>, now: Timestamp) -> Option<Value> {
    let previous_time = |field: &str| previous.and_then(|p| p.get(field)).and_then(Value::as_str).and_then(|t| t.parse::<Timestamp>().ok());
    let (state, reason, error, ready, restarts, tools, connected) = match &tracked.server {
        Err(problem) => (problem.state, problem.reason, Some(bounded(&problem.message)), false, 0, 0, previous_time("lastConnected")),
        Ok(name) => {
            let info = infos.get(name)?;
            let up = info.state.is_up();
            let connected = match info.uptime.filter(|_| up) {
                // Kept while it is the same connection, so a status is not rewritten for the
                // clock's sake.
                Some(uptime) => {
                    let since = now.checked_sub(uptime).unwrap_or(now).round(Unit::Second).unwrap_or(now);
                    match previous_time("lastConnected") {
                        Some(before) if (before.as_second() - since.as_second()).abs() <= 2 => Some(before),
                        _ => Some(since),
                    }
                }
                None => previous_time("lastConnected"),
            };
            let state = info.state.as_str();
            (state, state, info.last_error.as_deref().map(bounded), up, info.restart_count, info.tool_count, connected)
        }
    };
    let ready_text = if ready { "True" } else { "False" };
    let previous_ready = previous.and_then(|p| p.get("conditions")).and_then(Value::as_array).and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let transition = match previous_ready {
        Some(c) if c["status"] == ready_text => c.get("lastTransitionTime").cloned().unwrap_or_else(|| text(now).into()),
        _ => text(now).into(),
    };
    let mut condition = json!({
        "type": "Ready",
        "status": ready_text,
        "reason": reason,
        "message": error.clone().unwrap_or_else(|| format!("the server is {}", state.to_lowercase())),
        "lastTransitionTime": transition,
    });
    let mut status = json!({
        "state": state,
        "restartCount": restarts,
        "toolCount": tools,
        "conditions": [],
    });
    if let Some(generation) = tracked.generation {
        status["observedGeneration"] = generation.into();
        condition["observedGeneration"] = generation.into();
    }
    status["conditions"] = json!([condition]);
    if let Some(error) = error {
        status["lastError"] = error.into();
    }
    if let Some(connected) = connected {
        status["lastConnected"] = text(connected).into();
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_a_status_that_is_not_ready_and_stays_the_same() {
        let tracked = Tracked {
            generation: Some(4),
            server: Err(Problem { state: "Invalid", reason: "InvalidSpec", message: format!("spec.command: expected text {}", "x".repeat(5000)) }),
            status: None,
        };
        let now: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let status = compute(&tracked, &HashMap::new(), None, now).unwrap();
        assert_eq!(status["state"], "Invalid");
        assert_eq!(status["observedGeneration"], 4);
        assert!(status["lastError"].as_str().unwrap().chars().count() <= MAX_ERROR_CHARS + 1);
        let ready = &status["conditions"][0];
        assert_eq!((ready["type"].as_str(), ready["status"].as_str(), ready["reason"].as_str()), (Some("Ready"), Some("False"), Some("InvalidSpec")));
        // Later, with that status written, nothing differs: no write.
        let later: Timestamp = "2026-12-02T10:05:00Z".parse().unwrap();
        assert_eq!(compute(&tracked, &HashMap::new(), Some(&status), later).as_ref(), Some(&status));
    }
}
