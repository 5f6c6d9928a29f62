//! In-process adapters of the per-instance ports: the cache (moka), the
//! embedded default. Entries are bounded by total bytes and expire by their
//! own TTL; generations live beside them, expiring only long after any
//! entry stored under them could. And the rate limiter ([`rate_limit`],
//! governor), the default and the fallback of the Redis one.

pub mod rate_limit;

pub use rate_limit::GovernorLimiter;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use catalog_domain::{Cache, CacheError, CacheKind};
use moka::Expiry;
use moka::future::Cache as Moka;

#[derive(Clone)]
struct Entry {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The in-process cache.
#[derive(Clone)]
pub struct MemoryCache {
    entries: Moka<String, Entry>,
    generations: Moka<String, u64>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// `max_bytes` bounds the stored bodies (LRU-like eviction beyond it);
    /// `generation_ttl` must exceed the longest entry TTL (a generation that
    /// expires resets to 0, which is only safe once every entry stored
    /// under the old 0 is gone).
    pub fn new(max_bytes: u64, generation_ttl: Duration) -> Self {
        Self {
            entries: Moka::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &String, v: &Entry| {
                    u32::try_from(k.len() + v.bytes.len() + 64).unwrap_or(u32::MAX)
                })
                .expire_after(PerEntryTtl)
                .build(),
            generations: Moka::builder()
                .max_capacity(10_000_000)
                .time_to_live(generation_ttl)
                .build(),
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn kind(&self) -> CacheKind {
        CacheKind::Memory
    }

    async fn generations(&self, namespaces: &[String]) -> Result<Vec<u64>, CacheError> {
        let mut out = Vec::with_capacity(namespaces.len());
        for ns in namespaces {
            out.push(self.generations.get(ns).await.unwrap_or(0));
        }
        Ok(out)
    }

    async fn bump(&self, namespaces: &[String]) -> Result<(), CacheError> {
        for ns in namespaces {
            // `and_upsert_with` is atomic per key: concurrent bumps never
            // lose an increment. The floor keeps an expired and restarted
            // counter from repeating an old value.
            let floor = catalog_domain::cache::generation_floor();
            self.generations
                .entry(ns.clone())
                .and_upsert_with(|cur| async move {
                    cur.map_or(floor, |e| (e.into_value() + 1).max(floor))
                })
                .await;
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.entries.get(key).await.map(|e| e.bytes.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.entries
            .insert(
                key.to_string(),
                Entry {
                    bytes: value.into(),
                    ttl,
                },
            )
            .await;
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
