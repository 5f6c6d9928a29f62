//! Shared fixtures of the black-box HTTP tests: a small deterministic
//! catalog, the app built on the in-memory adapter (the harness itself is
//! `catalog-testkit`'s), every response checked for the headers it must
//! carry.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use catalog_cache_memory::MemoryCache;
use catalog_domain::cursor::CursorKey;
use catalog_domain::{
    CacheSettings, CatalogService, Label, NewProduct, Price, ProductWriter, Rating, Sku,
};
use catalog_http::{AppState, HttpConfig};
use catalog_storage_memory::MemoryStore;
// Each test binary uses its own part of this module.
#[allow(unused_imports)]
pub use catalog_testkit::{Resp, TestApp, item_ids};
use serde_json::Value;

/// Distinct categories, in code-point order (lower case sorts last).
pub const CATEGORIES: [&str; 4] = ["Books", "Electronics", "Garden", "home"];
/// Distinct brands, in code-point order.
pub const BRANDS: [&str; 3] = ["Acme", "Zenith", "bolt"];
/// Prices in cents; several products share each, so sorts need tie-breaks.
const PRICES: [i64; 11] = [
    100, 499, 1999, 2500, 4999, 9999, 12950, 15000, 29999, 50000, 100000,
];
pub const PRODUCTS: i64 = 60;

/// One product of the fixture, as the test expects the API to return it.
/// Ids are assigned in insertion order, from 1.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: &'static str,
    pub brand: &'static str,
    pub price_cents: i64,
    pub stock: i64,
    pub rating_tenths: i64,
    pub is_active: bool,
}

impl Spec {
    pub fn price(&self) -> f64 {
        self.price_cents as f64 / 100.0
    }

    pub fn rating(&self) -> f64 {
        self.rating_tenths as f64 / 10.0
    }
}

/// The fixture: 60 products, uneven over 4 categories and 3 brands, with
/// repeated prices, some out of stock, some inactive, a few headphones.
pub fn dataset() -> Vec<Spec> {
    (1..=PRODUCTS)
        .map(|i| {
            let name = match i {
                3 => "Wireless Headphones Pro".to_string(),
                17 => "Studio wireless headphones".to_string(),
                29 => "Wireless Mouse".to_string(),
                41 => "Over-Ear Headphones".to_string(),
                _ => format!("Item {i:02}"),
            };
            let description = match i {
                50 => "Charging case for wireless headphones".to_string(),
                _ => format!("Plain description {i}"),
            };
            let category = CATEGORIES[match i % 10 {
                0..=3 => 0,
                4..=5 => 1,
                6..=8 => 2,
                _ => 3,
            }];
            let brand = BRANDS[match i % 7 {
                0..=2 => 0,
                3..=4 => 1,
                _ => 2,
            }];
            Spec {
                id: i,
                sku: format!("SKU-{i:04}"),
                name,
                description,
                category,
                brand,
                price_cents: PRICES[((i * 7) % 11) as usize],
                stock: if i % 5 == 0 { 0 } else { (i * 13) % 97 },
                rating_tenths: (i * 19) % 51,
                is_active: i % 8 != 3,
            }
        })
        .collect()
}

pub fn new_product(s: &Spec) -> NewProduct {
    NewProduct {
        sku: Sku::parse(&s.sku).unwrap(),
        name: s.name.clone(),
        description: s.description.clone(),
        category: Label::parse(s.category).unwrap(),
        brand: Label::parse(s.brand).unwrap(),
        price: Price::from_cents(s.price_cents).unwrap(),
        stock_quantity: s.stock,
        rating: Rating::from_tenths(s.rating_tenths).unwrap(),
        is_active: s.is_active,
    }
}

/// Application state over a memory store holding `products`.
pub async fn state_with(products: &[Spec]) -> AppState {
    state_with_key(products, b"test").await
}

/// A memory store holding `products`.
pub async fn store_with(products: &[Spec]) -> MemoryStore {
    let store = MemoryStore::new();
    let batch: Vec<NewProduct> = products.iter().map(new_product).collect();
    let inserted = store.insert_batch(&batch).await.unwrap();
    assert_eq!(inserted, batch.len() as u64);
    store
}

/// The same, with cursors signed by `key`.
pub async fn state_with_key(products: &[Spec], key: &[u8]) -> AppState {
    let store = store_with(products).await;
    AppState::new(
        CatalogService::new(Arc::new(store), CursorKey::new(key)),
        HttpConfig::default(),
    )
}

