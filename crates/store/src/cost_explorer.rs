//! Cost Explorer history: the daily costs by account and service that Costline reads from a
//! management or standalone account's Cost Explorer when it connects, shown as preliminary
//! numbers until the CUR of their month is served (`crate::costs` decides, per query).
//!
//! Each GetCostAndUsage request costs the customer $0.01: [`count_request`] counts it (in its
//! own committed transaction, before the request is sent) so the count survives failures and
//! the cap holds across retries. A month's rows are replaced whole by [`replace_month`], in one
//! transaction.

use crate::{Scoped, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::IntegrationId;
use rust_decimal::Decimal;

/// Import status: requests are being made.
pub const IMPORT_IMPORTING: &str = "importing";
/// Import status: every month asked for was read.
pub const IMPORT_READY: &str = "ready";
/// Import status: the request cap stopped the import; older months were not read.
pub const IMPORT_CAPPED: &str = "capped";
/// Import status: Cost Explorer refused or failed; `error` says why.
pub const IMPORT_ERROR: &str = "error";

/// An integration's Cost Explorer import, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CostExplorerImport {
    /// `importing`, `ready`, `capped` or `error`.
    pub status: String,
    /// GetCostAndUsage requests made for the integration, ever.
    pub requests: i32,
    /// Months read.
    pub months: i32,
    /// The first day read, once a month was.
    pub first_day: Option<NaiveDate>,
    /// Why it stopped, for `capped` and `error`.
    pub error: Option<String>,
    /// When the current (or last) import started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One day's cost of one account and service, as Cost Explorer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCost {
    /// The usage day.
    pub day: NaiveDate,
    /// The usage (linked) account.
    pub usage_account_id: String,
    /// The product code (or Cost Explorer's service name where none maps).
    pub service: String,
    /// The amounts' unit, e.g. `USD`.
    pub currency: String,
    /// UnblendedCost.
    pub unblended: Decimal,
    /// NetUnblendedCost.
    pub net_unblended: Decimal,
    /// AmortizedCost.
    pub amortized: Decimal,
}

/// The integration's import, if it ever started.
pub async fn import(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<Option<CostExplorerImport>> {
    Ok(sqlx::query_as(
        "SELECT status, requests, months, first_day, error, started_at, finished_at
           FROM ce_imports WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(scope.tx())
    .await?)
}

/// Marks an import started (keeping the request count of earlier ones).
pub async fn begin_import(
    scope: &mut Scoped,
    integration: IntegrationId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ce_imports (workspace_id, integration_id, status, started_at)
         VALUES ($1, $2, 'importing', $3)
         ON CONFLICT (workspace_id, integration_id) DO UPDATE
            SET status = 'importing', error = NULL, started_at = $3, finished_at = NULL",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(integration.as_uuid())
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Counts one request about to be made, if fewer than `cap` were made: the new count, or
/// `None` when the cap is reached (nothing counted).
pub async fn count_request(
    scope: &mut Scoped,
    integration: IntegrationId,
    cap: u32,
) -> StoreResult<Option<u32>> {
    let count: Option<i32> = sqlx::query_scalar(
        "UPDATE ce_imports SET requests = requests + 1
          WHERE workspace_id = $1 AND integration_id = $2 AND requests < $3
          RETURNING requests",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(integration.as_uuid())
    .bind(i32::try_from(cap).unwrap_or(i32::MAX))
    .fetch_optional(scope.tx())
    .await?;
    Ok(count.map(|c| c.max(0) as u32))
}

/// Replaces the integration's costs of the month starting `month` with `costs` (every day of
/// them must fall in that month), all of `payer_account_id`.
pub async fn replace_month(
    scope: &mut Scoped,
    integration: IntegrationId,
    month: NaiveDate,
    payer_account_id: &str,
    costs: &[DailyCost],
) -> StoreResult<()> {
    let ws = scope.workspace_id().as_uuid();
    let next = month
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(NaiveDate::MAX);
    if costs.iter().any(|c| c.day < month || c.day >= next) {
        return Err(crate::StoreError::Conflict(format!(
            "Cost Explorer answered days outside the month {month} that was asked for"
        )));
    }
    sqlx::query(
        "DELETE FROM ce_daily_costs
          WHERE workspace_id = $1 AND integration_id = $2 AND day >= $3 AND day < $4",
    )
    .bind(ws)
    .bind(integration.as_uuid())
    .bind(month)
    .bind(next)
    .execute(scope.tx())
    .await?;
    sqlx::query(
        "INSERT INTO ce_daily_costs (workspace_id, integration_id, day, usage_account_id,
                                     payer_account_id, service, currency, unblended,
                                     net_unblended, amortized)
         SELECT $1, $2, day, account, $3, service, currency, sum(unblended),
                sum(net_unblended), sum(amortized)
           FROM unnest($4::date[], $5::text[], $6::text[], $7::text[], $8::numeric[],
                       $9::numeric[], $10::numeric[])
                AS t(day, account, service, currency, unblended, net_unblended, amortized)
          -- Two Cost Explorer services of one product code (EC2's compute and `EC2 - Other`)
          -- add up.
          GROUP BY day, account, service, currency",
    )
    .bind(ws)
    .bind(integration.as_uuid())
    .bind(payer_account_id)
    .bind(costs.iter().map(|c| c.day).collect::<Vec<_>>())
    .bind(
        costs
            .iter()
            .map(|c| c.usage_account_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(costs.iter().map(|c| c.service.as_str()).collect::<Vec<_>>())
    .bind(
        costs
            .iter()
            .map(|c| c.currency.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(costs.iter().map(|c| c.unblended).collect::<Vec<_>>())
    .bind(costs.iter().map(|c| c.net_unblended).collect::<Vec<_>>())
    .bind(costs.iter().map(|c| c.amortized).collect::<Vec<_>>())
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Ends the import: `status` with `error` (for `capped` and `error`), the months read and the
/// first day they cover.
pub async fn finish_import(
    scope: &mut Scoped,
    integration: IntegrationId,
    status: &str,
    months: u32,
    first_day: Option<NaiveDate>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE ce_imports SET status = $3, months = $4, first_day = $5, error = $6,
                finished_at = $7
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(integration.as_uuid())
    .bind(status)
    .bind(i32::try_from(months).unwrap_or(i32::MAX))
    .bind(first_day)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}
