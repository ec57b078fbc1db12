//! The worker pool: claims jobs, runs their handlers, keeps their leases alive, records outcomes.
//!
//! One claim loop per process, woken by `NOTIFY` on enqueue, by a finished job, or by the poll
//! interval; a heartbeat task renewing every running job's lease in one statement; a maintenance
//! step (reap expired leases, fire due schedules) on the poll interval; a metrics task.

use crate::context::{JobContext, JobHandler};
use crate::metrics::{
    DURATION, FAILURES, FINISHED, LEASES_LOST, LEASE_EXPIRIES, POOL_ERRORS, QUEUE_DEPTH, RUNNING,
    SCHEDULES_FIRED, START_DELAY,
};
use crate::{backoff_delay, Clock, JobError, JobKind, PoolConfig, SystemClock};
use chrono::{DateTime, TimeDelta, Utc};
use costline_store::jobs::{
    self, ClaimLimits, ClaimedJob, Enqueued, JobStatus, Lease, NOTIFY_CHANNEL,
};
use costline_store::{schedules, Store};
use futures::FutureExt;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How long handlers get to stop by themselves once the shutdown grace ran out and their
/// cancellation fired, before they are aborted.
const CANCEL_WAIT: Duration = Duration::from_secs(1);
/// Rows handled per reap or schedule tick statement.
const MAINTENANCE_BATCH: i64 = 200;
/// Longest error text kept on a job.
const MAX_ERROR_LEN: usize = 4000;

/// Builds a [`WorkerPool`]: register a handler per kind, optionally a clock and a worker id.
pub struct WorkerPoolBuilder {
    store: Store,
    config: PoolConfig,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    worker_id: Option<String>,
}

impl WorkerPoolBuilder {
    /// Runs jobs of `kind` with `handler` (a later registration of the same kind replaces it).
    pub fn register(mut self, kind: JobKind, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Names this worker (default: host, process id and a random suffix; must be unique).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// Checks the configuration and builds the pool.
    pub fn build(self) -> Result<WorkerPool, JobError> {
        self.config.validate()?;
        if self.handlers.is_empty() {
            return Err(JobError::Config("no job handler is registered".into()));
        }
        let worker_id = self.worker_id.unwrap_or_else(default_worker_id);
        let (idle_tx, _) = watch::channel(0usize);
        Ok(WorkerPool {
            inner: Arc::new(Inner {
                store: self.store,
                config: self.config,
                clock: self.clock,
                handlers: self.handlers,
                worker_id,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                running_count: idle_tx,
            }),
        })
    }
}

/// A pool of workers in this process. Cheap to clone (shared state).
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: PoolConfig,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    worker_id: String,
    state: Mutex<State>,
    /// Claim again now (a notification arrived, or a slot was freed).
    wake: Notify,
    /// The number of running jobs, for idle waits and draining.
    running_count: watch::Sender<usize>,
}

#[derive(Default)]
struct State {
    running: HashMap<u64, Running>,
    next_slot: u64,
}

struct Running {
    lease: Lease,
    kind: String,
    cancel: CancellationToken,
    abort: AbortHandle,
}

/// What one [`WorkerPool::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Expired leases put back (or failed).
    pub reaped: usize,
    /// Schedule occurrences that queued a new job.
    pub scheduled: usize,
    /// Jobs claimed and started.
    pub claimed: usize,
}

/// How an attempt ended, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Retried,
    Failed,
    Cancelled,
    Released,
    /// The job was no longer this worker's when it tried to record the outcome.
    Lost,
    /// The outcome could not be recorded (database down): the lease will expire and the job rerun.
    Unrecorded,
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Released => "released",
            Outcome::Lost => "lost",
            Outcome::Unrecorded => "unrecorded",
        }
    }
}

impl WorkerPool {
    /// Starts building a pool over `store` with `config`.
    pub fn builder(store: Store, config: PoolConfig) -> WorkerPoolBuilder {
        WorkerPoolBuilder {
            store,
            config,
            clock: Arc::new(SystemClock),
            handlers: HashMap::new(),
            worker_id: None,
        }
    }

    /// This worker's id, as written on the jobs it holds.
    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// How many jobs this pool runs now.
    pub fn running(&self) -> usize {
        self.inner.state.lock().expect("pool state").running.len()
    }

