//! `costline admin publish-templates` against the emulator's S3: the real binary uploads this
//! build's CloudFormation templates under `<prefix>/<version>/`, with their media type, and
//! prints URLs that answer the committed files' bytes. It needs no database.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use costline_testkit::{moto, path_style_s3, spawn_app_with_config};
use serde_json::Value;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_costline");

/// The platform's own S3 on the emulator (moto's default account, as the binary's credentials).
async fn platform_s3(endpoint: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    path_style_s3(&config)
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) {
    let mut request = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        request = request.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(region.into())
                .build(),
        );
    }
    request.send().await.expect("create the bucket");
}

/// `costline <args>` with the emulator as AWS, dummy credentials, and no database anywhere: a
/// private cluster would be made under `data_dir`, which the tests check stays empty.
fn costline(args: &[&str], endpoint: &str, data_dir: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AWS_PROFILE")
        .env("COSTLINE_DATA_DIR", data_dir)
        .env("COSTLINE_AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .expect("run costline")
}

fn committed(file: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/cloudformation/").to_owned() + file)
        .expect("a committed template")
}

/// What an operator adds so that every customer's account can load the templates.
async fn allow_public_reads(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicTemplates",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}/*"),
        }],
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .expect("put the bucket policy");
}

/// Publishes to a new public bucket in `region` and checks every URL; returns the JSON line.
async fn publish_and_check(bucket: &str, region: &str) -> Value {
    let moto = moto().await;
    let s3 = platform_s3(&moto.endpoint, region).await;
    create_bucket(&s3, bucket, region).await;
    allow_public_reads(&s3, bucket, "p").await;
    let data_dir = tempfile::tempdir().unwrap();
    let out = costline(
        &[
            "admin",
            "publish-templates",
            "--bucket",
            bucket,
            "--prefix",
            "p",
        ],
        &moto.endpoint,
        data_dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert!(
        std::fs::read_dir(data_dir.path()).unwrap().next().is_none(),
        "publish-templates opened no database"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();

    let version = costline_onboarding::TEMPLATE_VERSION;
    let folder = format!("{}/{bucket}/p/{version}", moto.endpoint);
    assert_eq!(line["template_base_url"], folder.as_str(), "{line}");
    assert_eq!(line["version"], version);
    for (field, file) in [
        ("integration", "integration.yaml"),
        ("member_role", "member-role.yaml"),
    ] {
        let url = line[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {line}"));
        assert_eq!(
            url,
            format!("{folder}/{file}"),
            "the quick-create link is <template base URL>/{file}"
        );
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert!(
            response.bytes().await.unwrap() == committed(file),
            "{url} is cloudformation/{file}"
        );
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(format!("p/{version}/{file}"))
            .send()
            .await
            .expect("the object exists under <prefix>/<version>/");
        assert_eq!(head.content_type(), Some("application/yaml"), "{file}");
    }
    line
}

/// The value of `name` in the query (or fragment query) of `url`, percent-decoded.
fn query_value(url: &str, name: &str) -> String {
    let encoded = url
        .split(['?', '&', '#'])
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"));
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            decoded.push(u8::from_str_radix(&encoded[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).unwrap()
}

#[tokio::test]
async fn publish_templates_uploads_both_templates_and_prints_urls_that_serve_them() {
    let bucket = format!("costline-templates-{}", uuid::Uuid::new_v4().simple());
    let line = publish_and_check(&bucket, "us-east-1").await;

    // COSTLINE_TEMPLATE_BASE_URL set to the printed folder: the quick-create link loads the
    // published integration template.
    let base = line["template_base_url"].as_str().unwrap().to_string();
    let app = spawn_app_with_config(|config| config.template_base_url = Some(base)).await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let created = app.create_integration(&ws.token).await;
    let link = created["cloudformation_url"].as_str().unwrap();
    let template_url = query_value(link, "templateURL");
    assert_eq!(
        template_url,
        line["integration"].as_str().unwrap(),
        "{link}"
    );
    let body = reqwest::get(&template_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(body == committed("integration.yaml"));
}

#[tokio::test]
async fn a_bucket_in_another_region_is_written_in_its_own_region() {
    let bucket = format!("costline-eu-{}", uuid::Uuid::new_v4().simple());
    publish_and_check(&bucket, "eu-west-1").await;
}

#[tokio::test]
async fn templates_customers_cannot_read_are_published_with_a_warning_saying_how_to_fix_it() {
    let moto = moto().await;
    let bucket = format!("costline-private-{}", uuid::Uuid::new_v4().simple());
    create_bucket(
        &platform_s3(&moto.endpoint, "us-east-1").await,
        &bucket,
        "us-east-1",
    )
    .await;
    let data_dir = tempfile::tempdir().unwrap();
    let out = costline(
        &[
            "admin",
            "publish-templates",
            "--bucket",
            &bucket,
            "--prefix",
            "/costline/templates/",
        ],
        &moto.endpoint,
        data_dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = line["integration"].as_str().unwrap();
    assert!(
        url.ends_with(&format!(
            "/{bucket}/costline/templates/{}/integration.yaml",
            costline_onboarding::TEMPLATE_VERSION
        )),
        "slashes around the prefix are dropped: {url}"
    );
    assert_eq!(reqwest::get(url).await.unwrap().status(), 403);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 2, "one per template: {stderr}");
    assert!(warnings[0].contains(url), "{stderr}");
    assert!(
        warnings[0].contains(&format!(
            "s3:GetObject on arn:aws:s3:::{bucket}/costline/templates/*"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_bucket_fails_with_a_message_naming_it() {
    let moto = moto().await;
    let bucket = format!("costline-missing-{}", uuid::Uuid::new_v4().simple());
    let data_dir = tempfile::tempdir().unwrap();
    let out = costline(
        &["admin", "publish-templates", "--bucket", &bucket],
        &moto.endpoint,
        data_dir.path(),
    );
    assert!(!out.status.success());
    assert_ne!(out.status.code(), Some(2), "not a usage error");
    assert!(out.stdout.is_empty(), "no JSON line on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains(&format!("\"{bucket}\"")), "{error}");
    assert!(
        error.contains(&format!("aws s3 mb s3://{bucket}")),
        "says how to fix it: {error}"
    );
}

#[tokio::test]
async fn bad_usage_exits_2() {
    let moto = moto().await;
    let data_dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (&["admin", "publish-templates"][..], "--bucket"),
        (
            &["admin", "publish-templates", "--bucket", "s3://Acme"][..],
            "not an S3 bucket name",
        ),
        (
            &[
                "admin",
                "publish-templates",
                "--bucket",
                "acme",
                "--prefix",
                "a//b",
            ][..],
            "not a key prefix",
        ),
    ] {
        let out = costline(args, &moto.endpoint, data_dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
