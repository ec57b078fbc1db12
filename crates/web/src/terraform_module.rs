//! The Terraform module as the archive the snippet's `source` points at by default
//! (`<public url>/terraform/costline-aws-<version>.tar.gz`). Public: `terraform init` fetches
//! it without credentials.

use crate::AppState;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// Built on first request, then served from memory: the bytes never change within a build.
static ARCHIVE: LazyLock<(String, Bytes)> = LazyLock::new(|| {
    (
        costline_onboarding::terraform_archive_name(),
        Bytes::from(costline_onboarding::terraform_module_archive()),
    )
});

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/terraform/{file}", get(archive))
}

async fn archive(Path(file): Path<String>) -> Response {
    let (name, bytes) = &*ARCHIVE;
    if file != *name {
        return (
            StatusCode::NOT_FOUND,
            format!("No such Terraform module archive: this Costline serves /terraform/{name}\n"),
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                costline_onboarding::TERRAFORM_ARCHIVE_MEDIA_TYPE.to_owned(),
            ),
            // The version is in the URL: a new module is a new URL, so this one never changes.
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes.clone(),
    )
        .into_response()
}
