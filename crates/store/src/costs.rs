//! Cost queries for `GET /api/v1/costs`, answered from the daily rollups (and from the line item
//! chunks, decompressed here, for a tag key the workspace does not roll up).
//!
//! Group-by keys map to fixed column expressions from a closed list; only the tag key is a
//! value, and it is always bound as a parameter.

use crate::cost_sources::NotCounted;
use crate::line_items::{decompress_chunk, ChunkRows, Column};
use crate::rollups::ExactSum;
use crate::{Scoped, StoreError, StoreResult};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rustc_hash::{FxHashMap, FxHashSet};
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
    /// Usage type, e.g. `USE1-BoxUsage:m5.large` (answered from line items).
    UsageType,
    /// The CUR resource id (`null` for costs without one; answered from line items).
    Resource,
    /// A user tag's value (`null` for untagged costs).
    Tag(String),
}

impl CostDimension {
    /// True for dimensions only the line items carry (no rollup keeps them).
    fn line_items_only(&self) -> bool {
        matches!(self, CostDimension::UsageType | CostDimension::Resource)
    }
}

/// A group-by key the API does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown group_by key {0:?}: use day, month, account, payer_account, service, region, line_item_type, usage_type, resource or tag:<key>")]
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
            "usage_type" => CostDimension::UsageType,
            "resource" => CostDimension::Resource,
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
            CostDimension::UsageType => f.write_str("usage_type"),
            CostDimension::Resource => f.write_str("resource"),
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

/// Keeps (or, negated, drops) the costs whose value of a dimension is one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostFilter {
    /// The dimension compared (never `day` or `month`: the range does that).
    pub dimension: CostDimension,
    /// True for `!K:V`: every value but these.
    pub negated: bool,
    /// The values; for a tag, `""` stands for untagged costs.
    pub values: Vec<String>,
}

/// A filter the API cannot read; the message names it and shows the forms it takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter {filter:?}: {why}; write K:V, !K:V or K:V1|V2 with K one of account, payer_account, service, region, line_item_type, usage_type, resource or tag:<key> (e.g. filter=service:AmazonEC2, filter=!region:us-east-1, filter=tag:Team:a|b)")]
pub struct InvalidFilter {
    /// The filter as given.
    pub filter: String,
    /// What is wrong with it.
    pub why: String,
}

/// At most this many values in one filter.
const MAX_FILTER_VALUES: usize = 100;

impl FromStr for CostFilter {
    type Err = InvalidFilter;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| InvalidFilter {
            filter: s.to_owned(),
            why: why.to_owned(),
        };
        let (negated, rest) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        // A tag key may hold `:` itself (`aws:createdBy`): its value starts after the last one.
        let split = if rest.starts_with("tag:") {
            rest.rfind(':').filter(|&i| i >= "tag:".len())
        } else {
            rest.find(':')
        };
        let Some(split) = split else {
            return Err(invalid("it has no `:` between the key and the value"));
        };
        let (key, values) = (&rest[..split], &rest[split + 1..]);
        let dimension: CostDimension = key
            .parse()
            .map_err(|_| invalid(&format!("{key:?} is not a dimension")))?;
        if matches!(dimension, CostDimension::Day | CostDimension::Month) {
            return Err(invalid("dates are chosen with start and end, not a filter"));
        }
        let values: Vec<String> = values.split('|').map(str::to_owned).collect();
        let is_tag = matches!(dimension, CostDimension::Tag(_));
        if !is_tag && values.iter().any(String::is_empty) {
            return Err(invalid(
                "a value is empty (only a tag has an empty value: untagged)",
            ));
        }
        if values.len() > MAX_FILTER_VALUES {
            return Err(invalid(&format!(
                "it has more than {MAX_FILTER_VALUES} values"
            )));
        }
        Ok(CostFilter {
            dimension,
            negated,
            values,
        })
    }
}

impl fmt::Display for CostFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = if self.negated { "!" } else { "" };
        write!(f, "{bang}{}:{}", self.dimension, self.values.join("|"))
    }
}

impl CostFilter {
    /// Whether a cost whose value is `value` (`None`: untagged, or no resource) is kept.
    pub fn keeps(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        self.values.iter().any(|v| v == value) != self.negated
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
    /// Filters, all of which a cost must pass.
    pub filters: Vec<CostFilter>,
    /// What to sum.
    pub metric: CostMetric,
}

impl CostQuery {
    /// Every dimension the question looks at: its groups, then its filters'.
    fn dimensions(&self) -> impl Iterator<Item = &CostDimension> {
        self.group_by
            .iter()
            .chain(self.filters.iter().map(|f| &f.dimension))
    }

