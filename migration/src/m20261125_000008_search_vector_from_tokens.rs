//! PostgreSQL's search vector is built from the domain's tokens, not by
//! PostgreSQL's text parser. Migration 5 generated it with
//! `to_tsvector('simple', …)` over the token columns, which re-parses
//! them: the parser splits some tokens the domain keeps whole (`12e3x`
//! became `12e3` and `x`, so a search for `12e3x` found nothing), and it
//! costs about 20 µs per row, most of a bulk load.
//!
//! Now `catalog_search_vector(search_name, search_body)` writes each
//! token as a lexeme at its position (name tokens 1..n weight A,
//! description tokens n+1.. weight D: the positions and weights the
//! generated column had), a trigger keeps the column on every insert and
//! on updates of the token columns, and a bulk load pauses the trigger and
//! sends the same literal the storage adapter computes
//! (`catalog_storage_sql::query::pg_tsvector`; a test compares the two).
//! Tokens longer than 2047 bytes (PostgreSQL's lexeme limit) are left out
//! of the vector; positions above 16383 are clamped, as tsvector does.
//! SQLite is unchanged (FTS5 indexes the token columns as they are).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE OR REPLACE FUNCTION catalog_search_vector(name text, body text)
        RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT COALESCE(string_agg(
                   '''' || replace(replace(t, '\', '\\'), '''', '''''') || ''':'
                       || least(p, 16383) || w,
                   ' ' ORDER BY p), '')::tsvector
        FROM (
            SELECT t, n AS p, 'A' AS w
                FROM unnest(string_to_array(name, ' ')) WITH ORDINALITY AS a(t, n)
            UNION ALL
            SELECT t, n + coalesce(cardinality(string_to_array(name, ' ')), 0), 'D'
                FROM unnest(string_to_array(body, ' ')) WITH ORDINALITY AS b(t, n)
        ) tokens
        WHERE t <> '' AND octet_length(t) <= 2047
        $$"#,
    "DROP INDEX IF EXISTS idx_products_search_vector",
    "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE products ADD COLUMN search_vector tsvector",
    r#"CREATE OR REPLACE FUNCTION products_search_vector_trigger() RETURNS trigger AS $$
        BEGIN
            NEW.search_vector := catalog_search_vector(NEW.search_name, NEW.search_body);
            RETURN NEW;
        END
        $$ LANGUAGE plpgsql"#,
    "DROP TRIGGER IF EXISTS products_search_vector ON products",
    "CREATE TRIGGER products_search_vector BEFORE INSERT OR UPDATE OF search_name, search_body \
     ON products FOR EACH ROW EXECUTE FUNCTION products_search_vector_trigger()",
    "UPDATE products SET search_vector = catalog_search_vector(search_name, search_body)",
    "CREATE INDEX IF NOT EXISTS idx_products_search_vector ON products USING gin (search_vector)",
    // The vocabulary now holds the domain's tokens, not the parser's.
    "TRUNCATE search_terms",
    crate::PG_REBUILD_SEARCH_TERMS,
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS products_search_vector ON products",
    "DROP FUNCTION IF EXISTS products_search_vector_trigger()",
    "DROP INDEX IF EXISTS idx_products_search_vector",
    "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE products ADD COLUMN search_vector tsvector \
     GENERATED ALWAYS AS (setweight(to_tsvector('simple'::regconfig, search_name), 'A') || \
     setweight(to_tsvector('simple'::regconfig, search_body), 'D')) STORED",
    "CREATE INDEX IF NOT EXISTS idx_products_search_vector ON products USING gin (search_vector)",
    "DROP FUNCTION IF EXISTS catalog_search_vector(text, text)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(crate::PG_NO_STATEMENT_TIMEOUT)
                .await?;
            for sql in UP {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in DOWN {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }
}
