//! Revocation: everything derived from an AWS integration is deleted in one transaction, before
//! the API answers (docs: issue 7).
//!
//! What stays: the `integrations` row as a `revoked` tombstone without role ARN or external id,
//! and the workspace's audit events. Jobs of the integration that were still queued or running
//! stay as anonymous `cancelled` stubs (kind, status and times only: no integration id, period,
//! payload, progress or error), so that whoever follows a job id sees that it was cancelled;
//! jobs that had already finished are deleted.
//!
//! Ingested data lives in partitions of the integration (one per integration, see
//! `migrations/0005_cur.sql`): they are dropped, a catalog operation whose cost does not depend
//! on the number of rows. The partitions are found in the catalog by their bound, so any
//! partitioned table keyed by integration is covered without a change here.
//!
//! Runs in a transaction of the workspace as the application role, with every statement
//! filtered by workspace (dropping a partition needs the table owner: the owner's
//! `cur_drop_tables_of` does it for the transaction's workspace only), after locking the
//! integration row `FOR UPDATE`: an ingest
//! that holds the row `FOR SHARE` for its final swap (see [`lock_live_integration`]) finishes
//! first and its rows are deleted here; one that starts its swap later sees `revoked` and writes
//! nothing.

use crate::audit::{self, Actor};
use crate::{Scoped, Store, StoreError, StoreResult};
use costline_domain::{IntegrationId, IntegrationStatus, WorkspaceId};
use serde::Serialize;
use serde_json::json;

/// The channel every worker process listens on; the payload is the revoked external id.
pub const REVOKED_CHANNEL: &str = "costline_revoked";

/// What a revocation removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Revoked {
    /// The integration.
    pub integration_id: uuid::Uuid,
    /// The external id it had (for forgetting cached sessions); `None` if it was never set or
    /// the integration had already been revoked.
    #[serde(skip)]
    pub external_id: Option<String>,
    /// The role it had.
    #[serde(skip)]
    pub role_arn: Option<String>,
    /// Whether it was already revoked before (then only leftovers were removed).
    pub already_revoked: bool,
    /// Queued or running jobs turned `cancelled`.
    pub cancelled_jobs: u64,
    /// Finished jobs deleted.
    pub deleted_jobs: u64,
    /// Rows deleted per table (tables without rows of the integration are left out).
    pub deleted_rows: std::collections::BTreeMap<String, u64>,
    /// Partitions dropped (their rows are not counted).
    pub dropped_partitions: Vec<String>,
    /// How long each step took (for the benchmark and the logs).
    #[serde(skip)]
    pub steps: Vec<(&'static str, std::time::Duration)>,
}

/// Tables that keep rows of a revoked integration, or handle them apart: the tombstone, the
/// audit log, and jobs (stubbed or deleted above). Every other table with `workspace_id` and
/// `integration_id` columns loses the integration's rows, so a table added by a later migration
/// is covered without a change here (tests/revocation.rs scans the catalog to prove it).
const KEEP: &[&str] = &["integrations", "audit_events", "jobs"];

/// Revokes `id` in `workspace` and records `integration.revoked` by `actor`, in one
/// transaction. `NotFound` when the workspace has no such integration. Revoking a revoked
/// integration again removes any leftovers and answers the same.
pub async fn revoke_integration(
    store: &Store,
    workspace: WorkspaceId,
    id: IntegrationId,
    actor: &Actor,
) -> StoreResult<Revoked> {
    let mut scope = store.scoped(workspace).await?;
    let revoked = purge_integration(&mut scope, id).await?;
    audit::record(
        &mut scope,
        actor,
        "integration.revoked",
        &format!("integration:{id}"),
        json!({
            "role_arn": revoked.role_arn,
            "cancelled_jobs": revoked.cancelled_jobs,
            "deleted_jobs": revoked.deleted_jobs,
            "deleted_rows": revoked.deleted_rows,
            "dropped_partitions": revoked.dropped_partitions.len(),
            "already_revoked": revoked.already_revoked,
        }),
    )
    .await?;
    let mut revoked = revoked;
    let t = std::time::Instant::now();
    scope.commit().await?;
    revoked.steps.push(("commit", t.elapsed()));
    tracing::debug!(steps = ?revoked.steps, "integration revoked");
    Ok(revoked)
}

