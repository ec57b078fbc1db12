//! The plain-text email for a notice: it names the workspace, the integration and the billing
//! period, so an admin of several workspaces can tell at a glance which one it is about.

use chrono::{DateTime, Utc};
use costline_domain::{BillingPeriod, IntegrationId};
use std::fmt::Write;

/// What a notice says, with the names the email shows.
#[derive(Debug, Clone)]
pub struct Notice<'a> {
    /// e.g. `cur_first_report` (the store's notification kinds).
    pub kind: &'a str,
    /// The workspace's display name.
    pub workspace_name: &'a str,
    /// The integration it is about, if any.
    pub integration_id: Option<IntegrationId>,
    /// The integration's AWS account, when known.
    pub aws_account_id: Option<&'a str>,
    /// The billing period it is about, when known.
    pub billing_period: Option<BillingPeriod>,
    /// The console text of the notice.
    pub message: &'a str,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// The console's address, for a link.
    pub console_url: Option<&'a str>,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// One line, no newlines.
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// Renders a notice as a plain-text email.
pub fn render(notice: &Notice<'_>) -> Email {
    let what = match notice.kind {
        "cur_first_report" => "First cost report ingested",
        "backfill_completed" => "Backfill completed",
        "backfill_failed" => "Backfill failed",
        "support_break_glass" => "Support opened break-glass access",
        _ => "Notice",
    };
    let about = match (notice.aws_account_id, notice.billing_period) {
        (Some(account), Some(period)) => format!(" for AWS account {account}, {period}"),
        (Some(account), None) => format!(" for AWS account {account}"),
        (None, Some(period)) => format!(" for {period}"),
        (None, None) => String::new(),
    };
    let subject = one_line(&format!(
        "[Costline] {what}{about} ({})",
        notice.workspace_name
    ));

    let mut body = String::new();
    body.push_str("Hello,\n\n");
    body.push_str(notice.message.trim());
    body.push_str("\n\n");
    let _ = writeln!(body, "Workspace:      {}", one_line(notice.workspace_name));
    if let Some(id) = notice.integration_id {
        match notice.aws_account_id {
            Some(account) => {
                let _ = writeln!(body, "Integration:    AWS account {account} ({id})");
            }
            None => {
                let _ = writeln!(body, "Integration:    {id}");
            }
        }
    }
    if let Some(period) = notice.billing_period {
        let _ = writeln!(body, "Billing period: {period}");
    }
    let _ = writeln!(
        body,
        "When:           {}",
        notice
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    if let Some(console) = notice.console_url {
        let console = console.trim_end_matches('/');
        match notice.integration_id {
            Some(id) => {
                let _ = write!(body, "\nOpen it in Costline: {console}/integrations/{id}\n");
            }
            None => {
                let _ = write!(body, "\nOpen Costline: {console}/\n");
            }
        }
    }
    let _ = write!(
        body,
        "\nYou receive this email because you are an owner or admin of the workspace \"{}\".\n\
         The same notice is shown in the console.\n",
        one_line(notice.workspace_name)
    );
    Email { subject, body }
}

/// Header-safe: a workspace name with a newline must not start a new header.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice<'a>(message: &'a str, workspace: &'a str) -> Notice<'a> {
        Notice {
            kind: "cur_first_report",
            workspace_name: workspace,
            integration_id: Some(IntegrationId::new()),
            aws_account_id: Some("111122223333"),
            billing_period: Some(BillingPeriod::new(2024, 9).unwrap()),
            message,
            created_at: "2024-09-03T10:00:00Z".parse().unwrap(),
            console_url: Some("https://costline.example.com/"),
        }
    }

    #[test]
    fn the_email_names_workspace_integration_and_period() {
        let n = notice(
            "The first cost report was ingested: 1,234 line items.",
            "Acme",
        );
        let email = render(&n);
        assert_eq!(
            email.subject,
            "[Costline] First cost report ingested for AWS account 111122223333, 2024-09 (Acme)"
        );
        let id = n.integration_id.unwrap();
        for expected in [
            "The first cost report was ingested: 1,234 line items.",
            "Workspace:      Acme",
            &format!("Integration:    AWS account 111122223333 ({id})"),
            "Billing period: 2024-09",
            "When:           2024-09-03T10:00:00Z",
            &format!("https://costline.example.com/integrations/{id}"),
        ] {
            assert!(
                email.body.contains(expected),
                "{expected:?} in\n{}",
                email.body
            );
        }
    }

    #[test]
    fn a_workspace_name_cannot_inject_headers() {
        let email = render(&notice("m", "Evil\r\nBcc: victim@example.com"));
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        assert!(email.subject.contains("Evil Bcc: victim@example.com"));
    }

    #[test]
    fn unknown_kinds_and_missing_parts_still_render() {
        let mut n = notice("Something happened.", "Acme");
        n.kind = "something_new";
        n.aws_account_id = None;
        n.billing_period = None;
        n.integration_id = None;
        n.console_url = None;
        let email = render(&n);
        assert_eq!(email.subject, "[Costline] Notice (Acme)");
        assert!(!email.body.contains("Integration:"));
        assert!(!email.body.contains("Billing period:"));
    }
}
