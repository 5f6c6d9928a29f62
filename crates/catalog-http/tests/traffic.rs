//! Traffic limits through `build_app`: the per-client rate limit (429,
//! `RateLimit` headers, who counts as a client), load shedding of
//! expensive cache misses (503 at once, cheap reads and cache hits
//! unaffected) and the request deadline (503, work dropped).

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use async_trait::async_trait;
use catalog_cache_memory::{GovernorLimiter, MemoryCache};
use catalog_domain::cursor::CursorKey;
use catalog_domain::facets::{FacetField, FacetKey};
use catalog_domain::ports::PageSpec;
use catalog_domain::{
    CacheSettings, CatalogService, Created, Idempotency, NameCount, NewProduct, Product,
    ProductFilter, ProductId, ProductReader, ProductWriter, Quota, StatsRow, StorageError,
};
use catalog_http::{AppState, HttpConfig, TrustedProxies};
use catalog_storage_memory::MemoryStore;
use common::{Resp, TestApp, app_with_state, assert_problem, dataset, state_with, store_with};
use serde_json::json;

const SECRET: &str = "traffic-test-secret";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn get_from(uri: &str, peer: &str) -> TestRequest {
    TestRequest::get().uri(uri).peer_addr(addr(peer))
}

/// The fixture app limited to `quota`, trusting `proxies`.
async fn limited_app(quota: &str, proxies: &str) -> TestApp {
    let mut state = state_with(&dataset()).await;
    let quota = Quota::parse(quota).unwrap().unwrap();
    state.config = HttpConfig {
        jwt_secret: Some(SECRET.into()),
        rate_limiter: Some(Arc::new(GovernorLimiter::new(quota))),
        trusted_proxies: TrustedProxies::parse(proxies).unwrap(),
        ..HttpConfig::default()
    };
    app_with_state(state).await
}

/// `r=<remaining>` of the `RateLimit` header.
fn remaining(r: &Resp) -> u32 {
    let v = r.header("ratelimit").expect("no RateLimit header");
    let r_part = v.split(';').find(|p| p.starts_with("r=")).unwrap();
    r_part[2..].parse().unwrap()
}

