//! One error type for every AWS failure, each variant saying what to fix.
//!
//! Messages never carry credentials: the SDK's errors name codes, ARNs and buckets, and the
//! only credentials the gateway handles stay inside the SDK's identity cache.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use costline_domain::AccountId;
use std::error::Error as StdError;

/// Why a call to AWS failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// STS refused to let the platform assume the customer's role (AWS answers so for a role
    /// that does not exist, too).
    #[error(
        "Costline could not assume the role {role_arn}: AWS denied sts:AssumeRole. Check that the \
         role exists, that its trust relationship trusts {} and that its sts:ExternalId condition \
         equals this integration's external id (shown in the Costline console)",
        trusted_principal(.platform_account_id, .role_arn)
    )]
    AssumeRoleDenied {
        /// The role that could not be assumed.
        role_arn: String,
        /// The platform account the role must trust, when known.
        platform_account_id: Option<AccountId>,
        /// AWS's own words, for logs (they name the platform principal).
        aws_message: String,
    },
    /// The role could also be assumed with a wrong external id, or with none: its trust
    /// policy does not require the integration's external id, so anyone who learns the role
    /// ARN and can assume roles from the platform account could act as Costline on it (the
    /// confused-deputy problem external ids exist for).
    #[error(
        "the trust policy does not require the external id: Costline could assume {role_arn}          with {accepted}. Add the condition \"StringEquals\": {{\"sts:ExternalId\": \"<this \
         integration's external id>\"}} to the role's trust relationship (the trust policy shown \
         in the Costline console has it), then sync the integration"
    )]
    ExternalIdNotRequired {
        /// The role whose trust policy is too open.
        role_arn: String,
        /// What AssumeRole accepted: "a random external id" or "no external id".
        accepted: &'static str,
    },
    /// IAM says the role does not exist.
    #[error("the role {role_arn} does not exist: create it with the Costline template, or check the ARN for typos")]
    RoleNotFound {
        /// The missing role.
        role_arn: String,
    },
    /// STS is disabled in the region the platform calls it in, for the role's account.
    #[error("AWS STS is not activated in {region} for the account of {role_arn}: activate the region in the account's IAM settings (Account settings, Security Token Service)")]
    StsRegionDisabled {
        /// The role that could not be assumed.
        role_arn: String,
        /// The region the gateway uses.
        region: String,
    },
    /// The integration was revoked: its sessions are forgotten and its roles never assumed again.
    #[error(
        "the integration that uses {role_arn} was revoked; Costline no longer assumes its roles"
    )]
    Revoked {
        /// The role of the revoked integration.
        role_arn: String,
    },
    /// The platform's own credentials are missing, expired or refused.
    #[error("the Costline platform's own AWS credentials were refused or could not be loaded ({message}): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role for the process")]
    PlatformCredentials {
        /// What the SDK or AWS said.
        message: String,
    },
    /// AWS asked Costline to slow down; try again later.
    #[error("AWS {service} throttled Costline ({code}) on {operation}; the work is retried later")]
    Throttled {
        /// The service, e.g. `organizations`.
        service: &'static str,
        /// The operation, e.g. `ListAccounts`.
        operation: &'static str,
        /// AWS's error code, e.g. `TooManyRequestsException`.
        code: String,
    },
    /// The customer's role may not make this call.
    #[error("the Costline role may not call {service}:{operation} ({message}): update the Costline stack (or the role's inline policy) to the current template")]
    AccessDenied {
        /// The service.
        service: &'static str,
        /// The operation that was denied.
        operation: &'static str,
        /// AWS's message.
        message: String,
    },
    /// The bucket does not exist.
    #[error("the S3 bucket {bucket:?} does not exist: check the bucket name of the Cost and Usage Report")]
    NoSuchBucket {
        /// The bucket name.
        bucket: String,
    },
    /// The role may not read the bucket.
    #[error("the Costline role may not read the S3 bucket {bucket:?}{}: grant s3:ListBucket and s3:GetObject on it to the role, and check that the bucket policy and any KMS key policy allow the role", key_suffix(.key))]
    BucketAccessDenied {
        /// The bucket name.
        bucket: String,
        /// The object, when reading one.
        key: Option<String>,
        /// AWS's message.
        message: String,
    },
    /// S3 answered that the bucket lives in another region than the one asked (a redirect
    /// naming it in `x-amz-bucket-region`); the gateway calls that region instead.
    #[error("the S3 bucket {bucket:?} is in {region}, not in the region Costline asked; Costline reads it from {region}")]
    BucketInRegion {
        /// The bucket name.
        bucket: String,
        /// The bucket's region, as S3 named it.
        region: String,
    },
    /// The object does not exist (any more).
    #[error("the S3 object s3://{bucket}/{key} does not exist")]
    NoSuchKey {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// The object is larger than the caller accepts in memory.
    #[error("the S3 object s3://{bucket}/{key} is {size} bytes, more than the {max_bytes} bytes read into memory: it must be streamed")]
    ObjectTooLarge {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// Its size in bytes (at least this much when read without a length).
        size: u64,
        /// The limit that was asked for.
        max_bytes: u64,
    },
    /// A bucket of the platform's own (e.g. where templates are published) does not exist.
    #[error("the S3 bucket {bucket:?} does not exist or is not visible to the platform's AWS credentials: create it (aws s3 mb s3://{bucket}), or pass the name of an existing bucket")]
    PlatformBucketNotFound {
        /// The bucket name.
        bucket: String,
    },
    /// The platform's own credentials may not use one of its buckets.
    #[error("the platform's AWS credentials may not call s3:{operation} on the S3 bucket {bucket:?} ({message}): allow s3:GetBucketLocation on arn:aws:s3:::{bucket} and s3:PutObject on arn:aws:s3:::{bucket}/* to them, and check the bucket policy and any KMS key policy")]
    PlatformBucketAccessDenied {
        /// The bucket name.
        bucket: String,
        /// The S3 operation (and IAM action) that was denied.
        operation: &'static str,
        /// AWS's message.
        message: String,
    },
    /// No CloudFormation stack of that name or id in the role's account and region.
    #[error("no CloudFormation stack {stack:?} in the account: check the stack name, and that it was created in the region Costline reads ({region})")]
    StackNotFound {
        /// The name or id asked for.
        stack: String,
        /// The region looked in.
        region: String,
    },
    /// The request did not reach AWS or the answer did not come back in time; retryable.
    #[error("could not reach AWS {service} for {operation}: {message}")]
    Transport {
        /// The service.
        service: &'static str,
        /// The operation.
        operation: &'static str,
        /// What went wrong on the wire.
        message: String,
    },
    /// AWS answered without a field Costline relies on.
    #[error("AWS {service} {operation} answered without {what}")]
    InvalidResponse {
        /// The service.
        service: &'static str,
        /// The operation.
        operation: &'static str,
        /// What was missing or malformed.
        what: String,
    },
    /// Any other AWS error, with its code.
    #[error("AWS {service} {operation} failed: {code}: {message}")]
    Sdk {
        /// The service.
        service: &'static str,
        /// The operation.
        operation: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
        /// The HTTP status, when there was a response.
        status: Option<u16>,
    },
}

