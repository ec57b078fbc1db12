//! CUR 2.0 and FOCUS Data Exports end to end on the emulator. For each export format the
//! generator writes a month in the real layout (`<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/`
//! files, `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`) with independently computed
//! totals; the integration is connected to the export, the worker's own first poll ingests it and
//! the cost API must give the generator's totals to the last digit (FOCUS amortized being its
//! `EffectiveCost`). Then a second execution of the export overwrites the month with fewer files
//! and must replace the first whole, the first's leftover file included.
//!
//! With "create new export file" versioning, each execution lands in its own
//! `BILLING_PERIOD=YYYY-MM/<executed_at>-<execution id>/` folder (data and metadata) and the
//! partition folder's manifest names the newest; every older execution stays in the bucket. The
//! second test checks that only the newest execution of a month counts, and a month before it
//! keeps its own.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use costline_cur::generate::{ExportVersioning, GenFormat, GeneratedReport};
use costline_testkit::{
    cur_connection, customer_s3, moto, spawn_app_with_workers, TestApp, TestWorkspace,
};
use cur_e2e::{
    assert_period_matches, integration_view, new_bucket, options, period_view, sync_until, upload,
    upload_rekeyed, write, CUSTOMER, PREFIX,
};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const PERIOD: &str = "2024-03";

/// One Data Export of the test: its format, its export name and the period `format` the API
/// gives it.
struct Export {
    format: GenFormat,
    name: &'static str,
    api_format: &'static str,
    seed: u64,
}

const EXPORTS: [Export; 4] = [
    Export {
        format: GenFormat::Cur2Parquet,
        name: "cur2-parquet",
        api_format: "cur2_parquet",
        seed: 21,
    },
    Export {
        format: GenFormat::Cur2CsvGzip,
        name: "cur2-csv",
        api_format: "cur2_csv_gzip",
        seed: 22,
    },
    Export {
        format: GenFormat::FocusCsvGzip,
        name: "focus",
        api_format: "focus_csv_gzip",
        seed: 23,
    },
    Export {
        format: GenFormat::FocusParquet,
        name: "focus-parquet",
        api_format: "focus_parquet",
        seed: 24,
    },
];

/// The period's state in the integration view matches the generated execution: ready, served,
/// with its row, file and byte counts.
async fn assert_period_state(
    app: &TestApp,
    ws: &TestWorkspace,
    id: &str,
    export: &Export,
    dir: &Path,
    r: &GeneratedReport,
) {
    let period = r.period.to_string();
    let view = period_view(app, ws, id, &period).await;
    let what = format!("{} {period}", export.name);
    assert_eq!(view["status"], "ready", "{what}: {view:#}");
    assert_eq!(view["error"], Value::Null, "{what}: {view:#}");
    assert_eq!(view["assembly_id"], r.assembly_id.as_str(), "{what}");
    assert_eq!(view["live_assembly_id"], r.assembly_id.as_str(), "{what}");
    assert_eq!(view["rows"], r.expected.rows, "{what}: {view:#}");
    assert_eq!(view["format"], export.api_format, "{what}: {view:#}");
    assert_eq!(view["files"], r.data_keys.len(), "{what}: {view:#}");
    let bytes: u64 = r
        .data_keys
        .iter()
        .map(|k| std::fs::metadata(dir.join(k)).unwrap().len())
        .sum();
    assert_eq!(view["bytes"], bytes, "{what}: {view:#}");
    assert!(view["ingested_at"].as_str().is_some(), "{what}: {view:#}");
}

/// Connects the integration to the export `name` under `prefix` in `bucket`, which verifies the
/// role and polls the export once (no sync asked for), and waits until its `periods` periods
/// are ingested. Returns the integration id and its view.
async fn connect_and_ingest(
    app: &TestApp,
    ws: &TestWorkspace,
    bucket: &str,
    prefix: &str,
    name: &str,
    periods: usize,
) -> (String, Value) {
    let id = app
        .connect_integration(&ws.token, cur_connection(bucket, prefix, name))
        .await;
    let view = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(60),
            |v| {
                v["cur"]["periods"].as_array().is_some_and(|p| {
                    p.len() == periods && p.iter().all(|p| p["status"] != "ingesting")
                })
            },
        )
        .await;
    (id, view)
}

