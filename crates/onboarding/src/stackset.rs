//! Deploying the member role to every account of an organization with a service-managed
//! StackSet, as AWS CLI steps specific to the customer's organization.

use serde::{Deserialize, Serialize};

use crate::links::shell_quote;
use crate::templates::MEMBER_PARAMETERS;

/// The StackSet name the instructions create.
pub const MEMBER_STACK_SET_NAME: &str = "CostlineMemberRole";

/// What CloudFormation answers (as a `ValidationError`) when trusted access between StackSets and
/// AWS Organizations is off.
pub const ORGANIZATIONS_ACCESS_ERROR: &str =
    "You must enable organizations access to operate a service managed stack set";

/// AWS's page on the prerequisite: activating trusted access between StackSets and Organizations.
pub const ORGANIZATIONS_ACCESS_HELP_URL: &str =
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html";

/// The explanation and fix of [`ORGANIZATIONS_ACCESS_ERROR`]: the one text the console, the API
/// and the instructions show.
pub const ORGANIZATIONS_ACCESS_HELP: &str = "\
If create-stack-set fails with \"You must enable organizations access to operate a service \
managed stack set\", trusted access between CloudFormation StackSets and AWS Organizations is \
off. Activate it from the management account with \
`aws cloudformation activate-organizations-access` (or, in the CloudFormation console, open \
StackSets and choose \"Activate trusted access\"); this also creates the StackSets \
service-linked roles. Enabling the service in Organizations alone \
(aws organizations enable-aws-service-access) is not enough. Check that \
`aws cloudformation describe-organizations-access` answers Status ENABLED, then run \
create-stack-set again. From a delegated administrator account, add --call-as DELEGATED_ADMIN to \
every stack-set command.";

/// One step of the instructions: what it does, and the command to paste.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliStep {
    /// A short heading.
    pub title: String,
    /// What the step does and where to run it.
    pub explanation: String,
    /// The AWS CLI command (may span lines with `\` continuations).
    pub command: String,
}

/// True when an AWS error message is [`ORGANIZATIONS_ACCESS_ERROR`], so the console can show
/// [`ORGANIZATIONS_ACCESS_HELP`] instead of the raw message.
pub fn is_organizations_access_error(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("enable organizations access to operate a service managed stack set")
}

/// The steps that deploy the member role to the accounts under `org_root_or_ou_ids` (the
/// organization root `r-…` or OU ids `ou-…`), now and to every account that joins later.
/// With no id known yet, a first step looks the root up.
pub fn stackset_steps(
    org_root_or_ou_ids: &[String],
    member_template_url: &str,
    external_id: &str,
    platform_account_id: &str,
    region: &str,
) -> Vec<CliStep> {
    let region = shell_quote(region);
    let stack_set = MEMBER_STACK_SET_NAME;
    let mut steps = Vec::new();

    steps.push(CliStep {
        title: "Activate trusted access for StackSets".to_owned(),
        explanation: "Once per organization, from the management account. It does nothing if \
                      trusted access is already active."
            .to_owned(),
        command: format!("aws cloudformation activate-organizations-access --region {region}"),
    });

    let targets = if org_root_or_ou_ids.is_empty() {
        steps.push(CliStep {
            title: "Find your organization's root".to_owned(),
            explanation: "Deploying to the root reaches every account; use OU ids (ou-…) \
                          instead to cover part of the organization."
                .to_owned(),
            command: "aws organizations list-roots --query 'Roots[].Id' --output text".to_owned(),
        });
        "OrganizationalUnitIds=ROOT_ID".to_owned()
    } else {
        format!("OrganizationalUnitIds={}", org_root_or_ou_ids.join(","))
    };

    let parameters = [
        ("ExternalId", external_id),
        ("PlatformAccountId", platform_account_id),
    ]
    .iter()
    .map(|(key, value)| shell_quote(&format!("ParameterKey={key},ParameterValue={value}")))
    .collect::<Vec<_>>()
    .join(" ");
    steps.push(CliStep {
        title: "Create the stack set".to_owned(),
        explanation: "Service-managed permissions: StackSets deploys with its own roles. \
                      Auto-deployment adds the role to every account that joins the targeted \
                      OUs later, and removes it from accounts that leave."
            .to_owned(),
        command: format!(
            "aws cloudformation create-stack-set \\\n  --region {region} \\\n  \
             --stack-set-name {stack_set} \\\n  \
             --description 'Costline read-only role in member accounts' \\\n  \
             --template-url {template} \\\n  \
             --permission-model SERVICE_MANAGED \\\n  \
             --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \\\n  \
             --capabilities CAPABILITY_NAMED_IAM \\\n  \
             --parameters {parameters}",
            template = shell_quote(member_template_url),
        ),
    });

    steps.push(CliStep {
        title: "Deploy the role to your accounts".to_owned(),
        explanation: "IAM roles are global, so one region is enough. The management account \
                      is never a StackSet target: it has the role from the integration stack."
            .to_owned(),
        command: format!(
            "aws cloudformation create-stack-instances \\\n  --region {region} \\\n  \
             --stack-set-name {stack_set} \\\n  \
             --deployment-targets {targets} \\\n  \
             --regions {region} \\\n  \
             --operation-preferences FailureTolerancePercentage=100,MaxConcurrentPercentage=100",
            targets = shell_quote(&targets),
        ),
    });

    steps.push(CliStep {
        title: "Check the deployment".to_owned(),
        explanation: "Every instance should reach CURRENT; Costline verifies each member role at \
                      its next sync."
            .to_owned(),
        command: format!(
            "aws cloudformation list-stack-instances --region {region} \
             --stack-set-name {stack_set} \
             --query 'Summaries[].[Account,Status,StatusReason]' --output table"
        ),
    });
    steps
}

