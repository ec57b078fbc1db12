//! `costline dev gen-cur`, black-box: the report lands in the real S3 layout, and the totals it
//! prints equal an independent re-parse of the files it wrote.

use chrono::{DateTime, Utc};
use costline_cur::discovery::{discover, manifests_to_fetch, ReportKind, S3Object};
use costline_cur::generate::ExpectedTotals;
use costline_cur::{CsvReader, LineItem, ParquetReader};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_costline");

fn costline(args: &[&str], data_dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        // A generator must not need (or start) a database: point both at nothing usable.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("COSTLINE_DATA_DIR", data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run costline")
}

fn gen(out: &Path, format: &str, rows: &str, extra: &[&str]) -> Value {
    let data_dir = out.join("no-data-dir");
    let mut args = vec![
        "dev",
        "gen-cur",
        "--out",
        out.to_str().unwrap(),
        "--format",
        format,
        "--period",
        "2024-09",
        "--rows",
        rows,
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    let output = costline(&args, &data_dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!data_dir.exists(), "gen-cur touched COSTLINE_DATA_DIR");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("a JSON line")
}

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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().map(|s| s.parse().unwrap())
}

/// Reads every data file with the production parsers.
fn reparse(root: &Path, keys: &[String]) -> ExpectedTotals {
    let mut t = ExpectedTotals::default();
    let (mut net_u, mut net_a, mut saw_net) = (Decimal::ZERO, Decimal::ZERO, false);
    let mut item = LineItem::default();
    let mut add = |item: &LineItem, t: &mut ExpectedTotals| {
        t.rows += 1;
        t.unblended += item.unblended_cost;
        t.amortized += item.amortized_cost;
        if let (Some(u), Some(a)) = (item.net_unblended_cost, item.net_amortized_cost) {
            net_u += u;
            net_a += a;
            saw_net = true;
        }
        *t.by_line_item_type
            .entry(item.line_item_type.clone())
            .or_default() += item.unblended_cost;
    };
    for key in keys {
        let file = File::open(root.join(key)).unwrap();
        if key.ends_with(".parquet") {
            let mut r = ParquetReader::new(file).unwrap();
            while r.read_into(&mut item).unwrap() {
                add(&item, &mut t);
            }
        } else {
            let mut r = CsvReader::new(file).unwrap();
            while r.read_into(&mut item).unwrap() {
                add(&item, &mut t);
            }
        }
    }
    if saw_net {
        t.net_unblended = Some(net_u);
        t.net_amortized = Some(net_a);
    }
    t
}

fn check(format: &str, rows: usize, files: usize, kind: ReportKind) {
    check_with(format, rows, files, kind, None)
}

