//! Saved cost reports (`/api/v1/reports`, issue 20) and the month-end forecast
//! (`/api/v1/costs/forecast`): CRUD by admins, read by members; a report's costs are exactly
//! `/costs`'s answer to the same question, JSON and CSV; a filtered report survives the
//! revocation of the integration whose costs it showed, empty; another workspace's report is
//! 404 on every route; bad definitions are 400s naming the item.

use chrono::{Datelike, Months, NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, Role, WorkspaceId};
use costline_testkit::{load_costs, spawn_app, TestApp, TestCost, TestWorkspace};
use costline_web::views::{ForecastOut, ReportOut, ReportsOut};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn may(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 5, day).unwrap()
}

/// May 2024: two accounts, two services, two regions, cents and credits.
fn may_costs() -> Vec<TestCost> {
    let mut costs = Vec::new();
    for day in 1..=20u32 {
        costs.push(TestCost {
            day: may(day),
            account: if day % 2 == 0 {
                "111111111111"
            } else {
                "222222222222"
            },
            service: "AmazonEC2",
            region: if day % 3 == 0 {
                "eu-west-1"
            } else {
                "us-east-1"
            },
            cost: Decimal::new(i64::from(day) * 101, 2),
        });
        costs.push(TestCost {
            day: may(day),
            account: "111111111111",
            service: "AmazonS3",
            region: "us-east-1",
            cost: if day == 7 { dec("-0.5") } else { dec("0.0001") },
        });
    }
    costs
}

/// A workspace with an integration whose May 2024 costs are loaded.
async fn workspace_with_costs(app: &TestApp, name: &str) -> (TestWorkspace, IntegrationId) {
    let ws = app
        .create_workspace(name, &format!("owner@{}.test", name.to_lowercase()))
        .await;
    let created = app.create_integration(&ws.token).await;
    let (wid, int): (WorkspaceId, IntegrationId) = (
        ws.workspace_id.parse().unwrap(),
        created["id"].as_str().unwrap().parse().unwrap(),
    );
    let period: BillingPeriod = "2024-05".parse().unwrap();
    load_costs(&app.db.store, wid, int, period, "asm-1", &may_costs()).await;
    (ws, int)
}

