//! Cost API latency (issue 6: a month of a 50-account organization under 50 ms p95), measured
//! over HTTP against the real server (release build) on a fresh database.
//!
//! Three months of generated legacy CUR (50 accounts, `COSTLINE_BENCH_API_ROWS` line items per
//! month, default 200,000) are parsed and stored through the same path as the ingest (binary
//! COPY, rollups summed while parsing, the period swap, the rollups' statistics refreshed). Then `GET /api/v1/costs` is called for
//! the middle month with each `group_by` the console and customers use, round robin, after a
//! warm-up; an authenticated request that reads nothing (`GET /api/v1/costs/tag-keys`) is the
//! baseline of the HTTP, auth and RLS overhead. Prints p50/p95/p99 per query and overall, and
//! the p95 over the 50 ms target.

use costline_cur::generate::{generate, GenFormat, GenerateOptions};
use costline_cur::{Compression, CsvReader, LineItem};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::cur::{self, FileRecord, LineItemCopy};
use costline_store::line_items::{CopyEncoder, CHUNK_BYTES};
use costline_store::rollups::{RollupBuilder, DEFAULT_MAX_GROUPS};
use costline_store::Store;
use costline_testkit::{begin_assembly, spawn_app};
use costline_workflows::ingest::new_line_item;
use serde_json::json;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 50;
const MONTHS: [(i32, u32); 3] = [(2024, 8), (2024, 9), (2024, 10)];
const QUERIES: [&str; 7] = [
    "group_by=service",
    "group_by=account",
    "group_by=day",
    "group_by=service,account",
    "group_by=region&metric=amortized",
    "group_by=day,account",
    // The widest: no narrow rollup has both, so every daily rollup row of the month is read.
    "group_by=day,region",
];
const ROUNDS: usize = 60;
/// A tag key the workspace does not roll up: answered from the month's line items, decompressed
/// chunk by chunk (outside the 50 ms target, which is about the rollups).
const LINE_ITEM_QUERY: &str = "group_by=tag:Team";
const LINE_ITEM_ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("COSTLINE_BENCH_API_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000);
    let app = spawn_app().await;
    let owner = app.create_workspace("Bench", "bench@example.test").await;
    let (status, created) = app
        .call(
            "POST",
            "/api/v1/integrations/aws",
            Some(&owner.token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let ws: WorkspaceId = owner.workspace_id.parse().unwrap();
    let integration: IntegrationId = created["id"].as_str().unwrap().parse().unwrap();

    let loading = Instant::now();
    for (n, (year, month)) in MONTHS.into_iter().enumerate() {
        let period = BillingPeriod::new(year, month).unwrap();
        load_month(&app.db.store, ws, integration, period, rows, n as u64).await;
    }
    let daily_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM cur_daily_costs")
        .fetch_one(app.db.admin())
        .await
        .unwrap();
    eprintln!(
        "loaded {} months of {rows} line items ({ACCOUNTS} accounts, {daily_rows} daily rollup rows) in {:.1}s",
        MONTHS.len(),
        loading.elapsed().as_secs_f64()
    );

    let month = "start=2024-09-01&end=2024-10-01";
    let mut per_query: Vec<Vec<Duration>> = vec![Vec::new(); QUERIES.len()];
    let mut baseline = Vec::new();
    for round in 0..ROUNDS + 5 {
        for (i, q) in QUERIES.iter().enumerate() {
            let t = Instant::now();
            let (status, body) = app
                .call(
                    "GET",
                    &format!("/api/v1/costs?{month}&{q}"),
                    Some(&owner.token),
                    None,
                )
                .await;
            let took = t.elapsed();
            assert_eq!(status, 200, "{q}: {body}");
            if round >= 5 {
                per_query[i].push(took);
            }
        }
        let t = Instant::now();
        let (status, _) = app
            .call("GET", "/api/v1/costs/tag-keys", Some(&owner.token), None)
            .await;
        assert_eq!(status, 200);
        if round >= 5 {
            baseline.push(t.elapsed());
        }
    }

    let mut line_item_path = Vec::new();
    for _ in 0..LINE_ITEM_ROUNDS {
        let t = Instant::now();
        let (status, body) = app
            .call(
                "GET",
                &format!("/api/v1/costs?{month}&{LINE_ITEM_QUERY}"),
                Some(&owner.token),
                None,
            )
            .await;
        line_item_path.push(t.elapsed());
        assert_eq!(status, 200, "{body}");
    }

    println!();
    println!(
        "Cost API, one month of {ACCOUNTS} accounts ({rows} line items; {ROUNDS} calls per query over HTTP)"
    );
    println!(
        "{:<45} {:>9} {:>9} {:>9}",
        "query", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut all = Vec::new();
    for (q, lat) in QUERIES.iter().zip(per_query.iter_mut()) {
        print_row(q, lat);
        all.extend_from_slice(lat);
    }
    let p95 = print_row("all cost queries", &mut all);
    print_row("baseline: GET /api/v1/costs/tag-keys", &mut baseline);
    print_row(
        &format!("{LINE_ITEM_QUERY} (line items, {LINE_ITEM_ROUNDS} calls)"),
        &mut line_item_path,
    );
    println!(
        "p95 of all cost queries: {:.1} ms = {:.2}x the 50 ms target ({})",
        p95,
        p95 / 50.0,
        if p95 < 50.0 { "met" } else { "missed" }
    );
}

/// Prints p50/p95/p99 in ms; returns p95.
fn print_row(name: &str, lat: &mut [Duration]) -> f64 {
    lat.sort();
    let at = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{name:<45} {:>9.1} {:>9.1} {:>9.1}",
        at(0.50),
        at(0.95),
        at(0.99)
    );
    at(0.95)
}

/// Generates a month of legacy CUR, and stores it as the ingest does.
async fn load_month(
    store: &Store,
    ws: WorkspaceId,
    integration: IntegrationId,
    period: BillingPeriod,
    rows: usize,
    seed: u64,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = GenerateOptions::new(seed, period, rows, GenFormat::LegacyCsvGzip);
    opts.files = 1;
    opts.accounts = ACCOUNTS;
    let report = generate(&opts, dir.path()).expect("generate the month");
    let assembly = report.assembly_id.clone();
    let staging = begin_assembly(store, ws, integration, period, &assembly).await;
    let key = &report.data_keys[0];
    let file = std::fs::File::open(dir.path().join(key)).unwrap();
    let mut reader = CsvReader::with_compression(file, Compression::from_file_name(key)).unwrap();
    let mut item = LineItem::default();
    let mut encoder = CopyEncoder::new(0);
    let mut rollups = RollupBuilder::new(&[], DEFAULT_MAX_GROUPS);
    let mut copy = LineItemCopy::start(store, &staging).await.unwrap();
    let mut n = 0u32;
    while reader.read_into(&mut item).unwrap() {
        n += 1;
        let new = new_line_item(&item);
        encoder.push(n, &new);
        rollups.add(&new);
        if encoder.len() >= CHUNK_BYTES {
            copy.send(&encoder.take()).await.unwrap();
        }
    }
    copy.send(&encoder.take()).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), n as u64);
    cur::swap_period(
        store,
        &staging,
        &[FileRecord {
            key: key.clone(),
            file_no: 0,
            bytes: 0,
            rows: n as i64,
        }],
        &rollups.finish(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    cur::analyze_rollups(store).await.unwrap();
}
