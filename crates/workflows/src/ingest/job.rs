//! The `ingest_period` handler: one billing period from plan to served assembly.
//!
//! The job's plan comes from its payload (what `poll_cur` found) or, for a support backfill, from
//! listing the bucket again. Then [`ingest`] marks the period `ingesting` (readers keep the served
//! assembly), loads the files into a staging table (`super::load`) and swaps it in with the
//! period's rollups (`costline_store::cur::swap_period`). A failure drops the staging table; it
//! is retried while it is transient and attempts are left, and otherwise recorded on the period
//! with the file named. A swap refused because a newer assembly started (or the integration was
//! revoked) ends the job quietly. Every outcome is then told to a backfill's admins
//! (`super::notices`).

use super::error::IngestError;
use super::load::{load, RollupInputs};
use super::notices::{notify_backfill, notify_first_report};
use super::plan::{IngestPayload, IngestPlan};
use crate::poll_cur::{cur_location, discover_periods};
use crate::{aws_failure, live_session, load_live_integration, Workflows};
use async_trait::async_trait;
use costline_aws::RoleSession;
use costline_domain::{BillingPeriod, IntegrationId};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::cur::{self, AssemblyInfo, FileRecord};
use costline_store::jobs::JobProgress;
use costline_store::{integrations, StoreError};
use std::time::Instant;

/// Handler of [`costline_domain::job_kinds::INGEST_PERIOD`].
pub(crate) struct IngestPeriod(pub(crate) Workflows);

#[async_trait]
impl JobHandler for IngestPeriod {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let result = self.ingest_job(job).await;
        if let (Some(integration), Some(period)) = (job.integration_id(), job.billing_period()) {
            notify_backfill(self.0.store(), job, integration, period, &result).await?;
        }
        result
    }
}

impl IngestPeriod {
    async fn ingest_job(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(period) = job.billing_period() else {
            return Err(JobError::permanent(
                "this ingest job names no billing period",
            ));
        };
        let Some(live) = load_live_integration(wf, job).await? else {
            return Ok(());
        };
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let integration = integrations::get(&mut scope, live.id).await?;
        scope.commit().await?;
        let Some(location) = cur_location(&integration) else {
            return Err(JobError::permanent(
                "the integration has no Cost and Usage Report location: connect it with `cur`",
            ));
        };
        let session = live_session(wf, job, live.id, &live.role, &live.external_id)
            .await?
            .map_err(|e| aws_failure(job, e))?;
        let payload: IngestPayload = job.payload_as()?;
        let plan = match payload.plan {
            Some(plan) => plan,
            None => {
                let found = discover_periods(&session, &location)
                    .await
                    .map_err(|e| JobError::retryable(e.to_string()))?;
                let Some((p, files)) = found.into_iter().find(|(p, _)| p.period == period) else {
                    return Err(JobError::permanent(format!(
                        "no report delivery for billing period {period} under s3://{}/{}/{}",
                        location.bucket, location.prefix, location.report_name
                    )));
                };
                IngestPlan::new(&location.bucket, &p, files)
            }
        };
        ingest(wf, job, &session, live.id, period, &plan).await
    }
}

/// Ingests `plan` as `period`'s newest assembly: begin the period, load, then swap or fail it.
async fn ingest(
    wf: &Workflows,
    job: &JobContext,
    session: &RoleSession,
    integration: IntegrationId,
    period: BillingPeriod,
    plan: &IngestPlan,
) -> Result<(), JobError> {
    let store = wf.store();
    let ws = job.workspace_id();
    let mut scope = store.scoped(ws).await?;
    cur::begin_period(
        &mut scope,
        integration,
        period,
        &AssemblyInfo {
            assembly_id: &plan.assembly_id,
            format: &plan.format_name(),
            files: plan.files.len() as i32,
            bytes: plan.total_bytes() as i64,
        },
        job.now(),
    )
    .await?;
    // The workspace's tag keys and the inventory's resources, rolled up while parsing.
    let sums = RollupInputs {
        tag_keys: cur::tag_keys(&mut scope).await?,
        known: std::sync::Arc::new(
            costline_store::resources::known_resources(&mut scope, integration).await?,
        ),
    };
    scope.commit().await?;

    let started = Instant::now();
    let outcome = load(store, job, session, integration, period, plan, &sums).await;
    let (staging, files, rollups) = match outcome {
        Ok(done) => done,
        Err((staging, e)) => {
            if let Some(s) = &staging {
                if let Err(drop_err) = cur::drop_staging(store, s).await {
                    tracing::warn!(error = %drop_err, table = s.table(), "could not drop a failed ingest's table; the next attempt drops it");
                }
            }
            let message = match judge(&e, job.attempt(), job.max_attempts()) {
                Failed::Cancelled => return Err(JobError::Cancelled),
                Failed::Retry(message) => return Err(JobError::retryable(message)),
                Failed::ForGood(message) => message,
            };
            let mut scope = store.scoped(ws).await?;
            cur::fail_period(
                &mut scope,
                integration,
                period,
                &plan.assembly_id,
                &message,
                job.now(),
            )
            .await?;
            scope.commit().await?;
            tracing::warn!(integration_id = %integration, %period, error = %message, "billing period failed");
            return Err(JobError::permanent(message));
        }
    };

    let loaded_in = started.elapsed();
    job.report_progress(&progress("swapping in the new assembly", &files, plan))
        .await?;
    let swapped = match cur::swap_period(store, &staging, &files, &rollups, job.now()).await {
        Ok(s) => s,
        Err(e) => {
            let _ = cur::drop_staging(store, &staging).await;
            return Err(match e {
                // A newer assembly started meanwhile, or the integration's data was deleted.
                StoreError::Conflict(m) => {
                    tracing::info!(integration_id = %integration, %period, reason = %m, "ingest superseded");
                    return Ok(());
                }
                other => other.into(),
            });
        }
    };
    // Fresh planner statistics for the rollups, off the job's path: the period is already
    // served, and autovacuum would refresh them later anyway.
    let analyzing = store.clone();
    tokio::spawn(async move {
        if let Err(e) = cur::analyze_rollups(&analyzing).await {
            tracing::warn!(error = %e, "could not refresh the rollups' statistics; autovacuum will");
        }
    });
    job.report_progress(&progress("done", &files, plan)).await?;
    tracing::info!(
        integration_id = %integration,
        %period,
        rows = swapped.rows,
        files = files.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        load_ms = loaded_in.as_millis() as u64,
        "billing period ingested"
    );
    notify_first_report(store, job, integration, period, swapped.rows).await?;
    Ok(())
}

