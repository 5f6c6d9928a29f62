//! What differs between PostgreSQL and SQLite, in one place: the
//! [`Dialect`] trait and its two implementations side by side.
//!
//! Everything else in the adapter is written once for both databases and
//! asks its dialect for the parts that differ: pool defaults and session
//! settings, the search condition (a `tsvector` match or an FTS5 lookup),
//! the full-text sync after a write (SQLite's FTS5 rows), the count
//! estimate (PostgreSQL's planner), how a bulk load copies rows and pauses
//! and resumes the triggers that keep derived tables, which indexes it
//! drops and rebuilds, and the derived-table checks of `verify`.
//!
//! A trait object rather than an enum of match arms: each backend's answers
//! read together (the SQLite column is never interleaved with the
//! PostgreSQL one), and a third database would be one more `impl`, not a
//! hunt for matches. The store holds a `&'static dyn Dialect` (both are
//! unit structs): `SqlStore` stays one concrete, `Clone` type for the
//! binary and the tests, with no type parameter spreading into them, and a
//! virtual call beside a database round trip costs nothing measurable.
//!
//! Methods return SQL text, expressions and flags, never run anything
//! themselves; the modules that run statements (reads, writes, bulk load,
//! verify) keep their transactions and pools in one place.
//!
//! `Backend` matches remain in four places, on purpose (the change log's
//! reader in `changes.rs` is the fourth: its cursor means a transaction
//! horizon on one database and a sequence number on the other, a different
//! algorithm rather than different SQL):
//! [`Backend::dialect`] (choosing the implementation),
//! `SqlStore::finish_bulk_load_with` and
//! `SqlStore::heal_interrupted_bulk_load` (`bulk_load.rs`). The last two
//! are different procedures, not different SQL: PostgreSQL's finish builds
//! indexes on two connections, copies the loader's summaries and
//! vocabulary, resumes triggers and runs `VACUUM` outside a transaction,
//! while SQLite's rebuilds one histogram; a trait method for each would
//! move the bulk load's algorithm into this module and split it from its
//! other half.

use std::time::Duration;

use catalog_domain::SearchQuery;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectOptions, SqliteTransactionMode, Statement, TransactionOptions};

use crate::connection::PoolConfig;

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres://`/`postgresql://` or `sqlite:`; anything else is refused.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    /// The backend's [`Dialect`].
    pub(crate) fn dialect(self) -> &'static dyn Dialect {
        match self {
            Backend::Postgres => &Postgres,
            Backend::Sqlite => &Sqlite,
        }
    }
}

