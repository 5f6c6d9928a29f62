//! Migration 12: both search GIN indexes run without a pending list, on a
//! fresh database and after an upgrade from migration 11 (whose indexes
//! had the default `fastupdate = on`), and `down` restores the default.
//!
//! Skipped loudly when PostgreSQL is absent; fails instead under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use catalog_storage_sql::testing::PgScratch;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn without_pending_list(db: &sea_orm::DatabaseConnection) -> i64 {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_class WHERE relname IN \
         ('idx_products_search_vector', 'idx_products_search_name') \
         AND reloptions @> ARRAY['fastupdate=off']",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

#[tokio::test]
async fn search_indexes_have_no_pending_list_fresh_and_upgraded() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = scratch.store().await;
    store.migrate().await.unwrap();
    let db = store.connection().clone();
    assert_eq!(without_pending_list(&db).await, 2, "fresh database");

    // Back to migration 11 (undoing 12 and any migration after it).
    let after_11 = (Migrator::migrations().len() - 11) as u32;
    Migrator::down(&db, Some(after_11)).await.unwrap();
    assert_eq!(
        without_pending_list(&db).await,
        0,
        "down restores the default"
    );
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        without_pending_list(&db).await,
        2,
        "upgraded from migration 11"
    );

    store.close().await.unwrap();
    scratch.drop_db().await;
}