#[actix_web::test]
async fn over_the_limit_is_a_429_problem_with_retry_after_and_ratelimit_headers() {
    // One request a minute, three at once: nothing refills during the test.
    let app = limited_app("1/m,burst=3", "").await;
    let peer = "203.0.113.5:40000";
    for want in [2, 1, 0] {
        let r = app
            .send(get_from("/api/v1/products/1", peer))
            .await
            .ok("under the limit");
        assert_eq!(r.header("ratelimit-policy"), Some(r#""default";q=3;w=180"#));
        assert_eq!(remaining(&r), want);
        // A minute per request spent until the bucket is full again.
        let t = 60 * (3 - want);
        assert_eq!(
            r.header("ratelimit"),
            Some(format!(r#""default";r={want};t={t}"#).as_str())
        );
    }
    let r = app.send(get_from("/api/v1/products", peer)).await;
    let body = assert_problem(&r, 429, &[]);
    assert_eq!(body["type"], "urn:catalog:problem:rate-limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.header("ratelimit-policy"), Some(r#""default";q=3;w=180"#));
    assert_eq!(remaining(&r), 0);
    // Errors count too: a 404 is a request like any other.
    let r = app.send(get_from("/api/v1/nothing", peer)).await;
    assert_eq!(r.status.as_u16(), 429);
}

#[actix_web::test]
async fn clients_are_limited_independently() {
    let app = limited_app("1/m,burst=1", "").await;
    app.send(get_from("/api/v1/products/1", "198.51.100.1:1000"))
        .await
        .ok("first client");
    let r = app
        .send(get_from("/api/v1/products/1", "198.51.100.1:2000"))
        .await;
    assert_eq!(r.status.as_u16(), 429, "same address, another port");
    app.send(get_from("/api/v1/products/1", "198.51.100.2:1000"))
        .await
        .ok("another client");
    // IPv6 clients are counted by their /64.
    app.send(get_from("/api/v1/products/1", "[2001:db8:1:2::1]:1000"))
        .await
        .ok("v6 client");
    let r = app
        .send(get_from("/api/v1/products/1", "[2001:db8:1:2::ffff]:1000"))
        .await;
    assert_eq!(r.status.as_u16(), 429, "same /64");
    app.send(get_from("/api/v1/products/1", "[2001:db8:1:3::1]:1000"))
        .await
        .ok("another /64");
}

#[actix_web::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = limited_app("1/m,burst=1", "10.0.0.0/8").await;
    let from = |client: &str| {
        get_from("/api/v1/products/1", "198.51.100.9:1000")
            .insert_header(("x-forwarded-for", client.to_string()))
    };
    app.send(from("192.0.2.1")).await.ok("first");
    // A client naming someone else is still itself.
    let r = app.send(from("192.0.2.2")).await;
    assert_eq!(r.status.as_u16(), 429);
}

#[actix_web::test]
async fn forwarded_for_is_honoured_from_a_trusted_proxy() {
    let app = limited_app("1/m,burst=1", "10.0.0.0/8").await;
    let via_proxy = |xff: &str| {
        get_from("/api/v1/products/1", "10.0.0.2:1000")
            .insert_header(("x-forwarded-for", xff.to_string()))
    };
    app.send(via_proxy("192.0.2.1")).await.ok("first client");
    app.send(via_proxy("192.0.2.2")).await.ok("second client");
    assert_eq!(app.send(via_proxy("192.0.2.1")).await.status.as_u16(), 429);
    // A forged entry to the left of the real client changes nothing.
    assert_eq!(
        app.send(via_proxy("6.6.6.6, 192.0.2.1"))
            .await
            .status
            .as_u16(),
        429
    );
    // Through two trusted proxies.
    assert_eq!(
        app.send(via_proxy("192.0.2.2, 10.0.0.3"))
            .await
            .status
            .as_u16(),
        429
    );
    app.send(via_proxy("192.0.2.3, 10.0.0.3"))
        .await
        .ok("third client through two proxies");
}

fn product(sku: &str) -> serde_json::Value {
    json!({
        "sku": sku, "name": "Desk Lamp", "description": "", "category": "Home",
        "brand": "Acme", "price": 10.5, "stock_quantity": 3, "rating": 4.0, "is_active": true
    })
}

fn post_as(token: &str, peer: &str, sku: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/products")
        .peer_addr(addr(peer))
        .insert_header(("authorization", format!("Bearer {token}")))
        .set_json(product(sku))
}

#[actix_web::test]
async fn writes_are_limited_by_token_subject() {
    let app = limited_app("1/m,burst=2", "").await;
    let alice = catalog_http::auth::mint_token(SECRET, "alice", "products:write", 600).unwrap();
    let bob = catalog_http::auth::mint_token(SECRET, "bob", "products:write", 600).unwrap();
    // Alice from two addresses: one budget.
    let r = app.send(post_as(&alice, "192.0.2.1:1", "LAMP-1")).await;
    assert_eq!(r.status.as_u16(), 201);
    let r = app.send(post_as(&alice, "192.0.2.2:1", "LAMP-2")).await;
    assert_eq!(r.status.as_u16(), 201);
    let r = app.send(post_as(&alice, "192.0.2.3:1", "LAMP-3")).await;
    assert_problem(&r, 429, &[]);
    // Bob from Alice's first address: his own budget.
    let r = app.send(post_as(&bob, "192.0.2.1:1", "LAMP-4")).await;
    assert_eq!(r.status.as_u16(), 201);
    // Reads from that address have their own budget too.
    app.send(get_from("/api/v1/products/1", "192.0.2.1:1"))
        .await
        .ok("a read");
    // A write without a valid token is counted by address (and refused).
    let bad = TestRequest::post()
        .uri("/api/v1/products")
        .peer_addr(addr("192.0.2.9:1"))
        .insert_header(("authorization", "Bearer forged"))
        .set_json(product("LAMP-5"));
    assert_eq!(app.send(bad).await.status.as_u16(), 401);
    assert_eq!(
        app.send(get_from("/api/v1/products/1", "192.0.2.9:1"))
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(
        app.send(get_from("/api/v1/products/1", "192.0.2.9:1"))
            .await
            .status
            .as_u16(),
        429,
        "the refused write counted against the address"
    );
}

#[actix_web::test]
async fn health_and_docs_are_exempt() {
    let app = limited_app("1/m,burst=1", "").await;
    let peer = "203.0.113.7:1";
    app.send(get_from("/api/v1/products/1", peer))
        .await
        .ok("spend the budget");
    assert_eq!(
        app.send(get_from("/api/v1/products/1", peer))
            .await
            .status
            .as_u16(),
        429
    );
    for path in ["/health", "/api-docs/openapi.json", "/docs/"] {
        for _ in 0..3 {
            let r = app.send(get_from(path, peer)).await;
            assert_eq!(r.status.as_u16(), 200, "{path}");
            assert!(r.header("ratelimit").is_none(), "{path}");
        }
    }
}

#[actix_web::test]
async fn cors_exposes_the_rate_limit_headers() {
    let app = limited_app("1/m,burst=5", "").await;
    let r = app
        .send(
            get_from("/api/v1/products/1", "203.0.113.8:1")
                .insert_header(("origin", "https://shop.example")),
        )
        .await
        .ok("cors read");
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["ratelimit", "ratelimit-policy", "retry-after"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
}

// ---------------------------------------------------------------------
// Load shedding and the deadline.

/// Makes `stats` controllable: while armed, the next `stats` call
/// announces itself and waits to be released; with a delay, every call
/// sleeps that long (and records whether it was dropped before it ended).
#[derive(Default)]
struct Gate {
    armed: AtomicBool,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    delay: Option<Duration>,
    dropped: AtomicBool,
}

/// Sets the flag when dropped before `defuse`.
struct DropFlag<'a>(&'a AtomicBool, bool);

impl Drop for DropFlag<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

struct GatedStore {
    inner: MemoryStore,
    gate: Arc<Gate>,
}

#[async_trait]
impl ProductReader for GatedStore {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        self.inner.list(page).await
    }
    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        self.inner.count(filter).await
    }
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        self.inner.get(id).await
    }
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        if self.gate.armed.swap(false, Ordering::SeqCst) {
            self.gate.entered.notify_one();
            self.gate.release.notified().await;
        }
        if let Some(d) = self.gate.delay {
            let mut flag = DropFlag(&self.gate.dropped, false);
            tokio::time::sleep(d).await;
            flag.1 = true;
        }
        self.inner.stats(filter).await
    }
    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        self.inner.categories().await
    }
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        self.inner.brands().await
    }
    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        self.inner.facet_counts(filter, field).await
    }
    async fn search_terms(&self, min: usize, max: usize) -> Result<Vec<String>, StorageError> {
        self.inner.search_terms(min, max).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl ProductWriter for GatedStore {
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

/// The fixture over a gated store, expensive work bounded to `bound` per
/// class, optionally cached, with a request deadline.
async fn gated_app(
    gate: Arc<Gate>,
    bound: usize,
    cached: bool,
    timeout: Option<Duration>,
) -> TestApp {
    let inner = store_with(&dataset()).await;
    let mut service =
        CatalogService::new(Arc::new(GatedStore { inner, gate }), CursorKey::new(b"t"))
            .with_inflight_limit(Some(bound));
    if cached {
        let cache = MemoryCache::new(16 * 1024 * 1024, Duration::from_secs(3600));
        service = service.with_cache(Arc::new(cache), CacheSettings::default());
    }
    app_with_state(AppState::new(
        service,
        HttpConfig {
            request_timeout: timeout,
            ..HttpConfig::default()
        },
    ))
    .await
}

fn assert_shed(r: &Resp, took: Duration) {
    let body = assert_problem(r, 503, &[]);
    assert_eq!(body["type"], "urn:catalog:problem:overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Well under a millisecond in a release build; generous for a debug
    // build on a busy machine, and far below any query's time.
    assert!(took < Duration::from_millis(100), "shedding took {took:?}");
    let server_ms: f64 = r.header("x-process-time").unwrap().parse().unwrap();
    assert!(server_ms < 10.0, "the server spent {server_ms} ms refusing");
}

#[actix_web::test]
async fn past_the_bound_expensive_requests_are_shed_at_once_and_cheap_ones_pass() {
    let gate = Arc::new(Gate::default());
    let app = gated_app(Arc::clone(&gate), 1, false, None).await;
    gate.armed.store(true, Ordering::SeqCst);
    let slow = app.get("/api/v1/products/stats?category=Books");
    let others = async {
        gate.entered.notified().await;
        let t = Instant::now();
        let shed = app.get("/api/v1/products/stats?category=Garden").await;
        assert_shed(&shed, t.elapsed());
        let t = Instant::now();
        let facets = app.get("/api/v1/products/facets").await;
        assert_shed(&facets, t.elapsed());
        // A cheap read, and a search (another class), still answer.
        app.get("/api/v1/products/1")
            .await
            .ok("cheap read beside the slow one");
        app.get("/api/v1/products?search=wireless")
            .await
            .ok("a search has its own bound");
        app.get("/api/v1/products")
            .await
            .ok("a plain list is cheap");
        gate.release.notify_one();
    };
    let (slow, ()) = futures::join!(slow, others);
    slow.ok("the slow request itself completes");
    // The permit came back.
    app.get("/api/v1/products/stats?category=Garden")
        .await
        .ok("admitted again");
}

#[actix_web::test]
async fn cache_hits_are_never_shed() {
    let gate = Arc::new(Gate::default());
    let app = gated_app(Arc::clone(&gate), 1, true, None).await;
    let warm = app
        .get("/api/v1/products/stats?category=Garden")
        .await
        .ok("warm");
    assert_eq!(warm.x_cache(), "MISS");
    gate.armed.store(true, Ordering::SeqCst);
    let slow = app.get("/api/v1/products/stats?category=Books");
    let others = async {
        gate.entered.notified().await;
        let hit = app
            .get("/api/v1/products/stats?category=Garden")
            .await
            .ok("a hit while the bound is taken");
        assert_eq!(hit.x_cache(), "HIT");
        let t = Instant::now();
        let miss = app.get("/api/v1/products/stats?category=home").await;
        assert_shed(&miss, t.elapsed());
        gate.release.notify_one();
    };
    let (slow, ()) = futures::join!(slow, others);
    slow.ok("slow request");
}

#[actix_web::test]
async fn the_deadline_turns_a_slow_read_into_a_503_and_drops_its_work() {
    let gate = Arc::new(Gate {
        delay: Some(Duration::from_secs(30)),
        ..Gate::default()
    });
    let timeout = Duration::from_millis(300);
    let app = gated_app(Arc::clone(&gate), 8, false, Some(timeout)).await;
    let t = Instant::now();
    let r = app.get("/api/v1/products/stats").await;
    let took = t.elapsed();
    let body = assert_problem(&r, 503, &[]);
    assert_eq!(body["type"], "urn:catalog:problem:timeout");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(took >= timeout, "answered before the deadline: {took:?}");
    assert!(
        took < timeout + Duration::from_secs(1),
        "deadline overshot: {took:?}"
    );
    assert!(
        gate.dropped.load(Ordering::SeqCst),
        "the handler's work must be dropped"
    );
    // Fast reads are untouched.
    app.get("/api/v1/products/1").await.ok("fast read");
}
