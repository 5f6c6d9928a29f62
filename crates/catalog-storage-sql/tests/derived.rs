//! `SqlStore::derived_drift` and `SqlStore::repair_derived` (`catalog
//! verify`): after ordinary writes every derived table agrees with the
//! products table; a broken one is named, and the repair makes it agree
//! again. On SQLite and on PostgreSQL.
//!
//! PostgreSQL is skipped loudly when absent; fails instead under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use catalog_domain::ports::Created;
use catalog_domain::{Label, NewProduct, Price, ProductWriter, Rating, Sku};
use catalog_storage_sql::testing::{PgScratch, SqliteScratch};
use catalog_storage_sql::{Backend, Drift, SqlStore};
use sea_orm::ConnectionTrait;

fn product(i: usize) -> NewProduct {
    NewProduct {
        sku: Sku::parse(&format!("DRIFT-{i:05}")).unwrap(),
        name: format!("Drift lamp {i}"),
        description: format!("A lamp numbered {i} for the drift check"),
        category: Label::parse(&format!("Category {}", i % 3)).unwrap(),
        brand: Label::parse(&format!("Brand {}", i % 4)).unwrap(),
        price: Price::from_cents(150 + 997 * i as i64).unwrap(),
        stock_quantity: (i % 3) as i64,
        rating: Rating::from_tenths((i * 7 % 51) as i64).unwrap(),
        is_active: !i.is_multiple_of(5),
    }
}

fn tables(drift: &[Drift]) -> Vec<&'static str> {
    drift.iter().map(|d| d.table).collect()
}

async fn exec(store: &SqlStore, sql: &str) {
    store.connection().execute_unprepared(sql).await.unwrap();
}

/// Writes of every kind, then drift injected table by table, each named
/// by the check and undone by the repair.
async fn drift_is_found_and_repaired(store: &SqlStore, search_table: &'static str) {
    store.migrate().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        match store.create(&product(i), None).await.unwrap() {
            Created::New(p) => ids.push(p.id),
            Created::Replayed { .. } => panic!("no idempotency key was sent"),
        }
    }
    for (n, id) in ids.iter().take(10).enumerate() {
        store.update(*id, &product(100 + n), None).await.unwrap();
    }
    for id in &ids[30..] {
        store.delete(*id, None).await.unwrap();
    }
    assert_eq!(
        store.derived_drift().await.unwrap(),
        vec![],
        "the triggers kept every derived table"
    );

    exec(
        store,
        "UPDATE product_summary SET stock_sum = stock_sum + 1 \
         WHERE category = 'Category 1' AND brand = 'Brand 1'",
    )
    .await;
    let drift = store.derived_drift().await.unwrap();
    assert_eq!(
        drift,
        vec![Drift {
            table: "product_summary",
            extra: 1,
            missing: 1
        }]
    );

    // A histogram row for a bucket no product is in.
    exec(
        store,
        "INSERT INTO product_price_summary (dim, name, width, bucket, product_count) \
         VALUES (0, '', 100, 999999, 1)",
    )
    .await;
    let drift = store.derived_drift().await.unwrap();
    assert_eq!(tables(&drift), ["product_summary", "product_price_summary"]);
    assert_eq!((drift[1].extra, drift[1].missing), (1, 0));

    // A search index entry that no longer matches its product.
    let first = ids[0];
    match store.backend() {
        Backend::Postgres => {
            exec(
                store,
                &format!(
                    "UPDATE products SET search_vector = to_tsvector('simple', 'lamp') \
                     WHERE id = {}",
                    first.get()
                ),
            )
            .await
        }
        Backend::Sqlite => {
            exec(
                store,
                &format!("DELETE FROM products_fts WHERE rowid = {}", first.get()),
            )
            .await
        }
    }
    let drift = store.derived_drift().await.unwrap();
    assert_eq!(
        tables(&drift),
        ["product_summary", "product_price_summary", search_table]
    );

    store.repair_derived().await.unwrap();
    assert_eq!(store.derived_drift().await.unwrap(), vec![], "repaired");
    // A zero row the triggers left behind is not drift.
    store.delete(ids[10], None).await.unwrap();
    assert_eq!(store.derived_drift().await.unwrap(), vec![]);
}

