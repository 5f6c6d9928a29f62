//! `GET /metrics`: the Prometheus text exposition (format 0.0.4, as
//! `prometheus-client`'s `prometheus_text` encoder writes it).
//!
//! Two kinds of series:
//! - **recorded** on the request path, in `prometheus-client` families
//!   (atomics behind a read-mostly map; no lock is held across a request):
//!   HTTP requests and latencies by route template, storage and cache call
//!   latencies (through [`catalog_domain::observe::Observer`]);
//! - **read at scrape time** from what the domain and the adapters already
//!   count: cache hits/misses/waits/errors by kind, the connection pool,
//!   the search index, the process.
//!
//! Label values are bounded by construction: routes are the templates of
//! the routes we registered (`unmatched` for everything else, never the
//! raw path), methods the standard ones (`other` for the rest), statuses
//! three digits.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::observe::Observer;
use catalog_domain::{CatalogService, IndexState};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::error::ApiError;
use crate::state::AppState;

/// The `Content-Type` of `GET /metrics`: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The route label of a request no registered route matched.
pub const UNMATCHED: &str = "unmatched";

/// Request latency buckets, in seconds: 0.5 ms to 10 s.
const REQUEST_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Cache call buckets: 50 µs to 250 ms (the cache's own timeout is 50 ms
/// by default).
const CACHE_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

fn request_histogram() -> Histogram {
    Histogram::new(&REQUEST_BUCKETS)
}

fn cache_histogram() -> Histogram {
    Histogram::new(&CACHE_BUCKETS)
}

/// A histogram of durations, lock-free: one relaxed atomic add for the
/// bucket and one for the sum (in nanoseconds, exact). prometheus-client's
/// own histogram takes a mutex per observation; on the request path every
/// worker would contend for the hot routes' series.
#[derive(Debug, Clone)]
pub(crate) struct Histogram(std::sync::Arc<HistogramInner>);

#[derive(Debug)]
pub(crate) struct HistogramInner {
    /// Upper bounds in seconds, ascending.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self(std::sync::Arc::new(HistogramInner {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }))
    }

    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        // The first bucket whose bound is at least the value (le).
        let i = self.0.bounds.partition_point(|&b| b < secs);
        self.0.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .0
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.0.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' sum, so `_count` always equals the
        // `+Inf` bucket even while observations land.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The connection pool's occupancy, as the binary reads it from the
/// storage adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub size: u64,
    /// Open connections not in use.
    pub idle: u64,
    /// The most connections the pool may open.
    pub max: u64,
}

