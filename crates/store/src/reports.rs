//! Saved cost reports of a workspace: a named cost question (filters, groups, metric, range)
//! and how to draw it. The answer is never stored: each look asks [`crate::costs::query`]
//! afresh for the range resolved on that day, so a report over a revoked integration's costs
//! answers with whatever remains (nothing, when that was all).
//!
//! Writes are audited in the same transaction.

use crate::audit::{self, Actor};
use crate::costs::{self, CostAnswer, CostDimension, CostFilter, CostMetric, CostQuery};
use crate::{Scoped, StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{
    ChartKind, DateRange, RelativeRange, ReportId, ReportName, ReportRange, UserId,
};
use serde_json::json;

/// What a report asks and how it is drawn: everything a user chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    /// Shown in lists and as the page title.
    pub name: ReportName,
    /// Every filter a cost must pass.
    pub filters: Vec<CostFilter>,
    /// The answer's keys, in order.
    pub group_by: Vec<CostDimension>,
    /// What to sum.
    pub metric: CostMetric,
    /// The dates, fixed or resolved on each look.
    pub range: ReportRange,
    /// How the console draws the rows.
    pub chart: ChartKind,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its id.
    pub report_id: ReportId,
    /// What it asks.
    pub spec: ReportSpec,
    /// Who created it (`None` once that user is deleted).
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Report {
    /// The cost question of this report when `today` is the current UTC date.
    pub fn query(&self, today: NaiveDate) -> CostQuery {
        let range = self.spec.range.resolve(today);
        CostQuery {
            start: range.start(),
            end: range.end(),
            group_by: self.spec.group_by.clone(),
            filters: self.spec.filters.clone(),
            metric: self.spec.metric,
        }
    }
}

/// A report with its answer for one day.
#[derive(Debug, Clone)]
pub struct ReportCosts {
    /// The report.
    pub report: Report,
    /// The question it resolved to.
    pub query: CostQuery,
    /// The answer.
    pub answer: CostAnswer,
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    report_id: uuid::Uuid,
    name: String,
    filters: Vec<String>,
    group_by: Vec<String>,
    metric: String,
    range_relative: Option<String>,
    range_start: Option<NaiveDate>,
    range_end: Option<NaiveDate>,
    chart: String,
    created_by: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Every column, as [`ReportRow`] reads them (a macro, so that each statement is one literal).
macro_rules! columns {
    () => {
        "report_id, name, filters, group_by, metric, range_relative, range_start, range_end, \
         chart, created_by, created_at, updated_at"
    };
}

impl TryFrom<ReportRow> for Report {
    type Error = StoreError;
    fn try_from(row: ReportRow) -> StoreResult<Report> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("report {}: {what}: {e}", row.report_id))
        };
        let range = match (
            row.range_relative.as_deref(),
            row.range_start,
            row.range_end,
        ) {
            (Some(r), None, None) => ReportRange::Relative(
                r.parse::<RelativeRange>()
                    .map_err(|e| corrupt("range", &e))?,
            ),
            (None, Some(start), Some(end)) => {
                ReportRange::Fixed(DateRange::new(start, end).map_err(|e| corrupt("range", &e))?)
            }
            _ => return Err(corrupt("range", &"neither relative nor fixed")),
        };
        let spec = ReportSpec {
            name: row.name.parse().map_err(|e| corrupt("name", &e))?,
            filters: row
                .filters
                .iter()
                .map(|f| f.parse().map_err(|e| corrupt("filter", &e)))
                .collect::<StoreResult<_>>()?,
            group_by: row
                .group_by
                .iter()
                .map(|d| d.parse().map_err(|e| corrupt("group_by", &e)))
                .collect::<StoreResult<_>>()?,
            metric: row.metric.parse().map_err(|e| corrupt("metric", &e))?,
            range,
            chart: row.chart.parse().map_err(|e| corrupt("chart", &e))?,
        };
        Ok(Report {
            report_id: ReportId::from_uuid(row.report_id),
            spec,
            created_by: row.created_by.map(UserId::from_uuid),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The columns a spec writes: filters, group_by, relative range, start, end.
type SpecColumns = (
    Vec<String>,
    Vec<String>,
    Option<&'static str>,
    Option<NaiveDate>,
    Option<NaiveDate>,
);

fn spec_columns(spec: &ReportSpec) -> SpecColumns {
    let (relative, start, end) = match spec.range {
        ReportRange::Relative(r) => (Some(r.as_str()), None, None),
        ReportRange::Fixed(d) => (None, Some(d.start()), Some(d.end())),
    };
    (
        spec.filters.iter().map(ToString::to_string).collect(),
        spec.group_by.iter().map(ToString::to_string).collect(),
        relative,
        start,
        end,
    )
}

type RowQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, ReportRow, sqlx::postgres::PgArguments>;

/// Binds the workspace, the id and then the spec as the next eight parameters ($1 to $10):
/// name, filters, group_by, metric, range_relative, range_start, range_end, chart.
fn bind_report<'q>(
    query: RowQuery<'q>,
    scope: &Scoped,
    id: ReportId,
    spec: &'q ReportSpec,
) -> RowQuery<'q> {
    let (filters, group_by, relative, start, end) = spec_columns(spec);
    query
        .bind(scope.workspace_id().as_uuid())
        .bind(id.as_uuid())
        .bind(spec.name.as_str())
        .bind(filters)
        .bind(group_by)
        .bind(spec.metric.as_str())
        .bind(relative)
        .bind(start)
        .bind(end)
        .bind(spec.chart.as_str())
}

fn target(id: ReportId) -> String {
    format!("report:{id}")
}

/// Creates a report in the scope's workspace, by `actor` (a user).
#[tracing::instrument(skip_all, err, fields(workspace_id = %scope.workspace_id()))]
pub async fn create(scope: &mut Scoped, actor: &Actor, spec: &ReportSpec) -> StoreResult<Report> {
    let id = ReportId::new();
    let insert = sqlx::query_as(concat!(
        "INSERT INTO cost_reports (workspace_id, report_id, name, filters, group_by, metric,
                                   range_relative, range_start, range_end, chart, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING ",
        columns!()
    ));
    let row: ReportRow = bind_report(insert, scope, id, spec)
        .bind(actor.user_id.map(|u| u.as_uuid()))
        .fetch_one(scope.tx())
        .await?;
    audit::record(
        scope,
        actor,
        "report.created",
        &target(id),
        json!({"name": spec.name.as_str()}),
    )
    .await?;
    row.try_into()
}

/// The workspace's reports, by name.
pub async fn list(scope: &mut Scoped) -> StoreResult<Vec<Report>> {
    let rows: Vec<ReportRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM cost_reports WHERE workspace_id = $1 ORDER BY lower(name), report_id"
    ))
    .bind(scope.workspace_id().as_uuid())
    .fetch_all(scope.tx())
    .await?;
    rows.into_iter().map(Report::try_from).collect()
}

