//! A per-(category, brand) summary of the products table, maintained by
//! triggers in the same transaction as every write, so unfiltered and
//! category/brand-filtered stats, counts and the category and brand lists
//! read a few hundred summary rows instead of scanning products.
//!
//! Triggers (not application code) keep it exact whatever writes the table:
//! the API, the seeder, or an operator's SQL. Price minimum and maximum are
//! not summarised (they cannot be maintained under deletes); the price
//! indexes answer them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PG: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS product_summary (
        category varchar(100) COLLATE "C" NOT NULL,
        brand varchar(100) COLLATE "C" NOT NULL,
        product_count bigint NOT NULL DEFAULT 0,
        active_count bigint NOT NULL DEFAULT 0,
        in_stock_count bigint NOT NULL DEFAULT 0,
        stock_sum bigint NOT NULL DEFAULT 0,
        price_sum bigint NOT NULL DEFAULT 0,
        rating_sum bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (category, brand))"#,
    r#"CREATE INDEX IF NOT EXISTS idx_product_summary_brand ON product_summary (brand, category)"#,
    r#"CREATE OR REPLACE FUNCTION product_summary_apply(c text, b text, sign bigint,
            active boolean, stock bigint, price bigint, rating bigint) RETURNS void AS $$
        INSERT INTO product_summary AS s (category, brand, product_count, active_count,
            in_stock_count, stock_sum, price_sum, rating_sum)
        VALUES (c, b, sign, sign * (CASE WHEN active THEN 1 ELSE 0 END),
            sign * (CASE WHEN stock > 0 THEN 1 ELSE 0 END), sign * stock, sign * price, sign * rating)
        ON CONFLICT (category, brand) DO UPDATE SET
            product_count = s.product_count + EXCLUDED.product_count,
            active_count = s.active_count + EXCLUDED.active_count,
            in_stock_count = s.in_stock_count + EXCLUDED.in_stock_count,
            stock_sum = s.stock_sum + EXCLUDED.stock_sum,
            price_sum = s.price_sum + EXCLUDED.price_sum,
            rating_sum = s.rating_sum + EXCLUDED.rating_sum
        $$ LANGUAGE sql"#,
    r#"CREATE OR REPLACE FUNCTION product_summary_trigger() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                PERFORM product_summary_apply(OLD.category, OLD.brand, -1, OLD.is_active,
                    OLD.stock_quantity, OLD.price_cents, OLD.rating_tenths);
            END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN
                PERFORM product_summary_apply(NEW.category, NEW.brand, 1, NEW.is_active,
                    NEW.stock_quantity, NEW.price_cents, NEW.rating_tenths);
            END IF;
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql"#,
    r#"DROP TRIGGER IF EXISTS products_summary ON products"#,
    r#"CREATE TRIGGER products_summary AFTER INSERT OR UPDATE OR DELETE ON products
        FOR EACH ROW EXECUTE FUNCTION product_summary_trigger()"#,
];

/// SQLite: the same table and upserts, one trigger per operation.
fn sqlite_apply(row: &str, sign: i64) -> String {
    format!(
        "INSERT INTO product_summary (category, brand, product_count, active_count, \
         in_stock_count, stock_sum, price_sum, rating_sum) VALUES ({row}.category, {row}.brand, \
         {sign}, {sign} * (CASE WHEN {row}.is_active THEN 1 ELSE 0 END), \
         {sign} * (CASE WHEN {row}.stock_quantity > 0 THEN 1 ELSE 0 END), \
         {sign} * {row}.stock_quantity, {sign} * {row}.price_cents, {sign} * {row}.rating_tenths) \
         ON CONFLICT (category, brand) DO UPDATE SET \
         product_count = product_count + excluded.product_count, \
         active_count = active_count + excluded.active_count, \
         in_stock_count = in_stock_count + excluded.in_stock_count, \
         stock_sum = stock_sum + excluded.stock_sum, \
         price_sum = price_sum + excluded.price_sum, \
         rating_sum = rating_sum + excluded.rating_sum;"
    )
}

fn sqlite_statements() -> Vec<String> {
    vec![
        "CREATE TABLE IF NOT EXISTS product_summary (
            category varchar(100) NOT NULL,
            brand varchar(100) NOT NULL,
            product_count bigint NOT NULL DEFAULT 0,
            active_count bigint NOT NULL DEFAULT 0,
            in_stock_count bigint NOT NULL DEFAULT 0,
            stock_sum bigint NOT NULL DEFAULT 0,
            price_sum bigint NOT NULL DEFAULT 0,
            rating_sum bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (category, brand))"
            .to_string(),
        "CREATE INDEX IF NOT EXISTS idx_product_summary_brand ON product_summary (brand, category)"
            .to_string(),
        format!(
            "CREATE TRIGGER IF NOT EXISTS products_summary_insert AFTER INSERT ON products BEGIN {} END",
            sqlite_apply("NEW", 1)
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS products_summary_delete AFTER DELETE ON products BEGIN {} END",
            sqlite_apply("OLD", -1)
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS products_summary_update AFTER UPDATE ON products BEGIN {} {} END",
            sqlite_apply("OLD", -1),
            sqlite_apply("NEW", 1)
        ),
    ]
}

/// The summary's rows computed from the products table (the columns of
/// the table, in its order).
macro_rules! summary_select {
    () => {
        "SELECT category, brand, COUNT(*), SUM(CASE WHEN is_active THEN 1 ELSE 0 END), \
         SUM(CASE WHEN stock_quantity > 0 THEN 1 ELSE 0 END), SUM(stock_quantity), \
         SUM(price_cents), SUM(rating_tenths) FROM products GROUP BY category, brand"
    };
}

/// [`summary_select`]: what `product_summary` must hold.
pub const SUMMARY_SELECT: &str = summary_select!();

/// Recomputes the summary from the products table (after a bulk load, or
/// to repair it).
pub const REBUILD_SUMMARY: [&str; 2] = [
    "DELETE FROM product_summary",
    concat!(
        "INSERT INTO product_summary (category, brand, product_count, active_count, \
         in_stock_count, stock_sum, price_sum, rating_sum) ",
        summary_select!()
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for sql in PG {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for sql in sqlite_statements() {
                    db.execute_unprepared(&sql).await?;
                }
            }
        }
        // Existing rows (a database migrated after seeding).
        for sql in REBUILD_SUMMARY {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS products_summary ON products")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS product_summary_trigger()")
                .await?;
        } else {
            for t in ["insert", "delete", "update"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS products_summary_{t}"))
                    .await?;
            }
        }
        db.execute_unprepared("DROP TABLE IF EXISTS product_summary")
            .await?;
        Ok(())
    }
}
