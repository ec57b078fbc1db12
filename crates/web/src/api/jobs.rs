//! `GET /api/v1/jobs/{id}`: a background job's state and progress.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::views::JobOut;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_domain::JobId;
use costline_store::{jobs, StoreError};

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobOut>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let job = jobs::get(&mut scope, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound("job"),
        other => other.into(),
    })?;
    scope.commit().await?;
    Ok(Json(JobOut::from(&job)))
}
