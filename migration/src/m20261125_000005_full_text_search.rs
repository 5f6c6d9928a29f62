//! Full-text search. The folded-text columns become token columns, filled
//! by the application with the domain's tokenizer (`SearchDocument`):
//! `search_name` (name and sku) and `search_body` (description). From them:
//!
//! - PostgreSQL: a weighted `tsvector` generated column (name and sku `A`,
//!   description `D`) with a GIN index, replacing the trigram index on the
//!   folded text; and `search_terms`, the vocabulary typo-tolerant search
//!   expands words from, kept by a trigger.
//! - SQLite: an FTS5 table, written by the storage adapter in the same
//!   transaction as each product write (see [`SQLITE`] for why not
//!   triggers), whose `ascii` tokenizer splits only on the spaces between
//!   the domain's tokens, and an `fts5vocab` view of its terms.
//!
//! Existing rows are re-tokenized here, in batches.

use catalog_domain::search::SearchDocument;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The GIN index on the search vector, also rebuilt by bulk loads.
/// Without the pending list since migration 12 (whose docs say why).
pub const PG_SEARCH_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_products_search_vector \
     ON products USING gin (search_vector) WITH (fastupdate = off)";

pub const PG_SEARCH_INDEX_NAME: &str = "idx_products_search_vector";

const PG_VECTOR: &str = "ALTER TABLE products ADD COLUMN IF NOT EXISTS search_vector tsvector \
     GENERATED ALWAYS AS (setweight(to_tsvector('simple'::regconfig, search_name), 'A') || \
     setweight(to_tsvector('simple'::regconfig, search_body), 'D')) STORED";

const PG_TERMS: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS search_terms (term text COLLATE "C" PRIMARY KEY)"#,
    // Lexemes come out of a tsvector sorted, so concurrent writers insert
    // shared new terms in the same order and cannot deadlock.
    r#"CREATE OR REPLACE FUNCTION search_terms_trigger() RETURNS trigger AS $$
        BEGIN
            INSERT INTO search_terms (term)
                SELECT unnest(tsvector_to_array(NEW.search_vector))
                ON CONFLICT DO NOTHING;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql"#,
    "DROP TRIGGER IF EXISTS products_search_terms ON products",
    "CREATE TRIGGER products_search_terms AFTER INSERT OR UPDATE OF search_name, search_body \
     ON products FOR EACH ROW EXECUTE FUNCTION search_terms_trigger()",
];

/// Fills the vocabulary from the products table (migration 7 narrows it to
/// words: `crate::PG_REBUILD_SEARCH_TERMS`).
const PG_REBUILD_SEARCH_TERMS: &str = "INSERT INTO search_terms (term) \
     SELECT DISTINCT unnest(tsvector_to_array(search_vector)) FROM products \
     ON CONFLICT DO NOTHING";

/// No triggers keep the FTS5 table in sync: the storage adapter writes its
/// rows in the same transaction as each product write. FTS5-writing
/// triggers beside the summary triggers make the bundled SQLite fail the
/// first write of every pooled connection after any schema change with
/// "no such table: products" (reproduced; system SQLite 3.40 does not).
const SQLITE: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS products_fts USING fts5(doc, tokenize = 'ascii')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS products_fts_terms USING fts5vocab(products_fts, 'row')",
];

/// Refills the FTS5 table from the products table.
const SQLITE_REBUILD_FTS: [&str; 2] = ["DELETE FROM products_fts", SQLITE_INDEX_PRODUCTS];

/// Indexes products in FTS5: the document is the name tokens followed by
/// the description tokens. Append a `WHERE` to index some of them.
pub const SQLITE_INDEX_PRODUCTS: &str = "INSERT INTO products_fts (rowid, doc) \
     SELECT id, search_name || ' ' || search_body FROM products";

/// Re-tokenizes every existing row with the domain's tokenizer.
async fn retokenize(db: &SchemaManagerConnection<'_>, backend: DbBackend) -> Result<(), DbErr> {
    let mut after = 0i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    DbBackend::Postgres => {
                        "SELECT id, name, description, sku FROM products WHERE id > $1 \
                         ORDER BY id LIMIT 1000"
                    }
                    _ => {
                        "SELECT id, name, description, sku FROM products WHERE id > ? \
                         ORDER BY id LIMIT 1000"
                    }
                },
                [after.into()],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("", "id")?;
        for row in &rows {
            let id: i64 = row.try_get("", "id")?;
            let name: String = row.try_get("", "name")?;
            let description: String = row.try_get("", "description")?;
            let sku: String = row.try_get("", "sku")?;
            let doc = SearchDocument::new(&name, &description, &sku);
            let sql = match backend {
                DbBackend::Postgres => {
                    "UPDATE products SET search_name = $1, search_body = $2 WHERE id = $3"
                }
                _ => "UPDATE products SET search_name = ?, search_body = ? WHERE id = ?",
            };
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [doc.name.into(), doc.body.into(), id.into()],
            ))
            .await?;
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        if backend == DbBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS idx_products_search_trgm")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE products RENAME COLUMN name_folded TO search_name")
            .await?;
        db.execute_unprepared("ALTER TABLE products RENAME COLUMN search_folded TO search_body")
            .await?;
        retokenize(db, backend).await?;
        if backend == DbBackend::Postgres {
            db.execute_unprepared(PG_VECTOR).await?;
            db.execute_unprepared(PG_SEARCH_INDEX).await?;
            for sql in PG_TERMS {
                db.execute_unprepared(sql).await?;
            }
            db.execute_unprepared(PG_REBUILD_SEARCH_TERMS).await?;
        } else {
            for sql in SQLITE {
                db.execute_unprepared(sql).await?;
            }
            for sql in SQLITE_REBUILD_FTS {
                db.execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in [
                "DROP TRIGGER IF EXISTS products_search_terms ON products",
                "DROP FUNCTION IF EXISTS search_terms_trigger()",
                "DROP TABLE IF EXISTS search_terms",
                "ALTER TABLE products DROP COLUMN IF EXISTS search_vector",
            ] {
                db.execute_unprepared(sql).await?;
            }
        } else {
            for sql in [
                "DROP TABLE IF EXISTS products_fts_terms",
                "DROP TABLE IF EXISTS products_fts",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        // The token columns keep their new content; the old migrations'
        // substring search would still find words in them.
        db.execute_unprepared("ALTER TABLE products RENAME COLUMN search_name TO name_folded")
            .await?;
        db.execute_unprepared("ALTER TABLE products RENAME COLUMN search_body TO search_folded")
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "CREATE INDEX IF NOT EXISTS idx_products_search_trgm \
                 ON products USING gin (search_folded gin_trgm_ops)",
            )
            .await?;
        }
        Ok(())
    }
}
