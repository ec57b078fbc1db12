//! The emails of account life: confirming an address at sign-up or when joining through an
//! invitation, and telling the owner of an address that already has an account. Each link to a
//! secret carries it after `#`, so the secret never reaches a server's or a proxy's logs.

use crate::Email;

/// What the confirmation confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining<'a> {
    /// A new workspace of this name.
    NewWorkspace(&'a str),
    /// The workspace of this name, through an invitation.
    Invitation(&'a str),
}

/// The link that confirms an address: `<console>/signup/confirm#<token>`.
pub fn confirmation_link(console_url: &str, token: &str) -> String {
    format!(
        "{}/signup/confirm#{token}",
        console_url.trim_end_matches('/')
    )
}

/// "Confirm your email address", with the one-time link.
pub fn confirm_address(console_url: &str, token: &str, joining: Joining<'_>, hours: i64) -> Email {
    let (subject, what) = match joining {
        Joining::NewWorkspace(name) => (
            "[Costline] Confirm your email address".to_string(),
            format!("Someone, probably you, signed up for Costline with this address to create the workspace \"{}\".", one_line(name)),
        ),
        Joining::Invitation(name) => (
            format!("[Costline] Confirm your email address to join {}", one_line(name)),
            format!("Someone, probably you, accepted an invitation to the Costline workspace \"{}\" with this address.", one_line(name)),
        ),
    };
    let body = format!(
        "Hello,\n\n{what}\n\nTo confirm it, open this link within {hours} hours and enter the password you chose:\n\n{}\n\n\
         If it was not you, ignore this email: nothing is created without the link and that password.\n",
        confirmation_link(console_url, token)
    );
    Email { subject, body }
}

/// The answer to a sign-up, or an invitation accepted without logging in, for an address that
/// already has an account: sent instead of a confirmation, so the page says the same either way.
pub fn account_exists(console_url: &str, joining: Joining<'_>) -> Email {
    let console = console_url.trim_end_matches('/');
    let what = match joining {
        Joining::NewWorkspace(name) => format!(
            "Someone, probably you, tried to sign up for Costline with this address (workspace \"{}\"), \
             but it already has an account. Log in at {console}/login instead; once logged in you can \
             be invited to other workspaces.",
            one_line(name)
        ),
        Joining::Invitation(name) => format!(
            "Someone, probably you, tried to accept an invitation to the Costline workspace \"{}\" \
             without logging in. This address already has an account: log in at {console}/login, \
             then open the invitation link again to accept it.",
            one_line(name)
        ),
    };
    Email {
        subject: "[Costline] You already have an account".into(),
        body: format!("Hello,\n\n{what}\n\nIf it was not you, ignore this email.\n"),
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_in_the_fragment_and_names_are_one_line() {
        let email = confirm_address(
            "https://costline.example.com/",
            "clc_abc_def",
            Joining::NewWorkspace("Acme\nBcc: x"),
            24,
        );
        assert!(email
            .body
            .contains("https://costline.example.com/signup/confirm#clc_abc_def"));
        assert!(!email.subject.contains('\n') && email.body.contains("\"Acme Bcc: x\""));
        let exists = account_exists("https://c.example", Joining::Invitation("Globex"));
        assert!(exists.body.contains("https://c.example/login") && !exists.body.contains('#'));
    }
}
