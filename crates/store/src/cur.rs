//! CUR storage: billing periods and their files, line item partitions, the atomic swap of a
//! period's assembly, rollups and tag keys (migrations/0005_cur.sql,
//! docs/adr/0007-cur-storage.md).
//!
//! Line items are stored in compressed chunks (`crate::line_items`, migration 0014,
//! docs/adr/0012-line-item-chunks.md), loaded into a fresh table ([`create_staging`],
//! [`LineItemCopy`]) and swapped in
//! with [`prepare_swap`] + [`PendingSwap::commit`] (or [`swap_period`]): one transaction
//! replaces the period's line item partition and rebuilds its rollups, so readers see the
//! previous assembly until it commits and a failed ingest leaves it in place.
//!
//! Partition DDL needs the table owner, so the loading functions take the [`Store`] and the
//! workspace explicitly and run on the owner pool; they filter by that workspace themselves.
//! Partition names are built only from ids and dates (never from report content), which is the
//! one place SQL text is assembled: identifiers cannot be bound as parameters.

use crate::line_items::{
    decompress_chunk, pg_date, push_field, push_numeric_parts, push_text, SealedChunk,
    CHUNK_COLUMNS, COPY_BINARY_HEADER, COPY_BINARY_TRAILER, LINE_ITEM_COLUMNS,
};
use crate::rollups::{FinishedRollups, GroupKey, GroupSums, PeriodRollups, SumOverflow};
use crate::{Scoped, Store, StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgCopyIn;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

/// Schema of the line item partitions (no privileges for the application role).
const PARTS_SCHEMA: &str = "cur_parts";

/// Period status: the newest assembly is being ingested.
pub const PERIOD_INGESTING: &str = "ingesting";
/// Period status: the newest assembly is ingested and served.
pub const PERIOD_READY: &str = "ready";
/// Period status: the newest assembly failed; the previous one (if any) is still served.
pub const PERIOD_ERROR: &str = "error";

// ---------------------------------------------------------------------------------------------
// Periods, sources, files (scoped reads and writes)
// ---------------------------------------------------------------------------------------------

/// A billing period of an integration as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CurPeriod {
    /// The integration.
    pub integration_id: Uuid,
    /// First day of the billing period.
    pub billing_period: NaiveDate,
    /// `ingesting`, `ready` or `error` (of the newest assembly seen).
    pub status: String,
    /// The newest assembly seen.
    pub assembly_id: String,
    /// Its format (`legacy_csv`, `cur2_parquet`, ...).
    pub format: String,
    /// Its number of data files.
    pub files: i32,
    /// Its total size in bytes.
    pub bytes: i64,
    /// Why it failed, naming the file.
    pub error: Option<String>,
    /// The assembly served to readers, if any.
    pub live_assembly_id: Option<String>,
    /// Whether the served assembly's line items are stored (false after migration 0014 dropped
    /// them, until the period is ingested again).
    pub line_items_stored: bool,
    /// Line items of the served assembly.
    pub rows: Option<i64>,
    /// Currency of the served assembly.
    pub currency: Option<String>,
    /// When the served assembly was swapped in.
    pub ingested_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl CurPeriod {
    /// The billing period as a domain value.
    pub fn period(&self) -> BillingPeriod {
        BillingPeriod::containing(self.billing_period)
    }
}

const PERIOD_COLUMNS: &str =
    "integration_id, billing_period, status, assembly_id, format, files, bytes, error,
    live_assembly_id, live_table IS NOT NULL AS line_items_stored, rows, currency, ingested_at,
    updated_at";

/// The CUR state of an integration found by polling.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CurSource {
    /// `awaiting_first_report`, `delivered` or `error`.
    pub status: String,
    /// Why the last poll failed.
    pub error: Option<String>,
    /// Last poll.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// When the first report was ingested.
    pub first_ingested_at: Option<DateTime<Utc>>,
}

