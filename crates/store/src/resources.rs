//! Active Resources: the inventory's findings per workspace and integration, each account's
//! last inventory, the Price List cache, and each resource's cost from the CUR's daily resource
//! rollup (`cur_daily_resource_costs`, written by the ingest's swap: `crate::cur`).

use crate::{Scoped, StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{IntegrationId, InventoryStatus, ResourceId, ResourceType};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Resources written per statement.
const UPSERT_BATCH: usize = 5_000;

/// A resource's on-demand rate as stored, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredRate {
    /// Per hour.
    pub hourly: Option<Decimal>,
    /// Per 730-hour month.
    pub monthly: Option<Decimal>,
    /// The price's currency.
    pub currency: Option<String>,
    /// The Price List product.
    pub sku: Option<String>,
    /// Why there is no rate (usage-priced, no product matched, the Price List failed).
    pub note: Option<String>,
}

/// One resource seen by an inventory run.
#[derive(Debug, Clone)]
pub struct SeenResource {
    /// Its type.
    pub resource_type: ResourceType,
    /// AWS's id.
    pub resource_id: String,
    /// Its ARN.
    pub arn: String,
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// AWS's state.
    pub state: Option<String>,
    /// Its rate.
    pub rate: StoredRate,
}

/// Something an inventory run could not read: a denied action, a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryIssue {
    /// The region, `None` for account-wide calls (regions, buckets).
    pub region: Option<String>,
    /// The type that could not be listed, `None` when the whole account or region failed.
    pub resource_type: Option<ResourceType>,
    /// The IAM action, e.g. `ec2:DescribeInstances`.
    pub action: String,
    /// A stable code, e.g. `aws_access_denied`.
    pub code: String,
    /// What AWS said and what to do.
    pub message: String,
}

/// An account's inventory run, as recorded.
#[derive(Debug, Clone)]
pub struct AccountInventory {
    /// The account.
    pub account_id: String,
    /// How it went.
    pub status: InventoryStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The regions read.
    pub regions: Vec<String>,
    /// Resources seen.
    pub resources: i32,
    /// What could not be read.
    pub issues: Vec<InventoryIssue>,
    /// Why nothing was read (failed, no_role).
    pub error: Option<String>,
}

/// A listing that finished: every resource of `resource_type` in `region` (any region for
/// global types) that it did not return is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteListing {
    /// The region, or `None` for a global listing.
    pub region: Option<String>,
    /// The type.
    pub resource_type: ResourceType,
}

