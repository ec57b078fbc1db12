//! The JSON API under `/api/v1` (see CONTRACT.md and docs/openapi.yaml).

mod audit;
mod costs;
mod forecast;
mod integrations;
mod jobs;
mod notifications;
mod reports;
mod resources;
pub(crate) mod support;
mod support_access;
mod workspace;

pub(crate) use costs::{csv_response, parse_filters, parse_group_by, parse_metric, CostTable};
pub(crate) use integrations::detail_view as integration_view;
pub(crate) use support_access::{
    end_grants as end_support_grants, open_grant as open_support_grant,
    MAX_GRANT_HOURS as MAX_SUPPORT_GRANT_HOURS,
};
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
        .route("/costs/forecast", get(forecast::get))
        .route("/reports", get(reports::list).post(reports::create))
        .route(
            "/reports/{id}",
            get(reports::get)
                .put(reports::update)
                .delete(reports::delete),
        )
        .route("/reports/{id}/costs", get(costs::report))
        .route("/resources", get(resources::list))
        .route("/resources/coverage", get(resources::coverage))
        .route("/resources/{id}", get(resources::get))
        .route("/jobs/{id}", get(jobs::get))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}/read", post(notifications::mark_read))
        .route("/workspace", delete(workspace::delete))
        .merge(support::routes())
        // Customer-controlled support access (issue 21).
        .route(
            "/support-access",
            get(support_access::get)
                .post(support_access::grant)
                .delete(support_access::revoke),
        )
        .fallback(|| async { ApiError::NotFound("route") })
}
