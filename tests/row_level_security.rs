//! The second isolation layer: PostgreSQL roles and forced row-level security on every table
//! that holds workspace or user data (docs/adr/0015-database-roles.md).
//!
//! The tables are read from the catalog, so a table, a partition or a policy added later is
//! covered without editing these tests.

use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::jobs::{self, NewJob};
use costline_testkit::{load_costs, spawn_app, TestApp, TestCost, TestWorkspace};
use rust_decimal::Decimal;
use sqlx::Row;
use uuid::Uuid;

/// Tables of user data without a workspace_id: they must be under forced RLS too.
const USER_TABLES: &[&str] = &[
    "public.users",
    "public.support_tokens",
    "tower_sessions.session",
];

/// Every table (partitions included) that holds a workspace_id or is user data, outside the
/// system schemas: `(schema.table, RLS enabled, forced, policies, has workspace_id)`.
async fn protected_tables(app: &TestApp) -> Vec<(String, bool, bool, i64, bool)> {
    sqlx::query_as(
        "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid),
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'workspace_id' AND NOT a.attisdropped)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
            AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                           AND a.attname = 'workspace_id' AND NOT a.attisdropped)
                 OR n.nspname || '.' || c.relname = ANY($1))
          ORDER BY 1",
    )
    .bind(USER_TABLES)
    .fetch_all(app.db.admin())
    .await
    .unwrap()
}

/// A workspace with an integration whose March 2024 costs are ingested (partitions, periods,
/// files, rollups), a tag key, a job and a notice: rows in most tenant tables.
async fn workspace_with_data(
    app: &TestApp,
    name: &str,
) -> (TestWorkspace, WorkspaceId, IntegrationId) {
    let ws = app
        .create_workspace(name, &format!("owner@{}.test", name.to_lowercase()))
        .await;
    let created = app.create_integration(&ws.token).await;
    let wid: WorkspaceId = ws.workspace_id.parse().unwrap();
    let int: IntegrationId = created["id"].as_str().unwrap().parse().unwrap();
    let period: BillingPeriod = "2024-03".parse().unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2024, 3, 4).unwrap();
    let costs = [TestCost {
        day,
        account: "111111111111",
        service: "AmazonEC2",
        region: "us-east-1",
        cost: Decimal::new(1234, 2),
    }];
    load_costs(&app.db.store, wid, int, period, "asm-1", &costs).await;
    let mut scope = app.db.store.scoped(wid).await.unwrap();
    sqlx::query("INSERT INTO workspace_tag_keys (workspace_id, tag_key) VALUES ($1, 'Team')")
        .bind(wid.as_uuid())
        .execute(scope.tx())
        .await
        .unwrap();
    sqlx::query("INSERT INTO notifications (workspace_id, notification_id, kind, message) VALUES ($1, gen_random_uuid(), 'test', 'hello')")
        .bind(wid.as_uuid())
        .execute(scope.tx())
        .await
        .unwrap();
    jobs::enqueue(&mut scope, &NewJob::new("test.noop"), chrono::Utc::now())
        .await
        .unwrap();
    scope.commit().await.unwrap();
    (ws, wid, int)
}

