//! The queue's SQL (costline_store::jobs and ::schedules) against a real PostgreSQL, with time
//! passed in by hand.

mod common;

use chrono::TimeDelta;
use common::*;
use costline_domain::{BillingPeriod, IntegrationId, JobId};
use costline_store::jobs::{self, ClaimLimits, Enqueued, JobProgress, JobStatus, NewJob};
use costline_store::schedules::{self, ScheduleSpec};
use costline_store::StoreError;
use std::collections::HashSet;
use std::time::Duration;

fn limits(total: usize, kinds: &[(&str, usize)]) -> ClaimLimits {
    ClaimLimits {
        total,
        per_kind: kinds.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
    }
}

fn period(s: &str) -> BillingPeriod {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_pending_job_is_not_queued_twice() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let integration = IntegrationId::new();
    let now = t0();
    let sync = || NewJob::new("verify_integration").integration(integration);

    let first = enqueue(&db, ws, sync(), now).await;
    assert!(matches!(first, Enqueued::Created(_)));
    let again = enqueue(&db, ws, sync(), now).await;
    assert_eq!(again, Enqueued::Existing(first.job_id()));

    // Other periods, kinds and integrations are other jobs.
    let p1 = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(integration)
            .period(period("2024-08")),
        now,
    )
    .await;
    let p2 = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(integration)
            .period(period("2024-09")),
        now,
    )
    .await;
    let p1_again = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(integration)
            .period(period("2024-08")),
        now,
    )
    .await;
    assert_ne!(p1.job_id(), p2.job_id());
    assert_eq!(p1_again, Enqueued::Existing(p1.job_id()));
    let other = enqueue(
        &db,
        ws,
        NewJob::new("verify_integration").integration(IntegrationId::new()),
        now,
    )
    .await;
    assert!(matches!(other, Enqueued::Created(_)));

    // Still pending while running; a new one once it finished.
    let claimed = jobs::claim(
        db.system(),
        "w1",
        &limits(1, &[("verify_integration", 1)]),
        now + TimeDelta::seconds(60),
        now,
    )
    .await
    .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        enqueue(&db, ws, sync(), now).await.job_id(),
        claimed[0].job.job_id
    );
    assert!(jobs::complete(db.system(), &claimed[0].lease, now)
        .await
        .unwrap());
    let next = enqueue(&db, ws, sync(), now).await;
    assert!(matches!(next, Enqueued::Created(id) if id != first.job_id()));

    // Jobs without an integration are never merged.
    let n1 = enqueue(&db, ws, NewJob::new("notify"), now).await;
    let n2 = enqueue(&db, ws, NewJob::new("notify"), now).await;
    assert_ne!(n1.job_id(), n2.job_id());
}

#[tokio::test]
async fn concurrent_syncs_make_one_job() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let integration = IntegrationId::new();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            enqueue(
                &store,
                ws,
                NewJob::new("poll_cur").integration(integration),
                t0(),
            )
            .await
            .job_id()
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(count_status(&db, "queued").await, 1);
}

#[tokio::test]
async fn a_sync_brings_a_job_waiting_out_its_backoff_forward() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let integration = IntegrationId::new();
    let now = t0();
    let id = enqueue(
        &db,
        ws,
        NewJob::new("verify_integration").integration(integration),
        now,
    )
    .await
    .job_id();
    let c = jobs::claim(
        db.system(),
        "w",
        &limits(1, &[("verify_integration", 1)]),
        now + TimeDelta::seconds(60),
        now,
    )
    .await
    .unwrap();
    let retry_at = now + TimeDelta::minutes(10);
    assert_eq!(
        jobs::fail(db.system(), &c[0].lease, "throttled", Some(retry_at), now)
            .await
            .unwrap(),
        Some(JobStatus::Queued)
    );
    assert_eq!(get(&db, ws, id).await.run_at, retry_at);
    let later = now + TimeDelta::minutes(1);
    assert_eq!(
        enqueue(
            &db,
            ws,
            NewJob::new("verify_integration").integration(integration),
            later
        )
        .await,
        Enqueued::Existing(id)
    );
    assert_eq!(get(&db, ws, id).await.run_at, later);
}

