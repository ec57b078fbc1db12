//! The worker pool in-process: retries and schedules under a hand-driven clock, fairness per
//! claim cycle, cancellation, heartbeats and graceful shutdown.

mod common;

use async_trait::async_trait;
use chrono::TimeDelta;
use common::*;
use costline_domain::{BillingPeriod, IntegrationId};
use costline_jobs::{
    schedule_integration, Clock, JobContext, JobError, JobHandler, JobKind, JobProgress, JobStatus,
    ManualClock, PoolConfig, ScheduleIntervals, WorkerPool,
};
use costline_store::jobs::{self, NewJob};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

fn config() -> PoolConfig {
    PoolConfig {
        concurrency: 4,
        kind_limits: BTreeMap::new(),
        lease: Duration::from_secs(30),
        heartbeat_interval: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
        max_attempts: 3,
        backoff_base: Duration::from_secs(10),
        backoff_cap: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(5),
        run_schedules: true,
        metrics_interval: Duration::from_secs(1),
    }
}

const NOTIFY: JobKind = JobKind::NOTIFY;

#[tokio::test]
async fn retries_back_off_exponentially_then_fail_with_the_last_error() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let clock = ManualClock::new(t0());
    let (handler, runs) = Scripted::new(|n| Err(JobError::retryable(format!("throttled #{n}"))));
    let pool = WorkerPool::builder(
        db.store.clone(),
        PoolConfig {
            max_attempts: 5,
            ..config()
        },
    )
    .register(NOTIFY, handler)
    .clock(clock.clone())
    .build()
    .unwrap();
    let id = enqueue(&db, ws, NewJob::new("notify").max_attempts(4), t0())
        .await
        .job_id();

    // Attempt n fails at `now`; the retry is due within [now + step/2, now + step], step = 10s * 2^(n-1).
    for attempt in 1..=3 {
        assert_eq!(
            pool.run_once().await.unwrap().claimed,
            1,
            "attempt {attempt} starts"
        );
        pool.wait_idle().await;
        let job = get(&db, ws, id).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.attempts, attempt);
        assert_eq!(
            job.error.as_deref(),
            Some(format!("throttled #{attempt}").as_str())
        );
        let step = TimeDelta::seconds(10 * (1 << (attempt - 1)));
        let wait = job.run_at - clock.now();
        assert!(
            wait >= step / 2 && wait <= step,
            "attempt {attempt}: waits {wait} for a step of {step}"
        );

        // Not a moment before its time.
        clock.set(job.run_at - TimeDelta::milliseconds(1));
        assert_eq!(pool.run_once().await.unwrap().claimed, 0);
        clock.set(job.run_at);
    }
    assert_eq!(pool.run_once().await.unwrap().claimed, 1);
    pool.wait_idle().await;
    let job = get(&db, ws, id).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 4));
    assert_eq!(job.error.as_deref(), Some("throttled #4"));
    assert_eq!(job.finished_at, Some(clock.now()));
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        pool.run_once().await.unwrap().claimed,
        0,
        "a failed job stays failed"
    );
}

#[tokio::test]
async fn permanent_errors_and_bad_payloads_fail_at_once_panics_retry() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let clock = ManualClock::new(t0());

    struct Picky;
    #[async_trait]
    impl JobHandler for Picky {
        async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
            #[derive(serde::Deserialize)]
            struct Input {
                mode: String,
            }
            let input: Input = ctx.payload_as()?;
            match input.mode.as_str() {
                "denied" => Err(JobError::permanent("access denied by the role's policy")),
                "panic" => panic!("bug in handler"),
                _ => Ok(()),
            }
        }
    }
    let pool = WorkerPool::builder(db.store.clone(), config())
        .register(NOTIFY, Picky)
        .clock(clock.clone())
        .build()
        .unwrap();
    let denied = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"mode": "denied"})),
        t0(),
    )
    .await
    .job_id();
    let malformed = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"mood": 1})),
        t0(),
    )
    .await
    .job_id();
    let panics = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"mode": "panic"})),
        t0(),
    )
    .await
    .job_id();
    let fine = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"mode": "ok"})),
        t0(),
    )
    .await
    .job_id();
    assert_eq!(pool.run_once().await.unwrap().claimed, 4);
    pool.wait_idle().await;

    let job = get(&db, ws, denied).await;
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 1));
    assert_eq!(
        job.error.as_deref(),
        Some("access denied by the role's policy")
    );
    let job = get(&db, ws, malformed).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.unwrap().starts_with("invalid job payload"));
    let job = get(&db, ws, panics).await;
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(
        job.error.as_deref(),
        Some("the handler panicked: bug in handler")
    );
    let job = get(&db, ws, fine).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.error, None);
    assert_eq!(pool.running(), 0);
}

