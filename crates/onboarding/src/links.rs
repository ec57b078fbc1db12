//! Links and commands the console hands to the customer: the CloudFormation quick-create and
//! update links, the update command and the Terraform module block.

use costline_domain::AwsPartition;

use crate::templates::INTEGRATION_PARAMETERS;

/// Where the integration stack (or the Terraform module) goes in `partition`, and why: the
/// region is [`AwsPartition::integration_region`], which the template's `Rules` and the module's
/// precondition enforce. Shown with the onboarding links and in the Terraform snippet.
pub fn integration_region_note(partition: AwsPartition) -> &'static str {
    match partition {
        AwsPartition::Aws => {
            "Deploy the Costline stack or module in us-east-1 (N. Virginia): AWS serves Cost and \
             Usage Report definitions from that region only."
        }
        AwsPartition::AwsCn => {
            "Deploy the Costline stack or module in cn-northwest-1 (Ningxia): AWS China serves \
             Cost and Usage Report definitions from that region only."
        }
        AwsPartition::AwsUsGov => {
            "Deploy the Costline stack or module in us-gov-west-1. AWS offers no Cost and Usage \
             Reports in GovCloud (US): GovCloud accounts are billed in the standard AWS account \
             they are associated with, and their usage appears in that account's reports. In \
             GovCloud the stack and the module create the role and a bucket but no report: copy \
             the standard account's report files into the bucket under <prefix>/<report name>/, \
             keeping their layout, or connect the standard account to a Costline platform in \
             the commercial partition."
        }
    }
}

/// The stack name proposed in the quick-create link.
pub const DEFAULT_STACK_NAME: &str = "Costline";

/// Percent-encodes `s` as a URL query value (RFC 3986: everything but `A-Z a-z 0-9 - _ . ~`,
/// UTF-8 bytes as `%XX`), as JavaScript's `encodeURIComponent` does.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The link, on `partition`'s AWS console, that opens the integration template in the
/// partition's integration region with its parameters filled in; the customer only
/// acknowledges the IAM capability and clicks "Create stack".
///
/// `template_url` must be an S3 HTTPS URL: the console loads quick-create templates from S3 only.
pub fn cloudformation_quick_create_url(
    partition: AwsPartition,
    template_url: &str,
    stack_name: &str,
    external_id: &str,
    platform_account_id: &str,
) -> String {
    format!(
        "https://{console}/cloudformation/home?region={region}#/stacks/quickcreate\
         ?templateURL={template}&stackName={stack}\
         &param_ExternalId={external_id}&param_PlatformAccountId={platform}",
        console = partition.console_host(),
        region = percent_encode(partition.integration_region()),
        template = percent_encode(template_url),
        stack = percent_encode(stack_name),
        external_id = percent_encode(external_id),
        platform = percent_encode(platform_account_id),
    )
}

/// The AWS console link that opens the update of an existing stack (`stack_id` is its ARN, as
/// read with DescribeStacks) in its `region` with the current template proposed; the console is
/// that of the region's partition.
pub fn cloudformation_update_url(stack_id: &str, region: &str, template_url: &str) -> String {
    format!(
        "https://{console}/cloudformation/home?region={region}#/stacks/update/template\
         ?stackId={stack}&templateURL={template}",
        console = AwsPartition::from_region(region).console_host(),
        region = percent_encode(region),
        stack = percent_encode(stack_id),
        template = percent_encode(template_url),
    )
}

/// The AWS CLI command that updates an integration stack to the template at `template_url`,
/// keeping every parameter the customer chose.
pub fn stack_update_command(stack_name: &str, region: &str, template_url: &str) -> String {
    let parameters: Vec<String> = INTEGRATION_PARAMETERS
        .iter()
        .map(|key| format!("ParameterKey={key},UsePreviousValue=true"))
        .collect();
    format!(
        "aws cloudformation update-stack \\\n  --region {region} \\\n  --stack-name {stack} \\\n  \
         --template-url {template} \\\n  --capabilities CAPABILITY_NAMED_IAM \\\n  --parameters {parameters}",
        region = shell_quote(region),
        stack = shell_quote(stack_name),
        template = shell_quote(template_url),
        parameters = parameters.join(" "),
    )
}