#[tokio::test]
async fn jobs_are_read_through_their_workspace_only() {
    let db = costline_testkit::fresh_store().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let id = enqueue(
        &db,
        a,
        NewJob::new("notify").payload(serde_json::json!({"to": "x"})),
        t0(),
    )
    .await
    .job_id();

    let job = get(&db, a, id).await;
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.kind, "notify");
    assert_eq!(job.payload, serde_json::json!({"to": "x"}));
    assert_eq!(job.attempts, 0);
    assert_eq!(job.progress, serde_json::json!({}));

    let mut other = db.scoped(b).await.unwrap();
    assert!(matches!(
        jobs::get(&mut other, id).await,
        Err(StoreError::NotFound)
    ));
    // RLS as well: even without the workspace filter, the app role sees no row of `a`.
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(other.tx())
        .await
        .unwrap();
    assert_eq!(visible, 0);
}

#[tokio::test]
async fn invalid_jobs_are_refused() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let mut scope = db.scoped(ws).await.unwrap();
    let err = jobs::enqueue(&mut scope, &NewJob::new("Not A Kind"), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let mut scope = db.scoped(ws).await.unwrap();
    let err = jobs::enqueue(&mut scope, &NewJob::new("notify").max_attempts(0), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

#[tokio::test]
async fn claims_respect_run_at_and_the_limits() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let integration = IntegrationId::new();
    let ingests: Vec<NewJob> = ["2024-01", "2024-02", "2024-03", "2024-04"]
        .iter()
        .map(|p| {
            NewJob::new("ingest_period")
                .integration(integration)
                .period(period(p))
        })
        .collect();
    enqueue_many(&db, ws, ingests, now).await;
    enqueue_many(
        &db,
        ws,
        (0..4)
            .map(|_| NewJob::new("verify_integration").integration(IntegrationId::new()))
            .collect(),
        now,
    )
    .await;
    let later = enqueue(
        &db,
        ws,
        NewJob::new("notify").run_at(now + TimeDelta::minutes(5)),
        now,
    )
    .await
    .job_id();

    let lease = now + TimeDelta::seconds(60);
    let first = jobs::claim(
        db.system(),
        "w",
        &limits(
            5,
            &[
                ("ingest_period", 2),
                ("verify_integration", 5),
                ("notify", 5),
            ],
        ),
        lease,
        now,
    )
    .await
    .unwrap();
    let kinds: Vec<&str> = first.iter().map(|c| c.job.kind.as_str()).collect();
    assert_eq!(first.len(), 5, "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "ingest_period").count(),
        2,
        "{kinds:?}"
    );
    assert!(!first.iter().any(|c| c.job.job_id == later), "not due yet");
    for c in &first {
        assert_eq!(c.job.status, JobStatus::Running);
        assert_eq!(c.job.attempts, 1);
        assert_eq!(c.job.worker_id.as_deref(), Some("w"));
        assert_eq!(c.job.lease_expires_at, Some(lease));
        assert_eq!(c.job.started_at, Some(now));
    }
    // Kinds the worker does not run are never claimed.
    let none = jobs::claim(db.system(), "w", &limits(5, &[("backfill", 5)]), lease, now)
        .await
        .unwrap();
    assert!(none.is_empty());
    let rest = jobs::claim(
        db.system(),
        "w",
        &limits(
            10,
            &[
                ("ingest_period", 10),
                ("verify_integration", 10),
                ("notify", 10),
            ],
        ),
        lease,
        now,
    )
    .await
    .unwrap();
    assert_eq!(rest.len(), 3, "2 ingests and 1 verification were left");
    let due_later = jobs::claim(
        db.system(),
        "w",
        &limits(10, &[("notify", 10)]),
        lease,
        now + TimeDelta::minutes(5),
    )
    .await
    .unwrap();
    assert_eq!(due_later.len(), 1);
    assert_eq!(due_later[0].job.job_id, later);
}

/// With 200 queued ingests of workspace A, a verification of workspace B starts in the first
/// claim, whatever the limits.
#[tokio::test]
async fn a_backlog_of_one_workspace_does_not_delay_another() {
    let db = costline_testkit::fresh_store().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let now = t0();
    let integration = IntegrationId::new();
    let backlog: Vec<NewJob> = (0..200)
        .map(|i| {
            NewJob::new("ingest_period")
                .integration(integration)
                .period(BillingPeriod::new(2000 + i / 12, (i % 12 + 1) as u32).unwrap())
        })
        .collect();
    enqueue_many(&db, a, backlog, now).await;
    // Even A's verifications queued before B's do not go first.
    let a_verifies: Vec<NewJob> = (0..50)
        .map(|_| NewJob::new("verify_integration").integration(IntegrationId::new()))
        .collect();
    enqueue_many(&db, a, a_verifies, now).await;
    let b_verify = enqueue(
        &db,
        b,
        NewJob::new("verify_integration").integration(IntegrationId::new()),
        now + TimeDelta::seconds(1),
    )
    .await
    .job_id();

    let claimed = jobs::claim(
        db.system(),
        "w",
        &limits(2, &[("ingest_period", 2), ("verify_integration", 2)]),
        now + TimeDelta::minutes(1),
        now + TimeDelta::seconds(1),
    )
    .await
    .unwrap();
    assert!(
        claimed.iter().any(|c| c.job.job_id == b_verify),
        "B's verification was not in the first claim: {:?}",
        claimed
            .iter()
            .map(|c| (&c.job.kind, c.job.workspace_id))
            .collect::<Vec<_>>()
    );
}

/// A 36-period backfill of workspace A holds one slot; when the next slot frees, B's ingest
/// (queued after every one of A's) runs next, not A's 2nd period: a free slot goes first to the
/// workspace with the fewest running jobs, then to the oldest backlog.
#[tokio::test]
async fn a_free_slot_goes_to_the_workspace_with_fewest_running_jobs() {
    let db = costline_testkit::fresh_store().await;
    let a = workspace(&db, "a").await;
    let b = workspace(&db, "b").await;
    let now = t0();
    let integration = IntegrationId::new();
    let backfill: Vec<NewJob> = (0..36)
        .map(|i| {
            NewJob::new("ingest_period")
                .integration(integration)
                .period(BillingPeriod::new(2021 + i / 12, (i % 12 + 1) as u32).unwrap())
        })
        .collect();
    let a_jobs = enqueue_many(&db, a, backfill, now).await;
    let b_ingest = enqueue(
        &db,
        b,
        NewJob::new("ingest_period")
            .integration(IntegrationId::new())
            .period(period("2024-08")),
        now + TimeDelta::seconds(1),
    )
    .await
    .job_id();
    async fn claim_one(db: &costline_store::Store, at: chrono::DateTime<chrono::Utc>) -> jobs::Job {
        let one_slot = limits(1, &[("ingest_period", 1)]);
        let claimed = jobs::claim(db.system(), "w", &one_slot, at + TimeDelta::minutes(1), at)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        claimed.into_iter().next().unwrap().job
    }
    let at = now + TimeDelta::seconds(2);
    let first = claim_one(&db, at).await;
    assert_eq!(first.job_id, a_jobs[0], "A's backlog is the oldest");
    let next = claim_one(&db, at).await;
    assert_eq!(
        (next.workspace_id, next.job_id),
        (b, b_ingest),
        "with one of A's jobs running, B's job runs next"
    );
    // Each running one job, A's oldest waiting period is next.
    let third = claim_one(&db, at).await;
    assert_eq!(third.job_id, a_jobs[1]);
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let db = costline_testkit::fresh_store().await;
    let mut all = Vec::new();
    for w in 0..4 {
        let ws = workspace(&db, &format!("w{w}")).await;
        all.extend(
            enqueue_many(
                &db,
                ws,
                (0..50).map(|_| NewJob::new("notify")).collect(),
                t0(),
            )
            .await,
        );
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = jobs::claim(
                    store.system(),
                    &format!("w{w}"),
                    &limits(7, &[("notify", 7)]),
                    t0() + TimeDelta::minutes(1),
                    t0(),
                )
                .await
                .unwrap();
                if got.is_empty() {
                    // Skipped rows may still be held by another claimer for an instant.
                    let left: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'")
                            .fetch_one(store.system())
                            .await
                            .unwrap();
                    if left == 0 {
                        return mine;
                    }
                    continue;
                }
                mine.extend(got.into_iter().map(|c| c.job.job_id));
            }
        }));
    }
    let mut seen: Vec<JobId> = Vec::new();
    for t in tasks {
        seen.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), 200, "every job claimed once");
    assert_eq!(unique.len(), 200);
}

