//! The API's error type: every failure maps here, and here only, to a status and a stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use costline_store::StoreError;
use serde_json::json;

/// A failed API request. The message is a sentence for humans; the code is for programs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or an unknown or revoked one.
    #[error("missing or invalid API token: send `Authorization: Bearer <token>` with a token from workspace settings")]
    Unauthorized,
    /// A token that was valid until `expired_at`.
    #[error("this API token expired at {expired_at}: create a new one in workspace settings")]
    TokenExpired {
        /// When it stopped working.
        expired_at: chrono::DateTime<chrono::Utc>,
    },
    /// Authenticated, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A support route on a workspace that has not granted support access (now).
    #[error("the customer has not granted support access to this workspace: a workspace admin must grant it in console settings (or POST /api/v1/support-access); for an incident, open break-glass access with a stated reason")]
    SupportAccessNotGranted,
    /// No such resource in the caller's workspace (also for other workspaces' resources).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is malformed; the message names the problem and the fix.
    #[error("{message}")]
    BadRequest {
        /// Stable snake_case code.
        code: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The change would pass a configured limit; the message names it and what to do.
    #[error("{message}")]
    LimitReached {
        /// Stable snake_case code naming the limit.
        code: &'static str,
        /// The limit and how to get under it.
        message: String,
    },
    /// Too many attempts.
    #[error("too many attempts: wait a minute and try again")]
    RateLimited,
    /// A dependency or setting is missing; the message says which.
    #[error("{0}")]
    Unavailable(String),
    /// The request ran past the deadline (`COSTLINE_REQUEST_TIMEOUT_SECS`) and was stopped.
    #[error("the request took longer than {} seconds and was stopped: ask for less (a shorter range, fewer groups) or try again", .0.as_secs())]
    Timeout(std::time::Duration),
    /// A fault on our side; details are logged, not returned.
    #[error(
        "internal error: the failure was logged; try again, and contact support if it persists"
    )]
    Internal(String),
}

impl ApiError {
    /// A 400 with a code and a message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 403 saying which role is needed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::TokenExpired { .. } => (StatusCode::UNAUTHORIZED, "token_expired"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::SupportAccessNotGranted => {
                (StatusCode::FORBIDDEN, "support_access_not_granted")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::LimitReached { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "request_timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Limit(message) => ApiError::bad_request("query_too_large", message),
            StoreError::LimitReached(message) => ApiError::LimitReached {
                code: "limit_reached",
                message,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        response
    }
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;
