//! The multi-instance guarantee of API.md: "A write is visible to every
//! following read, on every instance that shares the database and cache,
//! immediately."
//!
//! Two app instances, each `build_app` over its own `CatalogService`, its
//! own PostgreSQL connection pool (one scratch database) and its own
//! `RedisCache` client (one unique key prefix): a read warmed into the cache
//! on instance B must reflect a write made on instance A the moment A
//! answers. Then concurrency on PostgreSQL: racing conditional and
//! unconditional PATCHes, racing DELETEs and creates, and one idempotent
//! POST sent ten times at once.
//!
//! PostgreSQL and Redis are looked for at `CATALOG_TEST_PG_URL` and
//! `CATALOG_TEST_REDIS_URL`; when either is absent the tests skip loudly, or
//! fail under `CI=true`. Scratch databases are dropped and the prefix's
//! Redis keys deleted (KEYS + DEL, never FLUSH*) even when a test panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderMap;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use catalog_cache_redis::{RedisCache, RedisSettings};
use catalog_domain::cursor::CursorKey;
use catalog_domain::search_index::Routed;
use catalog_domain::{
    CacheSettings, CatalogService, Label, NewProduct, Price, ProductId, ProductReader,
    ProductWriter, Rating, Sku,
};
use catalog_http::auth::mint_token;
use catalog_http::{AppState, HttpConfig, build_app};
use catalog_search_memory::SearchRouted;
use catalog_storage_sql::SqlStore;
use catalog_storage_sql::testing::{PgScratch, service_absent};
use deadpool_redis::redis;
use futures::future::{LocalBoxFuture, join_all};
use serde_json::{Value, json};

const SECRET: &str = "freshness-secret";
const LIST: &str = "/api/v1/products";
const PRODUCTS: i64 = 30;
const CATEGORIES: [&str; 3] = ["Books", "Garden", "Toys"];
const BRANDS: [&str; 2] = ["Acme", "Zenith"];

// ------------------------------------------------------------ the cluster

fn redis_url() -> String {
    std::env::var("CATALOG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_admin(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
}

/// Deletes every key under its prefix when dropped (panicking test or not).
struct RedisPrefix {
    url: String,
    prefix: String,
}

impl RedisPrefix {
    fn keys(&self) -> Vec<String> {
        redis_admin(&self.url)
            .and_then(|mut c| {
                redis::cmd("KEYS")
                    .arg(format!("{}:*", self.prefix))
                    .query(&mut c)
            })
            .unwrap_or_default()
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        if let Ok(mut c) = redis_admin(&self.url) {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut c);
        }
    }
}

/// Drops the scratch database when dropped. Dropping happens on a thread
/// of its own with its own runtime, so it also runs while a test unwinds.
struct PgGuard(Option<PgScratch>);

impl Drop for PgGuard {
    fn drop(&mut self) {
        if let Some(scratch) = self.0.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(scratch.drop_db());
                }
            })
            .join();
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    fn etag(&self) -> String {
        self.header("etag")
            .unwrap_or_else(|| panic!("no ETag on a {} response", self.status))
            .to_string()
    }
}

type Call = Box<dyn Fn(TestRequest) -> LocalBoxFuture<'static, Resp>>;

/// One app instance: `build_app` over its own service, pool and Redis client.
struct Instance {
    name: &'static str,
    call: Call,
}

impl Instance {
    async fn new(name: &'static str, db_url: &str, redis_url: &str, prefix: &str) -> Self {
        let store = SqlStore::connect(db_url).await.unwrap();
        let cache = RedisCache::new(RedisSettings {
            url: redis_url.to_string(),
            prefix: prefix.to_string(),
            // Generous: a loaded test machine must not trip the breaker,
            // which would bypass the cache and prove nothing.
            timeout: Duration::from_secs(2),
            pool_size: 16,
            generation_ttl: Duration::from_secs(7200),
        })
        .unwrap();
        // As `serve` runs it by default: searches from the in-process
        // index, which follows the change log.
        let routed = SearchRouted::start(Arc::new(store));
        assert!(
            routed.ready(Duration::from_secs(30)).await,
            "the search index of instance {name} was not built in 30 s"
        );
        let service = CatalogService::new(Arc::new(Routed(routed)), CursorKey::new(b"freshness"))
            .with_cache(Arc::new(cache), CacheSettings::default());
        let state = AppState::new(
            service,
            HttpConfig {
                jwt_secret: Some(SECRET.into()),
                ..HttpConfig::default()
            },
        );
        let service = Rc::new(init_service(build_app(state)).await);
        Self {
            name,
            call: Box::new(move |req: TestRequest| {
                let service = Rc::clone(&service);
                Box::pin(async move {
                    let res = call_service(&*service, req.to_request()).await;
                    let status = res.status().as_u16();
                    let headers = res.headers().clone();
                    let body = read_body(res).await.to_vec();
                    Resp {
                        status,
                        headers,
                        body,
                    }
                })
            }),
        }
    }

