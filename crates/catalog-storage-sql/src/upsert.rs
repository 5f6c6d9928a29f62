//! Upserts by sku ([`ProductWriter::upsert_batch`]): the bulk endpoint's
//! and `catalog import`'s one write.
//!
//! One transaction per batch, four statements whatever its size: the rows
//! that hold the batch's skus are read (locked, in id order, on
//! PostgreSQL), the products are sorted into new, changed and unchanged,
//! the new ones go in with one multi-row `INSERT … RETURNING id`, the
//! changed ones with one `UPDATE … FROM (VALUES …)` (two: the products
//! whose name, description or sku changed rewrite their search columns;
//! the others, a price or stock feed, leave them and the search triggers
//! alone). An unchanged product
//! is not written at all: no version bump, no `updated_at`, no change-log
//! entry, so importing the same file twice changes nothing. The triggers
//! that keep the summaries, the histogram and the change log fire as for
//! every other write: on PostgreSQL once per statement, over its
//! transition tables (migration 15); on SQLite once per row.

use std::collections::HashMap;

use catalog_domain::product::now;
use catalog_domain::search::SearchDocument;
use catalog_domain::{
    BatchUpserted, Idempotency, NewProduct, ProductId, StorageError, UpsertOutcome, Upserted,
};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    Value,
};

use crate::connection::SqlStore;
use crate::dialect::Backend;
use crate::entity::{Column, Entity, Model};
use crate::error::Context;
use crate::helpers::to_product;
use crate::writes::{claim_key, record_key};

/// The transaction-scoped advisory lock of bulk upserts on PostgreSQL
/// (its key: "catalog bulk upsert"), taken exclusive or shared: see
/// [`LockMode`].
const BULK_LOCK: &str = "SELECT pg_advisory_xact_lock(7352190118271004113)";
const BULK_LOCK_SHARED: &str = "SELECT pg_advisory_xact_lock_shared(7352190118271004113)";

/// How a PostgreSQL batch holds the bulk lock.
///
/// The statement triggers of one write statement lock the summary and
/// histogram rows they touch in key order (migration 15), and a batch
/// locks its product rows in id order before writing, so batches of one
/// write statement each (new products only, as in an import of new rows;
/// or changed ones only, as in a price feed or a re-import) acquire every
/// lock in one global order and cannot deadlock on each other: they hold
/// the lock shared and run side by side. A batch of two or more write
/// statements (new products and changed ones, or renamed and repriced
/// ones) locks summary rows in several passes, which another batch's
/// passes can interleave with, so it holds the lock exclusive (measured:
/// 115 deadlocks in one million-row import with two batches in flight
/// when every batch ran freely with row triggers). So does a batch whose
/// new sku another batch inserted first: it starts again, to update it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LockMode {
    Shared,
    Exclusive,
}

/// Products per statement: 13 bound values each stays under both
/// backends' parameter limits (PostgreSQL 65,535; SQLite 32,766).
const CHUNK: usize = 1000;

/// The columns an upsert writes, in the order of the `VALUES` rows of
/// [`update_sql`].
const UPDATED: [&str; 11] = [
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price_cents",
    "stock_quantity",
    "rating_tenths",
    "is_active",
    "search_name",
    "search_body",
];

/// The columns of [`UPDATED`] that leave the search document alone (it is
/// made of the name, the description and the sku): a price or stock feed
/// writes only these, and skips the search triggers and the full-text
/// re-index.
const UPDATED_PLAIN: [&str; 6] = [
    "category",
    "brand",
    "price_cents",
    "stock_quantity",
    "rating_tenths",
    "is_active",
];

/// `UPDATE products … FROM (VALUES …)` for `rows` changed products: one
/// statement for both backends (a CTE names the columns, which SQLite's
/// `VALUES` cannot), `id` first, then `columns`, then the one timestamp.
fn update_sql(backend: Backend, rows: usize, columns: &[&str]) -> String {
    let per_row = columns.len() + 1;
    let mut n = 0;
    let mut param = || {
        n += 1;
        match backend {
            Backend::Postgres => format!("${n}"),
            Backend::Sqlite => "?".to_owned(),
        }
    };
    let mut values = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<String> = (0..per_row).map(|_| param()).collect();
        values.push(format!("({})", row.join(", ")));
    }
    let ts = param();
    let set: Vec<String> = columns.iter().map(|c| format!("{c} = v.{c}")).collect();
    format!(
        "WITH v (id, {cols}) AS (VALUES {values}) \
         UPDATE products SET {set}, version = products.version + 1, updated_at = {ts} \
         FROM v WHERE products.id = v.id",
        cols = columns.join(", "),
        values = values.join(", "),
        set = set.join(", "),
    )
}

