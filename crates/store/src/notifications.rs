//! Notices to a workspace's admins: stored for the console, emailed by the `notify` job
//! (docs/adr/0008-notifications.md).
//!
//! [`notify_admins`] writes the notice and queues its `notify` job in the caller's transaction,
//! so a notice exists exactly when the change it reports does, and is emailed once that commits.
//! The job records one [delivery](record_delivery) per recipient; a recipient with a delivery is
//! never emailed again, so a retried job does not send twice.

use crate::jobs::{self, NewJob};
use crate::{Scoped, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use costline_domain::{job_kinds, BillingPeriod, IntegrationId, JobId, Role, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Notification kinds (`notifications.kind`).
pub mod kinds {
    /// An integration's first Cost and Usage Report was ingested (at most one per integration).
    pub const CUR_FIRST_REPORT: &str = "cur_first_report";
    /// Every period of a support backfill is ingested.
    pub const BACKFILL_COMPLETED: &str = "backfill_completed";
    /// A period of a support backfill failed.
    pub const BACKFILL_FAILED: &str = "backfill_failed";
    /// Costline support opened break-glass access to the workspace (issue 21).
    pub const SUPPORT_BREAK_GLASS: &str = "support_break_glass";
}

/// Attempts of a `notify` job before it gives up.
pub const NOTIFY_MAX_ATTEMPTS: i32 = 10;

/// Identifies one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(Uuid);

impl NotificationId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    /// Wraps a stored id.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    /// The UUID, for storage.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for NotificationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for NotificationId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// A notice to write.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    /// One of [`kinds`] (`[a-z][a-z0-9_]*`).
    pub kind: &'a str,
    /// The integration it is about.
    pub integration_id: Option<IntegrationId>,
    /// The billing period it is about, named in the email.
    pub billing_period: Option<BillingPeriod>,
    /// The console text: a sentence or two, naming what happened and what to do.
    pub message: &'a str,
}

/// The `notify` job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyPayload {
    /// The notice to email.
    pub notification_id: NotificationId,
    /// The period to name in the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_period: Option<BillingPeriod>,
}

/// What [`notify_admins_at`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// The notice was written and its email job queued.
    Created {
        /// The notice.
        notification_id: NotificationId,
        /// Its `notify` job.
        job_id: JobId,
    },
    /// A notice that may exist only once (the first report of an integration) already does.
    AlreadyNotified,
}

/// Writes a notice for the workspace's admins and queues the job that emails it, in the
/// caller's transaction (commit it). The same as [`notify_admins_at`] at the current time,
/// without a billing period.
pub async fn notify_admins(
    scope: &mut Scoped,
    kind: &str,
    integration: IntegrationId,
    message: &str,
) -> StoreResult<Notified> {
    let notice = NewNotification {
        kind,
        integration_id: Some(integration),
        billing_period: None,
        message,
    };
    notify_admins_at(scope, &notice, Utc::now()).await
}

/// Writes a notice for the workspace's admins and queues the job that emails it, in the
/// caller's transaction (commit it); `now` is the notice's time (a job passes `job.now()`).
pub async fn notify_admins_at(
    scope: &mut Scoped,
    notice: &NewNotification<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Notified> {
    let ws = scope.workspace_id();
    let id = NotificationId::new();
    // DO NOTHING: the "first report" notice is unique per integration (0005_cur.sql); a second
    // one is a no-op rather than an error that would roll back the caller's ingest.
    let inserted = sqlx::query(
        "INSERT INTO notifications (workspace_id, notification_id, kind, integration_id, message, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(notice.kind)
    .bind(notice.integration_id.map(|i| i.as_uuid()))
    .bind(notice.message)
    .bind(now)
    .execute(scope.tx())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_check_violation() => StoreError::Conflict(format!(
            "invalid notification kind {:?}: use lower-case letters, digits and '_'",
            notice.kind
        )),
        _ => StoreError::Database(e),
    })?
    .rows_affected();
    if inserted == 0 {
        return Ok(Notified::AlreadyNotified);
    }
    let payload = NotifyPayload {
        notification_id: id,
        billing_period: notice.billing_period,
    };
    // No integration on the job: jobs with one are deduplicated per (kind, integration,
    // period), and two notices about one integration must both be sent. More attempts than
    // the default, so that an SMTP outage of a few hours is waited out.
    let job = NewJob::new(job_kinds::NOTIFY)
        .max_attempts(NOTIFY_MAX_ATTEMPTS)
        .payload(serde_json::to_value(&payload).map_err(|e| StoreError::Conflict(e.to_string()))?);
    let job_id = jobs::enqueue(scope, &job, now).await?.job_id();
    Ok(Notified::Created {
        notification_id: id,
        job_id,
    })
}

