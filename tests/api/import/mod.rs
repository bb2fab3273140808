//! Moving from the Django original (contract §18), on the fixture real
//! Django made (`tests/fixtures/django`, `scripts/django-fixture`).

mod cli;
mod legacy_tokens;
mod users;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use authgate::config::Secret;
use authgate::domain::Clock;
use authgate::{Config, DjangoSource, ImportProgress, ImportSkip, ImportSummary};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::helpers::*;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/django")).join(name)
}

/// `fixture.json`: the secret, when it was made, users, tokens, reset link.
pub fn fixture() -> Value {
    let text = std::fs::read_to_string(fixture_path("fixture.json")).expect("the fixture is there");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

pub fn made_at() -> DateTime<Utc> {
    let at = fixture()["made_at"].as_str().unwrap().to_owned();
    DateTime::parse_from_rfc3339(&at).unwrap().with_timezone(&Utc)
}

/// A token of the fixture by name.
pub fn token(name: &str) -> String {
    fixture()["tokens"][name].as_str().unwrap().to_owned()
}

/// The fixture's user `key` (`pbkdf2_sha256`, `inactive`, …).
pub fn user(key: &str) -> Value {
    fixture()["users"].as_array().unwrap().iter().find(|u| u["key"] == key).cloned().expect("a fixture user")
}

pub fn json_source() -> DjangoSource {
    DjangoSource::Json(fixture_path("users.json"))
}

pub fn database_source() -> DjangoSource {
    let url = format!("sqlite://{}", fixture_path("original.sqlite3").display());
    DjangoSource::Database { url, table: authgate::DJANGO_USER_TABLE.into() }
}

/// The original's settings, an hour after the fixture was made (its
/// tokens live a week, its refresh tokens 30 days), on a clock the test
/// moves.
pub fn as_the_original(clock: &Clock) -> impl Fn(&mut Config) + Clone + use<> {
    let (clock, secret) = (clock.clone(), fixture()["secret_key"].as_str().unwrap().to_owned());
    move |c: &mut Config| {
        c.secret_key = Some(Secret(secret.clone()));
        c.clock = clock.clone();
    }
}

pub fn fixture_clock() -> Clock {
    Clock::manual_at(made_at() + Duration::from_secs(3600))
}

/// Collects what an import reports.
#[derive(Default)]
pub struct Reports(Mutex<Vec<String>>);

impl ImportProgress for Reports {
    fn start(&self, _users: u64) {}
    fn advance(&self, _users: u64) {}
    fn skipped(&self, skip: &ImportSkip) {
        self.0.lock().unwrap().push(format!("skipped {}: {}", skip.id, skip.reason));
    }
}

impl Reports {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Imports `source` into `app`'s database, as `authgate import-django`.
pub async fn import(
    app: &TestApp,
    clock: &Clock,
    source: &DjangoSource,
    dry_run: bool,
) -> (ImportSummary, Vec<String>) {
    let config = app.peer_config(as_the_original(clock));
    let reports = Reports::default();
    let summary = authgate::import_django(&config, source, dry_run, &reports).await.expect("the import runs");
    (summary, reports.lines())
}

/// A server on the fixture's secret and clock.
pub async fn spawn_original_app(clock: &Clock) -> TestApp {
    spawn_app_with(as_the_original(clock)).await
}

/// The ten users the import keeps, and the two rows it skips.
pub const IMPORTED: u64 = 10;
pub const SKIPPED: u64 = 2;
