//! `SqlStore`: connection set-up and the storage port implementation.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use catalog_domain::facets::{FacetField, FacetKey};
use catalog_domain::ports::{Created, IDEMPOTENCY_TTL_HOURS, Idempotency, PageSpec};
use catalog_domain::product::now;
use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::search::EXACT_SKU_SCORE;
use catalog_domain::search::{SearchDocument, in_vocabulary};
use catalog_domain::{
    NameCount, NewProduct, Price, Product, ProductFilter, ProductId, ProductReader, ProductWriter,
    Rating, SearchQuery, Sku, StatsRow, StorageError,
};
use migration::{Migrator, MigratorTrait};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::bulk_summary::BulkSummary;
use crate::entity::{self, Column, Entity};
use crate::error::{Context, storage_err};
use crate::query::{filter_condition, keyset_condition, sort_expr};

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://`/`postgresql://` or `sqlite:`; anything else is refused.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }
}

/// The backend of a URL, or the error naming `DATABASE_URL`.
fn backend_of(url: &str) -> Result<Backend, StorageError> {
    Backend::from_url(url).ok_or_else(|| {
        StorageError::internal(
            "DATABASE_URL",
            "unsupported scheme: use postgres://... or sqlite://...",
        )
    })
}

/// Connection pool sizing.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// Server-side statement timeout (PostgreSQL); a runaway query is
    /// cancelled instead of holding a connection.
    pub statement_timeout: Option<Duration>,
}

impl PoolConfig {
    /// Defaults per backend: PostgreSQL gets enough connections to keep the
    /// server's cores busy under concurrent requests; SQLite serialises
    /// writes anyway, so a few connections serve concurrent WAL readers.
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self {
                max_connections: 16,
                min_connections: 2,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Some(Duration::from_secs(30)),
            },
            Backend::Sqlite => Self {
                max_connections: 8,
                min_connections: 1,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: None,
            },
        }
    }
}

/// A pooled connection idle this long is pinged before it is handed out.
const POOL_PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// The SeaORM adapter.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    /// PostgreSQL: a second pool whose sessions use generic plans, for the
    /// statements no bound value can give a different best plan
    /// (`crate::plans`). SQLite has no plan cache to tune: `None`.
    generic: Option<DatabaseConnection>,
    backend: Backend,
}

