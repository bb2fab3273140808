//! Contract §15.2 `AUTHGATE_MFA_REQUIRED_ROLES` and §15.4: roles that must
//! enrol, and the admin's view and reset of a user's second factors.

use authgate::domain::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::helpers::*;
use super::mfa::{Enrolling, MFA, TOTP_SETUP};

const REQUIRED: &str = "Two-factor authentication is required for your role.";

#[tokio::test]
async fn a_role_that_must_enrol_reaches_only_me_sign_out_and_enrolment_until_it_has() {
    let t = Enrolling::start_with(|c| c.mfa_required_roles = vec![Role::Staff]).await;
    t.app.make_role(&t.user_id, "staff").await;
    let held = t.app.get(SESSIONS, Some(&t.access)).await;
    assert_eq!(held.status, StatusCode::FORBIDDEN, "{}", held.body);
    assert_eq!(held.message(), REQUIRED);
    assert_eq!(t.app.get(ADMIN_USERS, Some(&t.access)).await.status, StatusCode::FORBIDDEN);
    let change = json!({"current_password": PASSWORD, "new_password": "another long passphrase 7"});
    assert_eq!(t.app.post_as(&t.access, CHANGE_PASSWORD, &change).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.app.get(ME, Some(&t.access)).await.status, StatusCode::OK);
    assert_eq!(t.app.get(MFA, Some(&t.access)).await.status, StatusCode::OK);

    let (secret, _) = t.enrol().await;
    assert_eq!(t.app.get(SESSIONS, Some(&t.access)).await.status, StatusCode::OK);
    assert_eq!(t.app.get(ADMIN_USERS, Some(&t.access)).await.status, StatusCode::OK);
    // Signing in again takes the factor, and the session passes.
    let token = t.first_step().await;
    let r = t.verify(&token, json!({"code": t.next_code(&secret)})).await;
    let access = text(&r.body["data"]["access"]);
    assert_eq!(t.app.get(SESSIONS, Some(&access)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn other_roles_are_not_held() {
    let t = Enrolling::start_with(|c| c.mfa_required_roles = vec![Role::Staff, Role::Admin]).await;
    assert_eq!(t.app.get(SESSIONS, Some(&t.access)).await.status, StatusCode::OK);
}

/// An admin signed in on the same server as `t`.
async fn admin_of(t: &Enrolling) -> String {
    let email = unique_email();
    let (id, _, _) = t.app.signed_in(&email).await;
    t.app.make_role(&id, "admin").await;
    t.app.login(&email, PASSWORD).await.0
}

#[tokio::test]
async fn the_admin_user_object_shows_the_second_factors() {
    let t = Enrolling::start().await;
    let admin = admin_of(&t).await;
    let path = format!("{ADMIN_USERS}{}/", t.user_id);
    assert_eq!(t.app.get(&path, Some(&admin)).await.body["data"]["user"]["mfa"], json!({"totp": false, "passkeys": 0}));
    t.enrol().await;
    assert_eq!(t.app.get(&path, Some(&admin)).await.body["data"]["user"]["mfa"], json!({"totp": true, "passkeys": 0}));
    let list = t.app.get(&format!("{ADMIN_USERS}?q={}", t.email), Some(&admin)).await;
    assert_eq!(list.body["data"]["users"][0]["mfa"], json!({"totp": true, "passkeys": 0}), "{}", list.body);
}

#[tokio::test]
async fn an_admin_mfa_reset_removes_the_factors_and_ends_every_session() {
    let t = Enrolling::start().await;
    t.enrol().await;
    let admin = admin_of(&t).await;
    let reset = format!("{ADMIN_USERS}{}/mfa/reset/", t.user_id);

    // Not for a user of any other role.
    let (_, client, _) = t.app.signed_in(&unique_email()).await;
    assert_eq!(t.app.post_as(&client, &reset, &json!({})).await.status, StatusCode::FORBIDDEN);

    let r = t.app.post_as(&admin, &reset, &json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["user"]["mfa"], json!({"totp": false, "passkeys": 0}));
    assert_unauthorized(&t.app.get(ME, Some(&t.access)).await, "a session ended by the reset");
    t.app.login(&t.email, PASSWORD).await; // one step again
    let events = t.app.audit_events("mfa_reset").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(t.user_id.as_str()));

    let unknown = format!("{ADMIN_USERS}00000000-0000-7000-8000-000000000000/mfa/reset/");
    assert_eq!(t.app.post_as(&admin, &unknown, &json!({})).await.status, StatusCode::NOT_FOUND);
    let malformed = format!("{ADMIN_USERS}nope/mfa/reset/");
    assert_eq!(t.app.post_as(&admin, &malformed, &json!({})).await.status, StatusCode::NOT_FOUND);
    // Anyone may enrol again afterwards.
    assert_eq!(
        t.app.post_as(&t.app.login(&t.email, PASSWORD).await.0, TOTP_SETUP, &json!({})).await.status,
        StatusCode::OK
    );
}
