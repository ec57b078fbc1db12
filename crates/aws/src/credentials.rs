//! The credentials of a role session: STS AssumeRole with the integration's external id, through
//! the platform's STS client.
//!
//! This is the SDK's `AssumeRoleProvider` in thirty lines, written out so that it calls STS
//! through the gateway's own platform client (same endpoint, region and HTTP pool, and a client
//! tests can replace), fails with a typed [`AwsError`] instead of an opaque provider error, and
//! refuses once the integration is revoked. Caching and refresh stay with the SDK's lazy
//! identity cache (see `session.rs`).

use crate::error::{self, AwsError, Target};
use crate::session::CallerIdentity;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;
use costline_domain::{ExternalId, RoleArn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::OnceCell;

/// The platform side: its STS client and, once known, its own identity.
#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) region: String,
    identity: OnceCell<CallerIdentity>,
}

impl Platform {
    pub(crate) fn new(sts: aws_sdk_sts::Client, region: String) -> Self {
        Self {
            sts,
            region,
            identity: OnceCell::new(),
        }
    }

    /// GetCallerIdentity of the platform's credentials, asked once per process.
    pub(crate) async fn identity(&self) -> Result<&CallerIdentity, AwsError> {
        self.identity
            .get_or_try_init(|| async {
                let out = self.sts.get_caller_identity().send().await.map_err(|e| {
                    error::from_sdk("sts", "GetCallerIdentity", Target::Platform, e)
                })?;
                CallerIdentity::from_sts(out)
            })
            .await
    }
}

/// Assumes one customer role with one external id; one instance per [`crate::RoleSession`].
#[derive(Debug)]
pub(crate) struct AssumeRoleCredentials {
    pub(crate) platform: Arc<Platform>,
    pub(crate) role_arn: RoleArn,
    pub(crate) external_id: ExternalId,
    pub(crate) session_name: String,
    pub(crate) revoked: Arc<AtomicBool>,
}

impl AssumeRoleCredentials {
    async fn assume(&self) -> Result<Credentials, AwsError> {
        let role_arn = self.role_arn.to_string();
        if self.revoked.load(Ordering::SeqCst) {
            return Err(AwsError::Revoked { role_arn });
        }
        tracing::debug!(role_arn = %role_arn, session_name = %self.session_name, "assuming role");
        let result = self
            .platform
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .external_id(self.external_id.as_str())
            .role_session_name(&self.session_name)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                // Name the account the role must trust; a failure to learn it only shortens the
                // message.
                let platform_account_id = self
                    .platform
                    .identity()
                    .await
                    .ok()
                    .map(|i| i.account_id.clone());
                let target = Target::AssumeRole {
                    role_arn: &role_arn,
                    region: &self.platform.region,
                    platform_account_id: platform_account_id.as_ref(),
                };
                let err = error::from_sdk("sts", "AssumeRole", target, e);
                tracing::warn!(role_arn = %role_arn, code = err.code(), "AssumeRole failed");
                return Err(err);
            }
        };
        let invalid = |what: &str| AwsError::InvalidResponse {
            service: "sts",
            operation: "AssumeRole",
            what: what.to_string(),
        };
        let c = out.credentials.ok_or_else(|| invalid("credentials"))?;
        let expiry =
            SystemTime::try_from(c.expiration).map_err(|_| invalid("a valid expiration"))?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expiry),
            "CostlineAssumeRole",
        ))
    }
}

impl ProvideCredentials for AssumeRoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let result: provider::Result = self
                .assume()
                .await
                .map_err(CredentialsError::provider_error);
            result
        })
    }
}
