//! Black-box tests of the read API through `build_app` on the in-memory
//! storage adapter: statuses, headers and JSON shapes as API.md states them.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use common::{
    BRANDS, CATEGORIES, PRODUCTS, Resp, Spec, TestApp, app, app_with, assert_problem, both_apps,
    dataset, ids_where, item_ids, q, search_ids,
};
use serde_json::{Value, json};

const LIST: &str = "/api/v1/products";

const PRODUCT_FIELDS: [&str; 12] = [
    "id",
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price",
    "stock_quantity",
    "rating",
    "is_active",
    "created_at",
    "updated_at",
];

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

/// A 200 JSON list body with exactly the contract's keys.
fn list_ok(r: &Resp) -> Value {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.content_type().starts_with("application/json"));
    let body = r.json();
    assert_eq!(
        sorted_keys(&body),
        sorted(&["items", "total", "limit", "offset", "next_cursor"])
    );
    body
}

/// Checks one product body against its fixture entry.
fn assert_product(p: &Value, s: &Spec) {
    assert_eq!(sorted_keys(p), sorted(&PRODUCT_FIELDS), "{p}");
    assert_eq!(p["id"], s.id);
    assert_eq!(p["sku"], s.sku.as_str());
    assert_eq!(p["name"], s.name.as_str());
    assert_eq!(p["description"], s.description.as_str());
    assert_eq!(p["category"], s.category);
    assert_eq!(p["brand"], s.brand);
    assert_eq!(p["price"].as_f64(), Some(s.price()), "{p}");
    assert_eq!(p["stock_quantity"], s.stock);
    assert_eq!(p["rating"].as_f64(), Some(s.rating()), "{p}");
    assert_eq!(p["is_active"], s.is_active);
    for ts in ["created_at", "updated_at"] {
        let raw = p[ts].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(raw)
            .unwrap_or_else(|e| panic!("{ts} {raw:?} is not RFC 3339: {e}"));
        assert_eq!(
            parsed.offset().local_minus_utc(),
            0,
            "{ts} {raw} is not UTC"
        );
    }
}

/// Follows `next_cursor` (sent alone) from the first page to the end.
/// Returns every id visited and the number of pages.
async fn walk(app: &TestApp, first: &str) -> (Vec<i64>, usize) {
    let mut body = list_ok(&app.get(first).await);
    let mut ids = item_ids(&body);
    let mut pages = 1;
    while let Some(cursor) = body["next_cursor"].as_str() {
        assert!(pages < 200, "cursor walk does not end");
        let r = app.get(&format!("{LIST}?{}", q("cursor", cursor))).await;
        body = list_ok(&r);
        let page = item_ids(&body);
        assert!(
            !page.is_empty(),
            "a page with a next_cursor before it is empty"
        );
        ids.extend(page);
        pages += 1;
    }
    (ids, pages)
}

fn assert_no_duplicates(ids: &[i64]) {
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in {ids:?}");
}

// ---------------------------------------------------------------- list

#[actix_web::test]
async fn list_defaults() {
    for app in &both_apps().await {
        let r = app.get(LIST).await;
        let body = list_ok(&r);
        assert_eq!(body["total"], PRODUCTS);
        assert_eq!(body["limit"], 20);
        assert_eq!(body["offset"], 0);
        assert!(body["next_cursor"].as_str().is_some_and(|c| !c.is_empty()));
        assert_eq!(item_ids(&body), (1..=20).collect::<Vec<_>>());
        let data = dataset();
        for (p, s) in body["items"].as_array().unwrap().iter().zip(&data) {
            assert_product(p, s);
        }
    }
}