/// A product's values in [`UPDATED_PLAIN`] order.
fn plain_values(p: &NewProduct) -> [Value; 6] {
    [
        p.category.as_str().into(),
        p.brand.as_str().into(),
        p.price.cents().into(),
        p.stock_quantity.into(),
        p.rating.tenths().into(),
        p.is_active.into(),
    ]
}

/// The columns a new product is inserted with, in [`inserted_row`]'s
/// order (the id is the table's).
pub(crate) const INSERTED: [Column; 13] = [
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
];

/// A new product's values for [`INSERTED`], created and updated at `ts`.
pub(crate) fn inserted_row(p: &NewProduct, ts: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let mut row = written_values(p).to_vec();
    row.push(ts.into());
    row.push(ts.into());
    row
}

/// A product's values in [`UPDATED`] order.
fn written_values(p: &NewProduct) -> [Value; 11] {
    let doc = SearchDocument::new(&p.name, &p.description, p.sku.as_str());
    [
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
    ]
}

impl SqlStore {
    /// See [`catalog_domain::ProductWriter::upsert_batch`].
    pub(crate) async fn upsert(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<BatchUpserted, StorageError> {
        // Optimistic: shared, until the batch turns out to need more.
        match self
            .upsert_locked(products, idempotency, LockMode::Shared)
            .await?
        {
            Some(done) => Ok(done),
            None => self
                .upsert_locked(products, idempotency, LockMode::Exclusive)
                .await?
                .ok_or_else(|| {
                    StorageError::internal("an upsert", "the exclusive lock was refused")
                }),
        }
    }

    /// One attempt of [`SqlStore::upsert`] holding the bulk lock in
    /// `mode` (PostgreSQL; SQLite's write transaction already holds the
    /// database). `None`: the batch needs the lock exclusive and `mode` is
    /// shared; nothing was written.
    async fn upsert_locked(
        &self,
        products: &[NewProduct],
        idempotency: Option<&Idempotency>,
        mode: LockMode,
    ) -> Result<Option<BatchUpserted>, StorageError> {
        let backend = self.backend();
        let txn = self.begin_write().await?;
        if backend == Backend::Postgres {
            let lock = match mode {
                LockMode::Shared => BULK_LOCK_SHARED,
                LockMode::Exclusive => BULK_LOCK,
            };
            txn.execute_unprepared(lock)
                .await
                .context("waiting for the bulk write lock")?;
        }
        let ts = now();
        if let Some(idem) = idempotency
            && let Some(record) = claim_key(&txn, idem, ts).await?
        {
            txn.rollback().await.context("ending a replay")?;
            let items = serde_json::from_str(record.response_body.as_deref().unwrap_or("null"))
                .map_err(|e| StorageError::internal("a recorded bulk outcome", e))?;
            return Ok(Some(BatchUpserted {
                items,
                replayed: true,
            }));
        }

        // The stored rows of these skus, locked against concurrent writers
        // until the commit (SQLite's write transaction holds the database).
        let mut stored: HashMap<String, Model> = HashMap::with_capacity(products.len());
        for chunk in products.chunks(CHUNK) {
            let mut select = Entity::find()
                .filter(Column::Sku.is_in(chunk.iter().map(|p| p.sku.as_str())))
                .order_by_asc(Column::Id);
            if backend == Backend::Postgres {
                select = select.lock_exclusive();
            }
            for m in select.all(&txn).await.context("reading products by sku")? {
                stored.insert(m.sku.clone(), m);
            }
        }

        let mut out: Vec<Option<Upserted>> = vec![None; products.len()];
        let mut fresh: Vec<usize> = Vec::new();
        // Changed products whose search document changed too, and the
        // others.
        let mut changed: Vec<(i64, usize)> = Vec::new();
        let mut changed_plain: Vec<(i64, usize)> = Vec::new();
        let mut reindex: Vec<i64> = Vec::new();
        for (i, p) in products.iter().enumerate() {
            match stored.remove(p.sku.as_str()) {
                None => fresh.push(i),
                Some(m) => {
                    let id = ProductId::new(m.id)
                        .map_err(|e| StorageError::internal("a stored id", e.to_string()))?;
                    let outcome = if p.same_as(&to_product(m.clone())?) {
                        UpsertOutcome::Unchanged
                    } else if p.sku.as_str() == m.sku
                        && p.name == m.name
                        && p.description == m.description
                    {
                        changed_plain.push((m.id, i));
                        UpsertOutcome::Updated
                    } else {
                        changed.push((m.id, i));
                        reindex.push(m.id);
                        UpsertOutcome::Updated
                    };
                    out[i] = Some(Upserted { id, outcome });
                }
            }
        }

        let statements = [fresh.len(), changed.len(), changed_plain.len()]
            .iter()
            .map(|n| n.div_ceil(CHUNK))
            .sum::<usize>();
        let shared = backend == Backend::Postgres && mode == LockMode::Shared;
        if shared && statements > 1 {
            txn.rollback().await.context("giving up a shared lock")?;
            return Ok(None);
        }

        for chunk in fresh.chunks(CHUNK) {
            let mut stmt = Query::insert();
            stmt.into_table(Entity)
                .columns(INSERTED)
                .returning(Query::returning().columns([Column::Id, Column::Sku]));
            if shared {
                // Another batch may be inserting the same new sku: this
                // one then waits for it and skips the sku, and the batch
                // starts again holding the lock exclusive, to update it.
                stmt.on_conflict(OnConflict::column(Column::Sku).do_nothing().to_owned());
            }
            for &i in chunk {
                stmt.values(inserted_row(&products[i], ts).into_iter().map(Into::into))
                    .map_err(|e| StorageError::internal("building an insert", e))?;
            }
            // Otherwise a sku inserted meanwhile by another writer is a
            // unique violation: `DuplicateSku`, nothing of the batch
            // applied.
            let rows = txn.query_all(&stmt).await.context("inserting products")?;
            let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
            for r in rows {
                let id: i64 = r.try_get("", "id").context("reading an inserted id")?;
                let sku: String = r.try_get("", "sku").context("reading an inserted sku")?;
                ids.insert(sku, id);
            }
            if shared && ids.len() < chunk.len() {
                txn.rollback().await.context("giving up a shared lock")?;
                return Ok(None);
            }
            for &i in chunk {
                let id = ids.get(products[i].sku.as_str()).copied().ok_or_else(|| {
                    StorageError::internal("inserting products", "an insert returned no id")
                })?;
                let id = ProductId::new(id)
                    .map_err(|e| StorageError::internal("an inserted id", e.to_string()))?;
                out[i] = Some(Upserted {
                    id,
                    outcome: UpsertOutcome::Created,
                });
            }
        }

        for (rows, columns) in [
            (&changed, &UPDATED[..]),
            (&changed_plain, &UPDATED_PLAIN[..]),
        ] {
            for chunk in rows.chunks(CHUNK) {
                let mut values: Vec<Value> =
                    Vec::with_capacity(chunk.len() * (columns.len() + 1) + 1);
                for &(id, i) in chunk {
                    values.push(id.into());
                    if columns.len() == UPDATED.len() {
                        values.extend(written_values(&products[i]));
                    } else {
                        values.extend(plain_values(&products[i]));
                    }
                }
                values.push(ts.into());
                txn.execute_raw(Statement::from_sql_and_values(
                    self.db.get_database_backend(),
                    update_sql(backend, chunk.len(), columns),
                    values,
                ))
                .await
                .context("updating products")?;
            }
        }

        // The full-text data of the new products and of those whose
        // search document changed (SQLite; PostgreSQL's triggers keep it).
        let created: Vec<i64> = out
            .iter()
            .flatten()
            .filter(|u| u.outcome == UpsertOutcome::Created)
            .map(|u| u.id.get())
            .collect();
        for id in created.into_iter().chain(reindex) {
            for stmt in self.dialect.after_write(id) {
                txn.execute_raw(stmt)
                    .await
                    .context("updating the search index")?;
            }
        }
        let items = out
            .into_iter()
            .map(|u| u.ok_or_else(|| StorageError::internal("an upsert", "a product was lost")))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(idem) = idempotency {
            let body = serde_json::to_string(&items)
                .map_err(|e| StorageError::internal("encoding bulk outcomes", e))?;
            record_key(&txn, idem, None, body).await?;
        }
        txn.commit().await.context("committing an upsert")?;
        Ok(Some(BatchUpserted {
            items,
            replayed: false,
        }))
    }
}
