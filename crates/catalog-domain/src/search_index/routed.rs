//! [`SearchRouted`]: the storage adapter the server runs with a search
//! index. Reads that carry a `search`, and pages at an `offset` of
//! [`DEEP_OFFSET`] or more sorted by one column, go to the in-process
//! index; everything else, and every write, to the database adapter it
//! wraps.
//!
//! - **Freshness.** Before answering, the index catches up with the change
//!   log ([`Follower::catch_up`]): every change committed before the
//!   request began is applied, on every instance, whichever instance
//!   wrote it. Concurrent requests share one read of the log.
//! - **Rows.** A page's rows come from one by-id read of the database. A
//!   row whose version differs from the indexed one was written after the
//!   catch-up: the index catches up again and the page is recomputed
//!   (then the SQL path answers, if the table is that busy).
//! - **Never an error of its own.** While the index builds at start-up,
//!   after a bulk load (the log's `reload` entry), after a change could not
//!   be applied, or after the instance lost track of the log for longer
//!   than half its retention, searches take the SQL path: slower, never
//!   wrong. A new index builds in the background meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::compute::Compute;
use super::{Follower, IndexState, SearchIndex};
use crate::changes::ChangeLog;
use crate::error::StorageError;
use crate::facets::{FacetField, FacetKey};
use crate::ports::{Created, Idempotency, PageSpec, ProductReader, ProductStore, ProductWriter};
use crate::product::{NewProduct, Product, ProductId};
use crate::query::{ProductFilter, SortField, SortKey};
use crate::stats::{NameCount, StatsRow};

/// How a request's index read went.
enum Answer<T> {
    Index(T),
    /// The SQL path answers (index building, stale, or rows moving).
    Sql,
}

/// The default `offset` from which a page sorted by one column is read from
/// the index whatever its filter: below it the database's index range
/// scans skip rows about as fast as the index reads them, and keep the two
/// reads (change log, rows) off the page.
pub const DEEP_OFFSET: u64 = 1_000;

/// Filters whose pages and counts the index answers at any offset: a
/// search, and a category together with a brand. The database has no index
/// on both (a category's and a brand's index ANDed, then every match
/// sorted and counted: about 80 requests/s at 1M products and 8
/// connections for a page at offset 100, against 1,100-3,300 with either
/// alone: docs/performance.md), where the index ANDs two bitmaps.
fn index_filter(filter: &ProductFilter) -> bool {
    filter.search.is_some() || (!filter.categories.is_empty() && !filter.brands.is_empty())
}

/// The database adapter with a search index in front of its searches.
pub struct SearchRouted<S, I> {
    inner: Arc<S>,
    follower: RwLock<Option<Arc<Follower<I>>>>,
    rebuilding: AtomicBool,
    /// `offset` from which a page sorted by one column (then id) is read
    /// from the index whatever its filter: the index keeps every sort
    /// order, so such a page is a slice or a short walk, where the
    /// database skips `offset` rows.
    deep_offset: u64,
    /// The change log's retention: an index that has not caught up for
    /// half of it may have missed pruned entries, and is rebuilt.
    retention: Option<Duration>,
    /// Where heavy reads run ([`SearchIndex::heavy`]).
    compute: Compute,
    /// Whether the last read of the log found it quiet (nothing to
    /// apply): pages then try [`SearchRouted::current_page`] first. A page
    /// that finds the log moved clears it, so that under steady writes
    /// pages do not pay for a read that cannot succeed.
    quiet: AtomicBool,
}

impl<S, I> std::fmt::Debug for SearchRouted<S, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchRouted").finish_non_exhaustive()
    }
}

