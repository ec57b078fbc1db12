//! Health, readiness, Prometheus metrics, request ids and request tracing.

use crate::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use costline_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls reuse it).
pub fn install_metrics_recorder() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // A recorder installed earlier by someone else wins; ours then renders nothing new.
            metrics::set_global_recorder(recorder).ok();
            handle
        })
        .clone()
}

/// Health and readiness, and `/metrics` unless it is served on an address of its own
/// (`COSTLINE_METRICS_LISTEN`, through [`operations_router`]).
pub(crate) fn routes(serve_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if serve_metrics {
        router.route("/metrics", get(metrics_text))
    } else {
        router
    }
}

/// The operations endpoints alone (/healthz, /readyz, /metrics), for a process that runs no web
/// application (`costline worker`), or for the metrics address of `costline serve`.
pub fn operations_router(store: Store) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(store): State<Store>| async move { ready(&store).await }),
        )
        .route("/metrics", get(metrics_text))
        .with_state(store)
}

async fn readyz(State(state): State<AppState>) -> Response {
    ready(&state.store).await
}

async fn ready(store: &Store) -> Response {
    if store.is_ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database is unreachable or not migrated",
        )
            .into_response()
    }
}

async fn metrics_text() -> Response {
    let body = install_metrics_recorder().render();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the router with request ids, tracing spans and request metrics.
pub(crate) fn apply(router: Router) -> Router {
    router
        .layer(middleware::from_fn(record_request_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // Who is asking is recorded by the auth extractors once the token or session
                // is known (`record_caller`).
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                    workspace_id = tracing::field::Empty,
                    user_id = tracing::field::Empty,
                )
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Records the caller on the current request span.
pub(crate) fn record_caller(
    workspace_id: Option<costline_domain::WorkspaceId>,
    user_id: costline_domain::UserId,
) {
    let span = tracing::Span::current();
    if let Some(workspace_id) = workspace_id {
        span.record("workspace_id", tracing::field::display(workspace_id));
    }
    span.record("user_id", tracing::field::display(user_id));
}

async fn record_request_metrics(request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("costline_http_requests_total", &labels).increment(1);
    metrics::histogram!("costline_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
