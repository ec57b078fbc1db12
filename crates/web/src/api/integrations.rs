//! `/api/v1/integrations/aws`: create, connect, inspect, sync and revoke AWS integrations.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use costline_domain::{job_kinds, IntegrationId, RoleArn};
use costline_store::audit;
use costline_store::integrations::{self, CurLocation, Integration};
use costline_store::jobs::{self, NewJob};
use costline_store::{schedules, Scoped, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Member,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    // The body is `{}` (or empty): everything an integration starts with is generated here.
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: Result<Value, _> = serde_json::from_slice(&body);
        if !matches!(parsed, Ok(Value::Object(_))) {
            return Err(ApiError::bad_request(
                "invalid_json",
                "send an empty JSON object: {}",
            ));
        }
    }
    let platform = state.platform_account_id()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let integration = integrations::create(&mut scope, caller.user_id).await?;
    audit::record(
        &mut scope,
        &caller.actor(),
        "integration.created",
        &target(&integration),
        json!({}),
    )
    .await?;
    scope.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(onboarding_view(&state, &integration, &platform)),
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
    cur: Option<CurBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurBody {
    bucket: String,
    #[serde(default)]
    prefix: String,
    report_name: String,
}

pub(super) async fn connect(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
    ApiJson(body): ApiJson<ConnectBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let role = RoleArn::parse(&body.role_arn)
        .map_err(|e| ApiError::bad_request("invalid_role_arn", e.to_string()))?;
    let cur = body.cur.map(validate_cur).transpose()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
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
        &caller.actor(),
        "integration.connected",
        &target(&integration),
        json!({"role_arn": role.to_string(), "cur": cur}),
    )
    .await?;
    scope.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"id": id.to_string(), "status": "verifying", "job_id": job.job_id().to_string()}),
        ),
    ))
}

fn validate_cur(cur: CurBody) -> ApiResult<CurLocation> {
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

pub(super) async fn sync(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let integration = integrations::get(&mut scope, id).await.map_err(not_found)?;
    if integration.role_arn.is_none() {
        let why = if integration.status == "revoked" {
            "this integration was revoked: create a new one"
        } else {
            "connect the integration with its role ARN first (POST .../connect)"
        };
        return Err(ApiError::Conflict(why.into()));
    }
    let now = Utc::now();
    let mut job_ids = Vec::new();
    for kind in [job_kinds::VERIFY_INTEGRATION, job_kinds::POLL_CUR] {
        let job = jobs::enqueue(&mut scope, &NewJob::new(kind).integration(id), now).await?;
        job_ids.push(job.job_id().to_string());
    }
    audit::record(
        &mut scope,
        &caller.actor(),
        "integration.sync_requested",
        &target(&integration),
        json!({}),
    )
    .await?;
    scope.commit().await?;
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

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("integration"),
        other => other.into(),
    }
}

fn target(integration: &Integration) -> String {
    format!("integration:{}", integration.integration_id)
}

/// What a customer needs to create the role: the four renderings of one permission set.
fn onboarding_view(state: &AppState, integration: &Integration, platform: &str) -> Value {
    let external_id = integration.external_id.clone().unwrap_or_default();
    let templates = state.template_base_url();
    json!({
        "id": integration.integration_id.to_string(),
        "external_id": external_id,
        "status": integration.status,
        "cloudformation_url": costline_onboarding::cloudformation_quick_create_url(
            &format!("{templates}/integration.yaml"),
            costline_onboarding::INTEGRATION_REGION,
            costline_onboarding::DEFAULT_STACK_NAME,
            &external_id,
            platform,
        ),
        "terraform_snippet": costline_onboarding::terraform_snippet(&state.terraform_module_source(), &external_id, platform),
        "trust_policy": costline_onboarding::trust_policy(platform, &external_id, None),
        "inline_policy": costline_onboarding::inline_policy(integration.cur_bucket.as_deref()),
    })
}

/// Caveats of connecting a member account instead of the management account.
pub(crate) const MEMBER_CAVEATS: [&str; 4] = [
    "Only this account's costs and resources are visible.",
    "Other member accounts' costs are missing: the organization's bill is incomplete here.",
    "Cost allocation tags are activated in the management account, so tag coverage may be partial.",
    "Reserved Instances and Savings Plans bought in this account apply here first; sharing across the organization is not visible.",
];

async fn detail_view(
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
