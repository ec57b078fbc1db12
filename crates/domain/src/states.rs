//! The states of an integration and of the accounts it discovers, decoded once from the stored
//! text and compared as values everywhere above the store.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Stored text that is not one of a state's spellings (a database written by a newer version,
/// or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownState {
    /// Which state.
    pub what: &'static str,
    /// The text found.
    pub value: String,
}

/// Declares a state enum with its stored spellings, `as_str`, `Display`, `FromStr` and
/// `TryFrom<String>` (which `sqlx(try_from = "String")` decodes rows with).
macro_rules! state {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored and API spelling.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownState { what: $what, value: other.to_owned() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownState;
            fn try_from(s: String) -> Result<Self, UnknownState> {
                s.parse()
            }
        }
    };
}

pub(crate) use state;

state!(
    /// Where an integration is in its life.
    IntegrationStatus, "integration status", {
        /// Created; no role submitted yet.
        Pending => "pending",
        /// A role was submitted and is being verified.
        Verifying => "verifying",
        /// Verified: costs and accounts are read through the role.
        Connected => "connected",
        /// The last verification failed; the error says why.
        Error => "error",
        /// Revoked by the customer: a tombstone without role, external id or data.
        Revoked => "revoked",
    }
);

impl IntegrationStatus {
    /// False once revoked: nothing of the integration may be read or written again.
    pub fn is_live(&self) -> bool {
        *self != IntegrationStatus::Revoked
    }
}

state!(
    /// What kind of account an integration's role lives in.
    AccountType, "account type", {
        /// The management (payer) account of an organization: sees every member's costs.
        Management => "management",
        /// A member account of an organization.
        Member => "member",
        /// An account in no organization.
        Standalone => "standalone",
    }
);

state!(
    /// What checking Costline's role in a discovered account found.
    RoleStatus, "role status", {
        /// Not checked yet.
        Unknown => "unknown",
        /// The role was assumed with the integration's external id.
        Ok => "ok",
        /// AssumeRole was denied (missing role, or a trust policy without Costline).
        Denied => "denied",
        /// The role does not exist.
        Missing => "missing",
        /// The check failed for another reason; checked again at the next sync.
        Error => "error",
        /// Not checked: the account left, or is still being created.
        NotChecked => "not_checked",
        /// Kept for rows written before migration 0006.
        NotApplicable => "not_applicable",
        /// A suspended, closing or closed account: never assumed, never retried.
        Inactive => "inactive",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_what_they_write() {
        for s in IntegrationStatus::ALL {
            assert_eq!(s.as_str().parse::<IntegrationStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in AccountType::ALL {
            assert_eq!(AccountType::try_from(s.to_string()).unwrap(), *s);
        }
        for s in RoleStatus::ALL {
            assert_eq!(s.as_str().parse::<RoleStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let e = "archived".parse::<IntegrationStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown integration status \"archived\"");
        assert!(!IntegrationStatus::Revoked.is_live());
        assert!(IntegrationStatus::Error.is_live());
    }
}
