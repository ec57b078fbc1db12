//! S3 through a role session: listing report files and streaming them, from the bucket's own
//! region (`bucket_region.rs`).

use crate::error::{self, AwsError, Target};
use crate::organizations::to_chrono;
use crate::session::RoleSession;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use tokio::io::AsyncBufRead;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// The full key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written.
    pub last_modified: Option<DateTime<Utc>>,
    /// The entity tag without its quotes (changes when the object is rewritten).
    pub etag: Option<String>,
}

/// An object being downloaded: its body is read as it arrives, never held whole in memory.
#[derive(Debug)]
pub struct ObjectStream {
    /// The bucket it comes from.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Its size in bytes, when S3 said.
    pub size: Option<u64>,
    /// Its entity tag without quotes.
    pub etag: Option<String>,
    body: ByteStream,
}

impl ObjectStream {
    /// The body as a tokio reader (e.g. for a gzip decoder); network errors surface as
    /// `std::io::Error`s while reading.
    pub fn into_async_read(self) -> impl AsyncBufRead + Send + Sync + Unpin {
        self.body.into_async_read()
    }

    /// The body as the SDK's stream of chunks.
    pub fn into_byte_stream(self) -> ByteStream {
        self.body
    }
}

/// ListObjectsV2's largest page.
const LIST_OBJECTS_MAX_PAGE: i32 = 1000;

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

impl RoleSession {
    /// Every object under `prefix` in `bucket` (ListObjectsV2, every page), in key order.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<S3Object>, AwsError> {
        self.list_objects_in_pages(bucket, prefix, LIST_OBJECTS_MAX_PAGE)
            .await
    }

    /// [`RoleSession::list_objects`] asking for `page_size` keys per call (1 to 1000).
    pub async fn list_objects_in_pages(
        &self,
        bucket: &str,
        prefix: &str,
        page_size: i32,
    ) -> Result<Vec<S3Object>, AwsError> {
        self.ensure_live()?;
        self.on_bucket(bucket, |s3| async move {
            let target = Target::Bucket { bucket, key: None };
            let mut pages = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .page_size(page_size.clamp(1, LIST_OBJECTS_MAX_PAGE))
                .send();
            let mut objects = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| error::from_sdk("s3", "ListObjectsV2", target, e))?;
                for o in page.contents.unwrap_or_default() {
                    let Some(key) = o.key else { continue };
                    objects.push(S3Object {
                        key,
                        size: o.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        last_modified: o.last_modified.as_ref().and_then(to_chrono),
                        etag: o.e_tag.as_deref().map(unquote),
                    });
                }
            }
            Ok(objects)
        })
        .await
    }

    /// The "folders" directly under `prefix` (ListObjectsV2 with delimiter `/`), e.g. a CUR
    /// report's `20240901-20241001/` billing period folders.
    pub async fn list_common_prefixes(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, AwsError> {
        self.ensure_live()?;
        self.on_bucket(bucket, |s3| async move {
            let target = Target::Bucket { bucket, key: None };
            let mut pages = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            let mut prefixes = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| error::from_sdk("s3", "ListObjectsV2", target, e))?;
                prefixes.extend(
                    page.common_prefixes
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|p| p.prefix),
                );
            }
            Ok(prefixes)
        })
        .await
    }

    /// Starts downloading `key`; the body streams as it is read.
    pub async fn get_object_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<ObjectStream, AwsError> {
        self.ensure_live()?;
        let out = self
            .on_bucket(bucket, |s3| async move {
                let target = Target::Bucket {
                    bucket,
                    key: Some(key),
                };
                s3.get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| error::from_sdk("s3", "GetObject", target, e))
            })
            .await?;
        Ok(ObjectStream {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: out.content_length.and_then(|l| u64::try_from(l).ok()),
            etag: out.e_tag.as_deref().map(unquote),
            body: out.body,
        })
    }

    /// Reads a small object (a manifest) whole, refusing with [`AwsError::ObjectTooLarge`] one
    /// larger than `max_bytes`, whether S3 announced its size or not.
    pub async fn get_object_bytes(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, AwsError> {
        let stream = self.get_object_stream(bucket, key).await?;
        let too_large = |size: u64| AwsError::ObjectTooLarge {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size,
            max_bytes,
        };
        if let Some(size) = stream.size.filter(|&s| s > max_bytes) {
            return Err(too_large(size));
        }
        let mut body = stream.into_byte_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| AwsError::Transport {
                service: "s3",
                operation: "GetObject",
                message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            })?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Err(too_large(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }
}
