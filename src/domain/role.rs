use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Vendor,
    Staff,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Client, Role::Vendor, Role::Staff, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Vendor => "vendor",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Roles a person may pick for themselves at registration.
    pub fn self_assignable(self) -> bool {
        matches!(self, Role::Client | Role::Vendor)
    }
}

impl FromStr for Role {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Role, Self::Err> {
        match s {
            "client" => Ok(Role::Client),
            "vendor" => Ok(Role::Vendor),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            _ => Err("Not a valid role (client, vendor, staff, admin)."),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
