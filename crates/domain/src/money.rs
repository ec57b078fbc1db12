//! Exact money: decimal amounts in one currency, never floating point.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An exact decimal amount, serialized as a string (`"12.3400"`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(#[serde(with = "rust_decimal::serde::str")] Decimal);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Wraps a decimal amount.
    pub fn new(amount: Decimal) -> Self {
        Self(amount)
    }

    /// The amount as a decimal.
    pub fn amount(&self) -> Decimal {
        self.0
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.normalize().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn sums_are_exact_where_floats_are_not() {
        let tenth = Money::new(Decimal::from_str("0.1").unwrap());
        let total: Money = std::iter::repeat_n(tenth, 10).sum();
        assert_eq!(total.to_string(), "1");
        assert_ne!((0..10).map(|_| 0.1f64).sum::<f64>(), 1.0);
    }

    #[test]
    fn serializes_as_a_string() {
        let m = Money::new(Decimal::from_str("1.68230869740").unwrap());
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1.68230869740\"");
    }
}