impl SqlStore {
    /// Connects with the default pool for the URL's backend.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, PoolConfig::for_backend(backend_of(url)?)).await
    }

    /// Connects. On PostgreSQL the pool's connections are split between
    /// two pools: custom plans and generic plans (`crate::plans`), half
    /// each, so `max_connections` stays the total the server sees.
    pub async fn connect_with(url: &str, pool: PoolConfig) -> Result<Self, StorageError> {
        let backend = backend_of(url)?;
        if backend == Backend::Sqlite {
            let db = Self::open_pool(url, backend, &pool, false).await?;
            return Ok(Self {
                db,
                generic: None,
                backend,
            });
        }
        // Each pool needs one connection, so a total of 1 becomes 2.
        let custom = PoolConfig {
            max_connections: Ord::max(pool.max_connections / 2, 1),
            min_connections: Ord::max(pool.min_connections / 2, 1),
            ..pool.clone()
        };
        let generic = PoolConfig {
            max_connections: Ord::max(pool.max_connections.div_ceil(2), 1),
            min_connections: Ord::max(pool.min_connections.div_ceil(2), 1),
            ..pool
        };
        let db = Self::open_pool(url, backend, &custom, false).await?;
        let generic = Self::open_pool(url, backend, &generic, true).await?;
        Ok(Self {
            db,
            generic: Some(generic),
            backend,
        })
    }

    async fn open_pool(
        url: &str,
        backend: Backend,
        pool: &PoolConfig,
        generic_plans: bool,
    ) -> Result<DatabaseConnection, StorageError> {
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_timeout(pool.acquire_timeout)
            // SQLx pings every connection it hands out by default: one more
            // round trip per query. Ping only connections idle long enough
            // for a server, proxy or firewall to have dropped them.
            .test_before_acquire_if_idle_for(POOL_PING_IF_IDLE_FOR)
            .sqlx_logging(false);
        if let Some(t) = pool.statement_timeout {
            opts.statement_timeout(t);
        }
        match backend {
            Backend::Sqlite => {
                opts.map_sqlx_sqlite_opts(|o| {
                    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                    // WAL: readers never block the writer nor each other.
                    // NORMAL is durable across application crashes in WAL mode.
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(5))
                        .foreign_keys(true)
                });
            }
            Backend::Postgres => {
                let plain = crate::plans::local_without_sslmode(
                    url,
                    std::env::var("PGSSLMODE").ok().as_deref(),
                );
                opts.map_sqlx_postgres_opts(move |o| {
                    use sea_orm::sqlx::postgres::PgSslMode;
                    let o = if plain {
                        o.ssl_mode(PgSslMode::Disable)
                    } else {
                        o
                    };
                    // Explicit both ways: left to itself (`auto`) PostgreSQL
                    // switches a statement to a value-blind plan after five
                    // executions when it estimates that plan no costlier,
                    // and for a search tier (whose tsquery it then cannot
                    // see) that was a full fetch of a frequent word's
                    // matches: 1.7 ms became seconds once each connection
                    // had run it five times.
                    let mode = if generic_plans {
                        "force_generic_plan"
                    } else {
                        "force_custom_plan"
                    };
                    // No JIT: it compiles the expressions of any statement
                    // the planner costs above 100,000 (a broad search's
                    // count, a facet or stats aggregate), 30-40 ms of
                    // compiling on a 250 ms count, and is never repaid in
                    // a query this short.
                    o.options([("plan_cache_mode", mode), ("jit", "off")])
                });
            }
        }
        Database::connect(opts)
            .await
            .map_err(|e| storage_err("connecting to the database", e))
    }

    /// Whether [`ProductReader::list`] runs `page` on a generic plan: a
    /// plan-stable shape (`crate::plans`) on PostgreSQL, without OFFSET (a
    /// generic plan cannot see a bound offset either, and offsets are too
    /// many to inline).
    pub fn plan_is_generic(&self, page: &PageSpec<'_>) -> bool {
        self.generic.is_some()
            && page.offset == 0
            && crate::plans::list_is_plan_stable(page.filter, page.sort, page.after.is_some())
    }

    /// The pool for a read of a plan-stable shape (`crate::plans`).
    fn reads(&self, plan_stable: bool) -> &DatabaseConnection {
        match &self.generic {
            Some(g) if plan_stable => g,
            _ => &self.db,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        Migrator::up(&self.db, None)
            .await
            .context("applying migrations")?;
        self.ensure_indexes().await?;
        self.heal_interrupted_bulk_load().await
    }

    /// A bulk load that died between [`SqlStore::begin_bulk_load`] and
    /// [`SqlStore::finish_bulk_load`] left the PostgreSQL triggers paused:
    /// writes since then have no search vector and are missing from the
    /// summary and the vocabulary. This resumes the triggers, fills the
    /// missing vectors and rebuilds the summary and vocabulary (a no-op
    /// query when every trigger is enabled). Safe beside a load that is
    /// still running: its own finish rebuilds the same tables again.
    pub async fn heal_interrupted_bulk_load(&self) -> Result<(), StorageError> {
        if self.backend != Backend::Postgres {
            let present = self
                .trigger_count(format!(
                    "SELECT count(*) FROM sqlite_master \
                     WHERE type = 'trigger' AND name IN ('{}')",
                    migration::SQLITE_PRICE_SUMMARY_TRIGGERS.join("', '")
                ))
                .await?;
            if present != migration::SQLITE_PRICE_SUMMARY_TRIGGERS.len() as i64 {
                tracing::warn!(
                    "an interrupted bulk load left the price summary triggers dropped: \
                     recreating them and rebuilding the price summary"
                );
                self.resume_sqlite_price_summary().await?;
            }
            return Ok(());
        }
        let paused = self
            .trigger_count(format!(
                "SELECT count(*) FROM pg_trigger \
                 WHERE tgrelid = 'products'::regclass AND tgenabled = 'D' \
                 AND tgname IN ('{}')",
                BULK_PAUSED_TRIGGERS.join("', '")
            ))
            .await?;
        if paused == 0 {
            return Ok(());
        }
        tracing::warn!(
            "an interrupted bulk load left the products triggers paused: \
             resuming them and rebuilding search vectors, summary and vocabulary"
        );
        self.db
            .execute_unprepared("ALTER TABLE products ENABLE TRIGGER products_search_vector")
            .await
            .context("resuming the search vector trigger")?;
        let txn = self.begin_maintenance().await?;
        txn.execute_unprepared(
            "UPDATE products SET search_vector = \
             catalog_search_vector(search_name, search_body) WHERE search_vector IS NULL",
        )
        .await
        .context("filling missing search vectors")?;
        txn.commit()
            .await
            .context("filling missing search vectors")?;
        self.rebuild_derived(None, None).await
    }

    /// The one count `sql` returns (a catalog query about triggers).
    async fn trigger_count(&self, sql: String) -> Result<i64, StorageError> {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await
            .context("checking for an interrupted bulk load")?
            .ok_or_else(|| {
                StorageError::internal("checking for an interrupted bulk load", "no row")
            })?;
        row.try_get_by_index::<i64>(0)
            .context("checking for an interrupted bulk load")
    }

    /// SQLite: rebuilds the price summary from the table and recreates its
    /// triggers, in one write transaction (no write lands between).
    async fn resume_sqlite_price_summary(&self) -> Result<(), StorageError> {
        let txn = self.begin_write().await?;
        for sql in migration::rebuild_price_summary()
            .into_iter()
            .chain(migration::sqlite_price_summary_triggers())
        {
            txn.execute_unprepared(&sql)
                .await
                .context("rebuilding the price summary")?;
        }
        txn.commit().await.context("rebuilding the price summary")
    }

    /// Creates any secondary index that is missing (a bulk load that was
    /// interrupted after dropping them). Cheap when they all exist.
    pub async fn ensure_indexes(&self) -> Result<(), StorageError> {
        for idx in migration::secondary_indexes() {
            self.db.execute(&idx).await.context("creating an index")?;
        }
        if self.backend == Backend::Postgres {
            for sql in [migration::PG_SEARCH_INDEX, migration::PG_SEARCH_NAME_INDEX] {
                self.db
                    .execute_unprepared(sql)
                    .await
                    .context("creating a search index")?;
            }
        }
        Ok(())
    }

    /// Prepares a bulk load into an empty table: drops the secondary
    /// indexes, which are cheaper to build once over the loaded rows than
    /// to maintain row by row. [`SqlStore::finish_bulk_load`] recreates
    /// them (and [`SqlStore::migrate`] does if a load was interrupted).
    pub async fn begin_bulk_load(&self) -> Result<(), StorageError> {
        if self.backend == Backend::Postgres {
            // The summary and the search vocabulary are rebuilt in one
            // pass at the end instead of one upsert per row, and each row
            // arrives with its search vector (`CopyRows`).
            self.db
                .execute_unprepared(&alter_bulk_triggers("DISABLE"))
                .await
                .context("pausing the summary, vocabulary and search vector triggers")?;
            for name in [
                migration::PG_SEARCH_INDEX_NAME,
                migration::PG_SEARCH_NAME_INDEX_NAME,
            ] {
                self.db
                    .execute_unprepared(&format!("DROP INDEX IF EXISTS \"{name}\""))
                    .await
                    .context("dropping a search index for a bulk load")?;
            }
        }
        if self.backend == Backend::Sqlite {
            // SQLite cannot pause triggers: the histogram's are dropped and
            // recreated, with a rebuild, by `finish_bulk_load` (or by
            // `migrate` after an interrupted load).
            for t in migration::SQLITE_PRICE_SUMMARY_TRIGGERS {
                self.db
                    .execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}"))
                    .await
                    .context("pausing the price summary triggers")?;
            }
        }
        for idx in migration::secondary_indexes() {
            let Some(name) = idx.get_index_spec().get_name() else {
                continue;
            };
            let drop = sea_orm::sea_query::Index::drop()
                .name(name)
                .table(Entity)
                .if_exists()
                .to_owned();
            // SQLite's DROP INDEX takes no table.
            let stmt = if self.backend == Backend::Sqlite {
                format!("DROP INDEX IF EXISTS \"{name}\"")
            } else {
                self.db.get_database_backend().build(&drop).sql
            };
            self.db
                .execute_unprepared(&stmt)
                .await
                .context("dropping an index for a bulk load")?;
        }
        Ok(())
    }

    /// Rebuilds the indexes and the derived tables, then refreshes planner
    /// statistics (and, on PostgreSQL, the visibility map, so that counts
    /// are index-only scans from the first request). Each phase is logged
    /// with its duration.
    pub async fn finish_bulk_load(&self) -> Result<(), StorageError> {
        self.finish_bulk_load_with(None, None).await
    }

    /// [`SqlStore::finish_bulk_load`], given the loaded rows' vocabulary
    /// (the union of [`CopyRows::vocabulary`]) when the loader collected
    /// it: writing a few thousand words is much cheaper than extracting
    /// them from a million search vectors. With `None` the vocabulary is
    /// rebuilt from the table. Likewise `summary` (the union of
    /// [`CopyRows::take_summary`]) fills the summaries, when the table
    /// holds exactly the loaded rows; otherwise they are rebuilt from it.
    pub async fn finish_bulk_load_with(
        &self,
        vocabulary: Option<BTreeSet<String>>,
        summary: Option<BulkSummary>,
    ) -> Result<(), StorageError> {
        if self.backend != Backend::Postgres {
            let started = Instant::now();
            self.ensure_indexes().await?;
            tracing::info!(elapsed_ms = ms(started), "bulk load: indexes built");
            let started = Instant::now();
            self.resume_sqlite_price_summary().await?;
            tracing::info!(elapsed_ms = ms(started), "bulk load: price summary rebuilt");
            let started = Instant::now();
            self.analyze().await?;
            tracing::info!(elapsed_ms = ms(started), "bulk load: analyzed");
            return Ok(());
        }
        // Two lanes on two connections, one per core, take the index
        // builds from one queue, longest first: the vector's GIN index
        // (about 14 s alone at a million rows) on one, its name part's (7 s)
        // and then the btrees on the other, the first lane joining in when
        // it is done. CREATE INDEX takes a SHARE lock, which concurrent
        // index builds on one table share. Running the two GIN builds one
        // after the other on one lane left it the longest by seconds.
        let started = Instant::now();
        let builder = self.db.get_database_backend();
        let queue: std::collections::VecDeque<String> = [
            migration::PG_SEARCH_INDEX.to_owned(),
            migration::PG_SEARCH_NAME_INDEX.to_owned(),
        ]
        .into_iter()
        .chain(
            migration::secondary_indexes()
                .iter()
                .map(|idx| builder.build(idx).sql),
        )
        .collect();
        let queue = std::sync::Mutex::new(queue);
        let lane = || async {
            loop {
                // Held for the pop only, never across an await.
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(sql) = next else {
                    return Ok::<_, StorageError>(());
                };
                self.build_indexes(&[sql]).await?;
            }
        };
        futures::future::try_join(lane(), lane()).await?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: indexes built");
        let lane = Instant::now();
        self.rebuild_derived(vocabulary, summary).await?;
        tracing::info!(
            elapsed_ms = ms(lane),
            "bulk load: summary and vocabulary rebuilt"
        );
        tracing::info!(
            elapsed_ms = ms(started),
            "bulk load: indexes and derived tables ready"
        );
        let started = Instant::now();
        self.run_unbounded("VACUUM (ANALYZE) products")
            .await
            .map_err(|e| StorageError::internal("vacuuming after a bulk load", e))?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: vacuumed and analyzed");
        Ok(())
    }

    /// Runs index builds in one transaction with the memory a bulk build
    /// wants (PostgreSQL's default `maintenance_work_mem` of 64 MB makes a
    /// GIN build over a million documents spill and merge many times).
    async fn build_indexes(&self, statements: &[String]) -> Result<(), StorageError> {
        let txn = self.begin_write().await?;
        txn.execute_unprepared(&format!(
            "SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_WORK_MEM}'"
        ))
        .await
        .context("sizing the index build memory")?;
        txn.execute_unprepared(migration::PG_NO_STATEMENT_TIMEOUT)
            .await
            .context("lifting the statement timeout for index builds")?;
        for sql in statements {
            txn.execute_unprepared(sql)
                .await
                .context("building an index after a bulk load")?;
        }
        txn.commit().await.context("building indexes")
    }

    /// Runs one statement that cannot run in a transaction (VACUUM) without
    /// the pool's statement timeout, on a connection of its own; the
    /// timeout is restored before the connection returns to the pool, or
    /// the connection is closed.
    async fn run_unbounded(&self, sql: &'static str) -> Result<(), sea_orm::sqlx::Error> {
        use sea_orm::sqlx::Executor;
        let mut conn = self.db.get_postgres_connection_pool().acquire().await?;
        conn.execute("SET statement_timeout = 0").await?;
        let outcome = conn.execute(sql).await.map(|_| ());
        if conn.execute("RESET statement_timeout").await.is_err() {
            let _ = conn.close().await;
        }
        outcome
    }

    /// Refills the summary and the search vocabulary from the products
    /// table and resumes the triggers that keep them, in one transaction.
    async fn rebuild_derived(
        &self,
        vocabulary: Option<BTreeSet<String>>,
        summary: Option<BulkSummary>,
    ) -> Result<(), StorageError> {
        let summary = match summary {
            Some(s) if self.holds_only(&s).await? => Some(s),
            Some(_) => {
                tracing::warn!(
                    "products changed during the bulk load: rebuilding the summaries from the table"
                );
                None
            }
            None => None,
        };
        if let Some(s) = &summary {
            self.db
                .execute_unprepared(&format!(
                    "TRUNCATE product_summary, {}",
                    migration::PRICE_SUMMARY_TABLE
                ))
                .await
                .context("clearing the summaries")?;
            self.copy_in(
                "COPY product_summary (category, brand, product_count, active_count, \
                 in_stock_count, stock_sum, price_sum, rating_sum) FROM STDIN",
                s.summary_copy(),
            )
            .await?;
            let counters: Vec<String> = migration::price_summary_counters()
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            self.copy_in(
                &format!(
                    "COPY {} (dim, name, width, bucket, {}) FROM STDIN",
                    migration::PRICE_SUMMARY_TABLE,
                    counters.join(", ")
                ),
                s.price_summary_copy(),
            )
            .await?;
        }
        if let Some(terms) = &vocabulary {
            // The table is the vocabulary of the (previously empty)
            // products table: anything in it is a deleted product's.
            self.db
                .execute_unprepared("TRUNCATE search_terms")
                .await
                .context("clearing the search vocabulary")?;
            let mut text = Vec::new();
            for t in terms {
                copy_escape(&mut text, t);
                text.push(b'\n');
            }
            self.copy_in("COPY search_terms (term) FROM STDIN", text)
                .await?;
        }
        let txn = self.begin_maintenance().await?;
        if summary.is_none() {
            for sql in migration::REBUILD_SUMMARY {
                txn.execute_unprepared(sql)
                    .await
                    .context("rebuilding the summary")?;
            }
            for sql in migration::rebuild_price_summary() {
                txn.execute_unprepared(&sql)
                    .await
                    .context("rebuilding the price summary")?;
            }
        }
        if vocabulary.is_none() {
            txn.execute_unprepared(migration::PG_REBUILD_SEARCH_TERMS)
                .await
                .context("rebuilding the search vocabulary")?;
        }
        txn.execute_unprepared(&alter_bulk_triggers("ENABLE"))
            .await
            .context("resuming the summary, vocabulary and search vector triggers")?;
        txn.commit().await.context("rebuilding the summary")
    }

    /// Whether the products table holds exactly the rows `summary` counted:
    /// as many, none with a higher id, none updated (version 1). A write
    /// during a bulk load (its triggers paused) fails this.
    async fn holds_only(&self, summary: &BulkSummary) -> Result<bool, StorageError> {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n, COALESCE(max(id), 0) AS max_id, \
                 COALESCE(max(version), 1)::bigint AS version FROM products",
            ))
            .await
            .context("checking the loaded rows")?
            .ok_or_else(|| StorageError::internal("checking the loaded rows", "no row"))?;
        Ok(non_negative(get_i64(&row, "n")?) == summary.rows()
            && get_i64(&row, "max_id")? == summary.max_id()
            && get_i64(&row, "version")? == 1)
    }

    /// Inserts a batch with PostgreSQL's `COPY … FROM STDIN` (text format),
    /// several times faster than multi-row INSERTs. Unlike
    /// [`ProductWriter::insert_batch`] it does not skip taken skus (a
    /// duplicate fails the whole batch), so use it to fill an empty table.
    /// Falls back to `insert_batch` on SQLite.
    pub async fn copy_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        if self.backend != Backend::Postgres {
            return self.insert_batch(products).await;
        }
        let first_id = self.reserve_ids(products.len() as u64).await?;
        self.copy_encoded(CopyRows::encode(products, first_id))
            .await
    }

    /// Reserves `n` consecutive product ids for rows a `COPY` will insert
    /// with explicit ids, and returns the first (PostgreSQL). The ids come
    /// from the table's identity sequence, so ids of deleted products are
    /// never handed out again and later inserts continue after them.
    /// Concurrent inserts wait for the reservation (a table lock excluding
    /// writers for its duration), so the range is contiguous.
    pub async fn reserve_ids(&self, n: u64) -> Result<i64, StorageError> {
        let n = i64::try_from(Ord::max(n, 1))
            .map_err(|e| StorageError::internal("reserving product ids", e))?;
        let txn = self.begin_write().await?;
        txn.execute_unprepared("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
            .await
            .context("reserving product ids")?;
        let row = txn
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT setval(pg_get_serial_sequence('products', 'id'), \
                 nextval(pg_get_serial_sequence('products', 'id')) + $1 - 1) - $1 + 1 AS first",
                [n.into()],
            ))
            .await
            .context("reserving product ids")?
            .ok_or_else(|| StorageError::internal("reserving product ids", "no row"))?;
        let first = get_i64(&row, "first")?;
        txn.commit().await.context("reserving product ids")?;
        Ok(first)
    }

    /// Sends rows [`CopyRows::encode`] prepared (possibly on another
    /// thread, while the previous batch was being sent) with `COPY`. On
    /// SQLite, inserts them in one transaction instead.
    pub async fn copy_encoded(&self, rows: CopyRows) -> Result<u64, StorageError> {
        if self.backend != Backend::Postgres {
            return self.insert_batch(&rows.products).await;
        }
        let sql = "COPY products (id, sku, name, description, category, brand, price_cents, \
                   stock_quantity, rating_tenths, is_active, search_name, search_body, \
                   search_vector, created_at, updated_at) FROM STDIN";
        self.copy_in(sql, rows.text).await
    }

    /// Runs a `COPY … FROM STDIN` with `text` as its data (PostgreSQL).
    async fn copy_in(&self, sql: &str, text: Vec<u8>) -> Result<u64, StorageError> {
        use sea_orm::sqlx::postgres::PgPoolCopyExt;
        let pool = self.db.get_postgres_connection_pool();
        let mut copy = pool
            .copy_in_raw(sql)
            .await
            .map_err(|e| StorageError::internal("starting COPY", e))?;
        if let Err(e) = copy.send(text).await {
            let _ = copy.abort(e.to_string()).await;
            return Err(StorageError::internal("sending COPY data", e));
        }
        copy.finish()
            .await
            .map_err(|e| StorageError::internal("finishing COPY", e))
    }

    /// Refreshes planner statistics after bulk loads.
    pub async fn analyze(&self) -> Result<(), StorageError> {
        let sql = match self.backend {
            Backend::Postgres => "ANALYZE products",
            Backend::Sqlite => "ANALYZE",
        };
        self.db
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .context("analyzing")
    }

    pub async fn close(self) -> Result<(), StorageError> {
        if let Some(generic) = self.generic {
            generic.close().await.context("closing the pool")?;
        }
        self.db.close().await.context("closing the pool")
    }
}