/// Records one account's inventory run in one transaction: upserts what it saw (new rows get
/// `first_seen_at = started_at`; every row seen gets `last_seen_at = started_at` and is no
/// longer gone), marks gone at `finished_at` what each complete listing no longer returned, and
/// records the run. False (and nothing written) when the integration was revoked meanwhile.
pub async fn record_inventory(
    scope: &mut Scoped,
    integration: IntegrationId,
    run: &AccountInventory,
    seen: &[SeenResource],
    complete: &[CompleteListing],
) -> StoreResult<bool> {
    let ws = scope.workspace_id().as_uuid();
    let int = integration.as_uuid();
    let workspace = scope.workspace_id();
    if !crate::revocation::lock_live_integration_on(scope.tx(), workspace, integration).await? {
        return Ok(false);
    }
    for batch in seen.chunks(UPSERT_BATCH) {
        let mut types = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        let mut arns = Vec::with_capacity(batch.len());
        let mut regions = Vec::with_capacity(batch.len());
        let mut names = Vec::with_capacity(batch.len());
        let mut tags = Vec::with_capacity(batch.len());
        let mut states = Vec::with_capacity(batch.len());
        let mut hourly = Vec::with_capacity(batch.len());
        let mut monthly = Vec::with_capacity(batch.len());
        let mut currencies = Vec::with_capacity(batch.len());
        let mut skus = Vec::with_capacity(batch.len());
        let mut notes = Vec::with_capacity(batch.len());
        for r in batch {
            types.push(r.resource_type.as_str());
            ids.push(r.resource_id.as_str());
            arns.push(r.arn.as_str());
            regions.push(r.region.as_str());
            names.push(r.name.as_str());
            tags.push(serde_json::to_string(&r.tags).expect("tags serialize"));
            states.push(r.state.as_deref());
            hourly.push(r.rate.hourly);
            monthly.push(r.rate.monthly);
            currencies.push(r.rate.currency.as_deref());
            skus.push(r.rate.sku.as_deref());
            notes.push(r.rate.note.as_deref());
        }
        sqlx::query(
            "INSERT INTO resources (workspace_id, resource_key, integration_id, account_id, region,
                                    resource_type, resource_id, arn, name, tags, state,
                                    first_seen_at, last_seen_at, hourly_rate, monthly_rate,
                                    rate_currency, rate_sku, rate_note)
             SELECT $1, gen_random_uuid(), $2, $3, u.region, u.resource_type, u.resource_id, u.arn,
                    u.name, u.tags::jsonb, u.state, $4, $4, u.hourly, u.monthly, u.currency, u.sku,
                    u.note
               FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::text[], $12::numeric[], $13::numeric[], $14::text[], $15::text[],
                           $16::text[])
                    AS u(resource_type, resource_id, arn, region, name, tags, state, hourly,
                         monthly, currency, sku, note)
             ON CONFLICT (workspace_id, integration_id, account_id, region, resource_type, resource_id)
             DO UPDATE SET arn = EXCLUDED.arn, name = EXCLUDED.name, tags = EXCLUDED.tags,
                           state = EXCLUDED.state, last_seen_at = EXCLUDED.last_seen_at,
                           gone_at = NULL,
                           -- A rate that could not be looked up this time keeps the last one.
                           hourly_rate = coalesce(EXCLUDED.hourly_rate, resources.hourly_rate),
                           monthly_rate = coalesce(EXCLUDED.monthly_rate, resources.monthly_rate),
                           rate_currency = coalesce(EXCLUDED.rate_currency, resources.rate_currency),
                           rate_sku = coalesce(EXCLUDED.rate_sku, resources.rate_sku),
                           rate_note = CASE WHEN EXCLUDED.hourly_rate IS NULL
                                             AND resources.hourly_rate IS NOT NULL
                                            THEN resources.rate_note ELSE EXCLUDED.rate_note END",
        )
        .bind(ws)
        .bind(int)
        .bind(&run.account_id)
        .bind(run.started_at)
        .bind(&types)
        .bind(&ids)
        .bind(&arns)
        .bind(&regions)
        .bind(&names)
        .bind(&tags)
        .bind(&states)
        .bind(&hourly)
        .bind(&monthly)
        .bind(&currencies)
        .bind(&skus)
        .bind(&notes)
        .execute(scope.tx())
        .await?;
    }
    for listing in complete {
        sqlx::query(
            "UPDATE resources SET gone_at = $6
              WHERE workspace_id = $1 AND integration_id = $2 AND account_id = $3
                AND resource_type = $4 AND ($5::text IS NULL OR region = $5)
                AND last_seen_at < $7 AND gone_at IS NULL",
        )
        .bind(ws)
        .bind(int)
        .bind(&run.account_id)
        .bind(listing.resource_type.as_str())
        .bind(listing.region.as_deref())
        .bind(run.finished_at)
        .bind(run.started_at)
        .execute(scope.tx())
        .await?;
    }
    sqlx::query(
        "INSERT INTO inventory_accounts (workspace_id, integration_id, account_id, status,
                                         started_at, finished_at, regions, resources, issues, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (workspace_id, integration_id, account_id) DO UPDATE
            SET status = EXCLUDED.status, started_at = EXCLUDED.started_at,
                finished_at = EXCLUDED.finished_at, regions = EXCLUDED.regions,
                resources = EXCLUDED.resources, issues = EXCLUDED.issues, error = EXCLUDED.error",
    )
    .bind(ws)
    .bind(int)
    .bind(&run.account_id)
    .bind(run.status.as_str())
    .bind(run.started_at)
    .bind(run.finished_at)
    .bind(&run.regions)
    .bind(run.resources)
    .bind(serde_json::to_value(&run.issues).expect("issues serialize"))
    .bind(&run.error)
    .execute(scope.tx())
    .await?;
    Ok(true)
}

