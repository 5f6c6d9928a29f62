//! Configuration from the environment (the contract's variables), validated
//! once at start-up with a message naming the offending variable.

use std::net::SocketAddr;
use std::time::Duration;

use catalog_domain::{CacheTtls, Quota};

use catalog_http::{CorsOrigins, TrustedProxies};

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// Everything the binary reads from the environment.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub addr: SocketAddr,
    /// `None` when unset or empty: writes are refused.
    pub jwt_secret: Option<String>,
    pub seed_count: u64,
    pub cors: CorsOrigins,
    /// Signs pagination cursors; shared by every instance of a deployment.
    pub cursor_secret: Vec<u8>,
    pub db_max_connections: Option<u32>,
    /// `CATALOG_DB_STATEMENT_TIMEOUT_MS` (PostgreSQL): `Some(None)` is 0,
    /// no timeout; `None` (unset) keeps the pool's default.
    pub db_statement_timeout: Option<Option<Duration>>,
    /// `CATALOG_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a
    /// pooled connection before it is a 503; `None` keeps the default.
    pub db_acquire_timeout: Option<Duration>,
    /// `CATALOG_MAX_OFFSET`: the deepest `offset` a list accepts (deeper is
    /// a 422 pointing to `cursor`); `None` (unset) accepts any.
    pub max_offset: Option<u64>,
    /// `CATALOG_SEARCH_INDEX`: `memory` (the default) answers searches from
    /// the in-process index; `sql` from the database alone.
    pub search_index: SearchIndexMode,
    /// `CATALOG_CHANGE_LOG_RETENTION`: how long change-log entries are
    /// kept (`7d` by default); `None` (`off`) keeps them for ever.
    pub change_log_retention: Option<Duration>,
    /// `CATALOG_SHUTDOWN_TIMEOUT`: after SIGTERM, how long in-flight
    /// requests get to finish before their connections are closed.
    pub shutdown_timeout: Duration,
    /// `CATALOG_SHUTDOWN_DELAY`: after SIGTERM, how long the instance keeps
    /// accepting (answering /health with 503) before it stops accepting,
    /// for load balancers that only notice a failing health check.
    pub shutdown_delay: Duration,
    pub cache: CacheConfig,
    /// `CATALOG_METRICS_TOKEN`: the bearer token `GET /metrics` requires
    /// (`None`: open).
    pub metrics_token: Option<String>,
    /// `CATALOG_LOG_FORMAT` (read again, and first, by the logger set-up).
    pub log_format: LogFormat,
    /// `CATALOG_RATE_LIMIT`: per-client quota; `None` (`off`) limits nothing.
    pub rate_limit: Option<Quota>,
    /// `CATALOG_TRUSTED_PROXIES`: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `CATALOG_REQUEST_TIMEOUT`: the deadline of a read; `None` (`off`)
    /// waits for ever.
    pub request_timeout: Option<Duration>,
    /// `CATALOG_MAX_INFLIGHT_EXPENSIVE`: how much expensive work may run at
    /// once, per class.
    pub max_inflight_expensive: InflightBound,
}

/// `CATALOG_MAX_INFLIGHT_EXPENSIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflightBound {
    /// Unset: derived from the database pool's size
    /// ([`InflightBound::resolve`]).
    Auto,
    /// `off`: no bound.
    Off,
    Max(usize),
}

impl InflightBound {
    /// The bound per class for a pool of `pool_size` connections: a
    /// quarter of the pool, at least 2, so that the two classes together
    /// hold at most half of it and cheap reads always find a connection.
    pub fn resolve(self, pool_size: u32) -> Option<usize> {
        match self {
            InflightBound::Auto => Some((pool_size as usize / 4).max(2)),
            InflightBound::Off => None,
            InflightBound::Max(n) => Some(n),
        }
    }
}

/// The default `CATALOG_RATE_LIMIT`: generous, a guard against one runaway
/// client rather than a meter of normal use (see docs/operations.md).
pub const DEFAULT_RATE_LIMIT: &str = "100000/s,burst=200000";

