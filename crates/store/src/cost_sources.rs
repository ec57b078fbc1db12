//! One source per account and billing period.
//!
//! A workspace may hold the same usage account's costs twice: a management account's CUR
//! includes its members, and a member connected on its own (or the same account connected
//! twice) reports them again. `cur_period_accounts` (migration 0020) lists which accounts each
//! integration's served assembly of a period covers; for every account and period exactly one
//! integration is `counted`, ranked by [`RANKING`]: the CUR of the account's payer first (the
//! integration whose own account is the payer the line items name), then the integration
//! connected first. The cost queries leave out the line items of the pairs not counted.
//!
//! The ranking is redone for a period whenever an assembly of it is swapped in and whenever an
//! integration is revoked, under a per-workspace-and-period advisory lock, so two swaps of one
//! period by two integrations cannot both think they are alone.

use crate::{Scoped, StoreResult};
use chrono::NaiveDate;
use rustc_hash::{FxHashMap, FxHashSet};
use sqlx::PgConnection;
use uuid::Uuid;

/// The order of integrations reporting one account and period; the first is counted.
const RANKING: &str = "coalesce(i.account_id = a.payer_account_id, false) DESC, \
                       i.created_at, i.integration_id";

/// Takes the advisory lock of a workspace's billing period (held to the transaction's end).
async fn lock_period(
    conn: &mut PgConnection,
    workspace: Uuid,
    period: NaiveDate,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 20))")
        .bind(workspace)
        .bind(period)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the accounts an integration's new served assembly of `period` covers (read from the
/// period's monthly rollups, already rewritten in this transaction) and ranks the period again.
pub(crate) async fn record_period(
    conn: &mut PgConnection,
    workspace: Uuid,
    integration: Uuid,
    period: NaiveDate,
) -> StoreResult<()> {
    lock_period(conn, workspace, period).await?;
    sqlx::query(
        "DELETE FROM cur_period_accounts
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3",
    )
    .bind(workspace)
    .bind(integration)
    .bind(period)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO cur_period_accounts
                (workspace_id, integration_id, billing_period, usage_account_id, payer_account_id)
         SELECT workspace_id, integration_id, billing_period, usage_account_id, min(payer_account_id)
           FROM cur_monthly_costs
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3
          GROUP BY workspace_id, integration_id, billing_period, usage_account_id",
    )
    .bind(workspace)
    .bind(integration)
    .bind(period)
    .execute(&mut *conn)
    .await?;
    rank_period(conn, workspace, period).await
}

/// Locks every period `integration` reports (before its rows are deleted by a revocation);
/// the periods, for [`rank_periods`] once they are gone.
pub(crate) async fn lock_periods_of(
    conn: &mut PgConnection,
    workspace: Uuid,
    integration: Uuid,
) -> StoreResult<Vec<NaiveDate>> {
    let periods: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT DISTINCT billing_period FROM cur_period_accounts
          WHERE workspace_id = $1 AND integration_id = $2 ORDER BY billing_period",
    )
    .bind(workspace)
    .bind(integration)
    .fetch_all(&mut *conn)
    .await?;
    for &p in &periods {
        lock_period(conn, workspace, p).await?;
    }
    Ok(periods)
}

/// Ranks `periods` again (their locks are held).
pub(crate) async fn rank_periods(
    conn: &mut PgConnection,
    workspace: Uuid,
    periods: &[NaiveDate],
) -> StoreResult<()> {
    for &p in periods {
        rank_period(conn, workspace, p).await?;
    }
    Ok(())
}

async fn rank_period(
    conn: &mut PgConnection,
    workspace: Uuid,
    period: NaiveDate,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE cur_period_accounts p SET counted = r.rank = 1
           FROM (SELECT a.integration_id, a.usage_account_id,
                        row_number() OVER (PARTITION BY a.usage_account_id ORDER BY {RANKING}) AS rank
                   FROM cur_period_accounts a
                   JOIN integrations i USING (workspace_id, integration_id)
                  WHERE a.workspace_id = $1 AND a.billing_period = $2) r
          WHERE p.workspace_id = $1 AND p.billing_period = $2
            AND p.integration_id = r.integration_id AND p.usage_account_id = r.usage_account_id
            AND p.counted <> (r.rank = 1)"
    ))
    .bind(workspace)
    .bind(period)
    .execute(conn)
    .await?;
    Ok(())
}

/// The (integration, billing period, usage account) triples whose costs another integration
/// supplies, for the periods that meet `[start, end)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotCounted {
    /// Per integration and billing period, the accounts left out.
    by_period: FxHashMap<(Uuid, NaiveDate), FxHashSet<String>>,
}

impl NotCounted {
    /// Reads them for the scope's workspace.
    pub async fn read(scope: &mut Scoped, start: NaiveDate, end: NaiveDate) -> StoreResult<Self> {
        let rows: Vec<(Uuid, NaiveDate, String)> = sqlx::query_as(
            "SELECT integration_id, billing_period, usage_account_id FROM cur_period_accounts
              WHERE workspace_id = $1 AND NOT counted
                AND billing_period >= date_trunc('month', $2::date)::date AND billing_period < $3",
        )
        .bind(scope.workspace_id().as_uuid())
        .bind(start)
        .bind(end)
        .fetch_all(scope.tx())
        .await?;
        let mut out = NotCounted::default();
        for (integration, period, account) in rows {
            out.by_period
                .entry((integration, period))
                .or_default()
                .insert(account);
        }
        Ok(out)
    }

    /// True when every integration's costs count.
    pub fn is_empty(&self) -> bool {
        self.by_period.is_empty()
    }

    /// The accounts of `integration`'s `period` left out, if any.
    pub fn accounts(&self, integration: Uuid, period: NaiveDate) -> Option<&FxHashSet<String>> {
        self.by_period.get(&(integration, period))
    }

    /// The triples as three parallel arrays (integration ids, periods, accounts), for binding
    /// to `unnest($a::uuid[], $b::date[], $c::text[])`.
    pub(crate) fn arrays(&self) -> (Vec<Uuid>, Vec<NaiveDate>, Vec<String>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for ((integration, period), accounts) in &self.by_period {
            for a in accounts {
                out.0.push(*integration);
                out.1.push(*period);
                out.2.push(a.clone());
            }
        }
        out
    }
}

/// Which integration supplies an account's costs, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountSource {
    /// The usage account.
    pub usage_account_id: String,
    /// The integration whose CUR is counted for the account's newest period.
    pub integration_id: Uuid,
    /// That newest period.
    pub billing_period: NaiveDate,
    /// Other integrations that report the account in that period and are not counted.
    pub also_reported_by: Vec<Uuid>,
}

/// Every usage account of the workspace with the integration that supplies its newest period.
pub async fn account_sources(scope: &mut Scoped) -> StoreResult<Vec<AccountSource>> {
    let rows = sqlx::query_as(
        "SELECT DISTINCT ON (usage_account_id)
                usage_account_id,
                (array_agg(integration_id) FILTER (WHERE counted))[1] AS integration_id,
                billing_period,
                coalesce(array_agg(integration_id ORDER BY integration_id) FILTER (WHERE NOT counted),
                         '{}') AS also_reported_by
           FROM cur_period_accounts
          WHERE workspace_id = $1
          GROUP BY usage_account_id, billing_period
          ORDER BY usage_account_id, billing_period DESC",
    )
    .bind(scope.workspace_id().as_uuid())
    .fetch_all(scope.tx())
    .await?;
    Ok(rows)
}
