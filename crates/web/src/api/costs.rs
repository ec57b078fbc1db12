//! `GET /api/v1/costs`: the workspace's costs over a date range, grouped, from the daily rollups;
//! `GET /api/v1/reports/{id}/costs`: the same answer to a saved report's question;
//! `GET`/`PUT /api/v1/costs/tag-keys`: the tag keys rolled up for `group_by=tag:<key>`.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::report_actions;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use costline_domain::ReportId;
use costline_store::costs::{self, CostDimension, CostFilter, CostMetric, CostQuery, CostSource};
use costline_store::cur;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// At most this many group-by keys.
const MAX_GROUP_BY: usize = 6;

/// At most this many filters.
const MAX_FILTERS: usize = 20;

/// The query string of `/costs`; `filter` may repeat.
#[derive(Debug, Default)]
pub(super) struct CostParams {
    start: Option<String>,
    end: Option<String>,
    group_by: Option<String>,
    metric: Option<String>,
    filters: Vec<String>,
    format: Option<String>,
}

impl CostParams {
    /// Reads the raw query string; an unknown parameter is a 400 naming it.
    fn from_query(query: Option<&str>) -> ApiResult<Self> {
        let mut p = CostParams::default();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.into_owned();
            match name.as_ref() {
                "start" => p.start = Some(value),
                "end" => p.end = Some(value),
                "group_by" => p.group_by = Some(value),
                "metric" => p.metric = Some(value),
                "filter" => p.filters.push(value),
                "format" => p.format = Some(value),
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "unknown parameter {other:?}: use start, end, group_by, metric, filter or format"
                        ),
                    ))
                }
            }
        }
        Ok(p)
    }

    /// Whether anything but `format` was given.
    fn has_question(&self) -> bool {
        self.start.is_some()
            || self.end.is_some()
            || self.group_by.is_some()
            || self.metric.is_some()
            || !self.filters.is_empty()
    }
}

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn date(name: &str, value: Option<&str>) -> ApiResult<NaiveDate> {
    let v = value.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("{name} is required: a date YYYY-MM-DD ({name}=2024-09-01)"),
        )
    })?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            format!("{name} must be a date YYYY-MM-DD, got {v:?}"),
        )
    })
}

fn parse(p: &CostParams) -> ApiResult<CostQuery> {
    let start = date("start", p.start.as_deref())?;
    let end = date("end", p.end.as_deref())?;
    if end <= start {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("end ({end}) must be after start ({start}): start is inclusive, end exclusive"),
        ));
    }
    Ok(CostQuery {
        start,
        end,
        group_by: parse_group_by(p.group_by.as_deref().unwrap_or("").split(','))?,
        filters: parse_filters(&p.filters)?,
        metric: parse_metric(p.metric.as_deref())?,
    })
}

/// A `metric` (absent or empty: unblended).
pub(crate) fn parse_metric(metric: Option<&str>) -> ApiResult<CostMetric> {
    match metric {
        None | Some("") => Ok(CostMetric::Unblended),
        Some(m) => m.parse().map_err(|e: costs::UnknownMetric| {
            ApiError::bad_request("invalid_query", e.to_string())
        }),
    }
}

/// `group_by` keys, in order (blank ones skipped); a 400 `invalid_query` names a bad one.
pub(crate) fn parse_group_by<'a>(
    keys: impl IntoIterator<Item = &'a str>,
) -> ApiResult<Vec<CostDimension>> {
    let mut group_by: Vec<CostDimension> = Vec::new();
    for k in keys {
        let k = k.trim();
        if k.is_empty() {
            continue;
        }
        let d: CostDimension = k.parse().map_err(|e: costs::UnknownDimension| {
            ApiError::bad_request("invalid_query", e.to_string())
        })?;
        if group_by.contains(&d) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("group_by names {k:?} twice"),
            ));
        }
        group_by.push(d);
    }
    if group_by.len() > MAX_GROUP_BY {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("group_by takes at most {MAX_GROUP_BY} keys"),
        ));
    }
    Ok(group_by)
}

/// Filters (`K:V`, `!K:V`, `K:V1|V2`); a 400 `invalid_filter` names a bad one.
pub(crate) fn parse_filters(filters: &[String]) -> ApiResult<Vec<CostFilter>> {
    if filters.len() > MAX_FILTERS {
        return Err(ApiError::bad_request(
            "invalid_filter",
            format!("at most {MAX_FILTERS} filters can be combined"),
        ));
    }
    filters
        .iter()
        .map(|f| {
            f.parse().map_err(|e: costs::InvalidFilter| {
                ApiError::bad_request("invalid_filter", e.to_string())
            })
        })
        .collect()
}

fn format(p: &CostParams) -> ApiResult<Format> {
    match p.format.as_deref() {
        None | Some("") | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown format {other:?}: use json or csv"),
        )),
    }
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let params = CostParams::from_query(raw.as_deref())?;
    let query = parse(&params)?;
    let format = format(&params)?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let answer = costs::query(&mut scope, &query).await?;
    scope.commit().await?;
    respond(&query, answer, format)
}

/// `GET /api/v1/reports/{id}/costs`: a saved report's costs, answered as `/costs` answers the
/// same question; the report chooses everything but `format`.
pub(super) async fn report(
    State(state): State<AppState>,
    caller: Member,
    ApiPath(id): ApiPath<ReportId>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let params = CostParams::from_query(raw.as_deref())?;
    if params.has_question() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "a report's costs take only format (json or csv): the report chooses the range, groups, filters and metric",
        ));
    }
    let format = format(&params)?;
    let found = report_actions::costs(&state, caller.workspace_id, id).await?;
    respond(&found.query, found.answer, format)
}