/// Deletes everything derived from `id` inside `scope` and turns the
/// integration into a tombstone. Also used by workspace deletion.
pub(crate) async fn purge_integration(
    scope: &mut Scoped,
    id: IntegrationId,
) -> StoreResult<Revoked> {
    let started = std::time::Instant::now();
    let ws = scope.workspace_id().as_uuid();
    let integration = id.as_uuid();
    // Waits for an ingest's final swap (FOR SHARE) to commit; blocks any later one.
    let row: Option<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT external_id, role_arn, status FROM integrations
          WHERE workspace_id = $1 AND integration_id = $2 FOR UPDATE",
    )
    .bind(ws)
    .bind(integration)
    .fetch_optional(scope.tx())
    .await?;
    let Some((external_id, role_arn, status)) = row else {
        return Err(StoreError::NotFound);
    };
    let mut out = Revoked {
        integration_id: integration,
        external_id,
        role_arn,
        already_revoked: status == IntegrationStatus::Revoked.as_str(),
        ..Default::default()
    };

    // Jobs: the running and queued ones become anonymous cancelled stubs (a running one stops at
    // its next checkpoint: its lease no longer holds), the finished ones go. Jobs that name the
    // integration only in their payload (e.g. a notification) count as the integration's.
    let needle = integration.to_string();
    let cancelled = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = now(), lease_expires_at = NULL,
                integration_id = NULL, billing_period = NULL, payload = '{}', progress = '{}',
                error = 'cancelled: the integration was revoked'
          WHERE workspace_id = $1
            -- A job that finished while this revocation waited for the row lock (an ingest's
            -- final swap) was still running when the revocation began: it is cancelled too.
            AND (status IN ('queued', 'running') OR finished_at >= now())
            AND (integration_id = $2 OR strpos(payload::text, $3) > 0 OR strpos(progress::text, $3) > 0)",
    )
    .bind(ws)
    .bind(integration)
    .bind(&needle)
    .execute(scope.tx())
    .await?;
    out.cancelled_jobs = cancelled.rows_affected();
    out.steps.push(("lock and cancel jobs", started.elapsed()));
    let deleted = sqlx::query(
        "DELETE FROM jobs WHERE workspace_id = $1
            AND (integration_id = $2 OR strpos(payload::text, $3) > 0 OR strpos(progress::text, $3) > 0
                 OR strpos(coalesce(error, ''), $3) > 0)",
    )
    .bind(ws)
    .bind(integration)
    .bind(&needle)
    .execute(scope.tx())
    .await?;
    out.deleted_jobs = deleted.rows_affected();
    out.steps.push(("delete finished jobs", started.elapsed()));

    // Ingested data: drop the integration's partitions and staging tables (catalog operations).
    out.dropped_partitions = drop_tables_of(scope, integration).await?;
    out.steps.push(("drop partitions", started.elapsed()));

    // Periods the integration reported: locked before its accounts are deleted, then ranked
    // again, so an account it supplied is counted from the integration that also reports it.
    let periods = crate::cost_sources::lock_periods_of(scope.tx(), ws, integration).await?;
    // Per-integration metadata (accounts, schedules, periods and files seen, notifications):
    // small, deleted row by row, referencing tables first.
    for table in tables_with_column(scope, "integration_id", KEEP).await? {
        let n = delete_rows(scope, &table, id).await?;
        if n > 0 {
            out.deleted_rows.insert(table, n);
        }
    }
    crate::cost_sources::rank_periods(scope.tx(), ws, &periods).await?;

    sqlx::query(
        "UPDATE integrations SET status = 'revoked', role_arn = NULL, external_id = NULL, error = NULL,
                account_id = NULL, account_type = NULL, organization_id = NULL,
                management_account_id = NULL, cur_bucket = NULL, cur_prefix = NULL,
                cur_report_name = NULL, cur_source = NULL, stack_id = NULL, template_version = NULL, stackset_template_version = NULL,
                role_policy_checked_at = NULL, role_policy_drift = NULL, role_policy_error = NULL,
                verified_at = NULL, accounts_synced_at = NULL,
                revoked_at = COALESCE(revoked_at, now())
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(ws)
    .bind(integration)
    .execute(scope.tx())
    .await?;

    // Delivered to every listening worker process when (and only if) this transaction commits.
    out.steps
        .push(("delete metadata and tombstone", started.elapsed()));
    if let Some(external_id) = &out.external_id {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(REVOKED_CHANNEL)
            .bind(external_id)
            .execute(scope.tx())
            .await?;
    }
    Ok(out)
}

