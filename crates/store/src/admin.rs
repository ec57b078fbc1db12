//! Operations of the admin command line.

use crate::audit::{self, Actor};
use crate::workspaces::{self, Owner};
use crate::{tokens, Store, StoreResult};
use costline_domain::{IssuedToken, UserId, WorkspaceId};
use serde_json::json;

/// A workspace created from the command line, with an owner API token.
pub struct CreatedByAdmin {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Its owner.
    pub owner_id: UserId,
    /// An owner API token (plaintext shown once).
    pub token: IssuedToken,
}

/// Creates a workspace owned by the user with `owner_email` (created if missing) and an owner
/// API token, and records both in the workspace's audit log.
pub async fn create_workspace_with_token(
    store: &Store,
    name: &str,
    owner_email: &str,
) -> StoreResult<CreatedByAdmin> {
    let created = workspaces::create_with_owner(store, name, Owner::ByEmail(owner_email)).await?;
    let mut scope = store.scoped(created.workspace_id).await?;
    let (token_id, token) = tokens::create(&mut scope, created.owner_id, "admin-cli", None).await?;
    let actor = Actor::system();
    audit::record(
        &mut scope,
        &actor,
        "workspace.created",
        &format!("workspace:{}", created.workspace_id),
        json!({"name": name, "owner": owner_email}),
    )
    .await?;
    audit::record(
        &mut scope,
        &actor,
        "token.created",
        &format!("token:{token_id}"),
        json!({"name": "admin-cli", "prefix": token.prefix}),
    )
    .await?;
    scope.commit().await?;
    Ok(CreatedByAdmin {
        workspace_id: created.workspace_id,
        owner_id: created.owner_id,
        token,
    })
}
