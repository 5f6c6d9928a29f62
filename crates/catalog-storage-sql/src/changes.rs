//! The change log port ([`ChangeLog`]) on the `product_changes` table that
//! migration 13's triggers append to.
//!
//! PostgreSQL: the cursor is a visibility horizon, the `xmin` of a
//! snapshot (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction
//! with a lower id has ended, so every change it made is visible now. A
//! read takes the horizon first, then every visible entry whose
//! transaction id is at or above the previous horizon. An entry of a
//! transaction still running is invisible and stays at or above the new
//! horizon, so the next read finds it however its sequence number
//! compares with those already read. Committed entries above the horizon
//! are read again next time (a follower's update is idempotent). A
//! reader that remembered the last sequence number instead would skip an
//! entry whose transaction took its number first and committed last; the
//! test `postgres_horizon_never_skips_a_late_commit` (catalog-search-memory,
//! `tests/follow.rs`) holds such a transaction open to prove the horizon
//! does not.
//!
//! SQLite runs one write transaction at a time, so sequence order is
//! commit order and the cursor is the last sequence number read.

use async_trait::async_trait;
use catalog_domain::changes::{ChangeFeed, FeedEntry, FeedOp, FeedPosition, FeedRead, FeedStart};
use catalog_domain::{ChangeBatch, ChangeCursor, ChangeLog, Product, ProductId, StorageError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement, Value};

use crate::connection::SqlStore;
use crate::dialect::Backend;
use crate::entity::{self, Column, Entity};
use crate::error::Context;
use crate::helpers::to_product;

/// Ids per by-id read (well under both databases' bind limits).
const BY_ID_CHUNK: usize = 1000;

fn cursor_of(raw: &str) -> Result<ChangeCursor, StorageError> {
    raw.trim()
        .parse::<u64>()
        .map(ChangeCursor)
        .map_err(|e| StorageError::internal("reading the change log's horizon", e))
}

impl SqlStore {
    async fn one_text(
        &self,
        sql: &str,
        what: &'static str,
    ) -> Result<Option<String>, StorageError> {
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .context(what)?;
        match row {
            Some(r) => r.try_get_by_index::<Option<String>>(0).context(what),
            None => Ok(None),
        }
    }

    async fn one_seq(&self, sql: &str, what: &'static str) -> Result<Option<i64>, StorageError> {
        self.one_text(sql, what)
            .await?
            .map(|raw| {
                raw.trim()
                    .parse::<i64>()
                    .map_err(|e| StorageError::internal(what, e))
            })
            .transpose()
    }
}

impl SqlStore {
    /// The rows of `ids` (at most [`BY_ID_CHUNK`]), in no order, under
    /// `also` when given: one statement.
    async fn rows_by_id(
        &self,
        ids: &[ProductId],
        also: Option<sea_orm::sea_query::SimpleExpr>,
    ) -> Result<Vec<Product>, StorageError> {
        let mut find = Entity::find().filter(Column::Id.is_in(ids.iter().map(|id| id.get())));
        if let Some(also) = also {
            find = find.filter(also);
        }
        find.into_partial_model::<entity::ProductRow>()
            .all(self.reads(true))
            .await
            .context("reading products by id")?
            .into_iter()
            .map(to_product)
            .collect()
    }
}

#[async_trait]
impl ChangeLog for SqlStore {
    async fn change_cursor(&self) -> Result<ChangeCursor, StorageError> {
        let sql = match self.backend() {
            Backend::Postgres => "SELECT pg_snapshot_xmin(pg_current_snapshot())::text",
            Backend::Sqlite => "SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) FROM product_changes",
        };
        let raw = self
            .one_text(sql, "reading the change log's position")
            .await?
            .unwrap_or_default();
        cursor_of(&raw)
    }