/// Asks for a sync and waits until the execution `r` is its period's, done ingesting.
async fn sync_until_served(
    app: &TestApp,
    ws: &TestWorkspace,
    id: &str,
    name: &str,
    r: &GeneratedReport,
) {
    sync_until(
        app,
        ws,
        id,
        &format!("{name}: execution {}", r.assembly_id),
        |v| {
            v["cur"]["periods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["assembly_id"] == r.assembly_id.as_str() && p["status"] != "ingesting")
        },
    )
    .await;
}

async fn export_end_to_end(app: &TestApp, s3: &aws_sdk_s3::Client, export: &Export) {
    let name = export.name;
    let bucket = new_bucket(s3, &format!("{name}-e2e")).await;
    let ws = app
        .create_workspace(name, &format!("owner@{name}.test"))
        .await;

    // The first execution, in the layout AWS writes, complete before the integration connects.
    let (d1, first) = write(&options(
        &bucket,
        name,
        export.seed,
        PERIOD,
        3_000,
        export.format,
    ));
    let data_dir = format!("{PREFIX}/{name}/data/BILLING_PERIOD={PERIOD}/");
    assert_eq!(first.data_keys.len(), 2, "{name}: {:?}", first.data_keys);
    assert!(
        first.data_keys.iter().all(|k| k.starts_with(&data_dir)),
        "{name}: {:?}",
        first.data_keys
    );
    assert_eq!(
        first.manifest_keys,
        vec![format!(
            "{PREFIX}/{name}/metadata/BILLING_PERIOD={PERIOD}/{name}-Manifest.json"
        )]
    );
    upload(s3, &bucket, d1.path()).await;

    // Connecting verifies the role and polls the export once: no sync asked for.
    let (id, view) = connect_and_ingest(app, &ws, &bucket, PREFIX, name, 1).await;
    assert_eq!(view["status"], "connected", "{name}: {view:#}");
    assert_eq!(view["cur"]["status"], "ready", "{name}: {view:#}");
    assert_eq!(
        view["cur"]["periods"].as_array().unwrap().len(),
        1,
        "{name}: {view:#}"
    );
    assert_period_state(app, &ws, &id, export, d1.path(), &first).await;
    assert_period_matches(app, &ws, &first).await;

    // A second execution overwrites the month with other numbers in one file; the first's
    // second file stays in the bucket, named by no manifest any more, and must not count.
    let mut opts = options(
        &bucket,
        name,
        export.seed + 100,
        PERIOD,
        2_000,
        export.format,
    );
    opts.files = 1;
    let (d2, second) = write(&opts);
    assert_ne!(second.assembly_id, first.assembly_id, "{name}");
    assert_eq!(second.manifest_keys, first.manifest_keys, "{name}");
    let leftover = &first.data_keys[1];
    assert!(!second.data_keys.contains(leftover), "{name}");
    upload(s3, &bucket, d2.path()).await;
    sync_until_served(app, &ws, &id, name, &second).await;
    s3.head_object()
        .bucket(&bucket)
        .key(leftover)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: the first execution's {leftover} is gone: {e:?}"));
    assert_period_state(app, &ws, &id, export, d2.path(), &second).await;
    assert_period_matches(app, &ws, &second).await;
}

#[tokio::test]
async fn cur2_and_focus_exports_become_exact_costs_and_executions_replace_each_other() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    // One workspace and bucket per export, all at once.
    let [a, b, c, d] = &EXPORTS;
    tokio::join!(
        export_end_to_end(&app, &s3, a),
        export_end_to_end(&app, &s3, b),
        export_end_to_end(&app, &s3, c),
        export_end_to_end(&app, &s3, d),
    );
}

/// One "create new export file" execution of the export `name` for `period`: `rows` line items
/// in `files` files, run at `executed_at`.
struct Execution<'a> {
    seed: u64,
    period: &'a str,
    rows: usize,
    files: usize,
    executed_at: &'a str,
}

/// Writes the execution and checks its keys: its data files in its own folder, its manifest
/// there and over the partition folder's.
fn create_new_execution(
    bucket: &str,
    name: &str,
    format: GenFormat,
    e: Execution<'_>,
) -> (tempfile::TempDir, GeneratedReport) {
    let mut opts = options(bucket, name, e.seed, e.period, e.rows, format);
    opts.files = e.files;
    opts.versioning = ExportVersioning::CreateNew {
        executed_at: e.executed_at.parse().unwrap(),
    };
    let (dir, r) = write(&opts);
    let period = e.period;
    let folder = format!("{}-{}", e.executed_at, r.assembly_id);
    let data = format!("{PREFIX}/{name}/data/BILLING_PERIOD={period}/{folder}/");
    assert!(
        r.data_keys.iter().all(|k| k.starts_with(&data)),
        "{name}: {:?}",
        r.data_keys
    );
    let metadata = format!("{PREFIX}/{name}/metadata/BILLING_PERIOD={period}");
    assert_eq!(
        r.manifest_keys,
        vec![
            format!("{metadata}/{folder}/{name}-Manifest.json"),
            format!("{metadata}/{name}-Manifest.json"),
        ],
        "{name}"
    );
    (dir, r)
}

