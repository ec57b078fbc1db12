//! The console's stylesheet and script, served from the binary: the Content-Security-Policy
//! allows scripts and styles from this site only, never inline.

use crate::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const STYLESHEET: &str = include_str!("../assets/costline.css");
const SCRIPT: &str = include_str!("../assets/costline.js");

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, media_type) = match file.as_str() {
        "costline.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "costline.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            // Not versioned in their names: an hour, so an upgrade shows soon.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