#[actix_web::test]
async fn list_every_product_matches_the_fixture() {
    let app = app().await;
    let body = list_ok(&app.get(&format!("{LIST}?limit=100")).await);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), PRODUCTS as usize);
    for (p, s) in items.iter().zip(dataset()) {
        assert_product(p, &s);
    }
    assert_eq!(body["limit"], 100);
    assert_eq!(body["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn list_limit_and_offset() {
    for app in &both_apps().await {
        let body = list_ok(&app.get(&format!("{LIST}?limit=5&offset=10")).await);
        assert_eq!(item_ids(&body), vec![11, 12, 13, 14, 15]);
        assert_eq!(body["limit"], 5);
        assert_eq!(body["offset"], 10);
        assert_eq!(body["total"], PRODUCTS);
        assert!(body["next_cursor"].is_string());

        // Last full page: nothing follows.
        let body = list_ok(&app.get(&format!("{LIST}?offset=40")).await);
        assert_eq!(item_ids(&body), (41..=60).collect::<Vec<_>>());
        assert_eq!(body["next_cursor"], Value::Null);

        // Partial last page.
        let body = list_ok(&app.get(&format!("{LIST}?offset=50")).await);
        assert_eq!(item_ids(&body), (51..=60).collect::<Vec<_>>());
        assert_eq!(body["next_cursor"], Value::Null);

        // One row short of the end: one more row follows.
        let body = list_ok(&app.get(&format!("{LIST}?offset=39")).await);
        assert_eq!(item_ids(&body), (40..=59).collect::<Vec<_>>());
        assert!(body["next_cursor"].is_string());

        // Past the end.
        let body = list_ok(&app.get(&format!("{LIST}?offset=100")).await);
        assert_eq!(item_ids(&body), Vec::<i64>::new());
        assert_eq!(body["total"], PRODUCTS);
        assert_eq!(body["next_cursor"], Value::Null);

        // Bounds are inclusive.
        assert_eq!(app.get(&format!("{LIST}?limit=1")).await.ids(), vec![1]);
        assert_eq!(
            app.get(&format!("{LIST}?limit=100")).await.ids().len(),
            PRODUCTS as usize
        );
    }
}

#[actix_web::test]
async fn list_filters() {
    for app in &both_apps().await {
        type Keep = Box<dyn Fn(&Spec) -> bool>;
        let cases: Vec<(String, Keep)> = vec![
        ("category=Books".into(), Box::new(|s| s.category == "Books")),
        (
            "category=Books&category=home".into(),
            Box::new(|s| s.category == "Books" || s.category == "home"),
        ),
        // Exact, case-sensitive, no wildcards.
        ("category=books".into(), Box::new(|_| false)),
        ("category=Boo%25".into(), Box::new(|_| false)),
        ("brand=Acme".into(), Box::new(|s| s.brand == "Acme")),
        (
            "brand=Acme&brand=bolt".into(),
            Box::new(|s| s.brand == "Acme" || s.brand == "bolt"),
        ),
        (
            "min_price=19.99".into(),
            Box::new(|s| s.price_cents >= 1999),
        ),
        ("max_price=25".into(), Box::new(|s| s.price_cents <= 2500)),
        (
            "min_price=19.99&max_price=99.99".into(),
            Box::new(|s| (1999..=9999).contains(&s.price_cents)),
        ),
        (
            "min_price=25.00&max_price=25".into(),
            Box::new(|s| s.price_cents == 2500),
        ),
        (
            "min_rating=4.5".into(),
            Box::new(|s| s.rating_tenths >= 45),
        ),
        // Finer than tenths rounds up: 3.95 keeps 4.0 and drops 3.9.
        (
            "min_rating=3.95".into(),
            Box::new(|s| s.rating_tenths >= 40),
        ),
        ("min_rating=0".into(), Box::new(|_| true)),
        ("min_rating=5".into(), Box::new(|s| s.rating_tenths == 50)),
        ("in_stock=true".into(), Box::new(|s| s.stock > 0)),
        ("in_stock=false".into(), Box::new(|s| s.stock == 0)),
        ("is_active=true".into(), Box::new(|s| s.is_active)),
        ("is_active=false".into(), Box::new(|s| !s.is_active)),
        (
            "category=Electronics&category=Garden&brand=Acme&in_stock=true&is_active=true&min_price=5&min_rating=1.5".into(),
            Box::new(|s| {
                (s.category == "Electronics" || s.category == "Garden")
                    && s.brand == "Acme"
                    && s.stock > 0
                    && s.is_active
                    && s.price_cents >= 500
                    && s.rating_tenths >= 15
            }),
        ),
        // Parameters the contract does not name are ignored.
        ("utm_source=mail&_=123".into(), Box::new(|_| true)),
    ];
        let meant_empty = ["category=books", "category=Boo%25"];
        for (query, keep) in cases {
            let want = ids_where(keep);
            // The fixture must make every filter select something, or the case
            // proves nothing.
            assert_eq!(
                want.is_empty(),
                meant_empty.contains(&query.as_str()),
                "{query}"
            );
            let body = list_ok(&app.get(&format!("{LIST}?limit=100&{query}")).await);
            assert_eq!(item_ids(&body), want, "{query}");
            assert_eq!(body["total"], want.len(), "{query}");
            assert_eq!(body["next_cursor"], Value::Null, "{query}");
        }
        // Sanity: the fixture makes those filters meaningful.
        assert!(ids_where(|s| s.stock == 0).len() >= 5);
        assert!(ids_where(|s| !s.is_active).len() >= 5);
    }
}

#[actix_web::test]
async fn list_search() {
    for app in &both_apps().await {
        for search in [
            "wireless headphones",
            "Wireless",
            "HEADPHONES",
            "headphones wireless",
            "  wireless   headphones  ",
            "sku-0007",
            "SKU-0007",
            "charging",
            "nothing-like-this",
        ] {
            let want = search_ids(search);
            let body = list_ok(&app.get(&format!("{LIST}?{}", q("search", search))).await);
            assert_eq!(item_ids(&body), want, "search={search:?}");
            assert_eq!(body["total"], want.len(), "search={search:?}");
        }
        // Relevance first: every word in the name beats a description match.
        assert_eq!(search_ids("wireless headphones"), vec![3, 17, 50]);
        assert_eq!(search_ids("headphones"), vec![3, 17, 41, 50]);
        assert_eq!(search_ids("sku-0007"), vec![7]);
        // Adding a word never adds results.
        let one = app
            .get(&format!("{LIST}?{}", q("search", "wireless")))
            .await
            .ids();
        let two = app
            .get(&format!("{LIST}?{}", q("search", "wireless mouse")))
            .await
            .ids();
        assert!(two.iter().all(|id| one.contains(id)));
        assert_eq!(two, vec![29]);
        // With a sort, the sort wins over relevance.
        let body = list_ok(
            &app.get(&format!("{LIST}?{}&sort=-id", q("search", "headphones")))
                .await,
        );
        assert_eq!(item_ids(&body), vec![50, 41, 17, 3]);
    }
}

/// The fixture sorted by `key`, ties by id.
fn sorted_ids<K: Ord>(key: impl Fn(&Spec) -> K) -> Vec<i64> {
    let mut data = dataset();
    data.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
    data.into_iter().map(|s| s.id).collect()
}

#[actix_web::test]
async fn list_sort() {
    use std::cmp::Reverse;
    for app in &both_apps().await {
        let cases: Vec<(&str, Vec<i64>)> = vec![
            (
                "-price,name",
                sorted_ids(|s| (Reverse(s.price_cents), s.name.clone())),
            ),
            ("price", sorted_ids(|s| s.price_cents)),
            ("category", sorted_ids(|s| s.category)),
            ("-category", sorted_ids(|s| Reverse(s.category))),
            (
                "brand,-rating",
                sorted_ids(|s| (s.brand, Reverse(s.rating_tenths))),
            ),
            ("-stock_quantity", sorted_ids(|s| Reverse(s.stock))),
            ("name", sorted_ids(|s| s.name.clone())),
            ("-sku", sorted_ids(|s| Reverse(s.sku.clone()))),
            ("-id", (1..=PRODUCTS).rev().collect()),
            ("id", (1..=PRODUCTS).collect()),
            ("+price", sorted_ids(|s| s.price_cents)),
            ("created_at", (1..=PRODUCTS).collect()),
        ];
        for (sort, want) in cases {
            let body = list_ok(&app.get(&format!("{LIST}?limit=100&sort={sort}")).await);
            assert_eq!(item_ids(&body), want, "sort={sort}");
        }
        // Ties really occur, so the id tie-break is exercised.
        let data = dataset();
        let cheapest: Vec<i64> = data
            .iter()
            .filter(|s| s.price_cents == 100)
            .map(|s| s.id)
            .collect();
        assert!(cheapest.len() > 1);
        let got = app
            .get(&format!("{LIST}?limit={}&sort=price", cheapest.len()))
            .await;
        assert_eq!(got.ids(), cheapest);
        // Code-point order: "home" after every capitalised category.
        let last = app.get(&format!("{LIST}?limit=1&sort=-category")).await;
        assert_eq!(last.json()["items"][0]["category"], "home");
    }
}

#[actix_web::test]
async fn list_fields_projection() {
    for app in &both_apps().await {
        let body = list_ok(
            &app.get(&format!("{LIST}?fields=name,price&limit=100"))
                .await,
        );
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), PRODUCTS as usize);
        for (p, s) in items.iter().zip(dataset()) {
            assert_eq!(sorted_keys(p), sorted(&["id", "name", "price"]), "{p}");
            assert_eq!(p["id"], s.id);
            assert_eq!(p["name"], s.name.as_str());
            assert_eq!(p["price"].as_f64(), Some(s.price()));
        }
        let body = list_ok(&app.get(&format!("{LIST}?fields=sku")).await);
        for p in body["items"].as_array().unwrap() {
            assert_eq!(sorted_keys(p), sorted(&["id", "sku"]));
        }
        let body = list_ok(&app.get(&format!("{LIST}?fields=id")).await);
        for p in body["items"].as_array().unwrap() {
            assert_eq!(sorted_keys(p), sorted(&["id"]));
        }
        let all = PRODUCT_FIELDS.join(",");
        let body = list_ok(&app.get(&format!("{LIST}?fields={all}")).await);
        for (p, s) in body["items"].as_array().unwrap().iter().zip(dataset()) {
            assert_product(p, &s);
        }
    }
}

