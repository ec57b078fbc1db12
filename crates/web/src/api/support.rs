//! `/api/v1/support/...`: the support API, for Costline's support staff only (a customer token
//! gets 403 on every route). Every view and action is audited into the customer's workspace,
//! with the support user as the actor. Support users can do nothing else in a workspace: the
//! customer routes refuse support tokens (`auth::Member`).

use crate::auth::Support;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, Utc};
use costline_domain::{BillingPeriod, ExternalId, IntegrationId, WorkspaceId};
use costline_store::integrations::{self, Integration};
use costline_store::support::{self, Backfill};
use costline_store::{audit, cur, notifications, support_access, Scoped, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// The longest range one backfill may ask for.
const MAX_BACKFILL_MONTHS: usize = 36;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/support/workspaces", get(search))
        .route("/support/workspaces/{id}", get(workspace))
        .route("/support/integrations/{id}/periods", get(periods))
        .route("/support/integrations/{id}/backfill", post(backfill))
        .route(
            "/support/integrations/{id}/periods/{period}/retry",
            post(retry),
        )
        // The one support route that needs no grant: it opens one, with a reason (issue 21).
        .route("/support/workspaces/{id}/break-glass", post(break_glass))
}

/// A scope of `ws` for support, refused with 403 `support_access_not_granted` outside a live
/// grant of the customer (or a break-glass grant). Every support read and action goes through it.
pub(crate) async fn granted_scope(state: &AppState, ws: WorkspaceId) -> ApiResult<Scoped> {
    let mut scope = state.store.scoped(ws).await?;
    if support_access::live(&mut scope, Utc::now())
        .await?
        .is_none()
    {
        return Err(ApiError::SupportAccessNotGranted);
    }
    Ok(scope)
}

/// The longest break-glass window.
const MAX_BREAK_GLASS_HOURS: i64 = 24;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BreakGlassBody {
    reason: String,
    #[serde(default)]
    hours: Option<i64>,
}

