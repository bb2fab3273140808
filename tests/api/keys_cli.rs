//! `authgate keys rotate` and `authgate keys list` (contract §17), run as
//! the built binary against the test's database (a SQLite file, or the
//! PostgreSQL schema on `api_pg`), while a server runs on it.

use std::process::{Command, Output};
use std::time::Duration;

use authgate::crypto::signing::JwtAlgorithm;

use super::helpers::*;
use super::keys::{kid, published_kids, until_published, with};

fn authgate(app: &TestApp, alg: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .env_clear()
        .env("AUTHGATE_DATABASE_URL", app.peer_config(|_| {}).database_url)
        .env("AUTHGATE_SECRET_KEY", TEST_SECRET)
        .env("AUTHGATE_JWT_ALGORITHM", alg)
        .env("AUTHGATE_LOG_FORMAT", "text")
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `kid alg created state` per line.
fn listed(out: &Output) -> Vec<Vec<String>> {
    stdout(out).lines().map(|l| l.split(' ').map(String::from).collect()).collect()
}

#[tokio::test]
async fn keys_rotate_and_list_work_against_a_running_server() {
    // Arrange
    let app = spawn_app_with(with(JwtAlgorithm::EdDsa)).await;
    let (_, access, _) = app.signed_in(EMAIL).await;
    let first = kid(&access);

    // Act
    let before = listed(&authgate(&app, "EdDSA", &["keys", "list"]));
    let rotated = stdout(&authgate(&app, "EdDSA", &["keys", "rotate"]));
    let after = listed(&authgate(&app, "EdDSA", &["keys", "list"]));

    // Assert
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0][0], first);
    assert_eq!(before[0][1], "EdDSA");
    assert!(chrono::DateTime::parse_from_rfc3339(&before[0][2]).is_ok(), "{before:?}");
    assert_eq!(before[0][3], "active");
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!((after[0][0].as_str(), after[0][3].as_str()), (first.as_str(), "retired"));
    let new = after[1][0].clone();
    assert_eq!(after[1][3], "active");
    assert!(rotated.contains(&new), "{rotated}");
    until_published(&app, &new, Duration::from_secs(1)).await;
    assert_eq!(published_kids(&app).await.len(), 2);
    assert_eq!(kid(&app.login(EMAIL, PASSWORD).await.0), new, "the server signs with the rotated key");
}

#[tokio::test]
async fn with_hs256_the_key_commands_fail_naming_the_setting() {
    let app = spawn_app().await;
    for command in ["rotate", "list"] {
        let out = authgate(&app, "HS256", &["keys", command]);
        assert!(!out.status.success(), "keys {command} succeeded with HS256");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("AUTHGATE_JWT_ALGORITHM"), "keys {command}: {stderr}");
    }
}
