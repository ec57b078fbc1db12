//! Report formats as AWS writes them today, end to end on the emulator: ZIP-compressed legacy
//! CSV, monthly and hourly granularity, and real (anonymised) sample files; each delivered to
//! the customer's bucket, ingested by the worker and checked through the cost API against
//! totals computed independently of the parsers.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use costline_cur::generate::{FocusVersion, GenFormat, Granularity};
use costline_testkit::{cur_connection, customer_s3, moto, spawn_app_with_workers};
use cur_e2e::{
    assert_period_matches, costs, dec, new_bucket, options, period_view, sync_until, upload, write,
    REPORT,
};
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[tokio::test]
async fn zip_compressed_and_monthly_and_hourly_legacy_months_become_exact_costs() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, cur_e2e::CUSTOMER).await;
    let bucket = new_bucket(&s3, "formats").await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Globex", "owner@globex.test").await;
    let id = app
        .connect_integration(&ws.token, cur_connection(&bucket, cur_e2e::PREFIX, REPORT))
        .await;

    // January: daily, each file a .csv.zip holding one CSV, the manifest saying ZIP.
    let zipped = options(
        &bucket,
        REPORT,
        31,
        "2024-01",
        2_000,
        GenFormat::LegacyCsvZip,
    );
    let (d_jan, jan) = write(&zipped);
    assert!(
        jan.data_keys.iter().all(|k| k.ends_with(".csv.zip")),
        "{:?}",
        jan.data_keys
    );
    // February: monthly granularity, every usage line item spans the month.
    let mut monthly = options(
        &bucket,
        REPORT,
        32,
        "2024-02",
        1_500,
        GenFormat::LegacyCsvGzip,
    );
    monthly.granularity = Granularity::Monthly;
    let (d_feb, feb) = write(&monthly);
    // March: hourly granularity.
    let mut hourly = options(
        &bucket,
        REPORT,
        33,
        "2024-03",
        1_500,
        GenFormat::LegacyCsvGzip,
    );
    hourly.granularity = Granularity::Hourly;
    let (d_mar, mar) = write(&hourly);
    for d in [&d_jan, &d_feb, &d_mar] {
        upload(&s3, &bucket, d.path()).await;
    }
    sync_until(&app, &ws, &id, "three periods ready", |v| {
        let p = v["cur"]["periods"].as_array().unwrap();
        p.len() == 3 && p.iter().all(|p| p["status"] == "ready")
    })
    .await;
    for (period, r) in [("2024-01", &jan), ("2024-02", &feb), ("2024-03", &mar)] {
        let view = period_view(&app, &ws, &id, period).await;
        assert_eq!(view["rows"], r.expected.rows, "{view}");
        assert_eq!(view["assembly_id"], r.assembly_id.as_str(), "{view}");
        assert_period_matches(&app, &ws, r).await;
    }
    assert_eq!(
        period_view(&app, &ws, &id, "2024-01").await["format"],
        "legacy_cur_csv_zip"
    );

    // Monthly line items all start on the 1st: one day; daily ones spread over the month.
    let days = |body: serde_json::Value| -> BTreeSet<String> {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["day"].as_str().unwrap().to_owned())
            .collect()
    };
    let feb_days = days(costs(&app, &ws, "start=2024-02-01&end=2024-03-01&group_by=day").await);
    assert_eq!(feb_days, BTreeSet::from(["2024-02-01".to_owned()]));
    let jan_days = days(costs(&app, &ws, "start=2024-01-01&end=2024-02-01&group_by=day").await);
    assert!(jan_days.len() > 25, "{jan_days:?}");

    // All three months at once, and none of it for another workspace.
    let body = costs(&app, &ws, "start=2024-01-01&end=2024-04-01").await;
    assert_eq!(
        dec(&body["total"]),
        jan.expected.unblended + feb.expected.unblended + mar.expected.unblended
    );
    let body = costs(
        &app,
        &other,
        "start=2024-01-01&end=2024-04-01&group_by=account",
    )
    .await;
    assert_eq!(body["rows"], json!([]));
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// The sum of a decimal column of a CSV file, over all rows and by another column's value
/// (rows where that column is `NULL` or empty are left out of the second).
fn sums(csv_text: &[u8], amount: &str, by: &str) -> (u64, Decimal, BTreeMap<String, Decimal>) {
    let mut r = csv::Reader::from_reader(csv_text);
    let header = r.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (a, b) = (col(amount), col(by));
    let (mut rows, mut total, mut groups) = (0, Decimal::ZERO, BTreeMap::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        let v = Decimal::from_scientific(&rec[a])
            .or_else(|_| rec[a].parse())
            .unwrap();
        rows += 1;
        total += v;
        if !rec[b].is_empty() && &rec[b] != "NULL" {
            *groups.entry(rec[b].to_owned()).or_default() += v;
        }
    }
    (rows, total, groups)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

/// `{group: amount}` of a cost API answer grouped by one key.
fn grouped(body: &serde_json::Value, key: &str) -> BTreeMap<String, Decimal> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r[key].as_str()?.to_owned(), dec(&r["amount"]))))
        .collect()
}

