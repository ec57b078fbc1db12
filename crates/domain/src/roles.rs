//! Workspace membership roles and what each may do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role in a workspace, ordered from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads costs and integration status.
    Member,
    /// Manages integrations, members and tokens.
    Admin,
    /// An admin who may also delete the workspace.
    Owner,
}

/// The text was not one of `owner`, `admin`, `member`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?}: use owner, admin or member")]
pub struct RoleParseError(pub String);

impl Role {
    /// The stable lowercase name used in storage and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Whether this role may administer the workspace (integrations, members, tokens).
    pub fn is_admin(&self) -> bool {
        *self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(RoleParseError(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_and_owners_administer() {
        assert!(!Role::Member.is_admin());
        assert!(Role::Admin.is_admin());
        assert!(Role::Owner.is_admin());
    }

    #[test]
    fn roles_parse_from_their_names() {
        for role in [Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