/// The app over `products`.
pub async fn app_with(products: &[Spec]) -> TestApp {
    app_with_state(state_with(products).await).await
}

/// The app over this state. Every response, whatever its status, must
/// carry `X-Process-Time`, a matching `Server-Timing` and an `X-Request-Id`.
pub async fn app_with_state(state: AppState) -> TestApp {
    TestApp::with_state(state)
        .await
        .checking(assert_timing_headers)
}

/// The app over the fixture.
pub async fn app() -> TestApp {
    app_with(&dataset()).await
}

/// The app over the fixture, reading through the in-process cache.
pub async fn cached_app() -> TestApp {
    let mut state = state_with(&dataset()).await;
    let cache = MemoryCache::new(16 * 1024 * 1024, Duration::from_secs(3600));
    state.service = state
        .service
        .with_cache(Arc::new(cache), CacheSettings::default());
    app_with_state(state).await
}

/// The app over the fixture, without and with the cache: the read contract
/// is the same either way.
pub async fn both_apps() -> [TestApp; 2] {
    [app().await, cached_app().await]
}

/// `X-Process-Time` is a non-negative decimal number of milliseconds and
/// `Server-Timing` repeats it; `X-Request-Id` is present.
pub fn assert_timing_headers(r: &Resp) {
    let pt = r
        .header("x-process-time")
        .unwrap_or_else(|| panic!("no X-Process-Time on a {} response", r.status));
    assert!(
        !pt.is_empty() && pt.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "X-Process-Time is not a plain decimal: {pt:?}"
    );
    let ms: f64 = pt.parse().unwrap();
    assert!(ms >= 0.0 && ms.is_finite(), "X-Process-Time {pt}");
    assert_eq!(
        r.header("server-timing"),
        Some(format!("app;dur={pt}").as_str()),
        "Server-Timing must repeat X-Process-Time"
    );
    let id = r.header("x-request-id").unwrap_or("");
    assert!(!id.is_empty(), "no X-Request-Id on a {} response", r.status);
}

/// An RFC 9457 problem with this status. Validation problems (422) must
/// name exactly `fields` (order-insensitive, each at least once); other
/// problems carry no `errors`.
pub fn assert_problem(r: &Resp, status: u16, fields: &[&str]) -> Value {
    assert_eq!(
        r.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type(), "application/problem+json");
    let body = r.json();
    let obj = body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if status == 422 {
        assert_eq!(
            keys,
            ["detail", "errors", "status", "title", "type"],
            "{body}"
        );
        let mut named: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
                e["field"].as_str().unwrap()
            })
            .collect();
        named.sort_unstable();
        named.dedup();
        let mut want = fields.to_vec();
        want.sort_unstable();
        assert_eq!(named, want, "{body}");
    } else {
        assert_eq!(keys, ["detail", "status", "title", "type"], "{body}");
    }
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some());
    body
}

/// Form-encodes one query parameter.
pub fn q(name: &str, value: &str) -> String {
    serde_urlencoded::to_string([(name, value)]).unwrap()
}

/// Ids of the fixture products matching `keep`, by id.
pub fn ids_where(keep: impl Fn(&Spec) -> bool) -> Vec<i64> {
    dataset().into_iter().filter(keep).map(|s| s.id).collect()
}

/// The fixture's relevance for `search` (the contract's: exact sku first,
/// then every word in the name), ties by id.
pub fn search_ids(search: &str) -> Vec<i64> {
    let terms: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    let normalised = search.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut hits: Vec<(i64, i64)> = dataset()
        .into_iter()
        .filter(|s| {
            let hay = [
                s.name.to_lowercase(),
                s.description.to_lowercase(),
                s.sku.to_lowercase(),
            ];
            terms
                .iter()
                .all(|t| hay.iter().any(|h| h.contains(t.as_str())))
        })
        .map(|s| {
            let name = s.name.to_lowercase();
            let mut score = 0;
            if s.sku == normalised.to_uppercase() {
                score += 2;
            }
            if terms.iter().all(|t| name.contains(t.as_str())) {
                score += 1;
            }
            (-score, s.id)
        })
        .collect();
    hits.sort_unstable();
    hits.into_iter().map(|(_, id)| id).collect()
}
