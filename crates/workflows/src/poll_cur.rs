//! `poll_cur`: list the integration's report location through its role, resolve every billing
//! period to its newest assembly (`costline_cur::discovery`), and queue an `ingest_period` for
//! each period whose newest assembly is not served yet.
//!
//! [`discover_periods`] and [`ingest_job`] are public so the support console's period listing
//! and backfill use the same rules.

use crate::ingest::{IngestPayload, IngestPlan, PlannedFile};
use crate::{live_session, load_live_integration, will_retry, Workflows};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use costline_aws::{AwsError, RoleSession};
use costline_cur::discovery::{self, DiscoveredPeriod, ReportLocation};
use costline_domain::{job_kinds, IntegrationId};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::cur;
use costline_store::integrations::{self, CurLocation};
use costline_store::jobs::{self, NewJob};
use std::collections::{BTreeMap, HashMap};

/// Manifests are small JSON documents; anything larger is not one.
const MANIFEST_MAX_BYTES: u64 = 16 << 20;

/// Why the bucket could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// S3 refused or failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A manifest does not parse.
    #[error("{0}")]
    Report(#[from] costline_cur::CurError),
}

impl PollError {
    fn is_retryable(&self) -> bool {
        matches!(self, PollError::Aws(e) if e.is_retryable())
    }
}

/// Every billing period delivered under the location, each resolved to its newest assembly,
/// oldest first, with the listing's size of every data file. When a period is found in more than
/// one layout (a report recreated as Parquet, say), the most recently written one counts.
pub async fn discover_periods(
    session: &RoleSession,
    location: &CurLocation,
) -> Result<Vec<(DiscoveredPeriod, Vec<PlannedFile>)>, PollError> {
    let loc = ReportLocation::new(location.prefix.clone(), location.report_name.clone());
    let mut listed = Vec::new();
    for base in loc.bases() {
        listed.extend(session.list_objects(&location.bucket, &base).await?);
    }
    let listing: Vec<discovery::S3Object> = listed
        .into_iter()
        .map(|o| discovery::S3Object {
            key: o.key,
            size: o.size,
            last_modified: o.last_modified.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            etag: o.etag,
        })
        .collect();
    let mut manifests = HashMap::new();
    for key in discovery::manifests_to_fetch(&loc, &listing) {
        let bytes = session
            .get_object_bytes(&location.bucket, &key, MANIFEST_MAX_BYTES)
            .await?;
        manifests.insert(key, bytes);
    }
    let sizes: HashMap<&str, u64> = listing.iter().map(|o| (o.key.as_str(), o.size)).collect();
    let mut newest: BTreeMap<_, DiscoveredPeriod> = BTreeMap::new();
    for p in discovery::discover(&loc, &listing, &manifests)? {
        match newest.get(&p.period) {
            Some(q) if q.last_modified >= p.last_modified => {}
            _ => {
                newest.insert(p.period, p);
            }
        }
    }
    Ok(newest
        .into_values()
        .map(|p| {
            let files = p
                .data_keys
                .iter()
                .map(|k| PlannedFile {
                    key: k.clone(),
                    size: sizes.get(k.as_str()).copied().unwrap_or(0),
                })
                .collect();
            (p, files)
        })
        .collect())
}

/// True while a delivery may still be uploading: its manifest names files the listing lacks,
/// or, without a manifest, a file was written less than `settle` ago. Ingesting it now would
/// serve a partial month until the complete assembly replaced it.
pub(crate) fn still_arriving(
    period: &DiscoveredPeriod,
    now: DateTime<Utc>,
    settle: std::time::Duration,
) -> bool {
    let settle = chrono::TimeDelta::from_std(settle).unwrap_or(chrono::TimeDelta::MAX);
    !period.missing_keys.is_empty()
        || (!period.from_manifest && now.signed_duration_since(period.last_modified) < settle)
}

/// The `ingest_period` job for a discovered period (its plan travels in the payload).
pub fn ingest_job(
    integration: IntegrationId,
    bucket: &str,
    period: &DiscoveredPeriod,
    files: Vec<PlannedFile>,
) -> Result<NewJob, serde_json::Error> {
    let payload = IngestPayload {
        plan: Some(IngestPlan::new(bucket, period, files)),
    };
    Ok(NewJob::new(job_kinds::INGEST_PERIOD)
        .integration(integration)
        .period(period.period)
        .payload(serde_json::to_value(payload)?))
}