#[tokio::test]
async fn a_query_that_forgets_the_workspace_filter_sees_one_tenant_in_every_table() {
    let app = spawn_app().await;
    let (_, a, _) = workspace_with_data(&app, "Acme").await;
    let (_, b, _) = workspace_with_data(&app, "Globex").await;
    let tables: Vec<String> = protected_tables(&app)
        .await
        .into_iter()
        .filter(|t| t.4 && !t.0.starts_with("cur_parts."))
        .map(|t| t.0)
        .collect();
    let mut with_b_rows = 0;
    for table in &tables {
        let b_rows: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE workspace_id = $1"
        ))
        .bind(b.as_uuid())
        .fetch_one(app.db.admin())
        .await
        .unwrap();
        with_b_rows += usize::from(b_rows > 0);
        // An append-only table (the platform's support log) is not the app's to read at all.
        let readable: bool =
            sqlx::query_scalar("SELECT has_table_privilege('costline_app', $1, 'SELECT')")
                .bind(table)
                .fetch_one(app.db.admin())
                .await
                .unwrap();
        if !readable {
            continue;
        }
        let mut scope = app.db.store.scoped(a).await.unwrap();
        // Deliberately no WHERE clause: only RLS stands between A and B here.
        let seen: Vec<Uuid> =
            sqlx::query_scalar(&format!("SELECT DISTINCT workspace_id FROM {table}"))
                .fetch_all(scope.tx())
                .await
                .unwrap();
        assert!(
            seen.iter().all(|w| *w == a.as_uuid()),
            "{table} shows another workspace to A: {seen:?}"
        );
        // Writing another workspace's rows is refused as well.
        let moved = sqlx::query(&format!(
            "UPDATE {table} SET workspace_id = workspace_id WHERE workspace_id = $1"
        ))
        .bind(b.as_uuid())
        .execute(scope.tx())
        .await;
        if let Ok(done) = moved {
            assert_eq!(done.rows_affected(), 0, "{table}: A updated B's rows");
        }
    }
    // The data set reaches most tenant tables, so the loop above proves something for them.
    assert!(
        with_b_rows >= 14,
        "only {with_b_rows} of {} tables have rows of B: {tables:?}",
        tables.len()
    );
    let mut scope = app.db.store.scoped(a).await.unwrap();
    let err = sqlx::query("INSERT INTO audit_events (workspace_id, event_id, actor, actor_kind, action, target) VALUES ($1, gen_random_uuid(), 'x', 'user', 'x', 'x')")
        .bind(b.as_uuid())
        .execute(scope.tx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(scope);
    // Line items through the partitioned table, and each partition of B by its own name (the
    // application role has no privilege there, and RLS is forced on it for the owner).
    let mut scope = app.db.store.scoped(a).await.unwrap();
    let items: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT workspace_id FROM cur_line_item_chunks")
            .fetch_all(scope.tx())
            .await
            .unwrap();
    assert_eq!(items, vec![a.as_uuid()]);
    drop(scope);
    let b_partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'cur_parts' AND c.relkind = 'r'
            AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid
                          AND strpos(pg_get_constraintdef(k.oid), $1) > 0)",
    )
    .bind(b.as_uuid().to_string())
    .fetch_all(app.db.admin())
    .await
    .unwrap();
    assert!(!b_partitions.is_empty());
    for partition in b_partitions {
        let mut scope = app.db.store.scoped(a).await.unwrap();
        let err = sqlx::query(&format!("SELECT count(*) FROM {partition}"))
            .fetch_one(scope.tx())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{partition}: {err}"
        );
    }
}

/// Derived from the catalog, so a tenant table added later is covered without editing this test.
#[tokio::test]
async fn every_table_of_workspace_or_user_data_has_forced_rls_and_a_policy() {
    let app = spawn_app().await;
    // An ingested period, so that the line item partitions exist too.
    workspace_with_data(&app, "Acme").await;
    let tables = protected_tables(&app).await;
    let partitions = tables
        .iter()
        .filter(|t| t.0.starts_with("cur_parts."))
        .count();
    assert!(
        partitions >= 2,
        "an integration's partition and its period's: {tables:?}"
    );
    for user_table in USER_TABLES {
        assert!(
            tables.iter().any(|t| t.0 == *user_table),
            "{user_table} not found"
        );
    }
    assert!(tables.len() >= 25, "{tables:?}");
    for (table, enabled, forced, policies, _) in &tables {
        assert!(*enabled, "{table} has no row-level security");
        assert!(
            *forced,
            "{table}'s row-level security is not forced (its owner bypasses it)"
        );
        assert!(*policies > 0, "{table} has RLS but no policy");
    }
    // workspace_id leads every key of the workspace tables.
    let keys: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.oid::regclass::text,
                (SELECT a.attname::text FROM pg_index i JOIN pg_attribute a
                   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = c.oid AND i.indisprimary)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'cur_parts') AND c.relkind IN ('r', 'p')
            AND c.relname <> 'cur_line_item_chunks' AND NOT c.relispartition
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id')",
    )
    .fetch_all(app.db.admin())
    .await
    .unwrap();
    for (table, first_key_column) in keys {
        assert_eq!(
            first_key_column.as_deref(),
            Some("workspace_id"),
            "{table}'s primary key must start with workspace_id"
        );
    }
    // costline_owner is the only role that owns anything of Costline's.
    let foreign: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, pg_get_userbyid(c.relowner)::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'cur_parts', 'tower_sessions')
            AND c.relowner <> 'costline_owner'::regrole
         UNION ALL
         SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner)::text
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.proowner NOT IN ('costline_owner'::regrole, 'costline_system'::regrole)",
    )
    .fetch_all(app.db.admin())
    .await
    .unwrap();
    assert!(foreign.is_empty(), "owned by another role: {foreign:?}");
}

