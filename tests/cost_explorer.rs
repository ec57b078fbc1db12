//! Cost Explorer history before the first CUR (issue 20), on the emulator: moto answers
//! GetCostAndUsage with results the test queues (`/moto-api/static/ce/cost-and-usage-results`,
//! one per distinct request, in order). A standalone account connects; Costline reads 13 months
//! newest first (one month in two pages), the cost API answers them as `cost_explorer`
//! (preliminary) under the CUR's product codes, the request count is shown, and when the CUR of
//! one month lands it replaces that month's preliminary numbers and only that month's. A cap
//! stops the import and says so.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use chrono::{NaiveDate, Utc};
use costline_cur::generate::GenFormat;
use costline_testkit::{
    cur_connection, customer_s3, moto, spawn_app_with_workflow_settings, TestApp, TestWorkspace,
};
use costline_workflows::cost_explorer::history_months;
use cur_e2e::{
    costs, dec, integration_view, new_bucket, options, sync_until, upload, write, PREFIX,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// One ResultsByTime of a day: (account, Cost Explorer service, unblended) groups; the other
/// metrics are fixed fractions so that each can be told apart.
fn day_result(day: NaiveDate, groups: &[(&str, &str, Decimal)]) -> Value {
    let metric = |amount: Decimal| json!({ "Amount": amount.to_string(), "Unit": "USD" });
    json!({
        "TimePeriod": { "Start": day.to_string(), "End": day.succ_opt().unwrap().to_string() },
        "Total": {},
        "Groups": groups.iter().map(|(account, service, amount)| json!({
            "Keys": [account, service],
            "Metrics": {
                "UnblendedCost": metric(*amount),
                "NetUnblendedCost": metric(*amount * Decimal::new(9, 1)),
                "AmortizedCost": metric(*amount * Decimal::new(11, 1)),
            }
        })).collect::<Vec<_>>(),
        "Estimated": true
    })
}

/// Queues GetCostAndUsage answers for requests made with `account`'s credentials.
async fn queue_results(endpoint: &str, account: &str, results: Vec<Value>) {
    let r = reqwest::Client::new()
        .post(format!(
            "{endpoint}/moto-api/static/ce/cost-and-usage-results"
        ))
        .json(&json!({ "account_id": account, "results": results }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);
}

/// The preliminary history the test serves: per month (newest first), EC2 and S3 costs on its
/// first day; the second-newest month comes in two pages (S3 on the second).
struct History {
    results: Vec<Value>,
    /// Unblended by (month `YYYY-MM`, product code).
    by_month_service: BTreeMap<(String, String), Decimal>,
    requests: usize,
}

fn history(account: &str, today: NaiveDate) -> History {
    let mut h = History {
        results: Vec::new(),
        by_month_service: BTreeMap::new(),
        requests: 0,
    };
    for (i, (start, _)) in history_months(today).into_iter().enumerate() {
        let month = start.format("%Y-%m").to_string();
        let ec2 = Decimal::new(1000 + i as i64 * 7, 2);
        let s3 = Decimal::new(250 + i as i64 * 3, 3);
        let ec2_group = (account, "Amazon Elastic Compute Cloud - Compute", ec2);
        let s3_group = (account, "Amazon Simple Storage Service", s3);
        if i == 1 {
            let mut first = json!({ "ResultsByTime": [day_result(start, &[ec2_group])] });
            first["NextPageToken"] = json!("page-2");
            h.results.push(first);
            h.results
                .push(json!({ "ResultsByTime": [day_result(start, &[s3_group])] }));
            h.requests += 2;
        } else {
            h.results
                .push(json!({ "ResultsByTime": [day_result(start, &[ec2_group, s3_group])] }));
            h.requests += 1;
        }
        h.by_month_service
            .insert((month.clone(), "AmazonEC2".into()), ec2);
        h.by_month_service.insert((month, "AmazonS3".into()), s3);
    }
    h
}

async fn connect(app: &TestApp, ws: &TestWorkspace, account: &str, cur: Option<&str>) -> String {
    let created = app.create_integration(&ws.token).await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut body = json!({ "role_arn": format!("arn:aws:iam::{account}:role/CostlineReadOnly") });
    if let Some(bucket) = cur {
        body["cur"] = cur_connection(bucket, PREFIX, "costline")["cur"].clone();
    }
    app.connect_created_integration(&ws.token, &id, body).await;
    id
}

async fn import_done(app: &TestApp, ws: &TestWorkspace, id: &str) -> Value {
    app.poll_until(
        &format!("/api/v1/integrations/aws/{id}"),
        &ws.token,
        Duration::from_secs(60),
        |v| {
            v["cost_explorer"]["status"]
                .as_str()
                .is_some_and(|s| s != "importing")
        },
    )
    .await
}

fn by_month_service(body: &Value) -> BTreeMap<(String, String), (Decimal, String)> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["month"].as_str().unwrap().to_owned(),
                    r["service"].as_str().unwrap().to_owned(),
                ),
                (dec(&r["amount"]), r["source"].as_str().unwrap().to_owned()),
            )
        })
        .collect()
}

