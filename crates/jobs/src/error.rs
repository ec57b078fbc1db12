//! The crate's error type: what a handler reports and what can stop the pool.

use costline_store::StoreError;

/// A job attempt's failure, or a fault of the pool itself.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A failure worth retrying (throttling, a timeout, a dependency that is down): the job is
    /// queued again after a backoff while attempts are left.
    #[error("{0}")]
    Retryable(String),
    /// A failure that another attempt would repeat (bad input, access denied for good): the job
    /// is `failed` at once.
    #[error("{0}")]
    Permanent(String),
    /// The handler stopped because the job was cancelled or is no longer this worker's.
    #[error("the job was cancelled")]
    Cancelled,
    /// The payload does not have the shape the handler expects (permanent).
    #[error("invalid job payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// A database fault (retryable).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pool's configuration is not usable.
    #[error("invalid worker configuration: {0}")]
    Config(String),
}

impl JobError {
    /// A retryable failure with this message.
    pub fn retryable(message: impl std::fmt::Display) -> Self {
        JobError::Retryable(message.to_string())
    }

    /// A permanent failure with this message.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        JobError::Permanent(message.to_string())
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            JobError::Retryable(_) | JobError::Store(_) => true,
            JobError::Permanent(_)
            | JobError::Cancelled
            | JobError::Payload(_)
            | JobError::Config(_) => false,
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        JobError::Store(StoreError::Database(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(JobError::retryable("throttled").is_retryable());
        assert!(JobError::Store(StoreError::NotFound).is_retryable());
        assert!(!JobError::permanent("access denied").is_retryable());
        assert!(!JobError::Cancelled.is_retryable());
        let bad: Result<u32, _> = serde_json::from_str("\"x\"");
        assert!(!JobError::from(bad.unwrap_err()).is_retryable());
    }
}
