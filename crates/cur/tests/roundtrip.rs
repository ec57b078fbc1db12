//! Generator -> discovery -> parser, for every format.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use costline_cur::discovery::{
    discover, manifests_to_fetch, DiscoveredPeriod, FileFormat, ReportKind, ReportLocation,
    S3Object,
};
use costline_cur::generate::{
    generate, ExpectedTotals, ExportVersioning, FocusVersion, GenFormat, GenerateOptions,
};
use costline_cur::{CsvReader, LineItem, ParquetReader, SourceFormat, ZippedCsv};
use costline_domain::BillingPeriod;
use rust_decimal::Decimal;

fn listing(root: &Path) -> Vec<S3Object> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<S3Object>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let meta = p.metadata().unwrap();
                let modified: DateTime<Utc> = meta.modified().unwrap().into();
                out.push(S3Object {
                    key: p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    size: meta.len(),
                    last_modified: modified,
                    etag: None,
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Discovery over a written tree, as the poller runs it: the manifests it asks for, then the
/// periods found with their bytes.
fn discover_tree(root: &Path, location: &ReportLocation) -> (Vec<String>, Vec<DiscoveredPeriod>) {
    let objects = listing(root);
    let want = manifests_to_fetch(location, &objects);
    let manifests: HashMap<String, Vec<u8>> = want
        .iter()
        .map(|k| (k.clone(), std::fs::read(root.join(k)).unwrap()))
        .collect();
    let periods = discover(location, &objects, &manifests).unwrap();
    (want, periods)
}

/// Reads every data file and aggregates what the parser produced.
pub fn parse_totals(
    root: &Path,
    keys: &[String],
    team_key: &str,
) -> (ExpectedTotals, Vec<SourceFormat>) {
    let mut t = ExpectedTotals {
        net_unblended: Some(Decimal::ZERO),
        net_amortized: Some(Decimal::ZERO),
        ..Default::default()
    };
    let mut formats = Vec::new();
    let mut saw_net = false;
    let mut add = |item: &LineItem, t: &mut ExpectedTotals| {
        t.rows += 1;
        t.unblended += item.unblended_cost;
        t.amortized += item.amortized_cost;
        if let (Some(a), Some(b)) = (t.net_unblended.as_mut(), item.net_unblended_cost) {
            *a += b;
            saw_net = true;
        }
        if let (Some(a), Some(b)) = (t.net_amortized.as_mut(), item.net_amortized_cost) {
            *a += b;
        }
        let day: NaiveDate = item.usage_start.date_naive();
        *t.by_day_account_service
            .entry((
                day,
                item.usage_account_id.clone(),
                item.product_code.clone(),
            ))
            .or_default() += item.unblended_cost;
        *t.by_line_item_type
            .entry(item.line_item_type.clone())
            .or_default() += item.unblended_cost;
        if let Some(team) = item.tag(team_key) {
            *t.by_team.entry(team.to_owned()).or_default() += item.unblended_cost;
        }
        assert!(
            item.tags
                .iter()
                .all(|(k, _)| !k.starts_with("aws") && !k.contains(':')),
            "{:?}",
            item.tags
        );
    };
    let mut item = LineItem::default();
    for key in keys {
        let path = root.join(key);
        if key.ends_with(".parquet") {
            let mut r = ParquetReader::new(File::open(&path).unwrap()).unwrap();
            while r.read_into(&mut item).unwrap() {
                add(&item, &mut t);
            }
        } else if key.ends_with(".zip") {
            let mut z = ZippedCsv::open(File::open(&path).unwrap()).unwrap();
            let mut r = z.reader().unwrap();
            while r.read_into(&mut item).unwrap() {
                add(&item, &mut t);
            }
        } else {
            let mut r = CsvReader::new(File::open(&path).unwrap()).unwrap();
            while r.read_into(&mut item).unwrap() {
                add(&item, &mut t);
            }
        }
        formats.push(item.source_format);
    }
    if !saw_net {
        t.net_unblended = None;
        t.net_amortized = None;
    }
    (t, formats)
}

fn roundtrip(format: GenFormat, seed: u64, rows: usize, files: usize) {
    roundtrip_with(format, seed, rows, files, |_| {});
}

/// [`roundtrip`] of a report whose options `tweak` changes; returns the directory written.
fn roundtrip_with(
    format: GenFormat,
    seed: u64,
    rows: usize,
    files: usize,
    tweak: impl Fn(&mut GenerateOptions),
) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let period = BillingPeriod::new(2024, 9).unwrap();
    let mut opts = GenerateOptions::new(seed, period, rows, format);
    opts.files = files;
    opts.accounts = 7;
    tweak(&mut opts);
    let report = generate(&opts, dir.path()).unwrap();
    assert_eq!(report.data_keys.len(), files);

    // Discovery over the written tree finds exactly this delivery.
    let (want, periods) = discover_tree(dir.path(), &report.location);
    assert_eq!(want.len(), 1, "{format:?}: {want:?}");
    assert_eq!(periods.len(), 1, "{format:?}");
    let p = &periods[0];
    assert_eq!(p.period, period);
    assert_eq!(p.assembly_id, report.assembly_id);
    let mut keys = report.data_keys.clone();
    keys.sort();
    assert_eq!(p.data_keys, keys);
    assert!(p.missing_keys.is_empty());
    assert_eq!(p.format == FileFormat::Parquet, format.is_parquet());
    let kind = match format {
        GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip | GenFormat::LegacyParquet => {
            ReportKind::LegacyCur
        }
        GenFormat::Cur2CsvGzip | GenFormat::Cur2Parquet => ReportKind::Cur2,
        GenFormat::FocusCsvGzip | GenFormat::FocusParquet => ReportKind::Focus,
    };
    assert_eq!(p.kind, kind);

    let (got, formats) = parse_totals(dir.path(), &p.data_keys, format.team_tag_key());
    let want_format = match format {
        GenFormat::LegacyCsvGzip | GenFormat::LegacyCsvZip => SourceFormat::LegacyCsv,
        GenFormat::LegacyParquet => SourceFormat::LegacyParquet,
        GenFormat::Cur2CsvGzip => SourceFormat::Cur2Csv,
        GenFormat::Cur2Parquet => SourceFormat::Cur2Parquet,
        GenFormat::FocusCsvGzip => SourceFormat::FocusCsv,
        GenFormat::FocusParquet => SourceFormat::FocusParquet,
    };
    assert!(formats.iter().all(|f| *f == want_format), "{formats:?}");
    let e = &report.expected;
    assert_eq!(got.rows, e.rows, "{format:?} rows");
    assert_eq!(got.unblended, e.unblended, "{format:?} unblended");
    assert_eq!(got.amortized, e.amortized, "{format:?} amortized");
    assert_eq!(
        got.net_unblended, e.net_unblended,
        "{format:?} net unblended"
    );
    assert_eq!(
        got.net_amortized, e.net_amortized,
        "{format:?} net amortized"
    );
    assert_eq!(
        got.by_line_item_type, e.by_line_item_type,
        "{format:?} by type"
    );
    assert_eq!(
        got.by_day_account_service, e.by_day_account_service,
        "{format:?} by day"
    );
    assert_eq!(got.by_team, e.by_team, "{format:?} by team");
    assert!(
        e.by_line_item_type.len() >= 8,
        "{:?}",
        e.by_line_item_type.keys()
    );
    assert!(!e.by_team.is_empty());
    (dir, report.data_keys)
}

#[test]
fn focus_1_2_exports_roundtrip_with_their_columns_and_cost_categories_left_out_of_tags() {
    for (i, format) in [GenFormat::FocusCsvGzip, GenFormat::FocusParquet]
        .into_iter()
        .enumerate()
    {
        let (dir, keys) = roundtrip_with(format, 60 + i as u64, 3_000, 2, |o| {
            o.focus_version = FocusVersion::V1_2;
        });
        if format == GenFormat::FocusCsvGzip {
            let r = CsvReader::new(File::open(dir.path().join(&keys[0])).unwrap()).unwrap();
            let h = r.headers();
            assert_eq!(h.len(), 60, "57 FOCUS columns and 3 x_ columns: {h:?}");
            for c in ["SkuMeter", "x_Discounts", "x_Operation", "x_ServiceCode"] {
                assert!(h.iter().any(|n| n == c), "{c}");
            }
            assert!(!h
                .iter()
                .any(|n| n == "x_UsageType" || n == "x_CostCategories"));
        }
        // Every tagged row carries a cost category in `Tags`, and no item has it as a tag.
        let mut item = LineItem::default();
        let (mut tagged, mut with_usage_type) = (0, 0);
        for key in &keys {
            let path = dir.path().join(key);
            let mut next: Box<dyn FnMut(&mut LineItem) -> bool> = if key.ends_with(".parquet") {
                let mut r = ParquetReader::new(File::open(&path).unwrap()).unwrap();
                Box::new(move |it| r.read_into(it).unwrap())
            } else {
                let mut r = CsvReader::new(File::open(&path).unwrap()).unwrap();
                Box::new(move |it| r.read_into(it).unwrap())
            };
            while next(&mut item) {
                assert!(
                    item.tag("BusinessUnit").is_none()
                        && item.tag("costCategory/BusinessUnit").is_none()
                        && item.tags.iter().all(|(_, v)| v != "Retail"),
                    "{:?}",
                    item.tags
                );
                // No x_UsageType in 1.2: SkuMeter gives the usage type.
                with_usage_type += usize::from(!item.usage_type.is_empty());
                tagged += usize::from(!item.tags.is_empty());
            }
        }
        assert!(tagged > 100, "{format:?}: {tagged}");
        assert!(with_usage_type > 2_000, "{format:?}: {with_usage_type}");
    }
}

#[test]
fn legacy_csv_gzip_roundtrip() {
    roundtrip(GenFormat::LegacyCsvGzip, 1, 4000, 3);
}

#[test]
fn legacy_parquet_roundtrip() {
    roundtrip(GenFormat::LegacyParquet, 2, 70_000, 2);
}

#[test]
fn cur2_csv_roundtrip() {
    roundtrip(GenFormat::Cur2CsvGzip, 3, 4000, 2);
}

#[test]
fn cur2_parquet_roundtrip() {
    roundtrip(GenFormat::Cur2Parquet, 4, 70_000, 1);
}

#[test]
fn focus_csv_roundtrip() {
    roundtrip(GenFormat::FocusCsvGzip, 5, 4000, 2);
}

#[test]
fn focus_parquet_roundtrip() {
    roundtrip(GenFormat::FocusParquet, 6, 70_000, 2);
}

#[test]
fn every_format_has_a_roundtrip() {
    // Small reports of every format, so a format added to the generator is covered even
    // before it gets its own (multi-row-group) test above.
    for (i, format) in GenFormat::ALL.into_iter().enumerate() {
        roundtrip(format, 100 + i as u64, 1_500, 2);
    }
}

#[test]
fn generator_is_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::new(
        42,
        BillingPeriod::new(2023, 2).unwrap(),
        500,
        GenFormat::LegacyCsvGzip,
    );
    let ra = generate(&opts, a.path()).unwrap();
    let rb = generate(&opts, b.path()).unwrap();
    assert_eq!(ra.expected, rb.expected);
    assert_eq!(ra.data_keys, rb.data_keys);
    for k in ra.data_keys.iter().chain(ra.manifest_keys.iter()) {
        assert_eq!(
            std::fs::read(a.path().join(k)).unwrap(),
            std::fs::read(b.path().join(k)).unwrap()
        );
    }
    let mut other = opts.clone();
    other.seed = 43;
    let rc = generate(&other, tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(rc.expected.unblended, ra.expected.unblended);
}

#[test]
fn generated_legacy_csv_has_real_quirks() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::new(
        7,
        BillingPeriod::new(2024, 1).unwrap(),
        3000,
        GenFormat::LegacyCsvGzip,
    );
    let r = generate(&opts, dir.path()).unwrap();
    let mut text = String::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(File::open(dir.path().join(&r.data_keys[0])).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains("\"payments, \"\"core\"\"\""),
        "quoted comma and quotes"
    );
    assert!(text.contains("数据平台") && text.contains("🚀 launch"));
    assert!(text.contains("E-"), "scientific notation");
    assert!(text.contains(",,"), "empty cells");
    let by_type: BTreeMap<_, _> = r.expected.by_line_item_type.clone();
    for t in [
        "Usage",
        "Tax",
        "Credit",
        "SavingsPlanNegation",
        "SavingsPlanCoveredUsage",
        "DiscountedUsage",
        "RIFee",
    ] {
        assert!(by_type.contains_key(t), "{t}");
    }
    assert!(by_type["Credit"] < Decimal::ZERO && by_type["SavingsPlanNegation"] < Decimal::ZERO);
}

