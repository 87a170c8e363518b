//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go does it: every
//! replica serves the whole fleet, and the one holding the Lease writes status. The holder
//! renews it every `retry` interval; another replica takes it once it has seen no renewal for
//! the lease's duration (measured on its own clock, so clock skew between nodes does not
//! matter). A holder that cannot renew within the renew deadline stops writing before anyone
//! may take over; one that stops gives the Lease up at once.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// Who this replica is (the pod's name and a random part).
    pub identity: String,
    /// How long a holder's silence lasts before another replica takes over.
    pub duration: Duration,
}

impl LeaseOptions {
    fn retry(&self) -> Duration {
        (self.duration / 5).clamp(Duration::from_millis(200), Duration::from_secs(2))
    }

    /// A holder that has not renewed for this long stops acting as the leader.
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// Whether this replica leads, as it changes. Ends (and gives the Lease up) when `stop` fires.
pub fn elect(client: kube::Client, options: LeaseOptions, stop: CancellationToken) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (leading_tx, leading) = watch::channel(false);
    let task = tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, &options.namespace);
        let mut observed: Option<(Option<String>, Option<MicroTime>)> = None;
        // The Lease as our last write left it: renewed without reading it first.
        let mut held: Option<Lease> = None;
        let mut observed_at = Instant::now();
        let mut renewed_at: Option<Instant> = None;
        let mut warned = false;
        loop {
            let round = tokio::time::timeout(options.renew_deadline(), attempt(&api, &options, &mut held, &mut observed, &mut observed_at));
            match round.await.unwrap_or_else(|_| Err("the apiserver did not answer in time".into())) {
                Ok(true) => {
                    renewed_at = Some(Instant::now());
                    warned = false;
                }
                Ok(false) => renewed_at = None,
                Err(e) => {
                    if !warned {
                        tracing::warn!("leader election (Lease {}/{}): {e}", options.namespace, options.name);
                        warned = true;
                    }
                }
            }
            let leads = renewed_at.is_some_and(|at| at.elapsed() < options.renew_deadline());
            if *leading_tx.borrow() != leads {
                tracing::info!(identity = %options.identity, "{} the status writer (Lease {}/{})", if leads { "now" } else { "no longer" }, options.namespace, options.name);
                leading_tx.send_replace(leads);
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(options.retry()) => {}
            }
        }
        if *leading_tx.borrow() {
            leading_tx.send_replace(false);
            release(&api, &options).await;
        }
    });
    (leading, task)
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One round: take the Lease when free or expired, renew it when ours. True when we hold it.
async fn attempt(
    api: &Api<Lease>,
    options: &LeaseOptions,
    held: &mut Option<Lease>,
    observed: &mut Option<(Option<String>, Option<MicroTime>)>,
    observed_at: &mut Instant,
) -> Result<bool, String> {
    let seconds = i32::try_from(options.duration.as_secs().max(1)).unwrap_or(i32::MAX);
    // Held: one write renews it; a conflict (someone else wrote it) means reading it again.
    if let Some(mut lease) = held.take() {
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(now());
        }
        match api.replace(&options.name, &PostParams::default(), &lease).await {
            Ok(renewed) => {
                *held = Some(renewed);
                return Ok(true);
            }
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let current = match api.get_opt(&options.name).await {
        Ok(current) => current,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(format!("the apiserver refused to get the Lease (403): the RBAC rules lack verb \"get\" on resource \"leases\" in API group \"coordination.k8s.io\" ({})", status.message));
        }
        Err(e) => return Err(e.to_string()),
    };
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(options.name.clone()), namespace: Some(options.namespace.clone()), ..Default::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(options.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                *held = Some(created);
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e.to_string()),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let record = (spec.holder_identity.clone(), spec.renew_time.clone());
    if observed.as_ref() != Some(&record) {
        *observed = Some(record);
        *observed_at = Instant::now();
    }
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let ours = holder == Some(options.identity.as_str());
    let duration = spec.lease_duration_seconds.map_or(options.duration, |s| Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1)));
    let expired = holder.is_none() || observed_at.elapsed() >= duration;
    if !ours && !expired {
        return Ok(false);
    }
    if !ours {
        spec.holder_identity = Some(options.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(seconds);
    // The resourceVersion read above makes this a compare-and-swap: of two replicas taking an
    // expired Lease, one gets 409.
    match api.replace(&options.name, &PostParams::default(), &lease).await {
        Ok(taken) => {
            *held = Some(taken);
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            Err(format!("the apiserver refused to update the Lease (403): the RBAC rules lack verb \"update\" on resource \"leases\" in API group \"coordination.k8s.io\" ({})", status.message))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Gives the Lease up, so that another replica takes over without waiting for it to expire.
async fn release(api: &Api<Lease>, options: &LeaseOptions) {
    let Ok(Some(mut lease)) = api.get_opt(&options.name).await else { return };
    let Some(spec) = lease.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(options.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(now());
    let _ = tokio::time::timeout(Duration::from_secs(5), api.replace(&options.name, &PostParams::default(), &lease)).await;
}
