//! Sign-up and email confirmation (`COSTLINE_SIGNUP`).
//!
//! `verify` (the default): the form's password is hashed and kept with the sign-up, and a link
//! is mailed to the address; the account and its workspace exist once the link is opened and
//! the same password entered (`store::signups`). The answer is the same page whether or not
//! the address has an account, after the same work (limits, argon2, one email sent in the
//! background): the owner of an existing account gets "you already have an account" instead of
//! a link. `open`: the account is made at once, without email. `closed`: invitations only.
//!
//! Limits are checked before anything costly: the client address first, then the address typed.

use super::account::{confirming_mailer, person, record, send_in_background};
use super::{check_csrf, render, start_session, ConsoleError, Notice};
use crate::auth::ClientIp;
use crate::{AppState, SignupMode};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{hash_password, hash_token, normalize_email, verify_password};
use costline_notify::account::{account_exists, confirm_address, Joining};
use costline_store::signups::{self, PendingSignup, Purpose, CONFIRMATION_LIFETIME_HOURS};
use costline_store::workspaces::{self, Owner};
use costline_store::{members, users, StoreError};
use serde::Deserialize;
use tower_sessions::Session;

/// Sign-up is `closed`.
const SIGNUP_CLOSED: Notice = Notice {
    title: "Sign-up is closed",
    message: "This Costline server makes accounts by invitation only: ask a workspace admin to invite you.",
    link: "/login",
    link_text: "Log in",
};

/// Sign-up needs email to confirm addresses, and this server has none.
const SIGNUP_NEEDS_EMAIL: Notice = Notice {
    title: "Sign-up is not available",
    message: "This Costline server cannot send email, so it cannot confirm your address. \
              The operator sets COSTLINE_SMTP_URL (or COSTLINE_SIGNUP=open on a private server); \
              until then, ask a workspace admin to invite you.",
    link: "/login",
    link_text: "Log in",
};

/// An unknown, used or expired confirmation link.
const CONFIRMATION_GONE: Notice = Notice {
    title: "Link not valid",
    message: "This confirmation link is unknown, already used or expired. Sign up again, or log in to ask for a new link.",
    link: "/signup",
    link_text: "Sign up",
};

/// Refuses when sign-up cannot happen on this server.
fn ensure_open(state: &AppState) -> Result<(), ConsoleError> {
    match state.config.signup {
        SignupMode::Closed => Err(ConsoleError::Forbidden(SIGNUP_CLOSED)),
        SignupMode::Verify if state.config.mailer.is_none() => {
            Err(ConsoleError::Forbidden(SIGNUP_NEEDS_EMAIL))
        }
        _ => Ok(()),
    }
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

pub(super) async fn signup_page(
    State(state): State<AppState>,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    ensure_open(&state)?;
    let page = SignupPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        workspace_name: String::new(),
        email: String::new(),
        errors: SignupErrors::default(),
    };
    render(Some(token), StatusCode::OK, &page)
}

/// "Check your inbox": the answer to every sign-up, and to every request for a new link.
#[derive(Template)]
#[template(path = "signup_sent.html")]
struct SentPage {
    csrf: String,
    email: String,
    resent: bool,
}

pub(super) async fn signup(
    State(state): State<AppState>,
    token: CsrfToken,
    session: Session,
    ip: ClientIp,
    Form(form): Form<SignupForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    ensure_open(&state)?;
    let rerender = |errors: SignupErrors, status: StatusCode| {
        let page = SignupPage {
            csrf: token.authenticity_token().unwrap_or_default(),
            workspace_name: form.workspace_name.chars().take(100).collect(),
            email: form.email.chars().take(254).collect(),
            errors,
        };
        render(Some(token.clone()), status, &page)
    };
    // Limits first: argon2 below is the costly part of a sign-up.
    let email = normalize_email(&form.email);
    let allowed = match &email {
        Some(email) => state.limits.check_email(ip.0, email),
        None => state.limits.check_ip(ip.0),
    };
    if allowed.is_err() {
        let errors = SignupErrors {
            form: Some("too many attempts: wait a minute and try again".into()),
            ..SignupErrors::default()
        };
        return rerender(errors, StatusCode::TOO_MANY_REQUESTS);
    }
    let mut errors = SignupErrors::default();
    let name = form.workspace_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.workspace_name = Some("give the workspace a name of 1 to 100 characters".into());
    }
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
    let (Some(email), Some(password_hash), None) = (email, password_hash, &errors.workspace_name)
    else {
        return rerender(errors, StatusCode::UNPROCESSABLE_ENTITY);
    };

    let Some(mailer) = confirming_mailer(&state) else {
        // `open`: the account at once, as typed.
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
        let actor = person(created.owner_id, &email, &ip);
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
        return Ok(Redirect::to("/settings").into_response());
    };

    let console = state.config.public_url.as_str();
    let existing = users::find_by_email(&state.store, &email)
        .await
        .map_err(ConsoleError::internal)?
        .filter(|u| u.password_hash.is_some() || u.is_support);
    let message = match existing {
        Some(_) => account_exists(console, Joining::NewWorkspace(name)),
        None => {
            let signup = PendingSignup {
                email: email.clone(),
                password_hash,
                purpose: Purpose::NewWorkspace { name: name.into() },
            };
            let link = signups::begin(&state.store, &signup)
                .await
                .map_err(ConsoleError::internal)?;
            confirm_address(
                console,
                &link.plaintext,
                Joining::NewWorkspace(name),
                CONFIRMATION_LIFETIME_HOURS,
            )
        }
    };
    send_in_background(mailer, email.clone(), message);
    sent_page(token, &email, false)
}