/// Records a poll of the integration's bucket: `delivered` when any delivery was found,
/// `error` with a message when the listing failed.
pub async fn record_poll(
    scope: &mut Scoped,
    integration: IntegrationId,
    delivered: bool,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    let status = match (error, delivered) {
        (Some(_), _) => "error",
        (None, true) => "delivered",
        (None, false) => "awaiting_first_report",
    };
    sqlx::query(
        "INSERT INTO cur_sources (workspace_id, integration_id, status, error, last_polled_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, integration_id)
         DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, last_polled_at = EXCLUDED.last_polled_at",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// The integration's poll state, if it was ever polled.
pub async fn source(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<Option<CurSource>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT status, error, last_polled_at, first_ingested_at FROM cur_sources
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(scope.tx())
    .await?)
}

/// Every billing period of the integration, newest first.
pub async fn periods(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<Vec<CurPeriod>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(&format!(
        "SELECT {PERIOD_COLUMNS} FROM cur_periods
          WHERE workspace_id = $1 AND integration_id = $2 ORDER BY billing_period DESC"
    ))
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// One billing period of the integration.
pub async fn period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Option<CurPeriod>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(&format!(
        "SELECT {PERIOD_COLUMNS} FROM cur_periods
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3"
    ))
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_optional(scope.tx())
    .await?)
}

/// The integration-level CUR status of the API (`cur.status`), from its poll state and periods:
/// `ingesting` while any period is, `error` when the newest assembly of any period (or the last
/// poll) failed, `ready` once a period is served, else `awaiting_first_report`.
pub fn integration_status(source: Option<&CurSource>, periods: &[CurPeriod]) -> &'static str {
    if periods.iter().any(|p| p.status == PERIOD_INGESTING) {
        "ingesting"
    } else if periods.iter().any(|p| p.status == PERIOD_ERROR)
        || source.is_some_and(|s| s.status == "error")
    {
        "error"
    } else if periods.iter().any(|p| p.live_assembly_id.is_some()) {
        "ready"
    } else {
        "awaiting_first_report"
    }
}

/// What an ingest is about to load.
#[derive(Debug, Clone)]
pub struct AssemblyInfo<'a> {
    /// Manifest assembly id (or content hash).
    pub assembly_id: &'a str,
    /// Format name (`legacy_csv`, ...).
    pub format: &'a str,
    /// Number of data files.
    pub files: i32,
    /// Their total size.
    pub bytes: i64,
}

/// Marks the period's newest assembly as being ingested (creating the period row). The served
/// assembly, if any, stays as it is.
pub async fn begin_period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly: &AssemblyInfo<'_>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    sqlx::query(
        "INSERT INTO cur_periods (workspace_id, integration_id, billing_period, status, assembly_id,
                                  format, files, bytes, updated_at)
         VALUES ($1, $2, $3, 'ingesting', $4, $5, $6, $7, $8)
         ON CONFLICT (workspace_id, integration_id, billing_period)
         DO UPDATE SET status = 'ingesting', assembly_id = EXCLUDED.assembly_id,
                       format = EXCLUDED.format, files = EXCLUDED.files, bytes = EXCLUDED.bytes,
                       error = NULL, updated_at = EXCLUDED.updated_at",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .bind(assembly.assembly_id)
    .bind(assembly.format)
    .bind(assembly.files)
    .bind(assembly.bytes)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Marks the period's newest assembly as failed with an actionable message (naming the file).
/// The served assembly, if any, stays in place.
pub async fn fail_period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly_id: &str,
    error: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    sqlx::query(
        "UPDATE cur_periods SET status = 'error', error = $5, updated_at = $6
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3 AND assembly_id = $4",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .bind(assembly_id)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// A data file as ingested.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CurFile {
    /// Its S3 key.
    pub file_key: String,
    /// Its position in the assembly (the high half of `line_no`).
    pub file_no: i32,
    /// Its size in bytes.
    pub bytes: i64,
    /// Line items read from it.
    pub rows: i64,
}

