//! The contract checks. Each takes a fresh, empty store, seeds it with
//! [`dataset`] (except the empty-store check) and compares every answer with
//! the [`reference`](crate::reference) computed over the full product set the
//! adapter itself returned, so adapter-assigned ids and timestamps need no
//! prediction.

use std::collections::BTreeSet;
use std::time::Duration;

use catalog_domain::error::error_chain;
use catalog_domain::ports::PageSpec;
use catalog_domain::query::{resolve_sort, sort_values};
use catalog_domain::{
    ListParams, NewProduct, Product, ProductFilter, ProductId, ProductStore, SearchQuery, Sku,
    SortField, SortKey, SortValue, StatsRow, StorageError, ValidationErrors,
};
use chrono::{DateTime, Utc};

use crate::dataset;
use crate::reference;

/// Insert batch size while seeding: several batches, so timestamps differ
/// between batches (and may tie within one).
const SEED_CHUNK: usize = 20;
/// Page size of the pagination checks: does not divide the dataset.
const PAGE: u64 = 7;
/// A limit larger than any result.
const ALL: u64 = 10_000;

// ---------------------------------------------------------------- helpers

fn fail(what: &str, e: &StorageError) -> ! {
    panic!("{what} failed: {}", error_chain(e))
}

async fn list(
    store: &dyn ProductStore,
    filter: &ProductFilter,
    sort: &[SortKey],
    after: Option<&[SortValue]>,
    offset: u64,
    limit: u64,
) -> Vec<Product> {
    let page = PageSpec {
        filter,
        sort,
        after,
        offset,
        limit,
    };
    store.list(page).await.unwrap_or_else(|e| fail("list", &e))
}

/// Every product, by id.
async fn all_products(store: &dyn ProductStore) -> Vec<Product> {
    list(
        store,
        &ProductFilter::default(),
        &[SortKey::ID],
        None,
        0,
        ALL,
    )
    .await
}

/// Seeds the dataset in several batches and returns the stored products by id.
async fn seed(store: &dyn ProductStore) -> Vec<Product> {
    let data = dataset();
    for (i, chunk) in data.chunks(SEED_CHUNK).enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let inserted = store
            .insert_batch(chunk)
            .await
            .unwrap_or_else(|e| fail("insert_batch", &e));
        assert_eq!(
            inserted,
            chunk.len() as u64,
            "insert_batch of {} products with fresh skus must insert them all",
            chunk.len()
        );
    }
    let all = all_products(store).await;
    assert_eq!(all.len(), data.len(), "listing everything after seeding");
    all
}

fn skus(rows: &[Product]) -> Vec<&str> {
    rows.iter().map(|p| p.sku.as_str()).collect()
}

fn sku_set(rows: &[Product]) -> BTreeSet<&str> {
    rows.iter().map(|p| p.sku.as_str()).collect()
}

/// Same rows in the same order (reported by sku), and equal field by field.
fn assert_same_rows(got: &[Product], want: &[Product], what: &str) {
    assert_eq!(
        skus(got),
        skus(want),
        "{what}: rows (by sku) differ from the reference"
    );
    assert!(
        got == want,
        "{what}: same rows, but some field differs from the listing by id"
    );
}

/// A filter from list query parameters (`category=Books&in_stock=true`),
/// parsed by the domain as the HTTP edge parses it.
fn parse_filter(query: &str) -> ProductFilter {
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let mut errors = ValidationErrors::new();
    let filter = ListParams::new(&pairs).filter(&mut errors);
    assert!(errors.is_empty(), "filter {query:?}: {errors}");
    filter
}

fn key(field: SortField, descending: bool) -> SortKey {
    SortKey { field, descending }
}

fn sort_label(sort: &[SortKey]) -> String {
    sort.iter()
        .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field.name()))
        .collect::<Vec<_>>()
        .join(",")
}

fn search(raw: &str) -> SearchQuery {
    SearchQuery::parse(raw).expect("valid search")
}