/// A Terraform configuration that uses the module at `module_source` (a registry address, a
/// `git::` URL or a path) with this integration's values, in `partition`'s integration region.
pub fn terraform_snippet(
    partition: AwsPartition,
    module_source: &str,
    external_id: &str,
    platform_account_id: &str,
) -> String {
    let note = comment_lines(integration_region_note(partition));
    format!(
        r#"{note}
provider "aws" {{
  alias  = "costline"
  region = {region}
}}

module "costline" {{
  source    = {source}
  providers = {{ aws = aws.costline }}

  external_id         = {external_id}
  platform_account_id = {platform}
}}

# Paste these into Costline to finish connecting.
output "costline_role_arn" {{
  value = module.costline.role_arn
}}

output "costline_cur" {{
  value = {{
    bucket      = module.costline.cur_bucket
    prefix      = module.costline.cur_prefix
    report_name = module.costline.cur_report_name
  }}
}}
"#,
        region = hcl_string(partition.integration_region()),
        source = hcl_string(module_source),
        external_id = hcl_string(external_id),
        platform = hcl_string(platform_account_id),
    )
}

/// `text` as `#` comment lines of at most 100 columns.
fn comment_lines(text: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > 100 {
            lines.push(std::mem::replace(&mut line, String::from("#")));
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// A quoted HCL string literal; `${` and `%{` are escaped so no value can become an expression.
pub(crate) fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as one POSIX shell word: bare when it holds only characters no shell treats specially,
/// single-quoted otherwise.
pub(crate) fn shell_quote(s: &str) -> String {
    let bare = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if bare {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(
            percent_encode("https://b.s3.amazonaws.com/x y.yaml?v=1&a=b#f"),
            "https%3A%2F%2Fb.s3.amazonaws.com%2Fx%20y.yaml%3Fv%3D1%26a%3Db%23f"
        );
        assert_eq!(percent_encode("+/=%"), "%2B%2F%3D%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn the_quick_create_link_prefills_template_stack_and_parameters() {
        let url = cloudformation_quick_create_url(
            AwsPartition::Aws,
            "https://costline-templates.s3.amazonaws.com/1.0.0/integration.yaml",
            "Costline",
            "cl-0123&x=y",
            "111122223333",
        );
        assert_eq!(
            url,
            "https://console.aws.amazon.com/cloudformation/home?region=us-east-1\
             #/stacks/quickcreate\
             ?templateURL=https%3A%2F%2Fcostline-templates.s3.amazonaws.com%2F1.0.0%2Fintegration.yaml\
             &stackName=Costline&param_ExternalId=cl-0123%26x%3Dy&param_PlatformAccountId=111122223333"
        );
    }

    #[test]
    fn quick_create_links_open_the_partitions_own_console_and_region() {
        let cases = [
            (
                AwsPartition::Aws,
                "https://console.aws.amazon.com/cloudformation/home?region=us-east-1#",
            ),
            (
                AwsPartition::AwsCn,
                "https://console.amazonaws.cn/cloudformation/home?region=cn-northwest-1#",
            ),
            (
                AwsPartition::AwsUsGov,
                "https://console.amazonaws-us-gov.com/cloudformation/home?region=us-gov-west-1#",
            ),
        ];
        for (partition, start) in cases {
            let url = cloudformation_quick_create_url(
                partition,
                "https://t.s3.cn-northwest-1.amazonaws.com.cn/integration.yaml",
                "Costline",
                "cl-abc",
                "111122223333",
            );
            assert!(url.starts_with(start), "{partition}: {url}");
            assert!(url.contains(
                "templateURL=https%3A%2F%2Ft.s3.cn-northwest-1.amazonaws.com.cn%2Fintegration.yaml"
            ));
        }
    }

    #[test]
    fn update_links_open_the_console_of_the_stacks_partition() {
        for (region, console) in [
            ("us-east-1", "console.aws.amazon.com"),
            ("eu-west-1", "console.aws.amazon.com"),
            ("cn-northwest-1", "console.amazonaws.cn"),
            ("us-gov-west-1", "console.amazonaws-us-gov.com"),
        ] {
            let url = cloudformation_update_url("arn:x", region, "https://t/i.yaml");
            assert!(
                url.starts_with(&format!(
                    "https://{console}/cloudformation/home?region={region}#/stacks/update/"
                )),
                "{url}"
            );
        }
    }

    #[test]
    fn the_update_link_names_the_stack_and_the_new_template() {
        let url = cloudformation_update_url(
            "arn:aws:cloudformation:us-east-1:444455556666:stack/Costline/abc",
            "us-east-1",
            "https://t.s3.amazonaws.com/i.yaml",
        );
        assert!(url.starts_with(
            "https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/update/template?"
        ));
        assert!(url.contains(
            "stackId=arn%3Aaws%3Acloudformation%3Aus-east-1%3A444455556666%3Astack%2FCostline%2Fabc"
        ));
        assert!(url.ends_with("&templateURL=https%3A%2F%2Ft.s3.amazonaws.com%2Fi.yaml"));
    }

    #[test]
    fn the_update_command_keeps_every_parameter() {
        let command =
            stack_update_command("Costline", "us-east-1", "https://t.s3.amazonaws.com/i.yaml");
        assert!(command.starts_with("aws cloudformation update-stack"));
        assert!(command.contains("--stack-name Costline"));
        assert!(command.contains("--template-url https://t.s3.amazonaws.com/i.yaml"));
        assert!(command.contains("--capabilities CAPABILITY_NAMED_IAM"));
        for key in INTEGRATION_PARAMETERS {
            assert!(
                command.contains(&format!("ParameterKey={key},UsePreviousValue=true")),
                "{key} missing from {command}"
            );
        }
    }

    #[test]
    fn hcl_strings_cannot_become_expressions() {
        assert_eq!(hcl_string("plain"), r#""plain""#);
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${var.x} %{if}"), r#""$${var.x} %%{if}""#);
        assert_eq!(hcl_string("$ % {"), r#""$ % {""#);
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("ou-ab12-cdef3456"), "ou-ab12-cdef3456");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_terraform_snippet_passes_the_integration_values() {
        let snippet = terraform_snippet(
            AwsPartition::Aws,
            "git::https://github.com/example/costline.git//terraform?ref=v1.0.0",
            "cl-abc",
            "111122223333",
        );
        assert!(snippet.contains(
            r#"source    = "git::https://github.com/example/costline.git//terraform?ref=v1.0.0""#
        ));
        assert!(snippet.contains(r#"external_id         = "cl-abc""#));
        assert!(snippet.contains(r#"platform_account_id = "111122223333""#));
        assert!(snippet.contains(r#"region = "us-east-1""#));
        assert!(snippet.contains("providers = { aws = aws.costline }"));
    }

    #[test]
    fn the_terraform_snippet_uses_the_partitions_integration_region() {
        for partition in AwsPartition::ALL {
            let snippet = terraform_snippet(partition, "../terraform", "cl-abc", "111122223333");
            let region = partition.integration_region();
            assert!(
                snippet.contains(&format!("  region = \"{region}\"\n")),
                "{partition}: {snippet}"
            );
            for line in snippet.lines().filter(|l| l.starts_with('#')) {
                assert!(line.len() <= 100, "{line}");
            }
            let comment: Vec<&str> = snippet
                .lines()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim())
                .collect();
            assert!(comment.join(" ").contains(region), "{snippet}");
        }
        let gov = terraform_snippet(AwsPartition::AwsUsGov, "../terraform", "cl-abc", "1");
        let comment: Vec<&str> = gov
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .collect();
        assert!(
            comment
                .join(" ")
                .contains("no Cost and Usage Reports in GovCloud"),
            "{gov}"
        );
    }

    #[test]
    fn every_partition_note_names_its_integration_region() {
        for partition in AwsPartition::ALL {
            assert!(integration_region_note(partition).contains(partition.integration_region()));
        }
    }
}
