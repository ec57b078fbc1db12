//! Exponential backoff with jitter between attempts.

use std::time::Duration;

/// The wait before retrying after failed attempt number `attempt` (1 for the first): `base`
/// doubled per attempt, capped at `cap`, of which a random share (`jitter` in 0..1) of the upper
/// half is taken, so that jobs that failed together ("equal jitter") do not retry together,
/// yet each waits at least half its step.
pub fn backoff_delay(attempt: i32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let step = base.saturating_mul(1u32 << exponent).min(cap);
    let half = step / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(10);
    const CAP: Duration = Duration::from_secs(3600);

    #[test]
    fn doubles_per_attempt_within_jitter_bounds() {
        for (attempt, step) in [(1, 10), (2, 20), (3, 40), (4, 80)] {
            let step = Duration::from_secs(step);
            assert_eq!(backoff_delay(attempt, BASE, CAP, 0.0), step / 2);
            assert_eq!(backoff_delay(attempt, BASE, CAP, 1.0), step);
            let mid = backoff_delay(attempt, BASE, CAP, 0.5);
            assert!(mid > step / 2 && mid < step);
        }
    }

    #[test]
    fn is_capped_and_never_overflows() {
        assert_eq!(backoff_delay(12, BASE, CAP, 1.0), CAP);
        assert_eq!(backoff_delay(i32::MAX, BASE, CAP, 1.0), CAP);
        assert_eq!(backoff_delay(0, BASE, CAP, 1.0), BASE);
        assert_eq!(backoff_delay(-3, BASE, CAP, 0.0), BASE / 2);
    }
}
