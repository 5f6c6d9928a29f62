//! Black-box tests of the write API (API.md "Writes" and "Cross-cutting")
//! through `build_app` on the in-memory storage adapter: bearer tokens,
//! body parsing and validation, every status of the write table,
//! conditional writes (`If-Match`), idempotency keys, 405s, and that a
//! write is visible to the very next cached read.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use catalog_cache_memory::MemoryCache;
use catalog_domain::CacheSettings;
use catalog_http::auth::mint_token;
use catalog_http::{AppState, HttpConfig};
use chrono::{DateTime, Utc};
use common::{Resp, TestApp, app_with_state, dataset, state_with};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "test-secret";
const LIST: &str = "/api/v1/products";
const MERGE_PATCH: &str = "application/merge-patch+json";

// ------------------------------------------------------------ fixtures

fn config() -> HttpConfig {
    HttpConfig {
        jwt_secret: Some(SECRET.into()),
        ..HttpConfig::default()
    }
}

/// An empty catalog that accepts writes signed with [`SECRET`].
async fn app() -> TestApp {
    let mut state = state_with(&[]).await;
    state.config = config();
    app_with_state(state).await
}

/// The 60-product fixture, reading through the in-process cache.
async fn cached_app() -> TestApp {
    let mut state: AppState = state_with(&dataset()).await;
    state.config = config();
    state.service = state.service.with_cache(
        Arc::new(MemoryCache::new(64 << 20, Duration::from_secs(7200))),
        CacheSettings::default(),
    );
    app_with_state(state).await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A valid write token for `sub`.
fn token_for(sub: &str) -> String {
    mint_token(SECRET, sub, "products:write", 3600).unwrap()
}

fn token() -> String {
    token_for("tester")
}

/// A token with arbitrary claims, signed by `alg` with `secret`.
fn signed(alg: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(scope: Option<&str>) -> Value {
    let mut c = json!({"sub": "tester", "exp": now_secs() + 3600, "iat": now_secs()});
    if let Some(s) = scope {
        c["scope"] = Value::from(s);
    }
    c
}

/// An unsigned token: `alg: none`, empty signature.
fn alg_none(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// A complete, valid product body.
fn product(sku: &str) -> Value {
    json!({
        "sku": sku,
        "name": "Desk Lamp",
        "description": "A lamp for the desk",
        "category": "Home",
        "brand": "Acme",
        "price": 19.99,
        "stock_quantity": 5,
        "rating": 4.5,
        "is_active": true
    })
}

/// A request with a JSON body and the write token.
fn with_json(req: TestRequest, content_type: &str, body: impl Into<String>) -> TestRequest {
    req.insert_header(("authorization", format!("Bearer {}", token())))
        .insert_header(("content-type", content_type.to_string()))
        .set_payload(body.into())
}

fn post(body: &Value) -> TestRequest {
    with_json(
        TestRequest::post().uri(LIST),
        "application/json",
        body.to_string(),
    )
}

fn put(id: i64, body: &Value) -> TestRequest {
    with_json(
        TestRequest::put().uri(&format!("{LIST}/{id}")),
        "application/json",
        body.to_string(),
    )
}

fn patch(id: i64, body: &Value) -> TestRequest {
    with_json(
        TestRequest::patch().uri(&format!("{LIST}/{id}")),
        MERGE_PATCH,
        body.to_string(),
    )
}

fn delete(id: i64) -> TestRequest {
    TestRequest::delete()
        .uri(&format!("{LIST}/{id}"))
        .insert_header(("authorization", format!("Bearer {}", token())))
}

fn body_text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn expect_status(r: &Resp, status: u16) {
    assert_eq!(r.status.as_u16(), status, "body: {}", body_text(r));
}

/// Creates `body` and returns the stored product.
async fn create(app: &TestApp, body: &Value) -> Value {
    let r = app.send(post(body)).await;
    expect_status(&r, 201);
    r.json()
}

fn id_of(p: &Value) -> i64 {
    p["id"].as_i64().unwrap()
}

fn etag(r: &Resp) -> String {
    let tag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on a {} response", r.status));
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "not a strong ETag: {tag}"
    );
    tag.to_string()
}

fn ts(p: &Value, field: &str) -> DateTime<Utc> {
    let raw = p[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {p}"));
    let t = DateTime::parse_from_rfc3339(raw).unwrap_or_else(|e| panic!("{field} {raw}: {e}"));
    assert_eq!(t.offset().local_minus_utc(), 0, "{field} is not UTC: {raw}");
    t.with_timezone(&Utc)
}

/// An RFC 9457 problem with this status; returns the document.
fn problem(r: &Resp, status: u16) -> Value {
    expect_status(r, status);
    assert_eq!(r.content_type(), "application/problem+json");
    let body = r.json();
    assert_eq!(body["status"], status, "{body}");
    for key in ["type", "title", "detail"] {
        assert!(body[key].as_str().is_some(), "no {key} in {body}");
    }
    body
}

/// A 422 naming exactly `fields` (each at least once).
fn invalid(r: &Resp, fields: &[&str]) {
    let body = problem(r, 422);
    let named: BTreeSet<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors[] in {body}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            e["field"].as_str().unwrap()
        })
        .collect();
    let want: BTreeSet<&str> = fields.iter().copied().collect();
    assert_eq!(named, want, "{body}");
}

async fn total(app: &TestApp) -> u64 {
    let r = app.get(LIST).await;
    expect_status(&r, 200);
    r.json()["total"].as_u64().unwrap()
}

// ---------------------------------------------------------------- POST

#[actix_web::test]
async fn post_creates_and_location_serves_it() {
    let app = app().await;
    let mut body = product("ab-12");
    body["name"] = json!("  Desk Lamp  ");
    let r = app.send(post(&body)).await;
    expect_status(&r, 201);
    assert!(r.content_type().starts_with("application/json"));
    let p = r.json();
    let id = id_of(&p);
    assert!(id > 0);
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/products/{id}").as_str())
    );
    let tag = etag(&r);

    assert_eq!(p["sku"], "AB-12", "sku stored upper-case");
    assert_eq!(p["name"], "Desk Lamp", "name trimmed");
    assert_eq!(p["description"], "A lamp for the desk");
    assert_eq!(p["category"], "Home");
    assert_eq!(p["brand"], "Acme");
    assert_eq!(p["price"], 19.99);
    assert_eq!(p["stock_quantity"], 5);
    assert_eq!(p["rating"], 4.5);
    assert_eq!(p["is_active"], true);
    let created = ts(&p, "created_at");
    assert_eq!(created, ts(&p, "updated_at"));
    let age = Utc::now() - created;
    assert!(age.num_seconds().abs() < 60, "created_at {created}");

    let got = app.get(r.header("location").unwrap()).await;
    expect_status(&got, 200);
    assert_eq!(got.json(), p, "GET of the Location returns the product");
    assert_eq!(etag(&got), tag, "the read ETag is the write ETag");
}

