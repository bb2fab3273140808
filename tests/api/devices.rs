//! Contract §12: what a session shows of its device (a label from the user
//! agent, the network of its address), and the new-device alert
//! (`AUTHGATE_NEW_DEVICE_ALERTS`). Client addresses arrive through
//! `X-Forwarded-For` from the trusted 127.0.0.1; mail goes to the SMTP sink,
//! texts to the SMS sink.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::helpers::*;
use super::sinks::{SmsSink, SmtpSink};

const FIREFOX_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                             (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                              Chrome/131.0.0.0 Safari/537.36";
const CURL: &str = "curl/8.5.0";
const ALERT: &str = "new device";

fn behind_proxy(c: &mut authgate::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
}

/// Signs in `login` from `ip` with the user agent `agent` (none when
/// empty): the access token.
async fn sign_in_from(app: &TestApp, login: &str, ip: &str, agent: &str) -> String {
    let body = json!({"email_or_phone": login, "password": PASSWORD});
    let r = app
        .request(Method::POST, LOGIN)
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .json(Some(&body))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.body);
    assert_envelope(&r.body, true);
    text(&r.body["data"]["access"])
}

/// The listing's session of the access token used.
async fn current_session(app: &TestApp, access: &str) -> Value {
    let r = app.get(SESSIONS, Some(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    let sessions = r.body["data"]["sessions"].as_array().expect("a list of sessions").clone();
    sessions.into_iter().find(|s| s["current"] == json!(true)).expect("the current session is listed")
}

#[tokio::test]
async fn each_session_shows_a_device_label_from_its_user_agent() {
    // Arrange
    let app = spawn_app_with(behind_proxy).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let cases = [
        (FIREFOX_LINUX, "Firefox 133 on Linux"),
        (SAFARI_IPHONE, "Safari 17 on iPhone"),
        (CHROME_WINDOWS, "Chrome 131 on Windows 10"),
        (CURL, "curl"),
        ("", "Unknown device"),
        ("shop-app/4.2", "Unknown device"),
    ];

    for (agent, label) in cases {
        // Act
        let access = sign_in_from(&app, EMAIL, "203.0.113.9", agent).await;
        let session = current_session(&app, &access).await;

        // Assert
        assert_eq!(session["device"], json!(label), "{agent:?}: {session}");
    }
}

#[tokio::test]
async fn each_session_shows_the_network_of_its_address_as_location_hint() {
    // Arrange
    let app = spawn_app_with(behind_proxy).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let cases = [
        ("203.0.113.9", "203.0.113.0/24"),
        ("198.51.100.255", "198.51.100.0/24"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ];

    for (ip, hint) in cases {
        // Act
        let access = sign_in_from(&app, EMAIL, ip, FIREFOX_LINUX).await;
        let session = current_session(&app, &access).await;

        // Assert
        assert_eq!(session["ip"], json!(ip), "{session}");
        assert_eq!(session["location_hint"], json!(hint), "{session}");
    }
}

#[tokio::test]
async fn the_device_and_location_hint_follow_the_latest_refresh() {
    // Arrange
    let app = spawn_app_with(behind_proxy).await;
    app.register(Some(EMAIL), None, PASSWORD).await;
    let body = json!({"email_or_phone": EMAIL, "password": PASSWORD});
    let home = [("x-forwarded-for", "203.0.113.9"), ("user-agent", FIREFOX_LINUX)];
    let r = app.send_with_headers(Method::POST, LOGIN, None, Some(&body), &home).await;
    let refresh = text(&r.body["data"]["refresh"]);

    // Act
    let away = [("x-forwarded-for", "2001:db8:1:2::7"), ("user-agent", SAFARI_IPHONE)];
    let r = app.send_with_headers(Method::POST, REFRESH, None, Some(&json!({ "refresh": refresh })), &away).await;

    // Assert
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let session = current_session(&app, &text(&r.body["data"]["access"])).await;
    assert_eq!(session["device"], json!("Safari 17 on iPhone"), "{session}");
    assert_eq!(session["location_hint"], json!("2001:db8:1:2::/64"), "{session}");
}

async fn app_with_alerts() -> (TestApp, SmtpSink, SmsSink) {
    let (smtp, sms) = (SmtpSink::start().await, SmsSink::start().await);
    let (smtp_url, sms_url) = (smtp.url(), sms.url());
    let app = spawn_app_with(move |c| {
        behind_proxy(c);
        c.new_device_alerts = true;
        c.smtp_url = Some(authgate::config::Secret(smtp_url));
        c.sms_webhook_url = Some(authgate::config::Secret(sms_url));
    })
    .await;
    (app, smtp, sms)
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told_by_email_once_and_audited() {
    // Arrange
    let (app, smtp, _) = app_with_alerts().await;
    let email = unique_email();
    let user_id = text(&app.register(Some(&email), None, PASSWORD).await["user"]["id"]);
    sign_in_from(&app, &email, "203.0.113.9", FIREFOX_LINUX).await;
    sign_in_from(&app, &email, "203.0.113.77", FIREFOX_LINUX).await; // the same pair

    // Act
    sign_in_from(&app, &email, "198.51.100.7", SAFARI_IPHONE).await;
    sign_in_from(&app, &email, "198.51.100.8", SAFARI_IPHONE).await; // now known

    // Assert
    let mail = smtp.wait_for(&email, ALERT, 1).await;
    assert!(mail.contains("Safari 17 on iPhone"), "{mail}");
    assert!(mail.contains("198.51.100.0/24"), "{mail}");
    assert!(mail.contains("logout-all"), "how to sign out everywhere: {mail}");
    let time = mail.lines().find_map(|l| l.strip_prefix("Time: ")).expect("a time line");
    let time = chrono::DateTime::parse_from_rfc3339(time.trim()).expect("an RFC 3339 time");
    assert_eq!(time.offset().local_minus_utc(), 0, "UTC");
    let events: Vec<AuditRow> =
        app.audit_events("new_device").await.into_iter().filter(|e| e.user_id.as_ref() == Some(&user_id)).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].detail["device"], json!("Safari 17 on iPhone"));
    assert_eq!(events[0].detail["location_hint"], json!("198.51.100.0/24"));
    // The events above are exact; the mails are counted once a later alert
    // has arrived.
    sign_in_from(&app, &email, "192.0.2.1", CURL).await;
    smtp.wait_for(&email, ALERT, 2).await;
    assert_eq!(smtp.count(&email, "Safari 17 on iPhone"), 1, "one alert for the iPhone");
    assert_eq!(smtp.count(&email, "Firefox 133 on Linux"), 0, "none for the first sign-in's device");
}

#[tokio::test]
async fn the_first_sign_in_and_known_devices_send_no_alert() {
    // Arrange
    let (app, smtp, _) = app_with_alerts().await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;

    // Act
    sign_in_from(&app, &email, "203.0.113.9", FIREFOX_LINUX).await;
    sign_in_from(&app, &email, "203.0.113.10", FIREFOX_LINUX).await;
    sign_in_from(&app, &email, "2001:db8::1", CHROME_WINDOWS).await; // new: the marker

    // Assert
    let mail = smtp.wait_for(&email, ALERT, 1).await;
    assert!(mail.contains("Chrome 131 on Windows 10") && mail.contains("2001:db8::/64"), "{mail}");
    assert_eq!(smtp.count(&email, ALERT), 1, "only the new device was told");
}

#[tokio::test]
async fn a_phone_only_account_is_told_by_sms() {
    // Arrange
    let (app, _, sms) = app_with_alerts().await;
    let data = app.register(None, Some(PHONE), PASSWORD).await;
    assert_eq!(data["user"]["phone"], json!(PHONE));
    sign_in_from(&app, PHONE, "203.0.113.9", FIREFOX_LINUX).await;

    // Act
    sign_in_from(&app, PHONE, "198.51.100.7", CHROME_WINDOWS).await;

    // Assert
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while sms.count(PHONE, "Chrome 131 on Windows 10") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no alert reached {PHONE}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sms.count(PHONE, "198.51.100.0/24"), 1);
    assert_eq!(sms.count(PHONE, "Firefox"), 0, "none for the first sign-in");
}

#[tokio::test]
async fn without_the_setting_no_alert_is_sent() {
    // Arrange
    let smtp = SmtpSink::start().await;
    let url = smtp.url();
    let app = spawn_app_with(move |c| {
        behind_proxy(c);
        c.smtp_url = Some(authgate::config::Secret(url));
    })
    .await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    sign_in_from(&app, &email, "203.0.113.9", FIREFOX_LINUX).await;

    // Act
    sign_in_from(&app, &email, "198.51.100.7", SAFARI_IPHONE).await;
    app.post(RESET_REQUEST, &json!({"email_or_phone": email})).await; // a marker mail

    // Assert
    smtp.wait_for(&email, "reset", 1).await;
    assert_eq!(smtp.count(&email, ALERT), 0);
    assert!(app.audit_events("new_device").await.is_empty());
}
