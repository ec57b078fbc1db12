//! What each background job of Costline does.
//!
//! The job queue (`costline_jobs`) knows how to claim, lease, retry and schedule; this crate
//! knows what a job means: verify an integration's role, discover its organization's accounts,
//! look for new CUR deliveries, ingest a billing period, backfill history, notify admins, read
//! every account's resources (the inventory). Each
//! handler reads its inputs through the store, talks to AWS only through the gateway
//! (`costline_aws`), parses reports only through `costline_cur`, and writes through the store.
//!
//! [`register`] adds every handler to a worker pool; `costline serve`, `costline worker` and the
//! end-to-end tests build their pools the same way.

pub mod cost_explorer;
mod discover;
pub mod ingest;
pub mod inventory;
mod notify;
pub mod poll_cur;
pub mod revocation;
mod verify;

use costline_aws::AwsGateway;
use costline_jobs::{JobKind, ScheduleIntervals, WorkerPoolBuilder};
use costline_store::Store;
use std::sync::Arc;

/// What every handler needs, shared by all of them.
#[derive(Clone)]
pub struct Workflows {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    gateway: AwsGateway,
    settings: WorkflowSettings,
}

/// Tunables of the handlers.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// How often a connected integration is verified, its accounts discovered and its bucket
    /// polled (the schedules set when verification succeeds).
    pub schedules: ScheduleIntervals,
    /// The role name the member-account StackSet creates in every member account.
    pub member_role_name: String,
    /// Sends notices by email; `None` (no `COSTLINE_SMTP_URL`): notices stay in the console.
    pub mailer: Option<costline_notify::Mailer>,
    /// How long a delivery without a manifest must have been quiet (no file written) before a
    /// poll ingests it: its files may still be uploading. Deliveries with a manifest wait
    /// instead until every file the manifest names is listed.
    pub delivery_settle: std::time::Duration,
    /// Cost Explorer requests made at most per integration, ever (each costs the customer
    /// $0.01; `COSTLINE_COST_EXPLORER_MAX_REQUESTS`). Zero reads no history.
    pub cost_explorer_request_cap: u32,
    /// The regions the inventory reads, of those enabled in each account
    /// (`COSTLINE_INVENTORY_REGIONS`); `None`: every enabled region.
    pub inventory_regions: Option<Vec<String>>,
}

/// Cost Explorer requests per integration unless configured: 13 months with room for pages.
pub const DEFAULT_COST_EXPLORER_REQUEST_CAP: u32 = 50;

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings {
            schedules: ScheduleIntervals::default(),
            member_role_name: "CostlineReadOnly".to_string(),
            mailer: None,
            delivery_settle: std::time::Duration::from_secs(10 * 60),
            cost_explorer_request_cap: DEFAULT_COST_EXPLORER_REQUEST_CAP,
            inventory_regions: None,
        }
    }
}

impl Workflows {
    /// The handlers' shared dependencies.
    pub fn new(store: Store, gateway: AwsGateway, settings: WorkflowSettings) -> Workflows {
        Workflows {
            inner: Arc::new(Inner {
                store,
                gateway,
                settings,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The AWS gateway.
    pub fn gateway(&self) -> &AwsGateway {
        &self.inner.gateway
    }

    /// The settings.
    pub fn settings(&self) -> &WorkflowSettings {
        &self.inner.settings
    }
}

/// Registers a handler for every job kind Costline enqueues.
pub fn register(builder: WorkerPoolBuilder, workflows: &Workflows) -> WorkerPoolBuilder {
    builder
        .register(
            JobKind::VERIFY_INTEGRATION,
            verify::VerifyIntegration(workflows.clone()),
        )
        .register(
            JobKind::DISCOVER_ACCOUNTS,
            discover::DiscoverAccounts(workflows.clone()),
        )
        .register(JobKind::NOTIFY, notify::Notify(workflows.clone()))
        .register(JobKind::POLL_CUR, poll_cur::PollCur(workflows.clone()))
        .register(
            JobKind::INGEST_PERIOD,
            ingest::IngestPeriod(workflows.clone()),
        )
        .register(
            JobKind::IMPORT_COST_EXPLORER,
            cost_explorer::ImportCostExplorer(workflows.clone()),
        )
        .register(JobKind::INVENTORY, inventory::Inventory(workflows.clone()))
}

/// The role session of the job's integration, assumed only while the integration is live
/// ([`revocation::assume_live`]: a revoked one cancels the job), in the workspace's session
/// name. The inner error is AWS's answer, for the handler to judge ([`aws_failure`]).
pub(crate) async fn live_session(
    workflows: &Workflows,
    job: &costline_jobs::JobContext,
    integration: costline_domain::IntegrationId,
    role: &costline_domain::RoleArn,
    external_id: &costline_domain::ExternalId,
) -> Result<Result<costline_aws::RoleSession, costline_aws::AwsError>, costline_jobs::JobError> {
    revocation::assume_live(
        workflows,
        job.workspace_id(),
        integration,
        role,
        external_id,
        &costline_aws::workspace_session_name(job.workspace_id()),
    )
    .await
}

/// Whether the job should try again after a failure: another attempt may succeed (the
/// error's `is_retryable`), and attempts remain.
pub(crate) fn will_retry(job: &costline_jobs::JobContext, retryable: bool) -> bool {
    retryable && job.attempt() < job.max_attempts()
}

/// An AWS failure as the job's outcome: retried when [`will_retry`], else the job fails with
/// AWS's message.
pub(crate) fn aws_failure(
    job: &costline_jobs::JobContext,
    e: costline_aws::AwsError,
) -> costline_jobs::JobError {
    if will_retry(job, e.is_retryable()) {
        costline_jobs::JobError::retryable(e)
    } else {
        costline_jobs::JobError::permanent(e)
    }
}

/// The job's integration when it can still be worked on; `None` (and the job ends quietly)
/// when it was revoked or never connected.
pub(crate) async fn load_live_integration(
    workflows: &Workflows,
    job: &costline_jobs::JobContext,
) -> Result<Option<verify::LiveIntegration>, costline_jobs::JobError> {
    let Some(id) = job.integration_id() else {
        return Err(costline_jobs::JobError::permanent(
            "this job names no integration",
        ));
    };
    let mut scope = workflows.store().scoped(job.workspace_id()).await?;
    let found = costline_store::integrations::get(&mut scope, id).await;
    scope.commit().await?;
    let integration = match found {
        Ok(integration) => integration,
        Err(costline_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !integration.status.is_live() {
        return Ok(None);
    }
    let (Some(role), Some(external_id)) = (integration.role(), integration.external_id.clone())
    else {
        return Ok(None);
    };
    Ok(Some(verify::LiveIntegration {
        id,
        role,
        external_id: costline_domain::ExternalId::from_stored(external_id),
    }))
}
