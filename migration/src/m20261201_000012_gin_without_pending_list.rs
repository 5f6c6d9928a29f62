//! PostgreSQL: both search GIN indexes without the pending list
//! (`fastupdate = off`).
//!
//! With the default `fastupdate = on` a write appends its entries to a
//! pending list, and whichever write finds the list over
//! `gin_pending_list_limit` (4 MB) merges it into the index before it can
//! commit. Every product write is a non-HOT update (`updated_at` is
//! indexed), so each one adds all its words to both indexes; on the write
//! benchmark (1M products, one client) that merge was a 100-170 ms write
//! every few thousand, so the p99 of a PATCH was 100+ ms in most 10 s runs,
//! against 4-6 ms without the list, for about 10 % less single-client write
//! throughput and the same at 64 connections (docs/benchmarks/writes.md,
//! docs/performance.md). Searches also scan the whole pending list on
//! every query until it is merged. A catalog is read far more than it is
//! written, so the indexes are updated in place.
//!
//! The index definitions themselves (migrations 5 and 10, the bulk
//! loader's rebuild) now carry the option; this migration sets it on
//! indexes built before, and merges what their lists already hold.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [&str; 2] = [
    crate::m20261125_000005_full_text_search::PG_SEARCH_INDEX_NAME,
    crate::m20261201_000010_search_name_index::PG_SEARCH_NAME_INDEX_NAME,
];

async fn set_fastupdate(manager: &SchemaManager<'_>, on: bool) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    let value = if on { "on" } else { "off" };
    for name in INDEXES {
        // An interrupted bulk load may have dropped one (`migrate`
        // recreates it from its definition, which has the option).
        db.execute_unprepared(&format!(
            "ALTER INDEX IF EXISTS {name} SET (fastupdate = {value})"
        ))
        .await?;
    }
    if !on {
        db.execute_unprepared(&format!(
            "SELECT gin_clean_pending_list(c.oid::regclass) FROM pg_class c \
             WHERE c.relkind = 'i' AND c.relname IN ('{}')",
            INDEXES.join("', '")
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fastupdate(manager, false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_fastupdate(manager, true).await
    }
}
