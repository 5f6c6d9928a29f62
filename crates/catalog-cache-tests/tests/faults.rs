//! Faults: the service keeps serving from the database, correctly, when
//! the cache is unreachable, hangs, dies and comes back, refuses
//! invalidations, or returns garbage. Real `redis-server` processes are
//! started on spare ports (killed by a guard even when a test panics);
//! races that need exact interleavings use a fault-injecting cache port.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use async_trait::async_trait;
use catalog_domain::cache::{EntryKind, entry_key};
use catalog_domain::{Cache, CacheError, CacheKind, CacheSettings, CatalogService};
use common::{
    Gate, InstrumentedStore, PRODUCTS, Prefix, ROUTES, TestApp, admin, health, memory_cache, pass,
    pid, product_json, redis_cache, service_with, skip,
};
use deadpool_redis::redis;
use serde_json::{Value, json};

// ---------------------------------------------------------------- servers

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A `redis-server` child process, killed on drop.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A fresh non-persistent server on a spare port, or `None` after a
    /// loud skip when `redis-server` is not installed.
    fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            skip("redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (or restarts) the server on this port and waits until it
    /// answers PING.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pong =
                admin(&self.url()).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A command on an admin connection (default user).
    fn cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut c = admin(&self.url())?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- helpers

fn settings(retry_after: Duration) -> CacheSettings {
    CacheSettings {
        retry_after,
        ..CacheSettings::default()
    }
}

/// A service over the fixture with a Redis cache at `url`.
fn redis_service(
    store: &Arc<InstrumentedStore>,
    url: &str,
    prefix: &str,
    timeout: Duration,
) -> CatalogService {
    service_with(
        Arc::clone(store),
        Arc::new(redis_cache(url, prefix, timeout)),
        CacheSettings::default(),
    )
}

/// Sends `n` requests round the five cacheable routes; all must be 200.
/// Returns how many were HITs.
async fn all_ok(app: &TestApp, n: usize) -> usize {
    let mut hits = 0;
    for i in 0..n {
        let (name, uri) = ROUTES[i % ROUTES.len()];
        let r = app.get(uri).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "request {i} ({name}) failed: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json();
        hits += usize::from(r.x_cache() == "HIT");
    }
    hits
}

fn degraded() -> Value {
    json!({"status": "degraded", "checks": {"database": "up", "cache": "down", "search_index": "off"}})
}

fn healthy() -> Value {
    json!({"status": "ok", "checks": {"database": "up", "cache": "up", "search_index": "off"}})
}

/// Polls `probe` every 100 ms until it is true or `limit` passes.
async fn eventually(limit: Duration, mut probe: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if probe().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- (a)

/// REDIS_URL at a closed port: every read is served from the database,
/// `/health` says degraded, failures are counted.
#[actix_web::test]
async fn unreachable_redis_serves_from_the_database() {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let url = format!("redis://127.0.0.1:{}", free_port());
    let svc = redis_service(
        &store,
        &url,
        "catalog_cache_test_closed",
        Duration::from_millis(50),
    );
    let app = TestApp::new(svc.clone()).await;

    let started = Instant::now();
    let hits = all_ok(&app, 50).await;
    assert_eq!(hits, 0, "nothing can be a hit without a cache");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "50 requests took {:?}",
        started.elapsed()
    );
    assert_eq!(health(&app).await, degraded());
    assert!(svc.cache_failures() > 0);
    // Every request was answered by storage.
    assert_eq!(store.calls.list(), 10);
    assert_eq!(store.calls.get(), 10);
    assert_eq!(store.calls.stats(), 10);
    // Warming a dead cache is not an error (start-up must not fail).
    catalog_http::warm_cache(&svc).await.unwrap();
}

/// A Redis that accepts connections and never answers: each operation
/// times out, and the breaker makes that cost one timeout per
/// `retry_after`, not one per request.
#[actix_web::test]
async fn hanging_redis_costs_one_timeout_per_interval() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold every connection, answering nothing. The thread ends
    // with the test process.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let url = format!("redis://127.0.0.1:{port}");
    let svc = service_with(
        Arc::clone(&store),
        Arc::new(redis_cache(
            &url,
            "catalog_cache_test_hang",
            Duration::from_millis(50),
        )),
        settings(Duration::from_secs(5)),
    );
    let app = TestApp::new(svc.clone()).await;

    let started = Instant::now();
    assert_eq!(all_ok(&app, 50).await, 0);
    let took = started.elapsed();
    // Without the breaker: at least 50 × 50 ms.
    assert!(
        took < Duration::from_millis(1500),
        "50 requests against a hanging Redis took {took:?}: the breaker should skip the cache"
    );
    let before = Instant::now();
    assert_eq!(health(&app).await, degraded());
    assert!(
        before.elapsed() < Duration::from_secs(1),
        "health must be bounded by the cache timeout, took {:?}",
        before.elapsed()
    );
    assert!(svc.cache_failures() >= 1);
}

