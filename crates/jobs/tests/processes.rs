//! Several worker processes against one database: each job is processed exactly once, and a
//! worker killed with SIGKILL mid-job loses it to another once its lease expires.

mod common;

use common::*;
use costline_domain::JobId;
use costline_jobs::JobStatus;
use costline_store::jobs::NewJob;
use costline_testkit::{ChildGuard, TestDb};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

fn spawn_worker(db: &TestDb, name: &str, lease_ms: u64) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_costline-jobs-testworker"));
    cmd.arg("--database-url")
        .arg(db.url())
        .arg("--worker-id")
        .arg(name)
        .arg("--concurrency")
        .arg("4")
        .arg("--lease-ms")
        .arg(lease_ms.to_string())
        .arg("--heartbeat-ms")
        .arg((lease_ms / 4).to_string())
        .arg("--poll-ms")
        .arg("100")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    ChildGuard::spawn(cmd).expect("spawn a test worker")
}

async fn runs_per_job(db: &TestDb) -> HashMap<uuid::Uuid, Vec<(String, i32)>> {
    let rows: Vec<(uuid::Uuid, String, i32)> =
        sqlx::query_as("SELECT job_id, worker_id, attempt FROM test_runs ORDER BY at")
            .fetch_all(db.system())
            .await
            .unwrap();
    let mut out: HashMap<uuid::Uuid, Vec<(String, i32)>> = HashMap::new();
    for (job, worker, attempt) in rows {
        out.entry(job).or_default().push((worker, attempt));
    }
    out
}

async fn batch_runs_exactly_once(workers: usize) {
    let db = costline_testkit::fresh_store().await;
    create_effect_tables(&db).await;
    let mut ids: Vec<JobId> = Vec::new();
    for w in 0..3 {
        let ws = workspace(&db, &format!("ws{w}")).await;
        let batch = (0..100)
            .map(|i| NewJob::new("test.effect").payload(serde_json::json!({"sleep_ms": i % 7})))
            .collect();
        ids.extend(enqueue_many(&db, ws, batch, chrono::Utc::now()).await);
    }
    let names: Vec<String> = (0..workers).map(|i| format!("worker-{i}")).collect();
    let children: Vec<ChildGuard> = names.iter().map(|n| spawn_worker(&db, n, 5000)).collect();

    eventually(Duration::from_secs(90), "every job succeeded", || async {
        count_status(&db, "succeeded").await == ids.len() as i64
    })
    .await;
    let runs = runs_per_job(&db).await;
    assert_eq!(runs.len(), ids.len());
    for id in &ids {
        let r = &runs[&id.as_uuid()];
        assert_eq!(r.len(), 1, "job {id} ran {r:?}");
    }
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM test_effects")
        .fetch_one(db.system())
        .await
        .unwrap();
    assert_eq!(effects, ids.len() as i64);
    let per_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT worker_id, count(*) FROM jobs GROUP BY worker_id ORDER BY worker_id",
    )
    .fetch_all(db.system())
    .await
    .unwrap();
    eprintln!("jobs per worker: {per_worker:?}");
    assert!(per_worker.iter().all(|(w, _)| names.contains(w)));
    drop(children);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_process_a_batch_exactly_once() {
    batch_runs_exactly_once(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_process_a_batch_exactly_once() {
    batch_runs_exactly_once(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_sigkilled_worker_is_taken_over_after_its_lease_and_completes_once() {
    let db = costline_testkit::fresh_store().await;
    create_effect_tables(&db).await;
    let ws = workspace(&db, "a").await;
    let lease_ms = 1500;
    let doomed = spawn_worker(&db, "doomed", lease_ms);
    let id = enqueue(
        &db,
        ws,
        NewJob::new("test.effect")
            .payload(serde_json::json!({"first_attempt_sleep_ms": 600_000, "sleep_ms": 50})),
        chrono::Utc::now(),
    )
    .await
    .job_id();
    eventually(
        Duration::from_secs(20),
        "the doomed worker started the job",
        || async { runs_per_job(&db).await.contains_key(&id.as_uuid()) },
    )
    .await;
    kill(Pid::from_raw(doomed.pid() as i32), Signal::SIGKILL).expect("SIGKILL the worker");
    let killed_at = tokio::time::Instant::now();
    eventually(
        Duration::from_secs(5),
        "the doomed worker is gone",
        || async { doomed.has_exited() },
    )
    .await;
    let job = get(&db, ws, id).await;
    assert_eq!(
        (job.status, job.worker_id.as_deref()),
        (JobStatus::Running, Some("doomed"))
    );

    let survivor = spawn_worker(&db, "survivor", lease_ms);
    eventually(
        Duration::from_secs(30),
        "the survivor completed the job",
        || async { get(&db, ws, id).await.status == JobStatus::Succeeded },
    )
    .await;
    // Not before the dead worker's lease ran out (it had renewed it up to its death).
    assert!(killed_at.elapsed() >= Duration::from_millis(lease_ms / 2));

    let job = get(&db, ws, id).await;
    assert_eq!(job.attempts, 2);
    assert_eq!(job.worker_id.as_deref(), Some("survivor"));
    assert_eq!(job.error, None);
    let runs = runs_per_job(&db).await;
    assert_eq!(
        runs[&id.as_uuid()],
        [("doomed".to_string(), 1), ("survivor".to_string(), 2)]
    );
    let effects: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT job_id, worker_id FROM test_effects")
            .fetch_all(db.system())
            .await
            .unwrap();
    assert_eq!(
        effects,
        [(id.as_uuid(), "survivor".to_string())],
        "one effect, by the survivor"
    );
    drop(survivor);
}