/// SQLite: brings product `id`'s FTS5 row in line with the table (a
/// deleted product loses it), in the caller's transaction. The adapter does
/// this rather than triggers: with FTS5-writing triggers next to the
/// summary triggers, the bundled SQLite fails the first write of every
/// pooled connection after any schema change ("no such table: products").
async fn sync_fts(conn: &impl ConnectionTrait, id: i64) -> Result<(), StorageError> {
    let by_id = |sql: String| {
        sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, sql, [id.into()])
    };
    conn.execute_raw(by_id("DELETE FROM products_fts WHERE rowid = ?".into()))
        .await
        .context("updating the search index")?;
    conn.execute_raw(by_id(format!(
        "{} WHERE id = ?",
        migration::SQLITE_INDEX_PRODUCTS
    )))
    .await
    .context("updating the search index")?;
    Ok(())
}

/// SQLite: indexes every product newer than the newest indexed one (ids
/// only grow), in the caller's transaction.
async fn index_new_rows(conn: &impl ConnectionTrait) -> Result<(), StorageError> {
    conn.execute_unprepared(&format!(
        "{} WHERE id > (SELECT coalesce(max(rowid), 0) FROM products_fts)",
        migration::SQLITE_INDEX_PRODUCTS
    ))
    .await
    .context("updating the search index")?;
    Ok(())
}

