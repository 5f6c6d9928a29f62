//! Writes: the [`ProductWriter`] implementation (batch inserts, create
//! with its idempotency key, conditional update and delete) and the
//! full-text sync each write's transaction carries where the database
//! needs one (`Dialect::after_write`).

use async_trait::async_trait;
use catalog_domain::ports::{Created, IDEMPOTENCY_TTL_HOURS, Idempotency};
use catalog_domain::product::now;
use catalog_domain::search::SearchDocument;
use catalog_domain::{NewProduct, Product, ProductId, ProductWriter, StorageError};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::connection::SqlStore;
use crate::dialect::Dialect;
use crate::entity::{self, Column, Entity};
use crate::error::Context;
use crate::helpers::{non_negative, to_product};

/// Rows per INSERT statement: 13 bound values each stays under both
/// backends' parameter limits (PostgreSQL 65,535; SQLite 32,766).
const INSERT_CHUNK: usize = 1000;

/// Brings product `id`'s full-text index entry in line with the table, in
/// the write's transaction (`Dialect::after_write`).
async fn sync_search(
    dialect: &dyn Dialect,
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<(), StorageError> {
    for stmt in dialect.after_write(id) {
        conn.execute_raw(stmt)
            .await
            .context("updating the search index")?;
    }
    Ok(())
}

/// Claims idempotency key `idem` in `txn` (after forgetting it when older
/// than [`IDEMPOTENCY_TTL_HOURS`]). `None`: claimed, the write goes on and
/// records its response with [`record_key`] before committing. `Some`: an
/// earlier request holds it, with the same fingerprint (another one is
/// `IdempotencyKeyReused`); a concurrent request with the same key blocks
/// on the primary key until that one's transaction ends, then finds its
/// completed record here.
pub(crate) async fn claim_key(
    txn: &impl ConnectionTrait,
    idem: &Idempotency,
    ts: chrono::DateTime<chrono::Utc>,
) -> Result<Option<entity::idempotency_keys::Model>, StorageError> {
    use crate::entity::idempotency_keys as keys;
    let cutoff = ts - chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS);
    keys::Entity::delete_many()
        .filter(keys::Column::Key.eq(idem.key.as_str()))
        .filter(keys::Column::CreatedAt.lt(cutoff))
        .exec(txn)
        .await
        .context("expiring an idempotency key")?;
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
    if claimed.rows_affected() > 0 {
        return Ok(None);
    }
    let record = keys::Entity::find_by_id(idem.key.clone())
        .one(txn)
        .await
        .context("reading an idempotency key")?
        .ok_or_else(|| StorageError::internal("idempotency key", "vanished"))?;
    if record.fingerprint != idem.fingerprint {
        return Err(StorageError::IdempotencyKeyReused);
    }
    Ok(Some(record))
}

/// Records the response of the write that claimed `idem` (same
/// transaction): what a replay returns.
pub(crate) async fn record_key(
    txn: &impl ConnectionTrait,
    idem: &Idempotency,
    product_id: Option<i64>,
    body: String,
) -> Result<(), StorageError> {
    use crate::entity::idempotency_keys as keys;
    keys::Entity::update_many()
        .col_expr(keys::Column::ProductId, Expr::val(product_id))
        .col_expr(keys::Column::ResponseBody, Expr::val(body))
        .filter(keys::Column::Key.eq(idem.key.as_str()))
        .exec(txn)
        .await
        .context("recording an idempotency key")?;
    Ok(())
}

impl SqlStore {
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
                .columns(crate::upsert::INSERTED)
                .on_conflict(OnConflict::column(Column::Sku).do_nothing().to_owned());
            for p in chunk {
                stmt.values(
                    crate::upsert::inserted_row(p, ts)
                        .into_iter()
                        .map(Into::into),
                )
                .map_err(|e| StorageError::internal("building an insert", e))?;
            }
            let res = txn.execute(&stmt).await.context("inserting products")?;
            inserted += res.rows_affected();
        }
        if let Some(sql) = self.dialect.after_insert_batch() {
            txn.execute_unprepared(&sql)
                .await
                .context("updating the search index")?;
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
        let txn = self.begin_write().await?;
        let ts = now();
        if let Some(idem) = idempotency
            && let Some(record) = claim_key(&txn, idem, ts).await?
        {
            txn.rollback().await.context("ending a replay")?;
            let id = record
                .product_id
                .and_then(|i| ProductId::new(i).ok())
                .ok_or_else(|| StorageError::internal("idempotency key", "no product recorded"))?;
            return Ok(Created::Replayed {
                id,
                body: record.response_body.unwrap_or_default().into_bytes(),
            });
        }
        let doc = SearchDocument::new(&new.name, &new.description, new.sku.as_str());
        let model = entity::ActiveModel {
            sku: Set(new.sku.as_str().to_string()),
            name: Set(new.name.clone()),
            description: Set(new.description.clone()),
            category: Set(new.category.as_str().to_owned()),
            brand: Set(new.brand.as_str().to_owned()),
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
        sync_search(self.dialect, &txn, inserted.id).await?;
        let product = to_product(inserted)?;
        if let Some(idem) = idempotency {
            let body = serde_json::to_string(&product)
                .map_err(|e| StorageError::internal("encoding a product", e))?;
            record_key(&txn, idem, Some(product.id.get()), body).await?;
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
        sync_search(self.dialect, &txn, m.id).await?;
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
        sync_search(self.dialect, &txn, id.get()).await?;
        txn.commit().await.context("committing a delete")
    }

    #[tracing::instrument(skip_all, fields(rows = products.len()))]
    async fn upsert_batch(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<catalog_domain::BatchUpserted, StorageError> {
        self.upsert(products, idempotency).await
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
