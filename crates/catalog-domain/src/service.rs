//! The catalog service: the application's use cases over the storage port.

use std::sync::Arc;

use crate::cursor::{Cursor, CursorKey};
use crate::error::{CatalogError, ValidationErrors};
use crate::ports::{PageSpec, ProductStore};
use crate::product::{Product, ProductId};
use crate::query::{CountMode, ListParams, ListQuery, ProductFilter, Start, sort_values};
use crate::stats::{NameCount, Stats};

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub items: Vec<Product>,
    pub total: Option<u64>,
    pub limit: u32,
    pub offset: u64,
    pub next_cursor: Option<String>,
}

/// Orchestrates storage for every read and write use case.
#[derive(Clone)]
pub struct CatalogService {
    store: Arc<dyn ProductStore>,
    cursor_key: CursorKey,
}

impl std::fmt::Debug for CatalogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogService").finish_non_exhaustive()
    }
}

impl CatalogService {
    pub fn new(store: Arc<dyn ProductStore>, cursor_key: CursorKey) -> Self {
        Self { store, cursor_key }
    }

    pub fn store(&self) -> &Arc<dyn ProductStore> {
        &self.store
    }

    /// Parses and validates raw list parameters (cursors are verified with
    /// this deployment's key).
    pub fn parse_list(&self, pairs: &[(String, String)]) -> Result<ListQuery, ValidationErrors> {
        ListParams::new(pairs).list(&self.cursor_key)
    }

    /// Parses the filter parameters only (stats, facets).
    pub fn parse_filter(
        &self,
        pairs: &[(String, String)],
    ) -> Result<ProductFilter, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let filter = ListParams::new(pairs).filter(&mut errors);
        errors.into_result(filter)
    }

    #[tracing::instrument(skip_all, fields(limit = q.limit))]
    pub async fn list(&self, q: &ListQuery) -> Result<ListPage, CatalogError> {
        let (after, offset) = match &q.start {
            Start::Offset(o) => (None, *o),
            Start::After(values) => (Some(values.as_slice()), 0),
        };
        // One extra row tells whether another page follows.
        let page = PageSpec {
            filter: &q.filter,
            sort: &q.sort,
            after,
            offset,
            limit: u64::from(q.limit) + 1,
        };
        let rows = self.store.list(page);
        let (rows, total) = match q.count {
            CountMode::Exact => {
                let (rows, total) = futures::future::join(rows, self.store.count(&q.filter)).await;
                (rows?, Some(total?))
            }
            CountMode::None => (rows.await?, None),
        };
        let mut items = rows;
        let more = items.len() > q.limit as usize;
        items.truncate(q.limit as usize);
        let next_cursor = match items.last() {
            Some(last) if more => Some(
                Cursor::new(
                    q.filter.clone(),
                    q.sort.clone(),
                    q.limit,
                    sort_values(&q.sort, last, q.filter.search.as_ref()),
                )
                .encode(&self.cursor_key),
            ),
            _ => None,
        };
        Ok(ListPage {
            items,
            total,
            limit: q.limit,
            offset: q.offset(),
            next_cursor,
        })
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    pub async fn get(&self, id: ProductId) -> Result<Product, CatalogError> {
        self.store.get(id).await?.ok_or(CatalogError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    pub async fn stats(&self, filter: &ProductFilter) -> Result<Stats, CatalogError> {
        Ok(self.store.stats(filter).await?.into())
    }

    #[tracing::instrument(skip_all)]
    pub async fn categories(&self) -> Result<Vec<NameCount>, CatalogError> {
        Ok(self.store.categories().await?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn brands(&self) -> Result<Vec<NameCount>, CatalogError> {
        Ok(self.store.brands().await?)
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
}
