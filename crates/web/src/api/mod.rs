//! The JSON API under `/api/v1` (see CONTRACT.md and docs/openapi.yaml).

mod audit;
mod costs;
mod integrations;
mod jobs;
mod notifications;
pub(crate) mod support;
mod workspace;

pub(crate) use integrations::detail_view as integration_view;
pub(crate) use workspace::delete_confirmed as delete_workspace_confirmed;

use crate::error::ApiError;
use crate::AppState;
use axum::routing::{delete, get, post};
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit-events", get(audit::list))
        .route(
            "/integrations/aws",
            post(integrations::create).get(integrations::list),
        )
        .route(
            "/integrations/aws/{id}",
            get(integrations::get).delete(integrations::revoke),
        )
        .route(
            "/integrations/aws/{id}/connect",
            post(integrations::connect),
        )
        .route("/integrations/aws/{id}/sync", post(integrations::sync))
        .route("/costs", get(costs::get))
        .route(
            "/costs/tag-keys",
            get(costs::tag_keys).put(costs::set_tag_keys),
        )
        .route("/jobs/{id}", get(jobs::get))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route("/workspace", delete(workspace::delete))
        .merge(support::routes())
        .fallback(|| async { ApiError::NotFound("route") })
}
