//! Freshness: a reader that raced a write cannot put its stale answer where
//! a later reader looks, and invalidation reaches exactly what a write can
//! affect. Each scenario runs on the in-process cache and on Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use catalog_domain::{CatalogService, Product, ProductFilter};
use common::{
    Backend, InstrumentedStore, PRODUCTS, first_page, hits, list_json, pid, product_json, service,
    stats_json,
};
use serde_json::Value;

fn name_of(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["name"].as_str().unwrap().to_string()
}

fn list_names(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Reader A reads product 3 from storage, then is held; meanwhile the
/// product is renamed and invalidated; A then stores what it read. A later
/// reader must see the new name: first computed (miss), then a hit.
async fn stale_detail_put_back(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());

    let gate = store.arm_get_gate();
    let reader_a = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.get_rendered(pid(3), product_json).await.unwrap() })
    };
    gate.entered.notified().await;

    // The write, committed and invalidated while A holds the old row.
    store.rename(3, "Renamed while A was reading").await;
    svc.invalidate_product(pid(3)).await;

    // A reader that starts after the write returned does not wait for, nor
    // share, A's flight (its generation differs): it reads the new row.
    let c = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        svc.get_rendered(pid(3), product_json),
    )
    .await
    .expect("a reader after the write waited for the held reader A")
    .unwrap();
    assert_eq!(name_of(&c.body), "Renamed while A was reading");
    assert!(!c.hit, "computed, not served from A's flight");

    gate.release.notify_one();
    let a = reader_a.await.unwrap();
    assert_eq!(name_of(&a.body), "Item 03", "A read before the write");
    assert!(!a.hit);

    // A stored its stale answer under the old generation: nobody looks there.
    for _ in 0..3 {
        let b = svc.get_rendered(pid(3), product_json).await.unwrap();
        assert_eq!(
            name_of(&b.body),
            "Renamed while A was reading",
            "a reader after the write must not get A's stale put-back"
        );
        assert!(b.hit, "the fresh answer C stored is the one served");
    }
    assert_eq!(svc.cache_failures(), 0);
}

/// The same race with the reader B starting only after A stored: first a
/// miss with the new value, then a hit.
async fn stale_detail_put_back_then_reader(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());

    let gate = store.arm_get_gate();
    let reader_a = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.get_rendered(pid(4), product_json).await.unwrap() })
    };
    gate.entered.notified().await;
    store.rename(4, "New name").await;
    svc.invalidate_product(pid(4)).await;
    gate.release.notify_one();
    let a = reader_a.await.unwrap();
    assert_eq!(name_of(&a.body), "Item 04");

    let b1 = svc.get_rendered(pid(4), product_json).await.unwrap();
    assert_eq!(name_of(&b1.body), "New name");
    assert!(!b1.hit, "B's first read must be computed, not A's put-back");
    let b2 = svc.get_rendered(pid(4), product_json).await.unwrap();
    assert_eq!(name_of(&b2.body), "New name");
    assert!(b2.hit);
    assert_eq!(b2.etag, b1.etag, "a hit carries the tag of what was stored");
}

/// The race on a list page.
async fn stale_list_put_back(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    let q = first_page(&svc);

    let gate = store.arm_list_gate();
    let reader_a = {
        let svc = svc.clone();
        let q = q.clone();
        tokio::spawn(async move { svc.list_rendered(&q, list_json).await.unwrap() })
    };
    gate.entered.notified().await;
    store.rename(1, "Renamed first").await;
    svc.invalidate_product(pid(1)).await;
    gate.release.notify_one();
    let a = reader_a.await.unwrap();
    assert_eq!(list_names(&a.body)[0], "Item 01");

    let b1 = svc.list_rendered(&q, list_json).await.unwrap();
    assert_eq!(list_names(&b1.body)[0], "Renamed first");
    assert!(!b1.hit);
    let b2 = svc.list_rendered(&q, list_json).await.unwrap();
    assert_eq!(list_names(&b2.body)[0], "Renamed first");
    assert!(b2.hit);
}

fn named(names: &[&str], hit: bool) -> Vec<(String, bool)> {
    names.iter().map(|n| (n.to_string(), hit)).collect()
}

/// Fills the cache with every read `hits` makes, then checks all hit.
async fn warm(svc: &CatalogService, ids: &[i64]) {
    hits(svc, ids).await;
    let all = hits(svc, ids).await;
    assert!(all.iter().all(|(_, h)| *h), "warm cache: {all:?}");
}

/// `invalidate_product` makes list, stats, categories, brands and that
/// product's detail miss; another product's detail stays a hit.
async fn invalidate_product_scope(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    warm(&svc, &[3, 4]).await;

    svc.invalidate_product(pid(3)).await;
    let after = hits(&svc, &[3, 4]).await;
    let mut want = named(
        &["list", "stats", "categories", "brands", "detail 3"],
        false,
    );
    want.push(("detail 4".to_string(), true));
    assert_eq!(after, want);

    // And they are cached again right away.
    let again = hits(&svc, &[3, 4]).await;
    assert!(again.iter().all(|(_, h)| *h), "{again:?}");

    // Filtered stats and other list pages are invalidated too.
    let filter = common::filter("category=Books");
    let page2 = common::list_query(&svc, "limit=5&offset=5");
    svc.stats_rendered(&filter, stats_json).await.unwrap();
    svc.list_rendered(&page2, list_json).await.unwrap();
    assert!(svc.stats_rendered(&filter, stats_json).await.unwrap().hit);
    assert!(svc.list_rendered(&page2, list_json).await.unwrap().hit);
    svc.invalidate_product(pid(11)).await;
    assert!(!svc.stats_rendered(&filter, stats_json).await.unwrap().hit);
    assert!(!svc.list_rendered(&page2, list_json).await.unwrap().hit);
    assert!(
        svc.get_rendered(pid(3), product_json).await.unwrap().hit,
        "product 3 did not change"
    );
    assert_eq!(svc.cache_failures(), 0);
}

