//! Saved cost reports, shared by the JSON API and the console: a report's definition is read
//! with the parsers of `GET /api/v1/costs`, so a filter that `/costs` refuses is refused here
//! with the same message, and each change is one transaction (audited by the store).

use crate::api::{parse_filters, parse_group_by, parse_metric};
use crate::error::{ApiError, ApiResult};
use crate::views::{RangeOut, ReportIn};
use crate::AppState;
use chrono::{NaiveDate, Utc};
use costline_domain::{ChartKind, DateRange, InvalidReport, ReportId, ReportRange, WorkspaceId};
use costline_store::audit::Actor;
use costline_store::reports::{self, Report, ReportCosts, ReportSpec};
use costline_store::StoreError;

/// The definition in `input`; a 400 names the first thing wrong with it.
pub(crate) fn spec(input: &ReportIn) -> ApiResult<ReportSpec> {
    let chart = match input.chart.as_deref() {
        None | Some("") => ChartKind::Bar,
        Some(c) => c.parse().map_err(|e| invalid("invalid_chart", e))?,
    };
    Ok(ReportSpec {
        name: input.name.parse().map_err(|e| invalid("invalid_name", e))?,
        filters: parse_filters(&input.filters)?,
        group_by: parse_group_by(input.group_by.iter().map(String::as_str))?,
        metric: parse_metric(input.metric.as_deref())?,
        range: range(&input.range)?,
        chart,
    })
}

fn invalid(code: &'static str, e: InvalidReport) -> ApiError {
    ApiError::bad_request(code, e.to_string())
}

const RANGE_FORMS: &str = "range is {\"relative\": \"last_30_days\"} (or last_7_days, month_to_date, last_month, last_12_months) or {\"start\": \"YYYY-MM-DD\", \"end\": \"YYYY-MM-DD\"} with end exclusive";

fn range(r: &RangeOut) -> ApiResult<ReportRange> {
    match (r.relative.as_deref(), r.start.as_deref(), r.end.as_deref()) {
        (Some(relative), None, None) => Ok(ReportRange::Relative(
            relative.parse().map_err(|e| invalid("invalid_range", e))?,
        )),
        (None, Some(start), Some(end)) => {
            let range = DateRange::new(date("start", start)?, date("end", end)?)
                .map_err(|e| invalid("invalid_range", e))?;
            Ok(ReportRange::Fixed(range))
        }
        _ => Err(ApiError::bad_request("invalid_range", RANGE_FORMS)),
    }
}

fn date(name: &str, value: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_range",
            format!("range {name} must be a date YYYY-MM-DD, got {value:?}"),
        )
    })
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("report"),
        other => other.into(),
    }
}

/// The workspace's reports, by name.
pub(crate) async fn list(state: &AppState, workspace: WorkspaceId) -> ApiResult<Vec<Report>> {
    let mut scope = state.store.scoped(workspace).await?;
    let found = reports::list(&mut scope).await?;
    scope.commit().await?;
    Ok(found)
}

/// One report; 404 for another workspace's.
pub(crate) async fn get(
    state: &AppState,
    workspace: WorkspaceId,
    id: ReportId,
) -> ApiResult<Report> {
    let mut scope = state.store.scoped(workspace).await?;
    let found = reports::get(&mut scope, id).await.map_err(not_found)?;
    scope.commit().await?;
    Ok(found)
}

/// Creates a report from `input`.
pub(crate) async fn create(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
    input: &ReportIn,
) -> ApiResult<Report> {
    let spec = spec(input)?;
    let mut scope = state.store.scoped(workspace).await?;
    let report = reports::create(&mut scope, actor, &spec).await?;
    scope.commit().await?;
    Ok(report)
}

/// Replaces a report's definition with `input`.
pub(crate) async fn update(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
    id: ReportId,
    input: &ReportIn,
) -> ApiResult<Report> {
    let spec = spec(input)?;
    let mut scope = state.store.scoped(workspace).await?;
    let report = reports::update(&mut scope, actor, id, &spec)
        .await
        .map_err(not_found)?;
    scope.commit().await?;
    Ok(report)
}

