//! Issue 4 end to end: a customer's AWS organization on the moto emulator is connected through
//! the API and the worker pool.
//!
//! The customer lives in its own AWS account (not the platform's 123456789012): moto switches
//! accounts by the credentials of an assumed role, so the test assumes a role in the customer's
//! account (moto assumes any role ARN, existing or not) and, with those credentials, creates the
//! organization, its member accounts and the Costline stack there. The platform's worker then
//! assumes the stack's role with the integration's external id, as in production.
//!
//! What moto cannot do, and what these tests do about it:
//! - moto does not evaluate trust policies: any AssumeRole succeeds. AccessDenied (for the
//!   management role and for member roles) is therefore faked in process with aws-smithy-mocks
//!   (`AwsGateway::with_platform_sts`), while every other call still goes to moto.
//! - moto's CloudFormation has no `AWS::S3::BucketPolicy` and no `AWS::CUR::ReportDefinition`:
//!   it skips them with a warning and still reports CREATE_COMPLETE. The deployment test lists
//!   the template's resources and asserts that exactly these two are missing, so a moto that
//!   learns them (or a template that adds another unsupported type) makes the test say so.
//!   moto also leaves out the outputs that refer to a skipped resource (CurReportName), so the
//!   CUR location is not read from the stack on the emulator.

#[path = "support/customer.rs"]
mod customer;

