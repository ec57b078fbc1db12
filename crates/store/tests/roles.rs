//! The database roles (docs/adr/0015-database-roles.md): how each kind of owner login migrates,
//! and a database left by an earlier version.

use costline_store::{DbLogins, Store, StoreError, MIGRATOR, ROLES_SQL};
use costline_testkit::{fresh_store, TestDb};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::borrow::Cow;

/// An empty database beside the test's, and superuser options for it.
async fn empty_database(db: &TestDb) -> PgConnectOptions {
    let name = format!("roles_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(db.admin())
        .await
        .unwrap();
    db.connect_options().database(&name)
}

/// Relations of Costline's schemas not owned by costline_owner, and tables with workspace data
/// whose row-level security is not forced.
async fn misowned_and_unforced(conn: &mut PgConnection) -> (Vec<String>, Vec<String>) {
    let misowned = sqlx::query_scalar(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'cur_parts', 'tower_sessions')
            AND c.relowner <> 'costline_owner'::regrole ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let unforced = sqlx::query_scalar(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'cur_parts') AND c.relkind IN ('r', 'p')
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id')
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (misowned, unforced)
}

#[tokio::test]
async fn a_database_migrated_by_an_earlier_version_moves_to_the_owner_under_forced_rls() {
    let db = fresh_store().await;
    let options = empty_database(&db).await;
    // What an earlier version left: migrations up to 0023 applied by the superuser it logged in
    // as, the session table its session store created, a line item partition.
    let mut conn = options.connect().await.unwrap();
    let earlier = Migrator {
        migrations: Cow::Owned(
            MIGRATOR
                .iter()
                .filter(|m| m.version < 24)
                .cloned()
                .collect(),
        ),
        ..Migrator::DEFAULT
    };
    earlier.run(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "CREATE SCHEMA tower_sessions;
         CREATE TABLE tower_sessions.session (id text PRIMARY KEY NOT NULL, data bytea NOT NULL,
                                              expiry_date timestamptz NOT NULL);
         CREATE TABLE cur_parts.li_0190f0a12b3c7d4e8f90a1b2c3d4e5f6 PARTITION OF cur_line_item_chunks
             FOR VALUES IN ('0190f0a1-2b3c-7d4e-8f90-a1b2c3d4e5f6') PARTITION BY LIST (billing_period);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (misowned, _) = misowned_and_unforced(&mut conn).await;
    assert!(misowned.len() > 20, "the earlier layout: {misowned:?}");

    let store = Store::connect(options.clone(), 2);
    store.migrate().await.unwrap();
    store.close().await;
    let (misowned, unforced) = misowned_and_unforced(&mut conn).await;
    assert!(
        misowned.is_empty(),
        "not moved to costline_owner: {misowned:?}"
    );
    assert!(unforced.is_empty(), "RLS not forced: {unforced:?}");
    let latest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(latest, MIGRATOR.iter().map(|m| m.version).max().unwrap());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_dba_runs_the_roles_script_and_costline_migrates_as_the_owner_login() {
    let db = fresh_store().await;
    let options = empty_database(&db).await;
    // The self-hosted layout: roles.sql by a superuser, then the owner's own login.
    let mut conn = options.connect().await.unwrap();
    sqlx::raw_sql(ROLES_SQL).execute(&mut conn).await.unwrap();
    let store = Store::connect(options.clone().username("costline_owner"), 2);
    store.migrate().await.unwrap();
    assert!(store.is_ready().await);
    store.close().await;
    let (misowned, unforced) = misowned_and_unforced(&mut conn).await;
    assert!(misowned.is_empty(), "{misowned:?}");
    assert!(unforced.is_empty(), "{unforced:?}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_login_that_is_neither_the_owner_nor_a_superuser_is_refused_with_the_fix() {
    let db = fresh_store().await;
    let store = Store::connect(db.connect_options().username("costline_app"), 2);
    match store.migrate().await {
        Err(StoreError::Roles(message)) => {
            assert!(message.contains("logs in as costline_app"), "{message}");
            assert!(message.contains("crates/store/roles.sql"), "{message}");
            assert!(message.contains("costline_owner"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_superuser_login_gives_the_derived_logins_its_password_as_a_verifier_only() {
    let db = fresh_store().await;
    let password = "s3cret-Pa55";
    let logins = DbLogins::derived(db.connect_options(), Some(password.to_string()));
    assert_eq!(logins.app.get_username(), "costline_app");
    assert_eq!(logins.system.get_username(), "costline_system");
    let store = Store::connect_with(logins, 2);
    store.migrate().await.unwrap();
    store.close().await;
    let stored: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT rolname::text, rolpassword FROM pg_authid
          WHERE rolname IN ('costline_app', 'costline_system') ORDER BY 1",
    )
    .fetch_all(db.admin())
    .await
    .unwrap();
    assert_eq!(stored.len(), 2);
    for (role, verifier) in stored {
        let verifier = verifier.unwrap_or_default();
        assert!(
            verifier.starts_with("SCRAM-SHA-256$4096:"),
            "{role}: {verifier}"
        );
        assert!(!verifier.contains(password), "{role}");
    }
}
