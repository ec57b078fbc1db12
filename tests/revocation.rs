//! Revocation (issue 7): after `DELETE /api/v1/integrations/aws/{id}` nothing of the integration
//! exists but its tombstone and the audit log, in any table the catalog lists (so tables added
//! later are covered); everything else is untouched to the row; a running ingest writes nothing
//! after the revocation; only admins may revoke; workspace deletion by its owner (its saved
//! reports included).

use costline_domain::{BillingPeriod, IntegrationId, Role, WorkspaceId};
use costline_jobs::{JobContext, JobError, JobHandler, JobKind, PoolConfig, WorkerPool};
use costline_store::cur::{self, AssemblyInfo, FileRecord};
use costline_store::resources;
use costline_store::rollups::PeriodRollups;
use costline_store::Store;
use costline_testkit::{
    begin_assembly, cur_connection, fill_staging, spawn_app, TestApp, TestWorkspace,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const ROLE: &str = "arn:aws:iam::210987654321:role/CostlineReadOnly";

/// Creates and connects an integration through the API; returns its id and external id.
async fn integration(app: &TestApp, ws: &TestWorkspace) -> (IntegrationId, String) {
    let created = app.create_integration(&ws.token).await;
    let id = created["id"].as_str().unwrap();
    app.connect_created_integration(&ws.token, id, cur_connection("acme-cur", "cur", "costline"))
        .await;
    (
        id.parse().unwrap(),
        created["external_id"].as_str().unwrap().to_string(),
    )
}

/// Loads `rows` line items of `period` through the ingest's own store functions (staging table
/// filled by the ingest's encoder, then the atomic swap); returns the integration's line items.
async fn load_period(
    store: &Store,
    ws: WorkspaceId,
    id: IntegrationId,
    period: &str,
    rows: i64,
) -> String {
    let period: BillingPeriod = period.parse().unwrap();
    let assembly = format!("asm-{period}");
    let staging = begin_assembly(store, ws, id, period, &assembly).await;
    fill_staging(store, &staging, rows as u64).await;
    cur::swap_period(
        store,
        &staging,
        &[FileRecord {
            key: format!("cur/costline/{period}/costline-1.csv.gz"),
            file_no: 1,
            bytes: 1000,
            rows,
        }],
        &PeriodRollups::FromTable,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    total(store, ws, id).await
}

/// The integration's stored line items ("" when none).
async fn total(store: &Store, ws: WorkspaceId, id: IntegrationId) -> String {
    let mut scope = store.scoped(ws).await.unwrap();
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT sum(line_items)::bigint FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(ws.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(scope.tx())
    .await
    .unwrap();
    sum.map(|d| d.to_string()).unwrap_or_default()
}

/// Everything else an integration accumulates: accounts, schedules, finished and queued jobs,
/// a notice, a backfill record, inventoried resources with an account's last inventory and a
/// resource's daily cost.
async fn accumulate(store: &Store, ws: WorkspaceId, id: IntegrationId) {
    let w = ws.as_uuid();
    let i = id.as_uuid();
    let mut scope = store.scoped(ws).await.unwrap();
    let now = chrono::Utc::now();
    let run = resources::AccountInventory {
        account_id: "111122223333".into(),
        status: costline_domain::InventoryStatus::Partial,
        started_at: now,
        finished_at: now,
        regions: vec!["us-east-1".into()],
        resources: 1,
        issues: vec![resources::InventoryIssue {
            region: Some("us-east-1".into()),
            resource_type: Some(costline_domain::ResourceType::RdsDb),
            action: "rds:DescribeDBInstances".into(),
            code: "aws_access_denied".into(),
            message: "denied".into(),
        }],
        error: None,
    };
    let seen = resources::SeenResource {
        resource_type: costline_domain::ResourceType::Ec2Instance,
        resource_id: "i-0abc".into(),
        arn: "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc".into(),
        region: "us-east-1".into(),
        name: "web".into(),
        tags: BTreeMap::from([("Team".to_string(), "web".to_string())]),
        state: Some("running".into()),
        rate: Default::default(),
    };
    assert!(
        resources::record_inventory(&mut scope, id, &run, &[seen], &[])
            .await
            .unwrap()
    );
    sqlx::query("INSERT INTO cur_daily_resource_costs (workspace_id, integration_id, billing_period, usage_account_id, resource_id, day, currency, unblended, net_unblended, amortized, line_items)
                 VALUES ($1, $2, '2024-08-01', '111122223333', 'i-0abc', '2024-08-02', 'USD', 1.5, 1.5, 1.5, 2)")
        .bind(w).bind(i).execute(scope.tx()).await.unwrap();
    let sys = scope.tx();
    sqlx::query("INSERT INTO aws_accounts (workspace_id, integration_id, account_id, name) VALUES ($1, $2, '210987654321', 'mgmt'), ($1, $2, '111122223333', 'member')")
        .bind(w).bind(i).execute(&mut *sys).await.unwrap();
    sqlx::query("INSERT INTO schedules (workspace_id, integration_id, kind, every_seconds, next_run_at) VALUES ($1, $2, 'poll_cur', 3600, now())")
        .bind(w).bind(i).execute(&mut *sys).await.unwrap();
    let finished = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO jobs (workspace_id, job_id, kind, integration_id, billing_period, payload, status, max_attempts, run_at, progress, finished_at)
                 VALUES ($1, $3, 'ingest_period', $2, '2024-08', jsonb_build_object('integration', $2::text), 'succeeded', 3, now(), '{\"rows\": 5}', now())")
        .bind(w).bind(i).bind(finished).execute(&mut *sys).await.unwrap();
    sqlx::query("INSERT INTO jobs (workspace_id, job_id, kind, integration_id, payload, max_attempts, run_at)
                 VALUES ($1, $3, 'discover_accounts', $2, '{}', 3, now() + interval '1 hour')")
        .bind(w).bind(i).bind(uuid::Uuid::now_v7()).execute(&mut *sys).await.unwrap();
    // A job that names the integration only in its payload (a notification e-mail).
    sqlx::query("INSERT INTO jobs (workspace_id, job_id, kind, payload, max_attempts, run_at)
                 VALUES ($1, $3, 'notify', jsonb_build_object('integration_id', $2::text), 3, now() + interval '1 hour')")
        .bind(w).bind(i).bind(uuid::Uuid::now_v7()).execute(&mut *sys).await.unwrap();
    sqlx::query("INSERT INTO notifications (workspace_id, notification_id, kind, integration_id, message) VALUES ($1, $3, 'backfill_done', $2, 'Backfill finished')")
        .bind(w).bind(i).bind(uuid::Uuid::now_v7()).execute(&mut *sys).await.unwrap();
    sqlx::query("INSERT INTO cur_sources (workspace_id, integration_id, status) VALUES ($1, $2, 'delivered') ON CONFLICT DO NOTHING")
        .bind(w).bind(i).execute(&mut *sys).await.unwrap();
    sqlx::query("INSERT INTO backfills (workspace_id, backfill_id, integration_id, requested_by, periods, job_ids) VALUES ($1, $3, $2, 'support@costline.test', '{2024-08}', ARRAY[$4::uuid])")
        .bind(w).bind(i).bind(uuid::Uuid::now_v7()).bind(finished).execute(&mut *sys).await.unwrap();
    scope.commit().await.unwrap();
}

/// Every row of every table (all schemas but the system ones, partitions included), as text,
/// by table: the catalog decides what is scanned.
async fn snapshot(admin: &sqlx::PgPool) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
          ORDER BY 1",
    )
    .fetch_all(admin)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
            .fetch_all(admin)
            .await
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// The saved reports of a workspace.
async fn reports_of(store: &Store, ws: WorkspaceId) -> i64 {
    let mut scope = store.scoped(ws).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM cost_reports WHERE workspace_id = $1")
        .bind(ws.as_uuid())
        .fetch_one(scope.tx())
        .await
        .unwrap()
}

/// Rows (and table names) that mention `needle`, outside the tombstone and the audit log.
fn mentions(snapshot: &BTreeMap<String, Vec<String>>, needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (table, rows) in snapshot {
        if needles.iter().any(|n| table.contains(n.as_str())) {
            found.push(format!("table {table}"));
        }
        if table == "integrations" || table == "audit_events" {
            continue;
        }
        for row in rows {
            if needles.iter().any(|n| row.contains(n.as_str())) {
                found.push(format!("{table}: {row}"));
            }
        }
    }
    found
}

fn without(
    snapshot: &BTreeMap<String, Vec<String>>,
    needles: &[String],
) -> BTreeMap<String, Vec<String>> {
    snapshot
        .iter()
        .filter(|(t, _)| !needles.iter().any(|n| t.contains(n.as_str())))
        .map(|(t, rows)| {
            (
                t.clone(),
                rows.iter()
                    .filter(|r| !needles.iter().any(|n| r.contains(n.as_str())))
                    .cloned()
                    .collect(),
            )
        })
        .collect()
}

/// Fails with the rows that differ (not the whole database).
fn assert_same(expected: &BTreeMap<String, Vec<String>>, got: &BTreeMap<String, Vec<String>>) {
    let mut diff = Vec::new();
    for table in expected.keys().chain(got.keys()) {
        let (e, g) = (&expected.get(table), &got.get(table));
        let (e, g) = (
            e.cloned().unwrap_or_default(),
            g.cloned().unwrap_or_default(),
        );
        for row in e.iter().filter(|r| !g.contains(r)) {
            diff.push(format!("- {table}: {row}"));
        }
        for row in g.iter().filter(|r| !e.contains(r)) {
            diff.push(format!("+ {table}: {row}"));
        }
    }
    diff.dedup();
    assert!(
        diff.is_empty(),
        "rows of others changed:\n{}",
        diff.join("\n")
    );
}

fn needles(id: IntegrationId, external_id: &str) -> Vec<String> {
    vec![
        id.to_string(),
        id.as_uuid().simple().to_string(),
        external_id.to_string(),
    ]
}

#[tokio::test]
async fn revocation_leaves_only_the_tombstone_and_the_audit_log_and_touches_nothing_else() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Other", "owner@other.test").await;
    let acme_ws: WorkspaceId = acme.workspace_id.parse().unwrap();
    let other_ws: WorkspaceId = other.workspace_id.parse().unwrap();
    let store = &app.db.store;

    let (doomed, doomed_ext) = integration(&app, &acme).await;
    let (sibling, _) = integration(&app, &acme).await;
    let (foreign, _) = integration(&app, &other).await;
    for (ws, id) in [(acme_ws, doomed), (acme_ws, sibling), (other_ws, foreign)] {
        load_period(store, ws, id, "2024-08", 2_000).await;
        load_period(store, ws, id, "2024-09", 1_500).await;
        accumulate(store, ws, id).await;
    }
    let sibling_total = total(store, acme_ws, sibling).await;
    let foreign_total = total(store, other_ws, foreign).await;
    // A staging table of an ingest still loading (not yet attached).
    let period: BillingPeriod = "2024-10".parse().unwrap();
    let staging = cur::create_staging(store, acme_ws, doomed, period, "asm-loading")
        .await
        .unwrap();
    fill_staging(store, &staging, 100).await;

    let needles = needles(doomed, &doomed_ext);
    let before = snapshot(app.db.admin()).await;
    assert!(
        mentions(&before, &needles).len() > 10,
        "the fixture holds the integration's rows"
    );

    let started = std::time::Instant::now();
    let (status, body) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{doomed}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["id"], doomed.to_string());
    eprintln!("revocation answered in {:?}", started.elapsed());

    let after = snapshot(app.db.admin()).await;
    let left = mentions(&after, &needles);
    assert!(
        left.is_empty(),
        "rows of the revoked integration remain:\n{}",
        left.join("\n")
    );

    // Everything else is as it was, to the row; the only new rows are the audit event and the
    // anonymous stubs of the jobs that were pending.
    let mut expected = without(&before, &needles);
    let mut got = without(&after, &needles);
    let new_audit: Vec<String> = got["audit_events"]
        .iter()
        .filter(|r| !expected["audit_events"].contains(r))
        .cloned()
        .collect();
    assert!(
        new_audit.is_empty(),
        "audit rows without the id: {new_audit:?}"
    );
    let stubs: Vec<String> = got["jobs"]
        .iter()
        .filter(|r| !expected["jobs"].contains(r))
        .cloned()
        .collect();
    let pending = before["jobs"]
        .iter()
        .filter(|r| needles.iter().any(|n| r.contains(n.as_str())))
        .filter(|r| r.contains(",queued,") || r.contains(",running,"))
        .count();
    assert_eq!(
        pending, 3,
        "verify (from connect), discovery and a notify job"
    );
    assert_eq!(
        stubs.len(),
        pending,
        "the pending jobs became stubs: {stubs:#?}"
    );
    assert!(stubs.iter().all(|r| r.contains("cancelled")), "{stubs:#?}");
    // Jobs are compared above; a token's `last_used_at` moves with every request.
    for t in ["jobs", "api_tokens"] {
        expected.remove(t);
        got.remove(t);
    }
    // The sibling reports the same accounts and periods: they were counted from the doomed
    // integration (connected first), and are counted from the sibling now. That flag is the one
    // change to the others' rows.
    let counted = |rows: &mut BTreeMap<String, Vec<String>>| {
        let table = rows
            .get_mut("cur_period_accounts")
            .expect("the table exists");
        let flags: Vec<char> = table
            .iter()
            .map(|r| r.chars().rev().nth(1).expect("a row ends with its flag"))
            .collect();
        for r in table.iter_mut() {
            r.truncate(r.len() - 3);
        }
        flags
    };
    let flags_before = counted(&mut expected);
    let flags_after = counted(&mut got);
    assert!(
        !flags_before.is_empty() && flags_before.iter().filter(|f| **f == 'f').count() > 0,
        "the sibling's accounts were counted from the doomed integration: {flags_before:?}"
    );
    assert!(
        flags_after.iter().all(|f| *f == 't'),
        "every remaining account and period is counted once: {flags_after:?}"
    );
    assert_same(&expected, &got);
    assert_eq!(total(store, acme_ws, sibling).await, sibling_total);
    assert_eq!(total(store, other_ws, foreign).await, foreign_total);

    // The tombstone and the audit event.
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/integrations/aws/{doomed}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
    assert!(body["role_arn"].is_null() && body["external_id"].is_null());
    assert_eq!(body["accounts"], json!([]));
    let (_, audit) = app
        .call("GET", "/api/v1/audit-events", Some(&acme.token), None)
        .await;
    let revoked = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "integration.revoked")
        .expect("an integration.revoked event");
    assert_eq!(revoked["target"], format!("integration:{doomed}"));
    assert_eq!(revoked["actor"], "owner@acme.test");

    // Revoking again answers the same; connecting again is refused (a new integration is needed).
    let (status, _) = app
        .call(
            "DELETE",
            &format!("/api/v1/integrations/aws/{doomed}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/v1/integrations/aws/{doomed}/connect"),
            Some(&acme.token),
            Some(json!({"role_arn": ROLE})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn only_admins_of_the_workspace_may_revoke() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let other = app.create_workspace("Other", "owner@other.test").await;
    let member = app
        .add_member(&acme, "member@acme.test", Role::Member)
        .await;
    let admin = app.add_member(&acme, "admin@acme.test", Role::Admin).await;
    let (id, _) = integration(&app, &acme).await;
    let path = format!("/api/v1/integrations/aws/{id}");

    let (status, body) = app.call("DELETE", &path, None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, body) = app.call("DELETE", &path, Some(&member), None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = app.call("DELETE", &path, Some(&other.token), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/integrations/aws/not-a-uuid",
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    // Nothing happened so far.
    let (_, body) = app.call("GET", &path, Some(&acme.token), None).await;
    assert_eq!(body["status"], "verifying");

    let (status, body) = app.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
}

/// An ingest handler that loads a staging table, then waits at the given point until told to
/// go on, then tries to finish (swap) without checking for cancellation: the worst case.
struct BlockingIngest {
    hold_before_swap: bool,
    reached: Arc<Notify>,
    go_on: Arc<Notify>,
    outcome: Arc<tokio::sync::Mutex<Option<String>>>,
}

// `JobHandler` is an `async_trait`; written out by hand to spare the dependency.
impl JobHandler for BlockingIngest {
    fn run<'a, 'b, 'f>(
        &'a self,
        job: &'b JobContext,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), JobError>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(self.ingest(job))
    }
}

impl BlockingIngest {
    async fn ingest(&self, job: &JobContext) -> Result<(), JobError> {
        let store = job.store();
        let ws = job.workspace_id();
        let id = job.integration_id().unwrap();
        let period = job.billing_period().unwrap();
        let assembly = "asm-new";
        let mut scope = store.scoped(ws).await?;
        cur::begin_period(
            &mut scope,
            id,
            period,
            &AssemblyInfo {
                assembly_id: assembly,
                format: "legacy_csv",
                files: 1,
                bytes: 10,
            },
            job.now(),
        )
        .await?;
        scope.commit().await?;
        let staging = cur::create_staging(store, ws, id, period, assembly).await?;
        fill_staging(store, &staging, 500).await;
        let files = [FileRecord {
            key: "k".into(),
            file_no: 1,
            bytes: 10,
            rows: 500,
        }];
        let result = if self.hold_before_swap {
            self.reached.notify_one();
            self.go_on.notified().await;
            cur::swap_period(
                store,
                &staging,
                &files,
                &PeriodRollups::FromTable,
                job.now(),
            )
            .await
            .map(|o| format!("swapped {}", o.rows))
        } else {
            // The swap is prepared (locks held, not committed) when the revocation comes.
            let pending = cur::prepare_swap(
                store,
                &staging,
                &files,
                &PeriodRollups::FromTable,
                job.now(),
            )
            .await?;
            self.reached.notify_one();
            self.go_on.notified().await;
            pending
                .commit()
                .await
                .map(|o| format!("swapped {}", o.rows))
        };
        *self.outcome.lock().await = Some(format!("{result:?}"));
        result.map(|_| ()).map_err(JobError::from)
    }
}

async fn race(hold_before_swap: bool) {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme", "owner@acme.test").await;
    let ws: WorkspaceId = acme.workspace_id.parse().unwrap();
    let store = app.db.store.clone();
    let (id, external_id) = integration(&app, &acme).await;
    load_period(&store, ws, id, "2024-08", 1_000).await;

    let reached = Arc::new(Notify::new());
    let go_on = Arc::new(Notify::new());
    let outcome = Arc::new(tokio::sync::Mutex::new(None));
    let config = PoolConfig {
        poll_interval: Duration::from_millis(50),
        heartbeat_interval: Duration::from_millis(200),
        lease: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(1),
        ..Default::default()
    };
    let pool = WorkerPool::builder(store.clone(), config)
        .register(
            JobKind::INGEST_PERIOD,
            BlockingIngest {
                hold_before_swap,
                reached: reached.clone(),
                go_on: go_on.clone(),
                outcome: outcome.clone(),
            },
        )
        .build()
        .unwrap();
    let mut scope = store.scoped(ws).await.unwrap();
    let job = costline_store::jobs::enqueue(
        &mut scope,
        &costline_store::jobs::NewJob::new("ingest_period")
            .integration(id)
            .period("2024-08".parse().unwrap()),
        chrono::Utc::now(),
    )
    .await
    .unwrap()
    .job_id();
    scope.commit().await.unwrap();
    assert_eq!(pool.run_once().await.unwrap().claimed, 1);
    tokio::time::timeout(Duration::from_secs(20), reached.notified())
        .await
        .expect("the ingest reached its swap");

    // Revoke while the ingest runs. When the swap is already prepared, the revocation waits
    // for it (row locks), so let the ingest go on meanwhile.
    let revoke = {
        let base = app.base_url.clone();
        let token = acme.token.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .delete(format!("{base}/api/v1/integrations/aws/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    if hold_before_swap {
        let status = revoke.await.unwrap();
        assert_eq!(status, 200);
        go_on.notify_one();
    } else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        go_on.notify_one();
        assert_eq!(revoke.await.unwrap(), 200);
    }
    pool.wait_idle().await;
    eprintln!("ingest ended with {:?}", outcome.lock().await);

    let (status, body) = app
        .call(
            "GET",
            &format!("/api/v1/jobs/{job}"),
            Some(&acme.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    let after = snapshot(app.db.admin()).await;
    let left = mentions(&after, &needles(id, &external_id));
    assert!(
        left.is_empty(),
        "the ingest left rows behind:\n{}",
        left.join("\n")
    );
    assert_eq!(total(&store, ws, id).await, "");
}

#[tokio::test]
async fn an_ingest_loading_when_the_integration_is_revoked_writes_nothing_after() {
    race(true).await;
}

#[tokio::test]
async fn an_ingest_swapping_when_the_integration_is_revoked_is_deleted_with_it() {
    race(false).await;
}

#[tokio::test]
async fn the_owner_deletes_the_workspace_with_its_name_and_everything_of_it_goes() {
    let app = spawn_app().await;
    let acme = app.create_workspace("Acme Corp", "owner@acme.test").await;
    let other = app.create_workspace("Other", "owner@other.test").await;
    let acme_ws: WorkspaceId = acme.workspace_id.parse().unwrap();
    let other_ws: WorkspaceId = other.workspace_id.parse().unwrap();
    let store = &app.db.store;
    let admin = app.add_member(&acme, "admin@acme.test", Role::Admin).await;
    // A user in both workspaces stays (in the other one); support users are never deleted.
    let shared = app
        .add_member(&acme, "shared@both.test", Role::Member)
        .await;
    let shared_id: uuid::Uuid =
        sqlx::query_scalar("SELECT user_id FROM users WHERE email = 'shared@both.test'")
            .fetch_one(app.db.admin())
            .await
            .unwrap();
    sqlx::query("INSERT INTO memberships (workspace_id, user_id, role) VALUES ($1, $2, 'member')")
        .bind(other_ws.as_uuid())
        .bind(shared_id)
        .execute(app.db.admin())
        .await
        .unwrap();
    let (a, _) = integration(&app, &acme).await;
    let (b, _) = integration(&app, &acme).await;
    let (o, _) = integration(&app, &other).await;
    for (ws, id) in [(acme_ws, a), (acme_ws, b), (other_ws, o)] {
        load_period(store, ws, id, "2024-09", 300).await;
        accumulate(store, ws, id).await;
    }
    let other_total = total(store, other_ws, o).await;
    // Saved reports go with the workspace; the other workspace's stays.
    for (ws, name) in [(&acme, "EC2"), (&acme, "Everything"), (&other, "Other's")] {
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/reports",
                Some(&ws.token),
                Some(json!({"name": name, "filters": ["service:AmazonEC2"], "range": {"relative": "last_month"}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(reports_of(store, acme_ws).await, 2);
    let before = snapshot(app.db.admin()).await;

    // Only the owner, and only with the exact name.
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/workspace",
            Some(&admin),
            Some(json!({"confirm": "Acme Corp"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/workspace",
            None,
            Some(json!({"confirm": "Acme Corp"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/workspace",
            Some(&acme.token),
            Some(json!({"confirm": "acme corp"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "confirmation_mismatch");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Acme Corp"));
    let (status, body) = app
        .call("DELETE", "/api/v1/workspace", Some(&acme.token), None)
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = app
        .call(
            "DELETE",
            "/api/v1/workspace",
            Some(&acme.token),
            Some(json!({"confirm": "Acme Corp"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deleted");
    assert_eq!(
        body["deleted_users"], 2,
        "owner and admin; not the shared user"
    );

    // Tokens end at once.
    for token in [&acme.token, &admin, &shared] {
        let (status, _) = app
            .call("GET", "/api/v1/integrations/aws", Some(token), None)
            .await;
        assert_eq!(status, 401);
    }
    let after = snapshot(app.db.admin()).await;
    let mut needles = vec![acme_ws.to_string()];
    for id in [a, b] {
        needles.push(id.to_string());
        needles.push(id.as_uuid().simple().to_string());
    }
    let mut left = Vec::new();
    for (table, rows) in &after {
        if needles.iter().any(|n| table.contains(n.as_str())) {
            left.push(format!("table {table}"));
        }
        for row in rows {
            if needles.iter().any(|n| row.contains(n.as_str())) {
                left.push(format!("{table}: {row}"));
            }
        }
    }
    assert!(left.is_empty(), "rows remain:\n{}", left.join("\n"));
    assert_eq!(reports_of(store, acme_ws).await, 0);
    assert_eq!(reports_of(store, other_ws).await, 1);
    let users: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(app.db.admin())
        .await
        .unwrap();
    assert_eq!(users, vec!["owner@other.test", "shared@both.test"]);
    // The other workspace is untouched to the row (the shared user's membership included).
    let mut expected = without(&before, &needles);
    let mut got = without(&after, &needles);
    for t in ["users", "memberships", "tower_sessions.session"] {
        expected.remove(t);
        got.remove(t);
    }
    got.remove("api_tokens");
    expected.remove("api_tokens");
    assert_same(&expected, &got);
    assert_eq!(total(store, other_ws, o).await, other_total);
    let (status, _) = app
        .call("GET", "/api/v1/integrations/aws", Some(&other.token), None)
        .await;
    assert_eq!(status, 200);
}