/// The files of the period's served assembly.
pub async fn files(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Vec<CurFile>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT f.file_key, f.file_no, f.bytes, f.rows FROM cur_files f
           JOIN cur_periods p USING (workspace_id, integration_id, billing_period)
          WHERE f.workspace_id = $1 AND f.integration_id = $2 AND f.billing_period = $3
            AND f.assembly_id = p.live_assembly_id
          ORDER BY f.file_no",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_all(scope.tx())
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Tag keys
// ---------------------------------------------------------------------------------------------

/// The tag keys the workspace rolls up, sorted.
pub async fn tag_keys(scope: &mut Scoped) -> StoreResult<Vec<String>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_scalar(
        "SELECT tag_key FROM workspace_tag_keys WHERE workspace_id = $1 ORDER BY tag_key",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// Replaces the workspace's rolled-up tag keys. Takes effect for periods ingested afterwards
/// (or re-ingested by a backfill); until then `tag:<key>` costs are answered from line items.
pub async fn set_tag_keys(scope: &mut Scoped, keys: &[String]) -> StoreResult<()> {
    let ws = scope.workspace_id();
    for k in keys {
        if k.is_empty() || k.len() > 256 {
            return Err(StoreError::Conflict(format!(
                "tag key {k:?} must be 1 to 256 characters"
            )));
        }
    }
    sqlx::query(
        "DELETE FROM workspace_tag_keys WHERE workspace_id = $1 AND NOT (tag_key = ANY($2))",
    )
    .bind(ws.as_uuid())
    .bind(keys)
    .execute(scope.tx())
    .await?;
    sqlx::query(
        "INSERT INTO workspace_tag_keys (workspace_id, tag_key)
         SELECT $1, k FROM unnest($2::text[]) k ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_uuid())
    .bind(keys)
    .execute(scope.tx())
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loading line items (owner pool)
// ---------------------------------------------------------------------------------------------

/// A fresh, not yet attached line item table for one assembly of one period.
#[derive(Debug, Clone)]
pub struct Staging {
    workspace_id: WorkspaceId,
    integration_id: IntegrationId,
    period: BillingPeriod,
    assembly_id: String,
    table: String,
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

    fn qualified(&self) -> String {
        format!("{PARTS_SCHEMA}.{}", self.table)
    }
}

fn integration_table(integration: IntegrationId) -> String {
    format!("li_{}", integration.as_uuid().simple())
}

fn leaf_prefix(integration: IntegrationId, period: BillingPeriod) -> String {
    format!(
        "li_{}_{:04}{:02}_",
        integration.as_uuid().simple(),
        period.year(),
        period.month()
    )
}

/// Makes sure the integration's partition exists. Serialized per integration with an advisory
/// lock, so two periods starting at once do not race on it.
async fn ensure_integration_partition(
    conn: &mut PgConnection,
    workspace_id: WorkspaceId,
    integration: IntegrationId,
) -> StoreResult<()> {
    let table = integration_table(integration);
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relname = $2)",
    )
    .bind(PARTS_SCHEMA)
    .bind(&table)
    .fetch_one(&mut *conn)
    .await?;
    if exists {
        return Ok(());
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(integration.to_string())
        .execute(&mut *tx)
        .await?;
    // The integration must belong to the workspace: the owner connection bypasses RLS.
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1 AND integration_id = $2
                          AND status <> 'revoked')",
    )
    .bind(workspace_id.as_uuid())
    .bind(integration.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(StoreError::NotFound);
    }
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {PARTS_SCHEMA}.{table} PARTITION OF cur_line_item_chunks
             FOR VALUES IN ('{}') PARTITION BY LIST (billing_period)",
        integration.as_uuid()
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Drops staging tables of the period left by failed or interrupted ingests (every table of
/// the period that is not attached).
async fn drop_leftovers(
    conn: &mut PgConnection,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<()> {
    let like = format!("{}%", leaf_prefix(integration, period));
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition AND c.relname LIKE $2",
    )
    .bind(PARTS_SCHEMA)
    .bind(&like)
    .fetch_all(&mut *conn)
    .await?;
    for t in stale {
        sqlx::query(&format!("DROP TABLE IF EXISTS {PARTS_SCHEMA}.{t}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
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
    let mut conn = store.system().acquire().await?;
    ensure_integration_partition(&mut conn, workspace_id, integration).await?;
    drop_leftovers(&mut conn, integration, period).await?;
    let suffix = Uuid::new_v4().simple().to_string();
    let staging = Staging {
        workspace_id,
        integration_id: integration,
        period,
        assembly_id: assembly_id.to_owned(),
        table: format!("{}{}", leaf_prefix(integration, period), &suffix[..8]),
    };
    let q = staging.qualified();
    sqlx::query(&format!(
        "CREATE TABLE {q} (LIKE cur_line_item_chunks INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                           INCLUDING INDEXES INCLUDING STORAGE,
             CHECK (workspace_id = '{ws}' AND integration_id = '{int}' AND billing_period = '{p}'))",
        ws = workspace_id.as_uuid(),
        int = integration.as_uuid(),
        p = period.start(),
    ))
    .execute(&mut *conn)
    .await?;
    // The columns every row shares come from defaults, so COPY does not carry them.
    sqlx::query(&format!(
        "ALTER TABLE {q} ALTER workspace_id SET DEFAULT '{ws}',
                         ALTER integration_id SET DEFAULT '{int}',
                         ALTER billing_period SET DEFAULT '{p}'",
        ws = workspace_id.as_uuid(),
        int = integration.as_uuid(),
        p = period.start(),
    ))
    .execute(&mut *conn)
    .await?;
    Ok(staging)
}

/// A `COPY` of line item chunks into a staging table. Feed it what [`CopyEncoder::take`]
/// seals; several may run at once into the same table (one per file).
///
/// [`CopyEncoder::take`]: crate::line_items::CopyEncoder::take
pub struct LineItemCopy {
    copy: PgCopyIn<PoolConnection<Postgres>>,
    chunks: u64,
    line_items: u64,
}

impl LineItemCopy {
    /// Starts a COPY on its own owner connection.
    pub async fn start(store: &Store, staging: &Staging) -> StoreResult<LineItemCopy> {
        use sqlx::postgres::PgPoolCopyExt;
        let copy = store
            .system()
            .copy_in_raw(&format!(
                "COPY {} ({CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT binary)",
                staging.qualified()
            ))
            .await?;
        let mut copy = LineItemCopy {
            copy,
            chunks: 0,
            line_items: 0,
        };
        copy.copy.send(COPY_BINARY_HEADER).await?;
        Ok(copy)
    }

    /// Sends a sealed chunk (nothing when it is empty).
    pub async fn send(&mut self, sealed: &SealedChunk) -> StoreResult<()> {
        if sealed.line_items == 0 {
            return Ok(());
        }
        self.copy.send(sealed.tuple.as_slice()).await?;
        self.chunks += 1;
        self.line_items += sealed.line_items;
        Ok(())
    }

    /// Ends the COPY; the number of line items stored, once the server confirmed every chunk.
    pub async fn finish(mut self) -> StoreResult<u64> {
        self.copy.send(COPY_BINARY_TRAILER).await?;
        let stored = self.copy.finish().await?;
        if stored != self.chunks {
            // The server answered the COPY with a count it cannot have: a database fault (500),
            // not a state the caller could resolve.
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "the database stored {stored} line item chunks of the {} sent",
                self.chunks
            ))));
        }
        Ok(self.line_items)
    }

    /// Abandons the COPY (nothing it sent is kept).
    pub async fn abort(self, why: &str) -> StoreResult<()> {
        self.copy.abort(why).await?;
        Ok(())
    }
}