#[tokio::test]
async fn an_expired_lease_is_taken_back_and_the_old_holder_fenced_off() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let id = enqueue(&db, ws, NewJob::new("notify").max_attempts(2), now)
        .await
        .job_id();
    let lim = limits(1, &[("notify", 1)]);
    let lease = Duration::from_secs(30);
    let until = |t: chrono::DateTime<chrono::Utc>| t + TimeDelta::from_std(lease).unwrap();

    let a = jobs::claim(db.system(), "a", &lim, until(now), now)
        .await
        .unwrap()
        .remove(0);
    // Heartbeats keep it: nothing to reap while the lease is renewed.
    let t1 = now + TimeDelta::seconds(20);
    assert_eq!(
        jobs::heartbeat(db.system(), "a", std::slice::from_ref(&a.lease), until(t1))
            .await
            .unwrap(),
        vec![id]
    );
    assert!(
        jobs::reap_expired(db.system(), now + TimeDelta::seconds(40), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Worker a goes silent; after the lease the job is queued again.
    let t2 = now + TimeDelta::seconds(51);
    let reaped = jobs::reap_expired(db.system(), t2, 10).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Queued);
    let job = get(&db, ws, id).await;
    assert!(
        job.error.as_deref().unwrap().contains("lease expired"),
        "{:?}",
        job.error
    );

    let b = jobs::claim(db.system(), "b", &lim, until(t2), t2)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(b.job.attempts, 2);
    // a comes back: every write it tries is refused.
    assert!(
        jobs::heartbeat(db.system(), "a", std::slice::from_ref(&a.lease), until(t2))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !jobs::report_progress(db.system(), &a.lease, &JobProgress::default())
            .await
            .unwrap()
    );
    assert!(!jobs::complete(db.system(), &a.lease, t2).await.unwrap());
    assert_eq!(
        jobs::fail(db.system(), &a.lease, "x", None, t2)
            .await
            .unwrap(),
        None
    );
    assert!(!jobs::is_held(db.system(), &a.lease).await.unwrap());
    assert!(jobs::is_held(db.system(), &b.lease).await.unwrap());

    // b is cut off too, on the last attempt: the job fails, keeping why.
    let t3 = t2 + TimeDelta::seconds(31);
    let reaped = jobs::reap_expired(db.system(), t3, 10).await.unwrap();
    assert_eq!(reaped[0].status, JobStatus::Failed);
    let job = get(&db, ws, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.finished_at, Some(t3));
    assert!(job.error.unwrap().contains("attempt 2 of 2"));
}

