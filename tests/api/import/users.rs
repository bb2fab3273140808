//! Users of the original: every hash format signs in, the rows the
//! contract refuses are reported, re-running changes nothing.

use serde_json::{Value, json};

use super::*;

/// The login id of a fixture user: its email, else its phone.
fn login_id(u: &Value) -> String {
    u["email"].as_str().or(u["phone"].as_str()).unwrap().to_owned()
}

#[tokio::test]
async fn every_imported_user_signs_in_with_the_old_password() {
    // Arrange
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;

    // Act
    let (summary, skipped) = import(&app, &clock, &json_source(), false).await;

    // Assert
    assert_eq!((summary.imported, summary.updated, summary.unchanged, summary.skipped), (IMPORTED, 0, 0, SKIPPED));
    for key in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt", "md5"] {
        let u = user(key);
        let r = app.post(LOGIN, &json!({"email_or_phone": login_id(&u), "password": u["password"]})).await;
        assert_eq!(r.status, 200, "{key}: {:?}", r.body);
        assert_eq!(r.body["data"]["user"]["id"], u["id"], "{key}: the id is kept");
    }
    let inactive = user("inactive");
    let r = app.post(LOGIN, &json!({"email_or_phone": login_id(&inactive), "password": inactive["password"]})).await;
    assert_eq!(r.status, 403, "an inactive user stays inactive");
    let deleted = user("deleted");
    let r = app.post(LOGIN, &json!({"email_or_phone": login_id(&deleted), "password": deleted["password"]})).await;
    assert_eq!(r.status, 401, "a soft-deleted user stays deleted");
    let r = app.post(LOGIN, &json!({"email_or_phone": "hal@example.com", "password": ""})).await;
    assert_ne!(r.status, 200, "an unusable password stays unusable");
    let bad_phone = user("bad_phone")["id"].as_str().unwrap().to_owned();
    let duplicate = user("duplicate_email")["id"].as_str().unwrap().to_owned();
    assert!(skipped.iter().any(|l| l.starts_with(&format!("skipped {bad_phone}: invalid phone"))), "{skipped:?}");
    assert!(skipped.iter().any(|l| l.starts_with(&format!("skipped {duplicate}: duplicate email"))), "{skipped:?}");
}

#[tokio::test]
async fn the_database_imports_every_field_as_the_dump_does() {
    // Arrange
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let source = std::fs::read(fixture_path("original.sqlite3")).unwrap();

    // Act
    let (summary, skipped) = import(&app, &clock, &database_source(), false).await;
    let ana = user("pbkdf2_sha256");
    let r = app.post(LOGIN, &json!({"email_or_phone": "ana@example.com", "password": ana["password"]})).await;

    // Assert
    assert_eq!((summary.imported, summary.skipped), (IMPORTED, SKIPPED), "{skipped:?}");
    assert_eq!(summary.tokens, 5, "every outstanding refresh token of a kept user");
    assert_eq!(summary.blacklisted, 1);
    let me = &r.body["data"]["user"];
    assert_eq!((me["first_name"].as_str(), me["last_name"].as_str()), (Some("Ana"), Some("Lopez")));
    assert_eq!((me["role"].as_str(), me["is_verified"].as_bool()), (Some("client"), Some(true)));
    let dumped: Vec<Value> = serde_json::from_slice(&std::fs::read(fixture_path("users.json")).unwrap()).unwrap();
    let dumped = dumped.iter().find(|e| e["pk"] == ana["id"]).unwrap();
    let created = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
    assert_eq!(
        created(me["created_at"].as_str().unwrap()),
        created(dumped["fields"]["created_at"].as_str().unwrap()),
        "created_at as the original has it"
    );
    assert_eq!(std::fs::read(fixture_path("original.sqlite3")).unwrap(), source, "the source is only read");
}

