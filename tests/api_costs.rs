//! CUR storage and the cost API without AWS: assemblies loaded straight through the store.
//!
//! - readers see the previous assembly until the swap commits, then only the new one;
//! - a failed load leaves the served assembly in place;
//! - line item partitions are unreachable for the application role except through RLS;
//! - `GET /api/v1/costs` validates its parameters and sums exactly.

use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::costs::{self, CostDimension, CostMetric, CostQuery};
use costline_store::cur::{self, FileRecord, LineItemCopy};
use costline_store::line_items::{CopyEncoder, NewLineItem};
use costline_store::rollups::{PeriodRollups, RollupBuilder};
use costline_store::Store;
use costline_testkit::{begin_assembly, rollup_rows, spawn_app, TestApp, TestWorkspace};
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn period() -> BillingPeriod {
    "2024-03".parse().unwrap()
}

fn at(day: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2024, 3, day)
        .unwrap()
        .and_hms_opt(5, 0, 0)
        .unwrap()
        .and_utc()
}

async fn integration(app: &TestApp, ws: &TestWorkspace) -> (WorkspaceId, IntegrationId) {
    let created = app.create_integration(&ws.token).await;
    (
        ws.workspace_id.parse().unwrap(),
        created["id"].as_str().unwrap().parse().unwrap(),
    )
}

/// Starts an ingest of `assembly`: the period expects it, and its empty staging table.
async fn begin(store: &Store, ws: WorkspaceId, int: IntegrationId, assembly: &str) -> cur::Staging {
    begin_assembly(store, ws, int, period(), assembly).await
}

/// Loads one assembly: `items` as (day, account, service, unblended, tag Team) rows.
async fn load(
    store: &Store,
    ws: WorkspaceId,
    int: IntegrationId,
    assembly: &str,
    items: &[(u32, &str, &str, &str, Option<&str>)],
) -> cur::Staging {
    let staging = begin(store, ws, int, assembly).await;
    let mut enc = CopyEncoder::new(0);
    for (i, (day, account, service, cost, team)) in items.iter().enumerate() {
        let tags: Vec<(String, String)> = team
            .map(|t| vec![("Team".to_string(), t.to_string())])
            .unwrap_or_default();
        enc.push(
            i as u32 + 1,
            &NewLineItem {
                usage_start: at(*day),
                usage_end: at(*day),
                payer_account_id: "111111111111",
                usage_account_id: account,
                line_item_type: "Usage",
                product_code: service,
                usage_type: "BoxUsage\t\"x\"\\y",
                operation: "RunInstances",
                region: "us-east-1",
                availability_zone: "",
                resource_id: "i-1",
                usage_amount: Decimal::ONE,
                pricing_unit: "Hrs",
                unblended_rate: None,
                unblended_cost: dec(cost),
                net_unblended_cost: None,
                amortized_cost: dec(cost) * Decimal::TWO,
                net_amortized_cost: None,
                public_on_demand_cost: None,
                currency: "USD",
                tags: &tags,
            },
        );
    }
    let mut copy = LineItemCopy::start(store, &staging).await.unwrap();
    copy.send(&enc.take()).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), items.len() as u64);
    staging
}

