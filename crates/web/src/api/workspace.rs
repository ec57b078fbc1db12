//! `/api/v1/workspace`: deleting the caller's workspace (owner only, typed confirmation).

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_domain::WorkspaceId;
use costline_store::workspace_deletion::{self, DeletedWorkspace};
use costline_store::{workspaces, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteBody {
    confirm: String,
}

/// `DELETE /api/v1/workspace` with `{"confirm": "<workspace name>"}`.
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Member,
    ApiJson(body): ApiJson<DeleteBody>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let deleted = delete_confirmed(&state, caller.workspace_id, &body.confirm).await?;
    Ok(Json(json!({
        "id": deleted.workspace_id.to_string(),
        "status": "deleted",
        "integrations": deleted.integrations,
        "deleted_users": deleted.deleted_users,
        "ended_sessions": deleted.ended_sessions,
    })))
}

/// Deletes the workspace when `confirm` is its exact name (shared by the API and the console's
/// danger zone; the caller has checked that the user is the owner).
pub(crate) async fn delete_confirmed(
    state: &AppState,
    workspace: WorkspaceId,
    confirm: &str,
) -> ApiResult<DeletedWorkspace> {
    let mut scope = state.store.scoped(workspace).await?;
    let current = workspaces::get(&mut scope).await?;
    scope.commit().await?;
    if confirm != current.name {
        return Err(ApiError::bad_request(
            "confirmation_mismatch",
            format!(
                "to delete this workspace and all of its data, confirm with its exact name: {:?}",
                current.name
            ),
        ));
    }
    workspace_deletion::delete_workspace(&state.store, workspace, confirm)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("workspace"),
            other => other.into(),
        })
}