// ---------------------------------------------------------------- (b)

/// Redis dies mid-test and comes back on the same port: requests never
/// fail, health follows, and the pool reconnects by itself.
#[actix_web::test]
async fn redis_killed_and_restarted() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let prefix = format!("catalog_cache_test_{}", uuid::Uuid::new_v4().simple());
    let svc = service_with(
        Arc::clone(&store),
        Arc::new(redis_cache(
            &server.url(),
            &prefix,
            Duration::from_millis(200),
        )),
        settings(Duration::from_millis(500)),
    );
    let app = TestApp::new(svc.clone()).await;

    // Warm: every route MISS then HIT.
    for (name, uri) in ROUTES {
        assert_eq!(app.get(uri).await.ok(name).x_cache(), "MISS", "{name}");
        assert_eq!(app.get(uri).await.ok(name).x_cache(), "HIT", "{name}");
    }
    assert_eq!(health(&app).await, healthy());
    let failures_before = svc.cache_failures();

    server.kill();
    let started = Instant::now();
    all_ok(&app, 100).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "100 requests with Redis dead took {:?}",
        started.elapsed()
    );
    assert_eq!(health(&app).await, degraded());
    assert!(svc.cache_failures() > failures_before);

    server.spawn();
    let back = eventually(Duration::from_secs(10), async || {
        health(&app).await == healthy()
    })
    .await;
    assert!(
        back,
        "health did not return to ok within 10 s of Redis restarting"
    );
    let hit_again = eventually(Duration::from_secs(10), async || {
        let r = app
            .get("/api/v1/products/categories")
            .await
            .ok("categories");
        r.x_cache() == "HIT"
    })
    .await;
    assert!(hit_again, "no X-Cache HIT within 10 s of Redis restarting");
    all_ok(&app, 20).await;
}

// ---------------------------------------------------------------- (c)

/// A user for the service whose permissions the test can take away while
/// the server stays up.
fn app_user(server: &RedisServer, name: &str) -> String {
    server
        .cmd(&["ACL", "SETUSER", name, "on", ">secret", "~*", "&*", "+@all"])
        .unwrap();
    format!("redis://{name}:secret@127.0.0.1:{}", server.port)
}

/// Redis stays up but refuses the invalidation (INCR/INCRBY forbidden): the
/// service must not serve the pre-write entry, and must flush once the
/// cache accepts bumps again.
#[actix_web::test]
async fn refused_invalidation_never_serves_stale() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = app_user(&server, "catalog");
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let prefix = "catalog_cache_test_acl";
    let retry = Duration::from_millis(300);
    let svc = service_with(
        Arc::clone(&store),
        Arc::new(redis_cache(&url, prefix, Duration::from_millis(200))),
        settings(retry),
    );
    let app = TestApp::new(svc.clone()).await;
    for _ in 0..2 {
        app.get("/api/v1/products/3").await.ok("3");
        app.get("/api/v1/products").await.ok("list");
    }
    assert_eq!(app.get("/api/v1/products/3").await.x_cache(), "HIT");

    server
        .cmd(&["ACL", "SETUSER", "catalog", "-incr", "-incrby"])
        .unwrap();
    store.rename(3, "Renamed during the refusal").await;
    let failures = svc.cache_failures();
    svc.invalidate_product(pid(3)).await;
    assert!(
        svc.cache_failures() > failures,
        "the refused bump is a failure"
    );

    let fresh = |r: &common::Resp| {
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(
            body.contains("Renamed during the refusal"),
            "stale answer after an invalidation that failed: {body}"
        );
    };
    // While bumps are refused: inside and after the breaker interval.
    for _ in 0..3 {
        fresh(&app.get("/api/v1/products/3").await.ok("3"));
        fresh(&app.get("/api/v1/products").await.ok("list"));
        tokio::time::sleep(retry).await;
    }

    // Bumps allowed again: the owed flush is paid, then caching resumes.
    server
        .cmd(&["ACL", "SETUSER", "catalog", "+incr", "+incrby"])
        .unwrap();
    tokio::time::sleep(retry + Duration::from_millis(100)).await;
    let mut seen_hit = false;
    for _ in 0..5 {
        let r = app.get("/api/v1/products/3").await.ok("3");
        fresh(&r);
        seen_hit |= r.x_cache() == "HIT";
        fresh(&app.get("/api/v1/products").await.ok("list"));
    }
    assert!(seen_hit, "caching resumes once the flush is paid");
}

