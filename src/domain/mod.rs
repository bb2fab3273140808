//! Values parsed once at the edge. Holding one is proof that it is valid.

mod audit;
mod clock;
pub(crate) mod device;
mod email;
mod ids;
pub(crate) mod import;
pub mod ip_table;
mod login_id;
pub(crate) mod mfa;
pub(crate) mod network;
pub(crate) mod passkey;
mod password;
pub(crate) mod password_policy;
mod phone;
pub(crate) mod recovery;
mod role;
pub(crate) mod session;
pub(crate) mod social;
pub(crate) mod soft_lock;
mod user;
mod wall_clock;

pub use audit::{AuditAction, AuditEvent, ClientInfo, Outcome};
pub use clock::Clock;
pub(crate) use clock::{from_micros, micros};
pub use email::Email;
pub use ids::{Jti, PasskeyId, SessionId, UserId};
pub use login_id::LoginId;
pub use password::{MAX_BYTES as PASSWORD_MAX_BYTES, Password};
pub use phone::Phone;
pub use role::Role;
pub use user::{AuthProvider, User, UserView, rfc3339};
pub use wall_clock::WallClock;
