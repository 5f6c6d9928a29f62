//! Bulk loads into an empty products table, and the repair of one that
//! died half-way.
//!
//! [`SqlStore::bulk_load`] is the whole pipeline: products generated on a
//! blocking thread in batches, encoded for `COPY` (tokenized, escaped,
//! with their search vector, vocabulary and summary counts) while earlier
//! batches are sent on [`COPY_LANES`] connections, then the indexes and
//! derived tables rebuilt once. Its parts stay public for tests and tools
//! that drive a load themselves: [`SqlStore::begin_bulk_load`] pauses the
//! triggers that keep derived tables row by row and drops the secondary
//! indexes, [`SqlStore::reserve_ids`], [`CopyRows`] and
//! [`SqlStore::copy_encoded`] move the rows, [`SqlStore::finish_bulk_load_with`]
//! rebuilds. On SQLite (no `COPY`) batches are inserted instead.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use catalog_domain::product::now;
use catalog_domain::search::{SearchDocument, in_vocabulary};
use catalog_domain::{NewProduct, ProductWriter, StorageError};
use sea_orm::ConnectionTrait;

use crate::bulk_summary::BulkSummary;
use crate::connection::SqlStore;
use crate::dialect::Backend;
use crate::error::Context;
use crate::helpers::{copy_escape, get_i64, ms, non_negative};

/// Products per batch of [`SqlStore::bulk_load`] (one `COPY` or one
/// transaction each).
const BULK_BATCH: u64 = 20_000;

/// `COPY` streams into an empty PostgreSQL table at once: the server
/// parses and stores each row while the next batch is encoded, so two
/// lanes keep two cores busy. SQLite takes one writer.
const COPY_LANES: usize = 2;

/// Where a [`SqlStore::bulk_load`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkLoadProgress {
    /// This many rows are in so far.
    Rows(u64),
    /// All rows are in; the indexes and derived tables are being rebuilt.
    RowsWritten(u64),
}

/// The outcome of a [`SqlStore::bulk_load`].
#[derive(Debug, Clone, Copy)]
pub struct BulkLoadReport {
    /// Rows written.
    pub inserted: u64,
    /// Writing the rows, before the indexes and derived tables.
    pub rows_elapsed: Duration,
    /// The whole load.
    pub elapsed: Duration,
}

impl SqlStore {
    /// Fills the empty products table with `generate(1)` ..=
    /// `generate(count)`, with ids in that order, and rebuilds its indexes
    /// and derived tables. `generate` runs on a blocking thread (it is CPU
    /// work) while earlier batches are written; `progress` hears the rows
    /// written so far, and once when all are in.
    ///
    /// The table must be empty: skus are not checked for conflicts (a
    /// duplicate fails its whole batch on PostgreSQL) and the summaries
    /// are written from the loaded rows' own counts.
    pub async fn bulk_load<G, P>(
        &self,
        count: u64,
        generate: G,
        progress: P,
    ) -> Result<BulkLoadReport, StorageError>
    where
        G: Fn(u64) -> NewProduct + Send + 'static,
        P: Fn(BulkLoadProgress) + Sync,
    {
        let started = Instant::now();
        self.begin_bulk_load().await?;
        let loaded = self.load_rows(count, generate, &progress).await?;
        self.finish_loaded(loaded, started, &progress).await
    }

    /// The end of a load whose rows are in: the derived tables from the
    /// loader's counts (with `COPY`) or from the table.
    async fn finish_loaded<P>(
        &self,
        (inserted, vocabulary, summary): (u64, BTreeSet<String>, BulkSummary),
        started: Instant,
        progress: &P,
    ) -> Result<BulkLoadReport, StorageError>
    where
        P: Fn(BulkLoadProgress) + Sync,
    {
        let rows_elapsed = started.elapsed();
        progress(BulkLoadProgress::RowsWritten(inserted));
        if self.dialect.copy_products().is_some() {
            self.finish_bulk_load_with(Some(vocabulary), Some(summary))
                .await?;
        } else {
            self.finish_bulk_load().await?;
        }
        Ok(BulkLoadReport {
            inserted,
            rows_elapsed,
            elapsed: started.elapsed(),
        })
    }

