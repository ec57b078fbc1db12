//! Users: global identities (a person may belong to several workspaces; support staff to none).

use crate::{conflict_on_unique, Scoped, Store, StoreError, StoreResult};
use costline_domain::{IssuedToken, Role, TokenKind, UserId, WorkspaceId};

/// What login needs to know about a user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginUser {
    /// The user's id.
    pub user_id: uuid::Uuid,
    /// Email as registered.
    pub email: String,
    /// argon2id hash, absent for users created by the admin CLI without a password.
    pub password_hash: Option<String>,
    /// Platform support staff.
    pub is_support: bool,
}

/// A workspace a user belongs to, with their role there.
#[derive(Debug, Clone)]
pub struct UserWorkspace {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// The user's role.
    pub role: Role,
}

/// Looks a user up by email (case-insensitively).
pub async fn find_by_email(store: &Store, email: &str) -> StoreResult<Option<LoginUser>> {
    Ok(sqlx::query_as(
        "SELECT user_id, email, password_hash, is_support FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(store.system())
    .await?)
}

/// Looks a user up by id.
pub async fn get(store: &Store, user_id: UserId) -> StoreResult<LoginUser> {
    sqlx::query_as("SELECT user_id, email, password_hash, is_support FROM users WHERE user_id = $1")
        .bind(user_id.as_uuid())
        .fetch_optional(store.system())
        .await?
        .ok_or(StoreError::NotFound)
}

/// The workspaces a user is a member of, oldest membership first.
pub async fn workspaces_of(store: &Store, user_id: UserId) -> StoreResult<Vec<UserWorkspace>> {
    let rows: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT w.workspace_id, w.name, m.role FROM memberships m
           JOIN workspaces w USING (workspace_id)
          WHERE m.user_id = $1 ORDER BY m.created_at",
    )
    .bind(user_id.as_uuid())
    .fetch_all(store.system())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, role)| {
            Some(UserWorkspace {
                workspace_id: WorkspaceId::from_uuid(id),
                name,
                role: role.parse().ok()?,
            })
        })
        .collect())
}

/// Creates the account `email` with a password, in the caller's transaction. An account of
/// that address without a password (made by `costline admin create-workspace`) gets it only
/// when `claim_passwordless` (the caller has proven the address, e.g. by a confirmation link);
/// otherwise, and for an account that has a password, `Conflict`.
pub(crate) async fn insert_with_password(
    scope: &mut Scoped,
    email: &str,
    password_hash: &str,
    claim_passwordless: bool,
) -> StoreResult<UserId> {
    // The owner's function (migration 0026): the app role may not update users.
    let id: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT system_ops.claim_account($1, $2, $3, $4)")
            .bind(UserId::new().as_uuid())
            .bind(email)
            .bind(password_hash)
            .bind(claim_passwordless)
            .fetch_one(scope.tx())
            .await?;
    id.map(UserId::from_uuid).ok_or_else(|| {
        StoreError::Conflict(format!(
            "{email} already has a Costline account: log in as it instead"
        ))
    })
}

/// Creates a platform support user and a support API token for them.
pub async fn create_support_user(store: &Store, email: &str) -> StoreResult<(UserId, IssuedToken)> {
    let mut tx = store.system().begin().await?;
    let user_id = UserId::new();
    sqlx::query("INSERT INTO users (user_id, email, is_support) VALUES ($1, $2, true)")
        .bind(user_id.as_uuid())
        .bind(email)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on_unique("a user with this email already exists"))?;
    let token = IssuedToken::generate(TokenKind::Support);
    sqlx::query(
        "INSERT INTO support_tokens (token_id, user_id, name, prefix, token_hash) VALUES ($1, $2, 'cli', $3, $4)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(user_id.as_uuid())
    .bind(&token.prefix)
    .bind(&token.hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((user_id, token))
}
