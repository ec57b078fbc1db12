//! Limits on unauthenticated attempts (log-in, sign-up, email confirmation, support log-in), per
//! client address and per email address, in bounded memory.
//!
//! The client address is checked first and alone: an address over its limit never reaches the
//! per-email map, so one client cannot fill that map with made-up addresses. Callers pass a
//! validated, normalized email (at most 254 characters), never the raw form field. IPv6 clients
//! are counted per /64, the block one subscriber usually holds. Keys whose quota has fully
//! replenished are pruned every [`PRUNE_EVERY`] checks; a map still at [`MAX_KEYS`] after
//! pruning refuses new attempts (fail closed) rather than grow.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Attempts per minute from one client address.
const PER_IP_PER_MINUTE: u32 = 20;
/// Attempts per minute for one email address.
const PER_EMAIL_PER_MINUTE: u32 = 5;
/// Keys one map may hold (each is a few dozen bytes plus the key).
pub(crate) const MAX_KEYS: usize = 100_000;
/// Checks between two prunes.
const PRUNE_EVERY: u64 = 1024;

type Keyed<C> =
    RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Why an attempt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// Too many attempts: wait a minute.
    TooMany,
}

/// Per-address and per-email limits.
pub(crate) struct AttemptLimits<C: Clock = DefaultClock> {
    by_ip: Keyed<C>,
    by_email: Keyed<C>,
    checks: AtomicU64,
    max_keys: usize,
}

impl AttemptLimits {
    pub(crate) fn new() -> Self {
        Self::with_clock(DefaultClock::default(), MAX_KEYS)
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).expect("non-zero quota"))
}

/// The key of a client address: the address, or its /64 for IPv6.
fn ip_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".into(),
    }
}

impl<C: Clock + Clone> AttemptLimits<C> {
    pub(crate) fn with_clock(clock: C, max_keys: usize) -> Self {
        Self {
            by_ip: RateLimiter::dashmap_with_clock(per_minute(PER_IP_PER_MINUTE), clock.clone()),
            by_email: RateLimiter::dashmap_with_clock(per_minute(PER_EMAIL_PER_MINUTE), clock),
            checks: AtomicU64::new(0),
            max_keys,
        }
    }

    /// Another attempt from `ip`. Support console logins are limited by this alone: support
    /// tokens are random, and a key shared by everyone would let anyone lock every support
    /// engineer out with a few bad attempts.
    pub(crate) fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        self.tick();
        Self::check(&self.by_ip, ip_key(ip), self.max_keys)
    }

    /// One more attempt for `key`; a map full even after pruning refuses new attempts.
    fn check(limiter: &Keyed<C>, key: String, max_keys: usize) -> Result<(), Limited> {
        if limiter.len() >= max_keys {
            limiter.retain_recent();
            if limiter.len() >= max_keys {
                return Err(Limited::TooMany);
            }
        }
        limiter.check_key(&key).map_err(|_| Limited::TooMany)
    }

    /// Another attempt from `ip` for `email`, which the caller has validated (see
    /// [`costline_domain::normalize_email`]): the address is checked first, and alone when it is
    /// over its limit.
    pub(crate) fn check_email(&self, ip: Option<IpAddr>, email: &str) -> Result<(), Limited> {
        self.check_ip(ip)?;
        Self::check(&self.by_email, email.to_lowercase(), self.max_keys)
    }

    /// Prunes both maps every [`PRUNE_EVERY`] checks.
    fn tick(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
    }

    /// Drops every key whose quota has fully replenished.
    pub(crate) fn prune(&self) {
        for limiter in [&self.by_ip, &self.by_email] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.by_ip.len(), self.by_email.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_address_over_its_limit_never_reaches_the_email_map() {
        let limits = AttemptLimits::with_clock(FakeRelativeClock::default(), MAX_KEYS);
        for i in 0..PER_IP_PER_MINUTE {
            assert_eq!(
                limits.check_email(ip("198.51.100.7"), &format!("u{i}@example.com")),
                Ok(())
            );
        }
        for i in 0..1000 {
            assert_eq!(
                limits.check_email(ip("198.51.100.7"), &format!("new{i}@example.com")),
                Err(Limited::TooMany)
            );
        }
        assert_eq!(limits.sizes(), (1, PER_IP_PER_MINUTE as usize));
        // Another address is not affected.
        assert_eq!(
            limits.check_email(ip("198.51.100.8"), "u0@example.com"),
            Ok(())
        );
    }

    #[test]
    fn an_email_is_limited_across_addresses_and_case() {
        let limits = AttemptLimits::with_clock(FakeRelativeClock::default(), MAX_KEYS);
        for i in 0..PER_EMAIL_PER_MINUTE {
            let addr = format!("198.51.100.{i}");
            assert_eq!(limits.check_email(ip(&addr), "Ana@Example.com"), Ok(()));
        }
        assert_eq!(
            limits.check_email(ip("203.0.113.1"), "ana@example.com"),
            Err(Limited::TooMany)
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let limits = AttemptLimits::with_clock(FakeRelativeClock::default(), MAX_KEYS);
        for i in 0..PER_IP_PER_MINUTE {
            assert_eq!(limits.check_ip(ip(&format!("2001:db8:1:2::{i:x}"))), Ok(()));
        }
        assert_eq!(
            limits.check_ip(ip("2001:db8:1:2:ffff::1")),
            Err(Limited::TooMany)
        );
        assert_eq!(limits.check_ip(ip("2001:db8:1:3::1")), Ok(()));
        assert_eq!(ip_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }

    #[test]
    fn replenished_keys_are_pruned_and_a_full_map_fails_closed() {
        let clock = FakeRelativeClock::default();
        let limits = AttemptLimits::with_clock(clock.clone(), 500);
        for i in 0..500 {
            assert_eq!(
                limits.check_ip(ip(&format!("10.0.{}.{}", i / 256, i % 256))),
                Ok(())
            );
        }
        assert_eq!(limits.sizes().0, 500);
        // Full, and every key still counts: a new address is refused, not added.
        assert_eq!(limits.check_ip(ip("10.9.9.9")), Err(Limited::TooMany));
        assert_eq!(limits.sizes().0, 500);
        // Once the quotas have replenished, a full map prunes itself before it refuses.
        clock.advance(Duration::from_secs(120));
        assert_eq!(limits.check_ip(ip("10.9.9.9")), Ok(()));
        assert_eq!(limits.sizes().0, 1);
        // And every PRUNE_EVERY checks, full or not.
        for i in 0..100 {
            limits.check_ip(ip(&format!("10.1.0.{i}"))).unwrap();
        }
        clock.advance(Duration::from_secs(120));
        for _ in 0..PRUNE_EVERY {
            limits.check_ip(None).ok();
        }
        assert!(limits.sizes().0 <= 2, "{:?}", limits.sizes());
    }
}
