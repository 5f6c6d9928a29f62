//! The cache port and the cache-aside machinery the service uses: versioned
//! namespaces for O(1) invalidation, canonical keys, single-flight misses and
//! fail-open error handling.
//!
//! # Freshness
//! Every cached entry's key embeds the *generation* of its namespace
//! (`list`, `stats`, `categories`, `brands`, and for a product's detail
//! both the `detail` epoch and the `product:{id}` counter). A write bumps
//! the generations it affects; entries stored under older generations are
//! never read again and age out by TTL. Readers read the generation *before*
//! querying storage and store under that generation, so a reader that raced
//! a write can only put its (possibly stale) answer where no later reader
//! looks.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// What a cache adapter reports when an operation fails (including its own
/// timeout). The service never fails a request because of it.
#[derive(Debug, thiserror::Error)]
#[error("cache: {context}: {message}")]
pub struct CacheError {
    pub context: &'static str,
    pub message: String,
}

impl CacheError {
    pub fn new(context: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            context,
            message: message.to_string(),
        }
    }
}

/// How the cache is deployed, for `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// In-process: always up, private to this instance.
    Memory,
    /// A shared server (Redis).
    Shared,
}

/// A byte cache with namespace generations.
///
/// Adapters MUST bound every operation by their configured timeout and
/// return `CacheError` (never hang, never panic) when the backend is slow,
/// unreachable or returns something unexpected. Keys are plain ASCII;
/// adapters may prefix them.
#[async_trait]
pub trait Cache: Send + Sync {
    fn kind(&self) -> CacheKind;
    /// The current generation of each namespace (0 when never bumped), in
    /// one round trip.
    async fn generations(&self, namespaces: &[String]) -> Result<Vec<u64>, CacheError>;
    /// Raises each namespace's generation, atomically, to a value it never
    /// had before — not even before its counter expired: adapters set it to
    /// `max(current + 1, generation_floor())`.
    async fn bump(&self, namespaces: &[String]) -> Result<(), CacheError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// The generations of `namespaces` and the entry stored under
    /// [`key_with_digest`]`(kind, generations, digest)`. Adapters with a
    /// server-side language (Redis) do it in one round trip; the provided
    /// version takes two.
    async fn lookup(
        &self,
        kind: &str,
        namespaces: &[String],
        digest: &str,
    ) -> Result<(Vec<u64>, Option<Vec<u8>>), CacheError> {
        let generations = self.generations(namespaces).await?;
        let entry = self
            .get(&key_with_digest(kind, &generations, digest))
            .await?;
        Ok((generations, entry))
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    async fn ping(&self) -> Result<(), CacheError>;
}

/// The lowest value a bump may set: the current time in microseconds.
///
/// Generation counters expire (they must not pile up forever) and then
/// read as 0; a plain counter would restart at 1 and could reuse a value
/// whose entries are still cached. Time only moves forward, so a bump
/// after an expiry lands above every value the counter ever had (a counter
/// gains at most one per bump, far less than a microsecond's worth).
pub fn generation_floor() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Kinds of cached responses, each with its TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    List,
    Detail,
    Stats,
    Categories,
    Brands,
    Facets,
}

impl EntryKind {
    /// Every kind, in a fixed order (metrics list them in it).
    pub const ALL: [EntryKind; 6] = [
        EntryKind::List,
        EntryKind::Detail,
        EntryKind::Stats,
        EntryKind::Categories,
        EntryKind::Brands,
        EntryKind::Facets,
    ];

    /// Position in [`EntryKind::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            EntryKind::List => 0,
            EntryKind::Detail => 1,
            EntryKind::Stats => 2,
            EntryKind::Categories => 3,
            EntryKind::Brands => 4,
            EntryKind::Facets => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EntryKind::List => "list",
            EntryKind::Detail => "detail",
            EntryKind::Stats => "stats",
            EntryKind::Categories => "categories",
            EntryKind::Brands => "brands",
            EntryKind::Facets => "facets",
        }
    }
}

