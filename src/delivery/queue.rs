//! Delivery off the request path: a bounded queue drained by one worker that
//! retries each message a bounded number of times with backoff. A full
//! queue or a final failure is logged and counted; the HTTP answer of the
//! flow that queued the message never changes. At shutdown the queue is
//! closed and drained: what was queued is sent, or logged as given up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{Delivery, Handed, Message, Route, Transport};
use crate::tasks::Tasks;
use crate::telemetry;

/// Counters per outcome, for metrics and tests.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Accepted into the queue.
    pub queued: AtomicU64,
    pub sent: AtomicU64,
    /// Written to the log in place of a channel (development mode).
    pub logged: AtomicU64,
    /// Refused at once: no channel, production mode.
    pub undeliverable: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
}

impl DeliveryStats {
    /// Accepted messages not yet sent nor given up.
    pub fn pending(&self) -> u64 {
        let done = self.sent.load(Ordering::Relaxed)
            + self.logged.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(done)
    }
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
    /// Asked where each message would go before it is queued.
    transport: Arc<dyn Transport>,
    stats: Arc<DeliveryStats>,
    /// Tells the worker to stop taking messages and drain the queue.
    closing: Arc<watch::Sender<bool>>,
    /// Becomes true when the worker has sent or given up everything.
    drained: watch::Receiver<bool>,
}

impl DeliveryQueue {
    /// Starts the worker on the current runtime. It ends when every
    /// `DeliveryQueue` clone is dropped and the queue is drained.
    /// Each send runs on `tasks`, the service's background work.
    pub fn start(
        transport: Arc<dyn Transport>,
        cfg: QueueConfig,
        tasks: Tasks,
    ) -> (DeliveryQueue, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(cfg.capacity.max(1));
        let stats = Arc::new(DeliveryStats::default());
        let (closing, close_rx) = watch::channel(false);
        let (drained_tx, drained) = watch::channel(false);
        let (worker_stats, worker_transport) = (stats.clone(), transport.clone());
        let worker = tokio::spawn(async move {
            work(rx, close_rx, worker_transport, cfg, worker_stats, tasks).await;
            let _ = drained_tx.send(true);
        });
        (DeliveryQueue { tx, transport, stats, closing: Arc::new(closing), drained }, worker)
    }

    #[cfg(test)]
    pub fn stats(&self) -> &DeliveryStats {
        &self.stats
    }

    /// Stops taking messages (later ones are logged as dropped) and waits,
    /// at most `within`, until every queued message is sent or given up.
    /// Returns how many were still pending when it stopped waiting.
    pub async fn close(&self, within: Duration) -> u64 {
        let _ = self.closing.send(true);
        let mut drained = self.drained.clone();
        let _ = tokio::time::timeout(within, drained.wait_for(|d| *d)).await;
        self.stats.pending()
    }
}

impl Delivery for DeliveryQueue {
    fn send(&self, message: Message) -> Handed {
        if self.transport.route(&message) == Route::Nowhere {
            self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
            telemetry::delivery(message.channel(), "undeliverable");
            tracing::warn!(channel = message.channel(), "no channel configured for this message; it was not sent");
            return Handed::Undeliverable;
        }
        // Counted before the hand-over, so `pending` never sees a message
        // sent that was not yet queued.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.tx.try_send(message) {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            let channel = match &e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m.channel(),
            };
            telemetry::delivery(channel, "dropped");
            tracing::error!(channel, reason = %e, "delivery queue refused a message; it was dropped");
        }
        Handed::Queued
    }
}

/// Sends at most this many messages at once, so one slow or failing
/// message does not hold up the others.
const IN_FLIGHT: usize = 8;

async fn work(
    mut rx: mpsc::Receiver<Message>,
    mut closing: watch::Receiver<bool>,
    transport: Arc<dyn Transport>,
    cfg: QueueConfig,
    stats: Arc<DeliveryStats>,
    tasks: Tasks,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let cfg = Arc::new(cfg);
    let mut closed = false;
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            _ = closing.wait_for(|c| *c), if !closed => {
                // Refuse new messages; `recv` still yields the queued ones.
                rx.close();
                closed = true;
                continue;
            }
        };
        let Some(message) = message else { break };
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (transport, cfg, stats) = (transport.clone(), cfg.clone(), stats.clone());
        tasks.spawn(async move {
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
            Ok(()) if transport.route(message) == Route::Log => {
                stats.logged.fetch_add(1, Ordering::Relaxed);
                telemetry::delivery(channel, "logged");
                return;
            }
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                telemetry::delivery(channel, "sent");
                tracing::info!(channel, attempt, "message delivered");
                return;
            }
            Err(e) if attempt < cfg.attempts && !e.permanent => {
                stats.retried.fetch_add(1, Ordering::Relaxed);
                telemetry::delivery(channel, "retried");
                tracing::warn!(channel, attempt, error = %e, "delivery failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                telemetry::delivery(channel, "failed");
                tracing::error!(channel, attempts = attempt, error = %e, "delivery failed; message given up");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{DeliverFuture, SendError};

    /// Takes `delay` per message; fails those whose body says "fail".
    struct Slow {
        delay: Duration,
    }

    impl Transport for Slow {
        fn deliver<'a>(&'a self, message: &'a Message) -> DeliverFuture<'a> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                match message {
                    Message::Sms { body, .. } if body == "fail" => Err(SendError::permanent("refused")),
                    _ => Ok(()),
                }
            })
        }
    }

    fn sms(body: &str) -> Message {
        Message::Sms { to: "+14155552671".into(), body: body.into() }
    }

    #[tokio::test]
    async fn closing_sends_what_was_queued_and_refuses_the_rest() {
        let cfg = QueueConfig { capacity: 16, attempts: 1, first_backoff: Duration::from_millis(1) };
        let (queue, worker) =
            DeliveryQueue::start(Arc::new(Slow { delay: Duration::from_millis(200) }), cfg, Tasks::default());
        for body in ["a", "b", "fail"] {
            queue.send(sms(body));
        }
        assert_eq!(queue.close(Duration::from_secs(5)).await, 0, "nothing left pending");
        let stats = queue.stats();
        assert_eq!(stats.sent.load(Ordering::Relaxed), 2);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
        queue.send(sms("late"));
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 1, "a message after the close is refused, and counted");
        assert!(worker.is_finished() || tokio::time::timeout(Duration::from_secs(1), worker).await.is_ok());
    }

    #[tokio::test]
    async fn a_close_that_times_out_reports_what_is_still_pending() {
        let cfg = QueueConfig { capacity: 16, attempts: 1, first_backoff: Duration::from_millis(1) };
        let (queue, _worker) =
            DeliveryQueue::start(Arc::new(Slow { delay: Duration::from_secs(5) }), cfg, Tasks::default());
        queue.send(sms("a"));
        assert_eq!(queue.close(Duration::from_millis(100)).await, 1);
    }
}