#[tokio::test]
async fn the_application_login_is_no_superuser_and_reset_role_gives_it_nothing() {
    let app = spawn_app().await;
    let (ws, a, _) = workspace_with_data(&app, "Acme").await;
    let mut scope = app.db.store.scoped(a).await.unwrap();
    let row = sqlx::query(
        "SELECT session_user::text AS session_user, current_user::text AS current_user,
                r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) AS memberships
           FROM pg_roles r WHERE r.rolname = session_user",
    )
    .fetch_one(scope.tx())
    .await
    .unwrap();
    // Logged in as the role: not a superuser that did SET ROLE.
    assert_eq!(row.get::<String, _>("session_user"), "costline_app");
    assert_eq!(row.get::<String, _>("current_user"), "costline_app");
    for attribute in ["rolsuper", "rolbypassrls", "rolcreaterole", "rolcreatedb"] {
        assert!(
            !row.get::<bool, _>(attribute),
            "costline_app has {attribute}"
        );
    }
    assert_eq!(
        row.get::<i64, _>("memberships"),
        0,
        "costline_app is a member of a role"
    );
    sqlx::query("RESET ROLE").execute(scope.tx()).await.unwrap();
    let after: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(scope.tx())
        .await
        .unwrap();
    assert_eq!(after, "costline_app");
    drop(scope);
    for role in ["costline_owner", "costline_system", "postgres", "costline"] {
        let mut scope = app.db.store.scoped(a).await.unwrap();
        let err = sqlx::query(&format!("SET ROLE {role}"))
            .execute(scope.tx())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied")
                || err.to_string().contains("does not exist"),
            "SET ROLE {role}: {err}"
        );
    }

    // Users: the members of the workspace, never a password hash, no escalation.
    let refused = [
        "SELECT password_hash FROM users",
        "SELECT * FROM users",
        "UPDATE users SET is_support = true",
        "UPDATE users SET password_hash = 'x'",
        "DELETE FROM users",
        "INSERT INTO users (user_id, email, is_support) VALUES (gen_random_uuid(), 'x@x.test', true)",
        "SELECT * FROM support_tokens",
        "INSERT INTO support_tokens (token_id, user_id, name, prefix, token_hash) SELECT gen_random_uuid(), user_id, 'x', 'x', 'x' FROM users LIMIT 1",
        "UPDATE support_tokens SET revoked_at = NULL",
        "SELECT * FROM tower_sessions.session",
        "DELETE FROM tower_sessions.session",
    ];
    for statement in refused {
        let mut scope = app.db.store.scoped(a).await.unwrap();
        let err = sqlx::query(statement)
            .execute(scope.tx())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{statement}: {err}"
        );
    }
    let mut scope = app.db.store.scoped(a).await.unwrap();
    let visible: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(scope.tx())
        .await
        .unwrap();
    assert_eq!(
        visible,
        vec!["owner@acme.test".to_string()],
        "{}",
        ws.workspace_id
    );
}

