//! PostgreSQL: the triggers that keep the summary, the price histogram,
//! the change log and the vocabulary fire once per statement instead of
//! once per row. Each reads the statement's rows from its transition
//! tables (`new_rows`, `old_rows`) and applies them in one set-based
//! statement: the summaries get one grouped upsert, in key order, the
//! change log one `INSERT … SELECT` in id order, the vocabulary one
//! `INSERT … SELECT DISTINCT`.
//!
//! Measured before this change, on a million products: a 5,000-row UPDATE
//! spent two thirds of its time in the row triggers (each row called four
//! trigger functions, and the histogram's grouped its own six rows), so a
//! 1,000-product bulk upsert ran at about 1,000 products per second. One
//! API write is one statement of one row, and does the same work as before.
//!
//! PostgreSQL refuses transition tables on a trigger for several events or
//! with an `UPDATE OF` column list, hence one trigger per event, and an
//! update's change-log entries and new words are the rows whose columns
//! differ from their old row (matched by id), not the rows whose columns
//! were named in the `SET`. The row-level `products_search_vector` (a
//! BEFORE trigger that computes the row's own column) is unchanged.
//!
//! SQLite has no statement-level triggers; its row triggers stay.
//!
//! The row-level trigger functions are left in place (unused) for `down`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261201_000011_price_summary::{
    PRICE_SUMMARY_TABLE, PRICE_SUMMARY_WIDTHS, price_summary_counters,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One statement's products rows as the summaries' sources: `sign` 1
/// (inserted or new state) or -1 (deleted or old state), from the
/// transition table `table`.
fn sources(table: &str, sign: i64) -> String {
    format!(
        "SELECT {sign} AS sign, t.category AS category, t.brand AS brand, \
         t.price_cents AS price, CASE WHEN t.is_active THEN 1 ELSE 0 END AS active, \
         t.stock_quantity AS stock, t.rating_tenths AS rating FROM {table} t"
    )
}

/// The `(column, SUM(contribution))` pairs of an upsert, the `SET` that
/// adds them to the stored row and the `HAVING` that skips all-zero
/// deltas.
struct Sums {
    columns: Vec<String>,
    sums: Vec<String>,
}

impl Sums {
    fn new(counters: Vec<(String, String)>) -> Self {
        let (columns, sums) = counters
            .into_iter()
            .map(|(c, e)| (c, format!("SUM({e})")))
            .unzip();
        Sums { columns, sums }
    }

    fn set(&self) -> String {
        let set: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{c} = s.{c} + excluded.{c}"))
            .collect();
        set.join(", ")
    }

    fn nonzero(&self) -> String {
        let nonzero: Vec<String> = self.sums.iter().map(|s| format!("{s} <> 0")).collect();
        nonzero.join(" OR ")
    }
}

