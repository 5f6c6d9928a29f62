//! Shared fixtures of the cache behaviour tests: an instrumented storage
//! adapter (call counts, delays, gates that hold a read), services
//! over the in-process cache or Redis, a key-prefix guard that deletes its
//! Redis keys even when a test panics; the HTTP harness is
//! `catalog-testkit`'s.

#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use async_trait::async_trait;
use catalog_cache_memory::MemoryCache;
use catalog_cache_redis::{RedisCache, RedisSettings};
use catalog_domain::cursor::CursorKey;
use catalog_domain::ports::{Created, Idempotency, PageSpec};
use catalog_domain::{
    Cache, CacheSettings, CatalogService, Label, NameCount, NewProduct, Price, Product,
    ProductFilter, ProductId, ProductReader, ProductWriter, Rating, Sku, StatsRow, StorageError,
};
use catalog_storage_memory::MemoryStore;
// Each test binary uses its own part of this module.
#[allow(unused_imports)]
pub use catalog_testkit::{Resp, TestApp};
use deadpool_redis::redis;
use serde_json::Value;

// ---------------------------------------------------------------- skipping

/// `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips loudly, or fails under CI=true. Written to the real stderr, not
/// through `eprintln!`, which the test harness captures and hides for
/// passing tests.
pub fn skip(msg: &str) {
    assert!(!in_ci(), "{msg}; CI=true forbids skipping");
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED ({}): {msg} !!!!!!!!\n",
        std::thread::current().name().unwrap_or("?")
    );
}

// ---------------------------------------------------------------- fixture

/// The fixture: `n` products over 3 categories and 2 brands, ids 1..=n.
pub fn products(n: i64) -> Vec<NewProduct> {
    const CATEGORIES: [&str; 3] = ["Books", "Garden", "Toys"];
    const BRANDS: [&str; 2] = ["Acme", "Zenith"];
    (1..=n)
        .map(|i| NewProduct {
            sku: Sku::parse(&format!("SKU-{i:04}")).unwrap(),
            name: format!("Item {i:02}"),
            description: format!("Description {i}"),
            category: Label::parse(CATEGORIES[(i % 3) as usize]).unwrap(),
            brand: Label::parse(BRANDS[(i % 2) as usize]).unwrap(),
            price: Price::from_cents(100 * i).unwrap(),
            stock_quantity: i % 4,
            rating: Rating::from_tenths(i % 51).unwrap(),
            is_active: true,
        })
        .collect()
}

pub const PRODUCTS: i64 = 12;

pub fn pid(id: i64) -> ProductId {
    ProductId::new(id).unwrap()
}

// ---------------------------------------------------------------- storage

/// Calls per storage method.
#[derive(Debug, Default)]
pub struct Calls {
    pub list: AtomicUsize,
    pub count: AtomicUsize,
    pub get: AtomicUsize,
    pub stats: AtomicUsize,
    pub categories: AtomicUsize,
    pub brands: AtomicUsize,
}

