//! Sign-up, log-in, log-out and accepting invitations.

use super::{
    check_csrf, csrf_value, render, start_session, ConsoleError, ConsoleUser, Nav, Notice,
};
use crate::auth::ClientIp;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{hash_password, hash_token, normalize_email, verify_password, UserId};
use costline_store::audit::{self, Actor, ActorKind};
use costline_store::workspaces::{self, Owner};
use costline_store::{members, users, StoreError};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
}

pub(super) async fn home(
    user: Result<ConsoleUser, Response>,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    let user = match user {
        Ok(user) => user,
        Err(_) => return Ok(Redirect::to("/login").into_response()),
    };
    let csrf = csrf_value(&token)?;
    render(
        Some(token),
        StatusCode::OK,
        &HomePage {
            nav: user.nav(csrf),
        },
    )
}

#[derive(Default)]
struct SignupErrors {
    workspace_name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf: String,
    workspace_name: String,
    email: String,
    errors: SignupErrors,
}

#[derive(Deserialize)]
pub(super) struct SignupForm {
    authenticity_token: String,
    workspace_name: String,
    email: String,
    password: String,
}

pub(super) async fn signup_page(token: CsrfToken) -> Result<Response, ConsoleError> {
    let page = SignupPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        workspace_name: String::new(),
        email: String::new(),
        errors: SignupErrors::default(),
    };
    render(Some(token), StatusCode::OK, &page)
}

pub(super) async fn signup(
    State(state): State<AppState>,
    token: CsrfToken,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignupForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;

    let mut errors = SignupErrors::default();
    let name = form.workspace_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.workspace_name = Some("give the workspace a name of 1 to 100 characters".into());
    }
    let email = normalize_email(&form.email);
    if email.is_none() {
        errors.email = Some("enter an email address like ana@example.com".into());
    }
    let password_hash = match hash_password(&form.password) {
        Ok(h) => Some(h),
        Err(e) => {
            errors.password = Some(e.to_string());
            None
        }
    };
    if !state.limits.allow(ip.as_deref(), &form.email) {
        errors.form = Some("too many attempts: wait a minute and try again".into());
    }
    let rerender = |errors: SignupErrors, status: StatusCode| {
        let page = SignupPage {
            csrf: token.authenticity_token().unwrap_or_default(),
            workspace_name: form.workspace_name.clone(),
            email: form.email.clone(),
            errors,
        };
        render(Some(token.clone()), status, &page)
    };
    let (Some(email), Some(password_hash), None, None) =
        (email, password_hash, &errors.workspace_name, &errors.form)
    else {
        let status = if errors.form.is_some() {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return rerender(errors, status);
    };
    let created = workspaces::create_with_owner(
        &state.store,
        name,
        Owner::NewUser {
            email: &email,
            password_hash: &password_hash,
        },
    )
    .await;
    let created = match created {
        Ok(c) => c,
        Err(StoreError::Conflict(message)) => {
            errors.email = Some(message);
            return rerender(errors, StatusCode::CONFLICT);
        }
        Err(e) => return Err(ConsoleError::internal(e)),
    };
    let actor = Actor {
        user_id: Some(created.owner_id),
        label: email.clone(),
        kind: ActorKind::User,
        client_ip: ip,
    };
    record(
        &state,
        created.workspace_id,
        &actor,
        "workspace.created",
        name,
    )
    .await
    .map_err(ConsoleError::internal)?;
    start_session(&session, created.owner_id, created.workspace_id).await?;
    Ok(Redirect::to("/settings").into_response())
}

async fn record(
    state: &AppState,
    workspace_id: costline_domain::WorkspaceId,
    actor: &Actor,
    action: &str,
    target: &str,
) -> Result<(), StoreError> {
    let mut scope = state.store.scoped(workspace_id).await?;
    audit::record(&mut scope, actor, action, target, json!({})).await?;
    scope.commit().await
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    authenticity_token: String,
    email: String,
    password: String,
}

pub(super) async fn login_page(token: CsrfToken) -> Result<Response, ConsoleError> {
    let page = LoginPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        email: String::new(),
        error: None,
    };
    render(Some(token), StatusCode::OK, &page)
}