impl<S: ProductStore + ChangeLog + 'static, I: SearchIndex> SearchRouted<S, I> {
    /// Wraps `inner` and starts building the index in the background
    /// (on the current tokio runtime).
    pub fn start(inner: Arc<S>) -> Arc<Self> {
        Self::start_with(inner, DEEP_OFFSET, None)
    }

    /// [`SearchRouted::start`], with pages at `offset >= deep_offset`
    /// (sorted by one column) read from the index too, and the change
    /// log's `retention` (`None`: kept for ever).
    pub fn start_with(inner: Arc<S>, deep_offset: u64, retention: Option<Duration>) -> Arc<Self> {
        let routed = Arc::new(Self {
            inner,
            follower: RwLock::new(None),
            rebuilding: AtomicBool::new(false),
            deep_offset,
            retention,
            compute: Compute::per_core(),
            quiet: AtomicBool::new(false),
        });
        routed.rebuild();
        routed
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// Drops the index and builds a new one in the background (unless a
    /// build is already running); searches take the SQL path meanwhile.
    pub fn rebuild(self: &Arc<Self>) {
        if let Ok(mut f) = self.follower.write() {
            *f = None;
        }
        if self.rebuilding.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                let started = Instant::now();
                match Follower::<I>::build(&*this.inner, &*this.inner).await {
                    Ok(f) => {
                        tracing::info!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "search index: ready"
                        );
                        if let Ok(mut slot) = this.follower.write() {
                            *slot = Some(Arc::new(f));
                        }
                        this.rebuilding.store(false, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::error::error_chain(&e), "search index: build failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
    }

    /// Waits until the index answers (tests and benchmarks), at most
    /// `timeout`.
    pub async fn ready(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.current().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The index's state; `head` is read from the log (`None` when that
    /// read fails).
    pub async fn state(&self) -> IndexState {
        match self.current() {
            Some(f) => IndexState::Ready {
                products: f.read(I::len).unwrap_or(0),
                applied: f.applied(),
                head: self.inner.head().await.ok().flatten(),
                memory_bytes: f.read(|i| i.memory_bytes() as u64).unwrap_or(0),
            },
            None => IndexState::Building,
        }
    }

    fn current(&self) -> Option<Arc<Follower<I>>> {
        self.follower.read().ok().and_then(|f| f.clone())
    }

    /// The caught-up index for a read with `filter`, or `None` when the
    /// SQL path answers it.
    async fn fresh(self: &Arc<Self>, filter: &ProductFilter) -> Option<Arc<Follower<I>>> {
        if !index_filter(filter) {
            return None;
        }
        self.caught_up().await
    }

    /// The caught-up index for statistics (`facet: None`) or a facet of
    /// `filter`: with a search, or when the database would read every
    /// matching row (no summary answers it); `None` when the SQL path
    /// answers.
    async fn for_aggregate(
        self: &Arc<Self>,
        filter: &ProductFilter,
        facet: Option<FacetField>,
    ) -> Option<Arc<Follower<I>>> {
        if filter.search.is_none() && self.inner.aggregates_cheaply(filter, facet) {
            return None;
        }
        self.caught_up().await
    }

    /// Whether the index reads `page`: a search, or a deep page sorted by
    /// one column.
    fn routes(&self, page: &PageSpec<'_>) -> bool {
        let deep = page.offset >= self.deep_offset
            && page.after.is_none()
            && matches!(page.sort, [key, SortKey::ID]
                if !matches!(key.field, SortField::Relevance | SortField::Id));
        // A category or brand filter under an order no composite index
        // serves (only `id` and `price` have one): the database either
        // sorts every match or walks the order's index filtering the label,
        // and for a rare brand that walk reads most of the table (seen:
        // 5-7 s per page at 1M, brand + `sort=name`, offset 100). The index
        // walks its own order in memory.
        let label = !page.filter.categories.is_empty() || !page.filter.brands.is_empty();
        let unindexed_order = !matches!(
            page.sort.first().map(|k| k.field),
            None | Some(SortField::Id | SortField::Price | SortField::Relevance)
        );
        index_filter(page.filter) || deep || (label && unindexed_order)
    }

    /// The index, caught up with every change committed before this call;
    /// `None` when the SQL path answers (building, rebuilding, or the
    /// catch-up failed).
    async fn caught_up(self: &Arc<Self>) -> Option<Arc<Follower<I>>> {
        let follower = self.current()?;
        if let Some(retention) = self.retention
            && follower.since_caught_up() > retention / 2
        {
            tracing::warn!(
                idle_s = follower.since_caught_up().as_secs(),
                "search index: not caught up for half the change log's retention; rebuilding"
            );
            self.rebuild();
            return None;
        }
        match follower.catch_up(&*self.inner).await {
            Ok(c) if c.reload => {
                tracing::info!("search index: a bulk load ran; rebuilding (SQL path meanwhile)");
                self.rebuild();
                None
            }
            Ok(c) => {
                if !c.shared {
                    self.quiet.store(c.applied == 0, Ordering::Relaxed);
                }
                Some(follower)
            }
            Err(e) => {
                // Apply failures make the index unsafe: rebuild. A read
                // of the log that failed (database down) leaves it as it
                // was; the SQL path reports the outage.
                tracing::warn!(error = %crate::error::error_chain(&e), "search index: catch-up failed; SQL path answers");
                if matches!(e, StorageError::Internal { .. }) {
                    self.rebuild();
                }
                None
            }
        }
    }

    /// Runs an aggregate `f` (stats, facets: a read of every match) on
    /// `follower`'s index: on the compute threads when `filter` matches
    /// many products, on this task otherwise.
    async fn read<T: Send + 'static>(
        &self,
        follower: &Arc<Follower<I>>,
        filter: &ProductFilter,
        f: impl FnOnce(&I) -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        if !follower.read(|i| i.heavy(filter))? {
            return follower.read(f);
        }
        let follower = Arc::clone(follower);
        self.compute.run(move || follower.read(f)).await?
    }

    /// Rows of `ids` in that order, or `None` when one changed since the
    /// index was read (its version differs) or vanished.
    async fn rows(
        &self,
        follower: &Follower<I>,
        ids: &[ProductId],
    ) -> Result<Option<Vec<Product>>, StorageError> {
        let rows = self.inner.products_by_id(ids).await?;
        let versions =
            follower.read(|i| ids.iter().map(|id| i.version_of(*id)).collect::<Vec<_>>())?;
        Ok(in_order(rows, ids, &versions))
    }

    /// A page (and its total) from the index as it is, without a catch-up
    /// first: its rows are read in one statement that also proves the log
    /// holds no change the index lacks
    /// ([`ChangeLog::products_by_id_if_current`]), so the index was
    /// current when that statement began, after this request arrived.
    /// One round trip to the database instead of two. `None` when that
    /// cannot be proven (the log moved, the page is empty, the index is
    /// not ready): the caller catches up and reads again.
    async fn current_page(
        &self,
        page: &PageSpec<'_>,
    ) -> Result<Option<(Vec<Product>, u64)>, StorageError> {
        if !self.quiet.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let Some(follower) = self.current() else {
            return Ok(None);
        };
        // An index idle for half the retention may have missed pruned
        // entries: the catch-up path rebuilds it.
        if self
            .retention
            .is_some_and(|r| follower.since_caught_up() > r / 2)
        {
            return Ok(None);
        }
        let ((ids, total, versions), cursor) = follower.read_at(|i| {
            let (ids, total) = i.page(page);
            let versions: Vec<Option<i64>> = ids.iter().map(|id| i.version_of(*id)).collect();
            (ids, total, versions)
        })?;
        if ids.is_empty() {
            return Ok(None);
        }
        let Some(rows) = self.inner.products_by_id_if_current(&ids, cursor).await? else {
            self.quiet.store(false, Ordering::Relaxed);
            return Ok(None);
        };
        let Some(rows) = in_order(rows, &ids, &versions) else {
            return Ok(None);
        };
        follower.proven_current();
        Ok(Some((rows, total)))
    }

    /// A page (and its total) from the index, re-reading once when a row
    /// moved under it.
    async fn indexed_page(
        self: &Arc<Self>,
        page: &PageSpec<'_>,
    ) -> Result<Answer<(Vec<Product>, u64)>, StorageError> {
        if !self.routes(page) {
            return Ok(Answer::Sql);
        }
        if let Some(found) = self.current_page(page).await? {
            return Ok(Answer::Index(found));
        }
        for attempt in 0..2 {
            let Some(follower) = self.caught_up().await else {
                return Ok(Answer::Sql);
            };
            // On this task: a page reads a tier or a walk of one order, a
            // tenth of a millisecond at most for the searches measured,
            // where a hand-over to the compute threads cost more than it
            // saved (a 13 % word: 3,540 against 3,110 requests/s).
            let (ids, total) = follower.read(|i| i.page(page))?;
            if let Some(rows) = self.rows(&follower, &ids).await? {
                return Ok(Answer::Index((rows, total)));
            }
            tracing::debug!(
                attempt,
                "search index: a row changed under the page; catching up again"
            );
        }
        Ok(Answer::Sql)
    }
}

/// `rows` in the order of `ids`, or `None` when one is missing or its
/// version is not the index's (`versions`, by position of `ids`).
fn in_order(
    rows: Vec<Product>,
    ids: &[ProductId],
    versions: &[Option<i64>],
) -> Option<Vec<Product>> {
    if rows.len() != ids.len() {
        return None;
    }
    let mut by_id: std::collections::HashMap<ProductId, Product> =
        rows.into_iter().map(|p| (p.id, p)).collect();
    ids.iter()
        .zip(versions)
        .map(|(id, version)| by_id.remove(id).filter(|p| Some(p.version) == *version))
        .collect()
}

/// `ProductReader` for `Arc<SearchRouted<S, I>>`: the router needs its
/// `Arc` to start background rebuilds.
pub struct Routed<S, I>(pub Arc<SearchRouted<S, I>>);

impl<S, I> Clone for Routed<S, I> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S, I> std::fmt::Debug for Routed<S, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Routed").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: ProductStore + ChangeLog + 'static, I: SearchIndex> ProductReader for Routed<S, I> {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        match self.0.indexed_page(&page).await? {
            Answer::Index((rows, _)) => Ok(rows),
            Answer::Sql => self.0.inner.list(page).await,
        }
    }

    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        match self.0.fresh(filter).await {
            Some(f) => f.read(|i| i.count(filter)),
            None => self.0.inner.count(filter).await,
        }
    }

    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        match self.0.indexed_page(&page).await? {
            Answer::Index(found) => Ok(found),
            Answer::Sql => self.0.inner.list_counted(page).await,
        }
    }

    fn counts_cheaply(&self, filter: &ProductFilter) -> bool {
        (index_filter(filter) && self.0.current().is_some()) || self.0.inner.counts_cheaply(filter)
    }

    fn aggregates_cheaply(&self, filter: &ProductFilter, facet: Option<FacetField>) -> bool {
        self.0.current().is_some() || self.0.inner.aggregates_cheaply(filter, facet)
    }

    /// While the index answers, searches and deep pages are its work. (A
    /// deep page sorted by several columns still takes the SQL path and is
    /// not counted as expensive: rare, and `CATALOG_MAX_OFFSET` caps it.)
    fn pages_cheaply(&self, filter: &ProductFilter, offset: u64) -> bool {
        self.0.current().is_some() || self.0.inner.pages_cheaply(filter, offset)
    }

    async fn estimate_count(&self, filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        match self.0.fresh(filter).await {
            Some(f) => f.read(|i| Some(i.count(filter))),
            None => self.0.inner.estimate_count(filter).await,
        }
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        self.0.inner.get(id).await
    }

    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        match self.0.for_aggregate(filter, None).await {
            Some(f) => {
                let owned = filter.clone();
                self.0.read(&f, filter, move |i| i.stats(&owned)).await
            }
            None => self.0.inner.stats(filter).await,
        }
    }

    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        self.0.inner.categories().await
    }

    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        self.0.inner.brands().await
    }

    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        match self.0.for_aggregate(filter, Some(field)).await {
            Some(f) => {
                let owned = filter.clone();
                self.0
                    .read(&f, filter, move |i| i.facet_counts(&owned, field))
                    .await
            }
            None => self.0.inner.facet_counts(filter, field).await,
        }
    }

    /// One catch-up and one index read for every facet of a request, when
    /// the index answers any part of it (a search, or a facet no summary
    /// answers); otherwise the database's summaries answer them all.
    async fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> Result<crate::FacetGroups, StorageError> {
        let indexed = index_filter(filter)
            || requests.iter().any(|(f, field)| {
                f.search.is_some() || !self.0.inner.aggregates_cheaply(f, Some(*field))
            });
        if indexed && let Some(f) = self.0.caught_up().await {
            let (owned, requests) = (filter.clone(), requests.to_vec());
            return self
                .0
                .read(&f, filter, move |i| i.facet_groups(&owned, &requests))
                .await;
        }
        self.0.inner.facet_groups(filter, requests).await
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.0.inner.search_terms(min_chars, max_chars).await
    }

    async fn typo_candidates(&self, words: &[&str]) -> Result<Vec<Vec<String>>, StorageError> {
        match self.0.caught_up().await {
            Some(f) => f.read(|i| i.typo_candidates_of(words)),
            None => self.0.inner.typo_candidates(words).await,
        }
    }

    async fn search_index(&self) -> Option<IndexState> {
        Some(self.0.state().await)
    }

    fn change_feed(&self) -> Option<&dyn crate::changes::ChangeFeed> {
        self.0.inner.change_feed()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.0.inner.ping().await
    }
}

#[async_trait]
impl<S: ProductStore + ChangeLog + 'static, I: SearchIndex> ProductWriter for Routed<S, I> {
    async fn create(
        &self,
        product: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        self.0.inner.create(product, idempotency).await
    }

    async fn update(
        &self,
        id: ProductId,
        product: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        self.0.inner.update(id, product, expected_version).await
    }

    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        self.0.inner.delete(id, expected_version).await
    }

    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        self.0.inner.insert_batch(products).await
    }

    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<crate::BatchUpserted, StorageError> {
        self.0.inner.upsert_batch(products, idempotency).await
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        self.0.inner.count_all().await
    }
}