    fn send(&self, req: TestRequest) -> LocalBoxFuture<'static, Resp> {
        (self.call)(req)
    }

    async fn get(&self, uri: &str) -> Resp {
        self.send(TestRequest::get().uri(uri)).await
    }

    /// Reads `uri` until the shared cache serves it.
    async fn warm(&self, uri: &str) -> Value {
        for _ in 0..10 {
            let r = self.get(uri).await;
            r.expect(200);
            if r.header("x-cache") == Some("HIT") {
                return r.json();
            }
        }
        panic!("{uri} never came from the cache on instance {}", self.name);
    }
}

/// Two instances over one database and one Redis prefix.
struct Cluster {
    a: Instance,
    b: Instance,
    /// A third pool, for set-up and for looking behind the API (versions).
    store: SqlStore,
    redis: RedisPrefix,
    pg: PgGuard,
}

fn fixture() -> Vec<NewProduct> {
    (1..=PRODUCTS)
        .map(|i| NewProduct {
            sku: Sku::parse(&format!("FIX-{i:03}")).unwrap(),
            name: format!("Fixture {i:02}"),
            description: format!("Fixture product number {i}"),
            category: Label::parse(CATEGORIES[(i % 3) as usize]).unwrap(),
            brand: Label::parse(BRANDS[(i % 2) as usize]).unwrap(),
            price: Price::from_cents(100 * i + 99).unwrap(),
            stock_quantity: i % 7,
            rating: Rating::from_tenths(i % 51).unwrap(),
            is_active: i % 5 != 0,
        })
        .collect()
}

impl Cluster {
    /// `None` after a loud skip when PostgreSQL or Redis is absent (a panic
    /// under CI=true).
    async fn start() -> Option<Self> {
        let url = redis_url();
        if let Err(e) =
            redis_admin(&url).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        {
            service_absent(&format!("Redis at {url}"), &e.to_string());
            return None;
        }
        let scratch = PgScratch::create().await?;
        let db_url = scratch.url.clone();
        let pg = PgGuard(Some(scratch));
        let store = pg.0.as_ref().unwrap().store().await;
        assert_eq!(
            store.insert_batch(&fixture()).await.unwrap(),
            PRODUCTS as u64
        );
        let prefix = format!("catalog_freshness_test_{}", uuid::Uuid::new_v4().simple());
        let a = Instance::new("A", &db_url, &url, &prefix).await;
        let b = Instance::new("B", &db_url, &url, &prefix).await;
        Some(Self {
            a,
            b,
            store,
            redis: RedisPrefix { url, prefix },
            pg,
        })
    }

    async fn version(&self, id: i64) -> i64 {
        self.store
            .get(ProductId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("product {id} is gone"))
            .version
    }
}

// ------------------------------------------------------------ requests

fn token() -> String {
    mint_token(SECRET, "freshness", "products:write", 3600).unwrap()
}

fn authed(req: TestRequest) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {}", token())))
}

fn post(body: &Value) -> TestRequest {
    authed(TestRequest::post().uri(LIST))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_string())
}

fn put(id: i64, body: &Value) -> TestRequest {
    authed(TestRequest::put().uri(&format!("{LIST}/{id}")))
        .insert_header(("content-type", "application/json"))
        .set_payload(body.to_string())
}

fn patch(id: i64, body: &Value) -> TestRequest {
    authed(TestRequest::patch().uri(&format!("{LIST}/{id}")))
        .insert_header(("content-type", "application/merge-patch+json"))
        .set_payload(body.to_string())
}

