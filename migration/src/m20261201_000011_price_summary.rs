//! A price histogram of the products table, maintained by triggers in the
//! same transaction as every write: for the whole table, each category and
//! each brand, the products of every $1 and every $100 price bucket, with
//! the same counters and sums as `product_summary` and a count per rating
//! floor.
//!
//! A count or stats request with a price range (or `is_active` /
//! `in_stock`) then sums the buckets that lie wholly inside the range,
//! $100 buckets where they fit and $1 buckets towards its ends, and counts
//! only the products of the two partial $1 buckets at its edges in the
//! products table. `category=Books&min_price=10&max_price=200` reads about
//! a hundred summary rows and a few hundred index entries instead of
//! counting sixty thousand.
//!
//! Rows are `(dim, name, width, bucket)`: `dim` 0 is the whole table
//! (`name` empty), 1 a category, 2 a brand; `bucket` is `price_cents /
//! width`. The triggers group a write's deltas and apply them in key
//! order, so concurrent writes lock histogram rows in one order and cannot
//! deadlock on them; a write that changes no summarised field touches none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table's name.
pub const PRICE_SUMMARY_TABLE: &str = "product_price_summary";
/// The bucket widths, in cents: fine first.
pub const PRICE_SUMMARY_WIDTHS: [i64; 2] = [100, 10_000];

/// The highest rating floor (whole stars: `rating_tenths / 10`).
const MAX_RATING_FLOOR: i64 = 5;

/// The counters and sums of each row, each with its contribution from one
/// products row `r` of [`source`]'s columns (`sign` 1 or -1): counts by
/// flag, sums, and a count per rating floor (the rating facet).
pub fn price_summary_counters() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("product_count", "r.sign"),
        ("active_count", "r.sign * r.active"),
        (
            "in_stock_count",
            "CASE WHEN r.stock > 0 THEN r.sign ELSE 0 END",
        ),
        (
            "active_in_stock_count",
            "CASE WHEN r.stock > 0 THEN r.sign * r.active ELSE 0 END",
        ),
        ("stock_sum", "r.sign * r.stock"),
        ("price_sum", "r.sign * r.price"),
        ("rating_sum", "r.sign * r.rating"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for k in 0..=MAX_RATING_FLOOR {
        v.push((
            format!("rating_{k}_count"),
            format!("CASE WHEN r.rating / 10 = {k} THEN r.sign ELSE 0 END"),
        ));
    }
    v
}