/// `POST /support/workspaces/{id}/break-glass` `{"reason": "...", "hours": N}`: access for an
/// incident without a customer grant. The reason is required; the grant is marked in the
/// customer's audit log and the platform's support log, and the workspace's admins are notified
/// (console and email).
async fn break_glass(
    State(state): State<AppState>,
    caller: Support,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(body): ApiJson<BreakGlassBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let reason = body.reason.trim();
    if reason.len() < 10 {
        return Err(ApiError::bad_request(
            "reason_required",
            "break-glass access needs a stated reason of at least 10 characters (the incident and why its data must be seen); it is shown to the customer",
        ));
    }
    let hours = body.hours.unwrap_or(MAX_BREAK_GLASS_HOURS);
    if !(1..=MAX_BREAK_GLASS_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_hours",
            format!("break-glass hours must be from 1 to {MAX_BREAK_GLASS_HOURS}; got {hours}"),
        ));
    }
    let mut scope = state.store.scoped(id).await?;
    costline_store::workspaces::get(&mut scope)
        .await
        .map_err(|e| not_found(e, "workspace"))?;
    let now = Utc::now();
    let grant = support_access::open(
        &mut scope,
        &support_access::NewGrant {
            by: caller.user_id,
            by_label: &caller.email,
            duration: chrono::Duration::hours(hours),
            break_glass_reason: Some(reason),
        },
        now,
    )
    .await?;
    audit::record(
        &mut scope,
        &caller.actor(),
        "support.break_glass_opened",
        &format!("support_access:{}", grant.grant_id),
        json!({"break_glass": true, "reason": reason, "expires_at": grant.expires_at}),
    )
    .await?;
    let message = format!(
        "Costline support ({}) opened break-glass access to this workspace until {} for an incident: \"{reason}\". You can end it at any time in settings (support access).",
        caller.email,
        grant.expires_at.format("%Y-%m-%d %H:%M UTC"),
    );
    notifications::notify_admins_at(
        &mut scope,
        &notifications::NewNotification {
            kind: notifications::kinds::SUPPORT_BREAK_GLASS,
            integration_id: None,
            billing_period: None,
            message: &message,
        },
        now,
    )
    .await?;
    scope.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(crate::api::support_access::grant_view(Some(&grant))),
    ))
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /support/workspaces?q=`: by workspace name, owner email or AWS account id.
async fn search(
    State(state): State<AppState>,
    caller: Support,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let q = query.q.trim();
    if q.is_empty() {
        return Err(ApiError::bad_request(
            "missing_query",
            "give ?q= with part of a workspace name or owner email, or a 12-digit AWS account id",
        ));
    }
    let hits = support::search(&state.store, q).await?;
    // The search showed each workspace's name and owners to support: that is a view of it.
    for hit in &hits {
        let mut scope = state
            .store
            .scoped(WorkspaceId::from_uuid(hit.workspace_id))
            .await?;
        audit::record(
            &mut scope,
            &caller.actor(),
            "support.workspace_found",
            &format!("workspace:{}", hit.workspace_id),
            json!({"query": q}),
        )
        .await?;
        scope.commit().await?;
    }
    let workspaces: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({
                "id": h.workspace_id.to_string(),
                "name": h.name,
                "created_at": h.created_at,
                "owner_emails": h.owner_emails,
                "account_ids": h.account_ids,
                "integrations": h.integrations,
            })
        })
        .collect();
    Ok(Json(json!({ "workspaces": workspaces })))
}

/// `GET /support/workspaces/{id}`: the workspace and its integrations.
async fn workspace(
    State(state): State<AppState>,
    caller: Support,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> ApiResult<Json<Value>> {
    let mut scope = granted_scope(&state, id).await?;
    let ws = costline_store::workspaces::get(&mut scope)
        .await
        .map_err(|e| not_found(e, "workspace"))?;
    let mut out = Vec::new();
    for integration in integrations::list(&mut scope).await? {
        let periods = cur::periods(&mut scope, integration.id()).await?;
        let source = cur::source(&mut scope, integration.id()).await?;
        out.push(json!({
            "id": integration.integration_id.to_string(),
            "status": integration.status,
            "error": integration.error,
            "account_id": integration.account_id,
            "account_type": integration.account_type,
            "cur": {
                "status": if integration.cur_bucket.is_none() { "not_configured" } else { cur::integration_status(source.as_ref(), &periods) },
                "bucket": integration.cur_bucket,
                "prefix": integration.cur_prefix,
                "report_name": integration.cur_report_name,
                "periods": periods.len(),
            },
            "created_at": integration.created_at,
        }));
    }
    audit::record(
        &mut scope,
        &caller.actor(),
        "support.workspace_viewed",
        &format!("workspace:{id}"),
        json!({}),
    )
    .await?;
    scope.commit().await?;
    Ok(Json(json!({
        "id": id.to_string(),
        "name": ws.name,
        "created_at": ws.created_at,
        "integrations": out,
    })))
}

/// `GET /support/integrations/{id}/periods`: the billing periods found in the bucket (listed
/// through the customer's role) beside those ingested, and the integration's backfills.
async fn periods(
    State(state): State<AppState>,
    caller: Support,
    ApiPath(id): ApiPath<IntegrationId>,
) -> ApiResult<Json<Value>> {
    let view = periods_view(&state, &caller, id).await?;
    Ok(Json(view))
}

/// The periods page's data (shared with the support console), audited as a view.
pub(crate) async fn periods_view(
    state: &AppState,
    caller: &Support,
    id: IntegrationId,
) -> ApiResult<Value> {
    let ws = support::integration_workspace(&state.store, id)
        .await
        .map_err(|e| not_found(e, "integration"))?;
    let mut scope = granted_scope(state, ws).await?;
    let integration = integrations::get(&mut scope, id)
        .await
        .map_err(|e| not_found(e, "integration"))?;
    let ingested = cur::periods(&mut scope, id).await?;
    let backfills = support::backfills(&mut scope, id, 10).await?;
    scope.commit().await?;

    // The bucket is listed outside any transaction: it may take a while.
    let (found, bucket_error) = match bucket_periods(state, ws, &integration).await {
        Ok(found) => (found, None),
        Err(message) => (Vec::new(), Some(message)),
    };

    let mut rows: BTreeMap<BillingPeriod, Value> = BTreeMap::new();
    for p in &found {
        rows.entry(p.period)
            .or_insert_with(|| json!({"period": p.period.to_string()}))["bucket"] = json!({
            "assembly_id": p.assembly_id,
            "format": format_name(p),
            "layout": format!("{:?}", p.layout),
            "manifest": p.from_manifest,
            "files": p.data_keys.len(),
            "missing_files": p.missing_keys.len(),
            "size": p.total_size,
            "last_modified": p.last_modified,
        });
    }
    for p in &ingested {
        rows.entry(p.period())
            .or_insert_with(|| json!({"period": p.period().to_string()}))["ingested"] = json!({
            "status": p.status,
            "assembly_id": p.assembly_id,
            "live_assembly_id": p.live_assembly_id,
            "format": p.format,
            "files": p.files,
            "size": p.bytes,
            "rows": p.rows,
            "last_ingested": p.ingested_at,
            "error": p.error,
        });
    }
    for row in rows.values_mut() {
        let in_bucket = row["bucket"]["assembly_id"].as_str();
        let live = row["ingested"]["live_assembly_id"].as_str();
        row["status"] = json!(match (&row["ingested"]["status"], in_bucket) {
            (Value::String(s), _) if s == "ingesting" || s == "error" => s.as_str(),
            (Value::String(_), Some(b)) if live != Some(b) => "new_assembly",
            (Value::String(s), _) => s.as_str(),
            (_, Some(_)) => "not_ingested",
            _ => "unknown",
        });
    }

    let mut scope = granted_scope(state, ws).await?;
    audit::record(
        &mut scope,
        &caller.actor(),
        "support.periods_viewed",
        &format!("integration:{id}"),
        json!({"found_in_bucket": found.len(), "ingested": ingested.len()}),
    )
    .await?;
    scope.commit().await?;
    Ok(json!({
        "integration_id": id.to_string(),
        "workspace_id": ws.to_string(),
        "status": integration.status,
        "bucket": integration.cur_bucket,
        "prefix": integration.cur_prefix,
        "report_name": integration.cur_report_name,
        "bucket_error": bucket_error,
        "periods": rows.into_values().rev().collect::<Vec<_>>(),
        "backfills": backfills.iter().map(backfill_view).collect::<Vec<_>>(),
    }))
}

fn format_name(p: &costline_cur::discovery::DiscoveredPeriod) -> String {
    use costline_cur::discovery::{FileFormat, ReportKind};
    let kind = match p.kind {
        ReportKind::LegacyCur => "legacy",
        ReportKind::Cur2 => "cur2",
        ReportKind::Focus => "focus",
        ReportKind::UnknownDataExport => "data_export",
    };
    let format = match p.format {
        FileFormat::CsvGzip => "csv_gzip",
        FileFormat::CsvZip => "csv_zip",
        FileFormat::Csv => "csv",
        FileFormat::Parquet => "parquet",
    };
    format!("{kind}_{format}")
}

/// Lists the integration's report location through its role and resolves the periods; an
/// actionable message when that is not possible.
async fn bucket_periods(
    state: &AppState,
    ws: WorkspaceId,
    integration: &Integration,
) -> Result<Vec<costline_cur::discovery::DiscoveredPeriod>, String> {
    use costline_cur::discovery::{self, ReportLocation};
    if !integration.status.is_live() {
        return Err("the integration was revoked: its bucket is no longer read".into());
    }
    let (Some(role), Some(external_id), Some(bucket), Some(report)) = (
        integration.role(),
        integration.external_id.clone(),
        integration.cur_bucket.clone(),
        integration.cur_report_name.clone(),
    ) else {
        return Err("the integration has no role or CUR location yet".into());
    };
    let Some(gateway) = &state.gateway else {
        return Err("this Costline process has no AWS access configured".into());
    };
    // The status was just read; a revocation since then is refused by the gateway itself.
    let session = gateway
        .assume(
            &role,
            &ExternalId::from_stored(external_id),
            &costline_aws::workspace_session_name(ws),
        )
        .await
        .map_err(|e| e.to_string())?;
    let location = ReportLocation::new(integration.cur_prefix.clone().unwrap_or_default(), report);
    let mut listed = Vec::new();
    for base in location.bases() {
        listed.extend(
            session
                .list_objects(&bucket, &base)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let listing: Vec<discovery::S3Object> = listed
        .into_iter()
        .map(|o| discovery::S3Object {
            key: o.key,
            size: o.size,
            last_modified: o.last_modified.unwrap_or_default(),
            etag: o.etag,
        })
        .collect();
    let mut manifests = HashMap::new();
    for key in discovery::manifests_to_fetch(&location, &listing) {
        let bytes = session
            .get_object_bytes(&bucket, &key, 64 * 1024 * 1024)
            .await
            .map_err(|e| e.to_string())?;
        manifests.insert(key, bytes);
    }
    discovery::discover(&location, &listing, &manifests).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackfillBody {
    from: String,
    to: String,
}

/// `POST /support/integrations/{id}/backfill` `{"from": "YYYY-MM", "to": "YYYY-MM"}`: one
/// ingest job per period, oldest first.
async fn backfill(
    State(state): State<AppState>,
    caller: Support,
    ApiPath(id): ApiPath<IntegrationId>,
    ApiJson(body): ApiJson<BackfillBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let from = parse_period("from", &body.from)?;
    let to = parse_period("to", &body.to)?;
    let periods = backfill_range(from, to)?;
    let view = queue(&state, &caller, id, &periods, "support.backfill_requested").await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// `POST /support/integrations/{id}/periods/{period}/retry`: reingest one period (e.g. a failed
/// one).
async fn retry(
    State(state): State<AppState>,
    caller: Support,
    ApiPath((id, period)): ApiPath<(IntegrationId, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let period = parse_period("period", &period)?;
    let view = queue(
        &state,
        &caller,
        id,
        &[period],
        "support.period_retry_requested",
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

/// Queues the ingest jobs of a backfill (or retry) and audits it; shared with the console.
pub(crate) async fn queue(
    state: &AppState,
    caller: &Support,
    id: IntegrationId,
    periods: &[BillingPeriod],
    action: &str,
) -> ApiResult<Value> {
    let ws = support::integration_workspace(&state.store, id)
        .await
        .map_err(|e| not_found(e, "integration"))?;
    let mut scope = granted_scope(state, ws).await?;
    let integration = integrations::lock(&mut scope, id)
        .await
        .map_err(|e| not_found(e, "integration"))?;
    if !integration.status.is_live() {
        return Err(ApiError::Conflict(
            "this integration was revoked: nothing of it can be ingested".into(),
        ));
    }
    if integration.role_arn.is_none() || integration.cur_bucket.is_none() {
        return Err(ApiError::Conflict(
            "the integration has no role or CUR location yet: the customer must connect it first"
                .into(),
        ));
    }
    let payload = json!({"reason": "backfill", "requested_by": caller.email});
    let (backfill_id, jobs) = support::queue_backfill(
        &mut scope,
        id,
        periods,
        (caller.user_id, &caller.email),
        &payload,
        Utc::now(),
    )
    .await?;
    let periods: Vec<String> = jobs.iter().map(|(p, _)| p.to_string()).collect();
    let job_ids: Vec<String> = jobs.iter().map(|(_, j)| j.to_string()).collect();
    audit::record(
        &mut scope,
        &caller.actor(),
        action,
        &format!("integration:{id}"),
        json!({"backfill_id": backfill_id, "periods": periods, "job_ids": job_ids}),
    )
    .await?;
    scope.commit().await?;
    Ok(json!({
        "backfill_id": backfill_id.to_string(),
        "periods": periods,
        "job_ids": job_ids,
    }))
}

pub(crate) fn parse_period(field: &str, value: &str) -> ApiResult<BillingPeriod> {
    value.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_period",
            format!("{field} must be a billing period as YYYY-MM, e.g. 2024-09; got {value:?}"),
        )
    })
}

/// Every period from `from` through `to`, checked: in order, not in the future, not too long.
pub(crate) fn backfill_range(
    from: BillingPeriod,
    to: BillingPeriod,
) -> ApiResult<Vec<BillingPeriod>> {
    if from > to {
        return Err(ApiError::bad_request(
            "invalid_period",
            format!("from ({from}) must not be after to ({to})"),
        ));
    }
    let today = Utc::now().date_naive();
    let current = BillingPeriod::new(today.year(), today.month()).map_err(|e| {
        ApiError::Internal(format!("the current month is not a billing period: {e}"))
    })?;
    if to > current {
        return Err(ApiError::bad_request(
            "invalid_period",
            format!("to ({to}) is in the future: the latest period is {current}"),
        ));
    }
    let periods = from.through(to);
    if periods.len() > MAX_BACKFILL_MONTHS {
        return Err(ApiError::bad_request(
            "invalid_period",
            format!(
                "a backfill covers at most {MAX_BACKFILL_MONTHS} periods; split {from}..{to} into smaller ranges"
            ),
        ));
    }
    Ok(periods)
}

/// A backfill as the support API and the customer's integration view show it.
pub(crate) fn backfill_view(b: &Backfill) -> Value {
    json!({
        "id": b.backfill_id.to_string(),
        "requested_by": b.requested_by,
        "requested_at": b.created_at,
        "in_progress": b.in_progress(),
        "periods": b.periods.iter().map(|p| json!({
            "period": p.period,
            "status": p.state(),
            "job_id": p.job_id.to_string(),
            "job_status": p.job_status,
            "progress": p.progress,
            "rows": p.rows,
            "ingested_at": p.ingested_at,
            "error": p.error(),
        })).collect::<Vec<_>>(),
    })
}

fn not_found(e: StoreError, what: &'static str) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound(what),
        other => other.into(),
    }
}
