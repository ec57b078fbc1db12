//! The support console (issue 8): `/support/...` pages for Costline support staff only. They
//! sign in with their support token; the session holds a support principal under its own key,
//! distinct from workspace users, so a customer session gets 403 here and a support session is
//! no workspace user anywhere else. Every page view and action is audited into the customer's
//! workspace through the same functions as the support API (`api::support`).

use super::{check_csrf, csrf_value, render, ConsoleError, Notice};
use crate::api::support::{backfill_range, parse_period, periods_view, queue};
use crate::auth::{client_ip, ClientIp, Support};
use crate::error::ApiError;
use crate::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{hash_token, IntegrationId, UserId, WorkspaceId};
use costline_store::support::{self, WorkspaceHit};
use costline_store::tokens::{self, TokenCheck, TokenOwner};
use costline_store::{audit, cur, integrations, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;

const SESSION_SUPPORT: &str = "support_user_id";
/// The support token the session was signed in with.
const SESSION_SUPPORT_TOKEN: &str = "support_token_id";

/// A signed-in support user (the API's `Support` principal, from the session).
pub(crate) struct SupportUser {
    principal: Support,
    session: Session,
}

impl FromRequestParts<AppState> for SupportUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/support/login").into_response();
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| to_login())?;
        let id: Option<UserId> = session.get(SESSION_SUPPORT).await.ok().flatten();
        let Some(id) = id else {
            // A customer's session never reaches the support console.
            let customer: Option<UserId> = session.get("user_id").await.ok().flatten();
            return Err(match customer {
                Some(_) => ConsoleError::Forbidden(SUPPORT_ONLY).into_response(),
                None => to_login(),
            });
        };
        // The session lasts as long as the token it was signed in with: the token and the
        // support flag are read on every request, so revoking the token (`costline admin
        // revoke-support-token`) or the flag ends the session at its next request.
        let token_id: Option<uuid::Uuid> = session.get(SESSION_SUPPORT_TOKEN).await.ok().flatten();
        let live = match token_id {
            Some(token_id) => tokens::live_support_token(&state.store, token_id)
                .await
                .map_err(|e| ConsoleError::internal(e).into_response())?,
            None => None,
        };
        let Some((user_id, email)) = live.filter(|(user_id, _)| *user_id == id) else {
            session.flush().await.ok();
            return Err(to_login());
        };
        Ok(SupportUser {
            principal: Support {
                user_id,
                email,
                client_ip: client_ip(parts, state),
            },
            session,
        })
    }
}

/// A customer's session on a support page.
const SUPPORT_ONLY: Notice = Notice {
    title: "Costline support only",
    message:
        "The support console is for Costline support staff. Your workspace is at the home page.",
    link: "/",
    link_text: "Home",
};

fn not_found(what: &str) -> ConsoleError {
    ConsoleError::Message {
        status: StatusCode::NOT_FOUND,
        title: format!("{what} not found"),
        message: format!("No {} has this id.", what.to_lowercase()),
        link: "/support".into(),
        link_text: "Support console".into(),
    }
}

