//! Saved cost reports in the console: the list, the create and edit form (admins), and each
//! report drawn as a server-side SVG chart over its table, with its CSV at `/reports/{id}.csv`
//! (the API's CSV needs a bearer token; this one answers for the session's workspace).

use super::chart::{self, Chart};
use super::{
    check_csrf, csrf_value, render, ConsoleAdmin, ConsoleError, ConsolePath, ConsoleUser, Nav,
    Notice, Section,
};
use crate::api::{csv_response, CostTable};
use crate::error::ApiError;
use crate::report_actions;
use crate::views::{RangeOut, ReportIn, ReportOut};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_csrf::CsrfToken;
use costline_domain::{ChartKind, RelativeRange, ReportId};
use costline_store::reports::ReportCosts;
use serde::Deserialize;

/// The report pages' own not-found and admins-only pages.
pub(super) struct Reports;

impl Section for Reports {
    const NOT_FOUND: Notice = Notice {
        title: "Report not found",
        message: "This workspace has no such report.",
        link: "/reports",
        link_text: "Reports",
    };
    const ADMINS_ONLY: Notice = Notice {
        title: "Admins only",
        message: "Creating, changing and deleting reports needs the admin or owner role: ask a workspace admin.",
        link: "/reports",
        link_text: "Reports",
    };
}

type ReportPath = ConsolePath<ReportId, Reports>;

/// For `map_err`: the report helpers' errors, a missing report as this section's page.
fn failed(e: ApiError) -> ConsoleError {
    match e {
        ApiError::NotFound(_) => Reports::not_found(),
        other => ConsoleError::internal(other),
    }
}

/// A choice of a `<select>`.
struct Choice {
    value: &'static str,
    selected: bool,
}

