//! The recurring jobs of a connected integration.

use crate::{JobError, JobKind};
use chrono::{DateTime, TimeDelta, Utc};
use costline_domain::IntegrationId;
use costline_store::schedules::{self, ScheduleSpec, MIN_INTERVAL};
use costline_store::Scoped;
use std::time::Duration;

/// How often each connected integration is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleIntervals {
    /// Verify the role and its permissions.
    pub verify: Duration,
    /// Discover the organization's accounts.
    pub discover_accounts: Duration,
    /// Look for new CUR deliveries.
    pub poll_cur: Duration,
    /// Read every account's resources (Active Resources).
    pub inventory: Duration,
}

impl Default for ScheduleIntervals {
    fn default() -> Self {
        Self {
            verify: Duration::from_secs(6 * 3600),
            discover_accounts: Duration::from_secs(6 * 3600),
            poll_cur: Duration::from_secs(30 * 60),
            inventory: Duration::from_secs(6 * 3600),
        }
    }
}

impl ScheduleIntervals {
    /// Checks every interval is at least the minimum the schedules table takes.
    pub fn validate(&self) -> Result<(), JobError> {
        for (name, every) in [
            ("verification", self.verify),
            ("account discovery", self.discover_accounts),
            ("CUR polling", self.poll_cur),
            ("inventory", self.inventory),
        ] {
            if every < MIN_INTERVAL {
                return Err(JobError::Config(format!(
                    "the {name} interval must be at least {}s, got {}s",
                    MIN_INTERVAL.as_secs(),
                    every.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// The schedules of one integration; CUR polling only when it has a CUR location. The first
    /// occurrence is one interval from `now` (connecting enqueues the first run itself).
    pub fn specs(&self, with_cur: bool, now: DateTime<Utc>) -> Vec<ScheduleSpec> {
        let spec = |kind: &JobKind, every: Duration| ScheduleSpec {
            kind: kind.to_string(),
            every,
            payload: serde_json::json!({}),
            first_run_at: now + TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX),
        };
        let mut specs = vec![
            spec(&JobKind::VERIFY_INTEGRATION, self.verify),
            spec(&JobKind::DISCOVER_ACCOUNTS, self.discover_accounts),
            spec(&JobKind::INVENTORY, self.inventory),
        ];
        if with_cur {
            specs.push(spec(&JobKind::POLL_CUR, self.poll_cur));
        }
        specs
    }
}

/// Sets an integration's schedules (on connect, or when its CUR location changes), inside the
/// caller's transaction. Revocation deletes them with
/// `costline_store::schedules::delete_for_integration`.
pub async fn schedule_integration(
    scope: &mut Scoped,
    integration_id: IntegrationId,
    intervals: &ScheduleIntervals,
    with_cur: bool,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    schedules::replace_for_integration(scope, integration_id, &intervals.specs(with_cur, now))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cur_polling_only_with_a_cur_location() {
        let now = Utc::now();
        let intervals = ScheduleIntervals::default();
        let kinds = |with_cur| -> Vec<String> {
            intervals
                .specs(with_cur, now)
                .into_iter()
                .map(|s| s.kind)
                .collect()
        };
        assert_eq!(
            kinds(false),
            ["verify_integration", "discover_accounts", "inventory"]
        );
        assert_eq!(
            kinds(true),
            [
                "verify_integration",
                "discover_accounts",
                "inventory",
                "poll_cur"
            ]
        );
        let cur = &intervals.specs(true, now)[3];
        assert_eq!(cur.first_run_at, now + TimeDelta::minutes(30));
    }

    #[test]
    fn sub_minute_intervals_are_refused() {
        let intervals = ScheduleIntervals {
            poll_cur: Duration::from_secs(5),
            ..Default::default()
        };
        assert!(intervals
            .validate()
            .unwrap_err()
            .to_string()
            .contains("CUR polling"));
    }
}
