//! Typed errors: missing columns, corrupt gzip, bad cells, corrupt Parquet.

use std::io::{Read, Write};

use costline_cur::generate::{generate, GenFormat, GenerateOptions};
use costline_cur::{
    CsvReader, Cur2CsvReader, CurError, FocusCsvReader, LegacyCsvReader, LineItem, ParquetReader,
    ValueKind,
};
use costline_domain::BillingPeriod;

const LEGACY_HEADER: &str = "bill/PayerAccountId,bill/BillingPeriodStartDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/UnblendedCost";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn legacy_rows(n: usize) -> String {
    let mut s = format!("{LEGACY_HEADER}\n");
    for i in 0..n {
        s.push_str(&format!(
            "111111111111,2024-09-01T00:00:00Z,222222222222,Usage,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,AmazonEC2,0.{i:04}\n"
        ));
    }
    s
}

#[test]
fn missing_required_columns_are_all_named() {
    let csv = "bill/PayerAccountId,lineItem/UsageStartDate,lineItem/ProductCode\n1,2024-09-01T00:00:00Z,AmazonEC2\n";
    let err = LegacyCsvReader::new(csv.as_bytes())
        .err()
        .expect("must fail");
    let CurError::MissingColumns { columns, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        columns,
        &[
            "bill/BillingPeriodStartDate",
            "lineItem/UsageEndDate",
            "lineItem/UsageAccountId",
            "lineItem/LineItemType",
            "lineItem/UnblendedCost"
        ]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("lineItem/UnblendedCost") && msg.contains("bill/BillingPeriodStartDate"),
        "{msg}"
    );

    let err = Cur2CsvReader::new("line_item_unblended_cost\n1\n".as_bytes())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("line_item_usage_start_date"),
        "{err}"
    );
    let err = FocusCsvReader::new("BilledCost,ChargePeriodStart\n1,2024-01-01\n".as_bytes())
        .err()
        .unwrap();
    let CurError::MissingColumns { columns, .. } = err else {
        panic!()
    };
    assert!(
        columns.contains(&"ChargePeriodEnd".to_owned())
            && columns.contains(&"ServiceName".to_owned())
    );
}

#[test]
fn unknown_and_missing_optional_columns_are_fine() {
    let csv = format!("{LEGACY_HEADER},weird/Column,resourceTags/user:Team\n111111111111,2024-09-01T00:00:00Z,,Usage,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,AmazonEC2,1.5,x,blue\n");
    let items: Vec<LineItem> = LegacyCsvReader::new(csv.as_bytes())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(items.len(), 1);
    let i = &items[0];
    assert_eq!(
        i.usage_account_id, "111111111111",
        "empty usage account falls back to payer"
    );
    assert_eq!(i.currency, "USD");
    assert_eq!(i.usage_type, "");
    assert_eq!(i.unblended_rate, None);
    assert_eq!(i.tags, vec![("Team".to_owned(), "blue".to_owned())]);
}

/// The first error of a reader stepped by `step` to its end.
fn first_error(mut step: impl FnMut() -> Result<bool, CurError>) -> CurError {
    loop {
        match step() {
            Ok(true) => continue,
            Ok(false) => panic!("the reader ended without the error"),
            Err(e) => return e,
        }
    }
}

#[test]
fn corrupt_gzip_is_a_decompress_error() {
    // Damaged deflate data can surface first as a malformed record: the reader must still
    // call it a gzip fault, not a CSV one.
    let mut gz = gzip(legacy_rows(5000).as_bytes());
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let mut r = CsvReader::new(gz.as_slice()).unwrap();
    let mut item = LineItem::default();
    let err = first_error(|| r.read_into(&mut item));
    assert!(
        matches!(err, CurError::Decompress { row, .. } if row > 1),
        "{err:?}"
    );
    // The reader is finished after an error.
    assert!(!r.read_into(&mut item).unwrap());

    // Splitting records without normalizing them tells corruption apart the same way.
    let mut r = CsvReader::new(gz.as_slice()).unwrap();
    let split_err = first_error(|| r.split_next());
    assert!(
        matches!(split_err, CurError::Decompress { row, .. } if row > 1),
        "{split_err:?}"
    );
}

#[test]
fn truncated_gzip_is_a_decompress_error() {
    let gz = gzip(legacy_rows(2000).as_bytes());
    let cut = &gz[..gz.len() - 100];
    let res: Result<Vec<LineItem>, CurError> = CsvReader::new(cut).unwrap().collect();
    assert!(matches!(res, Err(CurError::Decompress { .. })), "{res:?}");
}

