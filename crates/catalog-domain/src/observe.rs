//! What the domain tells operators about itself, without knowing how it is
//! exported: cheap atomic counters of the cache-aside reads
//! ([`CacheCounters`], read at scrape time), and decorators that time
//! every call to the storage and cache ports ([`ObservedStore`],
//! [`ObservedCache`]) and hand the timings to an [`Observer`] the edge
//! implements (with Prometheus histograms, say).
//!
//! Nothing here takes a lock: a counter is one relaxed atomic add, a timed
//! call one `Instant::now()` pair and one dynamic call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::cache::{Cache, CacheError, CacheKind, EntryKind};
use crate::error::StorageError;
use crate::facets::{FacetField, FacetKey};
use crate::ports::{Created, Idempotency, PageSpec, ProductReader, ProductStore, ProductWriter};
use crate::product::{NewProduct, Product, ProductId};
use crate::query::ProductFilter;
use crate::stats::{NameCount, StatsRow};

/// Receives the duration of every storage and cache port call.
/// Implementations must be cheap and must not block: they run on every
/// request's path.
pub trait Observer: Send + Sync {
    /// A storage port call (`operation` is the port method's name) took
    /// `elapsed`; `ok` is false when it returned an error.
    fn storage_call(&self, operation: &'static str, elapsed: Duration, ok: bool);
    /// A storage call begins (paired with [`Observer::storage_finished`],
    /// however the call ends): calls in flight next to the pool's
    /// connections in use tell whether requests queue for a connection.
    fn storage_started(&self) {}
    fn storage_finished(&self) {}
    /// A cache port call on the cache named `backend` (as given to
    /// [`ObservedCache::new`]).
    fn cache_call(
        &self,
        backend: &'static str,
        operation: &'static str,
        elapsed: Duration,
        ok: bool,
    );
}

/// Counts of one kind of cached read.
#[derive(Debug, Default)]
struct KindCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    waits: AtomicU64,
    errors: AtomicU64,
    bypasses: AtomicU64,
}

/// A snapshot of one kind's counters (all monotonic since start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCount {
    pub kind: EntryKind,
    /// Answered from the cache.
    pub hits: u64,
    /// Not in the cache: computed, or shared from a concurrent request's
    /// computation (those are also counted in `waits`).
    pub misses: u64,
    /// Misses answered by waiting for another request's computation of the
    /// same key (single-flight) instead of querying storage.
    pub waits: u64,
    /// Cache operations (lookup or store) that failed.
    pub errors: u64,
    /// Reads that skipped the cache because it had just failed (the
    /// breaker was open) or owed a flush it could not make.
    pub bypasses: u64,
}

/// The cache-aside counters the service keeps.
#[derive(Debug, Default)]
pub struct CacheCounters {
    kinds: [KindCounters; EntryKind::ALL.len()],
    invalidation_errors: AtomicU64,
}

/// Which counter of a kind to add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CacheEvent {
    Hit,
    Miss,
    Wait,
    Error,
    Bypass,
}

