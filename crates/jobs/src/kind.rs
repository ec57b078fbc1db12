//! Job kinds: the name that ties a queued job to the handler that runs it.

use costline_domain::job_kinds;
use std::borrow::Cow;
use std::fmt;

/// A job kind, e.g. `ingest_period`: lower-case ASCII letters, digits, `_`, `.` and `-`,
/// starting with a letter, at most 63 characters (the `jobs.kind` check).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKind(Cow<'static, str>);

/// The text is not a valid job kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job kind is 1 to 63 characters of a-z, 0-9, '_', '.', '-', starting with a letter; got {0:?}")]
pub struct JobKindError(pub String);

const fn valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 || !b[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'.' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl JobKind {
    /// Verify that an integration's role can be assumed and has the permissions it needs.
    pub const VERIFY_INTEGRATION: JobKind = JobKind::from_static(job_kinds::VERIFY_INTEGRATION);
    /// List an organization's member accounts.
    pub const DISCOVER_ACCOUNTS: JobKind = JobKind::from_static(job_kinds::DISCOVER_ACCOUNTS);
    /// Look for new Cost and Usage Report deliveries.
    pub const POLL_CUR: JobKind = JobKind::from_static(job_kinds::POLL_CUR);
    /// Ingest one billing period's newest report assembly.
    pub const INGEST_PERIOD: JobKind = JobKind::from_static(job_kinds::INGEST_PERIOD);
    /// Send a notification.
    pub const NOTIFY: JobKind = JobKind::from_static(job_kinds::NOTIFY);
    /// Read Cost Explorer's history of an integration's payer account.
    pub const IMPORT_COST_EXPLORER: JobKind = JobKind::from_static(job_kinds::IMPORT_COST_EXPLORER);
    /// Read every account's resources.
    pub const INVENTORY: JobKind = JobKind::from_static(job_kinds::INVENTORY);

    /// A kind from a literal; panics at compile time (in const context) if it is invalid.
    pub const fn from_static(name: &'static str) -> Self {
        assert!(valid(name), "invalid job kind");
        JobKind(Cow::Borrowed(name))
    }

    /// Parses a kind.
    pub fn new(name: impl Into<String>) -> Result<Self, JobKindError> {
        let name = name.into();
        if valid(&name) {
            Ok(JobKind(Cow::Owned(name)))
        } else {
            Err(JobKindError(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for JobKind {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_well_known_kinds_and_sane_names() {
        assert_eq!(JobKind::INGEST_PERIOD.as_str(), "ingest_period");
        assert_eq!(
            JobKind::new("test.effect-2").unwrap().to_string(),
            "test.effect-2"
        );
    }

    #[test]
    fn refuses_what_the_table_would_refuse() {
        for bad in [
            "",
            "Ingest",
            "9lives",
            "has space",
            "ümlaut",
            &"a".repeat(64),
        ] {
            assert!(JobKind::new(bad).is_err(), "{bad:?}");
        }
        assert!(JobKind::new("a".repeat(63)).is_ok());
    }
}
