//! The change log's pruning watermark: the highest sequence number that
//! retention has deleted. The public change feed compares a consumer's
//! position with it: a consumer behind it may have missed changes, and is
//! told so (410) instead of silently skipping them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS product_changes_pruned (
                id smallint PRIMARY KEY CHECK (id = 1),
                max_seq bigint NOT NULL)",
        )
        .await?;
        // Whatever was pruned before this migration: everything below the
        // oldest entry kept (a fresh log has none pruned).
        let seed = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "INSERT INTO product_changes_pruned (id, max_seq) \
                 SELECT 1, COALESCE((SELECT MIN(seq) - 1 FROM product_changes), 0) \
                 ON CONFLICT (id) DO NOTHING"
            }
            _ => {
                "INSERT OR IGNORE INTO product_changes_pruned (id, max_seq) \
                 SELECT 1, COALESCE((SELECT MIN(seq) - 1 FROM product_changes), 0)"
            }
        };
        db.execute_unprepared(seed).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS product_changes_pruned")
            .await?;
        Ok(())
    }
}
