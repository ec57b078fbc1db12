//! The permission set: what the customer's role may and may not do, and the IAM JSON rendered
//! from it.

use std::sync::LazyLock;

use costline_domain::AwsPartition;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The role name used in every account, so that a member's role is
/// `arn:<partition>:iam::<member>:role/CostlineReadOnly` without asking the customer.
const ROLE_NAME: &str = "CostlineReadOnly";

/// Stands in for the CUR bucket in the manual policy until the customer has named theirs.
pub const CUR_BUCKET_PLACEHOLDER: &str = "YOUR-CUR-BUCKET";

const POLICY_VERSION: &str = "2012-10-17";

static SOURCE: &str = include_str!("../permission-set.json");

static PERMISSION_SET: LazyLock<PermissionSet> = LazyLock::new(|| {
    serde_json::from_str(SOURCE).expect("permission-set.json is checked by this crate's tests")
});

/// The published read-only permission set, as the console's `/permissions` page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionSet {
    /// The template version this permission set ships in (equal to [`crate::TEMPLATE_VERSION`]).
    pub version: String,
    /// The IAM role name, the same in the management and every member account.
    pub role_name: String,
    /// The name of the role's single inline policy.
    pub policy_name: String,
    /// Allowed actions, on every resource, grouped by why Costline needs them.
    pub allow: Vec<AllowGroup>,
    /// Read access to the CUR bucket (management or standalone account only).
    pub cur_bucket: CurBucketGrant,
    /// Reads that are denied explicitly, even if another policy attached to the role allowed them.
    pub deny: Vec<DenyGroup>,
}

/// Actions allowed on every resource, with the reason Costline needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowGroup {
    /// The IAM statement id.
    pub sid: String,
    /// A short heading for the console.
    pub title: String,
    /// Why Costline needs these actions, in the customer's terms.
    pub reason: String,
    /// IAM action patterns (`service:Action`, `*` wildcards).
    pub actions: Vec<String>,
}

/// Actions allowed on the CUR bucket and its objects only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurBucketGrant {
    /// The IAM statement id.
    pub sid: String,
    /// A short heading for the console.
    pub title: String,
    /// Why Costline needs these actions.
    pub reason: String,
    /// IAM actions, granted on `arn:<partition>:s3:::<bucket>` and `arn:<partition>:s3:::<bucket>/*`.
    pub actions: Vec<String>,
}

/// Actions denied explicitly, with what they would have exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyGroup {
    /// The IAM statement id.
    pub sid: String,
    /// A short heading for the console.
    pub title: String,
    /// What stays unreadable, in the customer's terms.
    pub reason: String,
    /// True when the deny spares the CUR bucket's objects (`NotResource`) in the management account.
    pub except_cur_bucket: bool,
    /// IAM action patterns (`service:Action`, `*` wildcards).
    pub actions: Vec<String>,
}

/// Which account a role policy is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope<'a> {
    /// The management (or standalone) account, which holds the CUR bucket.
    Management {
        /// The CUR bucket's name.
        cur_bucket: &'a str,
    },
    /// A member account: no CUR bucket there, so no S3 object at all can be read.
    Member,
}

/// One IAM policy statement, with its fields in the order people expect to read them.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    sid: String,
    effect: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<Value>,
    action: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_resource: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyDocument {
    version: &'static str,
    statement: Vec<Statement>,
}

impl PolicyDocument {
    fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION,
            statement,
        }
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a policy document always serializes")
    }

    fn to_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a policy document always serializes")
    }
}

/// The permission set published with this build.
pub fn permission_set() -> &'static PermissionSet {
    &PERMISSION_SET
}

impl PermissionSet {
    /// The role's inline policy document for `scope`, with ARNs in `partition` (e.g. `aws`, or
    /// a template variable such as Terraform's `${partition}`).
    pub fn policy_document(&self, scope: PolicyScope<'_>, partition: &str) -> Value {
        self.policy(scope, partition).to_value()
    }

    /// The same document as [`Self::policy_document`], pretty-printed in the conventional
    /// key order (Sid, Effect, Action, Resource) for a person to read or paste.
    pub fn policy_document_text(&self, scope: PolicyScope<'_>, partition: &str) -> String {
        self.policy(scope, partition).to_pretty()
    }

    /// True when some explicit deny statement matches `action` (case-insensitive, as IAM).
    pub fn is_denied(&self, action: &str) -> bool {
        self.deny
            .iter()
            .flat_map(|group| &group.actions)
            .any(|pattern| pattern_matches(pattern, action))
    }

