//! Workspaces: the tenants.

use crate::{conflict_on_unique, Scoped, Store, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{Role, UserId, WorkspaceId};

/// A workspace as shown to its members.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Workspace {
    /// Its id.
    pub workspace_id: uuid::Uuid,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The outcome of creating a workspace with its owner.
#[derive(Debug, Clone)]
pub struct CreatedWorkspace {
    /// The new workspace.
    pub workspace_id: WorkspaceId,
    /// Its owner (new or existing user).
    pub owner_id: UserId,
}

/// How the owner is identified when a workspace is created.
pub enum Owner<'a> {
    /// Sign-up: a new user with a password; refused when the email is taken.
    NewUser {
        /// Email address.
        email: &'a str,
        /// argon2id hash.
        password_hash: &'a str,
    },
    /// Admin CLI: the user with this email, created without a password if missing.
    ByEmail(&'a str),
}

/// Creates a workspace and makes `owner` its owner, in one transaction.
pub async fn create_with_owner(
    store: &Store,
    name: &str,
    owner: Owner<'_>,
) -> StoreResult<CreatedWorkspace> {
    let workspace_id = WorkspaceId::new();
    let mut scope = store.scoped(workspace_id).await?;
    sqlx::query("INSERT INTO workspaces (workspace_id, name) VALUES ($1, $2)")
        .bind(workspace_id.as_uuid())
        .bind(name)
        .execute(scope.tx())
        .await?;
    let owner_id = match owner {
        Owner::NewUser {
            email,
            password_hash,
        } => {
            let id = UserId::new();
            sqlx::query("INSERT INTO users (user_id, email, password_hash) VALUES ($1, $2, $3)")
                .bind(id.as_uuid())
                .bind(email)
                .bind(password_hash)
                .execute(scope.tx())
                .await
                .map_err(conflict_on_unique(
                    "an account with this email already exists: log in instead",
                ))?;
            id
        }
        Owner::ByEmail(email) => {
            // The user may exist outside this workspace, where only the system role sees users.
            let id: uuid::Uuid = sqlx::query_scalar(
                "INSERT INTO users (user_id, email) VALUES ($1, $2)
                 ON CONFLICT (lower(email)) DO UPDATE SET email = users.email
                 RETURNING user_id",
            )
            .bind(UserId::new().as_uuid())
            .bind(email)
            .fetch_one(store.system())
            .await?;
            UserId::from_uuid(id)
        }
    };
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(workspace_id.as_uuid())
        .bind(owner_id.as_uuid())
        .bind(Role::Owner.as_str())
        .execute(scope.tx())
        .await?;
    scope.commit().await?;
    Ok(CreatedWorkspace {
        workspace_id,
        owner_id,
    })
}

/// The workspace of the scope.
pub async fn get(scope: &mut Scoped) -> StoreResult<Workspace> {
    let ws = scope.workspace_id();
    sqlx::query_as("SELECT workspace_id, name, created_at FROM workspaces WHERE workspace_id = $1")
        .bind(ws.as_uuid())
        .fetch_optional(scope.tx())
        .await?
        .ok_or(crate::StoreError::NotFound)
}

/// Workspaces whose name or owner email contains `query` (support console search).
pub async fn search(store: &Store, query: &str) -> StoreResult<Vec<Workspace>> {
    let pattern = format!(
        "%{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(sqlx::query_as(
        "SELECT DISTINCT w.workspace_id, w.name, w.created_at
           FROM workspaces w
           LEFT JOIN memberships m ON m.workspace_id = w.workspace_id AND m.role = 'owner'
           LEFT JOIN users u ON u.user_id = m.user_id
          WHERE w.name ILIKE $1 OR u.email ILIKE $1
          ORDER BY w.created_at DESC LIMIT 50",
    )
    .bind(pattern)
    .fetch_all(store.system())
    .await?)
}
