//! The public change feed (`GET /api/v1/products/changes`) on the real
//! binary, SQLite and PostgreSQL: order, product states and tombstones,
//! paging by `next_since`, `since=now`, long polls, bad input, 410 after
//! pruning, and every change exactly once to a consumer that follows while
//! writers run concurrently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::{Server, SqliteFile, catalog, run_ok, with_scratch_pg};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const SECRET: &str = "feed-test-secret";

struct Api {
    http: reqwest::Client,
    server: Server,
    token: String,
}

impl Api {
    async fn start(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut server = Server::spawn_with(
            url,
            0,
            &[
                ("CATALOG_JWT_SECRET", SECRET),
                ("CATALOG_RATE_LIMIT", "off"),
            ],
        );
        server.wait_ready(&http).await;
        let token = run_ok(catalog(
            &["token", "--sub", "feed"],
            &[("CATALOG_JWT_SECRET", SECRET)],
        ))
        .stdout
        .trim()
        .to_string();
        Self {
            http,
            server,
            token,
        }
    }

    async fn feed(&self, query: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .get(self.server.url("/api/v1/products/changes"))
            .query(query)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn create(&self, sku: &str, price: f64) -> i64 {
        let res = self
            .http
            .post(self.server.url("/api/v1/products"))
            .bearer_auth(&self.token)
            .json(
                &json!({"sku": sku, "name": format!("Feed {sku}"), "category": "Books",
                "brand": "Acme", "price": price, "stock_quantity": 1}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "create {sku}");
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    async fn patch(&self, id: i64, price: f64) {
        let res = self
            .http
            .patch(self.server.url(&format!("/api/v1/products/{id}")))
            .bearer_auth(&self.token)
            .json(&json!({"price": price}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "patch {id}");
    }

    async fn delete(&self, id: i64) {
        let res = self
            .http
            .delete(self.server.url(&format!("/api/v1/products/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "delete {id}");
    }

    /// Follows the feed from `since` until it has at least `expect`
    /// entries and a page then comes back empty after a one-second long
    /// poll. On PostgreSQL any transaction still running in the cluster
    /// (autovacuum's, another test's `DROP DATABASE`) holds later changes
    /// back until it ends, so an empty page before `expect` is not the end
    /// (within 30 s).
    async fn drain(&self, since: &str, limit: u32, expect: usize) -> (Vec<Value>, String) {
        let mut since = since.to_string();
        let mut items = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let limit = limit.to_string();
            let (status, page) = self
                .feed(&[("since", since.as_str()), ("limit", &limit), ("wait", "1")])
                .await;
            assert_eq!(status, 200, "{page}");
            since = page["next_since"].as_str().unwrap().to_string();
            let got = page["items"].as_array().unwrap();
            if got.is_empty() && (items.len() >= expect || Instant::now() > deadline) {
                return (items, since);
            }
            items.extend(got.iter().cloned());
        }
    }
}

async fn the_feed_in_order(url: String) {
    let api = Api::start(&url).await;
    let (status, first) = api.feed(&[]).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"], json!([]), "an empty log");
    let start = first["next_since"].as_str().unwrap().to_string();

    let a = api.create("FEED-A", 10.0).await;
    let b = api.create("FEED-B", 20.0).await;
    api.patch(a, 11.5).await;
    api.delete(b).await;

    // From the start, one entry at a time: every change once, in order.
    let (items, head) = api.drain(&start, 1, 4).await;
    let seen: Vec<(String, i64, Option<f64>)> = items
        .iter()
        .map(|i| {
            (
                i["op"].as_str().unwrap().to_string(),
                i["id"].as_i64().unwrap(),
                i["product"]["price"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("upsert".into(), a, Some(10.0)),
            ("upsert".into(), b, Some(20.0)),
            ("upsert".into(), a, Some(11.5)),
            ("delete".into(), b, None),
        ]
    );
    let seqs: Vec<i64> = items
        .iter()
        .map(|i| i["seq"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(items[0]["product"]["sku"], "FEED-A");
    assert_eq!(items[0]["product"]["name"], "Feed FEED-A");
    assert!(items[3]["product"].is_null());
    for i in &items {
        let at = i["at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "at {at} is RFC 3339"
        );
    }
    // A page of many gives the same.
    let (all, _) = api.drain(&start, 1000, 4).await;
    assert_eq!(all, items);
    // No `since`: from the oldest kept, the same entries.
    let (status, page) = api.feed(&[("limit", "10")]).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap(), &items);

    // `since=now`: nothing until the next write, then exactly it.
    let (_, now) = api.feed(&[("since", "now")]).await;
    assert_eq!(now["items"], json!([]));
    let now_since = now["next_since"].as_str().unwrap().to_string();
    let c = api.create("FEED-C", 5.0).await;
    let (after_now, _) = api.drain(&now_since, 100, 1).await;
    assert_eq!(after_now.len(), 1, "{after_now:?}");
    assert_eq!(after_now[0]["id"], c);
    // The head position from before sees the same one change.
    let (after_head, _) = api.drain(&head, 100, 1).await;
    assert_eq!(after_head, after_now);

    // A long poll answers as soon as a change arrives.
    let waiting = {
        let http = api.http.clone();
        let url = api.server.url("/api/v1/products/changes");
        let since = api.drain(&head, 100, 1).await.1;
        tokio::spawn(async move {
            let started = Instant::now();
            let res = http
                .get(url)
                .query(&[("since", since.as_str()), ("wait", "20")])
                .send()
                .await
                .unwrap();
            (started.elapsed(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let d = api.create("FEED-D", 7.0).await;
    let (took, page) = waiting.await.unwrap();
    assert_eq!(page["items"][0]["id"], d, "{page}");
    assert!(
        took < Duration::from_secs(5),
        "the long poll answered after {took:?}"
    );
    // An empty long poll ends at its wait.
    let since = page["next_since"].as_str().unwrap().to_string();
    let started = Instant::now();
    let (status, empty) = api.feed(&[("since", since.as_str()), ("wait", "1")]).await;
    assert_eq!((status, empty["items"].clone()), (200, json!([])));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Bad input names its parameter.
    let tampered = format!("{}x", &since[..since.len() - 1]);
    for (query, field) in [
        (vec![("since", "garbage")], "since"),
        (vec![("since", tampered.as_str())], "since"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "1001")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("wait", "31")], "wait"),
        (vec![("wait", "-1")], "wait"),
    ] {
        let (status, problem) = api.feed(&query).await;
        assert_eq!(status, 422, "{query:?}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{query:?}: {problem}");
    }

    // Pruned past a position: 410, saying what to do.
    let store = catalog_storage_sql::SqlStore::connect(&url).await.unwrap();
    store
        .connection()
        .execute_unprepared("UPDATE product_changes_pruned SET max_seq = 3 WHERE id = 1")
        .await
        .unwrap();
    let (status, problem) = api.feed(&[("since", start.as_str())]).await;
    assert_eq!(status, 410, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "since");
    assert!(problem["detail"].as_str().unwrap().contains("since=now"));
    let (status, _) = api.feed(&[("since", head.as_str())]).await;
    assert_eq!(
        status, 200,
        "a position past the pruned entries still reads"
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feed_in_order_with_tombstones_polls_and_410() {
    let db = SqliteFile::create();
    the_feed_in_order(db.url().to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_in_order_with_tombstones_polls_and_410() {
    with_scratch_pg(the_feed_in_order).await;
}

/// Four writers create and patch at once while a consumer follows the
/// feed with small pages: afterwards it has seen every entry of the log
/// exactly once, and each product's versions in increasing order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_gives_every_change_once_under_concurrent_writers() {
    with_scratch_pg(|url| async move {
        let api = std::sync::Arc::new(Api::start(&url).await);
        let (_, first) = api.feed(&[("since", "now")]).await;
        let mut since = first["next_since"].as_str().unwrap().to_string();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let api = std::sync::Arc::clone(&api);
                tokio::spawn(async move {
                    for i in 0..25 {
                        let id = api.create(&format!("CONC-{w}-{i}"), 1.0 + i as f64).await;
                        api.patch(id, 2.0 + i as f64).await;
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        let mut done = false;
        // 200 changes are coming; a transaction elsewhere in the cluster may
        // hold them back a while (see `drain`), never for ever.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let wait = if done { "2" } else { "0" };
            let (status, page) = api
                .feed(&[("since", since.as_str()), ("limit", "7"), ("wait", wait)])
                .await;
            assert_eq!(status, 200, "{page}");
            since = page["next_since"].as_str().unwrap().to_string();
            let items = page["items"].as_array().unwrap().clone();
            if items.is_empty() && done && (seen.len() >= 200 || Instant::now() > deadline) {
                break;
            }
            seen.extend(items);
            if !done && writers.iter().all(|w| w.is_finished()) {
                done = true;
            }
        }
        for w in writers {
            w.await.unwrap();
        }
        let seqs: Vec<i64> = seen
            .iter()
            .map(|i| i["seq"].as_str().unwrap().parse().unwrap())
            .collect();
        let unique: HashSet<i64> = seqs.iter().copied().collect();
        assert_eq!(unique.len(), seqs.len(), "a change was delivered twice");
        let store = catalog_storage_sql::SqlStore::connect(&url).await.unwrap();
        let rows = store
            .connection()
            .query_all_raw(sea_orm::Statement::from_string(
                store.connection().get_database_backend(),
                "SELECT seq FROM product_changes WHERE op <> 'reload' ORDER BY seq",
            ))
            .await
            .unwrap();
        let logged: HashSet<i64> = rows
            .iter()
            .map(|r| r.try_get::<i64>("", "seq").unwrap())
            .collect();
        store.close().await.unwrap();
        assert_eq!(logged.len(), 200, "4 writers × 25 × (create + patch)");
        assert_eq!(unique, logged, "the feed and the log differ");
        // Per product: create first, then the patch.
        let mut per_product: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for i in &seen {
            per_product
                .entry(i["id"].as_i64().unwrap())
                .or_default()
                .push(i["product"]["price"].as_f64().unwrap());
        }
        for (id, prices) in per_product {
            assert_eq!(prices.len(), 2, "product {id}");
            assert_eq!(
                prices[1],
                prices[0] + 1.0,
                "product {id}: create, then patch"
            );
        }
    })
    .await;
}
