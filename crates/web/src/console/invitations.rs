//! Accepting an invitation.
//!
//! The link is `<console>/invitations#<token>`: the secret after `#` never reaches a server's or
//! a proxy's logs; the page's script posts it (without JavaScript, the person pastes it). An
//! address that has an account accepts only from that account's logged-in session, so whoever
//! signed up first with someone else's address cannot join in their place. Someone without an
//! account chooses a password; with email on, the account (and the membership) exists once the
//! emailed confirmation link is opened. The page looks the same whether or not the address has
//! an account, and a password posted for an address with one gets the same "check your inbox"
//! answer (the mail then says to log in), after the same work.

use super::account::{confirming_mailer, person, record, send_in_background};
use super::signup::invitation_signup;
use super::{check_csrf, render, start_session, ConsoleError, ConsoleUser, Notice};
use crate::auth::ClientIp;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{hash_password, hash_token};
use costline_notify::account::{account_exists, confirm_address, Joining};
use costline_store::members::{self, OpenInvitation};
use costline_store::signups::{self, CONFIRMATION_LIFETIME_HOURS};
use costline_store::{users, StoreError};
use serde::Deserialize;
use tower_sessions::Session;

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

#[derive(Template)]
#[template(path = "invitation_open.html")]
struct OpenPage {
    csrf: String,
}

/// `GET /invitations`: the page an invitation link opens.
pub(super) async fn open_page(token: CsrfToken) -> Result<Response, ConsoleError> {
    let page = OpenPage {
        csrf: token.authenticity_token().unwrap_or_default(),
    };
    render(Some(token), StatusCode::OK, &page)
}

/// Who is looking at an invitation.
enum Viewer {
    /// Nobody is logged in.
    Anonymous,
    /// The invited address is logged in.
    Invitee,
    /// Someone else is (their address).
    Other(String),
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    csrf: String,
    token: String,
    workspace_name: String,
    email: String,
    role: String,
    /// Logged in as the invitee: accept with one click.
    invitee: bool,
    /// Logged in as this other address.
    other: Option<String>,
    error: Option<String>,
}

fn viewer(user: &Result<ConsoleUser, Response>, invitation: &OpenInvitation) -> Viewer {
    match user {
        Ok(user) if user.email.eq_ignore_ascii_case(&invitation.email) => Viewer::Invitee,
        Ok(user) => Viewer::Other(user.email.clone()),
        Err(_) => Viewer::Anonymous,
    }
}

fn invitation_page(
    csrf: CsrfToken,
    link: &str,
    invitation: OpenInvitation,
    viewer: Viewer,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let page = InvitationPage {
        csrf: csrf.authenticity_token().unwrap_or_default(),
        token: link.to_string(),
        workspace_name: invitation.workspace_name,
        email: invitation.email,
        role: invitation.role.to_string(),
        invitee: matches!(viewer, Viewer::Invitee),
        other: match viewer {
            Viewer::Other(email) => Some(email),
            _ => None,
        },
        error,
    };
    render(Some(csrf), status, &page)
}

#[derive(Deserialize)]
pub(super) struct OpenForm {
    authenticity_token: String,
    token: String,
}

/// The link's secret as pasted or posted: the part after `#` when a whole link is given.
fn link_token(input: &str) -> &str {
    let input = input.trim();
    input.rsplit_once('#').map_or(input, |(_, t)| t)
}

/// `POST /invitations`: the invitation of a link.
pub(super) async fn show(
    State(state): State<AppState>,
    csrf: CsrfToken,
    user: Result<ConsoleUser, Response>,
    Form(form): Form<OpenForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&csrf, &form.authenticity_token)?;
    let link = link_token(&form.token);
    let invitation = members::find_invitation(&state.store, &hash_token(link))
        .await
        .map_err(invitation_error)?;
    let viewer = viewer(&user, &invitation);
    invitation_page(csrf, link, invitation, viewer, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct AcceptForm {
    authenticity_token: String,
    token: String,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Template)]
#[template(path = "invitation_sent.html")]
struct SentPage {
    email: String,
    workspace_name: String,
}