#[tokio::test]
async fn failures_retry_until_the_last_attempt_and_keep_the_error() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let id = enqueue(&db, ws, NewJob::new("notify").max_attempts(2), now)
        .await
        .job_id();
    let lim = limits(1, &[("notify", 1)]);
    let c = jobs::claim(db.system(), "w", &lim, now + TimeDelta::minutes(1), now)
        .await
        .unwrap()
        .remove(0);
    let retry = now + TimeDelta::seconds(10);
    assert_eq!(
        jobs::fail(db.system(), &c.lease, "first", Some(retry), now)
            .await
            .unwrap(),
        Some(JobStatus::Queued)
    );
    assert!(
        jobs::claim(db.system(), "w", &lim, now + TimeDelta::minutes(1), now)
            .await
            .unwrap()
            .is_empty()
    );
    let c = jobs::claim(db.system(), "w", &lim, retry + TimeDelta::minutes(1), retry)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(c.job.attempts, 2);
    assert_eq!(c.job.error.as_deref(), Some("first"));
    // A retry time on the last attempt still fails the job.
    assert_eq!(
        jobs::fail(
            db.system(),
            &c.lease,
            "second",
            Some(retry + TimeDelta::seconds(20)),
            retry
        )
        .await
        .unwrap(),
        Some(JobStatus::Failed)
    );
    let job = get(&db, ws, id).await;
    assert_eq!(
        (job.status, job.attempts, job.error.as_deref()),
        (JobStatus::Failed, 2, Some("second"))
    );
    assert_eq!(job.started_at, Some(now), "the first start is kept");
}

