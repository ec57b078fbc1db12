//! Settings' danger zone: the owner deletes the workspace by typing its name.

use super::{check_csrf, csrf_value, message_page, render, ConsoleError, ConsoleUser, Nav};
use crate::error::ApiError;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use axum_csrf::CsrfToken;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "workspace_delete.html")]
struct DeletePage {
    nav: Nav,
    is_owner: bool,
    error: Option<String>,
}

/// `GET /settings/danger`
pub(super) async fn page(user: ConsoleUser, token: CsrfToken) -> Result<Response, ConsoleError> {
    show(&user, token, None, StatusCode::OK)
}

fn show(
    user: &ConsoleUser,
    token: CsrfToken,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let page = DeletePage {
        nav: user.nav(csrf),
        is_owner: user.role == costline_domain::Role::Owner,
        error,
    };
    render(Some(token), status, &page)
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    authenticity_token: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /settings/danger/delete`
pub(super) async fn delete(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Form(form): Form<DeleteForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    if user.role != costline_domain::Role::Owner {
        return show(
            &user,
            token,
            Some("only the workspace owner can delete it".into()),
            StatusCode::FORBIDDEN,
        );
    }
    match crate::api::delete_workspace_confirmed(&state, user.workspace_id, &form.confirm).await {
        Ok(_) => {
            user.session.flush().await.ok();
            Ok(message_page(
                StatusCode::OK,
                "Workspace deleted",
                "The workspace and all of its data are deleted; its members' sessions and API tokens have ended.",
                "/login",
                "Log in",
            ))
        }
        Err(e @ ApiError::BadRequest { .. }) => {
            let status = e.status();
            show(&user, token, Some(e.to_string()), status)
        }
        Err(e) => Err(ConsoleError::internal(e)),
    }
}
