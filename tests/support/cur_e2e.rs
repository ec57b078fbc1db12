//! Helpers of the CUR end-to-end tests: generated reports uploaded to the customer's bucket as
//! AWS writes them, the cost API read back, and the comparison with the generator's totals.

#![allow(dead_code)] // each test file uses part of it

use costline_cur::generate::{
    generate, ExpectedTotals, GenFormat, GenerateOptions, GeneratedReport,
};
use costline_testkit::{TestApp, TestWorkspace};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The customer's AWS account on the emulator.
pub const CUSTOMER: &str = costline_testkit::CUSTOMER_ACCOUNT_ID;
/// The S3 prefix reports are delivered under.
pub const PREFIX: &str = "billing";

/// Every file under `dir`, sorted by path.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Uploads every file under `dir` with its relative path as key; data files first, manifests
/// last (as AWS writes them). Returns the keys, in upload order.
pub async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, dir: &Path) -> Vec<String> {
    upload_rekeyed(s3, bucket, dir, |key, body| (key.to_owned(), body)).await
}

/// [`upload`], each file's key and body first passed through `rekey`; the keys put, manifests
/// last (AWS writes them after the data files).
pub async fn upload_rekeyed(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    dir: &Path,
    rekey: impl Fn(&str, Vec<u8>) -> (String, Vec<u8>),
) -> Vec<String> {
    let mut files = files_under(dir);
    files.sort_by_key(|p| p.to_string_lossy().ends_with("-Manifest.json"));
    let mut keys = Vec::new();
    for p in files {
        let key = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let (key, body) = rekey(&key, std::fs::read(&p).unwrap());
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        keys.push(key);
    }
    keys
}

/// Options for a report of `rows` line items in 2 files over 4 accounts, delivered to
/// `s3://bucket/PREFIX/report/`.
pub fn options(
    bucket: &str,
    report: &str,
    seed: u64,
    period: &str,
    rows: usize,
    format: GenFormat,
) -> GenerateOptions {
    let mut opts = GenerateOptions::new(seed, period.parse().unwrap(), rows, format);
    opts.files = 2;
    opts.accounts = 4;
    opts.bucket = bucket.into();
    opts.prefix = PREFIX.into();
    opts.report_name = report.into();
    opts
}

/// The report name of the legacy CUR tests.
pub const REPORT: &str = "costline";

/// A legacy report `REPORT` of `rows` line items (2 files, 4 accounts) in a fresh directory.
pub fn gen(
    bucket: &str,
    seed: u64,
    period: &str,
    rows: usize,
    format: GenFormat,
) -> (tempfile::TempDir, GeneratedReport) {
    write(&options(bucket, REPORT, seed, period, rows, format))
}

