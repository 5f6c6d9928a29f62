//! The shared rate limiter: GCRA in one Lua script, so every instance of
//! a deployment counts against the same limit.
//!
//! One `EVALSHA` per check (the script is loaded once per connection, by
//! `redis::Script`), atomic on the server, with Redis's clock so the
//! instances' clocks need not agree. A client's state is one key,
//! `{prefix}:rl:{client}`, holding its theoretical arrival time and
//! expiring when its bucket is full again. Every check is bounded by the
//! timeout; the caller ([`catalog_domain::FailOpen`]) falls back to the
//! in-process limiter when it fails.

use std::time::Duration;

use async_trait::async_trait;
use catalog_domain::{Decision, Quota, RateLimitError, RateLimiter};
use deadpool_redis::Pool;

/// GCRA. KEYS[1]: the client's key. ARGV: the emission interval and the
/// burst, in microseconds and requests. Returns {allowed (0|1), remaining,
/// microseconds until the bucket is full, microseconds until the next
/// request is allowed}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), new_tat - now, 0}
";

/// Settings of the Redis rate limiter.
#[derive(Debug, Clone)]
pub struct RedisLimiterSettings {
    pub url: String,
    /// The deployment's key prefix (the cache's): keys are
    /// `{prefix}:rl:{client}`.
    pub prefix: String,
    /// Bound on each check, connection included: keep it small, a check
    /// stands in front of every request.
    pub timeout: Duration,
    pub pool_size: usize,
}

/// GCRA over Redis.
pub struct RedisRateLimiter {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    quota: Quota,
    script: redis::Script,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// Builds the pool; connections are made lazily, so this succeeds
    /// while Redis is down (checks then fail and the caller falls back).
    pub fn new(settings: RedisLimiterSettings, quota: Quota) -> Result<Self, RateLimitError> {
        let pool = super::pool(&settings.url, settings.pool_size, settings.timeout)
            .map_err(|e| RateLimitError::new("creating the Redis pool", e))?;
        Ok(Self {
            pool,
            prefix: settings.prefix,
            timeout: settings.timeout,
            quota,
            script: redis::Script::new(GCRA_SCRIPT),
        })
    }
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    fn quota(&self) -> Quota {
        self.quota
    }

    async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
        const CONTEXT: &str = "checking a rate limit";
        let interval_us = (self.quota.interval().as_micros() as u64).max(1);
        let key = format!("{}:rl:{key}", self.prefix);
        let work = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| RateLimitError::new(CONTEXT, e))?;
            self.script
                .key(key)
                .arg(interval_us)
                .arg(self.quota.burst.get())
                .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                .await
                .map_err(|e| RateLimitError::new(CONTEXT, e))
        };
        let (allowed, remaining, reset_us, retry_us) =
            match tokio::time::timeout(self.timeout, work).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(RateLimitError::new(
                        CONTEXT,
                        format!("timed out after {} ms", self.timeout.as_millis()),
                    ));
                }
            };
        Ok(Decision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            reset: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }
}