/// A batch of new products with its `COPY` text already encoded
/// (tokenized for search, escaped): the CPU half of a bulk insert, which
/// [`CopyRows::encode`] can run on a blocking thread.
pub struct CopyRows {
    products: Vec<NewProduct>,
    text: Vec<u8>,
    vocabulary: BTreeSet<String>,
    summary: BulkSummary,
}

impl CopyRows {
    /// Encodes `products` as the rows with ids `first_id`, `first_id + 1`,
    /// … (reserved with [`SqlStore::reserve_ids`]).
    pub fn encode(products: &[NewProduct], first_id: i64) -> CopyRows {
        CopyRows::from_products(products.to_vec(), first_id)
    }

    pub fn from_products(products: Vec<NewProduct>, first_id: i64) -> CopyRows {
        let ts = now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut text = Vec::with_capacity(products.len() * 400);
        let mut vocabulary = BTreeSet::new();
        let mut summary = BulkSummary::default();
        for (p, id) in products.iter().zip(first_id..) {
            summary.add(p, id);
            let doc = SearchDocument::new(&p.name, &p.description, p.sku.as_str());
            for t in doc.name.split(' ').chain(doc.body.split(' ')) {
                if in_vocabulary(t) && !vocabulary.contains(t) {
                    vocabulary.insert(t.to_owned());
                }
            }
            let id = id.to_string();
            let vector = crate::query::pg_tsvector(&doc.name, &doc.body);
            let fields: [&str; 15] = [
                &id,
                p.sku.as_str(),
                &p.name,
                &p.description,
                &p.category,
                &p.brand,
                &p.price.cents().to_string(),
                &p.stock_quantity.to_string(),
                &p.rating.tenths().to_string(),
                if p.is_active { "t" } else { "f" },
                &doc.name,
                &doc.body,
                &vector,
                &ts,
                &ts,
            ];
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    text.push(b'\t');
                }
                copy_escape(&mut text, f);
            }
            text.push(b'\n');
        }
        CopyRows {
            products,
            text,
            vocabulary,
            summary,
        }
    }

    /// The batch's distinct vocabulary words (`search::in_vocabulary`),
    /// for [`SqlStore::finish_bulk_load_with`].
    pub fn vocabulary(&self) -> &BTreeSet<String> {
        &self.vocabulary
    }

    /// The batch's summary counts, for [`SqlStore::finish_bulk_load_with`]
    /// (taken: the batch keeps none).
    pub fn take_summary(&mut self) -> BulkSummary {
        std::mem::take(&mut self.summary)
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}

/// Escapes a value for COPY's text format.
pub(crate) fn copy_escape(buf: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            other => buf.push(other),
        }
    }
}

fn to_product(m: impl Into<entity::ProductRow>) -> Result<Product, StorageError> {
    let m: entity::ProductRow = m.into();
    let corrupt = |what: &str, why: String| {
        StorageError::internal(format!("row {} has an invalid {what}", m.id), why)
    };
    Ok(Product {
        id: ProductId::new(m.id).map_err(|e| corrupt("id", e.to_string()))?,
        sku: Sku::parse(&m.sku).map_err(|e| corrupt("sku", e))?,
        price: Price::from_cents(m.price_cents).map_err(|e| corrupt("price", e))?,
        rating: Rating::from_tenths(i64::from(m.rating_tenths))
            .map_err(|e| corrupt("rating", e))?,
        name: m.name,
        description: m.description,
        category: catalog_domain::Label::from_stored(m.category),
        brand: catalog_domain::Label::from_stored(m.brand),
        stock_quantity: m.stock_quantity,
        is_active: m.is_active,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}

/// An integer aggregate; SQL NULL (an empty SUM) reads as 0.
pub(crate) fn get_i64(row: &sea_orm::QueryResult, col: &str) -> Result<i64, StorageError> {
    row.try_get::<Option<i64>>("", col)
        .map(|v| v.unwrap_or(0))
        .context("reading an aggregate")
}

pub(crate) fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn plan_lines(rows: &[sea_orm::QueryResult], column: &str) -> Result<Vec<String>, StorageError> {
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", column)
                .context("reading a query plan")
        })
        .collect()
}

/// The generic plan PostgreSQL runs `stmt` with on a session of the
/// generic pool: prepared, explained and deallocated on one connection (a
/// transaction pins it). Prepared statements outlive transactions, so each
/// gets a name of its own.
async fn explain_generic(
    generic: &DatabaseConnection,
    stmt: sea_orm::Statement,
) -> Result<Vec<String>, StorageError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let context = "explaining a generic plan";
    let name = format!(
        "catalog_explain_{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let txn = generic.begin().await.context(context)?;
    let raw = |sql: String| sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
    txn.execute_raw(raw(format!("PREPARE {name} AS {}", stmt.sql)))
        .await
        .context(context)?;
    let values = stmt.values.map(|v| v.0).unwrap_or_default();
    let placeholders = (1..=values.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let args = sea_orm::sea_query::inject_parameters(
        &placeholders,
        &values,
        &sea_orm::sea_query::PostgresQueryBuilder,
    );
    let execute = if values.is_empty() {
        format!("EXPLAIN (FORMAT TEXT) EXECUTE {name}")
    } else {
        format!("EXPLAIN (FORMAT TEXT) EXECUTE {name}({args})")
    };
    let rows = txn.query_all_raw(raw(execute)).await.context(context)?;
    txn.execute_raw(raw(format!("DEALLOCATE {name}")))
        .await
        .context(context)?;
    txn.rollback().await.context(context)?;
    plan_lines(&rows, "QUERY PLAN")
}

/// The statement [`ProductReader::list`] runs (and
/// [`SqlStore::explain_list`] explains): filter, keyset position, sort and
/// page.
fn list_select(page: &PageSpec<'_>, backend: Backend) -> Select<Entity> {
    let search = page.filter.search.as_ref();
    let mut select = Entity::find().filter(filter_condition(page.filter, backend));
    if let Some(after) = page.after {
        select = select.filter(keyset_condition(page.sort, after, search));
    }
    for k in page.sort {
        let order = if k.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        select = select.order_by(sort_expr(k.field, search), order);
    }
    select
        .limit(page.limit)
        .offset((page.offset > 0).then_some(page.offset))
}

/// Most include clauses for which a relevance page is read tier by tier
/// (the lower tiers enumerate which clauses are in the name: 2^n terms).
const MAX_TIERED_CLAUSES: usize = 3;

/// Where a relevance listing read tier by tier starts (PostgreSQL).
///
/// The relevance score is the exact-sku bonus plus the number of include
/// clauses found in the name, so rows of one score form a tier, and the
/// order (score DESC, id) is: the exact-sku row, then the tier with every
/// clause in the name by id, then one clause fewer, and so on. Each tier is
/// one `ORDER BY id LIMIT k` query the planner answers either by walking
/// the primary key until k rows pass (a frequent word: a few hundred rows)
/// or by the search indexes and a top-k sort (a rare one), and a page stops
/// at the tier that fills it. Computing the score in SQL instead read and
/// scored every match before the first row (seconds for a word in 10% of
/// a million products).
#[derive(Debug, Clone, Copy)]
struct TierStart {
    /// The exact-sku row comes first (a first page).
    sku_first: bool,
    /// The tier to start in: clauses found in the name.
    tier: usize,
    /// Continue that tier after this id.
    after_id: Option<i64>,
}

/// One query of a tiered relevance page.
#[derive(Debug, Clone, Copy)]
enum Tier<'a> {
    /// The product whose sku is the search text.
    Sku(&'a str),
    /// Products with this many clauses in the name, after an id.
    Name(usize, Option<i64>),
}

impl TierStart {
    /// The tiers to read, in order; `sku` is the search's sku candidate.
    fn tiers(self, sku: Option<&str>) -> Vec<Tier<'_>> {
        let mut v = Vec::new();
        if let (true, Some(sku)) = (self.sku_first, sku) {
            v.push(Tier::Sku(sku));
        }
        v.push(Tier::Name(self.tier, self.after_id));
        v.extend((0..self.tier).rev().map(|t| Tier::Name(t, None)));
        v
    }
}

