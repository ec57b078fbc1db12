//! The audit log: who did what to which workspace's resources, readable by its admins.

use crate::{Scoped, Store, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{UserId, WorkspaceId};
use serde::Serialize;

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user, when a person acted.
    pub user_id: Option<UserId>,
    /// How to show them (an email, or `system`).
    pub label: String,
    /// `user`, `support` or `system`.
    pub kind: ActorKind,
    /// The client address of the request, when there was one.
    pub client_ip: Option<String>,
}

/// The kind of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A member of the workspace.
    User,
    /// Platform support staff.
    Support,
    /// Costline itself (jobs, schedules).
    System,
}

impl ActorKind {
    fn as_str(&self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Support => "support",
            ActorKind::System => "system",
        }
    }
}

impl Actor {
    /// Costline itself.
    pub fn system() -> Self {
        Self {
            user_id: None,
            label: "system".into(),
            kind: ActorKind::System,
            client_ip: None,
        }
    }
}

/// One audit event as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (email or `system`).
    pub actor: String,
    /// `user`, `support` or `system`.
    pub actor_kind: String,
    /// What, e.g. `integration.created`.
    pub action: String,
    /// On what, e.g. `integration:<id>`.
    pub target: String,
    /// Structured detail.
    pub detail: serde_json::Value,
    /// The client address.
    pub client_ip: Option<String>,
}

/// The platform's copy of support events (migration 0021): kept when the workspace is deleted.
pub(crate) const SUPPORT_LOG_TABLE: &str = "support_audit_log";

/// Records an event in the scope's workspace, inside the caller's transaction so that the event
/// exists exactly when the change does. A support actor's event is also appended to the
/// platform's support log, which outlives the workspace.
pub async fn record(
    scope: &mut Scoped,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> StoreResult<()> {
    let event_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO audit_events (workspace_id, event_id, actor_id, actor, actor_kind, action, target, detail, client_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(event_id)
    .bind(actor.user_id.map(|u| u.as_uuid()))
    .bind(&actor.label)
    .bind(actor.kind.as_str())
    .bind(action)
    .bind(target)
    .bind(&detail)
    .bind(&actor.client_ip)
    .execute(scope.tx())
    .await?;
    if actor.kind == ActorKind::Support {
        sqlx::query(
            "INSERT INTO support_audit_log (workspace_id, event_id, actor_id, actor, action, target, detail, client_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(scope.workspace_id().as_uuid())
        .bind(event_id)
        .bind(actor.user_id.map(|u| u.as_uuid()))
        .bind(&actor.label)
        .bind(action)
        .bind(target)
        .bind(&detail)
        .bind(&actor.client_ip)
        .execute(scope.tx())
        .await?;
    }
    Ok(())
}

/// One record of the platform's support log.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SupportLogEntry {
    /// The workspace acted in (it may no longer exist).
    pub workspace_id: uuid::Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The support user's email.
    pub actor: String,
    /// What, e.g. `support.backfill`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Structured detail.
    pub detail: serde_json::Value,
    /// The client address.
    pub client_ip: Option<String>,
}

/// The platform's support log, newest first, of one workspace or all (read as the table owner:
/// no tenant transaction can read it).
pub async fn support_log(
    store: &Store,
    workspace_id: Option<WorkspaceId>,
    limit: i64,
) -> StoreResult<Vec<SupportLogEntry>> {
    Ok(sqlx::query_as(
        "SELECT workspace_id, at, actor, action, target, detail, client_ip FROM support_audit_log
          WHERE $1::uuid IS NULL OR workspace_id = $1
          ORDER BY at DESC, event_id DESC LIMIT $2",
    )
    .bind(workspace_id.map(|w| w.as_uuid()))
    .bind(limit)
    .fetch_all(store.system())
    .await?)
}

/// The workspace's most recent events, newest first.
pub async fn list(scope: &mut Scoped, limit: i64) -> StoreResult<Vec<AuditEvent>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT at, actor, actor_kind, action, target, detail, client_ip FROM audit_events
          WHERE workspace_id = $1 ORDER BY at DESC, event_id DESC LIMIT $2",
    )
    .bind(ws.as_uuid())
    .bind(limit)
    .fetch_all(scope.tx())
    .await?)
}
