//! What a handler implements and what it gets while it runs.

use crate::{Clock, JobError};
use chrono::{DateTime, Utc};
use costline_domain::{BillingPeriod, IntegrationId, JobId, WorkspaceId};
use costline_store::jobs::{self, Job, JobProgress, Lease};
use costline_store::Store;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs the jobs of one kind. Attempts may run more than once (a worker can die after the
/// effect and before recording success), so handlers make their effects idempotent, for example
/// by keying writes on the billing period or the job id.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt. `Err(JobError::Retryable)` (and database errors) retry after a backoff
    /// while attempts are left; `Err(JobError::Permanent)` fails the job at once.
    async fn run(&self, job: &JobContext) -> Result<(), JobError>;
}

/// One running attempt of a job, as its handler sees it.
pub struct JobContext {
    job: Job,
    lease: Lease,
    store: Store,
    clock: Arc<dyn Clock>,
    cancel: CancellationToken,
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        lease: Lease,
        store: Store,
        clock: Arc<dyn Clock>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            job,
            lease,
            store,
            clock,
            cancel,
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> JobId {
        self.job.job_id
    }

    /// The job's workspace (open `store().scoped(...)` with it for tenant data).
    pub fn workspace_id(&self) -> WorkspaceId {
        self.job.workspace_id
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.job.kind
    }

    /// The integration the job works on.
    pub fn integration_id(&self) -> Option<IntegrationId> {
        self.job.integration_id
    }

    /// The billing period the job works on.
    pub fn billing_period(&self) -> Option<BillingPeriod> {
        self.job.billing_period
    }

    /// This attempt's number, 1 for the first.
    pub fn attempt(&self) -> i32 {
        self.job.attempts
    }

    /// Attempts allowed.
    pub fn max_attempts(&self) -> i32 {
        self.job.max_attempts
    }

    /// The raw payload.
    pub fn payload(&self) -> &serde_json::Value {
        &self.job.payload
    }

    /// The payload as the handler's input type; a mismatch is a permanent failure.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        Ok(T::deserialize(&self.job.payload)?)
    }

    /// The job row as claimed.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The store, for the handler's own reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now, by the pool's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Fires when the job must stop: cancelled (revocation), taken over by another worker, or the
    /// shutdown grace period ran out. Await it beside long waits with `tokio::select!`.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the job must stop, reading its status from the database: true once it was
    /// cancelled or is no longer this worker's. Call it between steps (each file, each page);
    /// when the database cannot be read, only what the heartbeats already learnt counts.
    pub async fn is_cancelled(&self) -> bool {
        if self.cancel.is_cancelled() {
            return true;
        }
        match jobs::is_held(self.store.system(), &self.lease).await {
            Ok(true) => false,
            Ok(false) => {
                self.cancel.cancel();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the job's status");
                false
            }
        }
    }

    /// `Err(JobError::Cancelled)` when the job must stop: `ctx.checkpoint().await?` between steps.
    pub async fn checkpoint(&self) -> Result<(), JobError> {
        if self.is_cancelled().await {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Records progress for the API and the console (one write: report per file or per batch of
    /// rows, not per row). When the job is no longer this worker's, the cancellation fires.
    pub async fn report_progress(&self, progress: &JobProgress) -> Result<(), JobError> {
        if !jobs::report_progress(self.store.system(), &self.lease, progress).await? {
            self.cancel.cancel();
        }
        Ok(())
    }
}
