//! The durable job queue (docs/adr/0005-job-queue.md).
//!
//! Tenant-facing functions (enqueue, read, cancel) take a workspace scope; the worker side (claim,
//! heartbeat, finish, reap) runs on the system pool across tenants. Every write a worker makes to
//! a running job is fenced by its [`Lease`] (worker id and attempt number), so a worker that lost
//! its lease (cut off, then reaped and reclaimed elsewhere) can no longer touch the job.
//!
//! Time is always passed in (`now`) rather than read from the database, so that backoff, leases
//! and schedules can be driven by a controllable clock in tests.

use crate::{Scoped, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{BillingPeriod, IntegrationId, JobId, WorkspaceId};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Attempts a job gets when the enqueuer does not say.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// The channel a `NOTIFY` is sent on when a job becomes claimable, so idle workers wake at once.
pub const NOTIFY_CHANNEL: &str = "costline_jobs";

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker (possibly until `run_at`, after a failed attempt).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Gave up: the last attempt failed, or the error was permanent; `error` says why.
    Failed,
    /// Stopped on request (for instance because its integration was revoked).
    Cancelled,
}

impl JobStatus {
    /// The stored and API spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the job will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            other => return Err(format!("unknown job status {other:?}")),
        })
    }
}

/// Structured progress of a running job, shown by the API and the console.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// What the job is doing now, e.g. `reading manifest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Files finished.
    #[serde(default)]
    pub files_done: u64,
    /// Files to do, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_total: Option<u64>,
    /// Rows processed.
    #[serde(default)]
    pub rows: u64,
    /// Bytes processed.
    #[serde(default)]
    pub bytes: u64,
}

/// A job to enqueue. Build with [`NewJob::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The kind, naming the handler that runs it (`[a-z][a-z0-9_.-]*`).
    pub kind: String,
    /// The integration it works on; with the kind and the period it is the idempotency key.
    pub integration_id: Option<IntegrationId>,
    /// The billing period it works on.
    pub billing_period: Option<BillingPeriod>,
    /// Handler-specific input.
    pub payload: serde_json::Value,
    /// Attempts before the job is `failed`.
    pub max_attempts: i32,
    /// Not before this time (default: now).
    pub run_at: Option<DateTime<Utc>>,
}