/// Reads the pool's occupancy at scrape time.
pub type PoolProbe = Box<dyn Fn() -> PoolStats + Send + Sync>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheOperationLabels {
    backend: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Every series of one application (one per [`AppState`]: tests get
/// their own).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    storage: Family<OperationLabels, Histogram, fn() -> Histogram>,
    storage_errors: Family<OperationLabels, Counter>,
    storage_in_flight: Gauge,
    cache: Family<CacheOperationLabels, Histogram, fn() -> Histogram>,
    cache_errors: Family<CacheOperationLabels, Counter>,
    started: Instant,
    started_unix: f64,
    pool: Option<PoolProbe>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("pool", &self.pool.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label of a method: the standard ones by name, anything else
/// `other` (a client must not be able to mint label values).
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Decrements the in-flight gauge when the request is over, however it
/// ends (a client that hangs up drops the future).
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let durations: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to its response, by route template and method",
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now",
            in_flight.clone(),
        );
        let storage: Family<OperationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register(
            "catalog_storage_duration_seconds",
            "Storage port calls (the database, or the search index in front of it), by operation",
            storage.clone(),
        );
        let storage_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "catalog_storage_errors",
            "Storage port calls that failed, by operation",
            storage_errors.clone(),
        );
        let storage_in_flight = Gauge::default();
        registry.register(
            "catalog_storage_calls_in_flight",
            "Storage port calls under way (each holds or waits for a connection unless the search index answers it)",
            storage_in_flight.clone(),
        );
        let cache: Family<CacheOperationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(cache_histogram);
        registry.register(
            "catalog_cache_operation_duration_seconds",
            "Cache adapter calls (Redis round trips, or the in-process cache), by backend and operation",
            cache.clone(),
        );
        let cache_errors = Family::<CacheOperationLabels, Counter>::default();
        registry.register(
            "catalog_cache_operation_errors",
            "Cache adapter calls that failed or timed out, by backend and operation",
            cache_errors.clone(),
        );
        registry.register(
            "catalog_build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            registry,
            requests,
            durations,
            in_flight,
            storage,
            storage_errors,
            storage_in_flight,
            cache,
            cache_errors,
            started: Instant::now(),
            started_unix,
            pool: None,
        }
    }

    /// Reports the connection pool, read by `probe` at every scrape.
    pub fn with_pool(mut self, probe: PoolProbe) -> Self {
        self.pool = Some(probe);
        self
    }

    pub(crate) fn request_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records one answered request. `route` is the matched route's
    /// template, or `None` when no route matched.
    pub(crate) fn request_done(
        &self,
        route: Option<String>,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or_else(|| UNMATCHED.to_string());
        let method = method_label(method);
        let labels = RouteLabels { route, method };
        self.durations.get_or_create(&labels).observe(elapsed);
        let RouteLabels { route, .. } = labels;
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// The exposition: recorded series, then those read now from
    /// `service` (cache counters), the pool probe, `index` and the process.
    pub fn render(
        &self,
        service: &CatalogService,
        index: Option<&IndexState>,
    ) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(32 * 1024);
        prometheus_text::encode(&mut out, &self.registry)?;
        prometheus_text::encode(&mut out, &self.scrape_time(service, index))?;
        Ok(out)
    }

    /// A registry of this scrape's readings (cheap: a scrape is rare next
    /// to requests).
    fn scrape_time(&self, service: &CatalogService, index: Option<&IndexState>) -> Registry {
        let mut r = Registry::default();
        let counters = service.cache_counters();
        let snapshot = counters.snapshot();
        let by_kind = |r: &mut Registry, name: &str, help: &str, value: fn(&_) -> u64| {
            let family = Family::<KindLabels, Counter>::default();
            for c in &snapshot {
                family
                    .get_or_create(&KindLabels {
                        kind: c.kind.name(),
                    })
                    .inc_by(value(c));
            }
            r.register(name, help, family);
        };
        by_kind(
            &mut r,
            "catalog_cache_hits",
            "Cacheable reads answered from the cache, by kind",
            |c: &catalog_domain::observe::CacheCount| c.hits,
        );
        by_kind(
            &mut r,
            "catalog_cache_misses",
            "Cacheable reads not found in the cache (computed, or shared from a concurrent computation), by kind",
            |c: &catalog_domain::observe::CacheCount| c.misses,
        );
        by_kind(
            &mut r,
            "catalog_cache_singleflight_waits",
            "Misses answered by waiting for a concurrent request's computation of the same key, by kind",
            |c: &catalog_domain::observe::CacheCount| c.waits,
        );
        by_kind(
            &mut r,
            "catalog_cache_errors",
            "Cache lookups or stores that failed (the read was served from storage), by kind",
            |c: &catalog_domain::observe::CacheCount| c.errors,
        );
        by_kind(
            &mut r,
            "catalog_cache_bypasses",
            "Cacheable reads that skipped a cache which had just failed, by kind",
            |c: &catalog_domain::observe::CacheCount| c.bypasses,
        );
        let invalidation_errors = Counter::<u64>::default();
        invalidation_errors.inc_by(counters.invalidation_errors());
        r.register(
            "catalog_cache_invalidation_errors",
            "Invalidations after writes that could not reach the cache (a full flush is then owed)",
            invalidation_errors,
        );

        if let Some(probe) = &self.pool {
            let p = probe();
            let gauge = |r: &mut Registry, name: &str, help: &str, v: u64| {
                let g = Gauge::<i64, AtomicI64>::default();
                g.set(i64::try_from(v).unwrap_or(i64::MAX));
                r.register(name, help, g);
            };
            gauge(
                &mut r,
                "catalog_db_pool_size",
                "Database connections open",
                p.size,
            );
            gauge(
                &mut r,
                "catalog_db_pool_idle",
                "Database connections open and idle",
                p.idle,
            );
            gauge(
                &mut r,
                "catalog_db_pool_in_use",
                "Database connections in use",
                p.size.saturating_sub(p.idle),
            );
            gauge(
                &mut r,
                "catalog_db_pool_max",
                "The most database connections the pool may open",
                p.max,
            );
        }

        if let Some(state) = index {
            let gauge = |r: &mut Registry, name: &str, help: &str, v: i64| {
                let g = Gauge::<i64, AtomicI64>::default();
                g.set(v);
                r.register(name, help, g);
            };
            let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            match state {
                IndexState::Building => gauge(
                    &mut r,
                    "catalog_search_index_ready",
                    "1 when the search index answers searches, 0 while it builds",
                    0,
                ),
                IndexState::Ready {
                    products,
                    applied,
                    head,
                    memory_bytes,
                } => {
                    gauge(
                        &mut r,
                        "catalog_search_index_ready",
                        "1 when the search index answers searches, 0 while it builds",
                        1,
                    );
                    gauge(
                        &mut r,
                        "catalog_search_index_products",
                        "Products held by the search index",
                        as_i64(*products),
                    );
                    gauge(
                        &mut r,
                        "catalog_search_index_memory_bytes",
                        "Approximate heap bytes held by the search index",
                        as_i64(*memory_bytes),
                    );
                    gauge(
                        &mut r,
                        "catalog_search_index_applied_seq",
                        "Change-log sequence number the index has applied up to (0: none yet)",
                        applied.unwrap_or(0),
                    );
                    gauge(
                        &mut r,
                        "catalog_search_index_head_seq",
                        "Newest change-log sequence number (0: empty log)",
                        head.unwrap_or(0),
                    );
                    gauge(
                        &mut r,
                        "catalog_search_index_lag",
                        "Changes committed but not yet applied to the index",
                        as_i64(state.lag().unwrap_or(0)),
                    );
                }
            }
        }

        let start = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        start.set(self.started_unix);
        r.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            start,
        );
        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        uptime.set(self.started.elapsed().as_secs_f64());
        r.register(
            "catalog_uptime_seconds",
            "Seconds since the application started",
            uptime,
        );
        if let Some(rss) = resident_memory_bytes() {
            let g = Gauge::<i64, AtomicI64>::default();
            g.set(i64::try_from(rss).unwrap_or(i64::MAX));
            r.register(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                g,
            );
        }
        r
    }
}

