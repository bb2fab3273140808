//! Delivery off the request path: a bounded queue drained by one worker that
//! retries each message a bounded number of times with backoff. A full
//! queue or a final failure is logged and counted; the HTTP answer of the
//! flow that queued the message never changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Delivery, Message, Transport};

/// Counters per outcome, for metrics and tests.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
}

pub struct QueueConfig {
    pub capacity: usize,
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { capacity: 1024, attempts: 4, first_backoff: Duration::from_millis(500) }
    }
}

/// The sending half; cloning shares the queue.
#[derive(Clone)]
pub struct DeliveryQueue {
    tx: mpsc::Sender<Message>,
    stats: Arc<DeliveryStats>,
}

impl DeliveryQueue {
    /// Starts the worker on the current runtime. It ends when every
    /// `DeliveryQueue` clone is dropped and the queue is drained.
    pub fn start(transport: Arc<dyn Transport>, cfg: QueueConfig) -> (DeliveryQueue, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(cfg.capacity.max(1));
        let stats = Arc::new(DeliveryStats::default());
        let worker = tokio::spawn(work(rx, transport, cfg, stats.clone()));
        (DeliveryQueue { tx, stats }, worker)
    }

    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }
}

impl Delivery for DeliveryQueue {
    fn send(&self, message: Message) {
        if let Err(e) = self.tx.try_send(message) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let channel = match &e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m.channel(),
            };
            tracing::error!(channel, reason = %e, "delivery queue refused a message; it was dropped");
        }
    }
}

/// Sends at most this many messages at once, so one slow or failing
/// message does not hold up the others.
const IN_FLIGHT: usize = 8;

async fn work(
    mut rx: mpsc::Receiver<Message>,
    transport: Arc<dyn Transport>,
    cfg: QueueConfig,
    stats: Arc<DeliveryStats>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let cfg = Arc::new(cfg);
    while let Some(message) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (transport, cfg, stats) = (transport.clone(), cfg.clone(), stats.clone());
        tokio::spawn(async move {
            deliver(&*transport, &message, &cfg, &stats).await;
            drop(slot);
        });
    }
    // The queue is closed: wait for the sends still in flight.
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
}

/// One message, retried with doubling backoff unless the failure is final.
async fn deliver(transport: &dyn Transport, message: &Message, cfg: &QueueConfig, stats: &DeliveryStats) {
    let channel = message.channel();
    let mut backoff = cfg.first_backoff;
    for attempt in 1..=cfg.attempts.max(1) {
        match transport.deliver(message).await {
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(channel, attempt, "message delivered");
                return;
            }
            Err(e) if attempt < cfg.attempts && !e.permanent => {
                stats.retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel, attempt, error = %e, "delivery failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(channel, attempts = attempt, error = %e, "delivery failed; message given up");
                return;
            }
        }
    }
}
