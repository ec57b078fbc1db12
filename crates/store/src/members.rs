//! Memberships and invitations.

use crate::{Scoped, Store, StoreError, StoreResult};
use chrono::{DateTime, Duration, Utc};
use costline_domain::{IssuedToken, Role, TokenKind, UserId, WorkspaceId};

/// A member as listed in settings.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Email.
    pub email: String,
    /// Role in the workspace.
    pub role: Role,
    /// Since when.
    pub joined_at: DateTime<Utc>,
}

/// A pending invitation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Invitation {
    /// Id.
    pub invitation_id: uuid::Uuid,
    /// Who is invited.
    pub email: String,
    /// The role they will get.
    pub role: String,
    /// Until when the link works.
    pub expires_at: DateTime<Utc>,
}

/// How long an invitation link works.
pub const INVITATION_LIFETIME_DAYS: i64 = 7;

/// The members of the workspace, owners first.
pub async fn list(scope: &mut Scoped) -> StoreResult<Vec<Member>> {
    let ws = scope.workspace_id();
    let rows: Vec<(uuid::Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT u.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u USING (user_id)
          WHERE m.workspace_id = $1
          ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.email",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role, joined_at)| {
            Some(Member {
                user_id: UserId::from_uuid(id),
                email,
                role: role.parse().ok()?,
                joined_at,
            })
        })
        .collect())
}

/// One member of the workspace; `NotFound` when the user is not a member.
pub async fn get(scope: &mut Scoped, user_id: UserId) -> StoreResult<Member> {
    list(scope)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or(StoreError::NotFound)
}

/// Creates a one-time invitation; the link token is in the returned `IssuedToken`.
pub async fn invite(
    scope: &mut Scoped,
    email: &str,
    role: Role,
    invited_by: UserId,
) -> StoreResult<(uuid::Uuid, IssuedToken)> {
    if role == Role::Owner {
        return Err(StoreError::Conflict(
            "invite as admin or member; ownership is not invited".into(),
        ));
    }
    let ws = scope.workspace_id();
    let already: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM memberships m JOIN users u USING (user_id) WHERE m.workspace_id = $1 AND lower(u.email) = lower($2)",
    )
    .bind(ws.as_uuid())
    .bind(email)
    .fetch_optional(scope.tx())
    .await?;
    if already.is_some() {
        return Err(StoreError::Conflict(format!(
            "{email} is already a member of this workspace"
        )));
    }
    let token = IssuedToken::generate(TokenKind::Invitation);
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO invitations (workspace_id, invitation_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ws.as_uuid())
    .bind(id)
    .bind(email)
    .bind(role.as_str())
    .bind(&token.hash)
    .bind(invited_by.as_uuid())
    .bind(Utc::now() + Duration::days(INVITATION_LIFETIME_DAYS))
    .execute(scope.tx())
    .await?;
    Ok((id, token))
}

/// Pending (not accepted, not expired) invitations.
pub async fn pending_invitations(scope: &mut Scoped) -> StoreResult<Vec<Invitation>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT invitation_id, email, role, expires_at FROM invitations
          WHERE workspace_id = $1 AND accepted_at IS NULL AND expires_at > now() ORDER BY created_at DESC",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// An invitation found by its link token, before it is accepted. Whether the invitee has an
/// account is not part of it: the invitation page looks the same either way, so that it tells
/// nobody which addresses have accounts.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    /// The inviting workspace.
    pub workspace_id: WorkspaceId,
    /// Its name.
    pub workspace_name: String,
    /// The invitee.
    pub email: String,
    /// The role they will get.
    pub role: Role,
}