async fn total(store: &Store, ws: WorkspaceId, metric: CostMetric) -> Decimal {
    let mut scope = store.scoped(ws).await.unwrap();
    let answer = costs::query(
        &mut scope,
        &CostQuery {
            start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            end: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
            group_by: vec![],
            filters: Vec::new(),
            metric,
        },
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();
    answer.total
}

fn file(rows: i64) -> Vec<FileRecord> {
    vec![FileRecord {
        key: "cur/r/20240301-20240401/a/r-1.csv.gz".into(),
        file_no: 0,
        bytes: 10,
        rows,
    }]
}

#[tokio::test]
async fn readers_see_the_previous_assembly_until_the_swap_commits() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let (ws, int) = integration(&app, &acme).await;
    let store = &app.db.store;

    let a = load(
        store,
        ws,
        int,
        "asm-a",
        &[
            (1, "222222222222", "AmazonEC2", "1.10", Some("web")),
            (2, "222222222222", "AmazonS3", "0.000001", None),
        ],
    )
    .await;
    let first = cur::swap_period(store, &a, &file(2), &PeriodRollups::FromTable, Utc::now())
        .await
        .unwrap();
    assert_eq!(first.rows, 2);
    assert!(first.first_report);
    assert_eq!(
        total(store, ws, CostMetric::Unblended).await,
        dec("1.100001")
    );
    assert_eq!(
        total(store, ws, CostMetric::Amortized).await,
        dec("2.200002")
    );

    // Assembly B is loaded and swapped, but not yet committed: readers still see A.
    let b = load(
        store,
        ws,
        int,
        "asm-b",
        &[(3, "333333333333", "AmazonRDS", "5.00", Some("db"))],
    )
    .await;
    let pending = cur::prepare_swap(store, &b, &file(1), &PeriodRollups::FromTable, Utc::now())
        .await
        .unwrap();
    assert!(!pending.outcome().first_report);
    assert_eq!(
        total(store, ws, CostMetric::Unblended).await,
        dec("1.100001")
    );
    let mut scope = store.scoped(ws).await.unwrap();
    let p = cur::period(&mut scope, int, period())
        .await
        .unwrap()
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(p.live_assembly_id.as_deref(), Some("asm-a"));
    pending.commit().await.unwrap();
    assert_eq!(total(store, ws, CostMetric::Unblended).await, dec("5.00"));

    let mut scope = store.scoped(ws).await.unwrap();
    let p = cur::period(&mut scope, int, period())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.status.as_str(), p.live_assembly_id.as_deref(), p.rows),
        ("ready", Some("asm-b"), Some(1))
    );
    assert_eq!(
        cur::line_item_count(&mut scope, int, period())
            .await
            .unwrap(),
        1,
        "A's rows are gone, not mixed in"
    );
    scope.commit().await.unwrap();

    // A failed load of C leaves B served.
    let c = load(
        store,
        ws,
        int,
        "asm-c",
        &[(4, "444444444444", "AWSLambda", "9", None)],
    )
    .await;
    cur::drop_staging(store, &c).await.unwrap();
    let mut scope = store.scoped(ws).await.unwrap();
    cur::fail_period(
        &mut scope,
        int,
        period(),
        "asm-c",
        "file x is corrupt",
        Utc::now(),
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(total(store, ws, CostMetric::Unblended).await, dec("5.00"));
    let mut scope = store.scoped(ws).await.unwrap();
    let p = cur::period(&mut scope, int, period())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.status.as_str(), p.live_assembly_id.as_deref()),
        ("error", Some("asm-b"))
    );
    scope.commit().await.unwrap();

    // Revoking the integration drops its partitions.
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{int}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(total(store, ws, CostMetric::Unblended).await, Decimal::ZERO);
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'cur_parts'",
    )
    .fetch_one(store.system())
    .await
    .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn line_items_are_reachable_only_through_rls() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let globex = app.create_workspace("Globex", "owner@globex.test").await;
    let (ws_a, int_a) = integration(&app, &acme).await;
    let (ws_b, _) = integration(&app, &globex).await;
    let store = &app.db.store;
    let a = load(
        store,
        ws_a,
        int_a,
        "asm-a",
        &[(1, "222222222222", "AmazonEC2", "7", None)],
    )
    .await;
    cur::swap_period(store, &a, &file(1), &PeriodRollups::FromTable, Utc::now())
        .await
        .unwrap();

    // B's scope sees nothing of A, even without a workspace filter.
    let mut scope = store.scoped(ws_b).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cur_line_item_chunks")
        .fetch_one(scope.tx())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cur_daily_costs")
        .fetch_one(scope.tx())
        .await
        .unwrap();
    assert_eq!(n, 0);
    scope.commit().await.unwrap();
    assert_eq!(
        total(store, ws_b, CostMetric::Unblended).await,
        Decimal::ZERO
    );
    assert_eq!(total(store, ws_a, CostMetric::Unblended).await, dec("7"));

    // The partition itself is out of the application role's reach.
    let mut scope = store.scoped(ws_a).await.unwrap();
    let err = sqlx::query(&format!("SELECT count(*) FROM cur_parts.{}", a.table()))
        .execute(scope.tx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn costs_by_tag_come_from_tag_rollups_or_line_items() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let (ws, int) = integration(&app, &acme).await;
    let store = &app.db.store;
    let items = [
        (1, "222222222222", "AmazonEC2", "1.5", Some("web")),
        (1, "222222222222", "AmazonEC2", "2.25", Some("web")),
        (2, "333333333333", "AmazonS3", "0.125", Some("data")),
        (2, "333333333333", "AmazonS3", "10", None),
    ];
    let s = load(store, ws, int, "asm-a", &items).await;
    cur::swap_period(store, &s, &file(4), &PeriodRollups::FromTable, Utc::now())
        .await
        .unwrap();
    let by_team = |scope_store: &Store| {
        let store = scope_store.clone();
        async move {
            let mut scope = store.scoped(ws).await.unwrap();
            let a = costs::query(
                &mut scope,
                &CostQuery {
                    start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
                    end: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
                    group_by: vec![CostDimension::Tag("Team".into())],
                    filters: Vec::new(),
                    metric: CostMetric::Unblended,
                },
            )
            .await
            .unwrap();
            scope.commit().await.unwrap();
            a
        }
    };
    let from_items = by_team(store).await;
    assert!(!from_items.from_rollups);
    let mut scope = store.scoped(ws).await.unwrap();
    cur::set_tag_keys(&mut scope, &["Team".to_string()])
        .await
        .unwrap();
    scope.commit().await.unwrap();
    // Re-swap the same rows so the tag rollup is built.
    let s = load(store, ws, int, "asm-b", &items).await;
    cur::swap_period(store, &s, &file(4), &PeriodRollups::FromTable, Utc::now())
        .await
        .unwrap();
    let from_rollups = by_team(store).await;
    assert!(from_rollups.from_rollups);
    assert_eq!(from_items.rows, from_rollups.rows);
    let got: Vec<(Option<String>, Decimal)> = from_rollups
        .rows
        .iter()
        .map(|r| (r.keys[0].clone(), r.amount))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("data".into()), dec("0.125")),
            (Some("web".into()), dec("3.75")),
            (None, dec("10")),
        ]
    );
    assert_eq!(from_rollups.total, dec("13.875"));
}

