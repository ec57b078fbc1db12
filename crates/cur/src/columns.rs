//! Logical fields and how each report format spells them.
//!
//! Legacy CUR CSV headers (`lineItem/UnblendedCost`) are converted to the snake_case names that
//! the legacy Parquet files and CUR 2.0 use (`line_item_unblended_cost`), so one table serves
//! three formats. FOCUS has its own table.

/// A column the normalizer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Field {
    BillingPeriodStart,
    UsageStart,
    UsageEnd,
    PayerAccount,
    UsageAccount,
    LineItemType,
    ProductCode,
    UsageType,
    Operation,
    RegionCode,
    Region,
    AvailabilityZone,
    ResourceId,
    UsageAmount,
    PricingUnit,
    UnblendedRate,
    UnblendedCost,
    NetUnblendedCost,
    PublicOnDemandCost,
    Currency,
    SpEffectiveCost,
    SpNetEffectiveCost,
    SpTotalCommitmentToDate,
    SpUsedCommitment,
    SpAmortizedUpfrontCommitment,
    SpNetAmortizedUpfrontCommitment,
    SpRecurringCommitment,
    RiEffectiveCost,
    RiNetEffectiveCost,
    RiUnusedAmortizedUpfrontFee,
    RiNetUnusedAmortizedUpfrontFee,
    RiUnusedRecurringFee,
    RiNetUnusedRecurringFee,
    RiArn,
    // FOCUS only.
    FocusEffectiveCost,
    FocusChargeCategory,
    FocusCommitmentType,
    FocusCommitmentStatus,
    FocusServiceName,
    FocusSkuMeter,
}

pub(crate) const FIELD_COUNT: usize = Field::FocusSkuMeter as usize + 1;

/// Snake_case names (legacy Parquet, CUR 2.0, and legacy CSV after [`legacy_to_snake`]).
pub(crate) const CUR_FIELDS: &[(&str, Field)] = &[
    ("bill_billing_period_start_date", Field::BillingPeriodStart),
    ("line_item_usage_start_date", Field::UsageStart),
    ("line_item_usage_end_date", Field::UsageEnd),
    ("bill_payer_account_id", Field::PayerAccount),
    ("line_item_usage_account_id", Field::UsageAccount),
    ("line_item_line_item_type", Field::LineItemType),
    ("line_item_product_code", Field::ProductCode),
    ("line_item_usage_type", Field::UsageType),
    ("line_item_operation", Field::Operation),
    ("product_region_code", Field::RegionCode),
    ("product_region", Field::Region),
    ("line_item_availability_zone", Field::AvailabilityZone),
    ("line_item_resource_id", Field::ResourceId),
    ("line_item_usage_amount", Field::UsageAmount),
    ("pricing_unit", Field::PricingUnit),
    ("line_item_unblended_rate", Field::UnblendedRate),
    ("line_item_unblended_cost", Field::UnblendedCost),
    ("line_item_net_unblended_cost", Field::NetUnblendedCost),
    ("pricing_public_on_demand_cost", Field::PublicOnDemandCost),
    ("line_item_currency_code", Field::Currency),
    (
        "savings_plan_savings_plan_effective_cost",
        Field::SpEffectiveCost,
    ),
    (
        "savings_plan_net_savings_plan_effective_cost",
        Field::SpNetEffectiveCost,
    ),
    (
        "savings_plan_total_commitment_to_date",
        Field::SpTotalCommitmentToDate,
    ),
    ("savings_plan_used_commitment", Field::SpUsedCommitment),
    (
        "savings_plan_amortized_upfront_commitment_for_billing_period",
        Field::SpAmortizedUpfrontCommitment,
    ),
    (
        "savings_plan_net_amortized_upfront_commitment_for_billing_period",
        Field::SpNetAmortizedUpfrontCommitment,
    ),
    (
        "savings_plan_recurring_commitment_for_billing_period",
        Field::SpRecurringCommitment,
    ),
    ("reservation_effective_cost", Field::RiEffectiveCost),
    ("reservation_net_effective_cost", Field::RiNetEffectiveCost),
    (
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        Field::RiUnusedAmortizedUpfrontFee,
    ),
    (
        "reservation_net_unused_amortized_upfront_fee_for_billing_period",
        Field::RiNetUnusedAmortizedUpfrontFee,
    ),
    (
        "reservation_unused_recurring_fee",
        Field::RiUnusedRecurringFee,
    ),
    (
        "reservation_net_unused_recurring_fee",
        Field::RiNetUnusedRecurringFee,
    ),
    ("reservation_reservation_a_r_n", Field::RiArn),
];