async fn create(app: &TestApp, token: &str, body: Value) -> ReportOut {
    let (status, created) = app
        .call("POST", "/api/v1/reports", Some(token), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    serde_json::from_value(created).unwrap()
}

async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.call("GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn text(app: &TestApp, token: &str, path: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

fn ec2_by_day_and_region() -> Value {
    json!({
        "name": "EC2 by day and region",
        "filters": ["service:AmazonEC2", "!account:222222222222"],
        "group_by": ["day", "region"],
        "metric": "amortized",
        "range": {"start": "2024-05-01", "end": "2024-06-01"},
        "chart": "line",
    })
}

const EC2_COSTS_QUERY: &str = "start=2024-05-01&end=2024-06-01&group_by=day,region&metric=amortized&filter=service%3AAmazonEC2&filter=%21account%3A222222222222";

#[tokio::test]
async fn reports_round_trip_and_answer_exactly_as_costs_does() {
    let app = spawn_app().await;
    let (ws, _) = workspace_with_costs(&app, "Acme").await;

    let created = create(&app, &ws.token, ec2_by_day_and_region()).await;
    assert_eq!(created.name, "EC2 by day and region");
    assert_eq!(
        created.filters,
        ["service:AmazonEC2", "!account:222222222222"]
    );
    assert_eq!(created.group_by, ["day", "region"]);
    assert_eq!(created.metric, "amortized");
    assert_eq!(created.range.start.as_deref(), Some("2024-05-01"));
    assert_eq!(created.range.end.as_deref(), Some("2024-06-01"));
    assert_eq!(created.range.relative, None);
    assert_eq!(created.chart, "line");
    assert_eq!(created.created_by.as_deref(), Some(ws.owner_id.as_str()));
    let path = format!("/api/v1/reports/{}", created.id);
    let read: ReportOut = serde_json::from_value(get_ok(&app, &ws.token, &path).await).unwrap();
    assert_eq!(read, created);
    let list: ReportsOut =
        serde_json::from_value(get_ok(&app, &ws.token, "/api/v1/reports").await).unwrap();
    assert_eq!(list.reports, vec![created.clone()]);

    // The report's costs are /costs's answer to the same question, to the byte.
    let report_costs = get_ok(&app, &ws.token, &format!("{path}/costs")).await;
    let costs = get_ok(&app, &ws.token, &format!("/api/v1/costs?{EC2_COSTS_QUERY}")).await;
    assert_eq!(report_costs, costs);
    // ... and that answer is the independent sum: EC2 of the even days.
    let even_days: Decimal = (1..=20i64)
        .filter(|d| d % 2 == 0)
        .map(|d| Decimal::new(d * 101, 2))
        .sum();
    assert_eq!(dec(report_costs["total"].as_str().unwrap()), even_days);
    assert_eq!(report_costs["rows"].as_array().unwrap().len(), 10);
    let (status, kind, report_csv) =
        text(&app, &ws.token, &format!("{path}/costs?format=csv")).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let (_, _, costs_csv) = text(
        &app,
        &ws.token,
        &format!("/api/v1/costs?{EC2_COSTS_QUERY}&format=csv"),
    )
    .await;
    assert_eq!(report_csv, costs_csv);
    assert!(report_csv.starts_with("day,region,amount\n2024-05-02,us-east-1,2.02\n"));

    // A relative range resolves against today (UTC): last month is the calendar month before.
    let (status, body) = app
        .call(
            "PUT",
            &path,
            Some(&ws.token),
            Some(json!({
                "name": "Everything last month",
                "group_by": ["service"],
                "range": {"relative": "last_month"},
                "chart": "table",
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let updated: ReportOut = serde_json::from_value(body).unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at > created.updated_at);
    assert_eq!(updated.range.relative.as_deref(), Some("last_month"));
    assert_eq!(
        (updated.range.start.clone(), updated.filters.len()),
        (None, 0)
    );
    assert_eq!(
        (updated.metric.as_str(), updated.chart.as_str()),
        ("unblended", "table")
    );
    let read: ReportOut = serde_json::from_value(get_ok(&app, &ws.token, &path).await).unwrap();
    assert_eq!(read, updated);
    let first_of_month = Utc::now().date_naive().with_day(1).unwrap();
    let last_month = first_of_month.checked_sub_months(Months::new(1)).unwrap();
    let report_costs = get_ok(&app, &ws.token, &format!("{path}/costs")).await;
    assert_eq!(report_costs["start"], last_month.to_string());
    assert_eq!(report_costs["end"], first_of_month.to_string());
    let costs = get_ok(
        &app,
        &ws.token,
        &format!("/api/v1/costs?start={last_month}&end={first_of_month}&group_by=service"),
    )
    .await;
    assert_eq!(report_costs, costs);

    // Members read; only admins write.
    let member = app.add_member(&ws, "member@acme.test", Role::Member).await;
    assert_eq!(
        get_ok(&app, &member, &path).await["name"],
        "Everything last month"
    );
    get_ok(&app, &member, &format!("{path}/costs")).await;
    for (method, route, body) in [
        (
            "POST",
            "/api/v1/reports".to_owned(),
            Some(ec2_by_day_and_region()),
        ),
        ("PUT", path.clone(), Some(ec2_by_day_and_region())),
        ("DELETE", path.clone(), None),
    ] {
        let (status, body) = app.call(method, &route, Some(&member), body).await;
        assert_eq!(status, 403, "{method} {route}: {body}");
    }
    let admin = app.add_member(&ws, "admin@acme.test", Role::Admin).await;
    let (status, body) = app.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": created.id, "status": "deleted"}));
    for route in [path.clone(), format!("{path}/costs")] {
        let (status, _) = app.call("GET", &route, Some(&ws.token), None).await;
        assert_eq!(status, 404, "{route}");
    }
    let (status, _) = app.call("DELETE", &path, Some(&ws.token), None).await;
    assert_eq!(status, 404);
    let list: ReportsOut =
        serde_json::from_value(get_ok(&app, &ws.token, "/api/v1/reports").await).unwrap();
    assert!(list.reports.is_empty());
    let audit = get_ok(&app, &ws.token, "/api/v1/audit-events").await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["report.created", "report.updated", "report.deleted"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
}

#[tokio::test]
async fn another_workspaces_report_is_404_on_every_route_with_an_id() {
    let app = spawn_app().await;
    let (acme, _) = workspace_with_costs(&app, "Acme").await;
    let globex = app.create_workspace("Globex", "owner@globex.test").await;
    let report = create(&app, &acme.token, ec2_by_day_and_region()).await;
    let path = format!("/api/v1/reports/{}", report.id);
    let routes = [
        ("GET", path.clone(), None),
        (
            "PUT",
            path.clone(),
            Some(json!({"name": "mine now", "range": {"relative": "last_month"}})),
        ),
        ("DELETE", path.clone(), None),
        ("GET", format!("{path}/costs"), None),
        ("GET", format!("{path}/costs?format=csv"), None),
    ];
    for (method, route, body) in &routes {
        let (status, answer) = app
            .call(method, route, Some(&globex.token), body.clone())
            .await;
        assert_eq!(status, 404, "{method} {route}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
        // Exactly as a report that exists nowhere, and as an id that is no id.
        let nowhere = route.replace(&report.id, &uuid::Uuid::new_v4().to_string());
        let (status, _) = app
            .call(method, &nowhere, Some(&acme.token), body.clone())
            .await;
        assert_eq!(status, 404, "{method} {nowhere}");
        let garbage = route.replace(&report.id, "not-a-report");
        let (status, _) = app
            .call(method, &garbage, Some(&acme.token), body.clone())
            .await;
        assert_eq!(status, 404, "{method} {garbage}");
    }
    let listed: ReportsOut =
        serde_json::from_value(get_ok(&app, &globex.token, "/api/v1/reports").await).unwrap();
    assert!(listed.reports.is_empty());
    // Acme's report is untouched.
    let read: ReportOut = serde_json::from_value(get_ok(&app, &acme.token, &path).await).unwrap();
    assert_eq!(read, report);
}

#[tokio::test]
async fn bad_definitions_are_400s_that_name_the_item() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let with = |patch: Value| {
        let mut body = ec2_by_day_and_region();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"filters": ["service:AmazonEC2", "colour:red"]}),
            "invalid_filter",
            "\"colour:red\"",
        ),
        (
            json!({"filters": ["day:2024-05-01"]}),
            "invalid_filter",
            "\"day:2024-05-01\"",
        ),
        (
            json!({"group_by": ["day", "flavour"]}),
            "invalid_query",
            "\"flavour\"",
        ),
        (
            json!({"group_by": ["day", "day"]}),
            "invalid_query",
            "\"day\" twice",
        ),
        (json!({"metric": "blended"}), "invalid_query", "\"blended\""),
        (
            json!({"range": {"relative": "last_week"}}),
            "invalid_range",
            "last_7_days, last_30_days, month_to_date, last_month or last_12_months",
        ),
        (
            json!({"range": {"start": "2024-05-01"}}),
            "invalid_range",
            "relative",
        ),
        (
            json!({"range": {"start": "2024-06-01", "end": "2024-05-01"}}),
            "invalid_range",
            "must be after",
        ),
        (
            json!({"range": {"start": "May 1", "end": "2024-05-01"}}),
            "invalid_range",
            "\"May 1\"",
        ),
        (json!({"name": "  "}), "invalid_name", "1 to 100"),
        (json!({"name": "n".repeat(101)}), "invalid_name", "got 101"),
        (json!({"chart": "pie"}), "invalid_chart", "\"pie\""),
        (json!({"colour": "red"}), "invalid_json", "colour"),
    ];
    for (patch, code, names) in &cases {
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/reports",
                Some(&ws.token),
                Some(with(patch.clone())),
            )
            .await;
        assert_eq!(status, 400, "{patch}: {body}");
        assert_eq!(body["error"]["code"], *code, "{patch}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{patch}: {message}");
    }
    // A refused change leaves the report as it was.
    let report = create(&app, &ws.token, ec2_by_day_and_region()).await;
    let path = format!("/api/v1/reports/{}", report.id);
    let (status, body) = app
        .call(
            "PUT",
            &path,
            Some(&ws.token),
            Some(with(json!({"filters": ["!service:"]}))),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_filter");
    let read: ReportOut = serde_json::from_value(get_ok(&app, &ws.token, &path).await).unwrap();
    assert_eq!(read, report);
    // The report chooses the question: only the format may be asked of its costs.
    for query in [
        "start=2024-01-01",
        "filter=service%3AAmazonS3",
        "format=xml",
        "colour=red",
    ] {
        let (status, body) = app
            .call(
                "GET",
                &format!("{path}/costs?{query}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
    }
}

#[tokio::test]
async fn a_filtered_report_survives_revocation_of_its_integration_with_empty_rows() {
    let app = spawn_app().await;
    let (ws, int) = workspace_with_costs(&app, "Acme").await;
    let report = create(
        &app,
        &ws.token,
        json!({
            "name": "Account 1111 by service",
            "filters": ["account:111111111111"],
            "group_by": ["service"],
            "range": {"start": "2024-05-01", "end": "2024-06-01"},
        }),
    )
    .await;
    assert_eq!(report.chart, "bar");
    let path = format!("/api/v1/reports/{}", report.id);
    let before = get_ok(&app, &ws.token, &format!("{path}/costs")).await;
    assert_eq!(before["rows"].as_array().unwrap().len(), 2, "{before}");
    assert_ne!(before["total"], "0");

    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{int}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");

    let read: ReportOut = serde_json::from_value(get_ok(&app, &ws.token, &path).await).unwrap();
    assert_eq!(read, report);
    let after = get_ok(&app, &ws.token, &format!("{path}/costs")).await;
    assert_eq!(after["rows"], json!([]), "{after}");
    assert_eq!(after["total"], "0");
    assert_eq!(after["filters"], json!(["account:111111111111"]));
    let costs = get_ok(
        &app,
        &ws.token,
        "/api/v1/costs?start=2024-05-01&end=2024-06-01&group_by=service&filter=account%3A111111111111",
    )
    .await;
    assert_eq!(after, costs);
    let (status, _, csv) = text(&app, &ws.token, &format!("{path}/costs?format=csv")).await;
    assert_eq!((status, csv.as_str()), (200, "service,amount\n"));
}

#[tokio::test]
async fn the_forecast_projects_the_run_rate_of_the_complete_days() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let created = app.create_integration(&ws.token).await;
    let (wid, int): (WorkspaceId, IntegrationId) = (
        ws.workspace_id.parse().unwrap(),
        created["id"].as_str().unwrap().parse().unwrap(),
    );
    let today = Utc::now().date_naive();
    let month = BillingPeriod::containing(today);
    // Day n costs n × 1.01; the day after today (if in the month) does not count yet.
    let mut costs: Vec<TestCost> = (1..=today.day())
        .map(|n| TestCost {
            day: today.with_day(n).unwrap(),
            account: "111111111111",
            service: "AmazonEC2",
            region: "us-east-1",
            cost: Decimal::new(i64::from(n) * 101, 2),
        })
        .collect();
    if let Some(tomorrow) = today.succ_opt().filter(|d| d.month() == today.month()) {
        costs.push(TestCost {
            day: tomorrow,
            account: "111111111111",
            service: "AmazonEC2",
            region: "us-east-1",
            cost: dec("1000"),
        });
    }
    load_costs(&app.db.store, wid, int, month, "asm-1", &costs).await;

    let body = get_ok(&app, &ws.token, "/api/v1/costs/forecast").await;
    let f: ForecastOut = serde_json::from_value(body).unwrap();
    let days_in_month = (month.end() - month.start()).num_days() as u32;
    let n = today.day();
    // Independently: the month to date, and the complete days' average over the rest.
    let month_to_date = Decimal::new(i64::from(n * (n + 1) / 2) * 101, 2);
    let complete = month_to_date - Decimal::new(i64::from(n) * 101, 2);
    let expected = if n == 1 {
        month_to_date
    } else {
        month_to_date + complete * Decimal::from(days_in_month - n) / Decimal::from(n - 1)
    };
    assert_eq!(f.month, month.to_string());
    assert_eq!((f.days_elapsed, f.days_in_month), (n - 1, days_in_month));
    assert_eq!(dec(&f.month_to_date), month_to_date);
    assert_eq!(dec(&f.forecast), expected);
    assert_eq!(
        (f.currency.as_str(), f.metric.as_str()),
        ("USD", "unblended")
    );
    // The month to date is /costs's total for the first of the month through today.
    let costs = get_ok(
        &app,
        &ws.token,
        &format!(
            "/api/v1/costs?start={}&end={}",
            month.start(),
            today.succ_opt().unwrap()
        ),
    )
    .await;
    assert_eq!(costs["total"], f.month_to_date);

    let amortized: ForecastOut = serde_json::from_value(
        get_ok(&app, &ws.token, "/api/v1/costs/forecast?metric=amortized").await,
    )
    .unwrap();
    assert_eq!(amortized.metric, "amortized");
    assert_eq!(dec(&amortized.month_to_date), month_to_date);
    for bad in ["metric=blended", "month=2024-05"] {
        let (status, body) = app
            .call(
                "GET",
                &format!("/api/v1/costs/forecast?{bad}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
    }
    // Another workspace forecasts its own (empty) month.
    let other = app.create_workspace("Globex", "owner@globex.test").await;
    let f: ForecastOut =
        serde_json::from_value(get_ok(&app, &other.token, "/api/v1/costs/forecast").await).unwrap();
    assert_eq!((f.month_to_date.as_str(), f.forecast.as_str()), ("0", "0"));
}