/// `POST /invitations/accept`
pub(super) async fn accept(
    State(state): State<AppState>,
    csrf: CsrfToken,
    session: Session,
    user: Result<ConsoleUser, Response>,
    ip: ClientIp,
    Form(form): Form<AcceptForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&csrf, &form.authenticity_token)?;
    let link = link_token(&form.token).to_string();
    let hash = hash_token(&link);
    let invitation = members::find_invitation(&state.store, &hash)
        .await
        .map_err(invitation_error)?;
    match viewer(&user, &invitation) {
        Viewer::Invitee => {
            let user =
                user.map_err(|_| ConsoleError::internal("the invitee's session vanished"))?;
            let joined = members::accept_as(&state.store, &hash, user.user_id)
                .await
                .map_err(invitation_error)?;
            record(
                &state,
                joined.workspace_id,
                &user.actor(),
                "member.joined",
                &format!("user:{}", user.user_id),
            )
            .await
            .map_err(ConsoleError::internal)?;
            start_session(&session, user.user_id, joined.workspace_id).await?;
            Ok(Redirect::to("/").into_response())
        }
        viewer @ Viewer::Other(_) => invitation_page(
            csrf,
            &link,
            invitation,
            viewer,
            Some("log out first: only the invited address can accept".into()),
            StatusCode::FORBIDDEN,
        ),
        Viewer::Anonymous => {
            accept_without_session(state, csrf, session, ip, link, invitation, form.password).await
        }
    }
}

/// A password posted by someone not logged in: a new account (confirmed by email when email is
/// on), or, for an address with an account, the same answer and a mail saying to log in.
async fn accept_without_session(
    state: AppState,
    csrf: CsrfToken,
    session: Session,
    ip: ClientIp,
    link: String,
    invitation: OpenInvitation,
    password: Option<String>,
) -> Result<Response, ConsoleError> {
    if state.limits.check_email(ip.0, &invitation.email).is_err() {
        return invitation_page(
            csrf,
            &link,
            invitation,
            Viewer::Anonymous,
            Some("too many attempts: wait a minute and try again".into()),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let password_hash = match hash_password(password.as_deref().unwrap_or_default()) {
        Ok(h) => h,
        Err(e) => {
            return invitation_page(
                csrf,
                &link,
                invitation,
                Viewer::Anonymous,
                Some(e.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    };
    let has_account = users::find_by_email(&state.store, &invitation.email)
        .await
        .map_err(ConsoleError::internal)?
        .is_some();
    let hash = hash_token(&link);
    if let Some(mailer) = confirming_mailer(&state) {
        let console = state.config.public_url.as_str();
        let joining = Joining::Invitation(&invitation.workspace_name);
        let message = if has_account {
            account_exists(console, joining)
        } else {
            let signup = invitation_signup(&invitation.email, password_hash, hash);
            let token = signups::begin(&state.store, &signup)
                .await
                .map_err(ConsoleError::internal)?;
            confirm_address(
                console,
                &token.plaintext,
                joining,
                CONFIRMATION_LIFETIME_HOURS,
            )
        };
        send_in_background(mailer, invitation.email.clone(), message);
        let page = SentPage {
            email: invitation.email,
            workspace_name: invitation.workspace_name,
        };
        return render(None, StatusCode::OK, &page);
    }
    // Email is off: nothing can confirm the address, and the invitation vouches for it.
    if has_account {
        let email = invitation.email.clone();
        return invitation_page(
            csrf,
            &link,
            invitation,
            Viewer::Anonymous,
            Some(format!(
                "{email} already has a Costline account: log in as it, then open the invitation link again"
            )),
            StatusCode::CONFLICT,
        );
    }
    let (joined, user_id) = members::accept_creating_account(&state.store, &hash, &password_hash)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(message) => ConsoleError::Message {
                status: StatusCode::CONFLICT,
                title: "Account exists".into(),
                message,
                link: "/login".into(),
                link_text: "Log in".into(),
            },
            other => invitation_error(other),
        })?;
    let actor = person(user_id, &joined.email, &ip);
    record(
        &state,
        joined.workspace_id,
        &actor,
        "member.joined",
        &format!("user:{user_id}"),
    )
    .await
    .map_err(ConsoleError::internal)?;
    start_session(&session, user_id, joined.workspace_id).await?;
    Ok(Redirect::to("/").into_response())
}
