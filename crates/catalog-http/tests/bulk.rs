//! POST /api/v1/products/bulk and GET /api/v1/products/export through
//! `build_app` on the in-memory adapter, with the in-process cache: auth,
//! media types, limits (8 MiB here, 64 KiB everywhere else), per-item
//! results, `atomic=true`, idempotency keys, cache invalidation once per
//! batch, and exports (NDJSON and CSV, filters, id order) that read back as
//! the same products.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use catalog_cache_memory::MemoryCache;
use catalog_domain::CacheSettings;
use catalog_http::HttpConfig;
use catalog_http::auth::mint_token;
use catalog_interchange::read::{Format, ReadOptions, read_records};
use common::{Resp, TestApp, app_with_state, dataset, state_with};
use serde_json::{Value, json};

const SECRET: &str = "test-secret";
const BULK: &str = "/api/v1/products/bulk";
const EXPORT: &str = "/api/v1/products/export";

async fn app() -> TestApp {
    let mut state = state_with(&dataset()).await;
    state.config = HttpConfig {
        jwt_secret: Some(SECRET.into()),
        ..HttpConfig::default()
    };
    state.service = state.service.with_cache(
        Arc::new(MemoryCache::new(64 << 20, Duration::from_secs(7200))),
        CacheSettings::default(),
    );
    app_with_state(state).await
}

fn token() -> String {
    mint_token(SECRET, "bulk-tester", "products:write", 3600).unwrap()
}

fn product(sku: &str, name: &str, price: f64) -> Value {
    json!({"sku": sku, "name": name, "category": "Bulk Category", "brand": "Bulk Brand", "price": price})
}

async fn post(
    app: &TestApp,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
    key: Option<&str>,
) -> Resp {
    let mut req = TestRequest::post()
        .uri(uri)
        .insert_header(("Authorization", format!("Bearer {}", token())))
        .insert_header(("Content-Type", content_type))
        .set_payload(body);
    if let Some(k) = key {
        req = req.insert_header(("Idempotency-Key", k));
    }
    app.send(req).await
}

async fn post_json(app: &TestApp, uri: &str, body: &Value) -> Resp {
    post(
        app,
        uri,
        "application/json",
        serde_json::to_vec(body).unwrap(),
        None,
    )
    .await
}

