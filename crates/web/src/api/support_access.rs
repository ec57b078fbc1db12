//! `/api/v1/support-access`: workspace admins grant Costline support a bounded window on the
//! workspace, or end it (issue 21). Every grant and revocation is in the workspace's audit log.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, Utc};
use costline_domain::UserId;
use costline_store::audit::{self, Actor};
use costline_store::support_access::{self, Grant, NewGrant};
use costline_store::{Scoped, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

/// The longest window a customer grant may open: 7 days.
pub(crate) const MAX_GRANT_HOURS: i64 = 7 * 24;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantBody {
    hours: i64,
}

pub(crate) fn grant_view(grant: Option<&Grant>) -> Value {
    match grant {
        None => json!({"granted": false}),
        Some(g) => json!({
            "granted": true,
            "id": g.grant_id.to_string(),
            "granted_by": g.granted_by_label,
            "granted_at": g.granted_at,
            "expires_at": g.expires_at,
            "break_glass": g.break_glass,
            "reason": g.reason,
        }),
    }
}

/// `GET /support-access`: the live grant, if any.
pub(super) async fn get(State(state): State<AppState>, caller: Member) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let live = support_access::live(&mut scope, Utc::now()).await?;
    scope.commit().await?;
    Ok(Json(grant_view(live.as_ref())))
}

/// `POST /support-access` `{"hours": N}` (1 to 168): opens a window from now.
pub(super) async fn grant(
    State(state): State<AppState>,
    caller: Member,
    ApiJson(body): ApiJson<GrantBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_admin()?;
    let grant = grant_access(&state, &caller, body.hours).await?;
    Ok((StatusCode::CREATED, Json(grant_view(Some(&grant)))))
}

/// Opens a customer grant of `hours` and audits it; shared with the console.
pub(crate) async fn grant_access(
    state: &AppState,
    caller: &Member,
    hours: i64,
) -> ApiResult<Grant> {
    if !(1..=MAX_GRANT_HOURS).contains(&hours) {
        return Err(ApiError::bad_request(
            "invalid_hours",
            format!("hours must be a whole number from 1 to {MAX_GRANT_HOURS} (7 days), e.g. 24; got {hours}"),
        ));
    }
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let grant = open_grant(
        &mut scope,
        &caller.actor(),
        caller.user_id,
        &caller.email,
        hours,
    )
    .await?;
    scope.commit().await?;
    Ok(grant)
}

/// `DELETE /support-access`: ends every live grant, break-glass ones included.
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let ended = revoke_access(&state, &caller).await?;
    Ok(Json(json!({"granted": false, "ended": ended})))
}

/// Ends the live grants and audits it; shared with the console.
pub(crate) async fn revoke_access(state: &AppState, caller: &Member) -> ApiResult<u64> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let ended = end_grants(&mut scope, &caller.actor(), &caller.email).await?;
    scope.commit().await?;
    Ok(ended)
}

/// Opens a customer grant of `hours` (already checked) in the workspace's transaction and
/// audits it: the API's and the console's one way to grant.
pub(crate) async fn open_grant(
    scope: &mut Scoped,
    actor: &Actor,
    by: UserId,
    by_label: &str,
    hours: i64,
) -> Result<Grant, StoreError> {
    let grant = support_access::open(
        scope,
        &NewGrant {
            by,
            by_label,
            duration: Duration::hours(hours),
            break_glass_reason: None,
        },
        Utc::now(),
    )
    .await?;
    audit::record(
        scope,
        actor,
        "support_access.granted",
        &format!("support_access:{}", grant.grant_id),
        json!({"hours": hours, "expires_at": grant.expires_at}),
    )
    .await?;
    Ok(grant)
}

/// Ends every live grant, break-glass ones included, and audits it; how many ended.
pub(crate) async fn end_grants(
    scope: &mut Scoped,
    actor: &Actor,
    by_label: &str,
) -> Result<u64, StoreError> {
    let ended = support_access::end(scope, by_label, Utc::now(), true).await?;
    audit::record(
        scope,
        actor,
        "support_access.revoked",
        "support_access",
        json!({"ended": ended}),
    )
    .await?;
    Ok(ended)
}