/// Every id the CUR may name the integration's inventoried resources with (AWS's id and the
/// ARN), with their accounts: what the ingest sums per resource.
pub async fn known_resources(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<crate::rollups::KnownResources> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT account_id, resource_id, arn FROM resources
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(scope.workspace_id().as_uuid())
    .bind(integration.as_uuid())
    .fetch_all(scope.tx())
    .await?;
    Ok(crate::rollups::KnownResources::new(rows.iter().flat_map(
        |(account, id, arn)| {
            [
                (account.as_str(), id.as_str()),
                (account.as_str(), arn.as_str()),
            ]
        },
    )))
}

/// A resource as the API shows it: the row, its accrued cost, and whether the integration has a
/// CUR yet.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Costline's id.
    pub id: ResourceId,
    /// The integration that found it.
    pub integration_id: IntegrationId,
    /// Its account.
    pub account_id: String,
    /// Its region.
    pub region: String,
    /// Its type.
    pub resource_type: ResourceType,
    /// AWS's id.
    pub resource_id: String,
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// AWS's state.
    pub state: Option<String>,
    /// First inventory that saw it.
    pub first_seen_at: DateTime<Utc>,
    /// Last inventory that saw it.
    pub last_seen_at: DateTime<Utc>,
    /// When a complete listing no longer had it.
    pub gone_at: Option<DateTime<Utc>>,
    /// Its on-demand rate.
    pub rate: StoredRate,
    /// The sum of its unblended cost over every ingested day; `None` before the integration's
    /// first CUR.
    pub accrued_cost: Option<Decimal>,
    /// The CUR's currency, when it has costs.
    pub cost_currency: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ResourceRow {
    resource_key: uuid::Uuid,
    integration_id: uuid::Uuid,
    account_id: String,
    region: String,
    resource_type: String,
    resource_id: String,
    arn: String,
    name: String,
    tags: serde_json::Value,
    state: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    gone_at: Option<DateTime<Utc>>,
    hourly_rate: Option<Decimal>,
    monthly_rate: Option<Decimal>,
    rate_currency: Option<String>,
    rate_sku: Option<String>,
    rate_note: Option<String>,
    has_cur: bool,
    accrued: Option<Decimal>,
    cost_currency: Option<String>,
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> StoreResult<Resource> {
        let tags = serde_json::from_value(r.tags)
            .map_err(|e| StoreError::Corrupt(format!("resources.tags: {e}")))?;
        Ok(Resource {
            id: ResourceId::from_uuid(r.resource_key),
            integration_id: IntegrationId::from_uuid(r.integration_id),
            account_id: r.account_id,
            region: r.region,
            resource_type: r
                .resource_type
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("resources.resource_type: {e}")))?,
            resource_id: r.resource_id,
            arn: r.arn,
            name: r.name,
            tags,
            state: r.state,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            gone_at: r.gone_at,
            rate: StoredRate {
                hourly: r.hourly_rate,
                monthly: r.monthly_rate,
                currency: r.rate_currency,
                sku: r.rate_sku,
                note: r.rate_note,
            },
            accrued_cost: r.has_cur.then(|| r.accrued.unwrap_or(Decimal::ZERO)),
            cost_currency: r.cost_currency,
        })
    }
}

/// The columns of [`ResourceRow`] from `resources r`, its CUR source `s` and its costs `c`.
const COLUMNS: &str = "r.resource_key, r.integration_id, r.account_id, r.region, r.resource_type,
    r.resource_id, r.arn, r.name, r.tags, r.state, r.first_seen_at, r.last_seen_at, r.gone_at,
    r.hourly_rate, r.monthly_rate, r.rate_currency, r.rate_sku, r.rate_note,
    (s.first_ingested_at IS NOT NULL) AS has_cur, c.accrued, c.cost_currency";

/// Joins each resource `r` to its integration's CUR source and the sum of its daily costs: the
/// CUR names a resource by its id (instances, volumes, buckets) or its ARN (the rest), in its
/// own account.
const JOINS: &str = "LEFT JOIN cur_sources s
        ON s.workspace_id = r.workspace_id AND s.integration_id = r.integration_id
    LEFT JOIN LATERAL (
        SELECT sum(d.unblended) AS accrued, min(d.currency) AS cost_currency
          FROM cur_daily_resource_costs d
         WHERE d.workspace_id = r.workspace_id AND d.integration_id = r.integration_id
           AND d.usage_account_id = r.account_id AND d.resource_id IN (r.resource_id, r.arn)
    ) c ON true";

