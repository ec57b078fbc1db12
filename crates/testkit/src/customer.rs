//! Acting as a customer on the emulator: their AWS account's S3.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

/// An S3 client acting as `account` on the emulator at `endpoint`: it assumes a role there with
/// moto's test credentials, and moto files every object under the caller's account, so buckets
/// made with it are the customer's, as in production. Path-style, like Costline's own clients.
pub async fn customer_s3(endpoint: &str, account: &str) -> aws_sdk_s3::Client {
    let platform = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let assumed = aws_sdk_sts::Client::new(&platform)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/TestUploader"))
        .role_session_name("customer-upload")
        .send()
        .await
        .expect("assume a role in the customer account");
    let c = assumed.credentials().expect("credentials");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "customer",
        ))
        .load()
        .await;
    path_style_s3(&config)
}

/// An S3 client for `config` addressing buckets path-style, as the emulator needs and as
/// Costline's own clients do with an endpoint override.
pub fn path_style_s3(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}