/// The parts of the adapter that differ between the two databases.
pub(crate) trait Dialect: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;

    // Connections.

    /// The default pool for this database.
    fn pool_defaults(&self) -> PoolConfig;

    /// Whether the store keeps a second pool whose sessions use generic
    /// plans (`crate::plans`); only PostgreSQL has a plan cache to tune.
    fn has_generic_plan_pool(&self) -> bool;

    /// Session settings of each pooled connection.
    fn configure(&self, opts: &mut ConnectOptions, url: &str, generic_plans: bool);

    /// Options of a write transaction.
    fn write_transaction(&self) -> TransactionOptions;

    /// The statement lifting the pool's statement timeout for the rest of a
    /// maintenance transaction, where there is one.
    fn lift_statement_timeout(&self) -> Option<&'static str>;

    // Reads.

    /// The search words' condition (the exact-sku alternative is added by
    /// `query::filter_condition` for both).
    fn search_words(&self, s: &SearchQuery) -> Expr;

    /// Whether relevance pages are read tier by tier (`crate::tiers`),
    /// which needs the name-tier index of PostgreSQL's search vector.
    fn reads_relevance_in_tiers(&self) -> bool;

    /// `EXPLAIN` prefix and the column holding the plan's lines.
    fn explain(&self) -> (&'static str, &'static str);

    /// `select` as the statement whose first row holds a planner row
    /// estimate, where the database has one.
    fn count_estimate(&self, select: Statement) -> Option<Statement>;

    /// The vocabulary's terms of a length range (two bound values) that
    /// typo-tolerant search expands words from.
    fn vocabulary(&self) -> &'static str;

    /// Refreshes planner statistics after a bulk load.
    fn analyze(&self) -> &'static str;

    // Writes.

    /// Statements run in a write's transaction after product `id` was
    /// inserted, updated or deleted, to keep the full-text index in line.
    fn after_write(&self, id: i64) -> Vec<Statement>;

    /// Statement run in a batch insert's transaction after the rows went in.
    fn after_insert_batch(&self) -> Option<String>;

    // Bulk loads.

    /// The `COPY … FROM STDIN` products are bulk-loaded with, where the
    /// database has one; otherwise batches are inserted.
    fn copy_products(&self) -> Option<&'static str>;

    /// Pauses the triggers that keep derived tables row by row (and drops
    /// the search indexes): a bulk load rebuilds them in one pass.
    fn pause_bulk_triggers(&self) -> Vec<String>;

    /// Resumes what [`Dialect::pause_bulk_triggers`] paused, after the
    /// derived tables were rebuilt (same transaction).
    fn resume_bulk_triggers(&self) -> Vec<String>;

    /// A count of the bulk-paused triggers still paused: non-zero after a
    /// load that died before its finish.
    fn paused_bulk_triggers(&self) -> String;

    /// `DROP INDEX` of a products index.
    fn drop_index(&self, name: &str) -> String;

    /// The full-text indexes a bulk load drops and rebuilds, `(name,
    /// CREATE INDEX IF NOT EXISTS …)`, longest build first.
    fn search_indexes(&self) -> &'static [(&'static str, &'static str)];

    /// Statements opening an index-build transaction after a bulk load.
    fn index_build_settings(&self) -> Vec<String>;

    /// Connections that build indexes at once after a bulk load.
    fn index_build_lanes(&self) -> usize;

    // Verify and repair (`crate::verify`).

    /// The full-text checks: table, statement giving (extra, missing).
    fn search_checks(&self) -> Vec<(&'static str, String)>;

    /// Statements a repair starts with (before the summaries are rebuilt).
    fn repair_first(&self) -> Vec<String>;

    /// Statements rebuilding the full-text side of a repair.
    fn repair_search(&self) -> Vec<String>;
}

/// `maintenance_work_mem` for the index builds after a bulk load (two run
/// at once). Enough for the GIN build over a million documents to sort in
/// memory; a ceiling the server allocates only as needed.
const BULK_MAINTENANCE_WORK_MEM: &str = "256MB";

/// Lifts the pool's statement timeout for the rest of a PostgreSQL
/// transaction: rebuilds and index builds take longer than a request may.
const PG_NO_STATEMENT_TIMEOUT: &str = "SET LOCAL statement_timeout = 0";

/// A pooled connection idle this long is pinged before it is handed out.
const POOL_PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Settings both databases share.
fn configure_common(opts: &mut ConnectOptions, pool: &PoolConfig) {
    opts.max_connections(pool.max_connections)
        .min_connections(pool.min_connections)
        .acquire_timeout(pool.acquire_timeout)
        .connect_timeout(pool.acquire_timeout)
        // SQLx pings every connection it hands out by default: one more
        // round trip per query. Ping only connections idle long enough
        // for a server, proxy or firewall to have dropped them.
        .test_before_acquire_if_idle_for(POOL_PING_IF_IDLE_FOR)
        .sqlx_logging(false);
    if let Some(t) = pool.statement_timeout {
        opts.statement_timeout(t);
    }
}

/// Pool options for `url` sized by `pool`, with `dialect`'s session
/// settings.
pub(crate) fn connect_options(
    dialect: &dyn Dialect,
    url: &str,
    pool: &PoolConfig,
    generic_plans: bool,
) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_string());
    configure_common(&mut opts, pool);
    dialect.configure(&mut opts, url, generic_plans);
    opts
}

/// PostgreSQL 15.
#[derive(Debug)]
pub(crate) struct Postgres;

/// SQLite (the bundled library) with FTS5.
#[derive(Debug)]
pub(crate) struct Sqlite;

impl Dialect for Postgres {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    /// Enough connections to keep the server's cores busy under concurrent
    /// requests.
    fn pool_defaults(&self) -> PoolConfig {
        PoolConfig {
            max_connections: 16,
            min_connections: 2,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
        }
    }

    fn has_generic_plan_pool(&self) -> bool {
        true
    }

