//! One application, wired once: the web router over the store (and the AWS gateway the support
//! console lists buckets with), the worker pool with every job handler, and the listener that
//! makes every process forget a revoked integration's credentials.
//!
//! `costline serve` and `costline worker` (src/main.rs) and the test harness
//! (`costline_testkit::spawn_app*`) build through these functions, so the tests run the
//! production wiring; only the settings differ (a test pool polls every 100 ms).

use costline_aws::AwsGateway;
use costline_jobs::{PoolConfig, WorkerPool};
use costline_store::Store;
use costline_web::{AppState, WebConfig};
use costline_workflows::{WorkflowSettings, Workflows};
use tokio::task::JoinHandle;

/// Why the application could not be built; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The web layer's session store could not be prepared.
    #[error("build the web application: {0}")]
    Web(#[from] costline_store::StoreError),
    /// The worker pool's settings are inconsistent (e.g. a per-kind cap of an unknown kind).
    #[error("{0}")]
    Pool(String),
}

/// The router of the console, the JSON API and the health and metrics endpoints.
pub async fn web_router(
    store: Store,
    gateway: Option<AwsGateway>,
    config: WebConfig,
) -> Result<axum::Router, BuildError> {
    let mut state = AppState::new(store, config);
    if let Some(gateway) = gateway {
        state = state.with_gateway(gateway);
    }
    Ok(costline_web::router(state).await?)
}

/// The worker pool with every job handler registered.
pub fn worker_pool(
    store: Store,
    gateway: AwsGateway,
    pool: PoolConfig,
    workflows: WorkflowSettings,
) -> Result<WorkerPool, BuildError> {
    let workflows = Workflows::new(store.clone(), gateway, workflows);
    costline_workflows::register(WorkerPool::builder(store, pool), &workflows)
        .build()
        .map_err(|e| BuildError::Pool(e.to_string()))
}

/// What runs beside the web server: the worker pool and the revocation listener.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    workers: JoinHandle<()>,
    revocations: JoinHandle<()>,
}

/// Starts `pool` and the revocation listener of `gateway`'s sessions.
pub fn start_background(store: &Store, gateway: AwsGateway, pool: WorkerPool) -> Background {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(async move {
        let stopped = async move {
            stopped.wait_for(|s| *s).await.ok();
        };
        if let Err(e) = pool.run(stopped).await {
            tracing::error!(error = %e, "worker pool stopped with an error");
        }
    });
    let revocations = costline_workflows::revocation::spawn_listener(store, gateway);
    Background {
        stop,
        workers,
        revocations,
    }
}

impl Background {
    /// Stops the workers (each finishes or hands back its job) and the listener.
    pub async fn stop(mut self) {
        self.stop.send(true).ok();
        (&mut self.workers).await.ok();
        self.revocations.abort();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A harness dropped without `stop` must not leave workers claiming jobs.
        self.stop.send(true).ok();
        self.revocations.abort();
    }
}