fn choices(values: impl IntoIterator<Item = &'static str>, current: &str) -> Vec<Choice> {
    values
        .into_iter()
        .map(|value| Choice {
            value,
            selected: value == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ListPage {
    nav: Nav,
    is_admin: bool,
    reports: Vec<ReportOut>,
}

/// `GET /reports`
pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let reports = report_actions::list(&state, user.workspace_id)
        .await
        .map_err(failed)?
        .iter()
        .map(ReportOut::from)
        .collect();
    let page = ListPage {
        nav: user.nav(csrf),
        is_admin: user.role.is_admin(),
        reports,
    };
    render(Some(token), StatusCode::OK, &page)
}

/// The form's fields, as posted (and as shown again after a mistake).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReportForm {
    #[serde(default)]
    authenticity_token: String,
    #[serde(default)]
    name: String,
    /// One filter a line.
    #[serde(default)]
    filters: String,
    /// Comma-separated, as in `/costs?group_by=`.
    #[serde(default)]
    group_by: String,
    #[serde(default)]
    metric: String,
    /// A relative range's name, or `fixed` for `start` and `end`.
    #[serde(default)]
    range: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    chart: String,
}

impl ReportForm {
    fn input(&self) -> ReportIn {
        let range = if self.range == "fixed" {
            RangeOut {
                relative: None,
                start: Some(self.start.trim().to_owned()),
                end: Some(self.end.trim().to_owned()),
            }
        } else {
            RangeOut {
                relative: Some(self.range.clone()),
                ..Default::default()
            }
        };
        ReportIn {
            name: self.name.clone(),
            filters: self
                .filters
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            group_by: self.group_by.split(',').map(str::to_owned).collect(),
            metric: Some(self.metric.clone()),
            range,
            chart: Some(self.chart.clone()),
        }
    }

    fn of(report: &ReportOut) -> Self {
        ReportForm {
            authenticity_token: String::new(),
            name: report.name.clone(),
            filters: report.filters.join("\n"),
            group_by: report.group_by.join(","),
            metric: report.metric.clone(),
            range: report
                .range
                .relative
                .clone()
                .unwrap_or_else(|| "fixed".into()),
            start: report.range.start.clone().unwrap_or_default(),
            end: report.range.end.clone().unwrap_or_default(),
            chart: report.chart.clone(),
        }
    }

    fn blank() -> Self {
        ReportForm {
            metric: "unblended".into(),
            range: RelativeRange::Last30Days.as_str().into(),
            chart: ChartKind::Bar.as_str().into(),
            ..Default::default()
        }
    }
}

#[derive(Template)]
#[template(path = "report_form.html")]
struct FormPage {
    nav: Nav,
    title: String,
    action: String,
    cancel: String,
    form: ReportForm,
    metrics: Vec<Choice>,
    ranges: Vec<Choice>,
    charts: Vec<Choice>,
    error: Option<String>,
}

/// Where a form posts: a new report, or the report of this id.
fn show_form(
    user: &ConsoleUser,
    token: CsrfToken,
    id: Option<ReportId>,
    form: ReportForm,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let (title, action, cancel) = match id {
        None => (
            "New report".to_owned(),
            "/reports".to_owned(),
            "/reports".to_owned(),
        ),
        Some(id) => (
            format!("Edit {}", form.name),
            format!("/reports/{id}/edit"),
            format!("/reports/{id}"),
        ),
    };
    let ranges = RelativeRange::ALL
        .iter()
        .map(RelativeRange::as_str)
        .chain(["fixed"]);
    let page = FormPage {
        nav: user.nav(csrf),
        title,
        action,
        cancel,
        metrics: choices(["unblended", "net_unblended", "amortized"], &form.metric),
        ranges: choices(ranges, &form.range),
        charts: choices(ChartKind::ALL.iter().map(ChartKind::as_str), &form.chart),
        form,
        error,
    };
    render(Some(token), status, &page)
}

/// `GET /reports/new`
pub(super) async fn new_page(
    ConsoleAdmin(user, ..): ConsoleAdmin<Reports>,
    token: CsrfToken,
) -> Result<Response, ConsoleError> {
    show_form(
        &user,
        token,
        None,
        ReportForm::blank(),
        None,
        StatusCode::OK,
    )
}

/// `POST /reports`
pub(super) async fn create(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Reports>,
    token: CsrfToken,
    Form(form): Form<ReportForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    match report_actions::create(&state, user.workspace_id, &user.actor(), &form.input()).await {
        Ok(report) => Ok(Redirect::to(&format!("/reports/{}", report.report_id)).into_response()),
        Err(e @ ApiError::BadRequest { .. }) => {
            let status = e.status();
            show_form(&user, token, None, form, Some(e.to_string()), status)
        }
        Err(e) => Err(failed(e)),
    }
}

/// `GET /reports/{id}/edit`
pub(super) async fn edit_page(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Reports>,
    token: CsrfToken,
    ConsolePath(id, ..): ReportPath,
) -> Result<Response, ConsoleError> {
    let report = report_actions::get(&state, user.workspace_id, id)
        .await
        .map_err(failed)?;
    let form = ReportForm::of(&ReportOut::from(&report));
    show_form(&user, token, Some(id), form, None, StatusCode::OK)
}

/// `POST /reports/{id}/edit`
pub(super) async fn update(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Reports>,
    token: CsrfToken,
    ConsolePath(id, ..): ReportPath,
    Form(form): Form<ReportForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    let input = form.input();
    match report_actions::update(&state, user.workspace_id, &user.actor(), id, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/reports/{id}")).into_response()),
        Err(e @ ApiError::BadRequest { .. }) => {
            let status = e.status();
            show_form(&user, token, Some(id), form, Some(e.to_string()), status)
        }
        Err(e) => Err(failed(e)),
    }
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    authenticity_token: String,
}

/// `POST /reports/{id}/delete`
pub(super) async fn delete(
    State(state): State<AppState>,
    ConsoleAdmin(user, ..): ConsoleAdmin<Reports>,
    token: CsrfToken,
    ConsolePath(id, ..): ReportPath,
    Form(form): Form<DeleteForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&token, &form.authenticity_token)?;
    report_actions::delete(&state, user.workspace_id, &user.actor(), id)
        .await
        .map_err(failed)?;
    Ok(Redirect::to("/reports").into_response())
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    nav: Nav,
    is_admin: bool,
    report: ReportOut,
    /// The dates the range covers today, both inclusive.
    first_day: String,
    last_day: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    currency: String,
    total: String,
    chart: Option<Chart>,
    chart_width: f64,
    chart_height: f64,
}

