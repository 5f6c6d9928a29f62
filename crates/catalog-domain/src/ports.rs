//! The storage port, as small traits composed into [`ProductStore`].
//!
//! Adapters MUST reproduce the reference semantics defined in the domain:
//! [`ProductFilter::matches`] for filtering, [`compare_keys`] over
//! [`sort_values`] for ordering (strings by code point) and
//! [`SearchQuery::score`] for relevance, with search tokens as
//! [`crate::search::SearchDocument`] computes them. The contract suite in
//! `catalog-storage-contract` checks every adapter against them.
//!
//! [`compare_keys`]: crate::query::compare_keys
//! [`sort_values`]: crate::query::sort_values
//! [`SearchQuery::score`]: crate::query::SearchQuery::score

use async_trait::async_trait;

use crate::error::StorageError;
use crate::product::{NewProduct, Product, ProductId};
use crate::query::{ProductFilter, SortKey, SortValue};
use crate::stats::{NameCount, StatsRow};

/// What [`ProductReader::facet_groups`] answers: the matches' total, and
/// one list of (key, count) groups per requested facet.
pub type FacetGroups = (u64, Vec<Vec<(crate::facets::FacetKey, u64)>>);

/// One page request as storage sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec<'a> {
    pub filter: &'a ProductFilter,
    /// A total order, ending in a unique key (`id`, or `sku`).
    pub sort: &'a [SortKey],
    /// Keyset position: only rows strictly after it in `sort` order.
    pub after: Option<&'a [SortValue]>,
    pub offset: u64,
    pub limit: u64,
}

/// Reads. Errors: `Unavailable` when the backend cannot be reached,
/// `Internal` for anything else; never `NotFound` (absence is `None`).
#[async_trait]
pub trait ProductReader: Send + Sync {
    /// Up to `limit` matching products in `sort` order.
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError>;
    /// How many products match.
    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError>;
    /// A page and the exact number of products matching its filter. By
    /// default `list` and `count` run concurrently; an adapter may answer
    /// both in one query where that is cheaper (the SQL adapter does for a
    /// relevance-ordered search, whose page already reads every match).
    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        let (rows, total) = futures::future::join(self.list(page), self.count(page.filter)).await;
        Ok((rows?, total?))
    }
    /// Whether the exact count of `filter` costs about as little as an
    /// estimate (a maintained summary answers it): `count=estimated` then
    /// takes the exact total through [`ProductReader::list_counted`].
    fn counts_cheaply(&self, _filter: &ProductFilter) -> bool {
        false
    }
    /// Whether statistics (`None`) or the facet `Some(field)` of `filter`
    /// come from maintained summaries (a few rows read) rather than from
    /// every matching row. A search index in front answers the others: a
    /// bitmap walk beats reading every matching row.
    fn aggregates_cheaply(
        &self,
        _filter: &ProductFilter,
        _facet: Option<crate::facets::FacetField>,
    ) -> bool {
        false
    }
    /// Whether a page of `filter` at `offset` is answered cheaply: no
    /// full-text search and no deep OFFSET scan by the database (below
    /// [`crate::search_index::DEEP_OFFSET`]), or a search index in front
    /// answers them. The load shedder bounds the other pages
    /// ([`crate::service::WorkClass::Listings`]).
    fn pages_cheaply(&self, filter: &ProductFilter, offset: u64) -> bool {
        filter.search.is_none() && offset < crate::search_index::DEEP_OFFSET
    }
    /// A cheap estimate of how many products match (the query planner's),
    /// or `None` when the backend has none (the caller then counts).
    async fn estimate_count(&self, _filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError>;
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError>;
    /// Every distinct category with its count, by name in code-point order.
    async fn categories(&self) -> Result<Vec<NameCount>, StorageError>;
    /// Every distinct brand with its count, by name in code-point order.
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError>;
    /// Matching products grouped by `field`, with each group's count
    /// (groups with no product are absent). Keys as
    /// [`crate::facets::facet_key`] computes them.
    ///
    /// The provided implementation pages through every match with
    /// [`ProductReader::list`] and groups in memory: correct for any
    /// adapter, and what the in-memory adapter uses; database adapters
    /// override it with a `GROUP BY`.
    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: crate::facets::FacetField,
    ) -> Result<Vec<(crate::facets::FacetKey, u64)>, StorageError> {
        let mut groups: std::collections::BTreeMap<crate::facets::FacetKey, u64> =
            std::collections::BTreeMap::new();
        let sort = [crate::query::SortKey::ID];
        let mut after: Option<Vec<SortValue>> = None;
        loop {
            let page = self
                .list(PageSpec {
                    filter,
                    sort: &sort,
                    after: after.as_deref(),
                    offset: 0,
                    limit: 1000,
                })
                .await?;
            for p in &page {
                *groups
                    .entry(crate::facets::facet_key(field, p))
                    .or_default() += 1;
            }
            match page.last() {
                Some(last) if page.len() == 1000 => {
                    after = Some(vec![SortValue::Int(last.id.get())])
                }
                _ => break,
            }
        }
        Ok(groups.into_iter().collect())
    }
    /// The disjunctive facets of one request in one call: how many products
    /// match `filter`, and for each `(filter, field)` of `requests` the
    /// groups [`ProductReader::facet_counts`] answers, in `requests` order.
    ///
    /// The provided implementation runs the count and every group
    /// concurrently. A search index overrides it: one catch-up, and the
    /// matches of each distinct filter computed once for all its fields.
    async fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, crate::facets::FacetField)],
    ) -> Result<FacetGroups, StorageError> {
        let groups = futures::future::try_join_all(
            requests
                .iter()
                .map(|(f, field)| self.facet_counts(f, *field)),
        );
        let (total, groups) = futures::try_join!(self.count(filter), groups)?;
        Ok((total, groups))
    }
    /// The distinct indexed search tokens of `min_chars..=max_chars`
    /// characters that are vocabulary words (`search::in_vocabulary`): what
    /// typo-tolerant search expands words from. May include tokens of
    /// products since changed (they match nothing).
    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// For each of `words`, the vocabulary words within its typo distance
    /// ([`crate::search::max_typos`], [`crate::search::typo_distance`]),
    /// in any order: what `fuzzy=true` expands a word with (the domain
    /// ranks them and keeps the nearest).
    ///
    /// The provided implementation reads [`ProductReader::search_terms`]
    /// once over the words' length window and measures every term; a
    /// search index overrides it with an automaton over its dictionary.
    async fn typo_candidates(&self, words: &[&str]) -> Result<Vec<Vec<String>>, StorageError> {
        use crate::search::{max_typos, typo_distance};
        let window = |w: &str| {
            let (len, bound) = (w.chars().count(), max_typos(w));
            (len.saturating_sub(bound), len + bound)
        };
        let (Some(lo), Some(hi)) = (
            words.iter().map(|w| window(w).0).min(),
            words.iter().map(|w| window(w).1).max(),
        ) else {
            return Ok(Vec::new());
        };
        let terms = self.search_terms(lo, hi).await?;
        Ok(words
            .iter()
            .map(|w| {
                let bound = max_typos(w);
                terms
                    .iter()
                    .filter(|t| typo_distance(w, t, bound).is_some())
                    .cloned()
                    .collect()
            })
            .collect())
    }
    /// The state of the search index in front of this store, if there is
    /// one (for `/health`).
    async fn search_index(&self) -> Option<crate::search_index::IndexState> {
        None
    }
    /// The public change feed of this store, if it keeps a change log.
    fn change_feed(&self) -> Option<&dyn crate::changes::ChangeFeed> {
        None
    }
    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), StorageError>;
}