/// A new bucket `<name>-<random>` in the customer's S3.
pub async fn new_bucket(s3: &aws_sdk_s3::Client, name: &str) -> String {
    let bucket = format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// Writes the report into a fresh temporary directory (in its S3 key layout).
pub fn write(opts: &GenerateOptions) -> (tempfile::TempDir, GeneratedReport) {
    let dir = tempfile::tempdir().unwrap();
    let report = generate(opts, dir.path()).unwrap();
    (dir, report)
}

/// `GET /api/v1/costs?{query}`, asserting 200.
pub async fn costs(app: &TestApp, ws: &TestWorkspace, query: &str) -> Value {
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/costs?{query}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// A decimal string of the API as a `Decimal`.
pub fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

/// The period's numbers from the API equal the generator's totals, for every metric and several
/// group-bys. A metric the format lacks (FOCUS has no net columns) must equal unblended.
pub async fn assert_period_matches(app: &TestApp, ws: &TestWorkspace, r: &GeneratedReport) {
    let e: &ExpectedTotals = &r.expected;
    let what = format!("{:?} {}", r.format, r.period);
    let (start, end) = (r.period.start(), r.period.end());
    let range = format!("start={start}&end={end}");
    // The report must tell the metrics and groups apart, or the comparisons prove little.
    assert_ne!(e.amortized, e.unblended, "{what}");
    if r.format.is_focus() {
        assert_eq!(e.net_unblended, None, "{what}");
    } else {
        assert!(
            e.net_unblended.is_some_and(|n| n != e.unblended),
            "{what}: {e:?}"
        );
    }
    assert!(
        e.by_team.len() > 1 && e.by_line_item_type.len() > 3,
        "{what}: {e:?}"
    );
    for (metric, want) in [
        ("unblended", Some(e.unblended)),
        ("amortized", Some(e.amortized)),
        ("net_unblended", e.net_unblended),
    ] {
        let body = costs(app, ws, &format!("{range}&metric={metric}")).await;
        let want = want.unwrap_or(e.unblended);
        assert_eq!(dec(&body["total"]), want, "{metric} total of {what}");
        assert_eq!(body["metric"], metric);
        assert_eq!(body["currency"], "USD");
        let by_month = costs(app, ws, &format!("{range}&metric={metric}&group_by=month")).await;
        assert_eq!(by_month["rows"].as_array().unwrap().len(), 1, "{by_month}");
        assert_eq!(by_month["rows"][0]["month"], r.period.to_string());
        assert_eq!(dec(&by_month["rows"][0]["amount"]), want, "{what}");
    }

    let body = costs(app, ws, &format!("{range}&group_by=day,account,service")).await;
    let got: BTreeMap<(String, String, String), Decimal> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                (
                    row["day"].as_str().unwrap().to_owned(),
                    row["account"].as_str().unwrap().to_owned(),
                    row["service"].as_str().unwrap().to_owned(),
                ),
                dec(&row["amount"]),
            )
        })
        .collect();
    let want: BTreeMap<(String, String, String), Decimal> = e
        .by_day_account_service
        .iter()
        .map(|((d, a, s), v)| ((d.to_string(), a.clone(), s.clone()), *v))
        .collect();
    assert_eq!(got, want, "{what} by day, account and service");

    let body = costs(app, ws, &format!("{range}&group_by=line_item_type")).await;
    let got: BTreeMap<String, Decimal> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line_item_type"].as_str().unwrap().to_owned(),
                dec(&row["amount"]),
            )
        })
        .collect();
    assert_eq!(got, e.by_line_item_type, "{what} by line item type");

    let tag = r.format.team_tag_key();
    let body = costs(app, ws, &format!("{range}&group_by=tag:{tag}")).await;
    let got: BTreeMap<String, Decimal> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| {
            Some((
                row[format!("tag:{tag}")].as_str()?.to_owned(),
                dec(&row["amount"]),
            ))
        })
        .collect();
    assert_eq!(got, e.by_team, "{what} by tag {tag}");
    assert_eq!(dec(&body["total"]), e.unblended, "{what}");
}

/// `GET /api/v1/integrations/aws/{id}`, asserting 200.
pub async fn integration_view(app: &TestApp, ws: &TestWorkspace, id: &str) -> Value {
    let (status, view) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// The integration's view of one billing period (`Null` when it has none).
pub async fn period_view(app: &TestApp, ws: &TestWorkspace, id: &str, period: &str) -> Value {
    integration_view(app, ws, id).await["cur"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == period)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Asks the integration to sync, then waits (90 s at most) until its view satisfies `done`.
pub async fn sync_until(
    app: &TestApp,
    ws: &TestWorkspace,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let sync = || async {
        let (status, body) = app
            .call(
                "POST",
                &format!("/api/v1/integrations/aws/{id}/sync"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(status, 202, "{body}");
    };
    sync().await;
    let started = std::time::Instant::now();
    let deadline = started + Duration::from_secs(90);
    // A delivery without a manifest waits for the settle time (5 s in tests) after its last
    // file: ask again now and then, as the schedule would.
    let mut next_sync = started + Duration::from_secs(3);
    loop {
        let view = integration_view(app, ws, id).await;
        if done(&view) {
            return view;
        }
        let now = std::time::Instant::now();
        assert!(now < deadline, "timed out waiting for {what}: {view:#}");
        if now >= next_sync {
            sync().await;
            next_sync = now + Duration::from_secs(3);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
