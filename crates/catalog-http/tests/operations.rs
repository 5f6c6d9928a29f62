//! Operations: `GET /metrics` (families, bounded labels, token, counters
//! that move) and the security headers every response carries.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::test::TestRequest;
use catalog_cache_memory::MemoryCache;
use catalog_domain::observe::{ObservedCache, ObservedStore, Observer};
use catalog_domain::{CacheSettings, CatalogService, ProductWriter};
use catalog_http::{AppState, HttpConfig, Metrics};
use common::{Resp, TestApp, app, app_with_state, assert_problem, cached_app, dataset, state_with};

/// One sample of the exposition.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly enough to catch a broken
/// exposition: `# HELP`/`# TYPE` comments, then `name{k="v",...} value`
/// lines whose names are declared by a preceding TYPE.
fn parse(text: &str) -> Vec<Sample> {
    let mut declared: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(kind == "HELP" || kind == "TYPE", "comment: {line}");
            if kind == "TYPE" {
                let t = parts.next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "untyped", "summary"].contains(&t),
                    "{line}"
                );
                declared.insert(name.to_string());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                // Our label values never hold `",` (routes, methods, kinds).
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").unwrap();
                    labels.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (name.to_string(), labels)
            }
        };
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "metric name {name}"
        );
        let family_declared = declared.contains(&name)
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s).is_some_and(|f| declared.contains(f)));
        assert!(family_declared, "{name} has no TYPE line before it");
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The sum of the samples of `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn label_values(samples: &[Sample], name: &str, label: &str) -> BTreeSet<String> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter_map(|s| s.labels.get(label).cloned())
        .collect()
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let r = app.get("/metrics").await.ok("GET /metrics");
    parse(std::str::from_utf8(&r.body).unwrap())
}

#[actix_web::test]
async fn metrics_are_prometheus_text_with_every_family() {
    let app = cached_app().await;
    app.get("/api/v1/products?limit=2").await.ok("list");
    let r = app.get("/metrics").await.ok("metrics");
    assert_eq!(
        r.content_type(),
        "text/plain; version=0.0.4; charset=utf-8",
        "the Prometheus text format"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let samples = parse(std::str::from_utf8(&r.body).unwrap());
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for family in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "http_requests_in_flight",
        "catalog_cache_hits_total",
        "catalog_cache_misses_total",
        "catalog_cache_singleflight_waits_total",
        "catalog_cache_errors_total",
        "catalog_cache_bypasses_total",
        "catalog_cache_invalidation_errors_total",
        "catalog_build_info",
        "catalog_uptime_seconds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(family), "{family} missing from {names:?}");
    }
    assert_eq!(
        value(
            &samples,
            "catalog_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Every cache kind is listed, even before its first read.
    assert_eq!(
        label_values(&samples, "catalog_cache_hits_total", "kind"),
        ["brands", "categories", "detail", "facets", "list", "stats"]
            .map(String::from)
            .into()
    );
    // The histogram's buckets run from 0.5 ms to 10 s, then +Inf.
    let les = label_values(&samples, "http_request_duration_seconds_bucket", "le");
    for le in ["0.0005", "10", "+Inf"] {
        assert!(les.contains(le), "bucket {le} missing from {les:?}");
    }
    // HEAD answers too, without a body.
    let head = app
        .send(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/metrics"),
        )
        .await;
    assert_eq!(head.status.as_u16(), 200);
    assert!(head.body.is_empty());
    // Other methods are a 405.
    let post = app.send(TestRequest::post().uri("/metrics")).await;
    assert_problem(&post, 405, &[]);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[actix_web::test]
async fn requests_are_counted_under_their_route_template() {
    let app = app().await;
    for id in [3, 3, 5] {
        app.get(&format!("/api/v1/products/{id}"))
            .await
            .ok("detail");
    }
    app.get("/api/v1/products/999999").await; // 404 under the same template
    let samples = scrape(&app).await;
    let detail = [("route", "/api/v1/products/{id}"), ("method", "GET")];
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[detail[0], detail[1], ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[detail[0], detail[1], ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "http_request_duration_seconds_count", &detail),
        4.0
    );
    let routes = label_values(&samples, "http_requests_total", "route");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("/3") && !r.contains("999999")),
        "a raw path became a label: {routes:?}"
    );
}

#[actix_web::test]
async fn unknown_paths_and_methods_add_no_label_values() {
    let app = app().await;
    app.get("/nowhere").await;
    let before = scrape(&app).await;
    for i in 0..25 {
        let r = app
            .get(&format!("/random/{i}/{}", uuid::Uuid::new_v4()))
            .await;
        assert_problem(&r, 404, &[]);
    }
    let after = scrape(&app).await;
    let routes_before = label_values(&before, "http_requests_total", "route");
    let routes_after = label_values(&after, "http_requests_total", "route");
    // Only the /metrics route itself (scraped in between) is new.
    let new: Vec<&String> = routes_after.difference(&routes_before).collect();
    assert_eq!(new, ["/metrics"], "{routes_after:?}");
    assert!(routes_after.contains("unmatched"), "{routes_after:?}");
    assert_eq!(
        value(
            &after,
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        26.0
    );
    // Made-up methods share one label value.
    for m in ["BREW", "PROPFIND", "X-ODD"] {
        let method = actix_web::http::Method::from_bytes(m.as_bytes()).unwrap();
        app.send(
            TestRequest::default()
                .method(method)
                .uri("/api/v1/products"),
        )
        .await;
    }
    let after = scrape(&app).await;
    let methods = label_values(&after, "http_requests_total", "method");
    assert!(
        methods.is_subset(&["GET", "other"].map(String::from).into()),
        "{methods:?}"
    );
    assert_eq!(
        value(
            &after,
            "http_requests_total",
            &[("route", "/api/v1/products"), ("method", "other")]
        ),
        3.0
    );
}

async fn app_with_token(token: &str) -> TestApp {
    let mut state = state_with(&dataset()).await;
    state.config = HttpConfig {
        metrics_token: Some(token.into()),
        ..HttpConfig::default()
    };
    app_with_state(state).await
}

#[actix_web::test]
async fn a_metrics_token_protects_the_metrics() {
    let app = app_with_token("scrape-token-1").await;
    let none = app.get("/metrics").await;
    assert_problem(&none, 401, &[]);
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        none.headers
    );
    for wrong in [
        "Bearer scrape-token-2",
        "Bearer scrape-token-1x",
        "Basic c2NyYXBl",
        "Bearer ",
    ] {
        let r = app
            .send(
                TestRequest::get()
                    .uri("/metrics")
                    .insert_header(("authorization", wrong)),
            )
            .await;
        assert_problem(&r, 401, &[]);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer"))
        );
    }
    let ok = app
        .send(
            TestRequest::get()
                .uri("/metrics")
                .insert_header(("authorization", "Bearer scrape-token-1")),
        )
        .await
        .ok("with the token");
    assert!(
        std::str::from_utf8(&ok.body)
            .unwrap()
            .contains("http_requests_total")
    );
    // The rest of the API does not ask for it.
    app.get("/api/v1/products/1").await.ok("detail");
}

#[actix_web::test]
async fn without_a_token_the_metrics_are_open() {
    let app = app().await;
    let r = app
        .send(
            TestRequest::get()
                .uri("/metrics")
                .insert_header(("authorization", "Bearer anything")),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200);
}

#[actix_web::test]
async fn cache_counters_move_on_a_miss_then_a_hit() {
    let app = cached_app().await;
    let kind = [("kind", "detail")];
    let before = scrape(&app).await;
    assert_eq!(value(&before, "catalog_cache_misses_total", &kind), 0.0);
    let first = app.get("/api/v1/products/7").await.ok("first");
    assert_eq!(first.x_cache(), "MISS");
    let mid = scrape(&app).await;
    assert_eq!(value(&mid, "catalog_cache_misses_total", &kind), 1.0);
    assert_eq!(value(&mid, "catalog_cache_hits_total", &kind), 0.0);
    let second = app.get("/api/v1/products/7").await.ok("second");
    assert_eq!(second.x_cache(), "HIT");
    let after = scrape(&app).await;
    assert_eq!(value(&after, "catalog_cache_misses_total", &kind), 1.0);
    assert_eq!(value(&after, "catalog_cache_hits_total", &kind), 1.0);
    assert_eq!(value(&after, "catalog_cache_errors_total", &kind), 0.0);
    // Other kinds did not move.
    assert_eq!(
        value(&after, "catalog_cache_hits_total", &[("kind", "list")]),
        0.0
    );
}

#[actix_web::test]
async fn concurrent_misses_on_one_key_count_single_flight_waits() {
    let app = cached_app().await;
    let requests: Vec<_> = (0..8).map(|_| app.get("/api/v1/products/stats")).collect();
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|r| r.status.as_u16() == 200));
    let samples = scrape(&app).await;
    let kind = [("kind", "stats")];
    let (hits, misses, waits) = (
        value(&samples, "catalog_cache_hits_total", &kind),
        value(&samples, "catalog_cache_misses_total", &kind),
        value(&samples, "catalog_cache_singleflight_waits_total", &kind),
    );
    assert_eq!(hits + misses, 8.0, "every read is a hit or a miss");
    assert!(
        waits <= misses,
        "waits are misses that shared a computation"
    );
}

/// A cache whose every call fails (a dead Redis).
struct DeadCache;

#[async_trait::async_trait]
impl catalog_domain::Cache for DeadCache {
    fn kind(&self) -> catalog_domain::CacheKind {
        catalog_domain::CacheKind::Shared
    }
    async fn generations(&self, _: &[String]) -> Result<Vec<u64>, catalog_domain::CacheError> {
        Err(catalog_domain::CacheError::new("generations", "down"))
    }
    async fn bump(&self, _: &[String]) -> Result<(), catalog_domain::CacheError> {
        Err(catalog_domain::CacheError::new("bump", "down"))
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, catalog_domain::CacheError> {
        Err(catalog_domain::CacheError::new("get", "down"))
    }
    async fn set(&self, _: &str, _: &[u8], _: Duration) -> Result<(), catalog_domain::CacheError> {
        Err(catalog_domain::CacheError::new("set", "down"))
    }
    async fn ping(&self) -> Result<(), catalog_domain::CacheError> {
        Err(catalog_domain::CacheError::new("ping", "down"))
    }
}

/// A dead cache: the first read's lookup fails (an error, and a timed
/// adapter error), the next ones skip the cache while the breaker is open.
#[actix_web::test]
async fn cache_errors_and_bypasses_are_counted() {
    let mut state = state_with(&dataset()).await;
    let observer: Arc<dyn Observer> = Arc::clone(&state.metrics) as Arc<dyn Observer>;
    let cache = Arc::new(ObservedCache::new(Arc::new(DeadCache), "redis", observer));
    state.service = state.service.with_cache(
        cache,
        CacheSettings {
            retry_after: Duration::from_secs(60),
            ..CacheSettings::default()
        },
    );
    let app = app_with_state(state).await;
    for _ in 0..3 {
        app.get("/api/v1/products/categories")
            .await
            .ok("served from storage");
    }
    let samples = scrape(&app).await;
    let kind = [("kind", "categories")];
    assert_eq!(value(&samples, "catalog_cache_errors_total", &kind), 1.0);
    assert_eq!(value(&samples, "catalog_cache_bypasses_total", &kind), 2.0);
    assert_eq!(value(&samples, "catalog_cache_hits_total", &kind), 0.0);
    assert_eq!(
        value(
            &samples,
            "catalog_cache_operation_errors_total",
            &[("backend", "redis"), ("operation", "lookup")]
        ),
        1.0
    );
}

/// Storage and cache calls are timed when the binary wraps the adapters
/// (as `serve` does) with the app's metrics as observer.
#[actix_web::test]
async fn storage_and_cache_calls_are_timed() {
    let memory = catalog_storage_memory::MemoryStore::new();
    let batch: Vec<_> = dataset().iter().map(common::new_product).collect();
    memory.insert_batch(&batch).await.unwrap();
    let metrics = Arc::new(Metrics::new());
    let observer: Arc<dyn Observer> = Arc::clone(&metrics) as Arc<dyn Observer>;
    let store = Arc::new(ObservedStore::new(Arc::new(memory), Arc::clone(&observer)));
    let cache = Arc::new(ObservedCache::new(
        Arc::new(MemoryCache::new(1 << 24, Duration::from_secs(3600))),
        "memory",
        observer,
    ));
    let service = CatalogService::new(store, catalog_domain::cursor::CursorKey::new(b"test"))
        .with_cache(cache, CacheSettings::default());
    let app =
        app_with_state(AppState::new(service, HttpConfig::default()).with_metrics(metrics)).await;
    app.get("/api/v1/products/4").await.ok("detail");
    app.get("/api/v1/products?limit=3").await.ok("list");
    let samples = scrape(&app).await;
    assert_eq!(
        value(
            &samples,
            "catalog_storage_duration_seconds_count",
            &[("operation", "get")]
        ),
        1.0
    );
    assert!(
        value(&samples, "catalog_storage_duration_seconds_count", &[]) >= 2.0,
        "the list's storage call too"
    );
    assert_eq!(value(&samples, "catalog_storage_calls_in_flight", &[]), 0.0);
    assert!(
        value(
            &samples,
            "catalog_cache_operation_duration_seconds_count",
            &[("backend", "memory"), ("operation", "lookup")]
        ) >= 2.0
    );
    assert!(
        value(
            &samples,
            "catalog_cache_operation_duration_seconds_count",
            &[("backend", "memory"), ("operation", "set")]
        ) >= 2.0
    );
}

// ------------------------------------------------------------ headers

fn assert_security_headers(r: &Resp, csp_contains: &str) {
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{}",
        r.status
    );
    assert_eq!(
        r.header("referrer-policy"),
        Some("no-referrer"),
        "{}",
        r.status
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{}", r.status);
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("no CSP on a {} response", r.status));
    assert!(csp.contains(csp_contains), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

const STRICT: &str = "default-src 'none'";

#[actix_web::test]
async fn every_answer_carries_the_security_headers() {
    let app = cached_app().await;
    let ok = app.get("/api/v1/products/2").await.ok("200");
    assert_security_headers(&ok, STRICT);
    let not_modified = app.get_if_none_match("/api/v1/products/2", ok.etag()).await;
    assert_eq!(not_modified.status.as_u16(), 304);
    assert_security_headers(&not_modified, STRICT);
    let missing = app.get("/no/such/route").await;
    assert_problem(&missing, 404, &[]);
    assert_security_headers(&missing, STRICT);
    let invalid = app.get("/api/v1/products?limit=0").await;
    assert_problem(&invalid, 422, &["limit"]);
    assert_security_headers(&invalid, STRICT);
    let wrong_method = app.send(TestRequest::delete().uri("/health")).await;
    assert_security_headers(&wrong_method, STRICT);
    assert_security_headers(&app.get("/health").await, STRICT);
    assert_security_headers(&app.get("/metrics").await, STRICT);
    assert_security_headers(&app.get("/api-docs/openapi.json").await, STRICT);
    let preflight = app
        .send(
            TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri("/api/v1/products")
                .insert_header(("origin", "https://shop.example"))
                .insert_header(("access-control-request-method", "GET")),
        )
        .await;
    assert_security_headers(&preflight, STRICT);
}

/// Swagger UI still works under its policy: the page loads its scripts
/// from files (no inline script the policy would block), styles and
/// `data:` images are allowed, and the page may call this origin.
#[actix_web::test]
async fn swagger_ui_gets_a_policy_it_can_run_under() {
    let app = app().await;
    let page = app.get("/docs/").await.ok("/docs/");
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert_security_headers(&page, "script-src 'self'");
    let csp = page.header("content-security-policy").unwrap();
    for needed in [
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(needed), "{needed} not in {csp}");
    }
    assert!(!csp.contains("'unsafe-eval'"), "{csp}");
    let html = std::str::from_utf8(&page.body).unwrap();
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{html}");
    for s in &scripts {
        let tag = &s[..s.find('>').unwrap()];
        assert!(
            tag.contains("src="),
            "an inline script, blocked by script-src 'self': <script{tag}>"
        );
    }
    for file in [
        "swagger-initializer.js",
        "swagger-ui-bundle.js",
        "swagger-ui.css",
    ] {
        let r = app.get(&format!("/docs/{file}")).await.ok(file);
        assert_security_headers(&r, "script-src 'self'");
    }
    // The redirect to /docs/ is under the docs policy too.
    let redirect = app.get("/docs").await;
    assert_security_headers(&redirect, "script-src 'self'");
}

#[test]
fn policies_are_chosen_by_path() {
    use catalog_http::content_security_policy as csp;
    assert!(csp("/api/v1/products").starts_with(STRICT));
    assert!(csp("/metrics").starts_with(STRICT));
    assert!(csp("/docs/").contains("script-src 'self'"));
    assert!(csp("/docs/index.css").contains("script-src 'self'"));
    assert!(csp("/docsx").starts_with(STRICT), "only the /docs tree");
}
