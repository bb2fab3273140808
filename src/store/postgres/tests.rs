//! The statements that do more than one thing at once, on a real server:
//! a schema of their own in the database `AUTHGATE_TEST_DATABASE_URL`
//! names (named as `tests/api/db.rs` names its schemas, so its sweep drops
//! them).

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::Store;
use crate::domain::AuditAction;
use crate::domain::recovery::{Attempt, NewCode, OtpPurpose};
use crate::domain::session::{NewSession, RefreshState, Rotate, Rotation};
use crate::domain::{AuditEvent, ClientInfo, Clock, Email, Jti, Outcome, Role, SessionId, UserId};
use crate::store::contract::{NewUser, UserTaken};

async fn fresh(clock: Clock) -> (Store, String) {
    let base = std::env::var("AUTHGATE_TEST_DATABASE_URL").expect("AUTHGATE_TEST_DATABASE_URL");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let schema = format!("agt_{now}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut admin = PgConnection::connect(&base).await.expect("the test PostgreSQL answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    admin.close().await.ok();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = Store::connect(&url, 8, clock).await.expect("the store connects");
    store.migrate().await.expect("the schema is migrated");
    (store, url)
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).unwrap()),
        phone: None,
        password_hash: "hash".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        role: Role::Client,
        is_verified: false,
    }
}

fn event(action: AuditAction, user: UserId) -> AuditEvent {
    AuditEvent::new(action, Outcome::Success, Some(user), &ClientInfo::default())
}

fn owner() -> ClientInfo {
    ClientInfo { ip: Some("203.0.113.9".parse().unwrap()), user_agent: Some("app/1.0".into()) }
}

async fn signed_in(store: &Store, clock: &Clock) -> (UserId, SessionId, Jti) {
    let user =
        store.create_user(&new_user("ada@example.com"), None, &event(AuditAction::Register, UserId::new())).await;
    let user = user.unwrap().unwrap();
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        user_updated_at: user.updated_at,
        refresh: RefreshState { jti: Jti::random(), iat: clock.unix(), exp: clock.unix() + 3600 },
        ip: Some("203.0.113.9".into()),
        user_agent: Some("app/1.0".into()),
        at: clock.now(),
        device: "Unknown device".into(),
        max_sessions: 0,
        new_device_alerts: false,
    };
    store.open_session(&session, &event(AuditAction::Login, user.id)).await.unwrap().unwrap();
    (user.id, session.id, session.refresh.jti)
}

fn rotate(user: UserId, session: SessionId, presented: &Jti, clock: &Clock) -> Rotate {
    Rotate {
        session_id: session,
        user_id: user,
        presented_jti: presented.clone(),
        next: RefreshState { jti: Jti::random(), iat: clock.unix(), exp: clock.unix() + 3600 },
        grace: Duration::from_secs(10),
        presenter: owner(),
    }
}

async fn audit_count(url: &str, action: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_presenters_of_the_current_token_one_rotates_and_the_others_get_its_token() {
    let clock = Clock::manual();
    let (store, url) = fresh(clock.clone()).await;
    let (user, session, jti) = signed_in(&store, &clock).await;

    let tries: Vec<Rotate> = (0..8).map(|_| rotate(user, session, &jti, &clock)).collect();
    let outcomes = futures::future::join_all(tries.iter().map(|r| store.rotate_session(r))).await;

    let outcomes: Vec<Rotation> = outcomes.into_iter().map(Result::unwrap).collect();
    let winners: Vec<usize> = (0..8).filter(|&i| outcomes[i] == Rotation::Rotated).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let current = tries[winners[0]].next.clone();
    for (i, o) in outcomes.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
        assert_eq!(*o, Rotation::Grace(current.clone()), "presenter {i}");
    }
    assert_eq!(audit_count(&url, "token_refresh").await, 8, "every outcome is recorded");
}

#[tokio::test]
async fn a_rotated_token_after_the_grace_revokes_the_session() {
    let clock = Clock::manual();
    let (store, url) = fresh(clock.clone()).await;
    let (user, session, jti) = signed_in(&store, &clock).await;
    let first = rotate(user, session, &jti, &clock);
    assert_eq!(store.rotate_session(&first).await.unwrap(), Rotation::Rotated);

    clock.advance(Duration::from_secs(11));
    let replay = store.rotate_session(&rotate(user, session, &jti, &clock)).await.unwrap();
    let current = store.rotate_session(&rotate(user, session, &first.next.jti, &clock)).await.unwrap();

    assert_eq!(replay, Rotation::Reused);
    assert_eq!(current, Rotation::Dead, "the session was revoked");
    assert_eq!(audit_count(&url, "token_reuse").await, 1);
    assert!(store.list_sessions(user).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_twin_sign_up_loses_on_the_unique_index_and_leaves_nothing() {
    let (store, url) = fresh(Clock::manual()).await;
    let code = NewCode {
        purpose: OtpPurpose::Verify,
        network: "203.0.113.0/24",
        code_hash: "h",
        expires_at: chrono::Utc::now() + chrono::TimeDelta::minutes(10),
        now: chrono::Utc::now(),
    };
    let first = new_user("Twin@example.com");
    let created = store.create_user(&first, Some(&code), &event(AuditAction::Register, first.id)).await.unwrap();
    assert_eq!(created.unwrap().email.unwrap().as_str(), "Twin@example.com");

    let twin = new_user("twin@EXAMPLE.com");
    let lost = store.create_user(&twin, Some(&code), &event(AuditAction::Register, twin.id)).await.unwrap();

    assert_eq!(lost.err(), Some(UserTaken { email: true, phone: false }));
    assert!(store.find_user(twin.id).await.unwrap().is_none());
    assert_eq!(audit_count(&url, "register").await, 1, "the loser's event went with it");
}

#[tokio::test]
async fn a_guess_spends_an_attempt_of_its_own_networks_code_which_is_void_after_five() {
    let clock = Clock::manual();
    let (store, _) = fresh(clock.clone()).await;
    let (user, _, _) = signed_in(&store, &clock).await;
    let now = clock.now();
    let network = "203.0.113.0/24";
    let code = NewCode {
        purpose: OtpPurpose::Reset,
        network,
        code_hash: "mine",
        expires_at: now + chrono::TimeDelta::minutes(10),
        now,
    };
    store.replace_otp(user, &code, &event(AuditAction::OtpResend, user)).await.unwrap().unwrap();

    let mut judged = Vec::new();
    for _ in 0..6 {
        match store.take_otp_attempt(user, OtpPurpose::Reset, network, now).await.unwrap() {
            Attempt::Judge(codes) => judged.push(codes.len()),
            Attempt::Refused(spent) => panic!("refused: {spent:?}"),
        }
    }

    assert_eq!(judged, [1, 1, 1, 1, 1, 0], "the sixth guess finds the code void");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_agree_on_one_setting() {
    let (store, _) = fresh(Clock::manual()).await;
    let values: Vec<String> = (0..8).map(|i| format!("secret-{i}")).collect();

    let stored = futures::future::join_all(values.iter().map(|v| store.setting_or_insert("secret_key", v))).await;

    let stored: Vec<String> = stored.into_iter().map(Result::unwrap).collect();
    assert!(values.contains(&stored[0]));
    assert!(stored.iter().all(|s| *s == stored[0]), "{stored:?}");
    assert_eq!(store.setting_or_insert("secret_key", "later").await.unwrap(), stored[0]);
}
