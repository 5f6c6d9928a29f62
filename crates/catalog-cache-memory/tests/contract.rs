//! The cache contract suite against the in-process cache.

use std::sync::Arc;
use std::time::Duration;

use catalog_cache_memory::MemoryCache;
use catalog_domain::Cache;

async fn fresh() -> Option<(Arc<dyn Cache>, ())> {
    Some((
        Arc::new(MemoryCache::new(
            64 * 1024 * 1024,
            Duration::from_secs(7200),
        )) as Arc<dyn Cache>,
        (),
    ))
}

catalog_cache_contract::cache_contract_suite!(fresh(), |_: ()| async {});