    /// The distinct tag keys the question looks at, those of its groups first.
    fn tag_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for d in self.dimensions() {
            if let CostDimension::Tag(k) = d {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
        keys
    }
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
    /// Where the numbers come from: `CostExplorer` when any part of the sum is preliminary.
    pub source: CostSource,
}

/// Where a cost comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CostSource {
    /// The served CUR assemblies.
    Cur,
    /// Cost Explorer, for a month no served CUR covers yet (preliminary).
    CostExplorer,
}

impl CostSource {
    /// The API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            CostSource::Cur => "cur",
            CostSource::CostExplorer => "cost_explorer",
        }
    }
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
    /// `CostExplorer` when any row is preliminary.
    pub source: CostSource,
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
        // Never asked of a rollup (`CostDimension::line_items_only`).
        CostDimension::UsageType | CostDimension::Resource => "NULL".into(),
    }
}

/// True when the monthly rollups answer `q` exactly: no `day` group and a range of whole months.
fn whole_months(q: &CostQuery) -> bool {
    use chrono::Datelike;
    q.start.day() == 1
        && q.end.day() == 1
        && !q.dimensions().any(|d| matches!(d, CostDimension::Day))
}

/// True when the daily rollups without accounts answer `q`: no account among its groups.
fn no_account_groups(q: &CostQuery) -> bool {
    q.dimensions().all(|d| {
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
    q.dimensions().all(|d| {
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
/// the tag rollups; another key (or several tag keys) from line items. An account and period
/// that two integrations report is counted once (`crate::cost_sources`), and Cost Explorer's
/// preliminary numbers fill the months no served CUR covers ([`CostSource::CostExplorer`]).
pub async fn query(scope: &mut Scoped, q: &CostQuery) -> StoreResult<CostAnswer> {
    match answer(scope, q).await {
        Err(StoreError::Database(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some(QUERY_CANCELED) =>
        {
            Err(StoreError::Limit(format!(
                "the question took longer than {} s: narrow the range, group by fewer keys or add filters",
                STATEMENT_TIMEOUT_MS / 1000
            )))
        }
        other => other,
    }
}

/// SQLSTATE of a statement stopped by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

async fn answer(scope: &mut Scoped, q: &CostQuery) -> StoreResult<CostAnswer> {
    if q.end <= q.start {
        return Err(StoreError::Conflict("end must be after start".into()));
    }
    if (q.end - q.start).num_days() > MAX_RANGE_DAYS {
        return Err(StoreError::Limit(format!(
            "the range is longer than {MAX_RANGE_DAYS} days: ask for at most three years at once"
        )));
    }
    // One question may not hold a pooled connection for long, whatever it asks.
    sqlx::query(&format!(
        "SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT_MS}ms'"
    ))
    .execute(scope.tx())
    .await?;
    let tags = q.tag_keys();
    let rolled_up = !q.dimensions().any(CostDimension::line_items_only)
        && match tags.as_slice() {
            [] => true,
            [one] => {
                let keys = crate::cur::tag_keys(scope).await?;
                keys.iter().any(|k| k == one)
            }
            _ => false,
        };
    let not_counted = NotCounted::read(scope, q.start, q.end).await?;
    let answer = if rolled_up {
        from_rollups(scope, q, &not_counted).await?
    } else {
        from_line_items(scope, q, &not_counted).await?
    };
    let preliminary = from_cost_explorer(scope, q).await?;
    let answer = answer.with_preliminary(preliminary)?;
    if answer.rows.len() > MAX_ROWS {
        return Err(StoreError::Limit(format!(
            "the answer has more than {MAX_ROWS} rows: narrow the range, group by fewer keys or add filters"
        )));
    }
    Ok(answer)
}

/// The longest range one cost question may cover.
pub const MAX_RANGE_DAYS: i64 = 1_100;

/// The most rows one answer may have.
pub const MAX_ROWS: usize = 50_000;

/// How long one statement of a cost question may run.
const STATEMENT_TIMEOUT_MS: u32 = 20_000;

/// Line-item questions (chunks decompressed on blocking threads) running at once in this
/// process, whoever asks: more wait, so that they cannot take every blocking thread and pooled
/// connection.
static LINE_ITEM_QUESTIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Cost Explorer's daily costs for `q` (`crate::cost_explorer`), for the days of months that no
/// served CUR covers: neither the importing integration's own CUR nor another integration's CUR
/// of the same account. Two integrations of one payer account read the same numbers: the one
/// connected first counts. Cost Explorer knows accounts and services only: the other
/// dimensions are `null` here, and a filter on them keeps only what it keeps of `null`.
async fn from_cost_explorer(scope: &mut Scoped, q: &CostQuery) -> StoreResult<Vec<CostRow>> {
    let expr = |d: &CostDimension| -> &'static str {
        match d {
            CostDimension::Day => "to_char(c.day, 'YYYY-MM-DD')",
            CostDimension::Month => "to_char(c.day, 'YYYY-MM')",
            CostDimension::Account => "c.usage_account_id",
            CostDimension::PayerAccount => "c.payer_account_id",
            CostDimension::Service => "c.service",
            CostDimension::Region
            | CostDimension::LineItemType
            | CostDimension::UsageType
            | CostDimension::Resource
            | CostDimension::Tag(_) => "NULL::text",
        }
    };
    let keys: Vec<String> = q
        .group_by
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{} AS k{i}", expr(d)))
        .collect();
    let names: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let group_cols: String = names.iter().map(|k| format!("{k}, ")).collect();
    let mut filter = String::new();
    for (i, f) in q.filters.iter().enumerate() {
        let op = if f.negated { "<> ALL" } else { "= ANY" };
        filter.push_str(&format!(
            " AND coalesce({}, '') {op}(${}::text[])",
            expr(&f.dimension),
            i + 4
        ));
    }
    let sql = format!(
        "SELECT ARRAY[{array_keys}]::text[] AS keys, currency, amount FROM (
             SELECT {key_cols}c.currency, sum(c.{amount}) AS amount
               FROM ce_daily_costs c
              WHERE c.workspace_id = $1 AND c.day >= $2 AND c.day < $3{filter}
                AND NOT EXISTS (
                    SELECT 1 FROM cur_period_accounts p
                     WHERE p.workspace_id = $1 AND p.usage_account_id = c.usage_account_id
                       AND p.billing_period = date_trunc('month', c.day)::date)
                AND NOT EXISTS (
                    SELECT 1 FROM cur_periods s
                     WHERE s.workspace_id = $1 AND s.integration_id = c.integration_id
                       AND s.billing_period = date_trunc('month', c.day)::date
                       AND s.live_assembly_id IS NOT NULL)
                AND c.integration_id = (
                    SELECT i.integration_id FROM ce_imports m
                      JOIN integrations i USING (workspace_id, integration_id)
                     WHERE m.workspace_id = $1 AND i.account_id = c.payer_account_id
                     ORDER BY i.created_at, i.integration_id LIMIT 1)
              GROUP BY {group_cols}c.currency
         ) g",
        array_keys = names.join(", "),
        key_cols = keys.iter().map(|k| format!("{k}, ")).collect::<String>(),
        amount = q.metric.rollup_column(),
    );
    let mut query = sqlx::query_as(&sql)
        .bind(scope.workspace_id().as_uuid())
        .bind(q.start)
        .bind(q.end);
    for f in &q.filters {
        query = query.bind(f.values.clone());
    }
    let rows: Vec<(Vec<Option<String>>, String, Decimal)> = query.fetch_all(scope.tx()).await?;
    Ok(rows
        .into_iter()
        .map(|(keys, currency, amount)| CostRow {
            keys,
            currency,
            amount,
            source: CostSource::CostExplorer,
        })
        .collect())
}

/// Answers `q` from the rollup tables, leaving out the accounts of `not_counted`.
async fn from_rollups(
    scope: &mut Scoped,
    q: &CostQuery,
    not_counted: &NotCounted,
) -> StoreResult<CostAnswer> {
    let ws = scope.workspace_id();
    let tags = q.tag_keys();
    // $1 workspace, $2 start, $3 end, $4 the tag key. Leaving accounts out needs a table that
    // keeps them.
    let (source, tag_expr, day) = if !tags.is_empty() {
        ("cur_daily_tag_costs", "nullif(tag_value, '')", "day")
    } else if whole_months(q) {
        ("cur_monthly_costs", "", "month")
    } else if no_account_groups(q) && not_counted.is_empty() {
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
    let mut filter = if tags.is_empty() {
        String::new()
    } else {
        " AND tag_key = ($4::text[])[1]".to_owned()
    };
    // Each filter's values are bound as one text[] ($5, $6, ...); the expressions come from
    // the closed list of `key_expr`.
    for (i, f) in q.filters.iter().enumerate() {
        let expr = key_expr(&f.dimension, tag_expr, day);
        let op = if f.negated { "<> ALL" } else { "= ANY" };
        filter.push_str(&format!(
            " AND coalesce({expr}, '') {op}(${}::text[])",
            i + 5
        ));
    }
    let n = q.filters.len();
    if !not_counted.is_empty() {
        filter.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM unnest(${}::uuid[], ${}::date[], ${}::text[]) s(i, p, a)
                              WHERE s.i = integration_id AND s.p = billing_period AND s.a = usage_account_id)",
            n + 5,
            n + 6,
            n + 7
        ));
    }
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
    let mut query = sqlx::query_as(&sql)
        .bind(ws.as_uuid())
        .bind(q.start)
        .bind(q.end)
        .bind(tags.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    for f in &q.filters {
        query = query.bind(f.values.clone());
    }
    if !not_counted.is_empty() {
        let (integrations, periods, accounts) = not_counted.arrays();
        query = query.bind(integrations).bind(periods).bind(accounts);
    }
    let rows: Vec<(Vec<Option<String>>, String, Decimal)> = query.fetch_all(scope.tx()).await?;
    let rows = rows
        .into_iter()
        .map(|(keys, currency, amount)| CostRow {
            keys,
            currency,
            amount,
            source: CostSource::Cur,
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
        let source = rows
            .iter()
            .map(|r| r.source)
            .max()
            .unwrap_or(CostSource::Cur);
        Ok(CostAnswer {
            currencies,
            rows,
            total: to_decimal(&total)?,
            from_rollups,
            source,
        })
    }

    /// This answer with Cost Explorer's `preliminary` rows (same query) added: a group both
    /// hold sums both and is marked preliminary. Rows stay in the SQL's order.
    fn with_preliminary(self, preliminary: Vec<CostRow>) -> StoreResult<CostAnswer> {
        if preliminary.is_empty() {
            return Ok(self);
        }
        let mut groups: FxHashMap<GroupKeys, (ExactSum, CostSource)> = FxHashMap::default();
        for r in self.rows.into_iter().chain(preliminary) {
            let (sum, source) = groups
                .entry((r.keys, r.currency))
                .or_insert_with(|| (ExactSum::default(), CostSource::Cur));
            sum.add(r.amount).map_err(|_| too_large())?;
            *source = (*source).max(r.source);
        }
        let mut rows = Vec::with_capacity(groups.len());
        for ((keys, currency), (sum, source)) in groups {
            rows.push(CostRow {
                keys,
                currency,
                amount: to_decimal(&sum)?,
                source,
            });
        }
        sort_rows(&mut rows);
        CostAnswer::new(rows, self.from_rollups)
    }
}

/// A row's keys and currency.
type GroupKeys = (Vec<Option<String>>, String);

/// Sorts rows as the SQL does: by keys (`null` last), then currency.
pub(crate) fn sort_rows(rows: &mut [CostRow]) {
    fn key(r: &CostRow) -> impl Iterator<Item = (bool, &Option<String>)> {
        r.keys.iter().map(|k| (k.is_none(), k))
    }
    rows.sort_by(|a, b| key(a).cmp(key(b)).then_with(|| a.currency.cmp(&b.currency)));
}

/// Answers `q` from the line items themselves: the chunks whose usage range meets the query's,
/// decompressed on blocking threads, each line item added to its group. Same groups, sums, order and
/// `null`s as the SQL over the rollups.
async fn from_line_items(
    scope: &mut Scoped,
    q: &CostQuery,
    not_counted: &NotCounted,
) -> StoreResult<CostAnswer> {
    if q.group_by.len() >= MAX_KEYS {
        return Err(StoreError::Conflict(format!(
            "group_by takes at most {} keys",
            MAX_KEYS - 1
        )));
    }
    let _turn = LINE_ITEM_QUESTIONS
        .acquire()
        .await
        .map_err(|_| StoreError::Corrupt("the line item question limit was closed".into()))?;
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
        let left_out = not_counted.accounts(integration, period).cloned();
        summing.push_back(tokio::task::spawn_blocking(move || {
            groups.add_chunk(&compressed, left_out.as_ref())?;
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
    /// What each distinct tags object seen says for the query: decided once per object, not
    /// per line item.
    tags_seen: FxHashMap<Vec<u8>, TagsSeen>,
    /// The query's tag keys (`CostQuery::tag_keys`: those of `group_by` first, in order).
    tag_keys: Vec<String>,
}

/// One distinct tags object, as the query reads it.
struct TagsSeen {
    /// Ids of the values of the query's tag keys, in `tag_keys` order.
    ids: Vec<u32>,
    /// Whether it passes every tag filter.
    kept: bool,
}

/// The API takes at most 6 `group_by` keys; one more for the currency.
const MAX_KEYS: usize = 8;
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl LineItemGroups {
    fn new(q: CostQuery, start_us: i64, end_us: i64) -> Self {
        LineItemGroups {
            tag_keys: q.tag_keys().into_iter().map(str::to_owned).collect(),
            q: std::sync::Arc::new(q),
            start_us,
            end_us,
            sums: FxHashMap::default(),
            values: vec![None],
            ids: FxHashMap::default(),
            days: FxHashMap::default(),
            tags_seen: FxHashMap::default(),
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

    /// Adds the line items of a chunk used in the query's range, but those of the accounts
    /// `left_out` (another integration supplies them).
    fn add_chunk(
        &mut self,
        compressed: &[u8],
        left_out: Option<&FxHashSet<String>>,
    ) -> StoreResult<()> {
        let stream = decompress_chunk(compressed)?;
        for row in ChunkRows::new(&stream)? {
            let row = row?;
            let usage_start = row.unix_micros(Column::UsageStart)?;
            if usage_start < self.start_us || usage_start >= self.end_us {
                continue;
            }
            if let Some(left_out) = left_out {
                if left_out.contains(row.text(Column::UsageAccountId)?) {
                    continue;
                }
            }
            self.add(&row, usage_start.div_euclid(MICROS_PER_DAY))?;
        }
        Ok(())
    }

    /// Adds a line item used on `day` (days since the Unix epoch).
    fn add(&mut self, row: &crate::line_items::ChunkRow<'_>, day: i64) -> StoreResult<()> {
        let q = std::sync::Arc::clone(&self.q);
        let tags_json = row.bytes(Column::Tags).unwrap_or(b"{}");
        if !self.tags_seen.contains_key(tags_json) {
            let values = tag_values(&self.tag_keys, row.text(Column::Tags)?)?;
            let kept = q.filters.iter().all(|f| match &f.dimension {
                CostDimension::Tag(k) => {
                    let at = self.tag_keys.iter().position(|t| t == k).unwrap_or(0);
                    f.keeps(values[at].as_deref())
                }
                _ => true,
            });
            let ids = values.iter().map(|v| self.id(v.as_deref())).collect();
            self.tags_seen
                .insert(tags_json.to_vec(), TagsSeen { ids, kept });
        }
        // The group's tag values (the first of `tag_keys`), copied out of the map so that
        // new values below can be interned.
        let mut group_tags = [0u32; MAX_KEYS];
        {
            let seen = &self.tags_seen[tags_json];
            if !seen.kept {
                return Ok(());
            }
            for (slot, id) in group_tags.iter_mut().zip(&seen.ids) {
                *slot = *id;
            }
        }
        for f in &q.filters {
            if !matches!(f.dimension, CostDimension::Tag(_))
                && !f.keeps(dimension_text(row, &f.dimension)?)
            {
                return Ok(());
            }
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
                CostDimension::Tag(_) => {
                    tag_no += 1;
                    group_tags[tag_no - 1]
                }
                other => {
                    let value = dimension_text(row, other)?;
                    self.id(value)
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
                source: CostSource::Cur,
            });
        }
        sort_rows(&mut rows);
        CostAnswer::new(rows, false)
    }
}

/// A line item's value of a dimension read from one column (not a date, not a tag): `None`
/// for a line item without a resource id, as the rollups' SQL would group it.
fn dimension_text<'a>(
    row: &crate::line_items::ChunkRow<'a>,
    d: &CostDimension,
) -> StoreResult<Option<&'a str>> {
    let column = match d {
        CostDimension::Account => Column::UsageAccountId,
        CostDimension::PayerAccount => Column::PayerAccountId,
        CostDimension::Service => Column::ProductCode,
        CostDimension::Region => Column::Region,
        CostDimension::LineItemType => Column::LineItemType,
        CostDimension::UsageType => Column::UsageType,
        CostDimension::Resource => {
            return Ok(Some(row.text(Column::ResourceId)?).filter(|id| !id.is_empty()))
        }
        CostDimension::Day | CostDimension::Month | CostDimension::Tag(_) => {
            return Err(StoreError::Corrupt(format!(
                "{d} is not a line item column"
            )))
        }
    };
    Ok(Some(row.text(column)?))
}

/// The values of `keys` in one line item's tags object, as `tags ->> key` reads them (`None`
/// for a missing key or an empty value).
fn tag_values(keys: &[String], tags_json: &str) -> StoreResult<Vec<Option<String>>> {
    let tags: FxHashMap<String, serde_json::Value> = serde_json::from_str(tags_json)
        .map_err(|e| StoreError::Corrupt(format!("line item tags are not a JSON object: {e}")))?;
    Ok(keys
        .iter()
        .map(|k| match tags.get(k) {
            Some(serde_json::Value::String(v)) if v.is_empty() => None,
            Some(serde_json::Value::String(v)) => Some(v.clone()),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
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
            filters: Vec::new(),
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
            filters: Vec::new(),
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
            "usage_type",
            "resource",
            "tag:Team",
        ] {
            assert_eq!(k.parse::<CostDimension>().unwrap().to_string(), k);
        }
        assert!("tag:".parse::<CostDimension>().is_err());
        assert!("usage".parse::<CostDimension>().is_err());
        assert_eq!(
            "net_unblended".parse::<CostMetric>().unwrap(),
            CostMetric::NetUnblended
        );
        assert!("blended".parse::<CostMetric>().is_err());
    }

    #[test]
    fn filters_parse_equality_inequality_and_sets() {
        let f: CostFilter = "service:AmazonEC2".parse().unwrap();
        assert_eq!(f.dimension, CostDimension::Service);
        assert!(!f.negated);
        assert_eq!(f.values, vec!["AmazonEC2"]);
        let f: CostFilter = "!region:us-east-1".parse().unwrap();
        assert!(f.negated);
        assert!(f.keeps(Some("eu-west-1")) && !f.keeps(Some("us-east-1")));
        let f: CostFilter = "tag:Team:a|b".parse().unwrap();
        assert_eq!(f.dimension, CostDimension::Tag("Team".into()));
        assert_eq!(f.values, vec!["a", "b"]);
        assert!(f.keeps(Some("b")) && !f.keeps(None));
        // A tag key with colons; an empty tag value means untagged.
        let f: CostFilter = "tag:aws:createdBy:".parse().unwrap();
        assert_eq!(f.dimension, CostDimension::Tag("aws:createdBy".into()));
        assert!(f.keeps(None) && !f.keeps(Some("x")));
        assert_eq!(f.to_string(), "tag:aws:createdBy:");
        let f: CostFilter = "resource:i-0abc|vol-1".parse().unwrap();
        assert_eq!(f.dimension, CostDimension::Resource);
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for (bad, says) in [
            ("service", "no `:`"),
            ("colour:red", "\"colour\" is not a dimension"),
            ("day:2026-01-01", "start and end"),
            ("service:", "empty"),
            ("account:1|", "empty"),
            ("tag:Team", "no `:`"),
        ] {
            let e = bad.parse::<CostFilter>().unwrap_err();
            assert_eq!(e.filter, bad);
            assert!(e.to_string().contains(says), "{bad}: {e}");
            assert!(e.to_string().contains("filter=service:AmazonEC2"));
        }
        let many = format!("service:{}", vec!["x"; 101].join("|"));
        assert!(many.parse::<CostFilter>().is_err());
    }

    #[test]
    fn filters_count_as_dimensions_when_choosing_a_rollup() {
        let q = |filters: &[&str]| CostQuery {
            start: "2026-10-01".parse().unwrap(),
            end: "2026-11-01".parse().unwrap(),
            group_by: vec![CostDimension::Service],
            filters: filters.iter().map(|f| f.parse().unwrap()).collect(),
            metric: CostMetric::Unblended,
        };
        assert!(no_account_groups(&q(&["region:us-east-1"])));
        assert!(!no_account_groups(&q(&["account:111122223333"])));
        assert_eq!(
            q(&["tag:Team:a", "tag:Env:prod"]).tag_keys(),
            vec!["Team", "Env"]
        );
        assert!(q(&["usage_type:BoxUsage"])
            .dimensions()
            .any(CostDimension::line_items_only));
    }
}
