//! The reference answers, computed in Rust from the domain's semantics over
//! the full product set an adapter returned. Every check compares the
//! adapter with these.

use catalog_domain::ports::PageSpec;
use catalog_domain::query::{compare_keys, sort_values};
use catalog_domain::{NameCount, Product, ProductFilter, StatsRow};

/// What `list` must return for `page` over `products`: the rows matching the
/// filter, strictly after the keyset position, in sort order, then offset
/// and limit applied.
pub fn list(products: &[Product], page: PageSpec<'_>) -> Vec<Product> {
    let search = page.filter.search.as_ref();
    let mut rows: Vec<_> = products
        .iter()
        .filter(|p| page.filter.matches(p))
        .map(|p| (sort_values(page.sort, p, search), p))
        .filter(|(key, _)| {
            page.after
                .is_none_or(|after| compare_keys(page.sort, key, after).is_gt())
        })
        .collect();
    rows.sort_by(|a, b| compare_keys(page.sort, &a.0, &b.0));
    rows.into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .map(|(_, p)| p.clone())
        .collect()
}

/// What `count` must return.
pub fn count(products: &[Product], filter: &ProductFilter) -> u64 {
    products.iter().filter(|p| filter.matches(p)).count() as u64
}

/// What `stats` must return: for no match, zero counts and sums and no
/// min/max.
pub fn stats(products: &[Product], filter: &ProductFilter) -> StatsRow {
    StatsRow::tally(products.iter().filter(|p| filter.matches(p)))
}

/// Distinct names with their counts, by name in code-point order.
pub fn name_counts<'a>(names: impl Iterator<Item = &'a str>) -> Vec<NameCount> {
    NameCount::tally(names)
}
