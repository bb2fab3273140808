//! Group commit of refresh rotations on PostgreSQL. Each refresh used to be
//! a transaction of its own, and at load PostgreSQL spent most of its share
//! of the cores on statement and commit overhead. Rotations waiting
//! together now go to the database as one statement (arrays, `unnest`) and
//! one commit, as SQLite's writer batches its writes. One batch is in
//! flight at a time: the rotations that arrive meanwhile make the next one,
//! so a lone refresh waits for nothing.
//!
//! A batch holds at most one rotation per session: two presenters of one
//! session's token must be decided one after the other (the second is
//! judged stale against what the first wrote), so a second one waits for
//! the next batch.

use std::collections::{HashSet, VecDeque};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::audit::AuditRow;
use crate::domain::session::{Rotate, Rotation, rotation_event};
use crate::domain::{Clock, SessionId, micros};

/// Most rotations in one statement.
const MAX_BATCH: usize = 128;

/// What became of a rotation handed to the batcher: rotated (its event
/// written), not rotated (the token was not current: judge it), or not
/// decided (the batch failed or the batcher is gone: do it alone).
pub(super) type Decided = Option<bool>;

struct Job {
    rotate: Rotate,
    done: oneshot::Sender<Decided>,
}

/// The handle the store keeps; the batching task ends when every handle is
/// dropped.
#[derive(Clone)]
pub(super) struct Rotations {
    queue: mpsc::UnboundedSender<Job>,
}

impl Rotations {
    pub fn start(pool: PgPool, clock: Clock) -> Rotations {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, clock, jobs));
        Rotations { queue }
    }

    /// Rotates `rotate`'s session if the presented token is current, in the
    /// next batch.
    pub async fn rotate(&self, rotate: &Rotate) -> Decided {
        let (done, answer) = oneshot::channel();
        self.queue.send(Job { rotate: rotate.clone(), done }).ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(pool: PgPool, clock: Clock, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut waiting = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match jobs.recv().await {
                Some(job) => waiting.push_back(job),
                None => return,
            }
        }
        while let Ok(job) = jobs.try_recv() {
            waiting.push_back(job);
        }
        let batch = take_batch(&mut waiting);
        let rotated = match write(&pool, &clock, &batch).await {
            Ok(rotated) => Some(rotated),
            Err(e) => {
                tracing::warn!(error = %e, rotations = batch.len(), "a batch of refresh rotations failed: each is retried alone");
                None
            }
        };
        for job in batch {
            let _ = job.done.send(rotated.as_ref().map(|ids| ids.contains(&job.rotate.session_id)));
        }
    }
}

/// The oldest waiting rotations, at most one per session.
fn take_batch(waiting: &mut VecDeque<Job>) -> Vec<Job> {
    let mut sessions = HashSet::new();
    let mut batch = Vec::new();
    let mut later = VecDeque::new();
    while let Some(job) = waiting.pop_front() {
        if batch.len() < MAX_BATCH && sessions.insert(job.rotate.session_id) {
            batch.push(job);
        } else {
            later.push_back(job);
        }
    }
    *waiting = later;
    batch
}

/// The batch's one statement: each rotation whose token is current moves
/// its session on and writes its `token_refresh` event. Returns the
/// sessions that rotated.
async fn write(pool: &PgPool, clock: &Clock, batch: &[Job]) -> sqlx::Result<HashSet<SessionId>> {
    let now = micros(clock.now());
    let events: Vec<_> = batch.iter().map(|j| rotation_event(&j.rotate, &Rotation::Rotated)).collect();
    let rows: Vec<_> = events.iter().map(|e| AuditRow::of(e, now)).collect();
    let of_rotations = |f: fn(&Rotate) -> String| batch.iter().map(|j| f(&j.rotate)).collect::<Vec<_>>();
    let of_events = |f: fn(&AuditRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let iats: Vec<i64> = batch.iter().map(|j| j.rotate.next.iat).collect();
    let exps: Vec<i64> = batch.iter().map(|j| j.rotate.next.exp).collect();
    let ips: Vec<Option<String>> = batch.iter().map(|j| j.rotate.presenter.ip.map(|ip| ip.to_string())).collect();
    let agents: Vec<Option<String>> = batch.iter().map(|j| j.rotate.presenter.user_agent.clone()).collect();
    let rotated = sqlx::query_scalar!(
        r#"WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                                    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                   AS i(sid, uid, presented, jti, iat, exp, ip, user_agent, audit_id, action, outcome, detail)
           ), rotated AS (
               UPDATE sessions s
                  SET previous_jti = s.refresh_jti, refresh_jti = i.jti, refresh_iat = i.iat, refresh_exp = i.exp,
                      rotated_at = $13, last_used_at = $13, ip = i.ip, user_agent = i.user_agent
                 FROM input i
                WHERE s.id = i.sid AND s.user_id = i.uid AND s.refresh_jti = i.presented
                  AND s.revoked_at IS NULL AND s.refresh_exp > $14
               RETURNING s.id
           ), logged AS (
               INSERT INTO audit_events (id, at, action, outcome, user_id, actor_id, ip, user_agent, detail)
               SELECT i.audit_id, $13, i.action, i.outcome, i.uid, NULL, i.ip, i.user_agent, i.detail
                 FROM input i JOIN rotated r ON r.id = i.sid
           )
           SELECT id AS "id!" FROM rotated"#,
        &of_rotations(|r| r.session_id.to_string()),
        &of_rotations(|r| r.user_id.to_string()),
        &of_rotations(|r| r.presented_jti.as_str().to_owned()),
        &of_rotations(|r| r.next.jti.as_str().to_owned()),
        &iats,
        &exps,
        ips.as_slice() as &[Option<String>],
        agents.as_slice() as &[Option<String>],
        &of_events(|a| a.id.clone()),
        &of_events(|a| a.action.to_owned()),
        &of_events(|a| a.outcome.to_owned()),
        &of_events(|a| a.detail.clone()),
        now,
        now / 1_000_000,
    )
    .fetch_all(pool)
    .await?;
    let rotated: HashSet<SessionId> = rotated.iter().filter_map(|id| id.parse().ok()).collect();
    for (job, event) in batch.iter().zip(&events) {
        if rotated.contains(&job.rotate.session_id) {
            event.log();
        }
    }
    Ok(rotated)
}