fn delete(id: i64) -> TestRequest {
    authed(TestRequest::delete().uri(&format!("{LIST}/{id}")))
}

fn product(sku: &str) -> Value {
    json!({
        "sku": sku, "name": "Fresh Lamp", "description": "Just written",
        "category": "Books", "brand": "Acme", "price": 42.5,
        "stock_quantity": 3, "rating": 4.0, "is_active": true
    })
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn ids(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(id_of)
        .collect()
}

fn count_of(facet: &Value, name: &str) -> Option<u64> {
    facet["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .map(|i| i["product_count"].as_u64().unwrap())
}

// ------------------------------------------------------------ freshness

const NEWEST: &str = "/api/v1/products?sort=-id&limit=5";

#[actix_web::test]
async fn list_written_on_a_is_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let before = c.b.warm(LIST).await;
    c.b.warm(NEWEST).await;
    assert_eq!(before["total"], PRODUCTS);

    let created = c.a.send(post(&product("LIST-1"))).await.expect(201).json();
    let id = id_of(&created);
    let after = c.b.get(LIST).await;
    after.expect(200);
    assert_eq!(
        after.json()["total"],
        PRODUCTS + 1,
        "B's list counts A's create"
    );
    assert_eq!(ids(&c.b.get(NEWEST).await.json())[0], id);

    c.b.warm(NEWEST).await;
    c.a.send(patch(id, &json!({"name": "Renamed on A"})))
        .await
        .expect(200);
    let newest = c.b.get(NEWEST).await.json();
    assert_eq!(newest["items"][0]["name"], "Renamed on A");

    c.b.warm(LIST).await;
    c.b.warm(NEWEST).await;
    c.a.send(delete(id)).await.expect(204);
    assert_eq!(c.b.get(LIST).await.json()["total"], PRODUCTS);
    assert!(!ids(&c.b.get(NEWEST).await.json()).contains(&id));
}

/// Searches on B (served by B's own index) see A's create, rename and
/// delete in the very next request: the total, the rows and the facet
/// counts of the matches.
#[actix_web::test]
async fn search_written_on_a_is_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    const SEARCH: &str = "/api/v1/products?search=zephyrine";
    const FACETS: &str = "/api/v1/products/facets?search=zephyrine";
    let category_count = |facets: &Value, name: &str| {
        facets["category"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["value"] == name)
            .map_or(0, |v| v["count"].as_u64().unwrap())
    };
    assert_eq!(c.b.warm(SEARCH).await["total"], 0);
    c.b.warm(FACETS).await;

    let mut body = product("SEARCH-1");
    body["name"] = json!("Zephyrine Desk Lamp");
    let id = id_of(&c.a.send(post(&body)).await.expect(201).json());
    let found = c.b.get(SEARCH).await.json();
    assert_eq!(found["total"], 1, "B finds A's create");
    assert_eq!(ids(&found), vec![id]);
    let facets = c.b.get(FACETS).await.json();
    assert_eq!(facets["total"], 1);
    assert_eq!(category_count(&facets, "Books"), 1, "{facets}");

    c.b.warm(SEARCH).await;
    c.a.send(patch(
        id,
        &json!({"name": "Plain Desk Lamp", "category": "Garden"}),
    ))
    .await
    .expect(200);
    assert_eq!(
        c.b.get(SEARCH).await.json()["total"],
        0,
        "B no longer finds the old name"
    );
    let renamed = c.b.get("/api/v1/products?search=plain%20desk").await.json();
    assert_eq!(ids(&renamed), vec![id]);
    let facets =
        c.b.get("/api/v1/products/facets?search=plain%20desk")
            .await
            .json();
    assert_eq!(category_count(&facets, "Garden"), 1, "{facets}");
    assert_eq!(category_count(&facets, "Books"), 0, "{facets}");

    c.b.warm("/api/v1/products?search=plain%20desk").await;
    c.a.send(delete(id)).await.expect(204);
    let gone = c.b.get("/api/v1/products?search=plain%20desk").await.json();
    assert_eq!(gone["total"], 0, "B no longer finds A's delete");
}

