//! `import_cost_explorer`: read the last 13 months of daily costs by account and service from
//! the Cost Explorer of a management or standalone account, so that a new customer sees
//! preliminary numbers before the first CUR (which AWS needs up to 24 hours to deliver).
//!
//! Months are read newest first, each replaced whole once all its pages are read, so a month is
//! either complete or not there. Every request is counted before it is sent (each costs the
//! customer $0.01) and the import stops at the cap (`WorkflowSettings::cost_explorer_request_cap`),
//! leaving the older months out; the console shows the count and why it stopped.

use crate::{live_session, load_live_integration, will_retry, Workflows};
use async_trait::async_trait;
use chrono::{Datelike, Months, NaiveDate};
use costline_domain::{product_code_of_ce_service, AccountType, IntegrationId};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::cost_explorer::{self, DailyCost, IMPORT_CAPPED, IMPORT_ERROR, IMPORT_READY};
use costline_store::integrations;
use costline_store::jobs::JobProgress;

/// Months of history read: the current one and the twelve before it.
pub const HISTORY_MONTHS: u32 = 13;

/// Handler of [`costline_domain::job_kinds::IMPORT_COST_EXPLORER`].
pub(crate) struct ImportCostExplorer(pub(crate) Workflows);

#[async_trait]
impl JobHandler for ImportCostExplorer {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(live) = load_live_integration(wf, job).await? else {
            return Ok(());
        };
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let integration = integrations::get(&mut scope, live.id).await?;
        scope.commit().await?;
        // Cost Explorer of a member account shows only that account, which the payer's own
        // import covers; a member connected alone waits for its CUR.
        let (Some(payer), Some(AccountType::Management | AccountType::Standalone)) =
            (integration.account_id.clone(), integration.account_type)
        else {
            return Ok(());
        };
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        cost_explorer::begin_import(&mut scope, live.id, job.now()).await?;
        scope.commit().await?;
        let session = match live_session(wf, job, live.id, &live.role, &live.external_id).await? {
            Ok(session) => session,
            Err(e) => return self.failed(job, live.id, 0, None, e).await,
        };

        let cap = wf.settings().cost_explorer_request_cap;
        let today = job.now().date_naive();
        let mut months_read = 0u32;
        let mut first_day = None;
        for (start, end) in history_months(today) {
            let mut costs = Vec::new();
            let mut token: Option<String> = None;
            loop {
                job.checkpoint().await?;
                let mut scope = wf.store().scoped(job.workspace_id()).await?;
                let counted = cost_explorer::count_request(&mut scope, live.id, cap).await?;
                scope.commit().await?;
                if counted.is_none() {
                    let message = format!(
                        "stopped at the cap of {cap} Cost Explorer requests (each costs $0.01; \
                         raise COSTLINE_COST_EXPLORER_MAX_REQUESTS to read more): months before \
                         {start} were not read"
                    );
                    return self
                        .finish(
                            job,
                            live.id,
                            IMPORT_CAPPED,
                            months_read,
                            first_day,
                            Some(&message),
                        )
                        .await;
                }
                let page = match session
                    .cost_and_usage_page(start, end, token.as_deref())
                    .await
                {
                    Ok(page) => page,
                    Err(e) => return self.failed(job, live.id, months_read, first_day, e).await,
                };
                costs.extend(page.costs.into_iter().map(|c| DailyCost {
                    day: c.day,
                    service: product_code_of_ce_service(&c.service).to_string(),
                    usage_account_id: c.account_id,
                    currency: c.currency,
                    unblended: c.unblended,
                    net_unblended: c.net_unblended,
                    amortized: c.amortized,
                }));
                token = page.next_page_token;
                if token.is_none() {
                    break;
                }
            }
            // A day outside the month asked for would be another month's: Cost Explorer
            // answers only what was asked, so such a day means a confused answer.
            costs.retain(|c| c.day >= start && c.day < end);
            job.checkpoint().await?;
            let mut scope = wf.store().scoped(job.workspace_id()).await?;
            cost_explorer::replace_month(&mut scope, live.id, start, &payer, &costs).await?;
            scope.commit().await?;
            months_read += 1;
            first_day = Some(start);
            job.report_progress(&JobProgress {
                step: Some(format!(
                    "read Cost Explorer month {}",
                    start.format("%Y-%m")
                )),
                files_done: u64::from(months_read),
                files_total: Some(u64::from(HISTORY_MONTHS)),
                rows: costs.len() as u64,
                bytes: 0,
            })
            .await?;
        }
        self.finish(job, live.id, IMPORT_READY, months_read, first_day, None)
            .await
    }
}

impl ImportCostExplorer {
    async fn finish(
        &self,
        job: &JobContext,
        integration: IntegrationId,
        status: &str,
        months: u32,
        first_day: Option<NaiveDate>,
        error: Option<&str>,
    ) -> Result<(), JobError> {
        let mut scope = self.0.store().scoped(job.workspace_id()).await?;
        cost_explorer::finish_import(
            &mut scope,
            integration,
            status,
            months,
            first_day,
            error,
            job.now(),
        )
        .await?;
        scope.commit().await?;
        tracing::info!(%integration, status, months, "Cost Explorer history read");
        Ok(())
    }

    /// A failed request: retried while attempts remain (the months read stay, and the requests
    /// made stay counted), else the import is marked failed with AWS's message.
    async fn failed(
        &self,
        job: &JobContext,
        integration: IntegrationId,
        months: u32,
        first_day: Option<NaiveDate>,
        e: costline_aws::AwsError,
    ) -> Result<(), JobError> {
        if will_retry(job, e.is_retryable()) {
            return Err(JobError::retryable(e));
        }
        let message = format!("Cost Explorer could not be read: {e}");
        self.finish(
            job,
            integration,
            IMPORT_ERROR,
            months,
            first_day,
            Some(&message),
        )
        .await?;
        Err(JobError::permanent(message))
    }
}

/// The months of history to read, newest first, as `[start, end)` days: the current month up
/// to `today` (exclusive: today's costs are not final), then the twelve before it whole.
pub fn history_months(today: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let this_month = today.with_day(1).expect("day 1 exists");
    (0..HISTORY_MONTHS)
        .filter_map(|back| {
            let start = this_month.checked_sub_months(Months::new(back))?;
            let end = if back == 0 {
                today
            } else {
                start.checked_add_months(Months::new(1))?
            };
            (start < end).then_some((start, end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn thirteen_months_newest_first_the_current_one_up_to_today() {
        let months = history_months(d("2026-12-02"));
        assert_eq!(months.len(), 13);
        assert_eq!(months[0], (d("2026-12-01"), d("2026-12-02")));
        assert_eq!(months[1], (d("2026-11-01"), d("2026-12-01")));
        assert_eq!(months[12], (d("2025-12-01"), d("2026-01-01")));
    }

    #[test]
    fn on_the_first_of_a_month_the_current_month_has_no_day_yet() {
        let months = history_months(d("2026-03-01"));
        assert_eq!(months.len(), 12);
        assert_eq!(months[0], (d("2026-02-01"), d("2026-03-01")));
        assert_eq!(months[11], (d("2025-03-01"), d("2025-04-01")));
    }
}
