//! The contract checks. Each takes a fresh, empty store, seeds it with
//! [`dataset`] (except the empty-store check) and compares every answer with
//! the [`reference`](crate::reference) computed over the full product set the
//! adapter itself returned, so adapter-assigned ids and timestamps need no
//! prediction.
//!
//! The write checks (`create`, `update`, `delete`, idempotency keys and
//! concurrent writers) compare the store after each write with the product
//! set before it, and check that every refused write changes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use catalog_domain::error::error_chain;
use catalog_domain::ports::PageSpec;
use catalog_domain::query::{parse_min_rating, resolve_sort, sort_values};
use catalog_domain::{
    Created, FilterRequest, Idempotency, Label, NameCount, NewProduct, Price, Product,
    ProductFilter, ProductId, ProductStore, Rating, SearchQuery, Sku, SortField, SortKey,
    SortValue, StatsRow, StorageError,
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

/// Lists `page` from the store and checks it against the reference over
/// `all`: the same rows in the same order, equal field by field. Returns
/// the rows (which are the reference's).
async fn assert_listing(
    store: &dyn ProductStore,
    all: &[Product],
    page: PageSpec<'_>,
    what: &str,
) -> Vec<Product> {
    let want = reference::list(all, page);
    let got = list(
        store,
        page.filter,
        page.sort,
        page.after,
        page.offset,
        page.limit,
    )
    .await;
    assert_same_rows(&got, &want, what);
    got
}

/// A filter from a list query's filter parameters, written as a query
/// string for brevity (`category=Books&in_stock=true`, values not
/// URL-decoded), built with the domain's typed constructors and rules as the
/// HTTP edge builds it. Storage adapters are tested without the HTTP edge:
/// the wire format is not what this suite checks.
fn parse_filter(query: &str) -> ProductFilter {
    let mut f = FilterRequest::default();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let flag = || match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => panic!("filter {query:?}: {k} must be true or false"),
        };
        fn ok<T>(r: Result<T, String>, query: &str, k: &str) -> T {
            r.unwrap_or_else(|m| panic!("filter {query:?}: {k} {m}"))
        }
        match k {
            "category" => f.categories.push(ok(Label::compared(v), query, k)),
            "brand" => f.brands.push(ok(Label::compared(v), query, k)),
            "min_price" => f.min_price = Some(ok(Price::parse(v), query, k)),
            "max_price" => f.max_price = Some(ok(Price::parse(v), query, k)),
            "min_rating" => f.min_rating = Some(ok(parse_min_rating(v), query, k)),
            "in_stock" => f.in_stock = flag(),
            "is_active" => f.is_active = flag(),
            "fuzzy" => f.fuzzy = flag(),
            "search" => f.search = Some(ok(SearchQuery::parse(v), query, k)),
            _ => panic!("filter {query:?}: {k} is not a filter"),
        }
    }
    f.build()
        .unwrap_or_else(|e| panic!("filter {query:?}: {e:?}"))
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

/// The search text of a filter, for messages.
fn search_text(filter: &ProductFilter) -> &str {
    filter
        .search
        .as_ref()
        .map(SearchQuery::as_str)
        .unwrap_or_default()
}

fn names(v: &[&str]) -> Vec<Label> {
    v.iter().map(|s| Label::compared(s).unwrap()).collect()
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
        assert_eq!(
            &as_new(p),
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
            let label = format!("sort={} with {query:?}", sort_label(&sort));
            assert_listing(store, &all, spec(&filter, &sort, None, 0, ALL), &label).await;
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
    cases.push((none(), asc(SortField::Sku), vec![text("SKU-0042")]));
    cases.push((none(), desc(SortField::Sku), vec![text("SKU")]));
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
    let got = assert_listing(
        store,
        all,
        spec(&filter, &[SortKey::ID], None, 0, ALL),
        &format!("search={q:?}"),
    )
    .await;
    let count = store
        .count(&filter)
        .await
        .unwrap_or_else(|e| fail("count", &e));
    assert_eq!(count, got.len() as u64, "count with search={q:?}");
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
        let got = assert_listing(
            store,
            &all,
            spec(&filter, &sort, None, 0, ALL),
            &format!("search={q:?} by relevance"),
        )
        .await;
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
        let q = search_text(filter);
        let got = assert_listing(
            store,
            &all,
            spec(filter, &sort, None, 0, ALL),
            &format!("search={q:?} by relevance"),
        )
        .await;
        let top = list(store, filter, &sort, None, 0, 2).await;
        let want_top: Vec<Product> = got.iter().take(2).cloned().collect();
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
        assert_listing(
            store,
            &all,
            spec(&filter, &sort, None, 0, ALL),
            &format!("search=shoe sort={}", sort_label(&sort)),
        )
        .await;
    }
}

/// Punctuation separates words and is never a pattern: `%`, `_` and `\`
/// alone find nothing, `snake_case` is the phrase "snake case", and `LIKE`
/// wildcards never widen a search.
pub async fn search_treats_punctuation_as_separators(store: &dyn ProductStore) {
    let all = seed(store).await;
    for (q, expected) in [
        ("%", &[][..]),
        ("%%", &[]),
        ("_", &[]),
        ("\\", &[]),
        ("%_ \\%", &[]),
        ("100%", &["SKU-0008"]),
        ("50%", &["SKU-0021"]),
        ("snake_case", &["SKU-0010"]),
        ("1_0", &["SKU-0023"]),
        ("c:\\temp", &["SKU-0012", "SKU-0013"]),
        ("\"c temp\"", &["SKU-0012"]),
        ("%cotton", &["SKU-0008"]),
        ("cot%ton", &[]),
    ] {
        let got = assert_search(store, &all, q).await;
        let want: BTreeSet<&str> = expected.iter().copied().collect();
        if want.is_empty() {
            assert!(got.is_empty(), "search={q:?} finds nothing");
        } else {
            assert!(
                sku_set(&got).is_superset(&want),
                "search={q:?} finds {want:?}"
            );
        }
    }
}

/// The web-search syntax: `"quoted phrases"` match adjacent words in order,
/// `-word` excludes, and the last bare word matches as a prefix (so results
/// appear while a word is being typed). Each equals the reference.
pub async fn search_syntax_matches_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    let phrase = assert_search(store, &all, "\"wireless headphones\"").await;
    let words = assert_search(store, &all, "headphones wireless").await;
    let reversed = assert_search(store, &all, "\"headphones wireless\"").await;
    assert!(!phrase.is_empty(), "the phrase occurs in the dataset");
    assert!(
        sku_set(&phrase).is_subset(&sku_set(&words)) && reversed.len() < words.len(),
        "a phrase is stricter than its words"
    );
    let without = assert_search(store, &all, "wireless -headphones").await;
    let wireless = assert_search(store, &all, "wireless").await;
    assert!(!without.is_empty() && without.len() < wireless.len());
    assert!(
        sku_set(&without).is_disjoint(&sku_set(&words)),
        "-headphones excludes every product with that word"
    );
    let only_not = assert_search(store, &all, "-wireless").await;
    assert_eq!(
        only_not.len() + wireless.len(),
        all.len(),
        "-wireless alone is everything without the word"
    );
    let prefix = assert_search(store, &all, "wirel").await;
    assert_eq!(skus(&prefix), skus(&wireless), "the last word is a prefix");
    assert!(
        assert_search(store, &all, "wirel headphones")
            .await
            .is_empty(),
        "only the last word is a prefix"
    );
    for q in [
        "headph",
        "w",
        "wireless \"noise",
        "-\"wireless headphones\" wireless",
        "shoe -red -blue",
        "usb-c",
        "USB-C -écran",
        "\"\"",
        "- -",
        "--wireless",
        "sku-00",
        "red shoe -",
    ] {
        assert_search(store, &all, q).await;
    }
    // Relevance order holds for the syntax too.
    for q in ["wirel", "\"red shoe\" -deluxe", "shoe -red"] {
        let filter = searching(q);
        let sort = relevance();
        assert_listing(
            store,
            &all,
            spec(&filter, &sort, None, 0, ALL),
            &format!("search={q:?} by relevance"),
        )
        .await;
    }
}