/// The same refusal seen from a second instance that shares the Redis:
/// instance 1's write could not bump the shared generations, so instance 2
/// keeps serving its pre-write entry until the TTL.
#[actix_web::test]
#[ignore = "known limitation (docs/caching.md): a failed invalidation is owed only on the instance \
            that wrote; other instances sharing the Redis serve the stale entry until its TTL"]
async fn refused_invalidation_other_instance_never_serves_stale() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let writer_url = app_user(&server, "writer");
    let reader_url = app_user(&server, "reader");
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let prefix = "catalog_cache_test_acl2";
    let svc1 = service_with(
        Arc::clone(&store),
        Arc::new(redis_cache(&writer_url, prefix, Duration::from_millis(200))),
        settings(Duration::from_millis(300)),
    );
    let svc2 = service_with(
        Arc::clone(&store),
        Arc::new(redis_cache(&reader_url, prefix, Duration::from_millis(200))),
        settings(Duration::from_millis(300)),
    );
    svc2.get_rendered(pid(3), product_json).await.unwrap();
    assert!(svc2.get_rendered(pid(3), product_json).await.unwrap().hit);

    server
        .cmd(&["ACL", "SETUSER", "writer", "-incr", "-incrby"])
        .unwrap();
    store.rename(3, "Written on instance 1").await;
    svc1.invalidate_product(pid(3)).await;

    let r = svc2.get_rendered(pid(3), product_json).await.unwrap();
    assert!(
        String::from_utf8_lossy(&r.body).contains("Written on instance 1"),
        "instance 2 served the pre-write entry (hit={})",
        r.hit
    );
}

/// A cache over [`catalog_cache_memory::MemoryCache`] whose bumps can be
/// refused, or held after they applied (see [`Gate`]).
struct FaultyCache {
    inner: Arc<dyn Cache>,
    refuse_bumps: AtomicBool,
    bump_gate: Mutex<Option<Arc<Gate>>>,
}

impl FaultyCache {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: memory_cache(),
            refuse_bumps: AtomicBool::new(false),
            bump_gate: Mutex::new(None),
        })
    }

    fn refuse(&self, on: bool) {
        self.refuse_bumps.store(on, Ordering::SeqCst);
    }

    fn arm_bump_gate(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        *self.bump_gate.lock().unwrap() = Some(Arc::clone(&gate));
        gate
    }
}

#[async_trait]
impl Cache for FaultyCache {
    fn kind(&self) -> CacheKind {
        CacheKind::Shared
    }

    async fn generations(&self, namespaces: &[String]) -> Result<Vec<u64>, CacheError> {
        self.inner.generations(namespaces).await
    }

    async fn bump(&self, namespaces: &[String]) -> Result<(), CacheError> {
        if self.refuse_bumps.load(Ordering::SeqCst) {
            return Err(CacheError::new("bumping generations", "injected failure"));
        }
        self.inner.bump(namespaces).await?;
        pass(&self.bump_gate).await;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.inner.get(key).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.inner.set(key, value, ttl).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

fn name_of(r: &catalog_domain::Rendered) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["name"].as_str().unwrap().to_string()
}

/// The port-level version of the refusal: while bumps fail, reads bypass
/// the cache; once they succeed, the owed flush is paid first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owed_flush_is_paid_before_the_cache_is_trusted() {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let cache = FaultyCache::new();
    let svc = service_with(
        Arc::clone(&store),
        Arc::clone(&cache) as Arc<dyn Cache>,
        settings(Duration::ZERO),
    );
    svc.get_rendered(pid(3), product_json).await.unwrap();
    assert!(svc.get_rendered(pid(3), product_json).await.unwrap().hit);

    cache.refuse(true);
    store.rename(3, "v2").await;
    svc.invalidate_product(pid(3)).await;
    for _ in 0..3 {
        let r = svc.get_rendered(pid(3), product_json).await.unwrap();
        assert_eq!(name_of(&r), "v2");
        assert!(!r.hit, "the cache is bypassed while a flush is owed");
    }
    cache.refuse(false);
    let r = svc.get_rendered(pid(3), product_json).await.unwrap();
    assert_eq!((name_of(&r).as_str(), r.hit), ("v2", false));
    let r = svc.get_rendered(pid(3), product_json).await.unwrap();
    assert_eq!((name_of(&r).as_str(), r.hit), ("v2", true));
}

