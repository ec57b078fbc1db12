//! S3 buckets: name, region and tags only. No object is ever listed or read here.

use super::{name_tag, FoundResource, Scope};
use crate::error::{self, AwsError, Target};
use crate::session::RoleSession;
use costline_domain::ResourceType;
use std::collections::BTreeMap;

pub(crate) async fn buckets(
    session: &RoleSession,
    scope: &Scope,
) -> Result<Vec<FoundResource>, AwsError> {
    let s3 = &session.inner.s3;
    let mut listed: Vec<(String, Option<String>)> = Vec::new();
    let mut pages = s3.list_buckets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error::from_sdk("s3", "ListBuckets", Target::Session, e))?;
        for b in page.buckets() {
            if let Some(name) = b.name() {
                listed.push((name.to_string(), b.bucket_region().map(str::to_string)));
            }
        }
    }
    let mut found = Vec::new();
    for (name, region) in listed {
        let region = match region.filter(|r| !r.is_empty()) {
            Some(region) => region,
            None => session.bucket_region(&name).await?.unwrap_or_default(),
        };
        let tags = bucket_tags(session, &name).await?;
        found.push(FoundResource {
            resource_type: ResourceType::S3Bucket,
            arn: format!("arn:{}:s3:::{name}", scope.partition.as_str()),
            resource_id: name.clone(),
            region,
            name: name_tag(&tags).unwrap_or_else(|| name.clone()),
            tags,
            state: None,
            price: None,
        });
    }
    Ok(found)
}

/// GetBucketTagging in the bucket's region; a bucket without tags answers `NoSuchTagSet`.
async fn bucket_tags(
    session: &RoleSession,
    bucket: &str,
) -> Result<BTreeMap<String, String>, AwsError> {
    session
        .on_bucket(bucket, |s3| async move {
            match s3.get_bucket_tagging().bucket(bucket).send().await {
                Ok(out) => Ok(out
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()),
                Err(e)
                    if e.as_service_error().and_then(
                        aws_smithy_types::error::metadata::ProvideErrorMetadata::code,
                    ) == Some("NoSuchTagSet") =>
                {
                    Ok(BTreeMap::new())
                }
                Err(e) => Err(error::from_sdk(
                    "s3",
                    "GetBucketTagging",
                    Target::Bucket { bucket, key: None },
                    e,
                )),
            }
        })
        .await
}
