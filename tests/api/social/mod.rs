//! Social sign-in (contract §16) against a real OpenID Connect provider:
//! panva's `oidc-provider`, run by `scripts/oidc-provider/run` once per
//! test binary. Tests sign in through its login and consent pages over
//! HTTP, as a browser would (`Browser`: a cookie jar that follows
//! redirects and submits the pages' forms).
//!
//! Its accounts come from the login typed (`alice`: alice@example.com,
//! verified; `unverified:bob`: bob@example.com, not verified;
//! `noemail:carl`: no email). authgate knows it as `corp` (OpenID Connect,
//! client `authgate`) and as `github` (client `github`, its OAuth
//! endpoints and the GitHub API the same process serves under `/github`).

mod browser;
mod github;
mod linking;
mod signin;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use authgate::config::{ProviderConfig, ProviderKind, Secret, SocialConfig};
use authgate::domain::Clock;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::helpers::*;

/// Where the browser flow may return to (nothing listens there: the tests
/// stop at the redirect).
pub const NEXT: &str = "http://127.0.0.1:9/done";
/// The redirect URI of codes a test (as a native app) redeems.
pub const NATIVE_REDIRECT: &str = "http://127.0.0.1:9/native";

/// The running provider: its issuer URL. Its standard input is held open;
/// it exits when the test process does.
pub struct Provider {
    pub issuer: String,
    _child: Child,
    _stdin: ChildStdin,
}

pub fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/oidc-provider/run");
        let mut child = Command::new(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("scripts/oidc-provider/run starts (Node.js 20 and npm are needed)");
        let stdin = child.stdin.take().expect("its stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line).expect("its first line");
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("the provider said {line:?}"));
        Provider { issuer: text(&started["issuer"]), _child: child, _stdin: stdin }
    })
}

/// A server with the provider configured as `corp` and `github`, on a
/// clock the test moves.
pub async fn social_app() -> (TestApp, Clock) {
    let issuer = provider().issuer.clone();
    let clock = Clock::manual();
    let app = spawn_app_at(|c, addr: SocketAddr| {
        c.clock = clock.clone();
        c.social = SocialConfig {
            providers: vec![
                ProviderConfig {
                    name: "corp".into(),
                    client_id: "authgate".into(),
                    client_secret: Secret("authgate-secret".into()),
                    scopes: vec!["openid".into(), "email".into(), "profile".into()],
                    kind: ProviderKind::Oidc { issuer: issuer.clone() },
                },
                ProviderConfig {
                    name: "github".into(),
                    client_id: "github".into(),
                    client_secret: Secret("github-secret".into()),
                    // The test provider issues codes for `openid` requests.
                    scopes: vec!["openid".into(), "read:user".into(), "user:email".into()],
                    kind: ProviderKind::Github {
                        authorize_url: format!("{issuer}/auth"),
                        token_url: format!("{issuer}/token"),
                        api_url: format!("{issuer}/github"),
                    },
                },
            ],
            redirect_urls: vec![NEXT.into(), format!("{NEXT}?tab=1")],
            public_url: Some(format!("http://{addr}")),
        };
    })
    .await;
    (app, clock)
}

/// How a walk through redirects and forms ended.
#[derive(Debug)]
pub enum Ended {
    /// A redirect to a URL starting with the stop prefix.
    At(String),
    /// An answer that is neither a redirect nor a form (authgate's JSON).
    Answer(StatusCode, Value),
}

impl Ended {
    pub fn location(&self) -> &str {
        match self {
            Ended::At(url) => url,
            Ended::Answer(status, body) => panic!("no redirect but {status}: {body}"),
        }
    }

    /// The query parameter `name` of the redirect's URL.
    pub fn param(&self, name: &str) -> String {
        let url = url::Url::parse(self.location()).expect("a URL");
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
    }
}

/// A browser: a cookie jar (by name and path; the hosts are all
/// 127.0.0.1), redirects followed by hand, forms submitted.
pub struct Browser {
    client: reqwest::Client,
    cookies: BTreeMap<(String, String), String>,
    /// Every `Set-Cookie` answered, as sent.
    pub set_cookies: Vec<String>,
}

impl Browser {
    pub fn new() -> Browser {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        Browser { client, cookies: BTreeMap::new(), set_cookies: Vec::new() }
    }

    fn cookie_header(&self, url: &str) -> String {
        let path = url::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default();
        let sent: Vec<String> = self
            .cookies
            .iter()
            .filter(|((_, p), _)| path.starts_with(p.as_str()))
            .map(|((name, _), value)| format!("{name}={value}"))
            .collect();
        sent.join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for header in res.headers().get_all(SET_COOKIE) {
            let line = header.to_str().unwrap_or_default().to_owned();
            let mut parts = line.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else { continue };
            let mut path = "/".to_owned();
            let mut gone = value.is_empty();
            for attr in parts {
                let lower = attr.to_ascii_lowercase();
                if lower.starts_with("path=") {
                    path = attr[5..].to_owned();
                }
                gone |= lower == "max-age=0" || lower.contains("1970");
            }
            let key = (name.to_owned(), path);
            if gone {
                self.cookies.remove(&key);
            } else {
                self.cookies.insert(key, value.to_owned());
            }
            self.set_cookies.push(line);
        }
    }