#[actix_web::test]
async fn post_minimal_body_takes_defaults() {
    let app = app().await;
    let p = create(
        &app,
        &json!({"sku": "MIN-1", "name": "Bare", "category": "C", "brand": "B", "price": 0}),
    )
    .await;
    assert_eq!(p["description"], "");
    assert_eq!(p["stock_quantity"], 0);
    assert_eq!(p["rating"], 0.0);
    assert_eq!(p["is_active"], true);
    assert_eq!(p["price"], 0.0);
}

// ---------------------------------------------------------------- tokens

async fn post_with_auth(app: &TestApp, authorization: Option<&str>) -> Resp {
    let mut req = TestRequest::post()
        .uri(LIST)
        .insert_header(("content-type", "application/json"))
        .set_payload(product("TOK-1").to_string());
    if let Some(a) = authorization {
        req = req.insert_header(("authorization", a.to_string()));
    }
    app.send(req).await
}

fn assert_401(r: &Resp, case: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        body_text(r)
    );
    problem(r, 401);
    let challenge = r.header("www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer"),
        "{case}: WWW-Authenticate {challenge:?}"
    );
}

fn assert_403(r: &Resp, case: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{case}: {}", body_text(r));
    problem(r, 403);
    let challenge = r.header("www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("insufficient_scope"),
        "{case}: WWW-Authenticate {challenge:?}"
    );
}

#[actix_web::test]
async fn bad_tokens_are_401_with_a_bearer_challenge() {
    let app = app().await;
    let good = claims(Some("products:write"));
    let expired = json!({"sub": "tester", "scope": "products:write", "exp": now_secs() - 10});
    let no_exp = json!({"sub": "tester", "scope": "products:write"});
    let no_sub = json!({"scope": "products:write", "exp": now_secs() + 3600});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("Basic scheme", Some("Basic xyz".into())),
        (
            "Basic with a valid token",
            Some(format!("Basic {}", token())),
        ),
        ("Bearer without token", Some("Bearer".into())),
        ("Bearer with blank token", Some("Bearer    ".into())),
        ("garbage", Some("Bearer garbage".into())),
        ("garbage with dots", Some("Bearer not.a.jwt".into())),
        (
            "wrong signature",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS256, "another-secret", &good)
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS256, SECRET, &expired)
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS256, SECRET, &no_exp)
            )),
        ),
        (
            "no sub",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS256, SECRET, &no_sub)
            )),
        ),
        ("alg none", Some(format!("Bearer {}", alg_none(&good)))),
        (
            "HS384",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS384, SECRET, &good)
            )),
        ),
        (
            "HS512",
            Some(format!(
                "Bearer {}",
                signed(Algorithm::HS512, SECRET, &good)
            )),
        ),
        (
            "tampered payload",
            Some({
                let t = token();
                let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
                let mut c = claims(Some("products:write"));
                c["sub"] = json!("someone-else");
                parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
                format!("Bearer {}", parts.join("."))
            }),
        ),
    ];
    for (case, auth) in &cases {
        let r = post_with_auth(&app, auth.as_deref()).await;
        assert_401(&r, case);
    }
    assert_eq!(total(&app).await, 0, "no refused write stored anything");

    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let r = post_with_auth(&app, Some(&format!("bearer {}", token()))).await;
    expect_status(&r, 201);
}

#[actix_web::test]
async fn valid_tokens_without_the_write_scope_are_403() {
    let app = app().await;
    let cases: [(&str, Option<&str>); 5] = [
        ("no scope claim", None),
        ("empty scope", Some("")),
        ("read scope", Some("products:read")),
        ("near miss", Some("products:writer")),
        ("other scopes", Some("a b products:read")),
    ];
    for (case, scope) in cases {
        let t = signed(Algorithm::HS256, SECRET, &claims(scope));
        let r = post_with_auth(&app, Some(&format!("Bearer {t}"))).await;
        assert_403(&r, case);
    }
    assert_eq!(total(&app).await, 0);

    let t = signed(
        Algorithm::HS256,
        SECRET,
        &claims(Some("a products:write b")),
    );
    let r = post_with_auth(&app, Some(&format!("Bearer {t}"))).await;
    expect_status(&r, 201);
}