/// Decompresses the staging table's chunks into a temporary table of one row per line item
/// (dropped at commit), for the SQL rollups; its name.
async fn expand_line_items(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    staging: &Staging,
) -> StoreResult<&'static str> {
    const EXPANDED: &str = "cur_line_items_expanded";
    sqlx::query(&format!(
        "CREATE TEMPORARY TABLE {EXPANDED} (
             workspace_id uuid NOT NULL DEFAULT '{ws}', integration_id uuid NOT NULL DEFAULT '{int}',
             billing_period date NOT NULL DEFAULT '{p}', line_no bigint NOT NULL,
             usage_start timestamptz NOT NULL, usage_end timestamptz NOT NULL,
             payer_account_id text NOT NULL, usage_account_id text NOT NULL,
             line_item_type text NOT NULL, product_code text NOT NULL, usage_type text NOT NULL,
             operation text NOT NULL, region text NOT NULL, availability_zone text NOT NULL,
             resource_id text NOT NULL, usage_amount numeric NOT NULL, pricing_unit text NOT NULL,
             unblended_rate numeric, unblended_cost numeric NOT NULL, net_unblended_cost numeric,
             amortized_cost numeric NOT NULL, net_amortized_cost numeric,
             public_on_demand_cost numeric, currency text NOT NULL, tags json NOT NULL
         ) ON COMMIT DROP",
        ws = staging.workspace_id.as_uuid(),
        int = staging.integration_id.as_uuid(),
        p = staging.period.start(),
    ))
    .execute(&mut **tx)
    .await?;
    let chunk_nos: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT chunk_no FROM {} ORDER BY chunk_no",
        staging.qualified()
    ))
    .fetch_all(&mut **tx)
    .await?;
    for chunk_no in chunk_nos {
        let compressed: Vec<u8> = sqlx::query_scalar(&format!(
            "SELECT copy_zstd FROM {} WHERE chunk_no = $1",
            staging.qualified()
        ))
        .bind(chunk_no)
        .fetch_one(&mut **tx)
        .await?;
        let stream = decompress_chunk(&compressed)?;
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY {EXPANDED} ({LINE_ITEM_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
            ))
            .await?;
        copy.send(stream.as_slice()).await?;
        copy.finish().await?;
    }
    Ok(EXPANDED)
}

