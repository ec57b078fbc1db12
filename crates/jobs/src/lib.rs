//! The worker pool of Costline's durable job queue (docs/adr/0005-job-queue.md).
//!
//! Every background action (verify an integration, discover accounts, look for CUR deliveries,
//! ingest a billing period, backfill, revocation clean-up, notifications) is a job in the `jobs`
//! table, run here by a [`JobHandler`] registered for its kind. The queue's SQL lives in
//! `costline_store::jobs` and `costline_store::schedules`; this crate claims, runs, heartbeats,
//! retries and reports, and knows job kinds only through the handlers it is given.
//!
//! Any number of [`WorkerPool`]s in any number of processes share one database safely: claims use
//! `FOR UPDATE SKIP LOCKED`, every running job has a lease kept alive by heartbeats, and a job
//! whose lease expired is put back for another worker.

mod backoff;
mod clock;
mod config;
mod context;
mod error;
mod kind;
mod metrics;
mod pool;
mod schedule;

pub use backoff::backoff_delay;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{KindLimit, PoolConfig, WorkerArgs};
pub use context::{JobContext, JobHandler};
pub use costline_store::jobs::{Job, JobProgress, JobStatus};
pub use error::JobError;
pub use kind::{JobKind, JobKindError};
pub use metrics::describe_metrics;
pub use pool::{CycleReport, WorkerPool, WorkerPoolBuilder};
pub use schedule::{schedule_integration, ScheduleIntervals};
