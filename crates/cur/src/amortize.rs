//! Amortized and net amortized cost of one line item, as Cost Explorer's amortized view and the
//! AWS Well-Architected CUR query library compute them (see ADR 0004 for the source and why).

use rust_decimal::Decimal;

/// The columns the amortization rule reads. Missing values count as zero, exactly as a SQL `SUM`
/// over the CUR skips `NULL`s.
#[derive(Debug, Clone, Default)]
pub struct AmortizationInputs<'a> {
    /// `lineItem/LineItemType`.
    pub line_item_type: &'a str,
    /// `lineItem/UnblendedCost`.
    pub unblended_cost: Decimal,
    /// `lineItem/NetUnblendedCost`; `None` when the report has no net columns.
    pub net_unblended_cost: Option<Decimal>,
    /// `savingsPlan/SavingsPlanEffectiveCost`.
    pub savings_plan_effective_cost: Option<Decimal>,
    /// `savingsPlan/NetSavingsPlanEffectiveCost`.
    pub savings_plan_net_effective_cost: Option<Decimal>,
    /// `savingsPlan/TotalCommitmentToDate`.
    pub savings_plan_total_commitment_to_date: Option<Decimal>,
    /// `savingsPlan/UsedCommitment`.
    pub savings_plan_used_commitment: Option<Decimal>,
    /// `savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod`.
    pub savings_plan_amortized_upfront_commitment: Option<Decimal>,
    /// `savingsPlan/NetAmortizedUpfrontCommitmentForBillingPeriod`.
    pub savings_plan_net_amortized_upfront_commitment: Option<Decimal>,
    /// `savingsPlan/RecurringCommitmentForBillingPeriod`.
    pub savings_plan_recurring_commitment: Option<Decimal>,
    /// `reservation/EffectiveCost`.
    pub reservation_effective_cost: Option<Decimal>,
    /// `reservation/NetEffectiveCost`.
    pub reservation_net_effective_cost: Option<Decimal>,
    /// `reservation/UnusedAmortizedUpfrontFeeForBillingPeriod`.
    pub reservation_unused_amortized_upfront_fee: Option<Decimal>,
    /// `reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod`.
    pub reservation_net_unused_amortized_upfront_fee: Option<Decimal>,
    /// `reservation/UnusedRecurringFee`.
    pub reservation_unused_recurring_fee: Option<Decimal>,
    /// `reservation/NetUnusedRecurringFee`.
    pub reservation_net_unused_recurring_fee: Option<Decimal>,
    /// Whether `reservation/ReservationARN` is non-empty (marks a `Fee` as an RI upfront fee).
    pub has_reservation_arn: bool,
}

fn z(v: Option<Decimal>) -> Decimal {
    v.unwrap_or(Decimal::ZERO)
}

/// Amortized cost:
///
/// | line item type | amortized cost |
/// | --- | --- |
/// | `SavingsPlanCoveredUsage` | `savingsPlan/SavingsPlanEffectiveCost` |
/// | `SavingsPlanRecurringFee` | `TotalCommitmentToDate - UsedCommitment` (the unused commitment) |
/// | `SavingsPlanNegation`, `SavingsPlanUpfrontFee` | 0 |
/// | `DiscountedUsage` | `reservation/EffectiveCost` |
/// | `RIFee` | `UnusedAmortizedUpfrontFeeForBillingPeriod + UnusedRecurringFee` |
/// | `Fee` with a reservation ARN (RI upfront fee) | 0 |
/// | anything else (Usage, Tax, Credit, Refund, discounts, ...) | `lineItem/UnblendedCost` |
pub fn amortized_cost(i: &AmortizationInputs<'_>) -> Decimal {
    match i.line_item_type {
        "SavingsPlanCoveredUsage" => z(i.savings_plan_effective_cost),
        "SavingsPlanRecurringFee" => {
            z(i.savings_plan_total_commitment_to_date) - z(i.savings_plan_used_commitment)
        }
        "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Decimal::ZERO,
        "DiscountedUsage" => z(i.reservation_effective_cost),
        "RIFee" => {
            z(i.reservation_unused_amortized_upfront_fee) + z(i.reservation_unused_recurring_fee)
        }
        "Fee" if i.has_reservation_arn => Decimal::ZERO,
        _ => i.unblended_cost,
    }
}