#[tokio::test]
async fn preliminary_history_answers_until_each_months_cur_replaces_it() {
    const ACCOUNT: &str = "420000000001";
    let moto = moto().await;
    let app = spawn_app_with_workflow_settings(&moto.endpoint, |_| {}).await;
    let ws = app.create_workspace("Early", "owner@early.test").await;
    let other = app.create_workspace("Other", "owner@other.test").await;
    let today = Utc::now().date_naive();
    let h = history(ACCOUNT, today);
    queue_results(&moto.endpoint, ACCOUNT, h.results).await;

    let s3 = customer_s3(&moto.endpoint, ACCOUNT).await;
    let bucket = new_bucket(&s3, "ce-early").await;
    let id = connect(&app, &ws, ACCOUNT, Some(&bucket)).await;
    let view = import_done(&app, &ws, &id).await;
    let ce = &view["cost_explorer"];
    assert_eq!(ce["status"], "ready", "{view:#}");
    assert_eq!(ce["requests"], h.requests as u64, "{view:#}");
    assert_eq!(ce["months"], history_months(today).len());
    assert_eq!(view["cur"]["status"], "awaiting_first_report");

    let months = history_months(today);
    let first = months.last().unwrap().0;
    let range = format!("start={first}&end={}", today.succ_opt().unwrap());
    let body = costs(&app, &ws, &format!("{range}&group_by=month,service")).await;
    assert_eq!(body["source"], "cost_explorer", "{body:#}");
    let got = by_month_service(&body);
    let want: BTreeMap<_, _> = h
        .by_month_service
        .iter()
        .map(|(k, v)| (k.clone(), (*v, "cost_explorer".to_string())))
        .collect();
    assert_eq!(got, want, "13 months under the CUR's product codes");
    let total: Decimal = h.by_month_service.values().copied().sum();
    assert_eq!(dec(&body["total"]), total);
    let amortized = costs(&app, &ws, &format!("{range}&metric=amortized")).await;
    assert_eq!(dec(&amortized["total"]), total * Decimal::new(11, 1));
    // Cost Explorer knows accounts, not regions: a region group shows null, a filter on a
    // region keeps none of it.
    let by_account = costs(&app, &ws, &format!("{range}&group_by=account,region")).await;
    assert_eq!(
        by_account["rows"].as_array().unwrap().len(),
        1,
        "{by_account}"
    );
    assert_eq!(by_account["rows"][0]["account"], ACCOUNT);
    assert_eq!(by_account["rows"][0]["region"], Value::Null);
    let filtered = costs(&app, &ws, &format!("{range}&filter=region:us-east-1")).await;
    assert_eq!(dec(&filtered["total"]), Decimal::ZERO, "{filtered}");
    // CSV says which rows are preliminary.
    let csv = app
        .client
        .get(format!(
            "{}/api/v1/costs?{range}&group_by=service&format=csv",
            app.base_url
        ))
        .bearer_auth(&ws.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("service,amount,source\n"), "{csv}");
    assert!(csv.contains(",cost_explorer\n"), "{csv}");
    // Another workspace sees none of it.
    let theirs = costs(&app, &other, &range).await;
    assert_eq!(dec(&theirs["total"]), Decimal::ZERO);

    // The CUR of last month lands: that month is the CUR's, every other month still
    // preliminary.
    let (last_month, _) = months[1];
    let mut opts = options(
        &bucket,
        "costline",
        7,
        &last_month.format("%Y-%m").to_string(),
        1_000,
        GenFormat::LegacyCsvGzip,
    );
    opts.account_ids = vec![ACCOUNT.into()];
    opts.accounts = 1;
    let (dir, report) = write(&opts);
    upload(&s3, &bucket, dir.path()).await;
    sync_until(&app, &ws, &id, "last month's CUR ready", |v| {
        v["cur"]["periods"][0]["status"] == "ready"
    })
    .await;
    let body = costs(&app, &ws, &format!("{range}&group_by=month")).await;
    let rows: BTreeMap<String, (Decimal, String)> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["month"].as_str().unwrap().to_owned(),
                (dec(&r["amount"]), r["source"].as_str().unwrap().to_owned()),
            )
        })
        .collect();
    let month_key = last_month.format("%Y-%m").to_string();
    assert_eq!(
        rows[&month_key],
        (report.expected.unblended, "cur".to_string()),
        "the CUR replaced its month"
    );
    for (start, _) in months.iter().filter(|(s, _)| *s != last_month) {
        let key = start.format("%Y-%m").to_string();
        let want: Decimal = h
            .by_month_service
            .iter()
            .filter(|((m, _), _)| *m == key)
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(rows[&key], (want, "cost_explorer".to_string()), "{key}");
    }
    let month_only = costs(
        &app,
        &ws,
        &format!("start={last_month}&end={}", months[0].0),
    )
    .await;
    assert_eq!(month_only["source"], "cur", "{month_only}");
    assert_eq!(dec(&month_only["total"]), report.expected.unblended);

    // Revocation removes the history with the rest.
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let after = costs(&app, &ws, &range).await;
    assert_eq!(dec(&after["total"]), Decimal::ZERO, "{after}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM ce_daily_costs")
        .fetch_one(app.db.admin())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_request_cap_stops_the_import_and_says_so() {
    const ACCOUNT: &str = "420000000002";
    let moto = moto().await;
    let app = spawn_app_with_workflow_settings(&moto.endpoint, |s| {
        s.cost_explorer_request_cap = 3;
    })
    .await;
    let ws = app.create_workspace("Capped", "owner@capped.test").await;
    let today = Utc::now().date_naive();
    let h = history(ACCOUNT, today);
    queue_results(&moto.endpoint, ACCOUNT, h.results).await;

    let id = connect(&app, &ws, ACCOUNT, None).await;
    let view = import_done(&app, &ws, &id).await;
    let ce = &view["cost_explorer"];
    // The newest month took one request, the next two: the third month found the cap.
    assert_eq!(ce["status"], "capped", "{view:#}");
    assert_eq!(ce["requests"], 3);
    assert_eq!(ce["months"], 2);
    let error = ce["error"].as_str().unwrap();
    assert!(
        error.contains("cap of 3") && error.contains("COSTLINE_COST_EXPLORER_MAX_REQUESTS"),
        "{error}"
    );
    let months = history_months(today);
    let body = costs(
        &app,
        &ws,
        &format!(
            "start={}&end={}&group_by=month",
            months.last().unwrap().0,
            today.succ_opt().unwrap()
        ),
    )
    .await;
    let got: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["month"].as_str().unwrap())
        .collect();
    let want: Vec<String> = months[..2]
        .iter()
        .rev()
        .map(|(s, _)| s.format("%Y-%m").to_string())
        .collect();
    assert_eq!(got, want, "the two newest months, complete");

    // A sync does not read again: each request costs the customer.
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        integration_view(&app, &ws, &id).await["cost_explorer"]["requests"],
        3
    );
}
