//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use catalog_domain::{CatalogService, RateLimiter};

use crate::limits::TrustedProxies;

use crate::metrics::Metrics;

/// Allowed CORS origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `CATALOG_CORS_ORIGINS` unset: any origin may read (GET/HEAD); browser
    /// writes need an explicit setting.
    DefaultReadOnly,
    /// `*`: any origin, every method.
    Any,
    /// These exact origins, every method.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses `CATALOG_CORS_ORIGINS` (comma list, `*` allowed).
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("") => CorsOrigins::DefaultReadOnly,
            Some(v) => {
                let list: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().trim_end_matches('/').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.iter().any(|s| s == "*") {
                    CorsOrigins::Any
                } else {
                    CorsOrigins::List(list)
                }
            }
        }
    }
}

/// HTTP-level settings.
#[derive(Clone)]
pub struct HttpConfig {
    pub cors: CorsOrigins,
    /// HS256 secret for write tokens; `None` refuses every write.
    pub jwt_secret: Option<String>,
    /// `CATALOG_METRICS_TOKEN`: the bearer token `GET /metrics` requires;
    /// `None` leaves it open.
    pub metrics_token: Option<String>,
    /// `CATALOG_RATE_LIMIT`: the limiter every `/api/` request is counted
    /// by; `None` limits nothing.
    pub rate_limiter: Option<Arc<dyn RateLimiter>>,
    /// `CATALOG_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the
    /// client.
    pub trusted_proxies: TrustedProxies,
    /// `CATALOG_REQUEST_TIMEOUT`: reads running longer are answered 503
    /// and their work dropped; `None` waits for ever.
    pub request_timeout: Option<Duration>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("cors", &self.cors)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .field("rate_limit", &self.rate_limiter.as_ref().map(|l| l.quota()))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl Default for HttpConfig {
    /// No limits at all: what embedding code and most tests want. The
    /// binary's defaults (a generous rate limit, a 10 s deadline) are set
    /// by its configuration.
    fn default() -> Self {
        Self {
            cors: CorsOrigins::DefaultReadOnly,
            jwt_secret: None,
            metrics_token: None,
            rate_limiter: None,
            trusted_proxies: TrustedProxies::default(),
            request_timeout: None,
        }
    }
}

/// Where the process is in its life: serving, or draining after SIGTERM
/// (/health answers 503 so that a load balancer takes this instance out,
/// and every response asks its client to close the connection).
#[derive(Debug, Clone, Default)]
pub struct Lifecycle(Arc<AtomicBool>);

impl Lifecycle {
    /// From now on the instance is draining; there is no way back.
    pub fn start_draining(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: CatalogService,
    pub config: HttpConfig,
    /// Shared with the binary's signal handler.
    pub lifecycle: Lifecycle,
    /// The series `GET /metrics` exposes; shared by every worker (and the
    /// storage and cache decorators that feed it).
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// A serving (not draining) state, with metrics of its own.
    pub fn new(service: CatalogService, config: HttpConfig) -> Self {
        Self {
            service,
            config,
            lifecycle: Lifecycle::default(),
            metrics: Arc::default(),
        }
    }

    /// The same state, reporting to `metrics` (the binary shares them with
    /// the storage and cache decorators).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }
}
