//! The worker pool runs beside the web server: a connect is verified against the emulator.

use costline_testkit::{moto, spawn_app_with_workers};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_standalone_account_is_verified_by_the_worker_pool() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Solo", "owner@solo.test").await;
    let id = app
        .connect_integration(
            &ws.token,
            json!({"role_arn": "arn:aws:iam::210987654321:role/CostlineReadOnly"}),
        )
        .await;
    let done = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(30),
            |v| v["status"] != "verifying",
        )
        .await;
    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(done["account_id"], "210987654321");
    assert_eq!(done["account_type"], "standalone");
    // Verification queued discovery, which records the one account of a standalone connection.
    let discovered = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            Duration::from_secs(30),
            |v| v["accounts"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    let accounts = discovered["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{discovered:#}");
    assert_eq!(accounts[0]["account_id"], "210987654321");
    assert_eq!(accounts[0]["role_status"], "ok");
}
