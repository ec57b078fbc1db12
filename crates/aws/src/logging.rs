//! Keeping credentials out of the logs.
//!
//! The AWS SDK redacts the secret access key and the session token when it prints credentials,
//! but not the access key id, and its orchestrator and SigV4 signer print it in DEBUG and TRACE
//! events (resolved identity, endpoint parameters, the request being signed). Every tracing subscriber of Costline caps those
//! targets at INFO with [`credential_safe_directives`], whatever `RUST_LOG` asks for; the
//! end-to-end test `tests/no_secrets.rs` captures TRACE output with the same directives and
//! searches it for the credentials the emulator issued.

/// Log targets whose DEBUG and TRACE events print the access key id of the credentials in use:
/// the orchestrator (resolved identity, endpoint parameters) and the SigV4 signer (the request
/// being signed, whose `X-Amz-Credential` and `Authorization` name the key).
pub const CREDENTIAL_LOG_TARGETS: &[&str] =
    &["aws_smithy_runtime::client::orchestrator", "aws_sigv4"];

/// `target=info` for each of [`CREDENTIAL_LOG_TARGETS`], for `EnvFilter::add_directive`: a
/// target directive is more specific than a level or a crate directive, so it wins over
/// `RUST_LOG=trace` or `RUST_LOG=aws_smithy_runtime=debug`.
pub fn credential_safe_directives() -> Vec<String> {
    CREDENTIAL_LOG_TARGETS
        .iter()
        .map(|target| format!("{target}=info"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directive_caps_a_target_at_info() {
        let directives = credential_safe_directives();
        assert_eq!(directives.len(), CREDENTIAL_LOG_TARGETS.len());
        assert!(directives
            .iter()
            .all(|d| d.ends_with("=info") && d.starts_with("aws_")));
    }
}
