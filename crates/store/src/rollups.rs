//! A period's cost rollups, summed while its files are parsed (no SQL here but the COPY of the
//! result in [`crate::cur`]).
//!
//! Summing 2 million line items in the worker, during the parse it already does, is several
//! times cheaper than a `GROUP BY` over the loaded table (numeric sums in PostgreSQL). Sums are
//! exact: each is an `i128` mantissa at the largest scale seen, so no digit of a `Decimal` is
//! ever rounded away. Memory is bounded: a builder that would hold more than its group limit, or
//! a sum that would overflow, gives up ([`PeriodRollups::FromTable`]) and the swap falls back to
//! computing the rollups in SQL from the loaded table.
//!
//! Beside them, the builder sums the cost of each inventoried resource per day
//! ([`KnownResources`], `cur_daily_resource_costs`): only resources the inventory knows, so the
//! groups stay bounded by the inventory, not by the CUR's resource ids. When those groups do not
//! fit either, only they are computed in SQL.

use crate::line_items::NewLineItem;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Groups a file's builder may hold before giving up (about 130 bytes each); a period's merged
/// builder may hold twice as many.
pub const DEFAULT_MAX_GROUPS: usize = 250_000;

/// An exact sum of decimals: `mantissa / 10^scale`. The `i128` mantissa is kept as two halves
/// so a sum takes 24 bytes, not the 32 of a 16-byte-aligned `i128` (groups are held by the
/// hundred thousand).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum {
    low: u64,
    high: i64,
    scale: u8,
}

/// A sum left `i128`'s range (about 1.7e38 at the sum's scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SumOverflow;

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl ExactSum {
    /// Adds a decimal, raising the sum's scale to the value's when it is larger.
    #[inline]
    pub fn add(&mut self, d: Decimal) -> Result<(), SumOverflow> {
        self.add_parts(d.mantissa(), d.scale())
    }

    /// Adds another sum.
    pub fn add_sum(&mut self, other: &ExactSum) -> Result<(), SumOverflow> {
        self.add_parts(other.mantissa(), other.scale as u32)
    }

    /// Adds `mantissa / 10^scale`. Like PostgreSQL's `numeric` sum, the result keeps the largest scale of its terms, zeros
    /// included (`1.5 + 0.000 = 1.500`), so both ways of computing rollups print alike.
    #[inline]
    pub fn add_parts(&mut self, mantissa: i128, scale: u32) -> Result<(), SumOverflow> {
        let mut sum = self.mantissa();
        let mut m = mantissa;
        let own = self.scale as u32;
        if scale > own {
            sum = sum
                .checked_mul(POW10[(scale - own) as usize])
                .ok_or(SumOverflow)?;
            self.scale = scale as u8;
        } else if scale < own {
            m = m
                .checked_mul(POW10[(own - scale) as usize])
                .ok_or(SumOverflow)?;
        }
        sum = sum.checked_add(m).ok_or(SumOverflow)?;
        self.low = sum as u64;
        self.high = (sum >> 64) as i64;
        Ok(())
    }

    fn mantissa(&self) -> i128 {
        ((self.high as i128) << 64) | self.low as i128
    }

    /// Mantissa and scale: the sum is `mantissa / 10^scale`, the scale a decimal's (0 to 28).
    pub fn parts(&self) -> (i128, u32) {
        (self.mantissa(), self.scale as u32)
    }
}

/// Every digit at the sum's scale (`-12.3400`), as PostgreSQL prints a `numeric`.
impl std::fmt::Display for ExactSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mantissa = self.mantissa();
        let digits = mantissa.unsigned_abs().to_string();
        let sign = if mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            write!(f, "{sign}{digits}")
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{sign}{int}.{frac}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }
}

/// The sums of one rollup group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupSums {
    /// Unblended cost.
    pub unblended: ExactSum,
    /// Net unblended cost, the unblended cost where the item has none.
    pub net_unblended: ExactSum,
    /// Amortized cost.
    pub amortized: ExactSum,
    /// Line items.
    pub line_items: i64,
}

