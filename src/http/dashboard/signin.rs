//! Signing in to the dashboard and out of it. The sign-in form carries a
//! CSRF token bound to a cookie of its own (there is no session yet); the
//! second step asks for the account's second factor (§15.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{LoginPage, MfaStep, render};
use super::session::{
    LOGIN_COOKIE, LOGIN_PATH, SESSION_COOKIE, Viewer, cookie, csrf_refused, forbidden, set_cookie, with_cookie,
};
use super::{Failure, FormData, see_other};
use crate::domain::Password;
use crate::error::Error;
use crate::flows::bots::Proof;
use crate::flows::dashboard::{self, SignIn};
use crate::http::extract::Client;
use crate::state::{AppState, Services};

/// How long the sign-in form's cookie lives.
const LOGIN_COOKIE_SECS: i64 = 3600;

/// The sign-in form (or, for a signed-in viewer, the overview).
pub async fn page(State(svc): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(value) = cookie(&headers, SESSION_COOKIE)
        && dashboard::viewer(&svc, value).await.is_ok_and(|me| dashboard::may_read(me.user.role))
    {
        return see_other("/dashboard/");
    }
    sign_in_form(&svc, &headers, StatusCode::OK, String::new(), None, None)
}

/// The sign-in form, keeping the form cookie's nonce when there is one.
fn sign_in_form(
    svc: &Services,
    headers: &HeaderMap,
    status: StatusCode,
    login: String,
    error: Option<String>,
    mfa: Option<MfaStep>,
) -> Response {
    let nonce = cookie(headers, LOGIN_COOKIE).filter(|n| well_formed_nonce(n)).map(str::to_owned);
    let nonce = nonce.unwrap_or_else(dashboard::login_nonce);
    let csrf = dashboard::login_csrf_token(svc, &nonce);
    let challenge = svc.config.defence.challenge != crate::config::ChallengeMode::Off;
    let res = render(status, &LoginPage { nav: None, csrf, login, error, mfa, challenge });
    with_cookie(res, set_cookie(svc, LOGIN_COOKIE, &nonce, LOGIN_COOKIE_SECS))
}

fn well_formed_nonce(n: &str) -> bool {
    n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Either step of the sign-in, told apart by the `mfa_token` of the second.
pub async fn submit(
    State(svc): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let form = FormData::parse(&body)?;
    let nonce = cookie(&headers, LOGIN_COOKIE).filter(|n| well_formed_nonce(n));
    let expected = nonce.map(|n| dashboard::login_csrf_token(&svc, n));
    if !expected.is_some_and(|e| dashboard::token_matches(&e, form.get("csrf_token"))) {
        return Err(csrf_refused());
    }
    let login = form.get("login").unwrap_or("").trim().to_owned();
    let outcome = match form.get("mfa_token") {
        Some(token) => {
            let code = form.get("code").unwrap_or("");
            match dashboard::second_factor(&svc, token, code, &client).await {
                // A wrong code: the same challenge, once more.
                Err(e @ Error::Validation(_)) => {
                    let step = MfaStep { token: token.to_owned(), totp: true, recovery: true };
                    let message = super::message(&e);
                    return Ok(sign_in_form(&svc, &headers, StatusCode::BAD_REQUEST, login, Some(message), Some(step)));
                }
                other => other,
            }
        }
        None => match Password::parse(form.get("password").unwrap_or("")) {
            Ok(password) => {
                // The page sends a solved challenge when §20 asks for one.
                let proof = Proof { altcha: form.get("altcha").map(str::to_owned), captcha_token: None };
                dashboard::sign_in(&svc, &login, &password, &proof, &client).await
            }
            Err(message) => Err(Error::field("password", message)),
        },
    };
    match outcome {
        Ok(SignIn::Session { cookie, max_age_secs }) => {
            let res = with_cookie(see_other("/dashboard/"), set_cookie(&svc, SESSION_COOKIE, &cookie, max_age_secs));
            Ok(with_cookie(res, set_cookie(&svc, LOGIN_COOKIE, "", 0)))
        }
        Ok(SignIn::SecondFactor(required)) => {
            let step = MfaStep {
                token: required.mfa_token,
                totp: required.methods.contains(&"totp"),
                recovery: required.methods.contains(&"recovery_code"),
            };
            Ok(sign_in_form(&svc, &headers, StatusCode::OK, login, None, Some(step)))
        }
        Ok(SignIn::Forbidden) => Err(forbidden("The dashboard is for staff and admins.")),
        Err(e) => {
            let status = crate::http::error::status(&e);
            Ok(sign_in_form(&svc, &headers, status, login, Some(super::message(&e)), None))
        }
    }
}

/// Signs out: the dashboard's session is revoked like any other (§12).
pub async fn logout(
    State(svc): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, Failure> {
    let form = FormData::parse(&body)?;
    viewer.check_csrf(&form)?;
    dashboard::sign_out(&svc, &viewer.me, &client).await?;
    Ok(with_cookie(see_other(LOGIN_PATH), set_cookie(&svc, SESSION_COOKIE, "", 0)))
}
