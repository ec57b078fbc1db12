//! Every worker process forgets a revoked integration's credentials at once.
//!
//! Revocation commits a `NOTIFY costline_revoked, '<external id>'`
//! ([`revocation::REVOKED_CHANNEL`]); [`spawn_listener`] LISTENs on a
//! connection of its own and drops the cached role sessions of that external id
//! ([`AwsGateway::forget_integration`]), which also makes their clones fail and refuses any
//! later assume with it. Notifications sent while the listener was reconnecting are lost, so
//! handlers also read the integration's status right before every assume ([`assume_live`]).

use crate::Workflows;
use costline_aws::{AwsGateway, RoleSession};
use costline_domain::{ExternalId, IntegrationId, RoleArn, WorkspaceId};
use costline_jobs::JobError;
use costline_store::revocation::{self, RevocationListener};
use costline_store::{Store, StoreError};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Starts listening for revocations in the background; the task runs until aborted (or the
/// runtime stops). It holds one database connection of its own, outside the store's pools.
pub fn spawn_listener(store: &Store, gateway: AwsGateway) -> JoinHandle<()> {
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&store, &gateway).await {
                tracing::warn!(error = %e, "revocation listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn listen(store: &Store, gateway: &AwsGateway) -> Result<(), StoreError> {
    let mut listener = RevocationListener::connect(store).await?;
    tracing::debug!("listening for revocations");
    // `None`: the connection dropped (the status check before every assume covers what was
    // missed meanwhile); start over with a fresh connection.
    while let Some(external_id) = listener.next().await? {
        gateway.forget_integration(&ExternalId::from_stored(external_id));
        tracing::info!(
            cached_sessions = gateway.cached_sessions(),
            "forgot a revoked integration's role sessions"
        );
    }
    Ok(())
}

/// Assumes the integration's role only while it is not revoked: the status is read from the
/// database right before, so a worker that missed the notification still never uses a revoked
/// integration's credentials. A revoked integration ends the job as cancelled.
pub async fn assume_live(
    workflows: &Workflows,
    workspace: WorkspaceId,
    integration: IntegrationId,
    role: &RoleArn,
    external_id: &ExternalId,
    session_name: &str,
) -> Result<Result<RoleSession, costline_aws::AwsError>, JobError> {
    if !revocation::is_live(workflows.store(), workspace, integration).await? {
        workflows.gateway().forget_integration(external_id);
        return Err(JobError::Cancelled);
    }
    Ok(workflows
        .gateway()
        .assume(role, external_id, session_name)
        .await)
}
