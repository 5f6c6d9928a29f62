//! `SqlStore`: connection set-up and the storage port implementation.

use std::time::Duration;

use async_trait::async_trait;
use catalog_domain::ports::PageSpec;
use catalog_domain::product::now;
use catalog_domain::query::{fold, search_text};
use catalog_domain::{
    NameCount, NewProduct, Price, Product, ProductFilter, ProductId, ProductReader, ProductWriter,
    Rating, Sku, StatsRow, StorageError,
};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Order, Query};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

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

/// The SeaORM adapter.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
    backend: Backend,
}

impl SqlStore {
    /// Connects with the default pool for the URL's backend.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let backend = Backend::from_url(url).ok_or_else(|| {
            StorageError::internal(
                "DATABASE_URL",
                "unsupported scheme: use postgres://... or sqlite://...",
            )
        })?;
        Self::connect_with(url, PoolConfig::for_backend(backend)).await
    }

    pub async fn connect_with(url: &str, pool: PoolConfig) -> Result<Self, StorageError> {
        let backend = Backend::from_url(url).ok_or_else(|| {
            StorageError::internal(
                "DATABASE_URL",
                "unsupported scheme: use postgres://... or sqlite://...",
            )
        })?;
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_timeout(pool.acquire_timeout)
            .sqlx_logging(false);
        if let Some(t) = pool.statement_timeout {
            opts.statement_timeout(t);
        }
        if backend == Backend::Sqlite {
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
        let db = Database::connect(opts)
            .await
            .map_err(|e| storage_err("connecting to the database", e))?;
        Ok(Self { db, backend })
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
            .context("applying migrations")
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
        self.db.close().await.context("closing the pool")
    }
}

fn to_product(m: entity::Model) -> Result<Product, StorageError> {
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
        category: m.category,
        brand: m.brand,
        stock_quantity: m.stock_quantity,
        is_active: m.is_active,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn get_i64(row: &sea_orm::QueryResult, col: &str) -> Result<i64, StorageError> {
    row.try_get::<Option<i64>>("", col)
        .map(|v| v.unwrap_or(0))
        .context("reading an aggregate")
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl SqlStore {
    async fn name_counts(&self, col: Column) -> Result<Vec<NameCount>, StorageError> {
        let rows: Vec<(String, i64)> = Entity::find()
            .select_only()
            .column(col)
            .column_as(Expr::col(Column::Id).count(), "product_count")
            .group_by(col)
            .order_by(col, Order::Asc)
            .into_tuple()
            .all(&self.db)
            .await
            .context("listing distinct names")?;
        Ok(rows
            .into_iter()
            .map(|(name, n)| NameCount {
                name,
                product_count: non_negative(n),
            })
            .collect())
    }
}

#[async_trait]
impl ProductReader for SqlStore {
    #[tracing::instrument(skip_all, fields(limit = page.limit, offset = page.offset))]
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        let search = page.filter.search.as_ref();
        let mut select = Entity::find().filter(filter_condition(page.filter));
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
        let rows = select
            .limit(page.limit)
            .offset((page.offset > 0).then_some(page.offset))
            .all(&self.db)
            .await
            .context("listing products")?;
        rows.into_iter().map(to_product).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        let n: Option<i64> = Entity::find()
            .select_only()
            .column_as(Expr::col(Column::Id).count(), "n")
            .filter(filter_condition(filter))
            .into_tuple()
            .one(&self.db)
            .await
            .context("counting products")?;
        Ok(non_negative(n.unwrap_or(0)))
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .context("fetching a product")?
            .map(to_product)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        // Sums are cast to BIGINT: PostgreSQL widens SUM(bigint) to NUMERIC.
        let bigint = || Alias::new("BIGINT");
        let flag = |cond: Expr| Expr::case(cond, 1i64).finally(0i64);
        let stmt = Query::select()
            .from(Entity)
            .expr_as(Expr::col(Column::Id).count(), "total")
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
            .cond_where(filter_condition(filter))
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
        self.name_counts(Column::Category).await
    }

    #[tracing::instrument(skip_all)]
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        self.name_counts(Column::Brand).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.db.ping().await.context("pinging the database")
    }
}

/// Rows per INSERT statement: 13 bound values each stays under both
/// backends' parameter limits (PostgreSQL 65,535; SQLite 32,766).
const INSERT_CHUNK: usize = 1000;

#[async_trait]
impl ProductWriter for SqlStore {
    #[tracing::instrument(skip_all, fields(rows = products.len()))]
    async fn insert_batch(&self, products: &[NewProduct]) -> Result<u64, StorageError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
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
                    Column::NameFolded,
                    Column::SearchFolded,
                    Column::CreatedAt,
                    Column::UpdatedAt,
                ])
                .on_conflict(OnConflict::column(Column::Sku).do_nothing().to_owned());
            for p in chunk {
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
                    fold(&p.name).into(),
                    search_text(&p.name, &p.description, p.sku.as_str()).into(),
                    ts.into(),
                    ts.into(),
                ])
                .map_err(|e| StorageError::internal("building an insert", e))?;
            }
            let res = txn.execute(&stmt).await.context("inserting products")?;
            inserted += res.rows_affected();
        }
        txn.commit().await.context("committing inserts")?;
        Ok(inserted)
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        let n = Entity::find()
            .select_only()
            .column_as(Expr::col(Column::Id).count(), "n")
            .into_tuple::<i64>()
            .one(&self.db)
            .await
            .context("counting products")?;
        Ok(non_negative(n.unwrap_or(0)))
    }
}
