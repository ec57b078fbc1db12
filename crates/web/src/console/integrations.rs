//! AWS integrations in the console: the list, onboarding (choose a method, create the role,
//! submit its ARN), the status page that refreshes itself while verifying, and the published
//! permission list and templates.
//!
//! The integration page renders the same view the JSON API returns
//! (`GET /api/v1/integrations/aws/{id}`), so the console and the API never disagree.

use super::{
    check_csrf, csrf_value, message_page, render, ConsoleAdmin, ConsoleError, ConsolePath,
    ConsoleUser, Nav, Notice, Section,
};
use crate::error::ApiError;
use crate::integration_actions::{self as actions, CurInput};
use crate::views::IntegrationOut;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{IntegrationId, IntegrationStatus};
use costline_onboarding::PermissionSet;
use costline_store::integrations;
use serde::Deserialize;
use serde_json::Value;

/// The integration pages' own not-found and admins-only pages.
pub(super) struct Integrations;

impl Section for Integrations {
    const NOT_FOUND: Notice = Notice {
        title: "Integration not found",
        message: "There is no such integration in this workspace.",
        link: "/integrations",
        link_text: "All integrations",
    };
    const ADMINS_ONLY: Notice = Notice {
        title: "Admins only",
        message: "Only workspace admins and owners can change integrations. Ask one of them.",
        link: "/integrations",
        link_text: "All integrations",
    };
}

type IntegrationPath = ConsolePath<IntegrationId, Integrations>;

