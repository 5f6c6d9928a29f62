//! The cache as HTTP clients see it: `X-Cache`, `ETag` and `If-None-Match`
//! on every cacheable route, canonical keys whatever the parameter order,
//! `warm_cache` filling exactly what the handlers read, and two instances
//! sharing one Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use actix_web::http::StatusCode;
use catalog_http::warm_cache;
use common::{Backend, InstrumentedStore, PRODUCTS, Prefix, ROUTES, TestApp, pid, service};

/// MISS then HIT on each route, equal bodies and tags, and 304 on a hit.
async fn miss_then_hit(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    let app = TestApp::new(svc.clone()).await;
    for (name, uri) in ROUTES {
        let miss = app.get(uri).await.ok(name);
        assert_eq!(miss.x_cache(), "MISS", "{name}: first request");
        let hit = app.get(uri).await.ok(name);
        assert_eq!(hit.x_cache(), "HIT", "{name}: second request");
        assert_eq!(
            hit.etag(),
            miss.etag(),
            "{name}: ETag must not change on a hit"
        );
        assert!(
            !hit.etag().starts_with("W/"),
            "{name}: the ETag is strong: {}",
            hit.etag()
        );
        assert_eq!(hit.body, miss.body, "{name}: body must not change on a hit");
        assert_eq!(
            hit.header("content-type"),
            Some("application/json"),
            "{name}"
        );

        // A conditional request on a hit: 304, no body, same headers.
        let nm = app.get_if_none_match(uri, miss.etag()).await;
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED, "{name}");
        assert_eq!(nm.x_cache(), "HIT", "{name}");
        assert_eq!(nm.etag(), miss.etag(), "{name}");
        assert!(nm.body.is_empty(), "{name}: a 304 has no body");

        // Weak comparison and lists of tags.
        let weak = format!("\"nope\", W/{}", miss.etag());
        let nm = app.get_if_none_match(uri, &weak).await;
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED, "{name}: {weak}");

        // A tag that does not match: the full body, still from the cache.
        let other = app.get_if_none_match(uri, "\"0000\"").await.ok(name);
        assert_eq!(other.x_cache(), "HIT", "{name}");
        assert_eq!(other.body, miss.body, "{name}");
    }

    // A conditional request on a miss is a 304 too when the tag is still
    // current: tags are over the content, so an invalidation that changed
    // nothing leaves every client's copy valid.
    svc.invalidate_all().await;
    for (name, uri) in ROUTES {
        let tag = app.get(uri).await.etag().to_string();
        svc.invalidate_all().await;
        let nm = app.get_if_none_match(uri, &tag).await;
        assert_eq!(nm.x_cache(), "MISS", "{name}");
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED, "{name}");
    }
}

/// Equal requests share one entry whatever the parameter order.
async fn canonical_keys(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let app = TestApp::new(service(Arc::clone(&store), backend.cache())).await;
    let same = [
        (
            "/api/v1/products?brand=Acme&category=Books",
            "/api/v1/products?category=Books&brand=Acme",
        ),
        (
            "/api/v1/products?category=Books&category=Toys",
            "/api/v1/products?category=Toys&category=Books",
        ),
        (
            "/api/v1/products?category=Garden&category=Garden&limit=3",
            "/api/v1/products?limit=3&category=Garden",
        ),
        (
            "/api/v1/products/stats?brand=Zenith&category=Toys",
            "/api/v1/products/stats?category=Toys&brand=Zenith",
        ),
        (
            "/api/v1/products/stats?category=Books&category=Garden",
            "/api/v1/products/stats?category=Garden&category=Books",
        ),
    ];
    for (first, second) in same {
        let a = app.get(first).await.ok(first);
        assert_eq!(a.x_cache(), "MISS", "{first}");
        let b = app.get(second).await.ok(second);
        assert_eq!(b.x_cache(), "HIT", "{second} must share {first}'s entry");
        assert_eq!(a.etag(), b.etag());
        assert_eq!(a.body, b.body);
    }
    // And different requests do not share.
    let a = app.get("/api/v1/products?category=Books").await.ok("a");
    let b = app.get("/api/v1/products?category=Toys").await.ok("b");
    assert_eq!(b.x_cache(), "MISS");
    assert_ne!(a.etag(), b.etag());
}

