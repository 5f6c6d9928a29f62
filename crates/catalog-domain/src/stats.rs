//! Aggregates over products: what storage computes (`StatsRow`) and what the
//! API returns (`Stats`), with the rounding rules of the contract.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::product::Product;

/// Raw aggregates a storage adapter computes over the matching products.
/// Sums are exact integers (cents, tenths); the domain divides and rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRow {
    pub total_products: u64,
    pub active_products: u64,
    pub in_stock_products: u64,
    pub total_stock: i64,
    pub min_price_cents: Option<i64>,
    pub max_price_cents: Option<i64>,
    pub sum_price_cents: i64,
    pub sum_rating_tenths: i64,
    pub categories: u64,
    pub brands: u64,
}

impl StatsRow {
    /// The aggregates of `products` (already filtered), tallied in Rust:
    /// the in-memory adapter's answer and the contract's reference. For no
    /// product, zero counts and sums and no min/max.
    pub fn tally<'a>(products: impl IntoIterator<Item = &'a Product>) -> Self {
        let mut row = StatsRow::default();
        let mut categories = BTreeSet::new();
        let mut brands = BTreeSet::new();
        for p in products {
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceStats {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub avg: Option<f64>,
}

/// The stats response body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub total_products: u64,
    pub active_products: u64,
    pub in_stock_products: u64,
    pub total_stock: i64,
    pub price: PriceStats,
    pub average_rating: Option<f64>,
    pub categories: u64,
    pub brands: u64,
}

/// `sum / n / scale` rounded half up to 2 decimals, in integer arithmetic
/// so exact halves (1.005) round as written, not as floats happen to land.
fn avg2(sum: i64, n: u64, scale: i64) -> f64 {
    let n = i128::from(n);
    // hundredths = sum * 100 / (scale * n), rounded half up (sums are >= 0).
    let num = i128::from(sum) * 100;
    let den = i128::from(scale) * n;
    let hundredths = (2 * num + den) / (2 * den);
    hundredths as f64 / 100.0
}

impl From<StatsRow> for Stats {
    fn from(r: StatsRow) -> Self {
        let n = r.total_products;
        let avg = |sum: i64, scale: i64| (n > 0).then(|| avg2(sum, n, scale));
        Stats {
            total_products: n,
            active_products: r.active_products,
            in_stock_products: r.in_stock_products,
            total_stock: r.total_stock,
            price: PriceStats {
                min: r
                    .min_price_cents
                    .filter(|_| n > 0)
                    .map(|c| c as f64 / 100.0),
                max: r
                    .max_price_cents
                    .filter(|_| n > 0)
                    .map(|c| c as f64 / 100.0),
                avg: avg(r.sum_price_cents, 100),
            },
            average_rating: avg(r.sum_rating_tenths, 10),
            categories: r.categories,
            brands: r.brands,
        }
    }
}

/// A distinct category or brand with its product count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameCount {
    pub name: String,
    pub product_count: u64,
}

impl NameCount {
    /// Distinct names with their counts, by name in code-point order
    /// (`str`'s `Ord` compares UTF-8 bytes, which is code-point order).
    pub fn tally<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<NameCount> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stats_have_null_prices() {
        let s = Stats::from(StatsRow::default());
        assert_eq!(
            s.price,
            PriceStats {
                min: None,
                max: None,
                avg: None
            }
        );
        assert_eq!(s.average_rating, None);
    }

    #[test]
    fn averages_round_to_two_decimals() {
        let s = Stats::from(StatsRow {
            total_products: 3,
            min_price_cents: Some(100),
            max_price_cents: Some(200),
            sum_price_cents: 100 + 150 + 200 + 1,
            sum_rating_tenths: 40 + 41 + 41,
            ..StatsRow::default()
        });
        assert_eq!(s.price.avg, Some(1.5));
        assert_eq!(s.price.min, Some(1.0));
        assert_eq!(s.average_rating, Some(4.07));
    }

    #[test]
    fn exact_halves_round_up() {
        let s = Stats::from(StatsRow {
            total_products: 2,
            sum_price_cents: 201,
            sum_rating_tenths: 1,
            ..StatsRow::default()
        });
        assert_eq!(s.price.avg, Some(1.01));
        assert_eq!(s.average_rating, Some(0.05));
    }
}