/// `GET /reports/{id}`, and `GET /reports/{id}.csv` for its CSV (one route: a path parameter
/// cannot carry a suffix).
pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Path(segment): Path<String>,
) -> Result<Response, ConsoleError> {
    // The `.csv` suffix rides on the id segment, so this one id is parsed here.
    let (id, csv) = match segment.strip_suffix(".csv") {
        Some(id) => (id, true),
        None => (segment.as_str(), false),
    };
    let id: ReportId = id.parse().map_err(|_| Reports::not_found())?;
    let found = report_actions::costs(&state, user.workspace_id, id)
        .await
        .map_err(failed)?;
    if csv {
        let table = CostTable::new(&found.query, found.answer);
        let text = table.to_csv().map_err(ConsoleError::internal)?;
        return Ok(csv_response(text, &format!("report-{id}.csv")));
    }
    let csrf = csrf_value(&token)?;
    let page = report_page(user.nav(csrf), user.role.is_admin(), found);
    render(Some(token), StatusCode::OK, &page)
}

fn report_page(nav: Nav, is_admin: bool, found: ReportCosts) -> ReportPage {
    let ReportCosts {
        report,
        query,
        answer,
    } = found;
    let mixed = answer.currencies.len() > 1;
    let mut columns: Vec<String> = query.group_by.iter().map(ToString::to_string).collect();
    if mixed {
        columns.push("currency".into());
    }
    let key_text = |k: &Option<String>| k.clone().unwrap_or_else(|| "(none)".into());
    let mut rows = Vec::with_capacity(answer.rows.len());
    let mut drawn = Vec::with_capacity(answer.rows.len());
    for r in &answer.rows {
        let mut row: Vec<String> = r.keys.iter().map(key_text).collect();
        let label = if row.is_empty() {
            "Total".to_owned()
        } else {
            row.join(" · ")
        };
        if mixed {
            row.push(r.currency.clone());
        }
        row.push(r.amount.round_dp(2).to_string());
        rows.push(row);
        drawn.push((label, r.amount));
    }
    let chart = match report.spec.chart {
        ChartKind::Table => None,
        _ if drawn.is_empty() => None,
        kind => Some(chart::draw(&drawn, kind == ChartKind::Line)),
    };
    ReportPage {
        nav,
        is_admin,
        first_day: query.start.to_string(),
        last_day: query.end.pred_opt().unwrap_or(query.end).to_string(),
        report: ReportOut::from(&report),
        columns,
        rows,
        currency: crate::views::currency_of(&answer.currencies),
        total: answer.total.round_dp(2).to_string(),
        chart,
        chart_width: chart::WIDTH,
        chart_height: chart::HEIGHT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_writes_the_api_body_and_reads_a_report_back() {
        let form = ReportForm {
            name: "EC2".into(),
            filters: "service:AmazonEC2\r\n\r\n  !region:us-east-1 \n".into(),
            group_by: "day,tag:Team".into(),
            metric: "amortized".into(),
            range: "fixed".into(),
            start: "2024-05-01".into(),
            end: " 2024-06-01".into(),
            chart: "line".into(),
            ..Default::default()
        };
        let input = form.input();
        assert_eq!(input.filters, ["service:AmazonEC2", "!region:us-east-1"]);
        assert_eq!(input.range.start.as_deref(), Some("2024-05-01"));
        assert_eq!(input.range.end.as_deref(), Some("2024-06-01"));
        let spec = report_actions::spec(&input).unwrap();
        assert_eq!(spec.group_by.len(), 2);
        let relative = ReportForm {
            range: "last_month".into(),
            ..form
        };
        assert_eq!(
            relative.input().range.relative.as_deref(),
            Some("last_month")
        );
        assert_eq!(relative.input().range.start, None);
    }
}
