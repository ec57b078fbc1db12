//! The period's cost per inventoried resource and day (`cur_daily_resource_costs`), written in
//! the swap's transaction beside the other rollups: from the worker's sums, or in SQL from the
//! loaded line items when they did not fit (only for resources the inventory knows, as the
//! worker does).

use super::rollup_build::{copy_into_load, expand_line_items, insert_from_load};
use super::staging::Staging;
use crate::line_items::{
    pg_date, push_field, push_numeric_parts, push_text, COPY_BINARY_HEADER, COPY_BINARY_TRAILER,
};
use crate::rollups::PeriodRollups;
use crate::StoreResult;

/// Replaces the staging table's period in `cur_daily_resource_costs`.
pub(super) async fn write_resource_costs(
    tx: &mut sqlx::PgConnection,
    staging: &Staging,
    rollups: &PeriodRollups,
) -> StoreResult<()> {
    let ws = staging.workspace_id.as_uuid();
    let int = staging.integration_id.as_uuid();
    let bp = staging.period.start();
    sqlx::query(
        "DELETE FROM cur_daily_resource_costs
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(ws)
    .bind(int)
    .bind(bp)
    .execute(&mut *tx)
    .await?;
    let days = match rollups {
        PeriodRollups::Computed(built) => built.resource_days(),
        PeriodRollups::FromTable => None,
    };
    let Some(days) = days else {
        return from_line_items(tx, staging).await;
    };
    let mut prefix = Vec::new();
    push_field(&mut prefix, ws.as_bytes());
    push_field(&mut prefix, int.as_bytes());
    push_field(&mut prefix, &pg_date(bp).to_be_bytes());
    let mut days = days.peekable();
    if days.peek().is_none() {
        return Ok(());
    }
    const COLUMNS: &str = "workspace_id, integration_id, billing_period, usage_account_id, \
                           resource_id, day, currency, unblended, net_unblended, amortized, line_items";
    let mut copy = copy_into_load(tx, "cur_daily_resource_costs", COLUMNS).await?;
    let mut buf = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(COPY_BINARY_HEADER);
    for (key, sums) in days {
        buf.extend_from_slice(&11i16.to_be_bytes());
        buf.extend_from_slice(&prefix);
        push_text(&mut buf, key.usage_account_id);
        push_text(&mut buf, key.resource_id);
        push_field(&mut buf, &pg_date(key.day).to_be_bytes());
        push_text(&mut buf, key.currency);
        for sum in [&sums.unblended, &sums.net_unblended, &sums.amortized] {
            let (mantissa, scale) = sum.parts();
            push_numeric_parts(&mut buf, mantissa < 0, mantissa.unsigned_abs(), scale);
        }
        push_field(&mut buf, &sums.line_items.to_be_bytes());
        if buf.len() >= 1 << 20 {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(COPY_BINARY_TRAILER);
    copy.send(buf.as_slice()).await?;
    copy.finish().await?;
    insert_from_load(tx, "cur_daily_resource_costs", COLUMNS).await
}

/// The SQL way, from the expanded line items (expanded here unless the other rollups already
/// did in this transaction).
async fn from_line_items(tx: &mut sqlx::PgConnection, staging: &Staging) -> StoreResult<()> {
    let expanded: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('cur_line_items_expanded')::text")
            .fetch_one(&mut *tx)
            .await?;
    let q = match expanded {
        Some(_) => "cur_line_items_expanded",
        None => expand_line_items(tx, staging).await?,
    };
    sqlx::query(&format!(
        "INSERT INTO cur_daily_resource_costs (workspace_id, integration_id, billing_period,
                usage_account_id, resource_id, day, currency, unblended, net_unblended, amortized,
                line_items)
         SELECT li.workspace_id, li.integration_id, li.billing_period, li.usage_account_id,
                li.resource_id, (li.usage_start AT TIME ZONE 'UTC')::date, li.currency,
                sum(li.unblended_cost), sum(coalesce(li.net_unblended_cost, li.unblended_cost)),
                sum(li.amortized_cost), count(*)
           FROM {q} li
          WHERE li.resource_id <> ''
            AND EXISTS (SELECT 1 FROM resources r
                         WHERE r.workspace_id = li.workspace_id AND r.integration_id = li.integration_id
                           AND r.account_id = li.usage_account_id
                           AND li.resource_id IN (r.resource_id, r.arn))
          GROUP BY 1, 2, 3, 4, 5, 6, 7"
    ))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
