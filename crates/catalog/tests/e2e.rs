//! End-to-end tests of the real `catalog` binary: `serve` against a scratch
//! PostgreSQL database (HTTP reads, conditional GETs, docs, graceful
//! shutdown on SIGTERM), `seed` idempotence and determinism on scratch
//! SQLite files, `openapi`, and configuration errors.
//!
//! PostgreSQL is looked for as `catalog_storage_sql::testing` describes: an
//! absent server skips the PostgreSQL test loudly, or fails it under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use catalog_domain::ports::PageSpec;
use catalog_domain::{ProductFilter, ProductReader, ProductWriter, SortKey};
use catalog_storage_sql::SqlStore;
use catalog_storage_sql::testing::in_ci;
use common::{Server, SqliteFile, catalog, header, run, run_ok, with_scratch_pg};
use sea_orm::ConnectionTrait;
use serde_json::Value;

/// GET `path` with query pairs, asserting the status; returns the JSON body.
async fn get_json(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    query: &[(&str, &str)],
    status: u16,
) -> Value {
    let res = http
        .get(server.url(path))
        .query(query)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} {query:?}: {e}"));
    assert_eq!(res.status().as_u16(), status, "GET {path} {query:?}");
    res.json()
        .await
        .unwrap_or_else(|e| panic!("GET {path} {query:?}: body is not JSON: {e}"))
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items is an array")
}

fn price(p: &Value) -> f64 {
    p["price"].as_f64().expect("price is a number")
}

fn id(p: &Value) -> i64 {
    p["id"].as_i64().expect("id is an integer")
}

fn text<'a>(p: &'a Value, field: &str) -> &'a str {
    p[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is a string"))
}