impl GroupSums {
    fn add_item(&mut self, item: &NewLineItem<'_>) -> Result<(), SumOverflow> {
        self.unblended.add(item.unblended_cost)?;
        self.net_unblended
            .add(item.net_unblended_cost.unwrap_or(item.unblended_cost))?;
        self.amortized.add(item.amortized_cost)?;
        self.line_items += 1;
        Ok(())
    }

    fn merge(&mut self, other: &GroupSums) -> Result<(), SumOverflow> {
        self.unblended.add_sum(&other.unblended)?;
        self.net_unblended.add_sum(&other.net_unblended)?;
        self.amortized.add_sum(&other.amortized)?;
        self.line_items += other.line_items;
        Ok(())
    }
}

/// One group's key, decoded: the columns of `cur_daily_costs` (and of `cur_daily_tag_costs`
/// with `tag`). Ordered as those tables' primary keys (strings bytewise, the database's `C`
/// collation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey<'a> {
    /// The workspace's tag key and the item's value ('' when it lacks the tag), for tag groups.
    pub tag: Option<(&'a str, &'a str)>,
    /// UTC day of the usage start.
    pub day: NaiveDate,
    /// Payer account.
    pub payer_account_id: &'a str,
    /// Usage account.
    pub usage_account_id: &'a str,
    /// Product code.
    pub product_code: &'a str,
    /// Region.
    pub region: &'a str,
    /// Line item type.
    pub line_item_type: &'a str,
    /// Currency.
    pub currency: &'a str,
}

/// Sums line items by day x payer x usage account x service x region x line item type x currency,
/// and the same per chosen tag key and value. Feed it with [`RollupBuilder::add`]; merge the
/// builders of a period's files with [`RollupBuilder::merge`].
///
/// Key strings are stored once ([`Interner`]), so a group costs a fixed ~130 bytes.
#[derive(Debug)]
pub struct RollupBuilder {
    tag_keys: Vec<String>,
    max_groups: usize,
    strings: Interner,
    groups: FxHashMap<GroupIds, GroupSums>,
    overflowed: bool,
    known: Arc<KnownResources>,
    resources: FxHashMap<ResourceIds, GroupSums>,
    resources_overflowed: bool,
}

/// A group's key as interned string ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupIds {
    /// Days from the common era of the usage start's UTC date.
    day: i32,
    /// Index into the tag keys; [`DAILY`] for a daily group.
    tag: u32,
    /// The tag's value (an empty string id for daily groups).
    tag_value: u32,
    /// payer, usage account, product code, region, line item type, currency.
    fields: [u32; 6],
}

/// One well-mixed word per key: ids are small consecutive integers, which a field-by-field
/// Fx hash spreads poorly over the table's buckets (long probe runs on 100k+ groups).
impl std::hash::Hash for GroupIds {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h = (self.day as u32 as u64) << 32 | self.tag as u64;
        for w in [
            self.tag_value,
            self.fields[0],
            self.fields[1],
            self.fields[2],
            self.fields[3],
            self.fields[4],
            self.fields[5],
        ] {
            h = (h ^ w as u64).wrapping_mul(K);
            h ^= h >> 29;
        }
        state.write_u64(h);
    }
}

/// `GroupIds::tag` of a daily (untagged) group.
const DAILY: u32 = u32::MAX;

/// The interner slot of resource ids.
const RESOURCE_SLOT: usize = 7;

/// A resource day's key as interned string ids: usage account, CUR resource id, day, currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ResourceIds {
    account: u32,
    resource: u32,
    day: i32,
    currency: u32,
}

/// The resources of an integration's inventory, by every id the CUR may name them with (AWS's
/// id and the ARN), each with the accounts it is in.
#[derive(Debug, Default)]
pub struct KnownResources {
    accounts_of: FxHashMap<Box<str>, Vec<Box<str>>>,
}