#[actix_web::test]
async fn every_write_method_requires_a_token() {
    let app = app().await;
    let p = create(&app, &product("AUTH-1")).await;
    let id = id_of(&p);
    let uri = format!("{LIST}/{id}");
    let read_only = format!(
        "Bearer {}",
        signed(Algorithm::HS256, SECRET, &claims(Some("products:read")))
    );
    let requests = || {
        [
            TestRequest::put()
                .uri(&uri)
                .insert_header(("content-type", "application/json"))
                .set_payload(product("AUTH-1").to_string()),
            TestRequest::patch()
                .uri(&uri)
                .insert_header(("content-type", MERGE_PATCH))
                .set_payload(r#"{"name":"x"}"#),
            TestRequest::delete().uri(&uri),
            // Authentication comes before the resource is looked up: a
            // missing product does not reveal itself to anonymous callers.
            TestRequest::delete().uri(&format!("{LIST}/999999")),
        ]
    };
    for req in requests() {
        assert_401(&app.send(req).await, "no token");
    }
    for req in requests() {
        let req = req.insert_header(("authorization", read_only.clone()));
        assert_403(&app.send(req).await, "read-only token");
    }
    let got = app.get(&uri).await;
    assert_eq!(got.json(), p, "nothing changed");
}

#[actix_web::test]
async fn no_secret_configured_refuses_every_write() {
    let mut state = state_with(&[]).await;
    state.config = HttpConfig::default();
    assert!(state.config.jwt_secret.is_none());
    let app = app_with_state(state).await;
    let r = post_with_auth(&app, Some(&format!("Bearer {}", token()))).await;
    assert_401(&r, "no secret configured, valid-looking token");
    let r = post_with_auth(&app, None).await;
    assert_401(&r, "no secret configured, no token");
    let r = app.send(delete(1)).await;
    assert_401(&r, "no secret configured, DELETE");
    assert_eq!(total(&app).await, 0);
}

// ---------------------------------------------------------------- bodies

async fn post_raw(app: &TestApp, content_type: Option<&str>, body: impl Into<String>) -> Resp {
    let mut req = TestRequest::post()
        .uri(LIST)
        .insert_header(("authorization", format!("Bearer {}", token())))
        .set_payload(body.into());
    if let Some(ct) = content_type {
        req = req.insert_header(("content-type", ct.to_string()));
    }
    app.send(req).await
}

/// The valid product with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut b = product("FLD-1");
    b[field] = value;
    b
}

#[actix_web::test]
async fn unparseable_bodies_are_400_and_wrong_media_types_415() {
    let app = app().await;
    problem(&post_raw(&app, Some("application/json"), "").await, 400);
    problem(
        &post_raw(&app, Some("application/json"), "{\"sku\": ").await,
        400,
    );
    problem(
        &post_raw(&app, Some("application/json"), "{sku: 1}").await,
        400,
    );
    problem(
        &post_raw(&app, Some("application/json"), "{\"a\":1} trailing").await,
        400,
    );
    let valid = product("MT-1").to_string();
    problem(
        &post_raw(&app, Some("text/plain"), valid.clone()).await,
        415,
    );
    problem(&post_raw(&app, None, valid.clone()).await, 415);
    problem(
        &post_raw(
            &app,
            Some("application/x-www-form-urlencoded"),
            valid.clone(),
        )
        .await,
        415,
    );
    // Merge patches are for PATCH only.
    problem(&post_raw(&app, Some(MERGE_PATCH), valid.clone()).await, 415);
    assert_eq!(total(&app).await, 0);

    // Parameters and case of the media type do not matter.
    let r = post_raw(&app, Some("Application/JSON; charset=utf-8"), valid).await;
    expect_status(&r, 201);
}

#[actix_web::test]
async fn bodies_that_are_not_objects_are_422() {
    let app = app().await;
    for raw in ["[]", "[1,2]", "null", "42", "\"text\"", "true"] {
        let r = post_raw(&app, Some("application/json"), raw).await;
        assert_eq!(r.status.as_u16(), 422, "{raw}: {}", body_text(&r));
        problem(&r, 422);
    }
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    let app = app().await;
    let limit = catalog_http::MAX_BODY_BYTES;
    assert_eq!(limit, 64 * 1024);

    // A valid product padded with whitespace to exactly the limit is read.
    let compact = product("BIG-1").to_string();
    let exact = format!("{compact}{}", " ".repeat(limit - compact.len()));
    assert_eq!(exact.len(), limit);
    expect_status(&post_raw(&app, Some("application/json"), exact).await, 201);

    // One byte more is refused, valid JSON or not.
    let over = format!("{compact}{}", " ".repeat(limit + 1 - compact.len()));
    problem(&post_raw(&app, Some("application/json"), over).await, 413);
    let huge = with("description", json!("x".repeat(200_000))).to_string();
    problem(
        &post_raw(&app, Some("application/json"), huge.clone()).await,
        413,
    );
    assert_eq!(total(&app).await, 1);
    for req in [TestRequest::put(), TestRequest::patch()] {
        let r = app
            .send(with_json(
                req.uri(&format!("{LIST}/1")),
                "application/json",
                huge.clone(),
            ))
            .await;
        problem(&r, 413);
    }
    let p = app.get(&format!("{LIST}/1")).await.json();
    assert_eq!(
        p["description"], "A lamp for the desk",
        "a 413 changed nothing"
    );
}