impl NewJob {
    /// A job of `kind` with an empty payload and the default attempts.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            integration_id: None,
            billing_period: None,
            payload: serde_json::Value::Object(Default::default()),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
        }
    }

    /// Sets the integration.
    pub fn integration(mut self, id: IntegrationId) -> Self {
        self.integration_id = Some(id);
        self
    }

    /// Sets the billing period.
    pub fn period(mut self, period: BillingPeriod) -> Self {
        self.billing_period = Some(period);
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    /// Sets the attempts before giving up (1 to 100).
    pub fn max_attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Delays the job until `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// The outcome of [`enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job was queued.
    Created(JobId),
    /// A job with the same kind, integration and period was already queued or running.
    Existing(JobId),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn job_id(&self) -> JobId {
        match self {
            Enqueued::Created(id) | Enqueued::Existing(id) => *id,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its id.
    pub job_id: JobId,
    /// Its kind.
    pub kind: String,
    /// The integration it works on.
    pub integration_id: Option<IntegrationId>,
    /// The billing period it works on.
    pub billing_period: Option<BillingPeriod>,
    /// Handler input.
    pub payload: serde_json::Value,
    /// Where it stands.
    pub status: JobStatus,
    /// Attempts started (including the running one).
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Earliest start of the next attempt.
    pub run_at: DateTime<Utc>,
    /// Lease end while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worker holding it, or the last one that did.
    pub worker_id: Option<String>,
    /// Last reported progress (a [`JobProgress`] object, `{}` before any report).
    pub progress: serde_json::Value,
    /// The last error.
    pub error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    workspace_id: Uuid,
    job_id: Uuid,
    kind: String,
    integration_id: Option<Uuid>,
    billing_period: Option<String>,
    payload: serde_json::Value,
    status: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    lease_expires_at: Option<DateTime<Utc>>,
    worker_id: Option<String>,
    progress: serde_json::Value,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str =
    "j.workspace_id, j.job_id, j.kind, j.integration_id, j.billing_period, j.payload, \
     j.status, j.attempts, j.max_attempts, j.run_at, j.lease_expires_at, j.worker_id, j.progress, \
     j.error, j.created_at, j.started_at, j.finished_at";

fn decode_error(what: String) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(what.into()))
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            workspace_id: WorkspaceId::from_uuid(r.workspace_id),
            job_id: JobId::from_uuid(r.job_id),
            kind: r.kind,
            integration_id: r.integration_id.map(IntegrationId::from_uuid),
            billing_period: r
                .billing_period
                .map(|p| {
                    p.parse()
                        .map_err(|e| decode_error(format!("jobs.billing_period: {e}")))
                })
                .transpose()?,
            payload: r.payload,
            status: r.status.parse().map_err(decode_error)?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            lease_expires_at: r.lease_expires_at,
            worker_id: r.worker_id,
            progress: r.progress,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

/// Queues a job in the scope's workspace, unless one with the same kind, integration and billing
/// period is already queued or running: then that job's id is returned (and, if it is waiting out
/// a retry backoff, it is brought forward to `run_at`, so an explicit "sync" runs now).
///
/// Jobs without an integration are never deduplicated. Idle workers are woken by a notification
/// when the scope's transaction commits.
pub async fn enqueue(
    scope: &mut Scoped,
    job: &NewJob,
    now: DateTime<Utc>,
) -> StoreResult<Enqueued> {
    let workspace_id = scope.workspace_id();
    enqueue_on(scope.tx(), workspace_id, job, now).await
}

async fn enqueue_on(
    conn: &mut PgConnection,
    workspace_id: WorkspaceId,
    job: &NewJob,
    now: DateTime<Utc>,
) -> StoreResult<Enqueued> {
    if !(1..=100).contains(&job.max_attempts) {
        return Err(StoreError::Conflict(format!(
            "max_attempts must be between 1 and 100, got {}",
            job.max_attempts
        )));
    }
    let new_id = JobId::new();
    let run_at = job.run_at.unwrap_or(now);
    let period = job.billing_period.map(|p| p.to_string());
    // A conflicting insert that commits after this statement's snapshot makes both branches come
    // back empty; the next round sees it (or its successor).
    for _ in 0..5 {
        let row: Option<(Uuid, bool)> = sqlx::query_as(
            "WITH ins AS (
                 INSERT INTO jobs (workspace_id, job_id, kind, integration_id, billing_period, payload,
                                   max_attempts, run_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (workspace_id, kind, integration_id, (coalesce(billing_period, '')))
                     WHERE status IN ('queued', 'running') AND integration_id IS NOT NULL
                 DO UPDATE SET run_at = EXCLUDED.run_at
                     WHERE jobs.status = 'queued' AND jobs.run_at > EXCLUDED.run_at
                 RETURNING job_id, job_id = $2 AS created
             )
             SELECT job_id, created FROM ins
             UNION ALL
             SELECT job_id, false FROM jobs
              WHERE workspace_id = $1 AND kind = $3 AND integration_id = $4
                AND coalesce(billing_period, '') = coalesce($5, '')
                AND status IN ('queued', 'running')
                AND NOT EXISTS (SELECT 1 FROM ins)
             LIMIT 1",
        )
        .bind(workspace_id.as_uuid())
        .bind(new_id.as_uuid())
        .bind(&job.kind)
        .bind(job.integration_id.map(|i| i.as_uuid()))
        .bind(&period)
        .bind(&job.payload)
        .bind(job.max_attempts)
        .bind(run_at)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_check_violation() => {
                StoreError::Conflict(format!("invalid job {:?}: {}", job.kind, db.message()))
            }
            _ => StoreError::Database(e),
        })?;
        if let Some((id, created)) = row {
            let id = JobId::from_uuid(id);
            if created || run_at <= now {
                notify(&mut *conn, &job.kind).await?;
            }
            return Ok(if created {
                Enqueued::Created(id)
            } else {
                Enqueued::Existing(id)
            });
        }
    }
    Err(StoreError::Conflict(
        "the job's pending duplicate kept changing; try again".into(),
    ))
}

