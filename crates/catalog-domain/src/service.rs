//! The catalog service: the application's use cases over the storage and
//! cache ports, with cache-aside reads (see [`crate::cache`] for how
//! freshness is guaranteed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{
    Cache, CacheKind, CacheTtls, EntryKind, ErrorReporter, Rendered, SingleFlight, key_with_digest,
    namespaces_for, product_namespace, request_digest, request_digest_of,
};
use crate::cursor::{Cursor, CursorKey};
use crate::error::CatalogError;
use crate::observe::{CacheCounters, CacheEvent};
use crate::ports::{Created, Idempotency, PageSpec, ProductStore};
use crate::product::{NewProduct, Product, ProductId, ProductVersion};
use crate::query::{CountMode, ListQuery, ProductFilter, Start, sort_values};
use crate::stats::{NameCount, Stats};
use crate::write::ProductPatch;

/// What a conditional write requires of the product's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Any current version.
    Any,
    /// One of these versions (none: nothing can satisfy it).
    Versions(Vec<ProductVersion>),
}

impl Precondition {
    pub fn matches(&self, p: &Product) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Versions(versions) => versions.contains(&p.current_version()),
        }
    }
}

/// A fingerprint of a JSON request body, for idempotency keys: the same
/// JSON value (whatever its whitespace or key order) gives the same print.
/// A failed rendering is an error, never the print of nothing, which every
/// failed body would share.
pub fn fingerprint(body: &serde_json::Value) -> Result<String, CatalogError> {
    use sha2::{Digest, Sha256};
    // serde_json's Map is ordered by key, so this rendering is canonical.
    let canonical = serde_json::to_vec(body)
        .map_err(|e| CatalogError::internal("fingerprinting a request body", e))?;
    let digest = Sha256::digest(&canonical);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// What renders a cached answer's body.
pub type RenderResult = Result<Vec<u8>, serde_json::Error>;

/// How often an unconditional PATCH is re-applied when other writers keep
/// changing the product under it.
const MAX_PATCH_ATTEMPTS: u32 = 64;

/// Below this many (estimated) rows, `count=estimated` counts exactly.
pub const ESTIMATE_THRESHOLD: u64 = 10_000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub items: Vec<Product>,
    pub total: Option<u64>,
    /// With `count=estimated` only: whether `total` is an exact count
    /// (small results, cheap filters) or the planner's estimate. `None` for
    /// the other modes, whose total is exact or absent by definition.
    pub total_is_exact: Option<bool>,
    pub limit: u32,
    pub offset: u64,
    pub next_cursor: Option<String>,
}

/// How the service uses its cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub ttls: CacheTtls,
    /// After a cache failure, requests bypass the cache for this long, so a
    /// slow or dead cache costs one timeout per interval, not one per request.
    pub retry_after: Duration,
    /// Minimum time between two "cache unavailable" log lines.
    pub log_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttls: CacheTtls::default(),
            retry_after: Duration::from_secs(1),
            log_interval: Duration::from_secs(10),
        }
    }
}

/// Kinds of expensive work, each bounded separately by the load shedder
/// (see [`CatalogService::with_inflight_limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkClass {
    /// Statistics and facets the database computes from every matching
    /// row (no maintained summary or search index answers them).
    Aggregates,
    /// Pages the database answers the slow way: a full-text search or a
    /// deep `offset` while the search index is not answering them.
    Listings,
}

impl std::fmt::Display for WorkClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkClass::Aggregates => "aggregate",
            WorkClass::Listings => "search or deep-page",
        })
    }
}

/// Bounds on in-flight expensive work, one per [`WorkClass`]. Past a bound
/// a request is refused at once (`try_acquire`), never queued: queueing
/// would only hold it until the pool's acquire timeout.
#[derive(Debug)]
struct Admission {
    aggregates: tokio::sync::Semaphore,
    listings: tokio::sync::Semaphore,
}

impl Admission {
    fn admit(&self, class: WorkClass) -> Result<tokio::sync::SemaphorePermit<'_>, CatalogError> {
        let gate = match class {
            WorkClass::Aggregates => &self.aggregates,
            WorkClass::Listings => &self.listings,
        };
        gate.try_acquire()
            .map_err(|_| CatalogError::Overloaded(class))
    }
}

