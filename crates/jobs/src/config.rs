//! The pool's configuration: one struct, built from the command line or environment once.

use crate::schedule::ScheduleIntervals;
use crate::{JobError, JobKind};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// How a [`crate::WorkerPool`] runs. Limits are per process: each worker process runs at most
/// `concurrency` jobs, and at most `kind_limits[kind]` of one kind (kinds not listed share the
/// global limit).
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Jobs this process runs at once.
    pub concurrency: usize,
    /// Per-kind caps, e.g. heavy ingests lower than light verifications.
    pub kind_limits: BTreeMap<String, usize>,
    /// How long a claimed job is this worker's without a heartbeat.
    pub lease: Duration,
    /// How often running jobs' leases are renewed (well under `lease`).
    pub heartbeat_interval: Duration,
    /// How often the queue is polled when no notification arrived (and the maintenance cadence:
    /// reaping expired leases, ticking schedules).
    pub poll_interval: Duration,
    /// Attempts of jobs the pool enqueues itself (schedules).
    pub max_attempts: i32,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// On shutdown, how long running jobs may take to finish before they are released.
    pub shutdown_grace: Duration,
    /// Whether this pool fires due schedules (every pool may: each occurrence fires once).
    pub run_schedules: bool,
    /// How often queue-depth gauges are refreshed.
    pub metrics_interval: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            kind_limits: BTreeMap::from([(JobKind::INGEST_PERIOD.to_string(), 2)]),
            lease: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            max_attempts: costline_store::jobs::DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(30),
            run_schedules: true,
            metrics_interval: Duration::from_secs(15),
        }
    }
}

impl PoolConfig {
    /// Checks the values fit together; the message says what to change.
    pub fn validate(&self) -> Result<(), JobError> {
        let bad = |m: String| Err(JobError::Config(m));
        if self.concurrency == 0 {
            return bad("the worker concurrency must be at least 1".into());
        }
        if self.lease < Duration::from_millis(100) {
            return bad(format!(
                "the job lease must be at least 100ms, got {:?}",
                self.lease
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval * 2 > self.lease {
            return bad(format!(
                "the heartbeat interval ({:?}) must be positive and at most half the lease ({:?})",
                self.heartbeat_interval, self.lease
            ));
        }
        if self.poll_interval.is_zero() {
            return bad("the poll interval must be positive".into());
        }
        if !(1..=100).contains(&self.max_attempts) {
            return bad(format!(
                "max attempts must be 1 to 100, got {}",
                self.max_attempts
            ));
        }
        if self.backoff_base.is_zero() || self.backoff_cap < self.backoff_base {
            return bad(format!(
                "the backoff base ({:?}) must be positive and at most the cap ({:?})",
                self.backoff_base, self.backoff_cap
            ));
        }
        for kind in self.kind_limits.keys() {
            JobKind::new(kind.as_str()).map_err(|e| JobError::Config(e.to_string()))?;
        }
        Ok(())
    }

    /// The most jobs of `kind` this process runs at once.
    pub fn limit_for(&self, kind: &str) -> usize {
        self.kind_limits
            .get(kind)
            .copied()
            .unwrap_or(self.concurrency)
            .min(self.concurrency)
    }
}

/// A `KIND=N` per-kind limit on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindLimit {
    /// The kind.
    pub kind: String,
    /// Its limit.
    pub limit: usize,
}

impl FromStr for KindLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, limit) = s
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=N (e.g. ingest_period=2), got {s:?}"))?;
        let kind = JobKind::new(kind.trim()).map_err(|e| e.to_string())?;
        let limit = limit
            .trim()
            .parse()
            .map_err(|_| format!("the limit of {kind} must be a whole number, got {limit:?}"))?;
        Ok(KindLimit {
            kind: kind.to_string(),
            limit,
        })
    }
}

