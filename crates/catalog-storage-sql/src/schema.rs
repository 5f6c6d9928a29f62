//! The live schema: the definitions the running adapter recreates or
//! rebuilds after the migrations made them, in one place. Bulk loads drop
//! and rebuild the products indexes and the derived tables from here,
//! `migrate` recreates missing indexes and paused triggers from here,
//! `verify` checks the derived tables against the selects here, and the
//! price histogram reads its shape from here.
//!
//! The numbered migrations never import from this module: each carries the
//! SQL as it stood when it landed (a landed migration is never edited;
//! `migration/checksums.txt` holds them to that), so a change to the
//! schema is a new migration plus an edit here. `tests/live_schema.rs`
//! checks that the two agree: what the migrations create is what this
//! module recreates.

use sea_orm::sea_query::{Index, IndexCreateStatement, IndexOrder};

use crate::entity::{Column, Entity};

/// Every secondary btree index of the products table (`CREATE INDEX IF NOT
/// EXISTS`): migration 1's (less the two migration 9 replaced), 6's and
/// 9's. Bulk loads drop them and recreate them from this list, and startup
/// creates any that is missing.
pub fn secondary_indexes() -> Vec<IndexCreateStatement> {
    use Column::*;
    use Key::{Asc, Desc, Plain};
    let indexes: [(&str, &[(Column, Key)]); 17] = [
        // A category or brand filter in the default id order (and its
        // keyset continuation) reads the index in order and stops after
        // one page instead of sorting every match.
        (
            "idx_products_category_id",
            &[(Category, Plain), (Id, Plain)],
        ),
        ("idx_products_brand_id", &[(Brand, Plain), (Id, Plain)]),
        // Sorted listings: each sortable column with the id tie-breaker,
        // so ORDER BY col, id and keyset WHERE (col, id) > (...) are one
        // index range scan. They also serve single-column lookups.
        ("idx_products_name_id", &[(Name, Plain), (Id, Plain)]),
        ("idx_products_price_id", &[(PriceCents, Plain), (Id, Plain)]),
        (
            "idx_products_rating_id",
            &[(RatingTenths, Plain), (Id, Plain)],
        ),
        (
            "idx_products_stock_id",
            &[(StockQuantity, Plain), (Id, Plain)],
        ),
        (
            "idx_products_created_id",
            &[(CreatedAt, Plain), (Id, Plain)],
        ),
        (
            "idx_products_updated_id",
            &[(UpdatedAt, Plain), (Id, Plain)],
        ),
        // Descending sorts keep `id` ascending as the tie-breaker (the
        // contract): the column stored descending, `id` ascending. The
        // filtered storefront list: a category or brand, a price range,
        // most expensive first.
        (
            "idx_products_category_price_desc_id",
            &[(Category, Asc), (PriceCents, Desc), (Id, Asc)],
        ),
        (
            "idx_products_brand_price_desc_id",
            &[(Brand, Asc), (PriceCents, Desc), (Id, Asc)],
        ),
        (
            "idx_products_price_desc_id",
            &[(PriceCents, Desc), (Id, Asc)],
        ),
        (
            "idx_products_rating_desc_id",
            &[(RatingTenths, Desc), (Id, Asc)],
        ),
        (
            "idx_products_created_desc_id",
            &[(CreatedAt, Desc), (Id, Asc)],
        ),
        (
            "idx_products_updated_desc_id",
            &[(UpdatedAt, Desc), (Id, Asc)],
        ),
        ("idx_products_name_desc_id", &[(Name, Desc), (Id, Asc)]),
        // Covering: facets under a category or brand filter (rating
        // floors, in-stock, price buckets) are index-only scans, and the
        // range scans of a category or brand with a price range use the
        // same leading columns.
        (
            "idx_products_category_price_cover",
            &[
                (Category, Plain),
                (PriceCents, Plain),
                (RatingTenths, Plain),
                (StockQuantity, Plain),
            ],
        ),
        (
            "idx_products_brand_price_cover",
            &[
                (Brand, Plain),
                (PriceCents, Plain),
                (RatingTenths, Plain),
                (StockQuantity, Plain),
            ],
        ),
    ];
    indexes
        .into_iter()
        .map(|(name, cols)| {
            let mut idx = Index::create();
            idx.name(name).table(Entity).if_not_exists();
            for (col, key) in cols {
                match key {
                    Plain => idx.col(*col),
                    Asc => idx.col((*col, IndexOrder::Asc)),
                    Desc => idx.col((*col, IndexOrder::Desc)),
                };
            }
            idx.to_owned()
        })
        .collect()
}