    /// A GET with this browser's cookies.
    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let res = self
            .client
            .get(url)
            .header("cookie", self.cookie_header(url))
            .send()
            .await
            .expect("the request is answered");
        self.keep_cookies(&res);
        res
    }

    async fn post_form(&mut self, url: &str, fields: &[(String, String)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let res = self
            .client
            .post(url)
            .header("cookie", self.cookie_header(url))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the form is answered");
        self.keep_cookies(&res);
        res
    }

    /// Follows redirects from `url`, signing in at the provider's login
    /// page as `login` and consenting, until a redirect goes to a URL
    /// starting with `stop`, or an answer is JSON.
    pub async fn walk(&mut self, url: &str, login: &str, stop: &str) -> Ended {
        let mut url = url.to_owned();
        let mut res = self.get(&url).await;
        for _ in 0..20 {
            if res.status().is_redirection() {
                let location = res.headers()[LOCATION].to_str().expect("a Location").to_owned();
                let next = url::Url::parse(&url).and_then(|u| u.join(&location)).expect("a URL").to_string();
                if next.starts_with(stop) {
                    return Ended::At(next);
                }
                url = next;
                res = self.get(&url).await;
                continue;
            }
            let status = res.status();
            let json = res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let body = res.text().await.expect("a body");
            if json {
                return Ended::Answer(status, serde_json::from_str(&body).expect("JSON"));
            }
            let (action, mut fields) = form(&body).unwrap_or_else(|| panic!("{status} at {url}, no form: {body}"));
            if fields.iter().any(|(k, _)| k == "login") {
                fields.retain(|(k, _)| k != "login" && k != "password");
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any password".into()));
            }
            let target = url::Url::parse(&url).and_then(|u| u.join(&action)).expect("a URL").to_string();
            res = self.post_form(&target, &fields).await;
            url = target;
        }
        panic!("more than 20 steps from {url}");
    }
}

/// The first form of a page: its action and its inputs' names and values.
fn form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>")? + start;
    let form = &html[start..end];
    let action = attribute(form, "action")?;
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if let Some(name) = attribute(tag, "name") {
            fields.push((name, attribute(tag, "value").unwrap_or_default()));
        }
    }
    Some((action, fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[at..].find('"')?;
    Some(tag[at..at + len].replace("&amp;", "&"))
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An authorization code of the provider for `client_id`, issued to `login`
/// with `nonce` and the PKCE challenge of `verifier`, for `NATIVE_REDIRECT`
/// (as a native app obtains one).
pub async fn provider_code(client_id: &str, login: &str, nonce: &str, challenge: &str) -> String {
    let mut auth = url::Url::parse(&format!("{}/auth", provider().issuer)).unwrap();
    auth.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", NATIVE_REDIRECT)
        .append_pair("state", "native")
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    let ended = Browser::new().walk(auth.as_str(), login, NATIVE_REDIRECT).await;
    ended.param("code")
}

/// An ID token the provider issued to `client_id` for `login` with `nonce`
/// (the test redeems the code itself, as a native app's back end would).
pub async fn id_token_for(client_id: &str, login: &str, nonce: &str) -> String {
    let (verifier, challenge) = pkce();
    let code = provider_code(client_id, login, nonce, &challenge).await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", NATIVE_REDIRECT)
        .append_pair("code_verifier", &verifier)
        .finish();
    let res = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/token", provider().issuer))
        .basic_auth(client_id, Some(format!("{client_id}-secret")))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the token endpoint answers");
    let tokens: Value = res.json().await.expect("JSON");
    text(&tokens["id_token"])
}

/// An ID token for authgate's client (`corp`).
pub async fn id_token(login: &str, nonce: &str) -> String {
    id_token_for("authgate", login, nonce).await
}

pub fn social_path(provider: &str) -> String {
    format!("/api/v1/auth/social/{provider}/")
}

pub const EXCHANGE: &str = "/api/v1/auth/social/exchange/";

/// Signs in with an ID token of `login` (native flow) and expects a 200.
pub async fn signed_in_with(app: &TestApp, login: &str) -> Value {
    let token = id_token(login, "n-1").await;
    let r = app.post(&social_path("corp"), &serde_json::json!({"id_token": token, "nonce": "n-1"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_envelope(&r.body, true);
    r.body["data"].clone()
}

/// How many accounts the database holds.
pub async fn user_count(app: &TestApp) -> usize {
    let rows = app.query_rows("SELECT CAST(COUNT(*) AS TEXT) FROM users", &[]).await;
    rows[0][0].as_deref().and_then(|n| n.parse().ok()).expect("a count")
}