/// The sku a search's text could be, when it has the shape of one (a
/// product with that sku matches and comes first).
fn sku_candidate(s: &SearchQuery) -> Option<String> {
    let cand = s.sku_candidate();
    Sku::parse(&cand)
        .ok()
        .filter(|sku| sku.as_str() == cand)
        .map(|_| cand)
}

/// One tier of a tiered relevance page, by id: the exact-sku row, or the
/// other rows (never the `sku` candidate's) with `k` clauses in the name.
fn tier_statement(
    filter: &ProductFilter,
    s: &SearchQuery,
    sku: Option<&str>,
    tier: Tier<'_>,
    limit: u64,
) -> sea_orm::Statement {
    use sea_orm::PartialModelTrait;
    // The other filters; the search is the tier's own condition.
    let others = ProductFilter {
        search: None,
        ..filter.clone()
    };
    let mut select = Entity::find().filter(filter_condition(&others, Backend::Postgres));
    match tier {
        Tier::Sku(sku) => select = select.filter(Column::Sku.eq(sku)),
        Tier::Name(k, after_id) => {
            select = select.filter(crate::query::pg_name_tier(s, k));
            // Every clause in the name implies the words match, unless
            // some are excluded: the top tier is then one index probe.
            if k < s.include().len() || !s.exclude().is_empty() {
                select = select.filter(crate::query::pg_words(s));
            }
            if let Some(sku) = sku {
                select = select.filter(Column::Sku.ne(sku));
            }
            if let Some(id) = after_id {
                select = select.filter(Column::Id.gt(id));
            }
        }
    }
    let select = select.order_by(Column::Id, Order::Asc).limit(limit);
    entity::ProductRow::select_cols(select.select_only()).build(sea_orm::DbBackend::Postgres)
}

impl SqlStore {
    /// [`list_select`] as SQL. For a generic plan the LIMIT is a literal: a
    /// generic plan cannot see a bound one and plans for a tenth of the
    /// table instead of a page (which makes a filtered primary-key scan
    /// look cheaper than the filter's own index). Page sizes are a small
    /// closed set, so the statement cache holds a few variants per shape.
    fn list_statement(&self, page: &PageSpec<'_>, generic: bool) -> sea_orm::Statement {
        self.list_statement_counted(page, generic, None)
    }

    /// [`SqlStore::list_statement`], each row carrying `count` (a SELECT of
    /// one value) as a `matches` column when given: an InitPlan that
    /// PostgreSQL and SQLite evaluate once, so the page and its total cost
    /// one round trip.
    fn list_statement_counted(
        &self,
        page: &PageSpec<'_>,
        generic: bool,
        count: Option<SelectStatement>,
    ) -> sea_orm::Statement {
        use sea_orm::PartialModelTrait;
        let db = self.db.get_database_backend();
        // The product columns only, never the search tokens.
        let mut select =
            entity::ProductRow::select_cols(list_select(page, self.backend).select_only());
        if let Some(count) = count {
            QueryTrait::query(&mut select).expr_as(count, Alias::new("matches"));
        }
        if !generic {
            return select.build(db);
        }
        QueryTrait::query(&mut select).reset_limit();
        let mut stmt = select.build(db);
        stmt.sql.push_str(&format!(" LIMIT {}", page.limit));
        stmt
    }

