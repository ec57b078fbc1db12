//! The costs page: one month's costs by service and by account, a daily chart drawn as
//! server-side SVG, the current month's forecast beside its month to date, and each
//! integration's ingestion status per billing period.

use super::{csrf_value, render, ConsoleError, ConsoleUser, Nav};
use crate::views::IntegrationOut;
use crate::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_csrf::CsrfToken;
use chrono::Utc;
use costline_domain::BillingPeriod;
use costline_store::costs::{self, CostAnswer, CostDimension, CostMetric, CostQuery, CostSource};
use costline_store::{cost_sources, forecast, integrations, StoreError};
use rust_decimal::Decimal;
use serde::Deserialize;

/// One group and its share of the month.
struct Line {
    label: String,
    /// Some of the amount is Cost Explorer's preliminary number.
    preliminary: bool,
    amount: String,
    /// 0 to 100, for the bar next to the amount.
    percent: u32,
}

/// One day's bar of the chart.
struct Bar {
    x: u32,
    y: u32,
    height: u32,
    title: String,
}

/// One billing period of one integration, as ingested.
struct PeriodStatus {
    integration: String,
    period: String,
    status: String,
    rows: String,
    ingested_at: String,
}

/// Which integration supplies an account's costs.
struct SourceLine {
    account: String,
    integration: String,
    period: String,
    others: Vec<String>,
}

/// The current month's forecast, in cents.
struct Forecast {
    month_to_date: String,
    forecast: String,
    days_elapsed: u32,
    /// Days after today.
    days_left: u32,
}

#[derive(Template)]
#[template(path = "costs.html")]
struct CostsPage {
    nav: Nav,
    month: String,
    previous: String,
    next: String,
    metric: &'static str,
    currency: String,
    total: String,
    by_service: Vec<Line>,
    by_account: Vec<Line>,
    bars: Vec<Bar>,
    chart_width: u32,
    forecast: Option<Forecast>,
    periods: Vec<PeriodStatus>,
    /// Some numbers are Cost Explorer's.
    preliminary: bool,
    sources: Vec<SourceLine>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct CostsParams {
    month: Option<String>,
    metric: Option<String>,
}

const CHART_HEIGHT: u32 = 160;
const BAR_WIDTH: u32 = 18;

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    token: CsrfToken,
    Query(params): Query<CostsParams>,
) -> Result<Response, ConsoleError> {
    let csrf = csrf_value(&token)?;
    let mut error = None;
    let today = Utc::now().date_naive();
    let month = match params.month.as_deref().map(str::parse::<BillingPeriod>) {
        None => BillingPeriod::containing(today),
        Some(Ok(month)) => month,
        Some(Err(_)) => {
            error = Some("month must look like 2026-10; showing this month".to_string());
            BillingPeriod::containing(today)
        }
    };
    let metric = match params.metric.as_deref().map(str::parse::<CostMetric>) {
        None => CostMetric::Unblended,
        Some(Ok(metric)) => metric,
        Some(Err(_)) => {
            error = Some("metric must be unblended, net_unblended or amortized".to_string());
            CostMetric::Unblended
        }
    };
    let question = |dimension: CostDimension| CostQuery {
        start: month.start(),
        end: month.end(),
        group_by: vec![dimension],
        filters: Vec::new(),
        metric,
    };
    let (by_service, by_account, by_day, forecast, periods, sources) = async {
        let mut scope = state.store.scoped(user.workspace_id).await?;
        let by_service = costs::query(&mut scope, &question(CostDimension::Service)).await?;
        let by_account = costs::query(&mut scope, &question(CostDimension::Account)).await?;
        let by_day = costs::query(&mut scope, &question(CostDimension::Day)).await?;
        let forecast = if month == BillingPeriod::containing(today) {
            Some(forecast::current_month(&mut scope, today, metric).await?)
        } else {
            None
        };
        let mut periods = Vec::new();
        for integration in integrations::list(&mut scope).await? {
            if !integration.status.is_live() {
                continue;
            }
            let view = crate::api::integration_view(&state, &mut scope, &integration).await?;
            periods.extend(period_statuses(
                &integration.integration_id.to_string(),
                &view,
            ));
        }
        let sources = cost_sources::account_sources(&mut scope).await?;
        scope.commit().await?;
        Ok::<_, StoreError>((by_service, by_account, by_day, forecast, periods, sources))
    }
    .await
    // Every store failure here, a missing row too, is the server's: the page names no row.
    .map_err(ConsoleError::internal)?;
    let (bars, chart_width) = chart(&by_day);
    let page = CostsPage {
        nav: user.nav(csrf),
        month: month.to_string(),
        previous: month.previous().to_string(),
        next: month.next().to_string(),
        metric: metric.as_str(),
        currency: by_service
            .currencies
            .first()
            .cloned()
            .unwrap_or_else(|| "USD".into()),
        total: by_service.total.round_dp(2).to_string(),
        by_service: lines(&by_service),
        by_account: lines(&by_account),
        bars,
        chart_width,
        forecast: forecast.map(|f| Forecast {
            month_to_date: f.forecast.month_to_date.round_dp(2).to_string(),
            forecast: f.forecast.forecast.round_dp(2).to_string(),
            days_elapsed: f.forecast.days_elapsed,
            days_left: f.forecast.days_in_month - f.forecast.days_elapsed - 1,
        }),
        periods,
        preliminary: by_service.source == CostSource::CostExplorer,
        sources: sources
            .into_iter()
            .map(|s| SourceLine {
                account: s.usage_account_id,
                integration: s.integration_id.to_string(),
                period: s.billing_period.format("%Y-%m").to_string(),
                others: s.also_reported_by.iter().map(|i| i.to_string()).collect(),
            })
            .collect(),
        error,
    };
    render(Some(token), StatusCode::OK, &page)
}

