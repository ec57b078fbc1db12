//! The web layer's hardening (issue 24): security headers and caching, expiring API tokens,
//! the request deadline, client addresses behind trusted proxies, a CSRF key shared by
//! instances, invitation secrets kept out of logged paths, `/metrics` off the public listener,
//! the integrations quota, and Debug output without secrets.

use costline_testkit::{
    console_client as browser, csrf_of, spawn_app, spawn_app_on, spawn_app_with_config,
    CapturedLogs, TestApp,
};
use reqwest::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_comes_with_https() {
    let app = spawn_app().await;
    for path in ["/login", "/api/v1/audit-events", "/healthz", "/nope"] {
        let r = reqwest::get(format!("{}{path}", app.base_url))
            .await
            .unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over http"
        );
    }
    // The page works without inline script or style: they come from this site.
    let html = reqwest::get(format!("{}/login", app.base_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<style") && !html.contains("<script>") && !html.contains("style="));
    for (asset, media_type) in [
        ("costline.css", "text/css"),
        ("costline.js", "text/javascript"),
    ] {
        let r = reqwest::get(format!("{}/assets/{asset}", app.base_url))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(media_type));
        assert!(r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"));
    }

    let https = spawn_app_with_config(|c| c.secure_cookies = true).await;
    let r = reqwest::get(format!("{}/login", https.base_url))
        .await
        .unwrap();
    assert!(r.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age="));
}

async fn signed_up(app: &TestApp) -> Client {
    let client = browser();
    app.sign_up(&client, "Acme", "ana@acme.test", "a long enough password")
        .await;
    client
}

#[tokio::test]
async fn the_new_token_page_is_never_cached_and_console_tokens_expire() {
    let app = spawn_app().await;
    let client = signed_up(&app).await;
    let html = client
        .get(format!("{}/settings", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = client
        .post(format!("{}/settings/tokens", app.base_url))
        .form(&[
            ("authenticity_token", csrf_of(&html).as_str()),
            ("name", "ci"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"token-value\""));
    // The form's default lifetime is 90 days.
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at FROM api_tokens WHERE name = 'ci'")
            .fetch_one(app.db.store.system())
            .await
            .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.1).contains(&days), "{days} days");

    // A token past its expiry answers 401 with a code of its own and what to do.
    let ws = app.create_workspace("Globex", "owner@globex.test").await;
    let ws_id: costline_domain::WorkspaceId = ws.workspace_id.parse().unwrap();
    let owner: costline_domain::UserId = ws.owner_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    let (_, old) = costline_store::tokens::create(
        &mut scope,
        owner,
        "old",
        Some(chrono::Utc::now() - chrono::TimeDelta::seconds(1)),
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();
    let (status, body) = app
        .call("GET", "/api/v1/audit-events", Some(&old.plaintext), None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), "token_expired");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("workspace settings"));
    let (status, _) = app
        .call("GET", "/api/v1/audit-events", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200, "tokens without expiry keep working");
}

/// A request held up past the deadline (here by a lock on a table every API request reads)
/// is answered 503 with a JSON error, and the connection is not left hanging.
#[tokio::test]
async fn a_request_past_the_deadline_is_answered_503() {
    let app = spawn_app_with_config(|c| c.request_timeout = Duration::from_millis(700)).await;
    let ws = app.create_workspace("Slow", "owner@slow.test").await;
    let mut blocker = app.db.admin().begin().await.unwrap();
    sqlx::query("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let started = Instant::now();
    let (status, body) = app
        .call("GET", "/api/v1/audit-events", Some(&ws.token), None)
        .await;
    let took = started.elapsed();
    blocker.rollback().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "request_timeout");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (status, _) = app
        .call("GET", "/api/v1/audit-events", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200, "the pool recovered");
}

async fn last_login_ip(app: &TestApp, xff: Option<&str>) -> Option<String> {
    let client = browser();
    let html = client
        .get(format!("{}/signup", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut request = client.post(format!("{}/signup", app.base_url)).form(&[
        ("authenticity_token", csrf_of(&html).as_str()),
        ("workspace_name", "Proxied"),
        ("email", "proxied@acme.test"),
        ("password", "a long enough password"),
    ]);
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    assert_eq!(request.send().await.unwrap().status(), 303);
    sqlx::query_scalar(
        "SELECT client_ip FROM audit_events WHERE action = 'workspace.created' ORDER BY at DESC LIMIT 1",
    )
    .fetch_one(app.db.admin())
    .await
    .unwrap()
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let open = |trusted: &'static str| {
        move |c: &mut costline_web::WebConfig| {
            c.signup = costline_web::SignupMode::Open;
            c.trusted_proxies = trusted.parse().unwrap();
        }
    };
    let direct = spawn_app_with_config(open("")).await;
    assert_eq!(
        last_login_ip(&direct, Some("203.0.113.9")).await.as_deref(),
        Some("127.0.0.1"),
        "without COSTLINE_TRUSTED_PROXIES anyone could pick their address"
    );
    let proxied = spawn_app_with_config(open("127.0.0.1/32")).await;
    assert_eq!(
        last_login_ip(&proxied, Some("198.51.100.1, 203.0.113.9"))
            .await
            .as_deref(),
        Some("203.0.113.9"),
        "the nearest hop the proxy saw"
    );
}

/// Two instances behind one address share COSTLINE_CSRF_KEY: a form rendered by one verifies
/// on the other. Without the key each process has its own, and the other refuses the form.
#[tokio::test]
async fn a_shared_csrf_key_lets_any_instance_verify_a_form() {
    let key = "a shared CSRF key of at least 32 characters";
    let with_key = |c: &mut costline_web::WebConfig| c.csrf_secret = Some(key.parse().unwrap());
    let a = spawn_app_with_config(with_key).await;
    let b = spawn_app_on(a.db.reopen(), with_key).await;
    let c = spawn_app_on(a.db.reopen(), |_| {}).await;
    // Cookies are per host, not per port: one browser talks to all three as one site.
    let client = browser();
    let html = client
        .get(format!("{}/login", a.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("authenticity_token", csrf_of(&html)),
        ("email", "nobody@acme.test".to_string()),
        ("password", "wrong password!!".to_string()),
    ];
    let on = |app: &TestApp| {
        client
            .post(format!("{}/login", app.base_url))
            .form(&form)
            .send()
    };
    assert_eq!(
        on(&b).await.unwrap().status(),
        401,
        "verified on the other instance"
    );
    assert_eq!(
        on(&c).await.unwrap().status(),
        403,
        "another key refuses it"
    );
}

#[tokio::test]
async fn invitation_secrets_never_reach_the_logged_paths() {
    let logs = CapturedLogs::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test process");
    let app = spawn_app().await;
    let owner = signed_up(&app).await;
    let html = owner
        .get(format!("{}/settings", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = owner
        .post(format!("{}/settings/members/invite", app.base_url))
        .form(&[
            ("authenticity_token", csrf_of(&html).as_str()),
            ("email", "bo@acme.test"),
            ("role", "member"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("id=\"invitation-link\">").unwrap() + "id=\"invitation-link\">".len();
    let link = html[start..start + html[start..].find('<').unwrap()]
        .trim()
        .to_string();
    let secret = link.split_once('#').unwrap().1.to_string();
    // Open it as a browser does: the fragment is never sent.
    let invitee = browser();
    let opened = invitee.get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(opened.url().path(), "/invitations");
    let html = opened.text().await.unwrap();
    let r = invitee
        .post(format!("{}/invitations", app.base_url))
        .form(&[
            ("authenticity_token", csrf_of(&html).as_str()),
            ("token", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let r = invitee
        .post(format!("{}/invitations/accept", app.base_url))
        .form(&[
            ("authenticity_token", csrf_of(&html).as_str()),
            ("token", &secret),
            ("password", "bo's long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let confirmation = app.confirmation_token("bo@acme.test").await;
    app.confirm_token(&invitee, &confirmation, "bo's long password")
        .await;

    let logged = logs.text();
    assert!(
        logged.contains("path=/invitations"),
        "requests are logged: {logged}"
    );
    let secret_part = &secret[secret.len() - 20..];
    assert!(
        !logged.contains(secret_part),
        "the invitation secret was logged"
    );
    assert!(
        !logged.contains(&confirmation[confirmation.len() - 20..]),
        "the confirmation secret was logged"
    );
}

#[tokio::test]
async fn metrics_can_leave_the_public_listener() {
    let app = spawn_app().await;
    let r = reqwest::get(format!("{}/metrics", app.base_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let private = spawn_app_with_config(|c| c.serve_metrics = false).await;
    let r = reqwest::get(format!("{}/metrics", private.base_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::get(format!("{}/healthz", private.base_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_workspace_has_at_most_the_configured_integrations() {
    let app = spawn_app_with_config(|c| c.max_integrations_per_workspace = 2).await;
    let ws = app.create_workspace("Many", "owner@many.test").await;
    let first = app.create_integration(&ws.token).await;
    app.create_integration(&ws.token).await;
    let (status, body) = app
        .call(
            "POST",
            "/api/v1/integrations/aws",
            Some(&ws.token),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "integration_limit_reached");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("COSTLINE_MAX_INTEGRATIONS_PER_WORKSPACE=2"),
        "{message}"
    );
    // Another workspace has its own quota; a revoked integration frees its place.
    let other = app.create_workspace("Other", "owner@other.test").await;
    app.create_integration(&other.token).await;
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{}", first["id"].as_str().unwrap()),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.create_integration(&ws.token).await;
}

#[test]
fn debug_output_never_shows_a_secret() {
    let key = "csrf-key-that-must-not-be-printed-0123456789";
    let config = costline_web::WebConfig {
        csrf_secret: Some(key.parse().unwrap()),
        mailer: Some(
            costline_notify::Mailer::new(
                "smtps://mailer:smtp-password-xyz@smtp.example.com",
                "c@example.com",
            )
            .unwrap(),
        ),
        ..costline_web::WebConfig::new("https://costline.example.com")
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(key) && !shown.contains("smtp-password-xyz"),
        "{shown}"
    );
    let signup = costline_store::signups::PendingSignup {
        email: "ana@example.com".into(),
        password_hash: "$argon2id$v=19$secret-hash".into(),
        purpose: costline_store::signups::Purpose::NewWorkspace {
            name: "Acme".into(),
        },
    };
    assert!(!format!("{signup:?}").contains("secret-hash"));
    let token = costline_domain::IssuedToken::generate(costline_domain::TokenKind::Workspace);
    assert!(!format!("{token:?}").contains(&token.plaintext));
}
