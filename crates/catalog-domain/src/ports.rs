//! The storage port, as small traits composed into [`ProductStore`].
//!
//! Adapters MUST reproduce the reference semantics defined in the domain:
//! [`ProductFilter::matches`] for filtering, [`compare_keys`] over
//! [`sort_values`] for ordering (strings by code point) and
//! [`SearchQuery::score`] for relevance. The contract suite in
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

/// One page request as storage sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec<'a> {
    pub filter: &'a ProductFilter,
    /// A total order ending in `id`.
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
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError>;
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError>;
    /// Every distinct category with its count, by name in code-point order.
    async fn categories(&self) -> Result<Vec<NameCount>, StorageError>;
    /// Every distinct brand with its count, by name in code-point order.
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError>;
    /// A cheap round trip proving the backend answers.
    async fn ping(&self) -> Result<(), StorageError>;
}

/// Writes.
#[async_trait]
pub trait ProductWriter: Send + Sync {
    /// Inserts products in one batch, silently skipping any whose sku is
    /// already taken (seeding tops up; it never fails on a collision).
    /// Returns how many were inserted.
    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError>;
    /// All products, unfiltered.
    async fn count_all(&self) -> Result<u64, StorageError>;
}

/// Everything the catalog service needs from storage.
pub trait ProductStore: ProductReader + ProductWriter {}

impl<T: ProductReader + ProductWriter> ProductStore for T {}