/// The rollups computed by PostgreSQL from the staging table, for a period whose rollups did not
/// fit the worker's limits; the period's rows and smallest currency.
async fn rollups_from_table(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    staging: &Staging,
) -> StoreResult<(i64, Option<String>)> {
    let ws = staging.workspace_id.as_uuid();
    let int = staging.integration_id.as_uuid();
    let bp = staging.period.start();
    let q = expand_line_items(tx, staging).await?;
    sqlx::query(&format!(
        "INSERT INTO cur_daily_costs (workspace_id, integration_id, billing_period, day, payer_account_id,
                usage_account_id, product_code, region, line_item_type, currency,
                unblended, net_unblended, amortized, line_items, group_no)
         SELECT workspace_id, integration_id, billing_period, (usage_start AT TIME ZONE 'UTC')::date,
                payer_account_id, usage_account_id, product_code, region, line_item_type, currency,
                sum(unblended_cost), sum(coalesce(net_unblended_cost, unblended_cost)),
                sum(amortized_cost), count(*),
                row_number() OVER (ORDER BY (usage_start AT TIME ZONE 'UTC')::date, payer_account_id,
                    usage_account_id, product_code, region, line_item_type, currency)
           FROM {q}
          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
    ))
    .execute(&mut **tx)
    .await?;
    // The coarser rollups, from the daily ones.
    for (table, day, shape) in [
        ("cur_monthly_costs", "month", RollupShape::Full),
        (
            "cur_daily_service_region_costs",
            "day",
            RollupShape::WithoutAccounts,
        ),
        ("cur_daily_account_costs", "day", RollupShape::ByAccount),
    ] {
        let keys = shape.key_columns(if day == "month" {
            "date_trunc('month', day)::date"
        } else {
            "day"
        });
        sqlx::query(&format!(
            "INSERT INTO {table} (workspace_id, integration_id, billing_period, {columns},
                    unblended, net_unblended, amortized, line_items)
             SELECT workspace_id, integration_id, billing_period, {keys},
                    sum(unblended), sum(net_unblended), sum(amortized), sum(line_items)
               FROM cur_daily_costs
              WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3
              GROUP BY workspace_id, integration_id, billing_period, {keys}",
            columns = shape.key_columns(day),
        ))
        .bind(ws)
        .bind(int)
        .bind(bp)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO cur_daily_tag_costs (workspace_id, integration_id, billing_period, tag_key, tag_value,
                day, payer_account_id, usage_account_id, product_code, region, line_item_type, currency,
                unblended, net_unblended, amortized, line_items, group_no)
         SELECT li.workspace_id, li.integration_id, li.billing_period, k.tag_key,
                coalesce(li.tags ->> k.tag_key, ''), (li.usage_start AT TIME ZONE 'UTC')::date,
                li.payer_account_id, li.usage_account_id, li.product_code, li.region,
                li.line_item_type, li.currency,
                sum(li.unblended_cost), sum(coalesce(li.net_unblended_cost, li.unblended_cost)),
                sum(li.amortized_cost), count(*),
                row_number() OVER (ORDER BY k.tag_key, coalesce(li.tags ->> k.tag_key, ''),
                    (li.usage_start AT TIME ZONE 'UTC')::date, li.payer_account_id,
                    li.usage_account_id, li.product_code, li.region, li.line_item_type, li.currency)
           FROM {q} li
           JOIN workspace_tag_keys k ON k.workspace_id = li.workspace_id
          WHERE li.workspace_id = $1
          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"
    ))
    .bind(ws)
    .execute(&mut **tx)
    .await?;
    let (rows, currency): (i64, Option<String>) =
        sqlx::query_as(&format!("SELECT count(*), min(currency) FROM {q}"))
            .fetch_one(&mut **tx)
            .await?;

    Ok((rows, currency))
}

