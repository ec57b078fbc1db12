//! `costline_store::cur` against a fresh database, below the API: what the poll and the ingest
//! write, what a staging table may belong to, what a failed or superseded swap leaves, and the
//! SQL fallback for rollups whose sums leave the worker's range.

use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::audit::Actor;
use costline_store::cur::{self, AssemblyInfo, FileRecord, LineItemCopy};
use costline_store::line_items::{CopyEncoder, NewLineItem};
use costline_store::rollups::{PeriodRollups, RollupBuilder};
use costline_store::workspaces::{self, Owner};
use costline_store::{integrations, revocation, Store, StoreError};
use costline_testkit::{begin_assembly, fill_staging, fresh_store, line_item, rollup_rows};
use rust_decimal::Decimal;

fn march() -> BillingPeriod {
    "2024-03".parse().unwrap()
}

fn at(day: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2024, 3, day)
        .unwrap()
        .and_hms_opt(6, 0, 0)
        .unwrap()
        .and_utc()
}

/// A new workspace and a pending integration of it.
async fn integration(store: &Store) -> (WorkspaceId, IntegrationId) {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let created = workspaces::create_with_owner(store, "Acme", Owner::ByEmail(&email))
        .await
        .unwrap();
    let mut scope = store.scoped(created.workspace_id).await.unwrap();
    let integration = integrations::create(&mut scope, created.owner_id, 50)
        .await
        .unwrap();
    scope.commit().await.unwrap();
    (created.workspace_id, integration.id())
}

fn file(rows: i64) -> Vec<FileRecord> {
    vec![FileRecord {
        key: "cur/r/20240301-20240401/a/r-1.csv.gz".into(),
        file_no: 1,
        bytes: 100,
        rows,
    }]
}

/// Tables of `cur_parts` whose names contain `needle`: (name, attached).
async fn part_tables(store: &Store, needle: &str) -> Vec<(String, bool)> {
    sqlx::query_as(
        "SELECT c.relname::text, c.relispartition FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'cur_parts' AND c.relkind = 'r' AND strpos(c.relname, $1) > 0
          ORDER BY 1",
    )
    .bind(needle)
    .fetch_all(store.system())
    .await
    .unwrap()
}

async fn stored_period(store: &Store, ws: WorkspaceId, int: IntegrationId) -> cur::CurPeriod {
    let mut scope = store.scoped(ws).await.unwrap();
    let p = cur::period(&mut scope, int, march())
        .await
        .unwrap()
        .unwrap();
    scope.commit().await.unwrap();
    p
}

#[tokio::test]
async fn polls_and_ingests_drive_the_integration_status() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let mut scope = db.scoped(ws).await.unwrap();
    assert_eq!(cur::source(&mut scope, int).await.unwrap(), None);

    cur::record_poll(&mut scope, int, false, Some("AccessDenied"), at(1))
        .await
        .unwrap();
    let failed = cur::source(&mut scope, int).await.unwrap().unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.error.as_deref()),
        ("error", Some("AccessDenied"))
    );
    assert_eq!(cur::integration_status(Some(&failed), &[]), "error");

    cur::record_poll(&mut scope, int, true, None, at(2))
        .await
        .unwrap();
    let delivered = cur::source(&mut scope, int).await.unwrap().unwrap();
    assert_eq!(
        (
            delivered.status.as_str(),
            delivered.error.as_deref(),
            delivered.last_polled_at
        ),
        ("delivered", None, Some(at(2)))
    );

    for (period, assembly) in [("2024-02", "asm-feb"), ("2024-03", "asm-mar")] {
        cur::begin_period(
            &mut scope,
            int,
            period.parse().unwrap(),
            &AssemblyInfo {
                assembly_id: assembly,
                format: "legacy_cur_csv_gzip",
                files: 2,
                bytes: 300,
            },
            at(3),
        )
        .await
        .unwrap();
    }
    let periods = cur::periods(&mut scope, int).await.unwrap();
    let listed: Vec<_> = periods
        .iter()
        .map(|p| (p.period().to_string(), p.status.as_str(), p.files, p.bytes))
        .collect();
    assert_eq!(
        listed,
        [
            ("2024-03".to_owned(), cur::PERIOD_INGESTING, 2, 300),
            ("2024-02".to_owned(), cur::PERIOD_INGESTING, 2, 300)
        ],
        "newest first"
    );
    assert_eq!(
        cur::integration_status(Some(&delivered), &periods),
        "ingesting"
    );

    // A failure is recorded only for the assembly the period still expects.
    cur::fail_period(&mut scope, int, march(), "asm-older", "stale", at(4))
        .await
        .unwrap();
    let p = cur::period(&mut scope, int, march())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.status.as_str(), p.error), (cur::PERIOD_INGESTING, None));
    cur::fail_period(
        &mut scope,
        int,
        march(),
        "asm-mar",
        "file x is corrupt",
        at(4),
    )
    .await
    .unwrap();
    let p = cur::period(&mut scope, int, march())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.status.as_str(), p.error.as_deref(), p.live_assembly_id),
        (cur::PERIOD_ERROR, Some("file x is corrupt"), None)
    );

    // The next attempt clears the error.
    cur::begin_period(
        &mut scope,
        int,
        march(),
        &AssemblyInfo {
            assembly_id: "asm-mar-2",
            format: "cur2_parquet",
            files: 1,
            bytes: 10,
        },
        at(5),
    )
    .await
    .unwrap();
    let p = cur::period(&mut scope, int, march())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.status.as_str(),
            p.error,
            p.assembly_id.as_str(),
            p.format.as_str()
        ),
        (cur::PERIOD_INGESTING, None, "asm-mar-2", "cur2_parquet")
    );
    scope.commit().await.unwrap();
}