    #[tracing::instrument(skip_all, fields(cursor = cursor.0))]
    async fn changes_since(&self, cursor: ChangeCursor) -> Result<ChangeBatch, StorageError> {
        let backend = self.db.get_database_backend();
        let (next, rows) = match self.backend() {
            Backend::Postgres => {
                // One statement, one snapshot: the entries it sees, and
                // that snapshot's horizon (xmin). Every transaction below
                // the horizon had ended when the snapshot was taken, so
                // its entries are visible here; an entry this read misses
                // belongs to a transaction still running, whose xid is at
                // or above the horizon, where the next read starts.
                let rows = self
                    .db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon, \
                         c.seq, c.op, c.product_id FROM (SELECT 1) AS one \
                         LEFT JOIN product_changes c \
                         ON c.xid >= CAST(CAST($1 AS text) AS xid8) ORDER BY c.seq",
                        [Value::from(cursor.0.to_string())],
                    ))
                    .await
                    .context("reading the change log")?;
                let horizon: String = rows
                    .first()
                    .ok_or_else(|| StorageError::internal("reading the change log", "no row"))?
                    .try_get("", "horizon")
                    .context("reading the change log")?;
                (cursor_of(&horizon)?, rows)
            }
            Backend::Sqlite => {
                let after = i64::try_from(cursor.0).unwrap_or(i64::MAX);
                let rows = self
                    .db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT seq, op, product_id FROM product_changes WHERE seq > ? ORDER BY seq",
                        [Value::from(after)],
                    ))
                    .await
                    .context("reading the change log")?;
                (cursor, rows)
            }
        };
        let mut batch = ChangeBatch {
            next,
            ..ChangeBatch::default()
        };
        let mut ids = std::collections::BTreeSet::new();
        for row in &rows {
            // PostgreSQL's read has one row without an entry when none
            // is new (it carries the horizon alone).
            let Some(seq) = row
                .try_get::<Option<i64>>("", "seq")
                .context("reading the change log")?
            else {
                continue;
            };
            let op: String = row.try_get("", "op").context("reading the change log")?;
            let id: Option<i64> = row
                .try_get("", "product_id")
                .context("reading the change log")?;
            batch.head = Some(batch.head.map_or(seq, |h: i64| h.max(seq)));
            if op == "reload" {
                batch.reload = Some(batch.reload.map_or(seq, |r: i64| r.max(seq)));
            }
            if let Some(id) = id {
                ids.insert(id);
            }
        }
        if self.backend() == Backend::Sqlite
            && let Some(head) = batch.head
        {
            batch.next = ChangeCursor(u64::try_from(head).unwrap_or(0));
        }
        batch.products = ids
            .into_iter()
            .filter_map(|id| ProductId::new(id).ok())
            .collect();
        Ok(batch)
    }

    async fn products_by_id(&self, ids: &[ProductId]) -> Result<Vec<Product>, StorageError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BY_ID_CHUNK) {
            out.extend(self.rows_by_id(chunk, None).await?);
        }
        out.sort_by_key(|p| p.id);
        Ok(out)
    }

    /// One statement: the rows, filtered by a `NOT EXISTS` over the log
    /// (evaluated once, in the statement's snapshot). Rows come back only
    /// when the log holds nothing at or after `cursor`; no row at all is
    /// read as "changed" (the ids could all be deleted, which the log
    /// would hold too), and the caller catches up.
    async fn products_by_id_if_current(
        &self,
        ids: &[ProductId],
        cursor: ChangeCursor,
    ) -> Result<Option<Vec<Product>>, StorageError> {
        if ids.is_empty() || ids.len() > BY_ID_CHUNK {
            return Ok(None);
        }
        // The same comparison as `changes_since` reads from `cursor`.
        // sea-query numbers PostgreSQL's placeholders (`$1`) and leaves
        // SQLite's as `?`.
        let quiet = match self.backend() {
            Backend::Postgres => Expr::cust_with_values(
                "NOT EXISTS (SELECT 1 FROM product_changes \
                 WHERE xid >= CAST(CAST($1 AS text) AS xid8))",
                [Value::from(cursor.0.to_string())],
            ),
            Backend::Sqlite => Expr::cust_with_values(
                "NOT EXISTS (SELECT 1 FROM product_changes WHERE seq > ?)",
                [Value::from(i64::try_from(cursor.0).unwrap_or(i64::MAX))],
            ),
        };
        let mut out = self.rows_by_id(ids, Some(quiet)).await?;
        if out.is_empty() {
            return Ok(None);
        }
        out.sort_by_key(|p| p.id);
        Ok(Some(out))
    }

    async fn head(&self) -> Result<Option<i64>, StorageError> {
        self.one_seq(
            "SELECT CAST(MAX(seq) AS TEXT) FROM product_changes",
            "reading the change log's head",
        )
        .await
    }

    async fn prune(&self, keep: std::time::Duration) -> Result<u64, StorageError> {
        const BATCH: u64 = 10_000;
        let keep = chrono::Duration::from_std(keep)
            .map_err(|e| StorageError::internal("pruning the change log", e))?;
        let cutoff = chrono::Utc::now() - keep;
        let backend = self.db.get_database_backend();
        let mut total = 0;
        loop {
            let done = match self.backend() {
                // One statement: the batch goes, and the watermark the
                // public feed checks positions against moves past it.
                Backend::Postgres => {
                    let row = self
                        .db
                        .query_one_raw(Statement::from_sql_and_values(
                            backend,
                            "WITH d AS (DELETE FROM product_changes WHERE seq IN (\
                               SELECT seq FROM product_changes WHERE changed_at < $1 \
                               ORDER BY changed_at LIMIT 10000) RETURNING seq), \
                             w AS (UPDATE product_changes_pruned \
                               SET max_seq = GREATEST(max_seq, (SELECT MAX(seq) FROM d)) \
                               WHERE id = 1 AND EXISTS (SELECT 1 FROM d)) \
                             SELECT count(*) AS n FROM d",
                            [Value::from(cutoff)],
                        ))
                        .await
                        .context("pruning the change log")?;
                    row.map(|r| r.try_get::<i64>("", "n"))
                        .transpose()
                        .context("pruning the change log")?
                        .unwrap_or(0) as u64
                }
                Backend::Sqlite => {
                    use sea_orm::TransactionTrait;
                    // The column's own text format (migration 13).
                    let cutoff = Value::from(cutoff.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
                    let txn = self.db.begin().await.context("pruning the change log")?;
                    let max: Option<i64> = txn
                        .query_one_raw(Statement::from_sql_and_values(
                            backend,
                            "SELECT MAX(seq) FROM (SELECT seq FROM product_changes \
                             WHERE changed_at < ? ORDER BY changed_at LIMIT 10000)",
                            [cutoff.clone()],
                        ))
                        .await
                        .context("pruning the change log")?
                        .map(|r| r.try_get_by_index::<Option<i64>>(0))
                        .transpose()
                        .context("pruning the change log")?
                        .flatten();
                    let Some(max) = max else {
                        txn.commit().await.context("pruning the change log")?;
                        return Ok(total);
                    };
                    let done = txn
                        .execute_raw(Statement::from_sql_and_values(
                            backend,
                            "DELETE FROM product_changes WHERE seq IN (SELECT seq FROM product_changes \
                             WHERE changed_at < ? ORDER BY changed_at LIMIT 10000)",
                            [cutoff],
                        ))
                        .await
                        .context("pruning the change log")?
                        .rows_affected();
                    txn.execute_raw(Statement::from_sql_and_values(
                        backend,
                        "UPDATE product_changes_pruned SET max_seq = MAX(max_seq, ?) WHERE id = 1",
                        [Value::from(max)],
                    ))
                    .await
                    .context("pruning the change log")?;
                    txn.commit().await.context("pruning the change log")?;
                    done
                }
            };
            total += done;
            if done < BATCH {
                return Ok(total);
            }
        }
    }

    async fn last_reload(&self) -> Result<Option<i64>, StorageError> {
        // A scan of the log; it runs once per index build, which reads
        // the whole products table anyway.
        self.one_seq(
            "SELECT CAST(MAX(seq) AS TEXT) FROM product_changes WHERE op = 'reload'",
            "reading the change log's last reload",
        )
        .await
    }
}

