//! Loading a period's files into its staging table: a few files at once, each streamed from S3
//! through its own parser thread (`super::parse`) into its own `COPY` connection.
//!
//! [`load`] checks the plan first (no missing file), creates the staging table, and
//! reads at most [`PARALLEL_FILES`] files at once. Each file hands its rollup builder back when
//! it finishes, to the next file, so at most that many builders exist; they are merged at the
//! end. A failure stops the other files at their next chunk, and the first real failure is the
//! one reported. Memory per file is [`CHUNKS_IN_FLIGHT`] chunks plus the parser's buffers,
//! whatever the file's size; Parquet and ZIP are spooled to an unnamed temporary file first (a
//! Parquet footer and a ZIP directory come last). Progress is written every [`PROGRESS_EVERY`]
//! and after each file.

use super::error::IngestError;
use super::parse::{parse, Counting, ParseError, Source};
use super::plan::{IngestPlan, PlannedFile};
use costline_aws::{AwsError, RoleSession};
use costline_cur::discovery::FileFormat;
use costline_cur::CurError;
use costline_domain::{BillingPeriod, IntegrationId};
use costline_jobs::JobContext;
use costline_store::cur::{self, FileRecord, LineItemCopy, Staging};
use costline_store::jobs::JobProgress;
use costline_store::line_items::{CopyEncoder, SealedChunk};
use costline_store::rollups::{KnownResources, PeriodRollups, RollupBuilder, DEFAULT_MAX_GROUPS};
use costline_store::{Store, StoreError};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::io::SyncIoBridge;

/// Files read at once by one ingest job (each holds one COPY connection).
pub const PARALLEL_FILES: usize = 2;
/// Line item chunks buffered between a parser and its COPY.
const CHUNKS_IN_FLIGHT: usize = 2;
/// How often progress is written while a file is read.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Shared counters of the files being read, for progress reports.
#[derive(Default)]
pub(super) struct Counters {
    files_done: AtomicU64,
    pub(super) rows: AtomicU64,
    bytes: AtomicU64,
}

/// The loaded staging table, its files in order and the period's rollups; or the error, with the
/// staging table when one was created (the caller drops it).
pub(super) type LoadResult =
    Result<(Staging, Vec<FileRecord>, PeriodRollups), (Option<Staging>, IngestError)>;

/// Loads every file of `plan` into a new staging table of `period`.
/// What the period's rollups are summed by while parsing: the workspace's tag keys and the
/// inventory's resources.
pub(super) struct RollupInputs {
    pub(super) tag_keys: Vec<String>,
    pub(super) known: Arc<KnownResources>,
}

pub(super) async fn load(
    store: &Store,
    job: &JobContext,
    session: &RoleSession,
    integration: IntegrationId,
    period: BillingPeriod,
    plan: &IngestPlan,
    sums: &RollupInputs,
) -> LoadResult {
    let builder = || {
        RollupBuilder::new(&sums.tag_keys, DEFAULT_MAX_GROUPS).with_resources(sums.known.clone())
    };
    check_plan(plan).map_err(|e| (None, e))?;
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
    let shared = Shared {
        store,
        job,
        session,
        bucket: &plan.bucket,
        staging: &staging,
        stop: &stop,
        counters: &counters,
        files_total: plan.files.len() as u64,
    };
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
                &shared,
                file,
                file_no as u32,
                idle_rollups.pop().unwrap_or_else(builder),
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
    let files = match gather(results, plan.files.len()) {
        Ok(files) => files,
        Err(e) => return Err((Some(staging), e)),
    };
    let mut rollups = idle_rollups.pop().unwrap_or_else(builder);
    for other in idle_rollups {
        rollups.merge(other, 2 * DEFAULT_MAX_GROUPS);
    }
    if rollups.overflowed() {
        tracing::info!(%integration, %period, "rollups exceed the worker's limits: PostgreSQL computes them from the loaded rows");
    } else if rollups.resources_overflowed() {
        tracing::info!(%integration, %period, "resource costs exceed the worker's limits: PostgreSQL computes them from the loaded rows");
    }
    Ok((staging, files, rollups.finish()))
}

/// What every file of the plan must pass before anything is read: the manifest's files are all
/// there.
fn check_plan(plan: &IngestPlan) -> Result<(), IngestError> {
    if let Some(key) = plan.missing.first() {
        return Err(IngestError::Missing {
            bucket: plan.bucket.clone(),
            key: key.clone(),
        });
    }
    Ok(())
}

