//! Sign-up, log-in, log-out and accepting invitations.

use super::{
    check_csrf, csrf_value, internal_error, message_page, render, start_session, ConsoleUser, Nav,
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

pub(super) async fn home(user: Result<ConsoleUser, Response>, token: CsrfToken) -> Response {
    let user = match user {
        Ok(user) => user,
        Err(_) => return Redirect::to("/login").into_response(),
    };
    let csrf = match csrf_value(&token) {
        Ok(v) => v,
        Err(r) => return r,
    };
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

pub(super) async fn signup_page(token: CsrfToken) -> Response {
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
) -> Response {
    if let Err(r) = check_csrf(&token, &form.authenticity_token) {
        return r;
    }

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
        Err(e) => return internal_error(&e),
    };
    let actor = Actor {
        user_id: Some(created.owner_id),
        label: email.clone(),
        kind: ActorKind::User,
        client_ip: ip,
    };
    if let Err(e) = record(
        &state,
        created.workspace_id,
        &actor,
        "workspace.created",
        name,
    )
    .await
    {
        return internal_error(&e);
    }
    if let Err(r) = start_session(&session, created.owner_id, created.workspace_id).await {
        return r;
    }
    Redirect::to("/settings").into_response()
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

pub(super) async fn login_page(token: CsrfToken) -> Response {
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
) -> Response {
    if let Err(r) = check_csrf(&token, &form.authenticity_token) {
        return r;
    }
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
    let user = match users::find_by_email(&state.store, form.email.trim()).await {
        Ok(u) => u,
        Err(e) => return internal_error(&e),
    };
    let verified = user.as_ref().and_then(|u| {
        let hash = u.password_hash.as_deref()?;
        verify_password(&form.password, hash).then_some(u)
    });
    let Some(user) = verified else {
        return fail("email or password is wrong", StatusCode::UNAUTHORIZED);
    };
    let user_id = UserId::from_uuid(user.user_id);
    let workspaces = match users::workspaces_of(&state.store, user_id).await {
        Ok(w) => w,
        Err(e) => return internal_error(&e),
    };
    let Some(first) = workspaces.first() else {
        return fail(
            "this account belongs to no workspace: ask an admin for an invitation, or sign up",
            StatusCode::FORBIDDEN,
        );
    };
    if let Err(r) = start_session(&session, user_id, first.workspace_id).await {
        return r;
    }
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    authenticity_token: String,
}

pub(super) async fn logout(
    token: CsrfToken,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&token, &form.authenticity_token) {
        return r;
    }
    session.flush().await.ok();
    Redirect::to("/login").into_response()
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

fn invitation_gone() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Invitation not found",
        "This invitation link is unknown, already used or expired. Ask a workspace admin for a new one.",
        "/login",
        "Log in",
    )
}

pub(super) async fn invitation_page(
    State(state): State<AppState>,
    token: CsrfToken,
    Path(link): Path<String>,
) -> Response {
    let invitation = match members::find_invitation(&state.store, &hash_token(&link)).await {
        Ok(i) => i,
        Err(StoreError::NotFound) => return invitation_gone(),
        Err(e) => return internal_error(&e),
    };
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
) -> Response {
    if let Err(r) = check_csrf(&token, &form.authenticity_token) {
        return r;
    }
    let hash = hash_token(&link);
    let invitation = match members::find_invitation(&state.store, &hash).await {
        Ok(i) => i,
        Err(StoreError::NotFound) => return invitation_gone(),
        Err(e) => return internal_error(&e),
    };
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
        match members::accept_invitation(&state.store, &hash, password_hash.as_deref()).await {
            Ok(ids) => ids,
            Err(StoreError::NotFound) => return invitation_gone(),
            Err(e) => return internal_error(&e),
        };
    let actor = Actor {
        user_id: Some(user_id),
        label: invitation.email.clone(),
        kind: ActorKind::User,
        client_ip: ip,
    };
    if let Err(e) = record(
        &state,
        workspace_id,
        &actor,
        "member.joined",
        &format!("user:{user_id}"),
    )
    .await
    {
        return internal_error(&e);
    }
    if invitation.user_exists {
        return Redirect::to("/login").into_response();
    }
    if let Err(r) = start_session(&session, user_id, workspace_id).await {
        return r;
    }
    Redirect::to("/").into_response()
}
