//! The search index following the change log of the SQL adapter, on
//! SQLite and on a scratch PostgreSQL database (skipped loudly when
//! absent, failing under CI): writes through the store reach the index at
//! the next catch-up; a transaction that takes its sequence number first
//! and commits last is never skipped; after concurrent writers stop, the
//! index equals the table; a bulk load makes the follower rebuild.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortKey, SortValue};
use catalog_domain::{
    ChangeLog, NewProduct, Price, Product, ProductFilter, ProductId, ProductReader, ProductWriter,
    SearchQuery, Sku,
};
use catalog_search_memory::Follower;
use catalog_storage_contract::dataset;
use catalog_storage_sql::SqlStore;
use catalog_storage_sql::testing::{PgScratch, SqliteScratch};
use rand::RngExt;
use sea_orm::{ConnectionTrait, TransactionTrait};

/// Every (id, version) of the table, by id.
async fn table(store: &SqlStore) -> Vec<(i64, i64)> {
    let all = ProductFilter::default();
    let sort = [SortKey::ID];
    let mut out = Vec::new();
    loop {
        let after = out
            .last()
            .map(|(id, _): &(i64, i64)| vec![SortValue::Int(*id)]);
        let page = store
            .list(PageSpec {
                filter: &all,
                sort: &sort,
                after: after.as_deref(),
                offset: 0,
                limit: 1000,
            })
            .await
            .unwrap();
        let done = page.len() < 1000;
        out.extend(page.iter().map(|p| (p.id.get(), p.version)));
        if done {
            return out;
        }
    }
}

