//! The current month's forecast (`costline_domain::MonthForecast`) from the workspace's daily
//! costs.

use crate::costs::{self, CostDimension, CostMetric, CostQuery};
use crate::{Scoped, StoreError, StoreResult};
use chrono::NaiveDate;
use costline_domain::{BillingPeriod, MonthForecast};

/// The forecast and the currencies its costs are in (usually one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentMonth {
    /// Month to date and month end.
    pub forecast: MonthForecast,
    /// Every currency seen, sorted.
    pub currencies: Vec<String>,
}

/// The forecast of `metric` for the month of `today` (the current UTC date).
pub async fn current_month(
    scope: &mut Scoped,
    today: NaiveDate,
    metric: CostMetric,
) -> StoreResult<CurrentMonth> {
    let query = CostQuery {
        start: BillingPeriod::containing(today).start(),
        end: today
            .succ_opt()
            .ok_or_else(|| StoreError::Conflict("today is the last day chrono knows".into()))?,
        group_by: vec![CostDimension::Day],
        filters: Vec::new(),
        metric,
    };
    let answer = costs::query(scope, &query).await?;
    let mut daily = Vec::with_capacity(answer.rows.len());
    for row in &answer.rows {
        let day = row
            .keys
            .first()
            .cloned()
            .flatten()
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .ok_or_else(|| StoreError::Corrupt("a cost row without its day".into()))?;
        daily.push((day, row.amount));
    }
    let forecast = MonthForecast::from_daily(today, daily).map_err(|_| {
        StoreError::Conflict("the month's costs are too large for a decimal".into())
    })?;
    Ok(CurrentMonth {
        forecast,
        currencies: answer.currencies,
    })
}
