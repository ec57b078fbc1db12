//! Notices to workspace admins: in the console for every member, emailed through real SMTP (a
//! sink in the test process) to owners and admins only, once per recipient even when the job
//! runs again.

use costline_domain::{Role, WorkspaceId};
use costline_notify::Mailer;
use costline_store::notifications::{self, kinds, Delivery, NotificationId, Notified};
use costline_testkit::{spawn_app, SmtpSink, TestApp, TestWorkspace};
use serde_json::Value;
use std::time::Duration;

const FROM: &str = "Costline <costline@costline.test>";

/// Runs a worker pool with every handler beside `app`, mailing through `mailer`.
fn start_workers(app: &TestApp, mailer: Option<Mailer>) -> tokio::sync::oneshot::Sender<()> {
    let config = costline_jobs::PoolConfig {
        poll_interval: Duration::from_millis(100),
        backoff_base: Duration::from_millis(200),
        backoff_cap: Duration::from_millis(400),
        max_attempts: 3,
        shutdown_grace: Duration::from_secs(1),
        run_schedules: false,
        ..Default::default()
    };
    // No AWS call is made by `notify`; the gateway only has to exist.
    let gateway = costline_aws::AwsGateway::new(costline_aws::GatewayConfig::for_emulator(
        "http://127.0.0.1:9",
    ));
    let workflows = costline_workflows::Workflows::new(
        app.db.store.clone(),
        gateway,
        costline_workflows::WorkflowSettings {
            mailer,
            ..Default::default()
        },
    );
    let pool = costline_workflows::register(
        costline_jobs::WorkerPool::builder(app.db.store.clone(), config),
        &workflows,
    )
    .build()
    .expect("build the worker pool");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        pool.run(async move {
            stopped.await.ok();
        })
        .await
        .ok();
    });
    stop
}

async fn create_integration(app: &TestApp, ws: &TestWorkspace) -> costline_domain::IntegrationId {
    let created = app.create_integration(&ws.token).await;
    created["id"].as_str().unwrap().parse().unwrap()
}

/// Writes a "first report" notice as the ingest does; returns its id and notify job id.
async fn notify(
    app: &TestApp,
    ws: &TestWorkspace,
    integration: costline_domain::IntegrationId,
    message: &str,
) -> (NotificationId, String) {
    let ws_id: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    let notified =
        notifications::notify_admins(&mut scope, kinds::CUR_FIRST_REPORT, integration, message)
            .await
            .unwrap();
    scope.commit().await.unwrap();
    match notified {
        Notified::Created {
            notification_id,
            job_id,
        } => (notification_id, job_id.to_string()),
        Notified::AlreadyNotified => panic!("the first notice of an integration was not created"),
    }
}

async fn wait_succeeded(app: &TestApp, ws: &TestWorkspace, job_id: &str) -> Value {
    app.poll_until(
        &format!("/api/v1/jobs/{job_id}"),
        &ws.token,
        Duration::from_secs(20),
        |job| job["status"] == "succeeded" || job["status"] == "failed",
    )
    .await
}

/// Queues the `notify` job of `id` again, as a retry or a redelivery after a crash would run it.
async fn run_again(app: &TestApp, ws: &TestWorkspace, id: NotificationId) -> String {
    let ws_id: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    let job = costline_store::jobs::NewJob::new(costline_domain::job_kinds::NOTIFY)
        .payload(serde_json::json!({ "notification_id": id }));
    let enqueued = costline_store::jobs::enqueue(&mut scope, &job, chrono::Utc::now())
        .await
        .unwrap();
    scope.commit().await.unwrap();
    enqueued.job_id().to_string()
}