/// 200 ingests of workspace A are queued before one verification of workspace B; the first claim
/// cycle of a pool starts B's verification.
#[tokio::test]
async fn another_workspaces_verification_starts_in_the_first_claim_cycle() {
    let db = costline_testkit::fresh_store().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let clock = ManualClock::new(t0());
    let release = Arc::new(Notify::new());

    struct Blocking(Arc<Notify>);
    #[async_trait]
    impl JobHandler for Blocking {
        async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
            self.0.notified().await;
            Ok(())
        }
    }
    let pool = WorkerPool::builder(
        db.store.clone(),
        PoolConfig {
            concurrency: 4,
            kind_limits: BTreeMap::from([("ingest_period".into(), 2)]),
            ..config()
        },
    )
    .register(JobKind::INGEST_PERIOD, Blocking(release.clone()))
    .register(JobKind::VERIFY_INTEGRATION, Blocking(release.clone()))
    .clock(clock.clone())
    .build()
    .unwrap();

    let integration = IntegrationId::new();
    let backlog: Vec<NewJob> = (0..200)
        .map(|i| {
            NewJob::new("ingest_period")
                .integration(integration)
                .period(BillingPeriod::new(2000 + i / 12, (i % 12 + 1) as u32).unwrap())
        })
        .collect();
    enqueue_many(&db, a, backlog, t0()).await;
    clock.advance(Duration::from_secs(1));
    let verify = enqueue(
        &db,
        b,
        NewJob::new("verify_integration").integration(IntegrationId::new()),
        clock.now(),
    )
    .await
    .job_id();

    let report = pool.run_once().await.unwrap();
    assert_eq!(
        report.claimed, 3,
        "2 ingests (the kind's limit) and the verification"
    );
    assert_eq!(get(&db, b, verify).await.status, JobStatus::Running);
    assert_eq!(count_status(&db, "running").await, 3);
    // Slots are full for ingests: the next cycle takes nothing more of A.
    assert_eq!(pool.run_once().await.unwrap().claimed, 0);
    release.notify_waiters();
    pool.abort_all().await;
}

#[tokio::test]
async fn schedules_are_fired_by_the_pool_on_the_hand_driven_clock() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let clock = ManualClock::new(t0());
    let (handler, runs) = Scripted::new(|_| Ok(()));
    let (verify, verify_runs) = Scripted::new(|_| Ok(()));
    let (discover, _) = Scripted::new(|_| Ok(()));
    let (inventory, inventory_runs) = Scripted::new(|_| Ok(()));
    let pool = WorkerPool::builder(db.store.clone(), config())
        .register(JobKind::POLL_CUR, handler)
        .register(JobKind::VERIFY_INTEGRATION, verify)
        .register(JobKind::DISCOVER_ACCOUNTS, discover)
        .register(JobKind::INVENTORY, inventory)
        .clock(clock.clone())
        .build()
        .unwrap();
    let integration = IntegrationId::new();
    let mut scope = db.scoped(ws).await.unwrap();
    schedule_integration(
        &mut scope,
        integration,
        &ScheduleIntervals::default(),
        true,
        clock.now(),
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();

    let cycle = |pool: WorkerPool| async move {
        let r = pool.run_once().await.unwrap();
        pool.wait_idle().await;
        r
    };
    assert_eq!(cycle(pool.clone()).await.scheduled, 0);
    // Every 30 minutes a CUR poll; at 6 hours also verification, discovery and the inventory.
    for half_hour in 1..=12 {
        clock.advance(Duration::from_secs(1800));
        let r = cycle(pool.clone()).await;
        let expected = if half_hour == 12 { 4 } else { 1 };
        assert_eq!(r.scheduled, expected, "at {} min", half_hour * 30);
        assert_eq!(r.claimed, expected);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 12);
    assert_eq!(verify_runs.load(Ordering::SeqCst), 1);
    assert_eq!(inventory_runs.load(Ordering::SeqCst), 1);
    assert_eq!(count_status(&db, "succeeded").await, 15);
}