async fn create_new_end_to_end(app: &TestApp, s3: &aws_sdk_s3::Client, export: &Export) {
    const OLDER: &str = "2024-02";
    let name = &format!("{}-new", export.name);
    let bucket = new_bucket(s3, name).await;
    let ws = app
        .create_workspace(name, &format!("owner@{name}.test"))
        .await;

    // February's final execution and March's first, as AWS leaves them in the bucket.
    let (d0, older) = create_new_execution(
        &bucket,
        name,
        export.format,
        Execution {
            seed: export.seed + 200,
            period: OLDER,
            rows: 1_500,
            files: 2,
            executed_at: "2024-03-03T04:05:06.789Z",
        },
    );
    upload(s3, &bucket, d0.path()).await;
    let (d1, first) = create_new_execution(
        &bucket,
        name,
        export.format,
        Execution {
            seed: export.seed,
            period: PERIOD,
            rows: 3_000,
            files: 2,
            executed_at: "2024-03-20T06:07:08.009Z",
        },
    );
    upload(s3, &bucket, d1.path()).await;

    let (id, view) = connect_and_ingest(app, &ws, &bucket, PREFIX, name, 2).await;
    assert_eq!(view["cur"]["status"], "ready", "{name}: {view:#}");
    for (dir, r) in [(&d0, &older), (&d1, &first)] {
        assert_period_state(app, &ws, &id, export, dir.path(), r).await;
        assert_period_matches(app, &ws, r).await;
    }

    // March's second execution, in a new folder with other numbers in fewer files; the first
    // execution's files and manifest stay where they are.
    let (d2, second) = create_new_execution(
        &bucket,
        name,
        export.format,
        Execution {
            seed: export.seed + 100,
            period: PERIOD,
            rows: 2_000,
            files: 1,
            executed_at: "2024-03-21T06:07:08.009Z",
        },
    );
    assert_ne!(second.assembly_id, first.assembly_id, "{name}");
    assert_ne!(
        second.expected.unblended, first.expected.unblended,
        "{name}"
    );
    assert!(
        second
            .data_keys
            .iter()
            .all(|k| !first.data_keys.contains(k)),
        "{name}"
    );
    upload(s3, &bucket, d2.path()).await;
    sync_until_served(app, &ws, &id, name, &second).await;
    for key in first.data_keys.iter().chain(&first.manifest_keys[..1]) {
        s3.head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: the first execution's {key} is gone: {e:?}"));
    }
    assert_period_state(app, &ws, &id, export, d2.path(), &second).await;
    assert_period_matches(app, &ws, &second).await;
    // February is untouched: still its own execution, rows and numbers.
    assert_period_state(app, &ws, &id, export, d0.path(), &older).await;
    assert_period_matches(app, &ws, &older).await;
    let periods = integration_view(app, &ws, &id).await["cur"]["periods"].clone();
    let mut rows: Vec<(String, u64)> = periods
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().to_owned(),
                p["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (OLDER.to_owned(), older.expected.rows),
            (PERIOD.to_owned(), second.expected.rows),
        ],
        "{name}: {periods:#}"
    );
}

#[tokio::test]
async fn create_new_export_files_serve_only_each_months_newest_execution() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    // CUR 2.0 and FOCUS, CSV and Parquet: the layout does not depend on the format, the files
    // it leads to are read by different readers.
    let [a, _, c, d] = &EXPORTS;
    tokio::join!(
        create_new_end_to_end(&app, &s3, a),
        create_new_end_to_end(&app, &s3, c),
        create_new_end_to_end(&app, &s3, d),
    );
}

/// An export whose S3 prefix was typed in AWS as `billing/` lives under `billing//<export>/`
/// (AWS joins prefix and name as typed; its manifest's `dataFiles` carry the `//` too). The
/// integration, connected with the prefix `billing/`, must find and ingest it exactly: the SDK
/// has to keep the empty path segment in listings and reads.
#[tokio::test]
async fn an_export_under_a_prefix_typed_with_a_trailing_slash_is_ingested() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    let name = "doubled";
    let bucket = new_bucket(&s3, "doubled-slash").await;
    let ws = app.create_workspace("Doubled", "owner@doubled.test").await;
    let (dir, report) = write(&options(
        &bucket,
        name,
        31,
        PERIOD,
        2_000,
        GenFormat::Cur2Parquet,
    ));
    // The generated tree, re-keyed under `billing//` (the manifest's `dataFiles` too).
    let single = format!("{PREFIX}/{name}/");
    let doubled = format!("{PREFIX}//{name}/");
    upload_rekeyed(&s3, &bucket, dir.path(), |key, body| {
        let key = key.replacen(&single, &doubled, 1);
        let body = if key.ends_with("-Manifest.json") {
            String::from_utf8(body)
                .unwrap()
                .replace(&format!("/{single}"), &format!("/{doubled}"))
                .into_bytes()
        } else {
            body
        };
        (key, body)
    })
    .await;
    let (_, view) = connect_and_ingest(&app, &ws, &bucket, &format!("{PREFIX}/"), name, 1).await;
    let period = &view["cur"]["periods"][0];
    assert_eq!(
        period["assembly_id"],
        report.assembly_id.as_str(),
        "{view:#}"
    );
    assert_eq!(period["rows"], report.expected.rows, "{view:#}");
    assert_period_matches(&app, &ws, &report).await;
}
