//! Log-in, log-out and the home page; what sign-up and invitations share (audit records, the
//! account emails).
//!
//! Log-in answers the same for an unknown address and a wrong password, after the same work (one
//! argon2 verification, against a dummy hash when there is no account), so neither its text nor
//! its timing tells which addresses have accounts. Attempts are limited per client address first,
//! then per (validated) address.

use super::{check_csrf, csrf_value, render, start_session, ConsoleError, ConsoleUser, Nav};
use crate::auth::ClientIp;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{normalize_email, verify_password_or_dummy, UserId, WorkspaceId};
use costline_notify::{Email, Mailer};
use costline_store::audit::{self, Actor, ActorKind};
use costline_store::{signups, users, StoreError};
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

/// Records `action` in `workspace_id`'s audit log, in a transaction of its own.
pub(super) async fn record(
    state: &AppState,
    workspace_id: WorkspaceId,
    actor: &Actor,
    action: &str,
    target: &str,
) -> Result<(), StoreError> {
    let mut scope = state.store.scoped(workspace_id).await?;
    audit::record(&mut scope, actor, action, target, json!({})).await?;
    scope.commit().await
}

/// The actor of a person who is not logged in yet (signing up, joining).
pub(super) fn person(user_id: UserId, email: &str, ip: &ClientIp) -> Actor {
    Actor {
        user_id: Some(user_id),
        label: email.to_string(),
        kind: ActorKind::User,
        client_ip: ip.label(),
    }
}

/// The mailer that confirms addresses, when accounts are confirmed by email: a mailer is
/// configured and sign-up is not `open`.
pub(super) fn confirming_mailer(state: &AppState) -> Option<&Mailer> {
    match state.config.signup {
        crate::SignupMode::Open => None,
        _ => state.config.mailer.as_ref(),
    }
}

/// Sends `email` to `to` without waiting: the answer neither waits for the SMTP server nor, by
/// its timing, tells whether a mail was sent. A failure is logged (never the message: it may
/// hold a link); the person can ask for the link again.
pub(super) fn send_in_background(mailer: &Mailer, to: String, email: Email) {
    let mailer = mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&to, &email).await {
            tracing::warn!(error = %e, "an account email was not sent");
        }
    });
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    /// The address waits for its confirmation: offer to send the link again.
    unconfirmed: bool,
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
        unconfirmed: false,
    };
    render(Some(token), StatusCode::OK, &page)
}

pub(super) async fn login(
    State(state): State<AppState>,
    token: CsrfToken,
    session: Session,
    ip: ClientIp,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let fail = |message: &str, status: StatusCode, unconfirmed: bool| {
        let page = LoginPage {
            csrf: token.authenticity_token().unwrap_or_default(),
            email: form.email.chars().take(254).collect(),
            error: Some(message.to_string()),
            unconfirmed,
        };
        render(Some(token.clone()), status, &page)
    };
    // The address is checked (and so capped) before it is counted or looked up.
    let email = normalize_email(&form.email);
    let allowed = match &email {
        Some(email) => state.limits.check_email(ip.0, email),
        None => state.limits.check_ip(ip.0),
    };
    if allowed.is_err() {
        return fail(
            "too many attempts: wait a minute and try again",
            StatusCode::TOO_MANY_REQUESTS,
            false,
        );
    }
    let Some(email) = email else {
        return fail(
            "enter your email address, like ana@example.com",
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
        );
    };
    let user = users::find_by_email(&state.store, &email)
        .await
        .map_err(ConsoleError::internal)?
        .filter(|u| u.password_hash.is_some());
    // One argon2 verification whatever the address: the account's hash, else that of a sign-up
    // waiting for confirmation, else a dummy.
    let pending = match &user {
        Some(_) => None,
        None => signups::latest_for_email(&state.store, &email)
            .await
            .map_err(ConsoleError::internal)?,
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.as_deref())
        .or(pending.as_ref().map(|p| p.password_hash.as_str()));
    let password_ok = verify_password_or_dummy(&form.password, hash);
    match (user, password_ok) {
        (Some(user), true) => {
            let user_id = UserId::from_uuid(user.user_id);
            let workspaces = users::workspaces_of(&state.store, user_id)
                .await
                .map_err(ConsoleError::internal)?;
            let Some(first) = workspaces.first() else {
                return fail(
                    "this account belongs to no workspace: ask an admin for an invitation, or sign up",
                    StatusCode::FORBIDDEN,
                    false,
                );
            };
            start_session(&session, user_id, first.workspace_id).await?;
            Ok(Redirect::to("/").into_response())
        }
        // Only whoever knows the sign-up's password learns that it waits for confirmation.
        (None, true) => fail(
            "confirm your email address first: open the link we emailed you when you signed up",
            StatusCode::FORBIDDEN,
            true,
        ),
        _ => fail(
            "email or password is wrong",
            StatusCode::UNAUTHORIZED,
            false,
        ),
    }
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