fn problem_fields(r: &Resp) -> Vec<String> {
    r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_batch_creates_updates_and_reports_each_item_in_order() {
    let app = app().await;
    let existing = app
        .get("/api/v1/products?limit=1")
        .await
        .ok("first product")
        .json()["items"][0]
        .clone();
    let mut changed = existing.clone();
    for k in ["id", "created_at", "updated_at"] {
        changed.as_object_mut().unwrap().remove(k);
    }
    let unchanged = changed.clone();
    changed["stock_quantity"] = json!(12345);
    let body = json!([
        product("BULK-1", "Bulk one", 10.0),
        changed,
        product("BULK-2", "Bulk two", -5.0),
        unchanged.clone(),
        product("BULK-1", "Bulk one, last", 11.5),
    ]);
    let r = post_json(&app, BULK, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 5);
    let idx: Vec<u64> = items.iter().map(|i| i["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![0, 1, 2, 3, 4]);
    assert_eq!(items[0]["outcome"], "superseded");
    assert_eq!(items[0]["superseded_by"], 4);
    // The second and fourth item both name the existing sku: the last
    // (unchanged) one wins.
    assert_eq!(items[1]["outcome"], "superseded");
    assert_eq!(items[2]["status"], 422);
    assert_eq!(items[2]["errors"][0]["field"], "price");
    assert_eq!(items[3]["outcome"], "unchanged");
    assert_eq!(items[3]["id"], existing["id"]);
    assert_eq!(items[4]["status"], 201);
    assert_eq!(items[4]["outcome"], "created");
    let id = items[4]["id"].as_i64().unwrap();
    let got = app
        .get(&format!("/api/v1/products/{id}"))
        .await
        .ok("created")
        .json();
    assert_eq!(got["name"], "Bulk one, last");
    assert_eq!(got["price"], 11.5);

    // A change is visible to the next (cached) read.
    let mut edit = unchanged;
    edit["name"] = json!("Renamed in bulk");
    let r = post_json(&app, BULK, &json!([edit])).await;
    assert_eq!(r.json()["items"][0]["outcome"], "updated");
    assert_eq!(r.json()["items"][0]["status"], 200);
    let got = app
        .get(&format!("/api/v1/products/{}", existing["id"]))
        .await
        .ok("updated")
        .json();
    assert_eq!(got["name"], "Renamed in bulk");
    let search = app
        .get("/api/v1/products?search=Renamed")
        .await
        .ok("search")
        .json();
    assert_eq!(search["total"], 1);
}

#[actix_web::test]
async fn ndjson_bodies_are_read_line_by_line() {
    let app = app().await;
    let body = format!(
        "{}\n\n{}\r\nnot json\n",
        product("ND-1", "Line one", 1.0),
        product("ND-2", "Line two", 2.0)
    );
    let r = post(&app, BULK, "application/x-ndjson", body.into_bytes(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["status"], 201);
    assert_eq!(items[1]["status"], 201);
    assert_eq!(items[2]["status"], 422);
    assert!(
        items[2]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 4")
    );
}

#[actix_web::test]
async fn atomic_batches_are_all_or_nothing() {
    let app = app().await;
    let before = app.get("/api/v1/products?limit=1").await.ok("list").json()["total"].clone();
    let body = json!([
        product("AT-1", "Fine", 1.0),
        product("AT-2", "", 1.0),
        json!({"sku": "AT-3"})
    ]);
    let r = post_json(&app, &format!("{BULK}?atomic=true"), &body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.content_type(), "application/problem+json");
    let fields = problem_fields(&r);
    assert!(fields.contains(&"[1].name".to_owned()), "{fields:?}");
    assert!(fields.contains(&"[2].name".to_owned()), "{fields:?}");
    assert!(fields.contains(&"[2].price".to_owned()), "{fields:?}");
    let after = app.get("/api/v1/products?limit=1").await.ok("list").json()["total"].clone();
    assert_eq!(before, after, "nothing was written");

    let r = post_json(
        &app,
        &format!("{BULK}?atomic=true"),
        &json!([product("AT-1", "Fine", 1.0)]),
    )
    .await;
    assert_eq!(r.json()["items"][0]["status"], 201);
    let r = post_json(
        &app,
        &format!("{BULK}?atomic=maybe"),
        &json!([product("AT-1", "Fine", 1.0)]),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&r), vec!["atomic"]);
}

#[actix_web::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = app().await;
    let body = serde_json::to_vec(&json!([product("ID-1", "Keyed", 1.0)])).unwrap();
    let first = post(
        &app,
        BULK,
        "application/json",
        body.clone(),
        Some("bulk-key-1"),
    )
    .await;
    assert_eq!(first.json()["items"][0]["status"], 201);
    let again = post(&app, BULK, "application/json", body, Some("bulk-key-1")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        again.json(),
        first.json(),
        "the first answer, not 'unchanged'"
    );
    let other = serde_json::to_vec(&json!([product("ID-1", "Other body", 1.0)])).unwrap();
    let r = post(&app, BULK, "application/json", other, Some("bulk-key-1")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&r), vec!["Idempotency-Key"]);
}

#[actix_web::test]
async fn bad_requests_get_clear_problems() {
    let app = app().await;
    // No token.
    let r = app
        .send(
            TestRequest::post()
                .uri(BULK)
                .insert_header(("Content-Type", "application/json"))
                .set_payload("[]"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = post(&app, BULK, "text/csv", b"sku\n".to_vec(), None).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = post(&app, BULK, "application/json", b"".to_vec(), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(&app, BULK, "application/json", b"[{".to_vec(), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post_json(&app, BULK, &json!({"sku": "X"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&r), vec!["body"]);
    // An empty array is an empty batch: nothing to do.
    let r = post_json(&app, BULK, &json!([])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["items"], json!([]));
    let many: Vec<Value> = (0..1001)
        .map(|i| product(&format!("MANY-{i}"), "Many", 1.0))
        .collect();
    let r = post_json(&app, BULK, &Value::Array(many)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1000")
    );
    let r = app.get(BULK).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn the_bulk_body_limit_is_8_mib_and_every_other_route_keeps_64_kib() {
    let app = app().await;
    // 1,000 products with long descriptions: about 5 MiB, accepted.
    let long = "d".repeat(5000);
    let big: Vec<Value> = (0..1000)
        .map(|i| {
            let mut p = product(&format!("BIG-{i}"), "Big", 1.0);
            p["description"] = json!(long);
            p
        })
        .collect();
    let body = serde_json::to_vec(&big).unwrap();
    assert!(body.len() > 4 << 20 && body.len() < 8 << 20);
    let r = post(&app, BULK, "application/json", body, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == 201)
    );

    let over = vec![b' '; (8 << 20) + 1];
    let r = post(&app, BULK, "application/json", over, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json()["detail"].as_str().unwrap().contains("8 MiB"));

    let single = vec![b' '; (64 << 10) + 1];
    let r = post(&app, "/api/v1/products", "application/json", single, None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json()["detail"].as_str().unwrap().contains("64 KiB"));
}

fn read_back(format: Format, body: &[u8]) -> Vec<catalog_domain::NewProduct> {
    let mut out = Vec::new();
    read_records(format, body, ReadOptions::default(), &mut |r| {
        out.push(r.item.expect("an exported row reads back"));
        true
    })
    .unwrap();
    out
}

#[actix_web::test]
async fn exports_stream_every_match_in_id_order_and_read_back() {
    let app = app().await;
    let all = app
        .get("/api/v1/products?limit=100")
        .await
        .ok("list")
        .json();
    let total = all["total"].as_u64().unwrap() as usize;

    let r = app.get(EXPORT).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "application/x-ndjson");
    let lines: Vec<Value> = r
        .body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), total);
    let ids: Vec<i64> = lines.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "id order");
    assert_eq!(
        lines,
        all["items"].as_array().unwrap().clone(),
        "the products as the list returns them"
    );
    assert_eq!(read_back(Format::Ndjson, &r.body).len(), total);

    let r = app
        .get(&format!("{EXPORT}?format=csv&category=Books"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "text/csv; charset=utf-8");
    let books = app
        .get("/api/v1/products?category=Books&limit=100")
        .await
        .ok("books")
        .json();
    let got = read_back(Format::Csv, &r.body);
    assert_eq!(got.len() as u64, books["total"].as_u64().unwrap());
    assert!(got.iter().all(|p| p.category.as_str() == "Books"));
    assert!(r.body.starts_with(b"id,sku,name,"));

    let r = app.get(&format!("{EXPORT}?format=xml&min_price=abc")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = problem_fields(&r);
    fields.sort();
    assert_eq!(fields, vec!["format", "min_price"]);
}