/// `warm_cache` stores exactly the entries the handlers read first.
async fn warm_then_hit(backend: Backend) {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = service(Arc::clone(&store), backend.cache());
    warm_cache(&svc).await.unwrap();
    let app = TestApp::new(svc).await;
    for uri in [
        "/api/v1/products/categories",
        "/api/v1/products/brands",
        "/api/v1/products/stats",
        "/api/v1/products",
    ] {
        let r = app.get(uri).await.ok(uri);
        assert_eq!(r.x_cache(), "HIT", "{uri} after warm_cache");
    }
    assert_eq!(store.calls.list(), 1, "only warm_cache listed");
    assert_eq!(store.calls.stats(), 1);
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[actix_web::test]
                async fn $scenario() {
                    super::$scenario(super::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[actix_web::test]
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

on_both_backends!(miss_then_hit, canonical_keys, warm_then_hit);

/// Two instances of one deployment: one database, one Redis prefix.
#[actix_web::test]
async fn two_instances_share_one_redis() {
    let Some(prefix) = Prefix::shared() else {
        return;
    };
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let timeout = std::time::Duration::from_millis(1000);
    let svc1 = service(Arc::clone(&store), prefix.cache(timeout));
    let svc2 = service(Arc::clone(&store), prefix.cache(timeout));
    let app1 = TestApp::new(svc1.clone()).await;
    let app2 = TestApp::new(svc2.clone()).await;

    // What one instance caches, the other hits, with the same tag.
    for (name, uri) in ROUTES {
        let one = app1.get(uri).await.ok(name);
        assert_eq!(one.x_cache(), "MISS", "{name} on app 1");
        let two = app2.get(uri).await.ok(name);
        assert_eq!(two.x_cache(), "HIT", "{name} on app 2, cached by app 1");
        assert_eq!(one.etag(), two.etag(), "{name}");
        assert_eq!(one.body, two.body, "{name}");
        // A tag from one instance is current on the other.
        let nm = app2.get_if_none_match(uri, one.etag()).await;
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED, "{name}");
    }
    let calls_before = store.calls.list();
    // Another product's detail, cached by app 2.
    assert_eq!(
        app2.get("/api/v1/products/7").await.ok("7").x_cache(),
        "MISS"
    );
    assert_eq!(
        app1.get("/api/v1/products/7").await.ok("7").x_cache(),
        "HIT"
    );

    // A write through instance 1: instance 2 misses and sees it.
    store.rename(3, "Written on instance 1").await;
    svc1.invalidate_product(pid(3)).await;
    for (name, uri) in ROUTES {
        let r = app2.get(uri).await.ok(name);
        assert_eq!(
            r.x_cache(),
            "MISS",
            "{name} on app 2 after instance 1 invalidated product 3"
        );
    }
    let detail = app2.get("/api/v1/products/3").await.ok("3").json();
    assert_eq!(detail["name"], "Written on instance 1");
    let list = app1.get("/api/v1/products").await.ok("list");
    assert_eq!(list.x_cache(), "HIT", "app 2 just cached the new list");
    assert!(
        String::from_utf8_lossy(&list.body).contains("Written on instance 1"),
        "the list shows the write"
    );
    assert_eq!(store.calls.list(), calls_before + 1);
    assert_eq!(
        app2.get("/api/v1/products/7").await.ok("7").x_cache(),
        "HIT",
        "product 7 did not change"
    );

    // invalidate_all on instance 2 reaches instance 1.
    svc2.invalidate_all().await;
    for (name, uri) in ROUTES {
        assert_eq!(app1.get(uri).await.ok(name).x_cache(), "MISS", "{name}");
    }
    assert_eq!(
        app1.get("/api/v1/products/7").await.ok("7").x_cache(),
        "MISS"
    );
    assert_eq!(svc1.cache_failures() + svc2.cache_failures(), 0);

    let keys = prefix.keys();
    assert!(
        keys.iter()
            .all(|k| k.starts_with(&format!("{}:", prefix.prefix))),
        "every key lives under the prefix: {keys:?}"
    );
}