use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use costline_aws::{AwsGateway, GatewayConfig};
use costline_testkit::{moto, spawn_app, spawn_app_with_gateway, spawn_app_with_workers, TestApp};
use customer::{
    assumed_roles, deploy_integration_stack, deploy_stack, template_resources,
    with_template_version, Customer, INTEGRATION_TEMPLATE, PLATFORM_ACCOUNT,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Connects the integration `id` with `role_arn` and waits for verification to end.
async fn connect(app: &TestApp, token: &str, id: &str, role_arn: &str) -> Value {
    app.connect_created_integration(token, id, json!({ "role_arn": role_arn }))
        .await;
    app.poll_until(
        &format!("/api/v1/integrations/aws/{id}"),
        token,
        WAIT,
        |v| v["status"] != "verifying",
    )
    .await
}

async fn create_integration(app: &TestApp, token: &str) -> (String, String) {
    let created = app.create_integration(token).await;
    (
        created["id"].as_str().unwrap().to_string(),
        created["external_id"].as_str().unwrap().to_string(),
    )
}

/// Waits until discovery has stored `count` accounts and checked every role.
async fn wait_for_accounts(app: &TestApp, token: &str, id: &str, count: usize) -> Value {
    app.poll_until(
        &format!("/api/v1/integrations/aws/{id}"),
        token,
        WAIT,
        |v| {
            v["accounts"].as_array().is_some_and(|a| {
                a.len() == count && a.iter().all(|a| a["role_status"] != "unknown")
            })
        },
    )
    .await
}

#[tokio::test]
async fn a_management_account_connects_with_its_organization_through_its_stack() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;

    let customer = Customer::new(&moto.endpoint, "111122223333").await;
    let org = customer.create_organization(3).await;
    assert_eq!(org.accounts.len(), 4, "management + 3 members");

    let (id, external_id) = create_integration(&app, &ws.token).await;
    let stack = deploy_integration_stack(&customer, &external_id).await;

    // moto must at least have created the role; the resources it skipped are exactly the two
    // types it does not implement.
    let template = template_resources(include_str!("../cloudformation/integration.yaml"));
    let created: BTreeSet<&str> = stack.resources.iter().map(String::as_str).collect();
    let missing: BTreeSet<(&str, &str)> = template
        .iter()
        .filter(|(logical, _)| !created.contains(logical.as_str()))
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    assert!(created.contains("CostlineRole"), "resources: {created:?}");
    assert_eq!(
        missing,
        BTreeSet::from([
            ("CurBucketPolicy", "AWS::S3::BucketPolicy"),
            ("CurReport", "AWS::CUR::ReportDefinition"),
        ]),
        "moto's CloudFormation skipped other resources than the two it is known not to implement"
    );
    let role_arn = stack.outputs["RoleArn"].clone();
    assert!(
        role_arn.starts_with("arn:aws:iam::111122223333:role/"),
        "{role_arn}"
    );

    let done = connect(&app, &ws.token, &id, &role_arn).await;
    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(done["account_type"], "management");
    assert_eq!(done["account_id"], "111122223333");
    assert_eq!(done["organization_id"], org.id.as_str());
    assert_eq!(done["error"], Value::Null);
    assert!(done.get("caveats").is_none(), "{done:#}");
    // moto also drops an output whose value refers to a resource it skipped: CurReportName
    // (`Ref: CurReport`) is missing, so on the emulator the CUR location cannot come from the
    // stack (it needs bucket and report name) and stays unconfigured until given on connect.
    assert!(
        stack.outputs.contains_key("CurBucket") && !stack.outputs.contains_key("CurReportName"),
        "moto's outputs changed: {:?}",
        stack.outputs
    );
    assert_eq!(done["cur"]["status"], "not_configured");
    assert_eq!(
        done["template"]["deployed_version"],
        costline_onboarding::TEMPLATE_VERSION
    );
    assert_eq!(done["template"]["update_available"], false);

    let done = wait_for_accounts(&app, &ws.token, &id, 4).await;
    let listed: BTreeSet<String> = done["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = org.accounts.iter().map(|a| a.id.clone()).collect();
    assert_eq!(listed, expected);
    for account in done["accounts"].as_array().unwrap() {
        let known = org
            .accounts
            .iter()
            .find(|a| a.id == account["account_id"])
            .unwrap();
        assert_eq!(account["name"], known.name.as_str());
        assert_eq!(account["email"], known.email.as_str());
        assert_eq!(account["status"], "ACTIVE");
        assert!(account["joined_at"].is_string(), "{account}");
        // moto lets any role be assumed, so every member role checks out here; a denied member
        // role is the subject of `member_roles_that_cannot_be_assumed_are_reported`.
        assert_eq!(account["role_status"], "ok", "{account}");
    }

    // StackSet instructions name the organization's real root.
    let stackset = &done["stackset"];
    assert_eq!(stackset["org_root_ids"], json!([org.root_id.as_str()]));
    let instructions = stackset["instructions"].as_str().unwrap();
    assert!(
        instructions.contains(&format!("OrganizationalUnitIds={}", org.root_id)),
        "{instructions}"
    );
    assert!(instructions.contains("--permission-model SERVICE_MANAGED"));
    assert!(instructions.contains(&format!("ParameterValue={external_id}")));
    assert!(instructions.contains("activate-organizations-access"));
    assert!(stackset["member_template_url"]
        .as_str()
        .unwrap()
        .ends_with("/member-role.yaml"));

    // The emulator's record of every AssumeRole: the management role and each member role were
    // assumed with the integration's external id, and by no other.
    let assumed = assumed_roles(&moto.endpoint).await;
    let ours: Vec<&Value> = assumed
        .iter()
        .filter(|r| r["role_arn"] == role_arn.as_str())
        .collect();
    assert!(
        !ours.is_empty(),
        "no AssumeRole of {role_arn} in {assumed:#?}"
    );
    for record in &ours {
        assert_eq!(record["external_id"], external_id.as_str(), "{record:#}");
        let session = record["session_name"].as_str().unwrap();
        assert!(session.contains(&ws.workspace_id[..8]), "{session}");
    }
    for member in org.accounts.iter().filter(|a| a.id != "111122223333") {
        let member_role = format!("arn:aws:iam::{}:role/CostlineReadOnly", member.id);
        let records: Vec<&Value> = assumed
            .iter()
            .filter(|r| r["role_arn"] == member_role.as_str())
            .collect();
        assert!(!records.is_empty(), "{member_role} was never assumed");
        assert!(records
            .iter()
            .all(|r| r["external_id"] == external_id.as_str()));
    }

    // An account that leaves the organization is marked, not dropped.
    let leaving = &org
        .accounts
        .iter()
        .find(|a| a.name == "member-2")
        .unwrap()
        .id;
    customer.remove_account(leaving).await;
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{id}/sync"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let after = app
        .poll_until(
            &format!("/api/v1/integrations/aws/{id}"),
            &ws.token,
            WAIT,
            |v| {
                v["accounts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["status"] == "LEFT"))
            },
        )
        .await;
    let accounts = after["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 4, "{after:#}");
    let left = accounts
        .iter()
        .find(|a| a["account_id"] == leaving.as_str())
        .unwrap();
    assert_eq!(left["status"], "LEFT");
    assert!(left["left_at"].is_string());
    assert_eq!(left["role_status"], "not_checked");
    assert_eq!(
        accounts.iter().filter(|a| a["status"] == "ACTIVE").count(),
        3
    );
}

#[tokio::test]
async fn a_member_account_connection_shows_the_caveats() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Team", "owner@team.test").await;

    let management = Customer::new(&moto.endpoint, "222233334444").await;
    let org = management.create_organization(1).await;
    let member_id = org
        .accounts
        .iter()
        .find(|a| a.id != "222233334444")
        .unwrap()
        .id
        .clone();
    let member = Customer::new(&moto.endpoint, &member_id).await;

    let (id, external_id) = create_integration(&app, &ws.token).await;
    let stack = deploy_integration_stack(&member, &external_id).await;
    let done = connect(&app, &ws.token, &id, &stack.outputs["RoleArn"]).await;

    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(done["account_type"], "member");
    assert_eq!(done["account_id"], member_id.as_str());
    assert_eq!(done["management_account_id"], "222233334444");
    assert_eq!(done["organization_id"], org.id.as_str());
    let caveats: Vec<&str> = done["caveats"]
        .as_array()
        .expect("caveats for a member account")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(caveats.len(), 4);
    assert!(caveats.iter().any(|c| c.contains("Only this account")));
    assert!(caveats.iter().any(|c| c.contains("Other member accounts")));
    assert!(caveats.iter().any(|c| c.contains("tag")));
    assert!(caveats.iter().any(|c| c.contains("Reserved Instances")));
    assert!(done["advice"]
        .as_str()
        .unwrap()
        .contains("management account"));
    assert!(done.get("stackset").is_none(), "{done:#}");

    // A member connection knows one account: its own.
    let done = wait_for_accounts(&app, &ws.token, &id, 1).await;
    assert_eq!(done["accounts"][0]["account_id"], member_id.as_str());
    assert_eq!(done["accounts"][0]["role_status"], "ok");
}

#[tokio::test]
async fn a_malformed_role_arn_is_refused_with_what_is_wrong() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Typo", "owner@typo.test").await;
    let (id, _) = create_integration(&app, &ws.token).await;
    let cases = [
        ("arn:aws:iam::12345:role/CostlineReadOnly", "12 digits"),
        ("arn:aws:s3:::my-bucket", "iam"),
        ("arn:aws-xx:iam::123456789012:role/Costline", "partition"),
        ("arn:aws:iam::123456789012:user/someone", "role/"),
        ("arn:aws:iam:us-east-1:123456789012:role/Costline", "region"),
        ("CostlineReadOnly", "arn:aws:iam::"),
    ];
    for (arn, named) in cases {
        let (status, body) = app
            .call(
                "POST",
                &format!("/api/v1/integrations/aws/{id}/connect"),
                Some(&ws.token),
                Some(json!({ "role_arn": arn })),
            )
            .await;
        assert_eq!(status, 400, "{arn}: {body}");
        assert_eq!(body["error"]["code"], "invalid_role_arn", "{arn}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{arn}: {message}");
    }
    // Nothing was stored or queued.
    let (_, view) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{id}"),
            Some(&ws.token),
            None,
        )
        .await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["role_arn"], Value::Null);
}