fn load(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

impl Calls {
    pub fn list(&self) -> usize {
        load(&self.list)
    }
    pub fn count(&self) -> usize {
        load(&self.count)
    }
    pub fn get(&self) -> usize {
        load(&self.get)
    }
    pub fn stats(&self) -> usize {
        load(&self.stats)
    }
    pub fn categories(&self) -> usize {
        load(&self.categories)
    }
    pub fn brands(&self) -> usize {
        load(&self.brands)
    }
}

/// One armed pause of a read: the next such read takes its answer from
/// storage, announces itself on `entered`, and returns only once `release`
/// is notified, so a test can change the data and invalidate while a
/// reader holds a result read before the change.
#[derive(Debug, Default)]
pub struct Gate {
    pub entered: tokio::sync::Notify,
    pub release: tokio::sync::Notify,
}

/// A storage adapter over [`MemoryStore`] that counts reads, can delay
/// every read and can pause one `get` or `list`; everything else is
/// delegated.
#[derive(Debug, Default)]
pub struct InstrumentedStore {
    inner: MemoryStore,
    pub calls: Calls,
    delay_ms: AtomicU64,
    fail_gets: AtomicBool,
    get_gate: Mutex<Option<Arc<Gate>>>,
    list_gate: Mutex<Option<Arc<Gate>>>,
}

/// Holds a read at its gate, if one is armed.
pub async fn pass(gate: &Mutex<Option<Arc<Gate>>>) {
    let gate = gate.lock().unwrap().take();
    if let Some(gate) = gate {
        gate.entered.notify_one();
        gate.release.notified().await;
    }
}

impl InstrumentedStore {
    pub async fn with_products(n: i64) -> Arc<Self> {
        let store = Self::default();
        let inserted = store.inner.insert_batch(&products(n)).await.unwrap();
        assert_eq!(inserted, n as u64);
        Arc::new(store)
    }

    /// Every read sleeps this long before answering.
    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// From now on, `get` answers `Unavailable` (after the delay), as a
    /// database timing out would.
    pub fn fail_gets(&self, on: bool) {
        self.fail_gets.store(on, Ordering::SeqCst);
    }

    /// Pauses the next `get` (see [`Gate`]).
    pub fn arm_get_gate(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        *self.get_gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
    }

    /// Pauses the next `list` (see [`Gate`]).
    pub fn arm_list_gate(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        *self.list_gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
    }

    /// The write: renames fixture product `id` in storage (the caller
    /// invalidates, as the service's write paths do).
    pub async fn rename(&self, id: i64, name: &str) {
        let mut new = products(id).pop().unwrap();
        new.name = name.to_string();
        let updated = self.inner.update(pid(id), &new, None).await.unwrap();
        assert_eq!(updated.name, name);
    }

    async fn delay(&self) {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[async_trait]
impl ProductReader for InstrumentedStore {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        bump(&self.calls.list);
        let rows = self.inner.list(page).await?;
        pass(&self.list_gate).await;
        self.delay().await;
        Ok(rows)
    }

    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        bump(&self.calls.count);
        let n = self.inner.count(filter).await?;
        self.delay().await;
        Ok(n)
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        bump(&self.calls.get);
        // Read first, then pause: the answer is the one from before any
        // change the test makes while this call is held.
        let found = self.inner.get(id).await?;
        pass(&self.get_gate).await;
        self.delay().await;
        if self.fail_gets.load(Ordering::SeqCst) {
            return Err(StorageError::unavailable("get", "injected outage"));
        }
        Ok(found)
    }

    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        bump(&self.calls.stats);
        let row = self.inner.stats(filter).await?;
        self.delay().await;
        Ok(row)
    }

    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        bump(&self.calls.categories);
        let names = self.inner.categories().await?;
        self.delay().await;
        Ok(names)
    }

    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        bump(&self.calls.brands);
        let names = self.inner.brands().await?;
        self.delay().await;
        Ok(names)
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.search_terms(min_chars, max_chars).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl ProductWriter for InstrumentedStore {
    async fn create(
        &self,
        product: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        self.inner.create(product, idempotency).await
    }

    async fn update(
        &self,
        id: ProductId,
        product: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        self.inner.update(id, product, expected_version).await
    }

    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        self.inner.delete(id, expected_version).await
    }

    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        self.inner.insert_batch(products).await
    }
    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<catalog_domain::BatchUpserted, StorageError> {
        self.inner.upsert_batch(products, idempotency).await
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        self.inner.count_all().await
    }
}

// ---------------------------------------------------------------- caches

pub fn redis_url() -> String {
    std::env::var("CATALOG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A synchronous admin connection (test set-up and clean-up only).
pub fn admin(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
}

/// A unique key prefix on a Redis server whose keys are deleted when the
/// guard drops, panicking test or not (KEYS + DEL; never FLUSH*).
#[derive(Debug)]
pub struct Prefix {
    pub url: String,
    pub prefix: String,
}

impl Prefix {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            prefix: format!("catalog_cache_test_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The shared test Redis, or `None` (after a loud skip) when absent.
    pub fn shared() -> Option<Self> {
        let url = redis_url();
        let up = admin(&url).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        match up {
            Ok(_) => Some(Self::new(&url)),
            Err(e) => {
                skip(&format!("Redis at {url} is not reachable ({e})"));
                None
            }
        }
    }

    /// The keys currently under this prefix.
    pub fn keys(&self) -> Vec<String> {
        admin(&self.url)
            .and_then(|mut c| {
                redis::cmd("KEYS")
                    .arg(format!("{}:*", self.prefix))
                    .query(&mut c)
            })
            .unwrap_or_default()
    }

    pub fn cache(&self, timeout: Duration) -> Arc<dyn Cache> {
        Arc::new(redis_cache(&self.url, &self.prefix, timeout))
    }

    pub fn cleanup(&self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(mut c) = admin(&self.url) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut c);
        }
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        self.cleanup();
    }
}

pub fn redis_cache(url: &str, prefix: &str, timeout: Duration) -> RedisCache {
    redis_cache_with(url, prefix, timeout, Duration::from_secs(7200))
}

pub fn redis_cache_with(
    url: &str,
    prefix: &str,
    timeout: Duration,
    generation_ttl: Duration,
) -> RedisCache {
    RedisCache::new(RedisSettings {
        url: url.to_string(),
        prefix: prefix.to_string(),
        timeout,
        pool_size: 32,
        generation_ttl,
    })
    .unwrap()
}

pub fn memory_cache() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new(
        64 * 1024 * 1024,
        Duration::from_secs(7200),
    ))
}