/// The resident set size, where the platform tells it cheaply (Linux's
/// `/proc/self/status`); `None` elsewhere.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl Observer for Metrics {
    fn storage_call(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        let labels = OperationLabels { operation };
        self.storage.get_or_create(&labels).observe(elapsed);
        if !ok {
            self.storage_errors.get_or_create(&labels).inc();
        }
    }

    fn storage_started(&self) {
        self.storage_in_flight.inc();
    }

    fn storage_finished(&self) {
        self.storage_in_flight.dec();
    }

    fn cache_call(
        &self,
        backend: &'static str,
        operation: &'static str,
        elapsed: Duration,
        ok: bool,
    ) {
        let labels = CacheOperationLabels { backend, operation };
        self.cache.get_or_create(&labels).observe(elapsed);
        if !ok {
            self.cache_errors.get_or_create(&labels).inc();
        }
    }
}

/// SHA-256 of both sides, then a comparison that reads every byte: the
/// time taken tells nothing about how much of the token was right, nor
/// its length.
fn token_matches(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// With `CATALOG_METRICS_TOKEN` set, the request must carry
/// `Authorization: Bearer <that token>`.
fn authorize(req: &HttpRequest, token: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = token else {
        return Ok(());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    match given {
        None => Err(ApiError::Unauthorized {
            detail: "GET /metrics needs 'Authorization: Bearer <CATALOG_METRICS_TOKEN>'".into(),
            invalid_token: false,
        }),
        Some(t) if token_matches(t, expected) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized {
            detail: "the metrics token is not valid".into(),
            invalid_token: true,
        }),
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    description = "Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`): request counts and latencies by route template, cache hits/misses/errors/single-flight waits by kind, storage and cache latencies, the connection pool, the search index, build info and uptime. When `CATALOG_METRICS_TOKEN` is set, a bearer token equal to it is required. docs/operations.md lists every series.",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "`CATALOG_METRICS_TOKEN` is set and the request lacks it", content_type = "application/problem+json", body = crate::error::Problem,
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
    )
)]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, state.config.metrics_token.as_deref())?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    // HEAD checks reachability (and the token): nothing to render.
    if req.method() == Method::HEAD {
        return Ok(res.finish());
    }
    let index = state.service.search_index_state().await;
    let body = state
        .metrics
        .render(&state.service, index.as_ref())
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(res.body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_le_bounds() {
        static BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];
        let h = Histogram::new(&BOUNDS);
        for ms in [0.5, 1.0, 5.0, 10.0, 50.0, 5000.0] {
            h.observe(Duration::from_secs_f64(ms / 1000.0));
        }
        let mut r = Registry::default();
        r.register("t_seconds", "test", h);
        let mut out = String::new();
        prometheus_text::encode(&mut out, &r).unwrap();
        for line in [
            "t_seconds_bucket{le=\"0.001\"} 2",
            "t_seconds_bucket{le=\"0.01\"} 4",
            "t_seconds_bucket{le=\"0.1\"} 5",
            "t_seconds_bucket{le=\"+Inf\"} 6",
            "t_seconds_count 6",
            "t_seconds_sum 5.0665",
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cre", "s3cret"));
        assert!(!token_matches("s3cret ", "s3cret"));
        assert!(!token_matches("", "s3cret"));
    }

    #[test]
    fn odd_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::TRACE);
        assert_eq!(method_label(&odd), "other");
    }
}
