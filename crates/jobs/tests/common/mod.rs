//! Helpers shared by the queue's integration tests.
#![allow(dead_code)]

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use costline_domain::{JobId, WorkspaceId};
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_store::jobs::{self, Enqueued, Job, NewJob};
use costline_store::workspaces::{self, Owner};
use costline_store::Store;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fixed starting time for hand-driven clocks.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 1, 12, 0, 0).unwrap()
}

/// A new workspace.
pub async fn workspace(store: &Store, name: &str) -> WorkspaceId {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    workspaces::create_with_owner(store, name, Owner::ByEmail(&email))
        .await
        .expect("create a workspace")
        .workspace_id
}

/// Enqueues and commits one job.
pub async fn enqueue(store: &Store, ws: WorkspaceId, job: NewJob, now: DateTime<Utc>) -> Enqueued {
    let mut scope = store.scoped(ws).await.unwrap();
    let e = jobs::enqueue(&mut scope, &job, now).await.unwrap();
    scope.commit().await.unwrap();
    e
}

/// Enqueues many jobs in one transaction; returns their ids.
pub async fn enqueue_many(
    store: &Store,
    ws: WorkspaceId,
    jobs_: Vec<NewJob>,
    now: DateTime<Utc>,
) -> Vec<JobId> {
    let mut scope = store.scoped(ws).await.unwrap();
    let mut ids = Vec::new();
    for job in &jobs_ {
        ids.push(jobs::enqueue(&mut scope, job, now).await.unwrap().job_id());
    }
    scope.commit().await.unwrap();
    ids
}

/// Reads a job through its workspace scope (as the API does).
pub async fn get(store: &Store, ws: WorkspaceId, id: JobId) -> Job {
    let mut scope = store.scoped(ws).await.unwrap();
    let job = jobs::get(&mut scope, id).await.unwrap();
    scope.commit().await.unwrap();
    job
}

/// Creates the effect tables the test worker writes to (through the system pool, like the queue).
pub async fn create_effect_tables(db: &costline_testkit::TestDb) {
    sqlx::raw_sql(
        "CREATE TABLE test_runs (job_id uuid NOT NULL, worker_id text NOT NULL, attempt int NOT NULL,
                                 at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE TABLE test_effects (job_id uuid PRIMARY KEY, worker_id text NOT NULL);
         GRANT SELECT, INSERT ON test_runs, test_effects TO costline_system;",
    )
    .execute(db.admin())
    .await
    .expect("create the effect tables");
}

/// Polls `check` every 50ms until it holds, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Counts rows of a status across the database.
pub async fn count_status(store: &Store, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = $1")
        .bind(status)
        .fetch_one(store.system())
        .await
        .unwrap()
}

/// A handler that counts its runs and then does what `behaviour` says.
pub struct Scripted<F> {
    pub runs: Arc<AtomicUsize>,
    pub behaviour: F,
}

impl<F> Scripted<F> {
    pub fn new(behaviour: F) -> (Self, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        (
            Self {
                runs: runs.clone(),
                behaviour,
            },
            runs,
        )
    }
}

#[async_trait]
impl<F> JobHandler for Scripted<F>
where
    F: Fn(usize) -> Result<(), JobError> + Send + Sync + 'static,
{
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        (self.behaviour)(n)
    }
}