/// How an index names a column: as it is, or with an explicit order. The
/// SQL text keeps the form the migrations used, so SQLite's stored
/// definitions are the same whether a migration or a bulk load made them.
#[derive(Clone, Copy)]
enum Key {
    Plain,
    Asc,
    Desc,
}

/// PostgreSQL: the GIN index on the search vector.
pub const PG_SEARCH_INDEX_NAME: &str = "idx_products_search_vector";

/// [`PG_SEARCH_INDEX_NAME`]'s definition, without the pending list
/// (migration 12 says why).
pub const PG_SEARCH_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_products_search_vector \
     ON products USING gin (search_vector) WITH (fastupdate = off)";

/// PostgreSQL: the GIN index over the name part of the search vector
/// (the relevance tiers' top tier).
pub const PG_SEARCH_NAME_INDEX_NAME: &str = "idx_products_search_name";

/// [`PG_SEARCH_NAME_INDEX_NAME`]'s definition, without the pending list.
pub const PG_SEARCH_NAME_INDEX: &str = "CREATE INDEX IF NOT EXISTS idx_products_search_name \
     ON products USING gin (ts_filter(search_vector, '{a}')) WITH (fastupdate = off)";

/// PostgreSQL: refills the vocabulary (words only: `search::in_vocabulary`)
/// from the products table, after a bulk load that did not supply it or
/// in a repair.
pub const PG_REBUILD_SEARCH_TERMS: &str = "INSERT INTO search_terms (term) \
     SELECT DISTINCT t FROM products, unnest(tsvector_to_array(search_vector)) t \
     WHERE t !~ '[0-9]' ON CONFLICT DO NOTHING";

/// SQLite: indexes products in FTS5: the document is the name tokens
/// followed by the description tokens. Append a `WHERE` to index some.
pub const SQLITE_INDEX_PRODUCTS: &str = "INSERT INTO products_fts (rowid, doc) \
     SELECT id, search_name || ' ' || search_body FROM products";

/// The summary's rows computed from the products table (the columns of
/// the table, in its order).
macro_rules! summary_select {
    () => {
        "SELECT category, brand, COUNT(*), SUM(CASE WHEN is_active THEN 1 ELSE 0 END), \
         SUM(CASE WHEN stock_quantity > 0 THEN 1 ELSE 0 END), SUM(stock_quantity), \
         SUM(price_cents), SUM(rating_tenths) FROM products GROUP BY category, brand"
    };
}

/// What `product_summary` must hold.
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

/// The price histogram's table (migration 11).
pub const PRICE_SUMMARY_TABLE: &str = "product_price_summary";

/// The histogram's bucket widths, in cents: fine first.
pub const PRICE_SUMMARY_WIDTHS: [i64; 2] = [100, 10_000];

/// The highest rating floor (whole stars: `rating_tenths / 10`).
const MAX_RATING_FLOOR: i64 = 5;

/// The counters and sums of each histogram row, each with its contribution
/// from one products row `r` of [`source`]'s columns (`sign` 1 or -1):
/// counts by flag, sums, and a count per rating floor (the rating facet).
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

