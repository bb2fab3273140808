//! §19 in a real browser: Debian's chromium, headless, driven over
//! WebDriver (chromium-driver; `.ci/run` installs both) against a real
//! server. Staff sign in and find no change buttons, and a change they post
//! is refused; an admin signs in, finds a user, deactivates them, sees the
//! audit event arrive in the overview's live tail without a reload, and
//! exports the audit trail as CSV. Each page is saved as a screenshot under
//! `target/dashboard-screenshots/` (the README shows copies from
//! `docs/dashboard/`), at desktop width and at 375 px.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use super::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromium-driver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "the browser test needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Owned at once, so it is stopped (and waited for) however this ends.
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..100 {
            if client.get(format!("{}/status", driver.url)).send().await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    async fn browser(&self) -> WebDriver {
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in
            ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]
        {
            caps.add_arg(arg).unwrap();
        }
        WebDriver::new(&self.url, caps).await.expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = PathBuf::from(target).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

async fn shoot(browser: &WebDriver, name: &str) {
    browser.screenshot(&screenshots().join(format!("{name}.png"))).await.expect("a screenshot");
}

async fn sign_in(browser: &WebDriver, app: &TestApp, email: &str) {
    browser.goto(app.url(SIGN_IN)).await.unwrap();
    browser.find(By::Id("login")).await.unwrap().send_keys(email).await.unwrap();
    browser.find(By::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(By::Css("#signin-form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(browser, "the overview", "return document.querySelector('#tail') !== null").await;
}

/// Polls `script` (a JavaScript function body that returns) until it
/// returns true.
async fn wait_for(browser: &WebDriver, what: &str, script: &str) {
    wait_for_with(browser, what, script, vec![]).await;
}

async fn wait_for_with(browser: &WebDriver, what: &str, script: &str, args: Vec<Value>) {
    for _ in 0..200 {
        if browser.execute(script, args.clone()).await.unwrap().json() == &json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 20 s; page: {}", browser.source().await.unwrap_or_default());
}

async fn text_of(browser: &WebDriver, css: &str) -> String {
    browser.find(By::Css(css)).await.unwrap().text().await.unwrap()
}

/// Every visible control has a label (or an accessible name).
async fn assert_labelled(browser: &WebDriver, page: &str) {
    let unlabelled = browser
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
               .map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unlabelled.json(), &json!([]), "{page}: controls without a label");
}

/// The page fits the window's width (no sideways scrolling of the page;
/// wide tables scroll inside their own box).
async fn assert_fits(browser: &WebDriver, page: &str) {
    let widths = browser
        .execute(
            "const w = document.documentElement.clientWidth;
             const wide = Array.from(document.querySelectorAll('body *'))
               .filter(e => e.getBoundingClientRect().right > w + 0.5 && !e.closest('.scroll'))
               .map(e => e.tagName + '#' + e.id + '.' + e.className);
             return [document.documentElement.scrollWidth, w, window.innerWidth, wide];",
            vec![],
        )
        .await
        .unwrap()
        .json()
        .clone();
    assert!(widths[2].as_i64() <= Some(400), "{page}: the window is not narrow: {widths}");
    assert!(widths[0].as_i64() <= widths[1].as_i64(), "{page} overflows at 375 px: {widths}");
}

#[tokio::test]
async fn staff_read_and_an_admin_deactivates_a_user_sees_it_live_and_exports_csv() {
    let app = spawn_app().await;
    let (_, staff) = account(&app, "staff").await;
    let (_, admin) = account(&app, "admin").await;
    let (target, target_email) = account(&app, "client").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // Staff: the pages, no change buttons, and a change refused.
    sign_in(&browser, &app, &staff).await;
    browser.goto(app.url(&format!("/dashboard/users/{target}/"))).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains(&target_email));
    assert!(browser.find_all(By::Css("#deactivate, #delete, #change-role, #mfa-reset")).await.unwrap().is_empty());
    browser
        .execute(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
             const i = document.createElement('input'); i.type = 'hidden'; i.name = 'csrf_token';
             i.value = document.querySelector('input[name=csrf_token]').value; f.appendChild(i);
             document.body.appendChild(f); f.submit();",
            vec![json!(format!("/dashboard/users/{target}/deactivate/"))],
        )
        .await
        .unwrap();
    wait_for(&browser, "the refusal", "return document.body.innerText.includes('Only admins')").await;
    shoot(&browser, "staff-refused").await;
    assert_eq!(api_user(&app, &target).await["is_active"], true);
    browser.goto(app.url(DASHBOARD)).await.unwrap();
    browser.find(By::Css(".signout button")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "signed out", "return document.querySelector('#signin-form') !== null").await;
    shoot(&browser, "sign-in").await;
    assert_labelled(&browser, "sign-in").await;

    // Admin: the overview, its live tail connected.
    sign_in(&browser, &app, &admin).await;
    wait_for(&browser, "the live tail", "return document.querySelector('#tail-status').textContent === 'Live'").await;
    browser.execute("window.notReloaded = true;", vec![]).await.unwrap();
    let overview = browser.window().await.unwrap();
    assert_labelled(&browser, "overview").await;

    // In another tab: find the user and deactivate them.
    let tab = browser.new_tab().await.unwrap();
    browser.switch_to_window(tab).await.unwrap();
    browser.goto(app.url("/dashboard/users/")).await.unwrap();
    let needle = &target_email[..target_email.find('@').unwrap()];
    browser.find(By::Id("q")).await.unwrap().send_keys(needle).await.unwrap();
    browser.find(By::Css("form.filters button")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the search", "return location.search.includes('q=')").await;
    assert_labelled(&browser, "users").await;
    shoot(&browser, "users").await;
    browser.find(By::LinkText(&target_email)).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the user's page", "return document.querySelector('#deactivate') !== null").await;
    assert_labelled(&browser, "user").await;
    shoot(&browser, "user").await;
    browser.find(By::Id("deactivate")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the notice", "return document.querySelector('#notice') !== null").await;
    assert_eq!(text_of(&browser, "#user-state").await, "inactive");
    assert_eq!(api_user(&app, &target).await["is_active"], false);

    // Back on the overview: the event arrived without a reload.
    browser.switch_to_window(overview).await.unwrap();
    wait_for_with(
        &browser,
        "the deactivation in the live tail",
        "return Array.from(document.querySelectorAll('#tail tbody tr'))
           .some(r => r.textContent.includes('admin_user_update') && r.textContent.includes(arguments[0]))",
        vec![json!(target)],
    )
    .await;
    assert_eq!(browser.execute("return window.notReloaded === true;", vec![]).await.unwrap().json(), &json!(true));
    shoot(&browser, "overview").await;

    // The audit page, and its CSV export (fetched as the link would be).
    browser.goto(app.url("/dashboard/audit/?action=admin_user_update")).await.unwrap();
    assert_labelled(&browser, "audit").await;
    shoot(&browser, "audit").await;
    let href = browser.find(By::Id("export-csv")).await.unwrap().attr("href").await.unwrap().expect("a link");
    let csv = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.text().then(t => done([r.status, r.headers.get('content-type'), t])));",
            vec![json!(href)],
        )
        .await
        .unwrap()
        .json()
        .clone();
    assert_eq!(csv[0], 200);
    assert!(csv[1].as_str().unwrap().starts_with("text/csv"));
    let body = csv[2].as_str().unwrap();
    assert!(body.starts_with("id,at,action,outcome,user_id,actor_id,ip,user_agent,detail\r\n"), "{body}");
    assert!(body.lines().any(|l| l.contains("admin_user_update") && l.contains(&target)), "{body}");

    // Readable at 375 px wide.
    browser.set_window_rect(0, 0, 375, 812).await.unwrap();
    for (path, name) in [(DASHBOARD.to_string(), "overview-375"), (format!("/dashboard/users/{target}/"), "user-375")] {
        browser.goto(app.url(&path)).await.unwrap();
        assert_fits(&browser, name).await;
        shoot(&browser, name).await;
    }
    // Keyboard: the first Tab reaches the skip link.
    browser.execute("document.activeElement && document.activeElement.blur();", vec![]).await.unwrap();
    browser.action_chain().send_keys(Key::Tab).perform().await.unwrap();
    let focused: Value =
        browser.execute("return document.activeElement.className;", vec![]).await.unwrap().json().clone();
    assert_eq!(focused, json!("skip"));
    browser.quit().await.unwrap();
}

/// §20 on the sign-in page: with a challenge required, the page fetches one
/// and solves it before sending the password, with WebCrypto and, where a
/// page has none (plain HTTP off localhost), with its own SHA-256.
#[tokio::test]
async fn the_sign_in_page_solves_the_proof_of_work_when_one_is_required() {
    let app = spawn_app().await;
    let (_, staff) = account(&app, "staff").await;
    let challenged = app
        .spawn_peer(|c| {
            c.defence.challenge = authgate::config::ChallengeMode::Always;
            c.defence.challenge_maxnumber = 3000;
        })
        .await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    sign_in(&browser, &challenged, &staff).await;
    browser.find(By::Css(".signout button")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "signed out", "return document.querySelector('#signin-form') !== null").await;

    // Again on a page without WebCrypto.
    browser.goto(challenged.url(SIGN_IN)).await.unwrap();
    browser.execute("Object.defineProperty(window.crypto, 'subtle', { value: undefined });", vec![]).await.unwrap();
    let hidden: Value =
        browser.execute("return window.crypto.subtle === undefined;", vec![]).await.unwrap().json().clone();
    assert_eq!(hidden, json!(true), "WebCrypto is hidden from the page");
    browser.find(By::Id("login")).await.unwrap().send_keys(&staff).await.unwrap();
    browser.find(By::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(By::Css("#signin-form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(&browser, "the overview", "return document.querySelector('#tail') !== null").await;
    browser.quit().await.unwrap();
}