/// One report; `NotFound` when the workspace has none of that id.
pub async fn get(scope: &mut Scoped, id: ReportId) -> StoreResult<Report> {
    let row: Option<ReportRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM cost_reports WHERE workspace_id = $1 AND report_id = $2"
    ))
    .bind(scope.workspace_id().as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Replaces what a report asks; `NotFound` when the workspace has none of that id.
#[tracing::instrument(skip_all, err, fields(workspace_id = %scope.workspace_id(), report_id = %id))]
pub async fn update(
    scope: &mut Scoped,
    actor: &Actor,
    id: ReportId,
    spec: &ReportSpec,
) -> StoreResult<Report> {
    let update = sqlx::query_as(concat!(
        "UPDATE cost_reports
            SET name = $3, filters = $4, group_by = $5, metric = $6, range_relative = $7,
                range_start = $8, range_end = $9, chart = $10, updated_at = now()
          WHERE workspace_id = $1 AND report_id = $2
         RETURNING ",
        columns!()
    ));
    let row: Option<ReportRow> = bind_report(update, scope, id, spec)
        .fetch_optional(scope.tx())
        .await?;
    let report: Report = row.ok_or(StoreError::NotFound)?.try_into()?;
    audit::record(
        scope,
        actor,
        "report.updated",
        &target(id),
        json!({"name": spec.name.as_str()}),
    )
    .await?;
    Ok(report)
}

/// Deletes a report; `NotFound` when the workspace has none of that id.
#[tracing::instrument(skip_all, err, fields(workspace_id = %scope.workspace_id(), report_id = %id))]
pub async fn delete(scope: &mut Scoped, actor: &Actor, id: ReportId) -> StoreResult<()> {
    let name: Option<String> = sqlx::query_scalar(
        "DELETE FROM cost_reports WHERE workspace_id = $1 AND report_id = $2 RETURNING name",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    let name = name.ok_or(StoreError::NotFound)?;
    audit::record(
        scope,
        actor,
        "report.deleted",
        &target(id),
        json!({"name": name}),
    )
    .await
}

/// A report and its costs when `today` is the current UTC date.
pub async fn costs(scope: &mut Scoped, id: ReportId, today: NaiveDate) -> StoreResult<ReportCosts> {
    let report = get(scope, id).await?;
    let query = report.query(today);
    let answer = costs::query(scope, &query).await?;
    Ok(ReportCosts {
        report,
        query,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(relative: Option<&str>, start: Option<&str>, end: Option<&str>) -> ReportRow {
        ReportRow {
            report_id: uuid::Uuid::nil(),
            name: "EC2 by day".into(),
            filters: vec!["service:AmazonEC2".into(), "!tag:aws:createdBy:".into()],
            group_by: vec!["day".into(), "tag:Team".into()],
            metric: "amortized".into(),
            range_relative: relative.map(str::to_owned),
            range_start: start.map(|s| s.parse().unwrap()),
            range_end: end.map(|s| s.parse().unwrap()),
            chart: "line".into(),
            created_by: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn rows_decode_to_what_they_were_written_from() {
        let report = Report::try_from(row(Some("last_month"), None, None)).unwrap();
        let (filters, group_by, relative, start, end) = spec_columns(&report.spec);
        assert_eq!(filters, ["service:AmazonEC2", "!tag:aws:createdBy:"]);
        assert_eq!(group_by, ["day", "tag:Team"]);
        assert_eq!((relative, start, end), (Some("last_month"), None, None));
        let q = report.query("2026-03-10".parse().unwrap());
        assert_eq!(q.start.to_string(), "2026-02-01");
        assert_eq!(q.end.to_string(), "2026-03-01");
        assert_eq!(q.metric, CostMetric::Amortized);
        assert_eq!(report.spec.chart, ChartKind::Line);

        let fixed = Report::try_from(row(None, Some("2024-05-01"), Some("2024-06-01"))).unwrap();
        let q = fixed.query("2030-01-01".parse().unwrap());
        assert_eq!(
            (q.start.to_string(), q.end.to_string()),
            ("2024-05-01".into(), "2024-06-01".into())
        );
    }

    #[test]
    fn rows_that_do_not_decode_are_corrupt_not_guessed() {
        assert!(matches!(
            Report::try_from(row(Some("last_week"), None, None)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            Report::try_from(row(Some("last_month"), Some("2024-05-01"), None)),
            Err(StoreError::Corrupt(_))
        ));
        let mut bad = row(Some("last_month"), None, None);
        bad.filters = vec!["colour:red".into()];
        assert!(matches!(Report::try_from(bad), Err(StoreError::Corrupt(_))));
    }
}