impl CacheCounters {
    pub(crate) fn record(&self, kind: EntryKind, event: CacheEvent) {
        let k = &self.kinds[kind.index()];
        let counter = match event {
            CacheEvent::Hit => &k.hits,
            CacheEvent::Miss => &k.misses,
            CacheEvent::Wait => &k.waits,
            CacheEvent::Error => &k.errors,
            CacheEvent::Bypass => &k.bypasses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn invalidation_failed(&self) {
        self.invalidation_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Every kind's counts, in [`EntryKind::ALL`] order.
    pub fn snapshot(&self) -> Vec<CacheCount> {
        EntryKind::ALL
            .iter()
            .map(|&kind| {
                let k = &self.kinds[kind.index()];
                CacheCount {
                    kind,
                    hits: k.hits.load(Ordering::Relaxed),
                    misses: k.misses.load(Ordering::Relaxed),
                    waits: k.waits.load(Ordering::Relaxed),
                    errors: k.errors.load(Ordering::Relaxed),
                    bypasses: k.bypasses.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Invalidations (generation bumps after writes, or the flush owed
    /// after one failed) that could not reach the cache.
    pub fn invalidation_errors(&self) -> u64 {
        self.invalidation_errors.load(Ordering::Relaxed)
    }
}

/// Times `f` and reports it as a storage call.
async fn timed<T, E>(
    observer: &dyn Observer,
    operation: &'static str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    /// Ends the in-flight count even when the call is dropped midway (a
    /// client that hangs up cancels its request's future).
    struct Finish<'a>(&'a dyn Observer);
    impl Drop for Finish<'_> {
        fn drop(&mut self) {
            self.0.storage_finished();
        }
    }
    observer.storage_started();
    let _finish = Finish(observer);
    let start = Instant::now();
    let result = f.await;
    observer.storage_call(operation, start.elapsed(), result.is_ok());
    result
}

/// A storage adapter whose every call is timed.
///
/// It forwards *every* method of the ports, the provided ones too (an
/// adapter's override of `list_counted` or `facet_counts` must not be
/// replaced by the trait's default): a method added to the ports must be
/// added here.
pub struct ObservedStore {
    inner: Arc<dyn ProductStore>,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for ObservedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedStore").finish_non_exhaustive()
    }
}

impl ObservedStore {
    pub fn new(inner: Arc<dyn ProductStore>, observer: Arc<dyn Observer>) -> Self {
        Self { inner, observer }
    }
}

#[async_trait]
impl ProductReader for ObservedStore {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        timed(&*self.observer, "list", self.inner.list(page)).await
    }

    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        timed(&*self.observer, "count", self.inner.count(filter)).await
    }

    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        timed(
            &*self.observer,
            "list_counted",
            self.inner.list_counted(page),
        )
        .await
    }

    fn counts_cheaply(&self, filter: &ProductFilter) -> bool {
        self.inner.counts_cheaply(filter)
    }

    fn aggregates_cheaply(&self, filter: &ProductFilter, facet: Option<FacetField>) -> bool {
        self.inner.aggregates_cheaply(filter, facet)
    }

    fn pages_cheaply(&self, filter: &ProductFilter, offset: u64) -> bool {
        self.inner.pages_cheaply(filter, offset)
    }

    async fn estimate_count(&self, filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        timed(
            &*self.observer,
            "estimate_count",
            self.inner.estimate_count(filter),
        )
        .await
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        timed(&*self.observer, "get", self.inner.get(id)).await
    }

    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        timed(&*self.observer, "stats", self.inner.stats(filter)).await
    }

    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        timed(&*self.observer, "categories", self.inner.categories()).await
    }

    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        timed(&*self.observer, "brands", self.inner.brands()).await
    }

    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        timed(
            &*self.observer,
            "facet_counts",
            self.inner.facet_counts(filter, field),
        )
        .await
    }

    async fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> Result<crate::FacetGroups, StorageError> {
        timed(
            &*self.observer,
            "facet_groups",
            self.inner.facet_groups(filter, requests),
        )
        .await
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        timed(
            &*self.observer,
            "search_terms",
            self.inner.search_terms(min_chars, max_chars),
        )
        .await
    }

    async fn typo_candidates(&self, words: &[&str]) -> Result<Vec<Vec<String>>, StorageError> {
        timed(
            &*self.observer,
            "typo_candidates",
            self.inner.typo_candidates(words),
        )
        .await
    }

    async fn search_index(&self) -> Option<crate::search_index::IndexState> {
        self.inner.search_index().await
    }

    fn change_feed(&self) -> Option<&dyn crate::changes::ChangeFeed> {
        self.inner.change_feed()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        timed(&*self.observer, "ping", self.inner.ping()).await
    }
}

#[async_trait]
impl ProductWriter for ObservedStore {
    async fn create(
        &self,
        product: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        timed(
            &*self.observer,
            "create",
            self.inner.create(product, idempotency),
        )
        .await
    }

    async fn update(
        &self,
        id: ProductId,
        product: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        timed(
            &*self.observer,
            "update",
            self.inner.update(id, product, expected_version),
        )
        .await
    }

    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        timed(
            &*self.observer,
            "delete",
            self.inner.delete(id, expected_version),
        )
        .await
    }

    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        timed(
            &*self.observer,
            "insert_batch",
            self.inner.insert_batch(products),
        )
        .await
    }

    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<crate::BatchUpserted, StorageError> {
        timed(
            &*self.observer,
            "upsert_batch",
            self.inner.upsert_batch(products, idempotency),
        )
        .await
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        timed(&*self.observer, "count_all", self.inner.count_all()).await
    }
}

/// A cache adapter whose every call is timed, reported under `backend`
/// (`redis`, `memory`: the wiring names it). Forwards every method,
/// `lookup` included (Redis answers it in one round trip).
pub struct ObservedCache {
    inner: Arc<dyn Cache>,
    backend: &'static str,
    observer: Arc<dyn Observer>,
}

impl std::fmt::Debug for ObservedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedCache")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl ObservedCache {
    pub fn new(inner: Arc<dyn Cache>, backend: &'static str, observer: Arc<dyn Observer>) -> Self {
        Self {
            inner,
            backend,
            observer,
        }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        f: impl std::future::Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        let start = Instant::now();
        let result = f.await;
        self.observer
            .cache_call(self.backend, operation, start.elapsed(), result.is_ok());
        result
    }
}

#[async_trait]
impl Cache for ObservedCache {
    fn kind(&self) -> CacheKind {
        self.inner.kind()
    }

    async fn generations(&self, namespaces: &[String]) -> Result<Vec<u64>, CacheError> {
        self.timed("generations", self.inner.generations(namespaces))
            .await
    }

    async fn bump(&self, namespaces: &[String]) -> Result<(), CacheError> {
        self.timed("bump", self.inner.bump(namespaces)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.timed("get", self.inner.get(key)).await
    }

    async fn lookup(
        &self,
        kind: &str,
        namespaces: &[String],
        digest: &str,
    ) -> Result<(Vec<u64>, Option<Vec<u8>>), CacheError> {
        self.timed("lookup", self.inner.lookup(kind, namespaces, digest))
            .await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.timed("set", self.inner.set(key, value, ttl)).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.timed("ping", self.inner.ping()).await
    }
}