#[actix_web::test]
async fn list_count_none() {
    for app in &both_apps().await {
        let body = list_ok(&app.get(&format!("{LIST}?count=none&limit=10")).await);
        assert_eq!(body["total"], Value::Null);
        assert_eq!(item_ids(&body), (1..=10).collect::<Vec<_>>());
        assert!(body["next_cursor"].is_string());
        let body = list_ok(&app.get(&format!("{LIST}?count=exact&limit=10")).await);
        assert_eq!(body["total"], PRODUCTS);
        let body = list_ok(&app.get(&format!("{LIST}?count=none&offset=55")).await);
        assert_eq!(body["total"], Value::Null);
        assert_eq!(body["next_cursor"], Value::Null);
    }
}

#[actix_web::test]
async fn list_count_estimated_is_exact_without_an_estimate() {
    // The memory store has no planner: the count is exact and says so.
    for app in &both_apps().await {
        let r = app.get(&format!("{LIST}?count=estimated&limit=5")).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        assert_eq!(body["total"], PRODUCTS);
        assert_eq!(body["total_is_exact"], true);
        // Other count modes keep the contract's shape.
        let body = list_ok(&app.get(&format!("{LIST}?count=exact&limit=5")).await);
        assert!(body.get("total_is_exact").is_none());
    }
}

// ---------------------------------------------------------------- cursors

#[actix_web::test]
async fn cursor_walk_visits_everything_once() {
    for app in &both_apps().await {
        for limit in [1, 7, 20, 59, 60] {
            let (ids, pages) = walk(app, &format!("{LIST}?limit={limit}")).await;
            assert_eq!(ids, (1..=PRODUCTS).collect::<Vec<_>>(), "limit={limit}");
            assert_eq!(pages, (PRODUCTS as usize).div_ceil(limit), "limit={limit}");
        }
        // The cursor keeps the page size of the listing it continues.
        let first = list_ok(&app.get(&format!("{LIST}?limit=7")).await);
        let c = first["next_cursor"].as_str().unwrap();
        let second = list_ok(&app.get(&format!("{LIST}?{}", q("cursor", c))).await);
        assert_eq!(item_ids(&second), (8..=14).collect::<Vec<_>>());
        assert_eq!(second["limit"], 7);
        assert_eq!(second["offset"], 0);
        assert_eq!(second["total"], PRODUCTS);
    }
}

#[actix_web::test]
async fn cursor_walk_with_filters_and_sort() {
    use std::cmp::Reverse;
    for app in &both_apps().await {
        let keep = |s: &Spec| (s.category == "Books" || s.category == "Garden") && s.stock > 0;
        let mut data: Vec<Spec> = dataset().into_iter().filter(keep).collect();
        data.sort_by(|a, b| {
            (Reverse(a.price_cents), &a.name, a.id).cmp(&(Reverse(b.price_cents), &b.name, b.id))
        });
        let want: Vec<i64> = data.iter().map(|s| s.id).collect();
        assert!(want.len() > 8);

        let first =
            format!("{LIST}?category=Garden&category=Books&in_stock=true&sort=-price,name&limit=4");
        let (ids, _) = walk(app, &first).await;
        assert_eq!(ids, want);
        assert_no_duplicates(&ids);

        // Sorted by a column with many ties.
        let (ids, _) = walk(app, &format!("{LIST}?sort=category&limit=6")).await;
        assert_eq!(ids, sorted_ids(|s| s.category));
        let (ids, _) = walk(app, &format!("{LIST}?sort=-rating,brand&limit=9")).await;
        assert_eq!(ids, sorted_ids(|s| (Reverse(s.rating_tenths), s.brand)));

        // A search in relevance order.
        let (ids, pages) = walk(app, &format!("{LIST}?search=headphones&limit=1")).await;
        assert_eq!(ids, vec![3, 17, 41, 50]);
        assert_eq!(pages, 4);

        // count=none carries on too.
        let (ids, _) = walk(app, &format!("{LIST}?count=none&is_active=false&limit=2")).await;
        assert_eq!(ids, ids_where(|s| !s.is_active));
    }
}

#[actix_web::test]
async fn cursor_with_the_same_filter_params_again() {
    for app in &both_apps().await {
        let params = "category=Garden&category=Books&in_stock=true";
        let want = ids_where(|s| (s.category == "Books" || s.category == "Garden") && s.stock > 0);
        let first = list_ok(&app.get(&format!("{LIST}?{params}&limit=4")).await);
        let mut ids = item_ids(&first);
        let mut cursor = first["next_cursor"].as_str().map(str::to_string);
        while let Some(c) = cursor {
            // Same filters, in another order, plus the cursor.
            let uri = format!(
                "{LIST}?in_stock=true&category=Books&category=Garden&{}",
                q("cursor", &c)
            );
            let body = list_ok(&app.get(&uri).await);
            ids.extend(item_ids(&body));
            cursor = body["next_cursor"].as_str().map(str::to_string);
        }
        assert_eq!(ids, want);

        // offset=0 (the default) beside a cursor is fine.
        let c = first["next_cursor"].as_str().unwrap();
        let body = list_ok(
            &app.get(&format!("{LIST}?offset=0&{params}&{}", q("cursor", c)))
                .await,
        );
        assert_eq!(item_ids(&body), want[4..8].to_vec());
    }
}

#[actix_web::test]
async fn cursor_with_the_same_sort_param_again() {
    let app = app().await;
    for params in [
        "sort=-price,name",
        "sort=price",
        "sort=-id",
        "search=headphones&sort=name",
    ] {
        let first = list_ok(&app.get(&format!("{LIST}?{params}&limit=2")).await);
        let c = first["next_cursor"].as_str().unwrap();
        let r = app
            .get(&format!("{LIST}?{params}&{}", q("cursor", c)))
            .await;
        let body = list_ok(&r);
        // Same page as following the cursor alone.
        let alone = app.get(&format!("{LIST}?{}", q("cursor", c))).await;
        assert_eq!(item_ids(&body), alone.ids(), "{params}");
    }
}

