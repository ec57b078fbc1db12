//! `/api/v1/integrations/aws`: create, connect, inspect, sync and revoke AWS integrations.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::integration_actions as actions;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use costline_domain::IntegrationId;
use costline_store::integrations::{self, Integration};
use costline_store::{Scoped, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Member,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: Result<Value, _> = serde_json::from_slice(&body);
        if !matches!(parsed, Ok(Value::Object(_))) {
            return Err(ApiError::bad_request(
                "invalid_json",
                "send an empty JSON object: {}",
            ));
        }
    }
    let integration = actions::create(&state, caller.workspace_id, &caller.actor()).await?;
    let platform = state.platform_account_id()?;
    Ok((
        StatusCode::CREATED,
        Json(actions::onboarding(&state, &integration, &platform)),
    ))
}

pub(super) async fn list(State(state): State<AppState>, caller: Member) -> ApiResult<Json<Value>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let mut out = Vec::new();
    for integration in integrations::list(&mut scope).await? {
        out.push(detail_view(&state, &mut scope, &integration).await?);
    }
    scope.commit().await?;
    Ok(Json(json!({ "integrations": out })))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<Value>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let integration = integrations::get(&mut scope, id).await.map_err(not_found)?;
    let view = detail_view(&state, &mut scope, &integration).await?;
    scope.commit().await?;
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectBody {
    role_arn: String,
    #[serde(default)]
    cur: Option<actions::CurInput>,
}

pub(super) async fn connect(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
    ApiJson(body): ApiJson<ConnectBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let (_, job_id) = actions::connect(
        &state,
        caller.workspace_id,
        &caller.actor(),
        id,
        &body.role_arn,
        body.cur,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id.to_string(), "status": "verifying", "job_id": job_id.to_string()})),
    ))
}

pub(super) async fn sync(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let job_ids = actions::sync(&state, caller.workspace_id, &caller.actor(), id).await?;
    let job_ids: Vec<String> = job_ids.iter().map(ToString::to_string).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "job_ids": job_ids }))))
}

/// Revokes the integration: every row derived from it is gone before this answers, and every
/// worker process forgets its credentials (`costline_store::revocation`).
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let revoked = costline_store::revocation::revoke_integration(
        &state.store,
        caller.workspace_id,
        id,
        &caller.actor(),
    )
    .await
    .map_err(not_found)?;
    tracing::info!(
        integration_id = %id,
        cancelled_jobs = revoked.cancelled_jobs,
        dropped_partitions = revoked.dropped_partitions.len(),
        "integration revoked"
    );
    Ok(Json(json!({
        "id": id.to_string(),
        "status": "revoked",
        "cancelled_jobs": revoked.cancelled_jobs,
    })))
}

use actions::not_found;

fn onboarding_view(state: &AppState, integration: &Integration, platform: &str) -> Value {
    actions::onboarding(state, integration, platform)
}

pub(crate) const MEMBER_CAVEATS: [&str; 4] = [
    "Only this account's costs and resources are visible.",
    "Other member accounts' costs are missing: the organization's bill is incomplete here.",
    "Cost allocation tags are activated in the management account, so tag coverage may be partial.",
    "Reserved Instances and Savings Plans bought in this account apply here first; sharing across the organization is not visible.",
];

/// The `cur` part of the detail view: the CUR status and every billing period, newest first.
async fn cur_view(
    scope: &mut Scoped,
    integration: &Integration,
) -> Result<(&'static str, Vec<Value>), StoreError> {
    let periods = costline_store::cur::periods(scope, integration.id()).await?;
    let source = costline_store::cur::source(scope, integration.id()).await?;
    let status = if integration.status == "revoked" || integration.cur_bucket.is_none() {
        "not_configured"
    } else {
        costline_store::cur::integration_status(source.as_ref(), &periods)
    };
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let periods = periods
        .iter()
        .map(|p| {
            json!({
                "period": p.period().to_string(),
                "status": p.status,
                "assembly_id": p.assembly_id,
                "rows": p.rows,
                "ingested_at": p.ingested_at.map(rfc3339),
                "error": p.error,
                "live_assembly_id": p.live_assembly_id,
                "format": p.format,
                "files": p.files,
                "bytes": p.bytes,
            })
        })
        .collect();
    Ok((status, periods))
}

