//! Saved cost reports: their names, date ranges and chart kinds.
//!
//! A relative range is stored as its name and resolved against the day the report is looked
//! at, so "last month" stays last month; a fixed range is two dates.

use chrono::{Datelike, Days, Months, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// What is wrong with a report's definition; the message names the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReport {
    /// The name is empty or too long.
    #[error("name must be 1 to {max} characters, got {got}", max = ReportName::MAX_CHARS)]
    Name {
        /// Characters given (after trimming).
        got: usize,
    },
    /// An unknown relative range.
    #[error("unknown relative range {0:?}: use last_7_days, last_30_days, month_to_date, last_month or last_12_months")]
    Relative(String),
    /// A fixed range that ends on or before its start.
    #[error("end ({end}) must be after start ({start}): start is inclusive, end exclusive")]
    Backwards {
        /// First day.
        start: NaiveDate,
        /// Day after the last.
        end: NaiveDate,
    },
    /// An unknown chart kind.
    #[error("unknown chart {0:?}: use bar, line or table")]
    Chart(String),
}

/// A report's name: 1 to 100 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportName(String);

impl ReportName {
    /// The longest name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReportName {
    type Err = InvalidReport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        let got = name.chars().count();
        if got == 0 || got > Self::MAX_CHARS {
            return Err(InvalidReport::Name { got });
        }
        Ok(Self(name.to_owned()))
    }
}