#[tokio::test]
async fn a_swap_serves_the_files_and_marks_the_first_report() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let staging = begin_assembly(&db, ws, int, march(), "asm-a").await;
    fill_staging(&db, &staging, 30).await;
    let swapped = cur::swap_period(&db, &staging, &file(30), &PeriodRollups::FromTable, at(6))
        .await
        .unwrap();
    assert_eq!((swapped.rows, swapped.first_report), (30, true));

    let mut scope = db.scoped(ws).await.unwrap();
    let files = cur::files(&mut scope, int, march()).await.unwrap();
    assert_eq!(
        files,
        [cur::CurFile {
            file_key: "cur/r/20240301-20240401/a/r-1.csv.gz".into(),
            file_no: 1,
            bytes: 100,
            rows: 30,
        }]
    );
    let source = cur::source(&mut scope, int).await.unwrap().unwrap();
    assert_eq!(source.first_ingested_at, Some(at(6)));
    let periods = cur::periods(&mut scope, int).await.unwrap();
    assert_eq!(cur::integration_status(Some(&source), &periods), "ready");
    assert_eq!(
        cur::line_item_count(&mut scope, int, march())
            .await
            .unwrap(),
        30
    );
    scope.commit().await.unwrap();
    let p = stored_period(&db, ws, int).await;
    assert_eq!(
        (
            p.status.as_str(),
            p.live_assembly_id.as_deref(),
            p.rows,
            p.currency.as_deref(),
            p.line_items_stored
        ),
        (
            cur::PERIOD_READY,
            Some("asm-a"),
            Some(30),
            Some("USD"),
            true
        )
    );

    // A later assembly is not the first report; its files replace the earlier ones.
    let staging = begin_assembly(&db, ws, int, march(), "asm-b").await;
    fill_staging(&db, &staging, 5).await;
    let swapped = cur::swap_period(&db, &staging, &file(5), &PeriodRollups::FromTable, at(7))
        .await
        .unwrap();
    assert_eq!((swapped.rows, swapped.first_report), (5, false));
    let mut scope = db.scoped(ws).await.unwrap();
    assert_eq!(
        cur::files(&mut scope, int, march()).await.unwrap()[0].rows,
        5
    );
    let source = cur::source(&mut scope, int).await.unwrap().unwrap();
    assert_eq!(source.first_ingested_at, Some(at(6)));
    scope.commit().await.unwrap();
}

