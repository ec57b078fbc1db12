//! `/api/v1/reports`: saved cost reports (members read, admins write). Their costs are answered
//! beside `/costs`, by `costs::report`.

use crate::auth::Member;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::report_actions;
use crate::views::{ReportIn, ReportOut, ReportsOut};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use costline_domain::ReportId;
use serde_json::{json, Value};

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<ReportsOut>> {
    let reports = report_actions::list(&state, caller.workspace_id).await?;
    Ok(Json(ReportsOut {
        reports: reports.iter().map(ReportOut::from).collect(),
    }))
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Member,
    ApiJson(body): ApiJson<ReportIn>,
) -> ApiResult<(StatusCode, Json<ReportOut>)> {
    caller.require_admin()?;
    let report =
        report_actions::create(&state, caller.workspace_id, &caller.actor(), &body).await?;
    Ok((StatusCode::CREATED, Json(ReportOut::from(&report))))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<ReportId>,
) -> ApiResult<Json<ReportOut>> {
    let report = report_actions::get(&state, caller.workspace_id, id).await?;
    Ok(Json(ReportOut::from(&report)))
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<ReportId>,
    ApiJson(body): ApiJson<ReportIn>,
) -> ApiResult<Json<ReportOut>> {
    caller.require_admin()?;
    let report =
        report_actions::update(&state, caller.workspace_id, &caller.actor(), id, &body).await?;
    Ok(Json(ReportOut::from(&report)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<ReportId>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    report_actions::delete(&state, caller.workspace_id, &caller.actor(), id).await?;
    Ok(Json(json!({"id": id.to_string(), "status": "deleted"})))
}
