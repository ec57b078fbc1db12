//! `GET /api/v1/jobs/{id}`: a background job's state and progress.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_domain::JobId;
use costline_store::{jobs, StoreError};
use serde_json::{json, Value};

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<Value>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let job = jobs::get(&mut scope, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound("job"),
        other => other.into(),
    })?;
    scope.commit().await?;
    let rfc3339 =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(Json(json!({
        "id": job.job_id.to_string(),
        "kind": job.kind,
        "status": job.status.as_str(),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "progress": job.progress,
        "error": job.error,
        "integration_id": job.integration_id.map(|i| i.to_string()),
        "billing_period": job.billing_period.map(|p| p.to_string()),
        "created_at": rfc3339(job.created_at),
        "started_at": job.started_at.map(rfc3339),
        "finished_at": job.finished_at.map(rfc3339),
    })))
}