/// A product's state as migration 13's triggers write it into the log
/// (`jsonb_build_object` on PostgreSQL, `json_object` on SQLite).
#[derive(serde::Deserialize)]
struct LoggedProduct {
    id: i64,
    sku: String,
    name: String,
    description: String,
    category: String,
    brand: String,
    price_cents: i64,
    stock_quantity: i64,
    rating_tenths: i64,
    /// SQLite has no boolean: 0 or 1.
    is_active: serde_json::Value,
    created_at: String,
    updated_at: String,
    version: i64,
}

/// A timestamp as either database writes it: RFC 3339 (PostgreSQL's jsonb,
/// sqlx's SQLite encoding) or `YYYY-MM-DD HH:MM:SS[.f][+00:00]`.
fn logged_time(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    let naive = raw.trim_end_matches(" UTC").trim_end_matches('Z');
    NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .map(|t| t.and_utc())
}

fn logged_product(raw: &str) -> Result<Product, StorageError> {
    use catalog_domain::{Label, Price, Rating, Sku};
    let what = "reading a product from the change log";
    let p: LoggedProduct =
        serde_json::from_str(raw).map_err(|e| StorageError::internal(what, e))?;
    let bad = |field: &str| StorageError::internal(what, format!("invalid {field}"));
    Ok(Product {
        id: ProductId::new(p.id).map_err(|_| bad("id"))?,
        sku: Sku::parse(&p.sku).map_err(|_| bad("sku"))?,
        name: p.name,
        description: p.description,
        category: Label::from_stored(p.category),
        brand: Label::from_stored(p.brand),
        price: Price::from_cents(p.price_cents).map_err(|_| bad("price"))?,
        stock_quantity: p.stock_quantity,
        rating: Rating::from_tenths(p.rating_tenths).map_err(|_| bad("rating"))?,
        is_active: match p.is_active {
            serde_json::Value::Bool(b) => b,
            serde_json::Value::Number(n) => n.as_i64() != Some(0),
            _ => return Err(bad("is_active")),
        },
        created_at: logged_time(&p.created_at).ok_or_else(|| bad("created_at"))?,
        updated_at: logged_time(&p.updated_at).ok_or_else(|| bad("updated_at"))?,
        version: p.version,
    })
}