    /// Whether `page` is a relevance listing read tier by tier, and from
    /// where: PostgreSQL, no OFFSET, a search with 1 to
    /// [`MAX_TIERED_CLAUSES`] include clauses in relevance order. Other
    /// relevance pages compute the score in SQL.
    fn relevance_tiers<'a>(&self, page: &PageSpec<'a>) -> Option<(&'a SearchQuery, TierStart)> {
        if self.backend != Backend::Postgres || page.offset > 0 {
            return None;
        }
        let s = page.filter.search.as_ref()?;
        let n = s.include().len();
        if n == 0 || n > MAX_TIERED_CLAUSES {
            return None;
        }
        let relevance = SortKey {
            field: SortField::Relevance,
            descending: true,
        };
        if page.sort != [relevance, SortKey::ID] {
            return None;
        }
        let start = match page.after {
            None => TierStart {
                sku_first: true,
                tier: n,
                after_id: None,
            },
            // After the exact-sku row: every tier from its start.
            Some([SortValue::Int(score), SortValue::Int(_)]) if *score >= EXACT_SKU_SCORE => {
                TierStart {
                    sku_first: false,
                    tier: n,
                    after_id: None,
                }
            }
            Some([SortValue::Int(score), SortValue::Int(id)]) => TierStart {
                sku_first: false,
                tier: usize::try_from(*score).ok().filter(|t| *t <= n)?,
                after_id: Some(*id),
            },
            Some(_) => return None,
        };
        Some((s, start))
    }

    /// A relevance page read tier by tier ([`TierStart`]), stopping at the
    /// tier that fills it.
    async fn list_tiered(
        &self,
        page: &PageSpec<'_>,
        s: &SearchQuery,
        start: TierStart,
    ) -> Result<Vec<Product>, StorageError> {
        use sea_orm::FromQueryResult;
        let sku = sku_candidate(s);
        let mut rows = Vec::new();
        for tier in start.tiers(sku.as_deref()) {
            let remaining = page.limit.saturating_sub(rows.len() as u64);
            if remaining == 0 {
                break;
            }
            let stmt = tier_statement(page.filter, s, sku.as_deref(), tier, remaining);
            let found = entity::ProductRow::find_by_statement(stmt)
                .all(&self.db)
                .await
                .context("listing products by relevance")?;
            rows.extend(found);
        }
        rows.into_iter().map(to_product).collect()
    }

    /// The query plan of exactly the statement [`ProductReader::list`]
    /// runs for `page`, one line per row, as the server would run it: for
    /// a plan-stable shape (`crate::plans`) the generic plan its pool's
    /// sessions use (`PREPARE`, then `EXPLAIN EXECUTE` with the bound
    /// values), otherwise the custom plan for the bound values (so the
    /// planner sees the real selectivities): PostgreSQL's `EXPLAIN` text,
    /// or SQLite's `EXPLAIN QUERY PLAN` details. Nothing is executed. For
    /// tests and diagnostics.
    pub async fn explain_list(&self, page: PageSpec<'_>) -> Result<Vec<String>, StorageError> {
        if let Some((s, start)) = self.relevance_tiers(&page) {
            // Every tier the page may read, each a plan of its own.
            let sku = sku_candidate(s);
            let mut lines = Vec::new();
            for tier in start.tiers(sku.as_deref()) {
                let mut stmt = tier_statement(page.filter, s, sku.as_deref(), tier, page.limit);
                stmt.sql.insert_str(0, "EXPLAIN (FORMAT TEXT) ");
                let rows = self
                    .db
                    .query_all_raw(stmt)
                    .await
                    .context("explaining a relevance tier")?;
                lines.push(format!("-- relevance tier {tier:?}"));
                lines.extend(plan_lines(&rows, "QUERY PLAN")?);
            }
            return Ok(lines);
        }
        let generic = self.plan_is_generic(&page);
        let mut stmt = self.list_statement(&page, generic);
        if let (Some(pool), true) = (&self.generic, generic) {
            return explain_generic(pool, stmt).await;
        }
        let (prefix, column) = match self.backend {
            Backend::Postgres => ("EXPLAIN (FORMAT TEXT) ", "QUERY PLAN"),
            Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        };
        stmt.sql.insert_str(0, prefix);
        let rows = self
            .db
            .query_all_raw(stmt)
            .await
            .context("explaining a list")?;
        plan_lines(&rows, column)
    }

    /// A write transaction. On SQLite it takes the write lock up front
    /// (IMMEDIATE), so two writers queue on the busy timeout instead of one
    /// failing when it upgrades a read lock.
    pub(crate) async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, StorageError> {
        let opts = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db
            .begin_with_options(opts)
            .await
            .context("starting a transaction")
    }

    /// A write transaction for maintenance (repairs, rebuilds, `verify`):
    /// on PostgreSQL without the pool's statement timeout, which is meant
    /// for requests.
    pub(crate) async fn begin_maintenance(
        &self,
    ) -> Result<sea_orm::DatabaseTransaction, StorageError> {
        let txn = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            txn.execute_unprepared(migration::PG_NO_STATEMENT_TIMEOUT)
                .await
                .context("lifting the statement timeout for maintenance")?;
        }
        Ok(txn)
    }

    /// The lowest and highest price matching `filter`. Two statements:
    /// SQLite answers a lone MIN or MAX from an index end, but scans for
    /// both in one SELECT.
    async fn price_bounds(
        &self,
        filter: &ProductFilter,
    ) -> Result<(Option<i64>, Option<i64>), StorageError> {
        // One round trip: PostgreSQL answers each of MIN and MAX from one
        // end of a price index (an InitPlan each), SQLite likewise.
        let stmt = Query::select()
            .from(Entity)
            .expr_as(Func::min(Expr::col(Column::PriceCents)), "lo")
            .expr_as(Func::max(Expr::col(Column::PriceCents)), "hi")
            .cond_where(filter_condition(filter, self.backend))
            .to_owned();
        let row = self
            .reads(crate::plans::filter_is_plan_stable(filter))
            .query_one(&stmt)
            .await
            .context("reading price bounds")?
            .ok_or_else(|| StorageError::internal("reading price bounds", "no row"))?;
        let get = |col: &str| {
            row.try_get::<Option<i64>>("", col)
                .context("reading price bounds")
        };
        Ok((get("lo")?, get("hi")?))
    }

    /// Why a conditional write touched no row.
    async fn missing_or_conflict(&self, id: ProductId) -> Result<StorageError, StorageError> {
        let exists = Entity::find_by_id(id.get())
            .select_only()
            .column(Column::Id)
            .into_tuple::<i64>()
            .one(&self.db)
            .await
            .context("checking a product")?
            .is_some();
        Ok(if exists {
            StorageError::VersionConflict
        } else {
            StorageError::NotFound
        })
    }

    /// The in-stock or price facet of `filter` from the summaries, when
    /// they answer it: two summary counts, or the histogram's buckets.
    async fn facet_from_summaries(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Option<Vec<(FacetKey, u64)>>, StorageError> {
        match field {
            FacetField::PriceBucket
                if filter.min_price.is_none()
                    && filter.max_price.is_none()
                    && crate::histogram::answers_facet(filter) =>
            {
                crate::histogram::price_facet(self.reads(true), filter).await
            }
            FacetField::RatingFloor
                if filter.is_active.is_none()
                    && filter.in_stock.is_none()
                    && crate::histogram::answers_facet(filter) =>
            {
                crate::histogram::rating_facet(self.reads(true), filter, self.backend)
                    .await
                    .map(Some)
            }
            FacetField::InStock if filter.in_stock.is_none() => {
                let with = |in_stock| ProductFilter {
                    in_stock: Some(in_stock),
                    ..filter.clone()
                };
                let (Some(yes), Some(no)) = (
                    self.summary_count_statement(&with(true)),
                    self.summary_count_statement(&with(false)),
                ) else {
                    return Ok(None);
                };
                let (a, b) =
                    futures::future::join(self.summary_count(&yes), self.summary_count(&no)).await;
                Ok(Some(
                    [(1, a?), (0, b?)]
                        .into_iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(k, n)| (FacetKey::Int(k), n))
                        .collect(),
                ))
            }
            _ => Ok(None),
        }
    }

    /// The exact count of `filter` from a summary, when one answers it: a
    /// SELECT of one value, cheap and with one plan whatever the values.
    fn summary_count_statement(&self, filter: &ProductFilter) -> Option<SelectStatement> {
        if crate::summary::answers(filter) {
            Some(crate::summary::count_statement(filter))
        } else if crate::histogram::answers_count(filter) {
            Some(crate::histogram::count_statement(filter, self.backend))
        } else {
            None
        }
    }

    /// Runs a [`SqlStore::summary_count_statement`]. The summaries are
    /// small tables with one plan whatever the values: the generic pool.
    async fn summary_count(&self, stmt: &SelectStatement) -> Result<u64, StorageError> {
        let row = self
            .reads(true)
            .query_one(stmt)
            .await
            .context("reading the summary")?
            .ok_or_else(|| StorageError::internal("reading the summary", "no row"))?;
        let n = row
            .try_get_by_index::<i64>(0)
            .context("reading the summary")?;
        Ok(non_negative(n))
    }

    /// A page and its total in one statement, the total from `count`
    /// ([`SqlStore::summary_count_statement`]). An empty page carries no
    /// total: the first page of nothing is 0, any other counts again.
    async fn list_with_summary_count(
        &self,
        page: PageSpec<'_>,
        count: SelectStatement,
    ) -> Result<(Vec<Product>, u64), StorageError> {
        use sea_orm::FromQueryResult;
        let generic = self.plan_is_generic(&page);
        let stmt = self.list_statement_counted(&page, generic, Some(count));
        let rows = entity::PageRow::find_by_statement(stmt)
            .all(self.reads(generic))
            .await
            .context("listing products with their count")?;
        self.page_with_total(&page, rows.into_iter().map(|r| (r.row, r.matches)))
            .await
    }

    /// A page whose rows each carry the filter's total. An empty page
    /// carries none: the first page of nothing is 0, a later one (an
    /// offset or a cursor past the end) counts again.
    async fn page_with_total(
        &self,
        page: &PageSpec<'_>,
        rows: impl Iterator<Item = (entity::ProductRow, i64)>,
    ) -> Result<(Vec<Product>, u64), StorageError> {
        let mut total = None;
        let mut products = Vec::new();
        for (row, matches) in rows {
            total.get_or_insert(non_negative(matches));
            products.push(to_product(row)?);
        }
        match total {
            Some(total) => Ok((products, total)),
            None if page.offset == 0 && page.after.is_none() => Ok((products, 0)),
            None => Ok((products, self.count(page.filter).await?)),
        }
    }

    /// Category or brand counts among the products matching `filter`,
    /// from the summary (which must answer for `filter`).
    async fn name_counts(
        &self,
        col: Column,
        filter: &ProductFilter,
    ) -> Result<Vec<NameCount>, StorageError> {
        let name = if matches!(col, Column::Category) {
            "category"
        } else {
            "brand"
        };
        // The summary is a small table with one plan whatever the values.
        crate::summary::name_counts(self.reads(true), name, filter).await
    }
}

