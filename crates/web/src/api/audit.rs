//! `GET /api/v1/audit-events`: the workspace's audit log, for its admins.

use crate::auth::Member;
use crate::error::ApiResult;
use crate::views::{AuditEventOut, AuditEventsOut};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_store::audit;

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<AuditEventsOut>> {
    caller.require_admin()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let events = audit::list(&mut scope, 500).await?;
    scope.commit().await?;
    Ok(Json(AuditEventsOut {
        events: events.into_iter().map(AuditEventOut::from).collect(),
    }))
}
