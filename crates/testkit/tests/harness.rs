//! The harness itself: databases are fresh, migrated and isolated from each other.

use costline_testkit::fresh_store;

#[tokio::test]
async fn each_test_gets_its_own_migrated_database() {
    let a = fresh_store().await;
    let b = fresh_store().await;
    assert_ne!(a.name, b.name);
    assert!(a.store.is_ready().await, "template migrations are applied");
    sqlx::query(
        "INSERT INTO workspaces (workspace_id, name) VALUES (gen_random_uuid(), 'only in a')",
    )
    .execute(a.admin())
    .await
    .unwrap();
    let in_b: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
        .fetch_one(b.admin())
        .await
        .unwrap();
    assert_eq!(in_b, 0);
}
