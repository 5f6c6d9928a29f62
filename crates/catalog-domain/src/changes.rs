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