/// State of the cache as the health check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheHealth {
    /// In-process cache (or none): nothing to be down.
    Memory,
    Up,
    Down,
}

/// Every namespace a write can make stale, bumped together when a failed
/// invalidation must be made up for.
const ALL_NAMESPACES: [&str; 6] = ["list", "stats", "categories", "brands", "facets", "detail"];

struct CacheState {
    cache: Arc<dyn Cache>,
    settings: CacheSettings,
    reporter: ErrorReporter,
    flights: SingleFlight,
    /// Bypass the cache until this time (ms since the epoch).
    open_until_ms: AtomicU64,
    /// Invalidations that ever failed. While it exceeds `flushed_through`,
    /// every namespace must be flushed before the cache is trusted again.
    failed_invalidations: AtomicU64,
    /// The failure count the last successful flush covered (taken before
    /// it bumped, so a failure during the flush stays owed).
    flushed_through: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl CacheState {
    fn failed(&self, e: &crate::cache::CacheError) {
        self.reporter.report(e);
        self.open_until_ms.store(
            now_ms() + self.settings.retry_after.as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    /// Whether to use the cache for this request (closed breaker and no
    /// invalidation owed).
    async fn usable(&self, counters: &CacheCounters) -> bool {
        if now_ms() < self.open_until_ms.load(Ordering::Relaxed) {
            return false;
        }
        let failures = self.failed_invalidations.load(Ordering::Acquire);
        if failures > self.flushed_through.load(Ordering::Acquire) {
            let all: Vec<String> = ALL_NAMESPACES.iter().map(|s| s.to_string()).collect();
            match self.cache.bump(&all).await {
                Ok(()) => {
                    // Only the failures seen before this flush are paid: one
                    // recorded meanwhile stays owed.
                    self.flushed_through.fetch_max(failures, Ordering::AcqRel);
                    tracing::info!("cache is back: flushed every namespace owed an invalidation");
                }
                Err(e) => {
                    counters.invalidation_failed();
                    self.failed(&e);
                    return false;
                }
            }
        }
        true
    }
}

/// Orchestrates storage and cache for every read and write use case.
#[derive(Clone)]
pub struct CatalogService {
    pub(crate) store: Arc<dyn ProductStore>,
    cursor_key: CursorKey,
    cache: Option<Arc<CacheState>>,
    max_offset: Option<u64>,
    /// Kept with or without a cache (all zero without), so an exporter
    /// can always read them.
    counters: Arc<CacheCounters>,
    admission: Option<Arc<Admission>>,
}

impl std::fmt::Debug for CatalogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogService")
            .field("cached", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl CatalogService {
    /// A service without a cache: every read goes to storage.
    pub fn new(store: Arc<dyn ProductStore>, cursor_key: CursorKey) -> Self {
        Self {
            store,
            cursor_key,
            cache: None,
            max_offset: None,
            counters: Arc::default(),
            admission: None,
        }
    }

    /// Bounds the expensive work (see [`WorkClass`]) that may run at once
    /// to `max` requests per class; past it a request that missed the
    /// cache fails at once with [`CatalogError::Overloaded`]. Cached
    /// answers, and requests that share another's computation, are never
    /// refused. `None`, the default, bounds nothing.
    pub fn with_inflight_limit(mut self, max: Option<usize>) -> Self {
        self.admission = max.map(|n| {
            let n = n.max(1);
            Arc::new(Admission {
                aggregates: tokio::sync::Semaphore::new(n),
                listings: tokio::sync::Semaphore::new(n),
            })
        });
        self
    }

    /// A permit for `class` work, or `Overloaded`; nothing to hold when the
    /// work is cheap or nothing is bounded.
    fn admit(
        &self,
        class: Option<WorkClass>,
    ) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, CatalogError> {
        match (class, self.admission.as_deref()) {
            (Some(class), Some(admission)) => admission.admit(class).map(Some),
            _ => Ok(None),
        }
    }

    /// The class of a page of `q` when the database would answer it the
    /// slow way (a search, a deep offset) because no index does.
    fn listing_class(&self, q: &ListQuery) -> Option<WorkClass> {
        (!self.store.pages_cheaply(&q.filter, q.offset())).then_some(WorkClass::Listings)
    }

    /// `Aggregates` unless a summary or an index answers statistics
    /// (`facet: None`) or every facet of `filter` cheaply.
    fn aggregate_class(&self, filter: &ProductFilter, facets: bool) -> Option<WorkClass> {
        use crate::facets::FacetField;
        let cheap = if facets {
            [
                FacetField::Category,
                FacetField::Brand,
                FacetField::PriceBucket,
                FacetField::RatingFloor,
                FacetField::InStock,
            ]
            .into_iter()
            .all(|f| self.store.aggregates_cheaply(filter, Some(f)))
        } else {
            self.store.aggregates_cheaply(filter, None)
        };
        (!cheap).then_some(WorkClass::Aggregates)
    }

    /// Refuses `offset` above `max` (a 422 pointing to `cursor`): deep
    /// OFFSET pages make the database walk every skipped row. `None`, the
    /// default, allows any offset, as the API contract does.
    pub fn with_max_offset(mut self, max: Option<u64>) -> Self {
        self.max_offset = max;
        self
    }

    /// Adds cache-aside reads through `cache`.
    pub fn with_cache(mut self, cache: Arc<dyn Cache>, settings: CacheSettings) -> Self {
        self.cache = Some(Arc::new(CacheState {
            cache,
            reporter: ErrorReporter::new(settings.log_interval),
            settings,
            flights: SingleFlight::default(),
            open_until_ms: AtomicU64::new(0),
            failed_invalidations: AtomicU64::new(0),
            flushed_through: AtomicU64::new(0),
        }));
        self
    }

    /// Hits, misses, single-flight waits, errors and bypasses of the
    /// cache-aside reads, by kind (for metrics; read at scrape time).
    pub fn cache_counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Cache operations that failed since start (0 without a cache).
    pub fn cache_failures(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.reporter.failures())
    }

    /// The key cursors are signed with: the edge verifies a `cursor` with
    /// it before building a [`crate::query::ListRequest`].
    pub fn cursor_key(&self) -> &CursorKey {
        &self.cursor_key
    }

    /// The deployment's bound on `offset`, for
    /// [`crate::query::ListRequest::build`].
    pub fn max_offset(&self) -> Option<u64> {
        self.max_offset
    }

    /// Cache-aside: the rendered answer from the cache, or computed,
    /// rendered and stored under the generations read beforehand.
    ///
    /// `class` is the load shedder's: a miss of that class computes only
    /// with a permit (see [`CatalogService::with_inflight_limit`]). The
    /// permit is taken where the work starts, after the cache was read, so
    /// a hit, or a waiter sharing another request's flight, is never
    /// refused.
    async fn cached<T, C, Fut, R>(
        &self,
        kind: EntryKind,
        product: Option<i64>,
        digest: String,
        class: Option<WorkClass>,
        compute: C,
        render: R,
    ) -> Result<Rendered, CatalogError>
    where
        C: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, CatalogError>>,
        R: FnOnce(&T) -> (RenderResult, Option<String>),
    {
        let compute = || async move {
            let _permit = self.admit(class)?;
            compute().await
        };
        let make = |v: &T, render: R| {
            let (body, etag) = render(v);
            let body = body.map_err(|e| CatalogError::internal("rendering a response", e))?;
            Ok::<_, CatalogError>(match etag {
                Some(tag) => Rendered::with_etag(body, tag),
                None => Rendered::new(body),
            })
        };
        let Some(state) = self.cache.as_ref() else {
            return make(&compute().await?, render);
        };
        let counters = &self.counters;
        if !state.usable(counters).await {
            counters.record(kind, CacheEvent::Bypass);
            return make(&compute().await?, render);
        }
        let namespaces = namespaces_for(kind, product);
        // Generations and entry in one round trip where the adapter can.
        let (generations, entry) = match state.cache.lookup(kind.name(), &namespaces, &digest).await
        {
            Ok(found) => found,
            Err(e) => {
                counters.record(kind, CacheEvent::Error);
                state.failed(&e);
                return make(&compute().await?, render);
            }
        };
        let key = key_with_digest(kind.name(), &generations, &digest);
        if let Some(bytes) = entry {
            if let Some(hit) = Rendered::decode(&bytes) {
                counters.record(kind, CacheEvent::Hit);
                return Ok(hit);
            }
            tracing::warn!(key, "malformed cache entry ignored");
        }
        counters.record(kind, CacheEvent::Miss);
        let ttl = state.settings.ttls.of(kind);
        let (rendered, shared) = state
            .flights
            .run(&key, || async {
                let value = compute().await?;
                let rendered = make(&value, render)?;
                if let Err(e) = state.cache.set(&key, &rendered.encode(), ttl).await {
                    counters.record(kind, CacheEvent::Error);
                    state.failed(&e);
                }
                Ok::<_, CatalogError>(rendered)
            })
            .await?;
        if shared {
            counters.record(kind, CacheEvent::Wait);
        }
        // A waiter that shared another request's query did not touch the
        // database: for the client that is a hit.
        Ok(Rendered {
            hit: shared,
            ..rendered
        })
    }

    /// One page, uncached.
    #[tracing::instrument(skip_all, fields(limit = q.limit.get()))]
    pub async fn list(&self, q: &ListQuery) -> Result<ListPage, CatalogError> {
        let (after, offset) = match &q.start {
            Start::Offset(o) => (None, *o),
            Start::After(values) => (Some(values.as_slice()), 0),
        };
        let filter = self.resolve(&q.filter).await?;
        // One extra row tells whether another page follows.
        let page = PageSpec {
            filter: &filter,
            sort: &q.sort,
            after,
            offset,
            limit: u64::from(q.limit.get()) + 1,
        };
        // Decided once, here: how to count, and what the answer says
        // about it (an estimate asked for may come back exact).
        let (rows, total, total_is_exact) = match q.count {
            CountMode::Exact => {
                let (rows, total) = self.store.list_counted(page).await?;
                (rows, Some(total), None)
            }
            CountMode::Estimated if self.store.counts_cheaply(&filter) => {
                let (rows, total) = self.store.list_counted(page).await?;
                (rows, Some(total), Some(true))
            }
            CountMode::Estimated => {
                let (rows, total) =
                    futures::future::join(self.store.list(page), self.estimated_count(&filter))
                        .await;
                let (total, exact) = total?;
                (rows?, Some(total), Some(exact))
            }
            CountMode::None => (self.store.list(page).await?, None, None),
        };
        let mut items = rows;
        let more = items.len() > q.limit.get() as usize;
        items.truncate(q.limit.get() as usize);
        let next_cursor = match items.last() {
            Some(last) if more => Some(
                Cursor::new(
                    q.filter.clone(),
                    q.sort.clone(),
                    q.limit,
                    sort_values(&q.sort, last, filter.search.as_ref()),
                )
                .encode(&self.cursor_key)
                .map_err(|e| CatalogError::internal("encoding a cursor", e))?,
            ),
            _ => None,
        };
        Ok(ListPage {
            items,
            total,
            total_is_exact,
            limit: q.limit.get(),
            offset: q.offset(),
            next_cursor,
        })
    }

    /// The filter storage runs: with `fuzzy`, each long enough search word
    /// gains the indexed tokens within its typo distance as alternatives
    /// (one vocabulary read per word). Otherwise the filter as given.
    async fn resolve<'f>(
        &self,
        filter: &'f ProductFilter,
    ) -> Result<std::borrow::Cow<'f, ProductFilter>, CatalogError> {
        let Some(search) = filter.search.as_ref().filter(|_| filter.fuzzy) else {
            return Ok(std::borrow::Cow::Borrowed(filter));
        };
        let mut expanded = search.clone();
        let words: Vec<&str> = search.fuzzy_words().collect();
        if !words.is_empty() {
            // One vocabulary question for every word: an automaton walk of
            // the index's dictionary, or one read of the terms table.
            let candidates = self.store.typo_candidates(&words).await?;
            for (word, near) in words.iter().zip(&candidates) {
                expanded.expand(word, near);
            }
        }
        let mut f = filter.clone();
        f.search = Some(expanded);
        Ok(std::borrow::Cow::Owned(f))
    }

    /// The planner's estimate when it is at least
    /// [`ESTIMATE_THRESHOLD`] (cheap, approximate), an exact count below it
    /// (small results are cheap to count and should be right).
    async fn estimated_count(&self, filter: &ProductFilter) -> Result<(u64, bool), CatalogError> {
        match self.store.estimate_count(filter).await? {
            Some(estimate) if estimate >= ESTIMATE_THRESHOLD => Ok((estimate, false)),
            _ => Ok((self.store.count(filter).await?, true)),
        }
    }

    /// One page, rendered by `render`, through the cache.
    #[tracing::instrument(skip_all, fields(limit = q.limit.get()))]
    pub async fn list_rendered(
        &self,
        q: &ListQuery,
        render: impl FnOnce(&ListPage) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::List,
            None,
            request_digest_of(q),
            self.listing_class(q),
            || self.list(q),
            |v| (render(v), None),
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn get(&self, id: ProductId) -> Result<Product, CatalogError> {
        self.store.get(id).await?.ok_or(CatalogError::NotFound)
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn get_rendered(
        &self,
        id: ProductId,
        render: impl FnOnce(&Product) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::Detail,
            Some(id.get()),
            request_digest(&id.get().to_be_bytes()),
            None,
            || self.get(id),
            |p: &Product| (render(p), Some(p.etag())),
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn stats(&self, filter: &ProductFilter) -> Result<Stats, CatalogError> {
        let filter = self.resolve(filter).await?;
        Ok(self.store.stats(&filter).await?.into())
    }

    #[tracing::instrument(skip_all)]
    pub async fn stats_rendered(
        &self,
        filter: &ProductFilter,
        render: impl FnOnce(&Stats) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::Stats,
            None,
            request_digest_of(filter),
            self.aggregate_class(filter, false),
            || self.stats(filter),
            |v| (render(v), None),
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn categories(&self) -> Result<Vec<NameCount>, CatalogError> {
        Ok(self.store.categories().await?)
    }

    pub async fn categories_rendered(
        &self,
        render: impl FnOnce(&Vec<NameCount>) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::Categories,
            None,
            request_digest(b""),
            None,
            || self.categories(),
            |v| (render(v), None),
        )
        .await
    }

    #[tracing::instrument(skip_all)]
    pub async fn brands(&self) -> Result<Vec<NameCount>, CatalogError> {
        Ok(self.store.brands().await?)
    }

    pub async fn brands_rendered(
        &self,
        render: impl FnOnce(&Vec<NameCount>) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::Brands,
            None,
            request_digest(b""),
            None,
            || self.brands(),
            |v| (render(v), None),
        )
        .await
    }

    /// Disjunctive facet counts over the products matching `filter`.
    #[tracing::instrument(skip_all)]
    pub async fn facets(
        &self,
        filter: &ProductFilter,
    ) -> Result<crate::facets::Facets, CatalogError> {
        use crate::facets::{assemble, disjunctive};
        let filter = &*self.resolve(filter).await?;
        // Each facet counts over the filter without its own field.
        let requests = disjunctive(filter);
        let (total, groups) = self.store.facet_groups(filter, &requests).await?;
        let Ok([category, brand, price, rating, in_stock]) = <[_; 5]>::try_from(groups) else {
            return Err(CatalogError::internal(
                "counting facets",
                "the storage answered another number of facets than asked",
            ));
        };
        Ok(assemble(total, category, brand, price, rating, in_stock))
    }

    pub async fn facets_rendered(
        &self,
        filter: &ProductFilter,
        render: impl FnOnce(&crate::facets::Facets) -> RenderResult,
    ) -> Result<Rendered, CatalogError> {
        self.cached(
            EntryKind::Facets,
            None,
            request_digest_of(filter),
            self.aggregate_class(filter, true),
            || self.facets(filter),
            |v| (render(v), None),
        )
        .await
    }

    /// Creates a product. A new product invalidates the cached reads it
    /// affects before this returns.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        new: &NewProduct,
        idempotency: Option<Idempotency>,
    ) -> Result<Created, CatalogError> {
        let created = self.store.create(new, idempotency.as_ref()).await?;
        if let Created::New(p) = &created {
            self.invalidate_product(p.id).await;
        }
        Ok(created)
    }

    /// Replaces a product (PUT).
    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn replace(
        &self,
        id: ProductId,
        new: &NewProduct,
        if_match: Option<&Precondition>,
    ) -> Result<Product, CatalogError> {
        let expected = match if_match {
            Some(m) => Some(self.checked_version(id, m).await?),
            None => None,
        };
        let updated = self.store.update(id, new, expected).await?;
        self.invalidate_product(id).await;
        Ok(updated)
    }

    /// Applies a patch (PATCH). The update is conditional on the
    /// version the patch was applied to: with `If-Match` a concurrent change
    /// is a 412; without, the patch is re-applied to the new version (a few
    /// times), so no concurrent update is ever lost.
    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn patch(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        if_match: Option<&Precondition>,
    ) -> Result<Product, CatalogError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let current = self.get(id).await?;
            if let Some(m) = if_match
                && !m.matches(&current)
            {
                return Err(CatalogError::PreconditionFailed);
            }
            let new = patch.apply(&current)?;
            match self.store.update(id, &new, Some(current.version)).await {
                Ok(updated) => {
                    self.invalidate_product(id).await;
                    return Ok(updated);
                }
                // Without If-Match the client asked for no precondition:
                // re-apply to the newer version rather than answer 412.
                Err(crate::StorageError::VersionConflict)
                    if if_match.is_none() && attempts < MAX_PATCH_ATTEMPTS =>
                {
                    continue;
                }
                Err(crate::StorageError::VersionConflict) if if_match.is_none() => {
                    return Err(CatalogError::Storage(crate::StorageError::unavailable(
                        "patching a product",
                        "too many concurrent changes to this product; retry",
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Deletes a product.
    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn delete(
        &self,
        id: ProductId,
        if_match: Option<&Precondition>,
    ) -> Result<(), CatalogError> {
        let expected = match if_match {
            Some(m) => Some(self.checked_version(id, m).await?),
            None => None,
        };
        self.store.delete(id, expected).await?;
        self.invalidate_product(id).await;
        Ok(())
    }

    /// The current version when `If-Match` matches it; 412 otherwise.
    async fn checked_version(&self, id: ProductId, m: &Precondition) -> Result<i64, CatalogError> {
        let current = self.get(id).await?;
        if m.matches(&current) {
            Ok(current.version)
        } else {
            Err(CatalogError::PreconditionFailed)
        }
    }

    /// Makes every cached read that a change to product `id` can affect
    /// unreachable: its detail, every list, stats, categories and brands.
    /// Call after the write has committed. Never fails: when the cache
    /// cannot be reached, a full flush is owed and paid before the cache is
    /// used again.
    pub async fn invalidate_product(&self, id: ProductId) {
        let namespaces = vec![
            "list".to_string(),
            "stats".to_string(),
            "categories".to_string(),
            "brands".to_string(),
            "facets".to_string(),
            product_namespace(id.get()),
        ];
        self.bump(namespaces).await;
    }

    /// Makes every cached read unreachable (bulk loads, admin flushes).
    pub async fn invalidate_all(&self) {
        self.bump(ALL_NAMESPACES.iter().map(|s| s.to_string()).collect())
            .await;
    }

    async fn bump(&self, namespaces: Vec<String>) {
        let Some(state) = self.cache.as_ref() else {
            return;
        };
        // Two more tries ride out a dropped connection (each is bounded by
        // the adapter's timeout); past them the flush is owed (see
        // `CacheState::usable`).
        let mut last = None;
        for _ in 0..3 {
            match state.cache.bump(&namespaces).await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            self.counters.invalidation_failed();
            state.failed_invalidations.fetch_add(1, Ordering::AcqRel);
            state.failed(&e);
        }
    }

    /// Whether storage answers.
    pub async fn storage_up(&self) -> bool {
        match self.store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %crate::error::error_chain(&e), "storage health check failed");
                false
            }
        }
    }

    /// The search index's state, or `None` when the database answers
    /// searches (`CATALOG_SEARCH_INDEX=sql`).
    pub async fn search_index_state(&self) -> Option<crate::search_index::IndexState> {
        self.store.search_index().await
    }

    /// The cache's state, probed now (not from the breaker).
    pub async fn cache_health(&self) -> CacheHealth {
        let Some(state) = self.cache.as_ref() else {
            return CacheHealth::Memory;
        };
        if state.cache.kind() == CacheKind::Memory {
            return CacheHealth::Memory;
        }
        match state.cache.ping().await {
            Ok(()) => CacheHealth::Up,
            Err(e) => {
                state.reporter.report(&e);
                CacheHealth::Down
            }
        }
    }
}
