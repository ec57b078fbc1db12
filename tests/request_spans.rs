//! Every request's span says who asked: the auth extractor records the workspace and user on
//! the span the trace layer opened, so each log line of a request carries them.

use costline_testkit::{spawn_app, CapturedLogs};

#[tokio::test]
async fn the_request_span_records_the_workspace_and_the_user() {
    let logs = CapturedLogs::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "tower_http=debug,costline_web=info",
        ))
        .with_writer(logs.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test process");

    let app = spawn_app().await;
    let ws = app.create_workspace("Spans", "owner@spans.test").await;
    let (status, _) = app
        .call("GET", "/api/v1/integrations/aws", Some(&ws.token), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call("GET", "/api/v1/integrations/aws", None, None)
        .await;
    assert_eq!(status, 401);

    let text = logs.text();
    let finished: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("finished processing request") && l.contains("/api/v1/integrations/aws")
        })
        .collect();
    assert_eq!(finished.len(), 2, "{text}");
    let who = format!("workspace_id={} user_id={}", ws.workspace_id, ws.owner_id);
    assert!(finished.iter().any(|l| l.contains(&who)), "{text}");
    // An anonymous request names nobody.
    assert!(finished.iter().any(|l| !l.contains("user_id=")), "{text}");
}
