//! Property tests: decimal parsing against `Decimal::from_str`, and CSV round trips.

use std::str::FromStr;

use costline_cur::generate::{generate, GenFormat, GenerateOptions};
use costline_cur::{parse_decimal, CsvReader, LegacyCsvReader, LineItem};
use costline_domain::BillingPeriod;
use proptest::prelude::*;
use rust_decimal::Decimal;

proptest! {
    #[test]
    fn plain_decimals_parse_like_from_str(int in 0u64..10_000_000_000u64, frac in "[0-9]{0,12}", neg in any::<bool>()) {
        let text = if frac.is_empty() { format!("{}{int}", if neg { "-" } else { "" }) } else { format!("{}{int}.{frac}", if neg { "-" } else { "" }) };
        prop_assert_eq!(parse_decimal(text.as_bytes()), Some(Decimal::from_str(&text).unwrap()));
    }

    #[test]
    fn scientific_decimals_are_exact(mantissa in -99_999_999i64..99_999_999, exp in -12i32..8) {
        let text = format!("{mantissa}E{exp}");
        let want = if exp >= 0 {
            Decimal::from(mantissa) * Decimal::from(10i64.pow(exp as u32))
        } else {
            Decimal::new(mantissa, (-exp) as u32)
        };
        prop_assert_eq!(parse_decimal(text.as_bytes()), Some(want));
    }

    #[test]
    fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = parse_decimal(&bytes);
        let _ = costline_cur::parse_timestamp(&bytes);
    }

    /// Random costs and awkward text cells written by a CSV writer come back with the same
    /// decimal total.
    #[test]
    fn csv_roundtrip_keeps_decimal_totals(
        rows in proptest::collection::vec(("-?[0-9]{1,6}\\.[0-9]{1,10}", "[a-z ,\"é数\\n]{0,12}", "[A-Za-z0-9 ,\"]{0,8}"), 1..60)
    ) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "bill/PayerAccountId", "bill/BillingPeriodStartDate", "lineItem/UsageAccountId",
            "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
            "lineItem/ProductCode", "lineItem/UnblendedCost", "lineItem/LineItemDescription",
            "resourceTags/user:Team",
        ]).unwrap();
        let mut want = Decimal::ZERO;
        for (cost, desc, team) in &rows {
            want += Decimal::from_str(cost).unwrap();
            w.write_record([
                "123456789012", "2024-09-01T00:00:00Z", "210987654321", "Usage",
                "2024-09-05T00:00:00Z", "2024-09-06T00:00:00Z", "AmazonEC2", cost, desc, team,
            ]).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let items: Vec<LineItem> = LegacyCsvReader::new(bytes.as_slice()).unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(items.len(), rows.len());
        prop_assert_eq!(items.iter().map(|i| i.unblended_cost).sum::<Decimal>(), want);
        for (item, (_, _, team)) in items.iter().zip(rows.iter()) {
            prop_assert_eq!(item.tag("Team"), if team.is_empty() { None } else { Some(team.as_str()) });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any seed: the generated gzip CSV parses to the generator's own totals.
    #[test]
    fn generated_csv_roundtrips(seed in any::<u64>(), rows in 1usize..400, files in 1usize..4, focus in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let format = if focus { GenFormat::FocusCsvGzip } else { GenFormat::LegacyCsvGzip };
        let mut opts = GenerateOptions::new(seed, BillingPeriod::new(2025, 2).unwrap(), rows, format);
        opts.files = files;
        let r = generate(&opts, dir.path()).unwrap();
        let (mut n, mut unblended, mut amortized) = (0u64, Decimal::ZERO, Decimal::ZERO);
        for k in &r.data_keys {
            for item in CsvReader::new(std::fs::File::open(dir.path().join(k)).unwrap()).unwrap() {
                let item = item.unwrap();
                n += 1;
                unblended += item.unblended_cost;
                amortized += item.amortized_cost;
            }
        }
        prop_assert_eq!(n, r.expected.rows);
        prop_assert_eq!(unblended, r.expected.unblended);
        prop_assert_eq!(amortized, r.expected.amortized);
    }
}