/// The principal the role must trust, in the role's own partition (the only one it can trust).
fn trusted_principal(platform_account_id: &Option<AccountId>, role_arn: &str) -> String {
    let partition = role_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    match platform_account_id {
        Some(id) => format!("the Costline platform account {id} (arn:{partition}:iam::{id}:root)"),
        None => "the Costline platform account".to_string(),
    }
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" (object {k:?})"))
        .unwrap_or_default()
}

impl AwsError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            AwsError::Throttled { .. }
            | AwsError::Transport { .. }
            | AwsError::BucketInRegion { .. } => true,
            AwsError::Sdk { status, code, .. } => {
                status.is_some_and(|s| s >= 500) || TRANSIENT_CODES.contains(&code.as_str())
            }
            _ => false,
        }
    }

    /// A stable snake_case code for API errors and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AwsError::AssumeRoleDenied { .. } => "assume_role_denied",
            AwsError::ExternalIdNotRequired { .. } => "external_id_not_required",
            AwsError::RoleNotFound { .. } => "role_not_found",
            AwsError::StsRegionDisabled { .. } => "sts_region_disabled",
            AwsError::Revoked { .. } => "integration_revoked",
            AwsError::PlatformCredentials { .. } => "platform_credentials",
            AwsError::Throttled { .. } => "aws_throttled",
            AwsError::AccessDenied { .. } => "aws_access_denied",
            AwsError::NoSuchBucket { .. } => "no_such_bucket",
            AwsError::BucketAccessDenied { .. } => "bucket_access_denied",
            AwsError::BucketInRegion { .. } => "bucket_in_other_region",
            AwsError::NoSuchKey { .. } => "no_such_key",
            AwsError::ObjectTooLarge { .. } => "object_too_large",
            AwsError::PlatformBucketNotFound { .. } => "platform_bucket_not_found",
            AwsError::PlatformBucketAccessDenied { .. } => "platform_bucket_access_denied",
            AwsError::StackNotFound { .. } => "stack_not_found",
            AwsError::Transport { .. } => "aws_unreachable",
            AwsError::InvalidResponse { .. } => "aws_invalid_response",
            AwsError::Sdk { .. } => "aws_error",
        }
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

