//! The rate-limiter port: how many requests a client may make, and the
//! fail-open rule that keeps a shared limiter's outage from failing
//! requests.
//!
//! The port lives in the domain, beside the cache port, because it is
//! shaped like it: an in-process adapter and a shared (Redis) adapter
//! behind one trait, composed by [`FailOpen`] as the service composes its
//! cache. It knows nothing of HTTP: a client is an opaque key (the edge
//! derives it from the peer address or the token's subject) and a
//! decision is numbers the edge turns into headers.
//!
//! Every adapter implements the same algorithm, GCRA (the generic cell
//! rate algorithm, a token bucket kept as one timestamp): a [`Quota`]
//! lets `burst` requests through at once and refills one every
//! [`Quota::interval`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

/// A sustained rate and a burst: `count` requests per `per`, up to `burst`
/// at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: NonZeroU32,
    pub per: Duration,
    pub burst: NonZeroU32,
}

impl Quota {
    /// The time one request's worth of quota takes to come back.
    pub fn interval(&self) -> Duration {
        self.per / self.count.get()
    }

    /// How long an empty bucket takes to fill up again, in whole seconds
    /// (at least 1): the `w` of the `RateLimit-Policy` header, whose `q`
    /// is the burst.
    pub fn window_secs(&self) -> u64 {
        let full = self.interval() * self.burst.get();
        ceil_secs(full).max(1)
    }

    /// Parses `CATALOG_RATE_LIMIT`: `200/s`, `12000/m`, optionally
    /// followed by `,burst=N` (the burst defaults to the count); `off` is
    /// `None`.
    pub fn parse(raw: &str) -> Result<Option<Quota>, String> {
        const SHAPE: &str = "must look like 200/s,burst=400 (or /m), or off";
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let mut parts = raw.split(',').map(str::trim);
        let rate = parts.next().unwrap_or_default();
        let (count, unit) = rate.split_once('/').ok_or(SHAPE)?;
        let count: u32 = count.trim().parse().map_err(|_| SHAPE)?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(SHAPE.into()),
        };
        let count = NonZeroU32::new(count).ok_or("the rate must be at least 1")?;
        let mut burst = count;
        for part in parts {
            let (name, value) = part.split_once('=').ok_or(SHAPE)?;
            if name.trim() != "burst" {
                return Err(format!("unknown option '{}'; {SHAPE}", name.trim()));
            }
            let n: u32 = value.trim().parse().map_err(|_| SHAPE)?;
            burst = NonZeroU32::new(n).ok_or("burst must be at least 1")?;
        }
        if count.get() > 1_000_000 || burst.get() > 1_000_000 {
            return Err("rate and burst must be at most 1000000".into());
        }
        Ok(Some(Quota { count, per, burst }))
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per >= Duration::from_secs(60) {
            "m"
        } else {
            "s"
        };
        write!(f, "{}/{unit},burst={}", self.count, self.burst)
    }
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// One client's standing after a request was counted (or refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests the client may still make at once.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until the next request is allowed (zero when this one was).
    pub retry_after: Duration,
}

/// What a limiter adapter reports when it cannot decide (its backend is
/// down or slow). Callers fall back; they never fail a request for it.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter: {context}: {message}")]
pub struct RateLimitError {
    pub context: &'static str,
    pub message: String,
}

impl RateLimitError {
    pub fn new(context: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            context,
            message: message.to_string(),
        }
    }
}

/// A keyed rate limiter.
///
/// Adapters count one request for `key` per call, following GCRA with
/// their [`Quota`], and MUST bound the call by a short timeout, returning
/// `RateLimitError` (never hanging, never panicking) when their backend is
/// slow or unreachable. An in-process adapter never fails.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    fn quota(&self) -> Quota;
    async fn check(&self, key: &str) -> Result<Decision, RateLimitError>;
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A shared limiter (one limit across every instance) that falls back to
/// an in-process one while the shared one fails: the cache's fail-open
/// rule. After a failure the shared limiter is left alone for
/// `retry_after`, so a dead Redis costs one timeout per interval, not one
/// per request; failures are logged at warn, at most once per
/// `log_interval`.
pub struct FailOpen {
    shared: Arc<dyn RateLimiter>,
    local: Arc<dyn RateLimiter>,
    retry_after: Duration,
    log_interval: Duration,
    open_until_ms: AtomicU64,
    last_logged_ms: AtomicU64,
    suppressed: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for FailOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailOpen")
            .field("quota", &self.local.quota())
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}

