//! The published artifacts carry one permission set: the CloudFormation templates, the Terraform
//! module and the manual JSON must grant the same actions on the same resources, and trust the
//! same principal under the same conditions. Each test fails on any drift.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use costline_domain::AwsPartition;
use costline_onboarding::{
    inline_policy, member_inline_policy, member_role_name, permission_set, terraform_snippet,
    trust_policy, PolicyScope, INTEGRATION_PARAMETERS, INTEGRATION_TEMPLATE, MEMBER_PARAMETERS,
    MEMBER_ROLE_TEMPLATE, TEMPLATE_VERSION,
};
use serde_json::{json, Value};
use support::cfn::Stack;
use support::{hcl, read, repo_root, tftpl};

const PLATFORM: &str = "111122223333";
const EXTERNAL_ID: &str = "cl-0123456789abcdef0123456789abcdef0123456789abcdef";
const WORKER: &str = "arn:aws:iam::111122223333:role/costline-worker";
const CUR_BUCKET: &str = "costline-curbucket-1a2b3c4d5e6f";
const STACK_ACCOUNT: &str = "444455556666";

fn integration(principal_arn: &str) -> Stack {
    integration_in(AwsPartition::Aws, principal_arn)
}

/// The integration stack as created in `partition`'s integration region.
fn integration_in(partition: AwsPartition, principal_arn: &str) -> Stack {
    Stack::in_region(
        INTEGRATION_TEMPLATE,
        &[
            ("ExternalId", EXTERNAL_ID),
            ("PlatformAccountId", PLATFORM),
            ("PlatformPrincipalArn", principal_arn),
        ],
        &[
            ("CostlineRole", "CostlineReadOnly"),
            ("CurBucket", CUR_BUCKET),
            ("CurBucketPolicy", "CurBucketPolicy"),
            ("CurReport", "costline"),
        ],
        partition.as_str(),
        partition.integration_region(),
    )
}

fn member(principal_arn: &str) -> Stack {
    member_in(AwsPartition::Aws, principal_arn)
}

/// The member stack as a StackSet creates it in `partition` (in any region: IAM is global).
fn member_in(partition: AwsPartition, principal_arn: &str) -> Stack {
    Stack::in_region(
        MEMBER_ROLE_TEMPLATE,
        &[
            ("ExternalId", EXTERNAL_ID),
            ("PlatformAccountId", PLATFORM),
            ("PlatformPrincipalArn", principal_arn),
        ],
        &[("CostlineRole", "CostlineReadOnly")],
        partition.as_str(),
        partition.integration_region(),
    )
}

/// The platform's worker role in `partition`.
fn worker(partition: AwsPartition) -> String {
    format!("arn:{partition}:iam::{PLATFORM}:role/costline-worker")
}