/// The answer to `query` as JSON or CSV.
fn respond(query: &CostQuery, answer: costs::CostAnswer, format: Format) -> ApiResult<Response> {
    let table = CostTable::new(query, answer);
    Ok(match format {
        Format::Json => Json(table.to_view(query)).into_response(),
        Format::Csv => csv_response(table.to_csv()?, "costs.csv"),
    })
}

/// CSV text as a download named `filename` (a fixed ASCII name).
pub(crate) fn csv_response(csv: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        csv,
    )
        .into_response()
}

/// The answer as named columns: the group-by keys, `currency` when there are several, and
/// `amount` (and `source` in CSV when some rows are preliminary); shared by the JSON and CSV
/// renderings so that both say the same.
pub(crate) struct CostTable {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    sources: Vec<CostSource>,
    source: CostSource,
    currency: String,
    total: String,
}

/// `GET /api/v1/costs` as JSON.
#[derive(Debug, Serialize)]
pub(crate) struct CostAnswerOut {
    pub(crate) currency: String,
    pub(crate) metric: &'static str,
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) group_by: Vec<String>,
    pub(crate) filters: Vec<String>,
    /// `cost_explorer` when any row is preliminary, else `cur`.
    pub(crate) source: &'static str,
    pub(crate) rows: Vec<CostRowOut>,
    pub(crate) total: String,
}

/// One row: its keys by group-by name (and `currency` when mixed), `amount` and `source`.
#[derive(Debug, Serialize)]
pub(crate) struct CostRowOut {
    #[serde(flatten)]
    pub(crate) keys: Map<String, Value>,
    pub(crate) amount: String,
    pub(crate) source: &'static str,
}

impl CostTable {
    pub(crate) fn new(query: &CostQuery, answer: costs::CostAnswer) -> Self {
        let mixed = answer.currencies.len() > 1;
        let currency = crate::views::currency_of(&answer.currencies);
        let mut columns: Vec<String> = query.group_by.iter().map(|d| d.to_string()).collect();
        if mixed {
            columns.push("currency".into());
        }
        columns.push("amount".into());
        let sources = answer.rows.iter().map(|r| r.source).collect();
        let rows = answer
            .rows
            .into_iter()
            .map(|r| {
                let mut row = r.keys;
                if mixed {
                    row.push(Some(r.currency));
                }
                row.push(Some(r.amount.normalize().to_string()));
                row
            })
            .collect();
        CostTable {
            columns,
            rows,
            sources,
            source: answer.source,
            currency,
            total: answer.total.normalize().to_string(),
        }
    }

    /// Whether some rows are Cost Explorer's preliminary numbers.
    pub(crate) fn is_preliminary(&self) -> bool {
        self.source == CostSource::CostExplorer
    }

    pub(crate) fn to_view(&self, query: &CostQuery) -> CostAnswerOut {
        let rows = self
            .rows
            .iter()
            .zip(&self.sources)
            .map(|(r, source)| {
                let (amount, keys) = r.split_last().expect("a row has its amount");
                CostRowOut {
                    keys: self
                        .columns
                        .iter()
                        .cloned()
                        .zip(keys.iter().map(|v| json!(v)))
                        .collect(),
                    amount: amount.clone().unwrap_or_default(),
                    source: source.as_str(),
                }
            })
            .collect();
        CostAnswerOut {
            currency: self.currency.clone(),
            metric: query.metric.as_str(),
            start: query.start.to_string(),
            end: query.end.to_string(),
            group_by: query.group_by.iter().map(|d| d.to_string()).collect(),
            filters: query.filters.iter().map(|f| f.to_string()).collect(),
            source: self.source.as_str(),
            rows,
            total: self.total.clone(),
        }
    }

    /// A header line of the columns, then one line per row; an untagged cost's key is empty.
    /// When some rows are preliminary, a last `source` column says which.
    pub(crate) fn to_csv(&self) -> ApiResult<String> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| ApiError::Internal(format!("writing CSV: {e}"));
        let with_source = self.is_preliminary();
        let mut header = self.columns.clone();
        if with_source {
            header.push("source".into());
        }
        out.write_record(&header).map_err(failed)?;
        for (row, source) in self.rows.iter().zip(&self.sources) {
            let mut fields: Vec<&str> = row.iter().map(|v| v.as_deref().unwrap_or("")).collect();
            if with_source {
                fields.push(source.as_str());
            }
            out.write_record(fields).map_err(failed)?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))
    }
}

pub(super) async fn tag_keys(
    State(state): State<AppState>,
    caller: Member,
) -> ApiResult<Json<Value>> {
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let keys = cur::tag_keys(&mut scope).await?;
    scope.commit().await?;
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Debug, Deserialize)]
pub(super) struct TagKeysBody {
    keys: Vec<String>,
}

/// Sets the rolled-up tag keys (admins). Periods ingested from now on carry them; until a
/// period is reingested, `tag:<key>` costs for it are summed from line items.
pub(super) async fn set_tag_keys(
    State(state): State<AppState>,
    caller: Member,
    ApiJson(body): ApiJson<TagKeysBody>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let mut keys: Vec<String> = body.keys.iter().map(|k| k.trim().to_owned()).collect();
    keys.sort();
    keys.dedup();
    if keys.len() > 50 {
        return Err(ApiError::bad_request(
            "invalid_tag_keys",
            "at most 50 tag keys can be rolled up",
        ));
    }
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    cur::set_tag_keys(&mut scope, &keys)
        .await
        .map_err(|e| match e {
            costline_store::StoreError::Conflict(m) => ApiError::bad_request("invalid_tag_keys", m),
            other => other.into(),
        })?;
    scope.commit().await?;
    Ok(Json(json!({ "keys": keys })))
}
