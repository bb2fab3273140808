//! The JSON body of every route, through the router in process: an app on
//! in-memory SQLite, one route chosen by the first byte from the full
//! route list (`/api/v1`, `/api/v2`, the legacy `/auth/...` paths), the
//! rest as the body. The answer is never a 5xx, and nothing panics (a
//! panic aborts the fuzzer before the router's catch-panic layer sees it).
//!
//! Input: `[route, flags, body...]`. `flags` picks the caller (none, a
//! user, an admin, a bad token: bits 0-1), the `{id}` of the path (the
//! user's, the admin's, an unknown or a malformed one: bits 2-3) and the
//! content type (JSON, none, text/plain, JSON with a charset: bits 4-5);
//! bit 6 takes the path's trailing slash off.
//! In the body, `$REFRESH`, `$ACCESS` and `$UID` become the user's refresh
//! token, access token and id, so bodies can name live tokens.
#![no_main]

use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use authgate::Config;
use authgate::config::{MetricsBind, Secret};
use authgate::domain::{Email, Password};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const SECRET: &str = "authgate-integration-tests-secret-0123456789";
/// Legacy mounts (contract §2); the versioned ones come from the OpenAPI
/// document.
const LEGACY: [&str; 7] = [
    "/auth/login/",
    "/auth/register/",
    "/auth/logout/",
    "/auth/token/refresh/",
    "/auth/password-reset/",
    "/auth/password-reset-confirm/",
    "/auth/password-change/",
];

struct Account {
    id: String,
    access: String,
    refresh: String,
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    app: authgate::App,
    routes: Vec<(Method, String)>,
    accounts: Mutex<(Account, Account, u32)>,
}

fn config() -> Config {
    Config {
        database_url: "sqlite::memory:".into(),
        secret_key: Some(Secret(SECRET.into())),
        throttle_enabled: false,
        expose_otp: true,
        login_failures_before_delay: 0,
        metrics_bind: MetricsBind::Main,
        ..Config::default()
    }
}

/// Every operation of the document (it lists `/api/v1` and `/api/v2`)
/// and the legacy mounts, each once (the flags take the trailing slash
/// off).
fn routes() -> Vec<(Method, String)> {
    let doc = authgate::openapi_document(8).expect("the document");
    let mut routes: Vec<(Method, String)> = Vec::new();
    let mut add = |method: Method, path: String| {
        if !routes.contains(&(method.clone(), path.clone())) {
            routes.push((method, path));
        }
    };
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                let method: Method = method.to_uppercase().parse().expect("a method");
                add(method.clone(), path.clone());
                if let Some(rest) = path.strip_prefix("/api/v1/") {
                    add(method, format!("/api/v2/{rest}"));
                }
            }
        }
    }
    for path in LEGACY {
        add(Method::POST, path.to_string());
    }
    assert!(routes.len() <= 256, "{} routes: the first byte no longer picks every one", routes.len());
    routes
}

async fn call(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let mut req = req.body(Body::from(body)).expect("a request");
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let res = router.clone().oneshot(req).await.expect("the router answers");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("the body is read").to_bytes().to_vec();
    (status, bytes)
}

