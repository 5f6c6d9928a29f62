//! SeaORM storage adapter: one implementation of the storage ports for
//! PostgreSQL and SQLite, the backend chosen by the URL scheme.
//!
//! Both backends store the same schema (one migration set), money as integer
//! cents, ratings as tenths and text compared by code point, so the two
//! answer every query identically; the contract suite checks that they do.

mod bulk_summary;
mod entity;
mod error;
mod histogram;
mod plans;
mod query;
mod store;
mod summary;
mod verify;

pub use bulk_summary::BulkSummary;
pub use query::pg_tsvector;
pub use store::{Backend, CopyRows, PoolConfig, SqlStore};
pub use verify::Drift;

#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::panic)]
pub mod testing;
