//! Billing periods, poll state and files, read and written through the workspace's scoped
//! transaction (row-level security applies).
//!
//! A period row records two assemblies: the newest one seen (`assembly_id`, `status`, `error`),
//! which an ingest is loading or failed to load, and the one served to readers
//! (`live_assembly_id`), which only the swap changes. So [`begin_period`] and [`fail_period`]
//! never touch what readers see. The poll state ([`CurSource`]) says whether the integration's
//! bucket had any delivery; [`integration_status`] folds both into the one status the API shows.

use crate::{Scoped, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use costline_domain::{BillingPeriod, IntegrationId};
use uuid::Uuid;

/// Period status: the newest assembly is being ingested.
pub const PERIOD_INGESTING: &str = "ingesting";
/// Period status: the newest assembly is ingested and served.
pub const PERIOD_READY: &str = "ready";
/// Period status: the newest assembly failed; the previous one (if any) is still served.
pub const PERIOD_ERROR: &str = "error";

/// A billing period of an integration as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CurPeriod {
    /// The integration.
    pub integration_id: Uuid,
    /// First day of the billing period.
    pub billing_period: NaiveDate,
    /// `ingesting`, `ready` or `error` (of the newest assembly seen).
    pub status: String,
    /// The newest assembly seen.
    pub assembly_id: String,
    /// Its format (`legacy_csv`, `cur2_parquet`, ...).
    pub format: String,
    /// Its number of data files.
    pub files: i32,
    /// Its total size in bytes.
    pub bytes: i64,
    /// Why it failed, naming the file.
    pub error: Option<String>,
    /// The assembly served to readers, if any.
    pub live_assembly_id: Option<String>,
    /// Whether the served assembly's line items are stored (false after migration 0014 dropped
    /// them, until the period is ingested again).
    pub line_items_stored: bool,
    /// Line items of the served assembly.
    pub rows: Option<i64>,
    /// Currency of the served assembly.
    pub currency: Option<String>,
    /// When the served assembly was swapped in.
    pub ingested_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl CurPeriod {
    /// The billing period as a domain value.
    pub fn period(&self) -> BillingPeriod {
        BillingPeriod::containing(self.billing_period)
    }
}

const PERIOD_COLUMNS: &str =
    "integration_id, billing_period, status, assembly_id, format, files, bytes, error,
    live_assembly_id, live_table IS NOT NULL AS line_items_stored, rows, currency, ingested_at,
    updated_at";

/// The CUR state of an integration found by polling.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CurSource {
    /// `awaiting_first_report`, `delivered` or `error`.
    pub status: String,
    /// Why the last poll failed.
    pub error: Option<String>,
    /// Last poll.
    pub last_polled_at: Option<DateTime<Utc>>,
    /// When the first report was ingested.
    pub first_ingested_at: Option<DateTime<Utc>>,
}

/// Records a poll of the integration's bucket: `delivered` when any delivery was found,
/// `error` with a message when the listing failed.
pub async fn record_poll(
    scope: &mut Scoped,
    integration: IntegrationId,
    delivered: bool,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    let status = poll_status(delivered, error.is_some());
    sqlx::query(
        "INSERT INTO cur_sources (workspace_id, integration_id, status, error, last_polled_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (workspace_id, integration_id)
         DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, last_polled_at = EXCLUDED.last_polled_at",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(status)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// The `cur_sources.status` a poll leaves: a failed listing wins over what it found.
fn poll_status(delivered: bool, failed: bool) -> &'static str {
    match (failed, delivered) {
        (true, _) => "error",
        (false, true) => "delivered",
        (false, false) => "awaiting_first_report",
    }
}

/// The integration's poll state, if it was ever polled.
pub async fn source(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<Option<CurSource>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT status, error, last_polled_at, first_ingested_at FROM cur_sources
          WHERE workspace_id = $1 AND integration_id = $2",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(scope.tx())
    .await?)
}

