//! The in-process rate limiter: `governor`'s keyed GCRA limiter behind the
//! domain's [`RateLimiter`] port. A check is a hash-map lookup and one
//! compare-and-swap: microseconds, no I/O, never an error.
//!
//! Keys that were not seen for a while are dropped now and then
//! (`retain_recent`), so memory follows the clients of the last few
//! seconds, not every client ever seen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use catalog_domain::{Decision, Quota, RateLimitError, RateLimiter};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

type Keyed = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// How often stale keys are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A per-key GCRA limiter held in this process.
pub struct GovernorLimiter {
    quota: Quota,
    limiter: Keyed,
    started: Instant,
    /// Milliseconds since `started` of the last sweep.
    swept_ms: AtomicU64,
}

impl std::fmt::Debug for GovernorLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernorLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl GovernorLimiter {
    pub fn new(quota: Quota) -> Self {
        // `Quota` guarantees a non-zero count, so the interval is at least
        // a microsecond (count ≤ 1,000,000 per second).
        let interval = quota.interval().max(Duration::from_nanos(1));
        let gq = governor::Quota::with_period(interval)
            .unwrap_or_else(|| governor::Quota::per_second(quota.count))
            .allow_burst(quota.burst);
        Self {
            quota,
            limiter: governor::RateLimiter::keyed(gq)
                .with_middleware::<StateInformationMiddleware>(),
            started: Instant::now(),
            swept_ms: AtomicU64::new(0),
        }
    }

    /// Keys currently held (tests, diagnostics).
    pub fn keys(&self) -> usize {
        self.limiter.len()
    }

    /// Drops the keys whose bucket is full again (they hold no state worth
    /// keeping) and gives the memory back.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Sweeps at most once per [`SWEEP_EVERY`], on whichever request
    /// comes first: no background task, and an idle limiter costs nothing.
    fn maybe_sweep(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.swept_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= SWEEP_EVERY.as_millis() as u64
            && self
                .swept_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep();
        }
    }
}

#[async_trait]
impl RateLimiter for GovernorLimiter {
    fn quota(&self) -> Quota {
        self.quota
    }

    async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
        Ok(self.check_now(key))
    }
}

impl GovernorLimiter {
    /// The check itself, synchronous.
    pub fn check_now(&self, key: &str) -> Decision {
        self.maybe_sweep();
        let interval = self.quota.interval();
        let burst = self.quota.burst.get();
        match self.limiter.check_key(&key.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    remaining,
                    reset: interval * burst.saturating_sub(remaining),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => Decision {
                allowed: false,
                remaining: 0,
                reset: interval * burst,
                retry_after: not_until.wait_time_from(self.limiter.clock().now()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::num::NonZeroU32;

    fn quota(count: u32, burst: u32) -> Quota {
        Quota {
            count: NonZeroU32::new(count).unwrap(),
            per: Duration::from_secs(1),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_burst_then_refusals_with_the_wait() {
        let l = GovernorLimiter::new(quota(10, 3));
        let remaining: Vec<u32> = (0..3).map(|_| l.check_now("a").remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check_now("a");
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_millis(100));
        assert!(l.check_now("b").allowed, "keys are independent");
    }

    #[test]
    fn sweeping_forgets_full_buckets() {
        let l = GovernorLimiter::new(quota(1_000_000, 1));
        for i in 0..100 {
            l.check_now(&format!("k{i}"));
        }
        assert_eq!(l.keys(), 100);
        std::thread::sleep(Duration::from_millis(5));
        l.sweep();
        assert_eq!(l.keys(), 0);
    }
}