#[tokio::test]
async fn rerunning_the_import_changes_nothing() {
    // Arrange
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    import(&app, &clock, &database_source(), false).await;
    let md5 = user("md5");
    app.login("gus@example.com", md5["password"].as_str().unwrap()).await;
    let upgraded = upgraded_hash(&app, md5["id"].as_str().unwrap()).await;

    // Act
    let (json_again, _) = import(&app, &clock, &json_source(), false).await;
    let (database_again, skipped) = import(&app, &clock, &database_source(), false).await;

    // Assert
    for again in [json_again, database_again] {
        assert_eq!((again.imported, again.updated, again.unchanged, again.skipped), (0, 0, IMPORTED, SKIPPED));
    }
    assert_eq!(skipped.len() as u64, SKIPPED);
    assert_eq!(app.password_hash(md5["id"].as_str().unwrap()).await, upgraded, "the import left the user as it is");
}

#[tokio::test]
async fn a_row_newer_in_the_source_updates_the_user_and_an_older_one_does_not() {
    // Arrange: the dump again, one user renamed later, one renamed "earlier".
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    import(&app, &clock, &json_source(), false).await;
    let mut entries: Vec<Value> = serde_json::from_slice(&std::fs::read(fixture_path("users.json")).unwrap()).unwrap();
    for e in entries.iter_mut() {
        if e["pk"] == user("pbkdf2_sha256")["id"] {
            e["fields"]["first_name"] = json!("Anabel");
            e["fields"]["updated_at"] = json!("2099-01-01T00:00:00Z");
        }
        if e["pk"] == user("argon2")["id"] {
            e["fields"]["first_name"] = json!("Not Cleo");
            e["fields"]["updated_at"] = json!("2001-01-01T00:00:00Z");
        }
    }
    let path = tempdir().join("users.json");
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();

    // Act
    let (summary, _) = import(&app, &clock, &authgate::DjangoSource::Json(path), false).await;
    let first_name = |login: &str, key: &str| {
        let password = user(key)["password"].as_str().unwrap().to_owned();
        let (app, login) = (&app, login.to_owned());
        async move {
            let r = app.post(LOGIN, &json!({"email_or_phone": login, "password": password})).await;
            text(&r.body["data"]["user"]["first_name"])
        }
    };

    // Assert
    assert_eq!((summary.imported, summary.updated, summary.unchanged), (0, 1, IMPORTED - 1));
    assert_eq!(first_name("ana@example.com", "pbkdf2_sha256").await, "Anabel");
    assert_eq!(first_name("cleo@example.com", "argon2").await, "Cleo");
}

