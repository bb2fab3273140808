//! Values parsed once at the edge. Holding one is proof that it is valid.

mod audit;
mod clock;
mod email;
mod login_id;
pub mod network;
mod password;
mod phone;
mod role;
pub mod soft_lock;
mod user;

pub use audit::{AuditEvent, ClientInfo, Outcome};
pub use clock::Clock;
pub use email::Email;
pub use login_id::LoginId;
pub use password::Password;
pub use phone::Phone;
pub use role::Role;
pub use user::{AuthProvider, User, UserId, UserView, rfc3339};
