//! Recurring jobs per integration (verification, account discovery, looking for CUR deliveries).
//!
//! The schedules live in the database so that any number of worker processes can tick them: a due
//! schedule is locked with `FOR UPDATE SKIP LOCKED`, its job enqueued (deduplicated like any job)
//! and its `next_run_at` advanced in one transaction, so each occurrence fires once.

use crate::jobs::{Enqueued, NOTIFY_CHANNEL};
use crate::{Scoped, StoreError, StoreResult};
use chrono::{DateTime, TimeDelta, Utc};
use costline_domain::{IntegrationId, JobId, WorkspaceId};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Shortest interval a schedule may have.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// One recurring job of an integration.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// The job kind to enqueue.
    pub kind: String,
    /// How often.
    pub every: Duration,
    /// The payload of each job.
    pub payload: serde_json::Value,
    /// When the first occurrence is due (kept if the schedule already exists and is due sooner).
    pub first_run_at: DateTime<Utc>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its integration.
    pub integration_id: IntegrationId,
    /// The job kind.
    pub kind: String,
    /// How often.
    pub every: Duration,
    /// The payload of each job.
    pub payload: serde_json::Value,
    /// The next occurrence.
    pub next_run_at: DateTime<Utc>,
    /// The last time it fired.
    pub last_run_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    workspace_id: Uuid,
    integration_id: Uuid,
    kind: String,
    every_seconds: i32,
    payload: serde_json::Value,
    next_run_at: DateTime<Utc>,
    last_run_at: Option<DateTime<Utc>>,
}

impl From<ScheduleRow> for Schedule {
    fn from(r: ScheduleRow) -> Self {
        Schedule {
            workspace_id: WorkspaceId::from_uuid(r.workspace_id),
            integration_id: IntegrationId::from_uuid(r.integration_id),
            kind: r.kind,
            every: Duration::from_secs(r.every_seconds.max(0) as u64),
            payload: r.payload,
            next_run_at: r.next_run_at,
            last_run_at: r.last_run_at,
        }
    }
}

fn every_seconds(every: Duration) -> StoreResult<i32> {
    if every < MIN_INTERVAL {
        return Err(StoreError::Conflict(format!(
            "a schedule interval must be at least {}s, got {}s",
            MIN_INTERVAL.as_secs(),
            every.as_secs()
        )));
    }
    i32::try_from(every.as_secs())
        .map_err(|_| StoreError::Conflict("schedule interval too long".into()))
}

/// Makes an integration's schedules exactly `specs`: adds the missing ones, updates the interval
/// and payload of existing ones (keeping their phase unless the new first run is sooner), and
/// deletes kinds not listed.
pub async fn replace_for_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
    specs: &[ScheduleSpec],
) -> StoreResult<()> {
    let workspace_id = scope.workspace_id();
    let mut kinds = Vec::with_capacity(specs.len());
    for spec in specs {
        sqlx::query(
            "INSERT INTO schedules (workspace_id, integration_id, kind, every_seconds, payload, next_run_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace_id, integration_id, kind) DO UPDATE
                SET every_seconds = EXCLUDED.every_seconds,
                    payload = EXCLUDED.payload,
                    next_run_at = least(schedules.next_run_at, EXCLUDED.next_run_at)",
        )
        .bind(workspace_id.as_uuid())
        .bind(integration_id.as_uuid())
        .bind(&spec.kind)
        .bind(every_seconds(spec.every)?)
        .bind(&spec.payload)
        .bind(spec.first_run_at)
        .execute(scope.tx())
        .await?;
        kinds.push(spec.kind.clone());
    }
    sqlx::query(
        "DELETE FROM schedules WHERE workspace_id = $1 AND integration_id = $2 AND NOT (kind = ANY($3))",
    )
    .bind(workspace_id.as_uuid())
    .bind(integration_id.as_uuid())
    .bind(&kinds)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Deletes every schedule of an integration (revocation). Returns how many.
pub async fn delete_for_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
) -> StoreResult<u64> {
    let workspace_id = scope.workspace_id();
    let done = sqlx::query("DELETE FROM schedules WHERE workspace_id = $1 AND integration_id = $2")
        .bind(workspace_id.as_uuid())
        .bind(integration_id.as_uuid())
        .execute(scope.tx())
        .await?;
    Ok(done.rows_affected())
}

/// An integration's schedules, by kind.
pub async fn list_for_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
) -> StoreResult<Vec<Schedule>> {
    let workspace_id = scope.workspace_id();
    let rows: Vec<ScheduleRow> = sqlx::query_as(
        "SELECT workspace_id, integration_id, kind, every_seconds, payload, next_run_at, last_run_at
           FROM schedules WHERE workspace_id = $1 AND integration_id = $2 ORDER BY kind",
    )
    .bind(workspace_id.as_uuid())
    .bind(integration_id.as_uuid())
    .fetch_all(scope.tx())
    .await?;
    Ok(rows.into_iter().map(Schedule::from).collect())
}

/// The occurrence after `due` that is later than `now`, on the schedule's grid: a schedule that
/// missed several occurrences (every worker was down) fires once, not once per missed one, and
/// keeps its phase.
pub fn next_run_after(due: DateTime<Utc>, every: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let step = TimeDelta::from_std(every.max(Duration::from_secs(1))).unwrap_or(TimeDelta::MAX);
    if now < due {
        return due + step;
    }
    let behind = (now - due).num_milliseconds();
    let steps = behind / step.num_milliseconds().max(1) + 1;
    due + step * i32::try_from(steps).unwrap_or(i32::MAX)
}

