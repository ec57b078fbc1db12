//! The integration's revoke confirmation: what will be deleted, what happens on the AWS side,
//! and the button (admins and owners only).

use super::{
    check_csrf, csrf_value, message_page, render, ConsoleAdmin, ConsoleError, ConsolePath, Nav,
    Notice, Section,
};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::IntegrationId;
use costline_store::integrations::{self, Integration};
use costline_store::revocation::{self, RevocationPreview};
use serde::Deserialize;

/// The revoke pages' own not-found and admins-only pages.
pub(super) struct Revoke;

impl Section for Revoke {
    const NOT_FOUND: Notice = Notice {
        title: "Integration not found",
        message: "This workspace has no such integration.",
        link: "/integrations",
        link_text: "Integrations",
    };
    const ADMINS_ONLY: Notice = Notice {
        title: "Admins only",
        message: "Revoking an integration needs the admin or owner role: ask a workspace admin.",
        link: "/integrations",
        link_text: "Integrations",
    };
}

#[derive(Template)]
#[template(path = "integration_revoke.html")]
struct RevokePage {
    nav: Nav,
    integration: Integration,
    preview: RevocationPreview,
    stack_name: &'static str,
    region: &'static str,
}

/// `GET /integrations/{id}/revoke`
pub(super) async fn page(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Revoke>,
    token: CsrfToken,
    ConsolePath(id, ..): ConsolePath<IntegrationId, Revoke>,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let mut scope = state.store.scoped(user.workspace_id).await?;
    let integration = integrations::get(&mut scope, id)
        .await
        .map_err(Revoke::error)?;
    let preview = revocation::preview(&mut scope, id)
        .await
        .map_err(Revoke::error)?;
    scope.commit().await?;
    if !integration.status.is_live() {
        return Ok(message_page(
            StatusCode::OK,
            "Already revoked",
            "This integration was revoked: none of its data is kept. Create a new integration to connect the account again.",
            "/integrations",
            "Integrations",
        ));
    }
    let page = RevokePage {
        nav: user.nav(csrf),
        integration,
        preview,
        stack_name: costline_onboarding::DEFAULT_STACK_NAME,
        region: state.aws_partition().integration_region(),
    };
    render(Some(token), StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    authenticity_token: String,
}

/// `POST /integrations/{id}/revoke`
pub(super) async fn revoke(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Revoke>,
    token: CsrfToken,
    ConsolePath(id, ..): ConsolePath<IntegrationId, Revoke>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    revocation::revoke_integration(&state.store, user.workspace_id, id, &user.actor())
        .await
        .map_err(Revoke::error)?;
    Ok(message_page(
        StatusCode::OK,
        "Integration revoked",
        "Costline no longer uses the role and has deleted every cost record, account and job of this integration. You may now delete the CloudFormation stack or Terraform resources in your AWS account; the CUR bucket and its reports stay yours.",
        "/integrations",
        "Integrations",
    ))
}