/// STS's answer to an AssumeRole the role's trust policy does not allow.
fn access_denied(role_arn: &str) -> aws_smithy_runtime_api::http::Response {
    let body = format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::{PLATFORM_ACCOUNT}:user/costline is not authorized to perform: sts:AssumeRole on resource: {role_arn}</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>"#
    );
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

fn platform_identity() -> aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput {
    aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
        .account(PLATFORM_ACCOUNT)
        .arn(format!("arn:aws:iam::{PLATFORM_ACCOUNT}:user/costline"))
        .user_id("AIDAPLATFORM")
        .build()
}

#[tokio::test]
async fn access_denied_on_assume_role_shows_the_trust_policy_to_fix() {
    let role_arn = "arn:aws:iam::333344445555:role/CostlineReadOnly";
    let denied = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |r| r.role_arn() == Some(role_arn))
        .then_http_response(move || access_denied(role_arn));
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(platform_identity);
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[&denied, &identity]);
    // Nothing reaches this endpoint: the role session fails while getting its credentials.
    let gateway =
        AwsGateway::with_platform_sts(GatewayConfig::for_emulator("http://127.0.0.1:9"), sts);
    let app = spawn_app_with_gateway(gateway).await;
    let ws = app.create_workspace("Denied", "owner@denied.test").await;
    let (id, external_id) = create_integration(&app, &ws.token).await;

    let done = connect(&app, &ws.token, &id, role_arn).await;
    assert_eq!(done["status"], "error", "{done:#}");
    assert_eq!(done["error_code"], "assume_role_denied");
    let error = done["error"].as_str().unwrap();
    assert!(error.contains(role_arn), "{error}");
    assert!(error.contains("trust relationship"), "{error}");
    assert!(error.contains("external id"), "{error}");
    assert!(error.contains(PLATFORM_ACCOUNT), "{error}");
    assert!(denied.num_calls() >= 1);

    let trust = &done["expected_trust_policy"];
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRole", "{trust:#}");
    assert_eq!(
        statement["Principal"]["AWS"],
        format!("arn:aws:iam::{PLATFORM_ACCOUNT}:root")
    );
    assert_eq!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"],
        external_id.as_str()
    );
    // The job that failed says the same.
    assert!(done.get("accounts").is_some());
}

