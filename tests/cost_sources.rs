//! One source per account and period (issue 20), end to end on the emulator: a workspace
//! connects an organization's management account and one of its members, both with a CUR of
//! their own. The management account's CUR includes the member's usage; the member's CUR holds
//! it again. Every cost cell must equal the independent computation on the union counted once
//! (the payer's CUR wins), on every query path; the integration view says which integration
//! supplies each account; revoking the management integration makes the member's own CUR count.

#[path = "support/cur_e2e.rs"]
mod cur_e2e;

use costline_cur::generate::GenFormat;
use costline_testkit::{cur_connection, customer_s3, moto, spawn_app_with_workers, TestApp};
use cur_e2e::{costs, dec, new_bucket, options, sync_until, upload, write, PREFIX};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const MANAGEMENT: &str = "410000000001";
const MEMBER: &str = "410000000002";
const OTHER_MEMBER: &str = "410000000003";

/// Connects a role in `account` with a CUR in `bucket` and returns the integration id.
async fn connect(app: &TestApp, token: &str, account: &str, bucket: &str, report: &str) -> String {
    let created = app.create_integration(token).await;
    let id = created["id"].as_str().unwrap().to_string();
    let mut body = json!({ "role_arn": format!("arn:aws:iam::{account}:role/CostlineReadOnly") });
    body["cur"] = cur_connection(bucket, PREFIX, report)["cur"].clone();
    app.connect_created_integration(token, &id, body).await;
    id
}

/// Rows of `group_by=day,account,service` as a map.
fn cells(body: &Value) -> BTreeMap<(String, String, String), Decimal> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["day"].as_str().unwrap().to_owned(),
                    r["account"].as_str().unwrap().to_owned(),
                    r["service"].as_str().unwrap().to_owned(),
                ),
                dec(&r["amount"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_account_two_integrations_report_is_counted_once_from_the_payers_cur() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Union", "owner@union.test").await;

    // The management account's CUR covers three accounts; the member's own CUR covers only
    // itself, naming the management account as payer (as AWS writes it).
    let mgmt_s3 = customer_s3(&moto.endpoint, MANAGEMENT).await;
    let mgmt_bucket = new_bucket(&mgmt_s3, "union-mgmt").await;
    let mut opts = options(
        &mgmt_bucket,
        "org",
        41,
        "2024-05",
        3_000,
        GenFormat::LegacyCsvGzip,
    );
    opts.account_ids = vec![MANAGEMENT.into(), MEMBER.into(), OTHER_MEMBER.into()];
    opts.accounts = 3;
    let (mgmt_dir, mgmt) = write(&opts);
    upload(&mgmt_s3, &mgmt_bucket, mgmt_dir.path()).await;

    let member_s3 = customer_s3(&moto.endpoint, MEMBER).await;
    let member_bucket = new_bucket(&member_s3, "union-member").await;
    let mut opts = options(
        &member_bucket,
        "own",
        42,
        "2024-05",
        1_500,
        GenFormat::LegacyParquet,
    );
    opts.account_ids = vec![MEMBER.into()];
    opts.accounts = 1;
    opts.payer_account_id = Some(MANAGEMENT.into());
    let (member_dir, member) = write(&opts);
    upload(&member_s3, &member_bucket, member_dir.path()).await;

    // The member connects first: connection order must not decide, the payer's CUR does.
    let member_id = connect(&app, &ws.token, MEMBER, &member_bucket, "own").await;
    sync_until(&app, &ws, &member_id, "the member's period ready", |v| {
        v["cur"]["periods"][0]["status"] == "ready"
    })
    .await;
    let alone = costs(&app, &ws, "start=2024-05-01&end=2024-06-01").await;
    assert_eq!(dec(&alone["total"]), member.expected.unblended, "{alone}");

    let mgmt_id = connect(&app, &ws.token, MANAGEMENT, &mgmt_bucket, "org").await;
    sync_until(&app, &ws, &mgmt_id, "the management period ready", |v| {
        v["cur"]["periods"][0]["status"] == "ready"
    })
    .await;

    // The independent computation on the union, each account once: the management CUR has
    // every account (the member's own CUR adds nothing).
    let want = &mgmt.expected;
    let range = "start=2024-05-01&end=2024-06-01";
    for metric in ["unblended", "amortized"] {
        let body = costs(&app, &ws, &format!("{range}&metric={metric}")).await;
        let expected = if metric == "unblended" {
            want.unblended
        } else {
            want.amortized
        };
        assert_eq!(dec(&body["total"]), expected, "{metric}: {body}");
        assert_eq!(body["source"], "cur");
    }
    let got = cells(&costs(&app, &ws, &format!("{range}&group_by=day,account,service")).await);
    let expected: BTreeMap<(String, String, String), Decimal> = want
        .by_day_account_service
        .iter()
        .map(|((d, a, s), v)| ((d.to_string(), a.clone(), s.clone()), *v))
        .collect();
    assert_eq!(
        got, expected,
        "every day x account x service cell, counted once"
    );

    // Each query path: whole months, daily rollups without accounts, by account, line items
    // (usage type, a tag key not rolled up) and the per-day tag rollups all count once.
    for query in [
        "group_by=service",
        "group_by=day,service",
        "group_by=region,line_item_type",
        "group_by=day,account",
        "group_by=usage_type",
        "group_by=resource",
        "group_by=tag:Team",
        "group_by=service&filter=account:410000000002",
    ] {
        let body = costs(&app, &ws, &format!("{range}&{query}")).await;
        let total = dec(&body["total"]);
        let want_total = if query.contains("filter=account") {
            want.by_day_account_service
                .iter()
                .filter(|((_, a, _), _)| a == MEMBER)
                .map(|(_, v)| *v)
                .sum()
        } else {
            want.unblended
        };
        assert_eq!(total, want_total, "{query}: {body}");
    }
    let by_team = costs(&app, &ws, &format!("{range}&group_by=tag:Team")).await;
    let teams: BTreeMap<String, Decimal> = by_team["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["tag:Team"].as_str()?.to_owned(), dec(&r["amount"]))))
        .collect();
    assert_eq!(teams, want.by_team, "by tag, counted once");

    // The member integration's view says its account's costs come from the management one.
    let (_, view) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{member_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    let row = view["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == MEMBER)
        .cloned()
        .unwrap_or_else(|| panic!("the member's own account is listed: {view:#}"));
    assert_eq!(row["costs_supplied_by"], mgmt_id.as_str(), "{view:#}");

    // Revoking the management integration: the member's own CUR now supplies it.
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{mgmt_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = costs(&app, &ws, range).await;
    assert_eq!(dec(&after["total"]), member.expected.unblended, "{after}");
    let by_day = costs(&app, &ws, &format!("{range}&group_by=day,account,service")).await;
    let expected: BTreeMap<(String, String, String), Decimal> = member
        .expected
        .by_day_account_service
        .iter()
        .map(|((d, a, s), v)| ((d.to_string(), a.clone(), s.clone()), *v))
        .collect();
    assert_eq!(cells(&by_day), expected);
}
