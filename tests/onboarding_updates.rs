//! Issue 18: the paths by which a customer's side stays current, on the moto emulator. A member
//! StackSet of an older template is offered its own update command; a role made by hand (or by
//! Terraform) is compared with the published permission set through its own policy; member
//! accounts that are suspended or closing are shown as such and never assumed.

#[path = "support/customer.rs"]
mod customer;

use costline_domain::{AccountType, AwsPartition, IntegrationStatus, RoleStatus};
use costline_testkit::{moto, spawn_app_with_workers, TestApp};
use costline_web::views::IntegrationOut;
use customer::{assumed_roles, deploy_integration_stack, with_template_version, Customer};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

const MEMBER_TEMPLATE: &str = include_str!("../cloudformation/member-role.yaml");

/// A version older than this build's: the previous published one, or one never published.
fn older_version() -> String {
    let published = costline_onboarding::published_permission_sets();
    published
        .iter()
        .rev()
        .nth(1)
        .map(|set| set.version.clone())
        .unwrap_or_else(|| "0.9.0".to_string())
}

async fn view(app: &TestApp, token: &str, id: &str) -> IntegrationOut {
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("the API answers the typed view")
}

async fn wait_until(
    app: &TestApp,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&IntegrationOut) -> bool,
) -> IntegrationOut {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = view(app, token, id).await;
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}: {v:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create(app: &TestApp, token: &str) -> (String, String) {
    let created = app.create_integration(token).await;
    (
        created["id"].as_str().unwrap().to_string(),
        created["external_id"].as_str().unwrap().to_string(),
    )
}

async fn sync(app: &TestApp, token: &str, id: &str) {
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn an_older_member_stackset_gets_its_update_and_suspended_members_are_left_alone() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Org", "owner@org.test").await;
    let customer = Customer::new(&moto.endpoint, "313131313131").await;
    let org = customer.create_organization(2).await;
    let closed = org
        .accounts
        .iter()
        .find(|a| a.name == "member-2")
        .unwrap()
        .id
        .clone();
    customer.close_account(&closed).await;

    let (id, external_id) = create(&app, &ws.token).await;
    let older = older_version();
    customer
        .create_member_stack_set(
            &with_template_version(MEMBER_TEMPLATE, &older),
            &external_id,
        )
        .await;
    let stack = deploy_integration_stack(&customer, &external_id).await;
    app.connect_created_integration(
        &ws.token,
        &id,
        json!({"role_arn": stack.outputs["RoleArn"]}),
    )
    .await;

    let done = wait_until(&app, &ws.token, &id, "discovery of 3 accounts", |v| {
        v.accounts.len() == 3
            && v.accounts
                .iter()
                .all(|a| a.role_status != RoleStatus::Unknown)
    })
    .await;
    assert_eq!(done.account_type, Some(AccountType::Management));

    // The suspended member is shown as such, and its role was never tried.
    let suspended = done
        .accounts
        .iter()
        .find(|a| a.account_id == closed)
        .unwrap();
    assert_eq!(suspended.status.as_deref(), Some("SUSPENDED"));
    assert_eq!(suspended.role_status, RoleStatus::Inactive, "{suspended:?}");
    assert!(suspended
        .role_error
        .as_deref()
        .unwrap()
        .contains("suspended"));
    let closed_role = format!("arn:aws:iam::{closed}:role/CostlineReadOnly");
    let assumed = assumed_roles(&moto.endpoint).await;
    assert!(
        !assumed
            .iter()
            .any(|r| r["role_arn"] == closed_role.as_str()),
        "the suspended account's role was assumed"
    );
    // A second discovery does not try it either (never retried). The first inventory assumes
    // the active members' roles too: counted once it is done, before the sync.
    app.poll_until("/api/v1/resources/coverage", &ws.token, WAIT, |v| {
        v["accounts"].as_array().is_some_and(|a| {
            a.iter()
                .filter(|a| a["account_id"] != closed.as_str())
                .all(|a| a["last_inventory"].is_string())
        })
    })
    .await;
    let before = done
        .accounts
        .iter()
        .find(|a| a.account_id != closed && a.account_id != "313131313131")
        .unwrap()
        .account_id
        .clone();
    let member_role = format!("arn:aws:iam::{before}:role/CostlineReadOnly");
    let checks_before = assumed_roles(&moto.endpoint)
        .await
        .iter()
        .filter(|r| r["role_arn"] == member_role.as_str())
        .count();
    sync(&app, &ws.token, &id).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while assumed_roles(&moto.endpoint)
        .await
        .iter()
        .filter(|r| r["role_arn"] == member_role.as_str())
        .count()
        == checks_before
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second discovery never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!assumed_roles(&moto.endpoint)
        .await
        .iter()
        .any(|r| r["role_arn"] == closed_role.as_str()));

    // The StackSet runs the older template: its own update command, and what changed.
    let stackset = done
        .stackset
        .expect("a management account has StackSet instructions");
    assert_eq!(stackset.org_root_ids, vec![org.root_id.clone()]);
    assert_eq!(stackset.deployed_version.as_deref(), Some(older.as_str()));
    assert!(stackset.update_available);
    let command = stackset.update_command.expect("an update command");
    assert!(
        command.starts_with("aws cloudformation update-stack-set"),
        "{command}"
    );
    assert!(
        command.contains("--stack-set-name CostlineMemberRole"),
        "{command}"
    );
    assert!(command.contains("member-role.yaml"), "{command}");
    assert!(
        command.contains("ParameterKey=ExternalId,UsePreviousValue=true"),
        "{command}"
    );
    match costline_onboarding::published_permission_set(&older) {
        Some(_) => {
            let changes = stackset
                .changes
                .expect("the changes since a published version");
            assert_eq!(changes.from, older);
            assert_eq!(changes.to, costline_onboarding::TEMPLATE_VERSION);
            // Read from the frozen sets themselves, not through the code under test.
            let (old, new) = (
                frozen_actions(&older),
                frozen_actions(costline_onboarding::TEMPLATE_VERSION),
            );
            let added: Vec<String> = new.difference(&old).cloned().collect();
            let removed: Vec<String> = old.difference(&new).cloned().collect();
            assert_eq!(changes.added, added);
            assert_eq!(changes.removed, removed);
            assert!(!changes.is_empty());
        }
        None => assert!(stackset.changes.is_none()),
    }
    assert!(stackset
        .organizations_access_help
        .contains("aws cloudformation activate-organizations-access"));
}

