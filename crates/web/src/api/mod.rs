//! The JSON API under `/api/v1` (see CONTRACT.md and docs/openapi.yaml).

mod audit;

use crate::error::ApiError;
use crate::AppState;
use axum::routing::get;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit-events", get(audit::list))
        .fallback(|| async { ApiError::NotFound("route") })
}