/// The integration's CUR location, when it has one.
pub(crate) fn cur_location(integration: &integrations::Integration) -> Option<CurLocation> {
    Some(CurLocation {
        bucket: integration.cur_bucket.clone()?,
        prefix: integration.cur_prefix.clone().unwrap_or_default(),
        report_name: integration.cur_report_name.clone()?,
    })
}

/// Handler of [`job_kinds::POLL_CUR`].
pub(crate) struct PollCur(pub(crate) Workflows);

#[async_trait]
impl JobHandler for PollCur {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let Some(live) = load_live_integration(wf, job).await? else {
            return Ok(());
        };
        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let integration = integrations::get(&mut scope, live.id).await?;
        scope.commit().await?;
        let Some(location) = cur_location(&integration) else {
            return Ok(());
        };
        let session = live_session(wf, job, live.id, &live.role, &live.external_id).await?;
        let found = async {
            let session = session?;
            discover_periods(&session, &location).await
        }
        .await;
        job.checkpoint().await?;
        let periods = match found {
            Ok(p) => p,
            Err(e) => {
                let retry = will_retry(job, e.is_retryable());
                let message = format!(
                    "reading the Cost and Usage Reports under s3://{}/{}: {e}",
                    location.bucket,
                    ReportLocation::new(location.prefix.clone(), location.report_name.clone())
                        .base()
                );
                if !retry {
                    let mut scope = wf.store().scoped(job.workspace_id()).await?;
                    cur::record_poll(&mut scope, live.id, false, Some(&message), job.now()).await?;
                    scope.commit().await?;
                    return Err(JobError::permanent(message));
                }
                return Err(JobError::retryable(message));
            }
        };

        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let current = integrations::lock(&mut scope, live.id).await?;
        if !current.status.is_live() {
            return Ok(());
        }
        cur::record_poll(&mut scope, live.id, !periods.is_empty(), None, job.now()).await?;
        let mut queued = 0;
        for (p, files) in periods {
            if still_arriving(&p, job.now(), wf.settings().delivery_settle) {
                tracing::info!(integration_id = %live.id, period = %p.period,
                    "delivery still arriving; the next poll looks again");
                continue;
            }
            let stored = cur::period(&mut scope, live.id, p.period).await?;
            if let Some(s) = &stored {
                let served = s.live_assembly_id.as_deref() == Some(p.assembly_id.as_str())
                    && s.line_items_stored;
                // A failed assembly is not retried by polling (a corrupt file stays corrupt):
                // a new delivery or a support backfill reingests it.
                let failed = s.assembly_id == p.assembly_id && s.status == cur::PERIOD_ERROR;
                if served || failed {
                    continue;
                }
            }
            let job_spec = ingest_job(live.id, &location.bucket, &p, files)
                .map_err(|e| JobError::permanent(format!("ingest plan: {e}")))?;
            jobs::enqueue(&mut scope, &job_spec, job.now()).await?;
            queued += 1;
        }
        scope.commit().await?;
        tracing::info!(integration_id = %live.id, queued, "CUR deliveries polled");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costline_cur::discovery::{FileFormat, ReportKind, ReportLayout};

    fn period(from_manifest: bool, missing: &[&str], written: DateTime<Utc>) -> DiscoveredPeriod {
        DiscoveredPeriod {
            period: "2026-10".parse().unwrap(),
            layout: ReportLayout::LegacyDateRange,
            kind: ReportKind::LegacyCur,
            format: FileFormat::CsvGzip,
            assembly_id: "a".into(),
            from_manifest,
            manifest_key: None,
            data_keys: vec!["k".into()],
            missing_keys: missing.iter().map(|k| k.to_string()).collect(),
            total_size: 1,
            last_modified: written,
        }
    }

    #[test]
    fn deliveries_are_ingested_only_once_complete_or_quiet() {
        let now = Utc::now();
        let settle = std::time::Duration::from_secs(600);
        let minutes_ago = |m| now - chrono::TimeDelta::minutes(m);
        // Without a manifest: quiet for the settle time.
        assert!(still_arriving(
            &period(false, &[], minutes_ago(2)),
            now,
            settle
        ));
        assert!(!still_arriving(
            &period(false, &[], minutes_ago(11)),
            now,
            settle
        ));
        // With a manifest: every file it names is listed, however recent.
        assert!(!still_arriving(
            &period(true, &[], minutes_ago(0)),
            now,
            settle
        ));
        assert!(still_arriving(
            &period(true, &["late"], minutes_ago(60)),
            now,
            settle
        ));
        // Settle time zero (tests): only missing files hold a delivery back.
        assert!(!still_arriving(
            &period(false, &[], now),
            now,
            std::time::Duration::ZERO
        ));
    }
}
