//! Reconnect delays: exponential growth with jitter, so a fleet that lost gm-server at the same
//! moment does not come back in lockstep.

use std::time::Duration;

use rand::Rng;

/// Reconnect policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry. Default 200 ms.
    pub initial: Duration,
    /// Largest delay. Default 30 s.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The ceiling of the delay before retry number `attempt` (0-based): `initial · 2^attempt`,
    /// capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// A delay drawn uniformly from the upper half of the ceiling ("equal jitter"): never less
    /// than half, so retries do not hammer, and spread out so they do not synchronize.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_jitter_bounds() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(40), Duration::from_secs(2));
        let mut distinct = std::collections::HashSet::new();
        for attempt in 0..10 {
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(
                    d >= b.ceiling(attempt) / 2 && d <= b.ceiling(attempt),
                    "{d:?}"
                );
                distinct.insert(d);
            }
        }
        assert!(distinct.len() > 100, "jitter spreads delays");
    }
}