    /// [`SqlStore::bulk_load`] of products that arrive in batches (an
    /// import into an empty table): the same pause, `COPY` lanes (each
    /// batch's ids reserved as it arrives, its encoding on a blocking
    /// thread) and one rebuild at the end. The skus must be new and
    /// distinct (a taken one fails its batch, and the load). On an error
    /// the table is still finished (indexes, triggers and derived tables
    /// rebuilt from what it holds) before the error is returned.
    pub async fn bulk_load_batches<P>(
        &self,
        batches: tokio::sync::mpsc::Receiver<Vec<NewProduct>>,
        progress: P,
    ) -> Result<BulkLoadReport, StorageError>
    where
        P: Fn(BulkLoadProgress) + Sync,
    {
        let started = Instant::now();
        self.begin_bulk_load().await?;
        match self.load_received(batches, &progress).await {
            Ok(loaded) => self.finish_loaded(loaded, started, &progress).await,
            Err(e) => {
                tracing::warn!(error = %catalog_domain::error::error_chain(&e), "bulk load failed: rebuilding indexes and derived tables from what the table holds");
                self.finish_bulk_load().await?;
                Err(e)
            }
        }
    }

    /// The rows of [`SqlStore::bulk_load_batches`], on [`COPY_LANES`]
    /// lanes taking batches from `batches` as they come.
    async fn load_received<P>(
        &self,
        batches: tokio::sync::mpsc::Receiver<Vec<NewProduct>>,
        progress: &P,
    ) -> Result<(u64, BTreeSet<String>, BulkSummary), StorageError>
    where
        P: Fn(BulkLoadProgress) + Sync,
    {
        let copies = self.dialect.copy_products().is_some();
        let lanes = if copies { COPY_LANES } else { 1 };
        let rx = tokio::sync::Mutex::new(batches);
        let written = AtomicU64::new(0);
        let derived = Derived::default();
        let lane = || async {
            loop {
                let Some(batch) = rx.lock().await.recv().await else {
                    return Ok::<_, StorageError>(());
                };
                if batch.is_empty() {
                    continue;
                }
                let mut rows = if copies {
                    let first_id = self.reserve_ids(batch.len() as u64).await?;
                    tokio::task::spawn_blocking(move || CopyRows::from_products(batch, first_id))
                        .await
                        .map_err(|e| StorageError::internal("encoding products", e))?
                } else {
                    CopyRows::unencoded(batch)
                };
                merge_derived(&derived, &mut rows);
                let n = self.copy_encoded(rows).await?;
                let total = written.fetch_add(n, Ordering::Relaxed) + n;
                progress(BulkLoadProgress::Rows(total));
            }
        };
        futures::future::try_join_all((0..lanes).map(|_| lane())).await?;
        let (vocabulary, summary) = take_derived(derived)?;
        Ok((written.into_inner(), vocabulary, summary))
    }

    /// The rows of [`SqlStore::bulk_load`]: one blocking thread generates
    /// and encodes batches in order while the lanes send them. Returns the
    /// rows written, their vocabulary and their summary counts.
    async fn load_rows<G, P>(
        &self,
        count: u64,
        generate: G,
        progress: &P,
    ) -> Result<(u64, BTreeSet<String>, BulkSummary), StorageError>
    where
        G: Fn(u64) -> NewProduct + Send + 'static,
        P: Fn(BulkLoadProgress) + Sync,
    {
        let copies = self.dialect.copy_products().is_some();
        // Product i gets id first + i - 1 whichever lane sends it, so a
        // load yields the same ids on every run (and the same as a
        // one-lane load). Without COPY the table assigns them in order.
        let first_id = if copies {
            self.reserve_ids(count).await?
        } else {
            1
        };
        let lanes = if copies { COPY_LANES } else { 1 };
        let (tx, rx) = tokio::sync::mpsc::channel::<CopyRows>(lanes);
        let producer = tokio::task::spawn_blocking(move || {
            let mut next = 1u64;
            while next <= count {
                let n = (count + 1 - next).min(BULK_BATCH);
                let batch: Vec<NewProduct> = (next..next + n).map(&generate).collect();
                let rows = if copies {
                    let id = first_id.saturating_add(i64::try_from(next - 1).unwrap_or(i64::MAX));
                    CopyRows::from_products(batch, id)
                } else {
                    CopyRows::unencoded(batch)
                };
                // A closed channel means a lane failed; its error is reported.
                if tx.blocking_send(rows).is_err() {
                    break;
                }
                next += n;
            }
        });
        let rx = tokio::sync::Mutex::new(rx);
        let written = AtomicU64::new(0);
        let derived = Derived::default();
        let lane = || async {
            loop {
                let Some(mut rows) = rx.lock().await.recv().await else {
                    return Ok::<_, StorageError>(());
                };
                merge_derived(&derived, &mut rows);
                let n = self.copy_encoded(rows).await?;
                let total = written.fetch_add(n, Ordering::Relaxed) + n;
                progress(BulkLoadProgress::Rows(total));
            }
        };
        let lanes = futures::future::try_join_all((0..lanes).map(|_| lane())).await;
        // Dropping the receiver (on error) unblocks the producer.
        drop(rx);
        producer
            .await
            .map_err(|e| StorageError::internal("generating products", e))?;
        lanes?;
        let (vocabulary, summary) = take_derived(derived)?;
        Ok((written.into_inner(), vocabulary, summary))
    }

