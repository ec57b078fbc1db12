//! `/api/v1/integrations/aws` and `/api/v1/jobs/{id}`: contract shapes, roles, isolation.

use costline_domain::{AwsPartition, Role};
use costline_testkit::{
    cur_connection, spawn_app, spawn_app_in_partition, TestApp, TestWorkspace, CUSTOMER_ACCOUNT_ID,
    PLATFORM_ACCOUNT_ID,
};
use serde_json::{json, Value};

async fn connected(app: &TestApp, ws: &TestWorkspace) -> (String, String) {
    let integration = app.create_integration(&ws.token).await;
    let id = integration["id"].as_str().unwrap().to_string();
    let body = app
        .connect_created_integration(
            &ws.token,
            &id,
            cur_connection("acme-cur", "cur", "costline"),
        )
        .await;
    (id, body["job_id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn creating_an_integration_returns_every_rendering_of_the_role() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let body = app.create_integration(&ws.token).await;
    assert_eq!(body["status"], "pending");
    let external_id = body["external_id"].as_str().unwrap();
    assert!(
        external_id.len() >= 32,
        "at least 128 random bits: {external_id}"
    );
    let trust = body["trust_policy"].to_string();
    assert!(
        trust.contains(external_id)
            && trust.contains(&format!("arn:aws:iam::{PLATFORM_ACCOUNT_ID}:root")),
        "{trust}"
    );
    assert!(body["inline_policy"]["Statement"].is_array());
    let url = body["cloudformation_url"].as_str().unwrap();
    assert!(
        url.contains("quickcreate")
            && url.contains(external_id)
            && url.contains(PLATFORM_ACCOUNT_ID),
        "{url}"
    );
    let tf = body["terraform_snippet"].as_str().unwrap();
    assert!(tf.contains(external_id), "{tf}");

    let other = app.create_integration(&ws.token).await;
    assert_ne!(
        other["external_id"], body["external_id"],
        "one external id per integration"
    );
    let (status, list) = app
        .call("GET", "/api/v1/integrations/aws", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["integrations"].as_array().unwrap().len(), 2);
}

/// `CostlineReadOnly` of the tests' customer account, in `partition`.
fn customer_role(partition: &str) -> String {
    format!("arn:{partition}:iam::{CUSTOMER_ACCOUNT_ID}:role/CostlineReadOnly")
}

/// `POST .../connect` with `role_arn`, as `(status, body)`.
async fn connect_role(app: &TestApp, ws: &TestWorkspace, id: &str, role_arn: &str) -> (u16, Value) {
    app.call(
        "POST",
        &format!("/api/v1/integrations/aws/{id}/connect"),
        Some(&ws.token),
        Some(json!({"role_arn": role_arn})),
    )
    .await
}

#[tokio::test]
async fn a_role_of_another_partition_than_the_platforms_is_refused() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let id = app.create_integration(&ws.token).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (arn, named) in [
        (customer_role("aws-cn"), "AWS China partition (aws-cn)"),
        (
            customer_role("aws-us-gov"),
            "AWS GovCloud (US) partition (aws-us-gov)",
        ),
    ] {
        let (status, body) = connect_role(&app, &ws, &id, &arn).await;
        assert_eq!(status, 400, "{arn}: {body}");
        assert_eq!(body["error"]["code"], "role_partition_mismatch", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        for needle in [
            named,
            "AWS commercial partition (aws)",
            "can only trust accounts of its own partition",
        ] {
            assert!(message.contains(needle), "{needle:?} missing: {message}");
        }
    }
    // Refused before anything is written: the same integration still connects.
    let (status, body) = connect_role(&app, &ws, &id, &customer_role("aws")).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_china_platform_renders_china_arns_and_links_and_takes_china_roles_only() {
    let app = spawn_app_in_partition(AwsPartition::AwsCn).await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let body = app.create_integration(&ws.token).await;
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        body["trust_policy"]["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws-cn:iam::{PLATFORM_ACCOUNT_ID}:root"),
        "{body}"
    );
    let resources = body["inline_policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "CurBucketRead")
        .expect("CUR statement")["Resource"]
        .clone();
    assert_eq!(
        resources,
        json!([
            "arn:aws-cn:s3:::YOUR-CUR-BUCKET",
            "arn:aws-cn:s3:::YOUR-CUR-BUCKET/*"
        ])
    );
    let url = body["cloudformation_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://console.amazonaws.cn/cloudformation/home?region=cn-northwest-1#"),
        "{url}"
    );
    assert!(
        body["terraform_snippet"]
            .as_str()
            .unwrap()
            .contains(r#"region = "cn-northwest-1""#),
        "{body}"
    );
    assert_eq!(body["partition"], "aws-cn");
    assert_eq!(body["stack_region"], "cn-northwest-1");

    let (status, refused) = connect_role(&app, &ws, &id, &customer_role("aws")).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "role_partition_mismatch");
    let (status, body) = connect_role(&app, &ws, &id, &customer_role("aws-cn")).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn connect_validates_the_arn_and_queues_a_verification() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let id = app.create_integration(&ws.token).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/integrations/aws/{id}/connect");
    for (arn, needle) in [
        ("arn:aws:iam::123:role/x", "12 digits"),
        ("arn:aws:iam::123456789012:user/x", "not a role"),
        ("role/x", "arn:aws:iam::123456789012:role/RoleName"),
    ] {
        let (status, body) = app
            .call(
                "POST",
                &path,
                Some(&ws.token),
                Some(json!({"role_arn": arn})),
            )
            .await;
        assert_eq!(status, 400, "{arn}: {body}");
        assert_eq!(body["error"]["code"], "invalid_role_arn");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    let (status, body) = app
        .call(
            "POST",
            &path,
            Some(&ws.token),
            Some(json!({"rolearn": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, after) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(
        (status, after["status"].as_str()),
        (200, Some("pending")),
        "a refused connect changes nothing"
    );

    let (id, job_id) = connected(&app, &ws).await;
    let (status, job) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{job_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["kind"], "verify_integration");
    assert_eq!(job["status"], "queued");
    let (_, detail) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(detail["status"], "verifying");
    assert_eq!(detail["cur"]["status"], "awaiting_first_report");
    assert_eq!(detail["cur"]["bucket"], "acme-cur");

    // A second sync while the first verification is queued does not pile up.
    let (status, sync1) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let (_, sync2) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(sync1["job_ids"], sync2["job_ids"]);
    assert!(sync1["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j == &json!(job_id)));
}

#[tokio::test]
async fn revoking_leaves_a_tombstone_without_role_or_external_id() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let (id, job_id) = connected(&app, &ws).await;
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["id"], &body["status"]),
        (&json!(id), &json!("revoked")),
        "{body}"
    );
    let (_, detail) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(detail["status"], "revoked");
    assert!(
        detail["role_arn"].is_null() && detail["external_id"].is_null(),
        "{detail}"
    );
    let (_, job) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{job_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(job["status"], "cancelled");
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/connect"),
            Some(&ws.token),
            Some(json!({"role_arn": "arn:aws:iam::210987654321:role/X"})),
        )
        .await;
    assert_eq!(status, 409, "reconnecting is a new integration");
    let (_, events) = app
        .call("GET", "/api/v1/audit-events", Some(&ws.token), None)
        .await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "integration.created",
        "integration.connected",
        "integration.revoked",
    ] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn members_may_read_but_not_change_integrations() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let member = app.add_member(&ws, "m@acme.test", Role::Member).await;
    let (id, _) = connected(&app, &ws).await;
    let (status, _) = app
        .call(
            "POST",
            "/api/v1/integrations/aws",
            Some(&member),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    for (method, path, body) in [
        (
            "POST",
            format!("/api/v1/integrations/aws/{id}/connect"),
            Some(json!({"role_arn": "arn:aws:iam::210987654321:role/X"})),
        ),
        ("POST", format!("/api/v1/integrations/aws/{id}/sync"), None),
        ("DELETE", format!("/api/v1/integrations/aws/{id}"), None),
    ] {
        let (status, body) = app.call(method, &path, Some(&member), body).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn another_workspace_gets_404_and_anonymous_401_on_every_route_with_an_id() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme", "owner@acme.test").await;
    let b = app.create_workspace("Globex", "owner@globex.test").await;
    let (id, job_id) = connected(&app, &a).await;
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/v1/integrations/aws/{id}"), None),
        (
            "POST",
            format!("/api/v1/integrations/aws/{id}/connect"),
            Some(json!({"role_arn": "arn:aws:iam::210987654321:role/X"})),
        ),
        ("POST", format!("/api/v1/integrations/aws/{id}/sync"), None),
        ("DELETE", format!("/api/v1/integrations/aws/{id}"), None),
        ("GET", format!("/api/v1/jobs/{job_id}"), None),
    ];
    for (method, path, body) in &routes {
        let (status, answer) = app.call(method, path, Some(&b.token), body.clone()).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
        let (status, _) = app.call(method, path, None, body.clone()).await;
        assert_eq!(status, 401, "anonymous {method} {path}");
    }
    let (_, list) = app
        .call("GET", "/api/v1/integrations/aws", Some(&b.token), None)
        .await;
    assert_eq!(list["integrations"], json!([]));
    let (_, still) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(
        still["status"], "verifying",
        "B's attempts changed nothing of A's"
    );
}
