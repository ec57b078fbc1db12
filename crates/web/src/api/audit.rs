//! `GET /api/v1/audit-events`: the workspace's audit log, for its admins.

use crate::auth::Member;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use costline_store::audit;
use serde_json::{json, Value};

pub(super) async fn list(State(state): State<AppState>, caller: Member) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let events = audit::list(&mut scope, 500).await?;
    scope.commit().await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "actor": e.actor,
                "actor_kind": e.actor_kind,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
                "client_ip": e.client_ip,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}
