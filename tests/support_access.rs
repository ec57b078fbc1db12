//! Support access controlled by the customer (issue 21): outside an admin's grant every support
//! route answers 403 `support_access_not_granted`; grants and revocations are audited; break-glass
//! access needs a reason, is marked in the log and notifies the workspace's admins.

use costline_testkit::{cur_connection, spawn_app, TestApp};
use serde_json::{json, Value};

async fn support_token(app: &TestApp) -> String {
    let (_, token) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    token.plaintext
}

/// Every support route documented in docs/openapi.yaml (tests/openapi.rs keeps it equal to
/// the router), with its ids filled in; the break-glass route is the one that opens access.
fn support_routes(ws: &str, integration: &str) -> Vec<(String, String, Option<Value>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml");
    let doc = yaml_rust2::YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .remove(0);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_hash().expect("paths") {
        let path = path.as_str().unwrap();
        if !path.starts_with("/api/v1/support/") || path.ends_with("/break-glass") {
            continue;
        }
        let id = if path.contains("/integrations/") {
            integration
        } else {
            ws
        };
        let mut filled = path.replace("{id}", id).replace("{period}", "2024-08");
        if path.ends_with("/support/workspaces") {
            filled.push_str("?q=acme");
        }
        for (method, _) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            let body = path
                .ends_with("/backfill")
                .then(|| json!({"from": "2024-07", "to": "2024-08"}));
            out.push((method.to_uppercase(), filled.clone(), body));
        }
    }
    assert!(
        out.len() >= 4,
        "support routes found in openapi.yaml: {out:?}"
    );
    out
}

#[tokio::test]
async fn support_without_a_grant_gets_403_on_every_support_route_and_a_grant_opens_them() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    let support = support_token(&app).await;
    let routes = support_routes(&acme.workspace_id, &integration);

    for (method, path, body) in &routes {
        let (status, answer) = app.call(method, path, Some(&support), body.clone()).await;
        if path.contains("/support/workspaces?q=") {
            // The search is across workspaces: it lists only those that granted access.
            assert_eq!(status, 200, "{method} {path}: {answer}");
            assert_eq!(answer["workspaces"], json!([]), "{method} {path}");
            continue;
        }
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(
            answer["error"]["code"], "support_access_not_granted",
            "{path}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("customer has not granted support access"),
            "{answer}"
        );
    }

    // Only admins grant, for at most 7 days.
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/support-access",
            Some(&acme.token),
            Some(json!({"hours": 169})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_hours");
    app.grant_support_access(&acme.token, 24).await;
    let (status, body) = app
        .call("GET", "/api/v1/support-access", Some(&acme.token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["granted"], true, "{body}");
    assert_eq!(body["granted_by"], "owner@acme.test");

    let (status, body) = app
        .call(
            "GET",
            "/api/v1/support/workspaces?q=acme",
            Some(&support),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["workspaces"][0]["id"], acme.workspace_id, "{body}");
    let ws_path = format!("/api/v1/support/workspaces/{}", acme.workspace_id);
    let (status, body) = app.call("GET", &ws_path, Some(&support), None).await;
    assert_eq!(status, 200, "{body}");

    // Revoked: closed again at once.
    let (status, body) = app
        .call("DELETE", "/api/v1/support-access", Some(&acme.token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ended"], 1);
    let (status, body) = app.call("GET", &ws_path, Some(&support), None).await;
    assert_eq!(status, 403, "{body}");

    // Another workspace's grant opens nothing here.
    let other = app.create_workspace("Other", "owner@other.test").await;
    app.grant_support_access(&other.token, 24).await;
    let (status, _) = app.call("GET", &ws_path, Some(&support), None).await;
    assert_eq!(status, 403);

    let (_, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&acme.token), None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"support_access.granted"), "{actions:?}");
    assert!(actions.contains(&"support_access.revoked"), "{actions:?}");
    assert!(actions.contains(&"support.workspace_viewed"), "{actions:?}");
}

#[tokio::test]
async fn break_glass_needs_a_reason_is_marked_in_the_log_and_notifies_the_admins() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    let support = support_token(&app).await;
    let path = format!(
        "/api/v1/support/workspaces/{}/break-glass",
        acme.workspace_id
    );

    let (status, body) = app
        .call("POST", &path, Some(&support), Some(json!({"reason": "  "})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "reason_required");
    // A customer cannot open break-glass access.
    let (status, _) = app
        .call(
            "POST",
            &path,
            Some(&acme.token),
            Some(json!({"reason": "incident 42: ingest stuck"})),
        )
        .await;
    assert_eq!(status, 403);

    let (status, body) = app
        .call(
            "POST",
            &path,
            Some(&support),
            Some(json!({"reason": "incident 42: ingest stuck", "hours": 4})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["break_glass"], true);
    let ws_path = format!("/api/v1/support/workspaces/{}", acme.workspace_id);
    let (status, body) = app.call("GET", &ws_path, Some(&support), None).await;
    assert_eq!(status, 200, "{body}");

    let (_, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&acme.token), None)
        .await;
    let event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "support.break_glass_opened")
        .cloned()
        .unwrap_or_else(|| panic!("no break-glass event: {audit}"));
    assert_eq!(event["detail"]["break_glass"], true);
    assert_eq!(event["detail"]["reason"], "incident 42: ingest stuck");
    // In the platform's support log too.
    let ws: costline_domain::WorkspaceId = acme.workspace_id.parse().unwrap();
    let log = costline_store::audit::support_log(&app.db.store, Some(ws), 50)
        .await
        .unwrap();
    assert!(
        log.iter().any(|e| e.action == "support.break_glass_opened"),
        "{log:?}"
    );

    let (_, notices) = app
        .call("GET", "/api/v1/notifications", Some(&acme.token), None)
        .await;
    assert!(
        notices.to_string().contains("break-glass access"),
        "admins are notified: {notices}"
    );

    // The customer ends it.
    let (status, body) = app
        .call("DELETE", "/api/v1/support-access", Some(&acme.token), None)
        .await;
    assert_eq!((status, body["ended"].clone()), (200, json!(1)));
    let (status, _) = app.call("GET", &ws_path, Some(&support), None).await;
    assert_eq!(status, 403);
}

