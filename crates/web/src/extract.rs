//! Request extractors whose rejections are API errors (JSON, with a code), not axum's plain text.

use crate::error::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body; a malformed one is a 400 naming the problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "invalid_json",
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::bad_request(
                "invalid_json",
                format!(
                    "the JSON body does not have the expected fields: {}",
                    e.body_text()
                ),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {}", e.body_text()),
            )),
            Err(e) => Err(ApiError::bad_request("invalid_json", e.body_text())),
        }
    }
}

/// Path parameters; an id that does not parse names nothing, so it is a 404 like a missing one.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::NotFound("resource"))
            }
            Err(e) => Err(ApiError::Internal(e.body_text())),
        }
    }
}

/// Query parameters; a malformed query is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}