#[actix_web::test]
async fn each_invalid_field_is_422_naming_it() {
    let app = app().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("price as a string", with("price", json!("19.99")), "price"),
        (
            "price with 3 decimals",
            with("price", json!(19.999)),
            "price",
        ),
        (
            "price over the max",
            with("price", json!(1_000_000.01)),
            "price",
        ),
        ("negative price", with("price", json!(-1)), "price"),
        ("negative cents", with("price", json!(-0.01)), "price"),
        ("null price", with("price", Value::Null), "price"),
        ("rating over 5", with("rating", json!(5.1)), "rating"),
        (
            "rating with 2 decimals",
            with("rating", json!(4.55)),
            "rating",
        ),
        ("negative rating", with("rating", json!(-0.1)), "rating"),
        ("rating as a string", with("rating", json!("4.5")), "rating"),
        (
            "negative stock",
            with("stock_quantity", json!(-1)),
            "stock_quantity",
        ),
        (
            "fractional stock",
            with("stock_quantity", json!(1.5)),
            "stock_quantity",
        ),
        (
            "stock as a string",
            with("stock_quantity", json!("3")),
            "stock_quantity",
        ),
        (
            "is_active as a string",
            with("is_active", json!("true")),
            "is_active",
        ),
        (
            "is_active as a number",
            with("is_active", json!(1)),
            "is_active",
        ),
        ("sku too short", with("sku", json!("AB")), "sku"),
        ("sku too long", with("sku", json!("A".repeat(33))), "sku"),
        ("sku underscore", with("sku", json!("AB_12")), "sku"),
        ("sku inner space", with("sku", json!("AB 12")), "sku"),
        ("sku non-ASCII", with("sku", json!("ÄBC-1")), "sku"),
        ("sku as a number", with("sku", json!(12345)), "sku"),
        ("empty name", with("name", json!("")), "name"),
        ("blank name", with("name", json!("   \t ")), "name"),
        (
            "name of 201 chars",
            with("name", json!("n".repeat(201))),
            "name",
        ),
        ("null name", with("name", Value::Null), "name"),
        (
            "description of 5001 chars",
            with("description", json!("d".repeat(5001))),
            "description",
        ),
        ("empty category", with("category", json!("")), "category"),
        (
            "category of 101 chars",
            with("category", json!("c".repeat(101))),
            "category",
        ),
        (
            "brand as an object",
            with("brand", json!({"x": 1})),
            "brand",
        ),
        (
            "brand of 101 chars",
            with("brand", json!("b".repeat(101))),
            "brand",
        ),
        ("unknown field", with("colour", json!("red")), "colour"),
        ("server-set id", with("id", json!(5)), "id"),
        (
            "server-set created_at",
            with("created_at", json!("2024-01-01T00:00:00Z")),
            "created_at",
        ),
        (
            "server-set updated_at",
            with("updated_at", json!("2024-01-01T00:00:00Z")),
            "updated_at",
        ),
    ];
    for (case, body, field) in &cases {
        let r = app.send(post(body)).await;
        assert_eq!(r.status.as_u16(), 422, "{case}: {}", body_text(&r));
        invalid(&r, &[field]);
    }
    assert_eq!(total(&app).await, 0, "no invalid product was stored");
}

/// One label rule for category and brand: a write holding a control
/// character, even a line break or a tab, is refused naming the field.
#[actix_web::test]
async fn labels_with_control_characters_are_422() {
    let app = app().await;
    for field in ["category", "brand"] {
        for value in ["Home\nGarden", "Home\tGarden", "Home\u{7}"] {
            let r = app.send(post(&with(field, json!(value)))).await;
            invalid(&r, &[field]);
            let body = r.json();
            assert_eq!(
                body["errors"][0]["message"], "must not contain control characters",
                "{field}={value:?}: {body}"
            );
        }
    }
    // Surrounding white space is trimmed, as for every text field.
    let p = create(&app, &with("category", json!("  Garden\t "))).await;
    assert_eq!(p["category"], "Garden");
    assert_eq!(total(&app).await, 1, "only the trimmed label was stored");
}

#[actix_web::test]
async fn boundary_values_are_accepted() {
    let app = app().await;
    let cases: Vec<(&str, Value)> = vec![
        ("price 0", with("price", json!(0))),
        ("price 1000000", with("price", json!(1_000_000))),
        ("price 1000000.00", with("price", json!(1_000_000.0))),
        ("price 0.01", with("price", json!(0.01))),
        ("rating 0", with("rating", json!(0))),
        ("rating 5", with("rating", json!(5))),
        ("rating 4.5", with("rating", json!(4.5))),
        ("stock 0", with("stock_quantity", json!(0))),
        ("sku of 3", with("sku", json!("abc"))),
        ("sku of 32", with("sku", json!("A".repeat(32)))),
        ("name of 200", with("name", json!("n".repeat(200)))),
        (
            "name of 200 non-ASCII",
            with("name", json!("é".repeat(200))),
        ),
        (
            "description of 5000",
            with("description", json!("d".repeat(5000))),
        ),
        ("empty description", with("description", json!(""))),
        ("category of 100", with("category", json!("c".repeat(100)))),
    ];
    for (i, (case, mut body)) in cases.into_iter().enumerate() {
        if case.starts_with("sku") {
            // These set their own sku; keep every other one unique.
        } else {
            body["sku"] = json!(format!("BND-{i}"));
        }
        let r = app.send(post(&body)).await;
        assert_eq!(r.status.as_u16(), 201, "{case}: {}", body_text(&r));
        let p = r.json();
        for key in ["price", "rating", "stock_quantity"] {
            assert_eq!(
                p[key].as_f64(),
                body[key].as_f64(),
                "{case}: {key} stored as sent"
            );
        }
        assert_eq!(p["description"], body["description"], "{case}");
    }
    let p = app.get(&format!("{LIST}/2")).await.json();
    assert_eq!(p["price"], 1_000_000.0);
}

#[actix_web::test]
async fn every_offending_field_is_named_at_once() {
    let app = app().await;
    let body = json!({
        "sku": "x", "name": "", "category": 5, "brand": "b", "price": "19.99",
        "stock_quantity": -1, "rating": 5.5, "is_active": "yes",
        "id": 3, "created_at": "now", "colour": "red"
    });
    invalid(
        &app.send(post(&body)).await,
        &[
            "sku",
            "name",
            "category",
            "price",
            "stock_quantity",
            "rating",
            "is_active",
            "id",
            "created_at",
            "colour",
        ],
    );
    invalid(
        &app.send(post(&json!({}))).await,
        &["sku", "name", "category", "brand", "price"],
    );
}

// ---------------------------------------------------------------- 409

#[actix_web::test]
async fn duplicate_sku_is_409_and_a_deleted_sku_is_free_again() {
    let app = app().await;
    let first = create(&app, &product("ABC-1")).await;
    for sku in ["ABC-1", "abc-1", " Abc-1 "] {
        let r = app.send(post(&product(sku))).await;
        let body = problem(&r, 409);
        assert!(
            body["type"].as_str().unwrap().contains("duplicate"),
            "{body}"
        );
    }
    assert_eq!(total(&app).await, 1);

    expect_status(&app.send(delete(id_of(&first))).await, 204);
    let again = create(&app, &product("abc-1")).await;
    assert_eq!(again["sku"], "ABC-1");
    assert!(
        id_of(&again) > id_of(&first),
        "ids are never reused: {} after {}",
        id_of(&again),
        id_of(&first)
    );
    expect_status(&app.get(&format!("{LIST}/{}", id_of(&first))).await, 404);
}

