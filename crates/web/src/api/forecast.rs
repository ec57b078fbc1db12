//! `GET /api/v1/costs/forecast`: the current UTC month's costs so far and its month-end
//! forecast from the daily run rate (`costline_domain::MonthForecast`).

use crate::auth::Member;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::views::ForecastOut;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use costline_store::forecast;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForecastParams {
    metric: Option<String>,
}

pub(super) async fn get(
    State(state): State<AppState>,
    caller: Member,
    ApiQuery(params): ApiQuery<ForecastParams>,
) -> ApiResult<Json<ForecastOut>> {
    let metric = super::parse_metric(params.metric.as_deref())?;
    let mut scope = state.store.scoped(caller.workspace_id).await?;
    let month = forecast::current_month(&mut scope, Utc::now().date_naive(), metric).await?;
    scope.commit().await?;
    Ok(Json(ForecastOut::new(&month, metric)))
}