/// `invalidate_all` makes everything miss.
async fn invalidate_all_scope(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    warm(&svc, &[3, 4, 5]).await;
    svc.invalidate_all().await;
    let after = hits(&svc, &[3, 4, 5]).await;
    assert_eq!(
        after,
        named(
            &[
                "list",
                "stats",
                "categories",
                "brands",
                "detail 3",
                "detail 4",
                "detail 5"
            ],
            false
        )
    );
    let again = hits(&svc, &[3, 4, 5]).await;
    assert!(again.iter().all(|(_, h)| *h), "{again:?}");
}

/// A write followed by invalidation is visible in every read, and the
/// service's answers equal what storage says.
async fn write_visible_everywhere(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    warm(&svc, &[2]).await;
    store.rename(2, "Fresh").await;
    svc.invalidate_product(pid(2)).await;
    let detail = svc.get_rendered(pid(2), product_json).await.unwrap();
    assert_eq!(name_of(&detail.body), "Fresh");
    let direct: Product = svc.get(pid(2)).await.unwrap();
    assert_eq!(
        detail.etag.as_ref(),
        direct.etag(),
        "detail tag is the version's"
    );
    let list = svc
        .list_rendered(&first_page(&svc), list_json)
        .await
        .unwrap();
    assert!(list_names(&list.body).contains(&"Fresh".to_string()));
    assert!(!list.hit);
    let stats = svc
        .stats_rendered(&ProductFilter::default(), stats_json)
        .await
        .unwrap();
    assert!(!stats.hit);
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(backend) = super::Backend::redis() else {
                        return;
                    };
                    super::$scenario(backend).await;
                }
            )*
        }
    };
}

on_both_backends!(
    stale_detail_put_back,
    stale_detail_put_back_then_reader,
    stale_list_put_back,
    invalidate_product_scope,
    invalidate_all_scope,
    write_visible_everywhere,
);

// ------------------------------------------------------- generation expiry

/// A generation expires a fixed time after its last *bump*, but entries
/// keep being stored under it by every read until then. When it expires it
/// restarts from 0, and the next write bumps it back to a value it already
/// had: the entries stored just before the expiry, computed before that
/// write, are reachable again. TTLs follow the binary's rule (generation
/// TTL = 2 × the longest entry TTL + margin).
///
/// 1. invalidate product 3: `product:3` = 1, expiring at `gen_ttl`.
/// 2. shortly before that, a read stores E (name v1) under `product:3` = 1.
/// 3. `product:3` expires (reads as 0); E is still alive.
/// 4. write v2, invalidate product 3: `product:3` = 1 again.
/// 5. a read finds E: v1, although storage says v2.
async fn generation_expiry_resurrects_entries(
    cache: Arc<dyn catalog_domain::Cache>,
    entry_ttl: std::time::Duration,
    gen_ttl: std::time::Duration,
) {
    use std::time::{Duration, Instant};
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let ttls = catalog_domain::CacheTtls {
        list: entry_ttl,
        detail: entry_ttl,
        stats: entry_ttl,
        categories: entry_ttl,
        brands: entry_ttl,
    };
    let svc = common::service_with(
        Arc::clone(&store),
        cache,
        catalog_domain::CacheSettings {
            ttls,
            ..catalog_domain::CacheSettings::default()
        },
    );
    let margin = Duration::from_millis(100);

    // 1.
    store.rename(3, "v1").await;
    svc.invalidate_product(pid(3)).await;
    let bumped = Instant::now();
    // 2. Store E late in the generation's life: it outlives the generation.
    tokio::time::sleep_until((bumped + gen_ttl - entry_ttl / 4).into()).await;
    let e = svc.get_rendered(pid(3), product_json).await.unwrap();
    assert_eq!((name_of(&e.body).as_str(), e.hit), ("v1", false));
    let stored = Instant::now();
    // 3. The generation expires; E lives until stored + entry_ttl.
    tokio::time::sleep_until((bumped + gen_ttl + margin).into()).await;
    assert!(
        Instant::now() + margin / 2 < stored + entry_ttl,
        "timing: the test ran too slowly to hit the window"
    );
    // 4.
    store.rename(3, "v2").await;
    svc.invalidate_product(pid(3)).await;
    // 5.
    let r = svc.get_rendered(pid(3), product_json).await.unwrap();
    assert_eq!(
        name_of(&r.body),
        "v2",
        "a read after the v2 write got an entry stored before it (hit={})",
        r.hit
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_expiry_memory() {
    use std::time::Duration;
    let entry_ttl = Duration::from_millis(400);
    let gen_ttl = entry_ttl * 2 + Duration::from_millis(100);
    let cache = Arc::new(catalog_cache_memory::MemoryCache::new(1 << 24, gen_ttl));
    generation_expiry_resurrects_entries(cache, entry_ttl, gen_ttl).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_expiry_redis() {
    use std::time::Duration;
    let Some(prefix) = common::Prefix::shared() else {
        return;
    };
    // Redis TTLs are whole seconds.
    let entry_ttl = Duration::from_secs(1);
    let gen_ttl = Duration::from_secs(3);
    let cache = Arc::new(common::redis_cache_with(
        &prefix.url,
        &prefix.prefix,
        Duration::from_millis(1000),
        gen_ttl,
    ));
    generation_expiry_resurrects_entries(cache, entry_ttl, gen_ttl).await;
}
