//! Queue benchmark (`make bench`, or `cargo bench -p costline-jobs --bench queue`).
//!
//! On an ephemeral PostgreSQL (the test kit's), for 1, 4 and 16 concurrent workers in one pool:
//! - throughput: a backlog of no-op jobs spread over 10 workspaces, drained from a cold start;
//! - latency: no-op jobs enqueued one by one at a steady rate below capacity into an idle,
//!   running pool; p50/p99 of the time from enqueue (`created_at`) to start (`started_at`).
//!
//! Also 4 worker processes × 4 (the test worker binary) on the throughput backlog, to show the
//! cost of claims contending across processes. Sizes: COSTLINE_BENCH_JOBS (default 3000),
//! COSTLINE_BENCH_LATENCY_JOBS (default 300).

use async_trait::async_trait;
use costline_domain::WorkspaceId;
use costline_jobs::{JobContext, JobError, JobHandler, JobKind, PoolConfig, WorkerPool};
use costline_store::jobs::{self, NewJob};
use costline_store::workspaces::{self, Owner};
use costline_store::Store;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

const NOOP: JobKind = JobKind::from_static("test.noop");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(concurrency: usize) -> PoolConfig {
    PoolConfig {
        concurrency,
        kind_limits: BTreeMap::new(),
        poll_interval: Duration::from_millis(500),
        run_schedules: false,
        ..PoolConfig::default()
    }
}

async fn make_workspaces(store: &Store, n: usize) -> Vec<WorkspaceId> {
    let mut out = Vec::new();
    for i in 0..n {
        let email = format!("bench{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        out.push(
            workspaces::create_with_owner(store, &format!("bench {i}"), Owner::ByEmail(&email))
                .await
                .unwrap()
                .workspace_id,
        );
    }
    out
}

async fn enqueue_backlog(store: &Store, workspaces: &[WorkspaceId], total: usize) {
    let per = total / workspaces.len();
    for ws in workspaces {
        let mut scope = store.scoped(*ws).await.unwrap();
        for _ in 0..per {
            jobs::enqueue(&mut scope, &NewJob::new(NOOP.as_str()), chrono::Utc::now())
                .await
                .unwrap();
        }
        scope.commit().await.unwrap();
    }
}

async fn count(store: &Store, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = $1")
        .bind(status)
        .fetch_one(store.system())
        .await
        .unwrap()
}

async fn wait_all_succeeded(store: &Store, total: i64) {
    while count(store, "succeeded").await < total {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn reset(store: &Store) {
    sqlx::query("DELETE FROM jobs")
        .execute(store.system())
        .await
        .unwrap();
    sqlx::query("VACUUM ANALYZE jobs")
        .execute(store.system())
        .await
        .ok();
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn start_delays_ms(store: &Store) -> Vec<f64> {
    let mut v: Vec<f64> = sqlx::query_scalar(
        "SELECT (extract(epoch FROM started_at - created_at) * 1000)::float8 FROM jobs WHERE started_at IS NOT NULL",
    )
    .fetch_all(store.system())
    .await
    .unwrap();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

struct Row {
    setup: String,
    jobs_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn in_process(
    store: &Store,
    workspaces: &[WorkspaceId],
    concurrency: usize,
    backlog: usize,
    latency_jobs: usize,
) -> Row {
    reset(store).await;
    let pool = WorkerPool::builder(store.clone(), config(concurrency))
        .register(NOOP, Noop)
        .build()
        .unwrap();

    // Throughput: drain a backlog.
    enqueue_backlog(store, workspaces, backlog).await;
    let total = count(store, "queued").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    let run = tokio::spawn({
        let pool = pool.clone();
        let stop = stop.clone();
        async move { pool.run(stop.cancelled_owned()).await }
    });
    wait_all_succeeded(store, total).await;
    let jobs_per_sec = total as f64 / started.elapsed().as_secs_f64();

    // Latency: steady arrivals into the idle pool (it keeps running, LISTENing).
    reset(store).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..latency_jobs {
        let ws = workspaces[i % workspaces.len()];
        let mut scope = store.scoped(ws).await.unwrap();
        jobs::enqueue(&mut scope, &NewJob::new(NOOP.as_str()), chrono::Utc::now())
            .await
            .unwrap();
        scope.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_all_succeeded(store, latency_jobs as i64).await;
    let delays = start_delays_ms(store).await;
    stop.cancel();
    run.await.unwrap().unwrap();
    Row {
        setup: format!("1 process x {concurrency}"),
        jobs_per_sec,
        p50_ms: percentile(&delays, 0.5),
        p99_ms: percentile(&delays, 0.99),
    }
}

async fn processes(
    db: &costline_testkit::TestDb,
    store: &Store,
    workspaces: &[WorkspaceId],
    n: usize,
    concurrency: usize,
    backlog: usize,
) -> Row {
    reset(store).await;
    enqueue_backlog(store, workspaces, backlog).await;
    let total = count(store, "queued").await;
    let exe = std::env::var("CARGO_BIN_EXE_costline-jobs-testworker")
        .ok()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            // cargo bench sets no CARGO_BIN_EXE_ for benches at run time: the binary sits beside
            // the bench's deps directory.
            let me = std::env::current_exe().unwrap();
            me.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("costline-jobs-testworker")
        });
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..n {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("--database-url")
            .arg(db.url())
            .arg("--worker-id")
            .arg(format!("bench-{i}"))
            .arg("--concurrency")
            .arg(concurrency.to_string())
            .stdout(std::process::Stdio::null());
        children.push(costline_testkit::ChildGuard::spawn(cmd).expect("spawn the test worker"));
    }
    wait_all_succeeded(store, total).await;
    let elapsed = started.elapsed();
    drop(children);
    let delays = start_delays_ms(store).await;
    Row {
        setup: format!("{n} processes x {concurrency}"),
        jobs_per_sec: total as f64 / elapsed.as_secs_f64(),
        // A backlog's start delays measure queueing, not dispatch; shown for completeness.
        p50_ms: percentile(&delays, 0.5),
        p99_ms: percentile(&delays, 0.99),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means "not this one".
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"queue".contains(a.as_str()))
    {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let backlog = env_usize("COSTLINE_BENCH_JOBS", 3000);
        let latency_jobs = env_usize("COSTLINE_BENCH_LATENCY_JOBS", 300);
        let db = costline_testkit::fresh_store().await;
        let store = Store::connect(db.connect_options(), 48);
        let workspaces = make_workspaces(&store, 10).await;
        println!("queue bench: {backlog} no-op jobs over 10 workspaces (throughput), {latency_jobs} arrivals every ~5ms (latency)");
        let mut rows = Vec::new();
        for concurrency in [1, 4, 16] {
            rows.push(in_process(&store, &workspaces, concurrency, backlog, latency_jobs).await);
        }
        rows.push(processes(&db, &store, &workspaces, 4, 4, backlog).await);
        println!("{:<20} {:>12} {:>18} {:>18}", "workers", "jobs/s", "enqueue->start p50", "p99");
        for r in &rows {
            println!(
                "{:<20} {:>12.0} {:>15.1} ms {:>15.1} ms",
                r.setup, r.jobs_per_sec, r.p50_ms, r.p99_ms
            );
        }
        println!("(the last row's delays are over a backlog drained from a cold start: queueing time, not dispatch)");
        store.close().await;
    });
}
