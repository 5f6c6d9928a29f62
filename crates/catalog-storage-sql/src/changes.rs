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
use catalog_domain::{ChangeBatch, ChangeCursor, ChangeLog, Product, ProductId, StorageError};
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
            let rows = Entity::find()
                .filter(Column::Id.is_in(chunk.iter().map(|id| id.get())))
                .into_partial_model::<entity::ProductRow>()
                .all(self.reads(true))
                .await
                .context("reading products by id")?;
            for row in rows {
                out.push(to_product(row)?);
            }
        }
        out.sort_by_key(|p| p.id);
        Ok(out)
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
        let (sql, value) = match self.backend() {
            Backend::Postgres => (
                "DELETE FROM product_changes WHERE seq IN (SELECT seq FROM product_changes \
                 WHERE changed_at < $1 ORDER BY changed_at LIMIT 10000)",
                Value::from(cutoff),
            ),
            Backend::Sqlite => (
                "DELETE FROM product_changes WHERE seq IN (SELECT seq FROM product_changes \
                 WHERE changed_at < ? ORDER BY changed_at LIMIT 10000)",
                // The column's own text format (migration 13).
                Value::from(cutoff.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            ),
        };
        let mut total = 0;
        loop {
            let done = self
                .db
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [value.clone()],
                ))
                .await
                .context("pruning the change log")?
                .rows_affected();
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
