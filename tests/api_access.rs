//! API authentication, roles and tenant isolation over HTTP.

use costline_domain::Role;
use costline_testkit::spawn_app;
use serde_json::Value;

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

#[tokio::test]
async fn anonymous_and_unknown_tokens_get_401_with_a_json_error() {
    let app = spawn_app().await;
    let (status, body) = app.call("GET", "/api/v1/audit-events", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body), "unauthorized");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Bearer"));
    let (status, _) = app
        .call(
            "GET",
            "/api/v1/audit-events",
            Some("clt_00000000_deadbeef"),
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn members_cannot_read_the_audit_log_but_admins_and_owners_can() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let member = app.add_member(&ws, "member@acme.test", Role::Member).await;
    let admin = app.add_member(&ws, "admin@acme.test", Role::Admin).await;

    let (status, body) = app
        .call("GET", "/api/v1/audit-events", Some(&member), None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(error_code(&body), "forbidden");
    for token in [&admin, &ws.token] {
        let (status, body) = app
            .call("GET", "/api/v1/audit-events", Some(token), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let actions: Vec<&str> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"workspace.created"), "{actions:?}");
    }
}

#[tokio::test]
async fn a_workspace_sees_only_its_own_audit_events() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme", "owner@acme.test").await;
    let b = app.create_workspace("Globex", "owner@globex.test").await;
    let (_, body) = app
        .call("GET", "/api/v1/audit-events", Some(&b.token), None)
        .await;
    let events = body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        let text = event.to_string();
        assert!(!text.contains(&a.workspace_id), "B sees A's event: {text}");
        assert!(!text.contains("acme"), "B sees A's event: {text}");
    }
}

#[tokio::test]
async fn support_tokens_cannot_use_workspace_routes() {
    let app = spawn_app().await;
    let (_, token) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    let (status, body) = app
        .call("GET", "/api/v1/audit-events", Some(&token.plaintext), None)
        .await;
    assert_eq!(status, 403);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("support"));
}

#[tokio::test]
async fn a_removed_member_loses_api_access_at_once() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let admin = app.add_member(&ws, "admin@acme.test", Role::Admin).await;
    let (status, _) = app
        .call("GET", "/api/v1/audit-events", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    let ws_id: costline_domain::WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    let admin_user = costline_store::members::list(&mut scope)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == "admin@acme.test")
        .unwrap();
    costline_store::members::remove(&mut scope, admin_user.user_id)
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let (status, _) = app
        .call("GET", "/api/v1/audit-events", Some(&admin), None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_api_routes_answer_a_json_404() {
    let app = spawn_app().await;
    let (status, body) = app.call("GET", "/api/v1/nothing-here", None, None).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "not_found");
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_auth() {
    let app = spawn_app().await;
    let (status, _) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = app.call("GET", "/readyz", None, None).await;
    assert_eq!(status, 200);
    app.call("GET", "/api/v1/audit-events", None, None).await;
    let (status, body) = app.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(
        body.as_str()
            .unwrap()
            .contains("costline_http_requests_total"),
        "{body}"
    );
    let response = app
        .client
        .get(format!("{}/healthz", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}
