//! The normalized line item every reader produces.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::fmt;

/// Which kind of file a line item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourceFormat {
    /// Legacy CUR, CSV (`lineItem/UnblendedCost` headers), gzip or plain.
    #[default]
    LegacyCsv,
    /// Legacy CUR with Athena integration, Parquet (`line_item_unblended_cost` columns).
    LegacyParquet,
    /// CUR 2.0 Data Export, CSV.
    Cur2Csv,
    /// CUR 2.0 Data Export, Parquet.
    Cur2Parquet,
    /// FOCUS 1.x Data Export, CSV.
    FocusCsv,
    /// FOCUS 1.x Data Export, Parquet.
    FocusParquet,
}

impl SourceFormat {
    /// A stable snake_case name, for storage and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceFormat::LegacyCsv => "legacy_csv",
            SourceFormat::LegacyParquet => "legacy_parquet",
            SourceFormat::Cur2Csv => "cur2_csv",
            SourceFormat::Cur2Parquet => "cur2_parquet",
            SourceFormat::FocusCsv => "focus_csv",
            SourceFormat::FocusParquet => "focus_parquet",
        }
    }

    /// True for the FOCUS formats.
    pub fn is_focus(&self) -> bool {
        matches!(self, SourceFormat::FocusCsv | SourceFormat::FocusParquet)
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalized cost line item.
///
/// Text fields that the source lacks (no column, empty cell, FOCUS `NULL`) are empty strings, so
/// a reused `LineItem` keeps its allocations from row to row (see `read_into` on the readers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// The file format this item was read from.
    pub source_format: SourceFormat,
    /// First day of the billing period (`bill/BillingPeriodStartDate`, FOCUS `BillingPeriodStart`).
    pub billing_period_start: NaiveDate,
    /// Start of the usage (`lineItem/UsageStartDate`, FOCUS `ChargePeriodStart`).
    pub usage_start: DateTime<Utc>,
    /// End of the usage (exclusive).
    pub usage_end: DateTime<Utc>,
    /// The paying (management) account (`bill/PayerAccountId`, FOCUS `BillingAccountId`).
    pub payer_account_id: String,
    /// The account that used the resource (`lineItem/UsageAccountId`, FOCUS `SubAccountId`, falling
    /// back to the payer when empty).
    pub usage_account_id: String,
    /// `lineItem/LineItemType` (`Usage`, `Tax`, `Credit`, `SavingsPlanCoveredUsage`, ...); FOCUS
    /// charge categories are mapped onto these names (ADR 0004).
    pub line_item_type: String,
    /// AWS product code such as `AmazonEC2` (FOCUS: `x_ServiceCode`, else `ServiceName`).
    pub product_code: String,
    /// `lineItem/UsageType` (FOCUS `x_UsageType`, else `SkuMeter`).
    pub usage_type: String,
    /// `lineItem/Operation` (FOCUS `x_Operation`).
    pub operation: String,
    /// Region code such as `us-east-1` (`product/regionCode`, else `product/region`; FOCUS `RegionId`).
    pub region: String,
    /// `lineItem/AvailabilityZone`.
    pub availability_zone: String,
    /// `lineItem/ResourceId`.
    pub resource_id: String,
    /// `lineItem/UsageAmount` (FOCUS `ConsumedQuantity`); zero when absent.
    pub usage_amount: Decimal,
    /// `pricing/unit` (FOCUS `PricingUnit`).
    pub pricing_unit: String,
    /// `lineItem/UnblendedRate`, when given.
    pub unblended_rate: Option<Decimal>,
    /// `lineItem/UnblendedCost` (FOCUS `BilledCost`).
    pub unblended_cost: Decimal,
    /// `lineItem/NetUnblendedCost`: present only in reports of accounts with discounts.
    pub net_unblended_cost: Option<Decimal>,
    /// Amortized cost as Cost Explorer defines it (ADR 0004; FOCUS `EffectiveCost`).
    pub amortized_cost: Decimal,
    /// Net amortized cost, when the report has net columns.
    pub net_amortized_cost: Option<Decimal>,
    /// `pricing/publicOnDemandCost` (FOCUS `ListCost`).
    pub public_on_demand_cost: Option<Decimal>,
    /// `lineItem/CurrencyCode` (FOCUS `BillingCurrency`); `USD` when the report has no such column.
    pub currency: String,
    /// User resource tags, key without the `user:` prefix, empty values left out.
    pub tags: Vec<(String, String)>,
}

