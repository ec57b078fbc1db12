//! The support API (issue 8): support staff only (403 for every customer token, 401 without a
//! token), every view and action in the customer's audit log, backfill queues one ingest job per
//! period oldest first, and the customer sees the backfill on the integration.

use costline_domain::Role;
use costline_testkit::{cur_connection, spawn_app, TestApp};
use serde_json::{json, Value};

async fn support_token(app: &TestApp) -> String {
    let (_, token) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    token.plaintext
}

fn routes(ws: &str, integration: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", "/api/v1/support/workspaces?q=acme".to_string(), None),
        ("GET", format!("/api/v1/support/workspaces/{ws}"), None),
        (
            "GET",
            format!("/api/v1/support/integrations/{integration}/periods"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/support/integrations/{integration}/backfill"),
            Some(json!({"from": "2024-07", "to": "2024-09"})),
        ),
        (
            "POST",
            format!("/api/v1/support/integrations/{integration}/periods/2024-08/retry"),
            None,
        ),
    ]
}

#[tokio::test]
async fn customers_get_403_and_strangers_401_on_every_support_route() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let admin = app.add_member(&acme, "admin@acme.test", Role::Admin).await;
    let member = app
        .add_member(&acme, "member@acme.test", Role::Member)
        .await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    for (method, path, body) in routes(&acme.workspace_id, &integration) {
        for token in [&acme.token, &admin, &member] {
            let (status, answer) = app.call(method, &path, Some(token), body.clone()).await;
            assert_eq!(status, 403, "{method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "forbidden");
        }
        let (status, answer) = app.call(method, &path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
    }
    // Nothing was queued by those attempts.
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'ingest_period'")
        .fetch_one(app.db.admin())
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn support_tokens_can_do_nothing_in_a_customer_workspace() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    let support = support_token(&app).await;
    for (method, path) in [
        ("GET", "/api/v1/integrations/aws".to_string()),
        ("DELETE", format!("/api/v1/integrations/aws/{integration}")),
        (
            "POST",
            format!("/api/v1/integrations/aws/{integration}/sync"),
        ),
        ("GET", "/api/v1/audit-events".to_string()),
        ("DELETE", "/api/v1/workspace".to_string()),
    ] {
        let (status, body) = app
            .call(
                method,
                &path,
                Some(&support),
                Some(json!({"confirm": "Acme"})),
            )
            .await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn support_finds_the_workspace_queues_a_backfill_and_the_customer_sees_it_and_the_audit() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let other = app.create_workspace("Other", "owner@other.test").await;
    app.grant_support_access(&other.token, 24).await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    let support = support_token(&app).await;

    // Search by name, by owner email; unknown ids are 404.
    let (status, body) = app
        .call(
            "GET",
            "/api/v1/support/workspaces?q=acme%20c",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(body["workspaces"][0]["id"], acme.workspace_id);
    let (_, body) = app
        .call(
            "GET",
            "/api/v1/support/workspaces?q=owner@other",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(body["workspaces"][0]["id"], other.workspace_id);
    let (status, body) = app
        .call("GET", "/api/v1/support/workspaces?q=", Some(&support), None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/support/workspaces/{}", acme.workspace_id),
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["integrations"][0]["id"], integration);
    // A workspace that does not exist has granted nothing.
    let path = format!("/api/v1/support/workspaces/{}", uuid::Uuid::now_v7());
    let (status, body) = app.call("GET", &path, Some(&support), None).await;
    assert_eq!(status, 403, "{path}: {body}");
    for path in [
        format!(
            "/api/v1/support/integrations/{}/periods",
            uuid::Uuid::now_v7()
        ),
        "/api/v1/support/integrations/nope/periods".to_string(),
    ] {
        let (status, body) = app.call("GET", &path, Some(&support), None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    // The periods view answers without AWS access in this app, saying why the bucket is unread.
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/support/integrations/{integration}/periods"),
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["bucket_error"].is_string(), "{body}");

    // Backfill: validation, then one job per period, oldest first.
    let path = format!("/api/v1/support/integrations/{integration}/backfill");
    for bad in [
        json!({"from": "2024-9", "to": "2024-10"}),
        json!({"from": "2024-10", "to": "2024-09"}),
        json!({"from": "2024-01", "to": "2099-01"}),
        json!({"from": "2010-01", "to": "2024-01"}),
    ] {
        let (status, body) = app
            .call("POST", &path, Some(&support), Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_period");
    }
    let (status, body) = app
        .call(
            "POST",
            &path,
            Some(&support),
            Some(json!({"from": "2024-07", "to": "2024-09"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["periods"], json!(["2024-07", "2024-08", "2024-09"]));
    let job_ids = body["job_ids"].as_array().unwrap().clone();
    assert_eq!(job_ids.len(), 3);
    let mut runs = Vec::new();
    for id in &job_ids {
        let (status, job) = app
            .call(
                "GET",
                &format!("/api/v1/jobs/{}", id.as_str().unwrap()),
                Some(&acme.token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{job}");
        assert_eq!(job["kind"], "ingest_period");
        assert_eq!(job["status"], "queued");
        let run_at: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT run_at FROM jobs WHERE job_id = $1")
                .bind(id.as_str().unwrap().parse::<uuid::Uuid>().unwrap())
                .fetch_one(app.db.admin())
                .await
                .unwrap();
        runs.push(run_at);
    }
    assert!(
        runs.windows(2).all(|w| w[0] < w[1]),
        "oldest period runs first: {runs:?}"
    );
    // Another workspace's support-invisible integration id is 404 for the customer API.
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{integration}"),
            Some(&other.token),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The customer sees the backfill in progress on the integration.
    let (status, view) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{integration}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["backfill"]["in_progress"], true, "{view}");
    let states: Vec<(String, String)> = view["backfill"]["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().into(),
                p["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("2024-07".into(), "queued".into()),
            ("2024-08".into(), "queued".into()),
            ("2024-09".into(), "queued".into())
        ]
    );

    // Retry of one period: the queued job is kept (no duplicate).
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/support/integrations/{integration}/periods/2024-08/retry"),
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["job_ids"][0], job_ids[1]);

    // Every support view and action is in the customer's audit log, by the support user; none
    // in the other workspace except the search that showed it.
    let (_, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&acme.token), None)
        .await;
    let support_actions: Vec<String> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "help@costline.test")
        .map(|e| {
            assert_eq!(e["actor_kind"], "support");
            e["action"].as_str().unwrap().to_string()
        })
        .collect();
    for action in [
        "support.workspace_found",
        "support.workspace_viewed",
        "support.periods_viewed",
        "support.backfill_requested",
        "support.period_retry_requested",
    ] {
        assert!(
            support_actions.iter().any(|a| a == action),
            "{action} missing in {support_actions:?}"
        );
    }
    let (_, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&other.token), None)
        .await;
    let theirs: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "help@costline.test")
        .collect();
    assert!(
        theirs
            .iter()
            .all(|e| e["action"] == "support.workspace_found"),
        "{theirs:?}"
    );

    // A revoked integration cannot be backfilled.
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{integration}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            "POST",
            &path,
            Some(&support),
            Some(json!({"from": "2024-07", "to": "2024-07"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}
