//! `/api/v1/integrations/aws`: create, connect, inspect, sync and revoke AWS integrations.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::integration_actions as actions;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use costline_domain::IntegrationId;
use costline_store::audit;
use costline_store::integrations::{self, Integration};
use costline_store::jobs;
use costline_store::{schedules, Scoped, StoreError};
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

pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let integration = integrations::get(&mut scope, id).await.map_err(not_found)?;
    let cancelled = jobs::cancel_for_integration(&mut scope, id, Utc::now()).await?;
    schedules::delete_for_integration(&mut scope, id).await?;
    let role = integrations::revoke(&mut scope, id).await?;
    audit::record(
        &mut scope,
        &caller.actor(),
        "integration.revoked",
        &target(&integration),
        json!({"role_arn": role, "cancelled_jobs": cancelled}),
    )
    .await?;
    scope.commit().await?;
    Ok(Json(json!({"id": id.to_string(), "status": "revoked"})))
}

use actions::{not_found, target};

fn onboarding_view(state: &AppState, integration: &Integration, platform: &str) -> Value {
    actions::onboarding(state, integration, platform)
}

pub(crate) const MEMBER_CAVEATS: [&str; 4] = [
    "Only this account's costs and resources are visible.",
    "Other member accounts' costs are missing: the organization's bill is incomplete here.",
    "Cost allocation tags are activated in the management account, so tag coverage may be partial.",
    "Reserved Instances and Savings Plans bought in this account apply here first; sharing across the organization is not visible.",
];

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
    let cur_status = if integration.status == "revoked" || integration.cur_bucket.is_none() {
        "not_configured"
    } else {
        "awaiting_first_report"
    };
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
            "periods": [],
        },
        "created_at": integration.created_at,
        "verified_at": integration.verified_at,
    });
    if integration.account_type.as_deref() == Some("member") {
        view["caveats"] = json!(MEMBER_CAVEATS);
    }
    if let Some(deployed) = &integration.template_version {
        view["template"] = json!({
            "deployed_version": deployed,
            "current_version": costline_onboarding::TEMPLATE_VERSION,
            "update_available": costline_onboarding::is_update_available(deployed),
        });
    }
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
    Ok(view)
}