/// The vocabulary typo-tolerant search expands from holds every token of
/// the stored products (within the asked lengths), and a query expanded
/// from it finds what the reference finds: "wirelss headphnes" finds the
/// wireless headphones.
pub async fn fuzzy_search_expands_from_the_vocabulary(store: &dyn ProductStore) {
    let all = seed(store).await;
    let terms = store
        .search_terms(7, 9)
        .await
        .unwrap_or_else(|e| fail("search_terms", &e));
    for t in ["wireless", "headphones"] {
        assert_eq!(
            terms.iter().any(|x| x == t),
            (7..=9).contains(&t.chars().count()),
            "vocabulary of 7 to 9 characters and {t:?}"
        );
    }
    assert!(
        terms.iter().all(|t| (7..=9).contains(&t.chars().count())),
        "search_terms honours its length bounds"
    );
    // Numbers (every sku has one) are indexed but never in the vocabulary.
    let number = all
        .iter()
        .flat_map(|p| catalog_domain::search::tokens(p.sku.as_str()))
        .find(|t| !catalog_domain::search::in_vocabulary(t))
        .expect("the seed has skus with numbers");
    let every = store
        .search_terms(1, 64)
        .await
        .unwrap_or_else(|e| fail("search_terms", &e));
    assert!(
        every.iter().any(|t| t == "wireless"),
        "the vocabulary holds the words"
    );
    assert!(
        every
            .iter()
            .all(|t| catalog_domain::search::in_vocabulary(t)),
        "the vocabulary holds words only, never numbers such as {number:?}"
    );
    assert!(
        !assert_search(store, &all, &number).await.is_empty(),
        "a number still finds its product exactly"
    );
    // The words' candidates: every vocabulary word of a stored product
    // within the word's typo distance, and nothing farther.
    let reference_vocabulary: std::collections::BTreeSet<String> = all
        .iter()
        .flat_map(|p| {
            let doc = catalog_domain::search::SearchDocument::of(p);
            format!("{} {}", doc.name, doc.body)
                .split(' ')
                .filter(|t| catalog_domain::search::in_vocabulary(t))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let probes = [
        "wirelss",
        "headphnes",
        "wireles",
        "wirless",
        "shoe",
        "cabel",
    ];
    let candidates = store
        .typo_candidates(&probes)
        .await
        .unwrap_or_else(|e| fail("typo_candidates", &e));
    assert_eq!(candidates.len(), probes.len(), "one answer per word");
    for (word, near) in probes.iter().zip(&candidates) {
        let bound = catalog_domain::search::max_typos(word);
        for t in near {
            assert!(
                catalog_domain::search::typo_distance(word, t, bound).is_some(),
                "typo_candidates({word}) returned {t:?}, farther than {bound} edits"
            );
        }
        for t in &reference_vocabulary {
            if catalog_domain::search::typo_distance(word, t, bound).is_some() {
                assert!(
                    near.contains(t),
                    "typo_candidates({word}) misses {t:?} (within {bound} edits)"
                );
            }
        }
    }
    assert!(
        candidates[4].iter().all(|t| t == "shoe"),
        "a word of 4 letters is matched exactly: {:?}",
        candidates[4]
    );
    let mut q = search("wirelss headphnes");
    let words: Vec<&str> = q.fuzzy_words().collect();
    assert_eq!(words, ["wirelss", "headphnes"]);
    let near = store
        .typo_candidates(&words)
        .await
        .unwrap_or_else(|e| fail("typo_candidates", &e));
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    for (w, near) in words.iter().zip(&near) {
        q.expand(w, near);
    }
    let filter = ProductFilter {
        search: Some(q),
        ..ProductFilter::default()
    };
    let sort = relevance();
    let got = assert_listing(
        store,
        &all,
        spec(&filter, &sort, None, 0, ALL),
        "fuzzy search=wirelss headphnes",
    )
    .await;
    let exact = assert_search(store, &all, "wireless headphones").await;
    assert!(
        !exact.is_empty() && sku_set(&exact).is_subset(&sku_set(&got)),
        "the typo-tolerant search finds every exact match"
    );
    assert!(
        assert_search(store, &all, "wirelss headphnes")
            .await
            .is_empty(),
        "without typo tolerance a misspelled word matches nothing"
    );
}

/// Following relevance cursors two rows at a time visits exactly the
/// reference order, across every score boundary (the exact-sku row, the
/// rows with every clause in the name, fewer, none), with and without
/// another filter.
pub async fn relevance_cursors_cross_every_score(store: &dyn ProductStore) {
    seed(store).await;
    // Every score of "red shoe" and "trail boot", twice each, interleaved
    // by id: both words in the name, one, none (description only).
    for round in 0..2 {
        for (i, (name, description)) in [
            ("Trail boot red shoe", "Walks"),
            ("Trail thing", "A boot, a red shoe"),
            ("Red gadget", "Pairs with a shoe; trail boot"),
            ("Plain item", "A red shoe and a trail boot"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = fresh(&format!("TIER-{round}-{i}"), name);
            p.description = description.into();
            store
                .create(&p, None)
                .await
                .unwrap_or_else(|e| fail("create", &e));
        }
    }
    let all = all_products(store).await;
    let sort = relevance();
    let mut cases: Vec<ProductFilter> = [
        "red shoe",
        "trail boot",
        "red shoe trail",
        "tier-1-2",
        "wireless headphones",
        "classic widget",
        "sku-0042",
        "widget",
        "shoe -red",
        "\"wireless headphones\"",
        "head",
    ]
    .into_iter()
    .map(searching)
    .collect();
    cases.push(ProductFilter {
        in_stock: Some(true),
        ..searching("red shoe")
    });
    for filter in &cases {
        let q = search_text(filter);
        let want = reference::list(
            &all,
            PageSpec {
                filter,
                sort: &sort,
                after: None,
                offset: 0,
                limit: ALL,
            },
        );
        let mut got: Vec<Product> = Vec::new();
        let mut after: Option<Vec<SortValue>> = None;
        loop {
            let page = list(store, filter, &sort, after.as_deref(), 0, 2).await;
            let Some(last) = page.last() else { break };
            after = Some(sort_values(&sort, last, filter.search.as_ref()));
            got.extend(page);
            assert!(got.len() <= want.len(), "search={q:?}: pages never end");
        }
        assert_same_rows(
            &got,
            &want,
            &format!("search={q:?} by relevance, 2 per page"),
        );
    }
}

/// Paging in relevance order stays correct while products are created and
/// deleted between pages: no product is listed twice, and every product
/// that matched throughout is listed once.
pub async fn relevance_pages_survive_writes_between_pages(store: &dyn ProductStore) {
    seed(store).await;
    let filter = searching("widget");
    let sort = relevance();
    let before = list(store, &filter, &sort, None, 0, ALL).await;
    assert!(before.len() >= 6, "enough widgets to page through");
    let mut seen: Vec<Product> = Vec::new();
    let mut after: Option<Vec<SortValue>> = None;
    let mut deleted: BTreeSet<i64> = BTreeSet::new();
    let mut round = 0;
    loop {
        let page = list(store, &filter, &sort, after.as_deref(), 0, 2).await;
        let Some(last) = page.last() else { break };
        after = Some(sort_values(&sort, last, filter.search.as_ref()));
        seen.extend(page);
        assert!(seen.len() <= before.len() + 8, "pages never end");
        // For the first rounds: a new best match (in the name) and a new
        // weak one (description only), and one not yet listed product
        // deleted.
        round += 1;
        if round > 3 {
            continue;
        }
        for (sku, name) in [
            (format!("NEW-WIDGET-{round}"), "Widget".to_string()),
            (format!("NEW-DESC-{round}"), "Plain thing".to_string()),
        ] {
            let mut p = fresh(&sku, &name);
            p.description = "A widget inside".into();
            store
                .create(&p, None)
                .await
                .unwrap_or_else(|e| fail("create", &e));
        }
        let unseen = before
            .iter()
            .rev()
            .find(|p| !seen.iter().any(|s| s.id == p.id) && !deleted.contains(&p.id.get()));
        if let Some(victim) = unseen {
            store
                .delete(victim.id, None)
                .await
                .unwrap_or_else(|e| fail("delete", &e));
            deleted.insert(victim.id.get());
        }
    }
    let ids: Vec<i64> = seen.iter().map(|p| p.id.get()).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no product listed twice: {ids:?}");
    for p in &before {
        if !deleted.contains(&p.id.get()) {
            assert!(
                unique.contains(&p.id.get()),
                "{} matched throughout and was skipped",
                p.sku.as_str()
            );
        }
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
        assert_listing(
            store,
            &all,
            spec(&filter, &sort, None, 0, ALL),
            &format!("search={q:?} by relevance"),
        )
        .await;
    }
}

/// Every token is indexed whole, as the domain's tokenizer cut it: tokens a
/// database's own text parser would split or reinterpret (scientific
/// notation followed by letters, hex-like and digit-letter runs) are found
/// by themselves, as words of a phrase and as a prefix, like the reference.
pub async fn search_indexes_tokens_whole(store: &dyn ProductStore) {
    seed(store).await;
    let mut odd = fresh("TOKENS-1", "Adapter 12e3x rev 1e5b");
    odd.description = "Board 0x1f with 3e8m cable and 7e2 pins".to_string();
    store
        .insert_batch(std::slice::from_ref(&odd))
        .await
        .unwrap_or_else(|e| fail("insert_batch", &e));
    let all = all_products(store).await;
    for q in [
        "12e3x",
        "1e5b",
        "0x1f",
        "3e8m",
        "7e2",
        "\"adapter 12e3x\"",
        "\"0x1f with 3e8m\"",
        "adapter 12e",
        "board 3e8",
    ] {
        let got = assert_search(store, &all, q).await;
        assert!(
            got.iter().any(|p| p.sku.as_str() == "TOKENS-1"),
            "search={q:?} finds the product whose tokens it names"
        );
    }
    // Quoted or followed by another word, a word is exact, not a prefix.
    for q in ["\"12e3\"", "\"12e3 x\"", "\"0x1\"", "12e3 adapter", "x"] {
        let got = assert_search(store, &all, q).await;
        assert!(
            !got.iter().any(|p| p.sku.as_str() == "TOKENS-1"),
            "search={q:?} is not a whole token of the product, so it finds nothing there"
        );
    }
}

/// `list_counted` is `list` plus `count`, whichever way the adapter gets
/// them: relevance-ordered searches (where the SQL adapter counts in the
/// page's own query), other sorts, offsets past the end, cursor pages and
/// searches that match nothing.
pub async fn list_counted_equals_list_and_count(store: &dyn ProductStore) {
    let all = seed(store).await;
    let by_id = [SortKey::ID];
    let rel = relevance();
    let none = ProductFilter::default();
    let wireless = searching("wireless");
    let shoe = searching("shoe");
    let nothing = searching("zzzznotaword");
    let first = list(store, &wireless, &rel, None, 0, 2).await;
    assert_eq!(first.len(), 2, "the dataset has two wireless products");
    let after = sort_values(&rel, &first[1], wireless.search.as_ref());
    // Totals a summary answers, in the page's own statement.
    let priced = parse_filter("category=Garden&min_price=0.05&max_price=250");
    let flagged = parse_filter("is_active=true&in_stock=true");
    let brand = parse_filter("brand=Zeta");
    let cheap = parse_filter("max_price=0.04");
    let by_price = [key(SortField::Price, true)];
    let priced_all = list(store, &priced, &by_price, None, 0, ALL).await;
    assert!(
        priced_all.len() > 3,
        "the dataset has priced Garden products"
    );
    let priced_after = sort_values(&by_price, &priced_all[1], None);
    let priced_last = sort_values(&by_price, &priced_all[priced_all.len() - 1], None);
    let cases: Vec<(&str, PageSpec<'_>)> = vec![
        ("search by relevance", spec(&wireless, &rel, None, 0, 3)),
        ("search by relevance, offset", spec(&shoe, &rel, None, 1, 2)),
        ("search past the end", spec(&shoe, &rel, None, 1_000, 5)),
        ("search matching nothing", spec(&nothing, &rel, None, 0, 5)),
        (
            "search, cursor page",
            spec(&wireless, &rel, Some(&after), 0, 2),
        ),
        ("search by id", spec(&shoe, &by_id, None, 0, 3)),
        ("no filter", spec(&none, &by_id, None, 0, 4)),
        (
            "no filter past the end",
            spec(&none, &by_id, None, 10_000, 4),
        ),
        ("price range", spec(&priced, &by_price, None, 0, 2)),
        (
            "price range, cursor page",
            spec(&priced, &by_price, Some(&priced_after), 0, 2),
        ),
        (
            "price range, cursor past the last row",
            spec(&priced, &by_price, Some(&priced_last), 0, 2),
        ),
        (
            "price range past the end",
            spec(&priced, &by_price, None, 1_000, 2),
        ),
        (
            "price range matching nothing",
            spec(&cheap, &by_id, None, 0, 3),
        ),
        ("flags", spec(&flagged, &by_id, None, 1, 3)),
        ("one brand", spec(&brand, &by_id, None, 0, 3)),
    ];
    for (what, page) in cases {
        let (rows, total) = store
            .list_counted(page)
            .await
            .unwrap_or_else(|e| fail("list_counted", &e));
        let want_rows = store.list(page).await.unwrap_or_else(|e| fail("list", &e));
        let want_total = store
            .count(page.filter)
            .await
            .unwrap_or_else(|e| fail("count", &e));
        assert_same_rows(&rows, &want_rows, what);
        assert_eq!(total, want_total, "{what}: total");
        let reference = all.iter().filter(|p| page.filter.matches(p)).count() as u64;
        assert_eq!(total, reference, "{what}: total equals the reference");
    }
}

fn spec<'a>(
    filter: &'a ProductFilter,
    sort: &'a [SortKey],
    after: Option<&'a [SortValue]>,
    offset: u64,
    limit: u64,
) -> PageSpec<'a> {
    PageSpec {
        filter,
        sort,
        after,
        offset,
        limit,
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

/// Counts and stats with price ranges (and the `is_active` / `in_stock`
/// flags, alone or with one) match the reference at every price edge the
/// dataset has: a range that starts, ends or sits exactly on a product's
/// price, one cent on either side, whole-dollar and hundred-dollar bounds,
/// and the whole range. A storage adapter that sums price buckets must get
/// the partial buckets at a range's ends right.
pub async fn price_range_aggregates_match_reference(store: &dyn ProductStore) {
    let all = seed(store).await;
    let money = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    let max = catalog_domain::product::MAX_PRICE_CENTS;
    let mut prices: Vec<i64> = all.iter().map(|p| p.price.cents()).collect();
    prices.sort_unstable();
    prices.dedup();
    let mut ranges = vec![(0, max), (1_000, 20_000), (10_000, 1_000_000), (0, 0)];
    for p in prices {
        let dollar = p / 100 * 100;
        ranges.extend([
            (p, p),
            ((p - 1).max(0), p + 1),
            (p + 1, max),
            (0, (p - 1).max(0)),
            (dollar, dollar + 99),
            (p / 10_000 * 10_000, p),
            // The price in a partial bucket at the range's upper or
            // lower end, whole buckets beside it.
            (p - 150, p),
            (p, p + 150),
        ]);
    }
    let mut queries = Vec::new();
    for (lo, hi) in ranges {
        let (lo, hi) = (lo.clamp(0, max), hi.clamp(0, max));
        for rest in [
            "",
            "&category=Garden",
            "&brand=Zeta",
            "&category=books&category=Toys",
            "&is_active=true",
            "&in_stock=false&brand=Acme",
            "&is_active=false&in_stock=true",
            "&is_active=true&in_stock=false",
            "&is_active=false&in_stock=false&category=Garden",
            "&is_active=true&in_stock=true&brand=Zeta",
            "&is_active=false",
            "&in_stock=true",
        ] {
            queries.push(format!(
                "min_price={}&max_price={}{rest}",
                money(lo),
                money(hi)
            ));
        }
    }
    queries.extend(
        [
            "is_active=true",
            "is_active=false&in_stock=false",
            "in_stock=true&category=Garden",
            "is_active=true&in_stock=true&brand=Zeta",
            "min_price=100",
            "max_price=25",
        ]
        .map(String::from),
    );
    for query in &queries {
        let filter = parse_filter(query);
        let n = store
            .count(&filter)
            .await
            .unwrap_or_else(|e| fail("count", &e));
        assert_eq!(n, reference::count(&all, &filter), "count with {query:?}");
        let got = store
            .stats(&filter)
            .await
            .unwrap_or_else(|e| fail("stats", &e));
        assert_eq!(got, reference::stats(&all, &filter), "stats with {query:?}");
    }
}

/// `facet_counts` groups the matching products exactly as
/// `facets::facet_key` does, for every facet field and several filters;
/// `facet_groups` answers a request's five disjunctive facets and its total
/// the same.
pub async fn facet_counts_match_reference(store: &dyn ProductStore) {
    use catalog_domain::facets::{FIELDS, FacetKey, disjunctive, facet_key};
    let all = seed(store).await;
    for query in [
        "",
        "category=Garden",
        "search=shoe&category=Garden&min_price=5&max_price=80&in_stock=true&min_rating=2",
        "category=Nope",
        "search=shoe",
        "in_stock=true&is_active=true",
        "brand=Zeta&min_price=7.77",
        "min_rating=3",
        "brand=Zeta",
        "is_active=false",
        "category=Garden&category=Toys&is_active=true",
        "min_price=100",
        "in_stock=false&max_price=30",
    ] {
        let filter = parse_filter(query);
        for field in FIELDS {
            let mut want: std::collections::BTreeMap<FacetKey, u64> = Default::default();
            for p in all.iter().filter(|p| filter.matches(p)) {
                *want.entry(facet_key(field, p)).or_default() += 1;
            }
            let mut got = store
                .facet_counts(&filter, field)
                .await
                .unwrap_or_else(|e| fail("facet_counts", &e));
            got.sort();
            let want: Vec<(FacetKey, u64)> = want.into_iter().collect();
            assert_eq!(got, want, "facet {field:?} with {query:?}");
        }
        // All of a request's disjunctive facets in one call: each over the
        // filter without its own field, plus the total.
        let requests = disjunctive(&filter);
        let (total, groups) = store
            .facet_groups(&filter, &requests)
            .await
            .unwrap_or_else(|e| fail("facet_groups", &e));
        let want_total = all.iter().filter(|p| filter.matches(p)).count() as u64;
        assert_eq!(total, want_total, "facet_groups total with {query:?}");
        assert_eq!(groups.len(), requests.len(), "facet_groups with {query:?}");
        for ((f, field), mut got) in requests.iter().zip(groups) {
            let mut want: std::collections::BTreeMap<FacetKey, u64> = Default::default();
            for p in all.iter().filter(|p| f.matches(p)) {
                *want.entry(facet_key(*field, p)).or_default() += 1;
            }
            got.sort();
            let want: Vec<(FacetKey, u64)> = want.into_iter().collect();
            assert_eq!(got, want, "facet_groups {field:?} with {query:?}");
        }
    }
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

// ---------------------------------------------------------------- write helpers

/// Concurrent writers in the concurrency checks.
const RACERS: usize = 10;

/// The writable fields of a stored product.
/// Aggregates (stats, counts, category and brand lists) stay exact under
/// concurrent creates, moves between categories and deletes — whatever an
/// adapter maintains to answer them without a scan.
pub async fn aggregates_stay_exact_under_concurrent_writes(store: &dyn ProductStore) {
    let all = seed(store).await;
    let mut ops = Vec::new();
    for (i, p) in all.iter().take(24).enumerate() {
        ops.push(async move {
            match i % 3 {
                0 => {
                    let mut moved = as_new(p);
                    moved.category = label(&format!("Moved {}", i % 4));
                    moved.stock_quantity += 5;
                    moved.is_active = !moved.is_active;
                    moved.price = Price::from_cents((moved.price.cents() * 3 + 101) % 1_000_000)
                        .expect("valid price");
                    let _ = store.update(p.id, &moved, None).await;
                }
                1 => {
                    let _ = store.delete(p.id, None).await;
                }
                _ => {
                    let _ = store
                        .create(&fresh(&format!("CONC-{i:03}"), "Concurrent"), None)
                        .await;
                }
            }
        });
    }
    futures::future::join_all(ops).await;
    let now = all_products(store).await;
    for query in [
        "",
        "category=Moved 1",
        "category=Garden&category=Moved 2",
        "brand=Zeta",
        "min_price=10&max_price=200",
        "category=Moved 1&min_price=1.01&max_price=1000",
        "brand=Zeta&max_price=150&is_active=true",
        "in_stock=true",
    ] {
        let filter = parse_filter(query);
        let got = store
            .stats(&filter)
            .await
            .unwrap_or_else(|e| fail("stats", &e));
        assert_eq!(
            got,
            reference::stats(&now, &filter),
            "stats with {query:?} after concurrent writes"
        );
        let n = store
            .count(&filter)
            .await
            .unwrap_or_else(|e| fail("count", &e));
        assert_eq!(n, reference::count(&now, &filter), "count with {query:?}");
    }
    let cats = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert_eq!(
        cats,
        reference::name_counts(now.iter().map(|p| p.category.as_str()))
    );
    let brands = store.brands().await.unwrap_or_else(|e| fail("brands", &e));
    assert_eq!(
        brands,
        reference::name_counts(now.iter().map(|p| p.brand.as_str()))
    );
}

fn as_new(p: &Product) -> NewProduct {
    NewProduct {
        sku: p.sku.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        category: p.category.clone(),
        brand: p.brand.clone(),
        price: p.price,
        stock_quantity: p.stock_quantity,
        rating: p.rating,
        is_active: p.is_active,
    }
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).expect("valid sku")
}

fn label(raw: &str) -> Label {
    Label::parse(raw).expect("valid label")
}

/// A product with a fresh sku and every other field its own, unlike any
/// dataset row.
fn fresh(raw_sku: &str, name: &str) -> NewProduct {
    NewProduct {
        sku: sku(raw_sku),
        name: name.to_string(),
        description: format!("{name}, made by a contract check"),
        category: label("Contract Category"),
        brand: label("Contract Brand"),
        price: Price::from_cents(12_345).expect("valid price"),
        stock_quantity: 17,
        rating: Rating::from_tenths(42).expect("valid rating"),
        is_active: false,
    }
}

/// `base` with every writable field changed, the sku to `raw_sku`.
fn changed(base: &NewProduct, raw_sku: &str) -> NewProduct {
    NewProduct {
        sku: sku(raw_sku),
        name: format!("{} (changed)", base.name),
        description: format!("{} (changed)", base.description),
        category: label(&format!("{} Changed", base.category)),
        brand: label(&format!("{} Changed", base.brand)),
        price: Price::from_cents(base.price.cents() / 2 + 1).expect("valid price"),
        stock_quantity: base.stock_quantity + 3,
        rating: Rating::from_tenths(50 - i64::from(base.rating.tenths()) / 2 - 1)
            .expect("valid rating"),
        is_active: !base.is_active,
    }
}

fn idem(key: &str, fingerprint: &str) -> Idempotency {
    Idempotency {
        key: key.to_string(),
        fingerprint: fingerprint.to_string(),
    }
}

async fn create(store: &dyn ProductStore, new: &NewProduct, key: Option<&Idempotency>) -> Created {
    store
        .create(new, key)
        .await
        .unwrap_or_else(|e| fail(&format!("create({})", new.sku.as_str()), &e))
}

/// Creates a product that must be inserted now.
async fn create_new(
    store: &dyn ProductStore,
    new: &NewProduct,
    key: Option<&Idempotency>,
) -> Product {
    match create(store, new, key).await {
        Created::New(p) => p,
        Created::Replayed { id, .. } => panic!(
            "create({}) replayed product {} instead of inserting",
            new.sku.as_str(),
            id.get()
        ),
    }
}

async fn update(
    store: &dyn ProductStore,
    id: ProductId,
    new: &NewProduct,
    expected_version: Option<i64>,
) -> Product {
    store
        .update(id, new, expected_version)
        .await
        .unwrap_or_else(|e| fail(&format!("update({})", id.get()), &e))
}

async fn delete(store: &dyn ProductStore, id: ProductId, expected_version: Option<i64>) {
    store
        .delete(id, expected_version)
        .await
        .unwrap_or_else(|e| fail(&format!("delete({})", id.get()), &e));
}

async fn get(store: &dyn ProductStore, id: ProductId) -> Option<Product> {
    store.get(id).await.unwrap_or_else(|e| fail("get", &e))
}

async fn count_all(store: &dyn ProductStore) -> u64 {
    store
        .count_all()
        .await
        .unwrap_or_else(|e| fail("count_all", &e))
}

fn max_id(rows: &[Product]) -> i64 {
    rows.iter().map(|p| p.id.get()).max().unwrap_or(0)
}

/// The write was refused with exactly `want`.
fn assert_refused<T: std::fmt::Debug>(
    got: Result<T, StorageError>,
    want: StorageError,
    what: &str,
) {
    match got {
        Err(e) if std::mem::discriminant(&e) == std::mem::discriminant(&want) => {}
        Err(e) => panic!(
            "{what}: expected {want:?}, got the error {}",
            error_chain(&e)
        ),
        Ok(v) => panic!("{what}: expected {want:?}, got Ok({v:?})"),
    }
}

/// Nothing changed: every product (fields, versions, timestamps) and
/// `count_all` are as `before`.
async fn assert_unchanged(store: &dyn ProductStore, before: &[Product], what: &str) {
    let now = all_products(store).await;
    assert_same_rows(&now, before, &format!("{what} changes nothing"));
    assert_eq!(
        count_all(store).await,
        before.len() as u64,
        "{what}: count_all unchanged"
    );
}

/// A timestamp the adapter set between `before` and `after`: whole
/// microseconds, UTC (a time-zone mix-up would be hours off; the slack
/// allows for the database's clock not being ours).
fn assert_write_time(t: DateTime<Utc>, before: DateTime<Utc>, after: DateTime<Utc>, what: &str) {
    let slack = chrono::Duration::minutes(10);
    assert_eq!(
        t.timestamp_subsec_nanos() % 1_000,
        0,
        "{what} {t} is whole microseconds"
    );
    assert!(
        t >= before - slack && t <= after + slack,
        "{what} {t} is the write time (between {before} and {after}), in UTC"
    );
}

/// The JSON a replay returns: the created product as the API renders it.
fn replayed_json(body: &[u8], what: &str) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: the replayed body is not JSON: {e}"))
}

fn product_json(p: &Product) -> serde_json::Value {
    serde_json::to_value(p).expect("a product serializes")
}

/// Every read agrees with the reference over the current product set:
/// `count`, `stats` and the facets, with and without a filter.
async fn assert_reads_match(store: &dyn ProductStore, what: &str) -> Vec<Product> {
    let all = all_products(store).await;
    assert_eq!(
        count_all(store).await,
        all.len() as u64,
        "{what}: count_all"
    );
    for query in [
        "",
        "category=Contract Category",
        "category=Moved Category",
        "search=sourdough",
        "min_price=0.05&max_price=150",
        "category=Contract Category&min_price=100",
        "is_active=false&in_stock=true",
    ] {
        let filter = parse_filter(query);
        let count = store
            .count(&filter)
            .await
            .unwrap_or_else(|e| fail("count", &e));
        assert_eq!(
            count,
            reference::count(&all, &filter),
            "{what}: count with {query:?}"
        );
        let got = list(store, &filter, &[SortKey::ID], None, 0, ALL).await;
        let page = PageSpec {
            filter: &filter,
            sort: &[SortKey::ID],
            after: None,
            offset: 0,
            limit: ALL,
        };
        assert_same_rows(
            &got,
            &reference::list(&all, page),
            &format!("{what}: list with {query:?}"),
        );
        let stats = store
            .stats(&filter)
            .await
            .unwrap_or_else(|e| fail("stats", &e));
        assert_eq!(
            stats,
            reference::stats(&all, &filter),
            "{what}: stats with {query:?}"
        );
    }
    let categories = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert_eq!(
        categories,
        reference::name_counts(all.iter().map(|p| p.category.as_str())),
        "{what}: categories"
    );
    let brands = store.brands().await.unwrap_or_else(|e| fail("brands", &e));
    assert_eq!(
        brands,
        reference::name_counts(all.iter().map(|p| p.brand.as_str())),
        "{what}: brands"
    );
    all
}

fn has_name(counts: &[NameCount], name: &str) -> bool {
    counts.iter().any(|c| c.name == name)
}

// ---------------------------------------------------------------- write checks

/// `create` assigns an id above every existing one, version 1 and one
/// timestamp for `created_at` and `updated_at` (whole microseconds, UTC,
/// now), stores every field as given, and `get` returns the created
/// product as `create` did.
pub async fn create_assigns_a_fresh_id_and_stores_as_given(store: &dyn ProductStore) {
    let all = seed(store).await;
    let new = fresh("new-create-1", "Created Product");
    let before = Utc::now();
    let p = create_new(store, &new, None).await;
    let after = Utc::now();
    assert!(
        p.id.get() > max_id(&all),
        "create's id {} is above every existing id (max {})",
        p.id.get(),
        max_id(&all)
    );
    assert_eq!(p.version, 1, "a created product is at version 1");
    assert_eq!(
        p.created_at, p.updated_at,
        "a created product's created_at equals its updated_at"
    );
    assert_write_time(p.created_at, before, after, "created_at");
    assert_eq!(as_new(&p), new, "the created product is stored as given");
    assert_eq!(p.sku.as_str(), "NEW-CREATE-1", "skus are stored upper-case");
    assert_eq!(
        get(store, p.id).await.as_ref(),
        Some(&p),
        "get returns the product as create returned it"
    );

    let q = create_new(store, &fresh("NEW-CREATE-2", "Second Created"), None).await;
    assert!(q.id > p.id, "a later create gets a larger id");
    let mut want = all.clone();
    want.push(p);
    want.push(q);
    assert_same_rows(
        &all_products(store).await,
        &want,
        "listing after two creates",
    );
    assert_eq!(count_all(store).await, want.len() as u64, "count_all");
}

/// `create` with a sku already taken (by the dataset, by an earlier create,
/// in another case) is `DuplicateSku` and inserts nothing.
pub async fn create_refuses_a_taken_sku(store: &dyn ProductStore) {
    seed(store).await;
    let abc = create_new(store, &fresh("ABC-1", "First ABC"), None).await;
    let before = all_products(store).await;
    for (raw, what) in [
        ("ABC-1", "a sku taken by an earlier create"),
        ("abc-1", "a taken sku given in lower case"),
        ("SKU-0004", "a sku taken by insert_batch"),
        ("sku-0004", "a seeded sku given in lower case"),
        (
            "ab-lower",
            "a seeded sku given in lower case, stored upper-case",
        ),
    ] {
        let got = store
            .create(&fresh(raw, "Must not be inserted"), None)
            .await;
        assert_refused(
            got,
            StorageError::DuplicateSku,
            &format!("create {raw:?}: {what}"),
        );
        assert_unchanged(store, &before, &format!("create {raw:?} refused")).await;
    }
    assert_eq!(
        get(store, abc.id).await.as_ref(),
        Some(&abc),
        "the product holding the sku is untouched"
    );
}

/// `update` replaces every writable field, bumps the version by one,
/// advances `updated_at` and keeps the id and `created_at`; the product may
/// keep its own sku.
pub async fn update_replaces_every_field_and_bumps_the_version(store: &dyn ProductStore) {
    let all = seed(store).await;
    let old = all[10].clone();
    let new = changed(&as_new(&old), "UPD-0001");
    assert!(
        [
            new.sku != old.sku,
            new.name != old.name,
            new.description != old.description,
            old.category != new.category,
            old.brand != new.brand,
            new.price != old.price,
            new.stock_quantity != old.stock_quantity,
            new.rating != old.rating,
            new.is_active != old.is_active,
        ]
        .iter()
        .all(|differs| *differs),
        "the update changes every writable field"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    let before = Utc::now();
    let updated = update(store, old.id, &new, None).await;
    let after = Utc::now();
    assert_eq!(updated.id, old.id, "update keeps the id");
    assert_eq!(as_new(&updated), new, "update stores every field as given");
    assert_eq!(updated.version, old.version + 1, "update bumps the version");
    assert_eq!(
        updated.created_at, old.created_at,
        "update keeps created_at"
    );
    assert!(
        updated.updated_at > old.updated_at,
        "update advances updated_at ({} -> {})",
        old.updated_at,
        updated.updated_at
    );
    assert_write_time(updated.updated_at, before, after, "updated_at");
    assert_eq!(
        get(store, old.id).await.as_ref(),
        Some(&updated),
        "get returns the product as update returned it"
    );
    let want: Vec<Product> = all
        .iter()
        .map(|p| {
            if p.id == old.id {
                updated.clone()
            } else {
                p.clone()
            }
        })
        .collect();
    assert_same_rows(
        &all_products(store).await,
        &want,
        "listing after an update: only the updated row changed",
    );

    // Its own sku is no conflict, in any case.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let again = NewProduct {
        sku: sku("upd-0001"),
        name: "Renamed Again".to_string(),
        ..new.clone()
    };
    let twice = update(store, old.id, &again, Some(updated.version)).await;
    assert_eq!(as_new(&twice), again, "a second update keeping the sku");
    assert_eq!(
        twice.version,
        old.version + 2,
        "each update bumps the version"
    );
    assert_eq!(twice.created_at, old.created_at, "created_at never moves");
    assert!(
        twice.updated_at > updated.updated_at,
        "a second update advances updated_at again"
    );
    assert_eq!(get(store, old.id).await, Some(twice));
}

/// `update` to a sku another product holds (in any case) is `DuplicateSku`
/// and changes nothing.
pub async fn update_refuses_a_taken_sku(store: &dyn ProductStore) {
    let all = seed(store).await;
    let target = &all[1];
    for (raw, version) in [
        (all[2].sku.as_str().to_string(), None),
        (all[2].sku.as_str().to_ascii_lowercase(), None),
        ("AB-LOWER".to_string(), Some(target.version)),
    ] {
        let new = changed(&as_new(target), &raw);
        let got = store.update(target.id, &new, version).await;
        assert_refused(
            got,
            StorageError::DuplicateSku,
            &format!("update to the taken sku {raw:?} (expected_version {version:?})"),
        );
        assert_unchanged(store, &all, &format!("update to the taken sku {raw:?}")).await;
    }
}

/// `update` and `delete` of an id that does not exist (never did, or was
/// deleted) are `NotFound`, with or without an expected version.
pub async fn writes_to_a_missing_id_are_not_found(store: &dyn ProductStore) {
    let all = seed(store).await;
    let gone = all[3].clone();
    delete(store, gone.id, None).await;
    let before = all_products(store).await;
    let top = max_id(&all);
    for id in [gone.id.get(), top + 1, top + 1_000, i64::MAX] {
        let id = ProductId::new(id).expect("valid id");
        for version in [None, Some(1), Some(gone.version)] {
            let new = fresh("MISSING-1", "Nowhere");
            let what = format!("id {} with expected_version {version:?}", id.get());
            assert_refused(
                store.update(id, &new, version).await,
                StorageError::NotFound,
                &format!("update of the missing {what}"),
            );
            assert_refused(
                store.delete(id, version).await,
                StorageError::NotFound,
                &format!("delete of the missing {what}"),
            );
        }
    }
    assert_unchanged(store, &before, "writes to missing ids").await;
}

/// `update` with `expected_version` applies only while the stored version
/// equals it: the current version succeeds, a stale or future one is
/// `VersionConflict` and changes nothing.
pub async fn update_checks_the_expected_version(store: &dyn ProductStore) {
    let all = seed(store).await;
    let old = all[4].clone();
    let first = changed(&as_new(&old), "VER-0001");
    let updated = update(store, old.id, &first, Some(old.version)).await;
    assert_eq!(updated.version, old.version + 1, "update bumps the version");
    assert_eq!(
        as_new(&updated),
        first,
        "the update with the current version applied"
    );
    let before = all_products(store).await;
    for stale in [old.version, updated.version + 1, 0] {
        let second = changed(&first, "VER-0002");
        assert_refused(
            store.update(old.id, &second, Some(stale)).await,
            StorageError::VersionConflict,
            &format!(
                "update with expected_version {stale} of a product at version {}",
                updated.version
            ),
        );
        assert_unchanged(store, &before, &format!("update with version {stale}")).await;
    }
    let third = update(store, old.id, &as_new(&old), Some(updated.version)).await;
    assert_eq!(
        third.version,
        old.version + 2,
        "the current version applies again"
    );
}

/// `delete` removes the product from `get`, `list`, `count` and
/// `count_all`; deleting it again is `NotFound`.
pub async fn delete_removes_the_product(store: &dyn ProductStore) {
    let all = seed(store).await;
    let gone = all[7].clone();
    delete(store, gone.id, None).await;
    assert_eq!(get(store, gone.id).await, None, "get of a deleted product");
    let want: Vec<Product> = all.iter().filter(|p| p.id != gone.id).cloned().collect();
    assert_same_rows(&all_products(store).await, &want, "listing after a delete");
    let any = ProductFilter::default();
    assert_eq!(
        store
            .count(&any)
            .await
            .unwrap_or_else(|e| fail("count", &e)),
        want.len() as u64,
        "count after a delete"
    );
    assert_eq!(
        count_all(store).await,
        want.len() as u64,
        "count_all after a delete"
    );
    let by_sku = list(
        store,
        &searching(gone.sku.as_str()),
        &relevance(),
        None,
        0,
        ALL,
    )
    .await;
    assert!(
        by_sku.iter().all(|p| p.id != gone.id),
        "search by its sku no longer finds a deleted product"
    );
    assert_refused(
        store.delete(gone.id, None).await,
        StorageError::NotFound,
        "deleting a deleted product",
    );
    assert_refused(
        store.delete(gone.id, Some(gone.version)).await,
        StorageError::NotFound,
        "deleting a deleted product with its last version",
    );
    assert_unchanged(store, &want, "deleting again").await;
}

/// `delete` with `expected_version` applies only while the stored version
/// equals it: a stale one is `VersionConflict` and the row remains.
pub async fn delete_checks_the_expected_version(store: &dyn ProductStore) {
    let all = seed(store).await;
    let old = all[8].clone();
    let updated = update(store, old.id, &changed(&as_new(&old), "DEL-0001"), None).await;
    let before = all_products(store).await;
    for stale in [old.version, updated.version + 1] {
        assert_refused(
            store.delete(old.id, Some(stale)).await,
            StorageError::VersionConflict,
            &format!(
                "delete with expected_version {stale} of a product at version {}",
                updated.version
            ),
        );
        assert_unchanged(store, &before, &format!("delete with version {stale}")).await;
    }
    assert_eq!(
        get(store, old.id).await.as_ref(),
        Some(&updated),
        "a refused delete leaves the row"
    );
    delete(store, old.id, Some(updated.version)).await;
    assert_eq!(
        get(store, old.id).await,
        None,
        "delete with the current version"
    );
}

/// A deleted product's sku can be created again, and ids are never reused:
/// neither a deleted id in the middle nor the highest one.
pub async fn deleted_ids_are_never_reused(store: &dyn ProductStore) {
    let all = seed(store).await;
    let top = max_id(&all);
    let middle = all[5].clone();
    delete(store, middle.id, None).await;
    let again = create_new(store, &as_new(&middle), None).await;
    assert_eq!(
        as_new(&again),
        as_new(&middle),
        "a deleted product's sku can be created again"
    );
    assert!(
        again.id.get() > top,
        "the re-created product gets a new id {} above every id ever handed out ({top})",
        again.id.get()
    );

    // The highest id: an adapter deriving ids from MAX(id) would reuse it.
    delete(store, again.id, None).await;
    let third = create_new(store, &as_new(&middle), None).await;
    assert!(
        third.id > again.id,
        "after deleting the highest id {}, create hands out {}: ids are never reused",
        again.id.get(),
        third.id.get()
    );
    delete(store, third.id, None).await;
    let inserted = store
        .insert_batch(&[fresh("BATCH-AFTER-DELETE", "Batch After Delete")])
        .await
        .unwrap_or_else(|e| fail("insert_batch", &e));
    assert_eq!(inserted, 1);
    let last = all_products(store).await;
    let batch_id = max_id(&last);
    assert!(
        batch_id > third.id.get(),
        "after deleting the highest id {}, insert_batch hands out {batch_id}",
        third.id.get()
    );
    assert!(
        last.iter().all(|p| p.sku != middle.sku),
        "the re-created product was deleted again"
    );
}

/// A create with an idempotency key, repeated with the same key and
/// fingerprint, is `Replayed` with the original id and body (the product
/// as created, as JSON) and inserts nothing, even after the product changed.
pub async fn create_replays_an_idempotency_key(store: &dyn ProductStore) {
    seed(store).await;
    let key = idem("k1", "f1");
    let new = fresh("IDEM-0001", "Idempotent Product");
    let p = create_new(store, &new, Some(&key)).await;
    let count = count_all(store).await;
    let before = all_products(store).await;
    for attempt in ["a retry", "a second retry"] {
        match create(store, &new, Some(&key)).await {
            Created::Replayed { id, body } => {
                assert_eq!(id, p.id, "{attempt} replays the original id");
                let got = replayed_json(&body, attempt);
                assert_eq!(
                    got,
                    product_json(&p),
                    "{attempt} replays the product as created, as JSON"
                );
                let object = got.as_object().expect("the replayed body is an object");
                for field in [
                    "id",
                    "sku",
                    "name",
                    "description",
                    "category",
                    "brand",
                    "price",
                    "stock_quantity",
                    "rating",
                    "is_active",
                    "created_at",
                    "updated_at",
                ] {
                    assert!(
                        object.contains_key(field),
                        "the replayed body has {field:?}"
                    );
                }
            }
            Created::New(q) => panic!(
                "{attempt} with the same key and fingerprint inserted product {} again",
                q.id.get()
            ),
        }
        assert_unchanged(store, &before, attempt).await;
    }
    assert_eq!(count_all(store).await, count, "no second product exists");

    // The original response, not the current product.
    update(store, p.id, &changed(&new, "IDEM-0002"), None).await;
    match create(store, &new, Some(&key)).await {
        Created::Replayed { id, body } => {
            assert_eq!(id, p.id);
            assert_eq!(
                replayed_json(&body, "a retry after an update"),
                product_json(&p),
                "a replay returns the product as created, not as updated"
            );
        }
        Created::New(q) => panic!("a retry after an update inserted {}", q.id.get()),
    }
    assert_eq!(
        count_all(store).await,
        count,
        "the replay after an update inserts nothing"
    );
}

/// The same idempotency key with another fingerprint is
/// `IdempotencyKeyReused` and inserts nothing; the original still replays.
pub async fn idempotency_key_reused_with_another_fingerprint_is_refused(store: &dyn ProductStore) {
    seed(store).await;
    let p = create_new(
        store,
        &fresh("IDEM-0003", "Keyed Product"),
        Some(&idem("k1", "f1")),
    )
    .await;
    let before = all_products(store).await;
    for (new, what) in [
        (fresh("IDEM-0004", "Another Body"), "a fresh sku"),
        (fresh("IDEM-0003", "Keyed Product"), "the same product"),
    ] {
        assert_refused(
            store.create(&new, Some(&idem("k1", "f2"))).await,
            StorageError::IdempotencyKeyReused,
            &format!("the key k1 with another fingerprint ({what})"),
        );
        assert_unchanged(store, &before, "a refused key reuse").await;
    }
    match create(
        store,
        &fresh("IDEM-0003", "Keyed Product"),
        Some(&idem("k1", "f1")),
    )
    .await
    {
        Created::Replayed { id, .. } => assert_eq!(id, p.id, "the original still replays"),
        Created::New(q) => panic!("the original key inserted {} again", q.id.get()),
    }
    // Another key is another request.
    let other = create_new(
        store,
        &fresh("IDEM-0005", "Other Key"),
        Some(&idem("k9", "f1")),
    )
    .await;
    assert!(other.id > p.id, "another key creates");
}

/// A create that fails (duplicate sku) records no idempotency key: a retry
/// with the same key and a fresh sku is `New`, and then replays.
pub async fn failed_create_leaves_no_idempotency_record(store: &dyn ProductStore) {
    let all = seed(store).await;
    let key = idem("k2", "f2");
    let taken = NewProduct {
        name: "Duplicate With Key".to_string(),
        ..as_new(&all[0])
    };
    for attempt in ["a keyed create of a taken sku", "its retry"] {
        assert_refused(
            store.create(&taken, Some(&key)).await,
            StorageError::DuplicateSku,
            attempt,
        );
        assert_unchanged(store, &all, attempt).await;
    }
    let new = fresh("IDEM-0006", "Retried With A Fresh Sku");
    let p = create_new(store, &new, Some(&key)).await;
    assert_eq!(as_new(&p), new);
    assert_eq!(count_all(store).await, all.len() as u64 + 1);
    match create(store, &new, Some(&key)).await {
        Created::Replayed { id, body } => {
            assert_eq!(id, p.id);
            assert_eq!(replayed_json(&body, "the replay"), product_json(&p));
        }
        Created::New(q) => panic!("the key k2 inserted {} twice", q.id.get()),
    }
    assert_eq!(count_all(store).await, all.len() as u64 + 1);
}

/// Concurrent creates with one key and fingerprint insert exactly once:
/// one `New`, every other `Replayed` with its id and body.
pub async fn concurrent_creates_with_one_key_insert_once(store: &dyn ProductStore) {
    seed(store).await;
    let before = count_all(store).await;
    let key = idem("race-key", "race-fingerprint");
    let new = fresh("RACE-0001", "Raced Create");
    let outcomes =
        futures::future::join_all((0..RACERS).map(|_| store.create(&new, Some(&key)))).await;
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(Created::New(p)) => created.push(p),
            Ok(Created::Replayed { id, body }) => replayed.push((id, body)),
            Err(e) => fail("a concurrent create with one key", &e),
        }
    }
    assert_eq!(
        created.len(),
        1,
        "exactly one of {RACERS} concurrent creates with one key inserts"
    );
    let p = &created[0];
    assert_eq!(as_new(p), new);
    for (id, body) in &replayed {
        assert_eq!(*id, p.id, "every other create replays the inserted id");
        assert_eq!(
            replayed_json(body, "a concurrent replay"),
            product_json(p),
            "every other create replays the inserted product"
        );
    }
    assert_eq!(
        count_all(store).await,
        before + 1,
        "count_all grew by exactly one"
    );
}