impl Default for LineItem {
    fn default() -> Self {
        LineItem {
            source_format: SourceFormat::default(),
            billing_period_start: NaiveDate::default(),
            usage_start: DateTime::<Utc>::default(),
            usage_end: DateTime::<Utc>::default(),
            payer_account_id: String::new(),
            usage_account_id: String::new(),
            line_item_type: String::new(),
            product_code: String::new(),
            usage_type: String::new(),
            operation: String::new(),
            region: String::new(),
            availability_zone: String::new(),
            resource_id: String::new(),
            usage_amount: Decimal::ZERO,
            pricing_unit: String::new(),
            unblended_rate: None,
            unblended_cost: Decimal::ZERO,
            net_unblended_cost: None,
            amortized_cost: Decimal::ZERO,
            net_amortized_cost: None,
            public_on_demand_cost: None,
            currency: String::new(),
            tags: Vec::new(),
        }
    }
}

impl LineItem {
    /// The value of a user tag, if the item carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Overwrites `dst` with `src`, keeping `dst`'s allocation, which it grows to at least 32
/// bytes so that the next short values are copied inline.
#[inline(always)]
pub(crate) fn set_str(dst: &mut String, src: &str) {
    let n = src.len();
    if n <= 32 && dst.capacity() >= 32 {
        // Cells are mostly short: two overlapping 16-byte (or 8-, 4-byte) moves, not a call.
        // SAFETY: `dst` has room for 32 bytes and the copy writes `n` bytes of UTF-8 at its
        // start, reading only `src`'s `n` bytes.
        unsafe {
            let (s, d) = (src.as_ptr(), dst.as_mut_vec().as_mut_ptr());
            if n >= 16 {
                copy_two_moves::<u128>(s, d, n);
            } else if n >= 8 {
                copy_two_moves::<u64>(s, d, n);
            } else if n >= 4 {
                copy_two_moves::<u32>(s, d, n);
            } else {
                for i in 0..n {
                    *d.add(i) = *s.add(i);
                }
            }
            dst.as_mut_vec().set_len(n);
        }
        return;
    }
    dst.clear();
    dst.reserve(n.max(32));
    dst.push_str(src);
}

/// Copies `n` bytes, `size_of::<T>() <= n <= 2 * size_of::<T>()`, as two moves of a `T` that
/// overlap when `n` is less than twice its size.
///
/// # Safety
/// `s` must be readable and `d` writable for `n` bytes.
#[inline(always)]
unsafe fn copy_two_moves<T: Copy>(s: *const u8, d: *mut u8, n: usize) {
    let w = std::mem::size_of::<T>();
    let (head, tail) = (
        std::ptr::read_unaligned(s as *const T),
        std::ptr::read_unaligned(s.add(n - w) as *const T),
    );
    std::ptr::write_unaligned(d as *mut T, head);
    std::ptr::write_unaligned(d.add(n - w) as *mut T, tail);
}

#[cfg(test)]
mod tests {
    use super::set_str;

    #[test]
    fn set_str_copies_every_length_over_any_previous_value() {
        let text = "é0123456789abcdefghijklmnopqrstuvwxyz€ABCDEFGH";
        let cuts: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &a in &cuts {
            for &b in &cuts {
                let (first, second) = (&text[..a], &text[b..]);
                let mut dst = String::new();
                set_str(&mut dst, first);
                assert_eq!(dst, first);
                set_str(&mut dst, second);
                assert_eq!(dst, second, "after {first:?}");
            }
        }
    }
}