#[tokio::test]
async fn a_notice_is_emailed_once_to_each_owner_and_admin_and_not_again_on_retry() {
    let sink = SmtpSink::start();
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme Corp", "owner@acme.test").await;
    app.add_member(&ws, "admin@acme.test", Role::Admin).await;
    app.add_member(&ws, "member@acme.test", Role::Member).await;
    let other = app.create_workspace("Globex", "owner@globex.test").await;
    let integration = create_integration(&app, &ws).await;
    let _stop = start_workers(&app, Some(Mailer::new(&sink.url, FROM).unwrap()));

    let message = "The first Cost and Usage Report of 2024-09 is ingested: 1234 line items.";
    let (id, job_id) = notify(&app, &ws, integration, message).await;
    let job = wait_succeeded(&app, &ws, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let mails = sink.wait_for(2, Duration::from_secs(5)).await;
    let mut to: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["admin@acme.test", "owner@acme.test"], "{mails:#?}");
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "one envelope per recipient: {mail:?}");
        assert_eq!(mail.from, "costline@costline.test");
        let subject = mail.header("Subject").unwrap();
        assert!(subject.contains("First cost report ingested"), "{subject}");
        assert!(subject.contains("Acme Corp"), "{subject}");
        let body = mail.body();
        assert!(body.contains(message), "{body}");
        assert!(body.contains("Workspace:      Acme Corp"), "{body}");
        assert!(body.contains(&integration.to_string()), "{body}");
    }
    assert!(sink.messages_to("member@acme.test").is_empty());
    assert!(sink.messages_to("owner@globex.test").is_empty());

    // The job runs again (a retry after a later failure, or a redelivery after a crash): the
    // deliveries recorded the first time keep it from emailing anyone twice.
    let again = run_again(&app, &ws, id).await;
    assert_eq!(
        wait_succeeded(&app, &ws, &again).await["status"],
        "succeeded"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());

    // A second "first report" notice for the same integration is a no-op, not a second email.
    let ws_id: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    let second =
        notifications::notify_admins(&mut scope, kinds::CUR_FIRST_REPORT, integration, "again")
            .await
            .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(second, Notified::AlreadyNotified);
    let _ = other;
}

