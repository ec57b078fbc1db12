//! The console's error type and the extractors that reject with it.
//!
//! Every console failure is a message page: handlers return `Result<Response, ConsoleError>` and
//! use `?`. Each section of the console (integrations, revoke, reports…) names its own not-found
//! and admins-only pages through [`Section`], so the typed extractors render the same texts the
//! handlers used to write by hand.

use super::{message_page, ConsoleUser};
use crate::AppState;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use costline_store::StoreError;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::str::FromStr;

/// The texts of one message page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notice {
    pub title: &'static str,
    pub message: &'static str,
    pub link: &'static str,
    pub link_text: &'static str,
}

/// A store `NotFound` that no section claimed.
const NOT_FOUND: Notice = Notice {
    title: "Not found",
    message: "This workspace has no such page.",
    link: "/",
    link_text: "Back",
};

/// Why a console request failed, and so which message page answers it.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// 404 with the section's page.
    NotFound(Notice),
    /// 403 with the section's page (admins only, and the like).
    Forbidden(Notice),
    /// 403: the form's CSRF value does not match this browser's cookie.
    CsrfExpired,
    /// 500: logged, and a generic page (the cause is never shown).
    Internal(String),
    /// Any other message page, with texts made at run time (the support console's "Not done").
    Message {
        status: StatusCode,
        title: String,
        message: String,
        link: String,
        link_text: String,
    },
}

impl ConsoleError {
    pub(crate) fn internal(e: impl fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// This error, with a generic not-found replaced by the section's own page.
    pub(crate) fn in_section<S: Section + ?Sized>(self) -> Self {
        match self {
            Self::NotFound(_) => Self::NotFound(S::NOT_FOUND),
            other => other,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, notice) = match self {
            Self::Message {
                status,
                title,
                message,
                link,
                link_text,
            } => return message_page(status, &title, &message, &link, &link_text),
            Self::NotFound(n) => (StatusCode::NOT_FOUND, n),
            Self::Forbidden(n) => (StatusCode::FORBIDDEN, n),
            Self::CsrfExpired => (
                StatusCode::FORBIDDEN,
                Notice {
                    title: "Form expired",
                    message: "This form is out of date or was not sent from Costline. Reload the page and try again.",
                    link: "/",
                    link_text: "Back",
                },
            ),
            Self::Internal(e) => {
                tracing::error!(error = %e, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Notice {
                        title: "Something went wrong",
                        message: "The failure was logged. Try again, and contact support if it persists.",
                        link: "/",
                        link_text: "Back",
                    },
                )
            }
        };
        message_page(
            status,
            notice.title,
            notice.message,
            notice.link,
            notice.link_text,
        )
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound(NOT_FOUND),
            StoreError::Limit(message) => Self::Message {
                status: StatusCode::BAD_REQUEST,
                title: "Too large a question".into(),
                message,
                link: "/costs".into(),
                link_text: "Back to costs".into(),
            },
            other => Self::internal(other),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        Self::internal(e)
    }
}

impl From<tower_sessions::session::Error> for ConsoleError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self::internal(e)
    }
}

/// A part of the console with its own not-found and admins-only pages.
pub(crate) trait Section: Send + Sync + 'static {
    const NOT_FOUND: Notice;
    const ADMINS_ONLY: Notice;

    /// For `map_err`: any error, with a not-found shown as this section's page.
    fn error(e: impl Into<ConsoleError>) -> ConsoleError {
        e.into().in_section::<Self>()
    }

    fn not_found() -> ConsoleError {
        ConsoleError::NotFound(Self::NOT_FOUND)
    }
}

/// The id of a console route (`/integrations/{id}`), parsed into its type; an id that does not
/// parse is the section's not-found page, as a missing row is.
pub(crate) struct ConsolePath<T, S>(pub T, pub PhantomData<S>);

impl<T, S> FromRequestParts<AppState> for ConsolePath<T, S>
where
    T: FromStr + Send,
    S: Section,
{
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| S::not_found())?;
        let id = segment.parse().map_err(|_| S::not_found())?;
        Ok(Self(id, PhantomData))
    }
}

/// A console user with the admin (or owner) role; anyone else gets the section's admins-only
/// page, and no one logged in is sent to the login page as [`ConsoleUser`] does.
pub(crate) struct ConsoleAdmin<S>(pub ConsoleUser, pub PhantomData<S>);

impl<S> Deref for ConsoleAdmin<S> {
    type Target = ConsoleUser;

    fn deref(&self) -> &ConsoleUser {
        &self.0
    }
}

impl<S: Section> FromRequestParts<AppState> for ConsoleAdmin<S> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = ConsoleUser::from_request_parts(parts, state).await?;
        if !user.role.is_admin() {
            return Err(ConsoleError::Forbidden(S::ADMINS_ONLY).into_response());
        }
        Ok(Self(user, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Things;

    impl Section for Things {
        const NOT_FOUND: Notice = Notice {
            title: "Thing not found",
            message: "No such thing.",
            link: "/things",
            link_text: "Things",
        };
        const ADMINS_ONLY: Notice = Notice {
            title: "Admins only",
            message: "Things are for admins.",
            link: "/things",
            link_text: "Things",
        };
    }

    async fn page(e: ConsoleError) -> (StatusCode, String) {
        let response = e.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn each_error_is_a_message_page_with_its_status() {
        let (status, body) = page(Things::not_found()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Thing not found") && body.contains("/things"));

        let (status, body) = page(ConsoleError::Forbidden(Things::ADMINS_ONLY)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("Things are for admins."));

        let (status, body) = page(ConsoleError::CsrfExpired).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("Form expired"));

        let (status, body) = page(ConsoleError::internal("db password=hunter2")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("Something went wrong") && !body.contains("hunter2"));
    }

    #[tokio::test]
    async fn a_missing_row_is_not_found_and_any_other_store_error_internal() {
        let (status, _) = page(StoreError::NotFound.into()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = page(Things::error(StoreError::NotFound)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Thing not found"));
        let (status, _) = page(Things::error(StoreError::Conflict("taken".into()))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
