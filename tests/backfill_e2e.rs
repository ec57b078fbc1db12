//! Support backfill end to end on the emulator (issue 8): three historical months are copied
//! into the customer's bucket in three formats (daily legacy CSV gzip with a manifest, hourly
//! plain legacy CSV without a manifest, legacy Parquet), a support user backfills the range
//! through the support API, every period reaches `ready`, and the cost API's monthly totals equal
//! sums computed here from the files themselves (CSV) or by the generator (Parquet). The
//! customer sees the backfill per period, the support actions in the audit log, and a notice.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use chrono::{DateTime, Duration as Span, Utc};
use costline_cur::generate::{GenFormat, GeneratedReport};
use costline_testkit::{
    cur_connection, customer_s3, moto, spawn_app_with_workers, TestApp, TestWorkspace,
};
use cur_e2e::{files_under, gen, new_bucket, upload, CUSTOMER, PREFIX, REPORT};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// A small RFC 4180 reader (quoted fields, doubled quotes, embedded commas and newlines), so
/// the expected sums do not come from Costline's own parser.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn write_csv(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                if c.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn decimal(cell: &str) -> Decimal {
    if cell.is_empty() {
        Decimal::ZERO
    } else if cell.contains(['e', 'E']) {
        Decimal::from_scientific(cell).unwrap_or_else(|e| panic!("{cell}: {e}"))
    } else {
        Decimal::from_str(cell).unwrap_or_else(|e| panic!("{cell}: {e}"))
    }
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

/// The sum of `lineItem/UnblendedCost` over CSV files (gzip by extension).
fn unblended_of_csv_files(paths: &[PathBuf]) -> (u64, Decimal) {
    let (mut rows, mut total) = (0, Decimal::ZERO);
    for p in paths {
        let bytes = std::fs::read(p).unwrap();
        let text = if p.to_string_lossy().ends_with(".gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes).unwrap()
        };
        let table = parse_csv(&text);
        let cost = column(&table[0], "lineItem/UnblendedCost");
        for r in &table[1..] {
            rows += 1;
            total += decimal(&r[cost]);
        }
    }
    (rows, total)
}

/// Turns a generated daily legacy CSV gzip month into an hourly, manifest-less, plain-CSV
/// delivery in the "overwrite" layout (`<range>/<report>-N.csv`): every line item that covers
/// one day is moved to one hour of that day (its cost unchanged), manifests are dropped.
/// Returns the directory to upload and the data files written.
fn hourly_without_manifest(
    daily: &GeneratedReport,
    from: &Path,
) -> (tempfile::TempDir, Vec<PathBuf>) {
    let out = tempfile::tempdir().unwrap();
    let range = format!(
        "{PREFIX}/{REPORT}/{}-{}",
        daily.period.start().format("%Y%m%d"),
        daily.period.end().format("%Y%m%d")
    );
    std::fs::create_dir_all(out.path().join(&range)).unwrap();
    let ts = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut written = Vec::new();
    for (n, key) in daily.data_keys.iter().enumerate() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&std::fs::read(from.join(key)).unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        let mut table = parse_csv(&text);
        let start = column(&table[0], "lineItem/UsageStartDate");
        let end = column(&table[0], "lineItem/UsageEndDate");
        let interval = table[0].iter().position(|h| h == "identity/TimeInterval");
        for (i, row) in table.iter_mut().enumerate().skip(1) {
            let (s, e) = (ts(&row[start]), ts(&row[end]));
            if e - s != Span::days(1) {
                continue; // tax and upfront fees span the month in hourly reports too
            }
            let s = s + Span::hours((i % 24) as i64);
            let e = s + Span::hours(1);
            row[start] = fmt(s);
            row[end] = fmt(e);
            if let Some(c) = interval {
                row[c] = format!("{}/{}", fmt(s), fmt(e));
            }
        }
        let path = out
            .path()
            .join(format!("{range}/{REPORT}-{:05}.csv", n + 1));
        std::fs::write(&path, write_csv(&table)).unwrap();
        written.push(path);
    }
    (out, written)
}

/// The (start, end) spans of a CSV file's line items.
fn usage_spans(path: &Path) -> Vec<(String, String)> {
    let table = parse_csv(&std::fs::read_to_string(path).unwrap());
    let (s, e) = (
        column(&table[0], "lineItem/UsageStartDate"),
        column(&table[0], "lineItem/UsageEndDate"),
    );
    table[1..]
        .iter()
        .map(|r| (r[s].clone(), r[e].clone()))
        .collect()
}

