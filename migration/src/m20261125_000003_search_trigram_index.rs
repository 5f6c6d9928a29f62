//! PostgreSQL: a trigram GIN index on the folded search text, so
//! `search` (substring words, `LIKE '%word%'`) is an index scan instead of
//! a sequential scan for words of three characters or more. SQLite keeps
//! scanning. Superseded by full-text search (migration 5 drops the index).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `pg_trgm` is a trusted extension (PostgreSQL 13+): the database owner
/// may create it without superuser rights.
pub const PG_TRGM_EXTENSION: &str = "CREATE EXTENSION IF NOT EXISTS pg_trgm";

/// The index, also rebuilt by bulk loads.
const PG_SEARCH_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_products_search_trgm \
     ON products USING gin (search_folded gin_trgm_ops)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(PG_TRGM_EXTENSION).await?;
        db.execute_unprepared(PG_SEARCH_INDEX).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS idx_products_search_trgm")
            .await?;
        Ok(())
    }
}