/// Every billing period of the integration, newest first.
pub async fn periods(
    scope: &mut Scoped,
    integration: IntegrationId,
) -> StoreResult<Vec<CurPeriod>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(&format!(
        "SELECT {PERIOD_COLUMNS} FROM cur_periods
          WHERE workspace_id = $1 AND integration_id = $2 ORDER BY billing_period DESC"
    ))
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .fetch_all(scope.tx())
    .await?)
}

/// One billing period of the integration.
pub async fn period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Option<CurPeriod>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(&format!(
        "SELECT {PERIOD_COLUMNS} FROM cur_periods
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3"
    ))
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_optional(scope.tx())
    .await?)
}

/// The integration-level CUR status of the API (`cur.status`), from its poll state and periods:
/// `ingesting` while any period is, `error` when the newest assembly of any period (or the last
/// poll) failed, `ready` once a period is served, else `awaiting_first_report`.
pub fn integration_status(source: Option<&CurSource>, periods: &[CurPeriod]) -> &'static str {
    if periods.iter().any(|p| p.status == PERIOD_INGESTING) {
        "ingesting"
    } else if periods.iter().any(|p| p.status == PERIOD_ERROR)
        || source.is_some_and(|s| s.status == "error")
    {
        "error"
    } else if periods.iter().any(|p| p.live_assembly_id.is_some()) {
        "ready"
    } else {
        "awaiting_first_report"
    }
}

/// What an ingest is about to load.
#[derive(Debug, Clone)]
pub struct AssemblyInfo<'a> {
    /// Manifest assembly id (or content hash).
    pub assembly_id: &'a str,
    /// Format name (`legacy_csv`, ...).
    pub format: &'a str,
    /// Number of data files.
    pub files: i32,
    /// Their total size.
    pub bytes: i64,
}

/// Marks the period's newest assembly as being ingested (creating the period row). The served
/// assembly, if any, stays as it is.
pub async fn begin_period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly: &AssemblyInfo<'_>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    sqlx::query(
        "INSERT INTO cur_periods (workspace_id, integration_id, billing_period, status, assembly_id,
                                  format, files, bytes, updated_at)
         VALUES ($1, $2, $3, 'ingesting', $4, $5, $6, $7, $8)
         ON CONFLICT (workspace_id, integration_id, billing_period)
         DO UPDATE SET status = 'ingesting', assembly_id = EXCLUDED.assembly_id,
                       format = EXCLUDED.format, files = EXCLUDED.files, bytes = EXCLUDED.bytes,
                       error = NULL, updated_at = EXCLUDED.updated_at",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .bind(assembly.assembly_id)
    .bind(assembly.format)
    .bind(assembly.files)
    .bind(assembly.bytes)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// Marks the period's newest assembly as failed with an actionable message (naming the file).
/// The served assembly, if any, stays in place.
pub async fn fail_period(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
    assembly_id: &str,
    error: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let ws = scope.workspace_id();
    sqlx::query(
        "UPDATE cur_periods SET status = 'error', error = $5, updated_at = $6
          WHERE workspace_id = $1 AND integration_id = $2 AND billing_period = $3 AND assembly_id = $4",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .bind(assembly_id)
    .bind(error)
    .bind(now)
    .execute(scope.tx())
    .await?;
    Ok(())
}

/// A data file as ingested.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CurFile {
    /// Its S3 key.
    pub file_key: String,
    /// Its position in the assembly (the high half of `line_no`).
    pub file_no: i32,
    /// Its size in bytes.
    pub bytes: i64,
    /// Line items read from it.
    pub rows: i64,
}

