//! `notify`: email a stored notice to every owner and admin of its workspace.
//!
//! The notice itself is already in the console (it was written with the job); this handler only
//! emails it, and only when SMTP is configured. Each recipient gets at most one email per notice:
//! a delivery is recorded right after the server accepts the message, and recipients with a
//! delivery are skipped when the job runs again (retry after a failure, lease expiry). The
//! remaining window — the server accepted, the worker died before recording — can duplicate one
//! email; SMTP offers no way to close it.

use crate::Workflows;
use async_trait::async_trait;
use costline_jobs::{JobContext, JobError, JobHandler};
use costline_notify::{render, Notice};
use costline_store::notifications::{self, Delivery, NotifyPayload};
use costline_store::{integrations, workspaces, StoreError};

/// Handler of [`costline_domain::job_kinds::NOTIFY`].
pub(crate) struct Notify(pub(crate) Workflows);

#[async_trait]
impl JobHandler for Notify {
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let wf = &self.0;
        let payload: NotifyPayload = job.payload_as()?;
        let Some(mailer) = wf.settings().mailer.as_ref() else {
            tracing::debug!(notification_id = %payload.notification_id, "email is off (COSTLINE_SMTP_URL unset); the notice stays in the console");
            return Ok(());
        };

        let mut scope = wf.store().scoped(job.workspace_id()).await?;
        let notice = match notifications::get(&mut scope, payload.notification_id).await {
            Ok(n) => n,
            // Deleted with its workspace or integration: nothing left to tell.
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let workspace = workspaces::get(&mut scope).await?;
        let account_id = match notice.integration_id {
            Some(id) => match integrations::get(&mut scope, id).await {
                Ok(i) => i.account_id,
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let recipients = notifications::recipients(&mut scope).await?;
        let done = notifications::delivered_to(&mut scope, notice.notification_id).await?;
        scope.commit().await?;

        let email = render(&Notice {
            kind: &notice.kind,
            workspace_name: &workspace.name,
            integration_id: notice.integration_id,
            aws_account_id: account_id.as_deref(),
            billing_period: payload.billing_period,
            message: &notice.message,
            created_at: notice.created_at,
            console_url: mailer.console_url(),
        });
        let mut transient = None;
        for recipient in recipients.iter().filter(|r| !done.contains(&r.email)) {
            job.checkpoint().await?;
            let delivery = match mailer.send(&recipient.email, &email).await {
                Ok(()) => Delivery::Sent,
                Err(e) if e.is_transient() => {
                    // Keep going: one unreachable moment should not hold back the others'
                    // deliveries that do get recorded; the job is retried for the rest.
                    tracing::warn!(notification_id = %notice.notification_id, user_id = %recipient.user_id, error = %e, "email not sent; will retry");
                    transient = Some(e);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(notification_id = %notice.notification_id, user_id = %recipient.user_id, error = %e, "email refused; not retried");
                    Delivery::Rejected(e.to_string())
                }
            };
            let mut scope = wf.store().scoped(job.workspace_id()).await?;
            notifications::record_delivery(
                &mut scope,
                notice.notification_id,
                &recipient.email,
                &delivery,
                job.now(),
            )
            .await?;
            scope.commit().await?;
        }
        if let Some(e) = transient {
            return Err(JobError::retryable(e));
        }
        tracing::info!(
            notification_id = %notice.notification_id,
            kind = %notice.kind,
            recipients = recipients.len(),
            endpoint = mailer.endpoint(),
            "notice emailed"
        );
        Ok(())
    }
}
