//! `catalog`: the product catalog service.
//!
//! Reads configuration from the environment, picks the storage adapter by
//! the `DATABASE_URL` scheme, and runs one of the subcommands: `serve` (the
//! default), `migrate`, `seed`, `token`, `verify` or `openapi`.

mod config;
mod interchange;
mod seed;

use std::process::ExitCode;
use std::sync::Arc;

use catalog_cache_memory::{GovernorLimiter, MemoryCache};
use catalog_cache_redis::rate_limit::RedisLimiterSettings;
use catalog_cache_redis::{RedisCache, RedisRateLimiter, RedisSettings};
use catalog_domain::cursor::CursorKey;
use catalog_domain::error::error_chain;
use catalog_domain::observe::{ObservedCache, ObservedStore, Observer};
use catalog_domain::{CacheSettings, CatalogService, FailOpen, RateLimiter};
use catalog_http::{AppState, HttpConfig, Metrics, build_app};
use catalog_storage_sql::{PoolConfig, SqlStore};
use clap::{Parser, Subcommand};

use crate::config::{Config, redact};

/// jemalloc as the allocator (docs/performance.md, "jemalloc").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "catalog",
    version,
    about = "Product catalog service: browse, filter, search and edit products over REST"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate, seed an empty database (CATALOG_SEED_COUNT), and serve the API (default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Bring the products table up to at least --count products, then exit.
    Seed {
        /// Target number of products.
        #[arg(long, default_value_t = config::DEFAULT_SEED_COUNT)]
        count: u64,
        /// Seed of the generator: the same seed yields the same catalog.
        #[arg(long, default_value_t = 42)]
        rng_seed: u64,
    },
    /// Print a JWT signed with CATALOG_JWT_SECRET (for development and scripts).
    Token {
        /// Subject: who the token is for.
        #[arg(long)]
        sub: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "products:write")]
        scope: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Check that the summaries, the price histogram and the database's
    /// full-text search data agree with the products table, and that the
    /// search index, built as every instance builds it, answers a sample
    /// of searches as the database does; exit 1 when one does not.
    Verify {
        /// Rebuild every derived table (writes wait meanwhile), then check again.
        #[arg(long)]
        repair: bool,
        /// Skip the search index check (it builds an index: about 25 s and
        /// 300 MB at a million products).
        #[arg(long)]
        no_index: bool,
    },
    /// Upsert products by sku from a CSV (header row), NDJSON or JSON-array
    /// file, or `-` for standard input. Exit status 0: every row applied;
    /// 3: done, some rows rejected; 1: stopped (or --strict refused).
    Import {
        /// The file, or `-` for standard input.
        file: String,
        /// csv, ndjson (jsonl) or json; by default from the file's extension.
        #[arg(long, value_parser = catalog_interchange::Format::parse)]
        format: Option<catalog_interchange::Format>,
        /// Check every row first; write nothing when any is rejected.
        #[arg(long)]
        strict: bool,
        /// Write every rejected row (and every repeated sku) here, as NDJSON:
        /// {"line", "kind", "field", "message"}.
        #[arg(long, value_name = "FILE")]
        errors: Option<std::path::PathBuf>,
        /// Skip columns and members that are not product fields instead of
        /// refusing them.
        #[arg(long)]
        ignore_unknown: bool,
    },
    /// Write the products the filters match, in id order, to standard
    /// output (or --output) as CSV or NDJSON; it imports back as is.
    Export {
        /// csv or ndjson.
        #[arg(long, default_value = "ndjson", value_parser = export_format)]
        format: catalog_interchange::Format,
        /// Write here instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// Exact category; repeat for any of several.
        #[arg(long)]
        category: Vec<String>,
        /// Exact brand; repeat for any of several.
        #[arg(long)]
        brand: Vec<String>,
        #[arg(long)]
        min_price: Option<String>,
        #[arg(long)]
        max_price: Option<String>,
        #[arg(long)]
        min_rating: Option<String>,
        /// true or false.
        #[arg(long)]
        in_stock: Option<String>,
        /// true or false.
        #[arg(long)]
        is_active: Option<String>,
        /// Full-text search, as the list's `search`.
        #[arg(long)]
        search: Option<String>,
        /// true: typo-tolerant search.
        #[arg(long)]
        fuzzy: Option<String>,
    },
    /// Print the OpenAPI document and exit.
    Openapi,
}

