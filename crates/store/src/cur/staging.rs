//! Loading an assembly's line items: the partitions they live in, the staging table an ingest
//! fills, and the `COPY` that fills it.
//!
//! `cur_line_item_chunks` is partitioned by integration (`cur_parts.li_<integration>`), and each
//! of those by billing period (`li_<integration>_<yyyymm>_<random>`). An ingest creates a fresh,
//! unattached leaf with [`create_staging`] (dropping the leaves earlier attempts left), fills it
//! with one [`LineItemCopy`] per file, and the swap attaches it (`super::swap`); a failed ingest
//! drops it with [`drop_staging`]. Readers never see a staging table: it is not attached, and the
//! application role's only privilege in `cur_parts` is inserting into its own staging tables.
//!
//! Partition DDL needs the table owner: it runs in the owner's SECURITY DEFINER functions of
//! `migrations/0024_roles_and_forced_rls.sql`, called from a transaction of the workspace (they
//! refuse any other). Until the swap seals it, the application role may only insert into a
//! staging table, rows of its own transaction's workspace (PostgreSQL refuses `COPY FROM` into
//! a table under row-level security). Table names are built only from ids and dates (never from
//! report content).

use crate::line_items::{SealedChunk, CHUNK_COLUMNS, COPY_BINARY_HEADER, COPY_BINARY_TRAILER};
use crate::{Scoped, Store, StoreError, StoreResult};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use uuid::Uuid;

/// Schema of the line item partitions (the application role may only insert into staging tables).
const PARTS_SCHEMA: &str = "cur_parts";

/// A fresh, not yet attached line item table for one assembly of one period.
#[derive(Debug, Clone)]
pub struct Staging {
    pub(super) workspace_id: WorkspaceId,
    pub(super) integration_id: IntegrationId,
    pub(super) period: BillingPeriod,
    pub(super) assembly_id: String,
    pub(super) table: String,
}

impl Staging {
    /// The table's name inside the partitions schema.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The assembly it holds.
    pub fn assembly_id(&self) -> &str {
        &self.assembly_id
    }

    /// The billing period it holds.
    pub fn period(&self) -> BillingPeriod {
        self.period
    }

    /// The table's name with its schema, for SQL text.
    pub(super) fn qualified(&self) -> String {
        qualified(&self.table)
    }
}

/// A table of the partitions schema by name, for SQL text.
pub(super) fn qualified(table: &str) -> String {
    format!("{PARTS_SCHEMA}.{table}")
}

/// The integration's partition of `cur_line_item_chunks`, parent of its periods' tables.
pub(super) fn integration_table(integration: IntegrationId) -> String {
    format!("li_{}", integration.as_uuid().simple())
}

/// What the names of the integration's tables of `period` start with (attached or not).
fn leaf_prefix(integration: IntegrationId, period: BillingPeriod) -> String {
    format!(
        "{}_{:04}{:02}_",
        integration_table(integration),
        period.year(),
        period.month()
    )
}

/// A new staging table's name: the period's prefix and 8 hex digits of `random`, so that it can
/// stand beside the period's served table until the swap replaces that one (51 characters,
/// within PostgreSQL's 63).
fn staging_table(integration: IntegrationId, period: BillingPeriod, random: Uuid) -> String {
    let suffix = random.simple().to_string();
    format!("{}{}", leaf_prefix(integration, period), &suffix[..8])
}

/// Creates the empty table an assembly of `period` is loaded into, after dropping what earlier
/// failed attempts left. Its check constraint lets the later attach skip a validation scan.
pub async fn create_staging(
    store: &Store,
    workspace_id: WorkspaceId,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly_id: &str,
) -> StoreResult<Staging> {
    let staging = Staging {
        workspace_id,
        integration_id: integration,
        period,
        assembly_id: assembly_id.to_owned(),
        table: staging_table(integration, period, Uuid::new_v4()),
    };
    let mut scope = store.scoped(workspace_id).await?;
    sqlx::query("SELECT cur_create_staging($1, $2, $3, $4)")
        .bind(workspace_id.as_uuid())
        .bind(integration.as_uuid())
        .bind(period.start())
        .bind(&staging.table)
        .execute(scope.tx())
        .await
        .map_err(|e| match &e {
            // No live integration of that id in the workspace.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("P0002") => {
                StoreError::NotFound
            }
            _ => StoreError::Database(e),
        })?;
    scope.commit().await?;
    Ok(staging)
}

/// A `COPY` of line item chunks into a staging table. Feed it what [`CopyEncoder::take`]
/// seals; several may run at once into the same table (one per file).
///
/// [`CopyEncoder::take`]: crate::line_items::CopyEncoder::take
pub struct LineItemCopy {
    scope: Scoped,
    table: String,
    chunks: u64,
    line_items: u64,
}