#[test]
fn not_gzip_at_all_when_told_gzip() {
    let plain = legacy_rows(3);
    let res = LegacyCsvReader::with_compression(plain.as_bytes(), costline_cur::Compression::Gzip);
    assert!(
        matches!(res, Err(CurError::Decompress { row: 0, .. })),
        "{:?}",
        res.err()
    );
}

#[test]
fn a_broken_stream_is_an_io_error_not_a_gzip_one() {
    struct Failing(Vec<u8>, usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 >= self.0.len() / 2 {
                return Err(std::io::Error::other("connection reset"));
            }
            let n = buf.len().min(1000).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let gz = gzip(legacy_rows(20_000).as_bytes());
    let res: Result<Vec<LineItem>, CurError> = CsvReader::new(Failing(gz, 0)).unwrap().collect();
    assert!(matches!(res, Err(CurError::Io { .. })), "{res:?}");
}

/// A row with fewer cells than the header fails with its row and line named, whether it is
/// read whole or only split into fields (the benchmark's floor); the rows before it count.
#[test]
fn a_row_shorter_than_the_header_names_its_line() {
    let mut csv = legacy_rows(3);
    csv.push_str("111111111111,2024-09-01T00:00:00Z,222222222222,Usage\n");
    csv.push_str(&legacy_rows(1)[LEGACY_HEADER.len() + 1..]);
    let expected = "line 5: record has 4 fields, the header has 8";

    let mut r = LegacyCsvReader::new(csv.as_bytes()).unwrap();
    let mut item = LineItem::default();
    for _ in 0..3 {
        assert!(r.read_into(&mut item).unwrap());
    }
    match r.read_into(&mut item) {
        Err(CurError::Csv { row: 4, message }) => assert_eq!(message, expected),
        other => panic!("{other:?}"),
    }
    assert!(
        !r.read_into(&mut item).unwrap(),
        "the reader stops at the error"
    );

    let mut r = LegacyCsvReader::new(csv.as_bytes()).unwrap();
    for _ in 0..3 {
        assert!(r.split_next().unwrap());
    }
    match r.split_next() {
        Err(CurError::Csv { row: 4, message }) => assert_eq!(message, expected),
        other => panic!("{other:?}"),
    }
    assert!(!r.split_next().unwrap());
    assert_eq!(r.rows_read(), 4);
}

#[test]
fn bad_decimal_names_row_and_column() {
    let mut csv = legacy_rows(3);
    csv.push_str("111111111111,2024-09-01T00:00:00Z,222222222222,Usage,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,AmazonEC2,12.3.4\n");
    let res: Result<Vec<LineItem>, CurError> =
        LegacyCsvReader::new(csv.as_bytes()).unwrap().collect();
    match res {
        Err(CurError::InvalidValue {
            row,
            column,
            kind,
            value,
        }) => {
            assert_eq!(
                (row, column.as_str(), kind, value.as_str()),
                (4, "lineItem/UnblendedCost", ValueKind::Decimal, "12.3.4")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_timestamp_and_empty_required_timestamp() {
    let csv = format!("{LEGACY_HEADER}\n111111111111,2024-09-01T00:00:00Z,2,Usage,yesterday,2024-09-03T00:00:00Z,AmazonEC2,1\n");
    let err = LegacyCsvReader::new(csv.as_bytes())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, CurError::InvalidValue { row: 1, column, kind: ValueKind::Timestamp, .. } if column == "lineItem/UsageStartDate"),
        "{err:?}"
    );
    let csv = format!("{LEGACY_HEADER}\n111111111111,2024-09-01T00:00:00Z,2,Usage,,2024-09-03T00:00:00Z,AmazonEC2,1\n");
    let err = LegacyCsvReader::new(csv.as_bytes())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, CurError::EmptyValue { row: 1, column } if column == "lineItem/UsageStartDate"),
        "{err:?}"
    );
}

#[test]
fn ragged_rows_and_empty_files() {
    let csv = format!("{LEGACY_HEADER}\n1,2,3\n");
    let err = LegacyCsvReader::new(csv.as_bytes())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, CurError::Csv { row: 1, .. }), "{err:?}");
    assert!(matches!(CsvReader::new(&b""[..]), Err(CurError::EmptyFile)));
    assert!(matches!(
        CsvReader::new(gzip(b"").as_slice()),
        Err(CurError::EmptyFile)
    ));
}

