//! `inventory`: read the resources of every account of a connected integration (issue 19).
//!
//! The management or standalone account is read through the integration's role, each active
//! member account through its StackSet member role, both assumed with the integration's
//! external id. Per account: the enabled regions (ec2:DescribeRegions, narrowed to
//! [`WorkflowSettings::inventory_regions`](crate::WorkflowSettings) when set), then every type
//! of every region, at most [`REGION_CONCURRENCY`] listings at once, and the account's S3
//! buckets. A denied action or a failed region is recorded with the account and the rest goes
//! on; only listings that finished mark what they no longer return as gone. Each resource's
//! on-demand rate is looked up through [`Rates`]. One job covers the integration (the queue's
//! idempotency key is kind, integration and period), [`ACCOUNT_CONCURRENCY`] accounts at once,
//! each written in its own transaction as soon as it is read.

mod rates;

use crate::{discover, Workflows};
use async_trait::async_trait;
use chrono::Utc;
use costline_aws::{AwsError, FoundResource, RoleSession};
use costline_domain::{AccountType, InventoryStatus, ResourceType, RoleArn, RoleStatus};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::integrations;
use costline_store::resources::{
    self, AccountInventory, CompleteListing, InventoryIssue, SeenResource,
};
use futures::stream::{FuturesUnordered, StreamExt};
use rates::Rates;

/// Accounts read at once.
pub const ACCOUNT_CONCURRENCY: usize = 4;

/// Listings (one type in one region) of one account running at once: with
/// [`ACCOUNT_CONCURRENCY`], at most 16 calls in flight per job.
pub const REGION_CONCURRENCY: usize = 4;

/// Handler of [`costline_domain::job_kinds::INVENTORY`].
pub(crate) struct Inventory(pub(crate) Workflows);

/// One account to read, and the role to read it with.
struct Target {
    account_id: String,
    role: RoleArn,
    /// The account discovery's last check found the role denied or missing: the inventory
    /// records that without asking STS again (the next discovery, which follows a StackSet
    /// deployment, checks it anew).
    known_unassumable: bool,
}

#[async_trait]
impl JobHandler for Inventory {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(integration) = discover::load_connected(wf, job).await? else {
            return Ok(());
        };
        let mut targets = vec![Target {
            account_id: integration.account_id.clone(),
            role: integration.role.clone(),
            known_unassumable: false,
        }];
        if integration.account_type == AccountType::Management {
            let mut scope = wf.store().scoped(job.workspace_id()).await?;
            let accounts = integrations::accounts(&mut scope, integration.id).await?;
            scope.commit().await?;
            let partition = integration.role.partition().as_str();
            let role_name = &wf.settings().member_role_name;
            for account in accounts {
                if account.account_id == integration.account_id
                    || account.left_at.is_some()
                    || account.status != "ACTIVE"
                {
                    continue;
                }
                let arn = format!(
                    "arn:{partition}:iam::{}:role/{role_name}",
                    account.account_id
                );
                if let Ok(role) = RoleArn::parse(&arn) {
                    targets.push(Target {
                        account_id: account.account_id,
                        role,
                        known_unassumable: matches!(
                            account.role_status,
                            RoleStatus::Denied | RoleStatus::Missing
                        ),
                    });
                }
            }
        }

        let rates = Rates::new(wf.store().clone(), job.workspace_id());
        // At most ACCOUNT_CONCURRENCY accounts at once; an explicit loop rather than stream
        // combinators, whose closures defeat the `Send` proof the handler's future needs.
        let mut resources = 0usize;
        let mut targets = targets.into_iter();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < ACCOUNT_CONCURRENCY {
                let Some(target) = targets.next() else { break };
                running.push(inventory_account(wf, job, &integration, target, &rates));
            }
            match running.next().await {
                Some(done) => resources += done?,
                None => break,
            }
            job.checkpoint().await?;
        }
        tracing::info!(integration_id = %integration.id, resources, "inventory done");
        Ok(())
    }
}