/// A flush that succeeds while another invalidation fails must not clear
/// the newer debt: the pending-flush flag is a plain bool, so the flusher's
/// `store(false)` after its bump erases a failure recorded during it.
///
/// Interleaving (retry_after 0, so the breaker does not hide it):
/// 1. write v2; its bump fails: a flush is owed.
/// 2. T1 reads: pays the flush (bump applied), held before clearing the flag.
/// 3. R reads: also sees the debt, pays it too (clears the flag), misses,
///    reads v2 from storage and is held there.
/// 4. write v3; its bump fails: a flush is owed again.
/// 5. R stores v2 under the current generations; T1 clears the flag.
/// 6. S reads: nothing owed, current generations, hits R's v2 — stale,
///    until the TTL, although storage says v3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_does_not_erase_a_concurrent_failed_invalidation() {
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let cache = FaultyCache::new();
    let svc = service_with(
        Arc::clone(&store),
        Arc::clone(&cache) as Arc<dyn Cache>,
        settings(Duration::ZERO),
    );
    svc.get_rendered(pid(3), product_json).await.unwrap();

    // 1.
    cache.refuse(true);
    store.rename(3, "v2").await;
    svc.invalidate_product(pid(3)).await;
    cache.refuse(false);

    // 2.
    let bump_gate = cache.arm_bump_gate();
    let t1 = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.get_rendered(pid(3), product_json).await.unwrap() })
    };
    bump_gate.entered.notified().await;

    // 3.
    let get_gate = store.arm_get_gate();
    let r = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.get_rendered(pid(3), product_json).await.unwrap() })
    };
    get_gate.entered.notified().await;

    // 4.
    cache.refuse(true);
    store.rename(3, "v3").await;
    svc.invalidate_product(pid(3)).await;
    cache.refuse(false);

    // 5.
    get_gate.release.notify_one();
    assert_eq!(name_of(&r.await.unwrap()), "v2", "R read before the write");
    bump_gate.release.notify_one();
    t1.await.unwrap();

    // 6.
    let s = svc.get_rendered(pid(3), product_json).await.unwrap();
    assert_eq!(
        name_of(&s),
        "v3",
        "a read after the v3 write returned got the v2 entry (hit={})",
        s.hit
    );
}

// ---------------------------------------------------------------- (d)

/// Garbage under the very keys the service reads is a miss, then
/// overwritten by a good entry.
#[actix_web::test]
async fn garbage_entries_are_misses() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let prefix = Prefix::new(&server.url());
    let store = InstrumentedStore::with_products(PRODUCTS).await;
    let svc = redis_service(
        &store,
        &server.url(),
        &prefix.prefix,
        Duration::from_millis(200),
    );
    let app = TestApp::new(svc.clone()).await;

    // Fresh prefix: every generation is 0.
    let keys = [
        (
            "/api/v1/products/categories",
            entry_key(EntryKind::Categories, &[0], b""),
        ),
        (
            "/api/v1/products/brands",
            entry_key(EntryKind::Brands, &[0], b""),
        ),
        (
            "/api/v1/products/3",
            entry_key(EntryKind::Detail, &[0, 0], &3i64.to_be_bytes()),
        ),
    ];
    let garbage: [&[u8]; 3] = [b"\xff\xfe\x00garbage", b"no newline at all", b"\"z z\"\n{}"];
    for ((uri, key), junk) in keys.iter().zip(garbage) {
        let full = format!("{}:{key}", prefix.prefix);
        let mut c = admin(&server.url()).unwrap();
        redis::cmd("SET")
            .arg(&full)
            .arg(junk)
            .query::<()>(&mut c)
            .unwrap();
        let r = app.get(uri).await.ok(uri);
        assert_eq!(r.x_cache(), "MISS", "{uri}: garbage must be a miss");
        r.json();
        let stored: Vec<u8> = redis::cmd("GET").arg(&full).query(&mut c).unwrap();
        assert_ne!(
            stored, junk,
            "{uri}: the computed entry replaced the garbage"
        );
        let r = app.get(uri).await.ok(uri);
        assert_eq!(r.x_cache(), "HIT", "{uri}");
        r.json();
    }
    assert_eq!(health(&app).await, healthy());
}