#[test]
fn bad_tags_json_names_the_column() {
    let csv = "line_item_usage_start_date,line_item_usage_end_date,bill_billing_period_start_date,bill_payer_account_id,line_item_usage_account_id,line_item_line_item_type,line_item_product_code,line_item_unblended_cost,resource_tags\n\
2024-09-01T00:00:00.000Z,2024-09-02T00:00:00.000Z,2024-09-01T00:00:00.000Z,1,2,Usage,AmazonS3,1,\"{\"\"user_team\"\": \"\"a\"\"\"\n";
    let err = Cur2CsvReader::new(csv.as_bytes())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, CurError::InvalidValue { column, kind: ValueKind::TagsJson, .. } if column == "resource_tags"),
        "{err:?}"
    );
}

#[test]
fn corrupt_parquet_is_a_parquet_error() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::new(
        9,
        BillingPeriod::new(2024, 3).unwrap(),
        2000,
        GenFormat::Cur2Parquet,
    );
    let r = generate(&opts, dir.path()).unwrap();
    let bytes = std::fs::read(dir.path().join(&r.data_keys[0])).unwrap();
    // Not Parquet at all.
    assert!(matches!(
        ParquetReader::from_bytes(b"PAR1 nope".to_vec()),
        Err(CurError::Parquet { row: 0, .. })
    ));
    // Footer intact, pages damaged.
    let mut damaged = bytes.clone();
    let len = damaged.len();
    for b in &mut damaged[8..len / 2] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    let res = ParquetReader::from_bytes(damaged).and_then(|r| r.collect::<Result<Vec<_>, _>>());
    assert!(
        matches!(res, Err(CurError::Parquet { .. })),
        "{:?}",
        res.map(|v| v.len())
    );
    // Truncated.
    let res = ParquetReader::from_bytes(bytes[..bytes.len() - 10].to_vec());
    assert!(matches!(res, Err(CurError::Parquet { .. })));
}

#[test]
fn many_tag_columns_keep_filled_cells_in_column_order() {
    // 70 tag columns: more than one 64-column group, with cells set and unset on both sides
    // of the group edge, a quoted value with a comma, and a value that is not UTF-8.
    let keys: Vec<String> = (0..70).map(|k| format!("K{k}")).collect();
    let mut csv = LEGACY_HEADER.to_owned();
    for k in &keys {
        csv.push_str(&format!(",resourceTags/user:{k}"));
    }
    csv.push('\n');
    let row = "111111111111,2024-09-01T00:00:00Z,222222222222,Usage,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,AmazonEC2,1";
    let mut want = Vec::new();
    for r in 0..5usize {
        csv.push_str(row);
        let mut tags = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            let filled = (k * (r + 1)) % 7 == 0 || k == 63 || (r == 2 && k == 64);
            let value = format!("v{r}.{k}, é");
            csv.push(',');
            if filled {
                csv.push_str(&format!("\"{value}\""));
                tags.push((key.clone(), value));
            }
        }
        csv.push('\n');
        want.push(tags);
    }
    let items: Vec<LineItem> = LegacyCsvReader::new(csv.as_bytes())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let got: Vec<_> = items.into_iter().map(|i| i.tags).collect();
    assert_eq!(got, want);

    // A tag cell that is not UTF-8, past the first 64 tag columns, names its column.
    let mut bad = csv.into_bytes();
    bad.extend_from_slice(row.as_bytes());
    bad.extend_from_slice(&[b','; 66]);
    bad.extend_from_slice(b"\xff\xfe");
    bad.extend_from_slice(&[b','; 4]);
    bad.push(b'\n');
    let err = LegacyCsvReader::new(bad.as_slice())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_err();
    assert!(
        matches!(&err, CurError::InvalidValue { row: 6, column, kind: ValueKind::Text, .. } if column == "resourceTags/user:K65"),
        "{err:?}"
    );
}

#[test]
fn an_unclosed_quote_fails_with_the_line_not_unbounded_memory() {
    // A quote opened on line 3 and never closed: 4 MiB later the reader gives up, naming the
    // line, instead of buffering the rest of a file of any size (17 MiB here).
    let mut csv = legacy_rows(1);
    csv.push_str("111111111111,2024-09-01T00:00:00Z,222222222222,\"Usage,");
    csv.push_str(&"x,y\n".repeat(17 << 18));
    let gz = gzip(csv.as_bytes());
    let mut reader = LegacyCsvReader::new(gz.as_slice()).unwrap();
    assert!(reader.next().unwrap().is_ok());
    let err = reader.next().unwrap().unwrap_err();
    let CurError::Csv { row, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*row, 2);
    assert!(
        message.starts_with("line 3: a record runs past 4 MiB") && message.contains("never closed"),
        "{message}"
    );
}