#[tokio::test]
async fn revocation_cancels_queued_and_running_jobs_of_the_integration() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let revoked = IntegrationId::new();
    let kept = IntegrationId::new();
    let running = enqueue(
        &db,
        ws,
        NewJob::new("verify_integration").integration(revoked),
        now,
    )
    .await
    .job_id();
    let c = jobs::claim(
        db.system(),
        "w",
        &limits(1, &[("verify_integration", 1)]),
        now + TimeDelta::minutes(1),
        now,
    )
    .await
    .unwrap()
    .remove(0);
    assert_eq!(c.job.job_id, running);
    let queued = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(revoked)
            .period(period("2024-01")),
        now,
    )
    .await
    .job_id();
    let other = enqueue(
        &db,
        ws,
        NewJob::new("ingest_period")
            .integration(kept)
            .period(period("2024-01")),
        now,
    )
    .await
    .job_id();

    let mut scope = db.scoped(ws).await.unwrap();
    assert_eq!(
        jobs::cancel_for_integration(&mut scope, revoked, now)
            .await
            .unwrap(),
        2
    );
    scope.commit().await.unwrap();

    assert_eq!(get(&db, ws, running).await.status, JobStatus::Cancelled);
    assert_eq!(get(&db, ws, queued).await.status, JobStatus::Cancelled);
    assert_eq!(get(&db, ws, other).await.status, JobStatus::Queued);
    // The worker learns it at its next check and cannot overwrite the cancellation.
    assert!(!jobs::is_held(db.system(), &c.lease).await.unwrap());
    assert!(!jobs::complete(db.system(), &c.lease, now).await.unwrap());
    assert!(!jobs::release(db.system(), &c.lease, now).await.unwrap());
    assert_eq!(get(&db, ws, running).await.status, JobStatus::Cancelled);
    // A new sync after revocation is a new job.
    let again = enqueue(
        &db,
        ws,
        NewJob::new("verify_integration").integration(revoked),
        now,
    )
    .await;
    assert!(matches!(again, Enqueued::Created(id) if id != running));
}

#[tokio::test]
async fn progress_and_release_are_visible_through_the_api_read() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let id = enqueue(&db, ws, NewJob::new("notify"), now).await.job_id();
    let c = jobs::claim(
        db.system(),
        "w",
        &limits(1, &[("notify", 1)]),
        now + TimeDelta::minutes(1),
        now,
    )
    .await
    .unwrap()
    .remove(0);
    let progress = JobProgress {
        step: Some("reading files".into()),
        files_done: 3,
        files_total: Some(7),
        rows: 12_000,
        bytes: 1 << 20,
    };
    assert!(jobs::report_progress(db.system(), &c.lease, &progress)
        .await
        .unwrap());
    let job = get(&db, ws, id).await;
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(
        serde_json::from_value::<JobProgress>(job.progress).unwrap(),
        progress
    );

    assert!(jobs::release(db.system(), &c.lease, now).await.unwrap());
    let job = get(&db, ws, id).await;
    assert_eq!(
        (job.status, job.attempts, job.lease_expires_at),
        (JobStatus::Queued, 0, None)
    );

    let depth = jobs::depth(db.system(), now).await.unwrap();
    assert_eq!(depth.len(), 1);
    assert_eq!(
        (depth[0].kind.as_str(), depth[0].due, depth[0].running),
        ("notify", 1, 0)
    );
}

