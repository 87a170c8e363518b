//! `mcpfleet serve` as one core function: start the fleet behind the gateway (stdio or HTTP),
//! follow edits of the configuration, stop everything on a signal or the end of stdin.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::http::{HttpOptions, KubeGauges, Probes, ServeError, serve_http};
use super::{Gateway, GatewayOptions, serve_stream};
use crate::fleet::load::load_paths;
use crate::fleet::manager::Fleet;

/// Where the gateway listens.
pub enum Front {
    /// The given descriptors (stdin and a duplicate of the original stdout).
    Stdio { read: OwnedFd, write: OwnedFd },
    Http(HttpOptions),
}

pub struct ServeOptions {
    pub gateway: GatewayOptions,
    pub front: Front,
    /// Configuration files to follow; edits are applied through [`Fleet::reconcile`].
    pub watch: Option<Vec<PathBuf>>,
    /// Follow a cluster's `MCPServer` resources instead (the fleet starts empty).
    pub kubernetes: Option<crate::kubernetes::KubeOptions>,
    /// After a signal, how long calls in flight may take before the servers are stopped.
    pub drain: Duration,
}

/// Calls in flight get this long after SIGTERM unless told otherwise (Kubernetes' grace period
/// is 30 s, and stopping the servers needs some of it).
pub const DRAIN: Duration = Duration::from_secs(15);

/// Why serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// The stdio client closed its end.
    InputClosed,
}

fn is_pipe(fd: &OwnedFd) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fd.try_clone().ok().and_then(|d| std::fs::File::from(d).metadata().ok()).is_some_and(|m| m.file_type().is_fifo())
}

/// Our own descriptor for `fd` (stdin, a duplicate of stdout). A pipe is reopened through /proc,
/// so the non-blocking mode tokio sets stays ours and does not leak into the process's own
/// stdio (a `dup` would share it).
pub fn own_fd(fd: i32, write: bool) -> std::io::Result<OwnedFd> {
    // SAFETY: the caller's fd stays open for this call; we keep only our own descriptor.
    let dup = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    if !is_pipe(&dup) {
        return Ok(dup);
    }
    Ok(std::fs::OpenOptions::new().read(!write).write(write).open(format!("/proc/self/fd/{fd}")).map_or(dup, Into::into))
}

/// A non-blocking pipe when `fd` is one, else a file driven on the blocking pool (a terminal,
/// a regular file).
pub fn reader(fd: OwnedFd) -> std::io::Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>> {
    Ok(if is_pipe(&fd) { Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?) } else { Box::new(tokio::fs::File::from_std(fd.into())) })
}

pub fn writer(fd: OwnedFd) -> std::io::Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
    Ok(if is_pipe(&fd) { Box::new(tokio::net::unix::pipe::Sender::from_owned_fd(fd)?) } else { Box::new(tokio::fs::File::from_std(fd.into())) })
}

async fn signalled() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
        _ = hangup.recv() => {}
    }
    Ok(())
}

