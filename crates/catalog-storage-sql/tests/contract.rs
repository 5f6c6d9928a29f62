//! The storage contract suite against the SQL adapter: once on SQLite (a
//! scratch file per test) and once on PostgreSQL (a scratch database per
//! test on the local server; skipped loudly when absent, failing under CI).

use catalog_domain::ProductStore;
use catalog_storage_contract::Fixture;
use catalog_storage_sql::SqlStore;
use catalog_storage_sql::testing::{PgScratch, SqliteScratch};

struct SqliteFixture {
    store: SqlStore,
    scratch: SqliteScratch,
}

#[catalog_storage_contract::async_trait]
impl Fixture for SqliteFixture {
    fn store(&self) -> &dyn ProductStore {
        &self.store
    }

    async fn cleanup(self: Box<Self>) {
        let _ = self.store.close().await;
        self.scratch.remove();
    }
}

struct PgFixture {
    store: SqlStore,
    scratch: PgScratch,
}

#[catalog_storage_contract::async_trait]
impl Fixture for PgFixture {
    fn store(&self) -> &dyn ProductStore {
        &self.store
    }

    async fn cleanup(self: Box<Self>) {
        let _ = self.store.close().await;
        self.scratch.drop_db().await;
    }
}

async fn sqlite_fixture() -> Option<Box<dyn Fixture>> {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    Some(Box::new(SqliteFixture { store, scratch }))
}

async fn pg_fixture() -> Option<Box<dyn Fixture>> {
    let scratch = PgScratch::create().await?;
    let store = scratch.store().await;
    Some(Box::new(PgFixture { store, scratch }))
}

mod sqlite {
    use super::*;
    catalog_storage_contract::storage_contract_suite!(sqlite_fixture());
}

mod postgres {
    use super::*;
    catalog_storage_contract::storage_contract_suite!(pg_fixture());
}
