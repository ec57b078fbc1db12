//! Building a period's rollup tables inside the swap's transaction, one of two ways that give
//! the same rows.
//!
//! - [`PeriodRollups::Computed`]: the worker summed the daily and tag groups while parsing
//!   (`crate::rollups`); the coarser tables (monthly, without accounts, by account) are derived
//!   from the daily groups here, and all five are written with a binary `COPY` in primary key
//!   order (into a temporary table, then inserted: PostgreSQL refuses `COPY FROM` into a table
//!   under row-level security), each index growing at its right edge.
//! - [`PeriodRollups::FromTable`], or a derived sum out of range: PostgreSQL computes them from
//!   the period's line items (the staging table, attached by then), whose chunks are first
//!   expanded into a temporary table of line items.
//!
//! [`RollupShape`] says which key columns each table has, for both ways. After the swap
//! commits, [`analyze_rollups`] refreshes the planner's statistics of the five tables.

use super::staging::Staging;
use crate::line_items::{
    decompress_chunk, pg_date, push_field, push_numeric_parts, push_text, COPY_BINARY_HEADER,
    COPY_BINARY_TRAILER, LINE_ITEM_COLUMNS,
};
use crate::rollups::{FinishedRollups, GroupKey, GroupSums, PeriodRollups, SumOverflow};
use crate::{Store, StoreResult};

/// The rollup tables, each keyed by workspace, integration and billing period first.
const ROLLUP_TABLES: [&str; 5] = [
    "cur_daily_costs",
    "cur_monthly_costs",
    "cur_daily_service_region_costs",
    "cur_daily_account_costs",
    "cur_daily_tag_costs",
];