    fn configure(&self, opts: &mut ConnectOptions, url: &str, generic_plans: bool) {
        let plain =
            crate::plans::local_without_sslmode(url, std::env::var("PGSSLMODE").ok().as_deref());
        opts.map_sqlx_postgres_opts(move |o| {
            use sea_orm::sqlx::postgres::PgSslMode;
            let o = if plain {
                o.ssl_mode(PgSslMode::Disable)
            } else {
                o
            };
            // Explicit both ways: left to itself (`auto`) PostgreSQL
            // switches a statement to a value-blind plan after five
            // executions when it estimates that plan no costlier,
            // and for a search tier (whose tsquery it then cannot
            // see) that was a full fetch of a frequent word's
            // matches: 1.7 ms became seconds once each connection
            // had run it five times.
            let mode = if generic_plans {
                "force_generic_plan"
            } else {
                "force_custom_plan"
            };
            // No JIT: it compiles the expressions of any statement
            // the planner costs above 100,000 (a broad search's
            // count, a facet or stats aggregate), 30-40 ms of
            // compiling on a 250 ms count, and is never repaid in
            // a query this short.
            o.options([("plan_cache_mode", mode), ("jit", "off")])
        });
    }

    fn write_transaction(&self) -> TransactionOptions {
        TransactionOptions::default()
    }

    fn lift_statement_timeout(&self) -> Option<&'static str> {
        Some(PG_NO_STATEMENT_TIMEOUT)
    }

    fn search_words(&self, s: &SearchQuery) -> Expr {
        crate::query::pg_words(s)
    }

    fn reads_relevance_in_tiers(&self) -> bool {
        true
    }

    fn explain(&self) -> (&'static str, &'static str) {
        ("EXPLAIN (FORMAT TEXT) ", "QUERY PLAN")
    }

    fn count_estimate(&self, mut select: Statement) -> Option<Statement> {
        select.sql = format!("EXPLAIN {}", select.sql);
        Some(select)
    }

    /// Words only (`search::in_vocabulary`): the trigger, the bulk load
    /// and migration 7 keep the table so.
    fn vocabulary(&self) -> &'static str {
        "SELECT term FROM search_terms WHERE char_length(term) BETWEEN $1 AND $2"
    }

    fn analyze(&self) -> &'static str {
        "ANALYZE products"
    }

    /// Triggers keep the search vector and vocabulary in the transaction.
    fn after_write(&self, _id: i64) -> Vec<Statement> {
        Vec::new()
    }

    fn after_insert_batch(&self) -> Option<String> {
        None
    }

    /// Each row arrives with its search vector (`CopyRows`).
    fn copy_products(&self) -> Option<&'static str> {
        Some(
            "COPY products (id, sku, name, description, category, brand, price_cents, \
             stock_quantity, rating_tenths, is_active, search_name, search_body, \
             search_vector, created_at, updated_at) FROM STDIN",
        )
    }

    /// The summary and the search vocabulary are rebuilt in one pass at
    /// the end instead of one upsert per row, and each row arrives with
    /// its search vector.
    fn pause_bulk_triggers(&self) -> Vec<String> {
        let mut v = vec![alter_bulk_triggers("DISABLE")];
        v.extend(
            self.search_indexes()
                .iter()
                .map(|(name, _)| format!("DROP INDEX IF EXISTS \"{name}\"")),
        );
        v
    }

    fn resume_bulk_triggers(&self) -> Vec<String> {
        vec![alter_bulk_triggers("ENABLE")]
    }

    fn paused_bulk_triggers(&self) -> String {
        format!(
            "SELECT count(*) FROM pg_trigger \
             WHERE tgrelid = 'products'::regclass AND tgenabled = 'D' \
             AND tgname IN ('{}')",
            BULK_PAUSED_TRIGGERS.join("', '")
        )
    }

    fn drop_index(&self, name: &str) -> String {
        use sea_orm::sea_query::{Index, PostgresQueryBuilder};
        Index::drop()
            .name(name)
            .table(crate::entity::Entity)
            .if_exists()
            .to_string(PostgresQueryBuilder)
    }

    /// The vector's GIN index first: about 14 s alone at a million rows,
    /// its name part's 7 s.
    fn search_indexes(&self) -> &'static [(&'static str, &'static str)] {
        &[
            (
                crate::schema::PG_SEARCH_INDEX_NAME,
                crate::schema::PG_SEARCH_INDEX,
            ),
            (
                crate::schema::PG_SEARCH_NAME_INDEX_NAME,
                crate::schema::PG_SEARCH_NAME_INDEX,
            ),
        ]
    }

    /// PostgreSQL's default `maintenance_work_mem` of 64 MB makes a GIN
    /// build over a million documents spill and merge many times; the
    /// builds outlast a request's statement timeout.
    fn index_build_settings(&self) -> Vec<String> {
        vec![
            format!("SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_WORK_MEM}'"),
            PG_NO_STATEMENT_TIMEOUT.to_owned(),
        ]
    }

    /// One per core: CREATE INDEX takes a SHARE lock, which concurrent
    /// index builds on one table share.
    fn index_build_lanes(&self) -> usize {
        2
    }

    fn search_checks(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "products.search_vector",
                "SELECT CAST(0 AS BIGINT), count(*) FROM products WHERE search_vector IS NULL \
                 OR search_vector <> catalog_search_vector(search_name, search_body)"
                    .into(),
            ),
            // A superset by design (a deleted product's words stay), so
            // only missing words count.
            (
                "search_terms",
                "SELECT CAST(0 AS BIGINT), count(*) FROM (SELECT DISTINCT t FROM products, \
                 unnest(tsvector_to_array(search_vector)) t WHERE t !~ '[0-9]' \
                 EXCEPT SELECT term FROM search_terms) x"
                    .into(),
            ),
        ]
    }

    /// Reads go on, writes wait (SHARE), so no write slips between the
    /// rebuild's read and its commit.
    fn repair_first(&self) -> Vec<String> {
        vec![
            "LOCK TABLE products IN SHARE MODE".into(),
            "UPDATE products SET search_vector = \
             catalog_search_vector(search_name, search_body) \
             WHERE search_vector IS NULL \
             OR search_vector <> catalog_search_vector(search_name, search_body)"
                .into(),
        ]
    }

    fn repair_search(&self) -> Vec<String> {
        vec![crate::schema::PG_REBUILD_SEARCH_TERMS.into()]
    }
}