/// Concurrent creates of one sku without a key: exactly one inserts, every
/// other is `DuplicateSku`.
pub async fn concurrent_creates_of_one_sku_insert_once(store: &dyn ProductStore) {
    seed(store).await;
    let before = count_all(store).await;
    let new = fresh("RACE-0002", "Raced Sku");
    let outcomes = futures::future::join_all((0..RACERS).map(|_| store.create(&new, None))).await;
    let mut created = 0;
    for outcome in outcomes {
        match outcome {
            Ok(Created::New(_)) => created += 1,
            Ok(Created::Replayed { id, .. }) => {
                panic!("a create without a key replayed {}", id.get())
            }
            Err(StorageError::DuplicateSku) => {}
            Err(e) => fail("a concurrent create of one sku", &e),
        }
    }
    assert_eq!(
        created, 1,
        "exactly one of {RACERS} creates of one sku inserts"
    );
    assert_eq!(count_all(store).await, before + 1);
}

/// Concurrent updates with one expected version: exactly one applies, every
/// other is `VersionConflict`, and the stored product is the winner's.
pub async fn concurrent_updates_with_one_version_let_one_win(store: &dyn ProductStore) {
    let all = seed(store).await;
    let old = all[12].clone();
    let bodies: Vec<NewProduct> = (0..RACERS)
        .map(|i| NewProduct {
            name: format!("Racer {i}"),
            ..as_new(&old)
        })
        .collect();
    let outcomes = futures::future::join_all(
        bodies
            .iter()
            .map(|new| store.update(old.id, new, Some(old.version))),
    )
    .await;
    let mut winners = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(p) => winners.push(p),
            Err(StorageError::VersionConflict) => {}
            Err(e) => fail("a concurrent update with one version", &e),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {RACERS} concurrent updates with one expected version applies"
    );
    let winner = &winners[0];
    assert_eq!(
        winner.version,
        old.version + 1,
        "the winner bumped the version once"
    );
    assert_eq!(
        get(store, old.id).await.as_ref(),
        Some(winner),
        "the stored product is the winner's"
    );
    assert_eq!(count_all(store).await, all.len() as u64);
}

