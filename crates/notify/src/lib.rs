//! Notifications to a workspace's owners and admins.
//!
//! Every notice is stored and shown in the console (the store's `notifications` module); this
//! crate adds the email side: a [`Mailer`] built once from configuration (`COSTLINE_SMTP_URL`,
//! `COSTLINE_MAIL_FROM`; unset means email is off) and the plain-text [`Email`] rendered for a
//! notice. The `notify` job handler (costline-workflows) ties the two together; the console
//! sends the [`account`] emails (address confirmations) itself.
//!
//! Choices (lettre, rustls, the test sink) are recorded in `docs/adr/0008-notifications.md`.

pub mod account;
mod mailer;
mod message;

pub use mailer::{Mailer, MailerConfig, SendError};
pub use message::{render, Email, Notice};

/// The mail configuration is unusable; the message says which setting and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