/// Every allowed action of the frozen permission set `version`, read from its file.
fn frozen_actions(version: &str) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(format!(
        "{}/crates/onboarding/permission-sets/{version}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let set: Value = serde_json::from_str(&text).unwrap();
    let groups = set["allow"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&set["cur_bucket"]]);
    groups
        .flat_map(|g| g["actions"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The inline policy of the manual option with `drop` left out of its first allow statement.
fn inline_policy_without(drop: &str) -> Value {
    let mut policy = costline_onboarding::inline_policy(AwsPartition::Aws, Some("hand-cur"));
    let actions = policy["Statement"][0]["Action"].as_array_mut().unwrap();
    let before = actions.len();
    actions.retain(|a| a != drop);
    assert_eq!(
        actions.len(),
        before - 1,
        "{drop} is not in the first statement"
    );
    policy
}

#[tokio::test]
async fn a_role_made_by_hand_is_compared_with_the_published_permission_set() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Hand", "owner@hand.test").await;
    let customer = Customer::new(&moto.endpoint, "414141414141").await;
    let (id, external_id) = create(&app, &ws.token).await;

    let set = costline_onboarding::permission_set();
    let dropped = set.allow[0].actions[0].clone();
    let trust = costline_onboarding::trust_policy(
        AwsPartition::Aws,
        customer::PLATFORM_ACCOUNT,
        &external_id,
        None,
    );
    let role_arn = customer
        .create_role_by_hand(&trust, &set.policy_name, &inline_policy_without(&dropped))
        .await;
    app.connect_created_integration(&ws.token, &id, json!({"role_arn": role_arn}))
        .await;
    let done = wait_until(&app, &ws.token, &id, "verification", |v| {
        v.status != IntegrationStatus::Verifying
    })
    .await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:#?}");
    assert!(done.template.is_none(), "a hand-made role has no stack");
    let policy = done.role_policy.expect("the role's own policy was read");
    assert_eq!(policy.error, None);
    assert!(!policy.up_to_date);
    assert_eq!(policy.missing_actions, vec![dropped.clone()]);
    assert!(policy.missing_denies.is_empty(), "{policy:?}");
    assert!(policy
        .advice
        .unwrap()
        .contains(costline_onboarding::TEMPLATE_VERSION));

    // The customer applies the published policy: the next verification says it is current.
    customer
        .put_role_policy(
            &set.policy_name,
            &costline_onboarding::inline_policy(AwsPartition::Aws, Some("hand-cur")),
        )
        .await;
    sync(&app, &ws.token, &id).await;
    let done = wait_until(&app, &ws.token, &id, "the role to be current", |v| {
        v.role_policy.as_ref().is_some_and(|p| p.up_to_date)
    })
    .await;
    let policy = done.role_policy.unwrap();
    assert!(policy.missing_actions.is_empty());
    assert_eq!(
        policy.matches_version.as_deref(),
        Some(costline_onboarding::TEMPLATE_VERSION)
    );
}