/// Every read the contract promises, over real HTTP.
async fn check_reads(http: &reqwest::Client, server: &Server) {
    // Default listing, with the cross-cutting headers.
    let res = http
        .get(server.url("/api/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let process_time = header(&res, "x-process-time").expect("X-Process-Time header");
    assert!(
        process_time.parse::<f64>().is_ok_and(|ms| ms >= 0.0),
        "X-Process-Time {process_time:?}"
    );
    let etag = header(&res, "etag").expect("ETag on the list").to_string();
    assert!(etag.starts_with('"'), "strong ETag, got {etag}");
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], 3000);
    assert_eq!(page["limit"], 20);
    assert_eq!(page["offset"], 0);
    assert_eq!(items(&page).len(), 20);
    assert!(page["next_cursor"].is_string());
    let ids: Vec<i64> = items(&page).iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "default sort is id");

    // If-None-Match with the current tag: 304, no body.
    let res = http
        .get(server.url("/api/v1/products"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), Some(etag.as_str()));
    assert!(res.bytes().await.unwrap().is_empty());

    // Filter and sort: Electronics from 50.00, by price descending then name.
    let page = get_json(
        http,
        server,
        "/api/v1/products",
        &[
            ("category", "Electronics"),
            ("min_price", "50"),
            ("sort", "-price,name"),
            ("limit", "100"),
        ],
        200,
    )
    .await;
    let rows = items(&page);
    assert!(!rows.is_empty());
    assert!(page["total"].as_u64().unwrap() >= rows.len() as u64);
    for p in rows {
        assert_eq!(p["category"], "Electronics");
        assert!(price(p) >= 50.0, "{p}");
    }
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ordered = price(a) > price(b)
            || (price(a) == price(b)
                && (text(a, "name") < text(b, "name")
                    || (text(a, "name") == text(b, "name") && id(a) < id(b))));
        assert!(ordered, "out of order:\n{a}\n{b}");
    }

    // Following next_cursor visits every Books product exactly once, in order.
    let first = get_json(
        http,
        server,
        "/api/v1/products",
        &[("category", "Books"), ("sort", "-price"), ("limit", "37")],
        200,
    )
    .await;
    let total = first["total"].as_u64().expect("total");
    assert!(total > 37, "Books has more than one page");
    let mut seen = HashSet::new();
    let mut visited: Vec<Value> = Vec::new();
    let mut page = first;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 1000, "cursor walk does not end");
        for p in items(&page) {
            assert_eq!(p["category"], "Books");
            assert!(seen.insert(id(p)), "id {} seen twice", id(p));
            visited.push(p.clone());
        }
        let Some(cursor) = page["next_cursor"].as_str().map(str::to_string) else {
            break;
        };
        // The cursor works alone and beside its own parameters.
        let query: Vec<(&str, &str)> = match pages % 3 {
            0 => vec![("cursor", &cursor)],
            1 => vec![("category", "Books"), ("cursor", &cursor)],
            _ => vec![
                ("category", "Books"),
                ("sort", "-price"),
                ("cursor", &cursor),
            ],
        };
        page = get_json(http, server, "/api/v1/products", &query, 200).await;
        assert!(items(&page).len() <= 37, "the cursor keeps its page size");
    }
    assert_eq!(seen.len() as u64, total);
    for w in visited.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            price(a) > price(b) || (price(a) == price(b) && id(a) < id(b)),
            "cursor walk out of order:\n{a}\n{b}"
        );
    }

    // Detail of a listed product is that product.
    let listed = &visited[0];
    let detail = get_json(
        http,
        server,
        &format!("/api/v1/products/{}", id(listed)),
        &[],
        200,
    )
    .await;
    assert_eq!(&detail, listed);

    // A missing id is a 404 problem.
    let res = http
        .get(server.url("/api/v1/products/999999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 404);

    // limit=0 is a 422 problem naming `limit`.
    let res = http
        .get(server.url("/api/v1/products?limit=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 422);
    for key in ["type", "title", "detail"] {
        assert!(problem[key].is_string(), "problem has {key}: {problem}");
    }
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("validation errors")
        .iter()
        .map(|e| text(e, "field"))
        .collect();
    assert!(fields.contains(&"limit"), "{problem}");

    // Stats over everything.
    let stats = get_json(http, server, "/api/v1/products/stats", &[], 200).await;
    assert_eq!(stats["total_products"], 3000);
    assert_eq!(stats["categories"], 15);
    assert_eq!(stats["brands"], 20);

    // Facets: every value once, sorted by name, counts adding up.
    for (path, expected) in [
        ("/api/v1/products/categories", 15),
        ("/api/v1/products/brands", 20),
    ] {
        let body = get_json(http, server, path, &[], 200).await;
        let list = items(&body);
        assert_eq!(list.len(), expected, "{path}");
        let names: Vec<&str> = list.iter().map(|c| text(c, "name")).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{path}: {names:?}");
        let sum: u64 = list
            .iter()
            .map(|c| c["product_count"].as_u64().expect("product_count"))
            .sum();
        assert_eq!(sum, 3000, "{path}");
    }
    let categories = get_json(http, server, "/api/v1/products/categories", &[], 200).await;
    let books = items(&categories)
        .iter()
        .find(|c| c["name"] == "Books")
        .expect("Books is a category");
    assert_eq!(books["product_count"].as_u64(), Some(total));

    // Health, Swagger UI and the OpenAPI document.
    let health = get_json(http, server, "/health", &[], 200).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["checks"]["database"], "up");
    // The search index reports itself: building, then ready with what it
    // holds and how far it has read the change log.
    let mut health = health;
    for _ in 0..300 {
        if health["checks"]["search_index"] == "ready" {
            break;
        }
        assert_eq!(health["checks"]["search_index"], "building", "{health}");
        assert_eq!(health["search_index"]["state"], "building", "{health}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        health = get_json(http, server, "/health", &[], 200).await;
    }
    assert_eq!(health["checks"]["search_index"], "ready", "{health}");
    let index = &health["search_index"];
    assert_eq!(index["state"], "ready", "{health}");
    assert_eq!(index["products"].as_u64(), Some(3000), "{health}");
    assert!(
        index["lag"].is_u64() && index["memory_bytes"].as_u64() > Some(0),
        "{health}"
    );
    let res = http.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc = get_json(http, server, "/api-docs/openapi.json", &[], 200).await;
    assert!(text(&doc, "openapi").starts_with("3.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_answers_the_contract_and_stops_on_sigterm() {
    with_scratch_pg(|url| async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut server = Server::spawn(&url, 3000);
        server.wait_ready(&http).await;
        check_reads(&http, &server).await;
        let status = server.terminate().await;
        assert!(
            status.success(),
            "catalog serve exited with {status} on SIGTERM; stderr:\n{}",
            server.stderr.read()
        );
    })
    .await;
}

/// A statement the database cancels at `CATALOG_DB_STATEMENT_TIMEOUT_MS`
/// (here: waiting on a table lock) is a 503 problem with `Retry-After`,
/// not a 500, and the next request after the lock is gone is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_is_a_503_with_retry_after() {
    with_scratch_pg(|url| async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut server = Server::spawn_with(
            &url,
            50,
            &[
                ("CATALOG_DB_STATEMENT_TIMEOUT_MS", "300"),
                ("CATALOG_CACHE", "off"),
            ],
        );
        server.wait_ready(&http).await;
        let store = SqlStore::connect(&url).await.unwrap();
        let txn = sea_orm::TransactionTrait::begin(store.connection())
            .await
            .unwrap();
        txn.execute_unprepared("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        let started = Instant::now();
        let res = http
            .get(server.url("/api/v1/products?limit=5"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered at the statement timeout, not at the pool's or the client's"
        );
        assert_eq!(header(&res, "retry-after"), Some("1"));
        assert_eq!(
            header(&res, "content-type"),
            Some("application/problem+json")
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], 503);
        txn.rollback().await.unwrap();
        let res = http
            .get(server.url("/api/v1/products?limit=5"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        store.close().await.unwrap();
    })
    .await;
}

/// GET `path` as the client `xff` behind a proxy at 127.0.0.1.
async fn get_as(
    http: &reqwest::Client,
    server: &Server,
    path: &str,
    xff: &str,
) -> reqwest::Response {
    http.get(server.url(path))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The binary counts clients by the trusted proxy's `X-Forwarded-For`
/// and answers 429 with `Retry-After` and the `RateLimit` headers; /health
/// stays exempt.
#[tokio::test]
async fn the_binary_rate_limits_clients_behind_a_trusted_proxy() {
    let db = SqliteFile::create();
    let http = reqwest::Client::new();
    let mut server = Server::spawn_with(
        db.url(),
        20,
        &[
            ("CATALOG_RATE_LIMIT", "1/m,burst=2"),
            ("CATALOG_TRUSTED_PROXIES", "127.0.0.1,::1"),
        ],
    );
    server.wait_ready(&http).await;
    for _ in 0..2 {
        let res = get_as(&http, &server, "/api/v1/products/1", "192.0.2.1").await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "ratelimit-policy"),
            Some(r#""default";q=2;w=120"#)
        );
        assert!(header(&res, "ratelimit").is_some());
    }
    let res = get_as(&http, &server, "/api/v1/products", "192.0.2.1").await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    let retry: u64 = header(&res, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(header(&res, "x-process-time").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], "urn:catalog:problem:rate-limited");
    let res = get_as(&http, &server, "/api/v1/products/1", "192.0.2.2").await;
    assert_eq!(res.status(), 200, "another client behind the same proxy");
    let res = get_as(&http, &server, "/health", "192.0.2.1").await;
    assert_eq!(res.status(), 200, "/health is exempt");
}

/// With `REDIS_URL`, two instances sharing a prefix spend one budget.
#[tokio::test]
async fn two_instances_share_one_rate_limit_through_redis() {
    let redis_url =
        std::env::var("CATALOG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let admin = deadpool_redis::redis::Client::open(redis_url.as_str())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)));
    let Ok(mut admin) = admin else {
        let msg = format!("Redis at {redis_url} is not reachable");
        assert!(!in_ci(), "{msg}; CI=true forbids skipping");
        eprintln!("\n!!! SKIPPED: {msg}. Start it to run this test.\n");
        return;
    };
    let prefix = format!("catalog_e2e_{}", uuid::Uuid::new_v4().simple());
    let db = SqliteFile::create();
    let http = reqwest::Client::new();
    let envs = [
        ("REDIS_URL", redis_url.as_str()),
        ("CATALOG_CACHE_PREFIX", prefix.as_str()),
        ("CATALOG_RATE_LIMIT", "1/m,burst=3"),
        ("CATALOG_TRUSTED_PROXIES", "127.0.0.1,::1"),
    ];
    let mut a = Server::spawn_with(db.url(), 20, &envs);
    a.wait_ready(&http).await;
    let mut b = Server::spawn_with(db.url(), 0, &envs);
    b.wait_ready(&http).await;
    let mut statuses = Vec::new();
    for server in [&a, &b, &a, &b] {
        let res = get_as(&http, server, "/api/v1/products/1", "192.0.2.7").await;
        statuses.push(res.status().as_u16());
    }
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut admin)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = deadpool_redis::redis::cmd("DEL")
            .arg(&keys)
            .query(&mut admin);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert!(
        keys.contains(&format!("{prefix}:rl:ip:192.0.2.7")),
        "{keys:?}"
    );
}

/// The contract lets a client send a cursor "beside the same parameters
/// again", `sort` included (a regression test: the requested sort was once
/// compared with the cursor's, which carries the `id` tie-breaker).
#[tokio::test]
async fn cursor_beside_its_own_sort_is_accepted() {
    let db = SqliteFile::create();
    let http = reqwest::Client::new();
    let mut server = Server::spawn(db.url(), 200);
    server.wait_ready(&http).await;
    for sort in ["-price", "name,-rating", "id"] {
        let first = get_json(
            &http,
            &server,
            "/api/v1/products",
            &[("sort", sort), ("limit", "5")],
            200,
        )
        .await;
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let alone = get_json(
            &http,
            &server,
            "/api/v1/products",
            &[("cursor", cursor)],
            200,
        )
        .await;
        let beside = get_json(
            &http,
            &server,
            "/api/v1/products",
            &[("sort", sort), ("cursor", cursor)],
            200,
        )
        .await;
        assert_eq!(alone, beside, "sort={sort}");
    }
}

/// `catalog seed` with JSON logs; returns (before, inserted) from its report.
fn seed(database_url: &str, count: u64, rng_seed: u64) -> (u64, u64) {
    let count = count.to_string();
    let rng_seed = rng_seed.to_string();
    let done = run_ok(catalog(
        &["seed", "--count", &count, "--rng-seed", &rng_seed],
        &[
            ("DATABASE_URL", database_url),
            ("RUST_LOG", "info"),
            ("CATALOG_LOG_FORMAT", "json"),
        ],
    ));
    let report = done
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "seeding done")
        .unwrap_or_else(|| panic!("no 'seeding done' log line in:\n{}", done.stderr));
    let field = |k: &str| {
        report["fields"][k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {report}"))
    };
    (field("before"), field("inserted"))
}

/// The first `n` products by id, without their timestamps.
async fn first_products(store: &SqlStore, n: u64) -> Vec<Value> {
    let filter = ProductFilter::default();
    let page = PageSpec {
        filter: &filter,
        sort: &[SortKey::ID],
        after: None,
        offset: 0,
        limit: n,
    };
    store
        .list(page)
        .await
        .expect("list products")
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).expect("product to JSON");
            let obj = v.as_object_mut().expect("product is an object");
            obj.remove("created_at");
            obj.remove("updated_at");
            v
        })
        .collect()
}

async fn count_all(url: &str) -> u64 {
    let store = SqlStore::connect(url).await.expect("open database");
    let n = store.count_all().await.expect("count products");
    store.close().await.expect("close database");
    n
}

#[tokio::test]
async fn seed_is_idempotent_and_tops_up() {
    let db = SqliteFile::create();
    assert_eq!(seed(db.url(), 500, 42), (0, 500));
    assert_eq!(count_all(db.url()).await, 500);
    assert_eq!(
        seed(db.url(), 500, 42),
        (500, 0),
        "a re-run inserts nothing"
    );
    assert_eq!(count_all(db.url()).await, 500);
    assert_eq!(seed(db.url(), 300, 42), (500, 0), "never shrinks");
    assert_eq!(seed(db.url(), 800, 42), (500, 300));
    assert_eq!(count_all(db.url()).await, 800);

    // Topping up yields the same catalog as seeding 800 in one run.
    let fresh = SqliteFile::create();
    assert_eq!(seed(fresh.url(), 800, 42), (0, 800));
    let a = SqlStore::connect(db.url()).await.unwrap();
    let b = SqlStore::connect(fresh.url()).await.unwrap();
    assert_eq!(first_products(&a, 800).await, first_products(&b, 800).await);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn same_rng_seed_same_catalog() {
    let dbs: Vec<SqliteFile> = (0..3).map(|_| SqliteFile::create()).collect();
    seed(dbs[0].url(), 200, 7);
    seed(dbs[1].url(), 200, 7);
    seed(dbs[2].url(), 200, 8);
    let mut firsts = Vec::new();
    for db in &dbs {
        let store = SqlStore::connect(db.url()).await.unwrap();
        firsts.push(first_products(&store, 50).await);
        store.close().await.unwrap();
    }
    assert_eq!(firsts[0].len(), 50);
    assert_eq!(firsts[0], firsts[1], "same --rng-seed, same products");
    assert_ne!(firsts[0], firsts[2], "another --rng-seed, other products");
}

#[test]
fn openapi_prints_an_openapi_3_1_document() {
    let done = run_ok(catalog(&["openapi"], &[]));
    let doc: Value = serde_json::from_str(&done.stdout).expect("openapi prints JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "openapi = {}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/products/stats",
        "/health",
    ] {
        assert!(doc["paths"][path].is_object(), "documents {path}");
    }
}

#[test]
fn config_errors_exit_non_zero_naming_the_variable() {
    // A scratch file that a (wrongly) accepted config would create.
    let db = SqliteFile::create();
    let cases = [
        ("DATABASE_URL", "mysql://x"),
        ("CATALOG_ADDR", "nope"),
        ("CATALOG_SEED_COUNT", "-5"),
        ("REDIS_URL", "http://x"),
        ("CATALOG_CORS_ORIGINS", "shop.example"),
        ("CATALOG_DB_MAX_CONNECTIONS", "0"),
        ("CATALOG_RATE_LIMIT", "fast"),
        ("CATALOG_TRUSTED_PROXIES", "proxy.local"),
        ("CATALOG_REQUEST_TIMEOUT", "soon"),
        ("CATALOG_MAX_INFLIGHT_EXPENSIVE", "0"),
    ];
    for (var, value) in cases {
        let mut envs = vec![(var, value)];
        if var != "DATABASE_URL" {
            envs.push(("DATABASE_URL", db.url()));
        }
        let done = run(catalog(&["migrate"], &envs), Duration::from_secs(60));
        assert!(
            !done.status.success(),
            "{var}={value} was accepted; stderr:\n{}",
            done.stderr
        );
        assert!(
            done.stderr.contains(var),
            "{var}={value}: stderr does not name it:\n{}",
            done.stderr
        );
    }
}

/// `catalog verify` passes on a seeded database, fails (exit 1, naming the
/// table) once a derived table is broken, and `--repair` mends it.
#[tokio::test]
async fn verify_names_a_broken_derived_table_and_repair_mends_it() {
    let db = SqliteFile::create();
    seed(db.url(), 300, 7);
    let envs = [("DATABASE_URL", db.url())];
    let done = run_ok(catalog(&["verify"], &envs));
    assert!(done.stdout.contains("agree"), "{}", done.stdout);
    assert!(
        done.stdout
            .contains("search index agrees with the database: 300 products"),
        "{}",
        done.stdout
    );

    let store = SqlStore::connect(db.url()).await.unwrap();
    store
        .connection()
        .execute_unprepared("UPDATE product_summary SET price_sum = price_sum + 1")
        .await
        .unwrap();
    store.close().await.unwrap();
    let done = run(catalog(&["verify"], &envs), Duration::from_secs(60));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stdout.contains("product_summary"), "{}", done.stdout);
    assert!(done.stderr.contains("--repair"), "{}", done.stderr);

    let done = run_ok(catalog(&["verify", "--repair"], &envs));
    assert!(done.stdout.contains("repaired"), "{}", done.stdout);
    run_ok(catalog(&["verify"], &envs));
}

/// A bulk seed into empty PostgreSQL (parallel COPY lanes, explicit ids,
/// vocabulary collected by the seeder, indexes and summary rebuilt) yields
/// exactly the catalog a row-by-row seed into SQLite does, ids included,
/// and leaves derived tables equal to what the database computes itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bulk_seed_matches_a_row_by_row_seed() {
    // Two COPY batches (the seeder's batch is 20,000), so both lanes run.
    const N: u64 = 25_000;
    with_scratch_pg(|url| async move {
        let lite = SqliteFile::create();
        assert_eq!(seed(&url, N, 42), (0, N));
        assert_eq!(seed(lite.url(), N, 42), (0, N));
        let pg = SqlStore::connect(&url).await.unwrap();
        let sqlite = SqlStore::connect(lite.url()).await.unwrap();
        let (a, b) = (
            first_products(&pg, N).await,
            first_products(&sqlite, N).await,
        );
        assert_eq!(a.len() as u64, N);
        assert_eq!(
            a.first().map(|p| p["id"].clone()),
            Some(Value::from(1)),
            "ids start at 1"
        );
        assert!(
            a == b,
            "the same products under the same ids on both backends"
        );

        let scalar = |sql: &str| {
            let conn = pg.connection().clone();
            let sql = sql.to_owned();
            async move {
                let row = conn
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        sql,
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<i64>(0).unwrap()
            }
        };
        // The next row continues after the reserved ids.
        assert_eq!(
            scalar("SELECT last_value FROM products_id_seq").await,
            N as i64
        );
        // The vocabulary the seeder wrote is the database's own, words only.
        assert!(scalar("SELECT count(*) FROM search_terms").await > 100);
        assert_eq!(
            scalar(
                "SELECT count(*) FROM ((SELECT DISTINCT t FROM products, \
                 unnest(tsvector_to_array(search_vector)) t WHERE t !~ '[0-9]') \
                 EXCEPT (SELECT term FROM search_terms)) x"
            )
            .await,
            0,
            "every indexed word is in the vocabulary"
        );
        assert_eq!(
            scalar(
                "SELECT count(*) FROM ((SELECT term FROM search_terms) EXCEPT \
                 (SELECT DISTINCT t FROM products, unnest(tsvector_to_array(search_vector)) t \
                 WHERE t !~ '[0-9]')) x"
            )
            .await,
            0,
            "the vocabulary holds nothing else"
        );
        assert_eq!(
            scalar("SELECT count(*) FROM search_terms WHERE term ~ '[0-9]'").await,
            0
        );
        // The summaries the seeder wrote from its own counts are the
        // database's own.
        let summary_sql = "SELECT category, brand, count(*), \
             sum(CASE WHEN is_active THEN 1 ELSE 0 END), \
             sum(CASE WHEN stock_quantity > 0 THEN 1 ELSE 0 END), sum(stock_quantity), \
             sum(price_cents), sum(rating_tenths) FROM products GROUP BY 1, 2";
        let price_sql = catalog_storage_sql::schema::price_summary_select();
        for (table, own) in [
            ("product_summary", summary_sql.to_string()),
            (catalog_storage_sql::schema::PRICE_SUMMARY_TABLE, price_sql),
        ] {
            for sql in [
                format!("SELECT count(*) FROM ((SELECT * FROM {table}) EXCEPT ({own})) x"),
                format!("SELECT count(*) FROM (({own}) EXCEPT (SELECT * FROM {table})) x"),
            ] {
                assert_eq!(
                    scalar(&sql).await,
                    0,
                    "{table} equals what the database computes"
                );
            }
        }
        // Every secondary index was rebuilt.
        assert_eq!(
            scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'products'").await,
            // the primary key, the sku's unique index, the two search indexes
            4 + catalog_storage_sql::schema::secondary_indexes().len() as i64
        );
        // The summary agrees with the table.
        assert_eq!(
            scalar("SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_summary").await,
            N as i64
        );
        pg.close().await.unwrap();
        sqlite.close().await.unwrap();
    })
    .await;
}
