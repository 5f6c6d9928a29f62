//! `SqlStore` itself: connecting (the pools and their session settings),
//! migrating, transactions, closing. The ports' implementations live in
//! `reads`, `tiers` and `writes`; bulk loads in `bulk_load`; the
//! differences between the databases in `dialect`.

use std::time::Duration;

use catalog_domain::StorageError;
use catalog_domain::ports::PageSpec;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

use crate::dialect::{Backend, Dialect, connect_options};
use crate::error::{Context, storage_err};

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
    /// Defaults per backend (`Dialect::pool_defaults` says why).
    pub fn for_backend(backend: Backend) -> Self {
        backend.dialect().pool_defaults()
    }
}

/// Connection pool occupancy ([`SqlStore::pool_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle or in use).
    pub size: u64,
    /// Open connections not in use.
    pub idle: u64,
    /// The most connections the pools may open.
    pub max: u64,
}

/// The SeaORM adapter.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) db: DatabaseConnection,
    /// PostgreSQL: a second pool whose sessions use generic plans, for the
    /// statements no bound value can give a different best plan
    /// (`crate::plans`). SQLite has no plan cache to tune: `None`.
    pub(crate) generic: Option<DatabaseConnection>,
    pub(crate) dialect: &'static dyn Dialect,
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
        let dialect = backend_of(url)?.dialect();
        if !dialect.has_generic_plan_pool() {
            let db = Self::open_pool(url, dialect, &pool, false).await?;
            return Ok(Self {
                db,
                generic: None,
                dialect,
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
        let db = Self::open_pool(url, dialect, &custom, false).await?;
        let generic = Self::open_pool(url, dialect, &generic, true).await?;
        Ok(Self {
            db,
            generic: Some(generic),
            dialect,
        })
    }

    async fn open_pool(
        url: &str,
        dialect: &dyn Dialect,
        pool: &PoolConfig,
        generic_plans: bool,
    ) -> Result<DatabaseConnection, StorageError> {
        Database::connect(connect_options(dialect, url, pool, generic_plans))
            .await
            .map_err(|e| storage_err("connecting to the database", e))
    }

    /// Whether [`catalog_domain::ProductReader::list`] runs `page` on a
    /// generic plan: a plan-stable shape (`crate::plans`) on PostgreSQL,
    /// without OFFSET (a generic plan cannot see a bound offset either, and
    /// offsets are too many to inline).
    pub fn plan_is_generic(&self, page: &PageSpec<'_>) -> bool {
        self.generic.is_some()
            && page.offset == 0
            && crate::plans::list_is_plan_stable(page.filter, page.sort, page.after.is_some())
    }

    /// The pool for a read of a plan-stable shape (`crate::plans`).
    pub(crate) fn reads(&self, plan_stable: bool) -> &DatabaseConnection {
        match &self.generic {
            Some(g) if plan_stable => g,
            _ => &self.db,
        }
    }

    /// The connection pools' occupancy now (both pools summed on
    /// PostgreSQL), for metrics. sqlx does not count the tasks waiting for
    /// a connection; `in_use == max` is the sign that some may be.
    pub fn pool_stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        for db in std::iter::once(&self.db).chain(self.generic.as_ref()) {
            let (size, idle, max) = match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    let p = db.get_postgres_connection_pool();
                    (p.size(), p.num_idle(), p.options().get_max_connections())
                }
                sea_orm::DbBackend::Sqlite => {
                    let p = db.get_sqlite_connection_pool();
                    (p.size(), p.num_idle(), p.options().get_max_connections())
                }
                _ => continue,
            };
            stats.size += u64::from(size);
            stats.idle += idle as u64;
            stats.max += u64::from(max);
        }
        stats
    }

    pub fn backend(&self) -> Backend {
        self.dialect.backend()
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

    /// A write transaction (`Dialect::write_transaction`: SQLite takes the
    /// write lock up front).
    pub(crate) async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, StorageError> {
        self.db
            .begin_with_options(self.dialect.write_transaction())
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
        if let Some(sql) = self.dialect.lift_statement_timeout() {
            txn.execute_unprepared(sql)
                .await
                .context("lifting the statement timeout for maintenance")?;
        }
        Ok(txn)
    }

    /// Refreshes planner statistics after bulk loads.
    pub async fn analyze(&self) -> Result<(), StorageError> {
        self.db
            .execute_unprepared(self.dialect.analyze())
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