pub(super) async fn login(
    State(state): State<AppState>,
    token: CsrfToken,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let fail = |message: &str, status: StatusCode| {
        let page = LoginPage {
            csrf: token.authenticity_token().unwrap_or_default(),
            email: form.email.clone(),
            error: Some(message.to_string()),
        };
        render(Some(token.clone()), status, &page)
    };

    if !state.limits.allow(ip.as_deref(), &form.email) {
        return fail(
            "too many attempts: wait a minute and try again",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let user = users::find_by_email(&state.store, form.email.trim())
        .await
        .map_err(ConsoleError::internal)?;
    let verified = user.as_ref().and_then(|u| {
        let hash = u.password_hash.as_deref()?;
        verify_password(&form.password, hash).then_some(u)
    });
    let Some(user) = verified else {
        return fail("email or password is wrong", StatusCode::UNAUTHORIZED);
    };
    let user_id = UserId::from_uuid(user.user_id);
    let workspaces = users::workspaces_of(&state.store, user_id)
        .await
        .map_err(ConsoleError::internal)?;
    let Some(first) = workspaces.first() else {
        return fail(
            "this account belongs to no workspace: ask an admin for an invitation, or sign up",
            StatusCode::FORBIDDEN,
        );
    };
    start_session(&session, user_id, first.workspace_id).await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    authenticity_token: String,
}

pub(super) async fn logout(
    token: CsrfToken,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    session.flush().await.ok();
    Ok(Redirect::to("/login").into_response())
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    csrf: String,
    token: String,
    workspace_name: String,
    email: String,
    role: String,
    user_exists: bool,
    error: Option<String>,
}

/// An unknown, used or expired invitation link.
const INVITATION_GONE: Notice = Notice {
    title: "Invitation not found",
    message: "This invitation link is unknown, already used or expired. Ask a workspace admin for a new one.",
    link: "/login",
    link_text: "Log in",
};

/// For `map_err`: a store error, with a missing invitation shown as [`INVITATION_GONE`].
fn invitation_error(e: StoreError) -> ConsoleError {
    match e {
        StoreError::NotFound => ConsoleError::NotFound(INVITATION_GONE),
        other => ConsoleError::internal(other),
    }
}

pub(super) async fn invitation_page(
    State(state): State<AppState>,
    token: CsrfToken,
    Path(link): Path<String>,
) -> Result<Response, ConsoleError> {
    let invitation = members::find_invitation(&state.store, &hash_token(&link))
        .await
        .map_err(invitation_error)?;
    let page = InvitationPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        token: link,
        workspace_name: invitation.workspace_name,
        email: invitation.email,
        role: invitation.role.to_string(),
        user_exists: invitation.user_exists,
        error: None,
    };
    render(Some(token), StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct AcceptForm {
    authenticity_token: String,
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    token: CsrfToken,
    session: Session,
    ClientIp(ip): ClientIp,
    Path(link): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let hash = hash_token(&link);
    let invitation = members::find_invitation(&state.store, &hash)
        .await
        .map_err(invitation_error)?;
    let password_hash = if invitation.user_exists {
        None
    } else {
        match hash_password(form.password.as_deref().unwrap_or_default()) {
            Ok(h) => Some(h),
            Err(e) => {
                let page = InvitationPage {
                    csrf: token.authenticity_token().unwrap_or_default(),
                    token: link,
                    workspace_name: invitation.workspace_name,
                    email: invitation.email,
                    role: invitation.role.to_string(),
                    user_exists: false,
                    error: Some(e.to_string()),
                };
                return render(Some(token), StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
        }
    };
    let (workspace_id, user_id) =
        members::accept_invitation(&state.store, &hash, password_hash.as_deref())
            .await
            .map_err(invitation_error)?;
    let actor = Actor {
        user_id: Some(user_id),
        label: invitation.email.clone(),
        kind: ActorKind::User,
        client_ip: ip,
    };
    record(
        &state,
        workspace_id,
        &actor,
        "member.joined",
        &format!("user:{user_id}"),
    )
    .await
    .map_err(ConsoleError::internal)?;
    if invitation.user_exists {
        return Ok(Redirect::to("/login").into_response());
    }
    start_session(&session, user_id, workspace_id).await?;
    Ok(Redirect::to("/").into_response())
}