/// `list`, `count`, search, `stats`, `categories` and `brands` reflect
/// creates, updates and deletes at once.
pub async fn reads_reflect_writes_at_once(store: &dyn ProductStore) {
    seed(store).await;
    let p = create_new(store, &fresh("READ-0001", "Fresh Loaf"), None).await;
    let all = assert_reads_match(store, "after a create").await;
    assert!(all.contains(&p));
    let categories = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert!(
        has_name(&categories, "Contract Category"),
        "a created product's category is listed"
    );
    let found = list(store, &searching("loaf"), &relevance(), None, 0, ALL).await;
    assert_eq!(
        skus(&found),
        ["READ-0001"],
        "search finds a created product"
    );

    let moved = NewProduct {
        name: "Sourdough Starter".to_string(),
        description: "Lively".to_string(),
        category: label("Moved Category"),
        brand: label("Moved Brand"),
        price: Price::from_cents(100_000_000).expect("valid price"),
        is_active: true,
        ..as_new(&p)
    };
    update(store, p.id, &moved, None).await;
    assert_reads_match(store, "after an update").await;
    let categories = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert!(
        has_name(&categories, "Moved Category") && !has_name(&categories, "Contract Category"),
        "an update moving a product to a new category shows in categories: {categories:?}"
    );
    let brands = store.brands().await.unwrap_or_else(|e| fail("brands", &e));
    assert!(
        has_name(&brands, "Moved Brand") && !has_name(&brands, "Contract Brand"),
        "an update moving a product to a new brand shows in brands"
    );
    let found = list(store, &searching("sourdough"), &relevance(), None, 0, ALL).await;
    assert_eq!(skus(&found), ["READ-0001"], "search finds the updated name");
    let found = list(store, &searching("loaf"), &relevance(), None, 0, ALL).await;
    assert!(found.is_empty(), "search no longer finds the old name");

    delete(store, p.id, None).await;
    assert_reads_match(store, "after a delete").await;
    let categories = store
        .categories()
        .await
        .unwrap_or_else(|e| fail("categories", &e));
    assert!(
        !has_name(&categories, "Moved Category"),
        "a deleted product's category is gone"
    );
    let found = list(store, &searching("sourdough"), &relevance(), None, 0, ALL).await;
    assert!(found.is_empty(), "search no longer finds a deleted product");
}

