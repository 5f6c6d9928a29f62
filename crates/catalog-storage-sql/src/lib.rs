//! SeaORM storage adapter: one implementation of the storage ports for
//! PostgreSQL and SQLite, the backend chosen by the URL scheme.
//!
//! Both backends store the same schema (one migration set), money as integer
//! cents, ratings as tenths and text compared by code point, so the two
//! answer every query identically; the contract suite checks that they do.

mod bulk_load;
mod bulk_summary;
mod connection;
mod dialect;
mod entity;
mod error;
mod helpers;
mod histogram;
mod plans;
mod query;
mod reads;
mod summary;
mod tiers;
mod verify;
mod writes;

pub use bulk_load::{BulkLoadProgress, BulkLoadReport, CopyRows};
pub use bulk_summary::BulkSummary;
pub use connection::{PoolConfig, SqlStore};
pub use dialect::Backend;
pub use query::pg_tsvector;
pub use verify::Drift;

#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::panic)]
pub mod testing;
