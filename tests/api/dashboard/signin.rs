//! §19: signing in to the dashboard (CSRF on the sign-in form too, the
//! second factor, the roles that may enter), the cookie, and the headers
//! of its pages.

use reqwest::StatusCode;
use reqwest::header::CONTENT_SECURITY_POLICY;

use super::super::mfa::Enrolling;
use super::*;

#[tokio::test]
async fn anonymous_requests_are_sent_to_the_sign_in_page() {
    let app = spawn_app().await;
    let mut anonymous = Visitor::new(&app);
    let (user, _) = account(&app, "client").await;
    for path in [
        "/dashboard/",
        "/dashboard",
        "/dashboard/users/",
        &format!("/dashboard/users/{user}/"),
        "/dashboard/audit/",
        "/dashboard/audit/export.csv",
        "/dashboard/audit/export.jsonl",
        "/dashboard/events/",
    ] {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::FOUND, "{path}");
        assert_eq!(page.location(), SIGN_IN, "{path}");
    }
    let page = anonymous.post(&format!("/dashboard/users/{user}/deactivate/"), &[("csrf_token", "x")]).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(page.location(), SIGN_IN);
    assert_eq!(api_user(&app, &user).await["is_active"], true);
    // A forged cookie is no session either.
    anonymous.cookies.insert("authgate_dashboard".into(), format!("{user}.x.9999999999.forged"));
    assert_eq!(anonymous.get(DASHBOARD).await.location(), SIGN_IN);
}

