//! What an admin does to an AWS integration, shared by the JSON API and the console: each
//! action validates its input, writes through the store in one transaction and audits.

use crate::error::{ApiError, ApiResult};
use crate::views::RoleRenderingsOut;
use crate::AppState;
use chrono::Utc;
use costline_domain::{job_kinds, AwsPartition, IntegrationId, JobId, RoleArn, WorkspaceId};
use costline_store::audit::{self, Actor};
use costline_store::integrations::{self, CurLocation, Integration};
use costline_store::jobs::{self, NewJob};
use costline_store::StoreError;
use serde_json::json;

/// Where the customer's reports are delivered, as typed by the customer.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurInput {
    /// The S3 bucket.
    pub bucket: String,
    /// The report path prefix (may be empty).
    #[serde(default)]
    pub prefix: String,
    /// The report (or export) name.
    pub report_name: String,
}

/// Creates a pending integration with a fresh external id.
pub(crate) async fn create(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
) -> ApiResult<Integration> {
    // Fail before writing anything when the platform account is unknown: the renderings need it.
    state.platform_account_id()?;
    let mut scope = state.store.scoped(workspace).await?;
    let integration = integrations::create(
        &mut scope,
        actor_user(actor)?,
        state.config.max_integrations_per_workspace,
    )
    .await
    .map_err(|e| match e {
        StoreError::LimitReached(message) => ApiError::LimitReached {
            code: "integration_limit_reached",
            message,
        },
        other => other.into(),
    })?;
    audit::record(
        &mut scope,
        actor,
        "integration.created",
        &target(&integration),
        json!({}),
    )
    .await?;
    scope.commit().await?;
    Ok(integration)
}

/// Stores the role ARN (and CUR location) and queues verification.
pub(crate) async fn connect(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
    id: IntegrationId,
    role_arn: &str,
    cur: Option<CurInput>,
) -> ApiResult<(Integration, JobId)> {
    let role = RoleArn::parse(role_arn.trim())
        .map_err(|e| ApiError::bad_request("invalid_role_arn", e.to_string()))?;
    same_partition(&role, state.aws_partition())?;
    let cur = cur.map(validate_cur).transpose()?;
    let mut scope = state.store.scoped(workspace).await?;
    let current = integrations::get(&mut scope, id).await.map_err(not_found)?;
    if !current.status.is_live() {
        return Err(ApiError::Conflict(
            "this integration was revoked: create a new one to connect again".into(),
        ));
    }
    let integration = integrations::connect(&mut scope, id, &role, cur.as_ref())
        .await
        .map_err(not_found)?;
    let job = jobs::enqueue(
        &mut scope,
        &NewJob::new(job_kinds::VERIFY_INTEGRATION).integration(id),
        Utc::now(),
    )
    .await?;
    audit::record(
        &mut scope,
        actor,
        "integration.connected",
        &target(&integration),
        json!({"role_arn": role.to_string(), "cur": cur}),
    )
    .await?;
    scope.commit().await?;
    Ok((integration, job.job_id()))
}

/// Queues verification, account discovery and a look for new CUR deliveries now.
pub(crate) async fn sync(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
    id: IntegrationId,
) -> ApiResult<Vec<JobId>> {
    let mut scope = state.store.scoped(workspace).await?;
    let integration = integrations::get(&mut scope, id).await.map_err(not_found)?;
    if integration.role_arn.is_none() {
        let why = if !integration.status.is_live() {
            "this integration was revoked: create a new one"
        } else {
            "connect the integration with its role ARN first (POST .../connect)"
        };
        return Err(ApiError::Conflict(why.into()));
    }
    let now = Utc::now();
    let mut kinds = vec![job_kinds::VERIFY_INTEGRATION, job_kinds::DISCOVER_ACCOUNTS];
    if integration.cur_bucket.is_some() {
        kinds.push(job_kinds::POLL_CUR);
    }
    let mut job_ids = Vec::new();
    for kind in kinds {
        let job = jobs::enqueue(&mut scope, &NewJob::new(kind).integration(id), now).await?;
        job_ids.push(job.job_id());
    }
    audit::record(
        &mut scope,
        actor,
        "integration.sync_requested",
        &target(&integration),
        json!({}),
    )
    .await?;
    scope.commit().await?;
    Ok(job_ids)
}

/// The renderings of the role for this integration, in the platform's partition, all from one
/// permission set.
pub(crate) fn renderings(
    state: &AppState,
    integration: &Integration,
    platform: &str,
) -> RoleRenderingsOut {
    let external_id = integration.external_id.clone().unwrap_or_default();
    let templates = state.template_base_url();
    let partition = state.aws_partition();
    RoleRenderingsOut {
        partition: partition.as_str().to_string(),
        stack_region: partition.integration_region().to_string(),
        region_note: costline_onboarding::integration_region_note(partition).to_string(),
        cloudformation_url: costline_onboarding::cloudformation_quick_create_url(
            partition,
            &format!("{templates}/integration.yaml"),
            costline_onboarding::DEFAULT_STACK_NAME,
            &external_id,
            platform,
        ),
        terraform_snippet: costline_onboarding::terraform_snippet(
            partition,
            &state.terraform_module_source(),
            &external_id,
            platform,
        ),
        trust_policy: costline_onboarding::trust_policy(partition, platform, &external_id, None),
        inline_policy: costline_onboarding::inline_policy(
            partition,
            integration.cur_bucket.as_deref(),
        ),
        external_id,
    }
}

/// A role can only trust accounts of its own partition, so one of another partition than the
/// platform's could never be assumed: refused at once rather than failing verification later.
fn same_partition(role: &RoleArn, platform: AwsPartition) -> ApiResult<()> {
    let partition = role.partition();
    if partition == platform {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "role_partition_mismatch",
        format!(
            "the role {role} is in the {} partition ({partition}), but this Costline platform \
             runs in the {} partition ({platform}): an IAM role can only trust accounts of its own \
             partition, so create the role in an account of the {platform} partition (its ARN \
             starts with arn:{platform}:iam::), or connect it to a Costline platform deployed in \
             {partition}",
            partition.display_name(),
            platform.display_name(),
        ),
    ))
}

fn validate_cur(cur: CurInput) -> ApiResult<CurLocation> {
    let bucket = cur.bucket.trim();
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !bucket_ok {
        return Err(ApiError::bad_request(
            "invalid_cur_location",
            format!("cur.bucket {bucket:?} is not an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens"),
        ));
    }
    let report = cur.report_name.trim();
    if report.is_empty() || report.contains('/') {
        return Err(ApiError::bad_request(
            "invalid_cur_location",
            "cur.report_name must be the report (or export) name, without slashes",
        ));
    }
    Ok(CurLocation {
        bucket: bucket.to_string(),
        prefix: cur.prefix.trim().trim_matches('/').to_string(),
        report_name: report.to_string(),
    })
}

fn actor_user(actor: &Actor) -> ApiResult<costline_domain::UserId> {
    actor
        .user_id
        .ok_or_else(|| ApiError::forbidden("only a workspace user can create integrations"))
}

/// A missing integration, or another workspace's, is a 404.
pub(crate) fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("integration"),
        other => other.into(),
    }
}

/// The audit target of an integration.
pub(crate) fn target(integration: &Integration) -> String {
    format!("integration:{}", integration.integration_id)
}