    /// A bulk load that died between [`SqlStore::begin_bulk_load`] and
    /// [`SqlStore::finish_bulk_load`] left the triggers it pauses paused
    /// (PostgreSQL) or dropped (SQLite): on PostgreSQL writes since then
    /// have no search vector and are missing from the summaries and the
    /// vocabulary, on SQLite from the price histogram. This resumes the
    /// triggers and rebuilds what they keep (a no-op query when none is
    /// paused). Safe beside a load that is still running: its own finish
    /// rebuilds the same tables again.
    pub async fn heal_interrupted_bulk_load(&self) -> Result<(), StorageError> {
        let paused = self
            .trigger_count(self.dialect.paused_bulk_triggers())
            .await?;
        if paused == 0 {
            return Ok(());
        }
        match self.backend() {
            Backend::Sqlite => {
                tracing::warn!(
                    "an interrupted bulk load left the price summary triggers dropped: \
                     recreating them and rebuilding the price summary"
                );
                self.resume_sqlite_price_summary().await
            }
            Backend::Postgres => {
                tracing::warn!(
                    "an interrupted bulk load left the products triggers paused: \
                     resuming them and rebuilding search vectors, summary and vocabulary"
                );
                self.db
                    .execute_unprepared(
                        "ALTER TABLE products ENABLE TRIGGER products_search_vector",
                    )
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
                self.pg_rebuild_derived(None, None).await
            }
        }
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
        for sql in crate::schema::rebuild_price_summary()
            .into_iter()
            .chain(self.dialect.resume_bulk_triggers())
            .chain([crate::schema::CHANGE_LOG_RELOAD.to_string()])
        {
            txn.execute_unprepared(&sql)
                .await
                .context("rebuilding the price summary")?;
        }
        txn.commit().await.context("rebuilding the price summary")
    }

    /// Creates any secondary or search index that is missing (a bulk load
    /// that was interrupted after dropping them). Cheap when they all
    /// exist.
    pub async fn ensure_indexes(&self) -> Result<(), StorageError> {
        for idx in crate::schema::secondary_indexes() {
            self.db.execute(&idx).await.context("creating an index")?;
        }
        for (_, create) in self.dialect.search_indexes() {
            self.db
                .execute_unprepared(create)
                .await
                .context("creating a search index")?;
        }
        Ok(())
    }

