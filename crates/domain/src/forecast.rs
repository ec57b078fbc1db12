//! The month-end forecast from the daily run rate, in exact decimals.
//!
//! Today is not over, so it does not count towards the run rate: the rate is the average of
//! the month's complete days (the first through yesterday), and it is projected over the days
//! after today. Today's costs so far are in the month to date as they stand.

use crate::BillingPeriod;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// The current month's costs so far and where they are heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthForecast {
    /// The month forecast.
    pub month: BillingPeriod,
    /// Every cost of the month through today.
    pub month_to_date: Decimal,
    /// `month_to_date` plus the run rate times the days after today.
    pub forecast: Decimal,
    /// Complete days, whose average is the run rate (0 on the first of the month).
    pub days_elapsed: u32,
    /// Days in the month.
    pub days_in_month: u32,
}

/// A sum beyond what a decimal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the forecast is too large for a decimal")]
pub struct ForecastOverflow;

impl MonthForecast {
    /// The forecast of the month containing `today` from its costs per day (days outside the
    /// month, or after today, are ignored; a day may appear more than once).
    ///
    /// `forecast = month_to_date + complete × remaining / days_elapsed`: one division, after the
    /// multiplication, so that the result is as exact as a decimal can hold (a run rate of
    /// 100/3 a day is not rounded before it is multiplied). With no complete day yet there is
    /// no rate, and the forecast is the month to date.
    pub fn from_daily(
        today: NaiveDate,
        daily: impl IntoIterator<Item = (NaiveDate, Decimal)>,
    ) -> Result<Self, ForecastOverflow> {
        let month = BillingPeriod::containing(today);
        let days_in_month = u32::try_from((month.end() - month.start()).num_days())
            .expect("a month has 28 to 31 days");
        let days_elapsed = today.day() - 1;
        let remaining = days_in_month - today.day();
        let (mut complete, mut month_to_date) = (Decimal::ZERO, Decimal::ZERO);
        for (day, amount) in daily {
            if day < month.start() || day > today {
                continue;
            }
            month_to_date = month_to_date.checked_add(amount).ok_or(ForecastOverflow)?;
            if day < today {
                complete = complete.checked_add(amount).ok_or(ForecastOverflow)?;
            }
        }
        let projected = if days_elapsed == 0 {
            Decimal::ZERO
        } else {
            complete
                .checked_mul(Decimal::from(remaining))
                .and_then(|c| c.checked_div(Decimal::from(days_elapsed)))
                .ok_or(ForecastOverflow)?
        };
        Ok(MonthForecast {
            month,
            month_to_date,
            forecast: month_to_date
                .checked_add(projected)
                .ok_or(ForecastOverflow)?,
            days_elapsed,
            days_in_month,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn forecast(today: &str, daily: &[(&str, &str)]) -> MonthForecast {
        MonthForecast::from_daily(d(today), daily.iter().map(|(day, a)| (d(day), dec(a)))).unwrap()
    }

    #[test]
    fn mid_month_projects_the_average_of_complete_days_over_the_days_after_today() {
        // June: 30 days. Ten complete days of 100 in all; today has 3 so far; 19 days remain.
        let f = forecast(
            "2026-06-11",
            &[
                ("2026-06-01", "40"),
                ("2026-06-05", "59.99"),
                ("2026-06-10", "0.01"),
                ("2026-06-11", "3"),
                // Before the month and after today: not counted.
                ("2026-05-31", "1000"),
                ("2026-06-12", "1000"),
            ],
        );
        assert_eq!(f.month.to_string(), "2026-06");
        assert_eq!(f.days_elapsed, 10);
        assert_eq!(f.days_in_month, 30);
        assert_eq!(f.month_to_date, dec("103"));
        assert_eq!(f.forecast, dec("293"));
    }

    #[test]
    fn a_rate_that_does_not_divide_is_not_rounded_before_it_is_multiplied() {
        // April: 30 days. Three complete days of 100: 100/3 a day, 26 days after today.
        let f = forecast("2026-04-04", &[("2026-04-02", "100")]);
        assert_eq!(f.days_elapsed, 3);
        assert_eq!(f.forecast, dec("100") + dec("2600") / dec("3"));
        assert_eq!(f.forecast.round_dp(2), dec("966.67"));
        // Cents in, cents out when it divides: no float drift. February 2026 has 28 days.
        let f = forecast(
            "2026-02-03",
            &[("2026-02-01", "0.10"), ("2026-02-02", "0.20")],
        );
        assert_eq!(f.forecast, dec("0.30") + dec("0.15") * dec("25"));
        assert_eq!(f.forecast, dec("4.05"));
    }

    #[test]
    fn the_first_of_the_month_has_no_rate_yet() {
        let f = forecast(
            "2026-07-01",
            &[("2026-07-01", "12.5"), ("2026-06-30", "99")],
        );
        assert_eq!(f.days_elapsed, 0);
        assert_eq!(f.days_in_month, 31);
        assert_eq!(f.month_to_date, dec("12.5"));
        assert_eq!(f.forecast, dec("12.5"));
    }

    #[test]
    fn the_last_day_of_the_month_has_no_day_left_to_project() {
        let f = forecast(
            "2024-02-29",
            &[
                ("2024-02-01", "10"),
                ("2024-02-28", "10"),
                ("2024-02-29", "1"),
            ],
        );
        assert_eq!(f.days_elapsed, 28);
        assert_eq!(f.days_in_month, 29);
        assert_eq!(f.month_to_date, dec("21"));
        assert_eq!(f.forecast, dec("21"));
    }

    #[test]
    fn an_empty_month_forecasts_zero() {
        let f = forecast("2026-10-17", &[]);
        assert_eq!(f.month_to_date, Decimal::ZERO);
        assert_eq!(f.forecast, Decimal::ZERO);
        assert_eq!((f.days_elapsed, f.days_in_month), (16, 31));
    }

    #[test]
    fn credits_lower_the_rate() {
        let f = forecast("2026-04-03", &[("2026-04-01", "10"), ("2026-04-02", "-4")]);
        // Rate 3 a day over 27 days after today.
        assert_eq!(f.forecast, dec("87"));
    }

    #[test]
    fn sums_beyond_a_decimal_are_an_error_not_a_panic() {
        let max = Decimal::MAX;
        let r = MonthForecast::from_daily(
            d("2026-04-03"),
            [(d("2026-04-01"), max), (d("2026-04-02"), max)],
        );
        assert_eq!(r, Err(ForecastOverflow));
    }
}