fn searching(raw: &str) -> ProductFilter {
    ProductFilter {
        search: Some(search(raw)),
        ..ProductFilter::default()
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// Every public field ascending and descending, and a few multi-key sorts,
/// each completed with the id tie-breaker.
fn sorts() -> Vec<Vec<SortKey>> {
    let mut out = Vec::new();
    for field in SortField::PUBLIC {
        for descending in [false, true] {
            out.push(resolve_sort(Some(vec![key(field, descending)]), false));
        }
    }
    for keys in [
        vec![key(SortField::Category, false), key(SortField::Price, true)],
        vec![
            key(SortField::Brand, true),
            key(SortField::Rating, false),
            key(SortField::Name, false),
        ],
        vec![
            key(SortField::Price, false),
            key(SortField::CreatedAt, true),
        ],
        vec![
            key(SortField::StockQuantity, true),
            key(SortField::Sku, false),
        ],
        vec![key(SortField::Rating, false), key(SortField::Id, true)],
    ] {
        out.push(resolve_sort(Some(keys), false));
    }
    out
}

/// The default order of a search.
fn relevance() -> Vec<SortKey> {
    resolve_sort(None, true)
}

/// The filters the sort and pagination checks run under, as query strings.
const PAGED_FILTERS: [&str; 3] = [
    "",
    "category=Garden&category=Électronique&is_active=true",
    "search=shoe",
];

// ---------------------------------------------------------------- checks

/// Reads of an empty store: nothing listed, zero counts, stats with zero
/// sums and no min/max, no facets.
pub async fn empty_store_reads_nothing(store: &dyn ProductStore) {
    let any = ProductFilter::default();
    assert!(
        all_products(store).await.is_empty(),
        "an empty store lists nothing"
    );
    let searched = list(store, &searching("shoe"), &relevance(), None, 0, ALL).await;
    assert!(searched.is_empty(), "an empty store finds nothing");
    assert_eq!(
        store
            .count(&any)
            .await
            .unwrap_or_else(|e| fail("count", &e)),
        0
    );
    assert_eq!(
        store
            .count_all()
            .await
            .unwrap_or_else(|e| fail("count_all", &e)),
        0
    );
    assert_eq!(
        store
            .stats(&any)
            .await
            .unwrap_or_else(|e| fail("stats", &e)),
        StatsRow::default(),
        "stats of an empty store: zero counts and sums, no min/max"
    );
    assert!(
        store
            .categories()
            .await
            .unwrap_or_else(|e| fail("categories", &e))
            .is_empty()
    );
    assert!(
        store
            .brands()
            .await
            .unwrap_or_else(|e| fail("brands", &e))
            .is_empty()
    );
    let one = ProductId::new(1).expect("valid id");
    assert!(
        store
            .get(one)
            .await
            .unwrap_or_else(|e| fail("get", &e))
            .is_none()
    );
}

/// `insert_batch` inserts every fresh sku, returns how many it inserted,
/// hands out positive ids increasing in insertion order, stores every field
/// as given and skips (without failing or overwriting) a sku already taken,
/// by an earlier batch or earlier in the same batch.
pub async fn insert_batch_counts_and_skips_taken_skus(store: &dyn ProductStore) {
    let empty = store
        .insert_batch(&[])
        .await
        .unwrap_or_else(|e| fail("insert_batch(&[])", &e));
    assert_eq!(empty, 0, "an empty batch inserts nothing");

    let data = dataset();
    let all = seed(store).await;
    let count_all = store
        .count_all()
        .await
        .unwrap_or_else(|e| fail("count_all", &e));
    assert_eq!(count_all, data.len() as u64, "count_all after seeding");

    assert!(all.iter().all(|p| p.id.get() > 0), "ids are positive");
    for (p, new) in all.iter().zip(&data) {
        assert_eq!(
            p.sku, new.sku,
            "ids increase in insertion order: by id, the skus come in dataset order"
        );
        let stored = NewProduct {
            sku: p.sku.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            category: p.category.clone(),
            brand: p.brand.clone(),
            price: p.price,
            stock_quantity: p.stock_quantity,
            rating: p.rating,
            is_active: p.is_active,
        };
        assert_eq!(
            &stored,
            new,
            "product {} is stored as given",
            new.sku.as_str()
        );
    }
    assert!(
        all.iter().any(|p| p.sku.as_str() == "AB-LOWER"),
        "skus are stored upper-case"
    );

    let max_id = all.iter().map(|p| p.id.get()).max().expect("seeded");
    let fresh = |sku: &str, name: &str| NewProduct {
        sku: Sku::parse(sku).expect("valid sku"),
        name: name.to_string(),
        ..data[0].clone()
    };
    let taken = NewProduct {
        name: "Must not overwrite".to_string(),
        ..data[5].clone()
    };
    let batch = vec![
        fresh("NEW-0001", "First new"),
        taken.clone(),
        fresh("NEW-0002", "Second new"),
        fresh("new-0001", "Same sku again in the batch"),
    ];
    let inserted = store
        .insert_batch(&batch)
        .await
        .unwrap_or_else(|e| fail("insert_batch", &e));
    assert_eq!(
        inserted, 2,
        "a batch of 2 fresh skus, one taken by an earlier batch and one repeated within the batch"
    );
    let count_all = store
        .count_all()
        .await
        .unwrap_or_else(|e| fail("count_all", &e));
    assert_eq!(
        count_all,
        data.len() as u64 + 2,
        "count_all after the second batch"
    );

    let after = all_products(store).await;
    let new_rows: Vec<&Product> = after.iter().filter(|p| p.id.get() > max_id).collect();
    let new_names: Vec<(&str, &str)> = new_rows
        .iter()
        .map(|p| (p.sku.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        new_names,
        vec![("NEW-0001", "First new"), ("NEW-0002", "Second new")],
        "the second batch's rows, with ids above every earlier id, in insertion order"
    );
    let original = after
        .iter()
        .find(|p| p.sku == data[5].sku)
        .expect("the product with the taken sku is still there");
    assert_eq!(
        original.name, data[5].name,
        "a skipped row does not overwrite the stored one"
    );

    let again = store
        .insert_batch(&[taken])
        .await
        .unwrap_or_else(|e| fail("insert_batch", &e));
    assert_eq!(again, 0, "a batch of only taken skus inserts nothing");
    let count_all = store
        .count_all()
        .await
        .unwrap_or_else(|e| fail("count_all", &e));
    assert_eq!(
        count_all,
        data.len() as u64 + 2,
        "count_all unchanged by a skipped batch"
    );
}

/// `get` returns exactly the listed product (timestamps included), `None`
/// for an unknown id; timestamps are UTC, whole microseconds, set at insert.
pub async fn get_returns_the_listed_product(store: &dyn ProductStore) {
    let before = Utc::now();
    let all = seed(store).await;
    let after = Utc::now();
    // Generous: the database's clock may not be ours, but a time-zone
    // mix-up would be hours off.
    let slack = chrono::Duration::minutes(10);
    for p in &all {
        let got = store.get(p.id).await.unwrap_or_else(|e| fail("get", &e));
        assert_eq!(
            got.as_ref(),
            Some(p),
            "get({}) equals the listed product",
            p.id.get()
        );
        assert!(
            p.created_at <= p.updated_at,
            "{}: created_at <= updated_at",
            p.sku.as_str()
        );
        for (what, t) in [("created_at", p.created_at), ("updated_at", p.updated_at)] {
            assert_eq!(
                t.timestamp_subsec_nanos() % 1_000,
                0,
                "{}: {what} {t} is whole microseconds",
                p.sku.as_str()
            );
            assert!(
                t >= before - slack && t <= after + slack,
                "{}: {what} {t} is the insert time (between {before} and {after}), in UTC",
                p.sku.as_str()
            );
        }
    }
    let max_id = all.iter().map(|p| p.id.get()).max().expect("seeded");
    for missing in [max_id + 1, max_id + 1_000, i64::MAX] {
        let id = ProductId::new(missing).expect("valid id");
        let got = store.get(id).await.unwrap_or_else(|e| fail("get", &e));
        assert!(got.is_none(), "get({missing}) of an unknown id is None");
    }
}

/// `list` (by id) and `count` under each filter alone and combined match
/// [`ProductFilter::matches`].
pub async fn filters_match_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    // (query string, whether the dataset has no match for it)
    let cases: [(&str, bool); 36] = [
        ("", false),
        ("category=Books", false),
        ("category=books", false),
        ("category=Électronique", false),
        ("category=Books&category=Toys", false),
        ("category=Garden&category=Nope", false),
        ("category=Nope", true),
        ("category=garden", true),
        ("category=Zebra", true),
        ("category=Electr%", true),
        ("brand=Acme", false),
        ("brand=acme&brand=Ümlaut Works", false),
        ("min_price=25.00", false),
        ("max_price=25.00", false),
        ("min_price=25&max_price=25", false),
        ("max_price=0", false),
        ("min_price=0", false),
        ("min_price=1000000", false),
        ("max_price=1000000", false),
        ("min_price=10&max_price=199.99", false),
        ("min_price=25.01&max_price=25.99", true),
        ("min_rating=0", false),
        ("min_rating=3.0", false),
        ("min_rating=5", false),
        ("in_stock=true", false),
        ("in_stock=false", false),
        ("is_active=true", false),
        ("is_active=false", false),
        ("search=wireless", false),
        ("search=shoe&in_stock=true", false),
        ("category=Garden&is_active=false", false),
        ("brand=Zeta&max_price=25&in_stock=true", false),
        (
            "category=Books&category=books&min_rating=2.5&is_active=true",
            false,
        ),
        (
            "category=Électronique&category=Electronics&brand=Acme&brand=Globex&brand=Initech\
             &min_price=49.99&max_price=199.99&min_rating=3.8&in_stock=true&is_active=true\
             &search=wireless",
            false,
        ),
        ("min_price=1000000&in_stock=false&is_active=true", true),
        ("category=Books&brand=Zeta&max_price=0", true),
    ];
    for (query, none) in cases {
        let filter = &parse_filter(query);
        let page = PageSpec {
            filter,
            sort: &[SortKey::ID],
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, page);
        assert_eq!(
            want.is_empty(),
            none,
            "{query:?}: the dataset no longer exercises this case (reference found {})",
            want.len()
        );
        let got = list(store, filter, &[SortKey::ID], None, 0, ALL).await;
        assert_same_rows(&got, &want, &format!("list with {query:?}"));
        let count = store
            .count(filter)
            .await
            .unwrap_or_else(|e| fail("count", &e));
        assert_eq!(
            count,
            reference::count(&all, filter),
            "count with {query:?}"
        );
    }
}

/// `list` orders by every public field both ways and by multi-key sorts
/// exactly as `compare_keys` does (strings by code point, ties by id).
pub async fn sorts_match_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    for query in PAGED_FILTERS {
        let filter = parse_filter(query);
        for sort in sorts() {
            let page = PageSpec {
                filter: &filter,
                sort: &sort,
                after: None,
                offset: 0,
                limit: ALL,
            };
            let want = reference::list(&all, page);
            let got = list(store, &filter, &sort, None, 0, ALL).await;
            let label = format!("sort={} with {query:?}", sort_label(&sort));
            assert_same_rows(&got, &want, &label);
        }
    }
}

/// Pages of [`PAGE`] rows at increasing offsets concatenate to the reference
/// order; an offset at or past the end gives an empty page.
pub async fn offset_pages_concatenate_to_reference_order(store: &dyn ProductStore) {
    let all = seed(store).await;
    let mut cases: Vec<(String, ProductFilter, Vec<SortKey>)> = Vec::new();
    for query in PAGED_FILTERS {
        for sort in sorts() {
            cases.push((query.to_string(), parse_filter(query), sort));
        }
    }
    cases.push((
        "search=shoe".to_string(),
        parse_filter("search=shoe"),
        relevance(),
    ));
    for (query, filter, sort) in &cases {
        let label = format!("offset pages, sort={} with {query:?}", sort_label(sort));
        let spec = PageSpec {
            filter,
            sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let mut got = Vec::new();
        let mut offset = 0;
        loop {
            let page = list(store, filter, sort, None, offset, PAGE).await;
            assert!(
                page.len() as u64 <= PAGE,
                "{label}: a page holds at most limit rows"
            );
            if page.is_empty() {
                break;
            }
            got.extend(page);
            offset += PAGE;
            assert!(
                offset <= all.len() as u64 + PAGE,
                "{label}: pages never end"
            );
        }
        assert_same_rows(&got, &want, &label);
        for past in [want.len() as u64, want.len() as u64 + 5, ALL] {
            let page = list(store, filter, sort, None, past, PAGE).await;
            assert!(page.is_empty(), "{label}: offset {past} is past the end");
        }
    }
}

/// Following keyset positions (the last row's sort values) page by page
/// visits every matching product exactly once, in the reference order, for
/// every sort and for a search's relevance order.
pub async fn keyset_pages_concatenate_to_reference_order(store: &dyn ProductStore) {
    let all = seed(store).await;
    let mut cases: Vec<(String, ProductFilter, Vec<SortKey>)> = Vec::new();
    for query in PAGED_FILTERS {
        for sort in sorts() {
            cases.push((query.to_string(), parse_filter(query), sort));
        }
    }
    for q in ["shoe", "red shoe", "sku-0042", "widget", "tool"] {
        cases.push((format!("search={q}"), searching(q), relevance()));
    }
    for (query, filter, sort) in &cases {
        let label = format!("keyset pages, sort={} with {query:?}", sort_label(sort));
        let spec = PageSpec {
            filter,
            sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let mut got: Vec<Product> = Vec::new();
        let mut after: Option<Vec<SortValue>> = None;
        loop {
            let page = list(store, filter, sort, after.as_deref(), 0, PAGE).await;
            assert!(
                page.len() as u64 <= PAGE,
                "{label}: a page holds at most limit rows"
            );
            let Some(last) = page.last() else { break };
            after = Some(sort_values(sort, last, filter.search.as_ref()));
            got.extend(page);
            assert!(
                got.len() <= all.len(),
                "{label}: pages never end (rows repeat)"
            );
        }
        assert_same_rows(&got, &want, &label);
    }
}

/// `after` positions that are no row's values (between rows, before the
/// first, past the last, mixed directions), alone and with an offset.
pub async fn keyset_after_arbitrary_positions(store: &dyn ProductStore) {
    let all = seed(store).await;
    let text = |s: &str| SortValue::Text(s.to_string());
    let int = SortValue::Int;
    let mid: &Product = &all[all.len() / 2];
    let time_cases = |t: DateTime<Utc>| {
        [
            vec![SortValue::Time(t), int(0)],
            vec![SortValue::Time(t), int(mid.id.get())],
            vec![
                SortValue::Time(t - chrono::Duration::microseconds(1)),
                int(i64::MAX),
            ],
            vec![
                SortValue::Time(t + chrono::Duration::microseconds(1)),
                int(0),
            ],
        ]
    };
    let asc = |f| resolve_sort(Some(vec![key(f, false)]), false);
    let desc = |f| resolve_sort(Some(vec![key(f, true)]), false);
    let mut cases: Vec<(ProductFilter, Vec<SortKey>, Vec<SortValue>)> = Vec::new();
    let none = ProductFilter::default;
    for after in [
        vec![text("Books"), int(i64::MAX)],
        vec![text("Books"), int(0)],
        vec![text("C"), int(0)],
        vec![text("Zebra"), int(0)],
        vec![text("books"), int(0)],
        vec![text("É"), int(0)],
        vec![text("\u{10FFFF}"), int(0)],
        vec![text(""), int(0)],
    ] {
        cases.push((none(), asc(SortField::Category), after.clone()));
        cases.push((none(), desc(SortField::Category), after));
    }
    for after in [
        vec![int(2_500), int(0)],
        vec![int(2_500), int(i64::MAX)],
        vec![int(2_501), int(0)],
        vec![int(-1), int(0)],
        vec![int(100_000_000), int(0)],
    ] {
        cases.push((none(), asc(SortField::Price), after.clone()));
        cases.push((none(), desc(SortField::Price), after));
    }
    let rating_then_id_desc = resolve_sort(
        Some(vec![
            key(SortField::Rating, false),
            key(SortField::Id, true),
        ]),
        false,
    );
    cases.push((
        none(),
        rating_then_id_desc.clone(),
        vec![int(30), int(mid.id.get())],
    ));
    cases.push((none(), rating_then_id_desc, vec![int(30), int(0)]));
    for after in time_cases(mid.created_at) {
        cases.push((none(), asc(SortField::CreatedAt), after.clone()));
        cases.push((none(), desc(SortField::CreatedAt), after));
    }
    for after in time_cases(mid.updated_at) {
        cases.push((none(), desc(SortField::UpdatedAt), after));
    }
    cases.push((none(), asc(SortField::Sku), vec![text("SKU-0042"), int(0)]));
    cases.push((none(), desc(SortField::Sku), vec![text("SKU"), int(0)]));
    cases.push((none(), asc(SortField::Name), vec![text("classic"), int(0)]));
    cases.push((
        none(),
        desc(SortField::Name),
        vec![text("Classic Widget"), int(0)],
    ));
    cases.push((none(), desc(SortField::Id), vec![int(mid.id.get())]));
    let multi = resolve_sort(
        Some(vec![
            key(SortField::Category, false),
            key(SortField::Price, true),
        ]),
        false,
    );
    cases.push((
        none(),
        multi.clone(),
        vec![text("Garden"), int(2_500), int(0)],
    ));
    cases.push((
        none(),
        multi,
        vec![text("Garden"), int(100_000_000), int(i64::MAX)],
    ));
    for after in [
        vec![int(1), int(0)],
        vec![int(1), int(i64::MAX)],
        vec![int(3), int(0)],
    ] {
        cases.push((searching("red shoe"), relevance(), after));
    }

    for (filter, sort, after) in &cases {
        for offset in [0, 2] {
            let label = format!(
                "sort={} after={after:?} offset={offset} search={:?}",
                sort_label(sort),
                filter.search.as_ref().map(SearchQuery::as_str)
            );
            let spec = PageSpec {
                filter,
                sort,
                after: Some(after),
                offset,
                limit: ALL,
            };
            let want = reference::list(&all, spec);
            let got = list(store, filter, sort, Some(after), offset, ALL).await;
            assert_same_rows(&got, &want, &label);
            let first = list(store, filter, sort, Some(after), offset, PAGE).await;
            let want_first: Vec<Product> = want.iter().take(PAGE as usize).cloned().collect();
            assert_same_rows(&first, &want_first, &format!("{label} limit={PAGE}"));
        }
    }
}

/// Compares `list` (by id) and `count` for a search with the reference.
async fn assert_search(store: &dyn ProductStore, all: &[Product], q: &str) -> Vec<Product> {
    let filter = searching(q);
    let spec = PageSpec {
        filter: &filter,
        sort: &[SortKey::ID],
        after: None,
        offset: 0,
        limit: ALL,
    };
    let want = reference::list(all, spec);
    let got = list(store, &filter, &[SortKey::ID], None, 0, ALL).await;
    assert_same_rows(&got, &want, &format!("search={q:?}"));
    let count = store
        .count(&filter)
        .await
        .unwrap_or_else(|e| fail("count", &e));
    assert_eq!(count, want.len() as u64, "count with search={q:?}");
    got
}

/// Search ignores case and matches name, description or sku; its words are
/// ANDed, so adding a word never adds a result.
pub async fn search_is_case_insensitive_and_ands_words(store: &dyn ProductStore) {
    let all = seed(store).await;
    let lower = assert_search(store, &all, "wireless").await;
    assert!(
        lower.len() >= 3,
        "search=wireless finds name and description matches"
    );
    for q in ["WIRELESS", "Wireless", "wIrElEsS", "  wireless  "] {
        let got = assert_search(store, &all, q).await;
        assert_eq!(
            skus(&got),
            skus(&lower),
            "search={q:?} finds what search=\"wireless\" finds"
        );
    }
    for q in ["breathable", "0042", "sku-00", "shirt breathable", "USB-C"] {
        assert_search(store, &all, q).await;
    }
    for chain in [
        &["red", "red shoe", "red shoe deluxe"][..],
        &["shoe", "shoe red", "shoe red single"],
        &[
            "wireless",
            "wireless headphones",
            "wireless headphones lite",
        ],
        &["sku", "sku 0042", "sku 0042 port"],
        &["wireless", "wireless zzzz"],
    ] {
        let mut previous: Option<(String, BTreeSet<String>)> = None;
        for q in chain {
            let got = assert_search(store, &all, q).await;
            let set: BTreeSet<String> = sku_set(&got).into_iter().map(str::to_string).collect();
            if let Some((prev_q, prev)) = &previous {
                assert!(
                    set.is_subset(prev),
                    "search={q:?} must find a subset of search={prev_q:?}: words are ANDed"
                );
            }
            previous = Some(((*q).to_string(), set));
        }
    }
    let nothing = assert_search(store, &all, "wireless zzzz").await;
    assert!(
        nothing.is_empty(),
        "a word nothing contains empties the result"
    );
}

/// A product's exact sku, in any case, finds it, and relevance puts it first.
pub async fn search_finds_exact_sku_first(store: &dyn ProductStore) {
    let all = seed(store).await;
    for (q, sku) in [
        ("sku-0042", "SKU-0042"),
        ("SKU-0042", "SKU-0042"),
        ("Sku-0042", "SKU-0042"),
        ("sku-0001", "SKU-0001"),
        ("0-start", "0-START"),
        ("-dash-1", "-DASH-1"),
        ("AB-LOWER", "AB-LOWER"),
    ] {
        let filter = searching(q);
        let sort = relevance();
        let spec = PageSpec {
            filter: &filter,
            sort: &sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let got = list(store, &filter, &sort, None, 0, ALL).await;
        assert_same_rows(&got, &want, &format!("search={q:?} by relevance"));
        assert_eq!(
            got.first().map(|p| p.sku.as_str()),
            Some(sku),
            "search={q:?}: the product with that exact sku comes first"
        );
    }
    let two = assert_search(store, &all, "sku-0042").await;
    assert!(
        two.len() >= 2,
        "search=sku-0042 also finds the product naming that sku (the dataset's decoy)"
    );
}

/// The relevance order (score descending, then id) equals the reference's
/// `SearchQuery::score`, alone and under other filters and limits.
pub async fn search_relevance_order_matches_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    let sort = relevance();
    let mut cases: Vec<ProductFilter> = [
        "red shoe",
        "shoe",
        "wireless",
        "headphones",
        "wireless headphones",
        "sku-0042",
        "widget",
        "classic widget",
        "tool",
        "garden",
        "item",
    ]
    .into_iter()
    .map(searching)
    .collect();
    cases.push(ProductFilter {
        is_active: Some(true),
        ..searching("shoe")
    });
    cases.push(ProductFilter {
        categories: names(&["Zebra Goods", "Garden"]),
        ..searching("shoe")
    });
    for filter in &cases {
        let q = filter
            .search
            .as_ref()
            .map(SearchQuery::as_str)
            .unwrap_or_default();
        let spec = PageSpec {
            filter,
            sort: &sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let got = list(store, filter, &sort, None, 0, ALL).await;
        assert_same_rows(&got, &want, &format!("search={q:?} by relevance"));
        let top = list(store, filter, &sort, None, 0, 2).await;
        let want_top: Vec<Product> = want.iter().take(2).cloned().collect();
        assert_same_rows(
            &top,
            &want_top,
            &format!("search={q:?} by relevance, limit=2"),
        );
    }
    // The dataset must give "red shoe" both scores, or the order is untested.
    let red_shoe = search("red shoe");
    let scores: BTreeSet<i64> = all
        .iter()
        .filter(|p| red_shoe.matches(p))
        .map(|p| red_shoe.score(p))
        .collect();
    assert!(
        scores.len() >= 2,
        "search=red shoe has matches of different relevance: {scores:?}"
    );
    // Other sorts still apply to a search.
    for sort in [
        resolve_sort(Some(vec![key(SortField::Price, true)]), true),
        resolve_sort(
            Some(vec![
                key(SortField::Relevance, true),
                key(SortField::Name, false),
            ]),
            true,
        ),
    ] {
        let filter = searching("shoe");
        let spec = PageSpec {
            filter: &filter,
            sort: &sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let got = list(store, &filter, &sort, None, 0, ALL).await;
        assert_same_rows(
            &got,
            &want,
            &format!("search=shoe sort={}", sort_label(&sort)),
        );
    }
}

/// `%`, `_` and `\` in search words match themselves only: each search finds
/// exactly the products containing that text, never the decoys an unescaped
/// `LIKE` pattern would also match.
pub async fn search_treats_like_wildcards_literally(store: &dyn ProductStore) {
    let all = seed(store).await;
    for (q, expected) in [
        ("%", &["SKU-0008", "SKU-0012", "SKU-0013", "SKU-0021"][..]),
        ("100%", &["SKU-0008"]),
        ("50%", &["SKU-0021"]),
        ("_", &["SKU-0010", "SKU-0023"]),
        ("snake_case", &["SKU-0010"]),
        ("1_0", &["SKU-0023"]),
        ("\\", &["SKU-0012"]),
        ("c:\\temp", &["SKU-0012"]),
        ("\\%", &["SKU-0012"]),
        ("\\t", &["SKU-0012"]),
        ("%_", &[]),
        ("_%", &[]),
        ("%%", &[]),
        ("__", &[]),
        ("\\\\", &[]),
        ("%cotton", &[]),
    ] {
        let got = assert_search(store, &all, q).await;
        assert_eq!(
            sku_set(&got),
            expected.iter().copied().collect::<BTreeSet<&str>>(),
            "search={q:?} matches the literal text only"
        );
    }
}

/// Case folding is not ASCII-only: `É` and `é` match each other.
pub async fn search_folds_non_ascii_case(store: &dyn ProductStore) {
    let all = seed(store).await;
    for (q, at_least) in [
        ("écran", 2),
        ("ÉCRAN", 2),
        ("Écran plat", 1),
        ("ümber", 1),
        ("ÜMBER", 1),
    ] {
        let got = assert_search(store, &all, q).await;
        assert!(
            got.len() >= at_least,
            "search={q:?} finds its accented matches in any case"
        );
        let filter = searching(q);
        let sort = relevance();
        let spec = PageSpec {
            filter: &filter,
            sort: &sort,
            after: None,
            offset: 0,
            limit: ALL,
        };
        let want = reference::list(&all, spec);
        let got = list(store, &filter, &sort, None, 0, ALL).await;
        assert_same_rows(&got, &want, &format!("search={q:?} by relevance"));
    }
}

/// `stats` equals the reference aggregates, including for no match (zero
/// counts and sums, no min/max).
pub async fn stats_match_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    for query in [
        "",
        "category=Garden",
        "category=Électronique",
        "category=Nope",
        "search=shoe",
        "search=zzzz",
        "is_active=false",
        "in_stock=false",
        "max_price=0",
        "min_price=1000000",
        "brand=Zeta&min_price=7.77",
        "category=books&category=Toys&in_stock=true",
    ] {
        let filter = parse_filter(query);
        let want = reference::stats(&all, &filter);
        let got = store
            .stats(&filter)
            .await
            .unwrap_or_else(|e| fail("stats", &e));
        assert_eq!(got, want, "stats with {query:?}");
    }
    let empty = store
        .stats(&parse_filter("category=Nope"))
        .await
        .unwrap_or_else(|e| fail("stats", &e));
    assert_eq!(
        empty,
        StatsRow::default(),
        "stats of no match: zeros and no min/max"
    );
}

/// `categories` and `brands` list every distinct value with its count, by
/// name in code-point order.
pub async fn categories_and_brands_in_code_point_order(store: &dyn ProductStore) {
    let all = seed(store).await;
    let want = reference::name_counts(all.iter().map(|p| p.category.as_str()));
    let got = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert_eq!(got, want, "categories");
    let order: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "Books",
            "Electronics",
            "Garden",
            "Toys",
            "Zebra Goods",
            "books",
            "Électronique"
        ],
        "categories by code point: upper case, then lower case, then accented"
    );
    let want = reference::name_counts(all.iter().map(|p| p.brand.as_str()));
    let got = store.brands().await.unwrap_or_else(|e| fail("brands", &e));
    assert_eq!(got, want, "brands");
}

/// `ping` answers.
pub async fn ping_succeeds(store: &dyn ProductStore) {
    store.ping().await.unwrap_or_else(|e| fail("ping", &e));
}