/// Fields without which a CUR row means nothing.
pub(crate) const CUR_REQUIRED: &[Field] = &[
    Field::BillingPeriodStart,
    Field::UsageStart,
    Field::UsageEnd,
    Field::PayerAccount,
    Field::UsageAccount,
    Field::LineItemType,
    Field::ProductCode,
    Field::UnblendedCost,
];

/// FOCUS 1.0 / 1.2 column names, plus AWS's `x_` columns.
pub(crate) const FOCUS_FIELDS: &[(&str, Field)] = &[
    ("BillingPeriodStart", Field::BillingPeriodStart),
    ("ChargePeriodStart", Field::UsageStart),
    ("ChargePeriodEnd", Field::UsageEnd),
    ("BillingAccountId", Field::PayerAccount),
    ("SubAccountId", Field::UsageAccount),
    ("ChargeCategory", Field::FocusChargeCategory),
    ("x_ServiceCode", Field::ProductCode),
    ("ServiceName", Field::FocusServiceName),
    ("x_UsageType", Field::UsageType),
    ("SkuMeter", Field::FocusSkuMeter),
    ("x_Operation", Field::Operation),
    ("RegionId", Field::RegionCode),
    ("AvailabilityZone", Field::AvailabilityZone),
    ("ResourceId", Field::ResourceId),
    ("ConsumedQuantity", Field::UsageAmount),
    ("PricingUnit", Field::PricingUnit),
    ("BilledCost", Field::UnblendedCost),
    ("EffectiveCost", Field::FocusEffectiveCost),
    ("ListCost", Field::PublicOnDemandCost),
    ("BillingCurrency", Field::Currency),
    ("CommitmentDiscountType", Field::FocusCommitmentType),
    ("CommitmentDiscountStatus", Field::FocusCommitmentStatus),
];

/// Required FOCUS columns (ServiceName stands in when `x_ServiceCode` is absent, see
/// [`focus_missing`]).
pub(crate) const FOCUS_REQUIRED: &[Field] = &[
    Field::BillingPeriodStart,
    Field::UsageStart,
    Field::UsageEnd,
    Field::PayerAccount,
    Field::FocusChargeCategory,
    Field::UnblendedCost,
    Field::FocusServiceName,
];

/// The spelling of a field in a format, for error messages.
pub(crate) fn field_name(layout: Layout, f: Field) -> &'static str {
    let table = match layout {
        Layout::Focus => FOCUS_FIELDS,
        Layout::Cur | Layout::LegacyCsv => CUR_FIELDS,
    };
    let snake = table
        .iter()
        .find(|(_, g)| *g == f)
        .map(|(n, _)| *n)
        .unwrap_or("?");
    if layout == Layout::LegacyCsv {
        snake_to_legacy(snake)
    } else {
        snake
    }
}

/// How a file names its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `category/Name` headers (legacy CUR CSV).
    LegacyCsv,
    /// snake_case (legacy Parquet, CUR 2.0).
    Cur,
    /// FOCUS PascalCase.
    Focus,
}