/// Looks up a live invitation by its token hash.
pub async fn find_invitation(store: &Store, token_hash: &[u8]) -> StoreResult<OpenInvitation> {
    let row: Option<(uuid::Uuid, String, String, String)> = sqlx::query_as(
        "SELECT i.workspace_id, w.name, i.email, i.role
           FROM invitations i JOIN workspaces w USING (workspace_id)
          WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(store.system())
    .await?;
    let (ws, workspace_name, email, role) = row.ok_or(StoreError::NotFound)?;
    Ok(OpenInvitation {
        workspace_id: WorkspaceId::from_uuid(ws),
        workspace_name,
        email,
        role: role.parse().map_err(|_| StoreError::NotFound)?,
    })
}

/// Accepts an invitation for the existing account `user_id`, whose email must be the
/// invitation's (the caller is that user's logged-in session): adds the membership and marks
/// the invitation used, atomically. `NotFound` for an unknown, used or expired invitation,
/// `Conflict` when the account's email is not the invited one.
pub async fn accept_as(
    store: &Store,
    token_hash: &[u8],
    user_id: UserId,
) -> StoreResult<OpenInvitation> {
    let invitation = find_invitation(store, token_hash).await?;
    // A user outside the workspace is the system role's to look up.
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE user_id = $1")
        .bind(user_id.as_uuid())
        .fetch_optional(store.system())
        .await?;
    let mut scope = store.scoped(invitation.workspace_id).await?;
    if !email.is_some_and(|e| e.eq_ignore_ascii_case(&invitation.email)) {
        return Err(StoreError::Conflict(format!(
            "this invitation is for {}: log in as that address to accept it",
            invitation.email
        )));
    }
    accept_in(&mut scope, token_hash, &invitation, user_id).await?;
    scope.commit().await?;
    Ok(invitation)
}

/// Accepts an invitation by creating its invitee's account with `password_hash`, when email
/// is off (no confirmation can be sent) and the address has no account yet. `Conflict` when it
/// has one: that account accepts from its own logged-in session ([`accept_as`]).
pub async fn accept_creating_account(
    store: &Store,
    token_hash: &[u8],
    password_hash: &str,
) -> StoreResult<(OpenInvitation, UserId)> {
    let invitation = find_invitation(store, token_hash).await?;
    let mut scope = store.scoped(invitation.workspace_id).await?;
    let user_id =
        crate::users::insert_with_password(&mut scope, &invitation.email, password_hash, false)
            .await?;
    accept_in(&mut scope, token_hash, &invitation, user_id).await?;
    scope.commit().await?;
    Ok((invitation, user_id))
}

/// Marks the invitation used and adds `user_id` with its role, in the invitation's workspace
/// scope; `NotFound` when it was used or expired meanwhile.
pub(crate) async fn accept_in(
    scope: &mut Scoped,
    token_hash: &[u8],
    invitation: &OpenInvitation,
    user_id: UserId,
) -> StoreResult<()> {
    let used = sqlx::query(
        "UPDATE invitations SET accepted_at = now()
          WHERE workspace_id = $1 AND token_hash = $2 AND accepted_at IS NULL AND expires_at > now()",
    )
    .bind(invitation.workspace_id.as_uuid())
    .bind(token_hash)
    .execute(scope.tx())
    .await?;
    if used.rows_affected() != 1 {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(invitation.workspace_id.as_uuid())
    .bind(user_id.as_uuid())
    .bind(invitation.role.as_str())
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Changes a member's role. The last owner cannot be demoted.
pub async fn change_role(scope: &mut Scoped, user_id: UserId, role: Role) -> StoreResult<Member> {
    let member = get(scope, user_id).await?;
    if member.role == Role::Owner && role != Role::Owner {
        ensure_another_owner(scope, user_id).await?;
    }
    sqlx::query("UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2")
        .bind(scope.workspace_id().as_uuid())
        .bind(user_id.as_uuid())
        .bind(role.as_str())
        .execute(scope.tx())
        .await?;
    Ok(Member { role, ..member })
}

/// Removes a member and revokes their tokens in this workspace. The last owner cannot leave.
pub async fn remove(scope: &mut Scoped, user_id: UserId) -> StoreResult<Member> {
    let member = get(scope, user_id).await?;
    if member.role == Role::Owner {
        ensure_another_owner(scope, user_id).await?;
    }
    let ws = scope.workspace_id().as_uuid();
    sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(ws)
        .bind(user_id.as_uuid())
        .execute(scope.tx())
        .await?;
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE workspace_id = $1 AND user_id = $2 AND revoked_at IS NULL")
        .bind(ws)
        .bind(user_id.as_uuid())
        .execute(scope.tx())
        .await?;
    Ok(member)
}

async fn ensure_another_owner(scope: &mut Scoped, user_id: UserId) -> StoreResult<()> {
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(user_id.as_uuid())
    .fetch_one(scope.tx())
    .await?;
    if others == 0 {
        return Err(StoreError::Conflict(
            "a workspace needs an owner: make another member owner first".into(),
        ));
    }
    Ok(())
}
