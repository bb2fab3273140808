//! §20: breached passwords, refused at register, change and reset. The
//! range API is a fake run here that records what it is asked; the file
//! mode searches a generated file of a million hashes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use authgate::config::BreachedPasswords;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use reqwest::StatusCode;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::super::helpers::*;

const BREACHED: &str = "This password has appeared in a data breach and cannot be used.";
/// Passes the local policy; the fake range API lists it.
const LISTED: &str = "purple monkey dishwasher";
/// Passes the local policy; listed nowhere.
const UNLISTED: &str = "quiet lantern over the harbour";
/// Its suffix is in the range API's answer, as padding (count 0).
const PADDING: &str = "seven tall ships at anchor";

/// The SHA-1 of `password`, upper-case hex, as the Pwned Passwords data.
fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

// ------------------------------------------------------------ the range API

/// One request the fake range API got.
#[derive(Debug, Clone)]
struct Asked {
    uri: String,
    add_padding: Option<String>,
}

#[derive(Clone, Default)]
struct Fake {
    /// Full hashes and their counts; a count of 0 is a padding line.
    entries: Arc<Mutex<Vec<(String, u64)>>>,
    asked: Arc<Mutex<Vec<Asked>>>,
}

/// An HTTP server shaped like `api.pwnedpasswords.com/range/{prefix}`;
/// `/broken/{prefix}` answers 503.
struct RangeApi {
    addr: SocketAddr,
    fake: Fake,
}

impl RangeApi {
    async fn start(entries: &[(&str, u64)]) -> RangeApi {
        let fake = Fake::default();
        for (password, count) in entries {
            fake.entries.lock().unwrap().push((sha1_hex(password), *count));
        }
        let app = axum::Router::new()
            .route("/range/{prefix}", axum::routing::get(range))
            .route("/broken/{prefix}", axum::routing::get(broken))
            .with_state(fake.clone());
        RangeApi { addr: super::super::sinks::serve(app).await, fake }
    }

    fn url(&self) -> String {
        format!("http://{}/range/", self.addr)
    }

    /// Lists `password` from now on.
    fn list(&self, password: &str) {
        self.fake.entries.lock().unwrap().push((sha1_hex(password), 1));
    }

    fn asked(&self) -> Vec<Asked> {
        self.fake.asked.lock().unwrap().clone()
    }
}

/// The suffixes under `prefix`, each `SUFFIX:COUNT` and CRLF as the real
/// API answers, after a few padding lines of made-up suffixes.
async fn range(State(fake): State<Fake>, Path(prefix): Path<String>, uri: Uri, headers: HeaderMap) -> String {
    let add_padding = headers.get("add-padding").and_then(|v| v.to_str().ok()).map(str::to_owned);
    fake.asked.lock().unwrap().push(Asked { uri: uri.to_string(), add_padding });
    let mut body: String = (0..3).map(|i| format!("{}:0\r\n", format!("{i}").repeat(35))).collect();
    for (hash, count) in fake.entries.lock().unwrap().iter() {
        if let Some(suffix) = hash.strip_prefix(&prefix) {
            body.push_str(&format!("{suffix}:{count}\r\n"));
        }
    }
    body
}

async fn broken(State(fake): State<Fake>, uri: Uri) -> AxumStatus {
    fake.asked.lock().unwrap().push(Asked { uri: uri.to_string(), add_padding: None });
    AxumStatus::SERVICE_UNAVAILABLE
}

async fn app_asking(url: String) -> TestApp {
    spawn_app_with(move |c| {
        c.defence.breached_passwords = BreachedPasswords::Hibp;
        c.defence.hibp_url = url;
    })
    .await
}

async fn register_with(app: &TestApp, password: &str) -> Reply {
    app.post(REGISTER, &json!({"email": unique_email(), "password": password, "first_name": "Ana"})).await
}

/// A 400 whose only message on `field` is the breach's.
fn assert_breached(r: &Reply, field: &str) {
    assert_field_error(r, field);
    assert_eq!(r.body["errors"][field], json!([BREACHED]), "{}", r.body);
}

fn assert_created(r: &Reply) {
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn register_refuses_a_listed_password_and_accepts_an_unlisted_one() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let app = app_asking(api.url()).await;

    assert_breached(&register_with(&app, LISTED).await, "password");
    assert_created(&register_with(&app, UNLISTED).await);
}

#[tokio::test]
async fn only_the_five_digit_prefix_leaves_with_padding_asked_for() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let app = app_asking(api.url()).await;

    register_with(&app, LISTED).await;

    let hash = sha1_hex(LISTED);
    let asked = api.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].uri, format!("/range/{}", &hash[..5]));
    assert!(!asked[0].uri.contains(&hash[5..]), "the suffix left: {asked:?}");
    assert!(!asked[0].uri.to_lowercase().contains("monkey"), "the password left: {asked:?}");
    assert_eq!(asked[0].add_padding.as_deref(), Some("true"));
}

#[tokio::test]
async fn a_padding_entry_does_not_match() {
    let api = RangeApi::start(&[(PADDING, 0), (LISTED, 3)]).await;
    let app = app_asking(api.url()).await;

    assert_created(&register_with(&app, PADDING).await);
    assert_eq!(api.asked().len(), 1, "the range API was asked");
}

#[tokio::test]
async fn a_password_the_policy_refuses_is_not_looked_up() {
    let api = RangeApi::start(&[]).await;
    let app = app_asking(api.url()).await;

    let r = register_with(&app, "short1").await;

    assert_field_error(&r, "password");
    assert!(!r.body["errors"]["password"].to_string().contains("breach"), "{}", r.body);
    assert!(api.asked().is_empty(), "{:?}", api.asked());
}