fn counter_names() -> Vec<String> {
    price_summary_counters()
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// `collate` and `options` are backend-specific: PostgreSQL compares the
/// names by code point and leaves room on each page for the triggers' HOT
/// updates; SQLite stores the rows in key order (`WITHOUT ROWID`).
fn create_table(collate: &str, options: &str) -> String {
    let counters: Vec<String> = counter_names()
        .iter()
        .map(|c| format!("{c} bigint NOT NULL DEFAULT 0"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {PRICE_SUMMARY_TABLE} (
            dim smallint NOT NULL,
            name varchar(100){collate} NOT NULL,
            width integer NOT NULL,
            bucket integer NOT NULL,
            {},
            PRIMARY KEY (dim, name, width, bucket)){options}",
        counters.join(",\n            ")
    )
}

/// One row's contribution, `sign` 1 (inserted) or -1 (deleted), as a
/// SELECT of `(sign, category, brand, price, active, stock, rating)`.
/// `row` is `NEW` or `OLD` in a trigger.
fn source(row: &str, sign: i64) -> String {
    format!(
        "SELECT {sign} AS sign, {row}.category AS category, {row}.brand AS brand, \
         {row}.price_cents AS price, CASE WHEN {row}.is_active THEN 1 ELSE 0 END AS active, \
         {row}.stock_quantity AS stock, {row}.rating_tenths AS rating"
    )
}

fn widths() -> String {
    let widths: Vec<String> = PRICE_SUMMARY_WIDTHS
        .iter()
        .map(|w| format!("SELECT {w} AS width"))
        .collect();
    widths.join(" UNION ALL ")
}

/// The histogram deltas of `sources` (a SELECT of [`source`]'s columns),
/// grouped by row key and in key order, without the all-zero ones.
fn deltas(sources: &str) -> String {
    let counters = price_summary_counters();
    let sums: Vec<String> = counters.iter().map(|(_, e)| format!("SUM({e})")).collect();
    let nonzero: Vec<String> = sums.iter().map(|s| format!("{s} <> 0")).collect();
    format!(
        "SELECT d.dim, CASE d.dim WHEN 0 THEN '' WHEN 1 THEN r.category ELSE r.brand END, \
         w.width, r.price / w.width, {} \
         FROM ({sources}) r, \
         (SELECT 0 AS dim UNION ALL SELECT 1 UNION ALL SELECT 2) d, ({}) w \
         GROUP BY 1, 2, 3, 4 HAVING {} ORDER BY 1, 2, 3, 4",
        sums.join(", "),
        widths(),
        nonzero.join(" OR ")
    )
}

/// The upsert of `sources`' deltas. `alias` names the target table for
/// PostgreSQL (`AS s`); SQLite refers to it by name.
fn apply(sources: &str, postgres: bool) -> String {
    let (alias, target) = if postgres {
        (" AS s", "s")
    } else {
        ("", PRICE_SUMMARY_TABLE)
    };
    let names = counter_names();
    let sets: Vec<String> = names
        .iter()
        .map(|c| format!("{c} = {target}.{c} + excluded.{c}"))
        .collect();
    // SQLite needs the WHERE to parse ON CONFLICT after a SELECT.
    format!(
        "INSERT INTO {PRICE_SUMMARY_TABLE}{alias} (dim, name, width, bucket, {}) \
         SELECT * FROM ({}) deltas WHERE true \
         ON CONFLICT (dim, name, width, bucket) DO UPDATE SET {}",
        names.join(", "),
        deltas(sources),
        sets.join(", ")
    )
}

fn pg_statements() -> Vec<String> {
    let both = format!("{} UNION ALL {}", source("OLD", -1), source("NEW", 1));
    vec![
        create_table(r#" COLLATE "C""#, " WITH (fillfactor = 70)"),
        format!(
            "CREATE OR REPLACE FUNCTION product_price_summary_trigger() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'INSERT' THEN
                    {};
                ELSIF TG_OP = 'DELETE' THEN
                    {};
                ELSE
                    {};
                END IF;
                RETURN NULL;
            END
            $$ LANGUAGE plpgsql",
            apply(&source("NEW", 1), true),
            apply(&source("OLD", -1), true),
            apply(&both, true),
        ),
        "DROP TRIGGER IF EXISTS products_price_summary ON products".to_string(),
        "CREATE TRIGGER products_price_summary AFTER INSERT OR UPDATE OR DELETE ON products \
         FOR EACH ROW EXECUTE FUNCTION product_price_summary_trigger()"
            .to_string(),
    ]
}

fn sqlite_statements() -> Vec<String> {
    let mut v = vec![create_table("", " WITHOUT ROWID")];
    v.extend(sqlite_price_summary_triggers());
    v
}

/// SQLite's histogram triggers (`CREATE TRIGGER IF NOT EXISTS`, named
/// [`SQLITE_PRICE_SUMMARY_TRIGGERS`]). SQLite cannot pause a trigger: a
/// bulk load into an empty table drops these and recreates them after
/// (one upsert statement per inserted row tripled the load's time).
pub fn sqlite_price_summary_triggers() -> Vec<String> {
    let both = format!("{} UNION ALL {}", source("OLD", -1), source("NEW", 1));
    let [insert, delete, update] = SQLITE_PRICE_SUMMARY_TRIGGERS;
    vec![
        format!(
            "CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON products \
             BEGIN {}; END",
            apply(&source("NEW", 1), false)
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {delete} AFTER DELETE ON products \
             BEGIN {}; END",
            apply(&source("OLD", -1), false)
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE ON products \
             BEGIN {}; END",
            apply(&both, false)
        ),
    ]
}

/// The names of [`sqlite_price_summary_triggers`]: insert, delete, update.
pub const SQLITE_PRICE_SUMMARY_TRIGGERS: [&str; 3] = [
    "products_price_summary_insert",
    "products_price_summary_delete",
    "products_price_summary_update",
];

/// Recomputes the histogram from the products table (after a bulk load, or
/// to repair it): the rows are first grouped by category, brand and $1
/// bucket, then spread over the histogram's rows, inserted in key order so
/// that a range of buckets sits on a few pages.
pub fn rebuild_price_summary() -> [String; 2] {
    [
        format!("DELETE FROM {PRICE_SUMMARY_TABLE}"),
        format!(
            "INSERT INTO {PRICE_SUMMARY_TABLE} (dim, name, width, bucket, {}) {}",
            counter_names().join(", "),
            price_summary_select()
        ),
    ]
}

/// The histogram's rows computed from the products table, in key order
/// (the columns of the table, in its order).
pub fn price_summary_select() -> String {
    let fine = PRICE_SUMMARY_WIDTHS[0];
    let counters = price_summary_counters();
    let inner: Vec<String> = counters
        .iter()
        .map(|(c, e)| format!("SUM({e}) AS {c}"))
        .collect();
    let outer: Vec<String> = counters
        .iter()
        .map(|(c, _)| format!("SUM(g.{c})"))
        .collect();
    let rows = "SELECT 1 AS sign, category, brand, price_cents AS price, \
         CASE WHEN is_active THEN 1 ELSE 0 END AS active, stock_quantity AS stock, \
         rating_tenths AS rating FROM products";
    format!(
        "SELECT d.dim, CASE d.dim WHEN 0 THEN '' WHEN 1 THEN g.category ELSE g.brand END, \
         w.width, g.fine * {fine} / w.width, {} \
         FROM (SELECT r.category, r.brand, r.price / {fine} AS fine, {} \
               FROM ({rows}) r GROUP BY r.category, r.brand, r.price / {fine}) g, \
         (SELECT 0 AS dim UNION ALL SELECT 1 UNION ALL SELECT 2) d, ({}) w \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        outer.join(", "),
        inner.join(", "),
        widths()
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(crate::PG_NO_STATEMENT_TIMEOUT)
                    .await?;
                pg_statements()
            }
            _ => sqlite_statements(),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        // Existing rows (a database migrated after seeding).
        for sql in rebuild_price_summary() {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP TRIGGER IF EXISTS products_price_summary ON products")
                .await?;
            db.execute_unprepared("DROP FUNCTION IF EXISTS product_price_summary_trigger()")
                .await?;
        } else {
            for t in SQLITE_PRICE_SUMMARY_TRIGGERS {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}"))
                    .await?;
            }
        }
        db.execute_unprepared(&format!("DROP TABLE IF EXISTS {PRICE_SUMMARY_TABLE}"))
            .await?;
        Ok(())
    }
}
