//! The typo-tolerance vocabulary keeps words only (`search::in_vocabulary`:
//! tokens without an ASCII digit). Every sku contributes a unique number
//! token, so at a million products the vocabulary held a million numbers
//! that no fuzzy search may expand to, and each fuzzy search read them.
//! PostgreSQL only: SQLite's vocabulary is an `fts5vocab` view, filtered
//! when read.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The trigger function of migration 5, keeping words only. Lexemes come
/// out of a tsvector sorted, so concurrent writers insert shared new terms
/// in the same order and cannot deadlock.
const PG_TRIGGER: &str = r#"CREATE OR REPLACE FUNCTION search_terms_trigger() RETURNS trigger AS $$
    BEGIN
        INSERT INTO search_terms (term)
            SELECT t FROM unnest(tsvector_to_array(NEW.search_vector)) t
            WHERE t !~ '[0-9]'
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql"#;

const PG_TRIGGER_DOWN: &str = r#"CREATE OR REPLACE FUNCTION search_terms_trigger() RETURNS trigger AS $$
    BEGIN
        INSERT INTO search_terms (term)
            SELECT unnest(tsvector_to_array(NEW.search_vector))
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql"#;

/// Refills the vocabulary from the products table (after a bulk load that
/// did not supply it, with the trigger paused).
pub const PG_REBUILD_SEARCH_TERMS: &str = "INSERT INTO search_terms (term) \
     SELECT DISTINCT t FROM products, unnest(tsvector_to_array(search_vector)) t \
     WHERE t !~ '[0-9]' ON CONFLICT DO NOTHING";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(PG_TRIGGER).await?;
            db.execute_unprepared("DELETE FROM search_terms WHERE term ~ '[0-9]'")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            db.execute_unprepared(PG_TRIGGER_DOWN).await?;
            db.execute_unprepared(
                "INSERT INTO search_terms (term) \
                 SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM products \
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        }
        Ok(())
    }
}