#[tokio::test]
async fn real_legacy_cur_and_focus_samples_ingest_to_their_own_sums() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cur");
    let legacy_csv = std::fs::read(fixtures.join("legacy-cur-sample.csv")).unwrap();
    let focus_csv = std::fs::read(fixtures.join("focus-1.0-sample.csv")).unwrap();
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, cur_e2e::CUSTOMER).await;
    let bucket = new_bucket(&s3, "samples").await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Globex", "owner@globex.test").await;

    // The legacy sample as AWS delivers a daily report without its manifest: gzip, in the
    // billing period's range folder.
    let legacy = app
        .connect_integration(&ws.token, cur_connection(&bucket, cur_e2e::PREFIX, REPORT))
        .await;
    let key = format!(
        "{}/{REPORT}/20231101-20231201/{REPORT}-00001.csv.gz",
        cur_e2e::PREFIX
    );
    put(&s3, &bucket, &key, gzip(&legacy_csv)).await;
    // The FOCUS sample as a manifest-less FOCUS Data Export delivery for 2024-09.
    let export = "focus-sample";
    let focus = app
        .connect_integration(&ws.token, cur_connection(&bucket, cur_e2e::PREFIX, export))
        .await;
    let key = format!(
        "{}/{export}/data/BILLING_PERIOD=2024-09/{export}-00001.csv.gz",
        cur_e2e::PREFIX
    );
    put(&s3, &bucket, &key, gzip(&focus_csv)).await;

    for (id, period) in [(&legacy, "2023-11"), (&focus, "2024-09")] {
        let view = sync_until(&app, &ws, id, "the sample ingested", |v| {
            v["cur"]["periods"].as_array().unwrap().iter().any(|p| {
                p["period"] == period && (p["status"] == "ready" || p["status"] == "error")
            })
        })
        .await;
        let p = period_view(&app, &ws, id, period).await;
        assert_eq!(p["status"], "ready", "{view:#}");
    }

    // Legacy: rows, total, by account and by line item type equal the file's own sums, and
    // the figures the sample's notes give.
    let (rows, total, by_type) = sums(
        &legacy_csv,
        "lineItem/UnblendedCost",
        "lineItem/LineItemType",
    );
    assert_eq!((rows, total), (1_281, Decimal::new(168_230_869_740, 11)));
    assert_eq!(
        period_view(&app, &ws, &legacy, "2023-11").await["rows"],
        rows
    );
    let body = costs(
        &app,
        &ws,
        "start=2023-11-01&end=2023-12-01&group_by=line_item_type",
    )
    .await;
    assert_eq!(dec(&body["total"]), total);
    assert_eq!(grouped(&body, "line_item_type"), by_type);
    assert_eq!(by_type["Tax"], Decimal::new(8, 2));
    let body = costs(
        &app,
        &ws,
        "start=2023-11-01&end=2023-12-01&group_by=account",
    )
    .await;
    assert_eq!(
        grouped(&body, "account"),
        BTreeMap::from([("123412340534".to_owned(), total)])
    );

    // FOCUS: every provider's rows count (BilledCost is what was billed), by sub-account.
    let (rows, total, by_account) = sums(&focus_csv, "BilledCost", "SubAccountId");
    assert_eq!(rows, 1_000);
    assert_eq!(
        period_view(&app, &ws, &focus, "2024-09").await["rows"],
        rows
    );
    let range = "start=2024-09-01&end=2024-10-01";
    let body = costs(&app, &ws, &format!("{range}&group_by=account")).await;
    // The legacy integration has nothing in September 2024: the whole total is the sample's.
    assert_eq!(dec(&body["total"]), total);
    assert_eq!(grouped(&body, "account"), by_account);
    // Its tags (bare keys in the `Tags` JSON) group as they are spelled.
    let mut by_env: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut r = csv::Reader::from_reader(&focus_csv[..]);
    let header = r.headers().unwrap().clone();
    let (tags, cost) = (
        header.iter().position(|h| h == "Tags").unwrap(),
        header.iter().position(|h| h == "BilledCost").unwrap(),
    );
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[tags] == "NULL" {
            continue;
        }
        let t: serde_json::Value = serde_json::from_str(&rec[tags]).unwrap();
        if let Some(env) = t["environment"].as_str().filter(|e| !e.is_empty()) {
            *by_env.entry(env.to_owned()).or_default() += rec[cost].parse::<Decimal>().unwrap();
        }
    }
    assert!(by_env.len() > 1, "{by_env:?}");
    let body = costs(&app, &ws, &format!("{range}&group_by=tag:environment")).await;
    assert_eq!(grouped(&body, "tag:environment"), by_env);

    // Another workspace sees neither integration nor their costs.
    for id in [&legacy, &focus] {
        let (status, _) = app
            .call(
                "GET",
                &format!("/api/v1/integrations/aws/{id}"),
                Some(&other.token),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
    let body = costs(&app, &other, "start=2023-11-01&end=2024-10-01").await;
    assert_eq!(dec(&body["total"]), Decimal::ZERO);
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

#[tokio::test]
async fn focus_1_2_exports_in_csv_and_parquet_become_exact_costs() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, cur_e2e::CUSTOMER).await;
    let bucket = new_bucket(&s3, "focus12").await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Globex", "owner@globex.test").await;
    for (seed, format, name, period, api_format) in [
        (
            41,
            GenFormat::FocusCsvGzip,
            "focus12-csv",
            "2024-04",
            "focus_csv_gzip",
        ),
        (
            42,
            GenFormat::FocusParquet,
            "focus12-parquet",
            "2024-05",
            "focus_parquet",
        ),
    ] {
        let mut opts = options(&bucket, name, seed, period, 2_500, format);
        opts.focus_version = FocusVersion::V1_2;
        let (dir, report) = write(&opts);
        let manifest = std::fs::read_to_string(dir.path().join(&report.manifest_keys[0])).unwrap();
        assert!(manifest.contains("FOCUS_1_2_AWS"), "{manifest}");
        upload(&s3, &bucket, dir.path()).await;
        let id = app
            .connect_integration(&ws.token, cur_connection(&bucket, cur_e2e::PREFIX, name))
            .await;
        sync_until(&app, &ws, &id, name, |v| {
            v["cur"]["periods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["period"] == period && p["status"] == "ready")
        })
        .await;
        let view = period_view(&app, &ws, &id, period).await;
        assert_eq!(view["rows"], report.expected.rows, "{view}");
        assert_eq!(view["format"], api_format, "{view}");
        // Totals, metrics, day x account x service, line item types and the Team tag; the
        // cost category in every tagged row's `Tags` is no tag of its own.
        assert_period_matches(&app, &ws, &report).await;
        let range = format!(
            "start={}&end={}",
            report.period.start(),
            report.period.end()
        );
        let body = costs(&app, &ws, &format!("{range}&group_by=tag:BusinessUnit")).await;
        assert!(
            body["rows"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["tag:BusinessUnit"].is_null()),
            "{body}"
        );
        let (status, _) = app
            .call(
                "GET",
                &format!("/api/v1/integrations/aws/{id}"),
                Some(&other.token),
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
}