/// Which resources to list.
#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    /// Of this type.
    pub resource_type: Option<ResourceType>,
    /// In this account.
    pub account_id: Option<String>,
    /// In this region.
    pub region: Option<String>,
    /// With every one of these tags (key and value).
    pub tags: BTreeMap<String, String>,
    /// Gone ones too (else only those the last complete listing saw).
    pub include_gone: bool,
}

/// Where a page starts: after this resource, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCursor {
    /// Account of the last resource of the previous page.
    pub account_id: String,
    /// Its region.
    pub region: String,
    /// Its type.
    pub resource_type: String,
    /// Its AWS id.
    pub resource_id: String,
    /// Its key.
    pub key: uuid::Uuid,
}

impl ResourceCursor {
    /// The cursor after `r`.
    pub fn after(r: &Resource) -> ResourceCursor {
        ResourceCursor {
            account_id: r.account_id.clone(),
            region: r.region.clone(),
            resource_type: r.resource_type.as_str().to_string(),
            resource_id: r.resource_id.clone(),
            key: r.id.as_uuid(),
        }
    }
}

/// A page of resources, in a stable order (account, region, type, AWS id), and the cursor of
/// the next page when there is one.
pub async fn list(
    scope: &mut Scoped,
    filter: &ResourceFilter,
    after: Option<&ResourceCursor>,
    limit: usize,
) -> StoreResult<(Vec<Resource>, Option<ResourceCursor>)> {
    let ws = scope.workspace_id().as_uuid();
    let tags = serde_json::to_value(&filter.tags).expect("tags serialize");
    let rows: Vec<ResourceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM (
             SELECT * FROM resources r
              WHERE r.workspace_id = $1
                AND ($2::text IS NULL OR r.resource_type = $2)
                AND ($3::text IS NULL OR r.account_id = $3)
                AND ($4::text IS NULL OR r.region = $4)
                AND r.tags @> $5::jsonb
                AND ($6 OR r.gone_at IS NULL)
                AND ($7::text IS NULL
                     OR (r.account_id, r.region, r.resource_type, r.resource_id, r.resource_key)
                        > ($7, $8, $9, $10, $11::uuid))
              ORDER BY r.account_id, r.region, r.resource_type, r.resource_id, r.resource_key
              LIMIT $12
         ) r {JOINS}
         ORDER BY r.account_id, r.region, r.resource_type, r.resource_id, r.resource_key"
    ))
    .bind(ws)
    .bind(filter.resource_type.map(|t| t.as_str()))
    .bind(filter.account_id.as_deref())
    .bind(filter.region.as_deref())
    .bind(tags)
    .bind(filter.include_gone)
    .bind(after.map(|c| c.account_id.as_str()))
    .bind(after.map(|c| c.region.as_str()))
    .bind(after.map(|c| c.resource_type.as_str()))
    .bind(after.map(|c| c.resource_id.as_str()))
    .bind(after.map(|c| c.key))
    .bind(limit as i64 + 1)
    .fetch_all(scope.tx())
    .await?;
    let mut resources = rows
        .into_iter()
        .map(Resource::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if resources.len() > limit {
        resources.truncate(limit);
        resources.last().map(ResourceCursor::after)
    } else {
        None
    };
    Ok((resources, next))
}

/// One resource of the scope's workspace; `NotFound` for another workspace's.
pub async fn get(scope: &mut Scoped, id: ResourceId) -> StoreResult<Resource> {
    let ws = scope.workspace_id().as_uuid();
    let row: Option<ResourceRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM resources r {JOINS}
          WHERE r.workspace_id = $1 AND r.resource_key = $2"
    ))
    .bind(ws)
    .bind(id.as_uuid())
    .fetch_optional(scope.tx())
    .await?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// One day of a resource's cost.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailyCost {
    /// The UTC day.
    pub day: NaiveDate,
    /// The unblended cost that day.
    pub amount: Decimal,
    /// Its currency.
    pub currency: String,
}