/// `insert_batch` after writes still skips every taken sku (created, or
/// moved to by an update) and inserts the skus an update or delete freed.
pub async fn insert_batch_skips_skus_taken_by_writes(store: &dyn ProductStore) {
    let all = seed(store).await;
    let created = create_new(store, &fresh("WRITE-0001", "Created Before Batch"), None).await;
    let renamed = all[0].clone();
    update(
        store,
        renamed.id,
        &changed(&as_new(&renamed), "WRITE-0002"),
        None,
    )
    .await;
    let removed = all[1].clone();
    delete(store, removed.id, None).await;
    let before = all_products(store).await;
    let batch = vec![
        NewProduct {
            name: "Must not overwrite a created product".to_string(),
            ..as_new(&created)
        },
        fresh("write-0002", "Must not overwrite an updated product"),
        fresh(renamed.sku.as_str(), "Freed By An Update"),
        fresh(removed.sku.as_str(), "Freed By A Delete"),
        fresh("WRITE-0003", "Brand New"),
    ];
    let inserted = store
        .insert_batch(&batch)
        .await
        .unwrap_or_else(|e| fail("insert_batch", &e));
    assert_eq!(
        inserted, 3,
        "a batch with 2 taken skus (created, updated to) and 3 free ones (freed by an update, by a delete, new)"
    );
    let after = all_products(store).await;
    let top = max_id(&before).max(removed.id.get());
    let new_rows: Vec<&str> = after
        .iter()
        .filter(|p| p.id.get() > top)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        new_rows,
        ["Freed By An Update", "Freed By A Delete", "Brand New"],
        "the inserted rows, with new ids, in batch order"
    );
    let kept: Vec<Product> = after
        .iter()
        .filter(|p| p.id.get() <= top)
        .cloned()
        .collect();
    assert_same_rows(&kept, &before, "insert_batch leaves existing rows alone");
}

