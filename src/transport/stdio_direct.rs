//! Tool calls to a stdio server sent around rmcp's service loop: the request goes straight to
//! the server's stdin, and the reader hands the reply (its id is ours, `mcpfleet-N`) straight
//! back to the caller, undecoded. Everything else the server sends (notifications, its own
//! requests, replies to rmcp's requests) still goes through rmcp.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rmcp::model::{CancelledNotificationParam, RequestId};
use rmcp::{Peer, RoleClient};
use tokio::sync::oneshot;

use super::decode::top_level_id;
use super::outbox::OutboxSender;

/// The prefix of our ids; rmcp's are numbers.
pub const ID_PREFIX: &str = "mcpfleet-";

pub struct StdioDirect {
    sender: OutboxSender,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    /// How many wait: with none, the reader does not look at ids.
    count: AtomicUsize,
    next: AtomicU64,
}

impl StdioDirect {
    pub fn new(sender: OutboxSender) -> Self {
        Self { sender, waiting: Mutex::default(), count: AtomicUsize::new(0), next: AtomicU64::new(1) }
    }

    /// A fresh id and the receiver of its reply's line.
    pub fn expect(&self) -> (u64, oneshot::Receiver<Vec<u8>>) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert(n, tx);
        self.count.fetch_add(1, Ordering::AcqRel);
        (n, rx)
    }

    pub fn forget(&self, n: u64) {
        if self.waiting.lock().unwrap().remove(&n).is_some() {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub async fn send(&self, line: Vec<u8>) -> std::io::Result<()> {
        self.sender.send(line).await
    }

    /// On the reader: hands `line` to its caller if it is the reply to one of our calls.
    pub fn claim(&self, line: &[u8]) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let Some(RequestId::String(id)) = top_level_id(line) else { return false };
        let Some(n) = id.strip_prefix(ID_PREFIX).and_then(|n| n.parse::<u64>().ok()) else { return false };
        let Some(tx) = self.waiting.lock().unwrap().remove(&n) else { return false };
        self.count.fetch_sub(1, Ordering::AcqRel);
        let _ = tx.send(line.to_vec());
        true
    }
}

/// A direct call in flight: dropped before its reply, it is forgotten and cancelled at the server.
pub struct InFlight<'a> {
    pub direct: &'a StdioDirect,
    pub peer: &'a Peer<RoleClient>,
    pub n: u64,
    pub answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.direct.forget(self.n);
        let peer = self.peer.clone();
        let id = RequestId::String(format!("{ID_PREFIX}{}", self.n).into());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let params = CancelledNotificationParam::new(Some(id), Some("the caller gave up".into()));
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}