/// The per-(category, brand) summary's grouped upsert of `sources`.
fn summary_apply(sources: &str) -> String {
    let sums = Sums::new(
        [
            ("product_count", "r.sign"),
            ("active_count", "r.sign * r.active"),
            (
                "in_stock_count",
                "CASE WHEN r.stock > 0 THEN r.sign ELSE 0 END",
            ),
            ("stock_sum", "r.sign * r.stock"),
            ("price_sum", "r.sign * r.price"),
            ("rating_sum", "r.sign * r.rating"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect(),
    );
    format!(
        "INSERT INTO product_summary AS s (category, brand, {columns}) \
         SELECT r.category, r.brand, {sums} FROM ({sources}) r \
         GROUP BY r.category, r.brand HAVING {nonzero} ORDER BY r.category, r.brand \
         ON CONFLICT (category, brand) DO UPDATE SET {set}",
        columns = sums.columns.join(", "),
        sums = sums.sums.join(", "),
        nonzero = sums.nonzero(),
        set = sums.set(),
    )
}

/// The price histogram's grouped upsert of `sources`: every row counts in
/// the whole table's, its category's and its brand's buckets of each
/// width.
fn price_apply(sources: &str) -> String {
    let sums = Sums::new(price_summary_counters());
    let widths: Vec<String> = PRICE_SUMMARY_WIDTHS
        .iter()
        .map(|w| format!("({w})"))
        .collect();
    format!(
        "INSERT INTO {PRICE_SUMMARY_TABLE} AS s (dim, name, width, bucket, {columns}) \
         SELECT d.dim, CASE d.dim WHEN 0 THEN '' WHEN 1 THEN r.category ELSE r.brand END, \
         w.width, r.price / w.width, {sums} \
         FROM ({sources}) r, (VALUES (0), (1), (2)) d (dim), (VALUES {widths}) w (width) \
         GROUP BY 1, 2, 3, 4 HAVING {nonzero} ORDER BY 1, 2, 3, 4 \
         ON CONFLICT (dim, name, width, bucket) DO UPDATE SET {set}",
        columns = sums.columns.join(", "),
        sums = sums.sums.join(", "),
        widths = widths.join(", "),
        nonzero = sums.nonzero(),
        set = sums.set(),
    )
}

/// The columns that make a product (a change of any is a change-log
/// entry), as the row triggers' `UPDATE OF` list named them.
const PRODUCT_COLUMNS: [&str; 10] = [
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price_cents",
    "stock_quantity",
    "rating_tenths",
    "is_active",
    "version",
];

/// `n`'s rows joined to their old state `o` that differ from it in any of
/// `columns` (or have no old row of their id).
fn changed_rows(columns: &[&str]) -> String {
    let old: Vec<String> = columns.iter().map(|c| format!("o.{c}")).collect();
    let new: Vec<String> = columns.iter().map(|c| format!("n.{c}")).collect();
    format!(
        "new_rows n LEFT JOIN old_rows o ON o.id = n.id \
         WHERE o.id IS NULL OR ({}) IS DISTINCT FROM ({})",
        old.join(", "),
        new.join(", ")
    )
}

/// A change-log insert of `op` entries with each row's whole state, from
/// `from` (rows aliased `n`).
fn changes_insert(op: &str, from: &str) -> String {
    format!(
        "INSERT INTO product_changes (op, product_id, version, product) \
         SELECT '{op}', n.id, n.version, \
         jsonb_build_object('id', n.id, 'sku', n.sku, 'name', n.name, \
             'description', n.description, 'category', n.category, 'brand', n.brand, \
             'price_cents', n.price_cents, 'stock_quantity', n.stock_quantity, \
             'rating_tenths', n.rating_tenths, 'is_active', n.is_active, \
             'created_at', n.created_at, 'updated_at', n.updated_at, 'version', n.version) \
         FROM {from} ORDER BY n.id"
    )
}

/// The vocabulary's insert of the words of `from` (rows aliased `n`), in
/// word order so concurrent writers cannot deadlock on shared new words.
/// The rows are chosen first (`MATERIALIZED`): unfenced, the planner
/// unnests every row's words before the join filters the rows out.
fn terms_insert(from: &str) -> String {
    format!(
        "WITH n AS MATERIALIZED (SELECT n.search_vector FROM {from}) \
         INSERT INTO search_terms (term) \
         SELECT DISTINCT t FROM n, unnest(tsvector_to_array(n.search_vector)) t \
         WHERE t !~ '[0-9]' ORDER BY t ON CONFLICT DO NOTHING"
    )
}

/// A statement trigger function: `insert`, `update` and `delete` run for
/// the statement's event (`None`: the function has no trigger for it).
fn function(name: &str, insert: &str, update: &str, delete: Option<&str>) -> String {
    let delete = delete
        .map(|d| format!("ELSIF TG_OP = 'DELETE' THEN\n            {d};\n        "))
        .unwrap_or_default();
    format!(
        "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {insert};
        ELSIF TG_OP = 'UPDATE' THEN
            {update};
        {delete}END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql"
    )
}

/// The statement triggers `{prefix}_{event}` that run `function`.
fn triggers(prefix: &str, function: &str, events: &[&str]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let referencing = match *event {
                "insert" => "NEW TABLE AS new_rows",
                "update" => "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                _ => "OLD TABLE AS old_rows",
            };
            format!(
                "CREATE TRIGGER {prefix}_{event} AFTER {} ON products REFERENCING {referencing} \
                 FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
                event.to_uppercase()
            )
        })
        .collect()
}