// ---------------------------------------------------------------- PUT

#[actix_web::test]
async fn put_replaces_every_field_and_resets_omitted_ones() {
    let app = app().await;
    let mut full = product("PUT-1");
    full["is_active"] = json!(false);
    let before = create(&app, &full).await;
    let id = id_of(&before);
    tokio::time::sleep(Duration::from_millis(2)).await;

    let r = app
        .send(put(
            id,
            &json!({"sku": "put-2", "name": "Floor Lamp", "category": "Living", "brand": "Zenith", "price": 49.5}),
        ))
        .await;
    expect_status(&r, 200);
    let after = r.json();
    assert_eq!(id_of(&after), id);
    assert_eq!(after["sku"], "PUT-2");
    assert_eq!(after["name"], "Floor Lamp");
    assert_eq!(after["category"], "Living");
    assert_eq!(after["brand"], "Zenith");
    assert_eq!(after["price"], 49.5);
    assert_eq!(after["description"], "", "omitted optional fields reset");
    assert_eq!(after["stock_quantity"], 0);
    assert_eq!(after["rating"], 0.0);
    assert_eq!(after["is_active"], true);
    assert_eq!(ts(&after, "created_at"), ts(&before, "created_at"));
    assert!(ts(&after, "updated_at") > ts(&before, "updated_at"));
    let tag = etag(&r);

    let got = app.get(&format!("{LIST}/{id}")).await;
    assert_eq!(got.json(), after);
    assert_eq!(etag(&got), tag);

    // Its own sku, in any case, is not a conflict.
    expect_status(&app.send(put(id, &product("put-2"))).await, 200);
}

#[actix_web::test]
async fn put_errors() {
    let app = app().await;
    let a = create(&app, &product("PUT-A")).await;
    let b = create(&app, &product("PUT-B")).await;

    problem(&app.send(put(999_999, &product("PUT-Z"))).await, 404);
    problem(&app.send(put(id_of(&b), &product("put-a"))).await, 409);
    invalid(
        &app.send(put(id_of(&b), &with("price", json!(-5)))).await,
        &["price"],
    );
    invalid(
        &app.send(put(id_of(&b), &with("id", json!(id_of(&b)))))
            .await,
        &["id"],
    );
    // A partial body is not a replacement.
    invalid(
        &app.send(put(id_of(&b), &json!({"name": "only a name"})))
            .await,
        &["sku", "category", "brand", "price"],
    );
    for bad in ["abc", "0", "-1", "1.5"] {
        let r = app
            .send(with_json(
                TestRequest::put().uri(&format!("{LIST}/{bad}")),
                "application/json",
                product("PUT-Z").to_string(),
            ))
            .await;
        invalid(&r, &["id"]);
    }
    let r = app
        .send(with_json(
            TestRequest::put().uri(&format!("{LIST}/{}", id_of(&b))),
            "text/plain",
            product("PUT-B").to_string(),
        ))
        .await;
    problem(&r, 415);
    let r = app
        .send(with_json(
            TestRequest::put().uri(&format!("{LIST}/{}", id_of(&b))),
            "application/json",
            "{not json",
        ))
        .await;
    problem(&r, 400);

    // Nothing above changed either product.
    assert_eq!(app.get(&format!("{LIST}/{}", id_of(&a))).await.json(), a);
    assert_eq!(app.get(&format!("{LIST}/{}", id_of(&b))).await.json(), b);
}

// ---------------------------------------------------------------- PATCH

