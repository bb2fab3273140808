//! What the server checks, as OpenAPI schema fragments: one function per
//! kind of value, for `#[schema(schema_with = rules::email)]` on a body's
//! field or an answer's. A field that the server parses with a domain type
//! (`Email`, `Phone`, `Password`, a name, a UUID) names the fragment of that
//! type here, so generated clients and the contract check's fuzzing send
//! what the server accepts, and only that.
//!
//! Rules that depend on the configuration (the password policy's minimum
//! length) are `$ref`s to components the document fills in when it is
//! built (`openapi::document`). Rules over a whole body ("an email or a
//! phone") are added to its component there too (`BODY_RULES`).

use serde_json::{Value, json};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

use super::forms::NAME_MAX;
use crate::domain::{AuditAction, Outcome, PASSWORD_MAX_BYTES, Role};

/// E.164: what the server stores and answers. On input the server also
/// takes spaces, dashes, dots and parentheses between the digits.
pub const PHONE_PATTERN: &str = r"^\+[1-9][0-9]{6,14}$";
/// Not blank, no control character (as `Form::name` checks).
const NAME_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";
/// No control character; may be empty.
const TEXT_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";
/// The component holding the password policy (`new_password`).
pub const NEW_PASSWORD: &str = "NewPassword";

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn format(f: &str) -> Option<SchemaFormat> {
    Some(SchemaFormat::Custom(f.to_string()))
}

/// An email address (`domain::Email`): at most 254 characters.
pub fn email() -> ObjectBuilder {
    string()
        .format(format("email"))
        .max_length(Some(254))
        .description(Some("An email address. The domain is lower-cased; look-up is case-insensitive."))
        .examples(["ana@example.com"])
}

/// A phone number (`domain::Phone`). `format: phone` names the rule that no
/// pattern can state (valid per libphonenumber metadata); the contract
/// check's hooks generate such numbers for it.
pub fn phone() -> ObjectBuilder {
    string()
        .format(format("phone"))
        .pattern(Some(PHONE_PATTERN))
        .description(Some(
            "A phone number in E.164, valid per libphonenumber metadata (e.g. +14155552671, +447911123456). \
             Spaces, dashes, dots and parentheses between the digits are also accepted and removed.",
        ))
        .examples(["+14155552671"])
}

/// A sign-in's email or phone: any text that is not blank (one that is
/// neither names no account: 401, like a wrong password).
pub fn login_id() -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .pattern(Some(r"\S"))
        .description(Some("An email address or a phone number (E.164)."))
        .examples(["ana@example.com"])
}

/// `login_id` where the server refuses anything that is neither: an email
/// or a phone, exactly.
pub fn email_or_phone() -> RefOr<Schema> {
    let any = utoipa::openapi::schema::AnyOfBuilder::new()
        .item(email())
        .item(phone())
        .description(Some("An email address or a phone number (E.164)."))
        .build();
    RefOr::T(Schema::AnyOf(any))
}

/// A password being presented (`domain::Password`): not empty, at most
/// 4096 bytes. The policy is not checked here.
pub fn password() -> ObjectBuilder {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(Some(1))
        .max_length(Some(PASSWORD_MAX_BYTES))
        .description(Some("At most 4096 bytes in UTF-8."))
        .examples(["correct horse battery staple"])
}

/// A password being set: the `NewPassword` component, which states the
/// policy as configured (`new_password_component`).
pub fn new_password() -> Ref {
    Ref::from_schema_name(NEW_PASSWORD)
}

/// The `NewPassword` component for a policy of `min_length` characters.
pub fn new_password_component(min_length: usize) -> Value {
    json!({
        "type": "string",
        "format": "password",
        "minLength": min_length,
        "maxLength": PASSWORD_MAX_BYTES,
        // Not entirely numeric (one of the policy's rules a pattern can state).
        "pattern": r"[^0-9]",
        "description": format!(
            "The password policy (contract §6): at least {min_length} characters, at most 4096 bytes in UTF-8, \
             not entirely numeric, not a common password, not too similar to the email, phone or names. \
             Each failing rule is its own message under this field."
        ),
        "examples": ["a new correct horse battery"],
    })
}

/// A token the server issued (a JWT): anything else is refused like a
/// forged one.
pub fn token() -> ObjectBuilder {
    string()
        .pattern(Some(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"))
        .description(Some("A refresh token (a JWT) from login, refresh or password change."))
        .examples(["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"])
}

/// A 6-digit code sent by SMS or email (surrounding spaces are ignored).
pub fn code() -> ObjectBuilder {
    string().pattern(Some(r"^[0-9]{6}$")).examples(["123456"])
}

/// A required first name: trimmed, not blank, at most 150 characters, no
/// control character.
pub fn first_name() -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(NAME_MAX))
        .pattern(Some(NAME_PATTERN))
        .description(Some("Trimmed; not blank; at most 150 characters; no control characters."))
        .examples(["Ana"])
}

/// A passkey's name: trimmed, not blank, at most 150 characters, no
/// control character (as `Form::name` checks).
pub fn passkey_name() -> ObjectBuilder {
    string()
        .min_length(Some(1))
        .max_length(Some(NAME_MAX))
        .pattern(Some(NAME_PATTERN))
        .description(Some("Trimmed; not blank; at most 150 characters; no control characters."))
        .examples(["MacBook Touch ID"])
}