#[tokio::test]
async fn a_revoked_integrations_running_job_stops_at_its_next_step() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let step_done = Arc::new(Notify::new());
    let go_on = Arc::new(Notify::new());

    struct Steps {
        step_done: Arc<Notify>,
        go_on: Arc<Notify>,
    }
    #[async_trait]
    impl JobHandler for Steps {
        async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
            for file in 1..=10u64 {
                ctx.checkpoint().await?;
                ctx.report_progress(&JobProgress {
                    files_done: file,
                    files_total: Some(10),
                    ..Default::default()
                })
                .await?;
                self.step_done.notify_one();
                self.go_on.notified().await;
            }
            Ok(())
        }
    }
    let pool = WorkerPool::builder(db.store.clone(), config())
        .register(
            JobKind::INGEST_PERIOD,
            Steps {
                step_done: step_done.clone(),
                go_on: go_on.clone(),
            },
        )
        .build()
        .unwrap();
    let integration = IntegrationId::new();
    let now = chrono::Utc::now();
    let id = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(integration)
            .period("2024-09".parse().unwrap()),
        now,
    )
    .await
    .job_id();
    assert_eq!(pool.run_once().await.unwrap().claimed, 1);
    step_done.notified().await;
    let job = get(&db, ws, id).await;
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(
        job.progress,
        serde_json::json!({"files_done": 1, "files_total": 10, "rows": 0, "bytes": 0})
    );

    let mut scope = db.scoped(ws).await.unwrap();
    assert_eq!(
        jobs::cancel_for_integration(&mut scope, integration, chrono::Utc::now())
            .await
            .unwrap(),
        1
    );
    scope.commit().await.unwrap();
    go_on.notify_one();
    pool.wait_idle().await;
    let job = get(&db, ws, id).await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(
        job.progress["files_done"], 1,
        "no step after the cancellation"
    );
}