#[actix_web::test]
async fn patch_accepts_merge_patch_and_plain_json() {
    let app = app().await;
    let p = create(&app, &product("PAT-1")).await;
    let id = id_of(&p);
    let uri = format!("{LIST}/{id}");

    let r = app.send(patch(id, &json!({"stock_quantity": 9}))).await;
    expect_status(&r, 200);
    let after = r.json();
    assert_eq!(after["stock_quantity"], 9);
    for key in ["sku", "name", "description", "price", "rating", "is_active"] {
        assert_eq!(after[key], p[key], "{key} untouched by the patch");
    }

    for ct in [
        "application/json",
        "application/merge-patch+json; charset=utf-8",
        "Application/JSON",
    ] {
        let r = app
            .send(with_json(
                TestRequest::patch().uri(&uri),
                ct,
                json!({"name": format!("Lamp via {ct}")}).to_string(),
            ))
            .await;
        expect_status(&r, 200);
        assert_eq!(r.json()["name"], format!("Lamp via {ct}"));
    }
    for ct in [Some("text/plain"), Some("application/xml"), None] {
        let mut req = TestRequest::patch()
            .uri(&uri)
            .insert_header(("authorization", format!("Bearer {}", token())))
            .set_payload(r#"{"name":"x"}"#);
        if let Some(ct) = ct {
            req = req.insert_header(("content-type", ct));
        }
        problem(&app.send(req).await, 415);
    }
    let r = app.send(patch(id, &json!({"sku": "pat-9"}))).await;
    expect_status(&r, 200);
    assert_eq!(r.json()["sku"], "PAT-9");
}

#[actix_web::test]
async fn patch_nulls_and_errors() {
    let app = app().await;
    let p = create(&app, &product("NUL-1")).await;
    let other = create(&app, &product("NUL-2")).await;
    let id = id_of(&p);

    for field in [
        "sku",
        "name",
        "category",
        "brand",
        "price",
        "stock_quantity",
        "rating",
        "is_active",
    ] {
        let r = app.send(patch(id, &json!({ field: null }))).await;
        assert_eq!(r.status.as_u16(), 422, "{field}: null: {}", body_text(&r));
        invalid(&r, &[field]);
    }
    let got = app.get(&format!("{LIST}/{id}")).await.json();
    assert_eq!(got, p, "a refused null stored nothing");

    let r = app.send(patch(id, &json!({"description": null}))).await;
    expect_status(&r, 200);
    assert_eq!(r.json()["description"], "");
    assert_eq!(
        app.get(&format!("{LIST}/{id}")).await.json()["description"],
        ""
    );

    problem(&app.send(patch(999_999, &json!({"name": "x"}))).await, 404);
    problem(&app.send(patch(id, &json!({"sku": "nul-2"}))).await, 409);
    invalid(
        &app.send(patch(id, &json!({"price": 1.234, "colour": "red"})))
            .await,
        &["price", "colour"],
    );
    invalid(
        &app.send(patch(id, &json!({"updated_at": "2020-01-01T00:00:00Z"})))
            .await,
        &["updated_at"],
    );
    problem(&app.send(patch(id, &json!([{"op": "add"}]))).await, 422);
    let r = app
        .send(with_json(
            TestRequest::patch().uri(&format!("{LIST}/abc")),
            MERGE_PATCH,
            r#"{"name":"x"}"#,
        ))
        .await;
    invalid(&r, &["id"]);
    let r = app
        .send(with_json(
            TestRequest::patch().uri(&format!("{LIST}/{id}")),
            MERGE_PATCH,
            "",
        ))
        .await;
    problem(&r, 400);
    assert_eq!(
        app.get(&format!("{LIST}/{}", id_of(&other))).await.json(),
        other
    );
}

#[actix_web::test]
async fn updated_at_moves_on_every_change_created_at_never() {
    let app = app().await;
    let p = create(&app, &product("TIME-1")).await;
    let id = id_of(&p);
    let created = ts(&p, "created_at");
    let mut last = ts(&p, "updated_at");
    let changes = [
        patch(id, &json!({"name": "one"})),
        put(id, &product("TIME-1")),
        patch(id, &json!({"price": 5})),
        with_json(
            TestRequest::patch().uri(&format!("{LIST}/{id}")),
            "application/json",
            r#"{"rating": 1.5}"#,
        ),
    ];
    for req in changes {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let r = app.send(req).await;
        expect_status(&r, 200);
        let now = r.json();
        assert_eq!(ts(&now, "created_at"), created, "created_at never changes");
        let updated = ts(&now, "updated_at");
        assert!(updated > last, "updated_at {updated} after {last}");
        last = updated;
    }
}

// ---------------------------------------------------------------- If-Match

fn if_match(req: TestRequest, tag: &str) -> TestRequest {
    req.insert_header(("if-match", tag.to_string()))
}

#[actix_web::test]
async fn if_match_guards_put_patch_and_delete() {
    let app = app().await;
    let r = app.send(post(&product("IFM-1"))).await;
    expect_status(&r, 201);
    let id = id_of(&r.json());
    let v1 = etag(&r);

    // PUT with the current tag succeeds and yields a new tag.
    let r = app.send(if_match(put(id, &product("IFM-1")), &v1)).await;
    expect_status(&r, 200);
    let v2 = etag(&r);
    assert_ne!(v2, v1);
    assert_eq!(etag(&app.get(&format!("{LIST}/{id}")).await), v2);

    // The old tag is stale for every method.
    problem(
        &app.send(if_match(put(id, &product("IFM-1")), &v1)).await,
        412,
    );
    problem(
        &app.send(if_match(patch(id, &json!({"name": "x"})), &v1))
            .await,
        412,
    );
    problem(&app.send(if_match(delete(id), &v1)).await, 412);

    // A weak tag never matches (strong comparison), even the current one.
    let weak = format!("W/{v2}");
    problem(
        &app.send(if_match(patch(id, &json!({"name": "x"})), &weak))
            .await,
        412,
    );
    problem(&app.send(if_match(delete(id), &weak)).await, 412);
    // A made-up tag does not match either.
    problem(
        &app.send(if_match(patch(id, &json!({"name": "x"})), "\"nope\""))
            .await,
        412,
    );
    let unchanged = app.get(&format!("{LIST}/{id}")).await;
    assert_eq!(etag(&unchanged), v2, "a 412 changed nothing");
    assert_eq!(unchanged.json()["name"], "Desk Lamp");

    // PATCH with the current tag, also within a list of tags.
    let r = app
        .send(if_match(
            patch(id, &json!({"name": "patched"})),
            &format!("\"other\", {v2}"),
        ))
        .await;
    expect_status(&r, 200);
    let v3 = etag(&r);
    assert_ne!(v3, v2);

    // `*` matches any current version.
    let r = app
        .send(if_match(patch(id, &json!({"name": "starred"})), "*"))
        .await;
    expect_status(&r, 200);
    let v4 = etag(&r);
    assert_ne!(v4, v3);
    let r = app.send(if_match(put(id, &product("IFM-1")), "*")).await;
    expect_status(&r, 200);
    let v5 = etag(&r);

    // DELETE with the current tag.
    problem(&app.send(if_match(delete(id), &v4)).await, 412);
    expect_status(&app.send(if_match(delete(id), &v5)).await, 204);
    expect_status(&app.get(&format!("{LIST}/{id}")).await, 404);

    let r = app.send(post(&product("IFM-2"))).await;
    let id2 = id_of(&r.json());
    expect_status(&app.send(if_match(delete(id2), "*")).await, 204);
}

#[actix_web::test]
async fn malformed_if_match_is_a_422_naming_it() {
    let app = app().await;
    let r = app.send(post(&product("IFM-3"))).await;
    expect_status(&r, 201);
    let id = id_of(&r.json());
    let current = etag(&r);
    // Not entity-tag syntax: refused before anything happens, never a 412
    // and never an unconditional write.
    for bad in [
        "",
        "null",
        "0",
        "mW",
        "\"open",
        "x\"",
        "W/x",
        "\"a\" \"b\"",
        "*, \"a\"",
    ] {
        for req in [
            if_match(patch(id, &json!({"name": "x"})), bad),
            if_match(put(id, &product("IFM-3")), bad),
            if_match(delete(id), bad),
        ] {
            invalid(&app.send(req).await, &["If-Match"]);
        }
    }
    // Entity-tag syntax that names no version is a 412, with a coding
    // suffix the current tag still matches.
    problem(&app.send(if_match(delete(id), "\"1-999\"")).await, 412);
    let gz = format!("{}-gzip\"", current.trim_end_matches('"'));
    let r = app
        .send(if_match(patch(id, &json!({"name": "y"})), &gz))
        .await;
    expect_status(&r, 200);
}

// ---------------------------------------------------------------- DELETE

#[actix_web::test]
async fn delete_is_204_then_404() {
    let app = app().await;
    let keep = create(&app, &product("DEL-0")).await;
    let p = create(&app, &product("DEL-1")).await;
    let uri = format!("{LIST}/{}", id_of(&p));

    let r = app.send(delete(id_of(&p))).await;
    expect_status(&r, 204);
    assert!(r.body.is_empty(), "204 has no body");
    problem(&app.get(&uri).await, 404);
    problem(&app.send(delete(id_of(&p))).await, 404);
    problem(&app.send(delete(999_999)).await, 404);
    problem(
        &app.send(patch(id_of(&p), &json!({"name": "x"}))).await,
        404,
    );
    problem(&app.send(put(id_of(&p), &product("DEL-1"))).await, 404);
    let r = app
        .send(
            TestRequest::delete()
                .uri(&format!("{LIST}/abc"))
                .insert_header(("authorization", format!("Bearer {}", token()))),
        )
        .await;
    invalid(&r, &["id"]);
    assert_eq!(total(&app).await, 1);
    assert_eq!(
        app.get(&format!("{LIST}/{}", id_of(&keep))).await.json(),
        keep
    );
}

// ---------------------------------------------------------------- Idempotency-Key

fn keyed(body: &Value, key: &str, sub: &str) -> TestRequest {
    TestRequest::post()
        .uri(LIST)
        .insert_header(("authorization", format!("Bearer {}", token_for(sub))))
        .insert_header(("content-type", "application/json"))
        .insert_header(("idempotency-key", key.to_string()))
        .set_payload(body.to_string())
}

#[actix_web::test]
async fn idempotency_key_replays_the_first_response() {
    let app = app().await;
    let body = product("IDEM-1");
    let first = app.send(keyed(&body, "key-1", "alice")).await;
    expect_status(&first, 201);
    let p = first.json();

    let again = app.send(keyed(&body, "key-1", "alice")).await;
    expect_status(&again, 201);
    assert_eq!(again.json(), p, "the replay is the original product");
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(total(&app).await, 1, "only one product exists");

    // The same JSON value with other whitespace and key order is the same
    // request.
    let reordered = r#"{ "price": 19.99, "sku": "IDEM-1",
        "name": "Desk Lamp", "is_active": true, "rating": 4.5, "stock_quantity": 5,
        "brand": "Acme", "category": "Home", "description": "A lamp for the desk" }"#;
    let r = app
        .send(
            TestRequest::post()
                .uri(LIST)
                .insert_header(("authorization", format!("Bearer {}", token_for("alice"))))
                .insert_header(("content-type", "application/json"))
                .insert_header(("idempotency-key", "key-1"))
                .set_payload(reordered),
        )
        .await;
    expect_status(&r, 201);
    assert_eq!(id_of(&r.json()), id_of(&p));
    assert_eq!(total(&app).await, 1);
}