/// The console's settings page grants and ends support access: the support API follows it, a
/// bad length or a forged form grants nothing, and both are in the audit log shown on the page.
#[tokio::test]
async fn an_admin_grants_and_ends_support_access_in_the_console_settings() {
    use costline_testkit::{console_client, console_page, console_post, csrf_of};
    let app = spawn_app().await;
    let client = console_client();
    app.sign_up(
        &client,
        "Console Co",
        "admin@console.test",
        "a long enough password",
    )
    .await;
    let ws: uuid::Uuid =
        sqlx::query_scalar("SELECT workspace_id FROM workspaces WHERE name = 'Console Co'")
            .fetch_one(app.db.admin())
            .await
            .unwrap();
    let support = support_token(&app).await;
    let route = format!("/api/v1/support/workspaces/{ws}");
    let (status, _) = app.call("GET", &route, Some(&support), None).await;
    assert_eq!(status, 403);

    let (status, html) = console_page(&client, &app, "/settings").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Support has no access to this workspace."),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let (status, html) = console_post(
        &client,
        &app,
        "/settings/support-access",
        &[("authenticity_token", &csrf), ("hours", "500")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("1 to 168 hours"), "{html}");
    let (status, _) = app.call("GET", &route, Some(&support), None).await;
    assert_eq!(status, 403, "a refused form grants nothing");

    let (status, html) = console_post(
        &client,
        &app,
        "/settings/support-access",
        &[("authenticity_token", &csrf), ("hours", "24")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Granted by admin@console.test"), "{html}");
    assert!(html.contains("support_access.granted"), "{html}");
    let (status, answer) = app.call("GET", &route, Some(&support), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name"], "Console Co");

    let (status, html) = console_post(
        &client,
        &app,
        "/settings/support-access/revoke",
        &[("authenticity_token", &csrf)],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Support access ended."), "{html}");
    assert!(html.contains("support_access.revoked"), "{html}");
    let (status, _) = app.call("GET", &route, Some(&support), None).await;
    assert_eq!(status, 403, "support access ends with the revocation");

    // Without the CSRF token nothing happens.
    let (status, _) = console_post(
        &client,
        &app,
        "/settings/support-access",
        &[("authenticity_token", "forged"), ("hours", "24")],
    )
    .await;
    assert!(status == 403 || status == 400, "status {status}");
    let (status, _) = app.call("GET", &route, Some(&support), None).await;
    assert_eq!(status, 403);
}