/// Reads one account and records it; the resources seen.
async fn inventory_account(
    wf: &Workflows,
    job: &JobContext,
    integration: &discover::Connected,
    target: Target,
    rates: &Rates,
) -> Result<usize, JobError> {
    let started_at = Utc::now();
    let no_role = |target: &Target| {
        format!(
            "Costline could not assume {} with this integration's external id: deploy the member \
             role with the StackSet instructions, then sync",
            target.role
        )
    };
    let (status, message) = if target.known_unassumable {
        (InventoryStatus::NoRole, no_role(&target))
    } else {
        match crate::live_session(
            wf,
            job,
            integration.id,
            &target.role,
            &integration.external_id,
        )
        .await?
        {
            Ok(session) => {
                return read_and_record(wf, job, integration, target, rates, &session, started_at)
                    .await
            }
            Err(AwsError::Revoked { .. }) => return Err(JobError::Cancelled),
            Err(AwsError::AssumeRoleDenied { .. } | AwsError::RoleNotFound { .. }) => {
                (InventoryStatus::NoRole, no_role(&target))
            }
            Err(e) => (InventoryStatus::Failed, e.to_string()),
        }
    };
    let run = AccountInventory {
        account_id: target.account_id,
        status,
        started_at,
        finished_at: Utc::now(),
        regions: Vec::new(),
        resources: 0,
        issues: Vec::new(),
        error: Some(message),
    };
    record(wf, job, integration, &run, &[], &[]).await?;
    Ok(0)
}

/// Reads an assumed account and records what it found; the resources seen.
async fn read_and_record(
    wf: &Workflows,
    job: &JobContext,
    integration: &discover::Connected,
    target: Target,
    rates: &Rates,
    session: &RoleSession,
    started_at: chrono::DateTime<Utc>,
) -> Result<usize, JobError> {
    let read = read_account(wf, session).await;
    let (found, complete, issues, regions, error) = match read {
        Ok(read) => (read.found, read.complete, read.issues, read.regions, None),
        Err(AwsError::Revoked { .. }) => return Err(JobError::Cancelled),
        Err(e) => (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Some(e.to_string()),
        ),
    };
    let mut seen = Vec::with_capacity(found.len());
    for r in found {
        let rate = rates.rate_of(session, r.price.as_ref()).await?;
        seen.push(SeenResource {
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            arn: r.arn,
            region: r.region,
            name: r.name,
            tags: r.tags,
            state: r.state,
            rate,
        });
    }
    let status = if error.is_some() {
        InventoryStatus::Failed
    } else if issues.is_empty() {
        InventoryStatus::Complete
    } else {
        InventoryStatus::Partial
    };
    let run = AccountInventory {
        account_id: target.account_id,
        status,
        started_at,
        finished_at: Utc::now(),
        regions,
        resources: seen.len() as i32,
        issues,
        error,
    };
    record(wf, job, integration, &run, &seen, &complete).await?;
    Ok(seen.len())
}

async fn record(
    wf: &Workflows,
    job: &JobContext,
    integration: &discover::Connected,
    run: &AccountInventory,
    seen: &[SeenResource],
    complete: &[CompleteListing],
) -> Result<(), JobError> {
    let mut scope = wf.store().scoped(job.workspace_id()).await?;
    if !resources::record_inventory(&mut scope, integration.id, run, seen, complete).await? {
        // Revoked meanwhile: nothing of it may be written again.
        return Err(JobError::Cancelled);
    }
    scope.commit().await?;
    tracing::info!(
        integration_id = %integration.id,
        account_id = %run.account_id,
        status = run.status.as_str(),
        resources = run.resources,
        issues = run.issues.len(),
        "account inventoried"
    );
    Ok(())
}

/// What reading one account found.
struct AccountRead {
    found: Vec<FoundResource>,
    complete: Vec<CompleteListing>,
    issues: Vec<InventoryIssue>,
    regions: Vec<String>,
}

/// The IAM action a listing of `t` starts with (what a denial names).
fn action_of(t: ResourceType) -> &'static str {
    match t {
        ResourceType::Ec2Instance => "ec2:DescribeInstances",
        ResourceType::Ec2Volume => "ec2:DescribeVolumes",
        ResourceType::Ec2ElasticIp => "ec2:DescribeAddresses",
        ResourceType::Ec2NatGateway => "ec2:DescribeNatGateways",
        ResourceType::Elbv2LoadBalancer => "elasticloadbalancing:DescribeLoadBalancers",
        ResourceType::RdsDb => "rds:DescribeDBInstances",
        ResourceType::S3Bucket => "s3:ListAllMyBuckets",
        ResourceType::LambdaFunction => "tag:GetResources",
        ResourceType::DynamodbTable => "dynamodb:ListTables",
        ResourceType::EksCluster => "eks:ListClusters",
    }
}