/// "Create new export file": two executions of one month in one bucket, each in its own
/// `<executed_at>-<execution id>/` folder; discovery reads the newest one's files only, and they
/// parse to its totals.
#[test]
fn create_new_export_files_roundtrip_to_the_newest_execution() {
    for (i, format) in GenFormat::ALL
        .into_iter()
        .filter(|f| !f.is_legacy())
        .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let period = BillingPeriod::new(2024, 9).unwrap();
        let execution = |seed: u64, rows: usize, files: usize, at: &str| {
            let mut opts = GenerateOptions::new(seed, period, rows, format);
            opts.files = files;
            opts.versioning = ExportVersioning::CreateNew {
                executed_at: at.parse().unwrap(),
            };
            generate(&opts, dir.path()).unwrap()
        };
        let seed = 300 + 10 * i as u64;
        let first = execution(seed, 1_500, 3, "2024-09-20T05:01:02.303Z");
        let second = execution(seed + 1, 1_000, 2, "2024-09-21T05:03:04.404Z");

        let data = format!(
            "cur/costline/data/BILLING_PERIOD=2024-09/2024-09-21T05:03:04.404Z-{}/",
            second.assembly_id
        );
        assert!(
            second.data_keys.iter().all(|k| k.starts_with(&data)),
            "{format:?}: {:?}",
            second.data_keys
        );
        let metadata = "cur/costline/metadata/BILLING_PERIOD=2024-09/";
        assert_eq!(
            second.manifest_keys,
            vec![
                format!(
                    "{metadata}2024-09-21T05:03:04.404Z-{}/costline-Manifest.json",
                    second.assembly_id
                ),
                format!("{metadata}costline-Manifest.json"),
            ],
            "{format:?}"
        );
        assert_eq!(first.manifest_keys[1], second.manifest_keys[1]);
        // Every file of the first execution is still there.
        for k in first.data_keys.iter().chain(&first.manifest_keys[..1]) {
            assert!(dir.path().join(k).is_file(), "{format:?}: {k}");
        }

        let (want, periods) = discover_tree(dir.path(), &second.location);
        assert_eq!(want, vec![format!("{metadata}costline-Manifest.json")]);
        assert_eq!(periods.len(), 1, "{format:?}");
        let p = &periods[0];
        assert_eq!(p.assembly_id, second.assembly_id, "{format:?}");
        let mut keys = second.data_keys.clone();
        keys.sort();
        assert_eq!(p.data_keys, keys, "{format:?}");
        assert!(p.missing_keys.is_empty(), "{format:?}");

        let (got, _) = parse_totals(dir.path(), &p.data_keys, format.team_tag_key());
        let e = &second.expected;
        assert_eq!(got.rows, e.rows, "{format:?}");
        assert_eq!(got.unblended, e.unblended, "{format:?}");
        assert_eq!(got.amortized, e.amortized, "{format:?}");
        assert_eq!(got.by_team, e.by_team, "{format:?}");
        assert_ne!(e.unblended, first.expected.unblended, "{format:?}");
    }
}

#[test]
fn export_file_versioning_is_for_data_exports_only() {
    let mut opts = GenerateOptions::new(
        1,
        BillingPeriod::new(2024, 9).unwrap(),
        10,
        GenFormat::LegacyCsvGzip,
    );
    opts.versioning = ExportVersioning::CreateNew {
        executed_at: "2024-09-21T05:03:04Z".parse().unwrap(),
    };
    assert!(generate(&opts, tempfile::tempdir().unwrap().path()).is_err());
}
