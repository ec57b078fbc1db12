//! Format-independent row normalization: every reader exposes its current row through
//! [`RowSource`], and [`fill_cur`] / [`fill_focus`] turn it into a [`LineItem`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::amortize::{amortized_cost, net_amortized_cost, AmortizationInputs};
use crate::columns::Field;
use crate::error::CurError;
use crate::item::{set_str, LineItem};

/// The current row of a reader.
pub(crate) trait RowSource {
    /// Data row number, from 1.
    fn row(&self) -> u64;
    /// Whether the file has the column at all.
    fn has(&self, f: Field) -> bool;
    /// The column's name as spelled in the file.
    fn column_name(&self, f: Field) -> &str;
    /// Text of a cell; empty when the column is absent, the cell empty or null.
    fn text(&mut self, f: Field) -> Result<&str, CurError>;
    /// Decimal in a cell; `None` when absent, empty or null.
    fn decimal(&mut self, f: Field) -> Result<Option<Decimal>, CurError>;
    /// Timestamp in a cell; `None` when absent, empty or null.
    fn timestamp(&mut self, f: Field) -> Result<Option<DateTime<Utc>>, CurError>;
    /// Replaces `out` with the row's user tags, reusing its allocations.
    fn tags(&mut self, out: &mut Vec<(String, String)>) -> Result<(), CurError>;
}

fn required_ts<S: RowSource>(s: &mut S, f: Field) -> Result<DateTime<Utc>, CurError> {
    match s.timestamp(f)? {
        Some(t) => Ok(t),
        None => Err(CurError::EmptyValue {
            row: s.row(),
            column: s.column_name(f).to_owned(),
        }),
    }
}

fn text_or<S: RowSource>(
    s: &mut S,
    dst: &mut String,
    first: Field,
    second: Field,
) -> Result<(), CurError> {
    let v = s.text(first)?;
    if !v.is_empty() {
        set_str(dst, v);
        return Ok(());
    }
    let v = s.text(second)?;
    set_str(dst, v);
    Ok(())
}

#[inline(always)]
fn set_text<S: RowSource>(s: &mut S, dst: &mut String, f: Field) -> Result<(), CurError> {
    let v = s.text(f)?;
    set_str(dst, v);
    Ok(())
}

fn set_currency<S: RowSource>(s: &mut S, item: &mut LineItem) -> Result<(), CurError> {
    let v = s.text(Field::Currency)?;
    set_str(&mut item.currency, if v.is_empty() { "USD" } else { v });
    Ok(())
}

fn set_usage_account<S: RowSource>(s: &mut S, item: &mut LineItem) -> Result<(), CurError> {
    let v = s.text(Field::UsageAccount)?;
    if v.is_empty() {
        item.usage_account_id.clone_from(&item.payer_account_id);
    } else {
        set_str(&mut item.usage_account_id, v);
    }
    Ok(())
}

/// Normalizes a legacy CUR or CUR 2.0 row.
pub(crate) fn fill_cur<S: RowSource>(s: &mut S, item: &mut LineItem) -> Result<(), CurError> {
    item.billing_period_start = required_ts(s, Field::BillingPeriodStart)?.date_naive();
    item.usage_start = required_ts(s, Field::UsageStart)?;
    item.usage_end = required_ts(s, Field::UsageEnd)?;
    set_text(s, &mut item.payer_account_id, Field::PayerAccount)?;
    set_usage_account(s, item)?;
    set_text(s, &mut item.line_item_type, Field::LineItemType)?;
    set_text(s, &mut item.product_code, Field::ProductCode)?;
    set_text(s, &mut item.usage_type, Field::UsageType)?;
    set_text(s, &mut item.operation, Field::Operation)?;
    text_or(s, &mut item.region, Field::RegionCode, Field::Region)?;
    set_text(s, &mut item.availability_zone, Field::AvailabilityZone)?;
    set_text(s, &mut item.resource_id, Field::ResourceId)?;
    item.usage_amount = s.decimal(Field::UsageAmount)?.unwrap_or(Decimal::ZERO);
    set_text(s, &mut item.pricing_unit, Field::PricingUnit)?;
    item.unblended_rate = s.decimal(Field::UnblendedRate)?;
    item.unblended_cost = s.decimal(Field::UnblendedCost)?.unwrap_or(Decimal::ZERO);
    item.net_unblended_cost = if s.has(Field::NetUnblendedCost) {
        // An empty net cell means no discount applied to the item.
        Some(
            s.decimal(Field::NetUnblendedCost)?
                .unwrap_or(item.unblended_cost),
        )
    } else {
        None
    };
    item.public_on_demand_cost = s.decimal(Field::PublicOnDemandCost)?;
    set_currency(s, item)?;

    let mut inputs = AmortizationInputs {
        line_item_type: &item.line_item_type,
        unblended_cost: item.unblended_cost,
        net_unblended_cost: item.net_unblended_cost,
        ..Default::default()
    };
    // Only the columns the rule needs for this type are parsed.
    match inputs.line_item_type {
        "SavingsPlanCoveredUsage" => {
            inputs.savings_plan_effective_cost = s.decimal(Field::SpEffectiveCost)?;
            inputs.savings_plan_net_effective_cost = s.decimal(Field::SpNetEffectiveCost)?;
        }
        "SavingsPlanRecurringFee" => {
            inputs.savings_plan_total_commitment_to_date =
                s.decimal(Field::SpTotalCommitmentToDate)?;
            inputs.savings_plan_used_commitment = s.decimal(Field::SpUsedCommitment)?;
            inputs.savings_plan_amortized_upfront_commitment =
                s.decimal(Field::SpAmortizedUpfrontCommitment)?;
            inputs.savings_plan_net_amortized_upfront_commitment =
                s.decimal(Field::SpNetAmortizedUpfrontCommitment)?;
            inputs.savings_plan_recurring_commitment = s.decimal(Field::SpRecurringCommitment)?;
        }
        "DiscountedUsage" => {
            inputs.reservation_effective_cost = s.decimal(Field::RiEffectiveCost)?;
            inputs.reservation_net_effective_cost = s.decimal(Field::RiNetEffectiveCost)?;
        }
        "RIFee" => {
            inputs.reservation_unused_amortized_upfront_fee =
                s.decimal(Field::RiUnusedAmortizedUpfrontFee)?;
            inputs.reservation_net_unused_amortized_upfront_fee =
                s.decimal(Field::RiNetUnusedAmortizedUpfrontFee)?;
            inputs.reservation_unused_recurring_fee = s.decimal(Field::RiUnusedRecurringFee)?;
            inputs.reservation_net_unused_recurring_fee =
                s.decimal(Field::RiNetUnusedRecurringFee)?;
        }
        "Fee" => inputs.has_reservation_arn = !s.text(Field::RiArn)?.is_empty(),
        _ => {}
    }
    item.amortized_cost = amortized_cost(&inputs);
    item.net_amortized_cost = net_amortized_cost(&inputs);

    s.tags(&mut item.tags)
}