impl fmt::Display for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Days from `start` (inclusive) to `end` (exclusive), `end` after `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    start: NaiveDate,
    end: NaiveDate,
}

impl DateRange {
    /// The range, or `Backwards` when `end` is not after `start`.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Result<Self, InvalidReport> {
        if end <= start {
            return Err(InvalidReport::Backwards { start, end });
        }
        Ok(Self { start, end })
    }

    /// First day, inclusive.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// Day after the last, exclusive.
    pub fn end(&self) -> NaiveDate {
        self.end
    }
}

/// A range named relative to the day it is resolved on (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelativeRange {
    /// The seven days before today.
    Last7Days,
    /// The thirty days before today.
    Last30Days,
    /// From the first of this month through today.
    MonthToDate,
    /// The previous calendar month.
    LastMonth,
    /// The twelve calendar months before this one, and this one.
    Last12Months,
}

impl RelativeRange {
    /// Every relative range, in the order the console offers them.
    pub const ALL: [RelativeRange; 5] = [
        RelativeRange::Last7Days,
        RelativeRange::Last30Days,
        RelativeRange::MonthToDate,
        RelativeRange::LastMonth,
        RelativeRange::Last12Months,
    ];

    /// The API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            RelativeRange::Last7Days => "last_7_days",
            RelativeRange::Last30Days => "last_30_days",
            RelativeRange::MonthToDate => "month_to_date",
            RelativeRange::LastMonth => "last_month",
            RelativeRange::Last12Months => "last_12_months",
        }
    }

    /// The dates this range covers when `today` is the current UTC date. Today is in it only
    /// for the month-based ranges: the day-based ones count whole days.
    pub fn resolve(&self, today: NaiveDate) -> DateRange {
        let first_of_month = today.with_day(1).expect("every month has a first day");
        let (start, end) = match self {
            RelativeRange::Last7Days => (days_before(today, 7), today),
            RelativeRange::Last30Days => (days_before(today, 30), today),
            RelativeRange::MonthToDate => (first_of_month, day_after(today)),
            RelativeRange::LastMonth => (months_before(first_of_month, 1), first_of_month),
            RelativeRange::Last12Months => (
                months_before(first_of_month, 12),
                first_of_month
                    .checked_add_months(Months::new(1))
                    .unwrap_or(NaiveDate::MAX),
            ),
        };
        DateRange { start, end }
    }
}

fn days_before(day: NaiveDate, n: u64) -> NaiveDate {
    day.checked_sub_days(Days::new(n)).unwrap_or(NaiveDate::MIN)
}

fn day_after(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(NaiveDate::MAX)
}

fn months_before(day: NaiveDate, n: u32) -> NaiveDate {
    day.checked_sub_months(Months::new(n))
        .unwrap_or(NaiveDate::MIN)
}

impl FromStr for RelativeRange {
    type Err = InvalidReport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| InvalidReport::Relative(s.to_owned()))
    }
}

impl fmt::Display for RelativeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A report's dates: relative to the day it is looked at, or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportRange {
    /// Resolved on each look.
    Relative(RelativeRange),
    /// The same dates every time.
    Fixed(DateRange),
}

impl ReportRange {
    /// The dates covered when `today` is the current UTC date.
    pub fn resolve(&self, today: NaiveDate) -> DateRange {
        match self {
            ReportRange::Relative(r) => r.resolve(today),
            ReportRange::Fixed(d) => *d,
        }
    }
}

/// How the console draws a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChartKind {
    /// One bar per row.
    Bar,
    /// A line through the rows, in order.
    Line,
    /// The table alone.
    Table,
}

impl ChartKind {
    /// Every kind, in the order the console offers them.
    pub const ALL: [ChartKind; 3] = [ChartKind::Bar, ChartKind::Line, ChartKind::Table];

    /// The API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChartKind::Bar => "bar",
            ChartKind::Line => "line",
            ChartKind::Table => "table",
        }
    }
}

impl FromStr for ChartKind {
    type Err = InvalidReport;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InvalidReport::Chart(s.to_owned()))
    }
}

impl fmt::Display for ChartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn resolved(r: RelativeRange, today: &str) -> (String, String) {
        let range = r.resolve(d(today));
        (range.start().to_string(), range.end().to_string())
    }

    fn pair(start: &str, end: &str) -> (String, String) {
        (start.to_owned(), end.to_owned())
    }

    #[test]
    fn day_ranges_end_before_today() {
        use RelativeRange::*;
        assert_eq!(
            resolved(Last7Days, "2026-03-05"),
            pair("2026-02-26", "2026-03-05")
        );
        assert_eq!(
            resolved(Last30Days, "2026-03-05"),
            pair("2026-02-03", "2026-03-05")
        );
        // Across a leap day and a year.
        assert_eq!(
            resolved(Last7Days, "2024-03-02"),
            pair("2024-02-24", "2024-03-02")
        );
        assert_eq!(
            resolved(Last30Days, "2027-01-10"),
            pair("2026-12-11", "2027-01-10")
        );
    }

    #[test]
    fn month_to_date_includes_today() {
        use RelativeRange::MonthToDate;
        assert_eq!(
            resolved(MonthToDate, "2026-03-05"),
            pair("2026-03-01", "2026-03-06")
        );
        assert_eq!(
            resolved(MonthToDate, "2026-03-01"),
            pair("2026-03-01", "2026-03-02")
        );
        assert_eq!(
            resolved(MonthToDate, "2026-12-31"),
            pair("2026-12-01", "2027-01-01")
        );
    }

    #[test]
    fn month_ranges_are_whole_calendar_months() {
        use RelativeRange::*;
        assert_eq!(
            resolved(LastMonth, "2026-03-31"),
            pair("2026-02-01", "2026-03-01")
        );
        assert_eq!(
            resolved(LastMonth, "2026-01-01"),
            pair("2025-12-01", "2026-01-01")
        );
        assert_eq!(
            resolved(Last12Months, "2026-03-15"),
            pair("2025-03-01", "2026-04-01")
        );
        assert_eq!(
            resolved(Last12Months, "2026-12-31"),
            pair("2025-12-01", "2027-01-01")
        );
    }

    #[test]
    fn fixed_ranges_ignore_today_and_must_go_forward() {
        let fixed = DateRange::new(d("2024-05-01"), d("2024-06-01")).unwrap();
        assert_eq!(ReportRange::Fixed(fixed).resolve(d("2030-01-01")), fixed);
        assert_eq!(
            DateRange::new(d("2024-05-01"), d("2024-05-01")),
            Err(InvalidReport::Backwards {
                start: d("2024-05-01"),
                end: d("2024-05-01")
            })
        );
        assert_eq!(
            ReportRange::Relative(RelativeRange::LastMonth).resolve(d("2024-06-10")),
            fixed
        );
    }

    #[test]
    fn names_parse_and_unknown_values_name_what_is_accepted() {
        for r in RelativeRange::ALL {
            assert_eq!(r.as_str().parse::<RelativeRange>(), Ok(r));
        }
        for k in ChartKind::ALL {
            assert_eq!(k.to_string().parse::<ChartKind>(), Ok(k));
        }
        let e = "last_week"
            .parse::<RelativeRange>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"last_week\"") && e.contains("last_12_months"),
            "{e}"
        );
        let e = "pie".parse::<ChartKind>().unwrap_err().to_string();
        assert!(
            e.contains("\"pie\"") && e.contains("bar, line or table"),
            "{e}"
        );
        assert_eq!(
            "  EC2 by day ".parse::<ReportName>().unwrap().as_str(),
            "EC2 by day"
        );
        assert!("   ".parse::<ReportName>().is_err());
        assert!("é".repeat(100).parse::<ReportName>().is_ok());
        assert_eq!(
            "x".repeat(101).parse::<ReportName>(),
            Err(InvalidReport::Name { got: 101 })
        );
    }
}