#[tokio::test]
async fn a_corrupted_row_is_reported_and_skipped() {
    // Arrange: two rows of the dump broken, and an entry of another model.
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let mut entries: Vec<Value> = serde_json::from_slice(&std::fs::read(fixture_path("users.json")).unwrap()).unwrap();
    let fay = user("scrypt")["id"].clone();
    for e in entries.iter_mut() {
        if e["pk"] == user("md5")["id"] {
            e["pk"] = json!("not-a-uuid");
        }
        if e["pk"] == fay {
            e["fields"]["is_active"] = json!("perhaps");
        }
    }
    entries.push(json!({"model": "auth.group", "pk": 1, "fields": {"name": "editors"}}));
    let dir = tempdir();
    let path = dir.join("users.json");
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();

    // Act
    let (summary, skipped) = import(&app, &clock, &authgate::DjangoSource::Json(path), false).await;

    // Assert
    assert_eq!((summary.imported, summary.skipped), (IMPORTED - 2, SKIPPED + 2), "{skipped:?}");
    assert!(skipped.contains(&"skipped not-a-uuid: the id is not a UUID".to_string()), "{skipped:?}");
    assert!(skipped.iter().any(|l| l.starts_with(&format!("skipped {}: is_active", fay.as_str().unwrap()))));
    let ana = user("pbkdf2_sha256");
    assert_eq!(
        app.post(LOGIN, &json!({"email_or_phone": "ana@example.com", "password": ana["password"]})).await.status,
        200
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_same_and_writes_nothing() {
    // Arrange
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;

    // Act
    let (dry, dry_skipped) = import(&app, &clock, &database_source(), true).await;
    let ana = user("pbkdf2_sha256");
    let after_dry = app.post(LOGIN, &json!({"email_or_phone": "ana@example.com", "password": ana["password"]})).await;
    let (real, real_skipped) = import(&app, &clock, &database_source(), false).await;

    // Assert
    assert_eq!(dry, real);
    assert_eq!(dry_skipped, real_skipped);
    assert_eq!(after_dry.status, 401, "nothing was written");
}

#[tokio::test]
async fn a_dry_run_on_a_new_target_creates_nothing_there() {
    // Arrange: a target no authgate has opened (a SQLite file not made
    // yet, an empty PostgreSQL schema).
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let (target, reports) = (super::super::db::TestDatabase::fresh().await, Reports::default());
    let mut config = app.peer_config(as_the_original(&clock));
    config.database_url = target.url.clone();

    // Act
    let dry = authgate::import_django(&config, &database_source(), true, &reports).await.expect("the dry run runs");

    // Assert
    assert_eq!((dry.imported, dry.skipped), (IMPORTED, SKIPPED), "every row is checked as new");
    match &target.dir {
        Some(dir) => assert!(!dir.join("authgate.db").exists(), "no SQLite file is made"),
        None => {
            let tables = target
                .rows("SELECT CAST(count(*) AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()", &[])
                .await;
            assert_eq!(tables[0][0].as_deref(), Some("0"), "no table is made");
        }
    }
}

/// The user's hash once the sign-in's background upgrade replaced the MD5 one.
async fn upgraded_hash(app: &TestApp, id: &str) -> String {
    for _ in 0..100 {
        let hash = app.password_hash(id).await;
        if !hash.starts_with("md5$") {
            return hash;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the MD5 hash was not upgraded");
}

/// A directory of its own for a test's files.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("authgate-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_originals_postgresql_database_imports_as_its_sqlite_one() {
    if !on_postgres() {
        return; // the source is a PostgreSQL server: the api_pg run has one
    }
    // Arrange: the rows Django copied into its PostgreSQL schema.
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let original = OriginalOnPostgres::load().await;
    let source =
        authgate::DjangoSource::Database { url: original.url.clone(), table: authgate::DJANGO_USER_TABLE.into() };

    // Act
    let (summary, skipped) = import(&app, &clock, &source, false).await;
    let (again, _) = import(&app, &clock, &source, false).await;

    // Assert
    assert_eq!((summary.imported, summary.skipped, summary.tokens, summary.blacklisted), (IMPORTED, SKIPPED, 5, 1));
    assert_eq!(skipped.len() as u64, SKIPPED, "{skipped:?}");
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, IMPORTED));
    for key in ["pbkdf2_sha1", "bcrypt_sha256"] {
        let u = user(key);
        let r = app.post(LOGIN, &json!({"email_or_phone": login_id(&u), "password": u["password"]})).await;
        assert_eq!(r.status, 200, "{key}: {:?}", r.body);
    }
    original.drop().await;
}

/// A scratch database on the test server holding `original.postgres.sql`.
struct OriginalOnPostgres {
    server: String,
    name: String,
    url: String,
}

impl OriginalOnPostgres {
    async fn load() -> OriginalOnPostgres {
        use sqlx::Connection;
        let base = std::env::var("AUTHGATE_TEST_DATABASE_URL").expect("the api_pg run names a server");
        let server = base.rsplit_once('/').map(|(s, _)| s.to_owned()).unwrap();
        let name = format!("authgate_django_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("the test server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        let url = format!("{server}/{name}");
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("the scratch database");
        let sql = std::fs::read_to_string(fixture_path("original.postgres.sql")).unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("the dump loads");
        OriginalOnPostgres { server, name, url }
    }

    async fn drop(self) {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", self.server)).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
    }
}