/// One schedule occurrence that fired in a [`tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Its integration.
    pub integration_id: IntegrationId,
    /// The job kind.
    pub kind: String,
    /// The job queued, or the pending job it joined.
    pub job: Enqueued,
}

/// Fires every schedule due at `now` (up to `batch` of them): enqueues its job (or finds the one
/// still pending) and advances `next_run_at`, in one transaction that skips schedules another
/// worker is ticking.
pub async fn tick(
    pool: &PgPool,
    now: DateTime<Utc>,
    max_attempts: i32,
    batch: i64,
) -> StoreResult<Vec<Fired>> {
    let mut tx = pool.begin().await?;
    let due: Vec<ScheduleRow> = sqlx::query_as(
        "SELECT workspace_id, integration_id, kind, every_seconds, payload, next_run_at, last_run_at
           FROM schedules
          WHERE next_run_at <= $1
          ORDER BY next_run_at
          LIMIT $2
            FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }

    let workspaces: Vec<Uuid> = due.iter().map(|s| s.workspace_id).collect();
    let integrations: Vec<Uuid> = due.iter().map(|s| s.integration_id).collect();
    let kinds: Vec<String> = due.iter().map(|s| s.kind.clone()).collect();
    let payloads: Vec<serde_json::Value> = due.iter().map(|s| s.payload.clone()).collect();
    let new_ids: Vec<Uuid> = due.iter().map(|_| JobId::new().as_uuid()).collect();
    let next: Vec<DateTime<Utc>> = due
        .iter()
        .map(|s| {
            next_run_after(
                s.next_run_at,
                Duration::from_secs(s.every_seconds.max(1) as u64),
                now,
            )
        })
        .collect();

    // Insert what is not pending yet; then read back the pending job of every due schedule,
    // new or old (the insert's rows are visible to the next statement of the transaction).
    sqlx::query(
        "INSERT INTO jobs (workspace_id, job_id, kind, integration_id, payload, max_attempts, run_at, created_at)
         SELECT d.workspace_id, d.job_id, d.kind, d.integration_id, d.payload, $6, $7, $7
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::jsonb[])
                AS d(workspace_id, job_id, kind, integration_id, payload)
         ON CONFLICT (workspace_id, kind, integration_id, (coalesce(billing_period, '')))
            WHERE status IN ('queued', 'running') AND integration_id IS NOT NULL
         DO NOTHING",
    )
    .bind(&workspaces)
    .bind(&new_ids)
    .bind(&kinds)
    .bind(&integrations)
    .bind(&payloads)
    .bind(max_attempts)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let pending: Vec<(Uuid, Uuid, String, Uuid)> = sqlx::query_as(
        "SELECT j.workspace_id, j.integration_id, j.kind, j.job_id
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS d(workspace_id, integration_id, kind)
           JOIN jobs j ON j.workspace_id = d.workspace_id AND j.integration_id = d.integration_id
                      AND j.kind = d.kind AND j.billing_period IS NULL
                      AND j.status IN ('queued', 'running')",
    )
    .bind(&workspaces)
    .bind(&integrations)
    .bind(&kinds)
    .fetch_all(&mut *tx)
    .await?;

    sqlx::query(
        "UPDATE schedules s SET next_run_at = d.next_run_at, last_run_at = $5
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[])
                AS d(workspace_id, integration_id, kind, next_run_at)
          WHERE s.workspace_id = d.workspace_id AND s.integration_id = d.integration_id AND s.kind = d.kind",
    )
    .bind(&workspaces)
    .bind(&integrations)
    .bind(&kinds)
    .bind(&next)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, 'schedules')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let fired = due
        .iter()
        .zip(&new_ids)
        .map(|(s, new_id)| {
            let job = pending
                .iter()
                .find(|(ws, integ, kind, _)| {
                    *ws == s.workspace_id && *integ == s.integration_id && *kind == s.kind
                })
                .map(|(_, _, _, id)| {
                    if id == new_id {
                        Enqueued::Created(JobId::from_uuid(*id))
                    } else {
                        Enqueued::Existing(JobId::from_uuid(*id))
                    }
                })
                // Finished between the insert's conflict and the read: the occurrence was
                // covered by that job.
                .unwrap_or(Enqueued::Existing(JobId::from_uuid(*new_id)));
            Fired {
                workspace_id: WorkspaceId::from_uuid(s.workspace_id),
                integration_id: IntegrationId::from_uuid(s.integration_id),
                kind: s.kind.clone(),
                job,
            }
        })
        .collect();
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 9, 1, h, m, 0).unwrap()
    }

    #[test]
    fn next_run_keeps_the_grid() {
        let every = Duration::from_secs(30 * 60);
        assert_eq!(next_run_after(t(10, 0), every, t(10, 0)), t(10, 30));
        assert_eq!(next_run_after(t(10, 0), every, t(10, 1)), t(10, 30));
        assert_eq!(next_run_after(t(10, 0), every, t(10, 30)), t(11, 0));
    }

    #[test]
    fn missed_occurrences_fire_once() {
        let every = Duration::from_secs(6 * 3600);
        // Down from 00:00 to 19:10: one firing now, the next on the 6-hour grid.
        assert_eq!(
            next_run_after(t(0, 0), every, t(19, 10)),
            t(0, 0) + TimeDelta::hours(24)
        );
    }

    #[test]
    fn intervals_below_a_minute_are_refused() {
        assert!(every_seconds(Duration::from_secs(59)).is_err());
        assert_eq!(every_seconds(Duration::from_secs(1800)).unwrap(), 1800);
    }
}
