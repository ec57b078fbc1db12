//! Report formats as AWS writes them today, end to end on the emulator: ZIP-compressed legacy
//! CSV, monthly and hourly granularity, and real (anonymised) sample files; each delivered to
//! the customer's bucket, ingested by the worker and checked through the cost API against
//! totals computed independently of the parsers.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use costline_cur::generate::{GenFormat, Granularity};
use costline_testkit::{cur_connection, customer_s3, moto, spawn_app_with_workers};
use cur_e2e::{
    assert_period_matches, costs, dec, new_bucket, options, period_view, sync_until, upload, write,
    REPORT,
};
use serde_json::json;
use std::collections::BTreeSet;

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
