//! PostgreSQL: a GIN index over the name part of the search vector,
//! `ts_filter(search_vector, '{a}')` (the weight-A lexemes: name and sku).
//!
//! A relevance-ordered search page reads its matches tier by tier, most
//! clauses found in the name first, each tier in id order
//! (`crate` docs of the storage adapter, docs/search.md). The top tier is
//! "every clause in the name"; this index answers it, and its statistics
//! (ANALYZE samples index expressions) tell the planner how many products
//! have a word in their name, so that a word found only in descriptions
//! is a bitmap probe instead of a walk of the primary key. SQLite's FTS5
//! ranks differently and needs nothing here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

pub const PG_SEARCH_NAME_INDEX_NAME: &str = "idx_products_search_name";

/// Without the pending list since migration 12 (whose docs say why).
pub const PG_SEARCH_NAME_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_products_search_name \
     ON products USING gin (ts_filter(search_vector, '{a}')) WITH (fastupdate = off)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(crate::PG_NO_STATEMENT_TIMEOUT)
            .await?;
        db.execute_unprepared(PG_SEARCH_NAME_INDEX).await?;
        // The planner's estimates for the new expression come from its
        // statistics, which only ANALYZE gathers.
        db.execute_unprepared("ANALYZE products").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {PG_SEARCH_NAME_INDEX_NAME}"))
            .await?;
        Ok(())
    }
}