#[async_trait]
impl ProductReader for SqlStore {
    #[tracing::instrument(skip_all, fields(limit = page.limit, offset = page.offset))]
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        use sea_orm::FromQueryResult;
        if let Some((s, start)) = self.relevance_tiers(&page) {
            return self.list_tiered(&page, s, start).await;
        }
        let generic = self.plan_is_generic(&page);
        let rows = entity::ProductRow::find_by_statement(self.list_statement(&page, generic))
            .all(self.reads(generic))
            .await
            .context("listing products")?;
        rows.into_iter().map(to_product).collect()
    }

    /// A relevance-ordered search page that scores every match before its
    /// LIMIT (not read tier by tier, [`TierStart`]) gets its total with it
    /// (`COUNT(*) OVER ()`) instead of from a second scan of the search
    /// index and the heap. Other pages stop after `limit` rows in index
    /// order (tiered relevance pages too), so they keep the separate count;
    /// so does a keyset continuation (its rows are only those after the
    /// cursor) and an empty page (no row carries a total).
    #[tracing::instrument(skip_all, fields(limit = page.limit, offset = page.offset))]
    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        let tiered = self.relevance_tiers(&page).is_some();
        let by_relevance = page.filter.search.is_some()
            && page.after.is_none()
            && page.sort.first().map(|k| k.field) == Some(SortField::Relevance)
            && !tiered;
        if !by_relevance {
            if !tiered && let Some(count) = self.summary_count_statement(page.filter) {
                return self.list_with_summary_count(page, count).await;
            }
            let (rows, total) =
                futures::future::join(self.list(page), self.count(page.filter)).await;
            return Ok((rows?, total?));
        }
        let rows = list_select(&page, self.backend)
            .into_partial_model::<entity::CountedRow>()
            .all(&self.db)
            .await
            .context("listing products with their count")?;
        self.page_with_total(&page, rows.into_iter().map(|r| (r.row, r.matches)))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        if let Some(stmt) = self.summary_count_statement(filter) {
            return self.summary_count(&stmt).await;
        }
        let n: Option<i64> = Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(filter_condition(filter, self.backend))
            .into_tuple()
            .one(self.reads(crate::plans::filter_is_plan_stable(filter)))
            .await
            .context("counting products")?;
        Ok(non_negative(n.unwrap_or(0)))
    }

    fn counts_cheaply(&self, filter: &ProductFilter) -> bool {
        // What `summary_count_statement` answers, without building it.
        crate::summary::answers(filter) || crate::histogram::answers_count(filter)
    }

    /// PostgreSQL's planner estimate (`EXPLAIN`'s row count) of the filtered
    /// count; SQLite has none.
    #[tracing::instrument(skip_all)]
    async fn estimate_count(&self, filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        // An exact count from the summaries costs less than a plan.
        if self.backend != Backend::Postgres || self.counts_cheaply(filter) {
            return Ok(None);
        }
        let stmt = Query::select()
            .from(Entity)
            .column(Column::Id)
            .cond_where(filter_condition(filter, self.backend))
            .to_owned();
        let mut raw = self.db.get_database_backend().build(&stmt);
        raw.sql = format!("EXPLAIN {}", raw.sql);
        let row = self
            .db
            .query_one_raw(raw)
            .await
            .context("estimating a count")?
            .ok_or_else(|| StorageError::internal("estimating a count", "no plan"))?;
        let plan: String = row.try_get_by(0).context("reading a plan")?;
        // "Seq Scan on products  (cost=0.00..4.00 rows=1234 width=8)"
        Ok(plan
            .split("rows=")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok()))
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        Entity::find_by_id(id.get())
            .into_partial_model::<entity::ProductRow>()
            .one(self.reads(true))
            .await
            .context("fetching a product")?
            .map(to_product)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        if crate::summary::answers(filter) {
            let mut row = crate::summary::stats(self.reads(true), filter).await?;
            if row.total_products > 0 {
                // Bounds come from the price indexes: MIN/MAX read one end.
                let (lo, hi) = self.price_bounds(filter).await?;
                row.min_price_cents = lo;
                row.max_price_cents = hi;
            }
            return Ok(row);
        }
        if crate::histogram::answers_stats(filter) {
            let mut row = crate::histogram::stats(self.reads(true), filter, self.backend).await?;
            if row.total_products > 0 {
                let (lo, hi) = self.price_bounds(filter).await?;
                row.min_price_cents = lo;
                row.max_price_cents = hi;
            }
            return Ok(row);
        }
        // Sums are cast to BIGINT: PostgreSQL widens SUM(bigint) to NUMERIC.
        let bigint = || Alias::new("BIGINT");
        let flag = |cond: Expr| Expr::case(cond, 1i64).finally(0i64);
        let stmt = Query::select()
            .from(Entity)
            .expr_as(Expr::cust("COUNT(*)"), "total")
            .expr_as(
                Func::cast_as(
                    Func::sum(flag(Expr::col(Column::IsActive).eq(true))),
                    bigint(),
                ),
                "active",
            )
            .expr_as(
                Func::cast_as(
                    Func::sum(flag(Expr::col(Column::StockQuantity).gt(0))),
                    bigint(),
                ),
                "in_stock",
            )
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::StockQuantity)), bigint()),
                "stock",
            )
            .expr_as(Func::min(Expr::col(Column::PriceCents)), "min_price")
            .expr_as(Func::max(Expr::col(Column::PriceCents)), "max_price")
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::PriceCents)), bigint()),
                "sum_price",
            )
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::RatingTenths)), bigint()),
                "sum_rating",
            )
            .expr_as(
                Func::count_distinct(Expr::col(Column::Category)),
                "categories",
            )
            .expr_as(Func::count_distinct(Expr::col(Column::Brand)), "brands")
            .cond_where(filter_condition(filter, self.backend))
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await
            .context("computing stats")?
            .ok_or_else(|| StorageError::internal("computing stats", "no row returned"))?;
        let total = non_negative(get_i64(&row, "total")?);
        let opt = |col: &str| -> Result<Option<i64>, StorageError> {
            row.try_get::<Option<i64>>("", col)
                .context("reading an aggregate")
        };
        Ok(StatsRow {
            total_products: total,
            active_products: non_negative(get_i64(&row, "active")?),
            in_stock_products: non_negative(get_i64(&row, "in_stock")?),
            total_stock: get_i64(&row, "stock")?,
            min_price_cents: opt("min_price")?,
            max_price_cents: opt("max_price")?,
            sum_price_cents: get_i64(&row, "sum_price")?,
            sum_rating_tenths: get_i64(&row, "sum_rating")?,
            categories: non_negative(get_i64(&row, "categories")?),
            brands: non_negative(get_i64(&row, "brands")?),
        })
    }

    #[tracing::instrument(skip_all)]
    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        self.name_counts(Column::Category, &ProductFilter::default())
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        self.name_counts(Column::Brand, &ProductFilter::default())
            .await
    }

    #[tracing::instrument(skip_all, fields(field = ?field))]
    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        let bigint = || Alias::new("BIGINT");
        let text = matches!(field, FacetField::Category | FacetField::Brand);
        if text && crate::summary::answers(filter) {
            let col = if field == FacetField::Category {
                Column::Category
            } else {
                Column::Brand
            };
            let counts = self.name_counts(col, filter).await?;
            return Ok(counts
                .into_iter()
                .map(|c| (FacetKey::Text(c.name), c.product_count))
                .collect());
        }
        if let Some(counts) = self.facet_from_summaries(filter, field).await? {
            return Ok(counts);
        }
        let key: Expr = match field {
            FacetField::Category => Expr::col(Column::Category),
            FacetField::Brand => Expr::col(Column::Brand),
            FacetField::InStock => Func::cast_as(
                Expr::case(Expr::col(Column::StockQuantity).gt(0), 1i64).finally(0i64),
                bigint(),
            )
            .into(),
            FacetField::PriceBucket => {
                crate::query::price_bucket_sql(Expr::col(Column::PriceCents))
            }
            FacetField::RatingFloor => {
                Func::cast_as(Expr::col(Column::RatingTenths).div(10), bigint()).into()
            }
        };
        let stmt = Query::select()
            .from(Entity)
            .expr_as(key, "k")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .cond_where(filter_condition(filter, self.backend))
            // By the output name: the CASE's bound values get other
            // placeholders in a repeated GROUP BY expression, which
            // PostgreSQL would not recognise as the same expression.
            .group_by_col(Alias::new("k"))
            .to_owned();
        let rows = self.db.query_all(&stmt).await.context("counting facets")?;
        rows.iter()
            .map(|row| {
                let n = non_negative(get_i64(row, "n")?);
                let k = if text {
                    FacetKey::Text(row.try_get::<String>("", "k").context("reading a facet")?)
                } else {
                    FacetKey::Int(get_i64(row, "k")?)
                };
                Ok((k, n))
            })
            .collect()
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        let sql = match self.backend {
            // Words only (`search::in_vocabulary`): the trigger, the bulk
            // load and migration 7 keep PostgreSQL's table so.
            Backend::Postgres => {
                "SELECT term FROM search_terms WHERE char_length(term) BETWEEN $1 AND $2"
            }
            // fts5vocab lists the FTS5 table's terms (a scan of its index).
            Backend::Sqlite => {
                "SELECT term FROM products_fts_terms WHERE length(term) BETWEEN ? AND ? \
                 AND term NOT GLOB '*[0-9]*'"
            }
        };
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [as_i64(min_chars).into(), as_i64(max_chars).into()],
            ))
            .await
            .context("reading the search vocabulary")?;
        rows.iter()
            .map(|r| {
                r.try_get::<String>("", "term")
                    .context("reading a search term")
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.db.ping().await.context("pinging the database")
    }
}

/// Rows per INSERT statement: 13 bound values each stays under both
/// backends' parameter limits (PostgreSQL 65,535; SQLite 32,766).
const INSERT_CHUNK: usize = 1000;

/// `maintenance_work_mem` for the index builds after a bulk load (two run
/// at once). Enough for the GIN build over a million documents to sort in
/// memory; a ceiling the server allocates only as needed.
const BULK_MAINTENANCE_WORK_MEM: &str = "256MB";