/// What a failed load means for the job.
#[derive(Debug, PartialEq, Eq)]
enum Failed {
    /// The job was cancelled (or lost its lease): nothing is recorded.
    Cancelled,
    /// Transient, with attempts left: the job runs again, the period stays `ingesting`.
    Retry(String),
    /// The period fails with this message; the served assembly stays.
    ForGood(String),
}

/// Judges a failed load on attempt `attempt` of `max_attempts`.
fn judge(e: &IngestError, attempt: i32, max_attempts: i32) -> Failed {
    if matches!(e, IngestError::Stopped) {
        return Failed::Cancelled;
    }
    let message = e.to_string();
    if e.is_retryable() && attempt < max_attempts {
        Failed::Retry(message)
    } else {
        Failed::ForGood(message)
    }
}

/// Progress once the files are loaded: `step`, the files done and their rows and bytes.
fn progress(step: &str, files: &[FileRecord], plan: &IngestPlan) -> JobProgress {
    JobProgress {
        step: Some(step.to_owned()),
        files_done: files.len() as u64,
        files_total: Some(plan.files.len() as u64),
        rows: files.iter().map(|f| f.rows as u64).sum(),
        bytes: files.iter().map(|f| f.bytes as u64).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::PlannedFile;

    fn plan(files: usize) -> IngestPlan {
        IngestPlan {
            bucket: "acme-cur".into(),
            assembly_id: "asm-1".into(),
            report_kind: "legacy_cur".into(),
            file_format: "csv_gzip".into(),
            files: (0..files)
                .map(|n| PlannedFile {
                    key: format!("r-{n}.csv.gz"),
                    size: 10,
                })
                .collect(),
            missing: vec![],
        }
    }

    #[test]
    fn a_stopped_load_is_a_cancellation_and_transient_ones_are_retried_while_they_may() {
        assert_eq!(judge(&IngestError::Stopped, 1, 3), Failed::Cancelled);
        let spool = IngestError::Spool {
            bucket: "acme-cur".into(),
            key: "r-1.parquet".into(),
            source: std::io::Error::other("disk full"),
        };
        let message = spool.to_string();
        assert_eq!(judge(&spool, 2, 3), Failed::Retry(message.clone()));
        assert_eq!(judge(&spool, 3, 3), Failed::ForGood(message));
        let zip = IngestError::File {
            bucket: "acme-cur".into(),
            key: "r-1.csv.zip".into(),
            source: costline_cur::CurError::Zip("the archive holds 0 files".into()),
        };
        assert_eq!(judge(&zip, 1, 3), Failed::ForGood(zip.to_string()));
    }

    #[test]
    fn progress_sums_the_loaded_files() {
        let files = [
            FileRecord {
                key: "r-0.csv.gz".into(),
                file_no: 0,
                bytes: 100,
                rows: 7,
            },
            FileRecord {
                key: "r-1.csv.gz".into(),
                file_no: 1,
                bytes: 50,
                rows: 3,
            },
        ];
        assert_eq!(
            progress("done", &files, &plan(3)),
            JobProgress {
                step: Some("done".into()),
                files_done: 2,
                files_total: Some(3),
                rows: 10,
                bytes: 150,
            }
        );
    }
}
