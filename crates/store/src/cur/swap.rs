//! The swap: one transaction that makes a loaded assembly the period's served one.
//!
//! [`prepare_swap`] locks the integration (`FOR SHARE`: a revocation waits for the swap, and a
//! swap after a revocation writes nothing) and then the period row (concurrent swaps of one
//! period queue there), checks that the period still expects this assembly, replaces the
//! period's attached line item table with the staging table (the owner's `cur_swap_in`, which
//! seals it under forced RLS first), rebuilds the period's rollups (`super::rollup_build`), and
//! records the files, the row count and the integration's first report, all in a transaction
//! of the workspace as the application role.
//! Nothing is visible until [`PendingSwap::commit`]: readers see the previous assembly until
//! then, and a swap that fails or is dropped leaves it in place. [`swap_period`] does both.

use super::resource_costs::write_resource_costs;
use super::rollup_build::{delete_rollups, write_rollups};
use super::staging::Staging;
use crate::rollups::PeriodRollups;
use crate::{Scoped, Store, StoreError, StoreResult};
use chrono::{DateTime, Utc};

/// A file of the assembly, for the integrity record.
#[derive(Debug, Clone)]
pub struct FileRecord {
    /// S3 key.
    pub key: String,
    /// Position in the assembly.
    pub file_no: i32,
    /// Size in bytes.
    pub bytes: i64,
    /// Line items read.
    pub rows: i64,
}

/// What a swap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapOutcome {
    /// Line items now served for the period.
    pub rows: i64,
    /// True when this was the integration's first ingested report (the caller notifies the
    /// admins: `costline_store::notifications::notify_admins_at`, idempotent per integration).
    pub first_report: bool,
}

/// A swap done but not committed: readers still see the previous assembly.
pub struct PendingSwap {
    scope: Scoped,
    outcome: SwapOutcome,
}

impl PendingSwap {
    /// What the swap will have done once committed.
    pub fn outcome(&self) -> &SwapOutcome {
        &self.outcome
    }

    /// Commits: readers see the new assembly from now on.
    pub async fn commit(self) -> StoreResult<SwapOutcome> {
        self.scope.commit().await?;
        Ok(self.outcome)
    }
}

/// [`prepare_swap`] and commit.
pub async fn swap_period(
    store: &Store,
    staging: &Staging,
    files: &[FileRecord],
    rollups: &PeriodRollups,
    now: DateTime<Utc>,
) -> StoreResult<SwapOutcome> {
    prepare_swap(store, staging, files, rollups, now)
        .await?
        .commit()
        .await
}