#[tokio::test]
async fn staging_tables_are_only_for_live_integrations_of_the_workspace() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let (other_ws, _) = integration(&db).await;
    let refused = cur::create_staging(&db, other_ws, int, march(), "asm-a").await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    let integration_table = format!("li_{}", int.as_uuid().simple());
    assert!(part_tables(&db, &integration_table).await.is_empty());

    revocation::revoke_integration(&db, ws, int, &Actor::system())
        .await
        .unwrap();
    let refused = cur::create_staging(&db, ws, int, march(), "asm-a").await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
}

#[tokio::test]
async fn a_new_attempt_drops_what_failed_ones_left_but_not_the_served_table() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let prefix = format!("li_{}_202403_", int.as_uuid().simple());
    let first = begin_assembly(&db, ws, int, march(), "asm-a").await;
    let second = begin_assembly(&db, ws, int, march(), "asm-a").await;
    assert_ne!(first.table(), second.table());
    assert_eq!(
        part_tables(&db, &prefix).await,
        [(second.table().to_owned(), false)],
        "the first attempt's table is gone"
    );

    fill_staging(&db, &second, 3).await;
    cur::swap_period(&db, &second, &file(3), &PeriodRollups::FromTable, at(2))
        .await
        .unwrap();
    let third = begin_assembly(&db, ws, int, march(), "asm-b").await;
    let mut expected = vec![
        (second.table().to_owned(), true),
        (third.table().to_owned(), false),
    ];
    expected.sort();
    assert_eq!(part_tables(&db, &prefix).await, expected);

    cur::drop_staging(&db, &third).await.unwrap();
    cur::drop_staging(&db, &third).await.unwrap();
    assert_eq!(
        part_tables(&db, &prefix).await,
        [(second.table().to_owned(), true)]
    );
}

#[tokio::test]
async fn an_aborted_copy_keeps_nothing() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let staging = begin_assembly(&db, ws, int, march(), "asm-a").await;
    let mut copy = LineItemCopy::start(&db, &staging).await.unwrap();
    let mut enc = CopyEncoder::new(0);
    enc.push(1, &line_item(at(1), "222222222222", Decimal::ONE));
    copy.send(&enc.take()).await.unwrap();
    copy.abort("the report file could not be read")
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM cur_parts.{}",
        staging.table()
    ))
    .fetch_one(db.admin())
    .await
    .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_superseded_assembly_is_refused_and_an_unfinished_swap_changes_nothing() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let a = begin_assembly(&db, ws, int, march(), "asm-a").await;
    fill_staging(&db, &a, 4).await;
    // A newer delivery started meanwhile: the period expects asm-b.
    let b = begin_assembly(&db, ws, int, march(), "asm-b").await;
    fill_staging(&db, &b, 2).await;
    let refused = cur::swap_period(&db, &a, &file(4), &PeriodRollups::FromTable, at(2)).await;
    match refused {
        Err(StoreError::Conflict(m)) => assert!(m.contains("expects assembly asm-b"), "{m}"),
        other => panic!("{other:?}"),
    }

    let pending = cur::prepare_swap(&db, &b, &file(2), &PeriodRollups::FromTable, at(3))
        .await
        .unwrap();
    assert_eq!(pending.outcome().rows, 2);
    drop(pending);
    let p = stored_period(&db, ws, int).await;
    assert_eq!(
        (p.status.as_str(), p.live_assembly_id, p.rows),
        (cur::PERIOD_INGESTING, None, None),
        "rolled back"
    );

    let swapped = cur::swap_period(&db, &b, &file(2), &PeriodRollups::FromTable, at(4))
        .await
        .unwrap();
    assert_eq!(swapped.rows, 2);
}

