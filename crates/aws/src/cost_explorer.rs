//! Cost Explorer through a role session: one page of daily costs by linked account and service
//! (ce:GetCostAndUsage), the history shown before the first CUR arrives.
//!
//! One call is one request, and each costs the customer $0.01: the caller pages by
//! [`CostExplorerPage::next_page_token`] itself, so that it can count and cap them.

use crate::error::{self, AwsError, Target};
use crate::session::RoleSession;
use aws_sdk_costexplorer::types::{
    DateInterval, Granularity, GroupDefinition, GroupDefinitionType,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The metrics read, in the order of [`CostExplorerCost`]'s amounts.
const METRICS: [&str; 3] = ["UnblendedCost", "NetUnblendedCost", "AmortizedCost"];

/// One day's cost of one linked account and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostExplorerCost {
    /// The usage day.
    pub day: NaiveDate,
    /// The linked (usage) account.
    pub account_id: String,
    /// Cost Explorer's service name, e.g. `Amazon Elastic Compute Cloud - Compute`.
    pub service: String,
    /// The unit of the amounts, e.g. `USD`.
    pub currency: String,
    /// UnblendedCost.
    pub unblended: Decimal,
    /// NetUnblendedCost.
    pub net_unblended: Decimal,
    /// AmortizedCost.
    pub amortized: Decimal,
}

/// One answer of GetCostAndUsage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostExplorerPage {
    /// The costs of the page (zero amounts left out).
    pub costs: Vec<CostExplorerCost>,
    /// Where the next page starts, if there is one.
    pub next_page_token: Option<String>,
}

impl RoleSession {
    /// One page of the daily costs from `start` to `end` (exclusive) grouped by LINKED_ACCOUNT
    /// and SERVICE, starting at `page_token`.
    pub async fn cost_and_usage_page(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        page_token: Option<&str>,
    ) -> Result<CostExplorerPage, AwsError> {
        self.ensure_live()?;
        let mut request = self
            .inner
            .cost_explorer
            .get_cost_and_usage()
            .time_period(
                DateInterval::builder()
                    .start(start.format("%Y-%m-%d").to_string())
                    .end(end.format("%Y-%m-%d").to_string())
                    .build()
                    .map_err(|e| invalid(&e.to_string()))?,
            )
            .granularity(Granularity::Daily)
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Dimension)
                    .key("LINKED_ACCOUNT")
                    .build(),
            )
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Dimension)
                    .key("SERVICE")
                    .build(),
            );
        for m in METRICS {
            request = request.metrics(m);
        }
        if let Some(token) = page_token {
            request = request.next_page_token(token);
        }
        let out = request
            .send()
            .await
            .map_err(|e| error::from_sdk("ce", "GetCostAndUsage", Target::Session, e))?;
        let mut page = CostExplorerPage {
            costs: Vec::new(),
            next_page_token: out.next_page_token.filter(|t| !t.is_empty()),
        };
        for by_time in out.results_by_time.unwrap_or_default() {
            let day = by_time
                .time_period
                .as_ref()
                .and_then(|p| NaiveDate::parse_from_str(p.start(), "%Y-%m-%d").ok())
                .ok_or_else(|| invalid("a ResultsByTime without a TimePeriod Start date"))?;
            for group in by_time.groups.unwrap_or_default() {
                let keys = group.keys.unwrap_or_default();
                let [account, service] = keys.as_slice() else {
                    return Err(invalid("a group without its two keys (account, service)"));
                };
                let metrics = group.metrics.unwrap_or_default();
                let mut amounts = [Decimal::ZERO; 3];
                let mut currency = None;
                for (slot, name) in amounts.iter_mut().zip(METRICS) {
                    let Some(value) = metrics.get(name) else {
                        continue;
                    };
                    let amount = value.amount.as_deref().unwrap_or("0");
                    *slot = Decimal::from_str(amount)
                        .or_else(|_| Decimal::from_scientific(amount))
                        .map_err(|_| invalid(&format!("{name} amount {amount:?}")))?;
                    if currency.is_none() {
                        currency = value.unit.clone();
                    }
                }
                if amounts.iter().all(Decimal::is_zero) {
                    continue;
                }
                page.costs.push(CostExplorerCost {
                    day,
                    account_id: account.clone(),
                    service: service.clone(),
                    currency: currency.unwrap_or_else(|| "USD".to_string()),
                    unblended: amounts[0],
                    net_unblended: amounts[1],
                    amortized: amounts[2],
                });
            }
        }
        Ok(page)
    }
}

fn invalid(what: &str) -> AwsError {
    AwsError::InvalidResponse {
        service: "ce",
        operation: "GetCostAndUsage",
        what: what.to_string(),
    }
}
