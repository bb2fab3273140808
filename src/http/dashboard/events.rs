//! The live tail (server-sent events): new audit events as they are
//! committed, on any instance. Each stream polls the audit table by id
//! (UUIDv7 ids sort by the time they were made) once a second; it reads
//! a little behind its newest id, so an event committed late by a slower
//! transaction still arrives, and it remembers what it sent so nothing
//! arrives twice.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::session::Viewer;
use crate::flows::dashboard::{self, id_floor, id_millis};
use crate::state::AppState;
use crate::store::{AuditRecord, audit_time};

const POLL: Duration = Duration::from_secs(1);
/// How far behind its newest id a stream reads again.
const LOOKBACK_MS: i64 = 3000;
const BATCH: u32 = 200;
/// A comment line every this many polls keeps proxies from closing an idle
/// stream.
const KEEPALIVE_POLLS: u32 = 15;

struct Tail {
    svc: AppState,
    /// Nothing before this id is sent (the page drew up to it).
    start: String,
    /// The newest id sent.
    newest: String,
    sent: HashSet<String>,
    polls: u32,
    first: bool,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `GET /dashboard/events/?after=<id>`: events after `after` (or after
/// `Last-Event-ID` when the browser reconnects, or from now).
pub async fn stream(
    State(svc): State<AppState>,
    _: Viewer,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let after = resume.or_else(|| raw.get("after").cloned()).filter(|id| uuid::Uuid::parse_str(id).is_ok());
    let (start, sent) = match after {
        Some(id) => (id.clone(), HashSet::from([id])),
        None => (id_floor(now_ms()), HashSet::new()),
    };
    let tail = Tail { svc, newest: start.clone(), start, sent, polls: 0, first: true };
    let body = futures_util::stream::unfold(tail, |mut tail| async move {
        if tail.first {
            tail.first = false;
            // Ask the browser to reconnect after 2 s if the stream breaks.
            return Some((Ok::<_, Infallible>(Bytes::from_static(b"retry: 2000\n\n")), tail));
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = tail.svc.tasks.draining() => return None,
            }
            tail.polls += 1;
            let chunk = poll(&mut tail).await;
            if !chunk.is_empty() {
                return Some((Ok(Bytes::from(chunk)), tail));
            }
            if tail.polls.is_multiple_of(KEEPALIVE_POLLS) {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), tail));
            }
        }
    });
    let mut res = Body::from_stream(body).into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// One read of the table: the events not sent yet, as SSE messages.
async fn poll(tail: &mut Tail) -> String {
    let behind = id_millis(&tail.newest).map_or_else(|| tail.start.clone(), |ms| id_floor(ms - LOOKBACK_MS));
    let from = behind.max(tail.start.clone());
    let rows = match dashboard::audit_from_id(&tail.svc, &from, BATCH).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "live tail: the audit table could not be read");
            return String::new();
        }
    };
    tail.sent.retain(|id| id.as_str() >= from.as_str());
    let mut out = String::new();
    for r in &rows {
        if tail.sent.insert(r.id.clone()) {
            out.push_str(&message(r));
        }
        if r.id > tail.newest {
            tail.newest = r.id.clone();
        }
    }
    out
}

fn message(r: &AuditRecord) -> String {
    let data = json!({
        "id": r.id, "at": audit_time(r), "action": r.action, "outcome": r.outcome,
        "user_id": r.user_id, "actor_id": r.actor_id, "ip": r.ip,
    });
    format!("id: {}\nevent: audit\ndata: {data}\n\n", r.id)
}
