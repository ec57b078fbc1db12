//! `discover_accounts`: list the organization's accounts (every page), store them (accounts
//! that left are marked, not dropped), remember the organization's roots for the StackSet
//! instructions, then check each member account's Costline role by assuming it with the
//! integration's external id.
//!
//! A member or standalone integration has one account, the role's own.

use crate::{aws_failure, live_session, Workflows};
use async_trait::async_trait;
use costline_aws::{workspace_session_name, AwsError, OrgAccount, OrgAccountStatus};
use costline_domain::{
    AccountType, ExternalId, IntegrationId, IntegrationStatus, RoleArn, RoleStatus,
};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::integrations::{self, DiscoveredAccount, RoleCheck};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Member roles checked at once: enough to get through thousands of accounts in minutes,
/// few enough to stay far below STS's request rate.
const ROLE_CHECK_CONCURRENCY: usize = 8;

/// Role checks written (and cancellation looked at) per batch.
const ROLE_CHECK_BATCH: usize = 50;

/// Handler of [`costline_domain::job_kinds::DISCOVER_ACCOUNTS`].
pub(crate) struct DiscoverAccounts(pub(crate) Workflows);

/// What discovery (and the inventory) needs of a connected integration.
pub(crate) struct Connected {
    pub(crate) id: IntegrationId,
    pub(crate) role: RoleArn,
    pub(crate) external_id: ExternalId,
    pub(crate) account_id: String,
    pub(crate) account_type: AccountType,
}

#[async_trait]
impl JobHandler for DiscoverAccounts {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(integration) = load_connected(wf, job).await? else {
            return Ok(());
        };
        let session_name = workspace_session_name(job.workspace_id());
        let management = integration.account_type == AccountType::Management;

        let session = live_session(
            wf,
            job,
            integration.id,
            &integration.role,
            &integration.external_id,
        )
        .await?;
        let found = async {
            let session = session?;
            if !management {
                return Ok::<_, AwsError>((None, Vec::new(), None));
            }
            let accounts = session.list_accounts().await?;
            // The roots only fill in the StackSet instructions; a role that may not list them
            // still discovers its accounts (the instructions then look the root up first).
            let roots = match session.list_roots().await {
                Ok(roots) => roots,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::info!(integration_id = %integration.id, error = %e, "could not list the organization's roots");
                    Vec::new()
                }
            };
            // Which template the member StackSet runs, to offer its update; a role that may
            // not describe it still discovers its accounts.
            let stackset_version = match session
                .stack_set_template(costline_onboarding::MEMBER_STACK_SET_NAME)
                .await
            {
                Ok(body) => body.as_deref().and_then(costline_onboarding::template_version_in),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::info!(integration_id = %integration.id, error = %e, "could not describe the member StackSet");
                    None
                }
            };
            Ok((Some(accounts), roots, stackset_version))
        }
        .await;
        let (org_accounts, roots, stackset_version) = match found {
            Ok(found) => found,
            // The integration stays connected (its costs still flow); the job's error tells why
            // discovery failed, and the next verification reports a role that is gone.
            Err(e) => return Err(aws_failure(job, e)),
        };
        job.checkpoint().await?;

        let accounts = match &org_accounts {
            Some(list) => list.iter().map(discovered).collect(),
            None => vec![DiscoveredAccount {
                account_id: integration.account_id.clone(),
                name: String::new(),
                email: String::new(),
                status: OrgAccountStatus::Active.as_str().to_string(),
                joined_at: None,
            }],
        };
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let stored = integrations::replace_accounts(
            &mut scope,
            integration.id,
            &accounts,
            &integration.account_id,
        )
        .await?;
        if !stored {
            // Revoked meanwhile: nothing of it may be written again.
            return Ok(());
        }
        if management {
            integrations::record_org_roots(&mut scope, integration.id, &roots).await?;
            integrations::record_stackset_version(
                &mut scope,
                integration.id,
                stackset_version.as_deref(),
            )
            .await?;
        }
        scope.commit().await?;
        tracing::info!(
            integration_id = %integration.id,
            accounts = accounts.len(),
            "organization accounts discovered"
        );

        if let Some(org_accounts) = org_accounts {
            check_member_roles(wf, job, &integration, &org_accounts, &session_name).await?;
        }
        // The accounts are known: read their resources.
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        costline_store::jobs::enqueue(
            &mut scope,
            &costline_store::jobs::NewJob::new(costline_domain::job_kinds::INVENTORY)
                .integration(integration.id),
            job.now(),
        )
        .await?;
        scope.commit().await?;
        Ok(())
    }
}