const PLATFORM_CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "MissingAuthenticationToken",
];

/// What a failed call was about, so that the error can name it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A call with the platform's own credentials (GetCallerIdentity of the platform).
    Platform,
    /// STS AssumeRole of this role, with the platform's credentials.
    AssumeRole {
        role_arn: &'a str,
        region: &'a str,
        platform_account_id: Option<&'a AccountId>,
    },
    /// A call with a role session's credentials that names nothing in particular.
    Session,
    /// An S3 bucket, or an object in it.
    Bucket {
        bucket: &'a str,
        key: Option<&'a str>,
    },
    /// A CloudFormation stack.
    Stack { stack: &'a str, region: &'a str },
    /// A bucket of the platform's own, used with the platform's credentials.
    PlatformBucket { bucket: &'a str },
}

/// Maps an SDK error to an [`AwsError`].
///
/// A role session's credentials provider fails with an [`AwsError`] (e.g. AssumeRoleDenied when
/// the customer removed the trust after the session was created); the SDK wraps it several
/// times over, so the source chain is searched for it first.
pub(crate) fn from_sdk<E>(
    service: &'static str,
    operation: &'static str,
    target: Target<'_>,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if let Some(found) = find_gateway_error(&err) {
        return found;
    }
    if let Target::Bucket { bucket, .. } | Target::PlatformBucket { bucket } = target {
        if let Some(region) = redirect_region(&err) {
            return AwsError::BucketInRegion {
                bucket: bucket.to_string(),
                region,
            };
        }
    }
    match &err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("Unknown").to_string();
            let message = ctx.err().message().unwrap_or_default().to_string();
            let status = ctx.raw().status().as_u16();
            from_code(service, operation, target, code, message, Some(status))
        }
        SdkError::TimeoutError(_) => AwsError::Transport {
            service,
            operation,
            message: "timed out".to_string(),
        },
        SdkError::DispatchFailure(failure) => {
            if has_credentials_error(&err) {
                AwsError::PlatformCredentials {
                    message: DisplayErrorContext(&err).to_string(),
                }
            } else if failure.is_io() || failure.is_timeout() {
                AwsError::Transport {
                    service,
                    operation,
                    message: DisplayErrorContext(&err).to_string(),
                }
            } else {
                AwsError::Sdk {
                    service,
                    operation,
                    code: "DispatchFailure".to_string(),
                    message: DisplayErrorContext(&err).to_string(),
                    status: None,
                }
            }
        }
        SdkError::ResponseError(ctx) => AwsError::Sdk {
            service,
            operation,
            code: "UnparseableResponse".to_string(),
            message: DisplayErrorContext(&err).to_string(),
            status: Some(ctx.raw().status().as_u16()),
        },
        _ => AwsError::Sdk {
            service,
            operation,
            code: "ClientError".to_string(),
            message: DisplayErrorContext(&err).to_string(),
            status: None,
        },
    }
}