/// The cache a scenario runs against.
pub enum Backend {
    Memory,
    Redis(Prefix),
}

impl Backend {
    /// The shared test Redis, or `None` after a loud skip.
    pub fn redis() -> Option<Self> {
        Prefix::shared().map(Backend::Redis)
    }

    /// A cache over this backend. Every Redis cache made from one backend
    /// shares its prefix, like instances of one deployment.
    pub fn cache(&self) -> Arc<dyn Cache> {
        match self {
            Backend::Memory => memory_cache(),
            // Generous: these tests are about behaviour, not latency, and
            // run on busy shared cores.
            Backend::Redis(p) => p.cache(Duration::from_millis(1000)),
        }
    }
}

pub fn service(store: Arc<InstrumentedStore>, cache: Arc<dyn Cache>) -> CatalogService {
    service_with(store, cache, CacheSettings::default())
}

pub fn service_with(
    store: Arc<InstrumentedStore>,
    cache: Arc<dyn Cache>,
    settings: CacheSettings,
) -> CatalogService {
    CatalogService::new(store, CursorKey::new(b"cache-tests")).with_cache(cache, settings)
}

/// A service without a cache over a plain [`MemoryStore`], for comparing
/// bodies.
pub async fn uncached_service() -> CatalogService {
    let store = MemoryStore::new();
    store.insert_batch(&products(PRODUCTS)).await.unwrap();
    CatalogService::new(Arc::new(store), CursorKey::new(b"cache-tests"))
}

// ---------------------------------------------------------------- rendering

// Renderers for the service-level tests (any deterministic bytes will do).

pub fn product_json(p: &Product) -> catalog_domain::RenderResult {
    serde_json::to_vec(p)
}

pub fn list_json(page: &catalog_domain::ListPage) -> catalog_domain::RenderResult {
    serde_json::to_vec(&page.items)
}

pub fn stats_json(s: &catalog_domain::Stats) -> catalog_domain::RenderResult {
    serde_json::to_vec(s)
}

pub fn names_json(v: &Vec<NameCount>) -> catalog_domain::RenderResult {
    serde_json::to_vec(v)
}

/// A list query parsed from a query string as the HTTP edge parses it.
pub fn list_query(service: &CatalogService, query: &str) -> catalog_domain::ListQuery {
    catalog_http::params::from_query::<catalog_http::params::ListParams>(query)
        .unwrap()
        .into_query(service.cursor_key(), service.max_offset())
        .unwrap()
}

/// A filter parsed from a query string as the HTTP edge parses it.
pub fn filter(query: &str) -> catalog_domain::ProductFilter {
    catalog_http::params::from_query::<catalog_http::params::FilterParams>(query)
        .unwrap()
        .into_filter()
        .unwrap()
}

/// The unfiltered first page, parsed as the HTTP edge would.
pub fn first_page(service: &CatalogService) -> catalog_domain::ListQuery {
    list_query(service, "")
}

/// Whether each cacheable read is a hit right now, in the order list,
/// stats, categories, brands, then the details of `ids`.
pub async fn hits(service: &CatalogService, ids: &[i64]) -> Vec<(String, bool)> {
    let q = first_page(service);
    let mut out = vec![
        (
            "list".to_string(),
            service.list_rendered(&q, list_json).await.unwrap().hit,
        ),
        (
            "stats".to_string(),
            service
                .stats_rendered(&ProductFilter::default(), stats_json)
                .await
                .unwrap()
                .hit,
        ),
        (
            "categories".to_string(),
            service.categories_rendered(names_json).await.unwrap().hit,
        ),
        (
            "brands".to_string(),
            service.brands_rendered(names_json).await.unwrap().hit,
        ),
    ];
    for id in ids {
        out.push((
            format!("detail {id}"),
            service
                .get_rendered(pid(*id), product_json)
                .await
                .unwrap()
                .hit,
        ));
    }
    out
}

// ---------------------------------------------------------------- HTTP

/// The five cacheable routes, by name.
pub const ROUTES: [(&str, &str); 5] = [
    ("list", "/api/v1/products"),
    ("detail", "/api/v1/products/3"),
    ("stats", "/api/v1/products/stats"),
    ("categories", "/api/v1/products/categories"),
    ("brands", "/api/v1/products/brands"),
];

/// `/health` as JSON, asserting a 200.
pub async fn health(app: &TestApp) -> Value {
    let r = app.get("/health").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()
}