#[tokio::test]
async fn a_swap_after_the_revocation_writes_nothing() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let staging = begin_assembly(&db, ws, int, march(), "asm-a").await;
    fill_staging(&db, &staging, 2).await;
    revocation::revoke_integration(&db, ws, int, &Actor::system())
        .await
        .unwrap();
    let refused = cur::swap_period(&db, &staging, &file(2), &PeriodRollups::FromTable, at(2)).await;
    match refused {
        Err(StoreError::Conflict(m)) => assert!(m.contains("was revoked"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut scope = db.scoped(ws).await.unwrap();
    assert!(cur::periods(&mut scope, int).await.unwrap().is_empty());
    scope.commit().await.unwrap();
}

#[tokio::test]
async fn tag_keys_are_replaced_whole_and_checked_first() {
    let db = fresh_store().await;
    let (ws, _) = integration(&db).await;
    let mut scope = db.scoped(ws).await.unwrap();
    assert!(cur::tag_keys(&mut scope).await.unwrap().is_empty());
    let keys = |list: &[&str]| list.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    cur::set_tag_keys(&mut scope, &keys(&["team", "Env"]))
        .await
        .unwrap();
    cur::set_tag_keys(&mut scope, &keys(&["team", "cost-center"]))
        .await
        .unwrap();
    assert_eq!(
        cur::tag_keys(&mut scope).await.unwrap(),
        keys(&["cost-center", "team"])
    );
    let refused = cur::set_tag_keys(&mut scope, &keys(&["app", ""])).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        cur::tag_keys(&mut scope).await.unwrap(),
        keys(&["cost-center", "team"]),
        "nothing changed"
    );
    scope.commit().await.unwrap();
}

/// Loads `items` as `assembly` and swaps it in with the worker's sums (`summed`) or without.
async fn swap_items(
    db: &Store,
    ws: WorkspaceId,
    int: IntegrationId,
    assembly: &str,
    items: &[NewLineItem<'_>],
    summed: bool,
) {
    let staging = begin_assembly(db, ws, int, march(), assembly).await;
    let mut scope = db.scoped(ws).await.unwrap();
    let tag_keys = cur::tag_keys(&mut scope).await.unwrap();
    scope.commit().await.unwrap();
    let mut enc = CopyEncoder::new(0);
    let mut builder = RollupBuilder::new(&tag_keys, 100);
    for (n, i) in items.iter().enumerate() {
        enc.push(n as u32 + 1, i);
        builder.add(i);
    }
    let mut copy = LineItemCopy::start(db, &staging).await.unwrap();
    copy.send(&enc.take()).await.unwrap();
    copy.finish().await.unwrap();
    let rollups = if summed {
        let rollups = builder.finish();
        assert!(matches!(rollups, PeriodRollups::Computed(_)));
        rollups
    } else {
        PeriodRollups::FromTable
    };
    let rows = items.len() as i64;
    let swapped = cur::swap_period(db, &staging, &file(rows), &rollups, at(9))
        .await
        .unwrap();
    assert_eq!(swapped.rows, rows);
}

#[tokio::test]
async fn the_worker_s_sums_and_the_sql_fallback_write_the_same_rollups() {
    let db = fresh_store().await;
    let (ws, int) = integration(&db).await;
    let mut scope = db.scoped(ws).await.unwrap();
    // The tag table gets rows only for rolled-up keys (an item without the tag counts as '').
    cur::set_tag_keys(&mut scope, &["Team".to_owned()])
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let within_range = [
        line_item(at(1), "222222222222", "1.25".parse().unwrap()),
        line_item(at(1), "222222222222", "0.000001".parse().unwrap()),
        line_item(at(2), "333333333333", "-3".parse().unwrap()),
    ];
    swap_items(&db, ws, int, "asm-sql", &within_range, false).await;
    let from_sql = rollup_rows(&db, ws).await;
    swap_items(&db, ws, int, "asm-summed", &within_range, true).await;
    assert_eq!(rollup_rows(&db, ws).await, from_sql);

    // Each day fits the worker's exact sums, their month does not: the swap computes the
    // rollups in SQL, with the same rows as without the worker's sums.
    let out_of_range = [
        line_item(at(1), "222222222222", Decimal::MAX),
        line_item(at(2), "222222222222", Decimal::new(1, 28)),
    ];
    swap_items(&db, ws, int, "asm-sql-2", &out_of_range, false).await;
    let from_sql = rollup_rows(&db, ws).await;
    swap_items(&db, ws, int, "asm-fallback", &out_of_range, true).await;
    assert_eq!(rollup_rows(&db, ws).await, from_sql);
    let p = stored_period(&db, ws, int).await;
    assert_eq!(
        (p.live_assembly_id.as_deref(), p.rows),
        (Some("asm-fallback"), Some(2))
    );
}
