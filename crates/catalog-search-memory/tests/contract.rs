//! The storage contract suite, run against the search index in front of
//! the in-memory store: every answer row for row against the reference.

use catalog_domain::ProductStore;
use catalog_search_memory::IndexedStore;
use catalog_storage_contract::Fixture;
use catalog_storage_memory::MemoryStore;

struct IndexFixture(IndexedStore<MemoryStore>);

impl Fixture for IndexFixture {
    fn store(&self) -> &dyn ProductStore {
        &self.0
    }
}

catalog_storage_contract::storage_contract_suite!(async {
    let store = IndexedStore::new(MemoryStore::new())
        .await
        .expect("an empty store indexes");
    Some(Box::new(IndexFixture(store)) as Box<dyn Fixture>)
});