impl KnownResources {
    /// The set of `(account, id)` pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> KnownResources {
        let mut accounts_of: FxHashMap<Box<str>, Vec<Box<str>>> = FxHashMap::default();
        for (account, id) in pairs {
            if id.is_empty() {
                continue;
            }
            let accounts = accounts_of.entry(id.into()).or_default();
            if !accounts.iter().any(|a| &**a == account) {
                accounts.push(account.into());
            }
        }
        KnownResources { accounts_of }
    }

    /// Whether the CUR's `resource_id` in `account` is a known resource.
    #[inline]
    pub fn contains(&self, account: &str, resource_id: &str) -> bool {
        self.accounts_of
            .get(resource_id)
            .is_some_and(|accounts| accounts.iter().any(|a| &**a == account))
    }

    /// True when no resource is known (nothing is summed per resource).
    pub fn is_empty(&self) -> bool {
        self.accounts_of.is_empty()
    }
}

/// Strings stored once, with the id each last got per field (consecutive line items share most
/// of their fields, and comparing with the last string is cheaper than hashing).
#[derive(Debug, Default)]
struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
    last: [u32; 8],
}

impl Interner {
    #[inline]
    fn id(&mut self, slot: usize, s: &str) -> u32 {
        let last = self.last[slot] as usize;
        if last < self.strings.len() && &*self.strings[last] == s {
            return last as u32;
        }
        let id = match self.ids.get(s) {
            Some(&id) => id,
            None => {
                let id = self.strings.len() as u32;
                self.strings.push(s.into());
                self.ids.insert(s.into(), id);
                id
            }
        };
        self.last[slot] = id;
        id
    }

    fn get(&self, id: u32) -> &str {
        &self.strings[id as usize]
    }
}

/// The rollups of a whole period, ready for the swap.
#[derive(Debug)]
pub enum PeriodRollups {
    /// Summed while parsing.
    Computed(FinishedRollups),
    /// To be computed by the swap, in SQL, from the loaded table: when the builder gave up (too
    /// many groups or a sum out of range), or when the loader summed nothing.
    FromTable,
}

impl RollupBuilder {
    /// A builder summing the daily groups and, per key of `tag_keys`, the tag groups, holding at
    /// most `max_groups` groups in all.
    pub fn new(tag_keys: &[String], max_groups: usize) -> RollupBuilder {
        RollupBuilder {
            tag_keys: tag_keys.to_vec(),
            max_groups,
            strings: Interner::default(),
            groups: FxHashMap::default(),
            overflowed: false,
            known: Arc::default(),
            resources: FxHashMap::default(),
            resources_overflowed: false,
        }
    }

    /// The same builder, also summing each of `known`'s resources per day (at most
    /// `max_groups` resource days, apart from the other groups).
    pub fn with_resources(mut self, known: Arc<KnownResources>) -> RollupBuilder {
        self.known = known;
        self
    }

    /// True once the resource days gave up (they are then computed in SQL).
    pub fn resources_overflowed(&self) -> bool {
        self.resources_overflowed
    }

    /// Adds the item to its resource day, if its resource is known.
    #[inline]
    fn add_resource(&mut self, item: &NewLineItem<'_>, day: i32, account: u32, currency: u32) {
        if self.resources_overflowed
            || item.resource_id.is_empty()
            || !self.known.contains(item.usage_account_id, item.resource_id)
        {
            return;
        }
        let ids = ResourceIds {
            account,
            resource: self.strings.id(RESOURCE_SLOT, item.resource_id),
            day,
            currency,
        };
        let added = self
            .resources
            .entry(ids)
            .or_default()
            .add_item(item)
            .is_ok();
        if !added || self.resources.len() > self.max_groups {
            self.give_up_resources();
        }
    }

    fn give_up_resources(&mut self) {
        self.resources_overflowed = true;
        self.resources = FxHashMap::default();
    }

