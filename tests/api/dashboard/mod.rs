//! Contract §19: the audit dashboard. Plain HTTP here (sign-in, CSRF, who
//! may see and change what, exports, the live tail); a real browser in
//! `browser.rs`. The helpers: a cookie-keeping client that follows no
//! redirect, and signed-in accounts of each role.

mod actions;
mod browser;
mod exports;
mod signin;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

use super::helpers::*;

pub const DASHBOARD: &str = "/dashboard/";
pub const SIGN_IN: &str = "/dashboard/login/";

/// An answer of the dashboard, read whole as text.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden `csrf_token` of the page.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf_token").expect("the page has a form with a csrf_token")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A browser without a browser: keeps the cookies the dashboard sets,
/// follows no redirect.
pub struct Visitor {
    base: String,
    client: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Visitor {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a client");
        Visitor { base: app.url(""), client, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        if self.cookies.is_empty() { req } else { req.header(COOKIE, self.cookie_header()) }
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        let (status, headers) = (res.status(), res.headers().clone());
        let body = res.text().await.expect("a body");
        let page = Page { status, headers, body };
        for set in page.set_cookies() {
            let pair = set.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self.request(Method::GET, path).send().await.expect("an answer");
        self.read(res).await
    }

    /// The answer's head only (a stream the test reads itself).
    pub async fn open(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path).send().await.expect("an answer")
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in fields {
            body.append_pair(name, value);
        }
        let req = self.request(Method::POST, path).header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        let res = req.body(body.finish()).send().await.expect("an answer");
        self.read(res).await
    }

    /// Signs in through the form: the answer to the password step.
    pub async fn sign_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get(SIGN_IN).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let csrf = form.csrf();
        self.post(SIGN_IN, &[("csrf_token", &csrf), ("login", login), ("password", password)]).await
    }
}

/// An account of `role`: `(id, email)`.
pub async fn account(app: &TestApp, role: &str) -> (String, String) {
    let email = unique_email();
    let data = app.register(Some(&email), None, PASSWORD).await;
    let id = text(&data["user"]["id"]);
    if role != "client" {
        app.make_role(&id, role).await;
    }
    (id, email)
}

/// A visitor signed in as a new account of `role`, and its id.
pub async fn signed_in_as(app: &TestApp, role: &str) -> (Visitor, String) {
    let (id, email) = account(app, role).await;
    let mut visitor = Visitor::new(app);
    let answer = visitor.sign_in(&email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location(), DASHBOARD);
    (visitor, id)
}

/// The user as the admin API shows it, read with a new admin's token.
pub async fn api_user(app: &TestApp, id: &str) -> serde_json::Value {
    let (_, email) = account(app, "admin").await;
    let (access, _) = app.login(&email, PASSWORD).await;
    let r = app.get(&format!("{ADMIN_USERS}{id}/"), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"]["user"].clone()
}
