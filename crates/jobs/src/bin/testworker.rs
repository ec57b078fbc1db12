//! A worker process for the queue's multi-process tests and benchmark (not deployed).
//!
//! Runs a pool with two kinds: `test.effect` records each attempt in `test_runs` (no constraint,
//! so a job run twice shows twice), sleeps, then writes its effect idempotently into
//! `test_effects` (keyed by job id); `test.noop` does nothing. The tables are created by the test.
//! SIGTERM or SIGINT stops it gracefully.

use async_trait::async_trait;
use clap::Parser;
use costline_jobs::{JobContext, JobError, JobHandler, JobKind, PoolConfig, WorkerPool};
use costline_store::Store;
use sqlx::postgres::PgConnectOptions;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser)]
struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long)]
    worker_id: Option<String>,
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[arg(long, default_value_t = 2000)]
    lease_ms: u64,
    #[arg(long, default_value_t = 500)]
    heartbeat_ms: u64,
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    #[arg(long, default_value_t = 5000)]
    grace_ms: u64,
}

/// Payload of `test.effect`.
#[derive(serde::Deserialize)]
struct Effect {
    #[serde(default)]
    sleep_ms: u64,
    /// Sleep of the first attempt only (the SIGKILL test kills the worker during it).
    #[serde(default)]
    first_attempt_sleep_ms: Option<u64>,
}

struct EffectHandler;

#[async_trait]
impl JobHandler for EffectHandler {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let input: Effect = ctx.payload_as()?;
        let worker = ctx.job().worker_id.clone().unwrap_or_default();
        let db = ctx.store().system();
        sqlx::query("INSERT INTO test_runs (job_id, worker_id, attempt) VALUES ($1, $2, $3)")
            .bind(ctx.job_id().as_uuid())
            .bind(&worker)
            .bind(ctx.attempt())
            .execute(db)
            .await?;
        let sleep = match input.first_attempt_sleep_ms {
            Some(ms) if ctx.attempt() == 1 => ms,
            _ => input.sleep_ms,
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep)) => {}
            _ = ctx.cancellation().cancelled() => return Err(JobError::Cancelled),
        }
        sqlx::query("INSERT INTO test_effects (job_id, worker_id) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING")
            .bind(ctx.job_id().as_uuid())
            .bind(&worker)
            .execute(db)
            .await?;
        Ok(())
    }
}

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let options: PgConnectOptions = args.database_url.parse().expect("a PostgreSQL URL");
    let store = Store::connect(options, (args.concurrency as u32 * 2).max(4));
    let config = PoolConfig {
        concurrency: args.concurrency,
        kind_limits: BTreeMap::new(),
        lease: Duration::from_millis(args.lease_ms),
        heartbeat_interval: Duration::from_millis(args.heartbeat_ms),
        poll_interval: Duration::from_millis(args.poll_ms),
        shutdown_grace: Duration::from_millis(args.grace_ms),
        ..PoolConfig::default()
    };
    let mut builder = WorkerPool::builder(store.clone(), config)
        .register(JobKind::from_static("test.effect"), EffectHandler)
        .register(JobKind::from_static("test.noop"), Noop);
    if let Some(id) = args.worker_id {
        builder = builder.worker_id(id);
    }
    let pool = builder.build().expect("a valid pool configuration");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    println!("ready {}", pool.worker_id());
    pool.run(shutdown).await.expect("the pool ran");
    store.close().await;
}