    /// True once the builder gave up (its groups are dropped).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Groups held.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Adds one line item to its daily group and to its tag groups.
    #[inline]
    pub fn add(&mut self, item: &NewLineItem<'_>) {
        if self.overflowed {
            return;
        }
        let fields = [
            item.payer_account_id,
            item.usage_account_id,
            item.product_code,
            item.region,
            item.line_item_type,
            item.currency,
        ];
        let mut ids = GroupIds {
            day: item.usage_start.date_naive().num_days_from_ce(),
            tag: DAILY,
            tag_value: 0,
            fields: [0; 6],
        };
        for (slot, s) in fields.into_iter().enumerate() {
            ids.fields[slot] = self.strings.id(slot, s);
        }
        if !self.add_to(ids, item) {
            return self.give_up();
        }
        self.add_resource(item, ids.day, ids.fields[1], ids.fields[5]);
        for i in 0..self.tag_keys.len() {
            let value = item
                .tags
                .iter()
                .find(|(k, _)| *k == self.tag_keys[i])
                .map_or("", |(_, v)| v.as_str());
            ids.tag = i as u32;
            ids.tag_value = self.strings.id(6, value);
            if !self.add_to(ids, item) {
                return self.give_up();
            }
        }
        if self.groups.len() > self.max_groups {
            self.give_up();
        }
    }

    /// Adds the item to the group; false when a sum overflowed.
    #[inline]
    fn add_to(&mut self, ids: GroupIds, item: &NewLineItem<'_>) -> bool {
        self.groups.entry(ids).or_default().add_item(item).is_ok()
    }

    /// Adds another builder's groups (the same tag keys) into this one, which may then hold up
    /// to `max_groups` groups.
    pub fn merge(&mut self, other: RollupBuilder, max_groups: usize) {
        if self.overflowed || other.overflowed || self.tag_keys != other.tag_keys {
            return self.give_up();
        }
        self.max_groups = max_groups;
        // Their string ids, in ours.
        let map: Vec<u32> = other
            .strings
            .strings
            .iter()
            .map(|s| self.strings.id(0, s))
            .collect();
        for (mut ids, sums) in other.groups {
            for f in &mut ids.fields {
                *f = map[*f as usize];
            }
            if ids.tag != DAILY {
                ids.tag_value = map[ids.tag_value as usize];
            }
            let merged = match self.groups.get_mut(&ids) {
                Some(existing) => existing.merge(&sums).is_ok(),
                None => {
                    self.groups.insert(ids, sums);
                    true
                }
            };
            if !merged {
                return self.give_up();
            }
        }
        if other.resources_overflowed {
            self.give_up_resources();
        }
        if !self.resources_overflowed {
            for (mut ids, sums) in other.resources {
                ids.account = map[ids.account as usize];
                ids.resource = map[ids.resource as usize];
                ids.currency = map[ids.currency as usize];
                let merged = match self.resources.get_mut(&ids) {
                    Some(existing) => existing.merge(&sums).is_ok(),
                    None => {
                        self.resources.insert(ids, sums);
                        true
                    }
                };
                if !merged {
                    self.give_up_resources();
                    break;
                }
            }
            if self.resources.len() > self.max_groups {
                self.give_up_resources();
            }
        }
        if self.groups.len() > self.max_groups {
            self.give_up();
        }
    }

