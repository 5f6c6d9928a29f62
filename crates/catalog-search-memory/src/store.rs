//! [`IndexedStore`]: a storage adapter whose reads the index answers and
//! whose rows and writes another store keeps.
//!
//! Writes go to the inner store, then the index takes the written product
//! from it; reads ask the index for ids, totals and aggregates and fill the
//! page with one by-id read per row. A gate keeps a write and its index
//! update together, so a read never sees one without the other. This is
//! how the storage contract suite proves the index row for row against the
//! reference, whatever store holds the rows.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use catalog_domain::facets::{FacetField, FacetKey};
use catalog_domain::ports::{Created, Idempotency, PageSpec};
use catalog_domain::query::SortKey;
use catalog_domain::{
    NameCount, NewProduct, Product, ProductFilter, ProductId, ProductReader, ProductStore,
    ProductWriter, StatsRow, StorageError,
};
use tokio::sync::RwLock;

use crate::index::Index;

/// An index in front of a store.
pub struct IndexedStore<S> {
    inner: S,
    index: std::sync::RwLock<Index>,
    /// Writers hold it exclusively from the store write to the index
    /// update; readers share it from the index read to the row read.
    gate: RwLock<()>,
    /// False once a product could not be indexed: reads then go to the
    /// inner store until the next full rebuild.
    usable: AtomicBool,
}

impl<S> std::fmt::Debug for IndexedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexedStore").finish_non_exhaustive()
    }
}

fn poisoned() -> StorageError {
    StorageError::internal("search index", "the index lock is poisoned")
}

impl<S: ProductStore> IndexedStore<S> {
    /// Indexes every product `inner` holds.
    pub async fn new(inner: S) -> Result<Self, StorageError> {
        let store = Self {
            inner,
            index: std::sync::RwLock::new(Index::new()),
            gate: RwLock::new(()),
            usable: AtomicBool::new(true),
        };
        store.rebuild().await?;
        Ok(store)
    }

    /// Rebuilds the index from every product of the inner store.
    pub async fn rebuild(&self) -> Result<(), StorageError> {
        let all = ProductFilter::default();
        let sort = [SortKey::ID];
        let mut products: Vec<Product> = Vec::new();
        loop {
            let after = products
                .last()
                .map(|p| vec![catalog_domain::query::SortValue::Int(p.id.get())]);
            let page = self
                .inner
                .list(PageSpec {
                    filter: &all,
                    sort: &sort,
                    after: after.as_deref(),
                    offset: 0,
                    limit: 10_000,
                })
                .await?;
            let done = page.len() < 10_000;
            products.extend(page);
            if done {
                break;
            }
        }
        let built = Index::build(products.iter());
        let mut index = self.index.write().map_err(|_| poisoned())?;
        match built {
            Ok(built) => {
                *index = built;
                self.usable.store(true, Ordering::SeqCst);
            }
            Err(_) => {
                *index = Index::new();
                self.usable.store(false, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// Brings the index entry of `id` in line with the inner store.
    async fn refresh(&self, id: ProductId) -> Result<(), StorageError> {
        let current = self.inner.get(id).await?;
        let mut index = self.index.write().map_err(|_| poisoned())?;
        match current {
            Some(p) => {
                if index.upsert(&p).is_err() {
                    self.usable.store(false, Ordering::SeqCst);
                }
            }
            None => index.remove(id.get()),
        }
        Ok(())
    }

    fn usable(&self) -> bool {
        self.usable.load(Ordering::SeqCst)
    }

    fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T, StorageError> {
        let index = self.index.read().map_err(|_| poisoned())?;
        Ok(f(&index))
    }

    async fn rows(&self, ids: Vec<i64>) -> Result<Vec<Product>, StorageError> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let id = ProductId::new(id).map_err(|e| StorageError::internal("indexed id", e))?;
            match self.inner.get(id).await? {
                Some(p) => rows.push(p),
                None => {
                    return Err(StorageError::internal(
                        "search index",
                        format!("product {} is indexed but not stored", id.get()),
                    ));
                }
            }
        }
        Ok(rows)
    }
}

#[async_trait]
impl<S: ProductStore> ProductReader for IndexedStore<S> {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.list(page).await;
        }
        let ids = self.with_index(|i| i.page(&page).0)?;
        self.rows(ids).await
    }

    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.count(filter).await;
        }
        self.with_index(|i| i.matches(filter).len())
    }

    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.list_counted(page).await;
        }
        let (ids, total) = self.with_index(|i| i.page(&page))?;
        Ok((self.rows(ids).await?, total))
    }

    fn counts_cheaply(&self, _filter: &ProductFilter) -> bool {
        self.usable()
    }

    fn pages_cheaply(&self, filter: &ProductFilter, offset: u64) -> bool {
        self.usable() || self.inner.pages_cheaply(filter, offset)
    }

    async fn estimate_count(&self, filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        self.count(filter).await.map(Some)
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        self.inner.get(id).await
    }

    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.stats(filter).await;
        }
        self.with_index(|i| i.stats_of(&i.matches(filter)))
    }

    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.categories().await;
        }
        self.with_index(Index::categories)
    }

    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.brands().await;
        }
        self.with_index(Index::brands)
    }

    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.facet_counts(filter, field).await;
        }
        self.with_index(|i| i.facet_counts_of(&i.matches(filter), field))
    }

    async fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> Result<catalog_domain::FacetGroups, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.facet_groups(filter, requests).await;
        }
        self.with_index(|i| i.facets_of(filter, requests))
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.search_terms(min_chars, max_chars).await;
        }
        self.with_index(|i| i.vocabulary(min_chars, max_chars))
    }

    async fn typo_candidates(&self, words: &[&str]) -> Result<Vec<Vec<String>>, StorageError> {
        let _gate = self.gate.read().await;
        if !self.usable() {
            return self.inner.typo_candidates(words).await;
        }
        self.with_index(|i| catalog_domain::SearchIndex::typo_candidates_of(i, words))
    }

    fn change_feed(&self) -> Option<&dyn catalog_domain::changes::ChangeFeed> {
        self.inner.change_feed()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl<S: ProductStore> ProductWriter for IndexedStore<S> {
    async fn create(
        &self,
        product: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        let _gate = self.gate.write().await;
        let created = self.inner.create(product, idempotency).await?;
        if let Created::New(p) = &created {
            self.refresh(p.id).await?;
        }
        Ok(created)
    }

    async fn update(
        &self,
        id: ProductId,
        product: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        let _gate = self.gate.write().await;
        let updated = self.inner.update(id, product, expected_version).await?;
        self.refresh(id).await?;
        Ok(updated)
    }

    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        let _gate = self.gate.write().await;
        self.inner.delete(id, expected_version).await?;
        self.refresh(id).await
    }

    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        let _gate = self.gate.write().await;
        let inserted = self.inner.insert_batch(products).await?;
        // A batch does not say which ids it took: index everything again
        // (what a bulk load does at start-up, too).
        self.rebuild().await?;
        Ok(inserted)
    }

    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<catalog_domain::BatchUpserted, StorageError> {
        let _gate = self.gate.write().await;
        let upserted = self.inner.upsert_batch(products, idempotency).await?;
        for u in &upserted.items {
            if u.outcome != catalog_domain::UpsertOutcome::Unchanged {
                self.refresh(u.id).await?;
            }
        }
        Ok(upserted)
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        self.inner.count_all().await
    }
}
