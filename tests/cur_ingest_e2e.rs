//! CUR ingestion end to end on the emulator: reports generated with independently computed
//! totals are put into the customer's bucket, the integration syncs, and the cost API must give
//! the generator's totals to the last digit; a new assembly replaces the old one whole; a corrupt
//! file fails the period by name and leaves the previous numbers; other workspaces see nothing.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use costline_cur::generate::GenFormat;
use costline_testkit::{cur_connection, customer_s3, moto, spawn_app_with_workers};
use cur_e2e::{
    assert_period_matches, costs, dec, gen, new_bucket, period_view, sync_until, upload, CUSTOMER,
    PREFIX, REPORT,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn reports_in_the_bucket_become_exact_costs_and_assemblies_replace_each_other() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    let bucket = new_bucket(&s3, "cur-e2e").await;

    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Globex", "owner@globex.test").await;
    let id = app
        .connect_integration(&ws.token, cur_connection(&bucket, PREFIX, REPORT))
        .await;

    // Nothing delivered yet.
    let view = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(30),
            |v| v["status"] == "connected",
        )
        .await;
    assert_eq!(view["cur"]["status"], "awaiting_first_report", "{view:#}");
    assert_eq!(view["cur"]["periods"], json!([]));

    // A legacy CSV gzip month and a legacy Parquet month.
    let (_d1, jan) = gen(&bucket, 1, "2024-01", 3_000, GenFormat::LegacyCsvGzip);
    let (_d2, feb) = gen(&bucket, 2, "2024-02", 2_000, GenFormat::LegacyParquet);
    upload(&s3, &bucket, _d1.path()).await;
    upload(&s3, &bucket, _d2.path()).await;
    let view = sync_until(&app, &ws, &id, "both periods ready", |v| {
        let p = v["cur"]["periods"].as_array().unwrap();
        p.len() == 2 && p.iter().all(|p| p["status"] == "ready")
    })
    .await;
    assert_eq!(view["cur"]["status"], "ready", "{view:#}");
    let jan_view = period_view(&app, &ws, &id, "2024-01").await;
    assert_eq!(jan_view["assembly_id"], jan.assembly_id.as_str());
    assert_eq!(jan_view["rows"], jan.expected.rows);
    assert!(jan_view["ingested_at"].as_str().is_some(), "{jan_view}");
    let feb_view = period_view(&app, &ws, &id, "2024-02").await;
    assert_eq!(feb_view["rows"], feb.expected.rows);
    assert_period_matches(&app, &ws, &jan).await;
    assert_period_matches(&app, &ws, &feb).await;

    // February's line items gone, as migration 0014 left every period: its rollups still serve,
    // it stays ready, and the next poll ingests it again.
    let sys = app.db.admin();
    let live: String = sqlx::query_scalar(
        "SELECT live_table FROM cur_periods WHERE billing_period = '2024-02-01'",
    )
    .fetch_one(sys)
    .await
    .unwrap();
    sqlx::query(&format!("DROP TABLE cur_parts.{live}"))
        .execute(sys)
        .await
        .unwrap();
    sqlx::query("UPDATE cur_periods SET live_table = NULL WHERE billing_period = '2024-02-01'")
        .execute(sys)
        .await
        .unwrap();
    let view = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await
        .1;
    assert_eq!(view["cur"]["status"], "ready", "{view:#}");
    let body = costs(
        &app,
        &ws,
        "start=2024-02-01&end=2024-03-01&group_by=service",
    )
    .await;
    assert_eq!(
        dec(&body["total"]),
        feb.expected.unblended,
        "the rollups still serve"
    );
    sync_until(&app, &ws, &id, "the sync to be queued", |_| true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored: bool = sqlx::query_scalar(
            "SELECT live_table IS NOT NULL FROM cur_periods WHERE billing_period = '2024-02-01'",
        )
        .fetch_one(sys)
        .await
        .unwrap();
        if stored {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "February's line items are stored again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        period_view(&app, &ws, &id, "2024-02").await["rows"],
        feb.expected.rows
    );
    assert_period_matches(&app, &ws, &feb).await;

    // Both months at once.
    let body = costs(&app, &ws, "start=2024-01-01&end=2024-03-01").await;
    assert_eq!(
        dec(&body["total"]),
        jan.expected.unblended + feb.expected.unblended
    );

    // The first report was announced once, in the console.
    let mut scope = app
        .db
        .store
        .scoped(ws.workspace_id.parse().unwrap())
        .await
        .unwrap();
    let notices = costline_store::notifications::list(&mut scope, 50)
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let firsts = notices
        .iter()
        .filter(|n| n.kind == "cur_first_report")
        .count();
    assert_eq!(firsts, 1, "{notices:?}");

    // Another workspace sees none of it.
    let body = costs(
        &app,
        &other,
        "start=2024-01-01&end=2024-03-01&group_by=account",
    )
    .await;
    assert_eq!(body["rows"], json!([]));
    assert_eq!(dec(&body["total"]), Decimal::ZERO);
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A second assembly of January replaces the first whole.
    let (_d3, jan2) = gen(&bucket, 3, "2024-01", 2_500, GenFormat::LegacyCsvGzip);
    assert_ne!(jan2.assembly_id, jan.assembly_id);
    upload(&s3, &bucket, _d3.path()).await;
    sync_until(&app, &ws, &id, "the second January assembly", |v| {
        v["cur"]["periods"].as_array().unwrap().iter().any(|p| {
            p["period"] == "2024-01"
                && p["status"] == "ready"
                && p["assembly_id"] == jan2.assembly_id.as_str()
        })
    })
    .await;
    assert_period_matches(&app, &ws, &jan2).await;
    assert_eq!(
        period_view(&app, &ws, &id, "2024-01").await["rows"],
        jan2.expected.rows
    );

    // A third assembly with a corrupt gzip file fails January by name; the second stays.
    let (d4, jan3) = gen(&bucket, 4, "2024-01", 2_000, GenFormat::LegacyCsvGzip);
    let bad_key = jan3.data_keys[1].clone();
    let bad_path = d4.path().join(&bad_key);
    let good = std::fs::read(&bad_path).unwrap();
    let mut corrupt = good[..good.len() / 2].to_vec();
    corrupt.extend(std::iter::repeat_n(0xA5u8, 4096));
    std::fs::write(&bad_path, corrupt).unwrap();
    upload(&s3, &bucket, d4.path()).await;
    sync_until(&app, &ws, &id, "January to fail", |v| {
        v["cur"]["periods"].as_array().unwrap().iter().any(|p| {
            p["period"] == "2024-01"
                && p["status"] == "error"
                && p["assembly_id"] == jan3.assembly_id.as_str()
        })
    })
    .await;
    let failed = period_view(&app, &ws, &id, "2024-01").await;
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains(&bad_key),
        "the error names the file: {error}"
    );
    assert!(
        error.contains("gzip"),
        "the error says what is wrong: {error}"
    );
    eprintln!("corrupt file error: {error}");
    assert_eq!(failed["rows"], jan2.expected.rows, "{failed}");
    assert_eq!(failed["live_assembly_id"], jan2.assembly_id.as_str());
    assert_period_matches(&app, &ws, &jan2).await;

    // A (manifest-less) March file without cost columns fails March, naming file and columns.
    let march_key = format!("{PREFIX}/{REPORT}/20240301-20240401/{REPORT}-00001.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(
        &mut gz,
        b"identity/LineItemId,bill/BillingPeriodStartDate,lineItem/UsageStartDate,lineItem/UsageEndDate,bill/PayerAccountId,lineItem/UsageAccountId\nx,2024-03-01T00:00:00Z,2024-03-01T00:00:00Z,2024-03-01T01:00:00Z,111111111111,111111111111\n",
    )
    .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key(&march_key)
        .body(gz.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    sync_until(&app, &ws, &id, "March to fail", |v| {
        v["cur"]["periods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["period"] == "2024-03" && p["status"] == "error")
    })
    .await;
    let march = period_view(&app, &ws, &id, "2024-03").await;
    let error = march["error"].as_str().unwrap();
    for needle in [
        march_key.as_str(),
        "lineItem/LineItemType",
        "lineItem/ProductCode",
        "lineItem/UnblendedCost",
    ] {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
    assert_eq!(
        march["rows"],
        Value::Null,
        "nothing served for March: {march}"
    );
    assert_period_matches(&app, &ws, &jan2).await;
    assert_period_matches(&app, &ws, &feb).await;
}

#[tokio::test]
async fn a_bucket_outside_us_east_1_is_ingested_from_its_own_region() {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let s3 = customer_s3(&moto.endpoint, CUSTOMER).await;
    let frankfurt = aws_sdk_s3::Client::from_conf(
        s3.config()
            .to_builder()
            .region(aws_config::Region::new("eu-central-1"))
            .build(),
    );
    let bucket = format!(
        "cur-frankfurt-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    frankfurt
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuCentral1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let id = app
        .connect_integration(&ws.token, cur_connection(&bucket, PREFIX, REPORT))
        .await;
    let (dir, march) = gen(&bucket, 7, "2024-03", 500, GenFormat::LegacyCsvGzip);
    upload(&frankfurt, &bucket, dir.path()).await;
    sync_until(&app, &ws, &id, "the Frankfurt period ready", |v| {
        v["cur"]["periods"]
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0]["status"] == "ready")
    })
    .await;
    assert_period_matches(&app, &ws, &march).await;
}

#[tokio::test]
async fn bad_cost_queries_are_refused_with_the_fix() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    for (query, needle) in [
        ("end=2024-02-01", "start is required"),
        ("start=2024-01-01&end=2024-13-01", "end must be a date"),
        ("start=2024-02-01&end=2024-01-01", "must be after start"),
        (
            "start=2024-01-01&end=2024-02-01&group_by=operation",
            "unknown group_by key",
        ),
        ("start=2024-01-01&end=2024-02-01&group_by=day,day", "twice"),
        (
            "start=2024-01-01&end=2024-02-01&metric=blended",
            "unknown metric",
        ),
        (
            "start=2024-01-01&end=2024-02-01&group_by=tag:",
            "unknown group_by key",
        ),
    ] {
        let (status, body) = app
            .call(
                "GET",
                &format!("/api/v1/costs?{query}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let body = costs(
        &app,
        &ws,
        "start=2024-01-01&end=2024-02-01&group_by=service&metric=amortized",
    )
    .await;
    assert_eq!(
        body,
        json!({"currency": "USD", "metric": "amortized", "start": "2024-01-01", "end": "2024-02-01", "group_by": ["service"], "filters": [], "source": "cur", "rows": [], "total": "0"})
    );
}
