//! Redis cache adapter over a deadpool-redis pool.
//!
//! Every operation is bounded by a short timeout (default 50 ms) so a slow
//! or dead Redis costs a request at most that, and the pool replaces broken
//! connections by itself when Redis returns. Keys live under a configurable
//! prefix so several deployments can share one Redis; invalidation bumps
//! generation counters (`INCR`), never `SCAN`/`KEYS`.

pub mod rate_limit;

pub use rate_limit::RedisRateLimiter;

use std::time::Duration;

use async_trait::async_trait;
use catalog_domain::{Cache, CacheError, CacheKind};
use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};

/// Sets each generation to `max(current + 1, floor)` and renews its TTL.
/// The floor (the time in microseconds) means a counter that expired and
/// restarted never takes a value it had before.
const BUMP_SCRIPT: &str = r"
local floor = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local v = redis.call('INCR', k)
  if v < floor then redis.call('SET', k, ARGV[1]) end
  redis.call('EXPIRE', k, tonumber(ARGV[2]))
end
return 1
";

/// Reads the generations (KEYS) and the entry under the key they give
/// (ARGV: prefix, kind, digest), in the domain's key format.
const LOOKUP_SCRIPT: &str = r"
local gens = redis.call('MGET', unpack(KEYS))
local key = ARGV[1] .. ':' .. ARGV[2]
for i, g in ipairs(gens) do
  if not g then gens[i] = '0' end
  key = key .. ':g' .. gens[i]
end
key = key .. ':' .. ARGV[3]
return {gens, redis.call('GET', key)}
";

/// Settings of the Redis adapter.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    /// Key prefix (`catalog` by default); keys are `{prefix}:...`.
    pub prefix: String,
    /// Bound on each cache operation, connection included.
    pub timeout: Duration,
    pub pool_size: usize,
    /// How long a generation counter outlives its last bump; must exceed
    /// the longest entry TTL.
    pub generation_ttl: Duration,
}

/// A lazily connecting pool whose every wait is bounded by `timeout`.
fn pool(
    url: &str,
    size: usize,
    timeout: Duration,
) -> Result<Pool, deadpool_redis::CreatePoolError> {
    let mut cfg = Config::from_url(url.to_string());
    cfg.pool = Some(PoolConfig {
        max_size: size,
        timeouts: Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        },
        ..PoolConfig::default()
    });
    cfg.create_pool(Some(Runtime::Tokio1))
}

/// The Redis cache.
#[derive(Clone)]
pub struct RedisCache {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    generation_ttl_secs: u64,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Builds the pool; connections are made lazily, so this succeeds even
    /// while Redis is down (the service then runs degraded).
    pub fn new(settings: RedisSettings) -> Result<Self, CacheError> {
        let pool = pool(&settings.url, settings.pool_size, settings.timeout)
            .map_err(|e| CacheError::new("creating the Redis pool", e))?;
        Ok(Self {
            pool,
            prefix: settings.prefix,
            timeout: settings.timeout,
            generation_ttl_secs: settings.generation_ttl.as_secs().max(1),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    fn generation_key(&self, ns: &str) -> String {
        format!("{}:gen:{ns}", self.prefix)
    }

    /// Runs `op` on a pooled connection within the timeout.
    async fn with_conn<T, F, Fut>(&self, context: &'static str, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|e| CacheError::new(context, e))?;
            op(conn).await.map_err(|e| CacheError::new(context, e))
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(CacheError::new(
                context,
                format!("timed out after {} ms", self.timeout.as_millis()),
            )),
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    fn kind(&self) -> CacheKind {
        CacheKind::Shared
    }

    async fn generations(&self, namespaces: &[String]) -> Result<Vec<u64>, CacheError> {
        if namespaces.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = namespaces.iter().map(|n| self.generation_key(n)).collect();
        let values: Vec<Option<u64>> = self
            .with_conn("reading generations", |mut c| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut c).await
            })
            .await?;
        if values.len() != namespaces.len() {
            return Err(CacheError::new(
                "reading generations",
                "unexpected reply length",
            ));
        }
        Ok(values.into_iter().map(|v| v.unwrap_or(0)).collect())
    }

    async fn bump(&self, namespaces: &[String]) -> Result<(), CacheError> {
        if namespaces.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = namespaces.iter().map(|n| self.generation_key(n)).collect();
        let ttl = self.generation_ttl_secs;
        let floor = catalog_domain::cache::generation_floor();
        self.with_conn("bumping generations", |mut c| async move {
            // One script: atomic across the keys, one round trip.
            redis::cmd("EVAL")
                .arg(BUMP_SCRIPT)
                .arg(keys.len())
                .arg(&keys)
                .arg(floor)
                .arg(ttl)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn lookup(
        &self,
        kind: &str,
        namespaces: &[String],
        digest: &str,
    ) -> Result<(Vec<u64>, Option<Vec<u8>>), CacheError> {
        if namespaces.is_empty() {
            let entry = self
                .get(&catalog_domain::cache::key_with_digest(kind, &[], digest))
                .await?;
            return Ok((Vec::new(), entry));
        }
        let keys: Vec<String> = namespaces.iter().map(|n| self.generation_key(n)).collect();
        let (prefix, kind, digest) = (self.prefix.clone(), kind.to_string(), digest.to_string());
        let (gens, entry): (Vec<String>, Option<Vec<u8>>) = self
            .with_conn("looking up an entry", |mut c| async move {
                redis::cmd("EVAL")
                    .arg(LOOKUP_SCRIPT)
                    .arg(keys.len())
                    .arg(&keys)
                    .arg(prefix)
                    .arg(kind)
                    .arg(digest)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let gens = gens
            .iter()
            .map(|g| g.parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| CacheError::new("looking up an entry", e))?;
        if gens.len() != namespaces.len() {
            return Err(CacheError::new(
                "looking up an entry",
                "unexpected reply length",
            ));
        }
        Ok((gens, entry))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.key(key);
        self.with_conn("reading an entry", |mut c| async move {
            c.get::<_, Option<Vec<u8>>>(key).await
        })
        .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(key);
        let secs = ttl.as_secs().max(1);
        self.with_conn("storing an entry", |mut c| async move {
            c.set_ex::<_, _, ()>(key, value, secs).await
        })
        .await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let pong: String = self
            .with_conn("ping", |mut c| async move {
                redis::cmd("PING").query_async(&mut c).await
            })
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CacheError::new(
                "ping",
                format!("unexpected reply {pong:?}"),
            ))
        }
    }
}
