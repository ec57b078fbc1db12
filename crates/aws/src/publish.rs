//! S3 with the platform's own credentials: publishing Costline's files (the CloudFormation
//! templates) to a bucket of the platform's, for customers' AWS consoles to load.

use crate::bucket_region::region_of_location;
use crate::error::{self, AwsError, Target};
use crate::gateway::AwsGateway;
use aws_config::Region;
use aws_sdk_s3::primitives::ByteStream;
use costline_domain::AwsPartition;

/// An object the platform wrote, and the HTTPS URL it is fetched at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedObject {
    /// The bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The bucket's region.
    pub region: String,
    /// The object's URL: see [`object_url`].
    pub url: String,
}

impl AwsGateway {
    /// The region `bucket` lives in (GetBucketLocation with the platform's own credentials;
    /// HeadBucket where the answer names no region), asked in the partition of the gateway's
    /// region.
    pub async fn bucket_region(&self, bucket: &str) -> Result<String, AwsError> {
        let partition = AwsPartition::from_region(&self.config().region);
        let s3 = self.platform_s3(self.sdk_config().await, partition.integration_region());
        let target = Target::PlatformBucket { bucket };
        let location = s3.get_bucket_location().bucket(bucket).send().await;
        let constraint = match location {
            Ok(out) => out.location_constraint().map(|c| c.as_str().to_string()),
            Err(e) => match error::from_sdk("s3", "GetBucketLocation", target, e) {
                AwsError::BucketInRegion { region, .. } => return Ok(region),
                other => return Err(other),
            },
        };
        if let Some(region) = region_of_location(constraint.as_deref(), partition) {
            return Ok(region);
        }
        match s3.head_bucket().bucket(bucket).send().await {
            Ok(out) => out.bucket_region().map(str::to_string),
            Err(e) => match error::from_sdk("s3", "HeadBucket", target, e) {
                AwsError::BucketInRegion { region, .. } => Some(region),
                other => return Err(other),
            },
        }
        .ok_or_else(|| AwsError::InvalidResponse {
            service: "s3",
            operation: "HeadBucket",
            what: format!("the region of the bucket {bucket:?}"),
        })
    }

    /// Writes `body` to `key` in `bucket` (a bucket of the platform's, in any region) with the
    /// platform's own credentials and `content_type`, and says where it can be fetched.
    pub async fn publish_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<PublishedObject, AwsError> {
        let region = self.bucket_region(bucket).await?;
        self.platform_s3(self.sdk_config().await, &region)
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                error::from_sdk("s3", "PutObject", Target::PlatformBucket { bucket }, e)
            })?;
        Ok(PublishedObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
            url: object_url(self.config().endpoint_url.as_deref(), bucket, &region, key),
            region,
        })
    }

    /// Whether anyone may read `object` without credentials (an unsigned GetObject of its first
    /// byte: what a customer's console does, and unlike HeadObject, what the emulator checks
    /// against bucket policies too), as customers' AWS accounts must for a quick-create link to
    /// load it. `false` when S3 answers 403; other failures are errors.
    pub async fn is_publicly_readable(&self, object: &PublishedObject) -> Result<bool, AwsError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .no_credentials()
            .region(Region::new(object.region.clone()));
        if let Some(url) = &self.config().endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let anonymous = self.platform_s3(&loader.load().await, &object.region);
        let bucket = object.bucket.as_str();
        match anonymous
            .get_object()
            .bucket(bucket)
            .key(&object.key)
            .range("bytes=0-0")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                match error::from_sdk("s3", "GetObject", Target::PlatformBucket { bucket }, e) {
                    AwsError::PlatformBucketAccessDenied { .. } => Ok(false),
                    other => Err(other),
                }
            }
        }
    }

    /// An S3 client with the platform's credentials, signing for `region` (S3 refuses requests
    /// signed for another region than the bucket's), path-style with the endpoint override.
    fn platform_s3(&self, sdk_config: &aws_config::SdkConfig, region: &str) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk_config)
            .region(Region::new(region.to_string()))
            .force_path_style(self.config().endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// Where `key` of `bucket` (in `region`) is fetched over HTTPS: the virtual-hosted regional URL
/// `https://<bucket>.s3.<region>.amazonaws.com/<key>` (the partition's S3 host, e.g.
/// `.amazonaws.com.cn` in China), or the path-style `https://s3.<region>.amazonaws.com/<bucket>/<key>`
/// for a bucket name with dots, which no S3 certificate covers as a host name. With an endpoint
/// override (an emulator), `<endpoint>/<bucket>/<key>`.
pub fn object_url(endpoint: Option<&str>, bucket: &str, region: &str, key: &str) -> String {
    let key = encode_key(key);
    if let Some(endpoint) = endpoint {
        return format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/'));
    }
    let host = AwsPartition::from_region(region).s3_host(region);
    if bucket.contains('.') {
        format!("https://{host}/{bucket}/{key}")
    } else {
        format!("https://{bucket}.{host}/{key}")
    }
}

/// `key` as a URL path: every byte but RFC 3986's unreserved characters and `/` as `%XX`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_are_regional_virtual_hosted_urls() {
        let key = "costline/1.0.0/integration.yaml";
        assert_eq!(
            object_url(None, "acme-templates", "eu-central-1", key),
            "https://acme-templates.s3.eu-central-1.amazonaws.com/costline/1.0.0/integration.yaml"
        );
        assert_eq!(
            object_url(None, "acme-templates", "us-east-1", key),
            "https://acme-templates.s3.us-east-1.amazonaws.com/costline/1.0.0/integration.yaml"
        );
        assert_eq!(
            object_url(None, "acme-templates", "us-gov-west-1", key),
            "https://acme-templates.s3.us-gov-west-1.amazonaws.com/costline/1.0.0/integration.yaml"
        );
        assert_eq!(
            object_url(None, "acme-templates", "cn-north-1", key),
            "https://acme-templates.s3.cn-north-1.amazonaws.com.cn/costline/1.0.0/integration.yaml"
        );
    }

    #[test]
    fn dotted_buckets_emulators_and_odd_keys() {
        assert_eq!(
            object_url(
                None,
                "templates.acme.com",
                "eu-west-1",
                "1.0.0/integration.yaml"
            ),
            "https://s3.eu-west-1.amazonaws.com/templates.acme.com/1.0.0/integration.yaml"
        );
        assert_eq!(
            object_url(
                Some("http://127.0.0.1:5000/"),
                "b",
                "us-east-1",
                "p/1.0.0/member-role.yaml"
            ),
            "http://127.0.0.1:5000/b/p/1.0.0/member-role.yaml"
        );
        assert_eq!(
            object_url(None, "b", "us-east-1", "my templates/ü+x.yaml"),
            "https://b.s3.us-east-1.amazonaws.com/my%20templates/%C3%BC%2Bx.yaml"
        );
    }
}
