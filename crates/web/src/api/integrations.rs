//! `/api/v1/integrations/aws`: create, connect, inspect, sync and revoke AWS integrations.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::integration_actions as actions;
use crate::views::{
    AccountOut, CostExplorerOut, CreatedIntegrationOut, CurOut, IntegrationOut, PeriodOut,
    RolePolicyOut, StackSetOut, TemplateOut,
};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use costline_domain::{AccountType, IntegrationId, IntegrationStatus};
use costline_store::integrations::{self, Integration};
use costline_store::{Scoped, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Member,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<CreatedIntegrationOut>)> {
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
        Json(CreatedIntegrationOut {
            id: integration.integration_id.to_string(),
            status: integration.status,
            renderings: actions::renderings(&state, &integration, &platform),
        }),
    ))
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<IntegrationsOut>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let mut out = Vec::new();
    for integration in integrations::list(&mut scope).await? {
        out.push(detail_view(&state, &mut scope, &integration).await?);
    }
    scope.commit().await?;
    Ok(Json(IntegrationsOut { integrations: out }))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<IntegrationOut>> {
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

/// `GET /api/v1/integrations/aws`.
#[derive(serde::Serialize)]
pub(super) struct IntegrationsOut {
    integrations: Vec<IntegrationOut>,
}

pub(crate) const MEMBER_CAVEATS: [&str; 4] = [
    "Only this account's costs and resources are visible.",
    "Other member accounts' costs are missing: the organization's bill is incomplete here.",
    "Cost allocation tags are activated in the management account, so tag coverage may be partial.",
    "Reserved Instances and Savings Plans bought in this account apply here first; sharing across the organization is not visible.",
];

/// The `cur` part of the detail view: the CUR status and every billing period, newest first.
async fn cur_view(scope: &mut Scoped, integration: &Integration) -> Result<CurOut, StoreError> {
    let periods = costline_store::cur::periods(scope, integration.id()).await?;
    let source = costline_store::cur::source(scope, integration.id()).await?;
    let status = if !integration.status.is_live() || integration.cur_bucket.is_none() {
        "not_configured"
    } else {
        costline_store::cur::integration_status(source.as_ref(), &periods)
    };
    let periods = periods
        .iter()
        .map(|p| PeriodOut {
            period: p.period().to_string(),
            status: p.status.clone(),
            assembly_id: p.assembly_id.clone(),
            rows: p.rows,
            ingested_at: p.ingested_at.map(crate::views::rfc3339),
            error: p.error.clone(),
            live_assembly_id: p.live_assembly_id.clone(),
            format: p.format.clone(),
            files: p.files,
            bytes: p.bytes,
        })
        .collect();
    Ok(CurOut {
        status: status.to_string(),
        bucket: integration.cur_bucket.clone(),
        prefix: integration.cur_prefix.clone(),
        report_name: integration.cur_report_name.clone(),
        periods,
    })
}

/// The integration as the API answers it and the console renders it.
pub(crate) async fn detail_view(
    state: &AppState,
    scope: &mut Scoped,
    integration: &Integration,
) -> Result<IntegrationOut, StoreError> {
    let supplied_by: std::collections::HashMap<String, String> =
        costline_store::cost_sources::account_sources(scope)
            .await?
            .into_iter()
            .map(|s| (s.usage_account_id, s.integration_id.to_string()))
            .collect();
    let accounts = integrations::accounts(scope, integration.id())
        .await?
        .into_iter()
        .map(|a| AccountOut {
            costs_supplied_by: supplied_by.get(&a.account_id).cloned(),
            account_id: a.account_id,
            name: a.name,
            email: a.email,
            status: Some(a.status),
            role_status: a.role_status,
            role_error: a.role_error,
            joined_at: a.joined_at,
            left_at: a.left_at,
        })
        .collect();
    let cur = cur_view(scope, integration).await?;
    // The latest support backfill, with each period's state ("backfill in progress").
    let backfill = costline_store::support::backfills(scope, integration.id(), 1)
        .await?
        .first()
        .map(super::support::backfill_view)
        .unwrap_or(Value::Null);
    let cost_explorer = costline_store::cost_explorer::import(scope, integration.id())
        .await?
        .map(CostExplorerOut::from);
    let platform = state.platform_account_id().ok();
    let live = integration.status.is_live();
    let external_id = integration.external_id.as_deref().unwrap_or_default();
    let is_member = integration.account_type == Some(AccountType::Member);
    let is_management = integration.account_type == Some(AccountType::Management);
    Ok(IntegrationOut {
        id: integration.integration_id.to_string(),
        status: integration.status,
        error: integration.error.clone(),
        error_code: integration.error_code.clone(),
        role_arn: integration.role_arn.clone(),
        account_id: integration.account_id.clone(),
        account_type: integration.account_type,
        organization_id: integration.organization_id.clone(),
        management_account_id: integration.management_account_id.clone(),
        accounts,
        cur,
        created_at: integration.created_at,
        verified_at: integration.verified_at,
        renderings: platform
            .as_deref()
            .filter(|_| live)
            .map(|platform| actions::renderings(state, integration, platform)),
        expected_trust_policy: platform
            .as_deref()
            .filter(|_| {
                integration.status == IntegrationStatus::Error
                    && integration.error_code.as_deref() == Some(ASSUME_ROLE_DENIED)
            })
            .map(|platform| {
                costline_onboarding::trust_policy(
                    state.aws_partition(),
                    platform,
                    external_id,
                    None,
                )
            }),
        caveats: if is_member {
            MEMBER_CAVEATS.iter().map(|c| c.to_string()).collect()
        } else {
            Vec::new()
        },
        advice: is_member.then(|| MEMBER_ADVICE.to_string()),
        stackset: platform
            .as_deref()
            .filter(|_| live && is_management)
            .map(|platform| stackset_view(state, integration, external_id, platform)),
        template: integration
            .template_version
            .as_deref()
            .filter(|_| live)
            .map(|deployed| template_view(state, deployed, integration.stack_id.as_deref())),
        role_policy: role_policy_view(integration).filter(|_| live),
        backfill,
        cost_explorer,
    })
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
) -> StackSetOut {
    let template_url = format!("{}/member-role.yaml", state.template_base_url());
    let region = state.aws_partition().integration_region();
    let roots = &integration.org_root_ids;
    let deployed = integration.stackset_template_version.clone();
    let update_available = deployed
        .as_deref()
        .is_some_and(costline_onboarding::is_update_available);
    StackSetOut {
        org_root_ids: roots.clone(),
        steps: costline_onboarding::stackset_steps(
            roots,
            &template_url,
            external_id,
            platform,
            region,
        ),
        instructions: costline_onboarding::stackset_instructions(
            roots,
            &template_url,
            external_id,
            platform,
            region,
        ),
        organizations_access_error: costline_onboarding::ORGANIZATIONS_ACCESS_ERROR.to_string(),
        organizations_access_help: costline_onboarding::ORGANIZATIONS_ACCESS_HELP.to_string(),
        organizations_access_help_url: costline_onboarding::ORGANIZATIONS_ACCESS_HELP_URL
            .to_string(),
        update_command: update_available
            .then(|| costline_onboarding::stack_set_update_command(region, &template_url)),
        changes: deployed
            .as_deref()
            .filter(|_| update_available)
            .and_then(costline_onboarding::changes_since),
        update_available,
        deployed_version: deployed,
        current_version: costline_onboarding::TEMPLATE_VERSION.to_string(),
        member_template_url: template_url,
    }
}

/// The stack's region and name, read from its id
/// (`arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>`).
fn stack_region_and_name(stack_id: &str) -> Option<(&str, &str)> {
    let region = stack_id.split(':').nth(3).filter(|r| !r.is_empty())?;
    let name = stack_id
        .split(":stack/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .filter(|n| !n.is_empty())?;
    Some((region, name))
}

fn template_view(state: &AppState, deployed: &str, stack_id: Option<&str>) -> TemplateOut {
    let update_available = costline_onboarding::is_update_available(deployed);
    let located = stack_id.and_then(|id| Some((id, stack_region_and_name(id)?)));
    let template_url = format!("{}/integration.yaml", state.template_base_url());
    let (update_url, update_command) = match (update_available, located) {
        (true, Some((stack_id, (region, name)))) => (
            Some(costline_onboarding::cloudformation_update_url(
                stack_id,
                region,
                &template_url,
            )),
            Some(costline_onboarding::stack_update_command(
                name,
                region,
                &template_url,
            )),
        ),
        _ => (None, None),
    };
    TemplateOut {
        deployed_version: deployed.to_string(),
        current_version: costline_onboarding::TEMPLATE_VERSION.to_string(),
        update_available,
        stack_region: located.map(|(_, (region, _))| region.to_string()),
        stack_name: located.map(|(_, (_, name))| name.to_string()),
        update_url,
        update_command,
        changes: if update_available {
            costline_onboarding::changes_since(deployed)
        } else {
            None
        },
    }
}

/// What the role's own policies say, for roles made without the stack.
fn role_policy_view(integration: &Integration) -> Option<RolePolicyOut> {
    let checked_at = integration.role_policy_checked_at?;
    let drift: Option<costline_onboarding::PolicyDrift> = integration
        .role_policy_drift
        .clone()
        .and_then(|d| serde_json::from_value(d).ok());
    let error = integration.role_policy_error.clone();
    let drift = drift.unwrap_or_default();
    let up_to_date = error.is_none() && drift.is_up_to_date();
    let advice = (!up_to_date && error.is_none()).then(|| {
        format!(
            "This role's policy is older than the published permission set {}. Terraform: \
             update the module source to this version and run terraform apply. By hand: replace \
             the role's inline policy with the one shown under \"By hand\".",
            costline_onboarding::TEMPLATE_VERSION
        )
    });
    Some(RolePolicyOut {
        checked_at,
        up_to_date,
        matches_version: drift.matches_version,
        missing_actions: drift.missing_actions,
        missing_denies: drift.missing_denies,
        extra_actions: drift.extra_actions,
        error,
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_is_located_by_its_id() {
        assert_eq!(
            stack_region_and_name(
                "arn:aws:cloudformation:eu-west-1:444455556666:stack/Costline-Prod/0b1c"
            ),
            Some(("eu-west-1", "Costline-Prod"))
        );
        assert_eq!(
            stack_region_and_name(
                "arn:aws-cn:cloudformation:cn-northwest-1:444455556666:stack/C/1"
            ),
            Some(("cn-northwest-1", "C"))
        );
        assert_eq!(stack_region_and_name("not-an-arn"), None);
    }
}