/// An `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The key, scoped to the caller (e.g. `sub:key`).
    pub key: String,
    /// A hash of the request body: the same key with another body is refused.
    pub fingerprint: String,
}

/// Outcome of a create.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Inserted now.
    New(Product),
    /// A retry of an earlier request with the same idempotency key: the
    /// original response body (the product as created) and its id.
    Replayed { id: ProductId, body: Vec<u8> },
}

/// What an upsert did to one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    /// No product had the sku: inserted (version 1).
    Created,
    /// A product had the sku and differed: every writable field replaced,
    /// the version bumped and `updated_at` set.
    Updated,
    /// A product had the sku with every writable field equal: nothing was
    /// written (same version, same `updated_at`, no change-log entry).
    Unchanged,
}

/// One product of an [`ProductWriter::upsert_batch`], in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upserted {
    pub id: ProductId,
    pub outcome: UpsertOutcome,
}

/// The outcome of an [`ProductWriter::upsert_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchUpserted {
    /// One per product, in input order.
    pub items: Vec<Upserted>,
    /// A retry of an earlier call with the same idempotency key: `items`
    /// are that call's, and nothing was written now.
    pub replayed: bool,
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// Writes.
#[async_trait]
pub trait ProductWriter: Send + Sync {
    /// Inserts one product (id, timestamps and version 1 assigned). With an
    /// idempotency key, the key is recorded with the created product's JSON
    /// in the same transaction, and a second call with the same key returns
    /// `Replayed` without inserting; the same key with another fingerprint
    /// is `IdempotencyKeyReused`. Keys older than
    /// [`IDEMPOTENCY_TTL_HOURS`] are forgotten. A taken sku is
    /// `DuplicateSku` (enforced by the database's unique index).
    async fn create(
        &self,
        product: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError>;
    /// Replaces every writable field, bumps the version and `updated_at`.
    /// With `expected_version`, only if the stored version still equals it
    /// (`VersionConflict` otherwise). `NotFound`, `DuplicateSku` as usual.
    async fn update(
        &self,
        id: ProductId,
        product: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError>;
    /// Deletes (the id is never reused). `NotFound`, `VersionConflict`.
    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError>;
    /// Inserts products in one batch, silently skipping any whose sku is
    /// already taken (seeding tops up; it never fails on a collision).
    /// Returns how many were inserted.
    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError>;
    /// Upserts by sku in one transaction: a product whose sku is new is
    /// inserted, one whose sku exists is replaced when any writable field
    /// differs and left alone (no write at all) when none does. The skus
    /// must be distinct (the service keeps the last of a repeated one).
    /// Returns one [`Upserted`] per product, in order. A sku inserted
    /// concurrently by another writer fails the batch with `DuplicateSku`
    /// (nothing applied; the service retries).
    ///
    /// With an idempotency key (as [`ProductWriter::create`]): claimed and
    /// recorded with the outcomes in the same transaction; a retry with
    /// the same key and fingerprint is `replayed` with the first call's
    /// outcomes and writes nothing.
    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<BatchUpserted, StorageError>;
    /// All products, unfiltered.
    async fn count_all(&self) -> Result<u64, StorageError>;
}

/// Everything the catalog service needs from storage.
pub trait ProductStore: ProductReader + ProductWriter {}

impl<T: ProductReader + ProductWriter> ProductStore for T {}