/// Panics with the actions that differ statement by statement, which a plain
/// `assert_eq!` of two large documents buries.
fn assert_same_policy(what: &str, actual: &Value, expected: &Value) {
    if actual == expected {
        return;
    }
    let by_sid = |doc: &Value| -> BTreeMap<String, Value> {
        doc["Statement"]
            .as_array()
            .map(|statements| {
                statements
                    .iter()
                    .map(|s| (s["Sid"].as_str().unwrap_or("?").to_owned(), s.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (actual_sids, expected_sids) = (by_sid(actual), by_sid(expected));
    let mut report = String::new();
    for (sid, want) in &expected_sids {
        match actual_sids.get(sid) {
            None => report.push_str(&format!("\n  {sid}: missing")),
            Some(got) if got != want => {
                let actions = |s: &Value| -> BTreeSet<String> {
                    match &s["Action"] {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(|a| a.as_str().map(str::to_owned))
                            .collect(),
                        Value::String(a) => BTreeSet::from([a.clone()]),
                        _ => BTreeSet::new(),
                    }
                };
                let (g, w) = (actions(got), actions(want));
                report.push_str(&format!(
                    "\n  {sid}: differs; missing actions {:?}, extra actions {:?}\n    got:  {got}\n    want: {want}",
                    w.difference(&g).collect::<Vec<_>>(),
                    g.difference(&w).collect::<Vec<_>>(),
                ));
            }
            Some(_) => {}
        }
    }
    for sid in actual_sids
        .keys()
        .filter(|s| !expected_sids.contains_key(*s))
    {
        report.push_str(&format!("\n  {sid}: not in the permission set"));
    }
    if actual_sids.keys().collect::<Vec<_>>() != expected_sids.keys().collect::<Vec<_>>()
        || report.is_empty()
    {
        report.push_str(&format!("\n  got:  {actual}\n  want: {expected}"));
    }
    panic!("{what} differs from crates/onboarding/permission-set.json:{report}");
}

fn role_policy(stack: &Stack) -> Value {
    let policies = stack.property("CostlineRole", &["Policies"]);
    let policies = policies.as_array().expect("Policies");
    assert_eq!(policies.len(), 1, "the role has exactly one inline policy");
    assert_eq!(
        policies[0]["PolicyName"],
        permission_set().policy_name.as_str()
    );
    policies[0]["PolicyDocument"].clone()
}

/// The role of `stack` (as created in each partition, with and without the platform principal
/// narrowed) has the rendered trust policy.
fn assert_trusts_the_platform(what: &str, stack: impl Fn(AwsPartition, &str) -> Stack) {
    for partition in AwsPartition::ALL {
        let worker = worker(partition);
        for principal in [None, Some(worker.as_str())] {
            assert_same_policy(
                &format!("{what} trust policy in {partition}"),
                &stack(partition, principal.unwrap_or(""))
                    .property("CostlineRole", &["AssumeRolePolicyDocument"]),
                &trust_policy(partition, PLATFORM, EXTERNAL_ID, principal),
            );
        }
    }
}

#[test]
fn the_integration_role_trusts_the_platform_only_with_the_external_id() {
    assert_trusts_the_platform("integration.yaml", integration_in);
    assert_eq!(
        integration_in(AwsPartition::AwsCn, "")
            .property("CostlineRole", &["AssumeRolePolicyDocument", "Statement"])[0]["Principal"]
            ["AWS"],
        format!("arn:aws-cn:iam::{PLATFORM}:root")
    );
}

#[test]
fn the_integration_role_policy_is_the_permission_set() {
    for partition in AwsPartition::ALL {
        assert_same_policy(
            &format!("integration.yaml inline policy in {partition}"),
            &role_policy(&integration_in(partition, "")),
            &inline_policy(partition, Some(CUR_BUCKET)),
        );
    }
    let stack = integration("");
    assert_eq!(
        stack.property("CostlineRole", &["RoleName"]),
        member_role_name()
    );
}

#[test]
fn the_member_role_trusts_the_platform_only_with_the_external_id() {
    assert_trusts_the_platform("member-role.yaml", member_in);
}

#[test]
fn the_member_role_policy_is_the_permission_set_without_the_cur_bucket() {
    for partition in AwsPartition::ALL {
        assert_same_policy(
            &format!("member-role.yaml inline policy in {partition}"),
            &role_policy(&member_in(partition, "")),
            &member_inline_policy(partition),
        );
    }
    let stack = member("");
    assert_eq!(
        stack.property("CostlineRole", &["RoleName"]),
        member_role_name()
    );
}

#[test]
fn both_templates_declare_the_same_role() {
    let (management, member) = (integration(""), member(""));
    for property in ["RoleName", "Description", "MaxSessionDuration", "Tags"] {
        assert_eq!(
            management.property("CostlineRole", &[property]),
            member.property("CostlineRole", &[property]),
            "{property}"
        );
    }
    let mut resources: Vec<String> = member.template["Resources"]
        .as_object()
        .expect("Resources")
        .keys()
        .cloned()
        .collect();
    resources.sort();
    assert_eq!(
        resources,
        ["CostlineRole"],
        "the member template is the role only"
    );
}

#[test]
fn templates_declare_the_parameters_and_outputs_the_platform_uses() {
    let sorted = |names: &[&str]| -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        names.sort();
        names
    };
    let stack = integration("");
    assert_eq!(stack.parameter_names(), sorted(INTEGRATION_PARAMETERS));
    assert_eq!(
        stack.output_names(),
        sorted(&[
            "CurBucket",
            "CurPrefix",
            "CurReportName",
            "RoleArn",
            "TemplateVersion"
        ])
    );
    assert_eq!(stack.output("TemplateVersion"), TEMPLATE_VERSION);
    assert_eq!(stack.output("CurBucket"), CUR_BUCKET);
    assert_eq!(stack.output("CurPrefix"), "cur");

    let stack = member("");
    assert_eq!(stack.parameter_names(), sorted(MEMBER_PARAMETERS));
    assert_eq!(
        stack.output_names(),
        sorted(&["RoleArn", "TemplateVersion"])
    );
    assert_eq!(stack.output("TemplateVersion"), TEMPLATE_VERSION);
    assert_eq!(permission_set().version, TEMPLATE_VERSION);
}

#[test]
fn the_report_definition_is_daily_with_resources_and_refreshes_closed_reports() {
    let stack = integration("");
    let report = |name: &str| stack.property("CurReport", &[name]);
    assert_eq!(report("TimeUnit"), "DAILY");
    assert_eq!(report("AdditionalSchemaElements"), json!(["RESOURCES"]));
    assert_eq!(report("RefreshClosedReports"), true);
    assert_eq!(report("ReportVersioning"), "CREATE_NEW_REPORT");
    assert_eq!(report("S3Bucket"), CUR_BUCKET);
    let formats = &stack.template["Mappings"]["ReportFormats"];
    assert_eq!(
        formats["CSV"],
        json!({"Format": "textORcsv", "Compression": "GZIP"})
    );
    assert_eq!(
        formats["Parquet"],
        json!({"Format": "Parquet", "Compression": "Parquet"})
    );
    assert_eq!(
        stack.template["Parameters"]["ReportFormat"]["AllowedValues"],
        json!(["CSV", "Parquet"])
    );
}

// ---- Terraform ------------------------------------------------------------------------------

const ROLE_POLICY_TEMPLATE: &str = "terraform/policies/role-policy.json.tftpl";
const TRUST_POLICY_TEMPLATE: &str = "terraform/policies/trust-policy.json.tftpl";
const BUCKET_POLICY_TEMPLATE: &str = "terraform/policies/cur-bucket-policy.json.tftpl";

/// The role policy template as this build renders it, with Terraform's template variables in
/// place of the partition and the bucket.
fn expected_role_policy_template() -> String {
    let mut text = permission_set().policy_document_text(
        PolicyScope::Management {
            cur_bucket: "${cur_bucket}",
        },
        "${partition}",
    );
    text.push('\n');
    text
}

#[test]
fn the_terraform_role_policy_is_the_permission_set() {
    let expected = expected_role_policy_template();
    if std::env::var_os("COSTLINE_BLESS").is_some() {
        std::fs::write(repo_root().join(ROLE_POLICY_TEMPLATE), &expected).expect("bless");
    }
    let actual = read(ROLE_POLICY_TEMPLATE);
    for partition in AwsPartition::ALL {
        let vars = BTreeMap::from([
            ("partition", partition.as_str()),
            ("cur_bucket", CUR_BUCKET),
        ]);
        let rendered: Value =
            serde_json::from_str(&tftpl::render(&actual, &vars)).expect("rendered JSON");
        assert_same_policy(
            &format!("{ROLE_POLICY_TEMPLATE} in {partition}"),
            &rendered,
            &inline_policy(partition, Some(CUR_BUCKET)),
        );
    }
    assert!(
        actual == expected,
        "{ROLE_POLICY_TEMPLATE} is not formatted as generated; \
         run COSTLINE_BLESS=1 cargo test -p costline-onboarding"
    );
}

#[test]
fn the_terraform_trust_policy_is_the_permission_set() {
    let template = read(TRUST_POLICY_TEMPLATE);
    for partition in AwsPartition::ALL {
        let worker = worker(partition);
        for principal in [None, Some(worker.as_str())] {
            let vars = BTreeMap::from([
                ("partition", partition.as_str()),
                ("platform_account_id", PLATFORM),
                ("external_id", EXTERNAL_ID),
                ("platform_principal_arn", principal.unwrap_or("")),
            ]);
            let rendered: Value =
                serde_json::from_str(&tftpl::render(&template, &vars)).expect("rendered JSON");
            assert_same_policy(
                &format!("{TRUST_POLICY_TEMPLATE} in {partition}"),
                &rendered,
                &trust_policy(partition, PLATFORM, EXTERNAL_ID, principal),
            );
        }
    }
}

#[test]
fn the_terraform_bucket_policy_is_the_cloudformation_one() {
    let template = read(BUCKET_POLICY_TEMPLATE);
    for partition in AwsPartition::ALL {
        let region = partition.integration_region();
        let vars = BTreeMap::from([
            ("partition", partition.as_str()),
            ("region", region),
            ("account_id", STACK_ACCOUNT),
            ("bucket", CUR_BUCKET),
        ]);
        let rendered: Value =
            serde_json::from_str(&tftpl::render(&template, &vars)).expect("rendered JSON");
        let stack = integration_in(partition, "");
        let policy = stack.property("CurBucketPolicy", &["PolicyDocument"]);
        assert_eq!(rendered, policy, "{partition}");
        // The billing services deliver from the stack's own partition and region.
        let text = policy.to_string();
        assert!(
            text.contains(&format!(
                "arn:{partition}:cur:{region}:{STACK_ACCOUNT}:definition/*"
            )),
            "{text}"
        );
        assert_eq!(
            text.matches("arn:").count(),
            text.matches(&format!("arn:{partition}:")).count(),
            "{text}"
        );
    }
}

// ---- Partitions and regions ------------------------------------------------------------------

/// Regions of every partition, some of them wrong for the integration stack.
const SOME_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "eu-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-gov-west-1",
    "us-gov-east-1",
];

#[test]
fn the_integration_stack_is_created_only_in_its_partitions_integration_region() {
    for region in SOME_REGIONS {
        let partition = AwsPartition::from_region(region);
        let stack = Stack::in_region(
            INTEGRATION_TEMPLATE,
            &[("ExternalId", EXTERNAL_ID), ("PlatformAccountId", PLATFORM)],
            &[],
            partition.as_str(),
            region,
        );
        assert_eq!(
            stack.rules_hold(),
            *region == partition.integration_region(),
            "the template's Rules in {region} ({partition})"
        );
    }
}

#[test]
fn the_report_definition_exists_where_the_partition_serves_reports() {
    for partition in AwsPartition::ALL {
        let stack = integration_in(partition, "");
        assert_eq!(
            stack.creates("CurReport"),
            partition.billing_region().is_some(),
            "{partition}"
        );
        assert!(stack.creates("CurBucket") && stack.creates("CostlineRole"));
        // Where the report exists the bucket receives it in the billing region.
        if stack.creates("CurReport") {
            assert_eq!(
                stack.property("CurReport", &["S3Region"]),
                partition.billing_region().expect("checked")
            );
        }
        // The outputs Costline reads name the report folder in every partition.
        assert_eq!(stack.output("CurReportName"), "costline", "{partition}");
        assert_eq!(stack.output("CurPrefix"), "cur", "{partition}");
    }
}

#[test]
fn the_terraform_module_knows_each_partitions_billing_region() {
    let main = read("terraform/main.tf");
    let start = main
        .find("billing_regions = {")
        .expect("terraform/main.tf declares local.billing_regions");
    let block = &main[start..start + main[start..].find('}').expect("closing brace")];
    let declared: BTreeMap<String, String> = block
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
            (unquote(key), unquote(value))
        })
        .collect();
    let expected: BTreeMap<String, String> = AwsPartition::ALL
        .into_iter()
        .filter_map(|p| Some((p.as_str().to_owned(), p.billing_region()?.to_owned())))
        .collect();
    assert_eq!(
        declared, expected,
        "local.billing_regions in terraform/main.tf"
    );
    let report = hcl::blocks(&main, "resource")
        .into_iter()
        .find(|b| b.labels[0] == "aws_cur_report_definition")
        .expect("the report definition");
    assert_eq!(
        report.attribute("count").as_deref(),
        Some("local.has_cost_and_usage_reports ? 1 : 0"),
        "no report definition where the partition has none"
    );
    assert!(report
        .body
        .contains("condition     = local.region == local.billing_regions[local.partition]"));
}

#[test]
fn the_template_renderer_agrees_with_terraform_when_installed() {
    let cases: Vec<(&str, BTreeMap<&str, &str>)> = vec![
        (
            TRUST_POLICY_TEMPLATE,
            BTreeMap::from([
                ("partition", "aws"),
                ("platform_account_id", PLATFORM),
                ("external_id", EXTERNAL_ID),
                ("platform_principal_arn", ""),
            ]),
        ),
        (
            TRUST_POLICY_TEMPLATE,
            BTreeMap::from([
                ("partition", "aws"),
                ("platform_account_id", PLATFORM),
                ("external_id", EXTERNAL_ID),
                ("platform_principal_arn", WORKER),
            ]),
        ),
        (
            ROLE_POLICY_TEMPLATE,
            BTreeMap::from([("partition", "aws-cn"), ("cur_bucket", CUR_BUCKET)]),
        ),
        (
            BUCKET_POLICY_TEMPLATE,
            BTreeMap::from([
                ("partition", "aws-cn"),
                ("region", "cn-northwest-1"),
                ("account_id", STACK_ACCOUNT),
                ("bucket", CUR_BUCKET),
            ]),
        ),
    ];
    for (path, vars) in cases {
        let Some(real) = tftpl::terraform_render(&repo_root().join(path), &vars) else {
            eprintln!("terraform is not installed: renderer not cross-checked");
            return;
        };
        assert_eq!(tftpl::render(&read(path), &vars), real, "{path}");
    }
}

fn snake_case(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_terraform_module_has_the_integration_templates_variables_and_outputs() {
    let stack = integration("");
    let variables = hcl::blocks(&read("terraform/variables.tf"), "variable");
    let mut names: Vec<String> = variables.iter().map(|b| b.labels[0].clone()).collect();
    names.sort();
    let mut expected: Vec<String> = stack
        .parameter_names()
        .iter()
        .map(|p| snake_case(p))
        .collect();
    expected.sort();
    assert_eq!(names, expected, "terraform/variables.tf");

    for variable in &variables {
        let parameter = stack
            .parameter_names()
            .into_iter()
            .find(|p| snake_case(p) == variable.labels[0])
            .expect("matched above");
        let cfn_default = stack.template["Parameters"][&parameter]
            .get("Default")
            .cloned();
        let tf_default = variable.string_attribute("default").map(Value::String);
        assert_eq!(tf_default, cfn_default, "default of {parameter}");
    }

    let outputs = hcl::blocks(&read("terraform/outputs.tf"), "output");
    let mut names: Vec<String> = outputs.iter().map(|b| b.labels[0].clone()).collect();
    names.sort();
    let mut expected: Vec<String> = stack.output_names().iter().map(|o| snake_case(o)).collect();
    expected.sort();
    assert_eq!(names, expected, "terraform/outputs.tf");

    let main = read("terraform/main.tf");
    let locals = hcl::blocks(&main, "locals");
    assert_eq!(locals.len(), 1);
    assert_eq!(
        locals[0].string_attribute("template_version").as_deref(),
        Some(TEMPLATE_VERSION)
    );
    assert_eq!(
        locals[0].string_attribute("role_name").as_deref(),
        Some(member_role_name())
    );
    assert_eq!(
        locals[0].string_attribute("policy_name").as_deref(),
        Some(permission_set().policy_name.as_str())
    );
}

#[test]
fn the_terraform_module_declares_the_integration_templates_resources() {
    let main = read("terraform/main.tf");
    let resources = hcl::blocks(&main, "resource");
    let resource = |kind: &str| {
        let found: Vec<&hcl::Block> = resources.iter().filter(|b| b.labels[0] == kind).collect();
        assert_eq!(found.len(), 1, "one {kind} in terraform/main.tf");
        found[0]
    };
    let role = resource("aws_iam_role");
    assert_eq!(role.attribute("name").as_deref(), Some("local.role_name"));
    assert!(role
        .body
        .contains("templatefile(\"${path.module}/policies/trust-policy.json.tftpl\""));
    let policy = resource("aws_iam_role_policy");
    assert_eq!(
        policy.attribute("name").as_deref(),
        Some("local.policy_name")
    );
    assert!(policy
        .body
        .contains("templatefile(\"${path.module}/policies/role-policy.json.tftpl\""));
    assert_eq!(
        resources
            .iter()
            .filter(|b| b.labels[0].starts_with("aws_iam_"))
            .count(),
        2,
        "no other IAM resource may widen the role"
    );
    let bucket_policy = resource("aws_s3_bucket_policy");
    assert!(bucket_policy
        .body
        .contains("templatefile(\"${path.module}/policies/cur-bucket-policy.json.tftpl\""));

    let public_access = resource("aws_s3_bucket_public_access_block");
    for setting in [
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ] {
        assert_eq!(public_access.attribute(setting).as_deref(), Some("true"));
    }
    assert!(
        resource("aws_s3_bucket_server_side_encryption_configuration")
            .body
            .contains("sse_algorithm = \"AES256\"")
    );
    resource("aws_s3_bucket");

    let report = resource("aws_cur_report_definition");
    assert_eq!(
        report.string_attribute("time_unit").as_deref(),
        Some("DAILY")
    );
    assert_eq!(
        report.attribute("additional_schema_elements").as_deref(),
        Some("[\"RESOURCES\"]")
    );
    assert_eq!(
        report.attribute("refresh_closed_reports").as_deref(),
        Some("true")
    );
    assert_eq!(
        report.string_attribute("report_versioning").as_deref(),
        Some("CREATE_NEW_REPORT")
    );
    assert!(main.contains("CSV     = { format = \"textORcsv\", compression = \"GZIP\" }"));
    assert!(main.contains("Parquet = { format = \"Parquet\", compression = \"Parquet\" }"));
}

#[test]
fn the_terraform_snippet_sets_every_required_variable_and_no_unknown_one() {
    let snippet = terraform_snippet(AwsPartition::Aws, "../terraform", EXTERNAL_ID, PLATFORM);
    let variables = hcl::blocks(&read("terraform/variables.tf"), "variable");
    let modules = hcl::blocks(&snippet, "module");
    assert_eq!(modules.len(), 1);
    let module = &modules[0];
    for variable in &variables {
        let name = &variable.labels[0];
        if variable.attribute("default").is_none() {
            assert!(module.attribute(name).is_some(), "snippet must set {name}");
        }
    }
    for line in module.body.lines() {
        let Some((key, _)) = line
            .trim()
            .split_once(" = ")
            .or(line.trim().split_once("= "))
        else {
            continue;
        };
        let key = key.trim();
        if ["source", "providers"].contains(&key) {
            continue;
        }
        assert!(
            variables.iter().any(|v| v.labels[0] == key),
            "snippet sets {key}, which the module does not declare"
        );
    }
    let outputs = hcl::blocks(&read("terraform/outputs.tf"), "output");
    for reference in snippet.split("module.costline.").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            outputs.iter().any(|o| o.labels[0] == name),
            "snippet reads output {name}, which the module does not declare"
        );
    }
}

#[test]
fn the_readme_shows_a_usage_block_with_the_modules_variables() {
    let readme = read("terraform/README.md");
    assert!(
        readme.contains("```hcl"),
        "terraform/README.md has a usage block"
    );
    assert!(readme.contains("module \"costline\""));
    for variable in hcl::blocks(&read("terraform/variables.tf"), "variable") {
        assert!(
            readme.contains(&format!("`{}`", variable.labels[0])),
            "terraform/README.md documents {}",
            variable.labels[0]
        );
    }
}
