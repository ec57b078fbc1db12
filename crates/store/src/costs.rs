//! Cost queries for `GET /api/v1/costs`, answered from the daily rollups (and from the line item
//! chunks, decompressed here, for a tag key the workspace does not roll up).
//!
//! Group-by keys map to fixed column expressions from a closed list; only the tag key is a
//! value, and it is always bound as a parameter.

use crate::line_items::{decompress_chunk, ChunkRows, Column};
use crate::rollups::ExactSum;
use crate::{Scoped, StoreError, StoreResult};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::fmt;
use std::str::FromStr;

/// A dimension to group costs by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CostDimension {
    /// UTC date of the usage start, `YYYY-MM-DD`.
    Day,
    /// `YYYY-MM` of the usage start.
    Month,
    /// Usage account id.
    Account,
    /// Payer account id.
    PayerAccount,
    /// Product code, e.g. `AmazonEC2`.
    Service,
    /// Region code.
    Region,
    /// Line item type.
    LineItemType,
    /// A user tag's value (`null` for untagged costs).
    Tag(String),
}

/// A group-by key the API does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown group_by key {0:?}: use day, month, account, payer_account, service, region, line_item_type or tag:<key>")]
pub struct UnknownDimension(pub String);

impl FromStr for CostDimension {
    type Err = UnknownDimension;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "day" => CostDimension::Day,
            "month" => CostDimension::Month,
            "account" => CostDimension::Account,
            "payer_account" => CostDimension::PayerAccount,
            "service" => CostDimension::Service,
            "region" => CostDimension::Region,
            "line_item_type" => CostDimension::LineItemType,
            other => match other.strip_prefix("tag:") {
                Some(k) if !k.is_empty() && k.len() <= 256 => CostDimension::Tag(k.to_owned()),
                _ => return Err(UnknownDimension(other.to_owned())),
            },
        })
    }
}

impl fmt::Display for CostDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostDimension::Day => f.write_str("day"),
            CostDimension::Month => f.write_str("month"),
            CostDimension::Account => f.write_str("account"),
            CostDimension::PayerAccount => f.write_str("payer_account"),
            CostDimension::Service => f.write_str("service"),
            CostDimension::Region => f.write_str("region"),
            CostDimension::LineItemType => f.write_str("line_item_type"),
            CostDimension::Tag(k) => write!(f, "tag:{k}"),
        }
    }
}

/// Which cost to sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CostMetric {
    /// Unblended cost, every line item (tax, credits, negations) included.
    Unblended,
    /// Net unblended cost (the unblended cost where the report has no net column).
    NetUnblended,
    /// Amortized cost.
    Amortized,
}

/// A metric the API does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?}: use unblended, net_unblended or amortized")]
pub struct UnknownMetric(pub String);

impl FromStr for CostMetric {
    type Err = UnknownMetric;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unblended" => Ok(CostMetric::Unblended),
            "net_unblended" => Ok(CostMetric::NetUnblended),
            "amortized" => Ok(CostMetric::Amortized),
            other => Err(UnknownMetric(other.to_owned())),
        }
    }
}

impl CostMetric {
    /// The API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            CostMetric::Unblended => "unblended",
            CostMetric::NetUnblended => "net_unblended",
            CostMetric::Amortized => "amortized",
        }
    }

    fn rollup_column(&self) -> &'static str {
        match self {
            CostMetric::Unblended => "unblended",
            CostMetric::NetUnblended => "net_unblended",
            CostMetric::Amortized => "amortized",
        }
    }
}

/// A cost question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostQuery {
    /// First day, inclusive.
    pub start: NaiveDate,
    /// Last day, exclusive.
    pub end: NaiveDate,
    /// Dimensions, in the order of the answer's keys (at most one tag).
    pub group_by: Vec<CostDimension>,
    /// What to sum.
    pub metric: CostMetric,
}

