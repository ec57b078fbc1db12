//! Revoking an integration with 10,000,000 ingested line items (issue 7: under one second).
//!
//! The line items are generated in the database (generate_series into the ingest's staging
//! table, then the ingest's own swap), spread over 10 billing periods as a year of reports
//! would be; a second integration of the workspace keeps its data. Then the revocation is
//! timed end to end through the store function the API calls.
//!
//! `COSTLINE_BENCH_REVOKE_ROWS` changes the number of line items (default 10,000,000).

use costline_domain::{BillingPeriod, IntegrationId, UserId, WorkspaceId};
use costline_store::audit::Actor;
use costline_store::cur::{self, FileRecord};
use costline_store::rollups::PeriodRollups;
use costline_store::{integrations, revocation, Store};
use costline_testkit::begin_assembly;
use std::time::Instant;

const PERIODS: i64 = 10;

#[tokio::main]
async fn main() {
    let rows: i64 = std::env::var("COSTLINE_BENCH_REVOKE_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let db = costline_testkit::fresh_store().await;
    let store = &db.store;
    let created =
        costline_store::admin::create_workspace_with_token(store, "Bench", "bench@example.test")
            .await
            .expect("workspace");
    let ws = created.workspace_id;
    let doomed = integration(store, ws, created.owner_id).await;
    let kept = integration(store, ws, created.owner_id).await;

    let load = Instant::now();
    let per_period = rows / PERIODS;
    for n in 0..PERIODS {
        let period = BillingPeriod::new(2024, 1 + n as u32 % 12).unwrap();
        let count = if n == PERIODS - 1 {
            rows - per_period * (PERIODS - 1)
        } else {
            per_period
        };
        load_period(store, ws, doomed, period, count).await;
    }
    load_period(
        store,
        ws,
        kept,
        BillingPeriod::new(2024, 1).unwrap(),
        10_000,
    )
    .await;
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cur_line_items WHERE integration_id = $1")
            .bind(doomed.as_uuid())
            .fetch_one(store.system())
            .await
            .unwrap();
    assert_eq!(stored, rows);
    println!(
        "revocation: loaded {rows} line items in {PERIODS} periods in {:.1}s",
        load.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let revoked = revocation::revoke_integration(store, ws, doomed, &Actor::system())
        .await
        .expect("revoke");
    let took = started.elapsed();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cur_line_items WHERE integration_id = $1")
            .bind(doomed.as_uuid())
            .fetch_one(store.system())
            .await
            .unwrap();
    let kept_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cur_line_items WHERE integration_id = $1")
            .bind(kept.as_uuid())
            .fetch_one(store.system())
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(kept_rows, 10_000);
    println!(
        "revocation: revoked an integration with {rows} line items in {:.1} ms ({} partitions dropped; target < 1000 ms)",
        took.as_secs_f64() * 1000.0,
        revoked.dropped_partitions.len()
    );
    for (step, at) in &revoked.steps {
        println!(
            "revocation:   {step}: done at {:.1} ms",
            at.as_secs_f64() * 1000.0
        );
    }
    if took.as_millis() >= 1000 {
        eprintln!("revocation: SLOWER than the 1 s target");
        std::process::exit(1);
    }
}

async fn integration(store: &Store, ws: WorkspaceId, owner: UserId) -> IntegrationId {
    let mut scope = store.scoped(ws).await.unwrap();
    let integration = integrations::create(&mut scope, owner).await.unwrap();
    scope.commit().await.unwrap();
    integration.id()
}

async fn load_period(
    store: &Store,
    ws: WorkspaceId,
    id: IntegrationId,
    period: BillingPeriod,
    rows: i64,
) {
    let assembly = format!("bench-{period}");
    let staging = begin_assembly(store, ws, id, period, &assembly).await;
    sqlx::query(&format!(
        "INSERT INTO cur_parts.{} (workspace_id, integration_id, billing_period, line_no, usage_start, usage_end,
                payer_account_id, usage_account_id, line_item_type, product_code, usage_type, operation, region,
                availability_zone, resource_id, usage_amount, pricing_unit, unblended_rate, unblended_cost,
                amortized_cost, currency, tags)
         SELECT $1, $2, $3, n, $3::timestamptz + (n % 28) * interval '1 day',
                $3::timestamptz + (n % 28) * interval '1 day' + interval '1 hour',
                '210987654321', '2109876543' || lpad((n % 20)::text, 2, '0'), 'Usage',
                (ARRAY['AmazonEC2','AmazonS3','AmazonRDS','AWSLambda'])[1 + n % 4], 'BoxUsage', 'RunInstances',
                'us-east-1', 'us-east-1a', 'i-' || n, 1, 'Hrs', 0.096, (n % 1000) * 0.001, (n % 1000) * 0.001,
                'USD', '{{}}'
           FROM generate_series(1, $4::bigint) AS n",
        staging.table()
    ))
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(period.start())
    .bind(rows)
    .execute(store.system())
    .await
    .unwrap();
    cur::swap_period(
        store,
        &staging,
        &[FileRecord {
            key: "bench".into(),
            file_no: 1,
            bytes: 0,
            rows,
        }],
        &PeriodRollups::FromTable,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
}