/// Line items of every shape the binary COPY must carry: scales from 0 to 28, negatives, zero
/// with a scale, the largest decimal, NUL in text, unicode and quotes in tags.
fn edge_items() -> Vec<(NewLineItemOwned, Vec<(String, String)>)> {
    let values = [
        "0",
        "0.000",
        "1.50",
        "-0.05",
        "20000",
        "0.0000000001",
        "-123456789.0123456789",
        "79228162514264337593543950335",
        "-0.0000000000000000000000000001",
        "9999.9999",
        "10000",
        "0.1234567890123456789012345678",
    ];
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let tags = match i % 3 {
                0 => vec![("Team".to_owned(), "wéb \"front\", 東京".to_owned())],
                1 => vec![
                    ("Team".to_owned(), "db".to_owned()),
                    ("env".to_owned(), "prod".to_owned()),
                ],
                _ => vec![],
            };
            (
                NewLineItemOwned {
                    day: 1 + (i as u32 % 4),
                    // The largest decimal in groups of its own: summed with a value of 28
                    // decimals it would leave the worker's exact sums, and the swap would fall
                    // back to SQL for every rollup (the comparison below would compare SQL to SQL).
                    account: if i == 7 {
                        "444444444444"
                    } else if i % 2 == 0 {
                        "222222222222"
                    } else {
                        "333333333333"
                    },
                    service: if i == 7 {
                        "AWSLambda"
                    } else if i % 5 == 0 {
                        "AmazonS3"
                    } else {
                        "AmazonEC2"
                    },
                    text: if i == 3 {
                        "has\0nul\ttab\\slash"
                    } else {
                        "plain"
                    },
                    cost: dec(v),
                    net: (i % 4 == 0).then(|| dec(v) - dec("0.01")),
                },
                tags,
            )
        })
        .collect()
}

struct NewLineItemOwned {
    day: u32,
    account: &'static str,
    service: &'static str,
    text: &'static str,
    cost: Decimal,
    net: Option<Decimal>,
}

fn borrow<'a>(o: &'a NewLineItemOwned, tags: &'a [(String, String)]) -> NewLineItem<'a> {
    NewLineItem {
        usage_start: at(o.day),
        usage_end: at(o.day) + chrono::Duration::hours(1),
        payer_account_id: "111111111111",
        usage_account_id: o.account,
        line_item_type: "Usage",
        product_code: o.service,
        usage_type: o.text,
        operation: "RunInstances",
        region: "us-east-1",
        availability_zone: "",
        resource_id: "i-1",
        usage_amount: o.cost,
        pricing_unit: "Hrs",
        unblended_rate: o.net,
        unblended_cost: o.cost,
        net_unblended_cost: o.net,
        amortized_cost: o.cost,
        net_amortized_cost: o.net,
        public_on_demand_cost: o.net,
        currency: "USD",
        tags,
    }
}