/// [`check`], as the execution that ran at `executed_at` ("create new export file").
fn check_with(
    format: &str,
    rows: usize,
    files: usize,
    kind: ReportKind,
    executed_at: Option<&str>,
) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bucket");
    let files_arg = files.to_string();
    let mut extra = vec![
        "--files",
        &files_arg,
        "--accounts",
        "3",
        "--prefix",
        "exports/",
        "--report-name",
        "acme",
    ];
    extra.extend(executed_at.iter().flat_map(|at| ["--executed-at", at]));
    let printed = gen(&out, format, &rows.to_string(), &extra);
    assert_eq!(printed["format"], format);
    assert_eq!(printed["period"], "2024-09");
    assert_eq!(printed["prefix"], "exports");
    assert_eq!(printed["report_name"], "acme");
    assert_eq!(printed["rows"], rows as u64);
    let data_keys = strings(&printed["data_keys"]);
    let manifest_keys = strings(&printed["manifest_keys"]);
    assert_eq!(data_keys.len(), files, "{printed}");

    // The real S3 layout: every printed key is a file under --out, and discovery, working on
    // the listing as it would on the bucket's, finds exactly this delivery.
    for key in data_keys.iter().chain(&manifest_keys) {
        assert!(key.starts_with("exports/acme/"), "{key}");
        assert!(out.join(key).is_file(), "{key} not written");
    }
    match kind {
        ReportKind::LegacyCur if format == "legacy-csv" => {
            // As AWS writes it: the period's manifest naming the current assembly, and a copy
            // inside the assembly folder beside its data files.
            let assembly = printed["assembly_id"].as_str().unwrap();
            let mut manifests = manifest_keys.clone();
            manifests.sort();
            assert_eq!(
                manifests,
                [
                    format!("exports/acme/20240901-20241001/{assembly}/acme-Manifest.json"),
                    "exports/acme/20240901-20241001/acme-Manifest.json".to_string(),
                ]
            );
            for key in &data_keys {
                assert!(
                    key.starts_with(&format!("exports/acme/20240901-20241001/{assembly}/"))
                        && key.ends_with(".csv.gz"),
                    "{key}"
                );
            }
        }
        ReportKind::LegacyCur => {
            for key in &data_keys {
                assert!(
                    key.starts_with("exports/acme/") && key.ends_with(".parquet"),
                    "{key}"
                );
            }
        }
        _ => {
            // "Create new": the execution's folder, and a manifest there besides the
            // partition's.
            let execution = executed_at
                .map(|_| {
                    format!(
                        "2024-09-02T10:00:00.000Z-{}/",
                        printed["assembly_id"].as_str().unwrap()
                    )
                })
                .unwrap_or_default();
            for key in &data_keys {
                assert!(
                    key.contains(&format!("/data/BILLING_PERIOD=2024-09/{execution}acme-")),
                    "{key}"
                );
            }
            let mut manifests = manifest_keys.clone();
            manifests.sort();
            let partition = "exports/acme/metadata/BILLING_PERIOD=2024-09/".to_string();
            let mut want = vec![format!("{partition}acme-Manifest.json")];
            if executed_at.is_some() {
                want.insert(0, format!("{partition}{execution}acme-Manifest.json"));
            }
            assert_eq!(manifests, want);
        }
    }
    let objects = listing(&out);
    let location = costline_cur::discovery::ReportLocation::new("exports", "acme");
    let wanted = manifests_to_fetch(&location, &objects);
    let manifests: HashMap<String, Vec<u8>> = wanted
        .iter()
        .map(|k| (k.clone(), std::fs::read(out.join(k)).unwrap()))
        .collect();
    let periods = discover(&location, &objects, &manifests).unwrap();
    assert_eq!(periods.len(), 1, "{periods:?}");
    assert_eq!(periods[0].kind, kind);
    assert_eq!(
        periods[0].assembly_id,
        printed["assembly_id"].as_str().unwrap()
    );
    let mut sorted = data_keys.clone();
    sorted.sort();
    assert_eq!(periods[0].data_keys, sorted);

    // The printed totals are the files' totals, to the last digit.
    let got = reparse(&out, &data_keys);
    assert_eq!(got.rows, rows as u64);
    assert_eq!(
        Some(got.unblended),
        decimal(&printed["unblended"]),
        "{format}"
    );
    assert_eq!(
        Some(got.amortized),
        decimal(&printed["amortized"]),
        "{format}"
    );
    assert_eq!(
        got.net_unblended,
        decimal(&printed["net_unblended"]),
        "{format}"
    );
    assert_eq!(
        got.net_amortized,
        decimal(&printed["net_amortized"]),
        "{format}"
    );
    let by_type: std::collections::BTreeMap<String, Decimal> = printed["by_line_item_type"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().parse().unwrap()))
        .collect();
    assert_eq!(got.by_line_item_type, by_type, "{format}");
    assert!(got.unblended != Decimal::ZERO);
}

#[test]
fn legacy_csv_in_the_legacy_layout_with_matching_totals() {
    check("legacy-csv", 3000, 3, ReportKind::LegacyCur);
}

#[test]
fn legacy_parquet_in_the_athena_layout_with_matching_totals() {
    check("legacy-parquet", 3000, 2, ReportKind::LegacyCur);
}

#[test]
fn cur2_data_export_with_matching_totals() {
    check("cur2", 3000, 2, ReportKind::Cur2);
}

#[test]
fn cur2_parquet_data_export_with_matching_totals() {
    check("cur2-parquet", 2000, 1, ReportKind::Cur2);
}

#[test]
fn focus_export_with_matching_totals() {
    check("focus", 3000, 2, ReportKind::Focus);
}

#[test]
fn create_new_export_file_layout_with_executed_at() {
    check_with(
        "cur2",
        2000,
        2,
        ReportKind::Cur2,
        Some("2024-09-02T10:00:00Z"),
    );
}

#[test]
fn focus_parquet_export_with_matching_totals() {
    check("focus-parquet", 2000, 2, ReportKind::Focus);
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = gen(a.path(), "legacy-csv", "500", &[]);
    let second = gen(b.path(), "legacy-csv", "500", &[]);
    assert_eq!(first, second);
    for key in strings(&first["data_keys"]) {
        assert_eq!(
            std::fs::read(a.path().join(&key)).unwrap(),
            std::fs::read(b.path().join(&key)).unwrap(),
            "{key}"
        );
    }
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, expected) in [
        (
            vec!["--rows", "0", "--period", "2024-09"],
            "--rows must be at least 1",
        ),
        (
            vec!["--rows", "2", "--files", "3", "--period", "2024-09"],
            "every file needs a row",
        ),
        (vec!["--period", "2024-13"], "2024-13"),
        (vec!["--period", "2024-09", "--format", "xml"], "legacy-csv"),
        (
            vec![
                "--period",
                "2024-09",
                "--executed-at",
                "2024-09-02T10:00:00Z",
            ],
            "--executed-at is for Data Exports",
        ),
        (
            vec![
                "--period",
                "2024-09",
                "--format",
                "cur2",
                "--executed-at",
                "yesterday",
            ],
            "--executed-at",
        ),
    ] {
        let mut all = vec!["dev", "gen-cur", "--out", out];
        all.extend(args.iter().copied());
        let output = costline(&all, &dir.path().join("data"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
    }
}
