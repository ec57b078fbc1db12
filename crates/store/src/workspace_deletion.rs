//! Deleting a workspace at its owner's request: everything of it goes in one transaction.
//!
//! Each integration is purged as on revocation (partitions dropped, workers told to forget its
//! credentials), then every remaining row of the workspace is deleted, referencing tables
//! first, and the workspace itself. Members' API tokens go with it; console sessions whose
//! current workspace it was are deleted, and users who belong to no other workspace are
//! deleted with all their sessions (support staff are never deleted here). Nothing of the
//! workspace remains, its audit log included (the deletion is logged by the process instead),
//! but the platform's copy of what support staff did in it (`support_audit_log`).

use crate::revocation::purge_integration;
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
    let mut scope = store.scoped(workspace).await?;
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
    crate::revocation::drop_tables_of(&mut scope, ws).await?;

    let members: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT user_id FROM memberships WHERE workspace_id = $1")
            .bind(ws)
            .fetch_all(scope.tx())
            .await?;
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
    // Sessions and users outside the workspace: the system role's function, which acts only
    // once the workspace row is gone (in this transaction).
    let (deleted_users, ended_sessions): (i64, i64) = sqlx::query_as(
        "SELECT deleted_users, ended_sessions FROM system_ops.end_deleted_workspace($1, $2)",
    )
    .bind(ws)
    .bind(&members)
    .fetch_one(scope.tx())
    .await?;
    out.deleted_users = deleted_users.max(0) as u64;
    out.ended_sessions = ended_sessions.max(0) as u64;
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