/// Groups of one rollup table, in primary key order.
type RollupRows<'a> = Box<dyn Iterator<Item = (GroupKey<'a>, &'a GroupSums)> + Send + 'a>;

/// The coarser rollups, derived from the daily groups before anything is written.
struct DerivedRollups<'a> {
    monthly: Vec<(GroupKey<'a>, GroupSums)>,
    daily_without_accounts: Vec<(GroupKey<'a>, GroupSums)>,
    daily_by_account: Vec<(GroupKey<'a>, GroupSums)>,
}

/// Which columns of a group key a rollup table has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RollupShape {
    /// Day (or month) and every dimension.
    Full,
    /// Tag key and value, day and every dimension.
    Tagged,
    /// Day and every dimension but the accounts.
    WithoutAccounts,
    /// Day, payer and usage account, currency.
    ByAccount,
}

impl RollupShape {
    /// The key columns after workspace, integration and period; `day` names the date column.
    fn key_columns(self, day: &str) -> String {
        const DIMENSIONS: &str =
            "payer_account_id, usage_account_id, product_code, region, line_item_type, currency";
        match self {
            RollupShape::Full => format!("{day}, {DIMENSIONS}"),
            RollupShape::Tagged => format!("tag_key, tag_value, {day}, {DIMENSIONS}"),
            RollupShape::WithoutAccounts => {
                format!("{day}, product_code, region, line_item_type, currency")
            }
            RollupShape::ByAccount => {
                format!("{day}, payer_account_id, usage_account_id, currency")
            }
        }
    }

    /// The key's strings of this shape, after its date.
    fn key_texts<'a>(self, key: &GroupKey<'a>) -> Vec<&'a str> {
        match self {
            RollupShape::Full | RollupShape::Tagged => vec![
                key.payer_account_id,
                key.usage_account_id,
                key.product_code,
                key.region,
                key.line_item_type,
                key.currency,
            ],
            RollupShape::WithoutAccounts => vec![
                key.product_code,
                key.region,
                key.line_item_type,
                key.currency,
            ],
            RollupShape::ByAccount => {
                vec![key.payer_account_id, key.usage_account_id, key.currency]
            }
        }
    }

    /// Appends one row: workspace, integration and period (`prefix`, 3 fields), the key, the
    /// three sums, the line item count and, for the daily tables, the group's number.
    fn push_row(
        self,
        buf: &mut Vec<u8>,
        prefix: &[u8],
        key: &GroupKey<'_>,
        sums: &GroupSums,
        group_no: Option<i32>,
    ) {
        let tag = match (self, key.tag) {
            (RollupShape::Tagged, Some(tag)) => Some(tag),
            _ => None,
        };
        let texts = self.key_texts(key);
        let fields =
            3 + 2 * tag.is_some() as usize + 1 + texts.len() + 4 + group_no.is_some() as usize;
        buf.extend_from_slice(&(fields as i16).to_be_bytes());
        buf.extend_from_slice(prefix);
        if let Some((tag_key, tag_value)) = tag {
            push_text(buf, tag_key);
            push_text(buf, tag_value);
        }
        push_field(buf, &pg_date(key.day).to_be_bytes());
        for s in texts {
            push_text(buf, s);
        }
        for sum in [&sums.unblended, &sums.net_unblended, &sums.amortized] {
            let (mantissa, scale) = sum.parts();
            push_numeric_parts(buf, mantissa < 0, mantissa.unsigned_abs(), scale);
        }
        push_field(buf, &sums.line_items.to_be_bytes());
        if let Some(n) = group_no {
            push_field(buf, &n.to_be_bytes());
        }
    }
}

