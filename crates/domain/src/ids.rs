//! Newtype identifiers, so that a workspace id can never be passed where an integration id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier (UUID v7: index-friendly).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an identifier read from storage.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID, for storage.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A tenant: every customer-owned row carries one.
    WorkspaceId
);
uuid_id!(
    /// A person who can log in (customer user or platform support staff).
    UserId
);
uuid_id!(
    /// One connection to one AWS account (management, member or standalone).
    IntegrationId
);
uuid_id!(
    /// A background job in the durable queue.
    JobId
);
uuid_id!(
    /// An API token (the id, never the secret).
    TokenId
);
uuid_id!(
    /// A saved cost report of a workspace.
    ReportId
);
uuid_id!(
    /// A resource of the inventory (Costline's id; AWS's own id and ARN are fields of it).
    ResourceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = WorkspaceId::new();
        let parsed: WorkspaceId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("not-a-uuid".parse::<IntegrationId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a < b);
    }
}