    /// Runs until `shutdown` completes, then stops claiming, gives running jobs the shutdown
    /// grace period to finish, and releases the rest to other workers.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), JobError> {
        let inner = &self.inner;
        self.check_clock().await;
        tracing::info!(worker_id = %inner.worker_id, concurrency = inner.config.concurrency,
            kinds = ?inner.handlers.keys().collect::<BTreeSet<_>>(), "worker pool started");
        let stop = CancellationToken::new();
        let listener = tokio::spawn(self.clone().listen(stop.clone()));
        let gauges = tokio::spawn(self.clone().export_depth(stop.clone()));
        let stop_heartbeats = CancellationToken::new();
        let heartbeats = tokio::spawn(self.clone().heartbeats(stop_heartbeats.clone()));

        let mut maintenance = tokio::time::interval(inner.config.poll_interval);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = maintenance.tick() => {
                    self.maintain().await;
                    self.claim_logged().await;
                }
                _ = inner.wake.notified() => self.claim_logged().await,
            }
        }

        tracing::info!(
            running = self.running(),
            "worker pool stopping: no new claims"
        );
        stop.cancel();
        self.drain().await;
        stop_heartbeats.cancel();
        for task in [listener, gauges, heartbeats] {
            task.await.ok();
        }
        tracing::info!("worker pool stopped");
        Ok(())
    }

    /// One cycle without waiting: reaps expired leases, fires due schedules, claims what the free
    /// slots allow and starts those jobs (in the background; see [`WorkerPool::wait_idle`]).
    pub async fn run_once(&self) -> Result<CycleReport, JobError> {
        let now = self.inner.clock.now();
        let reaped = self.reap(now).await?;
        let scheduled = if self.inner.config.run_schedules {
            self.fire_schedules(now).await?
        } else {
            0
        };
        let claimed = self.claim().await?;
        Ok(CycleReport {
            reaped,
            scheduled,
            claimed,
        })
    }

    /// Waits until no job is running in this pool.
    pub async fn wait_idle(&self) {
        let mut rx = self.inner.running_count.subscribe();
        rx.wait_for(|n| *n == 0).await.ok();
    }

    /// Stops every running job now (shutdown without grace): cancels, aborts, releases.
    pub async fn abort_all(&self) {
        self.release_all().await;
    }

    async fn check_clock(&self) {
        if !self.inner.clock.is_wall_clock() {
            return;
        }
        let db_now: Result<DateTime<Utc>, _> = sqlx::query_scalar("SELECT now()")
            .fetch_one(self.inner.store.system())
            .await;
        if let Ok(db_now) = db_now {
            let skew = (self.inner.clock.now() - db_now).abs();
            let tolerated =
                TimeDelta::from_std(self.inner.config.lease / 4).unwrap_or(TimeDelta::MAX);
            if skew > tolerated {
                tracing::warn!(skew_ms = skew.num_milliseconds(),
                    "this machine's clock differs from the database's by more than a quarter of the job \
                     lease: leases may expire early or late; synchronise the clocks (NTP)");
            }
        }
    }

    async fn maintain(&self) {
        let now = self.inner.clock.now();
        if let Err(e) = self.reap(now).await {
            pool_error("reap", &e);
        }
        if self.inner.config.run_schedules {
            if let Err(e) = self.fire_schedules(now).await {
                pool_error("schedules", &e);
            }
        }
    }

    async fn reap(&self, now: DateTime<Utc>) -> Result<usize, JobError> {
        let reaped = jobs::reap_expired(self.inner.store.system(), now, MAINTENANCE_BATCH).await?;
        for r in &reaped {
            metrics::counter!(LEASE_EXPIRIES, "kind" => r.kind.clone()).increment(1);
            tracing::warn!(job_id = %r.job_id, workspace_id = %r.workspace_id, kind = %r.kind,
                status = %r.status, "a running job's lease expired: its worker stopped renewing it");
        }
        Ok(reaped.len())
    }

    async fn fire_schedules(&self, now: DateTime<Utc>) -> Result<usize, JobError> {
        let fired = schedules::tick(
            self.inner.store.system(),
            now,
            self.inner.config.max_attempts,
            MAINTENANCE_BATCH,
        )
        .await?;
        let mut created = 0;
        for f in &fired {
            metrics::counter!(SCHEDULES_FIRED, "kind" => f.kind.clone()).increment(1);
            if let Enqueued::Created(job_id) = f.job {
                created += 1;
                tracing::debug!(%job_id, workspace_id = %f.workspace_id, integration_id = %f.integration_id,
                    kind = %f.kind, "schedule fired");
            }
        }
        Ok(created)
    }

    async fn claim_logged(&self) {
        if let Err(e) = self.claim().await {
            pool_error("claim", &e);
        }
    }

    /// Claims until the free slots are filled or nothing more is due.
    async fn claim(&self) -> Result<usize, JobError> {
        let inner = &self.inner;
        let mut total = 0;
        loop {
            let limits = self.free_limits();
            if limits.total == 0 || limits.per_kind.is_empty() {
                return Ok(total);
            }
            let now = inner.clock.now();
            let lease_until =
                now + TimeDelta::from_std(inner.config.lease).unwrap_or(TimeDelta::MAX);
            let claimed = jobs::claim(
                inner.store.system(),
                &inner.worker_id,
                &limits,
                lease_until,
                now,
            )
            .await?;
            let n = claimed.len();
            for job in claimed {
                self.start(job, now);
            }
            total += n;
            // Fewer than asked: the caps bind or nothing more is due.
            if n < limits.total {
                return Ok(total);
            }
        }
    }

    fn free_limits(&self) -> ClaimLimits {
        let inner = &self.inner;
        let state = inner.state.lock().expect("pool state");
        let total = inner.config.concurrency.saturating_sub(state.running.len());
        let mut per_kind = Vec::with_capacity(inner.handlers.len());
        for kind in inner.handlers.keys() {
            let busy = state.running.values().filter(|r| &r.kind == kind).count();
            let free = inner.config.limit_for(kind).saturating_sub(busy).min(total);
            if free > 0 {
                per_kind.push((kind.clone(), free));
            }
        }
        ClaimLimits { total, per_kind }
    }

    fn start(&self, claimed: ClaimedJob, now: DateTime<Utc>) {
        let inner = &self.inner;
        let ClaimedJob { job, lease } = claimed;
        let Some(handler) = inner.handlers.get(&job.kind).cloned() else {
            // Only registered kinds are claimed; a lease we cannot use expires and is reaped.
            tracing::error!(kind = %job.kind, "claimed a job of a kind without a handler");
            return;
        };
        let delay = (now - job.run_at).to_std().unwrap_or_default();
        metrics::histogram!(START_DELAY, "kind" => job.kind.clone()).record(delay.as_secs_f64());
        let span = tracing::info_span!("job", job_id = %job.job_id, workspace_id = %job.workspace_id,
            integration_id = tracing::field::Empty, kind = %job.kind, attempt = job.attempts);
        if let Some(integration_id) = job.integration_id {
            span.record("integration_id", tracing::field::display(integration_id));
        }
        let cancel = CancellationToken::new();
        let kind = job.kind.clone();
        let ctx = JobContext::new(
            job,
            lease.clone(),
            inner.store.clone(),
            inner.clock.clone(),
            cancel.clone(),
        );
        let mut state = inner.state.lock().expect("pool state");
        let slot = state.next_slot;
        state.next_slot += 1;
        // The task cannot remove its slot before it is inserted: it needs this lock to do so.
        let task = tokio::spawn(self.clone().execute(slot, handler, ctx).instrument(span));
        state.running.insert(
            slot,
            Running {
                lease,
                kind,
                cancel,
                abort: task.abort_handle(),
            },
        );
        let count = state.running.len();
        drop(state);
        inner.running_count.send_replace(count);
        metrics::gauge!(RUNNING).set(count as f64);
    }

    async fn execute(self, slot: u64, handler: Arc<dyn JobHandler>, ctx: JobContext) {
        let started = Instant::now();
        tracing::debug!("job started");
        let result = match AssertUnwindSafe(handler.run(&ctx)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(JobError::Retryable(format!(
                "the handler panicked: {}",
                panic_message(panic.as_ref())
            ))),
        };
        let outcome = self.finish(&ctx, result).await;
        let kind = ctx.kind().to_string();
        metrics::histogram!(DURATION, "kind" => kind.clone(), "outcome" => outcome.as_str())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(FINISHED, "kind" => kind, "outcome" => outcome.as_str()).increment(1);
        self.forget(slot);
        self.inner.wake.notify_one();
    }

    fn forget(&self, slot: u64) {
        let count = {
            let mut state = self.inner.state.lock().expect("pool state");
            state.running.remove(&slot);
            state.running.len()
        };
        self.inner.running_count.send_replace(count);
        metrics::gauge!(RUNNING).set(count as f64);
    }

    /// Records the attempt's outcome, fenced by the lease.
    async fn finish(&self, ctx: &JobContext, result: Result<(), JobError>) -> Outcome {
        let inner = &self.inner;
        let pool = inner.store.system();
        let lease = lease_of(ctx, &inner.worker_id);
        let outcome = match result {
            Ok(()) => {
                match with_retries(|| jobs::complete(pool, &lease, inner.clock.now())).await {
                    Some(true) => Outcome::Succeeded,
                    Some(false) => Outcome::Lost,
                    None => Outcome::Unrecorded,
                }
            }
            Err(JobError::Cancelled) if ctx.cancellation().is_cancelled() => {
                // Cancelled in the database or taken over (nothing to record), or stopped by our
                // own shutdown (then the job is still ours: give it back).
                match with_retries(|| jobs::release(pool, &lease, inner.clock.now())).await {
                    Some(true) => Outcome::Released,
                    Some(false) => Outcome::Cancelled,
                    None => Outcome::Unrecorded,
                }
            }
            Err(error) => {
                metrics::counter!(FAILURES, "kind" => ctx.kind().to_string()).increment(1);
                let now = inner.clock.now();
                let retry_at = error.is_retryable().then(|| {
                    let delay = backoff_delay(
                        ctx.attempt(),
                        inner.config.backoff_base,
                        inner.config.backoff_cap,
                        rand::random::<f64>(),
                    );
                    now + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX)
                });
                let message = truncate(error.to_string());
                match with_retries(|| jobs::fail(pool, &lease, &message, retry_at, now)).await {
                    Some(Some(JobStatus::Queued)) => {
                        tracing::warn!(error = %message, retry_at = ?retry_at, "job attempt failed; will retry");
                        Outcome::Retried
                    }
                    Some(Some(_)) => {
                        tracing::error!(error = %message, "job failed");
                        Outcome::Failed
                    }
                    // The handler saw the cancellation itself (`is_cancelled` read the status).
                    Some(None) if matches!(error, JobError::Cancelled) => Outcome::Cancelled,
                    Some(None) => Outcome::Lost,
                    None => Outcome::Unrecorded,
                }
            }
        };
        match outcome {
            Outcome::Lost => {
                metrics::counter!(LEASES_LOST).increment(1);
                tracing::warn!(
                    "the job was no longer this worker's when it ended (cancelled or taken over)"
                );
            }
            Outcome::Unrecorded => {
                tracing::error!("could not record the job's outcome; its lease will expire and it will run again")
            }
            Outcome::Succeeded => tracing::debug!("job succeeded"),
            Outcome::Cancelled => tracing::info!("job cancelled"),
            _ => {}
        }
        outcome
    }

    /// Graceful stop: wait for running jobs up to the grace period, then cancel and release.
    async fn drain(&self) {
        let grace = self.inner.config.shutdown_grace;
        let mut rx = self.inner.running_count.subscribe();
        if tokio::time::timeout(grace, rx.wait_for(|n| *n == 0))
            .await
            .is_ok()
        {
            return;
        }
        self.release_all().await;
    }

    async fn release_all(&self) {
        let tokens: Vec<CancellationToken> = {
            let state = self.inner.state.lock().expect("pool state");
            state.running.values().map(|r| r.cancel.clone()).collect()
        };
        if tokens.is_empty() {
            return;
        }
        tracing::warn!(
            running = tokens.len(),
            "shutdown grace period over: cancelling running jobs"
        );
        for token in &tokens {
            token.cancel();
        }
        let mut rx = self.inner.running_count.subscribe();
        tokio::time::timeout(CANCEL_WAIT, rx.wait_for(|n| *n == 0))
            .await
            .ok();
        let left: Vec<Running> = {
            let mut state = self.inner.state.lock().expect("pool state");
            state.running.drain().map(|(_, r)| r).collect()
        };
        self.inner.running_count.send_replace(0);
        metrics::gauge!(RUNNING).set(0.0);
        for running in left {
            running.abort.abort();
            let released = jobs::release(
                self.inner.store.system(),
                &running.lease,
                self.inner.clock.now(),
            )
            .await;
            metrics::counter!(FINISHED, "kind" => running.kind.clone(), "outcome" => "released")
                .increment(1);
            match released {
                Ok(_) => {
                    tracing::info!(job_id = %running.lease.job_id, "released a running job to other workers")
                }
                Err(e) => tracing::error!(job_id = %running.lease.job_id, error = %e,
                    "could not release a running job; it runs again once its lease expires"),
            }
        }
    }

    /// Renews the leases of running jobs; stops the handlers of jobs that are no longer ours.
    async fn heartbeats(self, stop: CancellationToken) {
        let inner = &self.inner;
        let mut tick = tokio::time::interval(inner.config.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let running: Vec<(Lease, CancellationToken)> = {
                let state = inner.state.lock().expect("pool state");
                state
                    .running
                    .values()
                    .map(|r| (r.lease.clone(), r.cancel.clone()))
                    .collect()
            };
            if running.is_empty() {
                continue;
            }
            let leases: Vec<Lease> = running.iter().map(|(l, _)| l.clone()).collect();
            let now = inner.clock.now();
            let until = now + TimeDelta::from_std(inner.config.lease).unwrap_or(TimeDelta::MAX);
            match jobs::heartbeat(inner.store.system(), &inner.worker_id, &leases, until).await {
                Ok(held) => {
                    for (lease, cancel) in &running {
                        if !held.contains(&lease.job_id) && !cancel.is_cancelled() {
                            tracing::warn!(job_id = %lease.job_id,
                                "a running job is no longer this worker's (cancelled or taken over): stopping it");
                            cancel.cancel();
                        }
                    }
                }
                Err(e) => pool_error("heartbeat", &e.into()),
            }
        }
    }

    /// Wakes the claim loop on `NOTIFY costline_jobs` (a job was queued or put back).
    async fn listen(self, stop: CancellationToken) {
        let inner = &self.inner;
        let options = inner.store.system().connect_options().as_ref().clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        loop {
            let connected = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                _ = stop.cancelled() => break,
                connected = connected => match connected {
                    Ok(listener) => listener,
                    Err(e) => {
                        pool_error("listen", &e.into());
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(inner.config.poll_interval.max(Duration::from_secs(1))) => continue,
                        }
                    }
                },
            };
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    received = listener.try_recv() => match received {
                        // `None`: the connection was lost and re-established; notifications may
                        // have been missed, so look anyway.
                        Ok(_) => inner.wake.notify_one(),
                        Err(e) => {
                            pool_error("listen", &e.into());
                            break;
                        }
                    },
                }
            }
            if stop.is_cancelled() {
                break;
            }
        }
        pool.close().await;
    }

    /// Publishes the queue depth per kind and state.
    async fn export_depth(self, stop: CancellationToken) {
        let inner = &self.inner;
        let mut seen: BTreeSet<String> = inner.handlers.keys().cloned().collect();
        let mut tick = tokio::time::interval(inner.config.metrics_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match jobs::depth(inner.store.system(), inner.clock.now()).await {
                Ok(depths) => {
                    let mut counts: HashMap<&str, (i64, i64, i64)> = HashMap::new();
                    for d in &depths {
                        seen.insert(d.kind.clone());
                        counts.insert(&d.kind, (d.due, d.scheduled, d.running));
                    }
                    for kind in &seen {
                        let (due, scheduled, running) =
                            counts.get(kind.as_str()).copied().unwrap_or_default();
                        for (state, n) in
                            [("due", due), ("scheduled", scheduled), ("running", running)]
                        {
                            metrics::gauge!(QUEUE_DEPTH, "kind" => kind.clone(), "state" => state)
                                .set(n as f64);
                        }
                    }
                }
                Err(e) => pool_error("depth", &e.into()),
            }
        }
    }
}

fn lease_of(ctx: &JobContext, worker_id: &str) -> Lease {
    Lease {
        workspace_id: ctx.workspace_id(),
        job_id: ctx.job_id(),
        worker_id: worker_id.to_string(),
        attempt: ctx.attempt(),
    }
}

/// Records an outcome, retrying briefly over a database hiccup; `None` when it could not, and
/// then the lease expires and the job runs again elsewhere.
async fn with_retries<T, F, Fut>(mut op: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, costline_store::StoreError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "could not record a job outcome; retrying");
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            }
            Err(e) => {
                pool_error("finish", &JobError::Store(e));
                return None;
            }
        }
    }
}

fn pool_error(operation: &'static str, error: &JobError) {
    metrics::counter!(POOL_ERRORS, "operation" => operation).increment(1);
    tracing::warn!(operation, error = %error, "worker pool database error");
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &suffix[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let cut = truncate(long);
        assert!(cut.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }

    #[test]
    fn worker_ids_are_unique_per_pool() {
        assert_ne!(default_worker_id(), default_worker_id());
    }

    #[test]
    fn panic_messages_are_kept() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "boom 1");
    }
}