impl SqlStore {
    async fn pruned_watermark(&self) -> Result<i64, StorageError> {
        Ok(self
            .one_seq(
                "SELECT CAST(max_seq AS TEXT) FROM product_changes_pruned WHERE id = 1",
                "reading the change log's pruning watermark",
            )
            .await?
            .unwrap_or(0))
    }
}

#[async_trait]
impl ChangeFeed for SqlStore {
    async fn feed_start(&self, start: FeedStart) -> Result<FeedPosition, StorageError> {
        let watermark = self.pruned_watermark().await?;
        match start {
            FeedStart::Oldest => Ok(FeedPosition {
                lo: 0,
                hi: None,
                after: 0,
                delivered: watermark,
            }),
            FeedStart::Now => {
                let head = self.head().await?.unwrap_or(0).max(watermark);
                let lo = match self.backend() {
                    Backend::Postgres => self.change_cursor().await?.0,
                    Backend::Sqlite => 0,
                };
                Ok(FeedPosition {
                    lo,
                    hi: None,
                    after: if self.backend() == Backend::Sqlite {
                        head
                    } else {
                        0
                    },
                    delivered: head,
                })
            }
        }
    }

    async fn feed_read(&self, from: FeedPosition, limit: u32) -> Result<FeedRead, StorageError> {
        let what = "reading the change feed";
        let backend = self.db.get_database_backend();
        let limit = i64::from(limit.max(1));
        let (rows, hi) = match self.backend() {
            Backend::Postgres => {
                // The window [lo, hi): hi is the token's, or this
                // statement's snapshot horizon, below which every
                // transaction has ended (so the window is final).
                let rows = self
                    .db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "WITH h AS (SELECT COALESCE(CAST(CAST($2 AS text) AS xid8), \
                           pg_snapshot_xmin(pg_current_snapshot())) AS hi) \
                         SELECT h.hi::text AS hi, w.max_seq AS pruned, c.seq, c.op, c.product_id, \
                           c.product::text AS product, c.changed_at \
                         FROM h CROSS JOIN product_changes_pruned w \
                         LEFT JOIN LATERAL (SELECT seq, op, product_id, product, changed_at \
                           FROM product_changes \
                           WHERE xid >= CAST(CAST($1 AS text) AS xid8) AND xid < h.hi \
                             AND seq > $3 AND op <> 'reload' \
                           ORDER BY seq LIMIT $4) c ON true \
                         WHERE w.id = 1 ORDER BY c.seq",
                        [
                            Value::from(from.lo.to_string()),
                            Value::from(from.hi.map(|h| h.to_string())),
                            Value::from(from.after),
                            Value::from(limit),
                        ],
                    ))
                    .await
                    .context(what)?;
                let hi: String = rows
                    .first()
                    .ok_or_else(|| StorageError::internal(what, "no row"))?
                    .try_get("", "hi")
                    .context(what)?;
                let hi = hi
                    .trim()
                    .parse::<u64>()
                    .map_err(|e| StorageError::internal(what, e))?;
                (rows, Some(hi))
            }
            Backend::Sqlite => {
                let rows = self
                    .db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT w.max_seq AS pruned, c.seq, c.op, c.product_id, c.product, \
                           c.changed_at \
                         FROM product_changes_pruned w LEFT JOIN (SELECT seq, op, product_id, \
                           product, changed_at FROM product_changes \
                           WHERE seq > ? AND op <> 'reload' ORDER BY seq LIMIT ?) c ON 1 = 1 \
                         WHERE w.id = 1 ORDER BY c.seq",
                        [Value::from(from.after), Value::from(limit)],
                    ))
                    .await
                    .context(what)?;
                (rows, None)
            }
        };
        let first = rows
            .first()
            .ok_or_else(|| StorageError::internal(what, "the pruning watermark is missing"))?;
        let pruned: i64 = first.try_get("", "pruned").context(what)?;
        if from.delivered < pruned {
            return Ok(FeedRead::Expired);
        }
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let Some(seq) = row.try_get::<Option<i64>>("", "seq").context(what)? else {
                continue;
            };
            let op: String = row.try_get("", "op").context(what)?;
            let id: i64 = row.try_get("", "product_id").context(what)?;
            let id = ProductId::new(id).map_err(|e| StorageError::internal(what, e))?;
            let at = match self.backend() {
                Backend::Postgres => row
                    .try_get::<chrono::DateTime<chrono::Utc>>("", "changed_at")
                    .context(what)?,
                Backend::Sqlite => {
                    let raw: String = row.try_get("", "changed_at").context(what)?;
                    logged_time(&raw).ok_or_else(|| StorageError::internal(what, raw))?
                }
            };
            let (op, product) = if op == "delete" {
                (FeedOp::Delete, None)
            } else {
                let raw: String = row.try_get("", "product").context(what)?;
                (FeedOp::Upsert, Some(logged_product(&raw)?))
            };
            entries.push(FeedEntry {
                seq,
                op,
                id,
                product,
                at,
            });
        }
        let last = entries.last().map(|e| e.seq);
        let full = entries.len() as i64 >= limit;
        let delivered = last.map_or(from.delivered, |s| from.delivered.max(s));
        let next = match (self.backend(), hi) {
            // More of this window may follow: stay in it.
            (Backend::Postgres, Some(hi)) if full => FeedPosition {
                lo: from.lo,
                hi: Some(hi),
                after: last.unwrap_or(from.after),
                delivered,
            },
            // The window is done: the next starts where it ended.
            (Backend::Postgres, Some(hi)) => FeedPosition {
                lo: hi,
                hi: None,
                after: 0,
                delivered,
            },
            _ => FeedPosition {
                lo: 0,
                hi: None,
                after: last.unwrap_or(from.after),
                delivered,
            },
        };
        Ok(FeedRead::Page { entries, next })
    }
}