#[tokio::test]
async fn member_roles_that_cannot_be_assumed_are_reported() {
    let moto = moto().await;
    let customer = Customer::new(&moto.endpoint, "444455556666").await;
    let org = customer.create_organization(2).await;
    let management_role = "arn:aws:iam::444455556666:role/CostlineReadOnly";
    // Real emulator credentials for the management role, so that Organizations calls reach
    // moto as the customer's account; every member role is denied, as when the StackSet was
    // never deployed.
    let credentials: AssumeRoleOutput = customer.assume_as_platform(management_role).await;
    let management = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |r| r.role_arn() == Some(management_role))
        .then_output(move || credentials.clone());
    let members = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |r| r.role_arn() != Some(management_role))
        .then_compute_response(|r| {
            aws_smithy_mocks::MockResponse::Http(access_denied(r.role_arn().unwrap_or_default()))
        });
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(platform_identity);
    let sts = mock_client!(
        aws_sdk_sts,
        RuleMode::MatchAny,
        &[&management, &members, &identity]
    );
    let gateway = AwsGateway::with_platform_sts(GatewayConfig::for_emulator(&moto.endpoint), sts);
    let app = spawn_app_with_gateway(gateway).await;
    let ws = app.create_workspace("Org", "owner@org.test").await;
    let (id, _) = create_integration(&app, &ws.token).await;

    let done = connect(&app, &ws.token, &id, management_role).await;
    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(done["account_type"], "management");
    let done = wait_for_accounts(&app, &ws.token, &id, 3).await;
    for account in done["accounts"].as_array().unwrap() {
        if account["account_id"] == "444455556666" {
            assert_eq!(account["role_status"], "ok", "{account}");
            continue;
        }
        assert_eq!(account["role_status"], "denied", "{account}");
        let why = account["role_error"].as_str().unwrap();
        assert!(why.contains("StackSet"), "{why}");
        assert!(why.contains("external id"), "{why}");
        assert!(
            why.contains(account["account_id"].as_str().unwrap()),
            "{why}"
        );
    }
    assert_eq!(members.num_calls(), 2);
    // The integration itself stays connected: a missing member role limits nothing of the
    // management account's CUR.
    assert_eq!(done["status"], "connected");
    assert_eq!(
        done["stackset"]["org_root_ids"],
        json!([org.root_id.as_str()])
    );
}

#[tokio::test]
async fn a_stack_of_an_older_template_is_offered_the_update() {
    let moto = moto().await;
    let app = spawn_app_with_workers(&moto.endpoint).await;
    let ws = app.create_workspace("Old", "owner@old.test").await;
    // A standalone account whose stack still runs template 0.9.0.
    let customer = Customer::new(&moto.endpoint, "777788889999").await;
    let old_template = with_template_version(INTEGRATION_TEMPLATE, "0.9.0");
    let (id, external_id) = create_integration(&app, &ws.token).await;
    let stack = deploy_stack(&customer, &old_template, &external_id).await;

    let done = connect(&app, &ws.token, &id, &stack.outputs["RoleArn"]).await;
    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(done["account_type"], "standalone");
    assert!(done.get("caveats").is_none());
    assert!(done.get("stackset").is_none());
    let template = &done["template"];
    assert_eq!(template["deployed_version"], "0.9.0", "{done:#}");
    assert_eq!(
        template["current_version"],
        costline_onboarding::TEMPLATE_VERSION
    );
    assert_eq!(template["update_available"], true);
    let url = template["update_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://console.aws.amazon.com/cloudformation/home?region=us-east-1"),
        "{url}"
    );
    assert!(url.contains("stacks/update"), "{url}");
    assert!(url.contains("integration.yaml"), "{url}");
    let command = template["update_command"].as_str().unwrap();
    assert!(
        command.starts_with("aws cloudformation update-stack"),
        "{command}"
    );
    assert!(command.contains("--stack-name Costline"), "{command}");
    assert!(
        command.contains("ParameterKey=ExternalId,UsePreviousValue=true"),
        "{command}"
    );

    // A standalone connection knows its one account.
    let done = wait_for_accounts(&app, &ws.token, &id, 1).await;
    assert_eq!(done["accounts"][0]["account_id"], "777788889999");
    assert_eq!(done["accounts"][0]["role_status"], "ok");
}

