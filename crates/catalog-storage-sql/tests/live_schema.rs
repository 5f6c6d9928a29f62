//! The live schema (`catalog_storage_sql::schema`) agrees with what the
//! migrations make: on a database the migrations alone created, a bulk
//! load's drop and rebuild (indexes, and on SQLite the price histogram's
//! triggers, all recreated from the live schema) leaves every index and
//! trigger definition of `products` exactly as the migrations made it.
//!
//! Skipped loudly when PostgreSQL is absent; fails instead under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use catalog_storage_sql::SqlStore;
use catalog_storage_sql::testing::{PgScratch, SqliteScratch};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

/// name -> definition, of every row `sql` returns.
async fn definitions(store: &SqlStore, sql: &str) -> BTreeMap<String, String> {
    let db = store.connection();
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                r.try_get_by_index::<Option<String>>(1)
                    .unwrap()
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Migrates with the migrations alone (not `SqlStore::migrate`, which
/// would also create what the live schema has and they lack), then checks
/// that a bulk load's rebuild from the live schema changes no definition.
async fn live_schema_rebuilds_what_migrations_made(store: &SqlStore, sql: &str) {
    Migrator::up(store.connection(), None).await.unwrap();
    let migrated = definitions(store, sql).await;
    assert!(
        migrated.len() > 2,
        "the migrations made the products indexes: {migrated:?}"
    );
    for idx in catalog_storage_sql::schema::secondary_indexes() {
        let name = idx.get_index_spec().get_name().unwrap();
        assert!(
            migrated.contains_key(name),
            "live index {name} is made by no migration"
        );
    }
    store.begin_bulk_load().await.unwrap();
    store.finish_bulk_load().await.unwrap();
    let rebuilt = definitions(store, sql).await;
    assert_eq!(
        rebuilt, migrated,
        "definitions rebuilt from the live schema differ from the migrations'"
    );
}

#[tokio::test]
async fn sqlite_live_schema_matches_migrations() {
    let scratch = SqliteScratch::create();
    let store = SqlStore::connect(&scratch.url).await.unwrap();
    live_schema_rebuilds_what_migrations_made(
        &store,
        "SELECT name, sql FROM sqlite_master \
         WHERE type IN ('index', 'trigger') AND tbl_name = 'products'",
    )
    .await;
    store.close().await.unwrap();
    scratch.remove();
}

#[tokio::test]
async fn postgres_live_schema_matches_migrations() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = SqlStore::connect(&scratch.url).await.unwrap();
    live_schema_rebuilds_what_migrations_made(
        &store,
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'products' \
         UNION ALL \
         SELECT tgname::text, pg_get_triggerdef(oid) || ' ' || tgenabled::text FROM pg_trigger \
         WHERE tgrelid = 'products'::regclass AND NOT tgisinternal",
    )
    .await;
    for name in [
        catalog_storage_sql::schema::PG_SEARCH_INDEX_NAME,
        catalog_storage_sql::schema::PG_SEARCH_NAME_INDEX_NAME,
    ] {
        let defs = definitions(
            &store,
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'products'",
        )
        .await;
        assert!(defs.contains_key(name), "live search index {name} exists");
    }
    store.close().await.unwrap();
    scratch.drop_db().await;
}
