# The same resources as cloudformation/integration.yaml. The role's trust and inline policies
# are read from policies/*.json.tftpl, which `cargo test -p costline-onboarding` keeps equal to
# crates/onboarding/permission-set.json (run it with COSTLINE_BLESS=1 to rewrite
# policies/role-policy.json.tftpl after changing the permission set).

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  template_version = "1.1.0"
  role_name        = "CostlineReadOnly"
  policy_name      = "CostlineReadOnly"
  partition        = data.aws_partition.current.partition
  account_id       = data.aws_caller_identity.current.account_id
  region           = data.aws_region.current.id

  # Where each partition serves Cost and Usage Report definitions. GovCloud (US) has none:
  # GovCloud accounts are billed, and their usage reported, in the associated standard account;
  # there the module creates the role and the bucket (for copies of those reports) only.
  billing_regions = {
    "aws"    = "us-east-1"
    "aws-cn" = "cn-northwest-1"
  }
  has_cost_and_usage_reports = contains(keys(local.billing_regions), local.partition)

  report_formats = {
    CSV     = { format = "textORcsv", compression = "GZIP" }
    Parquet = { format = "Parquet", compression = "Parquet" }
  }
}

resource "aws_iam_role" "costline" {
  name                 = local.role_name
  description          = "Read-only access for Costline (cost reporting); cannot read data, secrets, logs or code."
  max_session_duration = 3600
  # jsondecode checks the rendered template is JSON; jsonencode drops the white space.
  assume_role_policy = jsonencode(jsondecode(templatefile("${path.module}/policies/trust-policy.json.tftpl", {
    partition              = local.partition
    platform_account_id    = var.platform_account_id
    external_id            = var.external_id
    platform_principal_arn = var.platform_principal_arn
  })))

  tags = {
    "costline:purpose" = "cost-reporting"
  }
}

resource "aws_iam_role_policy" "costline" {
  name = local.policy_name
  role = aws_iam_role.costline.id
  policy = jsonencode(jsondecode(templatefile("${path.module}/policies/role-policy.json.tftpl", {
    partition  = local.partition
    cur_bucket = aws_s3_bucket.cur.id
  })))
}

resource "aws_s3_bucket" "cur" {
  # checkov:skip=CKV_AWS_18: Access logging needs a second bucket this module would have to own; only AWS billing (writes) and the Costline role (reads) have access, and CloudTrail records both.
  # checkov:skip=CKV_AWS_144: Cross-region replication doubles storage for data AWS can redeliver: refreshed reports are rewritten in full by AWS billing.
  # checkov:skip=CKV_AWS_145: AWS billing delivers reports to SSE-S3 buckets; a customer managed KMS key would need a key policy for the billing service principals, outside this module.
  # checkov:skip=CKV2_AWS_62: Nothing consumes bucket events: Costline polls for new report manifests.
  bucket_prefix = "costline-cur-"

  tags = {
    "costline:purpose" = "cost-and-usage-report"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cur" {
  bucket = aws_s3_bucket.cur.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "cur" {
  bucket = aws_s3_bucket.cur.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "cur" {
  bucket = aws_s3_bucket.cur.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "cur" {
  bucket = aws_s3_bucket.cur.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cur" {
  bucket = aws_s3_bucket.cur.id

  rule {
    id     = "ExpireReplacedReportVersions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.cur]
}

resource "aws_s3_bucket_policy" "cur" {
  bucket = aws_s3_bucket.cur.id
  policy = jsonencode(jsondecode(templatefile("${path.module}/policies/cur-bucket-policy.json.tftpl", {
    partition  = local.partition
    region     = local.region
    account_id = local.account_id
    bucket     = aws_s3_bucket.cur.id
  })))

  depends_on = [aws_s3_bucket_public_access_block.cur]
}

resource "aws_cur_report_definition" "cur" {
  count = local.has_cost_and_usage_reports ? 1 : 0

  report_name                = var.cur_report_name
  time_unit                  = "DAILY"
  format                     = local.report_formats[var.report_format].format
  compression                = local.report_formats[var.report_format].compression
  additional_schema_elements = ["RESOURCES"]
  s3_bucket                  = aws_s3_bucket.cur.id
  s3_prefix                  = var.cur_prefix
  s3_region                  = local.region
  refresh_closed_reports     = true
  # A new assembly per delivery under <prefix>/<name>/<yyyymmdd-yyyymmdd>/, with a manifest
  # naming the current one: the layout Costline reads.
  report_versioning = "CREATE_NEW_REPORT"

  # AWS checks the bucket policy when the report is created.
  depends_on = [aws_s3_bucket_policy.cur]

  lifecycle {
    precondition {
      condition     = local.region == local.billing_regions[local.partition]
      error_message = "Use this module with an aws provider in ${local.billing_regions[local.partition]}: AWS serves Cost and Usage Report definitions of the ${local.partition} partition from that region only."
    }
  }
}