/// STS fake for the external-id proof: AssumeRole of `role_arn` with the integration's external
/// id (set in `real_id` once known) answers moto's real credentials; with another id, or none,
/// it answers AccessDenied when `enforced`, and the same credentials when not (a trust policy
/// without the sts:ExternalId condition). moto itself assumes any role with any external id, so
/// the refusal a correct trust policy gives can only come from this fake.
fn external_id_sts(
    role_arn: &'static str,
    credentials: AssumeRoleOutput,
    real_id: std::sync::Arc<std::sync::Mutex<String>>,
    enforced: bool,
) -> (aws_sdk_sts::Client, aws_smithy_mocks::Rule) {
    let with_real = {
        let real_id = real_id.clone();
        let credentials = credentials.clone();
        mock!(aws_sdk_sts::Client::assume_role)
            .match_requests(move |r| r.external_id() == Some(real_id.lock().unwrap().as_str()))
            .then_output(move || credentials.clone())
    };
    let wrong = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(move |r| r.external_id() != Some(real_id.lock().unwrap().as_str()))
        .then_compute_response(move |_| {
            if enforced {
                aws_smithy_mocks::MockResponse::Http(access_denied(role_arn))
            } else {
                aws_smithy_mocks::MockResponse::Output(credentials.clone())
            }
        });
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(platform_identity);
    let sts = mock_client!(
        aws_sdk_sts,
        RuleMode::MatchAny,
        &[&with_real, &wrong, &identity]
    );
    (sts, wrong)
}

/// Connects a standalone account's role through STS faked by [`external_id_sts`] with the
/// external-id proof on, as against AWS; returns the integration once verification ended and
/// how many AssumeRole calls used a wrong or no external id.
async fn connect_with_external_id_proof(enforced: bool) -> (Value, usize) {
    const ROLE: &str = "arn:aws:iam::555566667777:role/CostlineReadOnly";
    let moto = moto().await;
    let customer = Customer::new(&moto.endpoint, "555566667777").await;
    let credentials = customer.assume_as_platform(ROLE).await;
    let real_id = std::sync::Arc::new(std::sync::Mutex::new(String::from("unknown yet")));
    let (sts, wrong) = external_id_sts(ROLE, credentials, real_id.clone(), enforced);
    let mut config = GatewayConfig::for_emulator(&moto.endpoint);
    config.prove_external_id_required = true;
    let app = spawn_app_with_gateway(AwsGateway::with_platform_sts(config, sts)).await;
    let ws = app.create_workspace("Trust", "owner@trust.test").await;
    let (id, external_id) = create_integration(&app, &ws.token).await;
    *real_id.lock().unwrap() = external_id;
    let done = connect(&app, &ws.token, &id, ROLE).await;
    (done, wrong.num_calls())
}

#[tokio::test]
async fn a_role_that_also_accepts_a_wrong_external_id_fails_verification() {
    let (done, wrong_calls) = connect_with_external_id_proof(false).await;
    assert_eq!(done["status"], "error", "{done:#}");
    assert_eq!(done["error_code"], "external_id_not_required", "{done:#}");
    let error = done["error"].as_str().unwrap();
    assert!(
        error.contains("the trust policy does not require the external id"),
        "{error}"
    );
    assert!(
        error.contains("a random external id") && error.contains("sts:ExternalId"),
        "{error}"
    );
    assert_eq!(
        wrong_calls, 1,
        "the random id was accepted: no need to try none"
    );
}

#[tokio::test]
async fn a_role_that_requires_its_external_id_passes_the_proof() {
    let (done, wrong_calls) = connect_with_external_id_proof(true).await;
    assert_eq!(done["status"], "connected", "{done:#}");
    assert_eq!(
        wrong_calls, 2,
        "a random external id, then none, were both refused"
    );
}