/// A deadline such as `5s`, `500ms` or `2m` (plain numbers are seconds),
/// from 10 ms to an hour; `off` is `None`.
fn deadline(v: &str) -> Result<Option<Duration>, String> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    duration(v, Duration::from_millis(10)..=Duration::from_secs(3_600))
        .map(Some)
        .map_err(|m| format!("{m} (or off)"))
}

/// How log lines are written (`CATALOG_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `text` (or unset/empty) and `json`; anything else is an error.
    pub fn parse(raw: Option<&str>) -> Result<Self, ConfigError> {
        match raw.map(str::trim) {
            None | Some("") | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(err("CATALOG_LOG_FORMAT", "must be text or json")),
        }
    }
}

/// A duration such as `250ms`, `30s`, `90m`, `36h` or `7d` (a plain
/// number is seconds), within `range`.
fn duration(v: &str, range: std::ops::RangeInclusive<Duration>) -> Result<Duration, String> {
    let shape = || "must be a duration such as 30s, 90m, 36h or 7d".to_string();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let per_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(shape()),
    };
    let ms = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_ms))
        .ok_or_else(shape)?;
    let d = Duration::from_millis(ms);
    if !range.contains(&d) {
        return Err(format!(
            "must be from {} to {}",
            human(*range.start()),
            human(*range.end())
        ));
    }
    Ok(d)
}

/// `Duration` in the unit [`duration`] reads back, as large as divides it.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

/// A retention such as `7d`, `36h` or `90m` (plain numbers are seconds);
/// `off` is `None`. From ten minutes to ten years.
fn retention(v: &str) -> Result<Option<Duration>, String> {
    if v == "off" {
        return Ok(None);
    }
    duration(
        v,
        Duration::from_secs(600)..=Duration::from_secs(10 * 365 * 86_400),
    )
    .map(Some)
    .map_err(|m| format!("{m} (or off)"))
}

/// Where searches are answered (`CATALOG_SEARCH_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchIndexMode {
    /// The in-process index, kept exact by the change log.
    Memory,
    /// The database's full-text search.
    Sql,
}

/// Cache settings (`CATALOG_CACHE_*`).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `CATALOG_CACHE=off` disables caching (benchmarks, debugging).
    pub enabled: bool,
    pub prefix: String,
    pub timeout: Duration,
    pub ttls: CacheTtls,
    pub memory_max_bytes: u64,
    pub warm: bool,
    pub redis_pool_size: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets and credentials in URLs stay out of logs. The exhaustive
        // destructuring makes a new field a compile error here until it is
        // placed on purpose; secrets show only whether they are set.
        let Config {
            database_url,
            redis_url,
            addr,
            jwt_secret,
            seed_count,
            cors,
            cursor_secret: _,
            db_max_connections,
            db_statement_timeout,
            db_acquire_timeout,
            max_offset,
            search_index,
            change_log_retention,
            shutdown_timeout,
            shutdown_delay,
            cache,
            metrics_token,
            log_format,
            rate_limit,
            trusted_proxies,
            request_timeout,
            max_inflight_expensive,
        } = self;
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("database", &redact(database_url))
            .field("redis", &redis_url.as_deref().map(redact))
            .field("addr", addr)
            .field("jwt_secret", &set(jwt_secret))
            .field("seed_count", seed_count)
            .field("cors", cors)
            .field("cursor_secret", &"<redacted>")
            .field("db_max_connections", db_max_connections)
            .field("db_statement_timeout", db_statement_timeout)
            .field("db_acquire_timeout", db_acquire_timeout)
            .field("max_offset", max_offset)
            .field("search_index", search_index)
            .field("change_log_retention", change_log_retention)
            .field("shutdown_timeout", shutdown_timeout)
            .field("shutdown_delay", shutdown_delay)
            .field("cache", cache)
            .field("metrics_token", &set(metrics_token))
            .field("log_format", log_format)
            .field("rate_limit", &rate_limit.map(|q| q.to_string()))
            .field("trusted_proxies", trusted_proxies)
            .field("request_timeout", request_timeout)
            .field("max_inflight_expensive", max_inflight_expensive)
            .finish()
    }
}

