//! A bulk load's maintenance (index builds, summary and vocabulary rebuild,
//! VACUUM) runs without the pool's statement timeout, which is meant for
//! requests: at a million rows the GIN build alone takes about 30 s, and a
//! timeout once cancelled it halfway through `catalog seed`. Here the pool
//! allows 30 ms per statement, far less than those builds take at 20,000
//! rows, and enough for a `BEGIN` on a loaded machine (5 ms once cancelled
//! the `BEGIN` itself under CI).
//!
//! Skipped loudly when PostgreSQL is absent; fails instead under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use catalog_domain::ProductWriter;
use catalog_domain::{Label, NewProduct, Price, Rating, Sku};
use catalog_storage_sql::testing::{PgScratch, SqliteScratch};
use catalog_storage_sql::{Backend, CopyRows, PoolConfig, SqlStore};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

const ROWS: usize = 20_000;

fn product(i: usize) -> NewProduct {
    NewProduct {
        sku: Sku::parse(&format!("BULK-{i:06}")).unwrap(),
        name: format!("Bulk item {i} lantern"),
        description: format!("A lantern numbered {i}, with words to index: alpha beta gamma"),
        category: Label::parse(&format!("Category {}", i % 7)).unwrap(),
        brand: Label::parse(&format!("Brand {}", i % 5)).unwrap(),
        price: Price::from_cents(100 + (i as i64 % 5000)).unwrap(),
        stock_quantity: (i % 3) as i64,
        rating: Rating::from_tenths((i % 51) as i64).unwrap(),
        is_active: !i.is_multiple_of(10),
    }
}

#[tokio::test]
async fn maintenance_ignores_the_request_statement_timeout() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let loader = scratch.store().await;
    loader.begin_bulk_load().await.unwrap();
    let rows: Vec<NewProduct> = (0..ROWS).map(product).collect();
    for chunk in rows.chunks(5_000) {
        loader.copy_batch(chunk).await.unwrap();
    }
    loader.close().await.unwrap();

    let strict = SqlStore::connect_with(
        &scratch.url,
        PoolConfig {
            statement_timeout: Some(Duration::from_millis(30)),
            ..PoolConfig::for_backend(Backend::Postgres)
        },
    )
    .await
    .unwrap();
    strict.finish_bulk_load().await.unwrap();

    // The checks read through a connection without the 30 ms limit: on a
    // busy machine a count can take longer, and that is not under test.
    let checker = SqlStore::connect_with(&scratch.url, PoolConfig::for_backend(Backend::Postgres))
        .await
        .unwrap();
    let db = checker.connection().clone();
    let scalar = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    assert_eq!(
        scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'products'").await,
        // The primary key, the sku, and the two search indexes.
        4 + catalog_storage_sql::schema::secondary_indexes().len() as i64,
        "every index was built"
    );
    // Rebuilt with their definitions' options: no GIN pending list
    // (migration 12).
    assert_eq!(
        scalar(
            "SELECT count(*) FROM pg_class WHERE relname IN \
             ('idx_products_search_vector', 'idx_products_search_name') \
             AND reloptions @> ARRAY['fastupdate=off']"
        )
        .await,
        2
    );
    assert_eq!(
        scalar("SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_summary").await,
        ROWS as i64
    );
    // The price histogram too: every row once per dimension and width.
    assert_eq!(
        scalar(
            "SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_price_summary \
             WHERE dim = 0 AND width = 100"
        )
        .await,
        ROWS as i64
    );
    assert_eq!(
        scalar("SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_price_summary").await,
        6 * ROWS as i64
    );
    assert_eq!(
        scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'products'::regclass AND tgenabled = 'D'")
            .await,
        0,
        "the triggers resumed"
    );
    // Pooled sessions never JIT-compile (short queries never repay it).
    assert_eq!(
        scalar("SELECT (current_setting('jit') = 'off')::int::bigint").await,
        1,
        "jit is off on the pool's sessions"
    );
    // The pool's connections still carry the request timeout.
    let err = strict
        .connection()
        .execute_unprepared("SELECT pg_sleep(0.05)")
        .await
        .expect_err("a slow statement still times out on the pool");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    strict.close().await.unwrap();
    checker.close().await.unwrap();
    scratch.drop_db().await;
}

/// A write that lands while a bulk load has the summary triggers paused
/// is not in the loader's own counts: the load notices (the table holds a
/// row it did not load) and rebuilds the summaries from the table.
#[tokio::test]
async fn a_write_during_a_bulk_load_reaches_the_summaries() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = scratch.store().await;
    store.begin_bulk_load().await.unwrap();
    const LOADED: usize = 1_000;
    let first = store.reserve_ids(LOADED as u64).await.unwrap();
    let mut rows = CopyRows::from_products((0..LOADED).map(product).collect(), first);
    let summary = rows.take_summary();
    assert_eq!(summary.rows(), LOADED as u64);
    let vocabulary = rows.vocabulary().clone();
    store.copy_encoded(rows).await.unwrap();
    store.create(&product(LOADED + 7), None).await.unwrap();
    store
        .finish_bulk_load_with(Some(vocabulary), Some(summary))
        .await
        .unwrap();
    let db = store.connection().clone();
    for sql in [
        "SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_summary",
        "SELECT COALESCE(SUM(product_count), 0)::bigint FROM product_price_summary \
         WHERE dim = 0 AND width = 100",
    ] {
        let n = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(n, LOADED as i64 + 1, "{sql}");
    }
    store.close().await.unwrap();
    scratch.drop_db().await;
}

/// SQLite cannot pause triggers, so a bulk load drops the price summary's
/// and recreates them after, rebuilding the summary from the table; a
/// load interrupted in between is healed by the next `migrate`.
#[tokio::test]
async fn sqlite_bulk_loads_rebuild_the_price_summary() {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    let db = store.connection().clone();
    let scalar = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index::<i64>(0)
                .unwrap()
        }
    };
    let triggers = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'products_price_summary_%'";
    let histogram = "SELECT COALESCE(SUM(product_count), 0) FROM product_price_summary \
         WHERE dim = 0 AND width = 100";
    let rows: Vec<NewProduct> = (0..2_000).map(product).collect();

    store.begin_bulk_load().await.unwrap();
    assert_eq!(scalar(triggers).await, 0, "paused for the load");
    store.insert_batch(&rows[..1_000]).await.unwrap();
    store.finish_bulk_load().await.unwrap();
    assert_eq!(scalar(triggers).await, 3, "resumed after the load");
    assert_eq!(scalar(histogram).await, 1_000);

    // Interrupted: the triggers stay dropped until the next migrate.
    store.begin_bulk_load().await.unwrap();
    store.insert_batch(&rows[1_000..]).await.unwrap();
    assert_eq!(
        scalar(histogram).await,
        1_000,
        "not maintained while paused"
    );
    store.migrate().await.unwrap();
    assert_eq!(scalar(triggers).await, 3, "migrate recreates them");
    assert_eq!(scalar(histogram).await, 2_000, "and rebuilds the summary");
    store.close().await.unwrap();
    scratch.remove();
}