/// One integration as the list shows it.
struct Row {
    id: String,
    status: String,
    account_id: String,
    account_type: String,
    created: String,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct ListPage {
    nav: Nav,
    is_admin: bool,
    rows: Vec<Row>,
    error: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    show_list(&state, &user, token, None, StatusCode::OK).await
}

async fn show_list(
    state: &AppState,
    user: &ConsoleUser,
    token: CsrfToken,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let mut scope = state.store.scoped(user.workspace_id).await?;
    let all = integrations::list(&mut scope).await?;
    scope.commit().await?;
    let rows = all
        .into_iter()
        .map(|i| Row {
            id: i.integration_id.to_string(),
            status: i.status.to_string(),
            account_id: i.account_id.unwrap_or_default(),
            account_type: i.account_type.map(|t| t.to_string()).unwrap_or_default(),
            created: i.created_at.format("%Y-%m-%d %H:%M").to_string(),
        })
        .collect();
    render(
        Some(token),
        status,
        &ListPage {
            nav: user.nav(csrf),
            is_admin: user.role.is_admin(),
            rows,
            error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    authenticity_token: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Integrations>,
    token: CsrfToken,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    match actions::create(&state, user.workspace_id, &user.actor()).await {
        Ok(integration) => Ok(Redirect::to(&format!(
            "/integrations/{}",
            integration.integration_id
        ))
        .into_response()),
        Err(e) => {
            let status = error_status(&e);
            show_list(&state, &user, token, Some(e.to_string()), status).await
        }
    }
}

/// What the connect form keeps when it is shown again with an error.
#[derive(Default)]
struct ConnectForm {
    role_arn: String,
    bucket: String,
    prefix: String,
    report_name: String,
    role_arn_error: Option<String>,
    cur_error: Option<String>,
}

#[derive(Template)]
#[template(path = "integration.html")]
struct IntegrationPage {
    nav: Nav,
    is_admin: bool,
    view: IntegrationOut,
    trust_policy_json: String,
    inline_policy_json: String,
    form: ConnectForm,
    notice: Option<String>,
    refreshing: bool,
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    ConsolePath(id, ..): IntegrationPath,
) -> Result<Response, ConsoleError> {
    show_integration(
        &state,
        &user,
        token,
        id,
        ConnectForm::default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn show_integration(
    state: &AppState,
    user: &ConsoleUser,
    token: CsrfToken,
    id: IntegrationId,
    form: ConnectForm,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let view = async {
        let mut scope = state.store.scoped(user.workspace_id).await?;
        let integration = integrations::get(&mut scope, id).await?;
        let view = crate::api::integration_view(state, &mut scope, &integration).await?;
        scope.commit().await?;
        Ok::<_, costline_store::StoreError>(view)
    }
    .await
    .map_err(Integrations::error)?;
    let pretty = |v: Option<&Value>| {
        v.and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_default()
    };
    // The trust relationship shown beside a denied AssumeRole is the one the role must have.
    let trust = view
        .expected_trust_policy
        .as_ref()
        .or(view.renderings.as_ref().map(|r| &r.trust_policy));
    let page = IntegrationPage {
        nav: user.nav(csrf),
        is_admin: user.role.is_admin(),
        trust_policy_json: pretty(trust),
        inline_policy_json: pretty(view.renderings.as_ref().map(|r| &r.inline_policy)),
        refreshing: view.status == IntegrationStatus::Verifying || view.cur.status == "ingesting",
        view,
        form,
        notice,
    };
    render(Some(token), status, &page)
}

#[derive(Deserialize)]
pub(super) struct ConnectFields {
    authenticity_token: String,
    role_arn: String,
    #[serde(default)]
    cur_bucket: String,
    #[serde(default)]
    cur_prefix: String,
    #[serde(default)]
    cur_report_name: String,
}

pub(super) async fn connect(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Integrations>,
    token: CsrfToken,
    ConsolePath(id, ..): IntegrationPath,
    Form(fields): Form<ConnectFields>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &fields.authenticity_token)?;
    let any_cur = [&fields.cur_bucket, &fields.cur_report_name]
        .iter()
        .any(|f| !f.trim().is_empty());
    let cur = any_cur.then(|| CurInput {
        bucket: fields.cur_bucket.clone(),
        prefix: fields.cur_prefix.clone(),
        report_name: fields.cur_report_name.clone(),
    });
    let result = actions::connect(
        &state,
        user.workspace_id,
        &user.actor(),
        id,
        &fields.role_arn,
        cur,
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/integrations/{id}")).into_response()),
        Err(e) => {
            let status = error_status(&e);
            if status == StatusCode::NOT_FOUND {
                return Err(Integrations::not_found());
            }
            let mut form = ConnectForm {
                role_arn: fields.role_arn,
                bucket: fields.cur_bucket,
                prefix: fields.cur_prefix,
                report_name: fields.cur_report_name,
                ..Default::default()
            };
            match &e {
                ApiError::BadRequest {
                    code: "invalid_role_arn",
                    message,
                } => form.role_arn_error = Some(message.clone()),
                ApiError::BadRequest { message, .. } => form.cur_error = Some(message.clone()),
                other => form.role_arn_error = Some(other.to_string()),
            }
            show_integration(&state, &user, token, id, form, None, status).await
        }
    }
}

pub(super) async fn sync(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Integrations>,
    token: CsrfToken,
    ConsolePath(id, ..): IntegrationPath,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    match actions::sync(&state, user.workspace_id, &user.actor(), id).await {
        Ok(jobs) => {
            let notice = format!(
                "Queued {} background jobs: verification, account discovery and a look for new reports.",
                jobs.len()
            );
            show_integration(
                &state,
                &user,
                token,
                id,
                ConnectForm::default(),
                Some(notice),
                StatusCode::OK,
            )
            .await
        }
        Err(e) if error_status(&e) == StatusCode::NOT_FOUND => Err(Integrations::not_found()),
        Err(e) => {
            let status = error_status(&e);
            show_integration(
                &state,
                &user,
                token,
                id,
                ConnectForm::default(),
                Some(e.to_string()),
                status,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "permissions.html")]
struct PermissionsPage {
    nav: Option<Nav>,
    set: &'static PermissionSet,
    template_version: &'static str,
    trust_example: String,
}

/// The published permission set, readable before signing up: customers audit it first.
pub(super) async fn permissions(
    State(state): State<AppState>,
    user: Result<ConsoleUser, Response>,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    let nav = match user {
        Ok(user) => Some(user.nav(csrf_value(&token)?)),
        Err(_) => None,
    };
    let platform = state
        .platform_account_id()
        .unwrap_or_else(|_| "PLATFORM-ACCOUNT-ID".into());
    let page = PermissionsPage {
        nav,
        set: costline_onboarding::permission_set(),
        template_version: costline_onboarding::TEMPLATE_VERSION,
        trust_example: costline_onboarding::trust_policy_text(
            state.aws_partition(),
            &platform,
            "YOUR-INTEGRATION-EXTERNAL-ID",
            None,
        ),
    };
    render(Some(token), StatusCode::OK, &page)
}

/// The CloudFormation templates, served as published (public: the AWS console and customers'
/// reviewers fetch them).
pub(super) async fn template_file(Path(file): Path<String>) -> Response {
    match costline_onboarding::template(&file) {
        Some(t) => (
            [
                (header::CONTENT_TYPE, t.media_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            t.contents,
        )
            .into_response(),
        None => message_page(
            StatusCode::NOT_FOUND,
            "No such template",
            "Costline publishes integration.yaml and member-role.yaml.",
            "/permissions",
            "See the permissions",
        ),
    }
}

fn error_status(e: &ApiError) -> StatusCode {
    e.status()
}