/// What revoking an integration would delete, for the confirmation page.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct RevocationPreview {
    /// Discovered AWS accounts.
    pub accounts: i64,
    /// Billing periods stored.
    pub periods: i64,
    /// Line items stored (served assemblies).
    pub line_items: i64,
    /// Jobs (queued and running ones are cancelled, finished ones deleted).
    pub jobs: i64,
    /// Of which queued or running.
    pub pending_jobs: i64,
    /// Schedules.
    pub schedules: i64,
    /// In-console notices about it.
    pub notifications: i64,
}

/// Counts what [`revoke_integration`] would delete (cheap: line items from the period rows).
pub async fn preview(scope: &mut Scoped, id: IntegrationId) -> StoreResult<RevocationPreview> {
    let ws = scope.workspace_id().as_uuid();
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM aws_accounts WHERE workspace_id = $1 AND integration_id = $2) AS accounts,
                (SELECT count(*) FROM cur_periods WHERE workspace_id = $1 AND integration_id = $2) AS periods,
                (SELECT coalesce(sum(rows), 0)::bigint FROM cur_periods WHERE workspace_id = $1 AND integration_id = $2) AS line_items,
                (SELECT count(*) FROM jobs WHERE workspace_id = $1 AND integration_id = $2) AS jobs,
                (SELECT count(*) FROM jobs WHERE workspace_id = $1 AND integration_id = $2
                    AND status IN ('queued', 'running')) AS pending_jobs,
                (SELECT count(*) FROM schedules WHERE workspace_id = $1 AND integration_id = $2) AS schedules,
                (SELECT count(*) FROM notifications WHERE workspace_id = $1 AND integration_id = $2) AS notifications",
    )
    .bind(ws)
    .bind(id.as_uuid())
    .fetch_one(scope.tx())
    .await?)
}

/// For an ingest's final swap, inside its transaction: locks the integration row `FOR SHARE`
/// and answers whether it may still be written to (exists and is not revoked). A revocation
/// waits for the swap to commit (and then deletes what it wrote); a swap that comes after a
/// revocation sees `false` and must roll back.
pub async fn lock_live_integration(scope: &mut Scoped, id: IntegrationId) -> StoreResult<bool> {
    let ws = scope.workspace_id();
    lock_live_integration_on(scope.tx(), ws, id).await
}

/// [`lock_live_integration`] on a bare connection (the ingest's swap transaction).
pub(crate) async fn lock_live_integration_on(
    conn: &mut sqlx::PgConnection,
    workspace: WorkspaceId,
    id: IntegrationId,
) -> StoreResult<bool> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM integrations WHERE workspace_id = $1 AND integration_id = $2 FOR SHARE",
    )
    .bind(workspace.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await?;
    Ok(matches!(status.as_deref(), Some(s) if s != IntegrationStatus::Revoked.as_str()))
}

/// Whether the integration may be used now (exists, not revoked): read before every assume.
pub async fn is_live(
    store: &Store,
    workspace: WorkspaceId,
    id: IntegrationId,
) -> StoreResult<bool> {
    let mut scope = store.scoped(workspace).await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM integrations WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(workspace.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    scope.commit().await?;
    Ok(matches!(status.as_deref(), Some(s) if s != IntegrationStatus::Revoked.as_str()))
}

/// Whether an external id still belongs to a live integration (any workspace): the listener's
/// catch-up after a lost connection asks this for every cached session.
pub async fn external_id_is_live(store: &Store, external_id: &str) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM integrations WHERE external_id = $1 AND status <> 'revoked' LIMIT 1",
    )
    .bind(external_id)
    .fetch_optional(store.system())
    .await?;
    Ok(found.is_some())
}