/// Which commitment discount a FOCUS charge involves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commitment {
    None,
    SavingsPlan,
    Reservation,
}

impl Commitment {
    fn parse(commitment_type: &str) -> Self {
        let t = commitment_type;
        if t.eq_ignore_ascii_case("Savings Plan") || t.eq_ignore_ascii_case("SavingsPlan") {
            Commitment::SavingsPlan
        } else if t.eq_ignore_ascii_case("Reservation")
            || t.eq_ignore_ascii_case("Reserved Instance")
        {
            Commitment::Reservation
        } else {
            Commitment::None
        }
    }
}

/// The CUR line item type a FOCUS charge stands for (ADR 0004).
pub(crate) fn focus_line_item_type(
    category: &str,
    commitment: Commitment,
    status: &str,
) -> &'static str {
    match (category, commitment, status) {
        ("Usage", Commitment::SavingsPlan, "Used") => "SavingsPlanCoveredUsage",
        ("Usage", Commitment::Reservation, "Used") => "DiscountedUsage",
        ("Usage", Commitment::SavingsPlan, "Unused") => "SavingsPlanRecurringFee",
        ("Usage", Commitment::Reservation, "Unused") => "RIFee",
        ("Usage", _, _) => "Usage",
        ("Purchase", _, _) => "Fee",
        ("Tax", _, _) => "Tax",
        ("Credit", _, _) => "Credit",
        ("Adjustment", _, _) => "Refund",
        _ => "Other",
    }
}

/// Normalizes a FOCUS row.
pub(crate) fn fill_focus<S: RowSource>(s: &mut S, item: &mut LineItem) -> Result<(), CurError> {
    item.billing_period_start = required_ts(s, Field::BillingPeriodStart)?.date_naive();
    item.usage_start = required_ts(s, Field::UsageStart)?;
    item.usage_end = required_ts(s, Field::UsageEnd)?;
    set_text(s, &mut item.payer_account_id, Field::PayerAccount)?;
    set_usage_account(s, item)?;
    let commitment = Commitment::parse(s.text(Field::FocusCommitmentType)?);
    let used = match s.text(Field::FocusCommitmentStatus)? {
        "Used" => "Used",
        "Unused" => "Unused",
        _ => "",
    };
    let t = focus_line_item_type(s.text(Field::FocusChargeCategory)?, commitment, used);
    set_str(&mut item.line_item_type, t);
    text_or(
        s,
        &mut item.product_code,
        Field::ProductCode,
        Field::FocusServiceName,
    )?;
    text_or(
        s,
        &mut item.usage_type,
        Field::UsageType,
        Field::FocusSkuMeter,
    )?;
    set_text(s, &mut item.operation, Field::Operation)?;
    set_text(s, &mut item.region, Field::RegionCode)?;
    set_text(s, &mut item.availability_zone, Field::AvailabilityZone)?;
    set_text(s, &mut item.resource_id, Field::ResourceId)?;
    item.usage_amount = s.decimal(Field::UsageAmount)?.unwrap_or(Decimal::ZERO);
    set_text(s, &mut item.pricing_unit, Field::PricingUnit)?;
    item.unblended_rate = None;
    item.unblended_cost = s.decimal(Field::UnblendedCost)?.unwrap_or(Decimal::ZERO);
    item.net_unblended_cost = None;
    item.amortized_cost = s
        .decimal(Field::FocusEffectiveCost)?
        .unwrap_or(item.unblended_cost);
    item.net_amortized_cost = None;
    item.public_on_demand_cost = s.decimal(Field::PublicOnDemandCost)?;
    set_currency(s, item)?;
    s.tags(&mut item.tags)
}
