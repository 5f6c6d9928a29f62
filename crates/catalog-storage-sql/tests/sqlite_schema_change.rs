//! Regression: writes keep working on every pooled SQLite connection after
//! a schema change (a bulk load drops and recreates indexes; another
//! process may migrate). With FTS5-writing triggers beside the summary
//! triggers, the bundled SQLite failed the first write of each connection
//! after such a change ("no such table: products"); the adapter now writes
//! the FTS5 rows itself. Each write must also be searchable at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use catalog_domain::ports::PageSpec;
use catalog_domain::query::SortKey;
use catalog_domain::{
    Label, NewProduct, Price, ProductFilter, ProductReader, ProductWriter, Rating, SearchQuery, Sku,
};
use catalog_storage_sql::testing::SqliteScratch;
use sea_orm::ConnectionTrait;

fn product(sku: &str) -> NewProduct {
    NewProduct {
        sku: Sku::parse(sku).unwrap(),
        name: format!("Gadget {sku}"),
        description: "schema change survivor".into(),
        category: Label::parse("C").unwrap(),
        brand: Label::parse("B").unwrap(),
        price: Price::from_cents(100).unwrap(),
        stock_quantity: 1,
        rating: Rating::from_tenths(10).unwrap(),
        is_active: true,
    }
}

#[tokio::test]
async fn writes_survive_schema_changes_on_every_connection() {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    let other = sea_orm::Database::connect(&scratch.url).await.unwrap();
    let mut n = 0;
    for round in 0..3 {
        match round {
            0 => store.begin_bulk_load().await.unwrap(),
            1 => store.finish_bulk_load().await.unwrap(),
            _ => {
                other
                    .execute_unprepared("CREATE INDEX IF NOT EXISTS idx_extra ON products (brand)")
                    .await
                    .unwrap();
            }
        }
        // More writes than pooled connections, of every kind.
        for _ in 0..10 {
            n += 1;
            store
                .insert_batch(&[product(&format!("B-{n}"))])
                .await
                .unwrap();
            n += 1;
            let created = match store
                .create(&product(&format!("C-{n}")), None)
                .await
                .unwrap()
            {
                catalog_domain::Created::New(p) => p,
                other => panic!("unexpected {other:?}"),
            };
            let mut renamed = product(created.sku.as_str());
            renamed.name = format!("Renamed {n}");
            store.update(created.id, &renamed, None).await.unwrap();
        }
    }
    let filter = ProductFilter {
        search: Some(SearchQuery::parse("survivor").unwrap()),
        ..ProductFilter::default()
    };
    assert_eq!(
        store.count(&filter).await.unwrap(),
        60,
        "every write is searchable"
    );
    let renamed = ProductFilter {
        search: Some(SearchQuery::parse("renamed").unwrap()),
        ..ProductFilter::default()
    };
    let page = store
        .list(PageSpec {
            filter: &renamed,
            sort: &[SortKey::ID],
            after: None,
            offset: 0,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 30, "updates re-index the name");
    let gone = page[0].id;
    store.delete(gone, None).await.unwrap();
    assert_eq!(
        store.count(&renamed).await.unwrap(),
        29,
        "deletes leave the index"
    );
    scratch.remove();
}