/// Loads `items` as one assembly and swaps it in, with the rollups summed by a
/// [`RollupBuilder`] (as the ingest does) or computed by PostgreSQL.
async fn load_and_swap(
    store: &Store,
    ws: WorkspaceId,
    int: IntegrationId,
    assembly: &str,
    items: &[(NewLineItemOwned, Vec<(String, String)>)],
    summed_while_parsing: bool,
) {
    let staging = begin(store, ws, int, assembly).await;
    let mut scope = store.scoped(ws).await.unwrap();
    let tag_keys = cur::tag_keys(&mut scope).await.unwrap();
    scope.commit().await.unwrap();
    let mut enc = CopyEncoder::new(0);
    let mut builder = RollupBuilder::new(&tag_keys, 1000);
    for (i, (item, tags)) in items.iter().enumerate() {
        let new = borrow(item, tags);
        enc.push(i as u32 + 1, &new);
        builder.add(&new);
    }
    let mut copy = LineItemCopy::start(store, &staging).await.unwrap();
    copy.send(&enc.take()).await.unwrap();
    assert_eq!(copy.finish().await.unwrap(), items.len() as u64);
    let rollups = if summed_while_parsing {
        let rollups = builder.finish();
        let PeriodRollups::Computed(built) = &rollups else {
            panic!("the items fit the worker's sums")
        };
        // Every coarser rollup fits too, so the swap writes the worker's sums.
        assert!(built.monthly().is_ok() && built.daily_without_accounts().is_ok());
        assert!(built.daily_by_account().is_ok());
        rollups
    } else {
        PeriodRollups::FromTable
    };
    let swapped = cur::swap_period(
        store,
        &staging,
        &file(items.len() as i64),
        &rollups,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(swapped.rows, items.len() as i64);
}

#[tokio::test]
async fn binary_copy_keeps_every_digit_and_rollups_summed_while_parsing_equal_sql_ones() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let (ws, int) = integration(&app, &acme).await;
    let store = &app.db.store;
    let mut scope = store.scoped(ws).await.unwrap();
    cur::set_tag_keys(&mut scope, &["Team".to_owned(), "env".to_owned()])
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let items = edge_items();

    // PostgreSQL's own GROUP BY over the loaded rows is the reference.
    load_and_swap(store, ws, int, "asm-sql", &items, false).await;
    let from_sql = rollup_rows(store, ws).await;
    load_and_swap(store, ws, int, "asm-rust", &items, true).await;
    let from_rust = rollup_rows(store, ws).await;
    assert_eq!(from_rust, from_sql);
    // The narrow keys (group numbers, migration 0015) still leave one row per dimension set.
    for (table, dims) in [
        ("cur_daily_costs", ""),
        ("cur_daily_tag_costs", "tag_key, tag_value, "),
    ] {
        let (rows, distinct): (i64, i64) = sqlx::query_as(&format!(
            "SELECT count(*), count(DISTINCT ({dims}integration_id, billing_period, day,
                    payer_account_id, usage_account_id, product_code, region, line_item_type,
                    currency))
               FROM {table} WHERE workspace_id = $1"
        ))
        .bind(ws.as_uuid())
        .fetch_one(app.db.admin())
        .await
        .unwrap();
        assert!(rows > 1, "{table} has rows");
        assert_eq!(rows, distinct, "{table}: one row per dimension set");
    }

    // The stored line items read back as the decimals and strings that were sent.
    let mut scope = store.scoped(ws).await.unwrap();
    let stored = cur::line_items(&mut scope, int, period()).await.unwrap();
    assert_eq!(stored.len(), items.len());
    for ((item, tags), li) in items.iter().zip(&stored) {
        let (cost, net, usage_type, start) = (
            li.unblended_cost.to_string(),
            li.net_unblended_cost.map(|n| n.to_string()),
            &li.usage_type,
            li.usage_start.format("%Y-%m-%d %H:%M").to_string(),
        );
        let json_tags: serde_json::Value = serde_json::from_str(&li.tags).unwrap();
        assert_eq!(cost, item.cost.to_string());
        assert_eq!(net, item.net.map(|n| n.to_string()));
        assert_eq!(usage_type, &item.text.replace('\0', ""));
        assert_eq!(start, format!("2024-03-{:02} 05:00", item.day));
        let expected: serde_json::Map<String, serde_json::Value> =
            tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        assert_eq!(json_tags, serde_json::Value::Object(expected));
    }
}

#[tokio::test]
async fn a_question_too_large_for_one_request_is_refused_with_how_to_narrow_it() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Big", "owner@big.test").await;
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/costs?start=2020-01-01&end=2024-01-01&group_by=day",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "query_too_large");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("1100 days"), "{message}");
    // Three years at once are fine.
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/costs?start=2021-01-01&end=2024-01-01&group_by=month",
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_cost_question_runs_under_a_statement_timeout() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Timed", "owner@timed.test").await;
    let workspace: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(workspace).await.unwrap();
    let q = CostQuery {
        start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
        group_by: vec![CostDimension::Service],
        filters: Vec::new(),
        metric: CostMetric::Unblended,
    };
    costs::query(&mut scope, &q).await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(scope.tx())
        .await
        .unwrap();
    assert_eq!(timeout, "20s", "set for the question's transaction");
    scope.commit().await.unwrap();
}