fn export_format(raw: &str) -> Result<catalog_interchange::Format, String> {
    match catalog_interchange::Format::parse(raw)? {
        catalog_interchange::Format::Json => Err("export writes csv or ndjson".into()),
        f => Ok(f),
    }
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Storage(#[from] catalog_domain::StorageError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("cache: {0}")]
    Cache(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Drift(String),
    #[error(transparent)]
    Import(#[from] interchange::ImportError),
    /// Done, with some rows rejected: exit status 3.
    #[error("{0}")]
    Partial(String),
    #[error("export: {0}")]
    Export(String),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("CATALOG_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The pool settings: the backend's defaults, then the configuration's.
fn pool_config(cfg: &Config) -> PoolConfig {
    let backend = catalog_storage_sql::Backend::from_url(&cfg.database_url)
        .unwrap_or(catalog_storage_sql::Backend::Sqlite);
    let mut pool = PoolConfig::for_backend(backend);
    if let Some(n) = cfg.db_max_connections {
        pool.max_connections = n;
        pool.min_connections = pool.min_connections.min(n);
    }
    if let Some(t) = cfg.db_statement_timeout {
        pool.statement_timeout = t;
    }
    if let Some(t) = cfg.db_acquire_timeout {
        pool.acquire_timeout = t;
    }
    pool
}

async fn open_store(cfg: &Config) -> Result<SqlStore, AppError> {
    let pool = pool_config(cfg);
    // A database that is still starting (containers start together) gets a
    // few seconds before we give up.
    let mut delay = std::time::Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match SqlStore::connect_with(&cfg.database_url, pool.clone()).await {
            Ok(store) => return Ok(store),
            Err(e @ catalog_domain::StorageError::Unavailable { .. }) if attempt < 8 => {
                tracing::warn!(attempt, error = %error_chain(&e), "database not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn run_seed(store: &SqlStore, count: u64, rng_seed: u64) -> Result<(), AppError> {
    let report = seed::seed(store, count, rng_seed).await?;
    if report.inserted > 0 && report.before > 0 {
        store.analyze().await?;
    }
    let secs = report.elapsed.as_secs_f64();
    tracing::info!(
        before = report.before,
        inserted = report.inserted,
        seconds = format!("{secs:.2}"),
        rows_per_second = if secs > 0.0 {
            (report.inserted as f64 / secs) as u64
        } else {
            0
        },
        "seeding done"
    );
    Ok(())
}

/// Adds the cache the configuration selects: Redis when `REDIS_URL` is set,
/// the in-process cache otherwise, none with `CATALOG_CACHE=off`.
fn with_cache(
    service: CatalogService,
    cfg: &Config,
    observer: Arc<dyn Observer>,
) -> Result<CatalogService, AppError> {
    let c = &cfg.cache;
    if !c.enabled {
        tracing::info!("cache disabled (CATALOG_CACHE=off)");
        return Ok(service);
    }
    let longest = [
        c.ttls.list,
        c.ttls.detail,
        c.ttls.stats,
        c.ttls.categories,
        c.ttls.brands,
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    // Generations must outlive every entry stored under them.
    let generation_ttl = longest * 2 + std::time::Duration::from_secs(60);
    let (cache, backend): (Arc<dyn catalog_domain::Cache>, &'static str) = match &cfg.redis_url {
        Some(url) => {
            tracing::info!(redis = %redact(url), prefix = %c.prefix, "cache: Redis");
            let redis = Arc::new(
                RedisCache::new(RedisSettings {
                    url: url.clone(),
                    prefix: c.prefix.clone(),
                    timeout: c.timeout,
                    pool_size: c.redis_pool_size,
                    generation_ttl,
                })
                .map_err(|e| AppError::Cache(e.to_string()))?,
            );
            (redis, "redis")
        }
        None => {
            tracing::info!(
                max_mb = c.memory_max_bytes / (1024 * 1024),
                "cache: in-process"
            );
            let memory = Arc::new(MemoryCache::new(c.memory_max_bytes, generation_ttl));
            (memory, "memory")
        }
    };
    // Every cache call timed for /metrics (Redis round trips chiefly).
    let cache = Arc::new(ObservedCache::new(cache, backend, observer));
    let settings = CacheSettings {
        ttls: c.ttls.clone(),
        ..CacheSettings::default()
    };
    Ok(service.with_cache(cache, settings))
}

/// The rate limiter the configuration selects: none (`off`), governor in
/// process, or with `REDIS_URL` a Redis script shared by every instance,
/// falling back to the in-process one while Redis fails.
fn rate_limiter(cfg: &Config) -> Result<Option<Arc<dyn RateLimiter>>, AppError> {
    let Some(quota) = cfg.rate_limit else {
        tracing::info!("rate limit: off (CATALOG_RATE_LIMIT=off)");
        return Ok(None);
    };
    let local: Arc<dyn RateLimiter> = Arc::new(GovernorLimiter::new(quota));
    let Some(url) = &cfg.redis_url else {
        tracing::info!(%quota, "rate limit: per client, in process");
        return Ok(Some(local));
    };
    let shared = RedisRateLimiter::new(
        RedisLimiterSettings {
            url: url.clone(),
            prefix: cfg.cache.prefix.clone(),
            timeout: cfg.cache.timeout,
            pool_size: cfg.cache.redis_pool_size,
        },
        quota,
    )
    .map_err(|e| AppError::Cache(e.to_string()))?;
    tracing::info!(%quota, prefix = %cfg.cache.prefix, "rate limit: per client, shared in Redis (in process while Redis fails)");
    Ok(Some(Arc::new(FailOpen::new(Arc::new(shared), local))))
}

/// Deletes change-log entries older than `keep`, now and then: every
/// instance runs it (a delete of what another instance already deleted
/// finds nothing), every tenth of the retention, at most hourly.
fn spawn_pruning(store: Arc<SqlStore>, keep: std::time::Duration) {
    let every = (keep / 10).min(std::time::Duration::from_secs(3_600));
    tokio::spawn(async move {
        loop {
            match catalog_domain::ChangeLog::prune(&*store, keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "change log: pruned past retention"),
                Err(e) => {
                    tracing::warn!(error = %catalog_domain::error::error_chain(&e), "change log: pruning failed; retrying later")
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Graceful shutdown: on the first SIGTERM/SIGINT the instance drains
/// (/health answers 503, every response says `Connection: close`), keeps
/// accepting for `delay` so that a load balancer notices, then stops
/// accepting and gives in-flight requests `timeout` to finish. A second
/// signal stops at once.
async fn drain_on_signal(
    server: actix_web::dev::ServerHandle,
    lifecycle: catalog_http::Lifecycle,
    delay: std::time::Duration,
    timeout: std::time::Duration,
) {
    let signal = stop_signal().await;
    lifecycle.start_draining();
    tracing::info!(
        signal,
        delay_ms = delay.as_millis() as u64,
        timeout_ms = timeout.as_millis() as u64,
        "draining: /health answers 503; in-flight requests finish (a second signal stops at once)"
    );
    let graceful = async {
        tokio::time::sleep(delay).await;
        tracing::info!("no longer accepting connections");
        server.stop(true).await;
    };
    tokio::select! {
        () = graceful => {}
        signal = stop_signal() => {
            tracing::warn!(signal, "second signal: stopping now");
            server.stop(false).await;
        }
    }
}

async fn serve(cfg: Config) -> Result<(), AppError> {
    let store = open_store(&cfg).await?;
    store.migrate().await?;
    if cfg.seed_count > 0 && catalog_domain::ProductWriter::count_all(&store).await? == 0 {
        tracing::info!(
            count = cfg.seed_count,
            "empty database: seeding (CATALOG_SEED_COUNT=0 disables)"
        );
        run_seed(&store, cfg.seed_count, 42).await?;
    }
    if cfg.jwt_secret.is_none() {
        tracing::info!("CATALOG_JWT_SECRET is unset: writes are refused");
    }
    let store = Arc::new(store);
    let pool_store = Arc::clone(&store);
    let metrics = Arc::new(Metrics::new().with_pool(Box::new(move || {
        let p = pool_store.pool_stats();
        catalog_http::PoolStats {
            size: p.size,
            idle: p.idle,
            max: p.max,
        }
    })));
    let observer: Arc<dyn Observer> = Arc::clone(&metrics) as Arc<dyn Observer>;
    if let Some(keep) = cfg.change_log_retention {
        spawn_pruning(Arc::clone(&store), keep);
    }
    let store: Arc<dyn catalog_domain::ProductStore> = match cfg.search_index {
        config::SearchIndexMode::Memory => {
            tracing::info!(
                "search index: building in the background (CATALOG_SEARCH_INDEX=memory)"
            );
            Arc::new(catalog_domain::search_index::Routed(
                catalog_search_memory::SearchRouted::start_with(
                    store,
                    catalog_search_memory::DEEP_OFFSET,
                    cfg.change_log_retention,
                ),
            ))
        }
        config::SearchIndexMode::Sql => {
            tracing::info!(
                "search index: off, the database answers searches (CATALOG_SEARCH_INDEX=sql)"
            );
            store
        }
    };
    // Every storage call timed for /metrics, as the service sees it
    // (the search index answers some of them).
    let store: Arc<dyn catalog_domain::ProductStore> =
        Arc::new(ObservedStore::new(store, Arc::clone(&observer)));
    let inflight = cfg
        .max_inflight_expensive
        .resolve(pool_config(&cfg).max_connections);
    match inflight {
        Some(n) => tracing::info!(
            per_class = n,
            "load shedding: expensive reads that miss the cache are bounded"
        ),
        None => tracing::info!("load shedding: off (CATALOG_MAX_INFLIGHT_EXPENSIVE=off)"),
    }
    let service = with_cache(
        CatalogService::new(store, CursorKey::new(&cfg.cursor_secret))
            .with_max_offset(cfg.max_offset)
            .with_inflight_limit(inflight),
        &cfg,
        observer,
    )?;
    if cfg.cache.enabled && cfg.cache.warm {
        match catalog_http::warm_cache(&service).await {
            Ok(()) => tracing::info!("cache warmed: categories, brands, stats, first page"),
            Err(e) => tracing::warn!(error = %e, "cache warming failed; continuing cold"),
        }
    }
    let state = AppState::new(
        service,
        HttpConfig {
            cors: cfg.cors.clone(),
            jwt_secret: cfg.jwt_secret.clone(),
            metrics_token: cfg.metrics_token.clone(),
            rate_limiter: rate_limiter(&cfg)?,
            trusted_proxies: cfg.trusted_proxies.clone(),
            request_timeout: cfg.request_timeout,
        },
    )
    .with_metrics(metrics);
    let lifecycle = state.lifecycle.clone();
    let server = actix_web::HttpServer::new(move || build_app(state.clone()))
        .bind(cfg.addr)?
        // Signals are ours (below): draining comes before the stop.
        .disable_signals()
        // In-flight requests get this long to finish once accepting stops.
        .shutdown_timeout(cfg.shutdown_timeout.as_millis().div_ceil(1000) as u64);
    let addrs = server.addrs();
    let server = server.run();
    for addr in &addrs {
        tracing::info!("Catalog listening on http://{addr} (API docs: http://{addr}/docs/)");
        // The plain banner would break a JSON log stream (one object per
        // line); the line above says the same there.
        if cfg.log_format == config::LogFormat::Text {
            eprintln!("Catalog is serving on http://{addr} - API docs at http://{addr}/docs/");
        }
    }
    tokio::spawn(drain_on_signal(
        server.handle(),
        lifecycle,
        cfg.shutdown_delay,
        cfg.shutdown_timeout,
    ));
    server.await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), AppError> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", catalog_http::openapi_json());
        return Ok(());
    }
    let cfg = Config::from_env()?;
    tracing::debug!(config = ?cfg, "configuration");
    match command {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            let store = open_store(&cfg).await?;
            store.migrate().await?;
            tracing::info!(database = %redact(&cfg.database_url), "migrations applied");
            Ok(())
        }
        Command::Seed { count, rng_seed } => {
            let store = open_store(&cfg).await?;
            store.migrate().await?;
            run_seed(&store, count, rng_seed).await
        }
        Command::Token { sub, scope, ttl } => {
            let secret = cfg.jwt_secret.as_deref().ok_or_else(|| {
                AppError::Config(config::ConfigError {
                    var: "CATALOG_JWT_SECRET",
                    message: "must be set to mint a token".into(),
                })
            })?;
            if sub.trim().is_empty() || ttl == 0 {
                return Err(AppError::Usage(
                    "--sub must be non-empty and --ttl positive".into(),
                ));
            }
            let token = catalog_http::auth::mint_token(secret, &sub, &scope, ttl)
                .map_err(AppError::Usage)?;
            println!("{token}");
            Ok(())
        }
        Command::Verify { repair, no_index } => {
            let store = open_store(&cfg).await?;
            store.migrate().await?;
            verify(&store, repair).await?;
            if no_index {
                Ok(())
            } else {
                verify_index(&store).await
            }
        }
        Command::Import {
            file,
            format,
            strict,
            errors,
            ignore_unknown,
        } => {
            let (store, service) = cli_service(&cfg).await?;
            let args = interchange::ImportArgs {
                file,
                format,
                strict,
                errors,
                ignore_unknown,
            };
            let summary = interchange::import(&service, Some(&store), &args).await?;
            println!("imported {}: {summary}", args.file);
            if summary.rejected > 0 {
                return Err(AppError::Partial(format!(
                    "{} row(s) rejected; the others were imported",
                    summary.rejected
                )));
            }
            Ok(())
        }
        Command::Export {
            format,
            output,
            category,
            brand,
            min_price,
            max_price,
            min_rating,
            in_stock,
            is_active,
            search,
            fuzzy,
        } => {
            let params = catalog_http::params::FilterParams {
                category,
                brand,
                min_price: min_price.into_iter().collect(),
                max_price: max_price.into_iter().collect(),
                min_rating: min_rating.into_iter().collect(),
                in_stock: in_stock.into_iter().collect(),
                is_active: is_active.into_iter().collect(),
                search: search.into_iter().collect(),
                fuzzy: fuzzy.into_iter().collect(),
            };
            let filter = params.into_filter().map_err(|e| {
                AppError::Usage(
                    e.errors()
                        .iter()
                        .map(|f| format!("--{}: {}", f.field.replace('_', "-"), f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            let (_, service) = cli_service(&cfg).await?;
            let started = std::time::Instant::now();
            let head = service
                .feed_head()
                .await
                .map_err(|e| AppError::Export(e.to_string()))?;
            let rows = match &output {
                Some(path) => {
                    let f = std::fs::File::create(path)?;
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                    interchange::export(&service, filter, format, &mut w).await?
                }
                None => {
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
                    interchange::export(&service, filter, format, &mut w).await?
                }
            };
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                rows,
                seconds = format!("{secs:.2}"),
                rows_per_second = if secs > 0.0 {
                    (rows as f64 / secs) as u64
                } else {
                    0
                },
                changes_since = head.as_deref().unwrap_or(""),
                "export done; follow GET /api/v1/products/changes?since=<changes_since> for what changed meanwhile"
            );
            Ok(())
        }
        Command::Openapi => Ok(()),
    }
}

/// The catalog service of a one-shot command (import, export): the
/// configured database, migrated, and the configured cache, so that its
/// writes reach every instance's cache (through Redis) as a server's do.
async fn cli_service(cfg: &Config) -> Result<(Arc<SqlStore>, CatalogService), AppError> {
    let store = open_store(cfg).await?;
    store.migrate().await?;
    let store = Arc::new(store);
    let observer: Arc<dyn Observer> = Arc::new(Metrics::new());
    let service = with_cache(
        CatalogService::new(store.clone(), CursorKey::new(&cfg.cursor_secret)),
        cfg,
        observer,
    )?;
    Ok((store, service))
}

/// `catalog verify`'s index check: an index built from the table and the
/// change log answers sampled searches (totals, first pages, facets) as the
/// database does. A difference is a bug of the index (never repairable
/// data): it is printed and the exit status is 1. Run it while writes are
/// quiet: a write between the two answers reads as a difference.
async fn verify_index(store: &SqlStore) -> Result<(), AppError> {
    let check =
        catalog_domain::search_index::cross_check::<catalog_search_memory::Index, _>(store, 60)
            .await?;
    for d in &check.disagreements {
        println!(
            "search index: {}: index {}, database {}",
            d.question, d.index, d.database
        );
    }
    if check.disagreements.is_empty() {
        println!(
            "search index agrees with the database: {} products indexed in {:.1} s, {} searches compared",
            check.products,
            check.build.as_secs_f64(),
            check.questions
        );
        Ok(())
    } else {
        Err(AppError::Drift(format!(
            "the search index disagrees with the database on {} question(s)",
            check.disagreements.len()
        )))
    }
}

/// `catalog verify`: one line per derived table that disagrees, then the
/// verdict; with `repair`, rebuilds and checks once more.
async fn verify(store: &SqlStore, repair: bool) -> Result<(), AppError> {
    let started = std::time::Instant::now();
    let drift = store.derived_drift().await?;
    for d in &drift {
        println!(
            "{}: {} rows it should not hold, {} rows it lacks",
            d.table, d.extra, d.missing
        );
    }
    if drift.is_empty() {
        println!(
            "derived tables agree with the products table ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if !repair {
        return Err(AppError::Drift(format!(
            "{} derived table(s) disagree with the products table; \
             `catalog verify --repair` rebuilds them",
            drift.len()
        )));
    }
    store.repair_derived().await?;
    let after = store.derived_drift().await?;
    if after.is_empty() {
        println!("repaired: derived tables agree with the products table");
        Ok(())
    } else {
        Err(AppError::Drift(format!(
            "{} derived table(s) still disagree after the repair",
            after.len()
        )))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = actix_web::rt::System::new().block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(AppError::Partial(message)) => {
            eprintln!("warning: {message}");
            ExitCode::from(3)
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "catalog failed");
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