/// TTLs per kind: the backstop behind generation-based invalidation.
#[derive(Debug, Clone)]
pub struct CacheTtls {
    pub list: Duration,
    pub detail: Duration,
    pub stats: Duration,
    pub categories: Duration,
    pub brands: Duration,
}

impl Default for CacheTtls {
    /// The origin design's TTLs.
    fn default() -> Self {
        Self {
            list: Duration::from_secs(120),
            detail: Duration::from_secs(900),
            stats: Duration::from_secs(300),
            categories: Duration::from_secs(3600),
            brands: Duration::from_secs(3600),
        }
    }
}

impl CacheTtls {
    pub fn of(&self, kind: EntryKind) -> Duration {
        match kind {
            EntryKind::List => self.list,
            EntryKind::Detail => self.detail,
            EntryKind::Stats => self.stats,
            EntryKind::Categories => self.categories,
            EntryKind::Brands => self.brands,
            // Facets summarise like stats and age like them.
            EntryKind::Facets => self.stats,
        }
    }
}

/// The generation namespace of a product's detail entry.
pub fn product_namespace(id: i64) -> String {
    format!("product:{id}")
}

/// The namespaces a read of `kind` depends on.
pub fn namespaces_for(kind: EntryKind, product: Option<i64>) -> Vec<String> {
    let mut ns = vec![kind.name().to_string()];
    if let Some(id) = product {
        ns.push(product_namespace(id));
    }
    ns
}

/// A stable key: kind, generations and a hash of the canonical request.
pub fn entry_key(kind: EntryKind, generations: &[u64], canonical: &[u8]) -> String {
    key_with_digest(kind.name(), generations, &request_digest(canonical))
}

/// The hex digest of a canonical request (the last part of its key).
pub fn request_digest(canonical: &[u8]) -> String {
    hex16(&Sha256::digest(canonical))
}

/// The digest of a canonical request value, from its `Hash` impl fed to
/// SHA-256. Hashing cannot fail, so no request can ever get an empty (and
/// so shared) key, as a serialization that failed would give. Equal values
/// hash equally; the encoding may differ between builds and platforms,
/// which costs a miss, never a wrong answer.
pub fn request_digest_of<T: Hash + ?Sized>(value: &T) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        // Only the SHA-256 state is used, never this 64-bit summary.
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut h = Sha(Sha256::new());
    value.hash(&mut h);
    hex16(&h.0.finalize())
}

fn hex16(digest: &[u8]) -> String {
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `{kind}:g{gen}…:{digest}`: the key format. Adapters that build keys
/// server-side (see [`Cache::lookup`]) MUST build exactly this.
pub fn key_with_digest(kind: &str, generations: &[u64], digest: &str) -> String {
    let mut key = String::with_capacity(80);
    key.push_str(kind);
    for g in generations {
        key.push_str(&format!(":g{g}"));
    }
    key.push(':');
    key.push_str(digest);
    key
}

/// A strong entity tag over a body: the first 128 bits of its SHA-256, so
/// equal bodies get equal tags on every instance.
pub fn etag_for(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push('"');
    tag
}

/// A rendered response body with its tag, as stored in the cache:
/// `etag \n body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub body: Arc<[u8]>,
    pub etag: Arc<str>,
    pub hit: bool,
}

impl Rendered {
    pub fn new(body: Vec<u8>) -> Self {
        let etag = etag_for(&body);
        Self {
            body: body.into(),
            etag: etag.into(),
            hit: false,
        }
    }

    /// A body with a tag of its own (a product's version tag).
    pub fn with_etag(body: Vec<u8>, etag: String) -> Self {
        Self {
            body: body.into(),
            etag: etag.into(),
            hit: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.etag.len() + 1 + self.body.len());
        v.extend_from_slice(self.etag.as_bytes());
        v.push(b'\n');
        v.extend_from_slice(&self.body);
        v
    }

