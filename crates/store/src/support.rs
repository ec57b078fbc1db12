//! The support console's reads and writes: finding a customer's workspace and integrations, and
//! backfill requests (migrations/0008_backfills.sql).
//!
//! Support staff belong to no workspace. Cross-tenant lookups (search, "which workspace holds
//! this integration") run on the system pool; everything else goes through a scope of the
//! customer's workspace, so row-level security still confines it, and every view or action is
//! audited there by the caller (`audit::record` with a support actor).

use crate::{Scoped, Store, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{BillingPeriod, IntegrationId, JobId, UserId, WorkspaceId};

/// A workspace found by a support search.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkspaceHit {
    /// Its id.
    pub workspace_id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Its owners' emails.
    pub owner_emails: Vec<String>,
    /// AWS accounts of its integrations (connected roles' accounts).
    pub account_ids: Vec<String>,
    /// Integrations, revoked ones included.
    pub integrations: i64,
}

/// Workspaces that granted support access now and whose name or an owner's email contains
/// `query` (case-insensitively), or one of whose integrations is (or discovered) the AWS account
/// `query`; newest first, at most 50.
pub async fn search(store: &Store, query: &str) -> StoreResult<Vec<WorkspaceHit>> {
    let query = query.trim();
    let pattern = format!(
        "%{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    Ok(sqlx::query_as(
        "SELECT w.workspace_id, w.name, w.created_at,
                coalesce((SELECT array_agg(u.email ORDER BY u.email) FROM memberships m JOIN users u USING (user_id)
                           WHERE m.workspace_id = w.workspace_id AND m.role = 'owner'), '{}') AS owner_emails,
                coalesce((SELECT array_agg(DISTINCT i.account_id) FROM integrations i
                           WHERE i.workspace_id = w.workspace_id AND i.account_id IS NOT NULL), '{}') AS account_ids,
                (SELECT count(*) FROM integrations i WHERE i.workspace_id = w.workspace_id) AS integrations
           FROM workspaces w
          WHERE $2 <> ''
            -- Only workspaces whose customer granted support access now (0028).
            AND EXISTS (SELECT 1 FROM support_access_grants g
                         WHERE g.workspace_id = w.workspace_id AND g.revoked_at IS NULL
                           AND g.granted_at <= now() AND g.expires_at > now())
            AND (
                w.name ILIKE $1
             OR EXISTS (SELECT 1 FROM memberships m JOIN users u USING (user_id)
                         WHERE m.workspace_id = w.workspace_id AND m.role = 'owner' AND u.email ILIKE $1)
             OR EXISTS (SELECT 1 FROM integrations i
                         WHERE i.workspace_id = w.workspace_id AND i.account_id = $2)
             OR EXISTS (SELECT 1 FROM aws_accounts a
                         WHERE a.workspace_id = w.workspace_id AND a.account_id = $2)
             OR w.workspace_id::text = $2)
          ORDER BY w.created_at DESC LIMIT 50",
    )
    .bind(pattern)
    .bind(query)
    .fetch_all(store.system())
    .await?)
}

/// The workspace holding integration `id` (support routes name integrations alone).
pub async fn integration_workspace(store: &Store, id: IntegrationId) -> StoreResult<WorkspaceId> {
    let ws: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT workspace_id FROM integrations WHERE integration_id = $1")
            .bind(id.as_uuid())
            .fetch_optional(store.system())
            .await?;
    ws.map(WorkspaceId::from_uuid).ok_or(StoreError::NotFound)
}

/// A backfill request and its ingest jobs.
#[derive(Debug, Clone)]
pub struct Backfill {
    /// Its id.
    pub backfill_id: uuid::Uuid,
    /// The integration.
    pub integration_id: uuid::Uuid,
    /// The support user's email.
    pub requested_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Every period with its job, oldest first.
    pub periods: Vec<BackfillPeriod>,
}

/// One period of a backfill.
#[derive(Debug, Clone)]
pub struct BackfillPeriod {
    /// `YYYY-MM`.
    pub period: String,
    /// Its ingest job.
    pub job_id: uuid::Uuid,
    /// The job's status (`queued`, `running`, `succeeded`, `failed`, `cancelled`), `None` when
    /// the job is gone.
    pub job_status: Option<String>,
    /// The job's error.
    pub job_error: Option<String>,
    /// The job's progress.
    pub progress: Option<serde_json::Value>,
    /// The stored period's status (`ingesting`, `ready`, `error`), once the job began.
    pub period_status: Option<String>,
    /// The stored period's error.
    pub period_error: Option<String>,
    /// Line items served for the period.
    pub rows: Option<i64>,
    /// When the served assembly was swapped in.
    pub ingested_at: Option<DateTime<Utc>>,
}