#[actix_web::test]
async fn cursor_with_different_params_is_refused() {
    for app in &both_apps().await {
        let first = list_ok(&app.get(&format!("{LIST}?category=Books&limit=3")).await);
        let c = first["next_cursor"].as_str().unwrap();
        for other in [
            "category=Electronics",
            "category=Books&category=Garden",
            "category=Books&in_stock=true",
            "brand=Acme",
            "search=wireless",
        ] {
            let r = app.get(&format!("{LIST}?{other}&{}", q("cursor", c))).await;
            assert_problem(&r, 422, &["cursor"]);
        }
        let r = app
            .get(&format!(
                "{LIST}?category=Books&sort=-price&{}",
                q("cursor", c)
            ))
            .await;
        assert_problem(&r, 422, &["cursor"]);
    }
}

#[actix_web::test]
async fn cursor_tampering_is_refused() {
    for app in &both_apps().await {
        let first = list_ok(&app.get(&format!("{LIST}?limit=5")).await);
        let c = first["next_cursor"].as_str().unwrap().to_string();
        let mid = c.len() / 2;
        let flip = |i: usize| {
            let mut b = c.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let bad = [
            flip(0),
            flip(mid),
            flip(c.len() - 1),
            c[..c.len() - 1].to_string(),
            c[..mid].to_string(),
            c.split('.').next().unwrap().to_string(),
            format!("{c}A"),
            "hello".to_string(),
            "abc.def".to_string(),
            "eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA".to_string(),
            String::new(),
            "x".repeat(5000),
        ];
        for cursor in bad {
            let r = app.get(&format!("{LIST}?{}", q("cursor", &cursor))).await;
            assert_problem(&r, 422, &["cursor"]);
        }
        // A cursor signed with another deployment's key is made up here.
        let other =
            common::app_with_state(common::state_with_key(&dataset(), b"other").await).await;
        let foreign = list_ok(&other.get(&format!("{LIST}?limit=5")).await);
        let foreign = foreign["next_cursor"].as_str().unwrap();
        assert_ne!(foreign, c);
        let r = app.get(&format!("{LIST}?{}", q("cursor", foreign))).await;
        assert_problem(&r, 422, &["cursor"]);
    }
}

#[actix_web::test]
async fn cursor_with_offset_is_refused() {
    let app = app().await;
    let first = list_ok(&app.get(&format!("{LIST}?limit=5")).await);
    let c = first["next_cursor"].as_str().unwrap();
    let r = app
        .get(&format!("{LIST}?offset=5&{}", q("cursor", c)))
        .await;
    let body = r.json();
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"cursor"), "{body}");
    assert!(
        fields.iter().all(|f| *f == "cursor" || *f == "offset"),
        "{body}"
    );
    assert_eq!(r.content_type(), "application/problem+json");
}

// ---------------------------------------------------------------- validation