#[tokio::test]
async fn change_refuses_a_listed_password_and_accepts_an_unlisted_one() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let app = app_asking(api.url()).await;
    let email = unique_email();
    let (_, access, _) = app.signed_in(&email).await;
    let change = |new: &str| json!({"current_password": PASSWORD, "new_password": new});

    assert_breached(&app.post_as(&access, CHANGE_PASSWORD, &change(LISTED)).await, "new_password");
    let r = app.post_as(&access, CHANGE_PASSWORD, &change(UNLISTED)).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.login(&email, UNLISTED).await;
}

/// The `uidb64` and `token` of the reset link the log outbox holds for
/// `email` (no SMTP server: messages go to the log).
async fn reset_link(app: &TestApp, email: &str) -> (String, String) {
    let r = app.post(RESET_REQUEST, &json!({"email_or_phone": email})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        if let Some(m) = messages_to(email).into_iter().find(|m| m.body.contains("reset-password?")) {
            break m.body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reset link reached {email}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let link = body.split_whitespace().find(|w| w.contains("reset-password?")).expect("the link");
    let param = |name: &str| {
        let query = link.split_once('?').expect("a query").1;
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).expect("the parameter").to_string()
    };
    (param("uid"), param("token"))
}

#[tokio::test]
async fn reset_refuses_a_listed_password_without_spending_the_link() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let app = app_asking(api.url()).await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;
    let (uid, token) = reset_link(&app, &email).await;
    let confirm = |new: &str| json!({"uidb64": uid, "token": token, "new_password": new});

    assert_breached(&app.post(RESET_CONFIRM, &confirm(LISTED)).await, "new_password");
    let r = app.post(RESET_CONFIRM, &confirm(UNLISTED)).await;

    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.login(&email, UNLISTED).await;
}

#[tokio::test]
async fn reset_by_code_refuses_a_listed_password_for_any_account() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let app = app_asking(api.url()).await;
    let email = unique_email();
    app.register(Some(&email), None, PASSWORD).await;

    // A known and an unknown account answer alike: the password first.
    for who in [email, unique_email()] {
        let r = app.post(RESET_CONFIRM, &json!({"email_or_phone": who, "otp": "123456", "new_password": LISTED})).await;
        assert_breached(&r, "new_password");
    }
}

#[tokio::test]
async fn sign_in_does_not_look_the_password_up() {
    let api = RangeApi::start(&[]).await;
    let app = app_asking(api.url()).await;
    let email = unique_email();
    app.register(Some(&email), None, LISTED).await;
    api.list(LISTED);

    app.login(&email, LISTED).await;

    assert_eq!(api.asked().len(), 1, "only the registration asked: {:?}", api.asked());
}

#[tokio::test]
async fn a_range_api_that_does_not_answer_allows_the_password() {
    let api = RangeApi::start(&[(LISTED, 3)]).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address")
    };
    for url in [format!("http://{closed}/range/"), format!("http://{}/broken/", api.addr)] {
        let app = app_asking(url.clone()).await;

        assert_created(&register_with(&app, LISTED).await);
    }
    assert_eq!(api.asked().len(), 1, "the broken endpoint was asked: {:?}", api.asked());
}

// ------------------------------------------------------------ the local file

/// Listed in the generated file among a million hashes.
const FILE_PASSWORD: &str = "a passphrase from a breach";
const FILE_ENTRIES: u32 = 1_000_000;

/// The `i`-th generated password of the file (which passes the policy).
fn generated(i: u32) -> String {
    format!("leaked passphrase number {i}")
}

struct PwnedFile {
    path: PathBuf,
    /// The passwords whose hashes are on the first and the last line.
    first: String,
    last: String,
}

/// A Pwned Passwords file (sorted upper-case SHA-1, `:count`, CRLF) of a
/// million hashes, `FILE_PASSWORD`'s among them; written once per test
/// binary, in a second or two.
fn pwned_file() -> &'static PwnedFile {
    static FILE: OnceLock<PwnedFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let mut entries: Vec<([u8; 20], u32)> = (0..FILE_ENTRIES - 1)
            .map(|i| (Sha1::digest(generated(i).as_bytes()).into(), i))
            .chain([(Sha1::digest(FILE_PASSWORD.as_bytes()).into(), u32::MAX)])
            .collect();
        entries.sort_unstable();
        // The api and api_pg binaries each write their own, then swap it
        // in: a server of the other one keeps the file it opened.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let tmp = dir.join(format!("authgate-pwned-1m.{}.tmp", std::process::id()));
        let mut out = BufWriter::new(File::create(&tmp).expect("a temporary file"));
        for (n, (hash, _)) in entries.iter().enumerate() {
            write!(out, "{}:{}\r\n", hex::encode_upper(hash), n % 997 + 1).expect("written");
        }
        out.into_inner().expect("flushed").sync_all().expect("synced");
        let path = dir.join("authgate-pwned-1m.txt");
        std::fs::rename(&tmp, &path).expect("renamed");
        let name = |i: u32| if i == u32::MAX { FILE_PASSWORD.to_string() } else { generated(i) };
        PwnedFile { path, first: name(entries[0].1), last: name(entries[entries.len() - 1].1) }
    })
}

#[tokio::test]
async fn a_file_of_a_million_hashes_refuses_a_listed_password() {
    let file = pwned_file();
    let path = file.path.clone();
    let app = spawn_app_with(move |c| c.defence.breached_passwords = BreachedPasswords::File(path)).await;

    for listed in [FILE_PASSWORD, &file.first, &file.last, &generated(123_456)] {
        assert_breached(&register_with(&app, listed).await, "password");
    }
    for unlisted in [UNLISTED, &generated(FILE_ENTRIES)] {
        assert_created(&register_with(&app, unlisted).await);
    }
}
