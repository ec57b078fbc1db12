//! The support console pages (issue 8), as a browser without JavaScript uses them: support
//! staff sign in with their support token; customers' sessions get 403 on every /support page;
//! page views and actions land in the customer's audit log; the backfill form queues one ingest
//! job per period; unknown ids are 404.

use costline_testkit::{
    console_client as browser, console_page as page, console_post as post, csrf_of, cur_connection,
    spawn_app, TestApp,
};
use reqwest::Client;

async fn support_browser(app: &TestApp) -> Client {
    let (_, token) =
        costline_store::users::create_support_user(&app.db.store, "help@costline.test")
            .await
            .unwrap();
    let client = browser();
    let (status, html) = page(&client, app, "/support/login").await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    let (status, body) = post(
        &client,
        app,
        "/support/login",
        &[("authenticity_token", &csrf), ("token", "cls_wrong")],
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (_, html) = page(&client, app, "/support/login").await;
    let csrf = csrf_of(&html);
    let (status, body) = post(
        &client,
        app,
        "/support/login",
        &[("authenticity_token", &csrf), ("token", &token.plaintext)],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    client
}

#[tokio::test]
async fn customer_sessions_get_403_and_strangers_the_login_on_every_support_page() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    // A customer signs up through the console and so has a session.
    let customer = browser();
    app.sign_up(&customer, "Mine", "me@mine.test", "a long enough password")
        .await;
    let (_, html) = page(&customer, &app, "/settings").await;
    let csrf = csrf_of(&html);
    let ws = &acme.workspace_id;
    for path in [
        "/support".to_string(),
        "/support?q=acme".into(),
        format!("/support/workspaces/{ws}"),
        format!("/support/integrations/{integration}"),
    ] {
        let (status, _) = page(&customer, &app, &path).await;
        assert_eq!(status, 403, "GET {path}");
        let (status, _) = page(&browser(), &app, &path).await;
        assert_eq!(
            status, 303,
            "anonymous GET {path} goes to the support login"
        );
    }
    for path in [
        format!("/support/integrations/{integration}/backfill"),
        format!("/support/integrations/{integration}/periods/2024-01/retry"),
    ] {
        let (status, _) = post(
            &customer,
            &app,
            &path,
            &[
                ("authenticity_token", &csrf),
                ("from", "2024-01"),
                ("to", "2024-02"),
            ],
        )
        .await;
        assert_eq!(status, 403, "POST {path}");
    }
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'ingest_period'")
        .fetch_one(app.db.admin())
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn support_searches_views_and_backfills_and_the_customer_audit_shows_it() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let integration = app
        .connect_integration(&acme.token, cur_connection("acme-cur", "cur", "costline"))
        .await;
    let support = support_browser(&app).await;

    let (status, html) = page(&support, &app, "/support?q=owner%40acme").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Acme Corp") && html.contains(&acme.workspace_id),
        "{html}"
    );
    let (status, html) = page(
        &support,
        &app,
        &format!("/support/workspaces/{}", acme.workspace_id),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&integration), "{html}");
    let (status, _) = page(
        &support,
        &app,
        &format!("/support/workspaces/{}", uuid::Uuid::new_v4()),
    )
    .await;
    // A workspace that does not exist has granted nothing.
    assert_eq!(status, 403);
    let (status, _) = page(
        &support,
        &app,
        &format!("/support/integrations/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, 404);

    let path = format!("/support/integrations/{integration}");
    let (status, html) = page(&support, &app, &path).await;
    assert_eq!(status, 200, "{html}");
    let csrf = csrf_of(&html);
    // Without the CSRF value nothing is queued.
    let (status, _) = post(
        &support,
        &app,
        &format!("{path}/backfill"),
        &[
            ("authenticity_token", "forged"),
            ("from", "2024-01"),
            ("to", "2024-03"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let (status, html) = post(
        &support,
        &app,
        &format!("{path}/backfill"),
        &[
            ("authenticity_token", &csrf),
            ("from", "2024-03"),
            ("to", "2024-01"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{html}");
    let (status, body) = post(
        &support,
        &app,
        &format!("{path}/backfill"),
        &[
            ("authenticity_token", &csrf),
            ("from", "2024-01"),
            ("to", "2024-03"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let periods: Vec<String> = sqlx::query_scalar(
        "SELECT billing_period FROM jobs WHERE kind = 'ingest_period' ORDER BY run_at",
    )
    .fetch_all(app.db.admin())
    .await
    .unwrap();
    assert_eq!(periods, ["2024-01", "2024-02", "2024-03"]);
    let (_, html) = page(&support, &app, &path).await;
    assert!(
        html.contains("help@costline.test") && html.contains("2024-02"),
        "the backfill and its periods are shown: {html}"
    );

    // Support can do nothing else in the workspace: its session is no workspace user.
    let (status, _) = page(&support, &app, "/settings").await;
    assert_eq!(
        status, 303,
        "the customer console sends the support session to its login"
    );

    let (status, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&acme.token), None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"]
                .as_str()
                .unwrap_or_default()
                .contains("help@costline.test")
        })
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "support.workspace_found",
        "support.workspace_viewed",
        "support.periods_viewed",
        "support.backfill_requested",
    ] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
}

/// Support logins are limited per client address (20 a minute), not under one key for
/// everyone: a few bad attempts must not lock the support engineers out.
#[tokio::test]
async fn support_login_attempts_are_limited_per_client_not_globally() {
    let app = spawn_app().await;
    let (_, token) =
        costline_store::users::create_support_user(&app.db.store, "limits@costline.test")
            .await
            .unwrap();
    let client = browser();
    let attempt = |t: String| {
        let client = client.clone();
        let app = &app;
        async move {
            let (_, html) = page(&client, app, "/support/login").await;
            let csrf = csrf_of(&html);
            post(
                &client,
                app,
                "/support/login",
                &[("authenticity_token", &csrf), ("token", &t)],
            )
            .await
        }
    };
    // More bad attempts than the old shared key allowed (5), then the right token works.
    for _ in 0..8 {
        let (status, body) = attempt("cls_wrong".into()).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = attempt(token.plaintext.clone()).await;
    assert_eq!(status, 303, "{body}");
    // Past 20 attempts a minute from this address: 429 with a message, even for the right token.
    let mut limited = None;
    for _ in 0..20 {
        let (status, body) = attempt(token.plaintext.clone()).await;
        if status == 429 {
            limited = Some(body);
            break;
        }
        assert_eq!(status, 303, "{body}");
    }
    let body = limited.expect("the 21st attempt in a minute is refused");
    assert!(body.contains("too many attempts"), "{body}");
}

/// A support console session lasts as long as the support token it was signed in with:
/// revoking the token (what `costline admin revoke-support-token` does) ends it at the next
/// request, and signing in with the revoked token fails.
#[tokio::test]
async fn revoking_the_support_token_ends_its_console_sessions() {
    let app = spawn_app().await;
    let support = support_browser(&app).await;
    let (status, _) = page(&support, &app, "/support").await;
    assert_eq!(status, 200);

    let revoked =
        costline_store::tokens::revoke_support_tokens(&app.db.store, "HELP@costline.test", None)
            .await
            .unwrap();
    assert_eq!(revoked.len(), 1);
    let r = support
        .get(format!("{}/support", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/support/login");
    // The session is gone, not only refused once.
    let (status, _) = page(&support, &app, "/support").await;
    assert_eq!(status, 303);
    // Nothing left to revoke.
    assert!(matches!(
        costline_store::tokens::revoke_support_tokens(&app.db.store, "help@costline.test", None)
            .await,
        Err(costline_store::StoreError::NotFound)
    ));
}

/// What support staff do in a workspace is also in the platform's support log, which keeps it
/// after the customer deleted the workspace (and its own audit log with it).
#[tokio::test]
async fn support_events_outlive_the_workspace_in_the_platform_log() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    app.grant_support_access(&acme.token, 24).await;
    let support = support_browser(&app).await;
    let (status, _) = page(
        &support,
        &app,
        &format!("/support/workspaces/{}", acme.workspace_id),
    )
    .await;
    assert_eq!(status, 200);
    let ws: costline_domain::WorkspaceId = acme.workspace_id.parse().unwrap();
    let logged = costline_store::audit::support_log(&app.db.store, Some(ws), 10)
        .await
        .unwrap();
    assert_eq!(
        logged.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["support.workspace_viewed"]
    );
    assert_eq!(logged[0].actor, "help@costline.test");

    // The application role may append to the log, never read it.
    let mut scope = app.db.store.scoped(ws).await.unwrap();
    let read = sqlx::query("SELECT * FROM support_audit_log")
        .execute(scope.tx())
        .await;
    assert!(read.is_err(), "costline_app read the platform log");
    drop(scope);

    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/workspace",
            Some(&acme.token),
            Some(serde_json::json!({"confirm": "Acme Corp"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE workspace_id = $1")
            .bind(ws.as_uuid())
            .fetch_one(app.db.admin())
            .await
            .unwrap();
    assert_eq!(audit, 0, "the workspace's own log went with it");
    let kept = costline_store::audit::support_log(&app.db.store, Some(ws), 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].workspace_id, ws.as_uuid());
}