#[actix_web::test]
async fn list_validation_errors() {
    let app = app().await;
    let long = "a".repeat(201);
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("limit=0".into(), vec!["limit"]),
        ("limit=101".into(), vec!["limit"]),
        ("limit=abc".into(), vec!["limit"]),
        ("limit=-1".into(), vec!["limit"]),
        ("limit=".into(), vec!["limit"]),
        ("limit=1.5".into(), vec!["limit"]),
        ("offset=-1".into(), vec!["offset"]),
        ("offset=abc".into(), vec!["offset"]),
        ("min_price=abc".into(), vec!["min_price"]),
        ("max_price=-1".into(), vec!["max_price"]),
        ("min_price=1.999".into(), vec!["min_price"]),
        ("min_rating=6".into(), vec!["min_rating"]),
        ("min_rating=-0.5".into(), vec!["min_rating"]),
        ("min_rating=abc".into(), vec!["min_rating"]),
        ("in_stock=maybe".into(), vec!["in_stock"]),
        ("in_stock=1".into(), vec!["in_stock"]),
        ("is_active=yes".into(), vec!["is_active"]),
        ("sort=bogus".into(), vec!["sort"]),
        ("sort=price,-bogus".into(), vec!["sort"]),
        ("sort=".into(), vec!["sort"]),
        ("fields=bogus".into(), vec!["fields"]),
        ("fields=name,bogus".into(), vec!["fields"]),
        ("count=maybe".into(), vec!["count"]),
        ("search=".into(), vec!["search"]),
        ("search=%20%20".into(), vec!["search"]),
        (q("search", &long), vec!["search"]),
        ("category=".into(), vec!["category"]),
    ];
    for (query, fields) in cases {
        let r = app.get(&format!("{LIST}?{query}")).await;
        assert_problem(&r, 422, &fields);
    }
    // 200 characters is still fine.
    let r = app
        .get(&format!("{LIST}?{}", q("search", &"a".repeat(200))))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A filter value is compared as given: one no label can hold (a line
/// break) matches nothing rather than being refused.
#[actix_web::test]
async fn filter_values_no_label_can_hold_match_nothing() {
    let app = app().await;
    for query in ["category=a%0Ab", "brand=Acme%0D%0A", "category=Books%09"] {
        let body = list_ok(&app.get(&format!("{LIST}?{query}")).await);
        assert_eq!(body["items"], json!([]), "{query}");
        assert_eq!(body["total"], 0, "{query}");
        let r = app.get(&format!("{LIST}/stats?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "stats?{query}");
        assert_eq!(r.json()["total_products"], 0, "stats?{query}");
    }
}

#[actix_web::test]
async fn min_price_above_max_price_is_refused() {
    let app = app().await;
    let r = app.get(&format!("{LIST}?min_price=10&max_price=5")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.json();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(!fields.is_empty());
    assert!(
        fields
            .iter()
            .all(|f| *f == "min_price" || *f == "max_price"),
        "{body}"
    );
    let r = app
        .get(&format!("{LIST}/stats?min_price=10&max_price=5"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn every_bad_parameter_is_listed() {
    let app = app().await;
    let r = app
        .get(&format!(
            "{LIST}?limit=0&offset=-1&min_price=x&min_rating=6&in_stock=maybe&is_active=no\
             &sort=bogus&fields=bogus&count=maybe&search=&cursor=forged"
        ))
        .await;
    let body = assert_problem(
        &r,
        422,
        &[
            "limit",
            "offset",
            "min_price",
            "min_rating",
            "in_stock",
            "is_active",
            "sort",
            "fields",
            "count",
            "search",
            "cursor",
        ],
    );
    assert_eq!(body["type"], "urn:catalog:problem:validation-error");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("limit") && detail.contains("search"),
        "{detail}"
    );
}

// ---------------------------------------------------------------- detail

#[actix_web::test]
async fn detail_equals_the_listed_product() {
    for app in &both_apps().await {
        let listed = list_ok(&app.get(&format!("{LIST}?limit=100")).await);
        for id in [1, 7, 41, 60] {
            let r = app.get(&format!("{LIST}/{id}")).await;
            assert_eq!(r.status, StatusCode::OK);
            assert!(r.content_type().starts_with("application/json"));
            assert_eq!(r.json(), listed["items"][(id - 1) as usize]);
            assert_product(&r.json(), &dataset()[(id - 1) as usize]);
        }
    }
}

#[actix_web::test]
async fn detail_missing_is_404() {
    let app = app().await;
    for id in ["61", "9999", "9223372036854775807"] {
        let r = app.get(&format!("{LIST}/{id}")).await;
        let body = assert_problem(&r, 404, &[]);
        assert_eq!(body["type"], "urn:catalog:problem:not-found");
    }
}

#[actix_web::test]
async fn detail_bad_id_is_422() {
    let app = app().await;
    for id in [
        "abc",
        "0",
        "-1",
        "1.5",
        "99999999999999999999",
        "+1",
        "1e3",
        "%201",
    ] {
        let r = app.get(&format!("{LIST}/{id}")).await;
        assert_problem(&r, 422, &["id"]);
    }
}

#[actix_web::test]
async fn detail_with_undecodable_id_is_not_a_server_error() {
    let app = app().await;
    for id in ["%FF", "%ZZ", "%C3%28"] {
        let r = app.get(&format!("{LIST}/{id}")).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY
                || r.status == StatusCode::NOT_FOUND
                || r.status == StatusCode::BAD_REQUEST,
            "{id}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type(), "application/problem+json", "{id}");
    }
}

// ---------------------------------------------------------------- stats

/// The contract's rounding: half up to 2 decimals.
fn avg2(sum: i64, n: i64, scale: i64) -> f64 {
    let hundredths = (2 * sum * 100 + scale * n) / (2 * scale * n);
    hundredths as f64 / 100.0
}

fn expected_stats(keep: impl Fn(&Spec) -> bool) -> Value {
    let m: Vec<Spec> = dataset().into_iter().filter(keep).collect();
    let n = m.len() as i64;
    if n == 0 {
        return json!({
            "total_products": 0, "active_products": 0, "in_stock_products": 0,
            "total_stock": 0, "price": {"min": null, "max": null, "avg": null},
            "average_rating": null, "categories": 0, "brands": 0
        });
    }
    let cats: BTreeSet<_> = m.iter().map(|s| s.category).collect();
    let brands: BTreeSet<_> = m.iter().map(|s| s.brand).collect();
    json!({
        "total_products": n,
        "active_products": m.iter().filter(|s| s.is_active).count(),
        "in_stock_products": m.iter().filter(|s| s.stock > 0).count(),
        "total_stock": m.iter().map(|s| s.stock).sum::<i64>(),
        "price": {
            "min": m.iter().map(|s| s.price_cents).min().unwrap() as f64 / 100.0,
            "max": m.iter().map(|s| s.price_cents).max().unwrap() as f64 / 100.0,
            "avg": avg2(m.iter().map(|s| s.price_cents).sum(), n, 100),
        },
        "average_rating": avg2(m.iter().map(|s| s.rating_tenths).sum(), n, 10),
        "categories": cats.len(),
        "brands": brands.len(),
    })
}

#[actix_web::test]
async fn stats_without_filters() {
    for app in &both_apps().await {
        let r = app.get(&format!("{LIST}/stats")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.content_type().starts_with("application/json"));
        let body = r.json();
        assert_eq!(body, expected_stats(|_| true));
        assert_eq!(body["categories"], 4);
        assert_eq!(body["brands"], 3);
        assert_eq!(body["total_products"], PRODUCTS);
    }
}

#[actix_web::test]
async fn stats_with_filters() {
    for app in &both_apps().await {
        type Keep = Box<dyn Fn(&Spec) -> bool>;
        let cases: Vec<(&str, Keep)> = vec![
            ("category=Books", Box::new(|s| s.category == "Books")),
            (
                "category=Books&category=home&in_stock=true",
                Box::new(|s| (s.category == "Books" || s.category == "home") && s.stock > 0),
            ),
            (
                "brand=bolt&is_active=false",
                Box::new(|s| s.brand == "bolt" && !s.is_active),
            ),
            (
                "min_price=20&max_price=500&min_rating=2",
                Box::new(|s| (2000..=50000).contains(&s.price_cents) && s.rating_tenths >= 20),
            ),
            (
                "search=headphones",
                Box::new(|s| [3, 17, 41, 50].contains(&s.id)),
            ),
            ("in_stock=false", Box::new(|s| s.stock == 0)),
        ];
        for (query, keep) in cases {
            assert!(!ids_where(&keep).is_empty(), "{query} selects nothing");
            let r = app.get(&format!("{LIST}/stats?{query}")).await;
            assert_eq!(r.status, StatusCode::OK, "{query}");
            assert_eq!(r.json(), expected_stats(keep), "{query}");
        }
    }
}

#[actix_web::test]
async fn stats_with_nothing_matching() {
    for app in &both_apps().await {
        for query in ["category=Nope", "min_price=999999", "search=zzzzzz"] {
            let r = app.get(&format!("{LIST}/stats?{query}")).await;
            assert_eq!(r.status, StatusCode::OK);
            let body = r.json();
            assert_eq!(body, expected_stats(|_| false), "{query}");
            assert_eq!(body["price"]["min"], Value::Null);
            assert_eq!(body["price"]["max"], Value::Null);
            assert_eq!(body["price"]["avg"], Value::Null);
            assert_eq!(body["average_rating"], Value::Null);
        }
    }
}

#[actix_web::test]
async fn stats_rejects_bad_filters() {
    let app = app().await;
    let r = app
        .get(&format!("{LIST}/stats?min_rating=6&in_stock=maybe&search="))
        .await;
    assert_problem(&r, 422, &["min_rating", "in_stock", "search"]);
}

#[actix_web::test]
async fn stats_of_an_empty_catalog() {
    let app = app_with(&[]).await;
    let r = app.get(&format!("{LIST}/stats")).await;
    assert_eq!(r.json(), expected_stats(|_| false));
    let body = list_ok(&app.get(LIST).await);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"], 0);
    assert_eq!(body["next_cursor"], Value::Null);
    assert_eq!(
        app.get(&format!("{LIST}/categories")).await.json(),
        json!({"items": []})
    );
    assert_eq!(
        app.get(&format!("{LIST}/brands")).await.json(),
        json!({"items": []})
    );
}

// ---------------------------------------------------------------- facets

fn expected_counts(names: &[&str], of: impl Fn(&Spec) -> &'static str) -> Value {
    let data = dataset();
    let items: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "name": n,
                "product_count": data.iter().filter(|s| of(s) == *n).count(),
            })
        })
        .collect();
    json!({ "items": items })
}

#[actix_web::test]
async fn categories_sorted_with_counts() {
    for app in &both_apps().await {
        let r = app.get(&format!("{LIST}/categories")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.content_type().starts_with("application/json"));
        let body = r.json();
        assert_eq!(body, expected_counts(&CATEGORIES, |s| s.category));
        let names: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Books", "Electronics", "Garden", "home"]);
        let counts: BTreeSet<i64> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["product_count"].as_i64().unwrap())
            .collect();
        assert!(counts.len() > 1, "the fixture should give uneven counts");
        let sum: i64 = counts.iter().sum::<i64>();
        assert!(sum <= PRODUCTS);
    }
}

#[actix_web::test]
async fn brands_sorted_with_counts() {
    for app in &both_apps().await {
        let r = app.get(&format!("{LIST}/brands")).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        assert_eq!(body, expected_counts(&BRANDS, |s| s.brand));
        let total: i64 = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["product_count"].as_i64().unwrap())
            .sum();
        assert_eq!(total, PRODUCTS);
    }
}

