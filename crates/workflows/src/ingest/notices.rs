//! What an ingest tells the workspace's admins: that the integration's first report is in
//! (after every successful ingest; the store keeps one such notice per integration), and, for an
//! ingest that belongs to a support backfill, that the backfill completed or that its period
//! failed for good.
//!
//! Each notice is an in-console notification and a `notify` job that emails it when SMTP is
//! configured (`notifications::notify_admins_at`). A backfill's notice is decided under the
//! backfill's row lock (`support::finished_backfill`), so of two ingests finishing at once
//! exactly one announces the completion. Retries and cancellations say nothing.

use costline_domain::{BillingPeriod, IntegrationId};
use costline_jobs::{JobContext, JobError};
use costline_store::notifications::{self, NewNotification};
use costline_store::support::{self, FinishedBackfill};
use costline_store::Store;

/// When the job belongs to a support backfill, tells the customer's admins that the backfill
/// completed, once its last period is ready, or that this period failed for good.
pub(super) async fn notify_backfill(
    store: &Store,
    job: &JobContext,
    integration: IntegrationId,
    period: BillingPeriod,
    result: &Result<(), JobError>,
) -> Result<(), JobError> {
    let Some(failure) = final_outcome(result, job.attempt(), job.max_attempts()) else {
        return Ok(());
    };
    let mut scope = store.scoped(job.workspace_id()).await?;
    let Some(backfill) = support::finished_backfill(&mut scope, integration, job.job_id()).await?
    else {
        return Ok(());
    };
    let Some((kind, message)) = backfill_notice(&backfill, period, failure) else {
        return Ok(());
    };
    let at = job.now();
    notifications::notify_admins_at(
        &mut scope,
        &NewNotification {
            kind,
            integration_id: Some(integration),
            billing_period: Some(period),
            message: &message,
        },
        at,
    )
    .await?;
    if kind == notifications::kinds::BACKFILL_COMPLETED {
        support::mark_backfill_completed(&mut scope, backfill.backfill_id, at).await?;
    }
    scope.commit().await?;
    Ok(())
}

/// Tells the workspace's admins that the integration's first report is in. Idempotent: at most
/// one such notice exists per integration, so this runs after every successful ingest.
pub(super) async fn notify_first_report(
    store: &Store,
    job: &JobContext,
    integration: IntegrationId,
    period: BillingPeriod,
    rows: i64,
) -> Result<(), JobError> {
    let message = format!(
        "The first Cost and Usage Report is in: billing period {period} ({rows} line items). Cost views now include this integration."
    );
    let mut scope = store.scoped(job.workspace_id()).await?;
    notifications::notify_admins_at(
        &mut scope,
        &NewNotification {
            kind: notifications::kinds::CUR_FIRST_REPORT,
            integration_id: Some(integration),
            billing_period: Some(period),
            message: &message,
        },
        job.now(),
    )
    .await?;
    scope.commit().await?;
    Ok(())
}

/// How an attempt ended, for its backfill: `None` when it is not over (cancelled, or failed with
/// attempts left), `Some(None)` when the period is ready, `Some(Some(error))` when it failed for
/// good.
fn final_outcome(
    result: &Result<(), JobError>,
    attempt: i32,
    max_attempts: i32,
) -> Option<Option<String>> {
    match result {
        Ok(()) => Some(None),
        Err(JobError::Cancelled) => None,
        Err(e) if e.is_retryable() && attempt < max_attempts => None,
        Err(e) => Some(Some(e.to_string())),
    }
}

/// The notice's kind and message: this period's failure, or the backfill's completion once
/// every period is ready; `None` while other periods are still to come.
fn backfill_notice(
    backfill: &FinishedBackfill,
    period: BillingPeriod,
    failure: Option<String>,
) -> Option<(&'static str, String)> {
    let range = period_range(&backfill.periods);
    match failure {
        Some(error) => Some((
            notifications::kinds::BACKFILL_FAILED,
            format!(
                "Reingesting billing period {period} failed (backfill of {range} requested through Costline support, reference {}): {error}",
                backfill.backfill_id
            ),
        )),
        None if backfill.completed => Some((
            notifications::kinds::BACKFILL_COMPLETED,
            format!(
                "The backfill of {range} is complete: every period was reingested and cost views include it (reference {}).",
                backfill.backfill_id
            ),
        )),
        None => None,
    }
}

/// `2024-01 to 2024-03` for periods listed oldest first; one period alone.
fn period_range(periods: &[String]) -> String {
    let first = periods.first().cloned().unwrap_or_default();
    let last = periods.last().cloned().unwrap_or_default();
    if first == last {
        first
    } else {
        format!("{first} to {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backfill(periods: &[&str], completed: bool) -> FinishedBackfill {
        FinishedBackfill {
            backfill_id: "0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6".parse().unwrap(),
            requested_by: "support@costline.test".into(),
            periods: periods.iter().map(|p| p.to_string()).collect(),
            completed,
        }
    }

    fn march() -> BillingPeriod {
        "2024-03".parse().unwrap()
    }

    #[test]
    fn only_a_final_attempt_is_announced() {
        assert_eq!(final_outcome(&Ok(()), 1, 3), Some(None));
        assert_eq!(final_outcome(&Err(JobError::Cancelled), 3, 3), None);
        let throttled = Err(JobError::retryable("throttled"));
        assert_eq!(final_outcome(&throttled, 2, 3), None, "attempts left");
        assert_eq!(
            final_outcome(&throttled, 3, 3),
            Some(Some("throttled".into()))
        );
        let corrupt = Err(JobError::permanent("file x is corrupt"));
        assert_eq!(
            final_outcome(&corrupt, 1, 3),
            Some(Some("file x is corrupt".into()))
        );
    }

    #[test]
    fn a_failure_names_the_period_the_backfill_and_the_error() {
        let (kind, message) = backfill_notice(
            &backfill(&["2024-01", "2024-02", "2024-03"], false),
            march(),
            Some("file x is corrupt".into()),
        )
        .unwrap();
        assert_eq!(kind, notifications::kinds::BACKFILL_FAILED);
        assert_eq!(
            message,
            "Reingesting billing period 2024-03 failed (backfill of 2024-01 to 2024-03 requested \
             through Costline support, reference 0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6): file x is \
             corrupt"
        );
    }

    #[test]
    fn the_completion_is_announced_once_every_period_is_ready() {
        assert_eq!(
            backfill_notice(&backfill(&["2024-03"], false), march(), None),
            None
        );
        let (kind, message) =
            backfill_notice(&backfill(&["2024-03"], true), march(), None).unwrap();
        assert_eq!(kind, notifications::kinds::BACKFILL_COMPLETED);
        assert_eq!(
            message,
            "The backfill of 2024-03 is complete: every period was reingested and cost views \
             include it (reference 0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6)."
        );
    }

    #[test]
    fn a_range_is_its_first_and_last_period() {
        let periods = |list: &[&str]| list.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(period_range(&periods(&["2024-03"])), "2024-03");
        assert_eq!(
            period_range(&periods(&["2023-11", "2023-12", "2024-01"])),
            "2023-11 to 2024-01"
        );
        assert_eq!(period_range(&[]), "");
    }
}