/// A resource's unblended cost per day, oldest first (empty before its first CUR).
pub async fn daily_costs(scope: &mut Scoped, resource: &Resource) -> StoreResult<Vec<DailyCost>> {
    let ws = scope.workspace_id().as_uuid();
    Ok(sqlx::query_as(
        "SELECT day, sum(unblended) AS amount, currency FROM cur_daily_resource_costs
          WHERE workspace_id = $1 AND integration_id = $2 AND usage_account_id = $3
            AND resource_id IN ($4, $5)
          GROUP BY day, currency ORDER BY day, currency",
    )
    .bind(ws)
    .bind(resource.integration_id.as_uuid())
    .bind(&resource.account_id)
    .bind(&resource.resource_id)
    .bind(&resource.arn)
    .fetch_all(scope.tx())
    .await?)
}

/// One account's inventory coverage: its role, its last inventory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Coverage {
    /// The integration.
    pub integration_id: uuid::Uuid,
    /// The account.
    pub account_id: String,
    /// Its name in the organization.
    pub name: String,
    /// Whether Costline's role works there (discovery's check).
    pub role_status: String,
    /// Why not.
    pub role_error: Option<String>,
    /// The last inventory's outcome.
    pub status: Option<String>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The regions it read.
    pub regions: Option<Vec<String>>,
    /// Resources it saw.
    pub resources: Option<i32>,
    /// What it could not read.
    pub issues: Option<serde_json::Value>,
    /// Why it read nothing.
    pub error: Option<String>,
}

/// Every discovered account of the workspace's live integrations, with its last inventory.
pub async fn coverage(scope: &mut Scoped) -> StoreResult<Vec<Coverage>> {
    let ws = scope.workspace_id().as_uuid();
    Ok(sqlx::query_as(
        "SELECT a.integration_id, a.account_id, a.name, a.role_status, a.role_error,
                i.status, i.finished_at, i.regions, i.resources, i.issues, i.error
           FROM aws_accounts a
           JOIN integrations g ON g.workspace_id = a.workspace_id AND g.integration_id = a.integration_id
           LEFT JOIN inventory_accounts i
             ON i.workspace_id = a.workspace_id AND i.integration_id = a.integration_id
            AND i.account_id = a.account_id
          WHERE a.workspace_id = $1 AND g.status <> 'revoked' AND a.left_at IS NULL
          ORDER BY a.integration_id, a.account_id",
    )
    .bind(ws)
    .fetch_all(scope.tx())
    .await?)
}

/// A cached Price List answer.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CachedPrice {
    /// The product's SKU (`None`: no product matched).
    pub sku: Option<String>,
    /// The currency.
    pub currency: Option<String>,
    /// The unit price.
    pub price: Option<Decimal>,
    /// AWS's description.
    pub description: Option<String>,
    /// When it was asked.
    pub fetched_at: DateTime<Utc>,
}

/// The cached answer to the Price List question `key`, if asked since `fresh_after`.
pub async fn cached_price(
    scope: &mut Scoped,
    key: &str,
    fresh_after: DateTime<Utc>,
) -> StoreResult<Option<CachedPrice>> {
    Ok(sqlx::query_as(
        "SELECT sku, currency, price, description, fetched_at FROM price_list_cache
          WHERE query_key = $1 AND fetched_at >= $2",
    )
    .bind(key)
    .bind(fresh_after)
    .fetch_optional(scope.tx())
    .await?)
}

/// Caches the answer to the Price List question `key`.
pub async fn cache_price(scope: &mut Scoped, key: &str, price: &CachedPrice) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO price_list_cache (query_key, sku, currency, price, description, fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (query_key) DO UPDATE
            SET sku = EXCLUDED.sku, currency = EXCLUDED.currency, price = EXCLUDED.price,
                description = EXCLUDED.description, fetched_at = EXCLUDED.fetched_at",
    )
    .bind(key)
    .bind(&price.sku)
    .bind(&price.currency)
    .bind(price.price)
    .bind(&price.description)
    .bind(price.fetched_at)
    .execute(scope.tx())
    .await?;
    Ok(())
}