#[tokio::test]
async fn schedules_fire_once_per_occurrence_without_piling_up() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let integration = IntegrationId::new();
    let now = t0();
    let every = Duration::from_secs(30 * 60);
    let spec = |kind: &str, every: Duration| ScheduleSpec {
        kind: kind.into(),
        every,
        payload: serde_json::json!({}),
        first_run_at: now + TimeDelta::from_std(every).unwrap(),
    };
    let mut scope = db.scoped(ws).await.unwrap();
    schedules::replace_for_integration(
        &mut scope,
        integration,
        &[
            spec("poll_cur", every),
            spec("verify_integration", Duration::from_secs(6 * 3600)),
        ],
    )
    .await
    .unwrap();
    scope.commit().await.unwrap();

    // Nothing is due before the first occurrence.
    assert!(
        schedules::tick(db.system(), now + TimeDelta::minutes(29), 5, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let t1 = now + TimeDelta::minutes(30);
    let fired = schedules::tick(db.system(), t1, 5, 100).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].kind, "poll_cur");
    let Enqueued::Created(job_id) = fired[0].job else {
        panic!("a new job")
    };
    let job = get(&db, ws, job_id).await;
    assert_eq!(
        (job.integration_id, job.run_at, job.max_attempts),
        (Some(integration), t1, 5)
    );
    // The same tick again (another worker, same instant) fires nothing.
    assert!(schedules::tick(db.system(), t1, 5, 100)
        .await
        .unwrap()
        .is_empty());

    // Next occurrence while the job is still queued: no duplicate, it joins the pending one.
    let t2 = now + TimeDelta::minutes(61);
    let fired = schedules::tick(db.system(), t2, 5, 100).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].job, Enqueued::Existing(job_id));
    assert_eq!(count_status(&db, "queued").await, 1);

    // Workers down for a day: each schedule fires once, then is back on its grid.
    let t3 = now + TimeDelta::hours(25) + TimeDelta::minutes(10);
    let fired = schedules::tick(db.system(), t3, 5, 100).await.unwrap();
    assert_eq!(fired.len(), 2);
    let mut scope = db.scoped(ws).await.unwrap();
    let listed = schedules::list_for_integration(&mut scope, integration)
        .await
        .unwrap();
    let next: Vec<_> = listed
        .iter()
        .map(|s| (s.kind.as_str(), s.next_run_at))
        .collect();
    assert_eq!(
        next,
        [
            (
                "poll_cur",
                now + TimeDelta::hours(25) + TimeDelta::minutes(30)
            ),
            ("verify_integration", now + TimeDelta::hours(30))
        ]
    );

    // Reconnecting without CUR drops that schedule; revoking drops the rest.
    schedules::replace_for_integration(
        &mut scope,
        integration,
        &[spec("verify_integration", Duration::from_secs(6 * 3600))],
    )
    .await
    .unwrap();
    let kinds: Vec<String> = schedules::list_for_integration(&mut scope, integration)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, ["verify_integration"]);
    assert_eq!(
        schedules::delete_for_integration(&mut scope, integration)
            .await
            .unwrap(),
        1
    );
    scope.commit().await.unwrap();
    assert!(
        schedules::tick(db.system(), t3 + TimeDelta::days(2), 5, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_ticks_fire_each_schedule_once() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let mut scope = db.scoped(ws).await.unwrap();
    for _ in 0..40 {
        schedules::replace_for_integration(
            &mut scope,
            IntegrationId::new(),
            &[ScheduleSpec {
                kind: "poll_cur".into(),
                every: Duration::from_secs(1800),
                payload: serde_json::json!({}),
                first_run_at: now,
            }],
        )
        .await
        .unwrap();
    }
    scope.commit().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            schedules::tick(store.system(), now, 5, 7)
                .await
                .unwrap()
                .len()
        }));
    }
    let mut fired = 0;
    for t in tasks {
        fired += t.await.unwrap();
    }
    // Each ticker took a batch of 7 at most; whatever is left fires on the next ticks.
    while fired < 40 {
        let n = schedules::tick(db.system(), now, 5, 7).await.unwrap().len();
        assert!(n > 0);
        fired += n;
    }
    assert_eq!(fired, 40);
    assert_eq!(count_status(&db, "queued").await, 40);
    assert!(schedules::tick(db.system(), now, 5, 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn finished_jobs_are_purged_after_retention() {
    let db = costline_testkit::fresh_store().await;
    let ws = workspace(&db, "a").await;
    let now = t0();
    let done = enqueue(&db, ws, NewJob::new("notify"), now).await.job_id();
    let pending = enqueue(
        &db,
        ws,
        NewJob::new("notify").run_at(now + TimeDelta::days(30)),
        now,
    )
    .await
    .job_id();
    let c = jobs::claim(
        db.system(),
        "w",
        &limits(5, &[("notify", 5)]),
        now + TimeDelta::minutes(1),
        now,
    )
    .await
    .unwrap();
    assert_eq!(c.len(), 1);
    jobs::complete(db.system(), &c[0].lease, now).await.unwrap();
    assert_eq!(
        jobs::purge_finished(db.system(), now, 100).await.unwrap(),
        0
    );
    assert_eq!(
        jobs::purge_finished(db.system(), now + TimeDelta::days(8), 100)
            .await
            .unwrap(),
        1
    );
    let mut scope = db.scoped(ws).await.unwrap();
    assert!(matches!(
        jobs::get(&mut scope, done).await,
        Err(StoreError::NotFound)
    ));
    assert!(jobs::get(&mut scope, pending).await.is_ok());
}
