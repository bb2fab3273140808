//! The shapes of the answers (contract §1, §3, §5, §12, §13): the handlers
//! serialize these types, and the OpenAPI document describes the same types,
//! so the two cannot tell different stories.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::domain::device::{device_label, location_hint};
use crate::domain::session::Session;
use crate::domain::{UserView, rfc3339};

use super::rules;

/// A successful answer: `success` true, `data` the operation's result,
/// `errors` null.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    #[schema(schema_with = always_true)]
    pub success: bool,
    #[schema(example = "Login successful.")]
    pub message: String,
    pub data: T,
    #[schema(schema_with = always_null)]
    pub errors: (),
}

impl<T> Envelope<T> {
    pub fn success(message: &str, data: T) -> Self {
        Envelope { success: true, message: message.to_string(), data, errors: () }
    }
}

/// A failed answer. `errors` maps a field name to its messages (problems
/// not tied to a field go under `non_field_errors`); a 500 carries
/// `data.error_id`, also written to the server log, and nothing else.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"success": false, "message": "Validation failed.", "data": null,
    "errors": {"email_or_phone": ["This field is required."]}}))]
pub struct ErrorEnvelope {
    #[schema(schema_with = always_false)]
    pub success: bool,
    pub message: String,
    #[schema(required = true)]
    pub data: Option<ErrorData>,
    #[schema(required = true)]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
}

/// `data` of a 500.
#[derive(Serialize, ToSchema)]
pub struct ErrorData {
    #[schema(example = "3f2c9a0e8b7d4c1f9e6a5b4c3d2e1f00")]
    pub error_id: String,
}

fn always_true() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true]))
}

fn always_false() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([false]))
}

fn always_null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// `data` of an answer that has nothing to report: `{}`.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// `data` carrying one user (contract §3).
#[derive(Serialize, ToSchema)]
pub struct UserData<'a> {
    pub user: UserView<'a>,
}

/// The user object as the admin API shows it: §3's, with its second
/// factors (§15.4).
#[derive(Serialize, ToSchema)]
pub struct AdminUser<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    pub mfa: crate::domain::mfa::MfaSummary,
}

/// `data` of an admin answer about one user.
#[derive(Serialize, ToSchema)]
pub struct AdminUserData<'a> {
    pub user: AdminUser<'a>,
}

/// `data` of a registration; `otp` only with `AUTHGATE_EXPOSE_OTP=true`.
#[derive(Serialize, ToSchema)]
pub struct RegisterData<'a> {
    pub user: UserView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "123456")]
    pub otp: Option<String>,
}

/// A fresh access and refresh token (contract §4).
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…")]
    pub access: String,
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…")]
    pub refresh: String,
}

/// `data` of a sign-in: the tokens and the user.
#[derive(Serialize, ToSchema)]
pub struct LoginData<'a> {
    pub access: String,
    pub refresh: String,
    pub user: UserView<'a>,
}

/// `data` of a right password for an account with a second factor
/// (§15.2): exactly these three keys.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredData {
    /// Always true.
    #[schema(schema_with = always_true)]
    pub mfa_required: bool,
    /// Good for `mfa/verify` only, for five minutes.
    #[schema(schema_with = rules::mfa_token)]
    pub mfa_token: String,
    /// The methods the account has: `totp`, `recovery_code`, `webauthn`.
    #[schema(schema_with = rules::mfa_methods)]
    pub methods: Vec<&'static str>,
}

/// `data` of a login: the pair, or the second step's `mfa_token`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer<'a> {
    SignedIn(LoginData<'a>),
    MfaRequired(MfaRequiredData),
}

/// A proof-of-work challenge in ALTCHA's form (contract §20).
#[derive(Serialize, ToSchema)]
pub struct ChallengeData {
    #[schema(example = "SHA-256")]
    pub algorithm: &'static str,
    /// SHA-256 of `salt` followed by the hidden number, in hex.
    #[schema(example = "14d08b8ab60b7c4c76e963ee79846c831b725449de89eccc03158774b5dd6aa3")]
    pub challenge: String,
    /// The largest number to try.
    #[schema(example = 100000)]
    pub maxnumber: u64,
    #[schema(example = "0123456789abcdef01234567?expires=1800000300&")]
    pub salt: String,
    /// The server's HMAC of `challenge`, in hex.
    #[schema(example = "bc75afdd8de2a0232522f21d233f49d4f19f83e9fdd692902d190443938097a9")]
    pub signature: String,
}