/// A notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Its id.
    pub notification_id: NotificationId,
    /// One of [`kinds`].
    pub kind: String,
    /// The integration it is about.
    pub integration_id: Option<IntegrationId>,
    /// The console text.
    pub message: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When a member marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

type NotificationRow = (
    Uuid,
    String,
    Option<Uuid>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn from_row(r: NotificationRow) -> Notification {
    Notification {
        notification_id: NotificationId::from_uuid(r.0),
        kind: r.1,
        integration_id: r.2.map(IntegrationId::from_uuid),
        message: r.3,
        created_at: r.4,
        read_at: r.5,
    }
}

/// The workspace's notices, newest first.
pub async fn list(scope: &mut Scoped, limit: i64) -> StoreResult<Vec<Notification>> {
    let ws = scope.workspace_id();
    let rows: Vec<NotificationRow> = sqlx::query_as(
        "SELECT notification_id, kind, integration_id, message, created_at, read_at
           FROM notifications WHERE workspace_id = $1
          ORDER BY created_at DESC, notification_id DESC LIMIT $2",
    )
    .bind(ws.as_uuid())
    .bind(limit)
    .fetch_all(scope.tx())
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// One notice of the workspace.
pub async fn get(scope: &mut Scoped, id: NotificationId) -> StoreResult<Notification> {
    let ws = scope.workspace_id();
    let row: Option<NotificationRow> = sqlx::query_as(
        "SELECT notification_id, kind, integration_id, message, created_at, read_at
           FROM notifications WHERE workspace_id = $1 AND notification_id = $2",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    row.map(from_row).ok_or(StoreError::NotFound)
}

/// Marks a notice read (the first time only); `NotFound` for another workspace's.
pub async fn mark_read(
    scope: &mut Scoped,
    id: NotificationId,
    now: DateTime<Utc>,
) -> StoreResult<Notification> {
    let ws = scope.workspace_id();
    sqlx::query(
        "UPDATE notifications SET read_at = coalesce(read_at, $3)
          WHERE workspace_id = $1 AND notification_id = $2",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(now)
    .execute(scope.tx())
    .await?;
    get(scope, id).await
}

/// Someone a notice is emailed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user.
    pub user_id: UserId,
    /// Their email.
    pub email: String,
    /// Owner or admin.
    pub role: Role,
}

/// The workspace's owners and admins: who notices are emailed to.
pub async fn recipients(scope: &mut Scoped) -> StoreResult<Vec<Recipient>> {
    let ws = scope.workspace_id();
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT u.user_id, u.email, m.role FROM memberships m JOIN users u USING (user_id)
          WHERE m.workspace_id = $1 AND m.role IN ('owner', 'admin')
          ORDER BY u.email",
    )
    .bind(ws.as_uuid())
    .fetch_all(scope.tx())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role)| {
            Some(Recipient {
                user_id: UserId::from_uuid(id),
                email,
                role: role.parse().ok()?,
            })
        })
        .collect())
}

/// The outcome of emailing one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The SMTP server accepted the message.
    Sent,
    /// The SMTP server refused it for good; the reason is kept.
    Rejected(String),
}

/// The addresses a notice was already emailed to (or refused for good).
pub async fn delivered_to(scope: &mut Scoped, id: NotificationId) -> StoreResult<Vec<String>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_scalar(
        "SELECT email FROM notification_deliveries WHERE workspace_id = $1 AND notification_id = $2
          ORDER BY email",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// Records that a notice was emailed to `email`; a second record for the same address is
/// ignored (the first one stands).
pub async fn record_delivery(
    scope: &mut Scoped,
    id: NotificationId,
    email: &str,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    let (status, error) = match delivery {
        Delivery::Sent => ("sent", None),
        Delivery::Rejected(reason) => ("rejected", Some(reason.as_str())),
    };
    sqlx::query(
        "INSERT INTO notification_deliveries (workspace_id, notification_id, email, status, error, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .bind(email)
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}