/// The index holds exactly the table's products at their versions, and
/// counts a search as the database does.
async fn assert_index_equals_table(follower: &Follower, store: &SqlStore) {
    let rows = table(store).await;
    let (len, versions) = follower
        .read(|i| {
            (
                i.len(),
                rows.iter()
                    .map(|(id, _)| i.version_of(*id))
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap();
    assert_eq!(len, rows.len() as u64, "indexed products");
    for ((id, version), indexed) in rows.iter().zip(versions) {
        assert_eq!(indexed, Some(*version), "product {id}");
    }
    for words in ["widget", "lamp", "ever", "batch 3"] {
        let filter = ProductFilter {
            search: Some(SearchQuery::parse(words).unwrap()),
            ..ProductFilter::default()
        };
        let expected = store.count(&filter).await.unwrap();
        let indexed = follower.read(|i| i.matches(&filter).len()).unwrap();
        assert_eq!(indexed, expected, "matches of {words:?}");
    }
}

fn changed(p: &NewProduct, n: i64) -> NewProduct {
    let mut p = p.clone();
    p.stock_quantity = n % 50;
    p.price = Price::from_cents(100 + n % 10_000).unwrap();
    p.name = format!("{} renamed {}", p.name, n % 7);
    p
}

/// Every `step`-th product of `data` (ids in `data` order from 1) written
/// again as [`changed`] with `n = index * factor`.
async fn change_every(store: &SqlStore, data: &[NewProduct], step: usize, factor: i64) {
    for (i, p) in data.iter().enumerate().step_by(step) {
        let id = ProductId::new(i as i64 + 1).unwrap();
        store
            .update(id, &changed(p, i as i64 * factor), None)
            .await
            .unwrap();
    }
}

async fn writes_reach_the_index(store: &SqlStore) {
    let data = dataset();
    store.insert_batch(&data[..40]).await.unwrap();
    let follower = Follower::build(store, store).await.unwrap();
    assert_index_equals_table(&follower, store).await;

    let first = ProductId::new(1).unwrap();
    let p = store.get(first).await.unwrap().unwrap();
    store
        .update(first, &changed(&data[0], 3), Some(p.version))
        .await
        .unwrap();
    store
        .delete(ProductId::new(2).unwrap(), None)
        .await
        .unwrap();
    let mut fresh = data[41].clone();
    fresh.sku = Sku::parse("FOLLOW-1").unwrap();
    fresh.name = "Brand new lamp".into();
    store.create(&fresh, None).await.unwrap();

    let caught = follower.catch_up(store).await.unwrap();
    assert!(caught.applied >= 3, "{caught:?}");
    assert!(!caught.reload);
    assert_index_equals_table(&follower, store).await;
    // Nothing new. SQLite's cursor moved past the entries: nothing is
    // applied again. PostgreSQL's horizon is the cluster's oldest open
    // transaction (other tests' too), so entries above it may be read
    // again, which changes nothing.
    let again = follower.catch_up(store).await.unwrap();
    if store.backend() == catalog_storage_sql::Backend::Sqlite {
        assert_eq!(again.applied, 0, "{again:?}");
    }
    assert_index_equals_table(&follower, store).await;
}

/// `products_by_id_if_current` from the follower's cursor, retried after a
/// catch-up until the log reads quiet: on PostgreSQL the cursor is the
/// cluster's horizon, which other tests' open transactions hold back for a
/// moment (SQLite answers at once).
async fn rows_once_quiet(follower: &Follower, store: &SqlStore, ids: &[ProductId]) -> Vec<Product> {
    for _ in 0..200 {
        follower.catch_up(store).await.unwrap();
        let (_, cursor) = follower.read_at(|_| ()).unwrap();
        if let Some(rows) = store.products_by_id_if_current(ids, cursor).await.unwrap() {
            return rows;
        }
        assert_ne!(
            store.backend(),
            catalog_storage_sql::Backend::Sqlite,
            "SQLite's log is quiet right after a catch-up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the change log never read quiet after a catch-up");
}

/// The one-statement read that proves the index current: rows come back
/// only while the log holds nothing at or after the follower's cursor. A
/// write committed after the cursor was taken always makes it refuse, so
/// a page is never answered from an index that lacks a committed write.
async fn rows_if_current_need_a_quiet_log(store: &SqlStore) {
    let data = dataset();
    store.insert_batch(&data[..10]).await.unwrap();
    let follower = Follower::build(store, store).await.unwrap();
    let ids: Vec<ProductId> = [3, 1, 2].map(|i| ProductId::new(i).unwrap()).to_vec();

    let rows = rows_once_quiet(&follower, store, &ids).await;
    assert_eq!(
        rows,
        store.products_by_id(&ids).await.unwrap(),
        "the rows, by id"
    );
    let (_, cursor) = follower.read_at(|_| ()).unwrap();

    let first = ProductId::new(1).unwrap();
    store
        .update(first, &changed(&data[0], 5), None)
        .await
        .unwrap();
    assert_eq!(
        store.products_by_id_if_current(&ids, cursor).await.unwrap(),
        None,
        "a write after the cursor: the index must catch up first"
    );
    assert_eq!(
        store.products_by_id_if_current(&[], cursor).await.unwrap(),
        None,
        "no ids: no proof"
    );

    let rows = rows_once_quiet(&follower, store, &ids).await;
    let one = rows.iter().find(|p| p.id == first).unwrap();
    assert_eq!(one.version, 2, "the row as written");
    assert_eq!(
        follower.read(|i| i.version_of(1)).unwrap(),
        Some(2),
        "and the index has it"
    );

    // A delete after the cursor refuses too (its row is gone, its entry is not).
    let (_, cursor) = follower.read_at(|_| ()).unwrap();
    store
        .delete(ProductId::new(2).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        store.products_by_id_if_current(&ids, cursor).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn sqlite_rows_if_current_need_a_quiet_log() {
    on_sqlite(|store| async move { rows_if_current_need_a_quiet_log(&store).await }).await;
}

#[tokio::test]
async fn postgres_rows_if_current_need_a_quiet_log() {
    on_pg(|store| async move { rows_if_current_need_a_quiet_log(&store).await }).await;
}

async fn bulk_load_rebuilds(store: &SqlStore) {
    let follower = Follower::build(store, store).await.unwrap();
    assert_eq!(follower.read(|i| i.len()).unwrap(), 0);
    let data = dataset();
    let n = data.len() as u64;
    store
        .bulk_load(n, move |i| data[(i - 1) as usize].clone(), |_| {})
        .await
        .unwrap();
    // The follower reports the bulk load instead of applying it (its
    // owner drops it and builds anew) ...
    let caught = follower.catch_up(store).await.unwrap();
    assert!(caught.reload, "{caught:?}");
    assert_eq!(follower.read(|i| i.len()).unwrap(), 0, "nothing applied");
    // ... and keeps reporting it: it never answers again.
    assert!(follower.catch_up(store).await.unwrap().reload);
    // A new build starts after the reload entry.
    let rebuilt = Follower::build(store, store).await.unwrap();
    assert_index_equals_table(&rebuilt, store).await;
    assert!(!rebuilt.catch_up(store).await.unwrap().reload);
}

#[tokio::test]
async fn sqlite_writes_reach_the_index() {
    on_sqlite(|store| async move { writes_reach_the_index(&store).await }).await;
}

#[tokio::test]
async fn sqlite_bulk_load_rebuilds() {
    on_sqlite(|store| async move { bulk_load_rebuilds(&store).await }).await;
}

/// Runs `check` on a scratch SQLite database, removing it after.
async fn on_sqlite<F, Fut>(check: F)
where
    F: FnOnce(Arc<SqlStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    check(store.clone()).await;
    if let Ok(store) = Arc::try_unwrap(store) {
        let _ = store.close().await;
    }
    scratch.remove();
}

/// Runs `check` on a scratch PostgreSQL database, dropping it after.
async fn on_pg<F, Fut>(check: F)
where
    F: FnOnce(Arc<SqlStore>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let store = Arc::new(scratch.store().await);
    let outcome = tokio::spawn(check(store.clone())).await;
    drop(store);
    scratch.drop_db().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn postgres_writes_reach_the_index() {
    on_pg(|store| async move { writes_reach_the_index(&store).await }).await;
}

#[tokio::test]
async fn postgres_bulk_load_rebuilds() {
    on_pg(|store| async move { bulk_load_rebuilds(&store).await }).await;
}

/// A transaction updates product 1 (its change entry takes sequence
/// number n) and stays open while another updates product 2 and commits
/// (n + 1). A follower that remembered "last sequence read = n + 1" would
/// never read n; the horizon holds it back until it commits.
#[tokio::test]
async fn postgres_horizon_never_skips_a_late_commit() {
    on_pg(|store| async move {
        let data = dataset();
        store.insert_batch(&data[..10]).await.unwrap();
        let follower = Follower::build(&*store, &*store).await.unwrap();

        let late = store.connection().begin().await.unwrap();
        late.execute_unprepared(
            "UPDATE products SET stock_quantity = stock_quantity + 1000, version = version + 1 WHERE id = 1",
        )
        .await
        .unwrap();
        let two = ProductId::new(2).unwrap();
        store.update(two, &changed(&data[1], 9), None).await.unwrap();

        let caught = follower.catch_up(&*store).await.unwrap();
        assert!(caught.applied >= 1);
        let (v1, v2) = follower.read(|i| (i.version_of(1), i.version_of(2))).unwrap();
        assert_eq!((v1, v2), (Some(1), Some(2)), "the open transaction is not visible yet");

        late.commit().await.unwrap();
        let seqs = store
            .connection()
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT product_id, seq FROM product_changes WHERE op = 'update' ORDER BY seq",
            ))
            .await
            .unwrap();
        let order: Vec<i64> = seqs.iter().map(|r| r.try_get("", "product_id").unwrap()).collect();
        assert_eq!(order, vec![1, 2], "product 1's entry took the lower sequence number");

        follower.catch_up(&*store).await.unwrap();
        let v1 = follower.read(|i| i.version_of(1)).unwrap();
        assert_eq!(v1, Some(2), "the late commit reached the index");
        assert_index_equals_table(&follower, &store).await;
    })
    .await;
}

/// Four writers create, update and delete at random for a while; a
/// follower catches up in a loop meanwhile. Once they stop and it catches
/// up once more, the index equals the table.
#[tokio::test]
async fn postgres_concurrent_writers_then_index_equals_table() {
    on_pg(|store| async move {
        let data = dataset();
        store.insert_batch(&data).await.unwrap();
        let follower = Arc::new(Follower::build(&*store, &*store).await.unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let tail = {
            let (store, follower, stop) = (store.clone(), follower.clone(), stop.clone());
            tokio::spawn(async move {
                let mut rounds = 0;
                while !stop.load(Ordering::SeqCst) {
                    follower.catch_up(&*store).await.unwrap();
                    rounds += 1;
                }
                rounds
            })
        };
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (store, data) = (store.clone(), data.clone());
                tokio::spawn(async move {
                    // Drawn up front: the thread-local generator cannot
                    // cross an await.
                    let plan: Vec<(i64, u32)> = {
                        let mut rng = rand::rng();
                        (0..120)
                            .map(|_| {
                                (
                                    rng.random_range(1..=data.len() as i64),
                                    rng.random_range(0..10),
                                )
                            })
                            .collect()
                    };
                    for (n, (id, action)) in plan.into_iter().enumerate() {
                        let n = n as i64;
                        let id = ProductId::new(id).unwrap();
                        let base = &data[(id.get() - 1) as usize];
                        match action {
                            0 => {
                                let _ = store.delete(id, None).await;
                            }
                            1 => {
                                let mut p = changed(base, n);
                                p.sku = Sku::parse(&format!("W{w}-{n}")).unwrap();
                                store.create(&p, None).await.unwrap();
                            }
                            _ => {
                                let _ = store.update(id, &changed(base, n), None).await;
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        let rounds = tail.await.unwrap();
        assert!(rounds > 1, "the follower caught up while writers ran");
        follower.catch_up(&*store).await.unwrap();
        assert_index_equals_table(&follower, &store).await;
    })
    .await;
}

/// Deep pages sorted by one column come from the index (here from offset
/// 1 on) and equal the database's, filtered or not, with their totals,
/// before and after writes move products between them.
#[tokio::test]
async fn sqlite_deep_pages_from_the_index_equal_the_database() {
    use catalog_domain::query::SortField;
    use catalog_domain::search_index::Routed;
    use catalog_search_memory::SearchRouted;

    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    let data = dataset();
    store.insert_batch(&data).await.unwrap();
    let routed = SearchRouted::start_with(store.clone(), 1, None);
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    let via_index = Routed(routed.clone());
    let books = ProductFilter {
        in_stock: Some(true),
        ..ProductFilter::default()
    };
    let all = ProductFilter::default();
    let compare = |round: &'static str| {
        let (via_index, store) = (via_index.clone(), store.clone());
        let (books, all) = (books.clone(), all.clone());
        async move {
            for field in [
                SortField::Price,
                SortField::Rating,
                SortField::Name,
                SortField::Sku,
            ] {
                for descending in [false, true] {
                    let sort = [SortKey { field, descending }, SortKey::ID];
                    for filter in [&all, &books] {
                        for offset in [1u64, 9, 30, 61, 82] {
                            let page = PageSpec {
                                filter,
                                sort: &sort,
                                after: None,
                                offset,
                                limit: 7,
                            };
                            let (a, at) = via_index.list_counted(page).await.unwrap();
                            let (b, bt) = store.list_counted(page).await.unwrap();
                            let ids = |v: &[catalog_domain::Product]| {
                                v.iter().map(|p| p.id.get()).collect::<Vec<_>>()
                            };
                            assert_eq!(
                                ids(&a),
                                ids(&b),
                                "{round}: {field:?} desc={descending} offset {offset}"
                            );
                            assert_eq!(at, bt, "{round}: total");
                        }
                    }
                }
            }
        }
    };
    compare("built").await;
    change_every(&store, &data, 5, 31).await;
    store
        .delete(ProductId::new(3).unwrap(), None)
        .await
        .unwrap();
    compare("after writes").await;
    drop(via_index);
    drop(routed);
    scratch.remove();
}

/// A request's disjunctive facets answered in one index read equal the
/// database's, for searches and for filters no summary answers, before and
/// after writes (read at once: the routed store catches up first).
#[tokio::test]
async fn sqlite_facet_groups_from_the_index_equal_the_database() {
    use catalog_domain::facets::disjunctive;
    use catalog_domain::search_index::Routed;
    use catalog_search_memory::SearchRouted;

    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    let data = dataset();
    store.insert_batch(&data).await.unwrap();
    let routed = SearchRouted::start_with(store.clone(), 1, None);
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    let via_index = Routed(routed.clone());
    let filters = [
        ProductFilter {
            search: Some(SearchQuery::parse("shoe").unwrap()),
            ..ProductFilter::default()
        },
        ProductFilter {
            search: Some(SearchQuery::parse("shoe").unwrap()),
            in_stock: Some(true),
            min_price: Some(Price::from_cents(500).unwrap()),
            ..ProductFilter::default()
        },
        ProductFilter {
            in_stock: Some(true),
            min_price: Some(Price::from_cents(1_000).unwrap()),
            max_price: Some(Price::from_cents(8_000).unwrap()),
            ..ProductFilter::default()
        },
    ];
    let compare = |round: &'static str| {
        let (via_index, store, filters) = (via_index.clone(), store.clone(), filters.clone());
        async move {
            for filter in &filters {
                let requests = disjunctive(filter);
                let (at, mut a) = via_index.facet_groups(filter, &requests).await.unwrap();
                let (bt, mut b) = store.facet_groups(filter, &requests).await.unwrap();
                a.iter_mut().for_each(|g| g.sort());
                b.iter_mut().for_each(|g| g.sort());
                assert_eq!(at, bt, "{round}: total of {filter:?}");
                assert!(at > 0, "{round}: {filter:?} matches something");
                assert_eq!(a, b, "{round}: facets of {filter:?}");
            }
        }
    };
    compare("built").await;
    change_every(&store, &data, 3, 17).await;
    store
        .delete(ProductId::new(2).unwrap(), None)
        .await
        .unwrap();
    compare("after writes").await;
    drop(via_index);
    drop(routed);
    scratch.remove();
}

/// Pruning deletes the entries older than the retention and nothing else;
/// the head stays.
async fn prune_keeps_the_retention(store: &SqlStore, age_sql: &str) {
    use catalog_domain::ChangeLog;
    let data = dataset();
    for p in &data[..6] {
        store.create(p, None).await.unwrap();
    }
    let head = store.head().await.unwrap().expect("six entries");
    let before: i64 = count_changes(store).await;
    assert!(before >= 6, "{before}");
    // The three oldest entries age by a day.
    store
        .connection()
        .execute_unprepared(age_sql)
        .await
        .unwrap();
    let pruned = store
        .prune(std::time::Duration::from_secs(3_600))
        .await
        .unwrap();
    assert_eq!(pruned, 3);
    assert_eq!(count_changes(store).await, before - 3);
    assert_eq!(store.head().await.unwrap(), Some(head));
    assert_eq!(
        store
            .prune(std::time::Duration::from_secs(3_600))
            .await
            .unwrap(),
        0,
        "nothing older is left"
    );
}

async fn count_changes(store: &SqlStore) -> i64 {
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.connection().get_database_backend(),
            "SELECT CAST(COUNT(*) AS TEXT) AS n FROM product_changes",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "n").unwrap().parse().unwrap()
}

#[tokio::test]
async fn sqlite_prune_keeps_the_retention() {
    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    prune_keeps_the_retention(
        &store,
        "UPDATE product_changes SET changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day') \
         WHERE seq IN (SELECT seq FROM product_changes ORDER BY seq LIMIT 3)",
    )
    .await;
    let _ = store.close().await;
    scratch.remove();
}

#[tokio::test]
async fn postgres_prune_keeps_the_retention() {
    on_pg(|store| async move {
        prune_keeps_the_retention(
            &store,
            "UPDATE product_changes SET changed_at = now() - interval '1 day' \
             WHERE seq IN (SELECT seq FROM product_changes ORDER BY seq LIMIT 3)",
        )
        .await
    })
    .await;
}

/// Through the router: a bulk load turns the index to `Building` (the SQL
/// path answers meanwhile, with the loaded products) and a new index is
/// built in the background; /health's state reads ready with no lag after.
#[tokio::test]
async fn sqlite_bulk_load_rebuilds_in_the_background() {
    use catalog_domain::IndexState;
    use catalog_domain::search_index::Routed;
    use catalog_search_memory::SearchRouted;

    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    let data = dataset();
    store.insert_batch(&data[..5]).await.unwrap();
    let routed = SearchRouted::start(store.clone());
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    let via_index = Routed(routed.clone());
    let word = ProductFilter {
        search: Some(SearchQuery::parse(&data[0].name).unwrap()),
        ..ProductFilter::default()
    };
    let before = via_index.count(&word).await.unwrap();
    assert!(before >= 1);

    let n = data.len() as u64;
    let loaded = data.clone();
    store
        .bulk_load(n, move |i| loaded[(i - 1) as usize].clone(), |_| {})
        .await
        .unwrap();
    // The next read sees the load: from the database while the index
    // rebuilds, or from the new index.
    let after = via_index.count(&word).await.unwrap();
    assert_eq!(after, store.count(&word).await.unwrap());
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    assert_eq!(via_index.count(&word).await.unwrap(), after);
    match routed.state().await {
        IndexState::Ready { products, .. } => assert_eq!(products, n),
        IndexState::Building => panic!("ready() said the index answers"),
    }
    let state = routed.state().await;
    assert_eq!(state.lag(), Some(0), "{state:?}");
    drop(via_index);
    drop(routed);
    if let Ok(store) = Arc::try_unwrap(store) {
        let _ = store.close().await;
    }
    scratch.remove();
}

/// `catalog verify`'s index check: the index agrees with the database on
/// the dataset, and an index that lost a product is caught.
#[tokio::test]
async fn sqlite_cross_check_agrees_and_catches_a_lossy_index() {
    use catalog_domain::facets::{FacetField, FacetKey};
    use catalog_domain::search_index::{IndexRefused, cross_check};
    use catalog_domain::{Product, SearchIndex, StatsRow};
    use catalog_search_memory::Index;

    /// The real index, except that it never holds product 3.
    struct Lossy(Index);
    impl SearchIndex for Lossy {
        fn empty() -> Self {
            Lossy(Index::new())
        }
        fn upsert(&mut self, p: &Product) -> Result<(), IndexRefused> {
            if p.id.get() == 3 {
                return Ok(());
            }
            SearchIndex::upsert(&mut self.0, p)
        }
        fn remove(&mut self, id: ProductId) {
            SearchIndex::remove(&mut self.0, id)
        }
        fn len(&self) -> u64 {
            SearchIndex::len(&self.0)
        }
        fn version_of(&self, id: ProductId) -> Option<i64> {
            SearchIndex::version_of(&self.0, id)
        }
        fn page(&self, page: &PageSpec<'_>) -> (Vec<ProductId>, u64) {
            SearchIndex::page(&self.0, page)
        }
        fn count(&self, filter: &ProductFilter) -> u64 {
            SearchIndex::count(&self.0, filter)
        }
        fn stats(&self, filter: &ProductFilter) -> StatsRow {
            SearchIndex::stats(&self.0, filter)
        }
        fn facet_counts(&self, filter: &ProductFilter, field: FacetField) -> Vec<(FacetKey, u64)> {
            SearchIndex::facet_counts(&self.0, filter, field)
        }
        fn typo_candidates(&self, word: &str, bound: usize) -> Vec<String> {
            SearchIndex::typo_candidates(&self.0, word, bound)
        }
        fn memory_bytes(&self) -> usize {
            SearchIndex::memory_bytes(&self.0)
        }
    }

    let scratch = SqliteScratch::create();
    let store = scratch.store().await;
    store.insert_batch(&dataset()).await.unwrap();
    let good = cross_check::<Index, _>(&store, 40).await.unwrap();
    assert!(good.questions >= 40, "{good:?}");
    assert!(good.disagreements.is_empty(), "{:?}", good.disagreements);
    let bad = cross_check::<Lossy, _>(&store, 40).await.unwrap();
    assert!(
        bad.disagreements.iter().any(|d| d.question == "products"),
        "{:?}",
        bad.disagreements
    );
    let _ = store.close().await;
    scratch.remove();
}

/// Statistics and facets of filters no summary answers come from the index
/// and equal the database's; those a summary answers stay on the database.
#[tokio::test]
async fn sqlite_aggregates_without_search_from_the_index_equal_the_database() {
    use catalog_domain::facets::FacetField;
    use catalog_domain::search_index::Routed;
    use catalog_domain::{Price, Rating};
    use catalog_search_memory::SearchRouted;

    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    store.insert_batch(&dataset()).await.unwrap();
    let routed = SearchRouted::start(store.clone());
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    let via_index = Routed(routed.clone());
    let filters = [
        ProductFilter::default(),
        ProductFilter {
            min_price: Some(Price::from_cents(1_000).unwrap()),
            max_price: Some(Price::from_cents(60_000).unwrap()),
            min_rating: Some(Rating::from_tenths(30).unwrap()),
            ..ProductFilter::default()
        },
        ProductFilter {
            in_stock: Some(true),
            is_active: Some(false),
            min_price: Some(Price::from_cents(2_550).unwrap()),
            ..ProductFilter::default()
        },
    ];
    for filter in &filters {
        assert_eq!(
            via_index.stats(filter).await.unwrap(),
            store.stats(filter).await.unwrap(),
            "{filter:?}"
        );
        for field in [
            FacetField::Category,
            FacetField::Brand,
            FacetField::InStock,
            FacetField::PriceBucket,
            FacetField::RatingFloor,
        ] {
            let mut a = via_index.facet_counts(filter, field).await.unwrap();
            let mut b = store.facet_counts(filter, field).await.unwrap();
            a.retain(|(_, n)| *n > 0);
            b.retain(|(_, n)| *n > 0);
            a.sort();
            b.sort();
            assert_eq!(a, b, "{field:?} of {filter:?}");
        }
    }
    // The first filter a summary answers; the others it does not.
    assert!(store.aggregates_cheaply(&filters[0], None));
    assert!(!store.aggregates_cheaply(&filters[1], None));
    drop(via_index);
    drop(routed);
    scratch.remove();
}

/// Pages of a category with a brand, and of one label under an order no
/// composite index serves, are the index's once it is ready (routed by
/// cost: docs/performance.md), and equal the database's, row for row and
/// total, at several offsets, before and after writes.
#[tokio::test]
async fn sqlite_label_pages_from_the_index_equal_the_database() {
    use catalog_domain::query::SortField;
    use catalog_domain::search_index::Routed;
    use catalog_domain::{Label, ProductReader};
    use catalog_search_memory::SearchRouted;

    let scratch = SqliteScratch::create();
    let store = Arc::new(scratch.store().await);
    let data = dataset();
    store.insert_batch(&data).await.unwrap();
    let routed = SearchRouted::start(store.clone());
    assert!(routed.ready(std::time::Duration::from_secs(30)).await);
    let via_index = Routed(routed.clone());
    let (category, brand) = (data[0].category.clone(), data[0].brand.clone());
    let label = |s: &Label| Label::compared(s.as_str()).unwrap();
    let both = ProductFilter {
        categories: vec![label(&category)],
        brands: vec![label(&brand)],
        ..ProductFilter::default()
    };
    let one = ProductFilter {
        brands: vec![label(&brand)],
        ..ProductFilter::default()
    };
    let compare = |round: &'static str| {
        let (via_index, store) = (via_index.clone(), store.clone());
        let (both, one) = (both.clone(), one.clone());
        async move {
            for field in [
                SortField::Name,
                SortField::Rating,
                SortField::CreatedAt,
                SortField::Id,
            ] {
                for descending in [false, true] {
                    let sort = [SortKey { field, descending }, SortKey::ID];
                    let sort = if field == SortField::Id {
                        &sort[..1]
                    } else {
                        &sort[..]
                    };
                    for filter in [&both, &one] {
                        for offset in [0u64, 2, 5] {
                            let page = PageSpec {
                                filter,
                                sort,
                                after: None,
                                offset,
                                limit: 4,
                            };
                            let (a, at) = via_index.list_counted(page).await.unwrap();
                            let (b, bt) = store.list_counted(page).await.unwrap();
                            let ids = |v: &[catalog_domain::Product]| {
                                v.iter().map(|p| p.id.get()).collect::<Vec<_>>()
                            };
                            assert_eq!(
                                ids(&a),
                                ids(&b),
                                "{round}: {field:?} desc={descending} offset {offset} {filter:?}"
                            );
                            assert_eq!(at, bt, "{round}: total");
                            assert_eq!(
                                via_index.count(filter).await.unwrap(),
                                store.count(filter).await.unwrap()
                            );
                        }
                    }
                }
            }
        }
    };
    compare("built").await;
    change_every(&store, &data, 3, 17).await;
    compare("after writes").await;
    scratch.remove();
}