/// Rows of a derived (coarser) rollup, to COPY.
fn derived_rows<'a>(rows: &'a [(GroupKey<'a>, GroupSums)]) -> RollupRows<'a> {
    Box::new(rows.iter().map(|(k, s)| (k.clone(), s)))
}

/// COPYs rollups summed by the worker into the five rollup tables, in binary and in primary key
/// order (each index then grows at its right edge, the cheapest way to insert).
async fn copy_rollups(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    staging: &Staging,
    built: &FinishedRollups,
    derived: &DerivedRollups<'_>,
) -> StoreResult<()> {
    let mut prefix = Vec::new();
    for id in [
        staging.workspace_id.as_uuid(),
        staging.integration_id.as_uuid(),
    ] {
        push_field(&mut prefix, id.as_bytes());
    }
    push_field(&mut prefix, &pg_date(staging.period.start()).to_be_bytes());
    // The daily tables number their groups (their primary key's last column, migration 0015).
    let tables: [(&str, &str, RollupShape, bool, RollupRows<'_>); 5] = [
        (
            "cur_daily_costs",
            "day",
            RollupShape::Full,
            true,
            Box::new(built.daily()),
        ),
        (
            "cur_monthly_costs",
            "month",
            RollupShape::Full,
            false,
            derived_rows(&derived.monthly),
        ),
        (
            "cur_daily_service_region_costs",
            "day",
            RollupShape::WithoutAccounts,
            false,
            derived_rows(&derived.daily_without_accounts),
        ),
        (
            "cur_daily_account_costs",
            "day",
            RollupShape::ByAccount,
            false,
            derived_rows(&derived.daily_by_account),
        ),
        (
            "cur_daily_tag_costs",
            "day",
            RollupShape::Tagged,
            true,
            Box::new(built.tagged()),
        ),
    ];
    let mut buf = Vec::with_capacity(1 << 20);
    for (table, day, shape, numbered, rows) in tables {
        let mut rows = rows.peekable();
        if rows.peek().is_none() {
            continue;
        }
        let mut copy = tx
            .copy_in_raw(&format!(
                "COPY {table} (workspace_id, integration_id, billing_period, {columns},
                      unblended, net_unblended, amortized, line_items{group_no})
                 FROM STDIN WITH (FORMAT binary)",
                columns = shape.key_columns(day),
                group_no = if numbered { ", group_no" } else { "" },
            ))
            .await?;
        buf.extend_from_slice(COPY_BINARY_HEADER);
        for (n, (key, sums)) in rows.enumerate() {
            let group_no = numbered.then_some(n as i32 + 1);
            shape.push_row(&mut buf, &prefix, &key, sums, group_no);
            if buf.len() >= 1 << 20 {
                copy.send(buf.as_slice()).await?;
                buf.clear();
            }
        }
        buf.extend_from_slice(COPY_BINARY_TRAILER);
        copy.send(buf.as_slice()).await?;
        buf.clear();
        copy.finish().await?;
    }
    Ok(())
}

pub async fn drop_staging(store: &Store, staging: &Staging) -> StoreResult<()> {
    sqlx::query(&format!("DROP TABLE IF EXISTS {}", staging.qualified()))
        .execute(store.system())
        .await?;
    Ok(())
}

/// Refreshes the planner's statistics of the rollup tables after a swap. A swap can add a large
/// share of a table's rows at once; until autovacuum's next pass the planner would otherwise
/// expect a handful of rows and pick plans that sort a month on disk (a month of 50 accounts
/// grouped by day and account: 66 ms with stale statistics). Samples at most 30,000 rows per table.
pub async fn analyze_rollups(store: &Store) -> StoreResult<()> {
    sqlx::query(
        "ANALYZE cur_daily_costs, cur_monthly_costs, cur_daily_service_region_costs,
                 cur_daily_account_costs, cur_daily_tag_costs",
    )
    .execute(store.system())
    .await?;
    Ok(())
}

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
    tx: sqlx::Transaction<'static, Postgres>,
    outcome: SwapOutcome,
}

impl PendingSwap {
    /// What the swap will have done once committed.
    pub fn outcome(&self) -> &SwapOutcome {
        &self.outcome
    }

    /// Commits: readers see the new assembly from now on.
    pub async fn commit(self) -> StoreResult<SwapOutcome> {
        self.tx.commit().await?;
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

/// In one transaction (not committed yet): replaces the period's daily, monthly, daily-by-service
/// and tag rollups
/// with `rollups` (summed while parsing; computed here from the staging table when they
/// overflowed), replaces the period's line item partition with it (the old one is dropped),
/// records the files and row counts, marks the period `ready`, and notes the integration's first
/// ingested report. Fails with `Conflict` when the period no longer
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
    let mut tx = store.system().begin().await?;
    // A revocation (which locks the integration FOR UPDATE) waits for this swap to commit and
    // then deletes what it wrote; a swap after a revocation writes nothing.
    if !crate::revocation::lock_live_integration_on(
        &mut tx,
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
    let Some((expected_assembly, old_table)) = current else {
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
    let q = staging.qualified();

    // The period's rollups are rebuilt whole from the new assembly.
    for rollup in [
        "cur_daily_costs",
        "cur_monthly_costs",
        "cur_daily_service_region_costs",
        "cur_daily_account_costs",
        "cur_daily_tag_costs",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {rollup} WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3"
        ))
        .bind(ws)
        .bind(int)
        .bind(bp)
        .execute(&mut *tx)
        .await?;
    }
    let (rows, currency) = match rollups {
        PeriodRollups::Computed(built) => match (
            built.monthly(),
            built.daily_without_accounts(),
            built.daily_by_account(),
        ) {
            (Ok(monthly), Ok(daily_without_accounts), Ok(daily_by_account)) => {
                let derived = DerivedRollups {
                    monthly,
                    daily_without_accounts,
                    daily_by_account,
                };
                copy_rollups(&mut tx, staging, built, &derived).await?;
                let rows: i64 = files.iter().map(|f| f.rows).sum();
                (rows, built.min_currency().map(str::to_owned))
            }
            (Err(SumOverflow), _, _) | (_, Err(SumOverflow), _) | (_, _, Err(SumOverflow)) => {
                rollups_from_table(&mut tx, staging).await?
            }
        },
        PeriodRollups::FromTable => rollups_from_table(&mut tx, staging).await?,
    };

    let parent = format!(
        "{PARTS_SCHEMA}.{}",
        integration_table(staging.integration_id)
    );
    if let Some(old) = old_table.as_deref() {
        sqlx::query(&format!(
            "ALTER TABLE {parent} DETACH PARTITION {PARTS_SCHEMA}.{old}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!("DROP TABLE {PARTS_SCHEMA}.{old}"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!(
        "ALTER TABLE {parent} ATTACH PARTITION {q} FOR VALUES IN ('{bp}')"
    ))
    .execute(&mut *tx)
    .await?;

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
        tx,
        outcome: SwapOutcome { rows, first_report },
    })
}

/// Deletes every CUR row of an integration: its line item partitions are dropped (metadata
/// only), its periods, files, rollups, poll state and notices deleted. Idempotent.
pub async fn delete_integration_data(
    store: &Store,
    workspace_id: WorkspaceId,
    integration: IntegrationId,
) -> StoreResult<()> {
    let mut tx = store.system().begin().await?;
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM integrations WHERE workspace_id = $1 AND integration_id = $2)",
    )
    .bind(workspace_id.as_uuid())
    .bind(integration.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(StoreError::NotFound);
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(integration.to_string())
        .execute(&mut *tx)
        .await?;
    let like = format!("li_{}%", integration.as_uuid().simple());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname LIKE $2
          ORDER BY length(c.relname)",
    )
    .bind(PARTS_SCHEMA)
    .bind(&like)
    .fetch_all(&mut *tx)
    .await?;
    // The integration's partition first: dropping it drops its attached periods too.
    for t in tables {
        sqlx::query(&format!("DROP TABLE IF EXISTS {PARTS_SCHEMA}.{t}"))
            .execute(&mut *tx)
            .await?;
    }
    for table in [
        "cur_daily_tag_costs",
        "cur_monthly_costs",
        "cur_daily_service_region_costs",
        "cur_daily_account_costs",
        "cur_daily_costs",
        "cur_periods",
        "cur_sources",
        "notifications",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE workspace_id = $1 AND integration_id = $2"
        ))
        .bind(workspace_id.as_uuid())
        .bind(integration.as_uuid())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every line item stored for the integration's period (through RLS), in `line_no` order: for
/// tests, exports and support. A period holds millions: mind the memory.
pub async fn line_items(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Vec<crate::line_items::StoredLineItem>> {
    let ws = scope.workspace_id();
    let chunks: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT copy_zstd FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3
          ORDER BY chunk_no",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_all(scope.tx())
    .await?;
    let mut items = Vec::new();
    for compressed in chunks {
        let stream = decompress_chunk(&compressed)?;
        for row in crate::line_items::ChunkRows::new(&stream)? {
            items.push(row?.to_stored()?);
        }
    }
    items.sort_by_key(|i| i.line_no);
    Ok(items)
}

/// Line items stored for the integration's period (through RLS), for integrity checks.
pub async fn line_item_count(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<i64> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_scalar(
        "SELECT coalesce(sum(line_items), 0)::bigint FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_one(scope.tx())
    .await?)
}
