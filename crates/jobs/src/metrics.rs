//! The queue's metrics, recorded through the `metrics` facade (the web layer installs the
//! Prometheus recorder behind /metrics).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub(crate) const QUEUE_DEPTH: &str = "costline_jobs_queue_depth";
pub(crate) const RUNNING: &str = "costline_jobs_running";
pub(crate) const DURATION: &str = "costline_job_duration_seconds";
pub(crate) const START_DELAY: &str = "costline_job_start_delay_seconds";
pub(crate) const FINISHED: &str = "costline_jobs_finished_total";
pub(crate) const FAILURES: &str = "costline_job_failures_total";
pub(crate) const LEASE_EXPIRIES: &str = "costline_job_lease_expiries_total";
pub(crate) const LEASES_LOST: &str = "costline_job_leases_lost_total";
pub(crate) const SCHEDULES_FIRED: &str = "costline_schedules_fired_total";
pub(crate) const POOL_ERRORS: &str = "costline_worker_errors_total";

/// Registers the descriptions of the queue's metrics (call once, after installing a recorder).
pub fn describe_metrics() {
    describe_gauge!(
        QUEUE_DEPTH,
        "Jobs per kind and state (due, scheduled, running) across all workspaces"
    );
    describe_gauge!(RUNNING, "Jobs this worker process is running");
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Duration of job attempts, by kind and outcome"
    );
    describe_histogram!(
        START_DELAY,
        Unit::Seconds,
        "Time from when a job was due (enqueued or retry time) to when an attempt started"
    );
    describe_counter!(
        FINISHED,
        "Job attempts ended, by kind and outcome (succeeded, retried, failed, cancelled, released, lost)"
    );
    describe_counter!(FAILURES, "Failed job attempts (retried or final), by kind");
    describe_counter!(
        LEASE_EXPIRIES,
        "Running jobs whose lease expired (worker crashed or cut off), by kind"
    );
    describe_counter!(
        LEASES_LOST,
        "Running jobs this worker found no longer its own (cancelled or taken over)"
    );
    describe_counter!(SCHEDULES_FIRED, "Schedule occurrences fired, by kind");
    describe_counter!(
        POOL_ERRORS,
        "Database errors of the worker loop, by operation"
    );
}