    /// The finished rollups of a period: the groups in primary key order, the hash table freed.
    pub fn finish(self) -> PeriodRollups {
        if self.overflowed {
            return PeriodRollups::FromTable;
        }
        let (mut daily, mut tagged): (Vec<_>, Vec<_>) = self
            .groups
            .into_iter()
            .partition(|(ids, _)| ids.tag == DAILY);
        let mut resources: Option<Vec<(ResourceIds, GroupSums)>> =
            (!self.resources_overflowed).then(|| self.resources.into_iter().collect());
        let mut out = FinishedRollups {
            tag_keys: self.tag_keys,
            strings: self.strings,
            daily: Vec::new(),
            tagged: Vec::new(),
            resources: None,
        };
        daily.sort_unstable_by(|a: &(GroupIds, GroupSums), b| out.key(&a.0).cmp(&out.key(&b.0)));
        tagged.sort_unstable_by(|a: &(GroupIds, GroupSums), b| out.key(&a.0).cmp(&out.key(&b.0)));
        if let Some(resources) = &mut resources {
            resources.sort_unstable_by(|a, b| out.resource_key(&a.0).cmp(&out.resource_key(&b.0)));
        }
        out.daily = daily;
        out.tagged = tagged;
        out.resources = resources;
        PeriodRollups::Computed(out)
    }

    fn give_up(&mut self) {
        self.overflowed = true;
        self.groups = FxHashMap::default();
        self.strings = Interner::default();
        // Their string ids are gone too; the SQL rollups cover them.
        self.resources = FxHashMap::default();
    }
}

/// A period's rollups, summed and sorted: what the swap writes.
#[derive(Debug)]
pub struct FinishedRollups {
    tag_keys: Vec<String>,
    strings: Interner,
    daily: Vec<(GroupIds, GroupSums)>,
    tagged: Vec<(GroupIds, GroupSums)>,
    /// `None`: too many resource days, computed in SQL instead.
    resources: Option<Vec<(ResourceIds, GroupSums)>>,
}

/// One resource day's key: the columns of `cur_daily_resource_costs` in primary key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceDayKey<'a> {
    /// Usage account.
    pub usage_account_id: &'a str,
    /// The CUR's resource id.
    pub resource_id: &'a str,
    /// UTC day of the usage start.
    pub day: NaiveDate,
    /// Currency.
    pub currency: &'a str,
}

