//! Identifiers as types: a user id, a session id and a token id cannot be
//! passed for one another, and each is parsed once where it enters.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id: a UUIDv7, so ids sort by creation time.
            pub fn new() -> $name {
                $name(Uuid::now_v7())
            }

            pub fn from_uuid(id: Uuid) -> $name {
                $name(id)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// An account's id: a UUIDv7 (ids imported from the Django original keep
    /// their UUID).
    UserId
);

uuid_id!(
    /// A session (a device sign-in): the `sid` claim of its tokens.
    SessionId
);

uuid_id!(
    /// A registered passkey (§15.3), as its owner's list names it.
    PasskeyId
);

/// A token's `jti`: 32 lowercase hex characters (SimpleJWT's uuid4 hex).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Jti(String);

impl Jti {
    pub fn random() -> Jti {
        let bytes: [u8; 16] = rand::rng().random();
        Jti(hex::encode(bytes))
    }

    /// As a token carries it; not checked (a jti is compared, never trusted).
    pub fn from_claim(s: impl Into<String>) -> Jti {
        Jti(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Jti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_as_hyphenated_uuids() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        assert_eq!(id.to_string().len(), 36);
        assert!("not-a-uuid".parse::<SessionId>().is_err());
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(id.to_string()));
    }

    #[test]
    fn a_random_jti_is_32_lowercase_hex() {
        let jti = Jti::random();
        assert_eq!(jti.as_str().len(), 32);
        assert!(jti.as_str().chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(jti, Jti::random());
    }
}
