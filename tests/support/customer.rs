//! A customer's AWS side on the moto emulator: its own account (reached by assuming a role in
//! it, which is how moto switches accounts), its organization and its Costline stack; and the
//! emulator's record of the roles Costline assumed.

#![allow(dead_code)] // each test file uses part of it

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The platform's account on the emulator (moto's default account, whose `testing`
/// credentials the app uses).
pub const PLATFORM_ACCOUNT: &str = costline_testkit::PLATFORM_ACCOUNT_ID;

/// A customer's AWS account on the emulator.
pub struct Customer {
    pub account_id: String,
    pub config: SdkConfig,
    platform_sts: aws_sdk_sts::Client,
}

/// An organization made by [`Customer::create_organization`].
pub struct Org {
    /// `o-…`
    pub id: String,
    /// `r-…`
    pub root_id: String,
    /// Every account, the management account included.
    pub accounts: Vec<Account>,
}

/// One account of an organization.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// A deployed stack: its outputs and the logical ids of the resources the emulator created.
pub struct Stack {
    pub outputs: HashMap<String, String>,
    pub resources: Vec<String>,
}

async fn platform_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "test-platform",
        ))
        .load()
        .await
}

impl Customer {
    /// Acts in `account_id`: assumes a role there with the platform's test credentials (moto
    /// assumes any role, so the account needs nothing set up first).
    pub async fn new(endpoint: &str, account_id: &str) -> Customer {
        let platform_sts = aws_sdk_sts::Client::new(&platform_config(endpoint).await);
        let out = platform_sts
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
            ))
            .role_session_name("customer-admin")
            .send()
            .await
            .expect("assume a role in the customer's account");
        let c = out.credentials.expect("credentials");
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "test-customer",
            ))
            .load()
            .await;
        let me = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .expect("caller identity");
        assert_eq!(
            me.account.as_deref(),
            Some(account_id),
            "moto switched accounts"
        );
        Customer {
            account_id: account_id.to_string(),
            config,
            platform_sts,
        }
    }

    /// AssumeRole of `role_arn` with the platform's credentials, as the emulator answers it.
    pub async fn assume_as_platform(&self, role_arn: &str) -> AssumeRoleOutput {
        self.platform_sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("costline-test")
            .send()
            .await
            .expect("assume role")
    }

    fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.config)
    }

    /// Creates an organization (all features) with this account as management account and
    /// `members` new member accounts named `member-1`….
    pub async fn create_organization(&self, members: usize) -> Org {
        let orgs = self.organizations();
        let org = orgs
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization")
            .organization
            .expect("organization");
        for n in 1..=members {
            orgs.create_account()
                .account_name(format!("member-{n}"))
                .email(format!("member-{n}@customer.test"))
                .send()
                .await
                .expect("create account");
        }
        let mut accounts = Vec::new();
        let mut pages = orgs.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            for a in page.expect("list accounts").accounts.unwrap_or_default() {
                accounts.push(Account {
                    id: a.id.unwrap(),
                    name: a.name.unwrap_or_default(),
                    email: a.email.unwrap_or_default(),
                });
            }
        }
        let roots = orgs.list_roots().send().await.expect("list roots");
        Org {
            id: org.id.unwrap(),
            root_id: roots.roots.unwrap()[0].id.clone().unwrap(),
            accounts,
        }
    }

    /// Closes a member account (moto moves it straight to SUSPENDED, where AWS passes through
    /// PENDING_CLOSURE first).
    pub async fn close_account(&self, account_id: &str) {
        self.organizations()
            .close_account()
            .account_id(account_id)
            .send()
            .await
            .expect("close account");
    }

    /// Creates the member-role StackSet with `template` in this (management) account, as the
    /// console's instructions do.
    pub async fn create_member_stack_set(&self, template: &str, external_id: &str) {
        aws_sdk_cloudformation::Client::new(&self.config)
            .create_stack_set()
            .stack_set_name(costline_onboarding::MEMBER_STACK_SET_NAME)
            .template_body(template)
            .set_parameters(Some(costline_parameters(external_id)))
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create the member StackSet");
    }

    /// Creates the Costline role by hand (as a Terraform or manual customer does): the trust
    /// policy and one inline policy `policy_name` with `policy`. Returns its ARN.
    pub async fn create_role_by_hand(
        &self,
        trust_policy: &Value,
        policy_name: &str,
        policy: &Value,
    ) -> String {
        let iam = aws_sdk_iam::Client::new(&self.config);
        let role = iam
            .create_role()
            .role_name("CostlineReadOnly")
            .assume_role_policy_document(trust_policy.to_string())
            .send()
            .await
            .expect("create role")
            .role
            .expect("role");
        self.put_role_policy(policy_name, policy).await;
        role.arn
    }

    /// Replaces the inline policy `policy_name` of the hand-made role.
    pub async fn put_role_policy(&self, policy_name: &str, policy: &Value) {
        aws_sdk_iam::Client::new(&self.config)
            .put_role_policy()
            .role_name("CostlineReadOnly")
            .policy_name(policy_name)
            .policy_document(policy.to_string())
            .send()
            .await
            .expect("put role policy");
    }

    /// Removes a member account from the organization.
    pub async fn remove_account(&self, account_id: &str) {
        self.organizations()
            .remove_account_from_organization()
            .account_id(account_id)
            .send()
            .await
            .expect("remove account from organization");
    }
}

