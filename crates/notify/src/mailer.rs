//! The SMTP mailer: one pooled async transport, the sender address, and error classification
//! so that the job queue retries what may succeed later and gives up on what never will.

use crate::{ConfigError, Email};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How long one SMTP conversation may take before it counts as a (retryable) failure.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// What the mailer is built from (environment or command line).
#[derive(Clone, Default)]
pub struct MailerConfig {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic]` or `smtps://...`.
    pub smtp_url: Option<String>,
    /// The `From:` address, e.g. `Costline <costline@example.com>`.
    pub mail_from: Option<String>,
    /// The console's address, for a link in every email.
    pub console_url: Option<String>,
}

impl fmt::Debug for MailerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailerConfig")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("console_url", &self.console_url)
            .finish()
    }
}

/// Sends notification emails. Cheap to clone. One connection per email: notices are rare, and
/// without lettre's pool the mailer needs no runtime to be built or dropped.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `smtp://host:port` without credentials, for logs and Debug.
    endpoint: String,
    console_url: Option<String>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server was unreachable, timed out or answered 4xx: trying again later may work.
    #[error("the SMTP server {endpoint} could not take the message now: {reason}")]
    Transient {
        /// Where we tried (no credentials).
        endpoint: String,
        /// The error.
        reason: String,
    },
    /// The server refused this message or recipient for good (5xx), or it cannot be built.
    #[error("the SMTP server {endpoint} refused the message: {reason}")]
    Rejected {
        /// Where we tried (no credentials).
        endpoint: String,
        /// The error.
        reason: String,
    },
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}

impl Mailer {
    /// The mailer the configuration asks for: `None` when `smtp_url` is unset or blank (email
    /// off, notices stay in the console), an error when it is set but unusable.
    pub fn from_config(config: &MailerConfig) -> Result<Option<Mailer>, ConfigError> {
        let Some(url) = config.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let from = config
            .mail_from
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| {
                ConfigError(
                    "COSTLINE_SMTP_URL is set but COSTLINE_MAIL_FROM is not: set it to the sender, \
                     e.g. COSTLINE_MAIL_FROM='Costline <costline@example.com>'"
                        .into(),
                )
            })?;
        let mut mailer = Mailer::new(url, from)?;
        mailer.console_url = config
            .console_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string());
        Ok(Some(mailer))
    }

    /// A mailer sending through `smtp_url` as `from`.
    pub fn new(smtp_url: &str, from: &str) -> Result<Mailer, ConfigError> {
        let endpoint = redact_url(smtp_url);
        let parsed = url::Url::parse(smtp_url).map_err(|e| {
            ConfigError(format!(
                "COSTLINE_SMTP_URL is not a URL ({e}): use smtp://host:port, \
                 smtp://user:password@host:587?tls=required or smtps://user:password@host"
            ))
        })?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            return Err(ConfigError(format!(
                "COSTLINE_SMTP_URL {endpoint} must start with smtp:// or smtps://"
            )));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| {
                ConfigError(format!(
                    "COSTLINE_SMTP_URL {endpoint} is not usable: {e}; use smtp://host:port, \
                     add ?tls=required for STARTTLS, or smtps:// for TLS from the start"
                ))
            })?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from: Mailbox = from.parse().map_err(|e| {
            ConfigError(format!(
                "COSTLINE_MAIL_FROM={from:?} is not an address ({e}): use \
                 costline@example.com or 'Costline <costline@example.com>'"
            ))
        })?;
        Ok(Mailer {
            transport,
            from,
            endpoint,
            console_url: None,
        })
    }

    /// The server, without credentials (for logs).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The console address links point to, when configured.
    pub fn console_url(&self) -> Option<&str> {
        self.console_url.as_deref()
    }

    /// Sends `email` to one recipient.
    pub async fn send(&self, to: &str, email: &Email) -> Result<(), SendError> {
        let rejected = |reason: String| SendError::Rejected {
            endpoint: self.endpoint.clone(),
            reason,
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| rejected(format!("recipient {to:?} is not an address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| rejected(format!("cannot build the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(rejected(e.to_string())),
            Err(e) => Err(SendError::Transient {
                endpoint: self.endpoint.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

/// `scheme://host:port` of an SMTP URL: user, password and query left out.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "<unparsable SMTP URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_off_without_a_url() {
        assert!(Mailer::from_config(&MailerConfig::default())
            .unwrap()
            .is_none());
        let blank = MailerConfig {
            smtp_url: Some("  ".into()),
            ..Default::default()
        };
        assert!(Mailer::from_config(&blank).unwrap().is_none());
    }

    #[test]
    fn a_url_without_a_sender_is_a_configuration_error() {
        let config = MailerConfig {
            smtp_url: Some("smtp://127.0.0.1:2525".into()),
            ..Default::default()
        };
        let err = Mailer::from_config(&config).unwrap_err();
        assert!(err.0.contains("COSTLINE_MAIL_FROM"), "{err}");
    }

    #[test]
    fn bad_urls_and_senders_say_how_to_fix_them() {
        let err = Mailer::new("http://mail.example.com", "a@example.com").unwrap_err();
        assert!(err.0.contains("smtp://"), "{err}");
        let err = Mailer::new("not a url", "a@example.com").unwrap_err();
        assert!(err.0.contains("smtp://host:port"), "{err}");
        let err = Mailer::new("smtp://127.0.0.1:2525", "not an address").unwrap_err();
        assert!(err.0.contains("COSTLINE_MAIL_FROM"), "{err}");
    }

    #[test]
    fn the_password_never_shows_in_debug_or_errors() {
        let secret = "s3cr3t-pa55";
        let url = format!("smtps://mailer:{secret}@smtp.example.com:465");
        let config = MailerConfig {
            smtp_url: Some(url.clone()),
            mail_from: Some("Costline <costline@example.com>".into()),
            console_url: None,
        };
        assert!(!format!("{config:?}").contains(secret));
        let mailer = Mailer::from_config(&config).unwrap().unwrap();
        let shown = format!("{mailer:?} {}", mailer.endpoint());
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("smtp.example.com:465"), "{shown}");
        let err = Mailer::new(&url, "nope").unwrap_err();
        assert!(!err.0.contains(secret), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transient_failure() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mailer = Mailer::new(&format!("smtp://127.0.0.1:{port}"), "c@example.com").unwrap();
        let email = Email {
            subject: "s".into(),
            body: "b".into(),
        };
        let err = mailer.send("a@example.com", &email).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
