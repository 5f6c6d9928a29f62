//! Sort orders under writes.

#![allow(clippy::unwrap_used)]
use super::*;
use catalog_domain::query::{compare_keys, sort_values};
use catalog_domain::{Label, Price, ProductId, Rating, Sku};

fn product(id: i64, cents: i64) -> Product {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + id, 0).unwrap();
    Product {
        id: ProductId::new(id).unwrap(),
        sku: Sku::parse(&format!("P-{id}")).unwrap(),
        name: format!("Item {}", id % 7),
        description: "plain".into(),
        category: Label::from_stored(format!("C{}", id % 3)),
        brand: Label::from_stored("B".into()),
        price: Price::from_cents(cents).unwrap(),
        stock_quantity: id % 5,
        rating: Rating::from_tenths(id % 51).unwrap(),
        is_active: true,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

/// Pages by walking a built sort order stay exact after writes move,
/// add and remove products (their stale places are skipped and their
/// current places merged in), and after the order is rebuilt.
#[test]
fn sort_orders_stay_exact_under_writes() {
    let mut products: Vec<Product> = (1..=3000).map(|i| product(i, (i * 37) % 1000)).collect();
    let mut index = Index::build(products.iter()).unwrap();
    let all = ProductFilter::default();
    let check = |index: &Index, products: &[Product]| {
        for key in [
            SortKey {
                field: SortField::Price,
                descending: false,
            },
            SortKey {
                field: SortField::Price,
                descending: true,
            },
            SortKey {
                field: SortField::Name,
                descending: false,
            },
        ] {
            let sort = [key, SortKey::ID];
            let mut expected: Vec<&Product> = products.iter().collect();
            expected.sort_by(|a, b| {
                compare_keys(
                    &sort,
                    &sort_values(&sort, a, None),
                    &sort_values(&sort, b, None),
                )
            });
            for offset in [0u64, 7, 1500, 2990] {
                let got = index
                    .page(&PageSpec {
                        filter: &all,
                        sort: &sort,
                        after: None,
                        offset,
                        limit: 20,
                    })
                    .0;
                let want: Vec<i64> = expected
                    .iter()
                    .skip(offset as usize)
                    .take(20)
                    .map(|p| p.id.get())
                    .collect();
                assert_eq!(got, want, "{key:?} at {offset}");
            }
        }
    };
    check(&index, &products);
    // Move some, delete some, add some: fewer than the rebuild limit.
    for i in (0..products.len()).step_by(97) {
        products[i].price = Price::from_cents(999 - (i as i64 % 1000)).unwrap();
        products[i].name = "Aardvark".into();
        products[i].version += 1;
        index.upsert(&products[i]).unwrap();
    }
    for id in [5, 500, 2999] {
        index.remove(id);
    }
    products.retain(|p| ![5, 500, 2999].contains(&p.id.get()));
    for id in 3001..3010 {
        let p = product(id, id % 13);
        index.upsert(&p).unwrap();
        products.push(p);
    }
    check(&index, &products);
    // Past the limit: the orders are dropped and rebuilt on use.
    for p in products.iter_mut().take(1100) {
        p.price = Price::from_cents(p.price.cents() / 2).unwrap();
        p.version += 1;
        index.upsert(p).unwrap();
    }
    check(&index, &products);
}

/// Matches bunched at the far end of a sort order (the cheapest products
/// under `sort=-price`): the walk gives up at a checkpoint and the
/// matches are sorted instead, with the same page, products written since
/// the order was built included.
#[test]
fn a_walk_that_runs_out_of_budget_gives_the_same_page() {
    let mut products: Vec<Product> = (1..=2000).map(|i| product(i, 1000 + i)).collect();
    // The 200 cheapest are the only ones of category "Cheap": a walk from
    // the dearest reads 1,800 others first, more than selecting among
    // the 200 would cost.
    for p in products.iter_mut().take(200) {
        p.category = Label::from_stored("Cheap".into());
    }
    let mut index = Index::build(products.iter()).unwrap();
    let cheap = ProductFilter {
        categories: vec![Label::from_stored("Cheap".into())],
        ..ProductFilter::default()
    };
    let sort = [
        SortKey {
            field: SortField::Price,
            descending: true,
        },
        SortKey::ID,
    ];
    let check = |index: &Index, products: &[Product], round: &str| {
        let mut expected: Vec<&Product> = products.iter().filter(|p| cheap.matches(p)).collect();
        expected.sort_by(|a, b| {
            compare_keys(
                &sort,
                &sort_values(&sort, a, None),
                &sort_values(&sort, b, None),
            )
        });
        for offset in [0u64, 3, 30] {
            let got = index
                .page(&PageSpec {
                    filter: &cheap,
                    sort: &sort,
                    after: None,
                    offset,
                    limit: 5,
                })
                .0;
            let want: Vec<i64> = expected
                .iter()
                .skip(offset as usize)
                .take(5)
                .map(|p| p.id.get())
                .collect();
            assert_eq!(got, want, "{round}: offset {offset}");
        }
    };
    check(&index, &products, "built");
    // A cheap product becomes the dearest of its kind after the build.
    products[7].price = Price::from_cents(1_500).unwrap();
    products[7].version += 1;
    index.upsert(&products[7]).unwrap();
    check(&index, &products, "after a write");
}

/// A filtered walk checks at its checkpoint that it has found enough:
/// matches bunched at the far end of the order make it give up there
/// (the caller then selects the page from the matches), spread ones let
/// it finish.
#[test]
fn a_walk_gives_up_at_its_checkpoint_when_the_matches_are_bunched() {
    let mut products: Vec<Product> = (1..=2000).map(|i| product(i, 1000 + i)).collect();
    for p in products.iter_mut().take(200) {
        p.category = Label::from_stored("Cheap".into());
    }
    let index = Index::build(products.iter()).unwrap();
    let desc = SortKey {
        field: SortField::Price,
        descending: true,
    };
    let of = |name: &str| {
        index.matches(&ProductFilter {
            categories: vec![Label::from_stored(name.into())],
            ..ProductFilter::default()
        })
    };
    let early = |every, instead| pages::Checkpoint {
        every,
        need: 5,
        instead,
    };
    // The cheapest 200 seen from the dearest end: nothing by entry 100,
    // so the projection is unbounded and the walk gives up there.
    let cheap = of("Cheap");
    assert_eq!(
        index.walk_page(desc, None, &cheap, 0, 5, early(100, 200)),
        None
    );
    // When selecting would cost more than reading the whole order, the
    // walk reads on and finds them.
    let walked = index
        .walk_page(desc, None, &cheap, 0, 5, early(100, 100_000))
        .unwrap();
    assert_eq!(walked, vec![200, 199, 198, 197, 196]);
    // A third of the catalog, spread over the order: done long before.
    let spread = of("C1");
    let page = index
        .walk_page(desc, None, &spread, 0, 5, early(15, 600))
        .unwrap();
    assert_eq!(page.len(), 5);
}

/// Items `offset..offset + limit` of `m` sorted by comparing documents:
/// the reference the faster paths are checked against.
fn compared_page(
    index: &Index,
    m: &Bitmap,
    sort: &[SortKey],
    offset: usize,
    limit: usize,
) -> Vec<i64> {
    let mut all: Vec<u32> = m.iter().collect();
    all.sort_by(|a, b| index.cmp_docs(sort, *a, *b, &|_| 0));
    all.iter()
        .skip(offset)
        .take(limit)
        .map(|d| i64::from(*d))
        .collect()
}

/// A walk of one category's or one brand's products, from the order
/// grouped by that label, gives the page the compared order gives: for
/// both labels, both directions, offsets inside and past the label, a
/// filter of both labels (the smaller one walked), and after writes that
/// move products between labels, change their prices, remove some and add
/// some under a label the grouped order has never seen.
#[test]
fn walks_of_one_label_equal_the_compared_order() {
    let mut products: Vec<Product> = (1..=3000).map(|i| product(i, (i * 37) % 500)).collect();
    for p in &mut products {
        p.brand = Label::from_stored(format!("B{}", p.id.get() % 7));
    }
    let mut index = Index::build(products.iter()).unwrap();
    let check = |index: &Index, when: &str| {
        let filters = [
            ("C1", None),
            ("C2", None),
            ("", Some("B3")),
            ("C0", Some("B5")),
            ("New", None),
        ];
        for (category, brand) in filters {
            let filter = ProductFilter {
                categories: (!category.is_empty())
                    .then(|| Label::from_stored(category.into()))
                    .into_iter()
                    .collect(),
                brands: brand
                    .map(|b| Label::from_stored(b.into()))
                    .into_iter()
                    .collect(),
                ..ProductFilter::default()
            };
            let m = index.matches(&filter);
            let scope = index.walk_scope(&filter).map(|(g, l, _)| (g, l));
            for field in [SortField::Price, SortField::Rating] {
                for descending in [false, true] {
                    let key = SortKey { field, descending };
                    let sort = [key, SortKey::ID];
                    for (offset, limit) in [(0, 20), (13, 7), (900, 20), (5000, 20)] {
                        let want = compared_page(index, &m, &sort, offset, limit);
                        let early = pages::Checkpoint {
                            every: 1 << 40,
                            need: (offset + limit) as u64,
                            instead: u64::MAX,
                        };
                        let walked = index.walk_page(key, scope, &m, offset, limit, early);
                        assert_eq!(
                            walked.as_ref(),
                            Some(&want),
                            "{when}: {category}/{brand:?} {field:?} descending={descending} offset={offset}"
                        );
                        let (paged, total) = index.page(&PageSpec {
                            filter: &filter,
                            sort: &sort,
                            after: None,
                            offset: offset as u64,
                            limit: limit as u64,
                        });
                        assert_eq!((paged, total), (want, m.len()), "{when}: Index::page");
                    }
                }
            }
        }
    };
    // The catalog's orders first, then writes, then the grouped orders:
    // built from orders with stale places, they must know them too.
    for field in [SortField::Price, SortField::Rating] {
        for descending in [false, true] {
            index.perm(SortKey { field, descending }, Group::All);
        }
    }
    for id in (3..=3000).step_by(101) {
        let mut p = products[(id - 1) as usize].clone();
        p.category = Label::from_stored(format!("C{}", (id + 2) % 3));
        p.price = Price::from_cents((id * 13) % 800).unwrap();
        p.version += 1;
        index.upsert(&p).unwrap();
    }
    check(&index, "grouped after writes");
    // Moved between categories and brands, repriced, removed, and new
    // products under a new category: the grouped orders' places for them
    // are stale, and the walks merge them in.
    for id in (5..=3000).step_by(97) {
        let mut p = products[(id - 1) as usize].clone();
        p.category = Label::from_stored(format!("C{}", (id + 1) % 3));
        p.brand = Label::from_stored(format!("B{}", (id + 2) % 7));
        p.price = Price::from_cents((id * 11) % 700).unwrap();
        p.version += 10;
        index.upsert(&p).unwrap();
    }
    for id in (9..=3000).step_by(211) {
        index.remove(id);
    }
    for id in 3001..=3040 {
        let mut p = product(id, id % 300);
        p.category = Label::from_stored(if id % 2 == 0 { "New" } else { "C1" }.into());
        p.brand = Label::from_stored("B3".into());
        index.upsert(&p).unwrap();
    }
    check(&index, "after writes");
}

/// With more labels than the intersection path takes (a catalog of many
/// brands), facet counts come from one pass over the matches and equal a
/// count of the products themselves, after writes move and remove some.
#[test]
fn many_brand_facets_equal_a_plain_count() {
    let mut products: Vec<Product> = (1..=2000)
        .map(|i| {
            let mut p = product(i, 100 + i);
            p.brand = Label::from_stored(format!("Brand {}", i % 97));
            p
        })
        .collect();
    let mut index = Index::build(products.iter()).unwrap();
    for p in products.iter_mut().filter(|p| p.id.get() % 11 == 0) {
        p.brand = Label::from_stored("Brand 5".into());
        index.upsert(p).unwrap();
    }
    for id in (1..=2000).filter(|id| id % 13 == 0) {
        index.remove(id);
    }
    products.retain(|p| p.id.get() % 13 != 0);
    let filter = ProductFilter {
        in_stock: Some(true),
        ..ProductFilter::default()
    };
    let m = index.matches(&filter);
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for p in products.iter().filter(|p| filter.matches(p)) {
        *expected.entry(p.brand.as_str().to_string()).or_default() += 1;
    }
    let got: Vec<(FacetKey, u64)> = index.facet_counts_of(&m, FacetField::Brand);
    let expected: Vec<(FacetKey, u64)> = expected
        .into_iter()
        .map(|(name, n)| (FacetKey::Text(name), n))
        .collect();
    assert_eq!(got, expected);
}

/// `heavy` bounds a search by its rarest clause's postings against a
/// sixteenth of the catalog (4,375 of 70,000 here): every product holds
/// "plain" and "item", a seventh of them "5", one the sku number "17".
/// Short prefixes and filters without words are heavy whatever they match.
#[test]
fn heavy_reads_are_bounded_by_the_rarest_clause() {
    let products: Vec<Product> = (1..=70_000).map(|i| product(i, i % 1000)).collect();
    let index = Index::build(products.iter()).unwrap();
    let search = |q: &str| ProductFilter {
        search: Some(SearchQuery::parse(q).unwrap()),
        ..ProductFilter::default()
    };
    assert!(index.heavy(&ProductFilter::default()));
    assert!(index.heavy(&search("plain")));
    assert!(index.heavy(&search("pla")), "a prefix of every product");
    assert!(
        index.heavy(&search("zz")),
        "a short prefix, even of nothing"
    );
    assert!(index.heavy(&search("5 plain")), "10,000 of 70,000");
    assert!(!index.heavy(&search("17 plain")), "a sku number");
    assert!(!index.heavy(&search("plain \"p 17\"")), "a phrase");
    assert!(!index.heavy(&search("nowhere plain")));
}

/// The selection among (value, id) pairs gives the page the comparison
/// of documents gives, for every number column, both directions, ties
/// (many products share a price, a stock and a rating) included.
#[test]
fn keyed_pages_equal_the_compared_order() {
    let products: Vec<Product> = (1..=2000).map(|i| product(i, (i * 7) % 90)).collect();
    let index = Index::build(products.iter()).unwrap();
    let m: Bitmap = (1..=2000u32).filter(|d| d % 3 != 0).collect();
    for field in [
        SortField::Price,
        SortField::StockQuantity,
        SortField::Rating,
        SortField::CreatedAt,
        SortField::UpdatedAt,
    ] {
        for descending in [false, true] {
            let key = SortKey { field, descending };
            let sort = [key, SortKey::ID];
            for (offset, limit) in [(0, 20), (7, 5), (1300, 50), (1330, 20)] {
                let want = compared_page(&index, &m, &sort, offset, limit);
                assert_eq!(
                    index.keyed_page(key, &m, offset, limit),
                    Some(want),
                    "{field:?} descending={descending} offset={offset}"
                );
            }
        }
    }
    let by_name = SortKey {
        field: SortField::Name,
        descending: false,
    };
    assert_eq!(index.keyed_page(by_name, &m, 0, 20), None);
}

/// A relevance page taken from the best tier alone (no cursor, no exact
/// sku, the tier holds the page) equals the page read across every tier,
/// at every offset, the tier boundaries included.
#[test]
fn relevance_pages_from_the_best_tier_equal_the_walk_of_every_tier() {
    let products: Vec<Product> = (1..=600)
        .map(|i| {
            let mut p = product(i, 100 + i);
            // Both words in the name, one of them, or only in the description.
            p.name = match i % 4 {
                0 => format!("alpha beta {i}"),
                1 => format!("alpha {i}"),
                2 => format!("betamax {i}"),
                _ => format!("gamma {i}"),
            };
            p.description = "alpha beta gamma".into();
            p
        })
        .collect();
    let index = Index::build(products.iter()).unwrap();
    for q in [
        "alpha beta",
        "alpha bet",
        "gamma",
        "alpha -gamma",
        "beta alpha",
    ] {
        let s = SearchQuery::parse(q).unwrap();
        let filter = ProductFilter {
            search: Some(s.clone()),
            ..ProductFilter::default()
        };
        let m = index.matches(&filter);
        let every: Vec<i64> = index
            .tiers(&s, &m)
            .into_iter()
            .flat_map(|(_, tier)| tier.iter().map(i64::from).collect::<Vec<_>>())
            .collect();
        assert_eq!(every.len() as u64, m.len(), "{q}");
        for (offset, limit) in [
            (0, 20),
            (140, 10),
            (145, 10),
            (150, 20),
            (590, 20),
            (700, 5),
        ] {
            let want: Vec<i64> = every.iter().copied().skip(offset).take(limit).collect();
            assert_eq!(
                index.relevance_page(&s, &m, None, offset, limit),
                want,
                "{q} offset={offset} limit={limit}"
            );
        }
    }
}

/// A page answered from the postings alone ([`Index::posting_page`])
/// equals the general path's page and total (the matches built, then
/// paged), for one, two and three words, prefixes of one word or of
/// several, a word one product holds, words no product holds together, and
/// offsets inside, across and past the best tier; and it declines what it
/// does not answer.
#[test]
fn pages_from_the_postings_equal_the_general_path() {
    let words = ["red", "green", "blue", "lamp", "chair", "desk", "oak"];
    let products: Vec<Product> = (1..=900)
        .map(|i| {
            let mut p = product(i, 100 + i);
            let w = |k: i64| words[((i * k + k * k) % words.len() as i64) as usize];
            p.name = format!("{} {} {}", w(3), w(5), if i == 7 { "unique" } else { "x" });
            p.description = format!(
                "{} {} {}",
                w(11),
                w(13),
                if i == 9 { "lonely" } else { "y" }
            );
            p
        })
        .collect();
    let index = Index::build(products.iter()).unwrap();
    let relevance = [
        SortKey {
            field: SortField::Relevance,
            descending: true,
        },
        SortKey::ID,
    ];
    let (mut answered, mut handed_on) = (0, 0);
    for q in [
        "red",
        "blue lamp",
        "lamp blue",
        "red green oak",
        "unique",
        "unique red",
        "lonely",
        "lonely red",
        "chair desk",
        "red red",
        "missing",
        "blue missing",
        "lam",
        "blue la",
        "gr",
        "d",
        "oak uni",
        "red green o",
        "\"red\" lamp",
    ] {
        let filter = ProductFilter {
            search: Some(SearchQuery::parse(q).unwrap()),
            ..ProductFilter::default()
        };
        for (offset, limit) in [(0, 20), (0, 1), (15, 10), (100, 20), (300, 50), (5000, 20)] {
            let page = PageSpec {
                filter: &filter,
                sort: &relevance,
                after: None,
                offset,
                limit,
            };
            let m = index.matches(&filter);
            let general = (index.page_of(&m, &page), m.len());
            match index.posting_page(&page) {
                Some(Quick::Page(ids, total)) => {
                    answered += 1;
                    assert_eq!((ids, total), general, "{q} offset={offset} limit={limit}");
                }
                Some(Quick::Matches(built)) => {
                    handed_on += 1;
                    assert_eq!(built, m, "{q}");
                }
                None => {}
            }
            assert_eq!(
                index.page(&page),
                general,
                "{q} offset={offset} limit={limit}"
            );
        }
    }
    // Most of these it answers; what it declines is still answered (above).
    assert!(answered > 50, "answered {answered}");
    assert!(handed_on > 5, "handed on {handed_on}");
    // It declines a filter, an exclusion, a phrase and another sort.
    let s = |q: &str| Some(SearchQuery::parse(q).unwrap());
    for filter in [
        ProductFilter {
            search: s("red"),
            in_stock: Some(true),
            ..ProductFilter::default()
        },
        ProductFilter {
            search: s("red -blue"),
            ..ProductFilter::default()
        },
        ProductFilter {
            search: s("\"red lamp\""),
            ..ProductFilter::default()
        },
    ] {
        let page = PageSpec {
            filter: &filter,
            sort: &relevance,
            after: None,
            offset: 0,
            limit: 20,
        };
        assert_eq!(index.posting_page(&page), None, "{filter:?}");
    }
    let filter = ProductFilter {
        search: s("red"),
        ..ProductFilter::default()
    };
    let by_price = [
        SortKey {
            field: SortField::Price,
            descending: false,
        },
        SortKey::ID,
    ];
    let page = PageSpec {
        filter: &filter,
        sort: &by_price,
        after: None,
        offset: 0,
        limit: 20,
    };
    assert_eq!(index.posting_page(&page), None);
}