/// [`stackset_steps`] as plain text, followed by the organizations-access error and its fix.
pub fn stackset_instructions(
    org_root_or_ou_ids: &[String],
    member_template_url: &str,
    external_id: &str,
    platform_account_id: &str,
    region: &str,
) -> String {
    let steps = stackset_steps(
        org_root_or_ou_ids,
        member_template_url,
        external_id,
        platform_account_id,
        region,
    );
    let mut text = String::new();
    for (number, step) in steps.iter().enumerate() {
        text.push_str(&format!(
            "{}. {}\n{}\n\n{}\n\n",
            number + 1,
            step.title,
            step.explanation,
            step.command
        ));
    }
    text.push_str("Troubleshooting\n");
    text.push_str(ORGANIZATIONS_ACCESS_HELP);
    text.push_str(&format!("\nSee {ORGANIZATIONS_ACCESS_HELP_URL}\n"));
    text
}

/// The AWS CLI command that updates the member StackSet (and, through it, every member
/// account's stack) to the template at `member_template_url`, keeping the parameters.
pub fn stack_set_update_command(region: &str, member_template_url: &str) -> String {
    let parameters: Vec<String> = MEMBER_PARAMETERS
        .iter()
        .map(|key| format!("ParameterKey={key},UsePreviousValue=true"))
        .collect();
    format!(
        "aws cloudformation update-stack-set \\\n  --region {region} \\\n  \
         --stack-set-name {MEMBER_STACK_SET_NAME} \\\n  --template-url {template} \\\n  \
         --capabilities CAPABILITY_NAMED_IAM \\\n  --parameters {parameters}",
        region = shell_quote(region),
        template = shell_quote(member_template_url),
        parameters = parameters.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    fn instructions(targets: &[&str]) -> String {
        stackset_instructions(
            &ids(targets),
            "https://t.s3.amazonaws.com/1.0.0/member-role.yaml",
            "cl-abc",
            "111122223333",
            "us-east-1",
        )
    }

    #[test]
    fn the_stack_set_is_service_managed_and_auto_deploys() {
        let text = instructions(&["r-ab12"]);
        assert!(text.contains("aws cloudformation create-stack-set"));
        assert!(text.contains("--permission-model SERVICE_MANAGED"));
        assert!(text.contains("--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false"));
        assert!(text.contains("--capabilities CAPABILITY_NAMED_IAM"));
        assert!(text.contains("--template-url https://t.s3.amazonaws.com/1.0.0/member-role.yaml"));
        assert!(text.contains("ParameterKey=ExternalId,ParameterValue=cl-abc"));
        assert!(text.contains("ParameterKey=PlatformAccountId,ParameterValue=111122223333"));
        assert!(text.contains("--stack-set-name CostlineMemberRole"));
    }

    #[test]
    fn the_instances_target_the_customers_root_and_ous() {
        let text = instructions(&["r-ab12", "ou-ab12-cdef3456"]);
        assert!(text.contains("aws cloudformation create-stack-instances"));
        assert!(text.contains("--deployment-targets OrganizationalUnitIds=r-ab12,ou-ab12-cdef3456"));
        assert!(text.contains("--regions us-east-1"));
        assert!(!text.contains("list-roots"));
    }

    #[test]
    fn without_known_ids_the_root_is_looked_up_first() {
        let text = instructions(&[]);
        assert!(text.contains("aws organizations list-roots"));
        assert!(text.contains("OrganizationalUnitIds=ROOT_ID"));
    }

    #[test]
    fn the_organizations_access_error_is_explained_with_its_fix() {
        let text = instructions(&["r-ab12"]);
        assert!(text.contains(ORGANIZATIONS_ACCESS_ERROR));
        assert!(text.contains("aws cloudformation activate-organizations-access"));
        assert!(text.find("activate-organizations-access") < text.find("create-stack-set"));
        assert!(text.contains(ORGANIZATIONS_ACCESS_HELP_URL));
        // One fix, the right one: enabling the service principal in Organizations is named only
        // as what is not enough.
        assert!(!ORGANIZATIONS_ACCESS_HELP.contains("--service-principal"));
        assert!(is_organizations_access_error(
            "An error occurred (ValidationError) when calling the CreateStackSet operation: \
             You must enable organizations access to operate a service managed stack set"
        ));
        assert!(!is_organizations_access_error("Stack set already exists"));
    }

    #[test]
    fn odd_values_cannot_break_out_of_the_shell_word() {
        let text = stackset_instructions(
            &ids(&["r-ab12; rm -rf ~"]),
            "https://t.s3.amazonaws.com/x.yaml",
            "it's",
            "111122223333",
            "us-east-1",
        );
        assert!(text.contains("--deployment-targets 'OrganizationalUnitIds=r-ab12; rm -rf ~'"));
        assert!(text.contains(r"'ParameterKey=ExternalId,ParameterValue=it'\''s'"));
    }

    #[test]
    fn the_stack_set_update_keeps_the_parameters() {
        let command = stack_set_update_command("us-east-1", "https://t.s3.amazonaws.com/m.yaml");
        assert!(command.starts_with("aws cloudformation update-stack-set"));
        for key in MEMBER_PARAMETERS {
            assert!(command.contains(&format!("ParameterKey={key},UsePreviousValue=true")));
        }
    }
}
