//! What every response carries and every request is bounded by: security headers, a default
//! `Cache-Control: no-store`, the request deadline; and the security settings of the web layer
//! (sign-up mode, the shared CSRF key).

use crate::WebConfig;
use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::{Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

/// How people get a console account of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    /// Sign-up sends a confirmation link; the account works once it is followed. Needs email
    /// (`COSTLINE_SMTP_URL`): without it, sign-up is closed and says why.
    #[default]
    Verify,
    /// Sign-up works at once, without a confirmation email: for a private server without
    /// email, where whoever reaches the sign-up page is trusted with the address they type.
    Open,
    /// No sign-up: accounts come from invitations only.
    Closed,
}

impl FromStr for SignupMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "verify" => Ok(Self::Verify),
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "COSTLINE_SIGNUP={other:?}: use verify (a confirmation email, the default), open \
                 (no email check: private servers without email) or closed (invitations only)"
            )),
        }
    }
}

/// The key of CSRF cookies, from `COSTLINE_CSRF_KEY`: the same on every instance behind one
/// address, so a form rendered by one verifies on another.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfSecret(Vec<u8>);

/// The fewest characters `COSTLINE_CSRF_KEY` may have.
pub const MIN_CSRF_KEY_CHARS: usize = 32;

impl FromStr for CsrfSecret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.chars().count() < MIN_CSRF_KEY_CHARS {
            return Err(format!(
                "COSTLINE_CSRF_KEY has {} characters, fewer than {MIN_CSRF_KEY_CHARS}: use a long \
                 random value, e.g. `openssl rand -base64 48`, the same on every instance",
                s.chars().count()
            ));
        }
        Ok(Self(s.as_bytes().to_vec()))
    }
}

impl fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(<redacted>)")
    }
}

impl CsrfSecret {
    /// The 64-byte key that encrypts and signs the CSRF cookie.
    pub(crate) fn cookie_key(&self) -> axum_csrf::Key {
        let mut hasher = Sha512::new();
        hasher.update(b"costline csrf cookie key\0");
        hasher.update(&self.0);
        axum_csrf::Key::from(hasher.finalize().as_slice())
    }

    /// The salt the forms' CSRF values are derived with.
    pub(crate) fn form_salt(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"costline csrf form salt\0");
        hasher.update(&self.0);
        hex::encode(hasher.finalize())
    }
}

/// No script or style but this site's own files (`/assets/...`), no framing, no plugins; forms
/// post only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The headers added to every response.
#[derive(Clone)]
pub(crate) struct ResponseHeaders {
    hsts: bool,
}

impl ResponseHeaders {
    pub(crate) fn new(config: &WebConfig) -> Self {
        Self {
            hsts: config.secure_cookies,
        }
    }
}

/// Wraps `router` with the security headers and the request deadline.
pub(crate) fn apply(router: Router, headers: ResponseHeaders, timeout: Duration) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(middleware::from_fn(move |request, next| {
            let headers = headers.clone();
            async move { secure(headers, timeout, request, next).await }
        }))
}

async fn secure(
    headers: ResponseHeaders,
    timeout: Duration,
    request: Request<Body>,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    // The timeout layer answers with an empty body: say what happened, as every error does.
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        response = crate::error::ApiError::Timeout(timeout).into_response();
    }
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    if headers.hsts {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    // Pages and answers are per user (tokens, invitation links, costs): no cache keeps them
    // unless a route says otherwise (the static assets do).
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_modes_parse_and_bad_ones_say_the_choices() {
        assert_eq!("Verify".parse::<SignupMode>(), Ok(SignupMode::Verify));
        assert_eq!(" open ".parse::<SignupMode>(), Ok(SignupMode::Open));
        assert_eq!("closed".parse::<SignupMode>(), Ok(SignupMode::Closed));
        let err = "yes".parse::<SignupMode>().unwrap_err();
        assert!(err.contains("verify") && err.contains("closed"), "{err}");
    }

    #[test]
    fn a_csrf_key_is_long_derives_the_same_on_every_instance_and_never_prints() {
        assert!("short".parse::<CsrfSecret>().is_err());
        let value = "k".repeat(40);
        let a: CsrfSecret = value.parse().unwrap();
        let b: CsrfSecret = value.parse().unwrap();
        assert_eq!(a.form_salt(), b.form_salt());
        assert_eq!(a.cookie_key().master(), b.cookie_key().master());
        let other: CsrfSecret = "o".repeat(40).parse().unwrap();
        assert_ne!(a.form_salt(), other.form_salt());
        assert!(!format!("{a:?}").contains("kkkk"));
    }
}
