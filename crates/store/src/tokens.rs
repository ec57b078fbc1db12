//! API tokens: bearer credentials, stored as hashes only.

use crate::{Scoped, Store, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{IssuedToken, Role, TokenId, TokenKind, UserId, WorkspaceId};

/// Who a presented token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A member of one workspace, with their current role there.
    Member {
        /// The user.
        user_id: UserId,
        /// Their email, for audit records.
        email: String,
        /// The token's workspace.
        workspace_id: WorkspaceId,
        /// Their role (read at each request, so a demotion takes effect at once).
        role: Role,
    },
    /// Platform support staff.
    Support {
        /// The user.
        user_id: UserId,
        /// Their email, for audit records.
        email: String,
        /// The support token presented: a console session signed in with it lasts only as
        /// long as the token does.
        token_id: uuid::Uuid,
    },
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token of this owner.
    Valid(TokenOwner),
    /// A workspace token past its expiry (revoked tokens are [`TokenCheck::Unknown`]).
    Expired {
        /// When it stopped working.
        expired_at: DateTime<Utc>,
    },
    /// Unknown or revoked, or its user is no longer a member of its workspace.
    Unknown,
}

/// A token as listed in settings (never its secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenSummary {
    /// Id.
    pub token_id: uuid::Uuid,
    /// The name its creator gave it.
    pub name: String,
    /// Visible start of the token.
    pub prefix: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last authenticated request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a workspace API token for `user_id`, working until `expires_at` (`None`: until
/// revoked); the plaintext is in the returned `IssuedToken`.
pub async fn create(
    scope: &mut Scoped,
    user_id: UserId,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
) -> StoreResult<(TokenId, IssuedToken)> {
    let token = IssuedToken::generate(TokenKind::Workspace);
    let token_id = TokenId::new();
    sqlx::query(
        "INSERT INTO api_tokens (workspace_id, token_id, user_id, name, prefix, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(token_id.as_uuid())
    .bind(user_id.as_uuid())
    .bind(name)
    .bind(&token.prefix)
    .bind(&token.hash)
    .bind(expires_at)
    .execute(scope.tx())
    .await?;
    Ok((token_id, token))
}

/// The workspace's live tokens, newest first.
pub async fn list(scope: &mut Scoped) -> StoreResult<Vec<TokenSummary>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT t.token_id, t.name, t.prefix, u.email AS created_by, t.created_at, t.last_used_at,
                t.expires_at
           FROM api_tokens t JOIN users u USING (user_id)
          WHERE t.workspace_id = $1 AND t.revoked_at IS NULL
          ORDER BY t.created_at DESC",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// Revokes a token of the workspace; `NotFound` when it is not one of its live tokens.
pub async fn revoke(scope: &mut Scoped, token_id: TokenId) -> StoreResult<TokenSummary> {
    let ws = scope.workspace_id();
    sqlx::query_as(
        "UPDATE api_tokens t SET revoked_at = now()
           FROM users u
          WHERE t.workspace_id = $1 AND t.token_id = $2 AND t.revoked_at IS NULL AND u.user_id = t.user_id
          RETURNING t.token_id, t.name, t.prefix, u.email AS created_by, t.created_at, t.last_used_at, t.expires_at",
    )
    .bind(ws.as_uuid())
    .bind(token_id.as_uuid())
    .fetch_optional(scope.tx())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Finds the owner of a token by its hash: [`TokenCheck::Unknown`] for unknown or revoked
/// tokens, or when the token's user is no longer a member of the token's workspace;
/// [`TokenCheck::Expired`] for a workspace token past its expiry.
pub async fn authenticate(store: &Store, token_hash: &[u8]) -> StoreResult<TokenCheck> {
    let member: Option<(uuid::Uuid, String, uuid::Uuid, String)> = sqlx::query_as(
        "UPDATE api_tokens t SET last_used_at = now()
           FROM memberships m, users u
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL
            AND (t.expires_at IS NULL OR t.expires_at > now())
            AND m.workspace_id = t.workspace_id AND m.user_id = t.user_id AND u.user_id = t.user_id
          RETURNING u.user_id, u.email, t.workspace_id, m.role",
    )
    .bind(token_hash)
    .fetch_optional(store.system())
    .await?;
    if let Some((user_id, email, workspace_id, role)) = member {
        return Ok(match role.parse() {
            Ok(role) => TokenCheck::Valid(TokenOwner::Member {
                user_id: UserId::from_uuid(user_id),
                email,
                workspace_id: WorkspaceId::from_uuid(workspace_id),
                role,
            }),
            Err(_) => TokenCheck::Unknown,
        });
    }
    let expired: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT expires_at FROM api_tokens
          WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at <= now()",
    )
    .bind(token_hash)
    .fetch_optional(store.system())
    .await?;
    if let Some(expired_at) = expired {
        return Ok(TokenCheck::Expired { expired_at });
    }
    let support: Option<(uuid::Uuid, String, uuid::Uuid)> = sqlx::query_as(
        "SELECT u.user_id, u.email, t.token_id FROM support_tokens t JOIN users u USING (user_id)
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.is_support",
    )
    .bind(token_hash)
    .fetch_optional(store.system())
    .await?;
    Ok(match support {
        Some((user_id, email, token_id)) => TokenCheck::Valid(TokenOwner::Support {
            user_id: UserId::from_uuid(user_id),
            email,
            token_id,
        }),
        None => TokenCheck::Unknown,
    })
}

/// The support user a console session signed in with support token `token_id` acts as, while
/// that token is live and its user is still support staff; `None` once it is revoked.
pub async fn live_support_token(
    store: &Store,
    token_id: uuid::Uuid,
) -> StoreResult<Option<(UserId, String)>> {
    let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT u.user_id, u.email FROM support_tokens t JOIN users u USING (user_id)
          WHERE t.token_id = $1 AND t.revoked_at IS NULL AND u.is_support",
    )
    .bind(token_id)
    .fetch_optional(store.system())
    .await?;
    Ok(row.map(|(id, email)| (UserId::from_uuid(id), email)))
}

/// A support token as the admin command lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct RevokedSupportToken {
    /// Id.
    pub token_id: uuid::Uuid,
    /// Visible start (`cls_...`).
    pub prefix: String,
}

/// Revokes the live support tokens of the support user `email`, or only the one starting with
/// `prefix`; `NotFound` when no such live token exists. Console sessions signed in with them
/// end at their next request.
pub async fn revoke_support_tokens(
    store: &Store,
    email: &str,
    prefix: Option<&str>,
) -> StoreResult<Vec<RevokedSupportToken>> {
    let revoked: Vec<RevokedSupportToken> = sqlx::query_as(
        "UPDATE support_tokens t SET revoked_at = now()
           FROM users u
          WHERE u.user_id = t.user_id AND lower(u.email) = lower($1) AND u.is_support
            AND t.revoked_at IS NULL AND ($2::text IS NULL OR t.prefix = $2)
          RETURNING t.token_id, t.prefix",
    )
    .bind(email)
    .bind(prefix)
    .fetch_all(store.system())
    .await?;
    if revoked.is_empty() {
        return Err(crate::StoreError::NotFound);
    }
    Ok(revoked)
}
