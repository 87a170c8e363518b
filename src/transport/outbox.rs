//! What goes to a stdio server's stdin, written by one task: messages queued while a write is
//! under way go out together with the next one, so calls in flight cost one write per batch,
//! not one per message, and a sender never waits for the pipe unless the server stops reading.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Bytes queued for a server that does not read them before senders wait.
const HIGH_WATER: usize = 8 * 1024 * 1024;
/// How long closing waits for queued messages to be written before it drops the pipe.
const CLOSE_FLUSH: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    /// No more messages: the writer writes what is queued, then closes the pipe.
    closed: bool,
    /// Why writing failed (the server closed its stdin, exited, ...).
    failed: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Something was queued, or the outbox was closed.
    queued: Notify,
    /// The queue was taken by the writer (or writing failed).
    drained: Notify,
}

pub struct Outbox {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl Outbox {
    /// Starts the writer task (on the current runtime).
    pub fn new(pipe: ChildStdin) -> Self {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), queued: Notify::new(), drained: Notify::new() });
        let writer = tokio::spawn(write_all(shared.clone(), pipe));
        Self { shared, writer: Some(writer) }
    }

    /// A handle to queue messages from `send` futures.
    pub fn sender(&self) -> OutboxSender {
        OutboxSender(self.shared.clone())
    }

    /// No more messages; what is queued is written (for at most a second), then the pipe is
    /// closed: the server reads EOF.
    pub async fn close(&mut self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.queued.notify_one();
        if let Some(mut writer) = self.writer.take() {
            if tokio::time::timeout(CLOSE_FLUSH, &mut writer).await.is_err() {
                writer.abort();
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.queued.notify_one();
    }
}

#[derive(Clone)]
pub struct OutboxSender(Arc<Shared>);

impl OutboxSender {
    /// Queues one message (a line); waits only while the server leaves too much unread.
    pub async fn send(&self, line: Vec<u8>) -> std::io::Result<()> {
        loop {
            let drained = self.0.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let mut queue = self.0.queue.lock().unwrap();
                if let Some(reason) = &queue.failed {
                    return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, reason.clone()));
                }
                if queue.closed {
                    return Err(std::io::Error::new(std::io::ErrorKind::NotConnected, "stdin is closed"));
                }
                if queue.bytes.len() < HIGH_WATER {
                    if queue.bytes.is_empty() {
                        queue.bytes = line;
                    } else {
                        queue.bytes.extend_from_slice(&line);
                    }
                    drop(queue);
                    self.0.queued.notify_one();
                    return Ok(());
                }
            }
            drained.await;
        }
    }
}

async fn write_all(shared: Arc<Shared>, mut pipe: ChildStdin) {
    let mut spare = Vec::new();
    loop {
        let (mut batch, closed) = {
            let mut queue = shared.queue.lock().unwrap();
            (std::mem::replace(&mut queue.bytes, std::mem::take(&mut spare)), queue.closed)
        };
        if batch.is_empty() {
            if closed {
                break;
            }
            shared.queued.notified().await;
            continue;
        }
        shared.drained.notify_waiters();
        if let Err(e) = pipe.write_all(&batch).await {
            shared.queue.lock().unwrap().failed = Some(format!("writing to the server's stdin failed: {e}"));
            shared.drained.notify_waiters();
            return;
        }
        batch.clear();
        if batch.capacity() <= 1024 * 1024 {
            spare = batch;
        }
    }
    let _ = pipe.shutdown().await;
}
