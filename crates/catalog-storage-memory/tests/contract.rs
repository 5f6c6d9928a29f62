//! The storage contract suite, run against the in-memory adapter.

use catalog_domain::ProductStore;
use catalog_storage_contract::Fixture;
use catalog_storage_memory::MemoryStore;

/// A fresh in-memory store per test; nothing to clean up.
struct MemFixture(MemoryStore);

impl Fixture for MemFixture {
    fn store(&self) -> &dyn ProductStore {
        &self.0
    }
}

catalog_storage_contract::storage_contract_suite!(async {
    Some(Box::new(MemFixture(MemoryStore::new())) as Box<dyn Fixture>)
});