#[tokio::test]
async fn the_sign_in_form_refuses_a_post_without_its_csrf_token() {
    let app = spawn_app().await;
    let (_, email) = account(&app, "admin").await;
    let mut visitor = Visitor::new(&app);
    // No form fetched: no cookie, no token.
    let page = visitor.post(SIGN_IN, &[("login", &email), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("nothing was changed"), "{}", page.body);
    // The form's cookie but another token.
    let form = visitor.get(SIGN_IN).await;
    assert!(!form.csrf().is_empty());
    let page = visitor.post(SIGN_IN, &[("csrf_token", "forged"), ("login", &email), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!visitor.cookies.contains_key("authgate_dashboard"));
    assert!(app.audit_events("login").await.is_empty(), "nothing was signed in");
    // The right token signs in.
    let page = visitor.sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(app.audit_events("login").await.len(), 1);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_not_secure_over_plain_http_in_development() {
    let app = spawn_app().await;
    let (_, email) = account(&app, "staff").await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.sign_in(&email, PASSWORD).await;
    let cookie = page.set_cookies().into_iter().find(|c| c.starts_with("authgate_dashboard=")).expect("a session");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP in development: {cookie}");
    assert_eq!(visitor.get(DASHBOARD).await.status, StatusCode::OK);

    // Production (or an https public URL): Secure.
    let https = spawn_app_with(|c| {
        c.webauthn.origins = vec!["https://auth.example.com".into()];
        c.webauthn.rp_id = "auth.example.com".into();
    })
    .await;
    let (_, email) = account(&https, "staff").await;
    let page = Visitor::new(&https).sign_in(&email, PASSWORD).await;
    let cookie = page.set_cookies().into_iter().find(|c| c.starts_with("authgate_dashboard=")).expect("a session");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn wrong_credentials_show_the_form_again_with_the_message() {
    let app = spawn_app().await;
    let (_, email) = account(&app, "admin").await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.sign_in(&email, "not the password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Invalid credentials."), "{}", page.body);
    assert!(page.body.contains("name=\"csrf_token\""));
    assert_eq!(app.audit_events("login_failed").await.len(), 1);
}

#[tokio::test]
async fn clients_and_vendors_get_a_403_page_and_no_session() {
    let app = spawn_app().await;
    for role in ["client", "vendor"] {
        let (id, email) = account(&app, role).await;
        let mut visitor = Visitor::new(&app);
        let page = visitor.sign_in(&email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{role}");
        assert!(page.body.contains("for staff and admins"), "{}", page.body);
        assert!(!visitor.cookies.contains_key("authgate_dashboard"));
        let sessions =
            app.query_rows("SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL", &[&id]).await;
        assert!(sessions.is_empty(), "the session opened by the sign-in is closed again");
    }
    // A staff member demoted (through the admin API) while signed in: 403
    // from the next page on.
    let (mut staff, id) = signed_in_as(&app, "staff").await;
    assert_eq!(staff.get(DASHBOARD).await.status, StatusCode::OK);
    let (_, admin) = account(&app, "admin").await;
    let (access, _) = app.login(&admin, PASSWORD).await;
    let r = app.patch(&format!("{ADMIN_USERS}{id}/"), Some(&access), &serde_json::json!({"role": "client"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = staff.get(DASHBOARD).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
}

#[tokio::test]
async fn every_page_has_a_strict_csp_and_no_inline_script_or_style() {
    let app = spawn_app().await;
    let (mut admin, id) = signed_in_as(&app, "admin").await;
    for path in [
        SIGN_IN.to_string(),
        DASHBOARD.into(),
        "/dashboard/users/".into(),
        format!("/dashboard/users/{id}/"),
        "/dashboard/audit/".into(),
    ] {
        let page = if path == SIGN_IN { Visitor::new(&app).get(&path).await } else { admin.get(&path).await };
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let csp = page.headers.get(CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(!page.body.contains("<script>") && !page.body.contains("style="), "{path}");
        assert!(!page.body.contains("<style"), "{path}");
        assert!(page.body.contains("<script src=\"/dashboard/assets/dashboard.js\" defer></script>"));
    }
    let js = admin.get("/dashboard/assets/dashboard.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.body.contains("EventSource"));
    let css = Visitor::new(&app).get("/dashboard/assets/dashboard.css").await;
    assert_eq!(css.status, StatusCode::OK, "assets need no session");
    assert!(css.body.contains("@media"), "responsive rules");
}

#[tokio::test]
async fn an_account_with_totp_signs_in_with_its_code_and_a_wrong_code_is_refused() {
    let account = Enrolling::start().await;
    let (secret, recovery) = account.enrol().await;
    account.app.make_role(&account.user_id, "admin").await;
    let mut visitor = Visitor::new(&account.app);
    let page = visitor.sign_in(&account.email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let token = hidden(&page.body, "mfa_token").expect("the second step");
    assert!(page.body.contains("authenticator app"));
    assert!(!visitor.cookies.contains_key("authgate_dashboard"), "no session before the second factor");

    let csrf = page.csrf();
    let wrong = visitor.post(SIGN_IN, &[("csrf_token", &csrf), ("mfa_token", &token), ("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(wrong.body.contains("Invalid or expired code."));
    let code = account.next_code(&secret);
    let right = visitor.post(SIGN_IN, &[("csrf_token", &csrf), ("mfa_token", &token), ("code", &code)]).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.body);
    assert_eq!(visitor.get(DASHBOARD).await.status, StatusCode::OK);

    // A recovery code answers too.
    let mut other = Visitor::new(&account.app);
    let page = other.sign_in(&account.email, PASSWORD).await;
    let (csrf, token) = (page.csrf(), hidden(&page.body, "mfa_token").unwrap());
    let right = other.post(SIGN_IN, &[("csrf_token", &csrf), ("mfa_token", &token), ("code", &recovery[0])]).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.body);
    assert_eq!(account.app.audit_events("recovery_code_used").await.len(), 1);
}

#[tokio::test]
async fn signing_out_revokes_the_session_and_needs_the_csrf_token() {
    let app = spawn_app().await;
    let (mut visitor, _) = signed_in_as(&app, "staff").await;
    let home = visitor.get(DASHBOARD).await;
    let stale = visitor.cookies.clone();
    let page = visitor.post("/dashboard/logout/", &[("csrf_token", "forged")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(visitor.get(DASHBOARD).await.status, StatusCode::OK, "still signed in");
    let page = visitor.post("/dashboard/logout/", &[("csrf_token", &home.csrf())]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), SIGN_IN);
    assert_eq!(app.audit_events("session_revoke").await.len(), 1);
    // The old cookie, replayed, names a revoked session.
    visitor.cookies = stale;
    assert_eq!(visitor.get(DASHBOARD).await.location(), SIGN_IN);
}