/// One group of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// The group's values, in `group_by` order (`None`: an untagged cost under `tag:<key>`).
    pub keys: Vec<Option<String>>,
    /// Its currency.
    pub currency: String,
    /// Exact sum.
    pub amount: Decimal,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostAnswer {
    /// Every currency seen, sorted (usually one).
    pub currencies: Vec<String>,
    /// Groups, ordered by their keys.
    pub rows: Vec<CostRow>,
    /// Sum of every group (exact).
    pub total: Decimal,
    /// True when answered from the daily rollups; false when line items were read.
    pub from_rollups: bool,
}

fn key_expr(d: &CostDimension, tag_expr: &str, day: &str) -> String {
    match d {
        CostDimension::Day => format!("to_char({day}, 'YYYY-MM-DD')"),
        CostDimension::Month => format!("to_char({day}, 'YYYY-MM')"),
        CostDimension::Account => "usage_account_id".into(),
        CostDimension::PayerAccount => "payer_account_id".into(),
        CostDimension::Service => "product_code".into(),
        CostDimension::Region => "region".into(),
        CostDimension::LineItemType => "line_item_type".into(),
        CostDimension::Tag(_) => tag_expr.into(),
    }
}

/// True when the monthly rollups answer `q` exactly: no `day` group and a range of whole months.
fn whole_months(q: &CostQuery) -> bool {
    use chrono::Datelike;
    q.start.day() == 1
        && q.end.day() == 1
        && !q.group_by.iter().any(|d| matches!(d, CostDimension::Day))
}

/// True when the daily rollups without accounts answer `q`: no account among its groups.
fn no_account_groups(q: &CostQuery) -> bool {
    q.group_by.iter().all(|d| {
        matches!(
            d,
            CostDimension::Day
                | CostDimension::Month
                | CostDimension::Service
                | CostDimension::Region
                | CostDimension::LineItemType
        )
    })
}

/// True when the daily rollups per account answer `q`: groups by day, month and accounts only.
fn day_and_accounts_only(q: &CostQuery) -> bool {
    q.group_by.iter().all(|d| {
        matches!(
            d,
            CostDimension::Day
                | CostDimension::Month
                | CostDimension::Account
                | CostDimension::PayerAccount
        )
    })
}