async fn notify(conn: &mut PgConnection, kind: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(NOTIFY_CHANNEL)
        .bind(kind)
        .execute(conn)
        .await?;
    Ok(())
}

/// One job of the scope's workspace.
pub async fn get(scope: &mut Scoped, job_id: JobId) -> StoreResult<Job> {
    let workspace_id = scope.workspace_id();
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.workspace_id = $1 AND j.job_id = $2"
    ))
    .bind(workspace_id.as_uuid())
    .bind(job_id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// The newest jobs of one integration of the scope's workspace, newest first.
pub async fn list_for_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
    limit: i64,
) -> StoreResult<Vec<Job>> {
    let workspace_id = scope.workspace_id();
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs j
          WHERE j.workspace_id = $1 AND j.integration_id = $2
          ORDER BY j.created_at DESC, j.job_id DESC
          LIMIT $3"
    ))
    .bind(workspace_id.as_uuid())
    .bind(integration_id.as_uuid())
    .bind(limit)
    .fetch_all(scope.tx())
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// Cancels one queued or running job of the scope's workspace. A running job's handler sees it
/// at its next cancellation check. Returns whether the job was pending.
pub async fn cancel(scope: &mut Scoped, job_id: JobId, now: DateTime<Utc>) -> StoreResult<bool> {
    let workspace_id = scope.workspace_id();
    let done = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $3, lease_expires_at = NULL
          WHERE workspace_id = $1 AND job_id = $2 AND status IN ('queued', 'running')",
    )
    .bind(workspace_id.as_uuid())
    .bind(job_id.as_uuid())
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels every queued or running job of an integration (revocation). Returns how many.
pub async fn cancel_for_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let workspace_id = scope.workspace_id();
    let done = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $3, lease_expires_at = NULL,
                error = coalesce(error, 'cancelled')
          WHERE workspace_id = $1 AND integration_id = $2 AND status IN ('queued', 'running')",
    )
    .bind(workspace_id.as_uuid())
    .bind(integration_id.as_uuid())
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(done.rows_affected())
}

// ---- worker side: system pool, across workspaces ----

/// The right of one worker to write one attempt of one job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job's workspace.
    pub workspace_id: WorkspaceId,
    /// The job.
    pub job_id: JobId,
    /// The worker holding it.
    pub worker_id: String,
    /// The attempt this lease is for (the job's `attempts` when it was claimed).
    pub attempt: i32,
}

/// How many jobs a worker can take now.
#[derive(Debug, Clone, Default)]
pub struct ClaimLimits {
    /// At most this many jobs in total.
    pub total: usize,
    /// The kinds the worker runs, each with the number it can take now (kinds missing here are
    /// not claimed).
    pub per_kind: Vec<(String, usize)>,
}

/// A job just claimed: the job (status `running`, `attempts` counting this attempt) and its lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job.
    pub job: Job,
    /// The lease to present on every write.
    pub lease: Lease,
}