/// Deletes a report.
pub(crate) async fn delete(
    state: &AppState,
    workspace: WorkspaceId,
    actor: &Actor,
    id: ReportId,
) -> ApiResult<()> {
    let mut scope = state.store.scoped(workspace).await?;
    reports::delete(&mut scope, actor, id)
        .await
        .map_err(not_found)?;
    scope.commit().await?;
    Ok(())
}

/// A report and its costs today (UTC).
pub(crate) async fn costs(
    state: &AppState,
    workspace: WorkspaceId,
    id: ReportId,
) -> ApiResult<ReportCosts> {
    let mut scope = state.store.scoped(workspace).await?;
    let found = reports::costs(&mut scope, id, Utc::now().date_naive())
        .await
        .map_err(not_found)?;
    scope.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> ReportIn {
        serde_json::from_value(json).unwrap()
    }

    fn refused(json: serde_json::Value) -> (&'static str, String) {
        match spec(&input(json)) {
            Err(ApiError::BadRequest { code, message }) => (code, message),
            other => panic!("accepted: {other:?}"),
        }
    }

    #[test]
    fn a_full_definition_reads_with_the_cost_parsers() {
        let s = spec(&input(serde_json::json!({
            "name": " EC2 ",
            "filters": ["service:AmazonEC2", "!region:us-east-1"],
            "group_by": ["day", "tag:Team"],
            "metric": "amortized",
            "range": {"start": "2024-05-01", "end": "2024-06-01"},
            "chart": "line",
        })))
        .unwrap();
        assert_eq!(s.name.as_str(), "EC2");
        assert_eq!(s.filters.len(), 2);
        assert_eq!(s.group_by.len(), 2);
        assert_eq!(s.chart, ChartKind::Line);
        let s = spec(&input(
            serde_json::json!({"name": "x", "range": {"relative": "last_month"}}),
        ))
        .unwrap();
        assert_eq!(s.chart, ChartKind::Bar);
        assert!(s.filters.is_empty() && s.group_by.is_empty());
    }

    #[test]
    fn each_mistake_gets_its_code_and_names_the_item() {
        let base = |patch: serde_json::Value| {
            let mut v = serde_json::json!({"name": "x", "range": {"relative": "last_month"}});
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            v
        };
        let (code, m) = refused(base(
            serde_json::json!({"filters": ["service:EC2", "colour:red"]}),
        ));
        assert_eq!(code, "invalid_filter");
        assert!(m.contains("\"colour:red\""), "{m}");
        let (code, m) = refused(base(
            serde_json::json!({"group_by": ["service", "flavour"]}),
        ));
        assert_eq!(code, "invalid_query");
        assert!(m.contains("\"flavour\""), "{m}");
        let (code, m) = refused(base(
            serde_json::json!({"range": {"relative": "last_week"}}),
        ));
        assert_eq!(code, "invalid_range");
        assert!(
            m.contains("last_7_days") && m.contains("last_12_months"),
            "{m}"
        );
        let (code, _) = refused(base(serde_json::json!({"range": {"start": "2024-05-01"}})));
        assert_eq!(code, "invalid_range");
        let (code, m) = refused(base(
            serde_json::json!({"range": {"start": "2024-06-01", "end": "2024-05-01"}}),
        ));
        assert_eq!(code, "invalid_range");
        assert!(m.contains("must be after"), "{m}");
        let (code, _) = refused(base(serde_json::json!({"name": ""})));
        assert_eq!(code, "invalid_name");
        let (code, _) = refused(base(serde_json::json!({"name": "n".repeat(101)})));
        assert_eq!(code, "invalid_name");
        let (code, m) = refused(base(serde_json::json!({"chart": "pie"})));
        assert_eq!(code, "invalid_chart");
        assert!(m.contains("\"pie\""), "{m}");
        let (code, _) = refused(base(serde_json::json!({"metric": "blended"})));
        assert_eq!(code, "invalid_query");
    }
}
