//! Starting a CUR assembly straight through the store, for tests and benchmarks that load line
//! items without the worker.

use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::cur::{self, AssemblyInfo, Staging};
use costline_store::Store;

/// Records that `period` expects `assembly_id` (one file, as the ingest would) and creates its
/// empty staging table, ready for `LineItemCopy` or a direct insert, then `cur::swap_period`.
pub async fn begin_assembly(
    store: &Store,
    workspace: WorkspaceId,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly_id: &str,
) -> Staging {
    let mut scope = store.scoped(workspace).await.expect("workspace scope");
    cur::begin_period(
        &mut scope,
        integration,
        period,
        &AssemblyInfo {
            assembly_id,
            format: "legacy_cur_csv_gzip",
            files: 1,
            bytes: 0,
        },
        chrono::Utc::now(),
    )
    .await
    .expect("begin the period");
    scope.commit().await.expect("commit");
    cur::create_staging(store, workspace, integration, period, assembly_id)
        .await
        .expect("create the staging table")
}
