//! `GET /api/v1/costs`: the workspace's costs over a date range, grouped, from the daily rollups;
//! `GET`/`PUT /api/v1/costs/tag-keys`: the tag keys rolled up for `group_by=tag:<key>`.

use crate::auth::Member;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use costline_store::costs::{self, CostDimension, CostMetric, CostQuery};
use costline_store::cur;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// At most this many group-by keys.
const MAX_GROUP_BY: usize = 6;

#[derive(Debug, Deserialize)]
pub(super) struct CostParams {
    start: Option<String>,
    end: Option<String>,
    group_by: Option<String>,
    metric: Option<String>,
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
    let metric = match p.metric.as_deref() {
        None | Some("") => CostMetric::Unblended,
        Some(m) => m.parse().map_err(|e: costs::UnknownMetric| {
            ApiError::bad_request("invalid_query", e.to_string())
        })?,
    };
    let mut group_by: Vec<CostDimension> = Vec::new();
    for k in p.group_by.as_deref().unwrap_or("").split(',') {
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
    Ok(CostQuery {
        start,
        end,
        group_by,
        metric,
    })
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiQuery(params): ApiQuery<CostParams>,
) -> ApiResult<Json<Value>> {
    let query = parse(&params)?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let answer = costs::query(&mut scope, &query).await?;
    scope.commit().await?;
    let mixed = answer.currencies.len() > 1;
    let currency = match answer.currencies.as_slice() {
        [] => "USD".to_owned(),
        [one] => one.clone(),
        _ => "mixed".to_owned(),
    };
    let names: Vec<String> = query.group_by.iter().map(|d| d.to_string()).collect();
    let rows: Vec<Value> = answer
        .rows
        .into_iter()
        .map(|r| {
            let mut row = Map::new();
            for (name, key) in names.iter().zip(r.keys) {
                row.insert(name.clone(), json!(key));
            }
            if mixed {
                row.insert("currency".into(), json!(r.currency));
            }
            row.insert("amount".into(), json!(r.amount.normalize().to_string()));
            Value::Object(row)
        })
        .collect();
    Ok(Json(json!({
        "currency": currency,
        "metric": query.metric.as_str(),
        "start": query.start.to_string(),
        "end": query.end.to_string(),
        "group_by": names,
        "rows": rows,
        "total": answer.total.normalize().to_string(),
    })))
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