impl Layout {
    pub(crate) fn lookup(&self, name: &str) -> Option<Field> {
        match self {
            Layout::Focus => FOCUS_FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f),
            Layout::Cur => CUR_FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f),
            Layout::LegacyCsv => {
                let snake = legacy_to_snake(name);
                CUR_FIELDS
                    .iter()
                    .find(|(n, _)| *n == snake)
                    .map(|(_, f)| *f)
            }
        }
    }

    pub(crate) fn required(&self) -> &'static [Field] {
        match self {
            Layout::Focus => FOCUS_REQUIRED,
            _ => CUR_REQUIRED,
        }
    }

    /// The required columns a resolved index table lacks, in the format's spelling.
    pub(crate) fn missing(&self, present: &[bool; FIELD_COUNT]) -> Vec<String> {
        self.required()
            .iter()
            .filter(|f| !present[**f as usize])
            // FOCUS: `x_ServiceCode` satisfies the service requirement on its own.
            .filter(|f| {
                !(*self == Layout::Focus
                    && **f == Field::FocusServiceName
                    && present[Field::ProductCode as usize])
            })
            .map(|f| field_name(*self, *f).to_owned())
            .collect()
    }
}

/// Converts a legacy CUR CSV header to the snake_case name AWS uses for the same column in
/// Parquet/Athena: `lineItem/UnblendedCost` -> `line_item_unblended_cost`,
/// `savingsPlan/SavingsPlanARN` -> `savings_plan_savings_plan_a_r_n`.
pub(crate) fn legacy_to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut prev_sep = true;
    for c in name.chars() {
        if c == '/' || c == ':' || c == ' ' || c == '-' || c == '.' {
            if !prev_sep {
                out.push('_');
            }
            prev_sep = true;
        } else if c.is_ascii_uppercase() {
            if !prev_sep {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_sep = false;
        } else {
            out.push(c);
            prev_sep = false;
        }
    }
    out
}

/// The legacy CSV spelling of a snake name, for error messages (category/NameInCamelCase).
pub(crate) fn snake_to_legacy(snake: &str) -> &'static str {
    LEGACY_NAMES
        .iter()
        .find(|n| legacy_to_snake(n) == snake)
        .copied()
        .unwrap_or("?")
}

/// Legacy CSV names of every field in [`CUR_FIELDS`].
pub(crate) const LEGACY_NAMES: &[&str] = &[
    "bill/BillingPeriodStartDate",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "bill/PayerAccountId",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "product/regionCode",
    "product/region",
    "lineItem/AvailabilityZone",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "pricing/unit",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/NetUnblendedCost",
    "pricing/publicOnDemandCost",
    "lineItem/CurrencyCode",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/NetSavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
    "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod",
    "savingsPlan/NetAmortizedUpfrontCommitmentForBillingPeriod",
    "savingsPlan/RecurringCommitmentForBillingPeriod",
    "reservation/EffectiveCost",
    "reservation/NetEffectiveCost",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "reservation/NetUnusedRecurringFee",
    "reservation/ReservationARN",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_become_athena_snake_case() {
        assert_eq!(
            legacy_to_snake("lineItem/UnblendedCost"),
            "line_item_unblended_cost"
        );
        assert_eq!(
            legacy_to_snake("savingsPlan/SavingsPlanARN"),
            "savings_plan_savings_plan_a_r_n"
        );
        assert_eq!(
            legacy_to_snake("product/servicecode"),
            "product_servicecode"
        );
        assert_eq!(
            legacy_to_snake("pricing/publicOnDemandCost"),
            "pricing_public_on_demand_cost"
        );
        assert_eq!(
            legacy_to_snake("identity/LineItemId"),
            "identity_line_item_id"
        );
    }

    #[test]
    fn every_snake_field_has_a_legacy_spelling() {
        for (snake, _) in CUR_FIELDS {
            assert_ne!(snake_to_legacy(snake), "?", "{snake}");
        }
        assert_eq!(LEGACY_NAMES.len(), CUR_FIELDS.len());
    }
}