#[tokio::test]
async fn heartbeats_keep_a_long_job_and_a_lost_lease_stops_it() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;

    struct Long;
    #[async_trait]
    impl JobHandler for Long {
        async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
            let ms = ctx.payload()["ms"].as_u64().unwrap();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(()),
                _ = ctx.cancellation().cancelled() => Err(JobError::Cancelled),
            }
        }
    }
    let short_lease = PoolConfig {
        lease: Duration::from_millis(600),
        heartbeat_interval: Duration::from_millis(150),
        ..config()
    };
    let pool = WorkerPool::builder(db.store.clone(), short_lease.clone())
        .register(NOTIFY, Long)
        .build()
        .unwrap();
    let runner = {
        let pool = pool.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let s = stop.clone();
        (
            tokio::spawn(async move { pool.run(s.cancelled_owned()).await }),
            stop,
        )
    };
    // Runs three leases long; another worker reaping all along finds nothing expired.
    let id = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"ms": 2000})),
        chrono::Utc::now(),
    )
    .await
    .job_id();
    let other = WorkerPool::builder(db.store.clone(), short_lease)
        .register(JobKind::from_static("unrelated"), Long)
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(other.run_once().await.unwrap().reaped, 0);
        let job = get(&db, ws, id).await;
        if job.status == JobStatus::Succeeded {
            assert_eq!(job.attempts, 1);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not finish: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A job taken over behind its worker's back (here: its lease forged to have expired) is
    // stopped by the next heartbeat and its worker records nothing.
    let id = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"ms": 60000})),
        chrono::Utc::now(),
    )
    .await
    .job_id();
    eventually(Duration::from_secs(5), "the long job runs", || async {
        get(&db, ws, id).await.status == JobStatus::Running
    })
    .await;
    sqlx::query("UPDATE jobs SET worker_id = 'someone-else' WHERE job_id = $1")
        .bind(id.as_uuid())
        .execute(db.system())
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the pool lets go of it", || async {
        pool.running() == 0
    })
    .await;
    let job = get(&db, ws, id).await;
    assert_eq!(
        (job.status, job.worker_id.as_deref()),
        (JobStatus::Running, Some("someone-else"))
    );
    runner.1.cancel();
    runner.0.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_short_jobs_finish_and_releases_the_rest() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;

    /// Sleeps `ms`, ignoring cancellation when told to (a handler that never checks).
    struct Sleeper;
    #[async_trait]
    impl JobHandler for Sleeper {
        async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
            let ms = ctx.payload()["ms"].as_u64().unwrap();
            let sleep = tokio::time::sleep(Duration::from_millis(ms));
            if ctx.payload()["stubborn"].as_bool().unwrap_or(false) {
                sleep.await;
                return Ok(());
            }
            tokio::select! {
                _ = sleep => Ok(()),
                _ = ctx.cancellation().cancelled() => Err(JobError::Cancelled),
            }
        }
    }
    let pool = WorkerPool::builder(
        db.store.clone(),
        PoolConfig {
            shutdown_grace: Duration::from_millis(800),
            ..config()
        },
    )
    .register(NOTIFY, Sleeper)
    .build()
    .unwrap();
    let now = chrono::Utc::now();
    let quick = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"ms": 300})),
        now,
    )
    .await
    .job_id();
    let polite = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"ms": 60000})),
        now,
    )
    .await
    .job_id();
    let stubborn = enqueue(
        &db,
        ws,
        NewJob::new("notify").payload(serde_json::json!({"ms": 60000, "stubborn": true})),
        now,
    )
    .await
    .job_id();
    let stop = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn({
        let pool = pool.clone();
        let stop = stop.clone();
        async move { pool.run(stop.cancelled_owned()).await }
    });
    eventually(Duration::from_secs(5), "three jobs run", || async {
        pool.running() == 3
    })
    .await;
    let asked = tokio::time::Instant::now();
    stop.cancel();
    run.await.unwrap().unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");

    assert_eq!(get(&db, ws, quick).await.status, JobStatus::Succeeded);
    for id in [polite, stubborn] {
        let job = get(&db, ws, id).await;
        assert_eq!(
            (job.status, job.attempts, job.lease_expires_at),
            (JobStatus::Queued, 0, None),
            "{job:?}"
        );
    }
    // Released jobs are claimable at once by the next worker.
    let next = WorkerPool::builder(db.store.clone(), config())
        .register(NOTIFY, Sleeper)
        .build()
        .unwrap();
    assert_eq!(next.run_once().await.unwrap().claimed, 2);
    next.abort_all().await;
}

#[tokio::test]
async fn an_enqueue_wakes_an_idle_pool_without_waiting_for_the_poll() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let (handler, runs) = Scripted::new(|_| Ok(()));
    let pool = WorkerPool::builder(
        db.store.clone(),
        PoolConfig {
            poll_interval: Duration::from_secs(30),
            ..config()
        },
    )
    .register(NOTIFY, handler)
    .build()
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn({
        let pool = pool.clone();
        let stop = stop.clone();
        async move { pool.run(stop.cancelled_owned()).await }
    });
    // Let the first poll and the LISTEN happen, then enqueue: the notification must start it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = enqueue(&db, ws, NewJob::new("notify"), chrono::Utc::now())
        .await
        .job_id();
    eventually(Duration::from_secs(5), "the job ran", || async {
        get(&db, ws, id).await.status == JobStatus::Succeeded
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    stop.cancel();
    run.await.unwrap().unwrap();
}

#[test]
fn a_pool_needs_handlers_and_a_sane_config() {
    // Building does not touch the database.
    let options: sqlx::postgres::PgConnectOptions = "postgres://x@localhost/db".parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let store = costline_store::Store::connect(options, 2);
    assert!(WorkerPool::builder(store.clone(), config())
        .build()
        .is_err());
    let (handler, _) = Scripted::new(|_| Ok(()));
    let bad = PoolConfig {
        heartbeat_interval: Duration::from_secs(60),
        ..config()
    };
    assert!(WorkerPool::builder(store, bad)
        .register(NOTIFY, handler)
        .build()
        .is_err());
}
