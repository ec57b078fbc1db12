//! `ingest_period`: load one billing period's newest assembly into a fresh line item table and
//! swap it in with the period's rollups (`costline_store::cur`).
//!
//! Every file is streamed from S3 and parsed while it downloads: the async body is bridged into
//! a blocking parser thread (`SyncIoBridge`), which encodes rows in COPY text format into 1 MiB
//! chunks that go through a small bounded channel to the file's own `COPY` connection. Parquet
//! needs random access, so it is spooled to a temporary file first. A few files run at once.
//! Memory per file is a couple of chunks plus the parser's buffers, whatever the file's size.
//!
//! A missing or corrupt file, or a file without the required columns, fails the period with the
//! file named; the staging table is dropped and the previous assembly stays served.

use crate::poll_cur::{cur_location, discover_periods};
use crate::{load_live_integration, Workflows};
use async_trait::async_trait;
use costline_aws::{workspace_session_name, AwsError, RoleSession};
use costline_cur::discovery::{DiscoveredPeriod, FileFormat, ReportKind};
use costline_cur::{Compression, CsvReader, CurError, LineItem, ParquetReader};
use costline_domain::{BillingPeriod, IntegrationId};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::cur::{self, AssemblyInfo, FileRecord, LineItemCopy, Staging};
use costline_store::jobs::JobProgress;
use costline_store::line_items::{CopyEncoder, NewLineItem, SealedChunk, CHUNK_BYTES};
use costline_store::notifications::{self, NewNotification};
use costline_store::rollups::{PeriodRollups, RollupBuilder, DEFAULT_MAX_GROUPS};
use costline_store::{integrations, support, Store, StoreError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

/// Files read at once by one ingest job (each holds one COPY connection).
pub const PARALLEL_FILES: usize = 2;
/// Line item chunks buffered between a parser and its COPY.
const CHUNKS_IN_FLIGHT: usize = 2;
/// How often progress is written while a file is read.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The `ingest_period` payload. Without a plan (a support backfill), the period is discovered
/// again from the bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestPayload {
    /// What `poll_cur` found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<IngestPlan>,
}

/// One data file to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// S3 key.
    pub key: String,
    /// Size from the listing.
    pub size: u64,
}

/// The newest assembly of a period, as discovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestPlan {
    /// Bucket.
    pub bucket: String,
    /// Assembly (or execution) id.
    pub assembly_id: String,
    /// `legacy_cur`, `cur2`, `focus` or `data_export`.
    pub report_kind: String,
    /// `csv_gzip`, `csv`, `csv_zip` or `parquet`.
    pub file_format: String,
    /// Data files, in manifest order.
    pub files: Vec<PlannedFile>,
    /// Files the manifest names that the bucket lacks.
    #[serde(default)]
    pub missing: Vec<String>,
}

impl IngestPlan {
    /// The plan for a discovered period.
    pub fn new(bucket: &str, p: &DiscoveredPeriod, files: Vec<PlannedFile>) -> IngestPlan {
        IngestPlan {
            bucket: bucket.to_owned(),
            assembly_id: p.assembly_id.clone(),
            report_kind: match p.kind {
                ReportKind::LegacyCur => "legacy_cur",
                ReportKind::Cur2 => "cur2",
                ReportKind::Focus => "focus",
                ReportKind::UnknownDataExport => "data_export",
            }
            .to_owned(),
            file_format: match p.format {
                FileFormat::CsvGzip => "csv_gzip",
                FileFormat::CsvZip => "csv_zip",
                FileFormat::Csv => "csv",
                FileFormat::Parquet => "parquet",
            }
            .to_owned(),
            files,
            missing: p.missing_keys.clone(),
        }
    }

    fn format_name(&self) -> String {
        format!("{}_{}", self.report_kind, self.file_format)
    }

    fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Why a period could not be ingested.
#[derive(Debug, thiserror::Error)]
enum IngestError {
    #[error("the report file s3://{bucket}/{key} named by the manifest is missing: wait for AWS to finish the delivery, or check the bucket's lifecycle rules")]
    Missing { bucket: String, key: String },
    #[error("report file s3://{bucket}/{key}: {source}")]
    File {
        bucket: String,
        key: String,
        source: CurError,
    },
    #[error("report file s3://{bucket}/{key} is zip-compressed, which Costline cannot read: set the report's compression to GZIP or Parquet")]
    Zip { bucket: String, key: String },
    #[error("reading s3://{bucket}/{key}: {source}")]
    Aws {
        bucket: String,
        key: String,
        source: AwsError,
    },
    #[error("spooling s3://{bucket}/{key} to a temporary file: {source}")]
    Spool {
        bucket: String,
        key: String,
        source: std::io::Error,
    },
    #[error("report file s3://{bucket}/{key}: {read} rows read but {stored} stored")]
    Count {
        bucket: String,
        key: String,
        read: u64,
        stored: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopped")]
    Stopped,
}

impl IngestError {
    fn is_retryable(&self) -> bool {
        match self {
            IngestError::Aws { source, .. } => source.is_retryable(),
            IngestError::File {
                source: CurError::Io { .. },
                ..
            } => true,
            IngestError::Spool { .. } | IngestError::Store(_) => true,
            _ => false,
        }
    }
}

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
        let session = wf
            .gateway()
            .assume(
                &live.role,
                &live.external_id,
                &workspace_session_name(job.workspace_id()),
            )
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    JobError::retryable(e)
                } else {
                    JobError::permanent(e)
                }
            })?;
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