async fn monthly_total(app: &TestApp, ws: &TestWorkspace, period: &str) -> Decimal {
    let p: costline_domain::BillingPeriod = period.parse().unwrap();
    let (status, body) = app
        .call(
            "GET",
            &format!(
                "/api/v1/costs?start={}&end={}&group_by=month&metric=unblended",
                p.start(),
                p.end()
            ),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one month: {body}");
    assert_eq!(rows[0]["month"], period);
    assert_eq!(rows[0]["amount"], body["total"]);
    Decimal::from_str(rows[0]["amount"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn support_backfills_three_historical_months_in_three_formats() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    let bucket = new_bucket(&s3, "backfill-e2e").await;

    let ws = app.create_workspace("Initech", "owner@initech.test").await;
    app.grant_support_access(&ws.token, 24).await;
    let id = app
        .connect_integration(&ws.token, cur_connection(&bucket, PREFIX, REPORT))
        .await;
    let view = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(30),
            |v| v["status"] == "connected" && v["cur"]["status"] == "awaiting_first_report",
        )
        .await;
    assert_eq!(view["cur"]["periods"], json!([]));
    // The connection's follow-up jobs (discovery, the first poll) finish before the customer
    // copies anything, so that only the backfill reads the months.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobs WHERE workspace_id = $1::uuid AND status IN ('queued', 'running')",
        )
        .bind(&ws.workspace_id)
        .fetch_one(app.db.admin())
        .await
        .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} jobs still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The customer copies three historical months into the bucket.
    // 2023-10: daily legacy CSV gzip with its manifest, as AWS delivers it.
    let (d_oct, oct) = gen(&bucket, 11, "2023-10", 1_500, GenFormat::LegacyCsvGzip);
    let oct_files: Vec<PathBuf> = oct.data_keys.iter().map(|k| d_oct.path().join(k)).collect();
    let (oct_rows, oct_sum) = unblended_of_csv_files(&oct_files);
    assert_eq!(
        (oct_rows, oct_sum),
        (oct.expected.rows, oct.expected.unblended)
    );
    // 2023-11: hourly plain legacy CSV, no manifest anywhere.
    let (d_nov_daily, nov_daily) = gen(&bucket, 12, "2023-11", 1_200, GenFormat::LegacyCsvGzip);
    let (d_nov, nov_files) = hourly_without_manifest(&nov_daily, d_nov_daily.path());
    let (nov_rows, nov_sum) = unblended_of_csv_files(&nov_files);
    assert_eq!(nov_rows, nov_daily.expected.rows);
    // Really hourly: most line items last one hour, at many different hours of the day.
    let spans: Vec<(String, String)> = nov_files.iter().flat_map(|p| usage_spans(p)).collect();
    let hourly: Vec<&(String, String)> = spans
        .iter()
        .filter(|(s, e)| {
            let (s, e) = (
                s.parse::<DateTime<Utc>>().unwrap(),
                e.parse::<DateTime<Utc>>().unwrap(),
            );
            e - s == Span::hours(1)
        })
        .collect();
    assert!(
        hourly.len() * 10 > spans.len() * 9,
        "{} of {} hourly",
        hourly.len(),
        spans.len()
    );
    let hours: BTreeSet<&str> = hourly.iter().map(|(s, _)| &s[11..13]).collect();
    assert_eq!(hours.len(), 24, "{hours:?}");
    assert!(
        files_under(d_nov.path())
            .iter()
            .all(|p| !p.to_string_lossy().contains("Manifest")),
        "no manifest for the hourly month"
    );
    // 2023-12: legacy Parquet (Athena layout) with its manifest; the generator's own totals.
    let (d_dec, dec) = gen(&bucket, 13, "2023-12", 1_000, GenFormat::LegacyParquet);

    upload(&s3, &bucket, d_oct.path()).await;
    let nov_keys = upload(&s3, &bucket, d_nov.path()).await;
    upload(&s3, &bucket, d_dec.path()).await;
    assert!(nov_keys.iter().all(|k| k.ends_with(".csv")), "{nov_keys:?}");

    // Support finds the integration and what is in the bucket.
    let (_, support) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    let support = support.plaintext;
    let periods_path = format!("/api/v1/support/integrations/{id}/periods");
    let (status, found) = app.call("GET", &periods_path, Some(&support), None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["bucket_error"], Value::Null, "{found:#}");
    let by_period: BTreeMap<String, Value> = found["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].as_str().unwrap().to_owned(), p.clone()))
        .collect();
    let keys: Vec<&str> = by_period.keys().map(String::as_str).collect();
    assert_eq!(keys, ["2023-10", "2023-11", "2023-12"], "{found:#}");
    for (period, format, manifest, files) in [
        ("2023-10", "legacy_csv_gzip", true, 2),
        ("2023-11", "legacy_csv", false, 2),
        ("2023-12", "legacy_parquet", true, 2),
    ] {
        let p = &by_period[period];
        assert_eq!(p["status"], "not_ingested", "{p}");
        assert_eq!(p["bucket"]["format"], format, "{p}");
        assert_eq!(p["bucket"]["manifest"], manifest, "{p}");
        assert_eq!(p["bucket"]["files"], files, "{p}");
    }

    // The backfill: one job per period, oldest first.
    let (status, queued) = app
        .call(
            "POST",
            &format!("/api/v1/support/integrations/{id}/backfill"),
            Some(&support),
            Some(json!({"from": "2023-10", "to": "2023-12"})),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["periods"], json!(["2023-10", "2023-11", "2023-12"]));
    assert_eq!(queued["job_ids"].as_array().unwrap().len(), 3);

    // The customer's integration view shows the backfill with each period's state.
    let integration_path = format!("/api/v1/integrations/aws/{id}");
    let (_, view) = app
        .call("GET", &integration_path, Some(&ws.token), None)
        .await;
    let backfill = &view["backfill"];
    assert_eq!(backfill["id"], queued["backfill_id"], "{view:#}");
    let states: Vec<&str> = backfill["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 3, "{backfill}");
    assert_eq!(
        backfill["in_progress"],
        states.iter().any(|s| *s == "queued" || *s == "ingesting"),
        "{backfill}"
    );

    let done = app
        .poll_until(
            &integration_path,
            &ws.token,
            Duration::from_secs(120),
            |v| v["backfill"]["in_progress"] == false,
        )
        .await;
    let periods = done["backfill"]["periods"].as_array().unwrap();
    for (p, want) in periods.iter().zip(["2023-10", "2023-11", "2023-12"]) {
        assert_eq!(p["period"], want, "{done:#}");
        assert_eq!(p["status"], "ready", "{done:#}");
        assert_eq!(p["job_status"], "succeeded", "{done:#}");
    }
    assert_eq!(done["cur"]["status"], "ready", "{done:#}");
    let rows: BTreeMap<String, i64> = done["cur"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().to_owned(),
                p["rows"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        BTreeMap::from([
            ("2023-10".to_owned(), oct_rows as i64),
            ("2023-11".to_owned(), nov_rows as i64),
            ("2023-12".to_owned(), dec.expected.rows as i64),
        ])
    );

    // Monthly totals equal the independent sums.
    let got_oct = monthly_total(&app, &ws, "2023-10").await;
    let got_nov = monthly_total(&app, &ws, "2023-11").await;
    let got_dec = monthly_total(&app, &ws, "2023-12").await;
    eprintln!("monthly unblended: 2023-10 {got_oct} (files {oct_sum}), 2023-11 {got_nov} (files {nov_sum}), 2023-12 {got_dec} (generator {})", dec.expected.unblended);
    assert_eq!(got_oct, oct_sum, "2023-10 (daily CSV gzip, manifest)");
    assert_eq!(got_nov, nov_sum, "2023-11 (hourly CSV, no manifest)");
    assert_eq!(got_dec, dec.expected.unblended, "2023-12 (Parquet)");
    assert_ne!(oct_sum, nov_sum);

    // The support view now shows every period ingested from its bucket assembly.
    let (_, after) = app.call("GET", &periods_path, Some(&support), None).await;
    for p in after["periods"].as_array().unwrap() {
        assert_eq!(p["status"], "ready", "{p}");
        assert_eq!(
            p["ingested"]["assembly_id"], p["bucket"]["assembly_id"],
            "{p}"
        );
    }

    // The customer's audit log shows the support actions, by the support user.
    let (status, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200, "{audit}");
    let support_events: Vec<(&str, &str)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("support."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for action in ["support.periods_viewed", "support.backfill_requested"] {
        assert!(
            support_events
                .iter()
                .any(|(a, actor)| *a == action && actor.contains("help@costline.test")),
            "{action} by the support user in {support_events:?}"
        );
    }

    // The customer's admins are told the backfill completed (in console; the email job is queued).
    let notices = app
        .poll_until(
            "/api/v1/notifications",
            &ws.token,
            Duration::from_secs(10),
            |v| {
                v["notifications"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n["kind"] == "backfill_completed")
            },
        )
        .await;
    let completed: Vec<&Value> = notices["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "backfill_completed")
        .collect();
    assert_eq!(
        completed.len(),
        1,
        "exactly one completion notice: {notices:#}"
    );
    let message = completed[0]["message"].as_str().unwrap();
    assert!(
        message.contains("2023-10") && message.contains("2023-12"),
        "{message}"
    );
    assert_eq!(completed[0]["integration_id"], id.as_str());
    let emails: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'notify' AND payload->>'notification_id' = $1",
    )
    .bind(completed[0]["id"].as_str().unwrap())
    .fetch_one(app.db.admin())
    .await
    .unwrap();
    assert_eq!(emails, 1, "the email job is queued with the notice");
    // The backfill itself is marked completed, when the notice was written.
    let (backfills, completed_at_notice): (i64, bool) = sqlx::query_as(
        "SELECT count(*), bool_and(b.completed_at = n.created_at)
           FROM backfills b JOIN notifications n ON n.workspace_id = b.workspace_id
          WHERE n.notification_id::text = $1",
    )
    .bind(completed[0]["id"].as_str().unwrap())
    .fetch_one(app.db.admin())
    .await
    .unwrap();
    assert_eq!((backfills, completed_at_notice), (1, true));
}

#[tokio::test]
async fn a_backfilled_period_without_files_fails_and_the_admins_are_told() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    let bucket = new_bucket(&s3, "backfill-fail").await;
    let ws = app.create_workspace("Hooli", "owner@hooli.test").await;
    app.grant_support_access(&ws.token, 24).await;
    let id = app
        .connect_integration(&ws.token, cur_connection(&bucket, PREFIX, REPORT))
        .await;
    app.poll_until(
        &format!("/api/v1/integrations/aws/{id}"),
        &ws.token,
        Duration::from_secs(30),
        |v| v["status"] == "connected",
    )
    .await;
    // Only 2023-05 is in the bucket; 2023-04 was never copied.
    let (d, _may) = gen(&bucket, 21, "2023-05", 200, GenFormat::LegacyCsvGzip);
    upload(&s3, &bucket, d.path()).await;

    let (_, support) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    let (status, queued) = app
        .call(
            "POST",
            &format!("/api/v1/support/integrations/{id}/backfill"),
            Some(&support.plaintext),
            Some(json!({"from": "2023-04", "to": "2023-05"})),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let done = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(60),
            |v| v["backfill"]["in_progress"] == false,
        )
        .await;
    let states: Vec<(&str, &str)> = done["backfill"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("2023-04", "error"), ("2023-05", "ready")],
        "{done:#}"
    );
    let error = done["backfill"]["periods"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("no report delivery for billing period 2023-04"),
        "{error}"
    );

    let (_, notices) = app
        .call("GET", "/api/v1/notifications", Some(&ws.token), None)
        .await;
    let kinds: Vec<&str> = notices["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .filter(|k| k.starts_with("backfill_"))
        .collect();
    // The failed period is reported; the backfill is not "complete".
    assert_eq!(kinds, ["backfill_failed"], "{notices:#}");
    let completed: Option<Option<chrono::DateTime<chrono::Utc>>> =
        sqlx::query_scalar("SELECT completed_at FROM backfills WHERE integration_id::text = $1")
            .bind(&id)
            .fetch_optional(app.db.admin())
            .await
            .unwrap();
    assert_eq!(
        completed,
        Some(None),
        "a failed backfill is not marked completed"
    );
    let failed = notices["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "backfill_failed")
        .unwrap();
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("2023-04") && message.contains("no report delivery"),
        "{message}"
    );
}