/// Maps the API helpers' errors to pages.
fn api_error_page(e: ApiError, back: &str) -> ConsoleError {
    match e {
        ApiError::NotFound(what) => not_found(&capitalize(what)),
        ApiError::Internal(m) => ConsoleError::internal(m),
        other => {
            let status = match &other {
                ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
                ApiError::SupportAccessNotGranted => StatusCode::FORBIDDEN,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            ConsoleError::Message {
                status,
                title: "Not done".into(),
                message: other.to_string(),
                link: back.into(),
                link_text: "Back".into(),
            }
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "support_login.html")]
struct LoginPage {
    csrf: String,
    error: Option<String>,
}

/// `GET /support/login`
pub(super) async fn login_page(token: CsrfToken) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    render(
        Some(token),
        StatusCode::OK,
        &LoginPage { csrf, error: None },
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    authenticity_token: String,
    token: String,
}

/// `POST /support/login`: the support token is verified through the token store.
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    token: CsrfToken,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let fail = |message: &str, status: StatusCode| {
        let page = LoginPage {
            csrf: token.authenticity_token().unwrap_or_default(),
            error: Some(message.to_owned()),
        };
        render(Some(token.clone()), status, &page)
    };
    if state.limits.check_ip(ip).is_err() {
        return fail(
            "too many attempts: wait a minute and try again",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let owner = tokens::authenticate(&state.store, &hash_token(form.token.trim()))
        .await
        .map_err(ConsoleError::internal)?;
    let TokenCheck::Valid(TokenOwner::Support {
        user_id, token_id, ..
    }) = owner
    else {
        return fail(
            "this is not a valid support token (cls_...)",
            StatusCode::UNAUTHORIZED,
        );
    };
    // A fresh session: no fixation, and no workspace user left in it.
    session.flush().await?;
    session.insert(SESSION_SUPPORT, user_id).await?;
    session.insert(SESSION_SUPPORT_TOKEN, token_id).await?;
    Ok(Redirect::to("/support").into_response())
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    authenticity_token: String,
}

/// `POST /support/logout`
pub(super) async fn logout(
    user: SupportUser,
    token: CsrfToken,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    user.session.flush().await.ok();
    Ok(Redirect::to("/support/login").into_response())
}

#[derive(Template)]
#[template(path = "support_search.html")]
struct SearchPage {
    email: String,
    csrf: String,
    q: String,
    hits: Vec<WorkspaceHit>,
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /support?q=`: search by workspace name, owner email or AWS account id.
pub(super) async fn search(
    State(state): State<AppState>,
    user: SupportUser,
    token: CsrfToken,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let q = query.q.trim().to_owned();
    let hits = if q.is_empty() {
        Vec::new()
    } else {
        async {
            let hits = support::search(&state.store, &q).await?;
            for hit in &hits {
                let mut scope = state
                    .store
                    .scoped(WorkspaceId::from_uuid(hit.workspace_id))
                    .await?;
                audit::record(
                    &mut scope,
                    &user.principal.actor(),
                    "support.workspace_found",
                    &format!("workspace:{}", hit.workspace_id),
                    json!({"query": q, "via": "console"}),
                )
                .await?;
                scope.commit().await?;
            }
            Ok::<_, StoreError>(hits)
        }
        .await
        .map_err(ConsoleError::internal)?
    };
    let page = SearchPage {
        email: user.principal.email.clone(),
        csrf,
        q,
        hits,
    };
    render(Some(token), StatusCode::OK, &page)
}

struct IntegrationRow {
    id: String,
    status: String,
    account_id: String,
    location: String,
    periods: usize,
}

#[derive(Template)]
#[template(path = "support_workspace.html")]
struct WorkspacePage {
    email: String,
    csrf: String,
    workspace_id: String,
    name: String,
    integrations: Vec<IntegrationRow>,
}

fn location(i: &integrations::Integration) -> String {
    match (&i.cur_bucket, &i.cur_report_name) {
        (Some(b), Some(r)) => format!(
            "s3://{b}/{}{r}/",
            i.cur_prefix
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(|p| format!("{}/", p.trim_matches('/')))
                .unwrap_or_default()
        ),
        _ => "no CUR location".into(),
    }
}

/// `GET /support/workspaces/{id}`: the workspace and its integrations.
pub(super) async fn workspace(
    State(state): State<AppState>,
    user: SupportUser,
    token: CsrfToken,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id: WorkspaceId = id.parse().map_err(|_| not_found("Workspace"))?;
    let csrf = csrf_value(&token)?;
    let granted = crate::api::support::granted_scope(&state, id)
        .await
        .map_err(|e| api_error_page(e, "/support"))?;
    let loaded = async {
        let mut scope = granted;
        let ws = costline_store::workspaces::get(&mut scope).await?;
        let mut rows = Vec::new();
        for i in integrations::list(&mut scope).await? {
            let periods = cur::periods(&mut scope, i.id()).await?;
            rows.push(IntegrationRow {
                id: i.integration_id.to_string(),
                status: i.status.to_string(),
                account_id: i.account_id.clone().unwrap_or_default(),
                location: location(&i),
                periods: periods.len(),
            });
        }
        audit::record(
            &mut scope,
            &user.principal.actor(),
            "support.workspace_viewed",
            &format!("workspace:{id}"),
            json!({"via": "console"}),
        )
        .await?;
        scope.commit().await?;
        Ok::<_, StoreError>((ws.name, rows))
    }
    .await;
    let (name, integrations) = match loaded {
        Ok(v) => v,
        Err(StoreError::NotFound) => return Err(not_found("Workspace")),
        Err(e) => return Err(ConsoleError::internal(e)),
    };
    let page = WorkspacePage {
        email: user.principal.email.clone(),
        csrf,
        workspace_id: id.to_string(),
        name,
        integrations,
    };
    render(Some(token), StatusCode::OK, &page)
}

struct PeriodRow {
    period: String,
    status: String,
    error: String,
    bucket_assembly: String,
    format: String,
    files: String,
    size: String,
    ingested_assembly: String,
    rows: String,
    ingested_at: String,
}

struct BackfillPeriodRow {
    period: String,
    state: String,
    job_id: String,
    progress: String,
    error: String,
}

struct BackfillRow {
    requested_by: String,
    requested_at: String,
    in_progress: bool,
    periods: Vec<BackfillPeriodRow>,
}

#[derive(Template)]
#[template(path = "support_integration.html")]
struct IntegrationPage {
    email: String,
    csrf: String,
    id: String,
    workspace_id: String,
    status: String,
    location: String,
    flash: Option<String>,
    bucket_error: Option<String>,
    periods: Vec<PeriodRow>,
    backfills: Vec<BackfillRow>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn progress(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    let step = text(&v["step"]);
    let files = match (&v["files_done"], &v["files_total"]) {
        (d, t) if !t.is_null() => format!("{}/{} files", text(d), text(t)),
        _ => String::new(),
    };
    format!("{step} {files} {} rows", text(&v["rows"]))
        .trim()
        .to_owned()
}

#[derive(Deserialize)]
pub(super) struct FlashQuery {
    queued: Option<String>,
}

/// `GET /support/integrations/{id}`: periods found vs ingested, backfills with their jobs.
pub(super) async fn integration(
    State(state): State<AppState>,
    user: SupportUser,
    token: CsrfToken,
    Path(id): Path<String>,
    Query(flash): Query<FlashQuery>,
) -> Result<Response, ConsoleError> {
    let id: IntegrationId = id.parse().map_err(|_| not_found("Integration"))?;
    let csrf = csrf_value(&token)?;
    let view = periods_view(&state, &user.principal, id)
        .await
        .map_err(|e| api_error_page(e, "/support"))?;
    let periods = view["periods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| PeriodRow {
            period: text(&p["period"]),
            status: text(&p["status"]),
            error: text(&p["ingested"]["error"]),
            bucket_assembly: text(&p["bucket"]["assembly_id"]),
            format: match (text(&p["bucket"]["format"]), &p["bucket"]["manifest"]) {
                (f, Value::Bool(false)) => format!("{f} (no manifest)"),
                (f, _) if f.is_empty() => text(&p["ingested"]["format"]),
                (f, _) => f,
            },
            files: text(&p["bucket"]["files"]),
            size: text(&p["bucket"]["size"]),
            ingested_assembly: text(&p["ingested"]["live_assembly_id"]),
            rows: text(&p["ingested"]["rows"]),
            ingested_at: text(&p["ingested"]["last_ingested"]),
        })
        .collect();
    let backfills = view["backfills"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| BackfillRow {
            requested_by: text(&b["requested_by"]),
            requested_at: text(&b["requested_at"]),
            in_progress: b["in_progress"] == true,
            periods: b["periods"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| BackfillPeriodRow {
                    period: text(&p["period"]),
                    state: text(&p["status"]),
                    job_id: text(&p["job_id"]),
                    progress: progress(&p["progress"]),
                    error: text(&p["error"]),
                })
                .collect(),
        })
        .collect();
    let location = match (text(&view["bucket"]), text(&view["report_name"])) {
        (b, r) if !b.is_empty() => format!("s3://{b}/{}/{r}/", text(&view["prefix"])),
        _ => "no CUR location".into(),
    };
    let page = IntegrationPage {
        email: user.principal.email.clone(),
        csrf,
        id: id.to_string(),
        workspace_id: text(&view["workspace_id"]),
        status: text(&view["status"]),
        location,
        flash: flash
            .queued
            .map(|p| format!("Queued reingestion of {p}: the jobs' progress shows below.")),
        bucket_error: view["bucket_error"].as_str().map(str::to_owned),
        periods,
        backfills,
    };
    render(Some(token), StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(super) struct BackfillForm {
    authenticity_token: String,
    from: String,
    to: String,
}

/// `POST /support/integrations/{id}/backfill`: one ingest job per period, oldest first.
pub(super) async fn backfill(
    State(state): State<AppState>,
    user: SupportUser,
    token: CsrfToken,
    Path(id): Path<String>,
    Form(form): Form<BackfillForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let id: IntegrationId = id.parse().map_err(|_| not_found("Integration"))?;
    let back = format!("/support/integrations/{id}");
    let periods = parse_period("from", &form.from)
        .and_then(|from| Ok((from, parse_period("to", &form.to)?)))
        .and_then(|(from, to)| backfill_range(from, to))
        .map_err(|e| api_error_page(e, &back))?;
    queue(
        &state,
        &user.principal,
        id,
        &periods,
        "support.backfill_requested",
    )
    .await
    .map_err(|e| api_error_page(e, &back))?;
    Ok(Redirect::to(&format!(
        "{back}?queued={}..{}",
        form.from.trim(),
        form.to.trim()
    ))
    .into_response())
}

/// `POST /support/integrations/{id}/periods/{period}/retry`
pub(super) async fn retry(
    State(state): State<AppState>,
    user: SupportUser,
    token: CsrfToken,
    Path((id, period)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let id: IntegrationId = id.parse().map_err(|_| not_found("Integration"))?;
    let back = format!("/support/integrations/{id}");
    let period = parse_period("period", &period).map_err(|e| api_error_page(e, &back))?;
    queue(
        &state,
        &user.principal,
        id,
        &[period],
        "support.period_retry_requested",
    )
    .await
    .map_err(|e| api_error_page(e, &back))?;
    Ok(Redirect::to(&format!("{back}?queued={period}")).into_response())
}
