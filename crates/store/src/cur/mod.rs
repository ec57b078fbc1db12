//! CUR storage: billing periods and their files, line item partitions, the atomic swap of a
//! period's assembly, rollups and tag keys (migrations/0005_cur.sql,
//! docs/adr/0007-cur-storage.md).
//!
//! Line items are stored in compressed chunks (`crate::line_items`, migration 0014,
//! docs/adr/0012-line-item-chunks.md), loaded into a fresh table ([`create_staging`],
//! [`LineItemCopy`]) and swapped in with [`prepare_swap`] + [`PendingSwap::commit`] (or
//! [`swap_period`]): one transaction replaces the period's line item partition and rebuilds its
//! rollups, so readers see the previous assembly until it commits and a failed ingest leaves it
//! in place.
//!
//! One file per idea, every item re-exported here:
//! - `periods`: period rows, poll state, files, and the integration's CUR status (scoped);
//! - `tag_keys`: the tag keys a workspace rolls up (scoped);
//! - `staging`: partitions, staging tables and the line item `COPY`;
//! - `rollup_build`: the period's rollup tables, from the worker's sums or in SQL;
//! - `swap`: the transaction that serves a loaded assembly;
//! - `resource_costs`: the period's cost per inventoried resource and day, likewise;
//! - `swap`: the transaction that serves a loaded assembly (owner pool);
//! - `served`: a period's served line items read back (scoped).
//!
//! Scoped functions take a [`Scoped`](crate::Scoped) transaction, under row-level security.
//! The loading and swapping functions take the [`Store`](crate::Store) and the workspace
//! explicitly and open their own transactions of that workspace (as the application role);
//! partition DDL runs in the owner's SECURITY DEFINER functions, which refuse any other
//! workspace (docs/adr/0015-database-roles.md).

mod periods;
mod resource_costs;
mod rollup_build;
mod served;
mod staging;
mod swap;
mod tag_keys;

pub use periods::{
    begin_period, fail_period, files, integration_status, period, periods, record_poll, source,
    AssemblyInfo, CurFile, CurPeriod, CurSource, PERIOD_ERROR, PERIOD_INGESTING, PERIOD_READY,
};
pub use rollup_build::analyze_rollups;
pub use served::{line_item_count, line_items};
pub use staging::{create_staging, drop_staging, LineItemCopy, Staging};
pub use swap::{prepare_swap, swap_period, FileRecord, PendingSwap, SwapOutcome};
pub use tag_keys::{set_tag_keys, tag_keys};