fn discovered(account: &OrgAccount) -> DiscoveredAccount {
    DiscoveredAccount {
        account_id: account.id.to_string(),
        name: account.name.clone(),
        email: account.email.clone(),
        status: account.status.as_str().to_string(),
        joined_at: account.joined_at,
    }
}

/// The job's integration when it is connected; `None` (the job ends quietly) when it was
/// revoked, is not connected (verification queues discovery once it is) or names no role.
pub(crate) async fn load_connected(
    wf: &Workflows,
    job: &JobContext,
) -> Result<Option<Connected>, JobError> {
    let Some(id) = job.integration_id() else {
        return Err(JobError::permanent("this job names no integration"));
    };
    let mut scope = wf.store().scoped(job.workspace_id()).await?;
    let found = integrations::get(&mut scope, id).await;
    scope.commit().await?;
    let integration = match found {
        Ok(integration) => integration,
        Err(costline_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if integration.status != IntegrationStatus::Connected {
        return Ok(None);
    }
    let (Some(role), Some(external_id), Some(account_id), Some(account_type)) = (
        integration.role(),
        integration.external_id.clone(),
        integration.account_id.clone(),
        integration.account_type,
    ) else {
        return Ok(None);
    };
    Ok(Some(Connected {
        id,
        role,
        external_id: ExternalId::from_stored(external_id),
        account_id,
        account_type,
    }))
}

/// Assumes `arn:<partition>:iam::<member>:role/<member role name>` with the integration's
/// external id in every active member account and records what happened, batch by batch.
async fn check_member_roles(
    wf: &Workflows,
    job: &JobContext,
    integration: &Connected,
    accounts: &[OrgAccount],
    session_name: &str,
) -> Result<(), JobError> {
    let members: Vec<&OrgAccount> = accounts
        .iter()
        .filter(|a| a.id.to_string() != integration.account_id)
        .collect();
    let partition = integration.role.partition().as_str();
    let role_name = &wf.settings().member_role_name;
    let external_id = Arc::new(integration.external_id.clone());
    let session_name: Arc<str> = Arc::from(session_name);

    for batch in members.chunks(ROLE_CHECK_BATCH) {
        job.checkpoint().await?;
        let mut checks = Vec::with_capacity(batch.len());
        let mut running = JoinSet::new();
        for account in batch {
            let account_id = account.id.to_string();
            if let Some(check) = inactive_account_check(account) {
                checks.push(check);
                continue;
            }
            let arn = format!("arn:{partition}:iam::{account_id}:role/{role_name}");
            let role = match RoleArn::parse(&arn) {
                Ok(role) => role,
                Err(e) => {
                    checks.push(RoleCheck {
                        account_id,
                        role_status: RoleStatus::Error,
                        role_error: Some(format!("the member role ARN {arn} is invalid: {e}")),
                    });
                    continue;
                }
            };
            if running.len() >= ROLE_CHECK_CONCURRENCY {
                if let Some(done) = running.join_next().await {
                    checks.push(finished(done)?);
                }
            }
            let gateway = wf.gateway().clone();
            let external_id = external_id.clone();
            let session_name = session_name.clone();
            running.spawn(async move {
                match gateway.probe_role(&role, &external_id, &session_name).await {
                    Err(AwsError::Revoked { .. }) => None,
                    result => Some(role_check(account_id, &role, result)),
                }
            });
        }
        while let Some(done) = running.join_next().await {
            checks.push(finished(done)?);
        }
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        integrations::set_role_statuses(&mut scope, integration.id, &checks).await?;
        scope.commit().await?;
    }
    tracing::info!(
        integration_id = %integration.id,
        members = members.len(),
        "member roles checked"
    );
    Ok(())
}

/// The check of an account that is not active, without a call: a suspended or closing account
/// cannot be assumed into, so it is shown as such and never retried; one being created is
/// checked at the next discovery.
fn inactive_account_check(account: &OrgAccount) -> Option<RoleCheck> {
    let account_id = account.id.to_string();
    let why = match &account.status {
        OrgAccountStatus::Active => return None,
        OrgAccountStatus::Suspended => {
            "the account is suspended (closed accounts stay suspended for 90 days before AWS \
             deletes them): Costline does not check its role, and keeps its past costs"
                .to_string()
        }
        OrgAccountStatus::PendingClosure => "the account is being closed: Costline does not \
             check its role, and keeps its past costs"
            .to_string(),
        OrgAccountStatus::Closed => {
            "the account is closed: Costline does not check its role, and keeps its past costs"
                .to_string()
        }
        OrgAccountStatus::PendingActivation => {
            return Some(RoleCheck {
                account_id,
                role_status: RoleStatus::NotChecked,
                role_error: Some(
                    "the account is still being created: its role is checked at the next sync"
                        .to_string(),
                ),
            })
        }
        OrgAccountStatus::Other(state) => format!(
            "the account is in state {state}: Costline checks the roles of active accounts only"
        ),
    };
    Some(RoleCheck {
        account_id,
        role_status: RoleStatus::Inactive,
        role_error: Some(why),
    })
}

/// A finished role check; `None` meant the integration was revoked meanwhile: stop.
fn finished(
    done: Result<Option<RoleCheck>, tokio::task::JoinError>,
) -> Result<RoleCheck, JobError> {
    done.map_err(JobError::retryable)?
        .ok_or(JobError::Cancelled)
}

/// What one member role check means for the console and the API.
fn role_check(
    account_id: String,
    role: &RoleArn,
    result: Result<costline_aws::CallerIdentity, AwsError>,
) -> RoleCheck {
    let (role_status, role_error) = match result {
        Ok(identity) if identity.account_id.to_string() == account_id => (RoleStatus::Ok, None),
        Ok(identity) => (
            RoleStatus::Error,
            Some(format!(
                "assuming {role} answered as account {}, not {account_id}",
                identity.account_id
            )),
        ),
        Err(AwsError::AssumeRoleDenied { .. }) => (
            RoleStatus::Denied,
            Some(format!(
                "Costline could not assume {role}: the role is missing in this account or its \
                 trust relationship does not allow Costline with this integration's external id. \
                 Deploy the member role to the organization with the StackSet instructions, then \
                 sync"
            )),
        ),
        Err(AwsError::RoleNotFound { .. }) => (
            RoleStatus::Missing,
            Some(format!(
                "{role} does not exist: deploy the member role with the StackSet instructions, \
                 then sync"
            )),
        ),
        Err(e) if e.is_retryable() => (
            RoleStatus::Error,
            Some(format!("{e}; checked again at the next sync")),
        ),
        Err(e) => (RoleStatus::Error, Some(e.to_string())),
    };
    RoleCheck {
        account_id,
        role_status,
        role_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costline_domain::AccountId;

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::111111111111:role/CostlineReadOnly").unwrap()
    }

    fn account(status: OrgAccountStatus) -> OrgAccount {
        OrgAccount {
            id: AccountId::parse("222222222222").unwrap(),
            name: "closing".into(),
            email: "c@example.com".into(),
            status,
            joined_at: None,
        }
    }

    #[test]
    fn suspended_and_closing_accounts_are_shown_inactive_and_not_assumed() {
        for (status, says) in [
            (OrgAccountStatus::Suspended, "suspended"),
            (OrgAccountStatus::PendingClosure, "being closed"),
            (OrgAccountStatus::Closed, "closed"),
        ] {
            let check = inactive_account_check(&account(status)).expect("not checked by a call");
            assert_eq!(check.role_status, RoleStatus::Inactive);
            assert!(check.role_error.unwrap().contains(says));
        }
        let creating = inactive_account_check(&account(OrgAccountStatus::PendingActivation));
        assert_eq!(creating.unwrap().role_status, RoleStatus::NotChecked);
        assert!(inactive_account_check(&account(OrgAccountStatus::Active)).is_none());
    }

    #[test]
    fn a_denied_member_role_says_to_deploy_the_stackset() {
        let check = role_check(
            "111111111111".into(),
            &role(),
            Err(AwsError::AssumeRoleDenied {
                role_arn: role().to_string(),
                platform_account_id: None,
                aws_message: "not authorized".into(),
            }),
        );
        assert_eq!(check.role_status, RoleStatus::Denied);
        let message = check.role_error.unwrap();
        assert!(message.contains("StackSet"), "{message}");
        assert!(message.contains("external id"), "{message}");
    }

    #[test]
    fn an_assumable_member_role_is_ok() {
        let identity = costline_aws::CallerIdentity {
            account_id: AccountId::parse("111111111111").unwrap(),
            arn: "arn:aws:sts::111111111111:assumed-role/CostlineReadOnly/x".into(),
            user_id: "AROA:x".into(),
        };
        let check = role_check("111111111111".into(), &role(), Ok(identity));
        assert_eq!(check.role_status, RoleStatus::Ok);
        assert_eq!(check.role_error, None);
    }

    #[test]
    fn throttling_is_reported_as_a_transient_error() {
        let check = role_check(
            "111111111111".into(),
            &role(),
            Err(AwsError::Throttled {
                service: "sts",
                operation: "AssumeRole",
                code: "Throttling".into(),
            }),
        );
        assert_eq!(check.role_status, RoleStatus::Error);
        assert!(check.role_error.unwrap().contains("next sync"));
    }
}
