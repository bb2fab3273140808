//! The server's log as the suite's outbox: messages delivered to the log
//! (contract §8), access lines and the delivery queue's failures.

use std::sync::{Mutex, Once};
use std::time::Duration;

// -------------------------------------------------------------- deliveries
//
// With no email or SMS channel configured, authgate writes each message to
// the log (contract §8). The suite listens to that log as its outbox, so a
// test can read the code a person would have received. Delivery runs off
// the request path, so readers wait for it. Tests share the outbox: each
// looks only at addresses of its own.

#[derive(Debug, Clone)]
pub struct Delivered {
    pub channel: String,
    pub to: String,
    pub body: String,
}

static OUTBOX: Mutex<Vec<Delivered>> = Mutex::new(Vec::new());
/// The fields of every access line (target `authgate::access`).
static ACCESS_LOG: Mutex<Vec<Vec<(String, String)>>> = Mutex::new(Vec::new());

/// Waits (up to 5 s) for the access line of the request with
/// `X-Request-Id: request_id`, and returns its fields.
pub async fn access_line(request_id: &str) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mine = ACCESS_LOG
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|l| l.iter().any(|(k, v)| k == "request_id" && v == request_id))
            .cloned();
        if let Some(line) = mine {
            return line;
        }
        assert!(tokio::time::Instant::now() < deadline, "no access line for request {request_id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
/// The fields of every error the delivery queue logged (a send given up).
static FAILURES: Mutex<Vec<Vec<(String, String)>>> = Mutex::new(Vec::new());

/// Waits (up to 15 s) until the delivery queue has logged `n` given-up
/// sends whose error mentions `needle`, and returns those errors.
pub async fn wait_for_delivery_failures(needle: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let seen = FAILURES.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let found: Vec<String> =
            seen.iter().flat_map(|f| f.iter().map(|(_, v)| v.clone())).filter(|v| v.contains(needle)).collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {n} delivery failures mention {needle:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message delivered to `to` so far, oldest first.
pub fn messages_to(to: &str) -> Vec<Delivered> {
    OUTBOX.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|m| m.to == to).cloned().collect()
}

/// Waits (up to 10 s) until `n` messages have reached `to`, then returns
/// all of them.
pub async fn wait_for_messages(to: &str, n: usize) -> Vec<Delivered> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = messages_to(to);
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            assert!(got.len() >= n, "{} of {n} messages reached {to}: {got:?}", got.len());
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The six-digit code in the `n`-th message (from 1) to `to`.
pub async fn code_sent_to(to: &str, n: usize) -> String {
    let message = &wait_for_messages(to, n).await[n - 1];
    let code = message.body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6);
    code.unwrap_or_else(|| panic!("no code in {message:?}")).to_string()
}

pub(super) fn capture_deliveries() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        // TEST_LOG=1 also prints the server's log, for debugging.
        let fmt = std::env::var_os("TEST_LOG").map(|_| tracing_subscriber::fmt::layer().with_test_writer());
        let subscriber = tracing_subscriber::registry().with(OutboxLayer).with(fmt);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

struct OutboxLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OutboxLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "authgate::access" {
            let mut fields = Fields::default();
            event.record(&mut fields);
            ACCESS_LOG.lock().unwrap_or_else(|e| e.into_inner()).push(fields.0);
            return;
        }
        if event.metadata().target() == "authgate::delivery::queue"
            && *event.metadata().level() == tracing::Level::ERROR
        {
            let mut fields = Fields::default();
            event.record(&mut fields);
            FAILURES.lock().unwrap_or_else(|e| e.into_inner()).push(fields.0);
            return;
        }
        if event.metadata().target() != "authgate::delivery" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = Delivered { channel: fields.get("channel"), to: fields.get("to"), body: fields.get("body") };
        OUTBOX.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_string(), format!("{value:?}")));
    }
}