/// When the job belongs to a support backfill, tells the customer's admins (in-console notice
/// and email job) that the backfill completed, once its last period is ready, or that this
/// period failed for good. Retries, cancellations and ingests outside backfills say nothing.
async fn notify_backfill(
    store: &Store,
    job: &JobContext,
    integration: IntegrationId,
    period: BillingPeriod,
    result: &Result<(), JobError>,
) -> Result<(), JobError> {
    let failure = match result {
        Ok(()) => None,
        Err(JobError::Cancelled) => return Ok(()),
        Err(e) if e.is_retryable() && job.attempt() < job.max_attempts() => return Ok(()),
        Err(e) => Some(e.to_string()),
    };
    let mut scope = store.scoped(job.workspace_id()).await?;
    let Some(backfill) = support::finished_backfill(&mut scope, integration, job.job_id()).await?
    else {
        return Ok(());
    };
    let (first, last) = (
        backfill.periods.first().cloned().unwrap_or_default(),
        backfill.periods.last().cloned().unwrap_or_default(),
    );
    let range = if first == last {
        first
    } else {
        format!("{first} to {last}")
    };
    let completes = failure.is_none();
    let at = job.now();
    let (kind, message) = match failure {
        Some(error) => (
            notifications::kinds::BACKFILL_FAILED,
            format!(
                "Reingesting billing period {period} failed (backfill of {range} requested through Costline support, reference {}): {error}",
                backfill.backfill_id
            ),
        ),
        None if backfill.completed => (
            notifications::kinds::BACKFILL_COMPLETED,
            format!(
                "The backfill of {range} is complete: every period was reingested and cost views include it (reference {}).",
                backfill.backfill_id
            ),
        ),
        None => return Ok(()),
    };
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
    if completes {
        support::mark_backfill_completed(&mut scope, backfill.backfill_id, at).await?;
    }
    scope.commit().await?;
    Ok(())
}

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
    // The workspace's tag keys, rolled up while parsing.
    let tag_keys = cur::tag_keys(&mut scope).await?;
    scope.commit().await?;

    let started = Instant::now();
    let outcome = load(store, job, session, integration, period, plan, &tag_keys).await;
    let (staging, files, rollups) = match outcome {
        Ok(done) => done,
        Err((staging, e)) => {
            if let Some(s) = &staging {
                if let Err(drop_err) = cur::drop_staging(store, s).await {
                    tracing::warn!(error = %drop_err, table = s.table(), "could not drop a failed ingest's table; the next attempt drops it");
                }
            }
            if matches!(e, IngestError::Stopped) {
                return Err(JobError::Cancelled);
            }
            let message = e.to_string();
            if e.is_retryable() && job.attempt() < job.max_attempts() {
                return Err(JobError::retryable(message));
            }
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

/// Tells the workspace's admins that the integration's first report is in: an in-console notice
/// and a `notify` job that emails it when SMTP is configured. Idempotent: at most one such notice
/// exists per integration, so this runs after every successful ingest.
async fn notify_first_report(
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

fn progress(step: &str, files: &[FileRecord], plan: &IngestPlan) -> JobProgress {
    JobProgress {
        step: Some(step.to_owned()),
        files_done: files.len() as u64,
        files_total: Some(plan.files.len() as u64),
        rows: files.iter().map(|f| f.rows as u64).sum(),
        bytes: files.iter().map(|f| f.bytes as u64).sum(),
    }
}

/// Shared counters of the files being read, for progress reports.
#[derive(Default)]
struct Counters {
    files_done: AtomicU64,
    rows: AtomicU64,
    bytes: AtomicU64,
}

type LoadResult = Result<(Staging, Vec<FileRecord>, PeriodRollups), (Option<Staging>, IngestError)>;

async fn load(
    store: &Store,
    job: &JobContext,
    session: &RoleSession,
    integration: IntegrationId,
    period: BillingPeriod,
    plan: &IngestPlan,
    tag_keys: &[String],
) -> LoadResult {
    if let Some(key) = plan.missing.first() {
        return Err((
            None,
            IngestError::Missing {
                bucket: plan.bucket.clone(),
                key: key.clone(),
            },
        ));
    }
    if let Some(f) = plan
        .files
        .iter()
        .find(|f| FileFormat::from_key(&f.key) == Some(FileFormat::CsvZip))
    {
        return Err((
            None,
            IngestError::Zip {
                bucket: plan.bucket.clone(),
                key: f.key.clone(),
            },
        ));
    }
    let staging = cur::create_staging(
        store,
        job.workspace_id(),
        integration,
        period,
        &plan.assembly_id,
    )
    .await
    .map_err(|e| (None, e.into()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let total = plan.files.len() as u64;
    // At most PARALLEL_FILES files at once; an explicit loop rather than stream combinators,
    // whose closures defeat the `Send` proof the job handler's future needs.
    let mut results: Vec<Result<FileRecord, IngestError>> = Vec::with_capacity(plan.files.len());
    // Rollup builders, one per file being read, handed to the next file when one finishes (each
    // holds the period's groups seen so far: a few tens of MB), merged at the end.
    let mut idle_rollups: Vec<RollupBuilder> = Vec::with_capacity(PARALLEL_FILES);
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut next = plan.files.iter().enumerate();
    loop {
        while in_flight.len() < PARALLEL_FILES {
            let Some((file_no, file)) = next.next() else {
                break;
            };
            in_flight.push(one_file(
                store,
                job,
                session,
                &plan.bucket,
                file,
                file_no as u32,
                &staging,
                &stop,
                &counters,
                total,
                idle_rollups
                    .pop()
                    .unwrap_or_else(|| RollupBuilder::new(tag_keys, DEFAULT_MAX_GROUPS)),
            ));
        }
        match in_flight.next().await {
            Some(Ok((file, rollups))) => {
                idle_rollups.push(rollups);
                results.push(Ok(file));
            }
            Some(Err(e)) => results.push(Err(e)),
            None => break,
        }
    }
    drop(in_flight);
    let mut files = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(f) => files.push(f),
            // The file that failed first is the one to name, not the ones stopped after it.
            Err(IngestError::Stopped) => {
                if first_error.is_none() && job.is_cancelled().await {
                    first_error = Some(IngestError::Stopped);
                }
            }
            Err(e) => {
                if first_error.is_none() || matches!(first_error, Some(IngestError::Stopped)) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err((Some(staging), e));
    }
    if files.len() != plan.files.len() {
        return Err((Some(staging), IngestError::Stopped));
    }
    files.sort_by_key(|f| f.file_no);
    let mut rollups = idle_rollups
        .pop()
        .unwrap_or_else(|| RollupBuilder::new(tag_keys, DEFAULT_MAX_GROUPS));
    for other in idle_rollups {
        rollups.merge(other, 2 * DEFAULT_MAX_GROUPS);
    }
    if rollups.overflowed() {
        tracing::info!(%integration, %period, "rollups exceed the worker's limits: PostgreSQL computes them from the loaded rows");
    }
    Ok((staging, files, rollups.finish()))
}

/// [`load_file`] unless the ingest is stopping; a failure stops the other files.
#[allow(clippy::too_many_arguments)]
async fn one_file(
    store: &Store,
    job: &JobContext,
    session: &RoleSession,
    bucket: &str,
    file: &PlannedFile,
    file_no: u32,
    staging: &Staging,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
    files_total: u64,
    rollups: RollupBuilder,
) -> Result<(FileRecord, RollupBuilder), IngestError> {
    if stop.load(Ordering::Relaxed) {
        return Err(IngestError::Stopped);
    }
    if job.checkpoint().await.is_err() {
        stop.store(true, Ordering::Relaxed);
        return Err(IngestError::Stopped);
    }
    let r = load_file(
        store,
        job,
        session,
        bucket,
        file,
        file_no,
        staging,
        stop,
        counters,
        files_total,
        rollups,
    )
    .await;
    if r.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    r
}

/// Reads one file into the staging table through its own COPY, adding its line items to
/// `file_rollups`, which it hands back.
#[allow(clippy::too_many_arguments)]
async fn load_file(
    store: &Store,
    job: &JobContext,
    session: &RoleSession,
    bucket: &str,
    file: &PlannedFile,
    file_no: u32,
    staging: &Staging,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
    files_total: u64,
    file_rollups: RollupBuilder,
) -> Result<(FileRecord, RollupBuilder), IngestError> {
    let key = file.key.clone();
    let file_started = Instant::now();
    let aws_err = |source: AwsError| match source {
        AwsError::NoSuchKey { .. } => IngestError::Missing {
            bucket: bucket.to_owned(),
            key: key.clone(),
        },
        source => IngestError::Aws {
            bucket: bucket.to_owned(),
            key: key.clone(),
            source,
        },
    };
    let object = session
        .get_object_stream(bucket, &file.key)
        .await
        .map_err(aws_err)?;
    let parquet = FileFormat::from_key(&file.key) == Some(FileFormat::Parquet);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let source = if parquet {
        // Parquet's footer comes last: spool the object to an unnamed temporary file.
        let mut body = object.into_async_read();
        let spool = tempfile::tempfile().map_err(|source| IngestError::Spool {
            bucket: bucket.to_owned(),
            key: key.clone(),
            source,
        })?;
        let mut out = tokio::fs::File::from_std(spool);
        let n = tokio::io::copy_buf(&mut body, &mut out)
            .await
            .map_err(|source| IngestError::Spool {
                bucket: bucket.to_owned(),
                key: key.clone(),
                source,
            })?;
        bytes_read.store(n, Ordering::Relaxed);
        let mut std_file = out.into_std().await;
        use std::io::Seek;
        std_file.rewind().map_err(|source| IngestError::Spool {
            bucket: bucket.to_owned(),
            key: key.clone(),
            source,
        })?;
        Source::Parquet(std_file)
    } else {
        Source::Csv(Box::new(Counting {
            inner: SyncIoBridge::new(object.into_async_read()),
            n: bytes_read.clone(),
        }))
    };

    let mut copy = LineItemCopy::start(store, staging).await?;
    let (tx, mut rx) = mpsc::channel::<SealedChunk>(CHUNKS_IN_FLIGHT);
    let encoder = CopyEncoder::new(file_no);
    let cancel = job.cancellation().clone();
    let parse_stop = stop.clone();
    let parse_counters = counters.clone();
    let parser = tokio::task::spawn_blocking(move || {
        parse(
            source,
            &key,
            encoder,
            file_rollups,
            tx,
            &parse_stop,
            &cancel,
            &parse_counters,
        )
    });
    let mut sent: Result<(), StoreError> = Ok(());
    let mut last_report = Instant::now();
    while let Some(chunk) = rx.recv().await {
        if sent.is_ok() {
            sent = copy.send(&chunk).await;
            if sent.is_err() {
                // Stop the parser; the COPY error is what is reported.
                stop.store(true, Ordering::Relaxed);
            }
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            let _ = job
                .report_progress(&JobProgress {
                    step: Some("reading report files".into()),
                    files_done: counters.files_done.load(Ordering::Relaxed),
                    files_total: Some(files_total),
                    rows: counters.rows.load(Ordering::Relaxed),
                    bytes: counters.bytes.load(Ordering::Relaxed)
                        + bytes_read.load(Ordering::Relaxed),
                })
                .await;
        }
    }
    let parsed = parser.await.map_err(|e| IngestError::File {
        bucket: bucket.to_owned(),
        key: file.key.clone(),
        source: CurError::Generate(format!("parser thread failed: {e}")),
    })?;
    let (rows, file_rollups) = match (parsed, sent) {
        (Ok(done), Ok(())) => done,
        (_, Err(e)) => {
            let _ = copy.abort("the COPY failed").await;
            return Err(e.into());
        }
        (Err(e), Ok(())) => {
            let _ = copy.abort("the report file could not be read").await;
            return Err(match e {
                ParseError::Stopped => IngestError::Stopped,
                ParseError::Cur(source) => IngestError::File {
                    bucket: bucket.to_owned(),
                    key: file.key.clone(),
                    source,
                },
            });
        }
    };
    let stored = copy.finish().await?;
    if stored != rows {
        return Err(IngestError::Count {
            bucket: bucket.to_owned(),
            key: file.key.clone(),
            read: rows,
            stored,
        });
    }
    let bytes = bytes_read.load(Ordering::Relaxed);
    tracing::info!(
        key = %file.key,
        file_no,
        rows,
        bytes,
        elapsed_ms = file_started.elapsed().as_millis() as u64,
        "report file loaded"
    );
    counters.files_done.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(bytes, Ordering::Relaxed);
    job.report_progress(&JobProgress {
        step: Some("reading report files".into()),
        files_done: counters.files_done.load(Ordering::Relaxed),
        files_total: Some(files_total),
        rows: counters.rows.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
    })
    .await
    .map_err(|_| IngestError::Stopped)?;
    Ok((
        FileRecord {
            key: file.key.clone(),
            file_no: file_no as i32,
            bytes: bytes as i64,
            rows: rows as i64,
        },
        file_rollups,
    ))
}

enum Source {
    Csv(Box<dyn Read + Send>),
    Parquet(std::fs::File),
}

/// Counts the compressed bytes read from S3.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

enum ParseError {
    Cur(CurError),
    Stopped,
}

impl From<CurError> for ParseError {
    fn from(e: CurError) -> Self {
        ParseError::Cur(e)
    }
}

enum AnyReader {
    Csv(Box<CsvReader<Box<dyn Read + Send>>>),
    Parquet(Box<ParquetReader>),
}

impl AnyReader {
    fn read_into(&mut self, item: &mut LineItem) -> Result<bool, CurError> {
        match self {
            AnyReader::Csv(r) => r.read_into(item),
            AnyReader::Parquet(r) => r.read_into(item),
        }
    }
}

/// Runs on a blocking thread: parse, encode, sum the rollups, hand chunks to the COPY. Returns
/// the rows read and the file's rollups.
#[allow(clippy::too_many_arguments)]
fn parse(
    source: Source,
    key: &str,
    mut enc: CopyEncoder,
    mut rollups: RollupBuilder,
    tx: mpsc::Sender<SealedChunk>,
    stop: &AtomicBool,
    cancel: &CancellationToken,
    counters: &Counters,
) -> Result<(u64, RollupBuilder), ParseError> {
    let mut reader = match source {
        Source::Csv(r) => AnyReader::Csv(Box::new(CsvReader::with_compression(
            r,
            Compression::from_file_name(key),
        )?)),
        Source::Parquet(f) => AnyReader::Parquet(Box::new(ParquetReader::new(f)?)),
    };
    let mut item = LineItem::default();
    let mut rows: u64 = 0;
    let mut pending_rows = 0;
    while reader.read_into(&mut item)? {
        rows += 1;
        let new = new_line_item(&item);
        enc.push(rows as u32, &new);
        rollups.add(&new);
        pending_rows += 1;
        if enc.len() >= CHUNK_BYTES {
            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                return Err(ParseError::Stopped);
            }
            counters.rows.fetch_add(pending_rows, Ordering::Relaxed);
            pending_rows = 0;
            if tx.blocking_send(enc.take()).is_err() {
                return Err(ParseError::Stopped);
            }
        }
    }
    counters.rows.fetch_add(pending_rows, Ordering::Relaxed);
    if !enc.is_empty() && tx.blocking_send(enc.take()).is_err() {
        return Err(ParseError::Stopped);
    }
    Ok((rows, rollups))
}

/// The stored form of a parsed line item (borrowed from it).
pub fn new_line_item(i: &LineItem) -> NewLineItem<'_> {
    NewLineItem {
        usage_start: i.usage_start,
        usage_end: i.usage_end,
        payer_account_id: &i.payer_account_id,
        usage_account_id: &i.usage_account_id,
        line_item_type: &i.line_item_type,
        product_code: &i.product_code,
        usage_type: &i.usage_type,
        operation: &i.operation,
        region: &i.region,
        availability_zone: &i.availability_zone,
        resource_id: &i.resource_id,
        usage_amount: i.usage_amount,
        pricing_unit: &i.pricing_unit,
        unblended_rate: i.unblended_rate,
        unblended_cost: i.unblended_cost,
        net_unblended_cost: i.net_unblended_cost,
        amortized_cost: i.amortized_cost,
        net_amortized_cost: i.net_amortized_cost,
        public_on_demand_cost: i.public_on_demand_cost,
        currency: &i.currency,
        tags: &i.tags,
    }
}
