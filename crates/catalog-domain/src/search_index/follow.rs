//! [`Follower`]: a [`SearchIndex`] built from the products table and kept
//! exact by the change log.
//!
//! The build takes the log's cursor first, then streams the table in id
//! order; catching up then applies everything committed since the cursor,
//! including what the build's reads missed. Each catch-up reads the
//! changed products' current rows by id, so entries applied twice or in
//! another order than they committed still leave the newest state. A
//! `reload` entry (a bulk load) is not applied: the follower reports it,
//! and its owner builds a new index while the SQL path answers.

use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

// FIFO-fair: under dozens of concurrent searches an unfair lock (such as
// `futures::lock::Mutex`) let some requests wait seconds for the catch-up.
use tokio::sync::Mutex;

use super::SearchIndex;
use crate::changes::{ChangeCursor, ChangeLog};
use crate::error::StorageError;
use crate::ports::{PageSpec, ProductReader};
use crate::query::{ProductFilter, SortKey, SortValue};

/// Rows per page of a build's read of the table.
const BUILD_PAGE: u64 = 5_000;

/// What one catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Products re-read and applied.
    pub applied: usize,
    /// A bulk load ran since the last catch-up: this index no longer
    /// reflects the table and must be rebuilt (nothing was applied).
    pub reload: bool,
    /// The log's highest sequence number seen so far.
    pub head: Option<i64>,
    /// Whether this call found a catch-up that began after it was called
    /// already done, and so read nothing itself.
    pub shared: bool,
}

/// An index that follows the change log.
#[derive(Debug)]
pub struct Follower<I> {
    index: RwLock<I>,
    /// The next read's cursor; held across a catch-up, so catch-ups run
    /// one at a time.
    cursor: Mutex<ChangeCursor>,
    /// The highest sequence number applied (or the log's head when the
    /// build began); `i64::MIN` for none.
    applied: AtomicI64,
    /// The cursor before which the index holds every change: stored while
    /// the index's write lock is held, so a reader under the read lock
    /// sees the cursor of the state it reads ([`Follower::read_at`]).
    complete: AtomicU64,
    /// The newest bulk load the build reflects: its `reload` entry, read
    /// again through PostgreSQL's horizon, is not a new one.
    known_reload: Option<i64>,
    /// Catch-ups begun, and the number of the last one finished: a caller
    /// that arrived when `begun` was n is served by any catch-up numbered
    /// above n, which began after it arrived.
    begun: AtomicU64,
    finished: AtomicU64,
    /// When the last catch-up succeeded, in milliseconds after `born`.
    caught_up_at: AtomicU64,
    born: Instant,
}

fn poisoned() -> StorageError {
    StorageError::internal("search index", "the index lock is poisoned")
}

/// Builds an index of every product `reader` lists, page by page, in id
/// order, logging progress. The table is read on this task while a
/// blocking thread indexes the pages already read: the two overlap, and a
/// build takes about as long as the slower of them.
pub(super) async fn read_all<I: SearchIndex>(
    reader: &dyn ProductReader,
) -> Result<I, StorageError> {
    let started = Instant::now();
    let all = ProductFilter::default();
    let sort = [SortKey::ID];
    let expected = reader.count(&all).await?;
    // Two pages in flight at most: the reader stays one page ahead.
    let (pages, mut inbox) = tokio::sync::mpsc::channel::<Vec<crate::product::Product>>(2);
    let indexer = tokio::task::spawn_blocking(move || -> Result<I, StorageError> {
        let mut index = I::empty();
        index.reserve(expected);
        let mut logged = 0u64;
        while let Some(page) = inbox.blocking_recv() {
            for p in &page {
                index.upsert(p).map_err(|e| {
                    StorageError::internal("building the search index", e.to_string())
                })?;
            }
            if index.len() >= logged + 100_000 {
                logged = index.len();
                tracing::info!(
                    indexed = logged,
                    of = expected,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "search index: building"
                );
            }
        }
        index.finish_build();
        Ok(index)
    });
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
        last = page.last().map(|p| p.id.get());
        let done = (page.len() as u64) < BUILD_PAGE;
        if pages.send(page).await.is_err() {
            // The indexer stopped on an error: it is reported below.
            break;
        }
        if done {
            break;
        }
    }
    drop(pages);
    let index = indexer
        .await
        .map_err(|e| StorageError::internal("building the search index", e.to_string()))??;
    tracing::info!(
        products = index.len(),
        memory_mb = index.memory_bytes() / (1024 * 1024),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "search index: built"
    );
    Ok(index)
}