/// Net amortized cost, or `None` when the report has no `lineItem/NetUnblendedCost` column.
///
/// Same shape as [`amortized_cost`] with the `Net` columns; discount line items (`*Discount`)
/// count zero because their effect is already inside the net columns of the discounted items, and
/// a `SavingsPlanRecurringFee` is the unused commitment scaled by the item's net/gross ratio.
pub fn net_amortized_cost(i: &AmortizationInputs<'_>) -> Option<Decimal> {
    let net_unblended = i.net_unblended_cost?;
    Some(match i.line_item_type {
        t if t.ends_with("Discount") => Decimal::ZERO,
        "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Decimal::ZERO,
        "Fee" if i.has_reservation_arn => Decimal::ZERO,
        "DiscountedUsage" => z(i.reservation_net_effective_cost),
        "SavingsPlanCoveredUsage" => z(i.savings_plan_net_effective_cost),
        "RIFee" => {
            z(i.reservation_net_unused_amortized_upfront_fee)
                + z(i.reservation_net_unused_recurring_fee)
        }
        "SavingsPlanRecurringFee" => {
            let unused = z(i.savings_plan_amortized_upfront_commitment)
                + z(i.savings_plan_recurring_commitment)
                - z(i.savings_plan_used_commitment);
            let ratio = if !i.unblended_cost.is_zero() {
                net_unblended.checked_div(i.unblended_cost)
            } else {
                let gross = z(i.savings_plan_amortized_upfront_commitment);
                if gross.is_zero() {
                    None
                } else {
                    z(i.savings_plan_net_amortized_upfront_commitment).checked_div(gross)
                }
            };
            match ratio {
                Some(r) => unused.checked_mul(r).unwrap_or(unused),
                None => unused,
            }
        }
        _ => net_unblended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros_free::d;

    mod rust_decimal_macros_free {
        pub fn d(s: &str) -> rust_decimal::Decimal {
            s.parse().unwrap()
        }
    }

    fn base(t: &str) -> AmortizationInputs<'_> {
        AmortizationInputs {
            line_item_type: t,
            unblended_cost: d("10"),
            savings_plan_effective_cost: Some(d("6")),
            savings_plan_net_effective_cost: Some(d("5.4")),
            savings_plan_total_commitment_to_date: Some(d("100")),
            savings_plan_used_commitment: Some(d("80")),
            savings_plan_amortized_upfront_commitment: Some(d("40")),
            savings_plan_net_amortized_upfront_commitment: Some(d("36")),
            savings_plan_recurring_commitment: Some(d("60")),
            reservation_effective_cost: Some(d("7")),
            reservation_net_effective_cost: Some(d("6.3")),
            reservation_unused_amortized_upfront_fee: Some(d("2")),
            reservation_net_unused_amortized_upfront_fee: Some(d("1.8")),
            reservation_unused_recurring_fee: Some(d("1")),
            reservation_net_unused_recurring_fee: Some(d("0.9")),
            ..Default::default()
        }
    }

    #[test]
    fn amortized_rule_per_line_item_type() {
        let cases = [
            ("Usage", "10"),
            ("Tax", "10"),
            ("Credit", "10"),
            ("SavingsPlanCoveredUsage", "6"),
            ("SavingsPlanRecurringFee", "20"),
            ("SavingsPlanNegation", "0"),
            ("SavingsPlanUpfrontFee", "0"),
            ("DiscountedUsage", "7"),
            ("RIFee", "3"),
            ("Fee", "10"),
            ("EdpDiscount", "10"),
        ];
        for (t, want) in cases {
            assert_eq!(amortized_cost(&base(t)), d(want), "{t}");
        }
        let upfront = AmortizationInputs {
            has_reservation_arn: true,
            ..base("Fee")
        };
        assert_eq!(amortized_cost(&upfront), Decimal::ZERO);
    }

    #[test]
    fn net_amortized_rule() {
        assert_eq!(net_amortized_cost(&base("Usage")), None);
        let net = |t| AmortizationInputs {
            net_unblended_cost: Some(d("9")),
            ..base(t)
        };
        assert_eq!(net_amortized_cost(&net("Usage")), Some(d("9")));
        assert_eq!(net_amortized_cost(&net("EdpDiscount")), Some(d("0")));
        assert_eq!(
            net_amortized_cost(&net("SavingsPlanCoveredUsage")),
            Some(d("5.4"))
        );
        assert_eq!(net_amortized_cost(&net("DiscountedUsage")), Some(d("6.3")));
        assert_eq!(net_amortized_cost(&net("RIFee")), Some(d("2.7")));
        // (40 + 60 - 80) * 9/10
        assert_eq!(
            net_amortized_cost(&net("SavingsPlanRecurringFee")),
            Some(d("18"))
        );
    }
}
