//! Workspace settings: members, invitations, API tokens, support access and the audit log.

use super::{check_csrf, csrf_value, render, ConsoleError, ConsoleUser, Nav};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{normalize_email, Role, TokenId, UserId};
use costline_store::audit::{self, AuditEvent};
use costline_store::members::{self, Invitation, Member, INVITATION_LIFETIME_DAYS};
use costline_store::support_access::{self, Grant};
use costline_store::tokens::{self, TokenSummary};
use costline_store::{Scoped, StoreError};
use serde::Deserialize;
use serde_json::json;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    is_admin: bool,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    tokens: Vec<TokenSummary>,
    /// The live support access grant, if any (admins only).
    support_grant: Option<Grant>,
    audit: Vec<AuditEvent>,
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
    invitation_link: Option<String>,
    invitation_days: i64,
    invite_error: Option<String>,
    token_error: Option<String>,
}

/// What a settings action adds to the page it re-renders.
#[derive(Default)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
    invitation_link: Option<String>,
    invite_error: Option<String>,
    token_error: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    show(&state, &user, token, Outcome::default(), StatusCode::OK).await
}

async fn show(
    state: &AppState,
    user: &ConsoleUser,
    token: CsrfToken,
    outcome: Outcome,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let is_admin = user.role.is_admin();
    let mut scope = state.store.scoped(user.workspace_id).await?;
    let members = members::list(&mut scope).await?;
    let (invitations, tokens, support_grant, audit) = if is_admin {
        (
            members::pending_invitations(&mut scope).await?,
            tokens::list(&mut scope).await?,
            support_access::live(&mut scope, chrono::Utc::now()).await?,
            audit::list(&mut scope, 100).await?,
        )
    } else {
        Default::default()
    };
    scope.commit().await?;
    let page = SettingsPage {
        nav: user.nav(csrf),
        is_admin,
        members,
        invitations,
        tokens,
        support_grant,
        audit,
        notice: outcome.notice,
        error: outcome.error,
        new_token: outcome.new_token,
        invitation_link: outcome.invitation_link,
        invitation_days: INVITATION_LIFETIME_DAYS,
        invite_error: outcome.invite_error,
        token_error: outcome.token_error,
    };
    render(Some(token), status, &page)
}