/// Deletes the staging table's period from every rollup table: a period's rollups are rebuilt
/// whole from each new assembly.
pub(super) async fn delete_rollups(
    tx: &mut sqlx::PgConnection,
    staging: &Staging,
) -> StoreResult<()> {
    for rollup in ROLLUP_TABLES {
        sqlx::query(&format!(
            "DELETE FROM {rollup} WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3"
        ))
        .bind(staging.workspace_id.as_uuid())
        .bind(staging.integration_id.as_uuid())
        .bind(staging.period.start())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Writes the period's rollups from `rollups`, or from the staging table when the worker's sums
/// did not fit; the period's line items (`loaded_rows`, what the files counted, when the worker
/// summed them) and smallest currency.
pub(super) async fn write_rollups(
    tx: &mut sqlx::PgConnection,
    staging: &Staging,
    rollups: &PeriodRollups,
    loaded_rows: i64,
) -> StoreResult<(i64, Option<String>)> {
    match rollups {
        PeriodRollups::Computed(built) => match DerivedRollups::of(built) {
            Ok(derived) => {
                copy_rollups(tx, staging, built, &derived).await?;
                Ok((loaded_rows, built.min_currency().map(str::to_owned)))
            }
            Err(SumOverflow) => rollups_from_table(tx, staging).await,
        },
        PeriodRollups::FromTable => rollups_from_table(tx, staging).await,
    }
}

/// Refreshes the planner's statistics of the rollup tables after a swap. A swap can add a large
/// share of a table's rows at once; until autovacuum's next pass the planner would otherwise
/// expect a handful of rows and pick plans that sort a month on disk (a month of 50 accounts
/// grouped by day and account: 66 ms with stale statistics). Samples at most 30,000 rows per table.
pub async fn analyze_rollups(store: &Store) -> StoreResult<()> {
    // ANALYZE needs the tables' owner: its SECURITY DEFINER function names the same five tables.
    sqlx::query("SELECT cur_analyze_rollups()")
        .execute(store.app())
        .await?;
    Ok(())
}

// SQL from the staging table ------------------------------------------------------------------

/// Decompresses the staging table's chunks into a temporary table of one row per line item
/// (dropped at commit), for the SQL rollups; its name.
pub(super) async fn expand_line_items(
    tx: &mut sqlx::PgConnection,
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
    .execute(&mut *tx)
    .await?;
    // Through the partitioned table (the staging table is attached by now), under its policy.
    const PERIOD: &str = "workspace_id = $1 AND integration_id = $2 AND billing_period = $3";
    let chunk_nos: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT chunk_no FROM cur_line_item_chunks WHERE {PERIOD} ORDER BY chunk_no"
    ))
    .bind(staging.workspace_id.as_uuid())
    .bind(staging.integration_id.as_uuid())
    .bind(staging.period.start())
    .fetch_all(&mut *tx)
    .await?;
    for chunk_no in chunk_nos {
        let compressed: Vec<u8> = sqlx::query_scalar(&format!(
            "SELECT copy_zstd FROM cur_line_item_chunks WHERE {PERIOD} AND chunk_no = $4"
        ))
        .bind(staging.workspace_id.as_uuid())
        .bind(staging.integration_id.as_uuid())
        .bind(staging.period.start())
        .bind(chunk_no)
        .fetch_one(&mut *tx)
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
    tx: &mut sqlx::PgConnection,
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
    .execute(&mut *tx)
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
        .execute(&mut *tx)
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
    .execute(&mut *tx)
    .await?;
    let (rows, currency): (i64, Option<String>) =
        sqlx::query_as(&format!("SELECT count(*), min(currency) FROM {q}"))
            .fetch_one(&mut *tx)
            .await?;

    Ok((rows, currency))
}

// COPY of the worker's sums ------------------------------------------------------------------

/// Groups of one rollup table, in primary key order.
type RollupRows<'a> = Box<dyn Iterator<Item = (GroupKey<'a>, &'a GroupSums)> + Send + 'a>;

/// The coarser rollups, derived from the daily groups before anything is written.
struct DerivedRollups<'a> {
    monthly: Vec<(GroupKey<'a>, GroupSums)>,
    daily_without_accounts: Vec<(GroupKey<'a>, GroupSums)>,
    daily_by_account: Vec<(GroupKey<'a>, GroupSums)>,
}

impl<'a> DerivedRollups<'a> {
    /// The coarser rollups of `built`; `SumOverflow` when a coarser group's sum leaves the
    /// exact sums' range (the daily groups each fit, their sum may not).
    fn of(built: &'a FinishedRollups) -> Result<DerivedRollups<'a>, SumOverflow> {
        Ok(DerivedRollups {
            monthly: built.monthly()?,
            daily_without_accounts: built.daily_without_accounts()?,
            daily_by_account: built.daily_by_account()?,
        })
    }
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
    tx: &mut sqlx::PgConnection,
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
        let columns = format!(
            "workspace_id, integration_id, billing_period, {keys}, unblended, net_unblended, \
             amortized, line_items{group_no}",
            keys = shape.key_columns(day),
            group_no = if numbered { ", group_no" } else { "" },
        );
        let mut copy = copy_into_load(tx, table, &columns).await?;
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
        insert_from_load(tx, table, &columns).await?;
    }
    Ok(())
}

/// Where rows are copied before they are inserted: PostgreSQL refuses `COPY FROM` into a
/// table under row-level security.
const LOAD: &str = "cur_rollup_load";

/// Starts a binary `COPY` of `columns` into a temporary table like `table` (dropped at commit
/// at the latest); [`insert_from_load`] moves the rows on.
pub(super) async fn copy_into_load<'c>(
    tx: &'c mut sqlx::PgConnection,
    table: &str,
    columns: &str,
) -> StoreResult<sqlx::postgres::PgCopyIn<&'c mut sqlx::PgConnection>> {
    sqlx::query(&format!(
        "CREATE TEMPORARY TABLE {LOAD} (LIKE {table}) ON COMMIT DROP"
    ))
    .execute(&mut *tx)
    .await?;
    Ok(tx
        .copy_in_raw(&format!(
            "COPY {LOAD} ({columns}) FROM STDIN WITH (FORMAT binary)"
        ))
        .await?)
}

/// Inserts the finished load into `table`, in the order the rows were copied, and drops it.
pub(super) async fn insert_from_load(
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &str,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM {LOAD}"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("DROP TABLE {LOAD}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_items::NewLineItem;
    use crate::rollups::tests::item;
    use crate::rollups::RollupBuilder;
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
    }

    fn key(tag: Option<(&'static str, &'static str)>) -> GroupKey<'static> {
        GroupKey {
            tag,
            day: day(5),
            payer_account_id: "111111111111",
            usage_account_id: "222222222222",
            product_code: "AmazonEC2",
            region: "us-east-1",
            line_item_type: "Usage",
            currency: "USD",
        }
    }

    fn sums(cost: &str, line_items: i64) -> GroupSums {
        let cost: Decimal = cost.parse().unwrap();
        let mut s = GroupSums::default();
        s.unblended.add(cost).unwrap();
        s.net_unblended.add(-cost).unwrap();
        s.amortized.add(cost * Decimal::TWO).unwrap();
        s.line_items = line_items;
        s
    }

    /// What `copy_rollups` puts before every row: workspace, integration, billing period.
    fn prefix() -> Vec<u8> {
        let mut p = Vec::new();
        push_field(&mut p, &[1; 16]);
        push_field(&mut p, &[2; 16]);
        push_field(&mut p, &pg_date(day(1)).to_be_bytes());
        p
    }

    /// The fields of one binary COPY tuple, checked against its field count.
    fn fields(row: &[u8]) -> Vec<Vec<u8>> {
        let count = i16::from_be_bytes([row[0], row[1]]) as usize;
        let mut rest = &row[2..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            out.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        assert_eq!(out.len(), count, "the tuple's field count");
        out
    }

    fn row(shape: RollupShape, key: &GroupKey<'_>, group_no: Option<i32>) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        shape.push_row(&mut buf, &prefix(), key, &sums("1.25", 3), group_no);
        fields(&buf)
    }

    fn texts(fields: &[Vec<u8>]) -> Vec<&str> {
        fields
            .iter()
            .map(|f| std::str::from_utf8(f).unwrap())
            .collect()
    }

    /// The three sums and the line item count as `push_row` encodes them.
    fn encoded_sums(s: &GroupSums) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sum in [&s.unblended, &s.net_unblended, &s.amortized] {
            let (mantissa, scale) = sum.parts();
            let mut b = Vec::new();
            push_numeric_parts(&mut b, mantissa < 0, mantissa.unsigned_abs(), scale);
            out.push(b[4..].to_vec());
        }
        out.push(s.line_items.to_be_bytes().to_vec());
        out
    }

    #[test]
    fn each_shape_names_its_key_columns() {
        let dims =
            "payer_account_id, usage_account_id, product_code, region, line_item_type, currency";
        assert_eq!(RollupShape::Full.key_columns("day"), format!("day, {dims}"));
        assert_eq!(
            RollupShape::Full.key_columns("month"),
            format!("month, {dims}")
        );
        assert_eq!(
            RollupShape::Tagged.key_columns("day"),
            format!("tag_key, tag_value, day, {dims}")
        );
        assert_eq!(
            RollupShape::WithoutAccounts.key_columns("day"),
            "day, product_code, region, line_item_type, currency"
        );
        assert_eq!(
            RollupShape::ByAccount.key_columns("day"),
            "day, payer_account_id, usage_account_id, currency"
        );
    }

    #[test]
    fn a_full_row_is_the_prefix_the_day_every_dimension_and_the_sums() {
        let k = key(None);
        let f = row(RollupShape::Full, &k, None);
        assert_eq!(f.len(), 3 + 1 + 6 + 3 + 1);
        assert_eq!(f[..3], fields(&[&[0, 3][..], &prefix()].concat())[..]);
        assert_eq!(f[3], pg_date(day(5)).to_be_bytes());
        assert_eq!(
            texts(&f[4..10]),
            [
                "111111111111",
                "222222222222",
                "AmazonEC2",
                "us-east-1",
                "Usage",
                "USD"
            ]
        );
        assert_eq!(f[10..], encoded_sums(&sums("1.25", 3))[..]);
        // A tag on the key does not reach a table without tag columns.
        assert_eq!(row(RollupShape::Full, &key(Some(("Team", "web"))), None), f);
    }

    #[test]
    fn a_tagged_row_starts_with_the_tag_and_ends_with_the_group_number() {
        let f = row(RollupShape::Tagged, &key(Some(("Team", "web"))), Some(7));
        assert_eq!(f.len(), 3 + 2 + 1 + 6 + 3 + 1 + 1);
        assert_eq!(texts(&f[3..5]), ["Team", "web"]);
        assert_eq!(f[5], pg_date(day(5)).to_be_bytes());
        assert_eq!(f[16], 7i32.to_be_bytes());
        // A key without a tag has no tag fields.
        assert_eq!(row(RollupShape::Tagged, &key(None), Some(7)).len(), 15);
    }

    #[test]
    fn narrower_shapes_leave_out_their_dimensions() {
        let k = key(None);
        let f = row(RollupShape::WithoutAccounts, &k, None);
        assert_eq!(f.len(), 3 + 1 + 4 + 3 + 1);
        assert_eq!(texts(&f[4..8]), ["AmazonEC2", "us-east-1", "Usage", "USD"]);
        let f = row(RollupShape::ByAccount, &k, Some(1));
        assert_eq!(f.len(), 3 + 1 + 3 + 3 + 1 + 1);
        assert_eq!(texts(&f[4..7]), ["111111111111", "222222222222", "USD"]);
    }

    #[test]
    fn derived_rows_borrow_the_groups_in_order() {
        let groups = vec![
            (key(None), sums("1", 1)),
            (key(Some(("a", "b"))), sums("2", 2)),
        ];
        let rows: Vec<_> = derived_rows(&groups).collect();
        assert_eq!(rows.len(), 2);
        for ((k, s), (key, sums)) in rows.into_iter().zip(&groups) {
            assert_eq!(&k, key);
            assert!(std::ptr::eq(s, sums));
        }
    }

    fn finished(items: &[NewLineItem<'_>]) -> FinishedRollups {
        let mut builder = RollupBuilder::new(&[], 100);
        for i in items {
            builder.add(i);
        }
        match builder.finish() {
            PeriodRollups::Computed(built) => built,
            PeriodRollups::FromTable => panic!("within the builder's limits"),
        }
    }

    #[test]
    fn the_coarser_rollups_come_from_the_daily_groups() {
        let built = finished(&[
            item(1, "222222222222", "1.5", &[]),
            item(2, "222222222222", "2", &[]),
            item(2, "333333333333", "1", &[]),
        ]);
        let september = |d| NaiveDate::from_ymd_opt(2024, 9, d).unwrap();
        let derived = DerivedRollups::of(&built).unwrap();
        let monthly: Vec<_> = derived
            .monthly
            .iter()
            .map(|(k, s)| {
                (
                    k.day,
                    k.usage_account_id,
                    s.unblended.to_string(),
                    s.line_items,
                )
            })
            .collect();
        assert_eq!(
            monthly,
            [
                (september(1), "222222222222", "3.5".to_owned(), 2),
                (september(1), "333333333333", "1".to_owned(), 1)
            ]
        );
        let without_accounts: Vec<_> = derived
            .daily_without_accounts
            .iter()
            .map(|(k, s)| (k.day, k.usage_account_id, s.line_items))
            .collect();
        assert_eq!(
            without_accounts,
            [(september(1), "", 1), (september(2), "", 2)]
        );
        assert_eq!(derived.daily_by_account.len(), 3);
    }

    #[test]
    fn a_coarser_sum_out_of_range_sends_the_period_to_sql() {
        // Each day's group fits an exact sum; their month at 28 decimals does not.
        let built = finished(&[
            item(1, "222222222222", &Decimal::MAX.to_string(), &[]),
            item(2, "222222222222", "0.0000000000000000000000000001", &[]),
        ]);
        assert_eq!(built.daily().count(), 2);
        assert!(matches!(DerivedRollups::of(&built), Err(SumOverflow)));
    }

    #[test]
    fn every_rollup_table_is_listed_once() {
        let mut tables = ROLLUP_TABLES.to_vec();
        tables.sort_unstable();
        tables.dedup();
        assert_eq!(tables.len(), 5);
        assert!(ROLLUP_TABLES.iter().all(|t| t.starts_with("cur_")));
    }
}