impl FailOpen {
    pub fn new(shared: Arc<dyn RateLimiter>, local: Arc<dyn RateLimiter>) -> Self {
        Self {
            shared,
            local,
            retry_after: Duration::from_secs(1),
            log_interval: Duration::from_secs(10),
            open_until_ms: AtomicU64::new(0),
            last_logged_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Failures of the shared limiter since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn failed(&self, e: &RateLimitError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        self.open_until_ms
            .store(now + self.retry_after.as_millis() as u64, Ordering::Relaxed);
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.log_interval.as_millis() as u64
            && self
                .last_logged_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                error = %e,
                suppressed,
                total_failures = self.failures(),
                "shared rate limiter unavailable; limiting per instance"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl RateLimiter for FailOpen {
    fn quota(&self) -> Quota {
        self.local.quota()
    }

    async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
        if now_ms() >= self.open_until_ms.load(Ordering::Relaxed) {
            match self.shared.check(key).await {
                Ok(d) => return Ok(d),
                Err(e) => self.failed(&e),
            }
        }
        self.local.check(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(count: u32, per: u64, burst: u32) -> Quota {
        Quota {
            count: NonZeroU32::new(count).unwrap(),
            per: Duration::from_secs(per),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn parses_rates_bursts_and_off() {
        assert_eq!(Quota::parse("200/s,burst=400"), Ok(Some(q(200, 1, 400))));
        assert_eq!(Quota::parse(" 600/m "), Ok(Some(q(600, 60, 600))));
        assert_eq!(Quota::parse("5/s, burst = 1"), Ok(Some(q(5, 1, 1))));
        assert_eq!(Quota::parse("off"), Ok(None));
        for bad in [
            "",
            "200",
            "200/h",
            "0/s",
            "x/s",
            "200/s,burst=0",
            "200/s,b=3",
            "200/s,burst",
            "-1/s",
            "2000000/s",
        ] {
            assert!(Quota::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn interval_and_window() {
        assert_eq!(q(200, 1, 400).interval(), Duration::from_millis(5));
        assert_eq!(q(200, 1, 400).window_secs(), 2);
        assert_eq!(q(60, 60, 10).window_secs(), 10);
        assert_eq!(q(1000, 1, 1).window_secs(), 1, "at least a second");
        assert_eq!(q(3, 1, 2).window_secs(), 1, "0.67 s rounds up");
        assert_eq!(q(200, 1, 400).to_string(), "200/s,burst=400");
    }

    struct Fixed(Result<bool, ()>);

    #[async_trait]
    impl RateLimiter for Fixed {
        fn quota(&self) -> Quota {
            q(1, 1, 1)
        }
        async fn check(&self, _key: &str) -> Result<Decision, RateLimitError> {
            match self.0 {
                Ok(allowed) => Ok(Decision {
                    allowed,
                    remaining: 0,
                    reset: Duration::ZERO,
                    retry_after: Duration::ZERO,
                }),
                Err(()) => Err(RateLimitError::new("test", "down")),
            }
        }
    }

    #[tokio::test]
    async fn fail_open_uses_the_local_limiter_while_the_shared_one_fails() {
        let limiter = FailOpen::new(Arc::new(Fixed(Err(()))), Arc::new(Fixed(Ok(true))));
        assert!(limiter.check("a").await.unwrap().allowed);
        assert!(limiter.check("a").await.unwrap().allowed);
        // The second call did not try the shared limiter again.
        assert_eq!(limiter.failures(), 1);
        let limiter = FailOpen::new(Arc::new(Fixed(Ok(false))), Arc::new(Fixed(Ok(true))));
        assert!(!limiter.check("a").await.unwrap().allowed, "shared decides");
    }
}