impl FinishedRollups {
    fn key(&self, ids: &GroupIds) -> GroupKey<'_> {
        let f = |i: usize| self.strings.get(ids.fields[i]);
        GroupKey {
            tag: (ids.tag != DAILY).then(|| {
                (
                    self.tag_keys[ids.tag as usize].as_str(),
                    self.strings.get(ids.tag_value),
                )
            }),
            day: NaiveDate::from_num_days_from_ce_opt(ids.day).expect("a day a key was made from"),
            payer_account_id: f(0),
            usage_account_id: f(1),
            product_code: f(2),
            region: f(3),
            line_item_type: f(4),
            currency: f(5),
        }
    }

    fn resource_key(&self, ids: &ResourceIds) -> ResourceDayKey<'_> {
        ResourceDayKey {
            usage_account_id: self.strings.get(ids.account),
            resource_id: self.strings.get(ids.resource),
            day: NaiveDate::from_num_days_from_ce_opt(ids.day).expect("a day a key was made from"),
            currency: self.strings.get(ids.currency),
        }
    }

    /// The known resources' days in primary key order; `None` when they did not fit the
    /// builder (the swap computes them in SQL).
    pub fn resource_days(
        &self,
    ) -> Option<impl Iterator<Item = (ResourceDayKey<'_>, &GroupSums)> + Send + '_> {
        let resources = self.resources.as_ref()?;
        Some(resources.iter().map(|(ids, s)| (self.resource_key(ids), s)))
    }

    /// Daily groups in primary key order: key and sums.
    pub fn daily(&self) -> impl Iterator<Item = (GroupKey<'_>, &GroupSums)> {
        self.daily.iter().map(|(ids, s)| (self.key(ids), s))
    }

    /// Tag groups in primary key order: key (with its tag) and sums.
    pub fn tagged(&self) -> impl Iterator<Item = (GroupKey<'_>, &GroupSums)> {
        self.tagged.iter().map(|(ids, s)| (self.key(ids), s))
    }

    /// Monthly groups in primary key order: the daily groups summed per month.
    pub fn monthly(&self) -> Result<Vec<(GroupKey<'_>, GroupSums)>, SumOverflow> {
        self.coarser(|key| key.day = key.day.with_day(1).expect("day 1 exists"))
    }

    /// Daily groups without the accounts (their key fields empty), in primary key order.
    pub fn daily_without_accounts(&self) -> Result<Vec<(GroupKey<'_>, GroupSums)>, SumOverflow> {
        self.coarser(|key| {
            key.payer_account_id = "";
            key.usage_account_id = "";
        })
    }

    /// Daily groups per payer, usage account and currency only (the other key fields empty), in
    /// primary key order.
    pub fn daily_by_account(&self) -> Result<Vec<(GroupKey<'_>, GroupSums)>, SumOverflow> {
        self.coarser(|key| {
            key.product_code = "";
            key.region = "";
            key.line_item_type = "";
        })
    }

    /// The daily groups summed under the keys `coarsen` makes of theirs, sorted.
    fn coarser(
        &self,
        coarsen: impl Fn(&mut GroupKey<'_>),
    ) -> Result<Vec<(GroupKey<'_>, GroupSums)>, SumOverflow> {
        let mut groups: FxHashMap<GroupKey<'_>, GroupSums> = FxHashMap::default();
        for (mut key, sums) in self.daily() {
            coarsen(&mut key);
            groups.entry(key).or_default().merge(sums)?;
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(groups)
    }

    /// The smallest currency code of the period's line items (what `min(currency)` says).
    pub fn min_currency(&self) -> Option<&str> {
        self.daily().map(|(k, _)| k.currency).min()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn text(s: &ExactSum) -> String {
        s.to_string()
    }

    #[test]
    fn exact_sum_keeps_every_digit_across_scales() {
        let mut s = ExactSum::default();
        for v in [
            "0.1",
            "-0.0000000001",
            "12",
            "0.0000000000000000000000000001",
        ] {
            s.add(d(v)).unwrap();
        }
        assert_eq!(text(&s), "12.0999999999000000000000000001");
        let mut zero_scale = ExactSum::default();
        zero_scale.add(d("1.5")).unwrap();
        zero_scale.add(d("0.000")).unwrap();
        assert_eq!(text(&zero_scale), "1.500");
        let mut neg = ExactSum::default();
        neg.add(d("-0.05")).unwrap();
        assert_eq!(text(&neg), "-0.05");
        assert_eq!(text(&ExactSum::default()), "0");
    }

    #[test]
    fn exact_sum_goes_beyond_decimals_range_and_reports_overflow() {
        // Decimal::MAX + Decimal::MAX does not fit a Decimal, but fits the sum.
        let mut s = ExactSum::default();
        s.add(Decimal::MAX).unwrap();
        s.add(Decimal::MAX).unwrap();
        assert_eq!(text(&s), (Decimal::MAX.mantissa() * 2).to_string());
        // 28 decimals of scale on a number near Decimal::MAX leaves i128 behind.
        let mut big = ExactSum::default();
        big.add(Decimal::MAX).unwrap();
        assert_eq!(
            big.add(d("0.0000000000000000000000000001")),
            Err(SumOverflow)
        );
    }

    /// A line item of 2024-09-`day`, 23:00 UTC, in `account`, costing `cost` (unblended and
    /// amortized), with `tags`: for the store's unit tests.
    pub(crate) fn item<'a>(
        day: u32,
        account: &'a str,
        cost: &str,
        tags: &'a [(String, String)],
    ) -> NewLineItem<'a> {
        let start = Utc.with_ymd_and_hms(2024, 9, day, 23, 0, 0).unwrap();
        NewLineItem {
            usage_start: start,
            usage_end: start + chrono::Duration::hours(1),
            payer_account_id: "111111111111",
            usage_account_id: account,
            line_item_type: "Usage",
            product_code: "AmazonEC2",
            usage_type: "BoxUsage",
            operation: "RunInstances",
            region: "us-east-1",
            availability_zone: "",
            resource_id: "",
            usage_amount: Decimal::ONE,
            pricing_unit: "Hrs",
            unblended_rate: None,
            unblended_cost: d(cost),
            net_unblended_cost: None,
            amortized_cost: d(cost),
            net_amortized_cost: None,
            public_on_demand_cost: None,
            currency: "USD",
            tags,
        }
    }

    #[test]
    fn groups_per_day_and_tag_and_merges_builders() {
        let team = vec![("team".to_owned(), "ünïcode, \"quoted\"".to_owned())];
        let keys = vec!["team".to_owned()];
        let mut a = RollupBuilder::new(&keys, 100);
        a.add(&item(1, "222222222222", "1.25", &team));
        a.add(&item(1, "222222222222", "0.000001", &[]));
        a.add(&item(2, "222222222222", "-3", &team));
        let mut b = RollupBuilder::new(&keys, 100);
        b.add(&item(1, "222222222222", "2", &team));
        b.add(&item(1, "333333333333", "5", &[]));
        a.merge(b, 100);
        let PeriodRollups::Computed(a) = a.finish() else {
            panic!("within the limits")
        };
        let mut daily: Vec<(String, String, String, i64)> = a
            .daily()
            .map(|(k, s)| {
                (
                    k.day.to_string(),
                    k.usage_account_id.to_owned(),
                    text(&s.unblended),
                    s.line_items,
                )
            })
            .collect();
        daily.sort();
        assert_eq!(
            daily,
            vec![
                (
                    "2024-09-01".into(),
                    "222222222222".into(),
                    "3.250001".into(),
                    3
                ),
                ("2024-09-01".into(), "333333333333".into(), "5".into(), 1),
                ("2024-09-02".into(), "222222222222".into(), "-3".into(), 1),
            ]
        );
        let mut tagged: Vec<(String, String, String)> = a
            .tagged()
            .map(|(k, s)| {
                let (key, value) = k.tag.unwrap();
                (
                    format!("{key}={value}"),
                    k.day.to_string(),
                    text(&s.unblended),
                )
            })
            .collect();
        tagged.sort();
        assert_eq!(
            tagged,
            vec![
                // Items without the tag roll up under '', per account like every group.
                ("team=".into(), "2024-09-01".into(), "0.000001".into()),
                ("team=".into(), "2024-09-01".into(), "5".into()),
                (
                    "team=ünïcode, \"quoted\"".into(),
                    "2024-09-01".into(),
                    "3.25".into()
                ),
                (
                    "team=ünïcode, \"quoted\"".into(),
                    "2024-09-02".into(),
                    "-3".into()
                ),
            ]
        );
        let mut monthly: Vec<(String, String, i64)> = a
            .monthly()
            .unwrap()
            .into_iter()
            .map(|(k, s)| {
                (
                    k.usage_account_id.to_owned(),
                    text(&s.amortized),
                    s.line_items,
                )
            })
            .collect();
        monthly.sort();
        assert_eq!(
            monthly,
            vec![
                ("222222222222".into(), "0.250001".into(), 4),
                ("333333333333".into(), "5".into(), 1),
            ]
        );
        assert_eq!(a.min_currency(), Some("USD"));
    }

    #[test]
    fn too_many_groups_gives_up() {
        let mut b = RollupBuilder::new(&[], 2);
        for day in 1..=3 {
            b.add(&item(day, "222222222222", "1", &[]));
        }
        assert!(b.overflowed());
        assert_eq!(b.groups(), 0, "a builder that gave up frees its groups");
        assert!(matches!(b.finish(), PeriodRollups::FromTable));
        let mut fits = RollupBuilder::new(&[], 2);
        fits.add(&item(1, "222222222222", "1", &[]));
        let mut other = RollupBuilder::new(&[], 2);
        other.add(&item(2, "222222222222", "1", &[]));
        other.add(&item(3, "222222222222", "1", &[]));
        fits.merge(other, 2);
        assert!(fits.overflowed(), "merging past the limit gives up too");
    }
}