#[actix_web::test]
async fn detail_written_on_a_is_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let uri = format!("{LIST}/3");
    let before = c.b.warm(&uri).await;
    let old_tag = c.b.get(&uri).await.etag();

    // PATCH on A: B's next read is the new version, with A's ETag; B's old
    // ETag no longer yields a 304.
    let r = c.a.send(patch(3, &json!({"name": "Patched on A"}))).await;
    r.expect(200);
    let new_tag = r.etag();
    let fresh = c.b.get(&uri).await;
    fresh.expect(200);
    assert_eq!(fresh.json()["name"], "Patched on A");
    assert_eq!(fresh.etag(), new_tag);
    assert_ne!(new_tag, old_tag);
    let conditional =
        c.b.send(
            TestRequest::get()
                .uri(&uri)
                .insert_header(("if-none-match", old_tag)),
        )
        .await;
    conditional.expect(200);
    assert_eq!(conditional.json()["name"], "Patched on A");
    assert_eq!(fresh.json()["created_at"], before["created_at"]);

    // PUT on A.
    c.b.warm(&uri).await;
    c.a.send(put(3, &product("DETAIL-3"))).await.expect(200);
    let fresh = c.b.get(&uri).await.json();
    assert_eq!(fresh["sku"], "DETAIL-3");
    assert_eq!(fresh["name"], "Fresh Lamp");

    // DELETE on A.
    c.b.warm(&uri).await;
    c.a.send(delete(3)).await.expect(204);
    c.b.get(&uri).await.expect(404);
    // And a product created on A is readable on B at once, even where B
    // has looked for it before (a cached 404 would be stale).
    let next = PRODUCTS + 1;
    c.b.get(&format!("{LIST}/{next}")).await.expect(404);
    c.b.get(&format!("{LIST}/{next}")).await.expect(404);
    let created =
        c.a.send(post(&product("DETAIL-N")))
            .await
            .expect(201)
            .json();
    assert_eq!(id_of(&created), next);
    assert_eq!(
        c.b.get(&format!("{LIST}/{next}")).await.expect(200).json(),
        created
    );
}

#[actix_web::test]
async fn stats_written_on_a_are_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let filtered = "/api/v1/products/stats?category=Books";
    let before = c.b.warm("/api/v1/products/stats").await;
    let before_books = c.b.warm(filtered).await;
    assert_eq!(before["total_products"], PRODUCTS);

    let mut body = product("STATS-1");
    body["price"] = json!(999_999.99);
    body["stock_quantity"] = json!(1000);
    let id = id_of(&c.a.send(post(&body)).await.expect(201).json());
    let s = c.b.get("/api/v1/products/stats").await.json();
    assert_eq!(s["total_products"], PRODUCTS + 1);
    assert_eq!(s["price"]["max"], 999_999.99);
    assert_eq!(
        s["total_stock"],
        before["total_stock"].as_u64().unwrap() + 1000
    );
    let books = c.b.get(filtered).await.json();
    assert_eq!(
        books["total_products"],
        before_books["total_products"].as_u64().unwrap() + 1
    );

    c.b.warm("/api/v1/products/stats").await;
    c.b.warm(filtered).await;
    c.a.send(patch(id, &json!({"stock_quantity": 0, "category": "Toys"})))
        .await
        .expect(200);
    let s = c.b.get("/api/v1/products/stats").await.json();
    assert_eq!(s["total_stock"], before["total_stock"]);
    assert_eq!(
        c.b.get(filtered).await.json()["total_products"],
        before_books["total_products"]
    );

    c.b.warm("/api/v1/products/stats").await;
    c.a.send(delete(id)).await.expect(204);
    let s = c.b.get("/api/v1/products/stats").await.json();
    assert_eq!(s, before, "back to the original aggregates");
}

#[actix_web::test]
async fn categories_written_on_a_are_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let uri = "/api/v1/products/categories";
    let before = c.b.warm(uri).await;
    assert_eq!(count_of(&before, "Aquatics"), None);

    let mut body = product("CAT-1");
    body["category"] = json!("Aquatics");
    let id = id_of(&c.a.send(post(&body)).await.expect(201).json());
    assert_eq!(count_of(&c.b.get(uri).await.json(), "Aquatics"), Some(1));

    // Product 1 moves from its category to a new one.
    c.b.warm(uri).await;
    let old = CATEGORIES[1];
    c.a.send(patch(1, &json!({"category": "Zoology"})))
        .await
        .expect(200);
    let cats = c.b.get(uri).await.json();
    assert_eq!(count_of(&cats, "Zoology"), Some(1));
    assert_eq!(count_of(&cats, old), count_of(&before, old).map(|n| n - 1));

    c.b.warm(uri).await;
    c.a.send(delete(id)).await.expect(204);
    assert_eq!(count_of(&c.b.get(uri).await.json(), "Aquatics"), None);
}