    /// True when some allow statement on every resource matches `action`. Denies are not
    /// taken into account; the CUR bucket grant is not included.
    pub fn is_allowed_everywhere(&self, action: &str) -> bool {
        self.allow
            .iter()
            .flat_map(|group| &group.actions)
            .any(|pattern| pattern_matches(pattern, action))
    }

    fn policy(&self, scope: PolicyScope<'_>, partition: &str) -> PolicyDocument {
        let mut statements = Vec::new();
        for group in &self.allow {
            statements.push(Statement {
                sid: group.sid.clone(),
                effect: "Allow",
                principal: None,
                action: json!(group.actions),
                resource: Some(json!("*")),
                not_resource: None,
                condition: None,
            });
        }
        let cur_objects = match scope {
            PolicyScope::Management { cur_bucket } => {
                let bucket_arn = format!("arn:{partition}:s3:::{cur_bucket}");
                let objects_arn = format!("{bucket_arn}/*");
                statements.push(Statement {
                    sid: self.cur_bucket.sid.clone(),
                    effect: "Allow",
                    principal: None,
                    action: json!(self.cur_bucket.actions),
                    resource: Some(json!([bucket_arn, objects_arn])),
                    not_resource: None,
                    condition: None,
                });
                Some(objects_arn)
            }
            PolicyScope::Member => None,
        };
        for group in &self.deny {
            let (resource, not_resource) = match (&cur_objects, group.except_cur_bucket) {
                (Some(objects_arn), true) => (None, Some(json!([objects_arn]))),
                _ => (Some(json!("*")), None),
            };
            statements.push(Statement {
                sid: group.sid.clone(),
                effect: "Deny",
                principal: None,
                action: json!(group.actions),
                resource,
                not_resource,
                condition: None,
            });
        }
        PolicyDocument::new(statements)
    }
}

/// The role name used in the management and every member account.
pub fn member_role_name() -> &'static str {
    ROLE_NAME
}

/// The ARN of Costline's role in `account_id`, as deployed by either template or the module.
pub fn member_role_arn(partition: AwsPartition, account_id: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role/{ROLE_NAME}")
}

/// The trust relationship of the customer's role: only the platform account (of the platform's
/// `partition`: a role can trust no account of another partition) may assume it, and only with
/// this integration's external id (and, if given, only as `principal_arn`).
pub fn trust_policy(
    partition: AwsPartition,
    platform_account_id: &str,
    external_id: &str,
    principal_arn: Option<&str>,
) -> Value {
    trust_document(partition, platform_account_id, external_id, principal_arn).to_value()
}

/// [`trust_policy`] pretty-printed in the conventional key order, for the console.
pub fn trust_policy_text(
    partition: AwsPartition,
    platform_account_id: &str,
    external_id: &str,
    principal_arn: Option<&str>,
) -> String {
    trust_document(partition, platform_account_id, external_id, principal_arn).to_pretty()
}

fn trust_document(
    partition: AwsPartition,
    platform_account_id: &str,
    external_id: &str,
    principal_arn: Option<&str>,
) -> PolicyDocument {
    let mut condition = json!({ "StringEquals": { "sts:ExternalId": external_id } });
    // An empty ARN means "not narrowed", as the templates' empty default parameter does.
    if let Some(arn) = principal_arn.filter(|arn| !arn.is_empty()) {
        condition["ArnEquals"] = json!({ "aws:PrincipalArn": arn });
    }
    PolicyDocument::new(vec![Statement {
        sid: "CostlinePlatform".to_owned(),
        effect: "Allow",
        principal: Some(
            json!({ "AWS": format!("arn:{partition}:iam::{platform_account_id}:root") }),
        ),
        action: json!("sts:AssumeRole"),
        resource: None,
        not_resource: None,
        condition: Some(condition),
    }])
}

/// The inline policy for the manual option in the management (or standalone) account, with
/// ARNs in `partition`; with [`CUR_BUCKET_PLACEHOLDER`] while the CUR bucket is not known yet.
pub fn inline_policy(partition: AwsPartition, cur_bucket: Option<&str>) -> Value {
    let cur_bucket = cur_bucket.unwrap_or(CUR_BUCKET_PLACEHOLDER);
    permission_set().policy_document(PolicyScope::Management { cur_bucket }, partition.as_str())
}

/// [`inline_policy`] pretty-printed in the conventional key order, for the console.
pub fn inline_policy_text(partition: AwsPartition, cur_bucket: Option<&str>) -> String {
    let cur_bucket = cur_bucket.unwrap_or(CUR_BUCKET_PLACEHOLDER);
    permission_set()
        .policy_document_text(PolicyScope::Management { cur_bucket }, partition.as_str())
}