/// A connection LISTENing on [`REVOKED_CHANNEL`], outside the store's pools (a listener holds
/// its connection for good).
pub struct RevocationListener {
    listener: sqlx::postgres::PgListener,
}

impl RevocationListener {
    /// Connects (as the system role) and starts listening.
    pub async fn connect(store: &Store) -> StoreResult<RevocationListener> {
        let options = (*store.system().connect_options()).clone();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(options);
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(REVOKED_CHANNEL).await?;
        Ok(RevocationListener { listener })
    }

    /// The next revoked external id; `None` when the connection was lost (notifications sent
    /// meanwhile are lost; the next call reconnects).
    pub async fn next(&mut self) -> StoreResult<Option<String>> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|n| n.payload().to_string()))
    }
}

/// Drops every table of `cur_parts` that belongs to `key` (an integration of the scope's
/// workspace, or the workspace itself): its partitions, with everything under them, and its
/// staging tables, returning their names. A load still writing into one of its staging tables
/// is ended first (its job was cancelled above), so that the drop does not wait for it; the
/// application role may end its own role's sessions, the owner's function could not.
pub(crate) async fn drop_tables_of(
    scope: &mut Scoped,
    key: uuid::Uuid,
) -> StoreResult<Vec<String>> {
    sqlx::query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
          WHERE l.pid <> pg_backend_pid()
            AND l.relation IN (SELECT k.conrelid FROM pg_constraint k
                                 JOIN pg_class c ON c.oid = k.conrelid
                                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'cur_parts'
                                WHERE k.contype = 'c' AND NOT c.relispartition
                                  AND strpos(pg_get_constraintdef(k.oid), $1) > 0)",
    )
    .bind(key.to_string())
    .execute(scope.tx())
    .await?;
    let names: Vec<String> = sqlx::query_scalar("SELECT unnest(cur_drop_tables_of($1, $2))")
        .bind(scope.workspace_id().as_uuid())
        .bind(key)
        .fetch_all(scope.tx())
        .await?;
    Ok(names)
}

/// Plain tables of the public schema with a `workspace_id` column and a `column` column, except
/// `keep` and partitioned tables (whose partitions of the key are dropped instead), ordered so
/// that a table comes before the tables its foreign keys reference.
pub(crate) async fn tables_with_column(
    scope: &mut Scoped,
    column: &str,
    keep: &[&str],
) -> StoreResult<Vec<String>> {
    let keep: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
          WHERE c.relkind = 'r' AND NOT c.relispartition AND NOT (c.relname = ANY($1))
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped)
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped)
          ORDER BY 1",
    )
    .bind(&keep)
    .bind(column)
    .fetch_all(scope.tx())
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT ch.relname::text, pa.relname::text FROM pg_constraint k
           JOIN pg_class ch ON ch.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
          WHERE k.contype = 'f' AND ch.relname = ANY($1) AND pa.relname = ANY($1) AND ch.oid <> pa.oid",
    )
    .bind(&tables)
    .fetch_all(scope.tx())
    .await?;
    Ok(referencing_first(tables, &edges))
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Orders `tables` so that every child of an `(child, parent)` edge comes before its parent.
fn referencing_first(mut tables: Vec<String>, edges: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        // A table no remaining table references can go now; a cycle takes the first one.
        let pick = tables
            .iter()
            .position(|t| {
                !edges
                    .iter()
                    .any(|(child, parent)| parent == t && child != t && tables.contains(child))
            })
            .unwrap_or(0);
        out.push(tables.remove(pick));
    }
    out
}

async fn delete_rows(scope: &mut Scoped, table: &str, id: IntegrationId) -> StoreResult<u64> {
    // `table` is a table name read from the catalog, never input; quoted as an identifier.
    let table = quote_ident(table);
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE workspace_id = $1 AND integration_id = $2"
    ))
    .bind(scope.workspace_id().as_uuid())
    .bind(id.as_uuid())
    .execute(scope.tx())
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::referencing_first;

    #[test]
    fn referencing_tables_come_first() {
        let tables = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let edges = vec![
            ("c".to_string(), "a".to_string()),
            ("b".to_string(), "c".to_string()),
        ];
        assert_eq!(referencing_first(tables, &edges), vec!["b", "c", "a"]);
    }
}