/// Claims due queued jobs for `worker_id` in one statement, with `FOR UPDATE SKIP LOCKED` so
/// that concurrent workers never take the same job and never wait for each other.
///
/// Fairness: workspaces are served in turns. Each workspace's due jobs are numbered by taking
/// the oldest of each of its kinds in rotation, and a workspace's turns start after the jobs it
/// already has running (in any process): a free slot goes first to the workspace with the fewest
/// running jobs, then to the oldest backlog. The claim takes the lowest turns first (oldest first
/// within a turn), under the per-kind caps and the total. One workspace's backlog (a 36-period
/// backfill) therefore cannot hold a slot another workspace is waiting for, and a heavy kind
/// cannot starve a light kind of the same workspace.
pub async fn claim(
    pool: &PgPool,
    worker_id: &str,
    limits: &ClaimLimits,
    lease_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ClaimedJob>> {
    let (kinds, caps): (Vec<String>, Vec<i32>) = limits
        .per_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.clone(), i32::try_from(*n).unwrap_or(i32::MAX)))
        .unzip();
    let total = i64::try_from(limits.total).unwrap_or(i64::MAX);
    if kinds.is_empty() || total == 0 {
        return Ok(Vec::new());
    }
    // `locked` takes, per (workspace, kind) with due work, up to that kind's cap of its oldest
    // due jobs, skipping rows other claimers hold (row locks cannot be taken beside window
    // functions, hence the later steps over the locked set). Rows locked but not picked are
    // released when the statement ends.
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "WITH caps AS (
             SELECT * FROM unnest($1::text[], $2::int[]) AS c(kind, cap)
         ),
         queues AS (
             SELECT DISTINCT q.workspace_id, q.kind
               FROM jobs q
              WHERE q.status = 'queued' AND q.run_at <= $4 AND q.kind = ANY($1)
         ),
         locked AS (
             SELECT l.workspace_id, l.job_id, l.kind, l.run_at
               FROM queues g
               JOIN caps c ON c.kind = g.kind
              CROSS JOIN LATERAL (
                    SELECT x.workspace_id, x.job_id, x.kind, x.run_at
                      FROM jobs x
                     WHERE x.workspace_id = g.workspace_id AND x.kind = g.kind
                       AND x.status = 'queued' AND x.run_at <= $4
                     ORDER BY x.run_at, x.job_id
                     LIMIT least(c.cap, $3)
                       FOR UPDATE SKIP LOCKED
              ) l
         ),
         running AS (
             SELECT r.workspace_id, count(*) AS jobs
               FROM jobs r
              WHERE r.status = 'running'
              GROUP BY r.workspace_id
         ),
         kind_turns AS (
             SELECT workspace_id, job_id, kind, run_at,
                    row_number() OVER (PARTITION BY workspace_id, kind ORDER BY run_at, job_id) AS kind_turn
               FROM locked
         ),
         turns AS (
             SELECT k.*,
                    coalesce(r.jobs, 0)
                    + row_number() OVER (PARTITION BY k.workspace_id ORDER BY k.kind_turn, k.run_at, k.job_id) AS turn
               FROM kind_turns k
               LEFT JOIN running r ON r.workspace_id = k.workspace_id
         ),
         capped AS (
             SELECT t.*, row_number() OVER (PARTITION BY t.kind ORDER BY t.turn, t.run_at, t.job_id) AS nth_of_kind
               FROM turns t
         ),
         picked AS (
             SELECT p.workspace_id, p.job_id
               FROM capped p
               JOIN caps c ON c.kind = p.kind
              WHERE p.nth_of_kind <= c.cap
              ORDER BY p.turn, p.run_at, p.job_id
              LIMIT $3
         )
         UPDATE jobs j
            SET status = 'running', attempts = j.attempts + 1, worker_id = $5,
                lease_expires_at = $6, started_at = coalesce(j.started_at, $4)
           FROM picked p
          WHERE j.workspace_id = p.workspace_id AND j.job_id = p.job_id
         RETURNING {JOB_COLUMNS}"
    ))
    .bind(&kinds)
    .bind(&caps)
    .bind(total)
    .bind(now)
    .bind(worker_id)
    .bind(lease_expires_at)
    .fetch_all(pool)
    .await?;
    let mut claimed = rows
        .into_iter()
        .map(|row| {
            let job = Job::try_from(row)?;
            let lease = Lease {
                workspace_id: job.workspace_id,
                job_id: job.job_id,
                worker_id: worker_id.to_string(),
                attempt: job.attempts,
            };
            Ok(ClaimedJob { job, lease })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // RETURNING has no order; start jobs in their fair order.
    claimed.sort_by_key(|c| (c.job.run_at, c.job.job_id));
    Ok(claimed)
}

/// A running job whose lease had expired, as handled by [`reap_expired`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// The job.
    pub job_id: JobId,
    /// Its kind.
    pub kind: String,
    /// `queued` again (attempts left) or `failed`.
    pub status: JobStatus,
}

