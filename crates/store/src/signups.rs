//! Sign-ups waiting for their email address to be confirmed (migration 0023).
//!
//! No account exists for an address until the link mailed to it is followed with the password
//! chosen at sign-up: whoever typed someone else's address holds neither the link nor, when the
//! owner of the address follows it, the password the owner would type. Then, in one transaction,
//! the account is created, with the workspace it asked for or the invitation it accepted, and
//! every other pending sign-up of the address is dropped. The newest sign-up of an address
//! replaces the older ones, so one link at a time works for it.

use crate::{members, Scoped, Store, StoreError, StoreResult};
use chrono::{Duration, Utc};
use costline_domain::{IssuedToken, Role, TokenKind, UserId, WorkspaceId};

/// How long a confirmation link works.
pub const CONFIRMATION_LIFETIME_HOURS: i64 = 24;

/// What the account is for, once confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Create a workspace of this name, owned by the new account.
    NewWorkspace {
        /// 1 to 100 characters.
        name: String,
    },
    /// Accept the invitation whose link token has this hash.
    Invitation {
        /// SHA-256 of the invitation link token.
        token_hash: Vec<u8>,
    },
}

/// A sign-up waiting for its confirmation.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSignup {
    /// The address to confirm.
    pub email: String,
    /// argon2id of the password chosen at sign-up.
    pub password_hash: String,
    /// What the account is for.
    pub purpose: Purpose,
}

impl std::fmt::Debug for PendingSignup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignup")
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("purpose", &self.purpose)
            .finish()
    }
}

/// An account made by a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// The new account.
    pub user_id: UserId,
    /// Its address.
    pub email: String,
    /// The workspace it now belongs to (created, or joined).
    pub workspace_id: WorkspaceId,
    /// The workspace's name.
    pub workspace_name: String,
    /// Whether it created that workspace (or joined it through an invitation).
    pub created_workspace: bool,
    /// Its role there.
    pub role: Role,
}

type Row = (String, String, Option<String>, Option<Vec<u8>>);

fn pending(row: Row) -> StoreResult<PendingSignup> {
    let (email, password_hash, workspace_name, invitation) = row;
    let purpose = match (workspace_name, invitation) {
        (Some(name), None) => Purpose::NewWorkspace { name },
        (None, Some(token_hash)) => Purpose::Invitation { token_hash },
        _ => {
            return Err(StoreError::Corrupt(format!(
                "pending sign-up of {email} has no purpose"
            )))
        }
    };
    Ok(PendingSignup {
        email,
        password_hash,
        purpose,
    })
}

/// Records a sign-up of `signup.email` waiting for confirmation, replacing the address's earlier
/// ones; the returned token is the link's secret (only its hash is kept).
pub async fn begin(store: &Store, signup: &PendingSignup) -> StoreResult<IssuedToken> {
    let token = IssuedToken::generate(TokenKind::Confirmation);
    let (workspace_name, invitation) = match &signup.purpose {
        Purpose::NewWorkspace { name } => (Some(name.as_str()), None),
        Purpose::Invitation { token_hash } => (None, Some(token_hash.as_slice())),
    };
    let mut tx = store.system().begin().await?;
    sqlx::query("DELETE FROM pending_signups WHERE lower(email) = lower($1)")
        .bind(&signup.email)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO pending_signups (token_hash, email, password_hash, workspace_name, invitation_token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.hash)
    .bind(&signup.email)
    .bind(&signup.password_hash)
    .bind(workspace_name)
    .bind(invitation)
    .bind(Utc::now() + Duration::hours(CONFIRMATION_LIFETIME_HOURS))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The live sign-up of a confirmation link; `NotFound` when unknown, used or expired.
pub async fn find(store: &Store, token_hash: &[u8]) -> StoreResult<PendingSignup> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT email, password_hash, workspace_name, invitation_token_hash FROM pending_signups
          WHERE token_hash = $1 AND expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(store.system())
    .await?;
    pending(row.ok_or(StoreError::NotFound)?)
}

/// The newest sign-up of `email` waiting for confirmation (expired or not: a resend renews it).
pub async fn latest_for_email(store: &Store, email: &str) -> StoreResult<Option<PendingSignup>> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT email, password_hash, workspace_name, invitation_token_hash FROM pending_signups
          WHERE lower(email) = lower($1) ORDER BY created_at DESC LIMIT 1",
    )
    .bind(email)
    .fetch_optional(store.system())
    .await?;
    row.map(pending).transpose()
}

/// Confirms the sign-up of a link whose password the caller has checked: creates the account
/// (or gives the password to a passwordless account of the address) and its workspace, or
/// accepts its invitation, and drops every pending sign-up of the address, atomically.
/// `NotFound` when the link is unknown, used or expired, or its invitation is gone; `Conflict`
/// when the address got an account with a password meanwhile.
pub async fn confirm(store: &Store, token_hash: &[u8]) -> StoreResult<Confirmed> {
    let signup = find(store, token_hash).await?;
    let (mut scope, invitation) = match &signup.purpose {
        Purpose::NewWorkspace { .. } => (store.scoped(WorkspaceId::new()).await?, None),
        Purpose::Invitation { token_hash } => {
            let invitation = members::find_invitation(store, token_hash).await?;
            (
                store.scoped(invitation.workspace_id).await?,
                Some(invitation),
            )
        }
    };
    let taken =
        sqlx::query("DELETE FROM pending_signups WHERE token_hash = $1 AND expires_at > now()")
            .bind(token_hash)
            .execute(scope.tx())
            .await?;
    if taken.rows_affected() != 1 {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM pending_signups WHERE lower(email) = lower($1)")
        .bind(&signup.email)
        .execute(scope.tx())
        .await?;
    let user_id =
        crate::users::insert_with_password(&mut scope, &signup.email, &signup.password_hash, true)
            .await?;
    let confirmed = match (&signup.purpose, invitation) {
        (Purpose::Invitation { token_hash }, Some(invitation)) => {
            members::accept_in(&mut scope, token_hash, &invitation, user_id).await?;
            Confirmed {
                user_id,
                email: signup.email.clone(),
                workspace_id: invitation.workspace_id,
                workspace_name: invitation.workspace_name,
                created_workspace: false,
                role: invitation.role,
            }
        }
        (Purpose::NewWorkspace { name }, _) => {
            create_owned_workspace(&mut scope, name, user_id).await?;
            Confirmed {
                user_id,
                email: signup.email.clone(),
                workspace_id: scope.workspace_id(),
                workspace_name: name.clone(),
                created_workspace: true,
                role: Role::Owner,
            }
        }
        (Purpose::Invitation { .. }, None) => unreachable!("the invitation was looked up above"),
    };
    scope.commit().await?;
    Ok(confirmed)
}

/// The scope's workspace, named `name`, with `owner` as its owner.
async fn create_owned_workspace(scope: &mut Scoped, name: &str, owner: UserId) -> StoreResult<()> {
    let ws = scope.workspace_id();
    sqlx::query("INSERT INTO workspaces (workspace_id, name) VALUES ($1, $2)")
        .bind(ws.as_uuid())
        .bind(name)
        .execute(scope.tx())
        .await?;
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(ws.as_uuid())
        .bind(owner.as_uuid())
        .bind(Role::Owner.as_str())
        .execute(scope.tx())
        .await?;
    Ok(())
}
