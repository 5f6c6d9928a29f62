//! Catalog's schema migrations: one set, written once with sea-orm-migration
//! and run on PostgreSQL and SQLite alike. Backend-specific details (column
//! collation) are branches inside a migration, never a second migration set.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_products;
mod m20261125_000002_create_idempotency_keys;
mod m20261125_000003_search_trigram_index;
mod m20261125_000004_product_summary;
mod m20261125_000005_full_text_search;
mod m20261125_000006_descending_sort_indexes;
mod m20261125_000007_vocabulary_words_only;
mod m20261125_000008_search_vector_from_tokens;
mod m20261125_000009_covering_facet_indexes;
mod m20261201_000010_search_name_index;
mod m20261201_000011_price_summary;
mod m20261201_000012_gin_without_pending_list;
pub use m20261125_000004_product_summary::{REBUILD_SUMMARY, SUMMARY_SELECT};
pub use m20261125_000005_full_text_search::{
    PG_SEARCH_INDEX, PG_SEARCH_INDEX_NAME, SQLITE_INDEX_PRODUCTS,
};
pub use m20261125_000007_vocabulary_words_only::PG_REBUILD_SEARCH_TERMS;
pub use m20261201_000010_search_name_index::{PG_SEARCH_NAME_INDEX, PG_SEARCH_NAME_INDEX_NAME};
pub use m20261201_000011_price_summary::{
    PRICE_SUMMARY_TABLE, PRICE_SUMMARY_WIDTHS, SQLITE_PRICE_SUMMARY_TRIGGERS,
    price_summary_counters, price_summary_select, rebuild_price_summary,
    sqlite_price_summary_triggers,
};

/// Every secondary btree index of the products table (`CREATE INDEX IF NOT
/// EXISTS`), from all migrations. Bulk loads drop them and recreate them
/// from this list, and startup creates any that is missing; a migration
/// that adds an index to products adds it here too.
pub fn secondary_indexes() -> Vec<IndexCreateStatement> {
    let replaced = m20261125_000009_covering_facet_indexes::REPLACED;
    let mut all: Vec<IndexCreateStatement> = m20261125_000001_create_products::indexes()
        .into_iter()
        .filter(|idx| {
            idx.get_index_spec()
                .get_name()
                .is_none_or(|n| !replaced.contains(&n))
        })
        .collect();
    all.extend(m20261125_000006_descending_sort_indexes::indexes());
    all.extend(m20261125_000009_covering_facet_indexes::indexes());
    all
}

/// Lifts the pool's statement timeout for the rest of a migration's
/// transaction (PostgreSQL runs each migration in one): rewriting or
/// indexing a large products table takes longer than a request may.
pub const PG_NO_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = 0";

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
        ]
    }
}
