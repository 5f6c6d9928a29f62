//! SeaORM storage adapter: one implementation of the storage ports for
//! PostgreSQL and SQLite, the backend chosen by the URL scheme.
//!
//! Both backends store the same schema (one migration set), money as integer
//! cents, ratings as tenths and text compared by code point, so the two
//! answer every query identically; the contract suite checks that they do.
//!
//! Modules by job: `connection` (pools, migrate, transactions), `reads`
//! and `tiers` (the reader port), `writes` (the writer port), `bulk_load`,
//! `verify`, `changes` (the change log port); `dialect` holds what differs between the two databases,
//! [`schema`] the live definitions the adapter recreates, `helpers` the
//! leaf helpers the others share.

mod bulk_load;
mod bulk_summary;
mod changes;
mod connection;
mod dialect;
mod entity;
mod error;
mod helpers;
mod histogram;
mod plans;
mod query;
mod reads;
pub mod schema;
mod summary;
mod tiers;
mod upsert;
mod verify;
mod writes;

pub use bulk_load::{BulkLoadProgress, BulkLoadReport, CopyRows};
pub use bulk_summary::BulkSummary;
pub use connection::{PoolConfig, PoolStats, SqlStore};
pub use dialect::Backend;
pub use query::pg_tsvector;
pub use verify::Drift;

#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::panic)]
pub mod testing;