#[actix_web::test]
async fn idempotency_key_with_another_body_is_422() {
    let app = app().await;
    expect_status(
        &app.send(keyed(&product("IDEM-2"), "key-2", "alice")).await,
        201,
    );
    let r = app.send(keyed(&product("IDEM-3"), "key-2", "alice")).await;
    invalid(&r, &["Idempotency-Key"]);
    assert_eq!(total(&app).await, 1);

    for bad in ["", &"k".repeat(256)] {
        let r = app.send(keyed(&product("IDEM-4"), bad, "alice")).await;
        invalid(&r, &["Idempotency-Key"]);
    }
    assert_eq!(total(&app).await, 1);
}

#[actix_web::test]
async fn idempotency_keys_are_scoped_to_the_subject() {
    let app = app().await;
    let a = app.send(keyed(&product("SUB-A"), "shared", "alice")).await;
    expect_status(&a, 201);
    // Bob's key of the same name is his own: a different body is no reuse.
    let b = app.send(keyed(&product("SUB-B"), "shared", "bob")).await;
    expect_status(&b, 201);
    assert_ne!(id_of(&a.json()), id_of(&b.json()));
    // And Alice's body under Bob's key is not Alice's replay: it is a new
    // create, refused only because the sku is taken.
    problem(
        &app.send(keyed(&product("SUB-A"), "shared-2", "bob")).await,
        409,
    );
    assert_eq!(total(&app).await, 2);
}

/// The replay claims to be "the original response"; the original carried
/// the product's ETag.
#[actix_web::test]
async fn idempotent_replay_carries_the_etag() {
    let app = app().await;
    let body = product("IDEM-E");
    let first = app.send(keyed(&body, "key-e", "alice")).await;
    expect_status(&first, 201);
    let again = app.send(keyed(&body, "key-e", "alice")).await;
    expect_status(&again, 201);
    assert_eq!(again.header("etag"), first.header("etag"));
}

// ---------------------------------------------------------------- 405

#[actix_web::test]
async fn wrong_methods_are_405_with_allow() {
    let app = app().await;
    let allow = |r: &Resp| -> BTreeSet<String> {
        r.header("allow")
            .unwrap_or_else(|| panic!("no Allow on {}", r.status))
            .split(',')
            .map(|m| m.trim().to_string())
            .collect()
    };
    for req in [
        TestRequest::delete().uri(LIST),
        TestRequest::put().uri(LIST),
        TestRequest::patch().uri(LIST),
    ] {
        let r = app.send(req).await;
        problem(&r, 405);
        let a = allow(&r);
        assert!(a.contains("GET") && a.contains("POST"), "{a:?}");
    }
    let r = app
        .send(with_json(
            TestRequest::post().uri(&format!("{LIST}/1")),
            "application/json",
            product("M-1").to_string(),
        ))
        .await;
    problem(&r, 405);
    let a = allow(&r);
    for m in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(a.contains(m), "{m} missing from {a:?}");
    }
    for path in ["stats", "categories", "brands"] {
        let r = app
            .send(with_json(
                TestRequest::post().uri(&format!("{LIST}/{path}")),
                "application/json",
                "{}",
            ))
            .await;
        problem(&r, 405);
        assert!(allow(&r).contains("GET"));
    }
}

