//! `authgate import-django`, run as the built binary against the test's
//! database: reports on stderr, the summary last on stdout.

use std::process::Command;

use super::*;

#[tokio::test]
async fn the_command_reports_skipped_rows_and_ends_with_the_summary() {
    // Arrange
    let clock = fixture_clock();
    let app = spawn_original_app(&clock).await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_authgate"))
            .arg("import-django")
            .args(args)
            .env_clear()
            .env("AUTHGATE_DATABASE_URL", app.peer_config(|_| {}).database_url)
            .env("AUTHGATE_SECRET_KEY", fixture()["secret_key"].as_str().unwrap())
            .output()
            .expect("the binary runs")
    };
    let json = fixture_path("users.json").display().to_string();

    // Act
    let dry = run(&["--from-json", &json, "--dry-run"]);
    let real = run(&["--from-json", &json]);
    let again = run(&["--from-json", &json]);
    let missing = run(&["--from-json", "/nonexistent/users.json"]);

    // Assert
    let last_line = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_owned()
    };
    assert_eq!(last_line(&dry), "imported 10, updated 0, unchanged 0, skipped 2");
    assert_eq!(last_line(&real), "imported 10, updated 0, unchanged 0, skipped 2");
    assert_eq!(last_line(&again), "imported 0, updated 0, unchanged 10, skipped 2");
    let stderr = String::from_utf8_lossy(&real.stderr);
    let duplicate = user("duplicate_email")["id"].as_str().unwrap().to_owned();
    assert!(stderr.contains(&format!("skipped {duplicate}: duplicate email")), "{stderr}");
    assert!(!missing.status.success(), "an unreadable source fails the command");
}
