//! Issue 22 and its kin: flows that read an account, do slow work (hashing)
//! and write back, racing a sign-in's background hash upgrade or another
//! write. A re-hash of the same password must never make a flow that holds
//! the right password fail; a real concurrent change still must.
//!
//! Accounts are registered on an instance that hashes with PBKDF2 and sign
//! in on a peer (same database) that hashes with argon2, so each sign-in
//! there upgrades the hash in the background.

use std::time::Duration;

use authgate::crypto::hashers::HasherKind;
use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The PBKDF2 instance (where accounts are registered) and the argon2 peer.
async fn old_and_new_hasher(configure: impl FnOnce(&mut authgate::Config)) -> (TestApp, TestApp) {
    let old = spawn_app_with(|c| {
        c.password_hasher = HasherKind::Pbkdf2Sha256;
        configure(c);
    })
    .await;
    let new = old.spawn_peer(|_| {}).await;
    (old, new)
}

/// Registers `email` on `old` (a PBKDF2 hash): the user id.
async fn registered_on_pbkdf2(old: &TestApp, email: &str) -> String {
    let id = text(&old.register(Some(email), None, PASSWORD).await["user"]["id"]);
    assert!(old.password_hash(&id).await.starts_with("pbkdf2_sha256$"));
    id
}

/// Waits (up to 10 s) until the user's stored hash starts with `prefix`.
async fn wait_for_hash(app: &TestApp, user_id: &str, prefix: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.password_hash(user_id).await.starts_with(prefix) {
        assert!(tokio::time::Instant::now() < deadline, "the hash never became {prefix}…");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn login_status(r: &Reply) -> StatusCode {
    assert_envelope(&r.body, r.status == StatusCode::OK);
    r.status
}

async fn try_login(app: &TestApp, who: &str, password: &str) -> StatusCode {
    login_status(&app.post(LOGIN, &json!({"email_or_phone": who, "password": password})).await)
}

// ------------------------------------------------------- change password

/// The reproduction of issue 22, twenty times: the change reads the old
/// PBKDF2 hash and verifies against it (slow) while the upgrade lands.
#[tokio::test]
async fn a_password_change_right_after_a_sign_in_that_upgrades_the_hash_succeeds() {
    // Arrange
    let (old, new) = old_and_new_hasher(|_| {}).await;
    for round in 0..20 {
        let email = unique_email();
        registered_on_pbkdf2(&old, &email).await;
        let (access, _) = new.login(&email, PASSWORD).await;

        // Act
        let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
        let r = new.post_as(&access, CHANGE_PASSWORD, &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
        assert_envelope(&r.body, true);
        assert_eq!(try_login(&new, &email, NEW_PASSWORD).await, StatusCode::OK, "round {round}");
        assert_eq!(try_login(&new, &email, PASSWORD).await, StatusCode::UNAUTHORIZED, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_password_changes_exactly_one_wins_and_the_other_is_told_the_current_password_is_wrong() {
    // Arrange
    let app = spawn_app().await;
    for round in 0..5 {
        let email = unique_email();
        app.register(Some(&email), None, PASSWORD).await;
        let ((first, _), (second, _)) = (app.login(&email, PASSWORD).await, app.login(&email, PASSWORD).await);

        // Act
        let change = |access: String, to: &'static str| {
            let app = &app;
            async move {
                let body = json!({"current_password": PASSWORD, "new_password": to});
                app.post_as(&access, CHANGE_PASSWORD, &body).await
            }
        };
        let (a, b) = tokio::join!(change(first, "first new passphrase"), change(second, "second new passphrase"));

        // Assert
        let statuses = [a.status.as_u16(), b.status.as_u16()];
        let winner = match statuses {
            [200, 400 | 401] => "first new passphrase",
            [400 | 401, 200] => "second new passphrase",
            other => panic!("round {round}: {other:?}: {} {}", a.body, b.body),
        };
        for r in [&a, &b].into_iter().filter(|r| r.status == StatusCode::BAD_REQUEST) {
            assert_field_error(r, "current_password");
        }
        assert_eq!(try_login(&app, &email, winner).await, StatusCode::OK, "round {round}");
        assert_eq!(try_login(&app, &email, PASSWORD).await, StatusCode::UNAUTHORIZED, "round {round}");
    }
}

// ----------------------------------------------------------- reset link

/// Django's rule, kept: a link is bound to the hash and `last_login`, so
/// it dies at the next sign-in, whether or not that sign-in re-hashes.
#[tokio::test]
async fn a_reset_link_dies_at_the_next_sign_in_even_one_that_upgrades_the_hash() {
    // Arrange
    let (old, new) = old_and_new_hasher(|_| {}).await;
    let email = unique_email();
    let id = registered_on_pbkdf2(&old, &email).await;
    let link = reset_link(&old, &email, 1).await;
    new.login(&email, PASSWORD).await;
    wait_for_hash(&old, &id, "argon2$").await;

    // Act
    let r = confirm_link(&old, &link).await;

    // Assert
    assert_field_error(&r, "token");
    assert_eq!(try_login(&new, &email, PASSWORD).await, StatusCode::OK, "the password is unchanged");
}

/// A confirm racing a sign-in and its upgrade: whichever comes first, the
/// answer and the stored password agree, and the upgrade never undoes a
/// reset (checked once every round is over, so any upgrade has landed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_confirm_racing_a_sign_in_that_upgrades_the_hash_answers_as_the_password_ends() {
    // Arrange
    let (old, new) = old_and_new_hasher(|_| {}).await;
    let mut outcomes = Vec::new();
    for round in 0..10 {
        let email = unique_email();
        registered_on_pbkdf2(&old, &email).await;
        let link = reset_link(&old, &email, 1).await;

        // Act
        let (confirmed, signed_in) = tokio::join!(confirm_link(&old, &link), async {
            new.post(LOGIN, &json!({"email_or_phone": email, "password": PASSWORD})).await
        });

        // Assert
        let (now_valid, now_invalid) = if confirmed.status == StatusCode::OK {
            (NEW_PASSWORD, PASSWORD)
        } else {
            assert_field_error(&confirmed, "token");
            assert_eq!(signed_in.status, StatusCode::OK, "round {round}: refused, so the sign-in came first");
            (PASSWORD, NEW_PASSWORD)
        };
        outcomes.push((email, now_valid, now_invalid));
    }
    let rounds = outcomes.len();
    for (round, (email, valid, invalid)) in outcomes.iter().enumerate() {
        assert_eq!(try_login(&new, email, valid).await, StatusCode::OK, "round {round} of {rounds}");
        assert_eq!(try_login(&new, email, invalid).await, StatusCode::UNAUTHORIZED, "round {round}");
    }
}

/// Asks `app` for a reset of `email` and reads the `n`-th link sent to it.
async fn reset_link(app: &TestApp, email: &str, n: usize) -> (String, String) {
    let r = app.post(RESET_REQUEST, &json!({ "email_or_phone": email })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = wait_for_messages(email, n + 1).await.into_iter().filter(|m| m.body.contains("uid=")).nth(n - 1);
    let body = body.unwrap_or_else(|| panic!("no reset link #{n} for {email}")).body;
    let param = |name: &str| {
        let start = body.find(&format!("{name}=")).expect("the parameter") + name.len() + 1;
        body[start..].split(|c: char| c == '&' || c.is_whitespace()).next().expect("a value").to_string()
    };
    (param("uid"), param("token"))
}

async fn confirm_link(app: &TestApp, (uid, token): &(String, String)) -> Reply {
    app.post(RESET_CONFIRM, &json!({"uidb64": uid, "token": token, "new_password": NEW_PASSWORD})).await
}

// ----------------------------------------------------------- reset code

/// The code is the credential, consumed in the write: a re-hash of the old
/// password between the code's check and the write changes nothing.
#[tokio::test]
async fn a_reset_code_confirmed_right_after_a_sign_in_that_upgrades_the_hash_succeeds() {
    // Arrange
    let (old, new) = old_and_new_hasher(|_| {}).await;
    for round in 0..10 {
        let phone = format!("+1415555{}", 2600 + round);
        let id = text(&old.register(None, Some(&phone), PASSWORD).await["user"]["id"]);
        let r = old.post(RESET_REQUEST, &json!({ "email_or_phone": phone })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let code = code_sent_to(&phone, 2).await; // after the registration's
        new.login(&phone, PASSWORD).await;

        // Act
        let body = json!({"email_or_phone": phone, "otp": code, "new_password": NEW_PASSWORD});
        let r = old.post(RESET_CONFIRM, &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
        assert!(old.password_hash(&id).await.starts_with("pbkdf2_sha256$"), "round {round}: the reset's hash");
        assert_eq!(try_login(&old, &phone, NEW_PASSWORD).await, StatusCode::OK, "round {round}");
        assert_eq!(try_login(&old, &phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "round {round}");
    }
}

// ---------------------------------------------------------------- admin

#[tokio::test]
async fn an_admin_change_racing_a_sign_in_that_upgrades_the_hash_keeps_both() {
    // Arrange
    let (old, new) = old_and_new_hasher(|_| {}).await;
    let (admin_id, _, _) = new.signed_in("root@example.com").await;
    new.make_role(&admin_id, "admin").await;
    let (admin, _) = new.login("root@example.com", PASSWORD).await;
    for round in 0..5 {
        let email = unique_email();
        let id = registered_on_pbkdf2(&old, &email).await;
        new.login(&email, PASSWORD).await;

        // Act
        let body = json!({"first_name": "Renamed", "is_verified": true});
        let r = new.patch(&format!("{ADMIN_USERS}{id}/"), Some(&admin), &body).await;

        // Assert
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
        wait_for_hash(&new, &id, "argon2$").await;
        let user = &new.get(&format!("{ADMIN_USERS}{id}/"), Some(&admin)).await.body["data"]["user"];
        assert_eq!((&user["first_name"], &user["is_verified"]), (&json!("Renamed"), &json!(true)), "round {round}");
        assert_eq!(try_login(&new, &email, PASSWORD).await, StatusCode::OK, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_restores_of_a_deleted_user_one_restores_and_one_is_told_it_is_not_deleted() {
    // Arrange
    let app = spawn_app().await;
    let (admin_id, _, _) = app.signed_in("root@example.com").await;
    app.make_role(&admin_id, "admin").await;
    let (admin, _) = app.login("root@example.com", PASSWORD).await;
    for round in 0..5 {
        let id = text(&app.register(Some(&unique_email()), None, PASSWORD).await["user"]["id"]);
        let deleted = app.delete(&format!("{ADMIN_USERS}{id}/"), Some(&admin)).await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        let restore = format!("{ADMIN_USERS}{id}/restore/");

        // Act
        let empty = json!({});
        let (a, b) = tokio::join!(app.post_as(&admin, &restore, &empty), app.post_as(&admin, &restore, &empty));

        // Assert
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {} {}", a.body, b.body);
        let restored = app.audit_events("admin_user_restore").await;
        assert_eq!(restored.iter().filter(|e| e.user_id.as_deref() == Some(&id)).count(), 1, "round {round}");
    }
}

// -------------------------------------------------------------- shutdown

/// The upgrade runs after the answer; shutdown waits for it (within
/// `AUTHGATE_SHUTDOWN_TIMEOUT`) before it closes the database.
#[tokio::test]
async fn a_hash_upgrade_started_before_shutdown_is_finished_when_serve_returns() {
    // Arrange
    let old = spawn_app_with(|c| c.password_hasher = HasherKind::Pbkdf2Sha256).await;
    let email = unique_email();
    let id = registered_on_pbkdf2(&old, &email).await;
    let new = old.spawn_stoppable_peer(|_| {}).await;

    // Act: stop as soon as the sign-in is answered, its upgrade under way.
    new.app.login(&email, PASSWORD).await;
    new.stop.send(()).expect("the server is running");
    let served = tokio::time::timeout(Duration::from_secs(30), new.served).await.expect("serve returns");

    // Assert
    served.expect("the serving task").expect("serve ends cleanly");
    assert!(old.password_hash(&id).await.starts_with("argon2$"), "the upgrade was cut off by the shutdown");
}

// ------------------------------------------------- sign-in against change

/// Sign-ins with the old password racing a password change: whichever
/// order they take, once the change has answered, no session opened with
/// the old password is live (one that verified the old hash before the
/// change and opened after it would be, without the store's check that the
/// account is still as the sign-in read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_sign_in_with_the_old_password_outlives_a_password_change_it_raced() {
    // Arrange
    let app = spawn_app().await;
    for round in 0..5 {
        let email = unique_email();
        let (_, access, _) = app.signed_in(&email).await;
        let sign_in = || {
            let (app, email) = (&app, email.clone());
            async move { app.post(LOGIN, &json!({"email_or_phone": email, "password": PASSWORD})).await }
        };
        let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});

        // Act
        let (change, a, b, c, d) =
            tokio::join!(app.post_as(&access, CHANGE_PASSWORD, &body), sign_in(), sign_in(), sign_in(), sign_in());

        // Assert
        assert_eq!(change.status, StatusCode::OK, "round {round}: {}", change.body);
        for r in [a, b, c, d].iter().filter(|r| login_status(r) == StatusCode::OK) {
            let old = text(&r.body["data"]["access"]);
            refused_within_a_second(&app, &old).await;
        }
    }
}

/// Revocation reaches the Bearer check within 1 s (contract §12).
async fn refused_within_a_second(app: &TestApp, access: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while app.get(ME, Some(access)).await.status != StatusCode::UNAUTHORIZED {
        assert!(tokio::time::Instant::now() < deadline, "a session opened with the old password is live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
