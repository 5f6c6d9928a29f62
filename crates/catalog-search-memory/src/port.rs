//! [`Index`] as the domain's [`SearchIndex`] port.

use catalog_domain::facets::{FacetField, FacetKey};
use catalog_domain::ports::PageSpec;
use catalog_domain::search_index::IndexRefused;
use catalog_domain::{Product, ProductFilter, ProductId, SearchIndex, StatsRow};

use crate::index::Index;

impl SearchIndex for Index {
    fn empty() -> Self {
        Index::new()
    }

    fn upsert(&mut self, product: &Product) -> Result<(), IndexRefused> {
        Index::upsert(self, product).map_err(|e| IndexRefused {
            id: product.id.get(),
            reason: e.to_string(),
        })
    }

    fn remove(&mut self, id: ProductId) {
        Index::remove(self, id.get());
    }

    fn len(&self) -> u64 {
        Index::len(self)
    }

    fn reserve(&mut self, products: u64) {
        Index::reserve(self, usize::try_from(products).unwrap_or(0));
    }

    fn finish_build(&mut self) {
        self.shrink();
    }

    fn version_of(&self, id: ProductId) -> Option<i64> {
        Index::version_of(self, id.get())
    }

    fn page(&self, page: &PageSpec<'_>) -> (Vec<ProductId>, u64) {
        let (ids, total) = Index::page(self, page);
        let ids = ids
            .into_iter()
            .filter_map(|id| ProductId::new(id).ok())
            .collect();
        (ids, total)
    }

    fn count(&self, filter: &ProductFilter) -> u64 {
        self.matches(filter).len()
    }

    fn stats(&self, filter: &ProductFilter) -> StatsRow {
        self.stats_of(&self.matches(filter))
    }

    fn facet_counts(&self, filter: &ProductFilter, field: FacetField) -> Vec<(FacetKey, u64)> {
        self.facet_counts_of(&self.matches(filter), field)
    }

    fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> catalog_domain::FacetGroups {
        self.facets_of(filter, requests)
    }

    fn typo_candidates(&self, word: &str, bound: usize) -> Vec<String> {
        self.near_words(word, bound)
    }

    fn heavy(&self, filter: &ProductFilter) -> bool {
        Index::heavy(self, filter)
    }

    fn memory_bytes(&self) -> usize {
        self.memory().iter().map(|(_, bytes)| bytes).sum()
    }
}