// ---------------------------------------------------------------- freshness

/// Reads `uri` until the cache serves it (at most a few tries).
async fn warm(app: &TestApp, uri: &str) -> Value {
    for _ in 0..5 {
        let r = app.get(uri).await;
        expect_status(&r, 200);
        if r.header("x-cache") == Some("HIT") {
            return r.json();
        }
    }
    panic!("{uri} never came from the cache");
}

const WARMED: [&str; 6] = [
    LIST,
    "/api/v1/products?limit=100&sort=-id",
    "/api/v1/products/stats",
    "/api/v1/products/categories",
    "/api/v1/products/brands",
    "/api/v1/products/7",
];

async fn warm_all(app: &TestApp) {
    for uri in WARMED {
        warm(app, uri).await;
    }
}

fn names(v: &Value) -> Vec<(String, u64)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["product_count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn count_of(v: &Value, name: &str) -> Option<u64> {
    names(v)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c)
}

#[actix_web::test]
async fn writes_are_visible_to_the_next_cached_read() {
    let app = cached_app().await;
    let products = dataset().len() as u64;
    warm_all(&app).await;
    let stats0 = warm(&app, "/api/v1/products/stats").await;
    assert_eq!(stats0["total_products"], products);

    // POST: a new category and brand, counted everywhere at once.
    let mut body = product("FRESH-1");
    body["category"] = json!("Aquatics");
    body["brand"] = json!("Neptune");
    let created = create(&app, &body).await;
    let id = id_of(&created);
    let list = app.get(LIST).await.json();
    assert_eq!(list["total"], products + 1);
    let newest = app.get("/api/v1/products?limit=100&sort=-id").await.json();
    assert_eq!(newest["items"][0]["id"], id, "new product listed first");
    let stats = app.get("/api/v1/products/stats").await.json();
    assert_eq!(stats["total_products"], products + 1);
    assert_eq!(
        stats["categories"],
        stats0["categories"].as_u64().unwrap() + 1
    );
    assert_eq!(stats["brands"], stats0["brands"].as_u64().unwrap() + 1);
    let cats = app.get("/api/v1/products/categories").await.json();
    assert_eq!(count_of(&cats, "Aquatics"), Some(1));
    let brands = app.get("/api/v1/products/brands").await.json();
    assert_eq!(count_of(&brands, "Neptune"), Some(1));
    let detail = app.get(&format!("{LIST}/{id}")).await.json();
    assert_eq!(detail, created);

    // PATCH: product 7 moves to a new category; detail, facets and lists
    // follow.
    warm_all(&app).await;
    let old = warm(&app, "/api/v1/products/7").await;
    let old_category = old["category"].as_str().unwrap().to_string();
    let cats0 = warm(&app, "/api/v1/products/categories").await;
    let r = app.send(patch(7, &json!({"category": "Zoology"}))).await;
    expect_status(&r, 200);
    let detail = app.get("/api/v1/products/7").await;
    assert_eq!(detail.json()["category"], "Zoology");
    assert_eq!(detail.header("x-cache"), Some("MISS"));
    let cats = app.get("/api/v1/products/categories").await.json();
    assert_eq!(count_of(&cats, "Zoology"), Some(1));
    assert_eq!(
        count_of(&cats, &old_category),
        count_of(&cats0, &old_category).map(|c| c - 1)
    );
    let filtered = app
        .get(&format!("{LIST}?{}", common::q("category", "Zoology")))
        .await
        .json();
    assert_eq!(common::item_ids(&filtered), vec![7]);
    let page = app.get(LIST).await.json();
    let seven = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 7)
        .unwrap();
    assert_eq!(seven["category"], "Zoology", "the first list page is fresh");

    // DELETE: gone from detail and lists, counts drop.
    warm_all(&app).await;
    warm(&app, &format!("{LIST}/{id}")).await;
    expect_status(&app.send(delete(id)).await, 204);
    problem(&app.get(&format!("{LIST}/{id}")).await, 404);
    let newest = app.get("/api/v1/products?limit=100&sort=-id").await.json();
    assert!(!common::item_ids(&newest).contains(&id));
    assert_eq!(app.get(LIST).await.json()["total"], products);
    let stats = app.get("/api/v1/products/stats").await.json();
    assert_eq!(stats["total_products"], products);
    let cats = app.get("/api/v1/products/categories").await.json();
    assert_eq!(count_of(&cats, "Aquatics"), None);
    let brands = app.get("/api/v1/products/brands").await.json();
    assert_eq!(count_of(&brands, "Neptune"), None);

    // PUT: the replaced product's detail and the brand facet follow.
    warm_all(&app).await;
    let mut replacement = product("REPLACED-7");
    replacement["brand"] = json!("Orion");
    replacement["category"] = json!("Zoology");
    expect_status(&app.send(put(7, &replacement)).await, 200);
    let detail = app.get("/api/v1/products/7").await.json();
    assert_eq!(detail["sku"], "REPLACED-7");
    let brands = app.get("/api/v1/products/brands").await.json();
    assert_eq!(count_of(&brands, "Orion"), Some(1));
}

#[actix_web::test]
async fn refused_writes_leave_the_cache_serving() {
    let app = cached_app().await;
    warm_all(&app).await;
    problem(&app.send(patch(7, &json!({"price": "free"}))).await, 422);
    problem(&app.send(post(&product("SKU-0001"))).await, 409);
    // Still served from the cache, and unchanged.
    for uri in WARMED {
        let r = app.get(uri).await;
        expect_status(&r, 200);
        assert_eq!(r.header("x-cache"), Some("HIT"), "{uri}");
    }
}