pub(crate) fn from_code(
    service: &'static str,
    operation: &'static str,
    target: Target<'_>,
    code: String,
    message: String,
    status: Option<u16>,
) -> AwsError {
    let code_is = |set: &[&str]| set.contains(&code.as_str());
    if code_is(THROTTLING_CODES) || status == Some(429) {
        return AwsError::Throttled {
            service,
            operation,
            code,
        };
    }
    match target {
        Target::Platform | Target::AssumeRole { .. } | Target::PlatformBucket { .. }
            if code_is(PLATFORM_CREDENTIAL_CODES) =>
        {
            return AwsError::PlatformCredentials {
                message: format!("{code}: {message}"),
            };
        }
        Target::AssumeRole {
            role_arn,
            region,
            platform_account_id,
        } => {
            if code_is(ACCESS_DENIED_CODES) {
                return AwsError::AssumeRoleDenied {
                    role_arn: role_arn.to_string(),
                    platform_account_id: platform_account_id.cloned(),
                    aws_message: message,
                };
            }
            if code == "NoSuchEntity" || code == "NoSuchEntityException" {
                return AwsError::RoleNotFound {
                    role_arn: role_arn.to_string(),
                };
            }
            if code == "RegionDisabledException" {
                return AwsError::StsRegionDisabled {
                    role_arn: role_arn.to_string(),
                    region: region.to_string(),
                };
            }
        }
        Target::Bucket { bucket, key } => {
            if code == "NoSuchBucket" {
                return AwsError::NoSuchBucket {
                    bucket: bucket.to_string(),
                };
            }
            if let ("NoSuchKey", Some(key)) = (code.as_str(), key) {
                return AwsError::NoSuchKey {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                };
            }
            if code_is(ACCESS_DENIED_CODES) || (status == Some(403) && code == "Unknown") {
                return AwsError::BucketAccessDenied {
                    bucket: bucket.to_string(),
                    key: key.map(str::to_string),
                    message,
                };
            }
        }
        Target::Stack { stack, region } => {
            // CloudFormation reports a missing stack as a ValidationError, not a dedicated code.
            if code == "ValidationError" && message.contains("does not exist") {
                return AwsError::StackNotFound {
                    stack: stack.to_string(),
                    region: region.to_string(),
                };
            }
        }
        Target::PlatformBucket { bucket } => {
            if code == "NoSuchBucket" || (status == Some(404) && code == "Unknown") {
                return AwsError::PlatformBucketNotFound {
                    bucket: bucket.to_string(),
                };
            }
            if code_is(ACCESS_DENIED_CODES) || (status == Some(403) && code == "Unknown") {
                return AwsError::PlatformBucketAccessDenied {
                    bucket: bucket.to_string(),
                    operation,
                    message,
                };
            }
        }
        Target::Platform | Target::Session => {}
    }
    if code_is(ACCESS_DENIED_CODES) {
        return AwsError::AccessDenied {
            service,
            operation,
            message,
        };
    }
    AwsError::Sdk {
        service,
        operation,
        code,
        message,
        status,
    }
}

/// The region S3 names when a bucket request went to the wrong region: a 301 (or 307)
/// redirect, or a 400 `AuthorizationHeaderMalformed` for a request signed for another region,
/// each with the bucket's region in `x-amz-bucket-region` (HEAD answers carry no body, so the
/// header is all there is).
fn redirect_region<E>(err: &SdkError<E, HttpResponse>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    let (raw, code) = match err {
        SdkError::ServiceError(ctx) => (ctx.raw(), ctx.err().code()),
        SdkError::ResponseError(ctx) => (ctx.raw(), None),
        _ => return None,
    };
    let status = raw.status().as_u16();
    let wrong_region = matches!(status, 301 | 307)
        || matches!(
            code,
            Some("PermanentRedirect" | "TemporaryRedirect" | "AuthorizationHeaderMalformed")
        );
    let region = raw.headers().get("x-amz-bucket-region")?.trim();
    (wrong_region && !region.is_empty()).then(|| region.to_string())
}

fn find_gateway_error(err: &(dyn StdError + 'static)) -> Option<AwsError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<AwsError>() {
            return Some(found.clone());
        }
        current = e.source();
    }
    None
}