/// Sums the workspace's costs per group. A `tag:<key>` the workspace rolls up is answered from
/// the tag rollups; another key (or several tag keys) from line items.
pub async fn query(scope: &mut Scoped, q: &CostQuery) -> StoreResult<CostAnswer> {
    if q.end <= q.start {
        return Err(StoreError::Conflict("end must be after start".into()));
    }
    let ws = scope.workspace_id();
    let tags: Vec<&str> = q
        .group_by
        .iter()
        .filter_map(|d| match d {
            CostDimension::Tag(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let rolled_up = match tags.as_slice() {
        [] => true,
        [one] => {
            let keys = crate::cur::tag_keys(scope).await?;
            keys.iter().any(|k| k == one)
        }
        _ => false,
    };
    if !rolled_up {
        return from_line_items(scope, q).await;
    }
    // $1 workspace, $2 start, $3 end, $4 the tag key.
    let (source, tag_expr, day) = if !tags.is_empty() {
        ("cur_daily_tag_costs", "nullif(tag_value, '')", "day")
    } else if whole_months(q) {
        ("cur_monthly_costs", "", "month")
    } else if no_account_groups(q) {
        ("cur_daily_service_region_costs", "", "day")
    } else if day_and_accounts_only(q) {
        ("cur_daily_account_costs", "", "day")
    } else {
        ("cur_daily_costs", "", "day")
    };
    let amount = q.metric.rollup_column();
    // Group on the raw columns (cheap), then format the few groups (dates as text).
    let mut inner: Vec<String> = Vec::new();
    let mut outer: Vec<String> = Vec::new();
    for (i, d) in q.group_by.iter().enumerate() {
        let k = format!("k{i}");
        let (raw, shown) = match d {
            CostDimension::Day => (day.to_owned(), format!("to_char({k}, 'YYYY-MM-DD')")),
            CostDimension::Month => (
                format!("date_trunc('month', {day})::date"),
                format!("to_char({k}, 'YYYY-MM')"),
            ),
            _ => (key_expr(d, tag_expr, day), k.clone()),
        };
        inner.push(format!("{raw} AS {k}"));
        outer.push(shown);
    }
    let filter = if tags.is_empty() {
        ""
    } else {
        " AND tag_key = ($4::text[])[1]"
    };
    let names: Vec<String> = (0..inner.len()).map(|i| format!("k{i}")).collect();
    let inner_cols: String = inner.iter().map(|c| format!("{c}, ")).collect();
    let group_cols: String = names.iter().map(|c| format!("{c}, ")).collect();
    let sql = format!(
        "SELECT ARRAY[{outer}]::text[] AS keys, currency, amount FROM (
             SELECT {inner_cols}currency, sum({amount}) AS amount
               FROM {source}
              WHERE workspace_id = $1 AND {day} >= $2 AND {day} < $3 AND cardinality($4::text[]) >= 0{filter}
              GROUP BY {group_cols}currency
         ) g
         ORDER BY {group_cols}currency",
        outer = outer.join(", "),
    );
    let rows: Vec<(Vec<Option<String>>, String, Decimal)> = sqlx::query_as(&sql)
        .bind(ws.as_uuid())
        .bind(q.start)
        .bind(q.end)
        .bind(tags.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .fetch_all(scope.tx())
        .await?;
    let rows = rows
        .into_iter()
        .map(|(keys, currency, amount)| CostRow {
            keys,
            currency,
            amount,
        })
        .collect();
    CostAnswer::new(rows, true)
}

impl CostAnswer {
    /// The answer of `rows` (already in order): their currencies and exact total.
    fn new(rows: Vec<CostRow>, from_rollups: bool) -> StoreResult<CostAnswer> {
        let mut total = ExactSum::default();
        for r in &rows {
            total.add(r.amount).map_err(|_| too_large())?;
        }
        let mut currencies: Vec<String> = rows.iter().map(|r| r.currency.clone()).collect();
        currencies.sort();
        currencies.dedup();
        Ok(CostAnswer {
            currencies,
            rows,
            total: to_decimal(&total)?,
            from_rollups,
        })
    }
}

/// Answers `q` from the line items themselves: the chunks whose usage range meets the query's,
/// decompressed on blocking threads, each line item added to its group. Same groups, sums, order and
/// `null`s as the SQL over the rollups.
async fn from_line_items(scope: &mut Scoped, q: &CostQuery) -> StoreResult<CostAnswer> {
    if q.group_by.len() >= MAX_KEYS {
        return Err(StoreError::Conflict(format!(
            "group_by takes at most {} keys",
            MAX_KEYS - 1
        )));
    }
    let ws = scope.workspace_id();
    let start = q.start.and_time(chrono::NaiveTime::MIN).and_utc();
    let end = q.end.and_time(chrono::NaiveTime::MIN).and_utc();
    let chunks: Vec<(uuid::Uuid, NaiveDate, i64)> = sqlx::query_as(
        "SELECT integration_id, billing_period, chunk_no FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND usage_to >= $2 AND usage_from < $3",
    )
    .bind(ws.as_uuid())
    .bind(start)
    .bind(end)
    .fetch_all(scope.tx())
    .await?;
    // Chunks are decompressed and summed on blocking threads (a month takes seconds of CPU
    // that must not stall the server's other requests), up to SUMMING_THREADS at once, each
    // into its own groups, while the next chunk is fetched; the groups are merged at the end.
    let new_groups =
        || LineItemGroups::new(q.clone(), start.timestamp_micros(), end.timestamp_micros());
    let mut idle: Vec<LineItemGroups> = Vec::new();
    let mut summing: std::collections::VecDeque<SummingTask> = Default::default();
    for (integration, period, chunk_no) in chunks {
        let compressed: Vec<u8> = sqlx::query_scalar(
            "SELECT copy_zstd FROM cur_line_item_chunks
              WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3
                AND chunk_no = $4",
        )
        .bind(ws.as_uuid())
        .bind(integration)
        .bind(period)
        .bind(chunk_no)
        .fetch_one(scope.tx())
        .await?;
        if summing.len() >= SUMMING_THREADS {
            let oldest = summing.pop_front().expect("a task is summing");
            idle.push(joined(oldest).await?);
        }
        let mut groups = idle.pop().unwrap_or_else(new_groups);
        summing.push_back(tokio::task::spawn_blocking(move || {
            groups.add_chunk(&compressed)?;
            Ok(groups)
        }));
    }
    for task in summing {
        idle.push(joined(task).await?);
    }
    let mut merged = idle.pop().unwrap_or_else(new_groups);
    for other in idle {
        merged.merge(other)?;
    }
    merged.finish()
}

/// Chunks summed at once by one line-item query.
const SUMMING_THREADS: usize = 2;

type SummingTask = tokio::task::JoinHandle<StoreResult<LineItemGroups>>;

async fn joined(task: SummingTask) -> StoreResult<LineItemGroups> {
    task.await
        .map_err(|e| StoreError::Corrupt(format!("summing line items failed: {e}")))?
}

/// Groups of line items, summed exactly. Key values are interned (id 0 is SQL's `NULL`), so a
/// line item of a group already seen allocates nothing.
struct LineItemGroups {
    q: std::sync::Arc<CostQuery>,
    /// The query's range, in microseconds since the Unix epoch.
    start_us: i64,
    end_us: i64,
    /// Group key: the ids of its values in `group_by` order, then its currency's.
    sums: FxHashMap<[u32; MAX_KEYS], ExactSum>,
    values: Vec<Option<String>>,
    ids: FxHashMap<String, u32>,
    /// Ids of each day's (since the Unix epoch) `YYYY-MM-DD` and `YYYY-MM`.
    days: FxHashMap<i64, (u32, u32)>,
    /// Ids of the requested tag values of each distinct tags object seen.
    tag_values: FxHashMap<Vec<u8>, Vec<u32>>,
}

/// The API takes at most 6 `group_by` keys; one more for the currency.
const MAX_KEYS: usize = 8;
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl LineItemGroups {
    fn new(q: CostQuery, start_us: i64, end_us: i64) -> Self {
        LineItemGroups {
            q: std::sync::Arc::new(q),
            start_us,
            end_us,
            sums: FxHashMap::default(),
            values: vec![None],
            ids: FxHashMap::default(),
            days: FxHashMap::default(),
            tag_values: FxHashMap::default(),
        }
    }

    fn id(&mut self, value: Option<&str>) -> u32 {
        let Some(v) = value else { return 0 };
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(Some(v.to_owned()));
        self.ids.insert(v.to_owned(), id);
        id
    }

    /// Adds another query's groups (same query, its own interned ids).
    fn merge(&mut self, other: LineItemGroups) -> StoreResult<()> {
        for (key, sum) in other.sums {
            let mut mine = [0u32; MAX_KEYS];
            for (slot, &id) in mine.iter_mut().zip(&key) {
                *slot = self.id(other.values[id as usize].as_deref());
            }
            self.sums
                .entry(mine)
                .or_default()
                .add_sum(&sum)
                .map_err(|_| too_large())?;
        }
        Ok(())
    }

    /// Adds the line items of a chunk used in the query's range.
    fn add_chunk(&mut self, compressed: &[u8]) -> StoreResult<()> {
        let stream = decompress_chunk(compressed)?;
        for row in ChunkRows::new(&stream)? {
            let row = row?;
            let usage_start = row.unix_micros(Column::UsageStart)?;
            if usage_start < self.start_us || usage_start >= self.end_us {
                continue;
            }
            self.add(&row, usage_start.div_euclid(MICROS_PER_DAY))?;
        }
        Ok(())
    }

    /// Adds a line item used on `day` (days since the Unix epoch).
    fn add(&mut self, row: &crate::line_items::ChunkRow<'_>, day: i64) -> StoreResult<()> {
        let q = std::sync::Arc::clone(&self.q);
        let tags_json = row.bytes(Column::Tags).unwrap_or(b"{}");
        if !self.tag_values.contains_key(tags_json) {
            let values = tag_values(&q, row.text(Column::Tags)?)?;
            let ids = values.iter().map(|v| self.id(v.as_deref())).collect();
            self.tag_values.insert(tags_json.to_vec(), ids);
        }
        let (day_id, month_id) = match self.days.get(&day) {
            Some(&ids) => ids,
            None => {
                let day_no = i32::try_from(day + 719_163)
                    .map_err(|_| StoreError::Corrupt("a usage day out of range".into()))?;
                // Days from 0001-01-01 (chrono's day 1) to the Unix epoch: 719,162.
                let date = NaiveDate::from_num_days_from_ce_opt(day_no)
                    .ok_or_else(|| StoreError::Corrupt("a usage day out of range".into()))?;
                let ids = (
                    self.id(Some(&date.format("%Y-%m-%d").to_string())),
                    self.id(Some(&date.format("%Y-%m").to_string())),
                );
                self.days.insert(day, ids);
                ids
            }
        };
        let mut key = [0u32; MAX_KEYS];
        let mut tag_no = 0;
        for (slot, d) in key.iter_mut().zip(&q.group_by) {
            *slot = match d {
                CostDimension::Day => day_id,
                CostDimension::Month => month_id,
                CostDimension::Account => self.id(Some(row.text(Column::UsageAccountId)?)),
                CostDimension::PayerAccount => self.id(Some(row.text(Column::PayerAccountId)?)),
                CostDimension::Service => self.id(Some(row.text(Column::ProductCode)?)),
                CostDimension::Region => self.id(Some(row.text(Column::Region)?)),
                CostDimension::LineItemType => self.id(Some(row.text(Column::LineItemType)?)),
                CostDimension::Tag(_) => {
                    tag_no += 1;
                    self.tag_values[tags_json][tag_no - 1]
                }
            };
        }
        key[q.group_by.len()] = self.id(Some(row.text(Column::Currency)?));
        let column = match q.metric {
            CostMetric::Unblended => Column::UnblendedCost,
            CostMetric::NetUnblended => Column::NetUnblendedCost,
            CostMetric::Amortized => Column::AmortizedCost,
        };
        let amount = match row.numeric_parts(column)? {
            Some(parts) => parts,
            // Net unblended cost is the unblended cost where the report has none.
            None if column == Column::NetUnblendedCost => row
                .numeric_parts(Column::UnblendedCost)?
                .ok_or_else(|| StoreError::Corrupt("a line item without unblended cost".into()))?,
            None => return Err(StoreError::Corrupt("a line item without its cost".into())),
        };
        self.sums
            .entry(key)
            .or_default()
            .add_parts(amount.0, amount.1)
            .map_err(|_| too_large())
    }

    /// The groups in the SQL's order (keys, `null` last, then currency), and their total.
    fn finish(self) -> StoreResult<CostAnswer> {
        let n = self.q.group_by.len();
        let mut rows = Vec::with_capacity(self.sums.len());
        for (key, sum) in self.sums {
            rows.push(CostRow {
                keys: key[..n]
                    .iter()
                    .map(|&id| self.values[id as usize].clone())
                    .collect(),
                currency: self.values[key[n] as usize].clone().unwrap_or_default(),
                amount: to_decimal(&sum)?,
            });
        }
        // `null` sorts last, as in SQL.
        fn key(r: &CostRow) -> impl Iterator<Item = (bool, &Option<String>)> {
            r.keys.iter().map(|k| (k.is_none(), k))
        }
        rows.sort_by(|a, b| key(a).cmp(key(b)).then_with(|| a.currency.cmp(&b.currency)));
        CostAnswer::new(rows, false)
    }
}

/// The values of the query's tag keys in one line item's tags object, as `tags ->> key` reads
/// them (`None` for a missing key or an empty value).
fn tag_values(q: &CostQuery, tags_json: &str) -> StoreResult<Vec<Option<String>>> {
    let tags: FxHashMap<String, serde_json::Value> = serde_json::from_str(tags_json)
        .map_err(|e| StoreError::Corrupt(format!("line item tags are not a JSON object: {e}")))?;
    Ok(q.group_by
        .iter()
        .filter_map(|d| match d {
            CostDimension::Tag(k) => Some(match tags.get(k) {
                Some(serde_json::Value::String(v)) if v.is_empty() => None,
                Some(serde_json::Value::String(v)) => Some(v.clone()),
                Some(serde_json::Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            }),
            _ => None,
        })
        .collect())
}

fn to_decimal(sum: &ExactSum) -> StoreResult<Decimal> {
    let (mantissa, scale) = sum.parts();
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| too_large())
}

fn too_large() -> StoreError {
    StoreError::Conflict(
        "the sum is too large for a decimal: narrow the range or the groups".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_months_without_days_use_the_monthly_rollups() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let q = |start: &str, end: &str, group_by: Vec<CostDimension>| CostQuery {
            start: d(start),
            end: d(end),
            group_by,
            metric: CostMetric::Unblended,
        };
        assert!(whole_months(&q(
            "2026-10-01",
            "2026-11-01",
            vec![CostDimension::Service]
        )));
        assert!(whole_months(&q(
            "2026-01-01",
            "2026-12-01",
            vec![CostDimension::Month]
        )));
        assert!(!whole_months(&q(
            "2026-10-01",
            "2026-11-01",
            vec![CostDimension::Day]
        )));
        assert!(!whole_months(&q("2026-10-02", "2026-11-01", vec![])));
        assert!(!whole_months(&q("2026-10-01", "2026-10-31", vec![])));
    }

    #[test]
    fn day_service_and_account_groups_use_the_narrow_daily_rollups() {
        let q = |group_by: Vec<CostDimension>| CostQuery {
            start: "2026-10-01".parse().unwrap(),
            end: "2026-10-15".parse().unwrap(),
            group_by,
            metric: CostMetric::Amortized,
        };
        assert!(no_account_groups(&q(vec![])));
        assert!(no_account_groups(&q(vec![CostDimension::Day])));
        assert!(no_account_groups(&q(vec![
            CostDimension::Service,
            CostDimension::Month
        ])));
        assert!(no_account_groups(&q(vec![
            CostDimension::Day,
            CostDimension::Region,
            CostDimension::LineItemType
        ])));
        assert!(!no_account_groups(&q(vec![
            CostDimension::Day,
            CostDimension::Account
        ])));
        assert!(!no_account_groups(&q(vec![
            CostDimension::Region,
            CostDimension::PayerAccount
        ])));
        assert!(!no_account_groups(&q(vec![CostDimension::Tag(
            "Team".into()
        )])));
        assert!(day_and_accounts_only(&q(vec![
            CostDimension::Day,
            CostDimension::Account,
            CostDimension::PayerAccount
        ])));
        assert!(!day_and_accounts_only(&q(vec![
            CostDimension::Day,
            CostDimension::Service
        ])));
    }

    #[test]
    fn dimensions_and_metrics_parse_and_print() {
        for k in [
            "day",
            "month",
            "account",
            "payer_account",
            "service",
            "region",
            "line_item_type",
            "tag:Team",
        ] {
            assert_eq!(k.parse::<CostDimension>().unwrap().to_string(), k);
        }
        assert!("tag:".parse::<CostDimension>().is_err());
        assert!("usage_type".parse::<CostDimension>().is_err());
        assert_eq!(
            "net_unblended".parse::<CostMetric>().unwrap(),
            CostMetric::NetUnblended
        );
        assert!("blended".parse::<CostMetric>().is_err());
    }
}