impl Dialect for Sqlite {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    /// SQLite serialises writes anyway, so a few connections serve
    /// concurrent WAL readers.
    fn pool_defaults(&self) -> PoolConfig {
        PoolConfig {
            max_connections: 8,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }

    fn has_generic_plan_pool(&self) -> bool {
        false
    }

    fn configure(&self, opts: &mut ConnectOptions, _url: &str, _generic_plans: bool) {
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            // WAL: readers never block the writer nor each other.
            // NORMAL is durable across application crashes in WAL mode.
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    }

    /// Takes the write lock up front (IMMEDIATE), so two writers queue on
    /// the busy timeout instead of one failing when it upgrades a read
    /// lock.
    fn write_transaction(&self) -> TransactionOptions {
        TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        }
    }

    fn lift_statement_timeout(&self) -> Option<&'static str> {
        None
    }

    fn search_words(&self, s: &SearchQuery) -> Expr {
        crate::query::sqlite_search(s)
    }

    fn reads_relevance_in_tiers(&self) -> bool {
        false
    }

    fn explain(&self) -> (&'static str, &'static str) {
        ("EXPLAIN QUERY PLAN ", "detail")
    }

    fn count_estimate(&self, _select: Statement) -> Option<Statement> {
        None
    }

    /// fts5vocab lists the FTS5 table's terms (a scan of its index).
    fn vocabulary(&self) -> &'static str {
        "SELECT term FROM products_fts_terms WHERE length(term) BETWEEN ? AND ? \
         AND term NOT GLOB '*[0-9]*'"
    }

    fn analyze(&self) -> &'static str {
        "ANALYZE"
    }

    /// Brings product `id`'s FTS5 row in line with the table (a deleted
    /// product loses it). The adapter does this rather than triggers: with
    /// FTS5-writing triggers next to the summary triggers, the bundled
    /// SQLite fails the first write of every pooled connection after any
    /// schema change ("no such table: products").
    fn after_write(&self, id: i64) -> Vec<Statement> {
        let by_id = |sql: String| {
            Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, sql, [id.into()])
        };
        vec![
            by_id("DELETE FROM products_fts WHERE rowid = ?".into()),
            by_id(format!(
                "{} WHERE id = ?",
                crate::schema::SQLITE_INDEX_PRODUCTS
            )),
        ]
    }

    /// Indexes every product newer than the newest indexed one (ids only
    /// grow).
    fn after_insert_batch(&self) -> Option<String> {
        Some(format!(
            "{} WHERE id > (SELECT coalesce(max(rowid), 0) FROM products_fts)",
            crate::schema::SQLITE_INDEX_PRODUCTS
        ))
    }

    fn copy_products(&self) -> Option<&'static str> {
        None
    }

    /// SQLite cannot pause triggers: the histogram's are dropped and
    /// recreated, with a rebuild, by `finish_bulk_load` (or by `migrate`
    /// after an interrupted load). The summary's stay: one upsert per row
    /// of a handful of categories and brands is cheap.
    fn pause_bulk_triggers(&self) -> Vec<String> {
        sqlite_bulk_triggers()
            .map(|t| format!("DROP TRIGGER IF EXISTS {t}"))
            .collect()
    }

    fn resume_bulk_triggers(&self) -> Vec<String> {
        let mut v = crate::schema::sqlite_price_summary_triggers();
        v.extend(crate::schema::sqlite_change_triggers());
        v
    }

    fn paused_bulk_triggers(&self) -> String {
        let names: Vec<&str> = sqlite_bulk_triggers().collect();
        format!(
            "SELECT {} - count(*) FROM sqlite_master \
             WHERE type = 'trigger' AND name IN ('{}')",
            names.len(),
            names.join("', '")
        )
    }

    /// SQLite's DROP INDEX takes no table.
    fn drop_index(&self, name: &str) -> String {
        format!("DROP INDEX IF EXISTS \"{name}\"")
    }

    /// The FTS5 table is no index: the adapter keeps it row by row.
    fn search_indexes(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    fn index_build_settings(&self) -> Vec<String> {
        Vec::new()
    }

    /// One writer at a time.
    fn index_build_lanes(&self) -> usize {
        1
    }

    fn search_checks(&self) -> Vec<(&'static str, String)> {
        vec![(
            "products_fts",
            crate::verify::both_ways(
                "SELECT rowid, doc FROM products_fts",
                "SELECT id, search_name || ' ' || search_body FROM products",
            ),
        )]
    }

    /// The write transaction already holds the write lock.
    fn repair_first(&self) -> Vec<String> {
        Vec::new()
    }

    fn repair_search(&self) -> Vec<String> {
        vec![
            "DELETE FROM products_fts".into(),
            crate::schema::SQLITE_INDEX_PRODUCTS.into(),
        ]
    }
}