#[tokio::test]
async fn a_rerun_after_a_partial_send_emails_only_those_not_yet_emailed() {
    let sink = SmtpSink::start();
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    app.add_member(&ws, "admin@acme.test", Role::Admin).await;
    app.add_member(&ws, "reject-admin@acme.test", Role::Admin)
        .await;
    let integration = create_integration(&app, &ws).await;

    // Written before any worker runs, and the owner's email marked as sent, as if an earlier
    // attempt had reached the owner and then died.
    let (id, job_id) = notify(&app, &ws, integration, "First report of 2024-09.").await;
    let ws_id: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    notifications::record_delivery(
        &mut scope,
        id,
        "owner@acme.test",
        &Delivery::Sent,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();

    let _stop = start_workers(&app, Some(Mailer::new(&sink.url, FROM).unwrap()));
    let job = wait_succeeded(&app, &ws, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails_now = sink.messages();
    assert_eq!(mails_now.len(), 1, "{mails:#?}");
    assert_eq!(mails_now[0].to, ["admin@acme.test"]);

    // The address the server refused for good (550) is recorded and not retried.
    let statuses: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT email, status, error FROM notification_deliveries WHERE notification_id = $1 ORDER BY email",
    )
    .bind(id.as_uuid())
    .fetch_all(app.db.admin())
    .await
    .unwrap();
    let summary: Vec<(&str, &str)> = statuses
        .iter()
        .map(|(e, s, _)| (e.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("admin@acme.test", "sent"),
            ("owner@acme.test", "sent"),
            ("reject-admin@acme.test", "rejected"),
        ]
    );
    assert!(
        statuses[2].2.as_deref().unwrap().contains("550"),
        "{statuses:?}"
    );
    assert_eq!(job["attempts"], 1, "a refusal is not retried: {job}");
}

#[tokio::test]
async fn an_unreachable_smtp_server_makes_the_job_retry_and_sends_nothing() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let integration = create_integration(&app, &ws).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mailer = Mailer::new(&format!("smtp://127.0.0.1:{closed}"), FROM).unwrap();
    let _stop = start_workers(&app, Some(mailer));
    let (id, job_id) = notify(&app, &ws, integration, "First report.").await;
    let job = wait_succeeded(&app, &ws, &job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["attempts"],
        notifications::NOTIFY_MAX_ATTEMPTS,
        "retried up to the limit: {job}"
    );
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{closed}")),
        "the error names the server: {job}"
    );
    let ws_id: WorkspaceId = ws.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(ws_id).await.unwrap();
    assert!(notifications::delivered_to(&mut scope, id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn without_smtp_the_notice_is_only_in_the_console() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let integration = create_integration(&app, &ws).await;
    let _stop = start_workers(&app, None);
    let (_, job_id) = notify(&app, &ws, integration, "First report of 2024-09.").await;
    assert_eq!(
        wait_succeeded(&app, &ws, &job_id).await["status"],
        "succeeded"
    );
    let (status, body) = app
        .call("GET", "/api/v1/notifications", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let listed: costline_web::views::NotificationsOut =
        serde_json::from_value(body).expect("the API answers the typed view");
    assert_eq!(listed.notifications[0].message, "First report of 2024-09.");
    assert_eq!(
        listed.notifications[0].integration_id.as_deref(),
        Some(integration.to_string().as_str())
    );
    // The job that wrote it, in its typed view too.
    let (status, job) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{job_id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{job}");
    let job: costline_web::views::JobOut = serde_json::from_value(job).unwrap();
    assert_eq!(job.status, "succeeded");
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn members_list_their_workspace_notices_newest_first_and_nobody_else_sees_them() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme", "owner@acme.test").await;
    let member = app.add_member(&a, "member@acme.test", Role::Member).await;
    let b = app.create_workspace("Globex", "owner@globex.test").await;
    let a_int = create_integration(&app, &a).await;
    let b_int = create_integration(&app, &b).await;

    let a_id: WorkspaceId = a.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(a_id).await.unwrap();
    let t0 = chrono::Utc::now();
    for (i, (kind, message)) in [
        (kinds::CUR_FIRST_REPORT, "first report"),
        (
            kinds::BACKFILL_COMPLETED,
            "backfill of 2024-01..2024-03 done",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let notice = notifications::NewNotification {
            kind,
            integration_id: Some(a_int),
            billing_period: None,
            message,
        };
        notifications::notify_admins_at(
            &mut scope,
            &notice,
            t0 + chrono::Duration::seconds(i as i64),
        )
        .await
        .unwrap();
    }
    scope.commit().await.unwrap();
    notify(&app, &b, b_int, "globex first report").await;

    // A plain member reads the console notices, newest first.
    let (status, body) = app
        .call("GET", "/api/v1/notifications", Some(&member), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let listed = body["notifications"].as_array().unwrap();
    let messages: Vec<&str> = listed
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["backfill of 2024-01..2024-03 done", "first report"]
    );
    assert_eq!(listed[0]["kind"], "backfill_completed");
    assert_eq!(listed[0]["integration_id"], a_int.to_string());
    assert!(listed[0]["read_at"].is_null());

    // B sees only its own; A's notice is a 404 for B, as a missing one.
    let (_, body_b) = app
        .call("GET", "/api/v1/notifications", Some(&b.token), None)
        .await;
    let b_messages: Vec<&str> = body_b["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert_eq!(b_messages, ["globex first report"]);
    let a_notice = listed[0]["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/notifications/{a_notice}/read"),
            Some(&b.token),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    // Marking read works in its own workspace, and sticks to the first time.
    let (status, read) = app
        .call(
            "POST",
            &format!("/api/v1/notifications/{a_notice}/read"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert!(read["read_at"].is_string());
    let (_, again) = app
        .call(
            "POST",
            &format!("/api/v1/notifications/{a_notice}/read"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(again["read_at"], read["read_at"]);

    // No token, no notices; a bad limit says what is allowed.
    let (status, _) = app.call("GET", "/api/v1/notifications", None, None).await;
    assert_eq!(status, 401);
    let (status, body) = app
        .call("GET", "/api/v1/notifications?limit=0", Some(&member), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("between 1 and 200"));
}

#[test]
fn a_bad_smtp_setting_stops_the_binary_at_start_without_showing_the_password() {
    let data_dir = tempfile::tempdir().unwrap();
    for (envs, expected) in [
        (
            vec![(
                "COSTLINE_SMTP_URL",
                "smtp://mailer:hunter2-secret@127.0.0.1:2525",
            )],
            "COSTLINE_MAIL_FROM",
        ),
        (
            vec![
                (
                    "COSTLINE_SMTP_URL",
                    "http://mailer:hunter2-secret@127.0.0.1:2525",
                ),
                ("COSTLINE_MAIL_FROM", "costline@example.com"),
            ],
            "must start with smtp:// or smtps://",
        ),
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_costline"));
        cmd.arg("worker")
            .env_remove("DATABASE_URL")
            .env_remove("COSTLINE_MAIL_FROM")
            .env("COSTLINE_DATA_DIR", data_dir.path().join("never-created"))
            .stdin(std::process::Stdio::null());
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!data_dir.path().join("never-created").exists());
    }
}
