//! `verify_integration`: assume the customer's role with the integration's external id, prove
//! that the role cannot be assumed without it, tell management, member and standalone accounts
//! apart, read the Costline stack's outputs, then
//! mark the integration connected, set its schedules and queue account discovery and CUR polling.

use crate::{live_session, load_live_integration, will_retry, Workflows};
use async_trait::async_trait;
use costline_aws::{AccountType, AwsError};
use costline_domain::{job_kinds, ExternalId, IntegrationId, RoleArn};
use costline_jobs::{schedule_integration, JobContext, JobError, JobHandler};
use costline_store::cost_explorer;
use costline_store::integrations::{self, CurLocation, Verified};
use costline_store::jobs::{self, NewJob};

/// Handler of [`job_kinds::VERIFY_INTEGRATION`].
pub(crate) struct VerifyIntegration(pub(crate) Workflows);

#[async_trait]
impl JobHandler for VerifyIntegration {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(live) = load_live_integration(wf, job).await? else {
            return Ok(());
        };
        let session = live_session(wf, job, live.id, &live.role, &live.external_id).await?;
        let outcome = async {
            let session = session?;
            let verification = session.verify().await?;
            // The real external id works; a wrong one, or none, must not.
            wf.gateway()
                .require_external_id(&live.role, session.session_name())
                .await?;
            // The stack is optional (Terraform and manual roles have none); a role without
            // cloudformation:DescribeStacks still connects.
            let stack = match session.find_costline_stack().await {
                Ok(stack) => stack,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, "no readable Costline stack; CUR location must come from connect");
                    None
                }
            };
            // A role made by Terraform or by hand has no stack to tell its version: read its
            // own policies instead and compare them with the published permission set.
            let policies = match &stack {
                Some(_) => None,
                None => Some(match session.own_role_policies().await {
                    Ok(policies) => Ok(policies),
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => Err(e.to_string()),
                }),
            };
            Ok::<_, AwsError>((verification, stack, policies))
        }
        .await;

        job.checkpoint().await?;
        let (verification, stack, policies) = match outcome {
            Ok(found) => found,
            Err(e) if will_retry(job, e.is_retryable()) => return Err(JobError::retryable(e)),
            Err(e) => {
                // A session that no longer works must not be served from the cache when the
                // customer fixes the trust relationship and syncs again.
                wf.gateway().forget(&live.role);
                let message = e.to_string();
                let mut scope = wf.store().scoped(job.workspace_id()).await?;
                integrations::mark_error_with_code(&mut scope, live.id, Some(e.code()), &message)
                    .await?;
                scope.commit().await?;
                tracing::warn!(integration_id = %live.id, code = e.code(), "verification failed");
                return Err(JobError::permanent(message));
            }
        };

        let verified = Verified {
            account_id: verification.identity.account_id.to_string(),
            account_type: verification.account_type.as_str(),
            organization_id: verification.organization.as_ref().map(|o| o.id.clone()),
            management_account_id: verification
                .organization
                .as_ref()
                .map(|o| o.management_account_id.to_string()),
        };
        let stack_cur = stack.as_ref().and_then(|s| {
            Some(CurLocation {
                bucket: s.get("CurBucket")?.to_string(),
                prefix: s
                    .get("CurPrefix")
                    .unwrap_or_default()
                    .trim_matches('/')
                    .to_string(),
                report_name: s.get("CurReportName")?.to_string(),
            })
        });

        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        // Locks the row: a revocation committed meanwhile is seen here and wins.
        let current = integrations::lock(&mut scope, live.id).await?;
        if !current.status.is_live() {
            return Ok(());
        }
        if let Some(stack) = &stack {
            integrations::record_stack(
                &mut scope,
                live.id,
                Some(&stack.stack_id),
                stack.template_version(),
                stack_cur.as_ref(),
            )
            .await?;
        }
        if let Some(policies) = &policies {
            let (drift, error) = match policies {
                Ok(policies) => (Some(role_policy_drift(policies)), None),
                Err(message) => (
                    None,
                    Some(format!(
                        "Costline could not read this role's policies to compare them with the \
                         published permission set: {message}"
                    )),
                ),
            };
            integrations::record_role_policy(
                &mut scope,
                live.id,
                job.now(),
                drift.as_ref(),
                error.as_deref(),
            )
            .await?;
        }
        integrations::mark_connected(&mut scope, live.id, &verified).await?;
        let with_cur = current.cur_bucket.is_some() || stack_cur.is_some();
        schedule_integration(
            &mut scope,
            live.id,
            &wf.settings().schedules,
            with_cur,
            job.now(),
        )
        .await?;
        let mut follow_ups = vec![job_kinds::DISCOVER_ACCOUNTS];
        if with_cur {
            follow_ups.push(job_kinds::POLL_CUR);
        }
        // Cost Explorer's history, once per payer account (each request costs the customer),
        // and again only after an import that failed.
        if verification.account_type != AccountType::Member
            && wf.settings().cost_explorer_request_cap > 0
            && cost_explorer::import(&mut scope, live.id)
                .await?
                .is_none_or(|i| i.status == cost_explorer::IMPORT_ERROR)
        {
            follow_ups.push(job_kinds::IMPORT_COST_EXPLORER);
        }
        for kind in follow_ups {
            jobs::enqueue(
                &mut scope,
                &NewJob::new(kind).integration(live.id),
                job.now(),
            )
            .await?;
        }
        scope.commit().await?;
        tracing::info!(
            integration_id = %live.id,
            account_type = verification.account_type.as_str(),
            "integration verified"
        );
        if verification.account_type == AccountType::Member {
            tracing::info!(integration_id = %live.id, "member-account connection: costs limited to this account");
        }
        Ok(())
    }
}

/// The role's policies compared with the published permission set, as stored.
fn role_policy_drift(policies: &costline_aws::RolePolicies) -> serde_json::Value {
    let mut grants = costline_onboarding::RoleGrants::default();
    for document in policies.documents() {
        grants.add_policy_document(document);
    }
    let drift = costline_onboarding::policy_drift(&grants);
    serde_json::to_value(drift).expect("a policy drift always serializes")
}

/// An integration that may be assumed: connected (or being verified), with its role and id.
pub(crate) struct LiveIntegration {
    pub(crate) id: IntegrationId,
    pub(crate) role: RoleArn,
    pub(crate) external_id: ExternalId,
}
