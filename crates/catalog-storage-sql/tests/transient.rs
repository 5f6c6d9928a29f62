//! Conditions that pass on their own are `StorageError::Unavailable` (a
//! 503 with `Retry-After` at the HTTP edge), not `Internal` (a 500): here a
//! statement PostgreSQL cancels at the pool's statement timeout while it
//! waits on a table lock.
//!
//! Skipped loudly when PostgreSQL is absent; fails instead under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use catalog_domain::ports::PageSpec;
use catalog_domain::{ProductFilter, ProductReader, SortKey, StorageError};
use catalog_storage_sql::testing::PgScratch;
use catalog_storage_sql::{Backend, PoolConfig, SqlStore};
use sea_orm::{ConnectionTrait, TransactionTrait};

#[tokio::test]
async fn a_statement_timeout_is_unavailable() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let owner = scratch.store().await;
    owner.migrate().await.unwrap();
    let strict = SqlStore::connect_with(
        &scratch.url,
        PoolConfig {
            statement_timeout: Some(Duration::from_millis(200)),
            ..PoolConfig::for_backend(Backend::Postgres)
        },
    )
    .await
    .unwrap();
    let filter = ProductFilter::default();
    let page = PageSpec {
        filter: &filter,
        sort: &[SortKey::ID],
        offset: 0,
        limit: 5,
        after: None,
    };
    strict.list(page).await.unwrap();

    let txn = owner.connection().begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let err = strict.list(page).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Unavailable { .. }),
        "a cancelled statement is transient: {err:?}"
    );
    txn.rollback().await.unwrap();
    strict.list(page).await.unwrap();

    strict.close().await.unwrap();
    owner.close().await.unwrap();
    scratch.drop_db().await;
}
