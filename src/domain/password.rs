use std::fmt;

/// A plaintext password as a client sent it: non-empty, at most 4096 bytes.
/// Its `Debug` never shows the text. (Policy rules live in the flows, since
/// they need the rest of the account.)
#[derive(Clone)]
pub struct Password(String);

pub const MAX_BYTES: usize = 4096;

impl Password {
    pub fn parse(raw: &str) -> Result<Password, &'static str> {
        if raw.is_empty() {
            return Err("This field may not be blank.");
        }
        if raw.len() > MAX_BYTES {
            return Err("Ensure this field has no more than 4096 bytes.");
        }
        Ok(Password(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}