/// The files of the period's served assembly.
pub async fn files(
    scope: &mut Scoped,
    integration: IntegrationId,
    period: BillingPeriod,
) -> StoreResult<Vec<CurFile>> {
    let ws = scope.workspace_id();
    Ok(sqlx::query_as(
        "SELECT f.file_key, f.file_no, f.bytes, f.rows FROM cur_files f
           JOIN cur_periods p USING (workspace_id, integration_id, billing_period)
          WHERE f.workspace_id = $1 AND f.integration_id = $2 AND f.billing_period = $3
            AND f.assembly_id = p.live_assembly_id
          ORDER BY f.file_no",
    )
    .bind(ws.as_uuid())
    .bind(integration.as_uuid())
    .bind(period.start())
    .fetch_all(scope.tx())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(2024, 3, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    }

    fn stored(status: &str, live: Option<&str>) -> CurPeriod {
        CurPeriod {
            integration_id: Uuid::nil(),
            billing_period: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            status: status.into(),
            assembly_id: "asm-new".into(),
            format: "legacy_cur_csv_gzip".into(),
            files: 1,
            bytes: 10,
            error: None,
            live_assembly_id: live.map(str::to_owned),
            line_items_stored: live.is_some(),
            rows: live.map(|_| 1),
            currency: live.map(|_| "USD".to_owned()),
            ingested_at: live.map(|_| at(2)),
            updated_at: at(2),
        }
    }

    fn polled(status: &str) -> CurSource {
        CurSource {
            status: status.into(),
            error: (status == "error").then(|| "AccessDenied".to_owned()),
            last_polled_at: Some(at(3)),
            first_ingested_at: None,
        }
    }

    #[test]
    fn a_failed_listing_wins_over_what_the_poll_found() {
        assert_eq!(poll_status(false, false), "awaiting_first_report");
        assert_eq!(poll_status(true, false), "delivered");
        assert_eq!(poll_status(true, true), "error");
        assert_eq!(poll_status(false, true), "error");
    }

    #[test]
    fn nothing_polled_or_delivered_is_awaiting_the_first_report() {
        assert_eq!(integration_status(None, &[]), "awaiting_first_report");
        let delivered = polled("delivered");
        assert_eq!(
            integration_status(Some(&delivered), &[]),
            "awaiting_first_report"
        );
    }

    #[test]
    fn an_ingesting_period_comes_first_then_errors_then_served_periods() {
        let error = polled("error");
        let delivered = polled("delivered");
        let ingesting = stored(PERIOD_INGESTING, Some("asm-old"));
        let failed = stored(PERIOD_ERROR, Some("asm-old"));
        let ready = stored(PERIOD_READY, Some("asm-new"));
        let cases: [(Option<&CurSource>, Vec<CurPeriod>, &str); 6] = [
            (
                Some(&error),
                vec![ready.clone(), ingesting.clone()],
                "ingesting",
            ),
            (
                Some(&delivered),
                vec![failed.clone(), ingesting],
                "ingesting",
            ),
            (
                Some(&delivered),
                vec![ready.clone(), failed.clone()],
                "error",
            ),
            (Some(&error), vec![ready.clone()], "error"),
            (Some(&error), vec![], "error"),
            (Some(&delivered), vec![ready], "ready"),
        ];
        for (source, periods, expected) in cases {
            assert_eq!(
                integration_status(source, &periods),
                expected,
                "{source:?} {periods:?}"
            );
        }
    }

    #[test]
    fn a_period_is_ready_only_once_an_assembly_is_served() {
        // A first ingest that failed leaves nothing served: the error is what shows.
        assert_eq!(
            integration_status(None, &[stored(PERIOD_ERROR, None)]),
            "error"
        );
        // Served but a newer assembly failed: the newest assembly's error shows.
        assert_eq!(
            integration_status(None, &[stored(PERIOD_ERROR, Some("asm-old"))]),
            "error"
        );
        assert_eq!(
            integration_status(None, &[stored(PERIOD_READY, Some("asm-new"))]),
            "ready"
        );
    }

    #[test]
    fn the_stored_first_day_is_the_billing_period() {
        let p = stored(PERIOD_READY, Some("asm-new"));
        assert_eq!(p.period(), "2024-03".parse::<BillingPeriod>().unwrap());
    }
}
