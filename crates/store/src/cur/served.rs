//! A period's served line items read back through the workspace's scoped transaction (so
//! row-level security decides what is reachable): every item decompressed, for tests, exports
//! and support, or just their count, for integrity checks.

use crate::line_items::{decompress_chunk, ChunkRows, StoredLineItem};
use crate::{Scoped, StoreResult};
use costline_domain::{BillingPeriod, IntegrationId};

/// Every line item stored for the integration's period (through RLS), in `line_no` order: for
/// tests, exports and support. A period holds millions: mind the memory.
pub async fn line_items(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Vec<StoredLineItem>> {
    let ws = scope.workspace_id();
    let chunks: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT copy_zstd FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3
          ORDER BY chunk_no",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_all(scope.tx())
    .await?;
    let mut items = Vec::new();
    for compressed in chunks {
        let stream = decompress_chunk(&compressed)?;
        for row in ChunkRows::new(&stream)? {
            items.push(row?.to_stored()?);
        }
    }
    items.sort_by_key(|i| i.line_no);
    Ok(items)
}

/// Line items stored for the integration's period (through RLS), for integrity checks.
pub async fn line_item_count(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<i64> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_scalar(
        "SELECT coalesce(sum(line_items), 0)::bigint FROM cur_line_item_chunks
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_one(scope.tx())
    .await?)
}
