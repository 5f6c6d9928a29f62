//! The cache contract suite against a real Redis (127.0.0.1:6379, or
//! `CATALOG_TEST_REDIS_URL`), each test under its own key prefix, deleted
//! afterwards. Skipped loudly when Redis is absent; a failure under CI=true.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use catalog_cache_redis::{RedisCache, RedisSettings};
use catalog_domain::Cache;

fn redis_url() -> String {
    std::env::var("CATALOG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

async fn fresh() -> Option<(Arc<dyn Cache>, String)> {
    let prefix = format!("catalog_test_{}", uuid::Uuid::new_v4().simple());
    let cache = RedisCache::new(RedisSettings {
        url: redis_url(),
        prefix: prefix.clone(),
        timeout: Duration::from_millis(500),
        pool_size: 4,
        generation_ttl: Duration::from_secs(600),
    })
    .expect("pool");
    if let Err(e) = cache.ping().await {
        let msg = format!("Redis at {} is not reachable ({e})", redis_url());
        assert!(!in_ci(), "{msg}; CI=true forbids skipping");
        eprintln!("\n!!! SKIPPED: {msg}. Start it to run these tests.\n");
        return None;
    }
    Some((Arc::new(cache) as Arc<dyn Cache>, prefix))
}

/// Deletes every key under the test's prefix (SCAN is fine in a test).
async fn cleanup(prefix: String) {
    let client = deadpool_redis::redis::Client::open(redis_url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = deadpool_redis::redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await;
    }
}

catalog_cache_contract::cache_contract_suite!(fresh(), cleanup);
