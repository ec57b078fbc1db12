//! The server-rendered console: askama pages, sessions in PostgreSQL, CSRF-checked forms.
//! Every page works without JavaScript.

mod account;
mod chart;
mod costs;
mod danger;
mod error;
mod integrations;
mod invitations;
mod reports;
mod resources;
mod revoke;
mod settings;
mod signup;
mod support;

pub(crate) use error::{ConsoleAdmin, ConsoleError, ConsolePath, Notice, Section};

use crate::auth::client_ip;
use crate::AppState;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_csrf::CsrfToken;
use costline_domain::{Role, UserId, WorkspaceId};
use costline_store::audit::{Actor, ActorKind};
use costline_store::{users, StoreError};
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route("/signup", get(signup::signup_page).post(signup::signup))
        .route(
            "/signup/confirm",
            get(signup::confirm_page).post(signup::confirm),
        )
        .route("/signup/resend", post(signup::resend))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        // Links carry their secret after `#`, never in a path that servers and proxies log.
        .route(
            "/invitations",
            get(invitations::open_page).post(invitations::show),
        )
        .route("/invitations/accept", post(invitations::accept))
        .route("/settings", get(settings::page))
        .route("/settings/danger", get(danger::page))
        .route("/settings/danger/delete", post(danger::delete))
        .route(
            "/integrations/{id}/revoke",
            get(revoke::page).post(revoke::revoke),
        )
        .route(
            "/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route("/integrations/{id}", get(integrations::page))
        .route("/integrations/{id}/connect", post(integrations::connect))
        .route("/integrations/{id}/sync", post(integrations::sync))
        .route("/costs", get(costs::page))
        .route("/resources", get(resources::page))
        .route("/reports", get(reports::list).post(reports::create))
        .route("/reports/new", get(reports::new_page))
        .route("/reports/{id}", get(reports::page))
        .route(
            "/reports/{id}/edit",
            get(reports::edit_page).post(reports::update),
        )
        .route("/reports/{id}/delete", post(reports::delete))
        .route("/permissions", get(integrations::permissions))
        .route("/templates/{file}", get(integrations::template_file))
        .route("/settings/members/invite", post(settings::invite))
        .route(
            "/settings/members/{user_id}/role",
            post(settings::change_role),
        )
        .route(
            "/settings/members/{user_id}/remove",
            post(settings::remove_member),
        )
        .route("/settings/tokens", post(settings::create_token))
        .route(
            "/settings/support-access",
            post(settings::grant_support_access),
        )
        .route(
            "/settings/support-access/revoke",
            post(settings::revoke_support_access),
        )
        .route(
            "/settings/tokens/{token_id}/revoke",
            post(settings::revoke_token),
        )
        // The support console (support staff only; its own session principal).
        .route("/support", get(support::search))
        .route(
            "/support/login",
            get(support::login_page).post(support::login),
        )
        .route("/support/logout", post(support::logout))
        .route("/support/workspaces/{id}", get(support::workspace))
        .route("/support/integrations/{id}", get(support::integration))
        .route(
            "/support/integrations/{id}/backfill",
            post(support::backfill),
        )
        .route(
            "/support/integrations/{id}/periods/{period}/retry",
            post(support::retry),
        )
}

/// Sessions live in PostgreSQL (the `tower_sessions` schema, system role only), cookies are HttpOnly, SameSite=Lax,
/// and Secure when Costline is served over https.
pub(crate) async fn session_layer(
    state: &AppState,
) -> Result<SessionManagerLayer<PostgresStore>, StoreError> {
    // Its table comes from migrations/0024 (under forced RLS, for the system role only).
    let store = PostgresStore::new(state.store.system().clone());
    Ok(SessionManagerLayer::new(store)
        .with_name("costline_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(CookieDuration::days(7))))
}

const SESSION_USER: &str = "user_id";
const SESSION_WORKSPACE: &str = "workspace_id";

/// A logged-in console user, in their current workspace.
pub(crate) struct ConsoleUser {
    pub user_id: UserId,
    pub email: String,
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub role: Role,
    pub client_ip: Option<String>,
    pub session: Session,
}

impl ConsoleUser {
    pub(crate) fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            label: self.email.clone(),
            kind: ActorKind::User,
            client_ip: self.client_ip.clone(),
        }
    }

    pub(crate) fn nav(&self, csrf: String) -> Nav {
        Nav {
            workspace_name: self.workspace_name.clone(),
            email: self.email.clone(),
            role: self.role.to_string(),
            csrf,
        }
    }
}

/// What the navigation bar shows.
pub(crate) struct Nav {
    pub workspace_name: String,
    pub email: String,
    pub role: String,
    pub csrf: String,
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/login").into_response();
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| to_login())?;
        let user_id: Option<UserId> = session.get(SESSION_USER).await.ok().flatten();
        let workspace_id: Option<WorkspaceId> = session.get(SESSION_WORKSPACE).await.ok().flatten();
        let (Some(user_id), Some(workspace_id)) = (user_id, workspace_id) else {
            return Err(to_login());
        };
        // Membership is read on every request: a removed member loses access at once.
        let memberships = users::workspaces_of(&state.store, user_id)
            .await
            .map_err(|e| ConsoleError::internal(e).into_response())?;
        let Some(current) = memberships
            .into_iter()
            .find(|w| w.workspace_id == workspace_id)
        else {
            session.flush().await.ok();
            return Err(to_login());
        };
        let user = users::get(&state.store, user_id)
            .await
            .map_err(|e| ConsoleError::internal(e).into_response())?;
        crate::observability::record_caller(Some(workspace_id), user_id);
        Ok(ConsoleUser {
            user_id,
            email: user.email,
            workspace_id,
            workspace_name: current.name,
            role: current.role,
            client_ip: client_ip(parts, state),
            session,
        })
    }
}

/// Starts a fresh session (new id: no fixation) for a user in a workspace.
pub(crate) async fn start_session(
    session: &Session,
    user_id: UserId,
    workspace_id: WorkspaceId,
) -> Result<(), ConsoleError> {
    session.cycle_id().await?;
    session.insert(SESSION_USER, user_id).await?;
    session.insert(SESSION_WORKSPACE, workspace_id).await?;
    Ok(())
}

/// Renders a template, with the CSRF cookie when a token is given.
pub(crate) fn render(
    csrf: Option<CsrfToken>,
    status: StatusCode,
    page: &impl Template,
) -> Result<Response, ConsoleError> {
    let html = page.render()?;
    Ok(match csrf {
        Some(token) => (status, token, Html(html)).into_response(),
        None => (status, Html(html)).into_response(),
    })
}

/// A fresh CSRF value for a form, tied to the cookie the response sets.
pub(crate) fn csrf_value(token: &CsrfToken) -> Result<String, ConsoleError> {
    token.authenticity_token().map_err(ConsoleError::internal)
}

/// 403 unless the form carries the CSRF value of this browser's cookie.
pub(crate) fn check_csrf(token: &CsrfToken, submitted: &str) -> Result<(), ConsoleError> {
    token
        .verify(submitted)
        .map_err(|_| ConsoleError::CsrfExpired)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// A plain page with a message and one link.
pub(crate) fn message_page(
    status: StatusCode,
    title: &str,
    message: &str,
    link: &str,
    link_text: &str,
) -> Response {
    let page = MessagePage {
        title,
        message,
        link,
        link_text,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        // The error page itself failed: nothing left to render it with.
        Err(e) => {
            tracing::error!(error = %e, "console message page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