/// A last name: may be empty; at most 150 characters, no control character.
pub fn last_name() -> ObjectBuilder {
    string()
        .max_length(Some(NAME_MAX))
        .pattern(Some(TEXT_PATTERN))
        .description(Some("Trimmed; may be empty; at most 150 characters; no control characters."))
        .examples(["Silva"])
}

/// A role anyone may choose at registration (`Role::self_assignable`).
pub fn self_role() -> ObjectBuilder {
    let roles = Role::ALL.into_iter().filter(|r| r.self_assignable());
    string()
        .enum_values(Some(roles.map(Role::as_str)))
        .description(Some("The role to register with; `client` when absent."))
}

/// Any role (`Role`).
pub fn role() -> ObjectBuilder {
    string().enum_values(Some(Role::ALL.map(Role::as_str)))
}

/// A UUID (user, session and audit ids).
pub fn uuid() -> ObjectBuilder {
    string().format(format("uuid"))
}

/// A UUID or null.
pub fn uuid_or_null() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
        .format(format("uuid"))
}

/// An RFC 3339 time in UTC.
pub fn date_time() -> ObjectBuilder {
    string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

/// An audit action (`AuditAction::ALL`).
pub fn audit_action() -> ObjectBuilder {
    string().enum_values(Some(AuditAction::ALL.map(AuditAction::as_str)))
}

/// An audit outcome (`Outcome`).
pub fn audit_outcome() -> ObjectBuilder {
    string().enum_values(Some([Outcome::Success, Outcome::Failure].map(Outcome::as_str)))
}

/// Rules over a whole body, by component name, added to the component as
/// `allOf` members: what no single field can say.
pub fn body_rules() -> Vec<(&'static str, Value)> {
    let one_of = |a: &[&str], b: &[&str]| json!({"anyOf": [{"required": a}, {"required": b}]});
    vec![
        ("RegisterBody", one_of(&["email"], &["phone"])),
        ("ResetConfirmBody", one_of(&["uidb64", "token"], &["email_or_phone", "otp"])),
        // Exactly one answer (`code`, `recovery_code` or `webauthn`): at
        // least one, and no two (`anyOf` and `not`, which client
        // generators read as optional fields, where `oneOf` misleads them).
        ("VerifyBody", {
            let (code, recovery, webauthn) = ("code", "recovery_code", "webauthn");
            json!({
                "anyOf": [{"required": [code]}, {"required": [recovery]}, {"required": [webauthn]}],
                "not": {"anyOf": [
                    {"required": [code, recovery]}, {"required": [code, webauthn]}, {"required": [recovery, webauthn]},
                ]},
            })
        }),
    ]
}

/// A TOTP code: six digits.
pub fn totp_code() -> ObjectBuilder {
    code().description(Some("The six digits the authenticator app shows."))
}

/// A recovery code (`xxxx-xxxx`; case, spaces and the dash are ignored).
pub fn recovery_code() -> ObjectBuilder {
    string()
        .pattern(Some(r"^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$"))
        .description(Some("A recovery code, `xxxx-xxxx`; each works once."))
        .examples(["k7vq-3xnp"])
}

/// A TOTP code or a recovery code.
pub fn second_factor_code() -> ObjectBuilder {
    string()
        .pattern(Some(r"^([0-9]{6}|[A-Za-z0-9]{4}-?[A-Za-z0-9]{4})$"))
        .description(Some("A TOTP code (six digits) or a recovery code (`xxxx-xxxx`)."))
        .examples(["123456"])
}

/// Any token the server issued (a JWT): access, refresh or `mfa_token`.
pub fn jwt() -> ObjectBuilder {
    token().description(Some("A token this server issued (a JWT)."))
}

/// The `mfa_token` of a sign-in that answered `mfa_required`.
pub fn mfa_token() -> ObjectBuilder {
    token().description(Some("The `mfa_token` the login answered (a JWT), good for five minutes."))
}

/// A second-factor method (`MfaStatus::methods`).
pub fn mfa_methods() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string().enum_values(Some(["totp", "recovery_code", "webauthn"])))
        .min_items(Some(1))
}

/// A token type introspection answers (`access` or `refresh`).
pub fn introspected_type() -> ObjectBuilder {
    string().enum_values(Some(["access", "refresh"]))
}

/// A TOTP secret: base32 (RFC 4648) without padding.
pub fn base32() -> ObjectBuilder {
    string().pattern(Some(r"^[A-Z2-7]+$")).examples(["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"])
}

/// An RFC 3339 time in UTC, or null.
pub fn date_time_or_null() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

/// A solved proof-of-work challenge (§20): base64 of the solution's JSON.
/// Ignored unless a challenge is required.
pub fn altcha() -> ObjectBuilder {
    string().description(Some(
        "Base64 of {\"algorithm\", \"challenge\", \"number\", \"salt\", \"signature\"} for a challenge from \
             GET /auth/challenge/ (§20). Needed only when a challenge is required.",
    ))
}

/// A CAPTCHA provider's token (§20), in place of `altcha` when a provider
/// is configured.
pub fn captcha_token() -> ObjectBuilder {
    string().description(Some("A Turnstile, hCaptcha or reCAPTCHA token (§20), when the server is configured for one."))
}
