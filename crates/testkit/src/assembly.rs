//! Starting a CUR assembly straight through the store, for tests and benchmarks that load line
//! items without the worker.

use chrono::{DateTime, Utc};
use costline_domain::{BillingPeriod, IntegrationId, WorkspaceId};
use costline_store::cur::{self, AssemblyInfo, LineItemCopy, Staging};
use costline_store::line_items::NewLineItem;
use costline_store::Store;
use rust_decimal::Decimal;

/// Records that `period` expects `assembly_id` (one file, as the ingest would) and creates its
/// empty staging table, ready for `LineItemCopy` (or [`fill_staging`]), then `cur::swap_period`.
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

/// A usage line item of an hour from `usage_start`, in `usage_account_id` of payer
/// `210987654321`: EC2 in us-east-1 costing `cost` (unblended and amortized), in USD, untagged.
/// Change what a test needs with struct update syntax.
pub fn line_item(
    usage_start: DateTime<Utc>,
    usage_account_id: &str,
    cost: Decimal,
) -> NewLineItem<'_> {
    NewLineItem {
        usage_start,
        usage_end: usage_start + chrono::Duration::hours(1),
        payer_account_id: "210987654321",
        usage_account_id,
        line_item_type: "Usage",
        product_code: "AmazonEC2",
        usage_type: "BoxUsage",
        operation: "RunInstances",
        region: "us-east-1",
        availability_zone: "",
        resource_id: "",
        usage_amount: Decimal::ONE,
        pricing_unit: "Hrs",
        unblended_rate: None,
        unblended_cost: cost,
        net_unblended_cost: None,
        amortized_cost: cost,
        net_amortized_cost: None,
        public_on_demand_cost: None,
        currency: "USD",
        tags: &[],
    }
}

/// Fills a staging table with `rows` synthetic line items through the ingest's own encoder and
/// COPY: line item `n` (from 1) is used on day `n % 28` of the period, in one of 20 accounts and
/// 4 services, costs `(n % 1000) * 0.001 + 0.01` USD and is tagged `Team` = `team-<n % 7>`.
pub async fn fill_staging(store: &Store, staging: &Staging, rows: u64) {
    use costline_store::line_items::{CopyEncoder, CHUNK_BYTES};
    const SERVICES: [&str; 4] = ["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda"];
    let start = staging
        .period()
        .start()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let mut copy = LineItemCopy::start(store, staging)
        .await
        .expect("start the COPY");
    let mut encoder = CopyEncoder::new(1);
    for n in 1..=rows {
        let usage_start = start + chrono::Duration::days((n % 28) as i64);
        let account = format!("2109876543{:02}", n % 20);
        let resource = format!("i-{n}");
        let tags = [("Team".to_owned(), format!("team-{}", n % 7))];
        let cost = Decimal::new((n % 1000) as i64, 3) + Decimal::new(1, 2);
        encoder.push(
            n as u32,
            &NewLineItem {
                usage_type: "BoxUsage:m5.large",
                availability_zone: "us-east-1a",
                resource_id: &resource,
                unblended_rate: Some(Decimal::new(96, 3)),
                product_code: SERVICES[(n % 4) as usize],
                tags: &tags,
                ..line_item(usage_start, &account, cost)
            },
        );
        if encoder.len() >= CHUNK_BYTES {
            copy.send(&encoder.take()).await.expect("send a chunk");
        }
    }
    copy.send(&encoder.take()).await.expect("send a chunk");
    let stored = copy.finish().await.expect("finish the COPY");
    assert_eq!(stored, rows, "line items stored");
}

/// Every row of the workspace's five rollup tables, as text (`<table> (<columns>)`), sorted:
/// for comparing two ways of building them. Asserts that each table has rows.
pub async fn rollup_rows(store: &Store, workspace: WorkspaceId) -> Vec<String> {
    let mut rows = Vec::new();
    let mut scope = store.scoped(workspace).await.expect("open a scope");
    for table in [
        "cur_daily_costs",
        "cur_monthly_costs",
        "cur_daily_service_region_costs",
        "cur_daily_account_costs",
        "cur_daily_tag_costs",
    ] {
        let mut r: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT '{table} ' || (t.*)::text FROM {table} t WHERE workspace_id = $1"
        ))
        .bind(workspace.as_uuid())
        .fetch_all(scope.tx())
        .await
        .expect("read a rollup table");
        assert!(!r.is_empty(), "{table} has rows");
        rows.append(&mut r);
    }
    rows.sort();
    rows
}

/// One line item for [`load_costs`]: usage on `day`, from 03:00 UTC for an hour.
#[derive(Debug, Clone)]
pub struct TestCost {
    /// The usage day.
    pub day: chrono::NaiveDate,
    /// The usage account (the payer is always `999999999999`).
    pub account: &'static str,
    /// The product code.
    pub service: &'static str,
    /// The region.
    pub region: &'static str,
    /// Its unblended and amortized cost, in USD.
    pub cost: Decimal,
}

/// Serves `costs` as `period`'s assembly `assembly_id` of an integration, loaded through the
/// ingest's encoder and COPY, the rollups summed by the swap from the loaded table: what the
/// cost API reads after an ingest, without the worker.
pub async fn load_costs(
    store: &Store,
    workspace: WorkspaceId,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly_id: &str,
    costs: &[TestCost],
) {
    use costline_store::cur::FileRecord;
    use costline_store::line_items::CopyEncoder;
    use costline_store::rollups::PeriodRollups;
    let staging = begin_assembly(store, workspace, integration, period, assembly_id).await;
    let mut encoder = CopyEncoder::new(0);
    for (n, c) in costs.iter().enumerate() {
        let usage_start = c.day.and_hms_opt(3, 0, 0).expect("a time of day").and_utc();
        encoder.push(
            n as u32 + 1,
            &NewLineItem {
                payer_account_id: "999999999999",
                product_code: c.service,
                usage_type: "BoxUsage:m5.large",
                region: c.region,
                ..line_item(usage_start, c.account, c.cost)
            },
        );
    }
    let mut copy = LineItemCopy::start(store, &staging)
        .await
        .expect("start the COPY");
    copy.send(&encoder.take())
        .await
        .expect("send the line items");
    copy.finish().await.expect("finish the COPY");
    let file = FileRecord {
        key: format!("{assembly_id}/part-1.csv.gz"),
        file_no: 1,
        bytes: 1,
        rows: costs.len() as i64,
    };
    cur::swap_period(
        store,
        &staging,
        &[file],
        &PeriodRollups::FromTable,
        chrono::Utc::now(),
    )
    .await
    .expect("swap the period in");
}
