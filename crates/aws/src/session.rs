//! A role session: the SDK clients that act as one customer role.

use crate::credentials::{AssumeRoleCredentials, Platform};
use crate::error::{self, AwsError, Target};
use aws_config::identity::IdentityCache;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use costline_domain::{AccountId, ExternalId, RoleArn};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Credentials are renewed this long before they expire, so that a call never starts with
/// credentials about to lapse.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Who a set of credentials is, as STS GetCallerIdentity answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The account the credentials act in.
    pub account_id: AccountId,
    /// The principal, e.g. `arn:aws:sts::123456789012:assumed-role/CostlineReadOnly/costline-…`.
    pub arn: String,
    /// The unique id of the principal (`AROA…:session`).
    pub user_id: String,
}

impl CallerIdentity {
    pub(crate) fn from_sts(
        out: aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput,
    ) -> Result<Self, AwsError> {
        let invalid = |what: &str| AwsError::InvalidResponse {
            service: "sts",
            operation: "GetCallerIdentity",
            what: what.to_string(),
        };
        let account = out.account.ok_or_else(|| invalid("Account"))?;
        Ok(Self {
            account_id: AccountId::parse(&account).map_err(|_| invalid("a 12-digit Account"))?,
            arn: out.arn.ok_or_else(|| invalid("Arn"))?,
            user_id: out.user_id.unwrap_or_default(),
        })
    }
}

/// The clients that act as one customer role; cheap to clone, shared by every clone.
///
/// Credentials are fetched on first use, cached in memory by the SDK's identity cache (shared by
/// the four clients) and renewed five minutes before they expire. Once the gateway forgets the
/// integration ([`crate::AwsGateway::forget_integration`]), every clone refuses to work.
#[derive(Clone)]
pub struct RoleSession {
    pub(crate) inner: Arc<SessionInner>,
}

pub(crate) struct SessionInner {
    pub(crate) role_arn: RoleArn,
    pub(crate) session_name: String,
    /// Where the Costline stack is read: the role's partition's integration region.
    pub(crate) cloudformation_region: String,
    pub(crate) revoked: Arc<AtomicBool>,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) organizations: aws_sdk_organizations::Client,
    /// S3 in the platform's region: asks where buckets are, and reads those in that region.
    pub(crate) s3: aws_sdk_s3::Client,
    /// What S3 clients for other regions are made of (same credentials and cache).
    pub(crate) s3_config: aws_sdk_s3::Config,
    /// Bucket regions found so far, and one S3 client per region they named.
    pub(crate) buckets: Mutex<BucketRegions>,
    pub(crate) cloudformation: aws_sdk_cloudformation::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) cost_explorer: aws_sdk_costexplorer::Client,
    /// The role's configuration (credentials and cache shared with the clients above), for
    /// the clients the inventory makes per region.
    pub(crate) config: SdkConfig,
    /// The Price List Query API's endpoint override, if any.
    pub(crate) pricing_endpoint_url: Option<String>,
}

/// Each bucket's region, once known, and the S3 client of each such region.
#[derive(Default)]
pub(crate) struct BucketRegions {
    pub(crate) region_of: HashMap<String, String>,
    pub(crate) clients: HashMap<String, aws_sdk_s3::Client>,
}

impl fmt::Debug for RoleSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleSession")
            .field("role_arn", &self.inner.role_arn.to_string())
            .field("session_name", &self.inner.session_name)
            .field("revoked", &self.inner.revoked.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl RoleSession {
    pub(crate) fn build(
        base: &SdkConfig,
        path_style: bool,
        pricing_endpoint_url: Option<String>,
        platform: Arc<Platform>,
        role_arn: RoleArn,
        external_id: ExternalId,
        session_name: String,
    ) -> Self {
        let revoked = Arc::new(AtomicBool::new(false));
        let provider = AssumeRoleCredentials {
            platform: platform.clone(),
            role_arn: role_arn.clone(),
            external_id,
            session_name: session_name.clone(),
            revoked: revoked.clone(),
        };
        // One provider and one cache for the four clients: the provider's cache partition is
        // fixed when it is wrapped, so every client finds the same cached credentials.
        let config = base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(
                IdentityCache::lazy()
                    .buffer_time(REFRESH_BEFORE_EXPIRY)
                    .build(),
            )
            .build();
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build();
        // The stack is created in one region per partition (the template's Rules), whichever
        // region the platform runs in.
        let cloudformation_region = role_arn.partition().integration_region().to_string();
        let cloudformation = aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&config)
                .region(aws_config::Region::new(cloudformation_region.clone()))
                .build(),
        );
        // Cost Explorer has one endpoint per partition, in its billing region.
        let cost_explorer = aws_sdk_costexplorer::Client::from_conf(
            aws_sdk_costexplorer::config::Builder::from(&config)
                .region(aws_config::Region::new(cloudformation_region.clone()))
                .build(),
        );
        Self {
            inner: Arc::new(SessionInner {
                role_arn,
                session_name,
                cloudformation_region,
                revoked,
                sts: aws_sdk_sts::Client::new(&config),
                organizations: aws_sdk_organizations::Client::new(&config),
                s3: aws_sdk_s3::Client::from_conf(s3_config.clone()),
                s3_config,
                buckets: Mutex::new(BucketRegions::default()),
                cloudformation,
                iam: aws_sdk_iam::Client::new(&config),
                cost_explorer,
                config,
                pricing_endpoint_url,
            }),
        }
    }

    /// The role this session acts as.
    pub fn role_arn(&self) -> &RoleArn {
        &self.inner.role_arn
    }

    /// The account the role lives in (from its ARN, without a call).
    pub fn account_id(&self) -> &AccountId {
        self.inner.role_arn.account_id()
    }

    /// The STS session name, visible in the customer's CloudTrail.
    pub fn session_name(&self) -> &str {
        &self.inner.session_name
    }

    /// Whether two handles share one session (and so one credentials cache).
    pub fn same_session(&self, other: &RoleSession) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the integration was revoked since this session was made.
    pub fn is_revoked(&self) -> bool {
        self.inner.revoked.load(Ordering::SeqCst)
    }

    pub(crate) fn revoke(&self) {
        self.inner.revoked.store(true, Ordering::SeqCst);
    }

    /// Fails with [`AwsError::Revoked`] once the integration is revoked, even while credentials
    /// are still cached.
    pub(crate) fn ensure_live(&self) -> Result<(), AwsError> {
        if self.is_revoked() {
            Err(AwsError::Revoked {
                role_arn: self.inner.role_arn.to_string(),
            })
        } else {
            Ok(())
        }
    }

    /// STS GetCallerIdentity with the role's credentials: proves the role can be assumed and
    /// tells which account it acts in.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, AwsError> {
        self.ensure_live()?;
        let out = self
            .inner
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error::from_sdk("sts", "GetCallerIdentity", Target::Session, e))?;
        CallerIdentity::from_sts(out)
    }
}