/// A URL without its credentials: `scheme://user:pass@host/db` →
/// `scheme://host/db`, and the value of a `password` query parameter
/// (which libpq-style URLs accept) replaced by `<redacted>`.
pub fn redact(url: &str) -> String {
    let without_userinfo = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    };
    let Some((base, query)) = without_userinfo.split_once('?') else {
        return without_userinfo;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=<redacted>"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://catalog.db?mode=rwc";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_SEED_COUNT: u64 = 100_000;

/// Used when neither `CATALOG_CURSOR_SECRET` nor `CATALOG_JWT_SECRET` is set:
/// cursors are still integrity-checked against corruption, and a forged
/// cursor can only ask for data any client may list anyway.
const FALLBACK_CURSOR_SECRET: &[u8] = b"catalog-default-cursor-key-v1";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let database_url = non_empty("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if catalog_storage_sql::Backend::from_url(&database_url).is_none() {
            return Err(err(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        let redis_url = non_empty("REDIS_URL");
        if let Some(r) = &redis_url
            && !(r.starts_with("redis://") || r.starts_with("rediss://"))
        {
            return Err(err("REDIS_URL", "must start with redis:// or rediss://"));
        }
        let addr_raw = non_empty("CATALOG_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr = addr_raw.parse().map_err(|_| {
            err(
                "CATALOG_ADDR",
                format!("'{addr_raw}' is not an address like 127.0.0.1:8080"),
            )
        })?;
        let seed_count = match non_empty("CATALOG_SEED_COUNT") {
            None => DEFAULT_SEED_COUNT,
            Some(v) => v
                .parse()
                .map_err(|_| err("CATALOG_SEED_COUNT", "must be a non-negative integer"))?,
        };
        let jwt_secret = non_empty("CATALOG_JWT_SECRET");
        let cors = CorsOrigins::parse(get("CATALOG_CORS_ORIGINS").as_deref());
        if let CorsOrigins::List(list) = &cors {
            for o in list {
                let ok = (o.starts_with("http://") || o.starts_with("https://"))
                    && !o.contains(char::is_whitespace);
                if !ok {
                    return Err(err(
                        "CATALOG_CORS_ORIGINS",
                        format!("'{o}' is not an origin like https://shop.example.com"),
                    ));
                }
            }
        }
        let cursor_secret = non_empty("CATALOG_CURSOR_SECRET")
            .or_else(|| jwt_secret.as_ref().map(|s| format!("cursor:{s}")))
            .map(String::into_bytes)
            .unwrap_or_else(|| FALLBACK_CURSOR_SECRET.to_vec());
        let db_max_connections = match non_empty("CATALOG_DB_MAX_CONNECTIONS") {
            None => None,
            Some(v) => Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        err("CATALOG_DB_MAX_CONNECTIONS", "must be an integer 1-1000")
                    })?,
            ),
        };
        let millis = |var: &'static str, range: std::ops::RangeInclusive<u64>| {
            non_empty(var)
                .map(|v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| {
                            err(
                                var,
                                format!(
                                    "must be {} to {} milliseconds",
                                    range.start(),
                                    range.end()
                                ),
                            )
                        })
                })
                .transpose()
        };
        let db_statement_timeout = millis("CATALOG_DB_STATEMENT_TIMEOUT_MS", 0..=3_600_000)?
            .map(|ms| (ms > 0).then(|| Duration::from_millis(ms)));
        let db_acquire_timeout =
            millis("CATALOG_DB_ACQUIRE_TIMEOUT_MS", 1..=600_000)?.map(Duration::from_millis);
        let max_offset = match non_empty("CATALOG_MAX_OFFSET") {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .ok()
                    .ok_or_else(|| err("CATALOG_MAX_OFFSET", "must be a non-negative integer"))?,
            ),
        };
        let search_index = match non_empty("CATALOG_SEARCH_INDEX").as_deref() {
            None | Some("memory") => SearchIndexMode::Memory,
            Some("sql") => SearchIndexMode::Sql,
            Some(_) => return Err(err("CATALOG_SEARCH_INDEX", "must be memory or sql")),
        };
        let change_log_retention = match non_empty("CATALOG_CHANGE_LOG_RETENTION") {
            None => Some(Duration::from_secs(7 * 86_400)),
            Some(v) => retention(&v).map_err(|m| err("CATALOG_CHANGE_LOG_RETENTION", m))?,
        };
        let bounded = |var: &'static str,
                       default: Duration,
                       range: std::ops::RangeInclusive<Duration>|
         -> Result<Duration, ConfigError> {
            match non_empty(var) {
                None => Ok(default),
                Some(v) => duration(&v, range).map_err(|m| err(var, m)),
            }
        };
        let shutdown_timeout = bounded(
            "CATALOG_SHUTDOWN_TIMEOUT",
            Duration::from_secs(30),
            Duration::ZERO..=Duration::from_secs(3_600),
        )?;
        let shutdown_delay = bounded(
            "CATALOG_SHUTDOWN_DELAY",
            Duration::ZERO,
            Duration::ZERO..=Duration::from_secs(600),
        )?;
        let secs = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match non_empty(var) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=30 * 86_400).contains(n))
                    .map(Duration::from_secs)
                    .ok_or_else(|| err(var, "must be a number of seconds, 1 to 2592000")),
            }
        };
        let flag = |var: &'static str, default: bool| -> Result<bool, ConfigError> {
            match non_empty(var).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "on" | "yes") => Ok(true),
                Some("0" | "false" | "off" | "no") => Ok(false),
                Some(_) => Err(err(var, "must be on or off")),
            }
        };
        let defaults = CacheTtls::default();
        let cache = CacheConfig {
            enabled: flag("CATALOG_CACHE", true)?,
            prefix: non_empty("CATALOG_CACHE_PREFIX").unwrap_or_else(|| "catalog".into()),
            timeout: match non_empty("CATALOG_CACHE_TIMEOUT_MS") {
                None => Duration::from_millis(50),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        err(
                            "CATALOG_CACHE_TIMEOUT_MS",
                            "must be 1 to 10000 milliseconds",
                        )
                    })?,
            },
            ttls: CacheTtls {
                list: secs("CATALOG_CACHE_TTL_LIST", defaults.list)?,
                detail: secs("CATALOG_CACHE_TTL_DETAIL", defaults.detail)?,
                stats: secs("CATALOG_CACHE_TTL_STATS", defaults.stats)?,
                categories: secs("CATALOG_CACHE_TTL_CATEGORIES", defaults.categories)?,
                brands: secs("CATALOG_CACHE_TTL_BRANDS", defaults.brands)?,
            },
            memory_max_bytes: match non_empty("CATALOG_CACHE_MAX_MB") {
                None => 64 * 1024 * 1024,
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .map(|mb| mb * 1024 * 1024)
                    .ok_or_else(|| {
                        err(
                            "CATALOG_CACHE_MAX_MB",
                            "must be a number of MiB, at least 1",
                        )
                    })?,
            },
            warm: flag("CATALOG_CACHE_WARM", true)?,
            redis_pool_size: 32,
        };
        if cache.prefix.contains(char::is_whitespace) || cache.prefix.len() > 64 {
            return Err(err(
                "CATALOG_CACHE_PREFIX",
                "must be at most 64 characters, no spaces",
            ));
        }
        let metrics_token = non_empty("CATALOG_METRICS_TOKEN");
        if let Some(t) = &metrics_token
            && !t.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(err(
                "CATALOG_METRICS_TOKEN",
                "must be printable ASCII without spaces (it is sent as a bearer token)",
            ));
        }
        let log_format = LogFormat::parse(get("CATALOG_LOG_FORMAT").as_deref())?;
        let rate_limit = Quota::parse(
            non_empty("CATALOG_RATE_LIMIT")
                .as_deref()
                .unwrap_or(DEFAULT_RATE_LIMIT),
        )
        .map_err(|m| err("CATALOG_RATE_LIMIT", m))?;
        let trusted_proxies = TrustedProxies::parse(
            non_empty("CATALOG_TRUSTED_PROXIES")
                .as_deref()
                .unwrap_or(""),
        )
        .map_err(|m| err("CATALOG_TRUSTED_PROXIES", m))?;
        let request_timeout = match non_empty("CATALOG_REQUEST_TIMEOUT") {
            None => Some(catalog_http::DEFAULT_REQUEST_TIMEOUT),
            Some(v) => deadline(&v).map_err(|m| err("CATALOG_REQUEST_TIMEOUT", m))?,
        };
        let max_inflight_expensive = match non_empty("CATALOG_MAX_INFLIGHT_EXPENSIVE").as_deref() {
            None => InflightBound::Auto,
            Some("off") => InflightBound::Off,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .map(InflightBound::Max)
                .ok_or_else(|| {
                    err(
                        "CATALOG_MAX_INFLIGHT_EXPENSIVE",
                        "must be an integer 1-10000, or off",
                    )
                })?,
        };
        Ok(Self {
            database_url,
            redis_url,
            addr,
            jwt_secret,
            seed_count,
            cors,
            cursor_secret,
            db_max_connections,
            db_statement_timeout,
            db_acquire_timeout,
            max_offset,
            search_index,
            change_log_retention,
            shutdown_timeout,
            shutdown_delay,
            cache,
            metrics_token,
            log_format,
            rate_limit,
            trusted_proxies,
            request_timeout,
            max_inflight_expensive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(c.seed_count, 100_000);
        assert!(c.jwt_secret.is_none());
        assert!(c.redis_url.is_none());
        assert_eq!(c.cors, CorsOrigins::DefaultReadOnly);
    }

    #[test]
    fn database_timeouts() {
        let c = cfg(&[]).unwrap();
        assert_eq!((c.db_statement_timeout, c.db_acquire_timeout), (None, None));
        let c = cfg(&[
            ("CATALOG_DB_STATEMENT_TIMEOUT_MS", "2500"),
            ("CATALOG_DB_ACQUIRE_TIMEOUT_MS", "750"),
        ])
        .unwrap();
        assert_eq!(
            c.db_statement_timeout,
            Some(Some(Duration::from_millis(2500)))
        );
        assert_eq!(c.db_acquire_timeout, Some(Duration::from_millis(750)));
        let c = cfg(&[("CATALOG_DB_STATEMENT_TIMEOUT_MS", "0")]).unwrap();
        assert_eq!(c.db_statement_timeout, Some(None), "0 is no timeout");
        for (var, bad) in [
            ("CATALOG_DB_STATEMENT_TIMEOUT_MS", "-1"),
            ("CATALOG_DB_STATEMENT_TIMEOUT_MS", "3600001"),
            ("CATALOG_DB_STATEMENT_TIMEOUT_MS", "1s"),
            ("CATALOG_DB_ACQUIRE_TIMEOUT_MS", "0"),
            ("CATALOG_DB_ACQUIRE_TIMEOUT_MS", "600001"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
    }

    #[test]
    fn empty_secret_means_unset() {
        assert!(
            cfg(&[("CATALOG_JWT_SECRET", "  ")])
                .unwrap()
                .jwt_secret
                .is_none()
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert_eq!(
            cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
            "DATABASE_URL"
        );
        assert_eq!(
            cfg(&[("CATALOG_ADDR", "nope")]).unwrap_err().var,
            "CATALOG_ADDR"
        );
        assert_eq!(
            cfg(&[("CATALOG_SEED_COUNT", "-5")]).unwrap_err().var,
            "CATALOG_SEED_COUNT"
        );
        assert_eq!(
            cfg(&[("REDIS_URL", "http://x")]).unwrap_err().var,
            "REDIS_URL"
        );
        assert_eq!(
            cfg(&[("CATALOG_CORS_ORIGINS", "shop.example")])
                .unwrap_err()
                .var,
            "CATALOG_CORS_ORIGINS"
        );
        for bad in ["5m", "7w", "d", "-1d", "99999999999999999999d"] {
            assert_eq!(
                cfg(&[("CATALOG_CHANGE_LOG_RETENTION", bad)])
                    .unwrap_err()
                    .var,
                "CATALOG_CHANGE_LOG_RETENTION",
                "{bad}"
            );
        }
    }

    #[test]
    fn change_log_retention() {
        let keep = |v: &str| {
            cfg(&[("CATALOG_CHANGE_LOG_RETENTION", v)])
                .unwrap()
                .change_log_retention
        };
        assert_eq!(
            cfg(&[]).unwrap().change_log_retention,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(keep("36h"), Some(Duration::from_secs(36 * 3_600)));
        assert_eq!(keep("90m"), Some(Duration::from_secs(90 * 60)));
        assert_eq!(keep("600"), Some(Duration::from_secs(600)));
        assert_eq!(keep("off"), None);
    }

    #[test]
    fn shutdown_durations() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            (c.shutdown_timeout, c.shutdown_delay),
            (Duration::from_secs(30), Duration::ZERO)
        );
        let c = cfg(&[
            ("CATALOG_SHUTDOWN_TIMEOUT", "1500ms"),
            ("CATALOG_SHUTDOWN_DELAY", "5s"),
        ])
        .unwrap();
        assert_eq!(
            (c.shutdown_timeout, c.shutdown_delay),
            (Duration::from_millis(1500), Duration::from_secs(5))
        );
        assert_eq!(
            cfg(&[("CATALOG_SHUTDOWN_TIMEOUT", "2m")])
                .unwrap()
                .shutdown_timeout,
            Duration::from_secs(120)
        );
        assert_eq!(
            cfg(&[("CATALOG_SHUTDOWN_TIMEOUT", "0")])
                .unwrap()
                .shutdown_timeout,
            Duration::ZERO
        );
        for (var, bad) in [
            ("CATALOG_SHUTDOWN_TIMEOUT", "2h"),
            ("CATALOG_SHUTDOWN_TIMEOUT", "soon"),
            ("CATALOG_SHUTDOWN_TIMEOUT", "-1s"),
            ("CATALOG_SHUTDOWN_DELAY", "11m"),
            ("CATALOG_SHUTDOWN_DELAY", "5 s"),
        ] {
            let e = cfg(&[(var, bad)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={bad}");
        }
        assert_eq!(
            cfg(&[("CATALOG_SHUTDOWN_DELAY", "11m")])
                .unwrap_err()
                .message,
            "must be from 0s to 10m"
        );
    }

    #[test]
    fn rate_limit_default_values_and_errors() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.rate_limit, Quota::parse(DEFAULT_RATE_LIMIT).unwrap());
        assert!(c.rate_limit.is_some());
        assert!(c.trusted_proxies.is_empty());
        let c = cfg(&[
            ("CATALOG_RATE_LIMIT", "200/s,burst=400"),
            ("CATALOG_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.0.1"),
        ])
        .unwrap();
        let q = c.rate_limit.unwrap();
        assert_eq!((q.count.get(), q.burst.get()), (200, 400));
        assert!(c.trusted_proxies.contains(&"10.9.9.9".parse().unwrap()));
        let c = cfg(&[("CATALOG_RATE_LIMIT", "600/m")]).unwrap();
        assert_eq!(c.rate_limit.unwrap().per, Duration::from_secs(60));
        assert_eq!(
            cfg(&[("CATALOG_RATE_LIMIT", "off")]).unwrap().rate_limit,
            None
        );
        for bad in [
            "200",
            "fast",
            "0/s",
            "200/h",
            "200/s,burst=x",
            "200/s,brust=4",
        ] {
            assert_eq!(
                cfg(&[("CATALOG_RATE_LIMIT", bad)]).unwrap_err().var,
                "CATALOG_RATE_LIMIT",
                "{bad}"
            );
        }
        for bad in ["proxy", "10.0.0.0/40", "10.0.0.1,nope"] {
            assert_eq!(
                cfg(&[("CATALOG_TRUSTED_PROXIES", bad)]).unwrap_err().var,
                "CATALOG_TRUSTED_PROXIES",
                "{bad}"
            );
        }
    }

    #[test]
    fn request_timeout_and_inflight_bound() {
        let timeout = |v: &str| {
            cfg(&[("CATALOG_REQUEST_TIMEOUT", v)])
                .unwrap()
                .request_timeout
        };
        assert_eq!(
            cfg(&[]).unwrap().request_timeout,
            Some(Duration::from_secs(10))
        );
        assert_eq!(timeout("5s"), Some(Duration::from_secs(5)));
        assert_eq!(timeout("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("2m"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("7"), Some(Duration::from_secs(7)));
        assert_eq!(timeout("off"), None);
        for bad in ["0", "5ms", "2h", "soon", "61m", "-1s"] {
            assert_eq!(
                cfg(&[("CATALOG_REQUEST_TIMEOUT", bad)]).unwrap_err().var,
                "CATALOG_REQUEST_TIMEOUT",
                "{bad}"
            );
        }
        let bound = |v: &str| {
            cfg(&[("CATALOG_MAX_INFLIGHT_EXPENSIVE", v)])
                .unwrap()
                .max_inflight_expensive
        };
        assert_eq!(
            cfg(&[]).unwrap().max_inflight_expensive,
            InflightBound::Auto
        );
        assert_eq!(bound("3"), InflightBound::Max(3));
        assert_eq!(bound("off"), InflightBound::Off);
        assert_eq!(InflightBound::Auto.resolve(16), Some(4));
        assert_eq!(InflightBound::Auto.resolve(4), Some(2));
        assert_eq!(InflightBound::Off.resolve(16), None);
        for bad in ["0", "-1", "many", "10001"] {
            assert_eq!(
                cfg(&[("CATALOG_MAX_INFLIGHT_EXPENSIVE", bad)])
                    .unwrap_err()
                    .var,
                "CATALOG_MAX_INFLIGHT_EXPENSIVE",
                "{bad}"
            );
        }
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/c"),
            "postgres://db:5432/c"
        );
        assert_eq!(redact("sqlite://catalog.db"), "sqlite://catalog.db");
        assert_eq!(
            redact("postgres://db/c?sslmode=require&password=hunter2"),
            "postgres://db/c?sslmode=require&password=<redacted>"
        );
        assert_eq!(redact("redis://:pw@cache:6379/0"), "redis://cache:6379/0");
    }

    /// No secret of the configuration appears in its Debug output (what
    /// `RUST_LOG=debug` logs at start-up).
    #[test]
    fn debug_output_holds_no_secret() {
        let c = cfg(&[
            (
                "DATABASE_URL",
                "postgres://catalog:db-pass-123@db:5432/catalog?password=db-pass-456",
            ),
            ("REDIS_URL", "redis://default:redis-pass-789@cache:6379/0"),
            ("CATALOG_JWT_SECRET", "jwt-secret-abc"),
            ("CATALOG_CURSOR_SECRET", "cursor-secret-def"),
            ("CATALOG_METRICS_TOKEN", "metrics-token-ghi"),
        ])
        .unwrap();
        let debug = format!("{c:?}");
        let pretty = format!("{c:#?}");
        for secret in [
            "db-pass-123",
            "db-pass-456",
            "redis-pass-789",
            "jwt-secret-abc",
            "cursor-secret-def",
            "metrics-token-ghi",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
            assert!(!pretty.contains(secret), "{secret} in {pretty}");
        }
        // Still useful: where it connects, and that the secrets are set.
        assert!(debug.contains("db:5432/catalog"), "{debug}");
        assert!(debug.contains("cache:6379"), "{debug}");
        assert!(debug.contains("metrics_token: \"<set>\""), "{debug}");
    }

    #[test]
    fn metrics_token_and_log_format() {
        let c = cfg(&[]).unwrap();
        assert_eq!((c.metrics_token, c.log_format), (None, LogFormat::Text));
        let c = cfg(&[
            ("CATALOG_METRICS_TOKEN", " scrape-me "),
            ("CATALOG_LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(c.metrics_token.as_deref(), Some("scrape-me"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(
            cfg(&[("CATALOG_METRICS_TOKEN", "  ")])
                .unwrap()
                .metrics_token
                .is_none()
        );
        for (var, bad) in [
            ("CATALOG_METRICS_TOKEN", "two words"),
            ("CATALOG_LOG_FORMAT", "yaml"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
        }
    }
}
