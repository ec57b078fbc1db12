//! `GET /api/v1/costs` filters (issue 20): equality, inequality and sets on every dimension,
//! ANDed, answered the same from the rollups and from the line items, checked against an
//! independent sum of the line items; `format=csv` says the same; a malformed filter is a 400
//! naming it.

use chrono::{NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::cur::{self, FileRecord, LineItemCopy};
use costline_store::line_items::{CopyEncoder, NewLineItem};
use costline_store::rollups::RollupBuilder;
use costline_store::Store;
use costline_testkit::{begin_assembly, line_item, spawn_app, TestApp, TestWorkspace};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// One line item of the test month.
#[derive(Debug, Clone)]
struct Item {
    day: u32,
    account: &'static str,
    service: &'static str,
    region: &'static str,
    usage_type: &'static str,
    resource: &'static str,
    team: Option<&'static str>,
    cost: &'static str,
}

impl Item {
    /// The item's value of an API dimension (`None`: untagged, or no resource).
    fn value(&self, key: &str) -> Option<String> {
        match key {
            "account" => Some(self.account.into()),
            "payer_account" => Some("999999999999".into()),
            "service" => Some(self.service.into()),
            "region" => Some(self.region.into()),
            "line_item_type" => Some("Usage".into()),
            "usage_type" => Some(self.usage_type.into()),
            "resource" => Some(self.resource.to_string()).filter(|r| !r.is_empty()),
            "tag:Team" => self.team.map(str::to_owned),
            "day" => Some(format!("2024-05-{:02}", self.day)),
            other => panic!("no dimension {other}"),
        }
    }
}

fn items() -> Vec<Item> {
    let accounts = ["111111111111", "222222222222", "333333333333"];
    let services = ["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda"];
    let regions = ["us-east-1", "eu-west-1"];
    let teams = [Some("web"), Some("data"), None, Some("ops")];
    let costs = ["1.25", "0.0001", "-0.5", "12", "3.333333", "0"];
    (0..120usize)
        .map(|i| Item {
            day: 1 + (i % 9) as u32,
            account: accounts[i % 3],
            service: services[i % 4],
            region: regions[(i / 3) % 2],
            usage_type: if i % 5 == 0 {
                "BoxUsage:m5.large"
            } else {
                "TimedStorage-ByteHrs"
            },
            resource: match i % 7 {
                0 => "",
                1 | 2 => "i-0aaa",
                _ => "vol-0bbb",
            },
            team: teams[(i / 2) % 4],
            cost: costs[i % 6],
        })
        .collect()
}

/// Loads the month as one assembly, with the rollups summed as the ingest sums them.
async fn load(store: &Store, ws: WorkspaceId, int: IntegrationId, assembly: &str, items: &[Item]) {
    let period: BillingPeriod = "2024-05".parse().unwrap();
    let staging = begin_assembly(store, ws, int, period, assembly).await;
    let mut scope = store.scoped(ws).await.unwrap();
    let tag_keys = cur::tag_keys(&mut scope).await.unwrap();
    scope.commit().await.unwrap();
    let mut enc = CopyEncoder::new(0);
    let mut rollups = RollupBuilder::new(&tag_keys, 1000);
    for (i, item) in items.iter().enumerate() {
        let at = NaiveDate::from_ymd_opt(2024, 5, item.day)
            .unwrap()
            .and_hms_opt(3, 0, 0)
            .unwrap()
            .and_utc();
        let tags: Vec<(String, String)> = item
            .team
            .map(|t| vec![("Team".to_string(), t.to_string())])
            .unwrap_or_default();
        let new = NewLineItem {
            payer_account_id: "999999999999",
            product_code: item.service,
            usage_type: item.usage_type,
            region: item.region,
            resource_id: item.resource,
            tags: &tags,
            ..line_item(at, item.account, Decimal::from_str(item.cost).unwrap())
        };
        enc.push(i as u32 + 1, &new);
        rollups.add(&new);
    }
    let mut copy = LineItemCopy::start(store, &staging).await.unwrap();
    copy.send(&enc.take()).await.unwrap();
    copy.finish().await.unwrap();
    let file = FileRecord {
        key: format!("{assembly}/part-1.csv.gz"),
        file_no: 1,
        bytes: 1,
        rows: items.len() as i64,
    };
    cur::swap_period(store, &staging, &[file], &rollups.finish(), Utc::now())
        .await
        .unwrap();
}

/// The expected rows: the items that pass every filter, summed per group, independently of
/// Costline's parser and queries.
fn expected(
    items: &[Item],
    group_by: &[&str],
    filters: &[&str],
) -> BTreeMap<Vec<Option<String>>, Decimal> {
    let passes = |item: &Item| {
        filters.iter().all(|f| {
            let (negated, f) = match f.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *f),
            };
            let split = if f.starts_with("tag:") {
                f.rfind(':').unwrap()
            } else {
                f.find(':').unwrap()
            };
            let (key, values) = (&f[..split], &f[split + 1..]);
            let value = item.value(key).unwrap_or_default();
            values.split('|').any(|v| v == value) != negated
        })
    };
    let mut sums = BTreeMap::new();
    for item in items.iter().filter(|i| passes(i)) {
        let key: Vec<Option<String>> = group_by.iter().map(|k| item.value(k)).collect();
        *sums.entry(key).or_insert(Decimal::ZERO) += Decimal::from_str(item.cost).unwrap();
    }
    sums
}

