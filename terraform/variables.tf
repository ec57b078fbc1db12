# Each variable mirrors a parameter of cloudformation/integration.yaml (ExternalId is
# external_id, and so on); `cargo test -p costline-onboarding` checks names and defaults.

variable "external_id" {
  description = "The external id Costline generated for this integration."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@:/-]{2,1224}$", var.external_id))
    error_message = "The external id is 2 to 1224 letters, digits and + = , . @ : / - _ characters."
  }
}

variable "platform_account_id" {
  description = "The AWS account id of the Costline platform, the only account trusted by the role."
  type        = string

  validation {
    condition     = can(regex("^\\d{12}$", var.platform_account_id))
    error_message = "The platform account id is a 12-digit AWS account id."
  }
}

variable "platform_principal_arn" {
  description = "Optional. The ARN of the Costline platform role that assumes this role; when set, no other principal of the platform account can assume it."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(arn:aws[a-z-]*:iam::\\d{12}:role/[\\w+=,.@/-]+)?$", var.platform_principal_arn))
    error_message = "The platform principal ARN is empty or an IAM role ARN."
  }
}

variable "report_format" {
  description = "The file format AWS writes the Cost and Usage Report in: CSV (gzip) or Parquet."
  type        = string
  default     = "CSV"

  validation {
    condition     = contains(["CSV", "Parquet"], var.report_format)
    error_message = "The report format is CSV or Parquet."
  }
}

variable "cur_prefix" {
  description = "The key prefix of the report files in the bucket."
  type        = string
  default     = "cur"

  validation {
    condition     = length(var.cur_prefix) <= 256 && can(regex("^[0-9A-Za-z!_.*'()-]+(/[0-9A-Za-z!_.*'()-]+)*$", var.cur_prefix))
    error_message = "The prefix is letters, digits and ! _ . * ' ( ) - separated by single slashes, at most 256 characters."
  }
}

variable "cur_report_name" {
  description = "The name of the Cost and Usage Report, unique in the account."
  type        = string
  default     = "costline"

  validation {
    condition     = length(var.cur_report_name) <= 256 && can(regex("^[0-9A-Za-z!_.*'()-]+$", var.cur_report_name))
    error_message = "The report name is letters, digits and ! _ . * ' ( ) - only, at most 256 characters."
  }
}
