//! Onboarding in headless Chromium over WebDriver, with the worker pool on the AWS emulator:
//! choose a method, submit a wrong ARN, then the right one, and watch the status page refresh
//! itself until the account is connected. A screenshot of each step is kept under
//! target/screenshots/onboarding-*.png.

use costline_testkit::{moto, spawn_app_with_workers, Browser};
use fantoccini::{Client, Locator};
use std::time::Duration;

async fn fill(browser: &Client, id: &str, text: &str) {
    let field = browser.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(browser: &Client, id: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn wait_for(browser: &Client, id: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} never appeared: {e}"))
}

#[tokio::test]
async fn onboarding_from_method_choice_to_connected_in_chromium() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let chromium = Browser::open("onboarding").await;
    let browser = &chromium.client;
    let shot = |step: &'static str| chromium.shot(step);

    browser
        .goto(&format!("{}/signup", app.base_url))
        .await
        .unwrap();
    fill(browser, "workspace_name", "Acme Onboarding").await;
    fill(browser, "email", "ana@onboarding.test").await;
    fill(browser, "password", "a long enough password").await;
    click(browser, "signup").await;
    wait_for(browser, "create-token").await;

    browser
        .find(Locator::LinkText("Integrations"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(browser, "no-integrations").await;
    shot("1-integrations").await;
    click(browser, "new-integration").await;
    let external_id = wait_for(browser, "external-id").await.text().await.unwrap();
    assert!(external_id.len() >= 32, "{external_id}");
    let launch = browser
        .find(Locator::Id("cloudformation-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        launch.contains("quickcreate") && launch.contains(&external_id),
        "{launch}"
    );
    shot("2-choose-method").await;
    browser
        .find(Locator::Css("#method-manual summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let trust = browser
        .find(Locator::Id("trust-policy"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        trust.contains(&external_id) && trust.contains("sts:ExternalId"),
        "{trust}"
    );
    shot("3-manual-role").await;

    fill(
        browser,
        "role-arn",
        "arn:aws:iam::2109876543:role/CostlineReadOnly",
    )
    .await;
    click(browser, "connect-button").await;
    let error = wait_for(browser, "role-arn-error")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        error.contains("12"),
        "the message names the 12-digit rule: {error}"
    );
    shot("4-wrong-arn").await;

    fill(
        browser,
        "role-arn",
        "arn:aws:iam::210987654321:role/CostlineReadOnly",
    )
    .await;
    click(browser, "connect-button").await;
    // The page refreshes itself (meta refresh) while verifying: no reload from the test.
    let account_type = wait_for(browser, "account-type")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(account_type, "standalone");
    let status = browser
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(status, "connected");
    shot("5-connected").await;

    browser
        .goto(&format!("{}/permissions", app.base_url))
        .await
        .unwrap();
    wait_for(browser, "denied").await;
    shot("6-permissions").await;
    browser.clone().close().await.ok();
}