async fn upsert(
    store: &dyn ProductStore,
    products: &[NewProduct],
    key: Option<&Idempotency>,
) -> catalog_domain::BatchUpserted {
    store
        .upsert_batch(products, key)
        .await
        .unwrap_or_else(|e| fail("upsert_batch", &e))
}

/// An upsert inserts a new sku, replaces a changed product (version bumped,
/// `created_at` kept) and leaves an equal one alone (same version and
/// `updated_at`); the same batch again changes nothing at all. Every read
/// (counts, stats, facets, categories, search) agrees with the reference
/// afterwards.
pub async fn upsert_batch_creates_updates_and_leaves_equal_rows_alone(store: &dyn ProductStore) {
    use catalog_domain::UpsertOutcome::{Created, Unchanged, Updated};
    let seeded = seed(store).await;
    let same = seeded[0].clone();
    let edited = seeded[1].clone();
    let mut edit = changed(&as_new(&edited), edited.sku.as_str());
    edit.name = "Sourdough upserted".into();
    let new = fresh("UPSERT-0001", "Upserted sourdough starter");
    // A price and stock feed: the search document stays as it was.
    let fed = seeded[2].clone();
    let mut feed = as_new(&fed);
    feed.price = Price::from_cents(fed.price.cents() + 7).expect("valid price");
    feed.stock_quantity += 5;
    feed.category = label("Fed Category");
    let batch = vec![as_new(&same), edit.clone(), new.clone(), feed.clone()];
    let count = count_all(store).await;

    let got = upsert(store, &batch, None).await;
    assert!(!got.replayed, "a call without a key is never a replay");
    let outcomes: Vec<_> = got.items.iter().map(|u| u.outcome).collect();
    assert_eq!(
        outcomes,
        vec![Unchanged, Updated, Created, Updated],
        "outcomes in input order"
    );
    assert_eq!(got.items[0].id, same.id);
    assert_eq!(got.items[1].id, edited.id);
    assert_eq!(count_all(store).await, count + 1, "one product was created");

    let after_same = get(store, same.id)
        .await
        .expect("the unchanged product exists");
    assert_eq!(
        after_same.version, same.version,
        "an equal product keeps its version"
    );
    assert_eq!(after_same.updated_at, same.updated_at, "and its updated_at");

    let after_edit = get(store, edited.id)
        .await
        .expect("the updated product exists");
    assert_eq!(as_new(&after_edit), edit, "every writable field replaced");
    assert_eq!(
        after_edit.version,
        edited.version + 1,
        "the version bumped once"
    );
    assert_eq!(after_edit.created_at, edited.created_at, "created_at kept");
    assert!(after_edit.updated_at >= edited.updated_at);

    let created = get(store, got.items[2].id)
        .await
        .expect("the created product exists");
    assert_eq!(as_new(&created), new);
    assert_eq!(created.version, 1);

    let after_feed = get(store, fed.id).await.expect("the fed product exists");
    assert_eq!(as_new(&after_feed), feed, "the fed fields replaced");
    assert_eq!(after_feed.version, fed.version + 1);
    let word = fed
        .name
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 4)
        .expect("a word of the fed product's name")
        .to_lowercase();
    let found = list(
        store,
        &parse_filter(&format!("search={word}&category=Fed Category")),
        &[SortKey::ID],
        None,
        0,
        ALL,
    )
    .await;
    assert_eq!(
        found.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![fed.id],
        "a product whose price and stock were fed is still found by its name ({word})"
    );

    let before = assert_reads_match(store, "after an upsert").await;
    let again = upsert(store, &batch, None).await;
    assert!(
        again.items.iter().all(|u| u.outcome == Unchanged),
        "the same batch twice: every product unchanged, got {:?}",
        again.items
    );
    assert_unchanged(store, &before, "the same upsert again").await;
    let hits = list(
        store,
        &parse_filter("search=upserted"),
        &[SortKey::ID],
        None,
        0,
        ALL,
    )
    .await;
    let ids: BTreeSet<i64> = hits.iter().map(|p| p.id.get()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([edited.id.get(), created.id.get()]),
        "search finds the updated and the created product"
    );
}