impl LineItemCopy {
    /// Starts a transaction of the staging table's workspace on its own connection; nothing it
    /// sends is visible before [`finish`](Self::finish) commits.
    pub async fn start(store: &Store, staging: &Staging) -> StoreResult<LineItemCopy> {
        Ok(LineItemCopy {
            scope: store.scoped(staging.workspace_id).await?,
            table: staging.qualified(),
            chunks: 0,
            line_items: 0,
        })
    }

    /// Sends a sealed chunk (nothing when it is empty): one `COPY` of one row (a chunk holds
    /// thousands of line items, so the statement per chunk costs nothing measurable).
    pub async fn send(&mut self, sealed: &SealedChunk) -> StoreResult<()> {
        if sealed.line_items == 0 {
            return Ok(());
        }
        let mut copy = self
            .scope
            .tx()
            .copy_in_raw(&format!(
                "COPY {} ({CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT binary)",
                self.table
            ))
            .await?;
        copy.send(COPY_BINARY_HEADER).await?;
        copy.send(sealed.tuple.as_slice()).await?;
        copy.send(COPY_BINARY_TRAILER).await?;
        let stored = copy.finish().await?;
        if stored != 1 {
            // The server answered the COPY with a count it cannot have: a database fault (500),
            // not a state the caller could resolve.
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "the database stored {stored} line item chunks of the 1 sent"
            ))));
        }
        self.chunks += 1;
        self.line_items += sealed.line_items;
        Ok(())
    }

    /// Commits; the number of line items stored.
    pub async fn finish(self) -> StoreResult<u64> {
        self.scope.commit().await?;
        Ok(self.line_items)
    }

    /// Abandons the load (nothing it sent is kept).
    pub async fn abort(self, why: &str) -> StoreResult<()> {
        tracing::debug!(table = %self.table, chunks = self.chunks, why, "line item load abandoned");
        self.scope.rollback().await
    }
}

/// Drops a staging table (a failed or superseded ingest's); nothing when it is gone already.
pub async fn drop_staging(store: &Store, staging: &Staging) -> StoreResult<()> {
    let mut scope = store.scoped(staging.workspace_id).await?;
    sqlx::query("SELECT cur_drop_staging($1, $2)")
        .bind(staging.workspace_id.as_uuid())
        .bind(&staging.table)
        .execute(scope.tx())
        .await?;
    scope.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> IntegrationId {
        IntegrationId::from_uuid("0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6".parse().unwrap())
    }

    fn period(s: &str) -> BillingPeriod {
        s.parse().unwrap()
    }

    #[test]
    fn tables_are_named_from_the_integration_and_the_period_only() {
        assert_eq!(
            integration_table(integration()),
            "li_0190f0a12b3c7d4e8f90a1b2c3d4e5f6"
        );
        assert_eq!(
            leaf_prefix(integration(), period("2024-03")),
            "li_0190f0a12b3c7d4e8f90a1b2c3d4e5f6_202403_"
        );
        assert_eq!(
            leaf_prefix(integration(), period("1999-02")),
            "li_0190f0a12b3c7d4e8f90a1b2c3d4e5f6_199902_"
        );
    }

    #[test]
    fn a_period_table_sorts_under_its_integration_and_fits_an_identifier() {
        let random: Uuid = "89abcdef-0123-4567-89ab-cdef01234567".parse().unwrap();
        let table = staging_table(integration(), period("2024-11"), random);
        assert_eq!(table, "li_0190f0a12b3c7d4e8f90a1b2c3d4e5f6_202411_89abcdef");
        assert!(table.starts_with(&leaf_prefix(integration(), period("2024-11"))));
        assert!(table.starts_with(&format!("{}_", integration_table(integration()))));
        // PostgreSQL truncates identifiers beyond 63 bytes.
        assert_eq!(table.len(), 51);
        // Another period of the integration is not under this period's prefix.
        assert!(!table.starts_with(&leaf_prefix(integration(), period("2024-01"))));
    }

    #[test]
    fn two_attempts_get_two_tables() {
        let a = staging_table(integration(), period("2024-03"), Uuid::new_v4());
        let b = staging_table(integration(), period("2024-03"), Uuid::new_v4());
        assert_ne!(a, b);
    }

    #[test]
    fn sql_names_the_partitions_schema() {
        let staging = Staging {
            workspace_id: WorkspaceId::new(),
            integration_id: integration(),
            period: period("2024-03"),
            assembly_id: "asm".into(),
            table: "li_x_202403_00000000".into(),
        };
        assert_eq!(staging.qualified(), "cur_parts.li_x_202403_00000000");
        assert_eq!(staging.table(), "li_x_202403_00000000");
        assert_eq!(staging.assembly_id(), "asm");
        assert_eq!(staging.period(), period("2024-03"));
    }
}