#[tokio::test]
async fn sqlite_drift_is_found_and_repaired() {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    drift_is_found_and_repaired(&store, "products_fts").await;
    store.close().await.unwrap();
    scratch.remove();
}

#[tokio::test]
async fn postgres_drift_is_found_and_repaired() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = scratch.store().await;
    drift_is_found_and_repaired(&store, "products.search_vector").await;
    store.close().await.unwrap();
    scratch.drop_db().await;
}

/// The change log's entries of each operation.
async fn change_counts(store: &SqlStore) -> (i64, i64, i64) {
    let mut counts = [0i64; 3];
    for (i, op) in ["create", "update", "delete"].into_iter().enumerate() {
        let row = store
            .connection()
            .query_one_raw(sea_orm::Statement::from_string(
                store.connection().get_database_backend(),
                format!("SELECT count(*) FROM product_changes WHERE op = '{op}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        counts[i] = row.try_get_by_index::<i64>(0).unwrap();
    }
    (counts[0], counts[1], counts[2])
}

/// Statements of many rows (a bulk upsert, an operator's `UPDATE` and
/// `DELETE`) keep every derived table exact and log one change per
/// product they changed, none for a row they left as it was. On
/// PostgreSQL these are statement triggers over transition tables
/// (migration 15), on SQLite row triggers.
async fn many_row_statements_keep_derived_tables(store: &SqlStore) {
    store.migrate().await.unwrap();
    let first: Vec<NewProduct> = (0..40).map(product).collect();
    store.upsert_batch(&first, None).await.unwrap();
    assert_eq!(change_counts(store).await, (40, 0, 0));
    assert_eq!(store.derived_drift().await.unwrap(), vec![]);

    // 10 unchanged, 10 with a new price, 10 renamed, 10 new.
    let mut second: Vec<NewProduct> = first[..30].to_vec();
    for p in &mut second[10..20] {
        p.price = Price::from_cents(p.price.cents() + 12_345).unwrap();
    }
    for p in &mut second[20..30] {
        p.name = format!("{} renamed zyxwvut", p.name);
    }
    second.extend((100..110).map(product));
    store.upsert_batch(&second, None).await.unwrap();
    assert_eq!(change_counts(store).await, (50, 20, 0));
    assert_eq!(
        store.derived_drift().await.unwrap(),
        vec![],
        "after a batch"
    );

    // An operator's statements: half the rows moved to another category
    // and price bucket, a no-op rewrite of the search columns, a delete.
    exec(
        store,
        "UPDATE products SET category = 'Category 9', price_cents = price_cents + 250, \
         version = version + 1 WHERE id % 2 = 0",
    )
    .await;
    assert_eq!(change_counts(store).await, (50, 45, 0));
    exec(store, "UPDATE products SET search_name = search_name").await;
    assert_eq!(change_counts(store).await, (50, 45, 0), "nothing changed");
    match store.backend() {
        Backend::Postgres => exec(store, "DELETE FROM products WHERE id % 3 = 0").await,
        // SQLite's full-text table is the adapter's to keep, not a
        // trigger's: deletes go through it.
        Backend::Sqlite => {
            for id in (3..=50).step_by(3) {
                let id = catalog_domain::ProductId::new(id).unwrap();
                store.delete(id, None).await.unwrap();
            }
        }
    }
    assert_eq!(change_counts(store).await, (50, 45, 16));
    assert_eq!(
        store.derived_drift().await.unwrap(),
        vec![],
        "after an operator's statements"
    );
}

#[tokio::test]
async fn sqlite_many_row_statements_keep_derived_tables() {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    many_row_statements_keep_derived_tables(&store).await;
    store.close().await.unwrap();
    scratch.remove();
}

#[tokio::test]
async fn postgres_many_row_statements_keep_derived_tables() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = scratch.store().await;
    many_row_statements_keep_derived_tables(&store).await;
    store.close().await.unwrap();
    scratch.drop_db().await;
}
