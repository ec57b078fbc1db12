//! Who is calling: bearer tokens for the API, sessions for the console.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use costline_domain::{hash_token, Role, UserId, WorkspaceId};
use costline_store::audit::{Actor, ActorKind};
use costline_store::tokens::{self, TokenCheck, TokenOwner};

/// A workspace member calling the API with one of the workspace's tokens.
#[derive(Debug, Clone)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The workspace the token belongs to: every request is confined to it.
    pub workspace_id: WorkspaceId,
    /// Their current role.
    pub role: Role,
    /// The client address.
    pub client_ip: Option<String>,
}

impl Member {
    /// The audit actor for this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            kind: ActorKind::User,
            client_ip: self.client_ip.clone(),
        }
    }

    /// 403 unless the caller is an admin or owner.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this needs the admin or owner role: ask a workspace admin",
            ))
        }
    }

    /// 403 unless the caller is the owner.
    pub fn require_owner(&self) -> Result<(), ApiError> {
        if self.role == Role::Owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this needs the owner role: ask the workspace owner",
            ))
        }
    }
}

/// Platform support staff calling the support API.
#[derive(Debug, Clone)]
pub struct Support {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// The client address.
    pub client_ip: Option<String>,
}

impl Support {
    /// The audit actor for this caller (written into the customer's workspace log).
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            kind: ActorKind::Support,
            client_ip: self.client_ip.clone(),
        }
    }
}

/// The client address of a request, as shown in audit records (see [`crate::client_ip`]).
pub fn client_ip(parts: &Parts, state: &AppState) -> Option<String> {
    crate::client_ip::of_request(parts, &state.config.trusted_proxies).map(|ip| ip.to_string())
}

async fn token_owner(parts: &Parts, state: &AppState) -> Result<TokenOwner, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    match tokens::authenticate(&state.store, &hash_token(token)).await? {
        TokenCheck::Valid(owner) => Ok(owner),
        TokenCheck::Expired { expired_at } => Err(ApiError::TokenExpired { expired_at }),
        TokenCheck::Unknown => Err(ApiError::Unauthorized),
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match token_owner(parts, state).await? {
            TokenOwner::Member {
                user_id,
                email,
                workspace_id,
                role,
            } => {
                crate::observability::record_caller(Some(workspace_id), user_id);
                Ok(Member {
                    user_id,
                    email,
                    workspace_id,
                    role,
                    client_ip: client_ip(parts, state),
                })
            }
            TokenOwner::Support { .. } => Err(ApiError::forbidden(
                "support tokens may only use the /api/v1/support routes",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Support {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match token_owner(parts, state).await? {
            TokenOwner::Support { user_id, email, .. } => {
                crate::observability::record_caller(None, user_id);
                Ok(Support {
                    user_id,
                    email,
                    client_ip: client_ip(parts, state),
                })
            }
            TokenOwner::Member { .. } => Err(ApiError::forbidden(
                "the support API is for Costline support staff only",
            )),
        }
    }
}

/// The client address of a console request (for rate limits and the audit log).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl ClientIp {
    /// The address as audit records show it.
    pub fn label(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(crate::client_ip::of_request(
            parts,
            &state.config.trusted_proxies,
        )))
    }
}