/// Runs an admin action in one scoped transaction and re-renders the page with its outcome.
async fn admin_action<F>(
    state: &AppState,
    user: &ConsoleUser,
    token: CsrfToken,
    submitted: &str,
    action: F,
) -> Result<Response, ConsoleError>
where
    F: for<'a> FnOnce(
        &'a mut Scoped,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Outcome, StoreError>> + Send + 'a>,
    >,
{
    check_csrf(&token, submitted)?;
    if !user.role.is_admin() {
        let outcome = Outcome {
            error: Some("this needs the admin or owner role: ask a workspace admin".into()),
            ..Outcome::default()
        };
        return show(state, user, token, outcome, StatusCode::FORBIDDEN).await;
    }
    let result = async {
        let mut scope = state.store.scoped(user.workspace_id).await?;
        let outcome = action(&mut scope).await?;
        scope.commit().await?;
        Ok::<_, StoreError>(outcome)
    }
    .await;
    match result {
        Ok(outcome) => show(state, user, token, outcome, StatusCode::OK).await,
        Err(StoreError::Conflict(message)) => {
            let outcome = Outcome {
                error: Some(message),
                ..Outcome::default()
            };
            show(state, user, token, outcome, StatusCode::CONFLICT).await
        }
        Err(StoreError::NotFound) => {
            let outcome = Outcome {
                error: Some("that member or token does not exist in this workspace".into()),
                ..Outcome::default()
            };
            show(state, user, token, outcome, StatusCode::NOT_FOUND).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct InviteForm {
    authenticity_token: String,
    email: String,
    role: String,
}

pub(super) async fn invite(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Form(form): Form<InviteForm>,
) -> Result<Response, ConsoleError> {
    let email = normalize_email(&form.email);
    let role = form.role.parse::<Role>().ok().filter(|r| *r != Role::Owner);
    let (Some(email), Some(role)) = (email, role) else {
        let outcome = Outcome {
            invite_error: Some(
                "enter an email address like ana@example.com and a role of admin or member".into(),
            ),
            ..Outcome::default()
        };
        check_csrf(&token, &form.authenticity_token)?;
        return show(
            &state,
            &user,
            token,
            outcome,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let actor = user.actor();
    let public_url = state.config.public_url.clone();
    let inviter = user.user_id;
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let (id, link_token) = members::invite(scope, &email, role, inviter).await?;
                audit::record(
                    scope,
                    &actor,
                    "member.invited",
                    &format!("invitation:{id}"),
                    json!({"email": email, "role": role}),
                )
                .await?;
                Ok(Outcome {
                    notice: Some(format!("Invitation created for {email}.")),
                    invitation_link: Some(format!(
                        "{public_url}/invitations#{}",
                        link_token.plaintext
                    )),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    authenticity_token: String,
    role: String,
}

pub(super) async fn change_role(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Path(member_id): Path<String>,
    Form(form): Form<RoleForm>,
) -> Result<Response, ConsoleError> {
    let Ok(member_id) = member_id.parse::<UserId>() else {
        return not_found_member(&state, &user, token).await;
    };
    let Ok(role) = form.role.parse::<Role>() else {
        let outcome = Outcome {
            error: Some("role must be owner, admin or member".into()),
            ..Outcome::default()
        };
        return show(
            &state,
            &user,
            token,
            outcome,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    // Only an owner may make or unmake owners.
    let caller_role = user.role;
    let actor = user.actor();
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let before = members::get(scope, member_id).await?;
                if (role == Role::Owner || before.role == Role::Owner) && caller_role != Role::Owner
                {
                    return Err(StoreError::Conflict(
                        "only an owner can grant or take away the owner role".into(),
                    ));
                }
                let after = members::change_role(scope, member_id, role).await?;
                audit::record(
                    scope,
                    &actor,
                    "member.role_changed",
                    &format!("user:{member_id}"),
                    json!({"email": after.email, "from": before.role, "to": role}),
                )
                .await?;
                Ok(Outcome {
                    notice: Some(format!("{} is now {role}.", after.email)),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    authenticity_token: String,
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Path(member_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let Ok(member_id) = member_id.parse::<UserId>() else {
        return not_found_member(&state, &user, token).await;
    };
    let caller_role = user.role;
    let actor = user.actor();
    let response = admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let target = members::get(scope, member_id).await?;
                if target.role == Role::Owner && caller_role != Role::Owner {
                    return Err(StoreError::Conflict(
                        "only an owner can remove an owner".into(),
                    ));
                }
                let removed = members::remove(scope, member_id).await?;
                audit::record(
                    scope,
                    &actor,
                    "member.removed",
                    &format!("user:{member_id}"),
                    json!({"email": removed.email}),
                )
                .await?;
                Ok(Outcome {
                    notice: Some(format!("{} was removed from the workspace.", removed.email)),
                    ..Outcome::default()
                })
            })
        },
    )
    .await?;
    if member_id == user.user_id && response.status().is_success() {
        user.session.flush().await.ok();
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(response)
}

async fn not_found_member(
    state: &AppState,
    user: &ConsoleUser,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    let outcome = Outcome {
        error: Some("that member or token does not exist in this workspace".into()),
        ..Outcome::default()
    };
    show(state, user, token, outcome, StatusCode::NOT_FOUND).await
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    authenticity_token: String,
    name: String,
    /// Days the token works, or `never`; a form without the field gets the default.
    #[serde(default = "default_token_days")]
    expires_in_days: String,
}

fn default_token_days() -> String {
    DEFAULT_TOKEN_DAYS.to_string()
}

/// The lifetime the form offers first: a token leaked from an old CI log stops working by itself.
const DEFAULT_TOKEN_DAYS: i64 = 90;
/// The longest lifetime a console token may have, short of `never`.
const MAX_TOKEN_DAYS: i64 = 366;

/// `expires_in_days` of the form: `Ok(None)` for `never`.
fn token_lifetime(input: &str) -> Result<Option<chrono::TimeDelta>, String> {
    let input = input.trim();
    if input.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    match input.parse::<i64>() {
        Ok(days) if (1..=MAX_TOKEN_DAYS).contains(&days) => Ok(Some(chrono::TimeDelta::days(days))),
        _ => Err(format!(
            "choose how long the token works: 1 to {MAX_TOKEN_DAYS} days, or never"
        )),
    }
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Form(form): Form<TokenForm>,
) -> Result<Response, ConsoleError> {
    let name = form.name.trim().to_string();
    let lifetime = token_lifetime(&form.expires_in_days);
    let invalid = if name.is_empty() || name.chars().count() > 100 {
        Some("give the token a name of 1 to 100 characters, e.g. ci-export".to_string())
    } else {
        lifetime.as_ref().err().cloned()
    };
    if let Some(message) = invalid {
        let outcome = Outcome {
            token_error: Some(message),
            ..Outcome::default()
        };
        check_csrf(&token, &form.authenticity_token)?;
        return show(
            &state,
            &user,
            token,
            outcome,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let expires_at = lifetime
        .ok()
        .flatten()
        .map(|days| chrono::Utc::now() + days);
    let actor = user.actor();
    let owner = user.user_id;
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let (token_id, issued) = tokens::create(scope, owner, &name, expires_at).await?;
                audit::record(
                    scope,
                    &actor,
                    "token.created",
                    &format!("token:{token_id}"),
                    json!({"name": name, "prefix": issued.prefix, "expires_at": expires_at}),
                )
                .await?;
                Ok(Outcome {
                    notice: Some(format!("Token {name} created.")),
                    new_token: Some(issued.plaintext),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Path(token_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let Ok(token_id) = token_id.parse::<TokenId>() else {
        return not_found_member(&state, &user, token).await;
    };
    let actor = user.actor();
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let revoked = tokens::revoke(scope, token_id).await?;
                audit::record(
                    scope,
                    &actor,
                    "token.revoked",
                    &format!("token:{token_id}"),
                    json!({"name": revoked.name, "prefix": revoked.prefix}),
                )
                .await?;
                Ok(Outcome {
                    notice: Some(format!("Token {} revoked.", revoked.name)),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct SupportAccessForm {
    authenticity_token: String,
    hours: String,
}

/// `POST /settings/support-access`: opens a support access window of the chosen length (the
/// console's form offers 24 hours and 7 days; the API takes any 1 to 168).
pub(super) async fn grant_support_access(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Form(form): Form<SupportAccessForm>,
) -> Result<Response, ConsoleError> {
    let max = crate::api::MAX_SUPPORT_GRANT_HOURS;
    let hours = match form.hours.trim().parse::<i64>() {
        Ok(h) if (1..=max).contains(&h) => h,
        _ => {
            check_csrf(&token, &form.authenticity_token)?;
            let outcome = Outcome {
                error: Some(format!(
                    "choose how long support may access the workspace: 1 to {max} hours"
                )),
                ..Outcome::default()
            };
            return show(
                &state,
                &user,
                token,
                outcome,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let actor = user.actor();
    let (by, by_label) = (user.user_id, user.email.clone());
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                let grant =
                    crate::api::open_support_grant(scope, &actor, by, &by_label, hours).await?;
                Ok(Outcome {
                    notice: Some(format!(
                        "Costline support may access this workspace until {} UTC.",
                        grant.expires_at.format("%Y-%m-%d %H:%M")
                    )),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}

/// `POST /settings/support-access/revoke`: ends every live grant, break-glass ones included.
pub(super) async fn revoke_support_access(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    let actor = user.actor();
    let by_label = user.email.clone();
    admin_action(
        &state,
        &user,
        token,
        &form.authenticity_token,
        move |scope| {
            Box::pin(async move {
                crate::api::end_support_grants(scope, &actor, &by_label).await?;
                Ok(Outcome {
                    notice: Some("Support access ended.".to_string()),
                    ..Outcome::default()
                })
            })
        },
    )
    .await
}
