//! Onboarding in headless Chromium over WebDriver, with the worker pool on the AWS emulator:
//! choose a method, submit a wrong ARN, then the right one, and watch the status page refresh
//! itself until the account is connected. A screenshot of each step is kept under
//! target/screenshots/onboarding-*.png.

#[path = "support/customer.rs"]
mod customer;

use costline_testkit::{moto, spawn_app_with_workers, Browser};
use customer::{deploy_stack, with_template_version, Customer, INTEGRATION_TEMPLATE};
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

/// The text of `#id`, which must be on the page.
async fn text_of(browser: &Client, id: &str) -> String {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} is not on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// Signs up through the console's form and opens the mailed confirmation link (its secret
/// after `#`, put in the form by the page's script), which logs the browser in.
async fn sign_up(browser: &Client, app: &costline_testkit::TestApp, workspace: &str, email: &str) {
    browser
        .goto(&format!("{}/signup", app.base_url))
        .await
        .unwrap();
    fill(browser, "workspace_name", workspace).await;
    fill(browser, "email", email).await;
    fill(browser, "password", "a long enough password").await;
    click(browser, "signup").await;
    wait_for(browser, "check-inbox").await;
    let token = app.confirmation_token(email).await;
    browser
        .goto(&format!("{}/signup/confirm#{token}", app.base_url))
        .await
        .unwrap();
    fill(browser, "password", "a long enough password").await;
    click(browser, "confirm").await;
    wait_for(browser, "create-token").await;
}

#[tokio::test]
async fn onboarding_from_method_choice_to_connected_in_chromium() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let chromium = Browser::open("onboarding").await;
    let browser = &chromium.client;
    let shot = |step: &'static str| chromium.shot(step);

    sign_up(browser, &app, "Acme Onboarding", "ana@onboarding.test").await;

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
    let trust = text_of(browser, "trust-policy").await;
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
    let status = text_of(browser, "status").await;
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

/// The text of `#id` once `done` holds for it, reloading the page (discovery runs after the
/// page stopped refreshing itself).
async fn text_when(browser: &Client, id: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(element) = browser.find(Locator::Id(id)).await {
            let text = element.text().await.unwrap();
            if done(&text) {
                return text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "#{id} never showed what was expected"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.refresh().await.unwrap();
    }
}

/// A management account: the StackSet commands name the organization's real root (never a
/// placeholder), an older StackSet gets its update command, the organizations-access help is
/// the one correct text, and a suspended member is shown as such.
#[tokio::test]
async fn a_management_account_sees_its_own_root_and_stackset_update_in_chromium() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let chromium = Browser::open("management").await;
    let browser = &chromium.client;
    let shot = |step: &'static str| chromium.shot(step);

    let customer = Customer::new(&moto.endpoint, "515151515151").await;
    let org = customer.create_organization(2).await;
    let suspended = org
        .accounts
        .iter()
        .find(|a| a.name == "member-1")
        .unwrap()
        .id
        .clone();
    customer.close_account(&suspended).await;

    sign_up(browser, &app, "Acme Org", "ana@org.test").await;
    browser
        .goto(&format!("{}/integrations", app.base_url))
        .await
        .unwrap();
    click(browser, "new-integration").await;
    let external_id = wait_for(browser, "external-id").await.text().await.unwrap();

    let member_template =
        with_template_version(include_str!("../cloudformation/member-role.yaml"), "0.9.0");
    customer
        .create_member_stack_set(&member_template, &external_id)
        .await;
    let old_stack = with_template_version(INTEGRATION_TEMPLATE, "0.9.0");
    let stack = deploy_stack(&customer, &old_stack, &external_id).await;
    fill(browser, "role-arn", &stack.outputs["RoleArn"]).await;
    click(browser, "connect-button").await;
    let account_type = wait_for(browser, "account-type")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(account_type, "management");

    // The stack runs an older template: the update opens this very stack in its own region.
    let link = browser
        .find(Locator::Id("template-update-link"))
        .await
        .unwrap();
    assert_eq!(link.text().await.unwrap(), "Update in the AWS console");
    let href = link.attr("href").await.unwrap().unwrap();
    assert!(
        href.contains("region=us-east-1#/stacks/update/template"),
        "{href}"
    );
    assert!(
        href.contains(
            "stackId=arn%3Aaws%3Acloudformation%3Aus-east-1%3A515151515151%3Astack%2FCostline%2F"
        ),
        "{href}"
    );
    let command = text_of(browser, "template-update-command").await;
    assert!(command.contains("--stack-name Costline"), "{command}");

    let targets = text_when(browser, "stackset-targets", |t| t.starts_with("r-")).await;
    assert_eq!(targets, org.root_id);
    let commands = browser
        .find_all(Locator::Css("pre.stackset-command"))
        .await
        .unwrap();
    let mut all = String::new();
    for command in commands {
        all.push_str(&command.text().await.unwrap());
    }
    assert!(
        all.contains(&format!("OrganizationalUnitIds={}", org.root_id)),
        "{all}"
    );
    assert!(!all.contains("ROOT_ID"), "{all}");
    assert!(!all.contains("list-roots"), "{all}");

    let update = text_when(browser, "stackset-update-command", |t| !t.is_empty()).await;
    assert!(
        update.starts_with("aws cloudformation update-stack-set"),
        "{update}"
    );

    let help = text_of(browser, "organizations-access-help").await;
    assert!(
        help.contains("aws cloudformation activate-organizations-access"),
        "{help}"
    );
    assert!(!help.contains("--service-principal"), "{help}");

    let page = browser.source().await.unwrap();
    assert!(page.contains(costline_onboarding::ORGANIZATIONS_ACCESS_HELP_URL));
    let rows = text_when(browser, "accounts", |t| t.contains("SUSPENDED")).await;
    let row = rows
        .lines()
        .find(|l| l.contains(&suspended))
        .unwrap_or_else(|| panic!("{suspended} not listed: {rows}"));
    assert!(
        row.contains("SUSPENDED") && row.contains("inactive"),
        "{row}"
    );
    shot("1-management").await;
    browser.clone().close().await.ok();
}
