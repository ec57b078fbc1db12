//! On-demand rates of inventoried resources: each Price List question is asked once per job
//! (remembered in memory), answered from the shared database cache while fresh
//! ([`PRICE_LIFETIME`]), and asked of AWS otherwise.

use chrono::{TimeDelta, Utc};
use costline_aws::{AwsError, RoleSession};
use costline_domain::{OnDemandRate, PriceQuery, WorkspaceId};
use costline_jobs::JobError;
use costline_store::resources::{self, CachedPrice, StoredRate};
use costline_store::Store;
use rust_decimal::Decimal;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// How long a Price List answer is used before it is asked again (AWS changes on-demand prices
/// rarely, and announces it).
pub(crate) const PRICE_LIFETIME: TimeDelta = TimeDelta::days(7);

/// The note of a resource priced by its usage only.
const USAGE_PRICED: &str =
    "priced by usage (storage, requests, transfer), not by the hour: see its accrued cost";

/// The rates of one inventory job.
pub(super) struct Rates {
    store: Store,
    workspace: WorkspaceId,
    /// Answers (or why there is none) by cache key.
    memo: Mutex<HashMap<String, Result<CachedPrice, String>>>,
}

impl Rates {
    pub(super) fn new(store: Store, workspace: WorkspaceId) -> Rates {
        Rates {
            store,
            workspace,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The rate of a resource priced by `price` (a question and a quantity), or why it has
    /// none.
    pub(super) async fn rate_of(
        &self,
        session: &RoleSession,
        price: Option<&(PriceQuery, Decimal)>,
    ) -> Result<StoredRate, JobError> {
        let Some((query, quantity)) = price else {
            return Ok(StoredRate {
                note: Some(USAGE_PRICED.to_string()),
                ..Default::default()
            });
        };
        let answer = self.unit_price(session, query).await?;
        Ok(match answer {
            Ok(CachedPrice {
                price: Some(price),
                sku,
                currency,
                ..
            }) => match OnDemandRate::of(price, query.basis, *quantity) {
                Some(rate) => StoredRate {
                    hourly: Some(rate.hourly),
                    monthly: Some(rate.monthly),
                    currency,
                    sku,
                    note: None,
                },
                None => StoredRate {
                    note: Some("the on-demand rate is out of range".to_string()),
                    ..Default::default()
                },
            },
            Ok(_) => StoredRate {
                note: Some(format!(
                    "no on-demand price in the AWS Price List matches ({})",
                    query.cache_key()
                )),
                ..Default::default()
            },
            Err(why) => StoredRate {
                note: Some(format!("the AWS Price List could not be read: {why}")),
                ..Default::default()
            },
        })
    }

    async fn unit_price(
        &self,
        session: &RoleSession,
        query: &PriceQuery,
    ) -> Result<Result<CachedPrice, String>, JobError> {
        let key = query.cache_key();
        let mut memo = self.memo.lock().await;
        if let Some(known) = memo.get(&key) {
            return Ok(known.clone());
        }
        let now = Utc::now();
        let mut scope = self.store.scoped(self.workspace).await?;
        let cached = resources::cached_price(&mut scope, &key, now - PRICE_LIFETIME).await?;
        scope.commit().await?;
        let answer = match cached {
            Some(cached) => Ok(cached),
            None => match session.unit_price(query).await {
                Ok(found) => {
                    let price = CachedPrice {
                        sku: found.as_ref().map(|p| p.sku.clone()),
                        currency: found.as_ref().map(|p| p.currency.clone()),
                        price: found.as_ref().map(|p| p.price),
                        description: found.as_ref().map(|p| p.description.clone()),
                        fetched_at: now,
                    };
                    let mut scope = self.store.scoped(self.workspace).await?;
                    resources::cache_price(&mut scope, &key, &price).await?;
                    scope.commit().await?;
                    Ok(price)
                }
                Err(AwsError::Revoked { .. }) => return Err(JobError::Cancelled),
                Err(e) => {
                    tracing::info!(query = %key, error = %e, "could not read the AWS Price List");
                    Err(e.to_string())
                }
            },
        };
        memo.insert(key, answer.clone());
        Ok(answer)
    }
}