/// The triggers a bulk load pauses: each keeps derived data row by row
/// (summary, vocabulary, search vector) that the load rebuilds in one pass.
const BULK_PAUSED_TRIGGERS: [&str; 4] = [
    "products_summary",
    "products_price_summary",
    "products_search_terms",
    "products_search_vector",
];

/// `ALTER TABLE products ENABLE|DISABLE TRIGGER …` for every trigger a
/// bulk load pauses.
fn alter_bulk_triggers(action: &str) -> String {
    let each: Vec<String> = BULK_PAUSED_TRIGGERS
        .iter()
        .map(|t| format!("{action} TRIGGER {t}"))
        .collect();
    format!("ALTER TABLE products {}", each.join(", "))
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl ProductWriter for SqlStore {
    #[tracing::instrument(skip_all, fields(rows = products.len()))]
    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        let txn = self.begin_write().await?;
        let mut inserted = 0;
        let ts = now();
        for chunk in products.chunks(INSERT_CHUNK) {
            let mut stmt = Query::insert();
            stmt.into_table(Entity)
                .columns([
                    Column::Sku,
                    Column::Name,
                    Column::Description,
                    Column::Category,
                    Column::Brand,
                    Column::PriceCents,
                    Column::StockQuantity,
                    Column::RatingTenths,
                    Column::IsActive,
                    Column::SearchName,
                    Column::SearchBody,
                    Column::CreatedAt,
                    Column::UpdatedAt,
                ])
                .on_conflict(OnConflict::column(Column::Sku).do_nothing().to_owned());
            for p in chunk {
                let doc = SearchDocument::new(&p.name, &p.description, p.sku.as_str());
                stmt.values([
                    p.sku.as_str().into(),
                    p.name.as_str().into(),
                    p.description.as_str().into(),
                    p.category.as_str().into(),
                    p.brand.as_str().into(),
                    p.price.cents().into(),
                    p.stock_quantity.into(),
                    p.rating.tenths().into(),
                    p.is_active.into(),
                    doc.name.into(),
                    doc.body.into(),
                    ts.into(),
                    ts.into(),
                ])
                .map_err(|e| StorageError::internal("building an insert", e))?;
            }
            let res = txn.execute(&stmt).await.context("inserting products")?;
            inserted += res.rows_affected();
        }
        if self.backend == Backend::Sqlite {
            index_new_rows(&txn).await?;
        }
        txn.commit().await.context("committing inserts")?;
        Ok(inserted)
    }

    #[tracing::instrument(skip_all)]
    async fn create(
        &self,
        new: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        use crate::entity::idempotency_keys as keys;
        let txn = self.begin_write().await?;
        let ts = now();
        if let Some(idem) = idempotency {
            let cutoff = ts - chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS);
            keys::Entity::delete_many()
                .filter(keys::Column::Key.eq(idem.key.as_str()))
                .filter(keys::Column::CreatedAt.lt(cutoff))
                .exec(&txn)
                .await
                .context("expiring an idempotency key")?;
            // Claim the key. A concurrent request with the same key blocks
            // on the primary key until this transaction ends, then finds
            // the completed record below.
            let claim = Query::insert()
                .into_table(keys::Entity)
                .columns([
                    keys::Column::Key,
                    keys::Column::Fingerprint,
                    keys::Column::CreatedAt,
                ])
                .values_panic([
                    idem.key.as_str().into(),
                    idem.fingerprint.as_str().into(),
                    ts.into(),
                ])
                .on_conflict(
                    OnConflict::column(keys::Column::Key)
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned();
            let claimed = txn
                .execute(&claim)
                .await
                .context("claiming an idempotency key")?;
            if claimed.rows_affected() == 0 {
                let record = keys::Entity::find_by_id(idem.key.clone())
                    .one(&txn)
                    .await
                    .context("reading an idempotency key")?
                    .ok_or_else(|| StorageError::internal("idempotency key", "vanished"))?;
                txn.rollback().await.context("ending a replay")?;
                if record.fingerprint != idem.fingerprint {
                    return Err(StorageError::IdempotencyKeyReused);
                }
                let id = record
                    .product_id
                    .and_then(|i| ProductId::new(i).ok())
                    .ok_or_else(|| {
                        StorageError::internal("idempotency key", "no product recorded")
                    })?;
                return Ok(Created::Replayed {
                    id,
                    body: record.response_body.unwrap_or_default().into_bytes(),
                });
            }
        }
        let doc = SearchDocument::new(&new.name, &new.description, new.sku.as_str());
        let model = entity::ActiveModel {
            sku: Set(new.sku.as_str().to_string()),
            name: Set(new.name.clone()),
            description: Set(new.description.clone()),
            category: Set(new.category.clone()),
            brand: Set(new.brand.clone()),
            price_cents: Set(new.price.cents()),
            stock_quantity: Set(new.stock_quantity),
            rating_tenths: Set(new.rating.tenths()),
            is_active: Set(new.is_active),
            version: Set(1),
            search_name: Set(doc.name),
            search_body: Set(doc.body),
            created_at: Set(ts),
            updated_at: Set(ts),
            ..Default::default()
        };
        let inserted = Entity::insert(model)
            .exec_with_returning(&txn)
            .await
            .context("inserting a product")?;
        if self.backend == Backend::Sqlite {
            sync_fts(&txn, inserted.id).await?;
        }
        let product = to_product(inserted)?;
        if let Some(idem) = idempotency {
            let body = serde_json::to_string(&product)
                .map_err(|e| StorageError::internal("encoding a product", e))?;
            keys::Entity::update_many()
                .col_expr(keys::Column::ProductId, Expr::val(product.id.get()))
                .col_expr(keys::Column::ResponseBody, Expr::val(body))
                .filter(keys::Column::Key.eq(idem.key.as_str()))
                .exec(&txn)
                .await
                .context("recording an idempotency key")?;
        }
        txn.commit().await.context("committing a create")?;
        Ok(Created::New(product))
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    async fn update(
        &self,
        id: ProductId,
        new: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        let doc = SearchDocument::new(&new.name, &new.description, new.sku.as_str());
        let mut update = Entity::update_many()
            .col_expr(Column::Sku, Expr::val(new.sku.as_str()))
            .col_expr(Column::Name, Expr::val(new.name.as_str()))
            .col_expr(Column::Description, Expr::val(new.description.as_str()))
            .col_expr(Column::Category, Expr::val(new.category.as_str()))
            .col_expr(Column::Brand, Expr::val(new.brand.as_str()))
            .col_expr(Column::PriceCents, Expr::val(new.price.cents()))
            .col_expr(Column::StockQuantity, Expr::val(new.stock_quantity))
            .col_expr(Column::RatingTenths, Expr::val(new.rating.tenths()))
            .col_expr(Column::IsActive, Expr::val(new.is_active))
            .col_expr(Column::SearchName, Expr::val(doc.name))
            .col_expr(Column::SearchBody, Expr::val(doc.body))
            .col_expr(Column::Version, Expr::col(Column::Version).add(1))
            .col_expr(Column::UpdatedAt, Expr::val(now()))
            .filter(Column::Id.eq(id.get()));
        if let Some(v) = expected_version {
            update = update.filter(Column::Version.eq(v));
        }
        let txn = self.begin_write().await?;
        let rows = update
            .exec_with_returning(&txn)
            .await
            .context("updating a product")?;
        let Some(m) = rows.into_iter().next() else {
            drop(txn);
            return Err(self.missing_or_conflict(id).await?);
        };
        if self.backend == Backend::Sqlite {
            sync_fts(&txn, m.id).await?;
        }
        txn.commit().await.context("committing an update")?;
        to_product(m)
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        let mut delete = Entity::delete_many().filter(Column::Id.eq(id.get()));
        if let Some(v) = expected_version {
            delete = delete.filter(Column::Version.eq(v));
        }
        let txn = self.begin_write().await?;
        let res = delete.exec(&txn).await.context("deleting a product")?;
        if res.rows_affected == 0 {
            drop(txn);
            return Err(self.missing_or_conflict(id).await?);
        }
        if self.backend == Backend::Sqlite {
            sync_fts(&txn, id.get()).await?;
        }
        txn.commit().await.context("committing a delete")
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        let n = Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .into_tuple::<i64>()
            .one(&self.db)
            .await
            .context("counting products")?;
        Ok(non_negative(n.unwrap_or(0)))
    }
}