/// An upsert with an idempotency key, repeated with the same key and
/// fingerprint, replays the first outcomes and writes nothing, even after
/// the products changed; another fingerprint is refused.
pub async fn upsert_batch_replays_an_idempotency_key(store: &dyn ProductStore) {
    seed(store).await;
    let key = idem("bulk-1", "f1");
    let batch = vec![
        fresh("UPSERT-0101", "Keyed bulk one"),
        fresh("UPSERT-0102", "Keyed bulk two"),
    ];
    let first = upsert(store, &batch, Some(&key)).await;
    assert!(!first.replayed);
    let one = first.items[0].id;
    update(store, one, &changed(&batch[0], "UPSERT-0101"), None).await;
    let before = all_products(store).await;
    let retry = upsert(store, &batch, Some(&key)).await;
    assert!(retry.replayed, "the same key and fingerprint is a replay");
    assert_eq!(retry.items, first.items, "the first call's outcomes");
    assert_unchanged(store, &before, "a replayed upsert").await;
    match store
        .upsert_batch(&batch, Some(&idem("bulk-1", "f2")))
        .await
    {
        Err(StorageError::IdempotencyKeyReused) => {}
        other => panic!("a key reused with another fingerprint: {other:?}"),
    }
    assert_unchanged(store, &before, "a refused upsert").await;
}

