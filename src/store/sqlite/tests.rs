//! The SQLite store's own mechanics: the group commit, the shared in-memory
//! database, closing, migrations and their compatibility with databases
//! the earlier store created. (The operations themselves are exercised
//! through the API by `tests/api`.)

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::OpenFlags;

use super::migrate::{MIGRATIONS, checksum};
use super::{Location, Store, location};
use crate::domain::AuditAction;
use crate::domain::session::{NewSession, RefreshState, Rotate, Rotation};
use crate::domain::{AuditEvent, ClientInfo, Clock, Email, Jti, LoginId, Outcome, Role, SessionId, User, UserId};
use crate::store::contract::NewUser;

/// A fresh folder, removed when the guard goes.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("authgate-sqlite-unit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("authgate.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn migrated(url: &str) -> Store {
    let store = Store::connect(url, 4, Clock::manual()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn event(action: AuditAction) -> AuditEvent {
    AuditEvent::new(action, Outcome::Success, None, &ClientInfo::default())
}

async fn a_user(store: &Store, email: &str) -> User {
    let new = NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).unwrap()),
        phone: None,
        password_hash: "pbkdf2_sha256$1$salt$hash".into(),
        first_name: "Ana".into(),
        last_name: "Lima".into(),
        role: Role::Client,
        is_verified: false,
    };
    store.create_user(&new, None, &event(AuditAction::Register)).await.unwrap().unwrap()
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    store.read(move |conn| conn.query_row(sql, [], |r| r.get(0))).await.unwrap()
}

#[test]
fn urls_name_a_file_with_its_mode_or_memory() {
    let rwc = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let file = |p: &str, flags| Location::File { path: PathBuf::from(p), flags };
    assert_eq!(location("sqlite://authgate.db").unwrap(), file("authgate.db", rwc));
    assert_eq!(location("sqlite:///var/lib/a.db").unwrap(), file("/var/lib/a.db", rwc));
    let ro = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_READ_ONLY;
    assert_eq!(location("sqlite://a.db?mode=ro").unwrap(), file("a.db", ro));
    for memory in ["sqlite::memory:", "sqlite://:memory:", "sqlite://a.db?mode=memory", "sqlite://"] {
        assert_eq!(location(memory).unwrap(), Location::Memory, "{memory}");
    }
    assert!(location("sqlite://a.db?mode=bogus").is_err());
    assert!(location("postgres://x/y").is_err());
}

#[test]
fn the_embedded_migrations_are_the_files_of_the_folder() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), MIGRATIONS.len(), "every file of {dir} is listed in migrate.rs");
    for (path, m) in files.iter().zip(MIGRATIONS) {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (version, rest) = name.split_once('_').unwrap();
        assert_eq!(version.parse::<i64>().unwrap(), m.version, "{name}");
        assert_eq!(rest.trim_end_matches(".sql").replace('_', " "), m.description, "{name}");
        assert_eq!(std::fs::read_to_string(path).unwrap(), m.sql, "{name}");
    }
}

#[tokio::test]
async fn a_database_the_legacy_store_migrated_opens_unchanged() {
    // Arrange: a file the earlier store (sqlx's migrator ledger) wrote, kept
    // as a fixture (tests/fixtures/README.md says how it was made).
    let dir = TempDir::new();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/legacy-store.sqlite");
    std::fs::copy(fixture, dir.0.join("authgate.db")).unwrap();

    // Act
    let store = migrated(&dir.url()).await;

    // Assert: nothing re-applied, the ledger as sqlx wrote it, the data there.
    let ledger: Vec<(i64, Vec<u8>)> = store
        .read(|conn| {
            super::writer::rows(conn, "SELECT version, checksum FROM _sqlx_migrations ORDER BY version", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap();
    let expected: Vec<_> = MIGRATIONS.iter().map(|m| (m.version, checksum(m.sql))).collect();
    assert_eq!(ledger, expected);
    assert_eq!(store.setting_or_insert("secret_key", "new").await.unwrap().len(), 64, "the stored secret is kept");
    let login = LoginId::parse("ana@example.com").unwrap();
    let ana = store.find_user_by_login(&login).await.unwrap().expect("the legacy admin is there");
    assert_eq!(ana.role, Role::Admin);
    assert!(ana.password_hash.starts_with("argon2$"), "{}", ana.password_hash);
    a_user(&store, "bob@example.com").await;
    store.close().await;
}

#[tokio::test]
async fn a_write_that_fails_rolls_back_alone_and_its_batch_commits() {
    // Arrange: the writer busy, so the next writes queue into one batch.
    let store = migrated("sqlite::memory:").await;
    let blocker = store.write(|_| {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });
    let insert =
        |key: &'static str| store.write(move |tx| tx.exec("INSERT INTO settings (key, value) VALUES (?1, 'v')", [key]));
    let failing = store.write(|tx| {
        tx.exec("INSERT INTO settings (key, value) VALUES ('half', 'v')", [])?;
        tx.audit(event(AuditAction::Undeliverable))?;
        tx.exec("INSERT INTO no_such_table VALUES (1)", [])
    });

    // Act
    let (b, first, failed, last) = tokio::join!(blocker, insert("first"), failing, insert("last"));

    // Assert
    assert!(b.is_ok() && first.is_ok() && last.is_ok());
    assert!(failed.is_err());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settings WHERE key IN ('first', 'last')").await, 2);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settings WHERE key = 'half'").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE action = 'undeliverable'").await, 0);
}

#[tokio::test]
async fn an_undone_write_answers_its_value_and_leaves_nothing() {
    let store = migrated("sqlite::memory:").await;
    let answer = store
        .write(|tx| {
            tx.exec("INSERT INTO settings (key, value) VALUES ('undone', 'v')", [])?;
            tx.audit(event(AuditAction::Undeliverable))?;
            Ok(tx.undo(7))
        })
        .await
        .unwrap();
    assert_eq!(answer, 7);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM settings WHERE key = 'undone'").await, 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE action = 'undeliverable'").await, 0);
}

