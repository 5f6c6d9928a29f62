//! Checking and repairing the tables derived from `products`: the
//! summary, the price histogram, the search vectors or FTS5 rows and the
//! PostgreSQL search vocabulary. Triggers keep them in the writing
//! transaction; this is how an operator (`catalog verify`) or a benchmark
//! proves they did, and rebuilds them if something (a restore of one
//! table, a hand-made UPDATE with triggers disabled) broke them.

use catalog_domain::StorageError;
use sea_orm::{ConnectionTrait, Statement};

use crate::connection::SqlStore;
use crate::dialect::Dialect;
use crate::error::Context;

/// A derived table that disagrees with the products table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The derived table (or `products.search_vector`).
    pub table: &'static str,
    /// Rows it holds that the products table does not imply (or holds with
    /// other values).
    pub extra: u64,
    /// Rows the products table implies that it lacks (or holds with other
    /// values).
    pub missing: u64,
}

/// `SELECT` of the rows of `table` that are not all zero: the triggers
/// leave a row at zero when its last product leaves, and readers skip it.
fn nonzero_rows(table: &str, counters: &[String]) -> String {
    let zero: Vec<String> = counters.iter().map(|c| format!("{c} = 0")).collect();
    format!("SELECT * FROM {table} WHERE NOT ({})", zero.join(" AND "))
}

/// One statement (one snapshot, also beside concurrent writes): the rows
/// of `held` not in `implied`, and the rows of `implied` not in `held`.
pub(crate) fn both_ways(held: &str, implied: &str) -> String {
    format!(
        "SELECT (SELECT count(*) FROM (SELECT * FROM ({held}) a EXCEPT \
         SELECT * FROM ({implied}) b) x), \
         (SELECT count(*) FROM (SELECT * FROM ({implied}) a EXCEPT \
         SELECT * FROM ({held}) b) y)"
    )
}

/// The checks of a database: table, statement giving (extra, missing).
fn checks(dialect: &dyn Dialect) -> Vec<(&'static str, String)> {
    let summary_counters: Vec<String> = [
        "product_count",
        "active_count",
        "in_stock_count",
        "stock_sum",
        "price_sum",
        "rating_sum",
    ]
    .map(String::from)
    .to_vec();
    let price_counters: Vec<String> = crate::schema::price_summary_counters()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let mut v = vec![
        (
            "product_summary",
            both_ways(
                &nonzero_rows("product_summary", &summary_counters),
                crate::schema::SUMMARY_SELECT,
            ),
        ),
        (
            crate::schema::PRICE_SUMMARY_TABLE,
            both_ways(
                &nonzero_rows(crate::schema::PRICE_SUMMARY_TABLE, &price_counters),
                &crate::schema::price_summary_select(),
            ),
        ),
    ];
    v.extend(dialect.search_checks());
    v
}

impl SqlStore {
    /// Every derived table that disagrees with the products table; empty
    /// when all agree. Each check is one statement, so it is exact beside
    /// concurrent writes. It reads the whole table (seconds at a million
    /// rows) without the pool's statement timeout: an operator's command,
    /// not a request.
    pub async fn derived_drift(&self) -> Result<Vec<Drift>, StorageError> {
        let txn = self.begin_maintenance().await?;
        let mut drift = Vec::new();
        for (table, sql) in checks(self.dialect) {
            let row = txn
                .query_one_raw(Statement::from_string(txn.get_database_backend(), sql))
                .await
                .context("checking a derived table")?
                .ok_or_else(|| StorageError::internal("checking a derived table", "no row"))?;
            let extra = row
                .try_get_by_index::<i64>(0)
                .context("checking a derived table")?;
            let missing = row
                .try_get_by_index::<i64>(1)
                .context("checking a derived table")?;
            if extra != 0 || missing != 0 {
                drift.push(Drift {
                    table,
                    extra: extra.unsigned_abs(),
                    missing: missing.unsigned_abs(),
                });
            }
        }
        txn.commit().await.context("checking the derived tables")?;
        Ok(drift)
    }

    /// Rebuilds every derived table from the products table in one
    /// transaction that blocks writes meanwhile (PostgreSQL: a SHARE lock
    /// on products, reads go on; SQLite: the write lock), so no write can
    /// slip between the rebuild's read and its commit.
    pub async fn repair_derived(&self) -> Result<(), StorageError> {
        let txn = self.begin_maintenance().await?;
        let mut sql = self.dialect.repair_first();
        sql.extend(crate::schema::REBUILD_SUMMARY.map(String::from));
        sql.extend(crate::schema::rebuild_price_summary());
        sql.extend(self.dialect.repair_search());
        for s in &sql {
            txn.execute_unprepared(s)
                .await
                .context("repairing the derived tables")?;
        }
        txn.commit().await.context("repairing the derived tables")
    }
}