/// In one transaction (not committed yet): replaces the period's rollups with `rollups` (summed
/// while parsing; computed here from the staging table when they overflowed), replaces the
/// period's line item partition with the staging table (the old one is dropped), records the
/// files and row counts, marks the period `ready`, and notes the integration's first ingested
/// report. Fails with `Conflict` when the integration was revoked or the period no longer
/// expects this assembly (a newer ingest started or the integration's data was deleted).
pub async fn prepare_swap(
    store: &Store,
    staging: &Staging,
    files: &[FileRecord],
    rollups: &PeriodRollups,
    now: DateTime<Utc>,
) -> StoreResult<PendingSwap> {
    let ws = staging.workspace_id.as_uuid();
    let int = staging.integration_id.as_uuid();
    let bp = staging.period.start();
    let mut scope = store.scoped(staging.workspace_id).await?;
    let tx = scope.tx();
    // A revocation (which locks the integration FOR UPDATE) waits for this swap to commit and
    // then deletes what it wrote; a swap after a revocation writes nothing.
    if !crate::revocation::lock_live_integration_on(
        &mut *tx,
        staging.workspace_id,
        staging.integration_id,
    )
    .await?
    {
        return Err(StoreError::Conflict(format!(
            "integration {} was revoked: nothing of it is stored any more",
            staging.integration_id
        )));
    }
    // Lock order: the period row first, so concurrent swaps of one period queue here.
    let current: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT assembly_id, live_table FROM cur_periods
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3 FOR UPDATE",
    )
    .bind(ws)
    .bind(int)
    .bind(bp)
    .fetch_optional(&mut *tx)
    .await?;
    let old_table = served_table(staging, current)?;

    // The new assembly's table replaces the served one; the SQL rollups below read it through
    // the partitioned table.
    sqlx::query("SELECT cur_swap_in($1, $2, $3, $4, $5)")
        .bind(ws)
        .bind(int)
        .bind(bp)
        .bind(&staging.table)
        .bind(old_table.as_deref())
        .execute(&mut *tx)
        .await?;

    // The period's rollups are rebuilt whole from the new assembly.
    delete_rollups(&mut *tx, staging).await?;
    let loaded_rows: i64 = files.iter().map(|f| f.rows).sum();
    let (rows, currency) = write_rollups(&mut *tx, staging, rollups, loaded_rows).await?;
    write_resource_costs(&mut *tx, staging, rollups).await?;
    // Which accounts the period now covers, and whether another integration supplies them.
    crate::cost_sources::record_period(&mut *tx, ws, int, bp).await?;

    sqlx::query(
        "DELETE FROM cur_files WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(ws)
    .bind(int)
    .bind(bp)
    .execute(&mut *tx)
    .await?;
    for f in files {
        sqlx::query(
            "INSERT INTO cur_files (workspace_id, integration_id, billing_period, assembly_id, file_key,
                                    file_no, bytes, rows, ingested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(ws)
        .bind(int)
        .bind(bp)
        .bind(&staging.assembly_id)
        .bind(&f.key)
        .bind(f.file_no)
        .bind(f.bytes)
        .bind(f.rows)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE cur_periods SET status = 'ready', error = NULL, live_assembly_id = assembly_id,
                live_table = $4, rows = $5, currency = $6, ingested_at = $7, updated_at = $7
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(ws)
    .bind(int)
    .bind(bp)
    .bind(&staging.table)
    .bind(rows)
    .bind(&currency)
    .bind(now)
    .execute(&mut *tx)
    .await?;

    let first: Option<bool> = sqlx::query_scalar(
        "INSERT INTO cur_sources (workspace_id, integration_id, status, first_ingested_at)
         VALUES ($1, $2, 'delivered', $3)
         ON CONFLICT (workspace_id, integration_id) DO UPDATE
            SET first_ingested_at = coalesce(cur_sources.first_ingested_at, EXCLUDED.first_ingested_at)
         RETURNING first_ingested_at = $3",
    )
    .bind(ws)
    .bind(int)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let first_report = first.unwrap_or(false);
    Ok(PendingSwap {
        scope,
        outcome: SwapOutcome { rows, first_report },
    })
}

/// The period's served table, when its row (`assembly_id`, `live_table`, locked) still expects
/// the staging table's assembly; `Conflict` saying why not otherwise.
fn served_table(
    staging: &Staging,
    row: Option<(String, Option<String>)>,
) -> StoreResult<Option<String>> {
    let Some((expected_assembly, old_table)) = row else {
        return Err(StoreError::Conflict(format!(
            "billing period {} of integration {} is no longer recorded (was the integration revoked?)",
            staging.period, staging.integration_id
        )));
    };
    if expected_assembly != staging.assembly_id {
        return Err(StoreError::Conflict(format!(
            "billing period {} now expects assembly {expected_assembly}, not {}",
            staging.period, staging.assembly_id
        )));
    }
    Ok(old_table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use costline_domain::{IntegrationId, WorkspaceId};

    fn staging(assembly: &str) -> Staging {
        Staging {
            workspace_id: WorkspaceId::new(),
            integration_id: IntegrationId::new(),
            period: "2024-03".parse().unwrap(),
            assembly_id: assembly.into(),
            table: "li_x_202403_00000001".into(),
        }
    }

    #[test]
    fn the_expected_assembly_swaps_in_over_the_served_table_if_any() {
        let s = staging("asm-b");
        assert_eq!(
            served_table(&s, Some(("asm-b".into(), None))).unwrap(),
            None
        );
        assert_eq!(
            served_table(
                &s,
                Some(("asm-b".into(), Some("li_x_202403_00000000".into())))
            )
            .unwrap()
            .as_deref(),
            Some("li_x_202403_00000000")
        );
    }

    #[test]
    fn a_superseded_or_forgotten_assembly_conflicts() {
        let s = staging("asm-a");
        match served_table(&s, Some(("asm-b".into(), None))) {
            Err(StoreError::Conflict(m)) => {
                assert_eq!(
                    m,
                    "billing period 2024-03 now expects assembly asm-b, not asm-a"
                )
            }
            other => panic!("{other:?}"),
        }
        match served_table(&s, None) {
            Err(StoreError::Conflict(m)) => assert!(m.contains("no longer recorded"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
