//! Console flows in headless Chromium over WebDriver: sign up, confirm the address through the
//! mailed link, log out, log in, create a token.
//! Screenshots of each step are kept under target/screenshots/.

use costline_testkit::{spawn_app, Browser};
use fantoccini::Locator;

#[tokio::test]
async fn sign_up_log_in_and_create_a_token_in_chromium() {
    let app = spawn_app().await;
    let chromium = Browser::open("console").await;
    let browser = &chromium.client;
    let shot = |step: &'static str| chromium.shot(step);

    browser
        .goto(&format!("{}/signup", app.base_url))
        .await
        .unwrap();
    browser
        .find(Locator::Id("workspace_name"))
        .await
        .unwrap()
        .send_keys("Acme Browser")
        .await
        .unwrap();
    browser
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ana@browser.test")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long enough password")
        .await
        .unwrap();
    shot("1-signup").await;
    browser
        .find(Locator::Id("signup"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("check-inbox"))
        .await
        .unwrap();
    shot("2-check-inbox").await;
    // The mailed link: its secret is after `#`, and the page's script puts it in the form.
    let secret = app.confirmation_token("ana@browser.test").await;
    browser
        .goto(&format!("{}/signup/confirm#{secret}", app.base_url))
        .await
        .unwrap();
    let filled = browser
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(filled.as_deref(), Some(secret.as_str()));
    assert!(
        browser.current_url().await.unwrap().fragment().is_none(),
        "the secret is dropped from the address bar"
    );
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long enough password")
        .await
        .unwrap();
    browser
        .find(Locator::Id("confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("create-token"))
        .await
        .unwrap();
    assert!(browser
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/settings"));
    shot("3-settings").await;

    browser
        .find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    browser
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ana@browser.test")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long enough password")
        .await
        .unwrap();
    shot("4-login").await;
    browser
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::LinkText("Settings"))
        .await
        .unwrap();
    browser
        .goto(&format!("{}/settings", app.base_url))
        .await
        .unwrap();

    browser
        .find(Locator::Id("token-name"))
        .await
        .unwrap()
        .send_keys("from-chromium")
        .await
        .unwrap();
    browser
        .find(Locator::Id("create-token"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let token = browser
        .wait()
        .for_element(Locator::Id("token-value"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    shot("5-token-created").await;
    assert!(token.starts_with("clt_"), "{token}");
    let (status, _) = app
        .call("GET", "/api/v1/audit-events", Some(token.trim()), None)
        .await;
    assert_eq!(
        status, 200,
        "the token made in the browser works on the API"
    );
    browser.clone().close().await.ok();
}