/// The row triggers this migration replaces, and their `CREATE` for `down`.
const ROW_TRIGGERS: [(&str, &str); 4] = [
    (
        "products_summary",
        "CREATE TRIGGER products_summary AFTER INSERT OR UPDATE OR DELETE ON products \
         FOR EACH ROW EXECUTE FUNCTION product_summary_trigger()",
    ),
    (
        "products_price_summary",
        "CREATE TRIGGER products_price_summary AFTER INSERT OR UPDATE OR DELETE ON products \
         FOR EACH ROW EXECUTE FUNCTION product_price_summary_trigger()",
    ),
    (
        "products_changes",
        "CREATE TRIGGER products_changes AFTER INSERT OR DELETE OR UPDATE OF sku, name, \
         description, category, brand, price_cents, stock_quantity, rating_tenths, is_active, \
         version ON products FOR EACH ROW EXECUTE FUNCTION product_changes_trigger()",
    ),
    (
        "products_search_terms",
        "CREATE TRIGGER products_search_terms AFTER INSERT OR UPDATE OF search_name, search_body \
         ON products FOR EACH ROW EXECUTE FUNCTION search_terms_trigger()",
    ),
];

const ALL: [&str; 3] = ["insert", "update", "delete"];

/// The statement triggers: (function name, its definition, trigger prefix,
/// events).
fn statement_triggers() -> Vec<(&'static str, String, &'static str, &'static [&'static str])> {
    let both = format!(
        "{} UNION ALL {}",
        sources("old_rows", -1),
        sources("new_rows", 1)
    );
    let inserted = sources("new_rows", 1);
    let deleted = sources("old_rows", -1);
    vec![
        (
            "product_summary_statement",
            function(
                "product_summary_statement",
                &summary_apply(&inserted),
                &summary_apply(&both),
                Some(&summary_apply(&deleted)),
            ),
            "products_summary",
            &ALL,
        ),
        (
            "product_price_summary_statement",
            function(
                "product_price_summary_statement",
                &price_apply(&inserted),
                &price_apply(&both),
                Some(&price_apply(&deleted)),
            ),
            "products_price_summary",
            &ALL,
        ),
        (
            "product_changes_statement",
            function(
                "product_changes_statement",
                &changes_insert("create", "new_rows n"),
                &changes_insert("update", &changed_rows(&PRODUCT_COLUMNS)),
                Some(
                    "INSERT INTO product_changes (op, product_id, version) \
                     SELECT 'delete', o.id, o.version FROM old_rows o ORDER BY o.id",
                ),
            ),
            "products_changes",
            &ALL,
        ),
        (
            "search_terms_statement",
            function(
                "search_terms_statement",
                &terms_insert("new_rows n"),
                &terms_insert(&changed_rows(&["search_vector"])),
                None,
            ),
            "products_search_terms",
            &["insert", "update"],
        ),
    ]
}

fn pg_up() -> Vec<String> {
    let mut v: Vec<String> = ROW_TRIGGERS
        .iter()
        .map(|(name, _)| format!("DROP TRIGGER IF EXISTS {name} ON products"))
        .collect();
    for (function, definition, prefix, events) in statement_triggers() {
        v.push(definition);
        for event in events {
            v.push(format!(
                "DROP TRIGGER IF EXISTS {prefix}_{event} ON products"
            ));
        }
        v.extend(triggers(prefix, function, events));
    }
    v
}

fn pg_down() -> Vec<String> {
    let mut v = Vec::new();
    for (function, _, prefix, events) in statement_triggers() {
        for event in events {
            v.push(format!(
                "DROP TRIGGER IF EXISTS {prefix}_{event} ON products"
            ));
        }
        v.push(format!("DROP FUNCTION IF EXISTS {function}()"));
    }
    for (name, create) in ROW_TRIGGERS {
        v.push(format!("DROP TRIGGER IF EXISTS {name} ON products"));
        v.push(create.to_owned());
    }
    v
}

async fn run(manager: &SchemaManager<'_>, statements: Vec<String>) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for sql in statements {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, pg_up()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, pg_down()).await
    }
}