/// The parameters the console's links and commands pass to either template.
fn costline_parameters(external_id: &str) -> Vec<Parameter> {
    [
        ("ExternalId", external_id),
        ("PlatformAccountId", PLATFORM_ACCOUNT),
    ]
    .into_iter()
    .map(|(key, value)| {
        Parameter::builder()
            .parameter_key(key)
            .parameter_value(value)
            .build()
    })
    .collect()
}

/// `template` (a Costline template of this build) with its `TemplateVersion` output set to
/// `version`, as a stack deployed from an older release has it.
pub fn with_template_version(template: &str, version: &str) -> String {
    let current = format!("Value: \"{}\"", costline_onboarding::TEMPLATE_VERSION);
    assert!(template.contains(&current), "TemplateVersion output moved");
    template.replace(&current, &format!("Value: \"{version}\""))
}

/// The integration template of this build.
pub const INTEGRATION_TEMPLATE: &str = include_str!("../../cloudformation/integration.yaml");

/// Deploys `cloudformation/integration.yaml` in the customer's account with the integration's
/// external id, as the quick-create link does, and waits for CREATE_COMPLETE.
pub async fn deploy_integration_stack(customer: &Customer, external_id: &str) -> Stack {
    deploy_stack(customer, INTEGRATION_TEMPLATE, external_id).await
}

/// [`deploy_integration_stack`] with another template body (e.g. an older version of it).
pub async fn deploy_stack(customer: &Customer, template: &str, external_id: &str) -> Stack {
    let cfn = aws_sdk_cloudformation::Client::new(&customer.config);
    cfn.create_stack()
        .stack_name("Costline")
        .template_body(template)
        .set_parameters(Some(costline_parameters(external_id)))
        .capabilities(Capability::CapabilityNamedIam)
        .send()
        .await
        .expect("create the Costline stack");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stack = loop {
        let stack = cfn
            .describe_stacks()
            .stack_name("Costline")
            .send()
            .await
            .expect("describe stack")
            .stacks
            .unwrap()
            .remove(0);
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!(
                "the Costline stack did not reach CREATE_COMPLETE: {other:?} ({:?})",
                stack.stack_status_reason()
            ),
        }
    };
    let outputs = stack
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value.unwrap_or_default())))
        .collect();
    let resources = cfn
        .list_stack_resources()
        .stack_name("Costline")
        .send()
        .await
        .expect("list stack resources")
        .stack_resource_summaries
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.logical_resource_id)
        .collect();
    Stack { outputs, resources }
}

/// The (logical id, type) of every resource of a CloudFormation template in this repository's
/// layout (two-space indentation, `Type:` on the line after the logical id).
pub fn template_resources(template: &str) -> Vec<(String, String)> {
    let mut in_resources = false;
    let mut current: Option<String> = None;
    let mut found = Vec::new();
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        if !in_resources {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.trim_end().strip_suffix(':'))
        {
            current = Some(name.to_string());
        } else if let (Some(name), Some(kind)) = (&current, line.trim().strip_prefix("Type: ")) {
            if line.starts_with("    ") && !line.starts_with("     ") {
                found.push((name.clone(), kind.trim().to_string()));
                current = None;
            }
        }
    }
    assert!(!found.is_empty(), "no resources found in the template");
    found
}

/// moto's record of every AssumeRole it answered (`/moto-api/data.json`, model
/// `sts.AssumedRole`): role_arn, session_name, external_id and the credentials it issued.
pub async fn assumed_roles(endpoint: &str) -> Vec<Value> {
    let data: Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .expect("moto data")
        .json()
        .await
        .expect("moto data is JSON");
    data["sts"]["AssumedRole"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