    /// `None` for anything that is not a well-formed entry (a cache
    /// returning garbage is treated as a miss).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let nl = bytes.iter().position(|b| *b == b'\n')?;
        let etag = std::str::from_utf8(&bytes[..nl]).ok()?;
        let well_formed = (3..=80).contains(&etag.len())
            && etag.starts_with('"')
            && etag.ends_with('"')
            && etag[1..etag.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !well_formed {
            return None;
        }
        Some(Self {
            body: bytes[nl + 1..].into(),
            etag: etag.into(),
            hit: true,
        })
    }
}

/// Rate-limited error reporting: a dead cache logs once per interval, with
/// how many failures were suppressed, instead of once per request.
#[derive(Debug)]
pub struct ErrorReporter {
    interval_ms: u64,
    last_logged_ms: AtomicU64,
    failures: AtomicU64,
    suppressed: AtomicU64,
}

impl ErrorReporter {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval_ms: interval.as_millis() as u64,
            last_logged_ms: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Total failures seen since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn report(&self, e: &CacheError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.interval_ms
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
                "cache unavailable; serving from the database"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a flight left for those who waited on it.
#[derive(Debug, Default)]
enum Outcome {
    #[default]
    Running,
    Done(Rendered),
    /// The leader failed; errors are not shared, so each waiter computes for
    /// itself — concurrently, not one after another under the lock.
    Failed,
}

type Slot = Arc<futures::lock::Mutex<Outcome>>;

/// Single-flight: concurrent misses on one key run one computation; the
/// others wait for its result.
#[derive(Debug, Default)]
pub struct SingleFlight {
    flights: Mutex<HashMap<String, Slot>>,
}

impl SingleFlight {
    /// Runs `compute` unless a flight for `key` is already under way, in
    /// which case waits for it and shares its result. Errors are not shared:
    /// a waiter whose leader failed computes for itself.
    pub async fn run<F, Fut, E>(&self, key: &str, compute: F) -> Result<(Rendered, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Rendered, E>>,
    {
        let slot = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.entry(key.to_string()).or_default().clone()
        };
        let mut guard = slot.lock().await;
        match &*guard {
            // A leader finished while we waited.
            Outcome::Done(r) => return Ok((r.clone(), true)),
            Outcome::Failed => {
                drop(guard);
                return compute().await.map(|r| (r, false));
            }
            Outcome::Running => {}
        }
        let result = compute().await;
        *guard = match &result {
            Ok(r) => Outcome::Done(r.clone()),
            Err(_) => Outcome::Failed,
        };
        drop(guard);
        // The flight is over: later callers go to the cache (or compute).
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.get(key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
            flights.remove(key);
        }
        result.map(|r| (r, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_round_trip_and_garbage() {
        let r = Rendered::new(b"{\"a\":1}".to_vec());
        let back = Rendered::decode(&r.encode()).unwrap();
        assert_eq!(back.body, r.body);
        assert_eq!(back.etag, r.etag);
        assert!(back.hit);
        assert!(Rendered::decode(b"garbage").is_none());
        assert!(Rendered::decode(b"\"z z\"\n{}").is_none());
        assert!(Rendered::decode(b"nothing-quoted\n{}").is_none());
        assert!(Rendered::decode(b"").is_none());
    }

    #[test]
    fn value_digests_tell_values_apart() {
        let a = request_digest_of(&("list", 1u32, vec!["a", "b"]));
        assert_eq!(a, request_digest_of(&("list", 1u32, vec!["a", "b"])));
        assert_ne!(a, request_digest_of(&("list", 1u32, vec!["ab"])));
        assert_ne!(a, request_digest_of(&("list", 2u32, vec!["a", "b"])));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn keys_depend_on_generation_and_request() {
        let a = entry_key(EntryKind::List, &[1], b"q");
        assert_ne!(a, entry_key(EntryKind::List, &[2], b"q"));
        assert_ne!(a, entry_key(EntryKind::List, &[1], b"r"));
        assert_ne!(a, entry_key(EntryKind::Stats, &[1], b"q"));
        assert_eq!(a, entry_key(EntryKind::List, &[1], b"q"));
    }
}
