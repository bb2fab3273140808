//! The proof-of-work challenge (contract §20): enveloped for API clients,
//! bare (`?format=altcha`) for the ALTCHA widget's `challengeurl`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::error::respond;
use super::schemas::{ChallengeAnswer, ChallengeData, Envelope};
use crate::flows::bots;
use crate::state::AppState;

/// A challenge to solve before sign-in, registration, a reset request or a
/// resend, when one is required (send the solution as `altcha`).
///
/// Find `number` (0 to `maxnumber`) with SHA-256(`salt` + `number`) =
/// `challenge`, then send base64 of the JSON `{"algorithm", "challenge",
/// "number", "salt", "signature"}`. A challenge expires after 5 minutes
/// and a solution works once.
#[utoipa::path(get, path = "/auth/challenge/",
    params(("format" = Option<String>, Query, pattern = r"^[^\x00]*$",
        description = "`altcha`: the bare object, for the ALTCHA widget's `challengeurl`.")),
    responses(
        (status = 200, description = "A challenge: in the envelope, or bare with `format=altcha`.",
            body = ChallengeAnswer),
        (status = 403, description = "The client's address is on a blocklist.", body = super::schemas::ErrorEnvelope),
    ))]
pub async fn challenge(State(svc): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let c = bots::challenge(&svc);
    let data = ChallengeData {
        algorithm: c.algorithm,
        challenge: c.challenge,
        maxnumber: c.maxnumber,
        salt: c.salt,
        signature: c.signature,
    };
    let answer = match query.get("format").map(|f| f.trim()) {
        Some("altcha") => ChallengeAnswer::Bare(data),
        _ => ChallengeAnswer::Enveloped(Envelope::success("Challenge issued.", data)),
    };
    let mut res = respond(StatusCode::OK, &answer);
    // Each challenge is for one use: never from a cache.
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
