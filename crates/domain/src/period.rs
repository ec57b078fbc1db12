//! Billing periods: the calendar month an AWS bill covers.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

/// The text was not a `YYYY-MM` month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("billing period must be YYYY-MM (e.g. 2024-09), got {0:?}")]
pub struct BillingPeriodError(pub String);

impl BillingPeriod {
    /// Builds a period from a year and a month number (1 to 12).
    pub fn new(year: i32, month: u32) -> Result<Self, BillingPeriodError> {
        if (1..=12).contains(&month) && (1970..=9999).contains(&year) {
            Ok(Self { year, month })
        } else {
            Err(BillingPeriodError(format!("{year}-{month}")))
        }
    }

    /// The period that contains a date.
    pub fn containing(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The first day of the period.
    pub fn start(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }

    /// The first day after the period.
    pub fn end(&self) -> NaiveDate {
        self.next().start()
    }

    /// The following month.
    pub fn next(&self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before (the first month Costline knows, 1970-01, is its own previous one).
    pub fn previous(&self) -> Self {
        let (year, month) = match self.month {
            1 => (self.year - 1, 12),
            m => (self.year, m - 1),
        };
        Self::new(year, month).unwrap_or(*self)
    }

    /// Every period from `self` to `last`, both included, oldest first.
    pub fn through(&self, last: BillingPeriod) -> Vec<BillingPeriod> {
        let mut out = Vec::new();
        let mut p = *self;
        while p <= last {
            out.push(p);
            p = p.next();
        }
        out
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month number, 1 to 12.
    pub fn month(&self) -> u32 {
        self.month
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingPeriod {
    type Err = BillingPeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BillingPeriodError(s.to_string());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year = y.parse().map_err(|_| err())?;
        let month = m.parse().map_err(|_| err())?;
        Self::new(year, month).map_err(|_| err())
    }
}

impl TryFrom<String> for BillingPeriod {
    type Error = BillingPeriodError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<BillingPeriod> for String {
    fn from(p: BillingPeriod) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_months() {
        let p: BillingPeriod = "2024-09".parse().unwrap();
        assert_eq!(p.to_string(), "2024-09");
        assert_eq!(p.start(), NaiveDate::from_ymd_opt(2024, 9, 1).unwrap());
        assert_eq!(p.end(), NaiveDate::from_ymd_opt(2024, 10, 1).unwrap());
    }

    #[test]
    fn december_rolls_into_january() {
        let p: BillingPeriod = "2023-12".parse().unwrap();
        assert_eq!(p.next().to_string(), "2024-01");
        assert_eq!(p.next().previous(), p);
        assert_eq!(p.previous().to_string(), "2023-11");
        let first: BillingPeriod = "1970-01".parse().unwrap();
        assert_eq!(first.previous(), first);
    }

    #[test]
    fn refuses_what_is_not_a_month() {
        for bad in [
            "2024-13", "2024-00", "24-09", "2024/09", "2024-9", "", "abcd-ef",
        ] {
            assert!(bad.parse::<BillingPeriod>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_are_inclusive_and_ordered() {
        let from: BillingPeriod = "2023-11".parse().unwrap();
        let to: BillingPeriod = "2024-02".parse().unwrap();
        let all: Vec<String> = from.through(to).iter().map(|p| p.to_string()).collect();
        assert_eq!(all, ["2023-11", "2023-12", "2024-01", "2024-02"]);
        assert!(to.through(from).is_empty());
    }
}