/// Upserts of one new sku racing each other create it once: the loser
/// either finds it (updated or unchanged) or fails with `DuplicateSku`
/// and writes nothing.
pub async fn concurrent_upserts_of_one_sku_create_once(store: &dyn ProductStore) {
    seed(store).await;
    let count = count_all(store).await;
    let batch = vec![fresh("UPSERT-0201", "Raced bulk")];
    let results = futures::future::join_all((0..4).map(|_| store.upsert_batch(&batch, None))).await;
    let mut created = 0;
    for r in results {
        match r {
            Ok(w) if w.items[0].outcome == catalog_domain::UpsertOutcome::Created => created += 1,
            Ok(_) | Err(StorageError::DuplicateSku) => {}
            Err(e) => fail("a racing upsert", &e),
        }
    }
    assert_eq!(created, 1, "exactly one racing upsert created the product");
    assert_eq!(count_all(store).await, count + 1);
}

/// `seeded` split into four batches (product `i` in batch `i % 4`), each
/// product changed by `edit(batch, i, product)`, `extra` appended to every
/// batch, and batches 1 and 3 in reverse order.
fn four_batches(
    seeded: &[Product],
    extra: &[NewProduct],
    edit: impl Fn(usize, usize, &mut NewProduct),
) -> Vec<Vec<NewProduct>> {
    (0..4_usize)
        .map(|k| {
            let mut batch: Vec<NewProduct> = seeded
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 4 == k)
                .map(|(i, p)| {
                    let mut n = as_new(p);
                    edit(k, i, &mut n);
                    n
                })
                .collect();
            batch.extend(extra.iter().cloned());
            if k % 2 == 1 {
                batch.reverse();
            }
            batch
        })
        .collect()
}

/// Writes `batches` all at once, `rounds` times; every one must succeed.
async fn race_batches(
    store: &dyn ProductStore,
    batches: &[Vec<NewProduct>],
    rounds: usize,
    kind: &str,
) {
    for round in 0..rounds {
        let results =
            futures::future::join_all(batches.iter().map(|b| store.upsert_batch(b, None))).await;
        for (k, r) in results.into_iter().enumerate() {
            if let Err(e) = r {
                fail(&format!("round {round}: {kind} upsert batch {k}"), &e);
            }
        }
    }
}

/// Batches of different products that share their categories, brands and
/// price ranges (so their triggers update the same summary and histogram
/// rows), in different orders, written at once: all succeed (none dies in
/// a deadlock on the derived tables), and the reads agree with the
/// reference afterwards.
pub async fn concurrent_overlapping_upserts_all_succeed(store: &dyn ProductStore) {
    let seeded = seed(store).await;
    let categories = ["Overlap A", "Overlap B", "Overlap C"];
    let brands = ["Maker X", "Maker Y"];
    let batches = four_batches(&seeded, &[], |_, i, n| {
        n.category = label(categories[i % 3]);
        n.brand = label(brands[i % 2]);
        n.stock_quantity += 1;
        n.price = Price::from_cents(100 + (i as i64 % 7) * 1_000).expect("valid price");
    });
    race_batches(store, &batches, 3, "overlapping").await;
    assert_reads_match(store, "after overlapping upserts").await;
}

/// Batches that mix kinds of writes, racing: each renames some products,
/// reprices others and creates the same new skus as the others (in its own
/// order). All succeed (no deadlock between batches that write in several
/// statements, none refused for a sku another batch created first), each
/// new sku exists once, and the reads agree with the reference.
pub async fn concurrent_mixed_upserts_all_succeed(store: &dyn ProductStore) {
    let seeded = seed(store).await;
    let count = count_all(store).await;
    let shared_new: Vec<NewProduct> = (0..6)
        .map(|i| fresh(&format!("UPSERT-MIX-{i:02}"), "Mixed bulk"))
        .collect();
    let batches = four_batches(&seeded, &shared_new, |k, i, n| {
        if i % 2 == 0 {
            n.name = format!("{} mixed {k}", n.name);
        } else {
            n.price = Price::from_cents(200 + (i as i64 % 5) * 1_000).expect("valid price");
            n.category = label("Overlap A");
        }
    });
    race_batches(store, &batches, 2, "mixed").await;
    assert_eq!(
        count_all(store).await,
        count + shared_new.len() as u64,
        "each new sku created once"
    );
    assert_reads_match(store, "after mixed upserts").await;
}