#[tokio::test]
async fn an_in_memory_database_is_one_database_for_reads_and_writes() {
    let store = migrated("sqlite::memory:").await;
    let id = a_user(&store, "bea@example.com").await.id;
    let found = store.find_user(id).await.unwrap().expect("the user written is read back");
    assert_eq!(found.email.unwrap().as_str(), "bea@example.com");
}

#[tokio::test]
async fn of_concurrent_presenters_of_one_refresh_token_exactly_one_rotates() {
    // Arrange
    let dir = TempDir::new();
    let store = migrated(&dir.url()).await;
    let user = a_user(&store, "cai@example.com").await;
    let refresh = |jti: &str| RefreshState { jti: Jti::from_claim(jti), iat: 1, exp: i64::MAX / 2 };
    let session = NewSession {
        id: SessionId::new(),
        user_id: user.id,
        user_updated_at: user.updated_at,
        refresh: refresh("first"),
        ip: None,
        user_agent: None,
        at: chrono::Utc::now(),
        device: "Unknown device".into(),
        max_sessions: 0,
        new_device_alerts: false,
    };
    store.open_session(&session, &event(AuditAction::Login)).await.unwrap().unwrap();
    let user = user.id;
    let presenter = |i: usize| Rotate {
        session_id: session.id,
        user_id: user,
        presented_jti: Jti::from_claim("first"),
        next: refresh(&format!("next-{i}")),
        grace: Duration::from_secs(60),
        presenter: ClientInfo::default(),
    };

    // Act
    let outcomes = futures::future::join_all((0..16).map(|i| {
        let (store, rotate) = (&store, presenter(i));
        async move { store.rotate_session(&rotate).await.unwrap() }
    }))
    .await;

    // Assert: one rotated; the others, the same client within the grace,
    // are handed the token it rotated to.
    assert_eq!(outcomes.iter().filter(|o| **o == Rotation::Rotated).count(), 1, "{outcomes:?}");
    let graced: std::collections::HashSet<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Rotation::Grace(state) => Some(state.jti.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(graced.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes.len(), 16);
    assert!(outcomes.iter().all(|o| matches!(o, Rotation::Rotated | Rotation::Grace(_))), "{outcomes:?}");
    store.close().await;
}

#[tokio::test]
async fn after_close_every_call_fails_cleanly() {
    let dir = TempDir::new();
    let store = migrated(&dir.url()).await;
    let id = a_user(&store, "dan@example.com").await.id;
    store.close().await;
    assert!(store.find_user(id).await.is_err());
    assert!(store.setting_or_insert("k", "v").await.is_err());
    assert!(!store.ping().await);
    store.close().await; // twice is harmless
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_is_created_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let store = migrated(&dir.url()).await;
    let mode = std::fs::metadata(dir.0.join("authgate.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    store.close().await;
}

#[tokio::test]
async fn a_ledger_with_a_changed_or_unknown_migration_is_refused() {
    let store = migrated("sqlite::memory:").await;
    store.write(|tx| tx.exec("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1", [])).await.unwrap();
    let changed = store.migrate().await.expect_err("a changed migration is refused");
    assert!(changed.to_string().contains("migration 1 (init) differs"), "{changed}");

    store
        .write(|tx| {
            tx.exec("UPDATE _sqlx_migrations SET checksum = ?1 WHERE version = 1", [checksum(MIGRATIONS[0].sql)])?;
            tx.exec(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES (99, 'later', TRUE, x'00', 0)",
                [],
            )
        })
        .await
        .unwrap();
    let newer = store.migrate().await.expect_err("a migration from a newer release is refused");
    assert!(newer.to_string().contains("migration 99"), "{newer}");
}