pub(crate) async fn detail_view(
    state: &AppState,
    scope: &mut Scoped,
    integration: &Integration,
) -> Result<Value, StoreError> {
    let accounts = integrations::accounts(scope, integration.id()).await?;
    let accounts: Vec<Value> = accounts
        .into_iter()
        .map(|a| json!({"account_id": a.account_id, "name": a.name, "email": a.email, "status": a.status, "role_status": a.role_status, "role_error": a.role_error, "joined_at": a.joined_at, "left_at": a.left_at}))
        .collect();
    let (cur_status, cur_periods) = cur_view(scope, integration).await?;
    let mut view = json!({
        "id": integration.integration_id.to_string(),
        "status": integration.status,
        "error": integration.error,
        "role_arn": integration.role_arn,
        "account_id": integration.account_id,
        "account_type": integration.account_type,
        "organization_id": integration.organization_id,
        "management_account_id": integration.management_account_id,
        "accounts": accounts,
        "cur": {
            "status": cur_status,
            "bucket": integration.cur_bucket,
            "prefix": integration.cur_prefix,
            "report_name": integration.cur_report_name,
            "periods": cur_periods,
        },
        "created_at": integration.created_at,
        "verified_at": integration.verified_at,
    });
    connection_details(state, integration, &mut view);
    if integration.status != "revoked" {
        if let Ok(platform) = state.platform_account_id() {
            let onboarding = onboarding_view(state, integration, &platform);
            for key in [
                "external_id",
                "cloudformation_url",
                "terraform_snippet",
                "trust_policy",
                "inline_policy",
            ] {
                view[key] = onboarding[key].clone();
            }
        }
    }
    // The latest support backfill, with each period's state ("backfill in progress").
    let backfill = costline_store::support::backfills(scope, integration.id(), 1).await?;
    view["backfill"] = backfill
        .first()
        .map(super::support::backfill_view)
        .unwrap_or(Value::Null);
    Ok(view)
}

/// What connecting told about the customer's AWS side: why it failed (with the trust policy the
/// role must have), what a member-only connection misses, how to deploy the member roles of a
/// management account's organization, and whether the deployed template is behind.
fn connection_details(state: &AppState, integration: &Integration, view: &mut Value) {
    let platform = state.platform_account_id().ok();
    let external_id = integration.external_id.as_deref().unwrap_or_default();
    view["error_code"] = json!(integration.error_code);
    if integration.status == "error"
        && integration.error_code.as_deref() == Some(ASSUME_ROLE_DENIED)
    {
        if let Some(platform) = &platform {
            view["expected_trust_policy"] = costline_onboarding::trust_policy(
                state.aws_partition(),
                platform,
                external_id,
                None,
            );
        }
    }
    match integration.account_type.as_deref() {
        Some("member") => {
            view["caveats"] = json!(MEMBER_CAVEATS);
            view["advice"] = json!(MEMBER_ADVICE);
        }
        Some("management") if integration.status != "revoked" => {
            if let Some(platform) = &platform {
                view["stackset"] = stackset_view(state, integration, external_id, platform);
            }
        }
        _ => {}
    }
    if let Some(deployed) = &integration.template_version {
        view["template"] = template_view(state, deployed, integration.stack_id.as_deref());
    }
}

/// The error code of a verification whose AssumeRole was denied (`costline_aws::AwsError::code`).
const ASSUME_ROLE_DENIED: &str = "assume_role_denied";

/// What to do instead of a member-only connection.
const MEMBER_ADVICE: &str = "Connect the organization's management account instead (or as well): \
its Cost and Usage Report covers every member account, and Costline then verifies each member's \
role from there.";

fn stackset_view(
    state: &AppState,
    integration: &Integration,
    external_id: &str,
    platform: &str,
) -> Value {
    let template_url = format!("{}/member-role.yaml", state.template_base_url());
    let region = state.aws_partition().integration_region();
    let roots = &integration.org_root_ids;
    json!({
        "org_root_ids": roots,
        "member_template_url": template_url,
        "steps": costline_onboarding::stackset_steps(roots, &template_url, external_id, platform, region),
        "instructions": costline_onboarding::stackset_instructions(roots, &template_url, external_id, platform, region),
        "organizations_access_error": costline_onboarding::ORGANIZATIONS_ACCESS_ERROR,
        "organizations_access_help": costline_onboarding::ORGANIZATIONS_ACCESS_HELP,
    })
}

fn template_view(state: &AppState, deployed: &str, stack_id: Option<&str>) -> Value {
    let update_available = costline_onboarding::is_update_available(deployed);
    let mut template = json!({
        "deployed_version": deployed,
        "current_version": costline_onboarding::TEMPLATE_VERSION,
        "update_available": update_available,
    });
    if let (true, Some(stack_id)) = (update_available, stack_id) {
        let template_url = format!("{}/integration.yaml", state.template_base_url());
        // arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
        let region = stack_id
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(state.aws_partition().integration_region());
        let name = stack_id
            .split(":stack/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(costline_onboarding::DEFAULT_STACK_NAME);
        template["update_url"] = json!(costline_onboarding::cloudformation_update_url(
            stack_id,
            region,
            &template_url
        ));
        template["update_command"] = json!(costline_onboarding::stack_update_command(
            name,
            region,
            &template_url
        ));
    }
    template
}