impl BackfillPeriod {
    /// The state shown to people: `queued`, `ingesting`, `ready`, `error` or `cancelled`.
    pub fn state(&self) -> &'static str {
        match self.job_status.as_deref() {
            Some("queued") => "queued",
            Some("running") => "ingesting",
            Some("failed") => "error",
            Some("cancelled") => "cancelled",
            Some("succeeded") if self.period_status.as_deref() == Some("error") => "error",
            Some("succeeded") => "ready",
            _ => match self.period_status.as_deref() {
                Some("ready") => "ready",
                Some("error") => "error",
                _ => "unknown",
            },
        }
    }

    /// The error to show: the job's, else the period's.
    pub fn error(&self) -> Option<&str> {
        self.job_error.as_deref().or(self.period_error.as_deref())
    }
}

impl Backfill {
    /// Whether any period is still queued or ingesting.
    pub fn in_progress(&self) -> bool {
        self.periods
            .iter()
            .any(|p| matches!(p.state(), "queued" | "ingesting"))
    }
}

/// Records a backfill request whose jobs were just queued (same transaction).
pub async fn record_backfill(
    scope: &mut Scoped,
    integration: IntegrationId,
    requested_by: (UserId, &str),
    jobs: &[(BillingPeriod, JobId)],
) -> StoreResult<uuid::Uuid> {
    let id = uuid::Uuid::now_v7();
    let periods: Vec<String> = jobs.iter().map(|(p, _)| p.to_string()).collect();
    let job_ids: Vec<uuid::Uuid> = jobs.iter().map(|(_, j)| j.as_uuid()).collect();
    sqlx::query(
        "INSERT INTO backfills (workspace_id, backfill_id, integration_id, requested_by, requested_by_id, periods, job_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(id)
    .bind(integration.as_uuid())
    .bind(requested_by.1)
    .bind(requested_by.0.as_uuid())
    .bind(&periods)
    .bind(&job_ids)
    .execute(scope.tx())
    .await?;
    Ok(id)
}

/// The integration's most recent backfills (newest first) with the state of each period.
pub async fn backfills(
    scope: &mut Scoped,
    integration: IntegrationId,
    limit: i64,
) -> StoreResult<Vec<Backfill>> {
    let ws = scope.workspace_id().as_uuid();
    let heads: Vec<(uuid::Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT backfill_id, requested_by, created_at FROM backfills
          WHERE workspace_id = $1 AND integration_id = $2 ORDER BY created_at DESC LIMIT $3",
    )
    .bind(ws)
    .bind(integration.as_uuid())
    .bind(limit)
    .fetch_all(scope.tx())
    .await?;
    let mut out = Vec::with_capacity(heads.len());
    for (backfill_id, requested_by, created_at) in heads {
        type Row = (
            String,
            uuid::Uuid,
            Option<String>,
            Option<String>,
            Option<serde_json::Value>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<DateTime<Utc>>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.period, p.job_id, j.status, j.error, j.progress, cp.status, cp.error, cp.rows, cp.ingested_at
               FROM backfills b
               CROSS JOIN LATERAL unnest(b.periods, b.job_ids) WITH ORDINALITY AS p(period, job_id, n)
               LEFT JOIN jobs j ON j.workspace_id = b.workspace_id AND j.job_id = p.job_id
               LEFT JOIN cur_periods cp ON cp.workspace_id = b.workspace_id AND cp.integration_id = b.integration_id
                                       AND cp.billing_period = to_date(p.period || '-01', 'YYYY-MM-DD')
              WHERE b.workspace_id = $1 AND b.backfill_id = $2
              ORDER BY p.n",
        )
        .bind(ws)
        .bind(backfill_id)
        .fetch_all(scope.tx())
        .await?;
        out.push(Backfill {
            backfill_id,
            integration_id: integration.as_uuid(),
            requested_by,
            created_at,
            periods: rows
                .into_iter()
                .map(|r| BackfillPeriod {
                    period: r.0,
                    job_id: r.1,
                    job_status: r.2,
                    job_error: r.3,
                    progress: r.4,
                    period_status: r.5,
                    period_error: r.6,
                    rows: r.7,
                    ingested_at: r.8,
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Queues one `ingest_period` job per period, oldest first (each runs after the previous one in
/// queue order), and records the backfill; in the caller's transaction. A period whose ingest
/// is already queued or running keeps that job. `payload` is the ingest job's input.
pub async fn queue_backfill(
    scope: &mut Scoped,
    integration: IntegrationId,
    periods: &[BillingPeriod],
    requested_by: (UserId, &str),
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> StoreResult<(uuid::Uuid, Vec<(BillingPeriod, JobId)>)> {
    let mut sorted = periods.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut jobs = Vec::with_capacity(sorted.len());
    for (n, period) in sorted.iter().enumerate() {
        // Queue order is run_at order: a microsecond apart keeps the oldest period first.
        let job = crate::jobs::NewJob::new(costline_domain::job_kinds::INGEST_PERIOD)
            .integration(integration)
            .period(*period)
            .payload(payload.clone())
            .run_at(now + chrono::Duration::microseconds(n as i64));
        let queued = crate::jobs::enqueue(scope, &job, now).await?;
        jobs.push((*period, queued.job_id()));
    }
    let id = record_backfill(scope, integration, requested_by, &jobs).await?;
    Ok((id, jobs))
}

/// A backfill one of whose ingest jobs just finished, as its notices need it.
#[derive(Debug, Clone)]
pub struct FinishedBackfill {
    /// Its id.
    pub backfill_id: uuid::Uuid,
    /// The support user's email.
    pub requested_by: String,
    /// Its periods, oldest first.
    pub periods: Vec<String>,
    /// Whether every period was ingested (`ready`) since the request and the backfill is not
    /// marked completed yet: the caller writes the notice and [`mark_backfill_completed`] in
    /// this transaction.
    pub completed: bool,
}

/// The most recent backfill whose jobs include `job`, if any, locked until the caller's
/// transaction ends: two ingests of one backfill finishing at once decide in turn, so exactly
/// one of them sees the backfill completed (the second finds it marked completed).
pub async fn finished_backfill(
    scope: &mut Scoped,
    integration: IntegrationId,
    job: JobId,
) -> StoreResult<Option<FinishedBackfill>> {
    let ws = scope.workspace_id().as_uuid();
    type Head = (
        uuid::Uuid,
        String,
        Vec<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let head: Option<Head> = sqlx::query_as(
        "SELECT backfill_id, requested_by, periods, created_at, completed_at FROM backfills
          WHERE workspace_id = $1 AND integration_id = $2 AND $3 = ANY(job_ids)
          ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(ws)
    .bind(integration.as_uuid())
    .bind(job.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    let Some((backfill_id, requested_by, periods, created_at, completed_at)) = head else {
        return Ok(None);
    };
    // Ready since the request: an older ingest of the period does not count.
    let not_ready: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($3::text[]) AS p(period)
          WHERE NOT EXISTS (
                SELECT 1 FROM cur_periods cp
                 WHERE cp.workspace_id = $1 AND cp.integration_id = $2
                   AND cp.billing_period = to_date(p.period || '-01', 'YYYY-MM-DD')
                   AND cp.status = 'ready' AND cp.ingested_at >= $4)",
    )
    .bind(ws)
    .bind(integration.as_uuid())
    .bind(&periods)
    .bind(created_at)
    .fetch_one(scope.tx())
    .await?;
    Ok(Some(FinishedBackfill {
        backfill_id,
        requested_by,
        periods,
        completed: not_ready == 0 && completed_at.is_none(),
    }))
}

/// Records that a backfill completed (in the transaction that writes its completion notice,
/// after [`finished_backfill`] locked it).
pub async fn mark_backfill_completed(
    scope: &mut Scoped,
    backfill_id: uuid::Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id().as_uuid();
    sqlx::query(
        "UPDATE backfills SET completed_at = $3
          WHERE workspace_id = $1 AND backfill_id = $2 AND completed_at IS NULL",
    )
    .bind(ws)
    .bind(backfill_id)
    .bind(at)
    .execute(scope.tx())
    .await?;
    Ok(())
}
