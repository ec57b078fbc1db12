//! Why a period could not be ingested, and whether another attempt could succeed.
//!
//! Every message names the report file (`s3://bucket/key`) and, where the customer can act,
//! says what to do: the message is what the period's `error` and the job's failure show.
//! Transient faults (AWS throttling or 5xx, a read that broke off, the spool file, the database)
//! are retried while the job has attempts left; a missing or corrupt file fails the period at once. `Stopped` is not a failure: the job was cancelled or another file failed
//! first.

use costline_aws::AwsError;
use costline_cur::CurError;
use costline_store::StoreError;

/// Why a period could not be ingested.
#[derive(Debug, thiserror::Error)]
pub(super) enum IngestError {
    #[error("the report file s3://{bucket}/{key} named by the manifest is missing: wait for AWS to finish the delivery, or check the bucket's lifecycle rules")]
    Missing { bucket: String, key: String },
    #[error("report file s3://{bucket}/{key}: {source}")]
    File {
        bucket: String,
        key: String,
        source: CurError,
    },
    #[error("reading s3://{bucket}/{key}: {source}")]
    Aws {
        bucket: String,
        key: String,
        // Boxed: AWS errors are large, and every result of the load carries this type.
        source: Box<AwsError>,
    },
    #[error("spooling s3://{bucket}/{key} to a temporary file: {source}")]
    Spool {
        bucket: String,
        key: String,
        source: std::io::Error,
    },
    #[error("report file s3://{bucket}/{key}: {read} rows read but {stored} stored")]
    Count {
        bucket: String,
        key: String,
        read: u64,
        stored: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped")]
    Stopped,
}

impl IngestError {
    /// Whether another attempt could succeed.
    pub(super) fn is_retryable(&self) -> bool {
        match self {
            IngestError::Aws { source, .. } => source.is_retryable(),
            IngestError::File {
                source: CurError::Io { .. },
                ..
            } => true,
            IngestError::Spool { .. } | IngestError::Store(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(source: CurError) -> IngestError {
        IngestError::File {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-1.csv.gz".into(),
            source,
        }
    }

    fn aws(source: AwsError) -> IngestError {
        IngestError::Aws {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-1.csv.gz".into(),
            source: Box::new(source),
        }
    }

    fn io() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
    }

    #[test]
    fn transient_faults_are_retried() {
        let throttled = aws(AwsError::Throttled {
            service: "s3",
            operation: "GetObject",
            code: "SlowDown".into(),
        });
        let broken_read = file(CurError::Io {
            row: 7,
            source: io(),
        });
        let spool = IngestError::Spool {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-1.parquet".into(),
            source: io(),
        };
        let database = IngestError::Store(StoreError::Conflict("busy".into()));
        for e in [throttled, broken_read, spool, database] {
            assert!(e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn what_another_attempt_would_repeat_fails_the_period() {
        let missing = IngestError::Missing {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-2.csv.gz".into(),
        };
        let zip = IngestError::File {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-1.csv.zip".into(),
            source: CurError::Zip("the archive holds 2 files".into()),
        };
        let denied = aws(AwsError::BucketAccessDenied {
            bucket: "acme-cur".into(),
            key: Some("cur/r/a/r-1.csv.gz".into()),
            message: "Access Denied".into(),
        });
        let count = IngestError::Count {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-1.csv.gz".into(),
            read: 10,
            stored: 9,
        };
        for e in [
            missing,
            zip,
            denied,
            count,
            file(CurError::EmptyFile),
            IngestError::Stopped,
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn messages_name_the_file_and_what_to_do() {
        let missing = IngestError::Missing {
            bucket: "acme-cur".into(),
            key: "cur/r/a/r-2.csv.gz".into(),
        };
        assert_eq!(
            missing.to_string(),
            "the report file s3://acme-cur/cur/r/a/r-2.csv.gz named by the manifest is missing: \
             wait for AWS to finish the delivery, or check the bucket's lifecycle rules"
        );
        assert_eq!(
            file(CurError::EmptyFile).to_string(),
            "report file s3://acme-cur/cur/r/a/r-1.csv.gz: report file is empty (no header row)"
        );
    }
}