#[actix_web::test]
async fn brands_written_on_a_are_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let uri = "/api/v1/products/brands";
    let before = c.b.warm(uri).await;

    let mut body = product("BRAND-1");
    body["brand"] = json!("Neptune");
    let id = id_of(&c.a.send(post(&body)).await.expect(201).json());
    assert_eq!(count_of(&c.b.get(uri).await.json(), "Neptune"), Some(1));

    c.b.warm(uri).await;
    let mut replacement = product("BRAND-1");
    replacement["brand"] = json!("Orion");
    c.a.send(put(id, &replacement)).await.expect(200);
    let brands = c.b.get(uri).await.json();
    assert_eq!(count_of(&brands, "Neptune"), None);
    assert_eq!(count_of(&brands, "Orion"), Some(1));

    c.b.warm(uri).await;
    c.a.send(delete(id)).await.expect(204);
    assert_eq!(c.b.get(uri).await.json(), before);
}

/// The prefix really is shared: both instances' entries and generations
/// live under it, and nothing else does.
#[actix_web::test]
async fn both_instances_share_one_prefix() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.a.warm("/api/v1/products/brands").await;
    // B is served what A stored.
    assert_eq!(
        c.b.get("/api/v1/products/brands").await.header("x-cache"),
        Some("HIT")
    );
    c.a.send(patch(2, &json!({"name": "x"}))).await.expect(200);
    assert!(
        !c.redis.keys().is_empty(),
        "entries and generations live under the test's prefix"
    );
}

// ------------------------------------------------------------ concurrency

/// Sends the requests at once, alternating between the two instances.
async fn race(c: &Cluster, reqs: Vec<TestRequest>) -> Vec<Resp> {
    join_all(reqs.into_iter().enumerate().map(|(i, req)| {
        if i % 2 == 0 {
            c.a.send(req)
        } else {
            c.b.send(req)
        }
    }))
    .await
}

fn statuses(rs: &[Resp]) -> Vec<u16> {
    let mut s: Vec<u16> = rs.iter().map(|r| r.status).collect();
    s.sort_unstable();
    s
}

#[actix_web::test]
async fn racing_conditional_patches_one_wins() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let id = 5;
    let initial = c.version(id).await;
    let tag = c.a.get(&format!("{LIST}/{id}")).await.etag();
    let rs = race(
        &c,
        (0..20)
            .map(|i| {
                patch(id, &json!({"stock_quantity": 100 + i}))
                    .insert_header(("if-match", tag.clone()))
            })
            .collect(),
    )
    .await;
    let ok: Vec<&Resp> = rs.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "statuses {:?}", statuses(&rs));
    assert_eq!(
        rs.iter().filter(|r| r.status == 412).count(),
        19,
        "statuses {:?}",
        statuses(&rs)
    );
    assert_eq!(c.version(id).await, initial + 1);
    let winner = ok[0].json();
    let now = c.b.get(&format!("{LIST}/{id}")).await;
    assert_eq!(now.json(), winner, "the one success is what is stored");
    assert_eq!(now.etag(), ok[0].etag());
}

#[actix_web::test]
async fn racing_conditional_puts_and_deletes_one_wins() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let tag = c.a.get(&format!("{LIST}/6")).await.etag();
    let initial = c.version(6).await;
    let rs = race(
        &c,
        (0..10)
            .map(|i| {
                let mut body = product("PUT-RACE");
                body["stock_quantity"] = json!(i);
                put(6, &body).insert_header(("if-match", tag.clone()))
            })
            .collect(),
    )
    .await;
    assert_eq!(
        statuses(&rs),
        [vec![200], vec![412; 9]].concat(),
        "one conditional PUT wins"
    );
    assert_eq!(c.version(6).await, initial + 1);

    let rs = race(&c, (0..10).map(|_| delete(7)).collect()).await;
    assert_eq!(
        statuses(&rs),
        [vec![204], vec![404; 9]].concat(),
        "one DELETE wins, the others find nothing"
    );
    c.b.get(&format!("{LIST}/7")).await.expect(404);
}

