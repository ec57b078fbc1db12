//! `/api/v1/resources`: the inventory of every connected account (issue 19).

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiPath;
use crate::resource_actions::{self, ResourceQuery};
use crate::views::{CoveragesOut, ResourceDetailOut, ResourcesOut};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use costline_domain::ResourceId;

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Member,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ResourcesOut>> {
    let query = ResourceQuery::parse(raw.as_deref())
        .map_err(|(code, message)| ApiError::bad_request(code, message))?;
    Ok(Json(
        resource_actions::list(&state, caller.workspace_id, &query).await?,
    ))
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<ResourceId>,
) -> ApiResult<Json<ResourceDetailOut>> {
    Ok(Json(
        resource_actions::detail(&state, caller.workspace_id, id).await?,
    ))
}

pub(super) async fn coverage(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<CoveragesOut>> {
    Ok(Json(
        resource_actions::coverage(&state, caller.workspace_id).await?,
    ))
}
