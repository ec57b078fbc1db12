//! The integration's revoke confirmation: what will be deleted, what happens on the AWS side,
//! and the button (admins and owners only).

use super::{check_csrf, csrf_value, internal_error, message_page, render, ConsoleUser, Nav};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::IntegrationId;
use costline_store::integrations::{self, Integration};
use costline_store::revocation::{self, RevocationPreview};
use costline_store::StoreError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "integration_revoke.html")]
struct RevokePage {
    nav: Nav,
    integration: Integration,
    preview: RevocationPreview,
    stack_name: &'static str,
    region: &'static str,
}

fn not_found() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Integration not found",
        "This workspace has no such integration.",
        "/integrations",
        "Integrations",
    )
}

fn admins_only() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Admins only",
        "Revoking an integration needs the admin or owner role: ask a workspace admin.",
        "/integrations",
        "Integrations",
    )
}

/// `GET /integrations/{id}/revoke`
pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<IntegrationId>() else {
        return not_found();
    };
    if !user.role.is_admin() {
        return admins_only();
    }
    let csrf = match csrf_value(&token) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let loaded = async {
        let mut scope = state.store.scoped(user.workspace_id).await?;
        let integration = integrations::get(&mut scope, id).await?;
        let preview = revocation::preview(&mut scope, id).await?;
        scope.commit().await?;
        Ok::<_, StoreError>((integration, preview))
    }
    .await;
    let (integration, preview) = match loaded {
        Ok(v) => v,
        Err(StoreError::NotFound) => return not_found(),
        Err(e) => return internal_error(&e),
    };
    if !integration.status.is_live() {
        return message_page(
            StatusCode::OK,
            "Already revoked",
            "This integration was revoked: none of its data is kept. Create a new integration to connect the account again.",
            "/integrations",
            "Integrations",
        );
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
    user: ConsoleUser,
    token: CsrfToken,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Err(r) = check_csrf(&token, &form.authenticity_token) {
        return r;
    }
    let Ok(id) = id.parse::<IntegrationId>() else {
        return not_found();
    };
    if !user.role.is_admin() {
        return admins_only();
    }
    match revocation::revoke_integration(&state.store, user.workspace_id, id, &user.actor()).await
    {
        Ok(_) => message_page(
            StatusCode::OK,
            "Integration revoked",
            "Costline no longer uses the role and has deleted every cost record, account and job of this integration. You may now delete the CloudFormation stack or Terraform resources in your AWS account; the CUR bucket and its reports stay yours.",
            "/integrations",
            "Integrations",
        ),
        Err(StoreError::NotFound) => not_found(),
        Err(e) => internal_error(&e),
    }
}