/// Serves until a signal or, on stdio, the end of input; then stops every server. The fleet's
/// autoStart servers start in the background: clients are answered at once and see each
/// server's tools arrive.
pub async fn serve(fleet: Arc<Fleet>, options: ServeOptions) -> Result<Ended, ServeError> {
    let signals = signalled();
    tokio::pin!(signals);
    // The gateway first: servers then connect able to ask its clients.
    let gateway = Gateway::new(fleet.clone(), options.gateway);
    let starting = tokio::spawn({
        let fleet = fleet.clone();
        async move {
            fleet.start_auto().await;
        }
    });
    let watching = options.watch.map(|paths| tokio::spawn(watch(fleet.clone(), paths)));
    let follow = |probes: Option<Arc<Probes>>| {
        let (fleet, kubernetes) = (fleet.clone(), options.kubernetes.clone());
        async move {
            let Some(kubernetes) = kubernetes else { return Ok(None) };
            let source = crate::kubernetes::follow(fleet, kubernetes).await.map_err(|e| ServeError::Source(e.to_string()))?;
            if let Some(probes) = probes {
                probes.set_kube(KubeGauges { reconnects: source.reconnects.clone(), leading: source.leading.clone() });
            }
            Ok::<_, ServeError>(Some(source))
        }
    };
    let mut source = None;
    let ended = match options.front {
        Front::Http(mut http) => {
            // Probes answer while the cluster is listed; ready once it is.
            let probes = Arc::new(Probes::new(options.kubernetes.is_none()));
            http.probes = probes.clone();
            match serve_http(&gateway, http).await {
                Ok(server) => match follow(Some(probes.clone())).await {
                    Ok(followed) => {
                        source = followed;
                        probes.set_ready();
                        eprintln!("serving {} server(s) at {}", fleet.names().len(), server.url);
                        let _ = (&mut signals).await;
                        probes.set_draining();
                        drain(&fleet, options.drain).await;
                        server.close().await;
                        Ok(Ended::Signal)
                    }
                    Err(e) => {
                        server.close().await;
                        Err(e)
                    }
                },
                Err(e) => Err(e),
            }
        }
        Front::Stdio { read, write } => {
            let io = |e: std::io::Error| ServeError::Bind { addr: "stdio".into(), source: e };
            let (read, write) = (reader(read).map_err(io)?, writer(write).map_err(io)?);
            match follow(None).await {
                Ok(followed) => {
                    source = followed;
                    tokio::select! {
                        served = serve_stream(&gateway, read, write) => {
                            if let Err(e) = served {
                                tracing::debug!(target: "mcpfleet", "stdio session ended: {e}");
                            }
                            Ok(Ended::InputClosed)
                        }
                        _ = &mut signals => Ok(Ended::Signal),
                    }
                }
                Err(e) => Err(e),
            }
        }
    };
    starting.abort();
    if let Some(w) = watching {
        w.abort();
    }
    if let Some(source) = source {
        source.stop().await;
    }
    drop(gateway);
    fleet.close().await;
    ended
}

/// Waits until no tool call is in flight, or `limit` has passed.
async fn drain(fleet: &Fleet, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let busy = fleet.call_metrics().in_flight();
    if busy > 0 {
        eprintln!("mcpfleet: draining: waiting up to {limit:?} for {busy} call(s) in flight");
    }
    while fleet.call_metrics().in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = fleet.call_metrics().in_flight();
    if left > 0 {
        eprintln!("mcpfleet: {left} call(s) still in flight after {limit:?}; stopping anyway");
    }
}

/// (path, modified, size) of every file a configuration is read from.
fn signature(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = Vec::new();
    for path in paths {
        let dir = path.join("mcpservers");
        if dir.is_dir() {
            let mut listed: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect())
                .unwrap_or_default();
            listed.sort();
            files.extend(listed);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            (f, meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len()))
        })
        .collect()
}

/// Applies each settled edit of the configuration; an edit with any problem is refused whole
/// and the fleet goes on as it was.
async fn watch(fleet: Arc<Fleet>, paths: Vec<PathBuf>) {
    const POLL: Duration = Duration::from_millis(250);
    const SETTLE: Duration = Duration::from_millis(500);
    let mut seen = signature(&paths);
    loop {
        tokio::time::sleep(POLL).await;
        let mut now = signature(&paths);
        if now == seen {
            continue;
        }
        // Editors write in several steps: wait until the files stop changing.
        loop {
            tokio::time::sleep(SETTLE).await;
            let later = signature(&paths);
            if later == now {
                break;
            }
            now = later;
        }
        seen = now;
        let loaded = {
            let paths = paths.clone();
            tokio::task::spawn_blocking(move || load_paths(&paths)).await
        };
        match loaded {
            Ok(Ok(definitions)) => match fleet.reconcile(definitions).await {
                Ok(done) => {
                    let parts: Vec<String> = [("added", &done.added), ("updated", &done.updated), ("removed", &done.removed)]
                        .into_iter()
                        .filter(|(_, names)| !names.is_empty())
                        .map(|(what, names)| format!("{what} {}", names.join(", ")))
                        .collect();
                    let summary = if parts.is_empty() { "no change".to_string() } else { parts.join("; ") };
                    eprintln!("mcpfleet: configuration reloaded: {summary}");
                }
                Err(e) => eprintln!("mcpfleet: reloading the configuration failed: {e}"),
            },
            Ok(Err(problems)) => {
                for p in &problems {
                    eprintln!("{}", crate::util::redact::scrub(&p.to_string()));
                }
                eprintln!("mcpfleet: the edit was not applied ({} problem(s)); the fleet goes on unchanged", problems.len());
            }
            Err(e) => eprintln!("mcpfleet: reading the configuration failed: {e}"),
        }
    }
}