async fn post_json(router: &axum::Router, path: &str, body: Value) -> Value {
    let (_, bytes) =
        call(router, Method::POST, path, None, Some("application/json"), body.to_string().into_bytes()).await;
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Signs in `email`; `None` if that does not give tokens (a second factor
/// the fuzzer enrolled, a changed password, a deleted account).
async fn sign_in(router: &axum::Router, email: &str, id: String) -> Option<Account> {
    let r = post_json(router, "/api/v1/auth/login/", json!({"email_or_phone": email, "password": PASSWORD})).await;
    let token = |k: &str| r["data"][k].as_str().map(str::to_string);
    Some(Account { id, access: token("access")?, refresh: token("refresh")? })
}

/// A fresh user (registered) or admin (created as `createsuperuser` does),
/// signed in, under the first free address from `n` on.
async fn new_account(app: &authgate::App, router: &axum::Router, n: &mut u32, admin: bool) -> Account {
    for _ in 0..20 {
        *n += 1;
        let email = format!("fuzz-fixture-{}{n}@example.com", if admin { "admin" } else { "user" });
        let id = if admin {
            let email = Email::parse(&email).expect("an email");
            let user = authgate::testing::create_admin(app, email, Password::parse(PASSWORD).expect("a password"));
            user.await.ok().map(|u| u.id.to_string())
        } else {
            let body = json!({"email": email, "password": PASSWORD, "first_name": "Ana"});
            let r = post_json(router, "/api/v1/auth/register/", body).await;
            r["data"]["user"]["id"].as_str().map(str::to_string)
        };
        if let Some(account) = match id {
            Some(id) => sign_in(router, &email, id).await,
            None => None,
        } {
            return account;
        }
    }
    panic!("no new account could be made and signed in");
}

/// The account is still usable (its token live, its role intact).
async fn usable(router: &axum::Router, a: &Account, admin: bool) -> bool {
    let path = if admin { "/api/v1/admin/users/" } else { "/api/v1/auth/me/" };
    call(router, Method::GET, path, Some(&a.access), None, Vec::new()).await.0 == StatusCode::OK
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    let (app, router, accounts) = rt.block_on(async {
        let app = authgate::App::build(config()).await.expect("the app builds");
        let router = app.router();
        let mut n = 0;
        let user = new_account(&app, &router, &mut n, false).await;
        let admin = new_account(&app, &router, &mut n, true).await;
        (app, router, (user, admin, n))
    });
    let routes = routes();
    if std::env::var_os("AUTHGATE_FUZZ_PRINT_ROUTES").is_some() {
        for (i, (m, p)) in routes.iter().enumerate() {
            eprintln!("{i} {m} {p}");
        }
    }
    Fixture { rt, router, app, routes, accounts: Mutex::new(accounts) }
});

fn replace(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from.as_bytes()) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to.as_bytes());
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

// The app starts before the first input, so its start-up is not counted
// against that input's time.
fuzz_target!(init: { LazyLock::force(&FIXTURE); }, |data: &[u8]| {
    let f = &*FIXTURE;
    let [route, flags, body @ ..] = data else { return };
    let mut accounts = f.accounts.lock().expect("one fuzzing thread");
    let (method, path) = f.routes[*route as usize % f.routes.len()].clone();
    let (user, admin, _) = &*accounts;
    let token = match flags & 3 {
        0 => None,
        1 => Some(user.access.clone()),
        2 => Some(admin.access.clone()),
        _ => Some("not.a.token".to_string()),
    };
    let id = match (flags >> 2) & 3 {
        0 => user.id.clone(),
        1 => admin.id.clone(),
        2 => "0192f0c1-5c1e-7b3a-9d2e-0a1b2c3d4e5f".to_string(),
        _ => "1%20x".to_string(),
    };
    let mut path = path.replace("{id}", &id).replace("{sid}", "0192f0c1-5c1e-7b3a-9d2e-0a1b2c3d4e60");
    if flags & 0x40 != 0 && path.len() > 1 {
        path = path.trim_end_matches('/').to_string();
    }
    let ct = match (flags >> 4) & 3 {
        0 => Some("application/json"),
        1 => None,
        2 => Some("text/plain"),
        _ => Some("application/json; charset=utf-8"),
    };
    let body = replace(body, "$REFRESH", &user.refresh);
    let body = replace(&body, "$ACCESS", &user.access);
    let body = replace(&body, "$UID", &user.id);

    f.rt.block_on(async {
        let (status, answer) = call(&f.router, method.clone(), &path, token.as_deref(), ct, body.clone()).await;
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {}\nbody sent: {:?}",
            String::from_utf8_lossy(&answer),
            String::from_utf8_lossy(&body)
        );
        // Keep a live user and admin for the next input: the fuzzer signs
        // out, deletes, demotes, changes passwords and enrols factors.
        let (user, admin, n) = &mut *accounts;
        if !usable(&f.router, user, false).await {
            *user = new_account(&f.app, &f.router, n, false).await;
        }
        if !usable(&f.router, admin, true).await {
            *admin = new_account(&f.app, &f.router, n, true).await;
        }
    });
});