#[tokio::test]
async fn the_system_role_reaches_the_queue_and_the_directory_but_no_tenant_data() {
    let app = spawn_app().await;
    workspace_with_data(&app, "Acme").await;
    workspace_with_data(&app, "Globex").await;
    let system = app.db.store.system();
    let jobs: i64 = sqlx::query_scalar("SELECT count(DISTINCT workspace_id) FROM jobs")
        .fetch_one(system)
        .await
        .unwrap();
    assert_eq!(jobs, 2, "the queue claims across workspaces");
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users LIMIT 1")
        .fetch_one(system)
        .await
        .unwrap();
    assert!(
        hash.is_none(),
        "admin-made owners have no password, but login may read it"
    );
    for table in [
        "cur_daily_costs",
        "cur_line_item_chunks",
        "cur_periods",
        "audit_events",
        "notifications",
        "cost_reports",
        "backfills",
        "workspace_tag_keys",
    ] {
        let err = sqlx::query(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(system)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{table}: {err}"
        );
    }
    let role: (String, bool, bool) = sqlx::query_as(
        "SELECT session_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user",
    )
    .fetch_one(system)
    .await
    .unwrap();
    assert_eq!(role, ("costline_system".to_string(), false, false));
}

#[tokio::test]
async fn the_owners_functions_act_on_the_transactions_workspace_only() {
    let app = spawn_app().await;
    let (_, a, a_int) = workspace_with_data(&app, "Acme").await;
    let (_, b, b_int) = workspace_with_data(&app, "Globex").await;
    let b_table = format!("li_{}_202404_0000beef", b_int.as_uuid().simple());
    let a_table = format!("li_{}_202404_0000beef", a_int.as_uuid().simple());
    let calls = [
        // B's id while the transaction is A's.
        format!("SELECT cur_create_staging('{b}', '{b_int}', '2024-04-01', '{b_table}')"),
        format!("SELECT cur_drop_tables_of('{b}', '{b_int}')"),
        format!("SELECT cur_drop_staging('{b}', '{b_table}')"),
        format!("SELECT * FROM system_ops.end_deleted_workspace('{b}', '{{}}')"),
        // A's id with B's integration.
        format!("SELECT cur_create_staging('{a}', '{b_int}', '2024-04-01', '{b_table}')"),
        format!("SELECT cur_drop_tables_of('{a}', '{b_int}')"),
        format!("SELECT cur_drop_staging('{a}', '{b_table}')"),
        format!("SELECT cur_swap_in('{a}', '{b_int}', '2024-04-01', '{b_table}', NULL)"),
        // A staging name that is not the integration's and period's.
        format!(
            "SELECT cur_create_staging('{a}', '{a_int}', '2024-04-01', 'li_x; DROP TABLE users')"
        ),
        // A's own workspace while it still exists.
        format!("SELECT * FROM system_ops.end_deleted_workspace('{a}', '{{}}')"),
    ];
    for call in calls {
        let mut scope = app.db.store.scoped(a).await.unwrap();
        let err = sqlx::query(&call).execute(scope.tx()).await.unwrap_err();
        let message = err.to_string();
        assert!(
            [
                "not the workspace of this transaction",
                "no live integration",
                "no integration",
                "not a staging table",
                "still exists"
            ]
            .iter()
            .any(|m| message.contains(m)),
            "{call}: {message}"
        );
    }
    // B's partitions are all still there.
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname LIKE $1 AND relkind IN ('r', 'p')",
    )
    .bind(format!("li_{}%", b_int.as_uuid().simple()))
    .fetch_one(app.db.admin())
    .await
    .unwrap();
    assert_eq!(left, 2);

    // A staging table takes rows of its own workspace's transactions only, and nobody but the
    // owner reads it before the swap.
    let mut scope = app.db.store.scoped(a).await.unwrap();
    sqlx::query(&format!(
        "SELECT cur_create_staging('{a}', '{a_int}', '2024-04-01', '{a_table}')"
    ))
    .execute(scope.tx())
    .await
    .unwrap();
    scope.commit().await.unwrap();
    let insert = format!(
        "INSERT INTO cur_parts.{a_table} (chunk_no, line_items, usage_from, usage_to, copy_zstd)
         VALUES (1, 1, now(), now(), '\\x00')"
    );
    let mut scope = app.db.store.scoped(b).await.unwrap();
    let err = sqlx::query(&insert).execute(scope.tx()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot be loaded in a transaction of workspace"),
        "{err}"
    );
    drop(scope);
    let mut scope = app.db.store.scoped(a).await.unwrap();
    let err = sqlx::query(&format!("SELECT * FROM cur_parts.{a_table}"))
        .execute(scope.tx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    drop(scope);
    let mut scope = app.db.store.scoped(a).await.unwrap();
    sqlx::query(&insert).execute(scope.tx()).await.unwrap();
}

