//! Single flight: N concurrent identical requests on a cold cache make
//! exactly one storage call, with the in-process cache and with Redis,
//! through the service and through the HTTP app.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use catalog_domain::{CatalogService, ProductFilter, Rendered};
use common::{
    Backend, InstrumentedStore, PRODUCTS, ROUTES, TestApp, first_page, list_json, names_json, pid,
    product_json, service, stats_json,
};

const N: usize = 20;
const DELAY: Duration = Duration::from_millis(100);

/// Runs `request(service, i)` for i in 0..n on separate tasks, released
/// together.
async fn concurrently<F, Fut>(service: &CatalogService, n: usize, request: F) -> Vec<Rendered>
where
    F: Fn(CatalogService, usize) -> Fut,
    Fut: Future<Output = Rendered> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let fut = request(service.clone(), i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// One leader computed (a miss), every other request shared its answer,
/// byte for byte.
fn assert_one_leader(what: &str, results: &[Rendered]) {
    let misses = results.iter().filter(|r| !r.hit).count();
    assert_eq!(misses, 1, "{what}: exactly one request must compute");
    for r in results {
        assert_eq!(r.body, results[0].body, "{what}: every body must be equal");
        assert_eq!(r.etag, results[0].etag, "{what}: every ETag must be equal");
    }
}

async fn cold_cache_single_flight(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    store.set_delay(DELAY);
    let svc = service(Arc::clone(&store), backend.cache());

    // List.
    let q = first_page(&svc);
    let results = concurrently(&svc, N, |s, _| {
        let q = q.clone();
        async move { s.list_rendered(&q, list_json).await.unwrap() }
    })
    .await;
    assert_one_leader("list", &results);
    assert_eq!(store.calls.list(), 1, "storage list calls for {N} requests");
    assert_eq!(
        store.calls.count(),
        1,
        "storage count calls for {N} requests"
    );

    // Detail.
    let results = concurrently(&svc, N, |s, _| async move {
        s.get_rendered(pid(5), product_json).await.unwrap()
    })
    .await;
    assert_one_leader("detail", &results);
    assert_eq!(store.calls.get(), 1, "storage get calls for {N} requests");

    // Stats.
    let results = concurrently(&svc, N, |s, _| async move {
        s.stats_rendered(&ProductFilter::default(), stats_json)
            .await
            .unwrap()
    })
    .await;
    assert_one_leader("stats", &results);
    assert_eq!(
        store.calls.stats(),
        1,
        "storage stats calls for {N} requests"
    );

    // Categories and brands.
    let results = concurrently(&svc, N, |s, _| async move {
        s.categories_rendered(names_json).await.unwrap()
    })
    .await;
    assert_one_leader("categories", &results);
    assert_eq!(store.calls.categories(), 1);
    let results = concurrently(&svc, N, |s, _| async move {
        s.brands_rendered(names_json).await.unwrap()
    })
    .await;
    assert_one_leader("brands", &results);
    assert_eq!(store.calls.brands(), 1);

    // Once the flight landed, the answer is in the cache: a later request
    // is a plain hit and storage is not asked again.
    assert!(svc.list_rendered(&q, list_json).await.unwrap().hit);
    assert!(svc.get_rendered(pid(5), product_json).await.unwrap().hit);
    assert!(
        svc.stats_rendered(&ProductFilter::default(), stats_json)
            .await
            .unwrap()
            .hit
    );
    assert_eq!(store.calls.list(), 1);
    assert_eq!(store.calls.get(), 1);
    assert_eq!(store.calls.stats(), 1);
    assert_eq!(svc.cache_failures(), 0);

    // Distinct requests are distinct flights: two other ids, two calls.
    let results = concurrently(&svc, N, |s, i| async move {
        let id = if i % 2 == 0 { 6 } else { 7 };
        s.get_rendered(pid(id), product_json).await.unwrap()
    })
    .await;
    assert_eq!(results.iter().filter(|r| !r.hit).count(), 2);
    assert_eq!(store.calls.get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_memory() {
    cold_cache_single_flight(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_redis() {
    let Some(backend) = Backend::redis() else {
        return;
    };
    cold_cache_single_flight(backend).await;
}

/// The same through the HTTP app: N concurrent GETs of each cacheable
/// route, one MISS and N-1 HITs, one storage call.
async fn http_single_flight(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    store.set_delay(DELAY);
    let app = TestApp::new(service(Arc::clone(&store), backend.cache())).await;
    for (name, uri) in ROUTES {
        let responses = futures::future::join_all((0..N).map(|_| app.get(uri))).await;
        let mut misses = 0;
        for r in &responses {
            assert_eq!(r.status, 200, "{name}: {:?}", r.body);
            assert_eq!(r.etag(), responses[0].etag(), "{name}");
            assert_eq!(r.body, responses[0].body, "{name}");
            if r.x_cache() == "MISS" {
                misses += 1;
            } else {
                assert_eq!(r.x_cache(), "HIT", "{name}");
            }
        }
        assert_eq!(misses, 1, "{name}: exactly one MISS among {N}");
    }
    assert_eq!(store.calls.list(), 1);
    assert_eq!(store.calls.count(), 1);
    assert_eq!(store.calls.get(), 1);
    assert_eq!(store.calls.stats(), 1);
    assert_eq!(store.calls.categories(), 1);
    assert_eq!(store.calls.brands(), 1);
}

#[actix_web::test]
async fn http_single_flight_memory() {
    http_single_flight(Backend::Memory).await;
}

#[actix_web::test]
async fn http_single_flight_redis() {
    let Some(backend) = Backend::redis() else {
        return;
    };
    http_single_flight(backend).await;
}

/// When the leader's storage call fails, its waiters must not each retry
/// in turn while holding the flight: with a database that takes D to fail,
/// N identical requests would take up to N × D, the last one's latency
/// growing with the crowd exactly when the database is struggling.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_leader_does_not_serialise_waiters() {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    store.set_delay(DELAY);
    store.fail_gets(true);
    let svc = service(Arc::clone(&store), Backend::Memory.cache());
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let svc = svc.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let r = svc.get_rendered(pid(5), product_json).await;
                (r.is_err(), std::time::Instant::now())
            })
        })
        .collect();
    let mut slowest = std::time::Duration::ZERO;
    for t in tasks {
        let (failed, at) = t.await.unwrap();
        assert!(failed, "storage is down: every request fails");
        slowest = slowest.max(at - started);
    }
    assert!(
        slowest < DELAY * 5,
        "{N} requests on a storage failing after {DELAY:?}: the slowest took {slowest:?} \
         ({} storage calls)",
        store.calls.get()
    );
}