fn sent_page(token: CsrfToken, email: &str, resent: bool) -> Result<Response, ConsoleError> {
    let page = SentPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        email: email.to_string(),
        resent,
    };
    render(Some(token), StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct ResendForm {
    authenticity_token: String,
    email: String,
}

/// `POST /signup/resend`: a new link for the address's sign-up waiting for confirmation, if
/// there is one; the same answer either way.
pub(super) async fn resend(
    State(state): State<AppState>,
    token: CsrfToken,
    ip: ClientIp,
    Form(form): Form<ResendForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let email = normalize_email(&form.email);
    let allowed = match &email {
        Some(email) => state.limits.check_email(ip.0, email),
        None => state.limits.check_ip(ip.0),
    };
    if allowed.is_err() {
        return Err(ConsoleError::Message {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts".into(),
            message: "too many attempts: wait a minute and try again".into(),
            link: "/login".into(),
            link_text: "Log in".into(),
        });
    }
    let Some(email) = email else {
        return Err(ConsoleError::Message {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Not an email address".into(),
            message: "enter the email address you signed up with, like ana@example.com".into(),
            link: "/login".into(),
            link_text: "Back".into(),
        });
    };
    if let Some(mailer) = confirming_mailer(&state) {
        let waiting = signups::latest_for_email(&state.store, &email)
            .await
            .map_err(ConsoleError::internal)?;
        if let Some(signup) = waiting {
            let workspace_name = match &signup.purpose {
                Purpose::NewWorkspace { name } => name.clone(),
                Purpose::Invitation { token_hash } => {
                    match members::find_invitation(&state.store, token_hash).await {
                        Ok(invitation) => invitation.workspace_name,
                        // The invitation is gone: nothing to confirm.
                        Err(StoreError::NotFound) => return sent_page(token, &email, true),
                        Err(e) => return Err(ConsoleError::internal(e)),
                    }
                }
            };
            let joining = match &signup.purpose {
                Purpose::NewWorkspace { .. } => Joining::NewWorkspace(&workspace_name),
                Purpose::Invitation { .. } => Joining::Invitation(&workspace_name),
            };
            let link = signups::begin(&state.store, &signup)
                .await
                .map_err(ConsoleError::internal)?;
            let message = confirm_address(
                &state.config.public_url,
                &link.plaintext,
                joining,
                CONFIRMATION_LIFETIME_HOURS,
            );
            send_in_background(mailer, email.clone(), message);
        }
    }
    sent_page(token, &email, true)
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct ConfirmPage {
    csrf: String,
    token: String,
    error: Option<String>,
}

/// `GET /signup/confirm`: the page the emailed link opens. The link's secret is after `#`: the
/// page's script puts it in the form (without JavaScript, the person pastes it).
pub(super) async fn confirm_page(token: CsrfToken) -> Result<Response, ConsoleError> {
    let page = ConfirmPage {
        csrf: token.authenticity_token().unwrap_or_default(),
        token: String::new(),
        error: None,
    };
    render(Some(token), StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    authenticity_token: String,
    token: String,
    password: String,
}

/// `POST /signup/confirm`: the link's secret and the sign-up's password make the account.
pub(super) async fn confirm(
    State(state): State<AppState>,
    csrf: CsrfToken,
    session: Session,
    ip: ClientIp,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&csrf, &form.authenticity_token)?;
    if state.limits.check_ip(ip.0).is_err() {
        return Err(ConsoleError::Message {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts".into(),
            message: "too many attempts: wait a minute and try again".into(),
            link: "/signup/confirm".into(),
            link_text: "Back".into(),
        });
    }
    let link = form.token.trim().trim_start_matches('#');
    let hash = hash_token(link);
    let gone = |e: StoreError| match e {
        StoreError::NotFound => ConsoleError::NotFound(CONFIRMATION_GONE),
        other => ConsoleError::internal(other),
    };
    let signup = signups::find(&state.store, &hash).await.map_err(gone)?;
    if !verify_password(&form.password, &signup.password_hash) {
        let page = ConfirmPage {
            csrf: csrf.authenticity_token().unwrap_or_default(),
            token: link.chars().take(100).collect(),
            error: Some("this is not the password chosen at sign-up: enter that one".into()),
        };
        return render(Some(csrf), StatusCode::UNAUTHORIZED, &page);
    }
    let confirmed = match signups::confirm(&state.store, &hash).await {
        Ok(confirmed) => confirmed,
        Err(StoreError::Conflict(message)) => {
            return Err(ConsoleError::Message {
                status: StatusCode::CONFLICT,
                title: "Account exists".into(),
                message,
                link: "/login".into(),
                link_text: "Log in".into(),
            })
        }
        Err(e) => return Err(gone(e)),
    };
    let actor = person(confirmed.user_id, &confirmed.email, &ip);
    let (action, target, next) = if confirmed.created_workspace {
        (
            "workspace.created",
            confirmed.workspace_name.clone(),
            "/settings",
        )
    } else {
        ("member.joined", format!("user:{}", confirmed.user_id), "/")
    };
    record(&state, confirmed.workspace_id, &actor, action, &target)
        .await
        .map_err(ConsoleError::internal)?;
    start_session(&session, confirmed.user_id, confirmed.workspace_id).await?;
    Ok(Redirect::to(next).into_response())
}

/// The pending sign-up of someone without an account accepting an invitation (see
/// `invitations`): the account and the membership come with the confirmation.
pub(super) fn invitation_signup(
    email: &str,
    password_hash: String,
    invitation_hash: Vec<u8>,
) -> PendingSignup {
    PendingSignup {
        email: email.to_string(),
        password_hash,
        purpose: Purpose::Invitation {
            token_hash: invitation_hash,
        },
    }
}
