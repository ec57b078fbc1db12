//! Deleting a workspace at its owner's request: everything of it goes in one transaction.
//!
//! Each integration is purged as on revocation (partitions dropped, workers told to forget its
//! credentials), then every remaining row of the workspace is deleted, referencing tables
//! first, and the workspace itself. Members' API tokens go with it; console sessions whose
//! current workspace it was are deleted, and users who belong to no other workspace are
//! deleted with all their sessions (support staff are never deleted here). Nothing of the
//! workspace remains, its audit log included (the deletion is logged by the process instead),
//! but the platform's copy of what support staff did in it (`support_audit_log`).

use crate::revocation::{owner_scope, purge_integration};
use crate::{Store, StoreError, StoreResult};
use costline_domain::{IntegrationId, WorkspaceId};

/// What a workspace deletion removed.
#[derive(Debug, Clone, Default)]
pub struct DeletedWorkspace {
    /// The workspace.
    pub workspace_id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// Integrations purged.
    pub integrations: usize,
    /// External ids of the integrations that had one (cached sessions to forget).
    pub external_ids: Vec<String>,
    /// Users deleted because they belonged to no other workspace.
    pub deleted_users: u64,
    /// Console sessions ended.
    pub ended_sessions: u64,
}

/// Deletes `workspace` when `confirm` is exactly its name; `Conflict` when it is not (the
/// caller checks first, so this only fires on a concurrent rename), `NotFound` when the
/// workspace does not exist.
pub async fn delete_workspace(
    store: &Store,
    workspace: WorkspaceId,
    confirm: &str,
) -> StoreResult<DeletedWorkspace> {
    let ws = workspace.as_uuid();
    let mut scope = owner_scope(store, workspace).await?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM workspaces WHERE workspace_id = $1 FOR UPDATE")
            .bind(ws)
            .fetch_optional(scope.tx())
            .await?;
    let Some(name) = name else {
        return Err(StoreError::NotFound);
    };
    if name != confirm {
        return Err(StoreError::Conflict(format!(
            "the confirmation does not match the workspace name: type {name:?} exactly"
        )));
    }
    let mut out = DeletedWorkspace {
        workspace_id: ws,
        name,
        ..Default::default()
    };

    let integrations: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT integration_id FROM integrations WHERE workspace_id = $1 ORDER BY integration_id",
    )
    .bind(ws)
    .fetch_all(scope.tx())
    .await?;
    for id in &integrations {
        let purged = purge_integration(&mut scope, IntegrationId::from_uuid(*id)).await?;
        out.external_ids.extend(purged.external_id);
    }
    out.integrations = integrations.len();
    // Partitions keyed by workspace, if any table is partitioned that way.
    crate::revocation::drop_partitions_naming(&mut scope, ws).await?;

    let members: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT user_id FROM memberships WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(scope.tx())
            .await?;
    let leaving: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT u.user_id FROM users u
          WHERE u.user_id = ANY($1) AND NOT u.is_support
            AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.user_id AND m.workspace_id <> $2)",
    )
    .bind(&members)
    .bind(ws)
    .fetch_all(scope.tx())
    .await?;

    // Sessions are MessagePack records whose values are JSON: ids appear as their text.
    let sessions_table: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('tower_sessions.session')::text")
            .fetch_one(scope.tx())
            .await?;
    if sessions_table.is_some() {
        let mut needles: Vec<String> = leaving.iter().map(|u| u.to_string()).collect();
        needles.push(ws.to_string());
        let ended = sqlx::query(
            "DELETE FROM tower_sessions.session s
              WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n(id)
                             WHERE position(convert_to(n.id, 'UTF8') IN s.data) > 0)",
        )
        .bind(&needles)
        .execute(scope.tx())
        .await?;
        out.ended_sessions = ended.rows_affected();
    }

    for table in crate::revocation::tables_with_column(
        &mut scope,
        "workspace_id",
        &["workspaces", crate::audit::SUPPORT_LOG_TABLE],
    )
    .await?
    {
        // `table` is read from the catalog and quoted; never input.
        sqlx::query(&format!(
            "DELETE FROM {} WHERE workspace_id = $1",
            crate::revocation::quote_ident(&table)
        ))
        .bind(ws)
        .execute(scope.tx())
        .await?;
    }
    sqlx::query("DELETE FROM workspaces WHERE workspace_id = $1")
        .bind(ws)
        .execute(scope.tx())
        .await?;
    let deleted = sqlx::query("DELETE FROM users WHERE user_id = ANY($1) AND NOT is_support")
        .bind(&leaving)
        .execute(scope.tx())
        .await?;
    out.deleted_users = deleted.rows_affected();
    scope.commit().await?;
    tracing::info!(
        workspace_id = %ws,
        integrations = out.integrations,
        deleted_users = out.deleted_users,
        ended_sessions = out.ended_sessions,
        "workspace deleted"
    );
    Ok(out)
}