impl<I: SearchIndex> Follower<I> {
    /// Builds the index from the table, then catches up with the log.
    /// A bulk load that lands during the build makes the build start over.
    pub async fn build(
        log: &dyn ChangeLog,
        reader: &dyn ProductReader,
    ) -> Result<Self, StorageError> {
        loop {
            let known_reload = log.last_reload().await?;
            let head = log.head().await?;
            let cursor = log.change_cursor().await?;
            let index = read_all::<I>(reader).await?;
            let follower = Self {
                index: RwLock::new(index),
                cursor: Mutex::new(cursor),
                applied: AtomicI64::new(head.unwrap_or(i64::MIN)),
                // Nothing is known complete before the first catch-up.
                complete: AtomicU64::new(cursor.0),
                known_reload,
                begun: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                caught_up_at: AtomicU64::new(0),
                born: Instant::now(),
            };
            if !follower.catch_up(log).await?.reload {
                return Ok(follower);
            }
            tracing::info!("search index: a bulk load ran during the build; building again");
        }
    }

    /// Applies every change committed since the last catch-up (every
    /// change committed before this call began, at the least).
    ///
    /// Concurrent callers share: one that waited while another caught up
    /// returns at once when that catch-up began after it was called (it
    /// read every change committed before). So a burst of requests costs
    /// about two reads of the log, not one each.
    pub async fn catch_up(&self, log: &dyn ChangeLog) -> Result<CatchUp, StorageError> {
        let arrived = self.begun.load(Ordering::SeqCst);
        let mut cursor = self.cursor.lock().await;
        if self.finished.load(Ordering::SeqCst) > arrived {
            return Ok(CatchUp {
                head: self.applied(),
                shared: true,
                ..CatchUp::default()
            });
        }
        let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let outcome = self.apply_next(&mut cursor, log).await;
        if let Ok(c) = &outcome
            && !c.reload
        {
            self.finished.store(number, Ordering::SeqCst);
            self.proven_current();
        }
        outcome
    }

    async fn apply_next(
        &self,
        cursor: &mut ChangeCursor,
        log: &dyn ChangeLog,
    ) -> Result<CatchUp, StorageError> {
        let batch = log.changes_since(*cursor).await?;
        if batch.reload > self.known_reload {
            return Ok(CatchUp {
                reload: true,
                head: batch.head,
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
                    index.remove(*id);
                }
            }
            for p in &rows {
                if let Err(e) = index.upsert(p) {
                    // Never a wrong answer: the owner drops this index,
                    // the SQL path answers, and a new one is built.
                    return Err(StorageError::internal(
                        "applying a change to the search index",
                        e.to_string(),
                    ));
                }
            }
            self.complete.store(batch.next.0, Ordering::SeqCst);
        }
        *cursor = batch.next;
        if let Some(h) = batch.head {
            self.applied.fetch_max(h, Ordering::SeqCst);
        }
        Ok(CatchUp {
            applied: batch.products.len(),
            head: self.applied(),
            ..CatchUp::default()
        })
    }

    /// The highest change-log sequence number applied (or logged before the
    /// build began).
    pub fn applied(&self) -> Option<i64> {
        Some(self.applied.load(Ordering::SeqCst)).filter(|a| *a != i64::MIN)
    }

    /// How long ago the last catch-up succeeded.
    pub fn since_caught_up(&self) -> Duration {
        let at = Duration::from_millis(self.caught_up_at.load(Ordering::SeqCst));
        self.born.elapsed().saturating_sub(at)
    }

    /// Runs `f` on the index as of the last catch-up.
    pub fn read<T>(&self, f: impl FnOnce(&I) -> T) -> Result<T, StorageError> {
        let index = self.index.read().map_err(|_| poisoned())?;
        Ok(f(&index))
    }

    /// [`Follower::read`], with the cursor before which the state `f` read
    /// holds every change: a read of the log from that cursor that finds
    /// nothing proves that state current
    /// ([`ChangeLog::products_by_id_if_current`]).
    pub fn read_at<T>(&self, f: impl FnOnce(&I) -> T) -> Result<(T, ChangeCursor), StorageError> {
        let index = self.index.read().map_err(|_| poisoned())?;
        let cursor = ChangeCursor(self.complete.load(Ordering::SeqCst));
        Ok((f(&index), cursor))
    }

    /// Records that the index was proven current now, by a catch-up or by
    /// a read that found the log holding nothing it lacks
    /// ([`Follower::since_caught_up`] counts from here).
    pub fn proven_current(&self) {
        self.caught_up_at
            .store(self.born.elapsed().as_millis() as u64, Ordering::SeqCst);
    }
}