/// Unconditional patches racing on one row: each one that reports success
/// is a distinct version (no update is lost or merged into another), and
/// the stored row is the last of them.
#[actix_web::test]
async fn racing_unconditional_patches_lose_no_update() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let id = 8;
    let initial = c.version(id).await;
    let rs = race(
        &c,
        (0..20)
            .map(|i| patch(id, &json!({"stock_quantity": 1000 + i})))
            .collect(),
    )
    .await;
    let ok: Vec<&Resp> = rs.iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty(), "statuses {:?}", statuses(&rs));
    for r in &rs {
        assert!(
            r.status == 200 || r.status == 412,
            "unexpected {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let tags: HashSet<String> = ok.iter().map(|r| r.etag()).collect();
    assert_eq!(tags.len(), ok.len(), "every success is its own version");
    assert_eq!(c.version(id).await, initial + ok.len() as i64);
    let now = c.b.get(&format!("{LIST}/{id}")).await;
    let last = ok
        .iter()
        .find(|r| r.etag() == now.etag())
        .expect("the stored version is one a PATCH reported");
    assert_eq!(now.json(), last.json());
    let values: BTreeSet<i64> = ok
        .iter()
        .map(|r| r.json()["stock_quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(values.len(), ok.len(), "each success applied its own value");
}

/// A PATCH without `If-Match` has no precondition to fail: under
/// contention it must still succeed (API.md lists 404, 409, 422 for PATCH),
/// and every one of them must count in the version.
#[actix_web::test]
async fn racing_unconditional_patches_all_succeed() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let id = 9;
    let initial = c.version(id).await;
    let rs = race(
        &c,
        (0..20)
            .map(|i| patch(id, &json!({"stock_quantity": 2000 + i})))
            .collect(),
    )
    .await;
    assert_eq!(statuses(&rs), vec![200; 20]);
    assert_eq!(c.version(id).await, initial + 20);
    let stock = c.b.get(&format!("{LIST}/{id}")).await.json()["stock_quantity"]
        .as_i64()
        .unwrap();
    assert!((2000..2020).contains(&stock), "{stock}");
}

#[actix_web::test]
async fn one_idempotency_key_sent_ten_times_at_once_creates_once() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let before = c.store.count_all().await.unwrap();
    let body = product("IDEM-RACE");
    let rs = race(
        &c,
        (0..10)
            .map(|_| post(&body).insert_header(("idempotency-key", "race-key-1")))
            .collect(),
    )
    .await;
    assert_eq!(statuses(&rs), vec![201; 10]);
    let ids: HashSet<i64> = rs.iter().map(|r| id_of(&r.json())).collect();
    assert_eq!(ids.len(), 1, "one product for every response: {ids:?}");
    let locations: HashSet<&str> = rs.iter().map(|r| r.header("location").unwrap()).collect();
    assert_eq!(locations.len(), 1);
    assert_eq!(c.store.count_all().await.unwrap(), before + 1);
    assert_eq!(c.b.get(LIST).await.json()["total"], before + 1);
}

/// One key, ten different bodies at once: the first claim wins, every
/// other request is a reuse of the key with another body.
#[actix_web::test]
async fn one_idempotency_key_with_racing_bodies_creates_once() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let rs = race(
        &c,
        (0..10)
            .map(|i| {
                post(&product(&format!("IDEM-BODY-{i}")))
                    .insert_header(("idempotency-key", "race-key-2"))
            })
            .collect(),
    )
    .await;
    assert_eq!(statuses(&rs), [vec![201], vec![422; 9]].concat());
    for r in rs.iter().filter(|r| r.status == 422) {
        let problem = r.json();
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["Idempotency-Key"], "{problem}");
    }
    assert_eq!(c.store.count_all().await.unwrap(), PRODUCTS as u64 + 1);
}

#[actix_web::test]
async fn racing_creates_of_one_sku_make_one_product() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let rs = race(&c, (0..10).map(|_| post(&product("SKU-RACE"))).collect()).await;
    assert_eq!(statuses(&rs), [vec![201], vec![409; 9]].concat());
    for r in rs.iter().filter(|r| r.status == 409) {
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    assert_eq!(c.store.count_all().await.unwrap(), PRODUCTS as u64 + 1);
}