/// The inline policy of a member account's role (no CUR bucket), with ARNs in `partition`.
pub fn member_inline_policy(partition: AwsPartition) -> Value {
    permission_set().policy_document(PolicyScope::Member, partition.as_str())
}

/// IAM's action matching: `*` matches any run of characters, case-insensitive.
pub(crate) fn pattern_matches(pattern: &str, action: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase().into_bytes();
    let action = action.to_ascii_lowercase().into_bytes();
    // Classic wildcard matching with a single backtrack point: linear enough for action names.
    let (mut p, mut a) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while a < action.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, a));
            p += 1;
        } else if p < pattern.len() && pattern[p] == action[a] {
            p += 1;
            a += 1;
        } else if let Some((star_p, star_a)) = star {
            p = star_p + 1;
            a = star_a + 1;
            star = Some((star_p, star_a + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TEMPLATE_VERSION;

    fn set() -> &'static PermissionSet {
        permission_set()
    }

    fn all_patterns() -> impl Iterator<Item = &'static String> {
        let set = set();
        set.allow
            .iter()
            .flat_map(|g| &g.actions)
            .chain(&set.cur_bucket.actions)
            .chain(set.deny.iter().flat_map(|g| &g.actions))
    }

    #[test]
    fn source_parses_and_matches_the_code_constants() {
        let set: PermissionSet = serde_json::from_str(SOURCE).expect("permission-set.json");
        assert_eq!(set.version, TEMPLATE_VERSION);
        assert_eq!(set.role_name, ROLE_NAME);
        assert!(!set.allow.is_empty() && !set.deny.is_empty());
    }

    #[test]
    fn statement_ids_are_unique_and_alphanumeric() {
        let set = set();
        let mut sids: Vec<&str> = set.allow.iter().map(|g| g.sid.as_str()).collect();
        sids.push(&set.cur_bucket.sid);
        sids.extend(set.deny.iter().map(|g| g.sid.as_str()));
        sids.push("CostlinePlatform");
        for sid in &sids {
            assert!(
                !sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric()),
                "IAM statement ids are alphanumeric: {sid}"
            );
        }
        let mut unique = sids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            sids.len(),
            "duplicate statement id in {sids:?}"
        );
    }

    #[test]
    fn actions_are_well_formed_sorted_and_unique_within_each_group() {
        for pattern in all_patterns() {
            let (service, action) = pattern
                .split_once(':')
                .unwrap_or_else(|| panic!("{pattern} has no service prefix"));
            assert!(
                !service.is_empty()
                    && service
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "bad service prefix in {pattern}"
            );
            assert!(
                !action.is_empty()
                    && action
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'*'),
                "bad action in {pattern}"
            );
        }
        let set = set();
        let groups = set
            .allow
            .iter()
            .map(|g| (&g.sid, &g.actions))
            .chain([(&set.cur_bucket.sid, &set.cur_bucket.actions)])
            .chain(set.deny.iter().map(|g| (&g.sid, &g.actions)));
        for (sid, actions) in groups {
            assert!(!actions.is_empty(), "{sid} has no action");
            let mut sorted = actions.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(actions, &sorted, "{sid}: keep actions sorted and unique");
        }
    }

    #[test]
    fn nothing_is_allowed_everywhere_on_a_whole_service() {
        for group in &set().allow {
            for pattern in &group.actions {
                assert!(
                    !pattern.ends_with(":*") && pattern != "*",
                    "{}: {pattern} is not read-only",
                    group.sid
                );
                let action = &pattern[pattern.find(':').expect("checked") + 1..];
                let read_verb = ["Describe", "Get", "List", "View"]
                    .iter()
                    .any(|verb| action.starts_with(verb));
                assert!(read_verb, "{}: {pattern} is not a read", group.sid);
            }
        }
    }

    #[test]
    fn no_allowed_pattern_is_dead_under_a_deny() {
        // A deny that covers a whole allowed pattern makes the allow a lie on /permissions.
        let set = set();
        for group in &set.allow {
            for allowed in &group.actions {
                for denied in set.deny.iter().flat_map(|d| &d.actions) {
                    // Matching the allowed pattern literally (its `*` as a character) means the
                    // deny covers every action the pattern could grant.
                    assert!(
                        !pattern_matches(denied, allowed),
                        "{}: {allowed} is entirely denied by {denied}",
                        group.sid
                    );
                }
            }
        }
    }

    /// Reads the issue names as forbidden: each must be denied explicitly.
    const FORBIDDEN_READS: &[&str] = &[
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAcl",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:GetRecords",
        "rds-data:ExecuteStatement",
        "rds-data:BatchExecuteStatement",
        "redshift-data:GetStatementResult",
        "redshift-data:ExecuteStatement",
        "athena:GetQueryResults",
        "athena:GetQueryResultsStream",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ssm:GetParameterHistory",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "logs:StartQuery",
        "logs:GetQueryResults",
        "lambda:GetFunction",
        "codecommit:GetBlob",
        "codecommit:GetFile",
        "codecommit:GetFolder",
        "codecommit:GitPull",
        "ecr:BatchGetImage",
        "kms:Decrypt",
    ];

    #[test]
    fn every_forbidden_read_is_denied() {
        for action in FORBIDDEN_READS {
            assert!(set().is_denied(action), "{action} must be denied");
        }
    }

    /// What the platform itself calls; none of these may be denied.
    const PLATFORM_CALLS: &[&str] = &[
        "sts:GetCallerIdentity",
        "organizations:DescribeOrganization",
        "organizations:ListAccounts",
        "organizations:ListRoots",
        "organizations:ListOrganizationalUnitsForParent",
        "organizations:ListTagsForResource",
        "cloudformation:DescribeStacks",
        "ce:GetCostAndUsage",
        "cur:DescribeReportDefinitions",
        "bcm-data-exports:ListExports",
        "bcm-data-exports:GetExport",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "rds:DescribeDBInstances",
        "s3:ListAllMyBuckets",
    ];

    #[test]
    fn what_the_platform_calls_is_allowed_and_not_denied() {
        for action in PLATFORM_CALLS {
            assert!(
                set().is_allowed_everywhere(action),
                "{action} must be allowed"
            );
            assert!(!set().is_denied(action), "{action} must not be denied");
        }
        for action in ["s3:GetObject", "s3:ListBucket"] {
            assert!(set().cur_bucket.actions.iter().any(|a| a == action));
        }
    }

    #[test]
    fn the_management_policy_fits_the_role_inline_policy_quota() {
        // IAM caps a role's inline policies at 10,240 characters, white space not counted.
        let longest_bucket = "b".repeat(63);
        let text = inline_policy(AwsPartition::Aws, Some(&longest_bucket)).to_string();
        let size = text.chars().filter(|c| !c.is_whitespace()).count();
        assert!(size < 10_240, "inline policy is {size} characters");
    }

    #[test]
    fn the_cur_bucket_is_the_only_readable_bucket() {
        let policy = inline_policy(AwsPartition::Aws, Some("acme-cur"));
        let statements = policy["Statement"].as_array().expect("statements");
        let cur = statements
            .iter()
            .find(|s| s["Sid"] == "CurBucketRead")
            .expect("CUR statement");
        assert_eq!(cur["Effect"], "Allow");
        assert_eq!(
            cur["Resource"],
            json!(["arn:aws:s3:::acme-cur", "arn:aws:s3:::acme-cur/*"])
        );
        let objects = statements
            .iter()
            .find(|s| s["Sid"] == "DenyObjectContents")
            .expect("object deny");
        assert_eq!(objects["Effect"], "Deny");
        assert_eq!(objects["NotResource"], json!(["arn:aws:s3:::acme-cur/*"]));
        assert!(objects.get("Resource").is_none());
        for statement in statements {
            if statement["Sid"] != "DenyObjectContents" {
                assert!(statement.get("NotResource").is_none());
            }
        }
    }

    #[test]
    fn the_manual_policy_names_a_placeholder_until_the_bucket_is_known() {
        let text = inline_policy(AwsPartition::Aws, None).to_string();
        assert!(text.contains(&format!("arn:aws:s3:::{CUR_BUCKET_PLACEHOLDER}/*")));
    }

    #[test]
    fn a_member_policy_reads_no_object_at_all() {
        let policy = member_inline_policy(AwsPartition::Aws);
        let statements = policy["Statement"].as_array().expect("statements");
        assert!(statements.iter().all(|s| s["Sid"] != "CurBucketRead"));
        let objects = statements
            .iter()
            .find(|s| s["Sid"] == "DenyObjectContents")
            .expect("object deny");
        assert_eq!(objects["Resource"], "*");
        assert!(objects.get("NotResource").is_none());
        assert_eq!(statements.len(), set().allow.len() + set().deny.len());
    }

    #[test]
    fn the_trust_policy_requires_the_external_id_from_the_platform_account() {
        let policy = trust_policy(AwsPartition::Aws, "111122223333", "cl-abc", None);
        assert_eq!(policy["Version"], "2012-10-17");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1);
        let statement = &statements[0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Action"], "sts:AssumeRole");
        assert_eq!(
            statement["Principal"],
            json!({"AWS": "arn:aws:iam::111122223333:root"})
        );
        assert_eq!(
            statement["Condition"],
            json!({"StringEquals": {"sts:ExternalId": "cl-abc"}})
        );
    }

    #[test]
    fn the_trust_policy_can_be_narrowed_to_the_platform_worker_role() {
        let worker = "arn:aws:iam::111122223333:role/costline-worker";
        let policy = trust_policy(AwsPartition::Aws, "111122223333", "cl-abc", Some(worker));
        assert_eq!(
            policy["Statement"][0]["Condition"],
            json!({
                "StringEquals": {"sts:ExternalId": "cl-abc"},
                "ArnEquals": {"aws:PrincipalArn": worker}
            })
        );
        // An empty ARN (the templates' default parameter) does not narrow anything.
        assert_eq!(
            trust_policy(AwsPartition::Aws, "111122223333", "cl-abc", Some("")),
            trust_policy(AwsPartition::Aws, "111122223333", "cl-abc", None)
        );
    }

    #[test]
    fn the_text_forms_are_the_same_documents_in_reading_order() {
        let text = trust_policy_text(AwsPartition::Aws, "111122223333", "cl-abc", None);
        let parsed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            parsed,
            trust_policy(AwsPartition::Aws, "111122223333", "cl-abc", None)
        );
        let sid = text.find("\"Sid\"").expect("sid");
        let effect = text.find("\"Effect\"").expect("effect");
        let action = text.find("\"Action\"").expect("action");
        assert!(sid < effect && effect < action, "{text}");

        let text = inline_policy_text(AwsPartition::Aws, Some("acme-cur"));
        let parsed: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(parsed, inline_policy(AwsPartition::Aws, Some("acme-cur")));
    }

    #[test]
    fn every_arn_is_in_the_platforms_partition() {
        for partition in AwsPartition::ALL {
            let p = partition.as_str();
            let trust = trust_policy(partition, "111122223333", "cl-abc", None);
            assert_eq!(
                trust["Statement"][0]["Principal"],
                json!({"AWS": format!("arn:{p}:iam::111122223333:root")}),
                "{p}"
            );
            let policy = inline_policy(partition, Some("acme-cur"));
            let statement = |sid: &str| {
                policy["Statement"]
                    .as_array()
                    .and_then(|all| all.iter().find(|s| s["Sid"] == sid))
                    .cloned()
                    .unwrap_or_else(|| panic!("no statement {sid}"))
            };
            assert_eq!(
                statement("CurBucketRead")["Resource"],
                json!([
                    format!("arn:{p}:s3:::acme-cur"),
                    format!("arn:{p}:s3:::acme-cur/*")
                ]),
                "{p}"
            );
            assert_eq!(
                statement("DenyObjectContents")["NotResource"],
                json!([format!("arn:{p}:s3:::acme-cur/*")])
            );
            // No ARN of another partition anywhere: "arn:aws:" is a prefix of neither
            // "arn:aws-cn:" nor "arn:aws-us-gov:".
            for text in [
                trust.to_string(),
                policy.to_string(),
                member_inline_policy(partition).to_string(),
            ] {
                let arns = text.matches("arn:").count();
                let own = text.matches(&format!("arn:{p}:")).count();
                assert_eq!(arns, own, "{p}: {text}");
            }
            assert_eq!(
                member_role_arn(partition, "444455556666"),
                format!("arn:{p}:iam::444455556666:role/CostlineReadOnly")
            );
        }
        assert_eq!(
            trust_policy(AwsPartition::AwsCn, "111122223333", "cl-abc", None)["Statement"][0]
                ["Principal"]["AWS"],
            "arn:aws-cn:iam::111122223333:root"
        );
    }

    #[test]
    fn member_role_arns_use_the_fixed_role_name() {
        assert_eq!(member_role_name(), "CostlineReadOnly");
        assert_eq!(
            member_role_arn(AwsPartition::Aws, "444455556666"),
            "arn:aws:iam::444455556666:role/CostlineReadOnly"
        );
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(pattern_matches("s3:GetObject*", "s3:GetObject"));
        assert!(pattern_matches("s3:GetObject*", "s3:getobjectversion"));
        assert!(pattern_matches("rds-data:*", "rds-data:ExecuteStatement"));
        assert!(pattern_matches("ec2:*Console*", "ec2:GetConsoleOutput"));
        assert!(!pattern_matches("s3:GetObject*", "s3:GetBucketPolicy"));
        assert!(!pattern_matches("ssm:GetParameter", "ssm:GetParameters"));
        assert!(!pattern_matches("rds:Describe*", "rds-data:DescribeTable"));
    }
}