async fn costs(app: &TestApp, ws: &TestWorkspace, group_by: &[&str], filters: &[&str]) -> Value {
    let mut path = format!(
        "/api/v1/costs?start=2024-05-01&end=2024-06-01&group_by={}",
        group_by.join(",")
    );
    for f in filters {
        path.push_str(&format!(
            "&filter={}",
            costline_onboarding::percent_encode(f)
        ));
    }
    let (status, body) = app.call("GET", &path, Some(&ws.token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn rows_of(body: &Value, group_by: &[&str]) -> BTreeMap<Vec<Option<String>>, Decimal> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = group_by
                .iter()
                .map(|k| r[*k].as_str().map(str::to_owned))
                .collect();
            (
                key,
                Decimal::from_str(r["amount"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

const QUESTIONS: &[(&[&str], &[&str])] = &[
    (&["service"], &["service:AmazonEC2"]),
    (&["account", "service"], &["!region:us-east-1"]),
    (
        &["day"],
        &["service:AmazonEC2|AmazonS3", "!account:222222222222"],
    ),
    (&["tag:Team"], &["tag:Team:web|data"]),
    (&["service"], &["tag:Team:"]),
    (&["region"], &["!tag:Team:web", "account:111111111111"]),
    (&["usage_type"], &["resource:i-0aaa|vol-0bbb"]),
    (&["resource"], &["!usage_type:BoxUsage:m5.large"]),
    (
        &["service", "tag:Team"],
        &["payer_account:999999999999", "line_item_type:Usage"],
    ),
    (&[], &["service:NoSuchService"]),
];

#[tokio::test]
async fn filters_answer_the_independent_sum_from_rollups_and_from_line_items() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Filters", "owner@filters.test").await;
    let created = app.create_integration(&ws.token).await;
    let (wid, int): (WorkspaceId, IntegrationId) = (
        ws.workspace_id.parse().unwrap(),
        created["id"].as_str().unwrap().parse().unwrap(),
    );
    let store = &app.db.store;
    let items = items();

    // Team is not rolled up: tag questions are summed from the line items.
    load(store, wid, int, "asm-1", &items).await;
    let mut from_items = Vec::new();
    for (group_by, filters) in QUESTIONS {
        let body = costs(&app, &ws, group_by, filters).await;
        let want = expected(&items, group_by, filters);
        assert_eq!(rows_of(&body, group_by), want, "{group_by:?} {filters:?}");
        let total: Decimal = want.values().sum();
        assert_eq!(
            Decimal::from_str(body["total"].as_str().unwrap()).unwrap(),
            total,
            "{group_by:?} {filters:?}"
        );
        from_items.push(body);
    }
    assert!(!expected(&items, &["service"], &["tag:Team:"]).is_empty());

    // With Team rolled up, the same questions come from the tag rollups: the same answers.
    let (status, body) = app
        .call(
            "PUT",
            "/api/v1/costs/tag-keys",
            Some(&ws.token),
            Some(serde_json::json!({"keys": ["Team"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    load(store, wid, int, "asm-2", &items).await;
    for ((group_by, filters), before) in QUESTIONS.iter().zip(&from_items) {
        let body = costs(&app, &ws, group_by, filters).await;
        assert_eq!(body["rows"], before["rows"], "{group_by:?} {filters:?}");
        assert_eq!(body["total"], before["total"]);
    }
}

#[tokio::test]
async fn csv_says_what_json_says_and_malformed_filters_are_named() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Csv", "owner@csv.test").await;
    let created = app.create_integration(&ws.token).await;
    let (wid, int): (WorkspaceId, IntegrationId) = (
        ws.workspace_id.parse().unwrap(),
        created["id"].as_str().unwrap().parse().unwrap(),
    );
    let items = items();
    load(&app.db.store, wid, int, "asm-1", &items).await;

    let json = costs(&app, &ws, &["service", "tag:Team"], &["!region:eu-west-1"]).await;
    let url = format!(
        "{}/api/v1/costs?start=2024-05-01&end=2024-06-01&group_by=service,tag:Team&filter=%21region%3Aeu-west-1&format=csv",
        app.base_url
    );
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(&ws.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("service,tag:Team,amount"));
    let csv_rows: Vec<String> = lines.map(str::to_owned).collect();
    let json_rows: Vec<String> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{},{},{}",
                r["service"].as_str().unwrap(),
                r["tag:Team"].as_str().unwrap_or(""),
                r["amount"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(csv_rows, json_rows);
    assert!(!csv_rows.is_empty());

    for bad in ["service", "colour:red", "day:2024-05-01", "!service:"] {
        let path = format!(
            "/api/v1/costs?start=2024-05-01&end=2024-06-01&filter={}",
            costline_onboarding::percent_encode(bad)
        );
        let (status, body) = app.call("GET", &path, Some(&ws.token), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_filter");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/costs?start=2024-05-01&end=2024-06-01&format=xml",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
}