    /// Prepares a bulk load into an empty table: pauses the triggers that
    /// keep derived tables row by row (`Dialect::pause_bulk_triggers`) and
    /// drops the secondary indexes, which are cheaper to build once over
    /// the loaded rows than to maintain row by row.
    /// [`SqlStore::finish_bulk_load`] recreates them (and
    /// [`SqlStore::migrate`] does if a load was interrupted).
    pub async fn begin_bulk_load(&self) -> Result<(), StorageError> {
        for sql in self.dialect.pause_bulk_triggers() {
            self.db
                .execute_unprepared(&sql)
                .await
                .context("pausing the derived tables' triggers for a bulk load")?;
        }
        for idx in crate::schema::secondary_indexes() {
            let Some(name) = idx.get_index_spec().get_name() else {
                continue;
            };
            self.db
                .execute_unprepared(&self.dialect.drop_index(name))
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
        match self.backend() {
            Backend::Sqlite => self.finish_sqlite().await,
            Backend::Postgres => self.finish_pg(vocabulary, summary).await,
        }
    }

    /// SQLite's finish: the indexes, the price histogram (whose triggers
    /// the load dropped), statistics.
    async fn finish_sqlite(&self) -> Result<(), StorageError> {
        let started = Instant::now();
        self.ensure_indexes().await?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: indexes built");
        let started = Instant::now();
        self.resume_sqlite_price_summary().await?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: price summary rebuilt");
        let started = Instant::now();
        self.analyze().await?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: analyzed");
        Ok(())
    }

    /// PostgreSQL's finish: the indexes on `Dialect::index_build_lanes`
    /// connections, the derived tables from the loader's counts, then
    /// `VACUUM (ANALYZE)`.
    async fn finish_pg(
        &self,
        vocabulary: Option<BTreeSet<String>>,
        summary: Option<BulkSummary>,
    ) -> Result<(), StorageError> {
        // Two lanes on two connections, one per core, take the index
        // builds from one queue, longest first: the vector's GIN index
        // (about 14 s alone at a million rows) on one, its name part's (7 s)
        // and then the btrees on the other, the first lane joining in when
        // it is done. CREATE INDEX takes a SHARE lock, which concurrent
        // index builds on one table share. Running the two GIN builds one
        // after the other on one lane left it the longest by seconds.
        let started = Instant::now();
        let builder = self.db.get_database_backend();
        let queue: VecDeque<String> = self
            .dialect
            .search_indexes()
            .iter()
            .map(|(_, create)| (*create).to_owned())
            .chain(
                crate::schema::secondary_indexes()
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
        futures::future::try_join_all((0..self.dialect.index_build_lanes()).map(|_| lane()))
            .await?;
        tracing::info!(elapsed_ms = ms(started), "bulk load: indexes built");
        let lane = Instant::now();
        self.pg_rebuild_derived(vocabulary, summary).await?;
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

    /// Runs index builds in one transaction with the settings of
    /// `Dialect::index_build_settings` (PostgreSQL: the memory a bulk build
    /// wants, no statement timeout).
    async fn build_indexes(&self, statements: &[String]) -> Result<(), StorageError> {
        let txn = self.begin_write().await?;
        for sql in self.dialect.index_build_settings() {
            txn.execute_unprepared(&sql)
                .await
                .context("preparing index builds")?;
        }
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
    async fn pg_rebuild_derived(
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
                    crate::schema::PRICE_SUMMARY_TABLE
                ))
                .await
                .context("clearing the summaries")?;
            self.copy_in(
                "COPY product_summary (category, brand, product_count, active_count, \
                 in_stock_count, stock_sum, price_sum, rating_sum) FROM STDIN",
                s.summary_copy(),
            )
            .await?;
            let counters: Vec<String> = crate::schema::price_summary_counters()
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            self.copy_in(
                &format!(
                    "COPY {} (dim, name, width, bucket, {}) FROM STDIN",
                    crate::schema::PRICE_SUMMARY_TABLE,
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
            for sql in crate::schema::REBUILD_SUMMARY {
                txn.execute_unprepared(sql)
                    .await
                    .context("rebuilding the summary")?;
            }
            for sql in crate::schema::rebuild_price_summary() {
                txn.execute_unprepared(&sql)
                    .await
                    .context("rebuilding the price summary")?;
            }
        }
        if vocabulary.is_none() {
            txn.execute_unprepared(crate::schema::PG_REBUILD_SEARCH_TERMS)
                .await
                .context("rebuilding the search vocabulary")?;
        }
        for sql in self.dialect.resume_bulk_triggers() {
            txn.execute_unprepared(&sql)
                .await
                .context("resuming the summary, vocabulary and search vector triggers")?;
        }
        // The load wrote no change row per product: followers rebuild.
        txn.execute_unprepared(crate::schema::CHANGE_LOG_RELOAD)
            .await
            .context("marking the bulk load in the change log")?;
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
        if self.dialect.copy_products().is_none() {
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
        let Some(sql) = self.dialect.copy_products() else {
            return self.insert_batch(&rows.products).await;
        };
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
}

/// The vocabulary and summary counts of a load's rows, shared by its
/// lanes: a summary holds a row per (category, brand, $1 bucket) seen,
/// tens of megabytes at a million products, so one per lane would double
/// it.
type Derived = std::sync::Mutex<(BTreeSet<String>, BulkSummary)>;

/// Adds a batch's vocabulary and summary counts to the load's (held only
/// for the merge, never across an await).
fn merge_derived(derived: &Derived, rows: &mut CopyRows) {
    let summary = rows.take_summary();
    if let Ok(mut d) = derived.lock() {
        d.0.extend(rows.vocabulary().iter().cloned());
        d.1.merge(summary);
    }
}

/// The load's vocabulary and summary once every lane is done.
fn take_derived(derived: Derived) -> Result<(BTreeSet<String>, BulkSummary), StorageError> {
    derived
        .into_inner()
        .map_err(|_| StorageError::internal("a bulk load", "a lane panicked"))
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
                p.category.as_str(),
                p.brand.as_str(),
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

    /// A batch for a database without `COPY`, inserted as it is
    /// (`Dialect::copy_products`): nothing to encode.
    fn unencoded(products: Vec<NewProduct>) -> CopyRows {
        CopyRows {
            products,
            text: Vec::new(),
            vocabulary: BTreeSet::new(),
            summary: BulkSummary::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }
}
