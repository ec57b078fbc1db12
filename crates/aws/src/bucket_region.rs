//! Which region a customer's bucket lives in, so that S3 calls go to that region.
//!
//! S3 answers a request sent to another region than the bucket's with a redirect (301
//! `PermanentRedirect`, or 400 `AuthorizationHeaderMalformed` when signed for the wrong region)
//! that the SDK does not follow. So a session asks once per bucket where it is (GetBucketLocation
//! through the customer's role, which the templates allow on the CUR bucket; HeadBucket, which
//! needs only s3:ListBucket, when that is denied), remembers the answer and makes one S3 client
//! per region, all sharing the session's credentials. A redirect that still comes (a bucket
//! deleted and re-created elsewhere) names the region: it is remembered and the call repeated
//! there once. See `docs/adr/0006-aws-gateway.md`.

use crate::error::{self, AwsError, Target};
use crate::session::RoleSession;
use aws_config::Region;
use costline_domain::AwsPartition;
use std::future::Future;

/// The region a GetBucketLocation `LocationConstraint` names, if it names one: empty (or absent)
/// means us-east-1 and `EU` means eu-west-1, S3's two legacy spellings, in the commercial
/// partition. Elsewhere an empty constraint is not documented, so it names nothing and the
/// caller asks HeadBucket instead.
pub(crate) fn region_of_location(
    constraint: Option<&str>,
    partition: AwsPartition,
) -> Option<String> {
    match (constraint.map(str::trim).unwrap_or(""), partition) {
        ("", AwsPartition::Aws) => Some("us-east-1".to_string()),
        ("", _) => None,
        ("EU", _) => Some("eu-west-1".to_string()),
        (region, _) => Some(region.to_string()),
    }
}

impl RoleSession {
    /// The region `bucket` lives in, found once per session and remembered; `None` when the role
    /// may neither GetBucketLocation nor HeadBucket it (the call itself then says what is wrong).
    pub async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        self.ensure_live()?;
        if let Some(region) = self.known_region(bucket) {
            return Ok(Some(region));
        }
        let found = self.locate(bucket).await?;
        if let Some(region) = &found {
            self.remember_region(bucket, region);
        }
        Ok(found)
    }

    /// The region of the S3 client the session reads `bucket` with.
    pub async fn s3_region_for(&self, bucket: &str) -> Result<String, AwsError> {
        let client = self.s3_for(bucket).await?;
        Ok(client
            .config()
            .region()
            .map(|r| r.as_ref().to_string())
            .unwrap_or_default())
    }

    /// Runs `call` with the S3 client of `bucket`'s region. When S3 still answers that the bucket
    /// is elsewhere, the region it names is remembered and `call` runs once more there.
    pub(crate) async fn on_bucket<T, F, Fut>(&self, bucket: &str, call: F) -> Result<T, AwsError>
    where
        F: Fn(aws_sdk_s3::Client) -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let client = self.s3_for(bucket).await?;
        match call(client).await {
            Err(AwsError::BucketInRegion { region, .. }) => {
                tracing::info!(bucket, region = %region, "S3 named another region for the bucket");
                self.remember_region(bucket, &region);
                call(self.client_in(&region)).await
            }
            other => other,
        }
    }

    async fn s3_for(&self, bucket: &str) -> Result<aws_sdk_s3::Client, AwsError> {
        Ok(match self.bucket_region(bucket).await? {
            Some(region) => self.client_in(&region),
            None => self.inner.s3.clone(),
        })
    }

    /// GetBucketLocation, then HeadBucket; a redirect from either names the region as well.
    async fn locate(&self, bucket: &str) -> Result<Option<String>, AwsError> {
        let target = Target::Bucket { bucket, key: None };
        let partition = self.inner.role_arn.partition();
        let location = match self
            .inner
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => {
                let constraint = out.location_constraint().map(|c| c.as_str());
                if let Some(region) = region_of_location(constraint, partition) {
                    return Ok(Some(region));
                }
                None
            }
            Err(e) => Some(error::from_sdk("s3", "GetBucketLocation", target, e)),
        };
        match location {
            Some(AwsError::BucketInRegion { region, .. }) => return Ok(Some(region)),
            Some(AwsError::BucketAccessDenied { .. } | AwsError::AccessDenied { .. }) | None => {}
            Some(other) => return Err(other),
        }
        match self.inner.s3.head_bucket().bucket(bucket).send().await {
            Ok(out) => Ok(out.bucket_region().map(str::to_string)),
            Err(e) => match error::from_sdk("s3", "HeadBucket", target, e) {
                AwsError::BucketInRegion { region, .. } => Ok(Some(region)),
                AwsError::BucketAccessDenied { .. } | AwsError::AccessDenied { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    fn known_region(&self, bucket: &str) -> Option<String> {
        let buckets = self.inner.buckets.lock().expect("bucket regions lock");
        buckets.region_of.get(bucket).cloned()
    }

    fn remember_region(&self, bucket: &str, region: &str) {
        let mut buckets = self.inner.buckets.lock().expect("bucket regions lock");
        buckets
            .region_of
            .insert(bucket.to_string(), region.to_string());
    }

    /// The S3 client signing for `region`: the session's own when that is its region, else one
    /// made on first use from the same configuration (credentials, cache, endpoint, path style).
    fn client_in(&self, region: &str) -> aws_sdk_s3::Client {
        if self.inner.s3.config().region().map(|r| r.as_ref()) == Some(region) {
            return self.inner.s3.clone();
        }
        let mut buckets = self.inner.buckets.lock().expect("bucket regions lock");
        buckets
            .clients
            .entry(region.to_string())
            .or_insert_with(|| {
                aws_sdk_s3::Client::from_conf(
                    self.inner
                        .s3_config
                        .to_builder()
                        .region(Region::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints_name_regions_as_s3_documents_them() {
        let cases = [
            (None, AwsPartition::Aws, Some("us-east-1")),
            (Some(""), AwsPartition::Aws, Some("us-east-1")),
            (Some("EU"), AwsPartition::Aws, Some("eu-west-1")),
            (Some("eu-west-1"), AwsPartition::Aws, Some("eu-west-1")),
            (
                Some("ap-southeast-2"),
                AwsPartition::Aws,
                Some("ap-southeast-2"),
            ),
            (Some("cn-north-1"), AwsPartition::AwsCn, Some("cn-north-1")),
            (
                Some("us-gov-east-1"),
                AwsPartition::AwsUsGov,
                Some("us-gov-east-1"),
            ),
            // us-east-1 is commercial: an empty constraint elsewhere is asked again.
            (None, AwsPartition::AwsCn, None),
            (Some(""), AwsPartition::AwsUsGov, None),
        ];
        for (constraint, partition, region) in cases {
            assert_eq!(
                region_of_location(constraint, partition).as_deref(),
                region,
                "{constraint:?} in {partition}"
            );
        }
    }
}