fn has_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn s3_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<ListObjectsV2Error, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(
            ListObjectsV2Error::generic(meta),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    fn bucket() -> Target<'static> {
        Target::Bucket {
            bucket: "acme-cur",
            key: None,
        }
    }

    #[test]
    fn bucket_errors_name_the_bucket() {
        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            s3_error(404, "NoSuchBucket", "gone"),
        );
        assert_eq!(
            e,
            AwsError::NoSuchBucket {
                bucket: "acme-cur".into()
            }
        );
        assert!(e.to_string().contains("\"acme-cur\""), "{e}");

        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            s3_error(403, "AccessDenied", "nope"),
        );
        assert!(
            matches!(e, AwsError::BucketAccessDenied { ref bucket, .. } if bucket == "acme-cur")
        );
        assert!(e.to_string().contains("s3:GetObject"), "{e}");
        assert!(!e.is_retryable());
    }

    fn with_bucket_region(
        status: u16,
        code: &str,
        region: Option<&str>,
    ) -> SdkError<ListObjectsV2Error, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("moved").build();
        let mut raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        if let Some(region) = region {
            raw.headers_mut()
                .insert("x-amz-bucket-region", region.to_string());
        }
        SdkError::service_error(ListObjectsV2Error::generic(meta), raw)
    }

    #[test]
    fn a_wrong_region_answer_names_the_buckets_region() {
        for (status, code) in [
            (301, "PermanentRedirect"),
            (301, "Unknown"),
            (307, "TemporaryRedirect"),
            (400, "AuthorizationHeaderMalformed"),
        ] {
            let e = from_sdk(
                "s3",
                "ListObjectsV2",
                bucket(),
                with_bucket_region(status, code, Some("eu-west-1")),
            );
            assert_eq!(
                e,
                AwsError::BucketInRegion {
                    bucket: "acme-cur".into(),
                    region: "eu-west-1".into()
                },
                "{status} {code}"
            );
            assert!(e.is_retryable());
        }
        // The header alone (S3 sends it on many answers) is no redirect; nor a redirect without it.
        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            with_bucket_region(403, "AccessDenied", Some("eu-west-1")),
        );
        assert!(matches!(e, AwsError::BucketAccessDenied { .. }), "{e:?}");
        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            with_bucket_region(301, "PermanentRedirect", None),
        );
        assert!(matches!(e, AwsError::Sdk { .. }), "{e:?}");
    }

    #[test]
    fn throttling_is_retryable() {
        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            s3_error(503, "SlowDown", "slow"),
        );
        assert!(matches!(e, AwsError::Throttled { .. }), "{e:?}");
        assert!(e.is_retryable());
        let e = from_sdk(
            "s3",
            "ListObjectsV2",
            bucket(),
            s3_error(500, "InternalError", "oops"),
        );
        assert!(matches!(e, AwsError::Sdk { .. }), "{e:?}");
        assert!(e.is_retryable());
    }

    #[test]
    fn assume_role_denied_says_what_to_check() {
        let platform = AccountId::parse("111122223333").unwrap();
        let target = Target::AssumeRole {
            role_arn: "arn:aws:iam::210987654321:role/CostlineReadOnly",
            region: "us-east-1",
            platform_account_id: Some(&platform),
        };
        let e = from_code(
            "sts",
            "AssumeRole",
            target,
            "AccessDenied".into(),
            "User: x is not authorized".into(),
            Some(403),
        );
        let msg = e.to_string();
        assert!(
            msg.contains("arn:aws:iam::210987654321:role/CostlineReadOnly"),
            "{msg}"
        );
        assert!(
            msg.contains("trust relationship trusts the Costline platform account 111122223333"),
            "{msg}"
        );
        assert!(msg.contains("sts:ExternalId"), "{msg}");
        assert!(msg.contains("(arn:aws:iam::111122223333:root)"), "{msg}");
        assert!(
            !msg.contains("User: x"),
            "AWS's message stays out of the customer-facing text: {msg}"
        );
        assert_eq!(e.code(), "assume_role_denied");

        let e = from_code(
            "sts",
            "AssumeRole",
            target,
            "InvalidClientTokenId".into(),
            "bad".into(),
            Some(403),
        );
        assert!(matches!(e, AwsError::PlatformCredentials { .. }), "{e:?}");
    }

    #[test]
    fn the_principal_to_trust_is_in_the_roles_partition() {
        let platform = AccountId::parse("111122223333").unwrap();
        let e = AwsError::AssumeRoleDenied {
            role_arn: "arn:aws-cn:iam::210987654321:role/CostlineReadOnly".into(),
            platform_account_id: Some(platform),
            aws_message: String::new(),
        };
        assert!(
            e.to_string()
                .contains("(arn:aws-cn:iam::111122223333:root)"),
            "{e}"
        );
    }

    #[test]
    fn missing_stack_is_named() {
        let e = from_code(
            "cloudformation",
            "DescribeStacks",
            Target::Stack {
                stack: "costline",
                region: "us-east-1",
            },
            "ValidationError".into(),
            "Stack with id costline does not exist".into(),
            Some(400),
        );
        assert_eq!(
            e,
            AwsError::StackNotFound {
                stack: "costline".into(),
                region: "us-east-1".into()
            }
        );
    }

    #[test]
    fn a_gateway_error_inside_the_chain_wins() {
        let inner = AwsError::Revoked {
            role_arn: "arn:aws:iam::210987654321:role/x".into(),
        };
        let creds =
            aws_credential_types::provider::error::CredentialsError::provider_error(inner.clone());
        let err: SdkError<ListObjectsV2Error, HttpResponse> = SdkError::dispatch_failure(
            aws_smithy_runtime_api::client::result::ConnectorError::other(creds.into(), None),
        );
        assert_eq!(from_sdk("s3", "ListObjectsV2", bucket(), err), inner);
    }
}
