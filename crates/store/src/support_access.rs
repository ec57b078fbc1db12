//! Support access grants (migrations/0028_support_access_grants.sql): the customer decides when
//! Costline support may see the workspace. A grant is live from `granted_at` until `expires_at`
//! or its revocation; support routes check for one before reading anything of the workspace.

use crate::{Scoped, StoreResult};
use chrono::{DateTime, Duration, Utc};
use costline_domain::UserId;

/// A grant as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    /// Its id.
    pub grant_id: uuid::Uuid,
    /// Who granted it (an admin's email, or the support user of a break-glass grant).
    pub granted_by_label: String,
    /// Start of the window.
    pub granted_at: DateTime<Utc>,
    /// End of the window.
    pub expires_at: DateTime<Utc>,
    /// When it was ended early.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Opened by support for an incident, without a customer grant.
    pub break_glass: bool,
    /// The stated reason of a break-glass grant.
    pub reason: Option<String>,
}

/// Who opens a grant and why.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// The user opening it.
    pub by: UserId,
    /// Their email.
    pub by_label: &'a str,
    /// How long it lasts.
    pub duration: Duration,
    /// `Some(reason)` for a break-glass grant.
    pub break_glass_reason: Option<&'a str>,
}

/// The scope's live grant, if any (the one ending last).
pub async fn live(scope: &mut Scoped, now: DateTime<Utc>) -> StoreResult<Option<Grant>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT grant_id, granted_by_label, granted_at, expires_at, revoked_at, break_glass, reason
           FROM support_access_grants
          WHERE workspace_id = $1 AND revoked_at IS NULL AND granted_at <= $2 AND expires_at > $2
          ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(ws.as_uuid())
    .bind(now)
    .fetch_optional(scope.tx())
    .await?)
}

/// Opens a grant in the caller's transaction; a customer grant replaces any live customer grant
/// (the new window is the one that counts).
pub async fn open(
    scope: &mut Scoped,
    grant: &NewGrant<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Grant> {
    let ws = scope.workspace_id();
    if grant.break_glass_reason.is_none() {
        end(scope, grant.by_label, now, false).await?;
    }
    Ok(sqlx::query_as(
        "INSERT INTO support_access_grants
                (workspace_id, grant_id, granted_by, granted_by_label, granted_at, expires_at, break_glass, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING grant_id, granted_by_label, granted_at, expires_at, revoked_at, break_glass, reason",
    )
    .bind(ws.as_uuid())
    .bind(uuid::Uuid::new_v4())
    .bind(grant.by.as_uuid())
    .bind(grant.by_label)
    .bind(now)
    .bind(now + grant.duration)
    .bind(grant.break_glass_reason.is_some())
    .bind(grant.break_glass_reason)
    .fetch_one(scope.tx())
    .await?)
}

/// Ends the live grants (break-glass ones too when `all`); the number ended.
pub async fn end(
    scope: &mut Scoped,
    by_label: &str,
    now: DateTime<Utc>,
    all: bool,
) -> StoreResult<u64> {
    let ws = scope.workspace_id();
    Ok(sqlx::query(
        "UPDATE support_access_grants SET revoked_at = $2, revoked_by_label = $3
          WHERE workspace_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND ($4 OR NOT break_glass)",
    )
    .bind(ws.as_uuid())
    .bind(now)
    .bind(by_label)
    .bind(all)
    .execute(scope.tx())
    .await?
    .rows_affected())
}
