//! `GET /api/v1/notifications`: the workspace's in-console notices, newest first (any member);
//! `POST /api/v1/notifications/{id}/read`: marks one read.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::views::{NotificationOut, NotificationsOut};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_store::notifications::{self, NotificationId};
use costline_store::StoreError;
use serde::Deserialize;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<i64>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Member,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<NotificationsOut>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let found = notifications::list(&mut scope, limit).await?;
    scope.commit().await?;
    Ok(Json(NotificationsOut {
        notifications: found.iter().map(NotificationOut::from).collect(),
    }))
}

pub(super) async fn mark_read(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<NotificationId>,
) -> ApiResult<Json<NotificationOut>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let notice = notifications::mark_read(&mut scope, id, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("notification"),
            other => other.into(),
        })?;
    scope.commit().await?;
    Ok(Json(NotificationOut::from(&notice)))
}
