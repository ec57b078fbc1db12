//! The audit log: who did what to which workspace's resources, readable by its admins.

use crate::{Scoped, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::UserId;
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

/// Records an event in the scope's workspace, inside the caller's transaction so that the event
/// exists exactly when the change does.
pub async fn record(
    scope: &mut Scoped,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (workspace_id, event_id, actor_id, actor, actor_kind, action, target, detail, client_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(uuid::Uuid::now_v7())
    .bind(actor.user_id.map(|u| u.as_uuid()))
    .bind(&actor.label)
    .bind(actor.kind.as_str())
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(&actor.client_ip)
    .execute(scope.tx())
    .await?;
    Ok(())
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