// ---------------------------------------------------------------- ETags

const CACHEABLE: [&str; 9] = [
    "/api/v1/products",
    "/api/v1/products?category=Books&sort=-price&limit=5",
    "/api/v1/products?fields=name&count=none",
    "/api/v1/products/7",
    "/api/v1/products/stats",
    "/api/v1/products/stats?brand=Acme",
    "/api/v1/products/categories",
    "/api/v1/products/brands",
    "/api/v1/products?search=headphones",
];

fn with_inm(uri: &str, inm: &str) -> TestRequest {
    TestRequest::get()
        .uri(uri)
        .insert_header(("if-none-match", inm))
}

#[actix_web::test]
async fn cacheable_gets_have_a_strong_etag_and_x_cache() {
    for app in &both_apps().await {
        let mut tags = BTreeSet::new();
        for uri in CACHEABLE {
            let r = app.get(uri).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}");
            let etag = r
                .header("etag")
                .unwrap_or_else(|| panic!("no ETag on {uri}"));
            assert!(
                etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
                "{uri}: ETag {etag} is not strong"
            );
            assert!(!etag[1..etag.len() - 1].contains('"'));
            let x_cache = r
                .header("x-cache")
                .unwrap_or_else(|| panic!("no X-Cache on {uri}"));
            assert!(
                x_cache == "MISS" || x_cache == "HIT",
                "{uri}: X-Cache {x_cache}"
            );
            // Same request, same representation, same tag.
            assert_eq!(app.get(uri).await.header("etag"), Some(etag), "{uri}");
            tags.insert(etag.to_string());
        }
        assert_eq!(
            tags.len(),
            CACHEABLE.len(),
            "different bodies share an ETag"
        );
    }
}

#[actix_web::test]
async fn if_none_match_gives_304() {
    for app in &both_apps().await {
        for uri in CACHEABLE {
            let fresh = app.get(uri).await;
            let etag = fresh.header("etag").unwrap().to_string();
            let matching = [
                etag.clone(),
                format!("W/{etag}"),
                format!("\"x\", {etag}"),
                format!("\"x\",{etag},\"y\""),
                "*".to_string(),
            ];
            for inm in matching {
                let r = app.send(with_inm(uri, &inm)).await;
                assert_eq!(
                    r.status,
                    StatusCode::NOT_MODIFIED,
                    "{uri} If-None-Match: {inm}"
                );
                assert!(r.body.is_empty(), "{uri}: a 304 has no body");
                assert_eq!(r.header("etag"), Some(etag.as_str()), "{uri}");
                assert!(r.header("x-cache").is_some(), "{uri}");
            }
            for inm in ["\"nope\"", "W/\"nope\"", "\"x\", \"y\""] {
                let r = app.send(with_inm(uri, inm)).await;
                assert_eq!(r.status, StatusCode::OK, "{uri} If-None-Match: {inm}");
                assert_eq!(r.body, fresh.body, "{uri}");
                assert_eq!(r.header("etag"), Some(etag.as_str()));
            }
        }
    }
}

#[actix_web::test]
async fn cached_reads_hit_with_the_same_etag() {
    let app = common::cached_app().await;
    for uri in CACHEABLE {
        // Whatever warmed the cache, a second read is a hit.
        let first = app.get(uri).await;
        assert_eq!(first.status, StatusCode::OK, "{uri}");
        let second = app.get(uri).await;
        assert_eq!(second.status, StatusCode::OK, "{uri}");
        assert_eq!(second.header("x-cache"), Some("HIT"), "{uri}");
        assert_eq!(second.body, first.body, "{uri}");
        assert_eq!(second.header("etag"), first.header("etag"), "{uri}");
        assert_eq!(second.content_type(), first.content_type(), "{uri}");
        // A hit still honours If-None-Match.
        let etag = first.header("etag").unwrap();
        let r = app.send(with_inm(uri, etag)).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert_eq!(r.header("x-cache"), Some("HIT"), "{uri}");
        assert!(r.body.is_empty());
    }
    // The first read of a query nobody asked before is a miss.
    let r = app.get(&format!("{LIST}?limit=3&sort=-name")).await;
    assert_eq!(r.header("x-cache"), Some("MISS"));
    // Equal queries written differently share one entry.
    let a = app
        .get(&format!("{LIST}?category=Books&category=home&limit=4"))
        .await;
    let b = app
        .get(&format!("{LIST}?limit=4&category=home&category=Books"))
        .await;
    assert_eq!(a.body, b.body);
    assert_eq!(b.header("x-cache"), Some("HIT"));
    // Errors are never served from the cache.
    for _ in 0..2 {
        let r = app.get("/api/v1/products/999").await;
        assert_problem(&r, 404, &[]);
        assert_eq!(r.header("x-cache"), None);
    }
}

