//! [`Follower`]: an index built from the products table and kept exact by
//! the change log.
//!
//! The build takes the log's cursor first, then streams the table in id
//! order; catching up then applies everything committed since the cursor,
//! including what the build's reads missed. Each catch-up reads the
//! changed products' current rows by id, so entries applied twice or in
//! another order than they committed still leave the newest state. A
//! `reload` entry (a bulk load) rebuilds from the table.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortKey, SortValue};
use catalog_domain::{ChangeCursor, ChangeLog, ProductFilter, ProductReader, StorageError};
use tokio::sync::Mutex;

use crate::index::Index;

/// Rows per page of a build's read of the table.
const BUILD_PAGE: u64 = 10_000;

/// What one catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Products re-read and applied.
    pub applied: usize,
    /// Whether the index was rebuilt from the table.
    pub rebuilt: bool,
    /// The log's highest sequence number seen so far.
    pub head: Option<i64>,
    /// Whether this call found a catch-up that began after it was called
    /// already done, and so read nothing itself.
    pub shared: bool,
}

/// An index that follows the change log.
#[derive(Debug)]
pub struct Follower {
    index: RwLock<Index>,
    /// The next read's cursor; held across a catch-up, so catch-ups run
    /// one at a time.
    cursor: Mutex<(ChangeCursor, Option<i64>)>,
    /// Catch-ups begun, and the number of the last one finished: a caller
    /// that arrived when `begun` was n is served by any catch-up numbered
    /// above n, which began after it arrived.
    begun: AtomicU64,
    finished: AtomicU64,
}

fn poisoned() -> StorageError {
    StorageError::internal("search index", "the index lock is poisoned")
}

/// Builds an index of every product `reader` lists, page by page.
async fn read_all(reader: &dyn ProductReader) -> Result<Index, StorageError> {
    let started = Instant::now();
    let all = ProductFilter::default();
    let sort = [SortKey::ID];
    let mut index = Index::new();
    let mut last: Option<i64> = None;
    loop {
        let after = last.map(|id| vec![SortValue::Int(id)]);
        let page = reader
            .list(PageSpec {
                filter: &all,
                sort: &sort,
                after: after.as_deref(),
                offset: 0,
                limit: BUILD_PAGE,
            })
            .await?;
        for p in &page {
            index
                .upsert(p)
                .map_err(|e| StorageError::internal("building the search index", e.to_string()))?;
        }
        last = page.last().map(|p| p.id.get());
        if (page.len() as u64) < BUILD_PAGE {
            break;
        }
        if index.len() % 100_000 < BUILD_PAGE {
            tracing::info!(indexed = index.len(), "search index: building");
        }
    }
    index.shrink();
    tracing::info!(
        products = index.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "search index: built"
    );
    Ok(index)
}

impl Follower {
    /// Builds the index from the table, then catches up with the log.
    pub async fn build(
        log: &dyn ChangeLog,
        reader: &dyn ProductReader,
    ) -> Result<Self, StorageError> {
        let cursor = log.change_cursor().await?;
        let index = read_all(reader).await?;
        let follower = Self {
            index: RwLock::new(index),
            cursor: Mutex::new((cursor, None)),
            begun: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        };
        follower.catch_up(log, reader).await?;
        Ok(follower)
    }

    /// Applies every change committed since the last catch-up (every
    /// change committed before this call began, at the least).
    ///
    /// Concurrent callers share: one that waited while another caught up
    /// returns at once when that catch-up began after it was called (it
    /// read every change committed before). So a burst of requests costs
    /// about two reads of the log, not one each.
    pub async fn catch_up(
        &self,
        log: &dyn ChangeLog,
        reader: &dyn ProductReader,
    ) -> Result<CatchUp, StorageError> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let mut position = self.cursor.lock().await;
        if self.finished.load(Ordering::SeqCst) > arrived {
            return Ok(CatchUp {
                head: position.1,
                shared: true,
                ..CatchUp::default()
            });
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = self.apply_next(&mut position, log, reader).await;
        if outcome.is_ok() {
            self.finished.store(number, Ordering::SeqCst);
        }
        outcome
    }

    async fn apply_next(
        &self,
        position: &mut (ChangeCursor, Option<i64>),
        log: &dyn ChangeLog,
        reader: &dyn ProductReader,
    ) -> Result<CatchUp, StorageError> {
        let batch = log.changes_since(position.0).await?;
        let head = batch.head.or(position.1);
        if batch.reload {
            let cursor = log.change_cursor().await?;
            let index = read_all(reader).await?;
            *self.index.write().map_err(|_| poisoned())? = index;
            // What committed during the rebuild is applied by the next
            // catch-up, from the cursor taken before it.
            *position = (cursor, head);
            return Ok(CatchUp {
                rebuilt: true,
                head,
                ..CatchUp::default()
            });
        }
        let rows = if batch.products.is_empty() {
            Vec::new()
        } else {
            log.products_by_id(&batch.products).await?
        };
        {
            let mut index = self.index.write().map_err(|_| poisoned())?;
            let mut present = rows.iter().map(|p| p.id).peekable();
            for id in &batch.products {
                if present.peek() == Some(id) {
                    present.next();
                } else {
                    index.remove(id.get());
                }
            }
            for p in &rows {
                if let Err(e) = index.upsert(p) {
                    // Never a wrong answer: the caller falls back to SQL
                    // and rebuilds.
                    return Err(StorageError::internal(
                        "applying a change to the search index",
                        e.to_string(),
                    ));
                }
            }
        }
        *position = (batch.next, head);
        Ok(CatchUp {
            applied: batch.products.len(),
            head,
            ..CatchUp::default()
        })
    }

    /// The products indexed and the log's highest sequence number applied.
    pub async fn position(&self) -> (u64, Option<i64>) {
        let head = self.cursor.lock().await.1;
        (self.read(Index::len).unwrap_or(0), head)
    }

    /// Runs `f` on the index as of the last catch-up.
    pub fn read<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T, StorageError> {
        let index = self.index.read().map_err(|_| poisoned())?;
        Ok(f(&index))
    }
}