/// Worker options for `costline serve` and `costline worker` (flatten into the CLI).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Jobs this process runs at once.
    #[arg(
        long = "worker-concurrency",
        env = "COSTLINE_WORKER_CONCURRENCY",
        default_value_t = 8
    )]
    pub concurrency: usize,
    /// Per-kind limits, comma-separated KIND=N (replace the default `ingest_period=2`).
    #[arg(
        long = "worker-kind-limits",
        env = "COSTLINE_WORKER_KIND_LIMITS",
        value_delimiter = ',',
        default_value = "ingest_period=2"
    )]
    pub kind_limits: Vec<KindLimit>,
    /// Seconds a claimed job stays this worker's without a heartbeat.
    #[arg(
        long = "job-lease-secs",
        env = "COSTLINE_JOB_LEASE_SECS",
        default_value_t = 60
    )]
    pub lease_secs: u64,
    /// Seconds between lease renewals.
    #[arg(
        long = "job-heartbeat-secs",
        env = "COSTLINE_JOB_HEARTBEAT_SECS",
        default_value_t = 15
    )]
    pub heartbeat_secs: u64,
    /// Milliseconds between polls of the queue when no notification arrives.
    #[arg(
        long = "job-poll-ms",
        env = "COSTLINE_JOB_POLL_MS",
        default_value_t = 1000
    )]
    pub poll_ms: u64,
    /// Attempts of scheduled jobs before they fail.
    #[arg(
        long = "job-max-attempts",
        env = "COSTLINE_JOB_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub max_attempts: i32,
    /// First retry delay, seconds (doubles per attempt, with jitter).
    #[arg(
        long = "job-backoff-base-secs",
        env = "COSTLINE_JOB_BACKOFF_BASE_SECS",
        default_value_t = 10
    )]
    pub backoff_base_secs: u64,
    /// Longest retry delay, seconds.
    #[arg(
        long = "job-backoff-cap-secs",
        env = "COSTLINE_JOB_BACKOFF_CAP_SECS",
        default_value_t = 3600
    )]
    pub backoff_cap_secs: u64,
    /// Seconds running jobs get to finish on shutdown before they are released to other workers.
    #[arg(
        long = "worker-shutdown-grace-secs",
        env = "COSTLINE_WORKER_SHUTDOWN_GRACE_SECS",
        default_value_t = 30
    )]
    pub shutdown_grace_secs: u64,
    /// Seconds between scheduled verifications of each connected integration.
    #[arg(long = "schedule-verify-secs", env = "COSTLINE_SCHEDULE_VERIFY_SECS", default_value_t = 6 * 3600)]
    pub verify_every_secs: u64,
    /// Seconds between scheduled account discoveries of each connected integration.
    #[arg(long = "schedule-discover-secs", env = "COSTLINE_SCHEDULE_DISCOVER_SECS", default_value_t = 6 * 3600)]
    pub discover_every_secs: u64,
    /// Seconds between looks for new CUR deliveries of each connected integration.
    #[arg(long = "schedule-cur-poll-secs", env = "COSTLINE_SCHEDULE_CUR_POLL_SECS", default_value_t = 30 * 60)]
    pub cur_poll_every_secs: u64,
    /// Seconds between inventories of each connected integration's resources.
    #[arg(long = "schedule-inventory-secs", env = "COSTLINE_SCHEDULE_INVENTORY_SECS", default_value_t = 6 * 3600)]
    pub inventory_every_secs: u64,
}

impl WorkerArgs {
    /// The pool configuration, validated.
    pub fn pool_config(&self) -> Result<PoolConfig, JobError> {
        let config = PoolConfig {
            concurrency: self.concurrency,
            kind_limits: self
                .kind_limits
                .iter()
                .map(|l| (l.kind.clone(), l.limit))
                .collect(),
            lease: Duration::from_secs(self.lease_secs),
            heartbeat_interval: Duration::from_secs(self.heartbeat_secs),
            poll_interval: Duration::from_millis(self.poll_ms),
            max_attempts: self.max_attempts,
            backoff_base: Duration::from_secs(self.backoff_base_secs),
            backoff_cap: Duration::from_secs(self.backoff_cap_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ..PoolConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The schedule intervals, validated.
    pub fn schedule_intervals(&self) -> Result<ScheduleIntervals, JobError> {
        let intervals = ScheduleIntervals {
            verify: Duration::from_secs(self.verify_every_secs),
            discover_accounts: Duration::from_secs(self.discover_every_secs),
            poll_cur: Duration::from_secs(self.cur_poll_every_secs),
            inventory: Duration::from_secs(self.inventory_every_secs),
        };
        intervals.validate()?;
        Ok(intervals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }

    #[test]
    fn defaults_are_valid() {
        PoolConfig::default().validate().unwrap();
        let cli = Cli::try_parse_from(["costline"]).unwrap();
        let config = cli.worker.pool_config().unwrap();
        assert_eq!(config.limit_for("ingest_period"), 2);
        assert_eq!(config.limit_for("verify_integration"), 8);
        let intervals = cli.worker.schedule_intervals().unwrap();
        assert_eq!(intervals.poll_cur, Duration::from_secs(1800));
        assert_eq!(intervals.verify, Duration::from_secs(6 * 3600));
    }

    #[test]
    fn kind_limits_parse_from_one_list() {
        let cli = Cli::try_parse_from([
            "costline",
            "--worker-kind-limits",
            "ingest_period=1, backfill=3",
        ])
        .unwrap();
        let config = cli.worker.pool_config().unwrap();
        assert_eq!(config.limit_for("ingest_period"), 1);
        assert_eq!(config.limit_for("backfill"), 3);
        assert!(
            Cli::try_parse_from(["costline", "--worker-kind-limits", "ingest_period"]).is_err()
        );
        assert!(Cli::try_parse_from(["costline", "--worker-kind-limits", "Bad=1"]).is_err());
    }

    #[test]
    fn inconsistent_timings_are_refused() {
        let config = PoolConfig {
            heartbeat_interval: Duration::from_secs(40),
            ..PoolConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("heartbeat"));
        let config = PoolConfig {
            concurrency: 0,
            ..PoolConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn a_kind_limit_never_exceeds_the_global_one() {
        let config = PoolConfig {
            concurrency: 2,
            kind_limits: BTreeMap::from([("ingest_period".into(), 5)]),
            ..PoolConfig::default()
        };
        assert_eq!(config.limit_for("ingest_period"), 2);
    }
}