/// The challenge route's answer: in the envelope, or bare for the widget.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChallengeAnswer {
    Enveloped(Envelope<ChallengeData>),
    Bare(ChallengeData),
}

/// One device session of the caller (contract §12).
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: AdminSessionView,
    /// The session of the access token used for this request.
    pub current: bool,
}

/// One device session, as admins see it (contract §12): no `current`.
#[derive(Serialize, ToSchema)]
pub struct AdminSessionView {
    #[schema(schema_with = rules::uuid)]
    pub id: String,
    #[schema(schema_with = rules::date_time)]
    pub created_at: String,
    #[schema(schema_with = rules::date_time)]
    pub last_used_at: String,
    /// The client of the sign-in, or of the latest refresh.
    #[schema(required = true)]
    pub ip: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// A label from the user agent, such as "Firefox 133 on Linux", or
    /// "Unknown device".
    #[schema(example = "Firefox 133 on Linux")]
    pub device: String,
    /// The network of `ip`: IPv4 /24 or IPv6 /64.
    #[schema(example = "203.0.113.0/24")]
    pub location_hint: Option<String>,
}

impl AdminSessionView {
    pub fn of(s: Session) -> AdminSessionView {
        AdminSessionView {
            id: s.id.to_string(),
            created_at: rfc3339(&s.created_at),
            last_used_at: rfc3339(&s.last_used_at),
            device: device_label(s.user_agent.as_deref()),
            location_hint: location_hint(s.ip.as_deref()),
            ip: s.ip,
            user_agent: s.user_agent,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionsData {
    pub sessions: Vec<SessionView>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminSessionsData {
    pub sessions: Vec<AdminSessionView>,
}

#[derive(Serialize, ToSchema)]
pub struct LogoutAllData {
    /// How many sessions were revoked.
    pub revoked: u64,
}

/// One page of users, newest first; `next_cursor` is null on the last page.
#[derive(Serialize, ToSchema)]
pub struct UsersPage<'a> {
    pub users: Vec<AdminUser<'a>>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One audit event (contract §9, §13).
#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    #[schema(schema_with = rules::uuid)]
    pub id: String,
    #[schema(schema_with = rules::date_time)]
    pub at: String,
    #[schema(schema_with = rules::audit_action)]
    pub action: String,
    #[schema(schema_with = rules::audit_outcome)]
    pub outcome: String,
    #[schema(schema_with = rules::uuid_or_null, required = true)]
    pub user_id: Option<String>,
    #[schema(schema_with = rules::uuid_or_null, required = true)]
    pub actor_id: Option<String>,
    #[schema(required = true)]
    pub ip: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Free-form JSON describing the event.
    pub detail: Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `data` of `/healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `data` of `/readyz`.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    pub status: &'static str,
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// Examples of the error envelope, one per kind of failure.
pub fn error_example(status: u16) -> Value {
    let fail = |message: &str| json!({"success": false, "message": message, "data": null, "errors": {"non_field_errors": [message]}});
    match status {
        400 => json!({"success": false, "message": "Validation failed.", "data": null,
                      "errors": {"email_or_phone": ["This field is required."]}}),
        401 => fail("Authentication credentials were not provided."),
        403 => fail("You do not have permission to perform this action."),
        404 => fail("Not found."),
        409 => json!({"success": false, "message": "Conflict.", "data": null,
                      "errors": {"email": ["This email is already in use by another account."]}}),
        413 => fail("Request body is too large (limit 64 KiB)."),
        415 => fail("Unsupported media type: send Content-Type: application/json."),
        429 => fail("Request was throttled. Expected available in 42 seconds."),
        503 => fail("The database is not reachable."),
        _ => json!({"success": false, "message": "Internal server error.",
                    "data": {"error_id": "3f2c9a0e8b7d4c1f9e6a5b4c3d2e1f00"}, "errors": null}),
    }
}