#[tokio::test]
async fn a_pooled_connection_never_carries_a_workspace_into_the_next_transaction() {
    let app = spawn_app().await;
    let (_, a, _) = workspace_with_data(&app, "Acme").await;
    let (_, b, _) = workspace_with_data(&app, "Globex").await;
    // One connection per pool: every transaction below runs on the same server session.
    let store = costline_store::Store::connect(app.db.connect_options(), 1);
    let mut first = store.scoped(a).await.unwrap();
    let (pid, setting) = session_of(&mut first).await;
    assert_eq!(setting, Some(a.to_string()));
    first.commit().await.unwrap();

    // A committed scope, a rolled-back one and one dropped mid-way: none leaves A behind.
    let mut rolled_back = store.scoped(a).await.unwrap();
    session_of(&mut rolled_back).await;
    rolled_back.rollback().await.unwrap();
    let mut dropped = store.scoped(a).await.unwrap();
    session_of(&mut dropped).await;
    drop(dropped);

    let mut next = store.scoped(b).await.unwrap();
    let (next_pid, setting) = session_of(&mut next).await;
    assert_eq!(next_pid, pid, "the same pooled connection");
    assert_eq!(setting, Some(b.to_string()));
    let seen: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT workspace_id FROM integrations")
        .fetch_all(next.tx())
        .await
        .unwrap();
    assert_eq!(seen, vec![b.as_uuid()]);
    next.commit().await.unwrap();
    store.close().await;
}

/// The server process of the scope's connection and its workspace setting.
async fn session_of(scope: &mut costline_store::Scoped) -> (i32, Option<String>) {
    sqlx::query_as(
        "SELECT pg_backend_pid(), nullif(current_setting('costline.workspace_id', true), '')",
    )
    .fetch_one(scope.tx())
    .await
    .unwrap()
}

#[tokio::test]
async fn an_external_id_is_set_once_and_only_revocation_clears_it() {
    let app = spawn_app().await;
    let (_, a, a_int) = workspace_with_data(&app, "Acme").await;
    let (_, _, b_int) = workspace_with_data(&app, "Globex").await;
    let b_external: String =
        sqlx::query_scalar("SELECT external_id FROM integrations WHERE integration_id = $1")
            .bind(b_int.as_uuid())
            .fetch_one(app.db.admin())
            .await
            .unwrap();
    for new_value in [b_external.as_str(), "another-external-id"] {
        let mut scope = app.db.store.scoped(a).await.unwrap();
        let err = sqlx::query(
            "UPDATE integrations SET external_id = $2 WHERE workspace_id = $1 AND integration_id = $3",
        )
        .bind(a.as_uuid())
        .bind(new_value)
        .bind(a_int.as_uuid())
        .execute(scope.tx())
        .await
        .unwrap_err();
        assert!(err.to_string().contains("cannot change"), "{err}");
    }
    // Revocation clears it; nothing sets it again.
    let mut scope = app.db.store.scoped(a).await.unwrap();
    sqlx::query(
        "UPDATE integrations SET external_id = NULL, status = 'revoked' WHERE integration_id = $1",
    )
    .bind(a_int.as_uuid())
    .execute(scope.tx())
    .await
    .unwrap();
    let err = sqlx::query(
        "UPDATE integrations SET external_id = 'x', status = 'pending' WHERE integration_id = $1",
    )
    .bind(a_int.as_uuid())
    .execute(scope.tx())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot change"), "{err}");
}
