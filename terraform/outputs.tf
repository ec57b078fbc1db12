# Each output mirrors an output of cloudformation/integration.yaml (RoleArn is role_arn, and so
# on); `cargo test -p costline-onboarding` checks the names and the version.

output "role_arn" {
  description = "The role Costline assumes; paste it into the Costline console."
  value       = aws_iam_role.costline.arn
}

output "cur_bucket" {
  description = "The bucket AWS delivers the Cost and Usage Report to."
  value       = aws_s3_bucket.cur.id
}

output "cur_prefix" {
  description = "The report files' key prefix."
  value       = local.has_cost_and_usage_reports ? aws_cur_report_definition.cur[0].s3_prefix : var.cur_prefix
}

output "cur_report_name" {
  description = "The Cost and Usage Report's name (in GovCloud, the folder to copy reports into)."
  value       = local.has_cost_and_usage_reports ? aws_cur_report_definition.cur[0].report_name : var.cur_report_name
}

output "template_version" {
  description = "The Costline template version this module is."
  value       = local.template_version
}
