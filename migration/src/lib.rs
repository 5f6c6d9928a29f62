//! Catalog's schema migrations: one set, written once with sea-orm-migration
//! and run on PostgreSQL and SQLite alike. Backend-specific details (column
//! collation) are branches inside a migration, never a second migration set.
//!
//! A landed migration is never edited: databases that ran it keep what it
//! did, so an edit would make fresh and upgraded databases differ. The
//! files stay exactly as they ran, including the constants the earlier
//! ones export (from before the storage adapter had a live schema of its
//! own); nothing outside this crate reads those any more: the definitions
//! the running adapter recreates (indexes, triggers, rebuild statements)
//! live in `catalog_storage_sql::schema`. A change to the schema is a new
//! migration plus an edit there. `checksums.txt` holds every landed
//! migration file's SHA-256, and the `checksums` test fails when one
//! changes.

pub use sea_orm_migration::prelude::*;

// The early migrations export constants and helpers that only their
// successors in this crate still read; the rest is history, kept as it ran.
#[allow(dead_code)]
mod m20261125_000001_create_products;
mod m20261125_000002_create_idempotency_keys;
mod m20261125_000003_search_trigram_index;
#[allow(dead_code)]
mod m20261125_000004_product_summary;
#[allow(dead_code)]
mod m20261125_000005_full_text_search;
#[allow(dead_code)]
mod m20261125_000006_descending_sort_indexes;
#[allow(dead_code)]
mod m20261125_000007_vocabulary_words_only;
mod m20261125_000008_search_vector_from_tokens;
#[allow(dead_code)]
mod m20261125_000009_covering_facet_indexes;
#[allow(dead_code)]
mod m20261201_000010_search_name_index;
#[allow(dead_code)]
mod m20261201_000011_price_summary;
mod m20261201_000012_gin_without_pending_list;
mod m20261203_000013_product_changes;
mod m20261203_000014_change_log_pruned;
mod m20261204_000015_statement_triggers;

// What landed migrations read from the crate root, as they ran.
use m20261125_000007_vocabulary_words_only::PG_REBUILD_SEARCH_TERMS;

/// Lifts the pool's statement timeout for the rest of a migration's
/// transaction (PostgreSQL runs each migration in one): rewriting or
/// indexing a large products table takes longer than a request may.
const PG_NO_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = 0";

#[cfg(test)]
mod checksums;
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_products::Migration),
            Box::new(m20261125_000002_create_idempotency_keys::Migration),
            Box::new(m20261125_000003_search_trigram_index::Migration),
            Box::new(m20261125_000004_product_summary::Migration),
            Box::new(m20261125_000005_full_text_search::Migration),
            Box::new(m20261125_000006_descending_sort_indexes::Migration),
            Box::new(m20261125_000007_vocabulary_words_only::Migration),
            Box::new(m20261125_000008_search_vector_from_tokens::Migration),
            Box::new(m20261125_000009_covering_facet_indexes::Migration),
            Box::new(m20261201_000010_search_name_index::Migration),
            Box::new(m20261201_000011_price_summary::Migration),
            Box::new(m20261201_000012_gin_without_pending_list::Migration),
            Box::new(m20261203_000013_product_changes::Migration),
            Box::new(m20261203_000014_change_log_pruned::Migration),
            Box::new(m20261204_000015_statement_triggers::Migration),
        ]
    }
}