// ------------------------------------------------------------ partial failure

/// The writer momentarily cannot reach Redis (here: its client points at a
/// closed port) while the reader can. The write commits and answers 200,
/// but its invalidation never reaches the shared cache, so the other
/// instance keeps serving the old product until the entry's TTL (15 min
/// for a detail, 1 h for categories/brands).
#[actix_web::test]
#[ignore = "known limitation (docs/caching.md): a write whose invalidation fails is owed only by its own instance"]
async fn write_whose_invalidation_fails_is_not_stale_elsewhere() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let db_url = c.pg.0.as_ref().unwrap().url.clone();
    let partitioned = Instance::new("A'", &db_url, "redis://127.0.0.1:1", &c.redis.prefix).await;
    let uri = format!("{LIST}/4");
    c.b.warm(&uri).await;
    let r = partitioned
        .send(patch(4, &json!({"name": "Written while Redis was away"})))
        .await;
    if r.status == 200 {
        let seen = c.b.get(&uri).await;
        assert_eq!(
            seen.json()["name"],
            "Written while Redis was away",
            "B served {} after a successful write",
            seen.header("x-cache").unwrap_or("?")
        );
    }
}

/// A bulk upsert on A (a create, an update, a search word) is visible on
/// B at once: the list total, the changed detail, the search.
#[actix_web::test]
async fn bulk_written_on_a_is_fresh_on_b() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let total = c.b.warm(NEWEST).await["total"].as_u64().unwrap();
    c.b.warm("/api/v1/products/1").await;
    assert_eq!(c.b.warm("/api/v1/products?search=quokka").await["total"], 0);

    let mut created = product("BULK-FRESH-1");
    created["name"] = json!("Quokka Lamp");
    let mut changed = product("FIX-001");
    changed["name"] = json!("Fixture one, bulk-renamed");
    let body = json!([created, changed]);
    let r =
        c.a.send(
            authed(TestRequest::post().uri("/api/v1/products/bulk"))
                .insert_header(("content-type", "application/json"))
                .set_payload(body.to_string()),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["items"][0]["outcome"], "created", "{}", r.json());
    assert_eq!(r.json()["items"][1]["outcome"], "updated", "{}", r.json());

    assert_eq!(
        c.b.get(NEWEST).await.json()["total"],
        total + 1,
        "B counts A's bulk create"
    );
    assert_eq!(
        c.b.get("/api/v1/products/1").await.json()["name"],
        "Fixture one, bulk-renamed",
        "B reads A's bulk update"
    );
    assert_eq!(
        c.b.get("/api/v1/products?search=quokka").await.json()["total"],
        1,
        "B's index has it"
    );
}

/// `catalog import` in a process of its own (with the same REDIS_URL and
/// prefix, as an operator runs it) is visible to both instances as soon as
/// it returns.
#[actix_web::test]
async fn an_import_is_fresh_on_every_instance() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let db_url = c.pg.0.as_ref().unwrap().url.clone();
    let total = c.a.warm(NEWEST).await["total"].as_u64().unwrap();
    c.b.warm(NEWEST).await;
    assert_eq!(c.b.warm("/api/v1/products?search=wombat").await["total"], 0);
    let file = std::env::temp_dir().join(format!(
        "catalog_fresh_{}.ndjson",
        uuid::Uuid::new_v4().simple()
    ));
    let mut lines = String::new();
    for i in 0..3 {
        let mut p = product(&format!("IMPORT-FRESH-{i}"));
        p["name"] = json!(format!("Wombat Chair {i}"));
        lines.push_str(&format!("{p}\n"));
    }
    std::fs::write(&file, lines).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_catalog"))
        .args(["import", file.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db_url)
        .env("REDIS_URL", &c.redis.url)
        .env("CATALOG_CACHE_PREFIX", &c.redis.prefix)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, i) in [("A", &c.a), ("B", &c.b)] {
        assert_eq!(
            i.get(NEWEST).await.json()["total"],
            total + 3,
            "{name} counts the import"
        );
        assert_eq!(
            i.get("/api/v1/products?search=wombat").await.json()["total"],
            3,
            "{name}'s search index has the import"
        );
    }
}