#[actix_web::test]
async fn uncached_reads_are_misses() {
    let app = app().await;
    for uri in CACHEABLE {
        for _ in 0..2 {
            assert_eq!(app.get(uri).await.header("x-cache"), Some("MISS"), "{uri}");
        }
    }
}

#[actix_web::test]
async fn if_none_match_does_not_hide_errors() {
    for app in &both_apps().await {
        let r = app.send(with_inm("/api/v1/products/999", "*")).await;
        assert_problem(&r, 404, &[]);
        let r = app.send(with_inm("/api/v1/products?limit=0", "*")).await;
        assert_problem(&r, 422, &["limit"]);
    }
}

#[actix_web::test]
async fn compressed_representation_has_its_own_strong_etag() {
    let app = app().await;
    let uri = "/api/v1/products?limit=100";
    let plain = app.get(uri).await;
    let gz = app
        .send(
            TestRequest::get()
                .uri(uri)
                .insert_header(("accept-encoding", "gzip")),
        )
        .await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let plain_tag = plain.header("etag").unwrap();
    let gz_tag = gz.header("etag").unwrap();
    assert!(
        gz_tag.starts_with("W/") || gz_tag != plain_tag,
        "gzip body and identity body both carry strong ETag {plain_tag}"
    );
}

#[actix_web::test]
async fn not_modified_carries_the_tag_the_200_would_carry() {
    // The compressor never runs on a 304 (no body), so its tag's coding
    // comes from the request's Accept-Encoding, negotiated as Compress does.
    let app = app().await;
    let codings = [
        None,
        Some("gzip"),
        Some("br"),
        Some("zstd"),
        Some("deflate"),
        Some("gzip;q=0.5, br;q=0.9"),
        Some("br;q=0, gzip"),
        Some("identity"),
        Some("*"),
        Some("bogus, gzip;q=0.1"),
    ];
    for uri in CACHEABLE {
        for coding in codings {
            let with = |req: TestRequest| match coding {
                Some(c) => req.insert_header(("accept-encoding", c)),
                None => req,
            };
            let ok = app.send(with(TestRequest::get().uri(uri))).await;
            assert_eq!(ok.status, 200, "{uri} {coding:?}");
            let tag = ok.header("etag").unwrap().to_string();
            let plain = match ok.header("content-encoding") {
                Some(c) => {
                    let base = tag.strip_suffix(&format!("-{c}\""));
                    format!("{}\"", base.unwrap_or_else(|| panic!("{tag} for {c}")))
                }
                None => tag.clone(),
            };
            // Revalidated with its own tag, with the identity tag, or with
            // a list: the 304 carries the 200's tag.
            for inm in [tag.clone(), plain, format!("\"x\", W/{tag}")] {
                let nm = app.send(with(with_inm(uri, &inm))).await;
                assert_eq!(nm.status, 304, "{uri} {coding:?} {inm}");
                assert_eq!(
                    nm.header("etag"),
                    Some(tag.as_str()),
                    "{uri} {coding:?} {inm}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- cross-cutting

#[actix_web::test]
async fn every_response_has_timing_and_request_id() {
    let app = app().await;
    // `send` checks X-Process-Time, Server-Timing and X-Request-Id on each.
    let requests = vec![
        TestRequest::get().uri(LIST),
        TestRequest::get().uri("/api/v1/products/1"),
        with_inm("/api/v1/products/1", "*"),
        TestRequest::get().uri("/api/v1/products/999"),
        TestRequest::get().uri("/api/v1/products?limit=0"),
        TestRequest::get().uri("/api/v1/products/abc"),
        TestRequest::get().uri("/nope"),
        TestRequest::post().uri("/api/v1/products/stats"),
        TestRequest::delete().uri("/health"),
        TestRequest::get().uri("/health"),
        TestRequest::get().uri("/docs"),
        TestRequest::get().uri("/docs/"),
        TestRequest::get().uri("/api-docs/openapi.json"),
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(LIST)
            .insert_header(("origin", "https://shop.example"))
            .insert_header(("access-control-request-method", "GET")),
    ];
    let mut ids = BTreeSet::new();
    for req in requests {
        let r = app.send(req).await;
        ids.insert(r.header("x-request-id").unwrap().to_string());
    }
    assert_eq!(ids.len(), 14, "request ids are not unique: {ids:?}");
}

#[actix_web::test]
async fn client_request_id_is_echoed() {
    let app = app().await;
    for uri in [LIST, "/nope", "/api/v1/products?limit=0", "/health"] {
        let r = app
            .send(
                TestRequest::get()
                    .uri(uri)
                    .insert_header(("x-request-id", "req-42.abc_XYZ")),
            )
            .await;
        assert_eq!(r.header("x-request-id"), Some("req-42.abc_XYZ"), "{uri}");
    }
    let r = app
        .send(
            TestRequest::post()
                .uri("/health")
                .insert_header(("x-request-id", "trace-405")),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("x-request-id"), Some("trace-405"));
    // An unusable id (too long) is replaced, not echoed.
    let long = "a".repeat(300);
    let r = app
        .send(
            TestRequest::get()
                .uri(LIST)
                .insert_header(("x-request-id", long.as_str())),
        )
        .await;
    assert_ne!(r.header("x-request-id"), Some(long.as_str()));
}

#[actix_web::test]
async fn unknown_route_is_404_problem() {
    let app = app().await;
    for uri in [
        "/nope",
        "/api/v1/productz",
        "/api/v2/products",
        "/api/v1/products/1/extra",
        // `/` is the explorer's page (tests/explorer.rs); its asset tree
        // has no index and no unknown files.
        "/explorer/",
        "/explorer/nope.js",
    ] {
        let r = app.get(uri).await;
        let body = assert_problem(&r, 404, &[]);
        assert_eq!(body["type"], "urn:catalog:problem:not-found");
    }
}

#[actix_web::test]
async fn wrong_method_is_405_with_allow() {
    let app = app().await;
    let requests = [
        TestRequest::post().uri("/api/v1/products/stats"),
        TestRequest::delete().uri("/health"),
        TestRequest::put().uri("/api/v1/products/categories"),
        TestRequest::patch().uri("/api/v1/products/brands"),
        TestRequest::post().uri("/health"),
    ];
    for req in requests {
        let r = app.send(req).await;
        let body = assert_problem(&r, 405, &[]);
        let allow = r.header("allow").expect("405 without Allow");
        let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(methods.contains(&"GET"), "Allow: {allow}");
        assert_eq!(body["type"], "urn:catalog:problem:method-not-allowed");
    }
}

#[actix_web::test]
async fn invalid_percent_encoding_is_not_a_server_error() {
    let app = app().await;
    for query in [
        "category=%ZZ",
        "category=%",
        "category=%FF",
        "search=%C3%28",
        "search=%ZZ",
        "brand=%E2%82",
        "%ZZ=1",
    ] {
        for path in [LIST, "/api/v1/products/stats"] {
            let r = app.get(&format!("{path}?{query}")).await;
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
                "{path}?{query}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            if r.status == StatusCode::BAD_REQUEST {
                assert_problem(&r, 400, &[]);
            }
        }
    }
    // Taken literally, `%ZZ` is a category no product has.
    let r = app.get(&format!("{LIST}?category=%ZZ")).await;
    if r.status == StatusCode::OK {
        assert_eq!(r.json()["total"], 0);
    }
}

#[actix_web::test]
async fn cors_simple_get() {
    let app = app().await;
    let r = app
        .send(
            TestRequest::get()
                .uri(LIST)
                .insert_header(("origin", "https://shop.example")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let allow = r
        .header("access-control-allow-origin")
        .expect("no access-control-allow-origin");
    assert!(allow == "*" || allow == "https://shop.example", "{allow}");
    // Browsers may read the validators and timings.
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    for h in ["etag", "x-cache", "x-process-time", "x-request-id"] {
        assert!(exposed.contains(h), "{h} not exposed: {exposed}");
    }
}

#[actix_web::test]
async fn cors_preflight_for_get() {
    let app = app().await;
    for uri in [LIST, "/api/v1/products/7", "/api/v1/products/stats"] {
        let r = app
            .send(
                TestRequest::default()
                    .method(actix_web::http::Method::OPTIONS)
                    .uri(uri)
                    .insert_header(("origin", "https://shop.example"))
                    .insert_header(("access-control-request-method", "GET"))
                    .insert_header(("access-control-request-headers", "if-none-match")),
            )
            .await;
        assert!(r.status.is_success(), "{uri}: preflight {}", r.status);
        let origin = r.header("access-control-allow-origin").unwrap_or("");
        assert!(
            origin == "*" || origin == "https://shop.example",
            "{origin}"
        );
        let methods = r.header("access-control-allow-methods").unwrap_or("");
        assert!(methods.contains("GET"), "{methods}");
    }
}

#[actix_web::test]
async fn health_is_ok() {
    for app in &both_apps().await {
        let r = app.get("/health").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.content_type().starts_with("application/json"));
        assert_eq!(
            r.json(),
            json!({"status": "ok", "checks": {"database": "up", "cache": "memory", "search_index": "off"}}),
            "no index in front of this store: search_index is off and has no detail"
        );
    }
}

// ---------------------------------------------------------------- docs

#[actix_web::test]
async fn docs_redirect_and_swagger_ui() {
    let app = app().await;
    let r = app.get("/docs").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert_eq!(r.header("location"), Some("/docs/"));

    let r = app.get("/docs/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.content_type().starts_with("text/html"),
        "{}",
        r.content_type()
    );
    let html = String::from_utf8_lossy(&r.body).to_string();
    assert!(html.contains("swagger"), "{html}");
    // Offline: the page's scripts and styles come from the app itself.
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert!(html.contains(asset), "{asset} not referenced");
        let r = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(!r.body.is_empty(), "{asset}");
    }
    assert!(
        !html.contains("unpkg.com") && !html.contains("cdn.jsdelivr"),
        "{html}"
    );
}

#[actix_web::test]
async fn docs_routes_follow_the_error_contract() {
    use actix_web::http::Method;
    let app = app().await;
    for uri in ["/docs", "/docs/", "/api-docs/openapi.json"] {
        let r = app.send(TestRequest::post().uri(uri)).await;
        assert_problem(&r, 405, &[]);
        assert!(
            r.header("allow").is_some_and(|a| a.contains("GET")),
            "{uri}"
        );
        let r = app
            .send(TestRequest::default().method(Method::HEAD).uri(uri))
            .await;
        // HEAD is answered (the Swagger UI assets are GET-only: 405 there).
        assert!(
            r.status.is_success() || r.status.is_redirection() || r.status == 405,
            "HEAD {uri}: {}",
            r.status
        );
    }
    let r = app.get("/docs/nope.js").await;
    assert_problem(&r, 404, &[]);
}

#[actix_web::test]
async fn openapi_document_is_served() {
    let app = app().await;
    let r = app.get("/api-docs/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("application/json"));
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/products/stats",
        "/api/v1/products/categories",
        "/api/v1/products/brands",
        "/health",
    ] {
        assert!(
            paths.get(p).is_some_and(|v| v.get("get").is_some()),
            "{p} GET missing"
        );
    }
    let product = &doc["components"]["schemas"]["Product"]["properties"];
    assert_eq!(sorted_keys(product), sorted(&PRODUCT_FIELDS));
    // Every list parameter is documented.
    let params: BTreeSet<&str> = doc["paths"]["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "limit",
        "offset",
        "cursor",
        "category",
        "brand",
        "min_price",
        "max_price",
        "min_rating",
        "in_stock",
        "is_active",
        "search",
        "sort",
        "fields",
        "count",
    ] {
        assert!(params.contains(name), "list parameter {name} undocumented");
    }
    // The served document is the one in docs/.
    let served: Value = doc;
    let generated: Value = serde_json::from_str(&catalog_http::openapi_json()).unwrap();
    assert_eq!(served, generated);
}

#[actix_web::test]
async fn cors_default_is_a_wildcard_for_reads_only() {
    let app = app().await;
    let r = app
        .send(
            TestRequest::get()
                .uri(LIST)
                .insert_header(("origin", "https://shop.example")),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = app
        .send(
            TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri(LIST)
                .insert_header(("origin", "https://shop.example"))
                .insert_header(("access-control-request-method", "POST")),
        )
        .await;
    assert!(
        !r.status.is_success(),
        "browser writes need an explicit origin"
    );
}

#[actix_web::test]
async fn cors_origin_list_allows_those_origins_every_method() {
    let mut state = common::state_with(&dataset()).await;
    state.config.cors = catalog_http::CorsOrigins::parse(Some("https://admin.example"));
    let app = common::app_with_state(state).await;
    let preflight = |origin: &'static str| {
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri(LIST)
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "POST"))
            .insert_header((
                "access-control-request-headers",
                "authorization, content-type",
            ))
    };
    let r = app.send(preflight("https://admin.example")).await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://admin.example")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap_or("")
            .contains("POST")
    );
    // Another origin is answered without CORS headers: the browser refuses.
    let r = app
        .send(
            TestRequest::get()
                .uri(LIST)
                .insert_header(("origin", "https://evil.example")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), None);
}