/// The files' records in file order, or the error to report: the first real failure, not the
/// `Stopped` of the files it stopped; `Stopped` when files were stopped (the job was cancelled,
/// or progress could not be written) without one, or fewer than `planned` finished.
fn gather(
    results: Vec<Result<FileRecord, IngestError>>,
    planned: usize,
) -> Result<Vec<FileRecord>, IngestError> {
    let mut files = Vec::with_capacity(results.len());
    let mut first_error = None;
    for r in results {
        match r {
            Ok(f) => files.push(f),
            Err(IngestError::Stopped) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if files.len() != planned {
        return Err(IngestError::Stopped);
    }
    files.sort_by_key(|f| f.file_no);
    Ok(files)
}

/// What every file of one load shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    store: &'a Store,
    job: &'a JobContext,
    session: &'a RoleSession,
    bucket: &'a str,
    staging: &'a Staging,
    /// Set when a file fails: the others stop at their next chunk.
    stop: &'a Arc<AtomicBool>,
    counters: &'a Arc<Counters>,
    files_total: u64,
}

/// [`load_file`] unless the ingest is stopping; a failure stops the other files.
async fn one_file(
    shared: &Shared<'_>,
    file: &PlannedFile,
    file_no: u32,
    rollups: RollupBuilder,
) -> Result<(FileRecord, RollupBuilder), IngestError> {
    let stop = shared.stop;
    if stop.load(Ordering::Relaxed) {
        return Err(IngestError::Stopped);
    }
    if shared.job.checkpoint().await.is_err() {
        stop.store(true, Ordering::Relaxed);
        return Err(IngestError::Stopped);
    }
    let r = load_file(shared, file, file_no, rollups).await;
    if r.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    r
}

/// Reads one file into the staging table through its own COPY, adding its line items to
/// `file_rollups`, which it hands back.
async fn load_file(
    shared: &Shared<'_>,
    file: &PlannedFile,
    file_no: u32,
    file_rollups: RollupBuilder,
) -> Result<(FileRecord, RollupBuilder), IngestError> {
    let Shared {
        store,
        job,
        session,
        bucket,
        staging,
        stop,
        counters,
        files_total,
    } = *shared;
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
            source: Box::new(source),
        },
    };
    let object = session
        .get_object_stream(bucket, &file.key)
        .await
        .map_err(aws_err)?;
    let format = FileFormat::from_key(&file.key);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let source = if matches!(format, Some(FileFormat::Parquet | FileFormat::CsvZip)) {
        // A Parquet footer and a ZIP directory come last: spool the object to an unnamed
        // temporary file.
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
        if format == Some(FileFormat::CsvZip) {
            Source::Zip(std_file)
        } else {
            Source::Parquet(std_file)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(keys: &[&str], missing: &[&str]) -> IngestPlan {
        IngestPlan {
            bucket: "acme-cur".into(),
            assembly_id: "asm-1".into(),
            report_kind: "legacy_cur".into(),
            file_format: "csv_gzip".into(),
            files: keys
                .iter()
                .map(|k| PlannedFile {
                    key: k.to_string(),
                    size: 10,
                })
                .collect(),
            missing: missing.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn record(file_no: i32) -> FileRecord {
        FileRecord {
            key: format!("cur/r/a/r-{file_no}.csv.gz"),
            file_no,
            bytes: 10,
            rows: 2,
        }
    }

    fn missing(key: &str) -> IngestError {
        IngestError::Missing {
            bucket: "acme-cur".into(),
            key: key.into(),
        }
    }

    #[test]
    fn a_plan_with_a_missing_file_is_refused_before_reading() {
        assert!(check_plan(&plan(
            &["r-1.csv.gz", "r-2.snappy.parquet", "r-3.csv.zip"],
            &[]
        ))
        .is_ok());
        match check_plan(&plan(&["r-1.csv.gz"], &["r-2.csv.gz", "r-3.csv.gz"])) {
            Err(IngestError::Missing { key, .. }) => assert_eq!(key, "r-2.csv.gz"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finished_files_come_back_in_file_order() {
        let files = gather(vec![Ok(record(2)), Ok(record(0)), Ok(record(1))], 3).unwrap();
        let order: Vec<i32> = files.iter().map(|f| f.file_no).collect();
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn the_first_real_failure_is_named_not_the_files_it_stopped() {
        let results = vec![
            Ok(record(0)),
            Err(IngestError::Stopped),
            Err(missing("r-1.csv.gz")),
            Err(missing("r-2.csv.gz")),
            Err(IngestError::Stopped),
        ];
        match gather(results, 5) {
            Err(IngestError::Missing { key, .. }) => assert_eq!(key, "r-1.csv.gz"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stopped_or_unfinished_files_without_a_failure_stop_the_period() {
        let stopped = gather(vec![Ok(record(0)), Err(IngestError::Stopped)], 2);
        assert!(matches!(stopped, Err(IngestError::Stopped)), "{stopped:?}");
        let unfinished = gather(vec![Ok(record(0))], 2);
        assert!(
            matches!(unfinished, Err(IngestError::Stopped)),
            "{unfinished:?}"
        );
    }
}
