//! The gateway: the platform's own credentials and the cache of role sessions.

use crate::config::GatewayConfig;
use crate::credentials::Platform;
use crate::error::AwsError;
use crate::session::{CallerIdentity, RoleSession};
use crate::session_name::sanitize_session_name;
use aws_config::SdkConfig;
use costline_domain::{AccountId, ExternalId, RoleArn};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Everything Costline asks of AWS goes through here; cheap to clone, share one per process.
#[derive(Clone)]
pub struct AwsGateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: GatewayConfig,
    /// Loaded on first use: loading the standard credential chain is asynchronous.
    sdk_config: OnceCell<SdkConfig>,
    platform: OnceCell<Arc<Platform>>,
    sessions: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    by_role: HashMap<(RoleArn, ExternalId), RoleSession>,
    /// External ids of revoked integrations: never assumed again by this process. An external
    /// id is generated per integration and never reused, so this only grows by one per
    /// revocation.
    revoked: HashSet<ExternalId>,
}

impl fmt::Debug for AwsGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsGateway")
            .field("endpoint_url", &self.inner.config.endpoint_url)
            .field("region", &self.inner.config.region)
            .finish_non_exhaustive()
    }
}

impl AwsGateway {
    /// A gateway for `config`; nothing is loaded or called until the first request.
    pub fn new(config: GatewayConfig) -> AwsGateway {
        AwsGateway {
            inner: Arc::new(Inner {
                config,
                sdk_config: OnceCell::new(),
                platform: OnceCell::new(),
                sessions: Mutex::new(Sessions::default()),
            }),
        }
    }

    /// A gateway whose platform calls (GetCallerIdentity, AssumeRole) go through `sts` instead
    /// of a client built from `config`: for tests that fake STS in process
    /// (aws-smithy-mocks). Role sessions still use `config` for their own clients.
    pub fn with_platform_sts(config: GatewayConfig, sts: aws_sdk_sts::Client) -> AwsGateway {
        let platform = Arc::new(Platform::new(sts, config.region.clone()));
        let gateway = Self::new(config);
        gateway
            .inner
            .platform
            .set(platform)
            .expect("a new gateway has no platform client yet");
        gateway
    }

    /// The configuration the gateway was made with.
    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    pub(crate) async fn sdk_config(&self) -> &SdkConfig {
        self.inner
            .sdk_config
            .get_or_init(|| self.inner.config.load_sdk_config())
            .await
    }

    async fn platform(&self) -> Arc<Platform> {
        if let Some(p) = self.inner.platform.get() {
            return p.clone();
        }
        let sts = aws_sdk_sts::Client::new(self.sdk_config().await);
        let region = self.inner.config.region.clone();
        self.inner
            .platform
            .get_or_init(|| async move { Arc::new(Platform::new(sts, region)) })
            .await
            .clone()
    }

    /// GetCallerIdentity of the platform's own credentials (asked once, then remembered).
    pub async fn platform_identity(&self) -> Result<CallerIdentity, AwsError> {
        Ok(self.platform().await.identity().await?.clone())
    }

    /// The AWS account customers' roles must trust: the platform credentials' own account.
    pub async fn platform_account_id(&self) -> Result<AccountId, AwsError> {
        Ok(self.platform_identity().await?.account_id)
    }

    /// A session acting as `role`, assumed with `external_id` under `session_name` (sanitized to
    /// STS's rules; see [`crate::workspace_session_name`]).
    ///
    /// A new session is proven at once with GetCallerIdentity, so that a role the platform may
    /// not assume fails here with [`AwsError::AssumeRoleDenied`]; the credentials it fetched stay
    /// cached. Later calls for the same role and external id return the same session without a
    /// call to AWS, until [`AwsGateway::forget`] or [`AwsGateway::forget_integration`].
    pub async fn assume(
        &self,
        role: &RoleArn,
        external_id: &ExternalId,
        session_name: &str,
    ) -> Result<RoleSession, AwsError> {
        let key = (role.clone(), external_id.clone());
        {
            let sessions = self.inner.sessions.lock().expect("sessions lock");
            if sessions.revoked.contains(external_id) {
                return Err(AwsError::Revoked {
                    role_arn: role.to_string(),
                });
            }
            if let Some(session) = sessions.by_role.get(&key) {
                return Ok(session.clone());
            }
        }
        let session = RoleSession::build(
            self.sdk_config().await,
            self.inner.config.endpoint_url.is_some(),
            self.inner.config.pricing_endpoint_url.clone(),
            self.platform().await,
            role.clone(),
            external_id.clone(),
            sanitize_session_name(session_name),
        );
        let identity = session.caller_identity().await?;
        tracing::info!(
            role_arn = %role,
            account_id = %identity.account_id,
            session_name = session.session_name(),
            "assumed customer role"
        );
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        // A revocation may have landed while STS answered: it wins.
        if sessions.revoked.contains(external_id) {
            session.revoke();
            return Err(AwsError::Revoked {
                role_arn: role.to_string(),
            });
        }
        // Two tasks may have assumed the role at once: keep the first, so one cache serves both.
        Ok(sessions.by_role.entry(key).or_insert(session).clone())
    }

