//! The second isolation layer: PostgreSQL row-level security on every tenant table.

use costline_domain::WorkspaceId;
use costline_testkit::spawn_app;

#[tokio::test]
async fn a_query_that_forgets_the_workspace_filter_still_sees_one_tenant() {
    let app = spawn_app().await;
    let a = app.create_workspace("Acme", "owner@acme.test").await;
    let b = app.create_workspace("Globex", "owner@globex.test").await;
    let a_id: WorkspaceId = a.workspace_id.parse().unwrap();
    let mut scope = app.db.store.scoped(a_id).await.unwrap();
    for table in ["workspaces", "memberships", "api_tokens", "audit_events"] {
        // Deliberately no WHERE clause: only RLS stands between A and B here.
        let ids: Vec<uuid::Uuid> =
            sqlx::query_scalar(&format!("SELECT DISTINCT workspace_id FROM {table}"))
                .fetch_all(scope.tx())
                .await
                .unwrap();
        assert_eq!(
            ids,
            vec![a_id.as_uuid()],
            "{table} leaks another workspace (B is {})",
            b.workspace_id
        );
    }
    // Writing into another workspace is refused too.
    let err = sqlx::query("INSERT INTO audit_events (workspace_id, event_id, actor, actor_kind, action, target) VALUES ($1, gen_random_uuid(), 'x', 'user', 'x', 'x')")
        .bind(b.workspace_id.parse::<uuid::Uuid>().unwrap())
        .execute(scope.tx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[tokio::test]
async fn the_application_role_neither_owns_tables_nor_bypasses_rls() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme", "owner@acme.test").await;
    let mut scope = app
        .db
        .store
        .scoped(ws.workspace_id.parse().unwrap())
        .await
        .unwrap();
    let (user, superuser, bypass): (String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(scope.tx())
    .await
    .unwrap();
    assert_eq!(user, "costline_app");
    assert!(!superuser && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user",
    )
    .fetch_one(scope.tx())
    .await
    .unwrap();
    assert_eq!(owned, 0);
}

/// Derived from the catalog, so a tenant table added later is covered without editing this test.
#[tokio::test]
async fn every_tenant_table_has_rls_and_leads_its_key_with_workspace_id() {
    let app = spawn_app().await;
    let tables: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity,
                (SELECT a.attname::text FROM pg_index i JOIN pg_attribute a
                   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                  WHERE i.indrelid = c.oid AND i.indisprimary)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id')",
    )
    .fetch_all(app.db.store.system())
    .await
    .unwrap();
    assert!(tables.len() >= 5, "{tables:?}");
    for (table, rls, first_key_column) in tables {
        assert!(rls, "{table} has no row-level security");
        assert_eq!(
            first_key_column.as_deref(),
            Some("workspace_id"),
            "{table}'s primary key must start with workspace_id"
        );
        let policies: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_policies WHERE tablename = $1")
                .bind(&table)
                .fetch_one(app.db.store.system())
                .await
                .unwrap();
        assert!(policies > 0, "{table} has RLS but no policy");
    }
}