/// Groups by amount, largest first, with their share of the largest.
fn lines(answer: &CostAnswer) -> Vec<Line> {
    let mut rows: Vec<_> = answer.rows.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.amount));
    let largest = rows.first().map(|r| r.amount).unwrap_or_default();
    rows.into_iter()
        .map(|r| Line {
            label: r.keys.first().cloned().flatten().unwrap_or_default(),
            preliminary: r.source == CostSource::CostExplorer,
            amount: r.amount.round_dp(2).to_string(),
            percent: share(r.amount, largest),
        })
        .collect()
}

/// `part` as a whole percentage of `whole` (0 when either is not positive).
fn share(part: Decimal, whole: Decimal) -> u32 {
    if whole <= Decimal::ZERO || part <= Decimal::ZERO {
        return 0;
    }
    let percent = (part * Decimal::from(100) / whole).round();
    u32::try_from(percent.mantissa()).unwrap_or(100).min(100)
}

/// One bar per day with a cost, scaled to the tallest day.
fn chart(by_day: &CostAnswer) -> (Vec<Bar>, u32) {
    let tallest = by_day
        .rows
        .iter()
        .map(|r| r.amount)
        .max()
        .unwrap_or_default();
    let bars: Vec<Bar> = by_day
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let height = share(r.amount, tallest) * CHART_HEIGHT / 100;
            let day = r.keys.first().cloned().flatten().unwrap_or_default();
            Bar {
                x: u32::try_from(i).unwrap_or(0) * (BAR_WIDTH + 4),
                y: CHART_HEIGHT - height,
                height,
                title: format!("{day}: {}", r.amount.round_dp(2)),
            }
        })
        .collect();
    let width = u32::try_from(bars.len()).unwrap_or(0) * (BAR_WIDTH + 4);
    (bars, width.max(BAR_WIDTH))
}

fn period_statuses(integration: &str, view: &IntegrationOut) -> Vec<PeriodStatus> {
    view.cur
        .periods
        .iter()
        .map(|p| PeriodStatus {
            integration: integration.to_string(),
            period: p.period.clone(),
            status: p.status.clone(),
            rows: p.rows.map(|r| r.to_string()).unwrap_or_default(),
            ingested_at: p.ingested_at.clone().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_whole_percentages_of_the_largest() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(share(d("50"), d("200")), 25);
        assert_eq!(share(d("200"), d("200")), 100);
        assert_eq!(share(d("-3"), d("200")), 0);
        assert_eq!(share(d("1"), d("0")), 0);
        assert_eq!(share(d("0.004"), d("1")), 0);
    }
}