    /// Whether `role` can be assumed with `external_id`: AssumeRole, then GetCallerIdentity with
    /// the credentials it returned. Nothing is cached, so that checking every member role of
    /// an organization of thousands of accounts leaves no session (and no credentials) behind.
    /// Refused with [`AwsError::Revoked`] once the external id's integration is revoked.
    pub async fn probe_role(
        &self,
        role: &RoleArn,
        external_id: &ExternalId,
        session_name: &str,
    ) -> Result<CallerIdentity, AwsError> {
        let revoked = || {
            self.inner
                .sessions
                .lock()
                .expect("sessions lock")
                .revoked
                .contains(external_id)
        };
        if revoked() {
            return Err(AwsError::Revoked {
                role_arn: role.to_string(),
            });
        }
        let session = RoleSession::build(
            self.sdk_config().await,
            self.inner.config.endpoint_url.is_some(),
            self.inner.config.pricing_endpoint_url.clone(),
            self.platform().await,
            role.clone(),
            external_id.clone(),
            sanitize_session_name(session_name),
        );
        let identity = session.caller_identity().await?;
        if revoked() {
            return Err(AwsError::Revoked {
                role_arn: role.to_string(),
            });
        }
        Ok(identity)
    }

    /// Proves that `role` requires its external id: AssumeRole with a random external id, and
    /// with none, must both be refused. Either succeeding is
    /// [`AwsError::ExternalIdNotRequired`]; a refusal is what a correct trust policy answers;
    /// any other failure (throttling, an unreachable STS) is returned as it is, so the caller
    /// retries. The credentials a wrong id got are dropped unused. Does nothing when the
    /// configuration turns the proof off (an emulator: see
    /// [`GatewayConfig::prove_external_id_required`]).
    pub async fn require_external_id(
        &self,
        role: &RoleArn,
        session_name: &str,
    ) -> Result<(), AwsError> {
        if !self.inner.config.prove_external_id_required {
            return Ok(());
        }
        let platform = self.platform().await;
        let session_name = sanitize_session_name(&format!("{session_name}-extid-check"));
        let random = ExternalId::generate();
        for (accepted, external_id) in [
            ("a random external id", Some(random.as_str())),
            ("no external id", None),
        ] {
            let result = platform
                .sts
                .assume_role()
                .role_arn(role.to_string())
                .role_session_name(&session_name)
                .set_external_id(external_id.map(str::to_string))
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::warn!(role_arn = %role, accepted, "the role's trust policy does not require the external id");
                    return Err(AwsError::ExternalIdNotRequired {
                        role_arn: role.to_string(),
                        accepted,
                    });
                }
                Err(e) => match crate::error::from_sdk(
                    "sts",
                    "AssumeRole",
                    crate::error::Target::AssumeRole {
                        role_arn: &role.to_string(),
                        region: &platform.region,
                        platform_account_id: None,
                    },
                    e,
                ) {
                    AwsError::AssumeRoleDenied { .. } => {}
                    other => return Err(other),
                },
            }
        }
        Ok(())
    }

    /// Drops every cached session of `role` (e.g. after the customer changed its trust policy or
    /// the integration now names another role); the next [`AwsGateway::assume`] starts afresh.
    /// Clones of the dropped sessions keep working until their credentials expire.
    pub fn forget(&self, role: &RoleArn) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        sessions.by_role.retain(|(r, _), _| r != role);
    }

    /// Revocation: drops every session assumed with `external_id` (the integration's management
    /// role and its member-account roles), makes their clones fail with
    /// [`AwsError::Revoked`] at once, and refuses to assume anything with that external id
    /// again in this process.
    pub fn forget_integration(&self, external_id: &ExternalId) {
        let mut sessions = self.inner.sessions.lock().expect("sessions lock");
        sessions.revoked.insert(external_id.clone());
        sessions.by_role.retain(|(_, e), session| {
            if e == external_id {
                session.revoke();
                false
            } else {
                true
            }
        });
    }

    /// How many role sessions are cached (for metrics and tests).
    pub fn cached_sessions(&self) -> usize {
        self.inner
            .sessions
            .lock()
            .expect("sessions lock")
            .by_role
            .len()
    }
}
