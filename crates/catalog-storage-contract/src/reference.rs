//! The reference answers, computed in Rust from the domain's semantics over
//! the full product set an adapter returned. Every check compares the
//! adapter with these.

use std::collections::{BTreeMap, BTreeSet};

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
    let mut row = StatsRow::default();
    let mut categories = BTreeSet::new();
    let mut brands = BTreeSet::new();
    for p in products.iter().filter(|p| filter.matches(p)) {
        row.total_products += 1;
        row.active_products += u64::from(p.is_active);
        row.in_stock_products += u64::from(p.stock_quantity > 0);
        row.total_stock += p.stock_quantity;
        let cents = p.price.cents();
        row.min_price_cents = Some(row.min_price_cents.map_or(cents, |m| m.min(cents)));
        row.max_price_cents = Some(row.max_price_cents.map_or(cents, |m| m.max(cents)));
        row.sum_price_cents += cents;
        row.sum_rating_tenths += i64::from(p.rating.tenths());
        categories.insert(p.category.as_str());
        brands.insert(p.brand.as_str());
    }
    row.categories = categories.len() as u64;
    row.brands = brands.len() as u64;
    row
}

/// Distinct names with their counts, by name in code-point order (`str`'s
/// `Ord` compares UTF-8 bytes, which is code-point order).
pub fn name_counts<'a>(names: impl Iterator<Item = &'a str>) -> Vec<NameCount> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for n in names {
        *counts.entry(n).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(name, product_count)| NameCount {
            name: name.to_string(),
            product_count,
        })
        .collect()
}
