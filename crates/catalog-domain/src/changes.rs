//! The change log port: what a follower (every instance's search index)
//! reads to apply every committed write, in any order of commits.
//!
//! Storage appends one entry per product write in the write's own
//! transaction (a trigger on the SQL adapter), and one `reload` entry after
//! a bulk load, which writes no entry per product. A follower remembers a
//! [`ChangeCursor`]; each read returns the products changed since it and
//! the cursor to read from next. The follower then reads those products'
//! current rows ([`ChangeLog::products_by_id`]; an absent row is a delete),
//! so it never depends on the order entries commit in: whatever it
//! applies is the newest committed state.
//!
//! Adapters MUST guarantee: a change whose transaction had committed when
//! [`ChangeLog::changes_since`] began is in its answer or in the answer of
//! an earlier read from an earlier cursor, never skipped — including a
//! change with a lower sequence number than one already read, whose
//! transaction committed later (PostgreSQL sequences commit out of order).
//! A change may be returned more than once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StorageError;
use crate::product::{Product, ProductId};

/// A follower's position in the log. Opaque: its meaning is the adapter's
/// (a transaction-id horizon on PostgreSQL, a sequence number on SQLite).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ChangeCursor(pub u64);

/// What changed since a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeBatch {
    /// Products created, changed or deleted, distinct, by id.
    pub products: Vec<ProductId>,
    /// A bulk load ran: any product may have changed; rebuild from the
    /// products table. The sequence number of the newest `reload` entry
    /// read (a follower built after it ignores it: PostgreSQL's horizon may
    /// return an entry again).
    pub reload: Option<i64>,
    /// Where the next read starts.
    pub next: ChangeCursor,
    /// The highest sequence number read, if any entry was.
    pub head: Option<i64>,
}

#[async_trait]
pub trait ChangeLog: Send + Sync {
    /// Where to follow from when a full build is about to read the
    /// products table: every change that a read starting after this call
    /// cannot see is at or after the returned cursor.
    async fn change_cursor(&self) -> Result<ChangeCursor, StorageError>;

    /// The changes at or after `cursor` (see the module doc for the
    /// guarantee), and the cursor to read from next.
    async fn changes_since(&self, cursor: ChangeCursor) -> Result<ChangeBatch, StorageError>;

    /// The current rows of `ids`, by id; a deleted product is absent.
    async fn products_by_id(&self, ids: &[ProductId]) -> Result<Vec<Product>, StorageError>;

    /// The current rows of `ids`, as [`ChangeLog::products_by_id`], read
    /// in one snapshot that also finds whether the log holds any change
    /// at or after `cursor` (a cursor a read of the log returned as its
    /// `next`): `None` when it holds one, or when the adapter cannot tell.
    ///
    /// A follower that has applied every change before `cursor` answers a
    /// page from such a read without reading the log first: when the log
    /// holds nothing at or after `cursor` in that snapshot, the index
    /// reflects every change committed before the read began. The
    /// provided implementation always says `None` (catch up first).
    async fn products_by_id_if_current(
        &self,
        ids: &[ProductId],
        cursor: ChangeCursor,
    ) -> Result<Option<Vec<Product>>, StorageError> {
        let _ = (ids, cursor);
        Ok(None)
    }

    /// The newest sequence number in the log, if any (for lag reports).
    async fn head(&self) -> Result<Option<i64>, StorageError>;

    /// The sequence number of the newest committed `reload` entry (a bulk
    /// load), if any: a build that begins after reading it reflects that
    /// load.
    async fn last_reload(&self) -> Result<Option<i64>, StorageError>;

    /// Deletes the entries older than `keep` (the retention), oldest first
    /// in batches, and returns how many went. Safe to run on every
    /// instance at once.
    async fn prune(&self, keep: std::time::Duration) -> Result<u64, StorageError>;
}

/// A consumer's position in the public change feed
/// (`GET /api/v1/products/changes`).
///
/// On PostgreSQL the log is read in windows of transaction ids: a window
/// `[lo, hi)` ends at a snapshot's horizon, below which every transaction
/// has ended, so the window's entries are final; within a window entries
/// come in sequence order (for one product, the order its changes
/// committed in: a later change waits for the earlier one's row lock
/// before it takes its sequence number). `after` is the last sequence
/// number delivered within the current window. On SQLite (one writer,
/// sequence order is commit order) only `after` matters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPosition {
    /// Every entry of a transaction below this id has been delivered.
    pub lo: u64,
    /// The end of the window being paged through; `None`: the next read
    /// takes its own snapshot's horizon.
    pub hi: Option<u64>,
    /// Within the window, entries up to this sequence number are delivered.
    pub after: i64,
    /// The highest sequence number delivered so far (or skipped as pruned):
    /// when the log has pruned past it, entries may be lost to this
    /// consumer, and the feed answers 410.
    pub delivered: i64,
}

/// Where a consumer without a position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStart {
    /// The oldest change kept.
    Oldest,
    /// After every change committed so far.
    Now,
}

/// What a feed entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedOp {
    /// Created or changed: `product` is its state after the change.
    Upsert,
    /// Deleted: `product` is null.
    Delete,
}

/// One change, as the public feed shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub seq: i64,
    pub op: FeedOp,
    pub id: ProductId,
    pub product: Option<Product>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One read of the feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedRead {
    /// The entries after the position (up to the limit, possibly none) and
    /// the position after them.
    Page {
        entries: Vec<FeedEntry>,
        next: FeedPosition,
    },
    /// The log no longer holds every change after this position (retention
    /// pruned some): the consumer must start again from an export.
    Expired,
}

/// The public change feed: the change log in commit order, each change
/// exactly once to a consumer that follows its positions.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// The position to start from.
    async fn feed_start(&self, start: FeedStart) -> Result<FeedPosition, StorageError>;

    /// Up to `limit` entries after `from`. Bulk-load `reload` entries are
    /// not part of the feed (a bulk load fills an empty table; consumers
    /// start from an export).
    async fn feed_read(&self, from: FeedPosition, limit: u32) -> Result<FeedRead, StorageError>;
}