/// An issue for a failed listing; the action is the one AWS refused when it says so.
fn issue(region: Option<&str>, t: Option<ResourceType>, e: &AwsError) -> InventoryIssue {
    let action = match e {
        AwsError::AccessDenied {
            service, operation, ..
        } => format!("{service}:{operation}"),
        _ => t
            .map(action_of)
            .unwrap_or("ec2:DescribeRegions")
            .to_string(),
    };
    InventoryIssue {
        region: region.map(str::to_string),
        resource_type: t,
        action,
        code: e.code().to_string(),
        message: e.to_string(),
    }
}

/// Adds a listing's outcome to `read`: its resources and its completeness, or its issue.
fn take(
    read: &mut AccountRead,
    region: Option<String>,
    t: ResourceType,
    listed: Result<Vec<FoundResource>, AwsError>,
) -> Result<(), AwsError> {
    match listed {
        Ok(found) => {
            read.found.extend(found);
            read.complete.push(CompleteListing {
                region,
                resource_type: t,
            });
        }
        Err(e @ AwsError::Revoked { .. }) => return Err(e),
        Err(e) => read.issues.push(issue(region.as_deref(), Some(t), &e)),
    }
    Ok(())
}

/// Reads every type of every enabled region of the session's account; `Err` only when the
/// regions themselves cannot be listed.
async fn read_account(wf: &Workflows, session: &RoleSession) -> Result<AccountRead, AwsError> {
    let inventory = session.inventory();
    let mut regions = inventory.enabled_regions().await?;
    if let Some(allowed) = &wf.settings().inventory_regions {
        regions.retain(|r| allowed.contains(r));
    }
    let listings: Vec<(String, ResourceType)> = regions
        .iter()
        .flat_map(|r| ResourceType::regional().map(move |t| (r.clone(), t)))
        .collect();
    let mut read = AccountRead {
        found: Vec::new(),
        complete: Vec::new(),
        issues: Vec::new(),
        regions: regions.clone(),
    };
    let mut listings = listings.into_iter();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < REGION_CONCURRENCY {
            let Some((region, t)) = listings.next() else {
                break;
            };
            let inventory = inventory.clone();
            running.push(async move {
                let listed = inventory.list(&region, t).await;
                (region, t, listed)
            });
        }
        match running.next().await {
            Some((region, t, listed)) => take(&mut read, Some(region), t, listed)?,
            None => break,
        }
    }
    let buckets = inventory.list_buckets().await;
    take(&mut read, None, ResourceType::S3Bucket, buckets)?;
    read.issues
        .sort_by(|a, b| (&a.region, &a.action).cmp(&(&b.region, &b.action)));
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_listing_names_the_action_aws_refused() {
        let denied = AwsError::AccessDenied {
            service: "elasticloadbalancing",
            operation: "DescribeTags",
            message: "not authorized".into(),
        };
        let i = issue(
            Some("eu-west-1"),
            Some(ResourceType::Elbv2LoadBalancer),
            &denied,
        );
        assert_eq!(i.action, "elasticloadbalancing:DescribeTags");
        assert_eq!(i.code, "aws_access_denied");
        assert_eq!(i.region.as_deref(), Some("eu-west-1"));
        let throttled = AwsError::Throttled {
            service: "ec2",
            operation: "DescribeVolumes",
            code: "RequestLimitExceeded".into(),
        };
        let i = issue(Some("us-east-1"), Some(ResourceType::Ec2Volume), &throttled);
        assert_eq!(i.action, "ec2:DescribeVolumes");
        assert_eq!(i.code, "aws_throttled");
    }

    /// One direction of permission honesty: the published role may make every call the
    /// inventory and the rate lookup make, and denies none of them.
    #[test]
    fn every_inventory_call_is_granted_by_the_published_permission_set() {
        let set = costline_onboarding::permission_set();
        for op in costline_aws::OPERATIONS {
            let granted = set.is_allowed_everywhere(op.action);
            assert!(granted, "{} ({}) is not granted", op.action, op.reads);
            assert!(!set.is_denied(op.action), "{} is denied", op.action);
        }
        // ListFunctions answers environment variables: it stays denied, and is not called.
        assert!(set.is_denied("lambda:ListFunctions"));
        assert!(!costline_aws::OPERATIONS
            .iter()
            .any(|o| o.action.starts_with("lambda:")));
    }

    #[test]
    fn every_listing_action_is_one_the_gateway_lists() {
        for t in ResourceType::ALL {
            assert!(
                costline_aws::OPERATIONS
                    .iter()
                    .any(|o| o.action == action_of(*t)),
                "{t}"
            );
        }
    }
}