/// The triggers a SQLite bulk load drops and recreates: the histogram's
/// and the change log's.
fn sqlite_bulk_triggers() -> impl Iterator<Item = &'static str> {
    crate::schema::SQLITE_PRICE_SUMMARY_TRIGGERS
        .into_iter()
        .chain(crate::schema::SQLITE_CHANGE_TRIGGERS)
}

/// The triggers a PostgreSQL bulk load pauses: each keeps derived data
/// (change log, summary, histogram, vocabulary: one trigger per statement
/// and event since migration 15; the search vector: row by row) that the
/// load rebuilds in one pass (the change log gets one `reload` row).
const BULK_PAUSED_TRIGGERS: [&str; 12] = [
    "products_changes_insert",
    "products_changes_update",
    "products_changes_delete",
    "products_summary_insert",
    "products_summary_update",
    "products_summary_delete",
    "products_price_summary_insert",
    "products_price_summary_update",
    "products_price_summary_delete",
    "products_search_terms_insert",
    "products_search_terms_update",
    "products_search_vector",
];

/// `ALTER TABLE products ENABLE|DISABLE TRIGGER …` for every trigger a
/// bulk load pauses.
fn alter_bulk_triggers(action: &str) -> String {
    let each: Vec<String> = BULK_PAUSED_TRIGGERS
        .iter()
        .map(|t| format!("{action} TRIGGER {t}"))
        .collect();
    format!("ALTER TABLE products {}", each.join(", "))
}

/// PostgreSQL's row estimate from the first line of an `EXPLAIN`:
/// "Seq Scan on products  (cost=0.00..4.00 rows=1234 width=8)".
pub(crate) fn plan_row_estimate(plan: &str) -> Option<u64> {
    plan.split("rows=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_index_per_database() {
        assert_eq!(
            Postgres.drop_index("idx_x"),
            r#"DROP INDEX IF EXISTS "idx_x""#
        );
        assert_eq!(
            Sqlite.drop_index("idx_x"),
            r#"DROP INDEX IF EXISTS "idx_x""#
        );
    }

    #[test]
    fn row_estimate_from_a_plan_line() {
        assert_eq!(
            plan_row_estimate("Seq Scan on products  (cost=0.00..4.00 rows=1234 width=8)"),
            Some(1234)
        );
        assert_eq!(plan_row_estimate("Result"), None);
    }
}