/// SQLite's upsert of `sources`' deltas (the WHERE lets SQLite parse ON
/// CONFLICT after a SELECT).
fn sqlite_apply(sources: &str) -> String {
    let names = counter_names();
    let sets: Vec<String> = names
        .iter()
        .map(|c| format!("{c} = {PRICE_SUMMARY_TABLE}.{c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {PRICE_SUMMARY_TABLE} (dim, name, width, bucket, {}) \
         SELECT * FROM ({}) deltas WHERE true \
         ON CONFLICT (dim, name, width, bucket) DO UPDATE SET {}",
        names.join(", "),
        deltas(sources),
        sets.join(", ")
    )
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
            sqlite_apply(&source("NEW", 1))
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {delete} AFTER DELETE ON products \
             BEGIN {}; END",
            sqlite_apply(&source("OLD", -1))
        ),
        format!(
            "CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE ON products \
             BEGIN {}; END",
            sqlite_apply(&both)
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
    // `g` is grouped once (`MATERIALIZED`): the bundled SQLite otherwise
    // ran the grouping of every product again for each of the six
    // (dimension, width) pairs (13 s instead of 3 s at a million rows).
    format!(
        "WITH g AS MATERIALIZED (SELECT r.category, r.brand, r.price / {fine} AS fine, {} \
               FROM ({rows}) r GROUP BY r.category, r.brand, r.price / {fine}) \
         SELECT d.dim, CASE d.dim WHEN 0 THEN '' WHEN 1 THEN g.category ELSE g.brand END, \
         w.width, g.fine * {fine} / w.width, {} \
         FROM g, (SELECT 0 AS dim UNION ALL SELECT 1 UNION ALL SELECT 2) d, ({}) w \
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        inner.join(", "),
        outer.join(", "),
        widths()
    )
}

/// The change log's marker for a bulk load, which pauses the per-row
/// change triggers: followers rebuild from the products table.
pub const CHANGE_LOG_RELOAD: &str = "INSERT INTO product_changes (op) VALUES ('reload')";

/// SQLite's JSON of a product row (`NEW` or `OLD`) in the change log.
macro_rules! sqlite_change_state {
    ($row:literal) => {
        concat!(
            "json_object('id', ",
            $row,
            ".id, 'sku', ",
            $row,
            ".sku, 'name', ",
            $row,
            ".name, ",
            "'description', ",
            $row,
            ".description, 'category', ",
            $row,
            ".category, ",
            "'brand', ",
            $row,
            ".brand, 'price_cents', ",
            $row,
            ".price_cents, ",
            "'stock_quantity', ",
            $row,
            ".stock_quantity, 'rating_tenths', ",
            $row,
            ".rating_tenths, ",
            "'is_active', json(CASE WHEN ",
            $row,
            ".is_active THEN 'true' ELSE 'false' END), ",
            "'created_at', ",
            $row,
            ".created_at, 'updated_at', ",
            $row,
            ".updated_at, ",
            "'version', ",
            $row,
            ".version)"
        )
    };
}

/// SQLite's change-log triggers (migration 13), named
/// [`SQLITE_CHANGE_TRIGGERS`]. A bulk load drops them like the histogram's
/// and appends [`CHANGE_LOG_RELOAD`] instead of a row per product.
pub fn sqlite_change_triggers() -> Vec<String> {
    vec![
        concat!(
            "CREATE TRIGGER IF NOT EXISTS products_changes_insert AFTER INSERT ON products BEGIN ",
            "INSERT INTO product_changes (op, product_id, version, product) VALUES ('create', NEW.id, NEW.version, ",
            sqlite_change_state!("NEW"),
            "); END"
        )
        .to_string(),
        concat!(
            "CREATE TRIGGER IF NOT EXISTS products_changes_update AFTER UPDATE OF sku, name, description, ",
            "category, brand, price_cents, stock_quantity, rating_tenths, is_active, version ON products BEGIN ",
            "INSERT INTO product_changes (op, product_id, version, product) VALUES ('update', NEW.id, NEW.version, ",
            sqlite_change_state!("NEW"),
            "); END"
        )
        .to_string(),
        "CREATE TRIGGER IF NOT EXISTS products_changes_delete AFTER DELETE ON products BEGIN \
         INSERT INTO product_changes (op, product_id, version) VALUES ('delete', OLD.id, OLD.version); END"
            .to_string(),
    ]
}

/// The names of [`sqlite_change_triggers`].
pub const SQLITE_CHANGE_TRIGGERS: [&str; 3] = [
    "products_changes_insert",
    "products_changes_update",
    "products_changes_delete",
];