/// Puts back running jobs whose lease expired before `now` (their worker crashed or was cut
/// off): queued to run at once if attempts are left, otherwise failed. Any worker may call it;
/// concurrent calls skip each other's rows.
pub async fn reap_expired(
    pool: &PgPool,
    now: DateTime<Utc>,
    batch: i64,
) -> StoreResult<Vec<Reaped>> {
    let rows: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "WITH expired AS (
             SELECT workspace_id, job_id FROM jobs
              WHERE status = 'running' AND lease_expires_at < $1
              ORDER BY lease_expires_at
              LIMIT $2
                FOR UPDATE SKIP LOCKED
         )
         UPDATE jobs j
            SET status = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,
                finished_at = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE $1 END,
                run_at = $1,
                lease_expires_at = NULL,
                error = format('lease expired: worker %s stopped renewing it during attempt %s of %s',
                               j.worker_id, j.attempts, j.max_attempts)
           FROM expired e
          WHERE j.workspace_id = e.workspace_id AND j.job_id = e.job_id
         RETURNING j.workspace_id, j.job_id, j.kind, j.status",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(pool)
    .await?;
    let mut requeued = false;
    let reaped = rows
        .into_iter()
        .map(|(ws, id, kind, status)| {
            let status: JobStatus = status.parse().map_err(decode_error)?;
            requeued |= status == JobStatus::Queued;
            Ok(Reaped {
                workspace_id: WorkspaceId::from_uuid(ws),
                job_id: JobId::from_uuid(id),
                kind,
                status,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    if requeued {
        notify(&mut *pool.acquire().await?, "").await?;
    }
    Ok(reaped)
}

/// Extends the leases of jobs a worker runs. Returns the ids of those still held; any other was
/// cancelled, finished elsewhere, or reaped, and its handler should stop.
pub async fn heartbeat(
    pool: &PgPool,
    worker_id: &str,
    leases: &[Lease],
    lease_expires_at: DateTime<Utc>,
) -> StoreResult<Vec<JobId>> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let workspaces: Vec<Uuid> = leases.iter().map(|l| l.workspace_id.as_uuid()).collect();
    let jobs: Vec<Uuid> = leases.iter().map(|l| l.job_id.as_uuid()).collect();
    let attempts: Vec<i32> = leases.iter().map(|l| l.attempt).collect();
    let held: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE jobs j SET lease_expires_at = $5
           FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS l(workspace_id, job_id, attempt)
          WHERE j.workspace_id = l.workspace_id AND j.job_id = l.job_id AND j.attempts = l.attempt
            AND j.worker_id = $4 AND j.status = 'running'
         RETURNING j.job_id",
    )
    .bind(&workspaces)
    .bind(&jobs)
    .bind(&attempts)
    .bind(worker_id)
    .bind(lease_expires_at)
    .fetch_all(pool)
    .await?;
    Ok(held.into_iter().map(JobId::from_uuid).collect())
}

/// Whether the lease still holds: the job is running this attempt on this worker. False once the
/// job was cancelled, reaped or finished.
pub async fn is_held(pool: &PgPool, lease: &Lease) -> StoreResult<bool> {
    let held: Option<bool> = sqlx::query_scalar(
        "SELECT status = 'running' AND worker_id = $3 AND attempts = $4
           FROM jobs WHERE workspace_id = $1 AND job_id = $2",
    )
    .bind(lease.workspace_id.as_uuid())
    .bind(lease.job_id.as_uuid())
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .fetch_optional(pool)
    .await?;
    Ok(held.unwrap_or(false))
}

/// Records a running job's progress. Returns false if the lease no longer holds.
pub async fn report_progress(
    pool: &PgPool,
    lease: &Lease,
    progress: &JobProgress,
) -> StoreResult<bool> {
    let progress = serde_json::to_value(progress).map_err(|e| decode_error(e.to_string()))?;
    let done = sqlx::query(
        "UPDATE jobs SET progress = $5
          WHERE workspace_id = $1 AND job_id = $2 AND worker_id = $3 AND attempts = $4
            AND status = 'running'",
    )
    .bind(lease.workspace_id.as_uuid())
    .bind(lease.job_id.as_uuid())
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .bind(progress)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a job succeeded. Returns false if the lease no longer holds (the job was cancelled or
/// taken over), in which case nothing changed.
pub async fn complete(pool: &PgPool, lease: &Lease, now: DateTime<Utc>) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $5, lease_expires_at = NULL, error = NULL
          WHERE workspace_id = $1 AND job_id = $2 AND worker_id = $3 AND attempts = $4
            AND status = 'running'",
    )
    .bind(lease.workspace_id.as_uuid())
    .bind(lease.job_id.as_uuid())
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt. With `retry_at` and attempts left the job is queued again for that
/// time; otherwise it is `failed`. The error is kept either way. Returns the new status, or
/// `None` if the lease no longer holds.
pub async fn fail(
    pool: &PgPool,
    lease: &Lease,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<Option<JobStatus>> {
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE jobs
            SET status = CASE WHEN $5::timestamptz IS NOT NULL AND attempts < max_attempts
                              THEN 'queued' ELSE 'failed' END,
                run_at = coalesce($5, run_at),
                finished_at = CASE WHEN $5::timestamptz IS NOT NULL AND attempts < max_attempts
                                   THEN NULL ELSE $6 END,
                lease_expires_at = NULL,
                error = $7
          WHERE workspace_id = $1 AND job_id = $2 AND worker_id = $3 AND attempts = $4
            AND status = 'running'
         RETURNING status",
    )
    .bind(lease.workspace_id.as_uuid())
    .bind(lease.job_id.as_uuid())
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .bind(retry_at)
    .bind(now)
    .bind(error)
    .fetch_optional(pool)
    .await?;
    status.map(|s| s.parse().map_err(decode_error)).transpose()
}

/// Gives a running job back without counting the attempt (graceful shutdown ran out of time):
/// queued again to run at once. Returns false if the lease no longer holds.
pub async fn release(pool: &PgPool, lease: &Lease, now: DateTime<Utc>) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = attempts - 1, run_at = $5, lease_expires_at = NULL
          WHERE workspace_id = $1 AND job_id = $2 AND worker_id = $3 AND attempts = $4
            AND status = 'running'",
    )
    .bind(lease.workspace_id.as_uuid())
    .bind(lease.job_id.as_uuid())
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .bind(now)
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        notify(&mut *pool.acquire().await?, "").await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Queued and running jobs per kind, for the queue-depth metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindDepth {
    /// The kind.
    pub kind: String,
    /// Queued and due.
    pub due: i64,
    /// Queued for later (backoff or delayed).
    pub scheduled: i64,
    /// Running.
    pub running: i64,
}

/// Counts pending jobs per kind across workspaces.
pub async fn depth(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<Vec<KindDepth>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind,
                count(*) FILTER (WHERE status = 'queued' AND run_at <= $1),
                count(*) FILTER (WHERE status = 'queued' AND run_at > $1),
                count(*) FILTER (WHERE status = 'running')
           FROM jobs WHERE status IN ('queued', 'running')
          GROUP BY kind ORDER BY kind",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, due, scheduled, running)| KindDepth {
            kind,
            due,
            scheduled,
            running,
        })
        .collect())
}

/// Deletes finished jobs that finished before `before` (retention). Returns how many.
pub async fn purge_finished(pool: &PgPool, before: DateTime<Utc>, batch: i64) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM jobs WHERE (workspace_id, job_id) IN (
             SELECT workspace_id, job_id FROM jobs
              WHERE finished_at < $1 AND status IN ('succeeded', 'failed', 'cancelled')
              LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ] {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn progress_serializes_compactly() {
        let p = JobProgress {
            files_done: 2,
            files_total: Some(5),
            rows: 10,
            bytes: 300,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"files_done": 2, "files_total": 5, "rows": 10, "bytes": 300})
        );
        let back: JobProgress = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(back, JobProgress::default());
    }
}
