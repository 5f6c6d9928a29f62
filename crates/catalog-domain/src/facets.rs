//! Disjunctive facets: for each filterable dimension, how many products
//! each value would match, counted with every filter except the
//! dimension's own — what a filtering UI shows beside its checkboxes.

use serde::Serialize;

use crate::product::Product;
use crate::query::ProductFilter;

/// Price bucket bounds in cents: `[0, 10)`, `[10, 25)`, … `[1000, ∞)`.
pub const PRICE_BOUNDS_CENTS: [i64; 7] = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];

/// Rating thresholds (tenths) for "at least" buckets: 4★ & up, 3★ & up, …
pub const RATING_THRESHOLDS_TENTHS: [i16; 4] = [40, 30, 20, 10];

/// A dimension storage groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacetField {
    Category,
    Brand,
    InStock,
    /// Index of the price bucket (see [`price_bucket`]).
    PriceBucket,
    /// Whole stars: `rating_tenths / 10` (0–5).
    RatingFloor,
}

/// One group of a facet query: its key and how many products fall in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FacetKey {
    Text(String),
    Int(i64),
}

/// The bucket a price falls in (0-based, `PRICE_BOUNDS_CENTS.len()` for the
/// open-ended top bucket). Storage adapters MUST bucket identically.
pub fn price_bucket(cents: i64) -> i64 {
    PRICE_BOUNDS_CENTS
        .iter()
        .take_while(|b| cents >= **b)
        .count() as i64
}

/// The reference grouping key of `p` for `field`.
pub fn facet_key(field: FacetField, p: &Product) -> FacetKey {
    match field {
        FacetField::Category => FacetKey::Text(p.category.as_str().to_string()),
        FacetField::Brand => FacetKey::Text(p.brand.as_str().to_string()),
        FacetField::InStock => FacetKey::Int(i64::from(p.stock_quantity > 0)),
        FacetField::PriceBucket => FacetKey::Int(price_bucket(p.price.cents())),
        FacetField::RatingFloor => FacetKey::Int(i64::from(p.rating.tenths() / 10)),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoolCount {
    pub value: bool,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceBucket {
    /// Inclusive lower bound.
    pub min: f64,
    /// Exclusive upper bound; null for the top bucket.
    pub max: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingBucket {
    /// Products rated at least this.
    pub min: f64,
    pub count: u64,
}

/// The facets response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Facets {
    /// Products matching every filter.
    pub total: u64,
    pub category: Vec<ValueCount>,
    pub brand: Vec<ValueCount>,
    pub price: Vec<PriceBucket>,
    pub rating: Vec<RatingBucket>,
    pub in_stock: Vec<BoolCount>,
}

/// The facets of a facet request, in the order [`assemble`] takes them
/// after the total: category, brand, price bucket, rating floor, in stock.
pub const FIELDS: [FacetField; 5] = [
    FacetField::Category,
    FacetField::Brand,
    FacetField::PriceBucket,
    FacetField::RatingFloor,
    FacetField::InStock,
];

/// The disjunctive requests of a facet request on `filter`: each of
/// [`FIELDS`] under the filter without its own field (what
/// [`crate::ProductReader::facet_groups`] takes).
pub fn disjunctive(filter: &ProductFilter) -> [(ProductFilter, FacetField); 5] {
    FIELDS.map(|field| (without_own(filter, field), field))
}

/// The filter a facet is counted under: every filter but its own.
pub fn without_own(filter: &ProductFilter, field: FacetField) -> ProductFilter {
    let mut f = filter.clone();
    match field {
        FacetField::Category => f.categories.clear(),
        FacetField::Brand => f.brands.clear(),
        FacetField::InStock => f.in_stock = None,
        FacetField::PriceBucket => {
            f.min_price = None;
            f.max_price = None;
        }
        FacetField::RatingFloor => f.min_rating = None,
    }
    f
}

fn int_counts(groups: &[(FacetKey, u64)]) -> impl Iterator<Item = (i64, u64)> + '_ {
    groups.iter().filter_map(|(k, n)| match k {
        FacetKey::Int(i) => Some((*i, *n)),
        FacetKey::Text(_) => None,
    })
}

fn text_counts(groups: Vec<(FacetKey, u64)>) -> Vec<ValueCount> {
    let mut out: Vec<ValueCount> = groups
        .into_iter()
        .filter_map(|(k, count)| match k {
            FacetKey::Text(value) => Some(ValueCount { value, count }),
            FacetKey::Int(_) => None,
        })
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

/// Assembles the response from the grouped counts storage returned.
pub fn assemble(
    total: u64,
    category: Vec<(FacetKey, u64)>,
    brand: Vec<(FacetKey, u64)>,
    price: Vec<(FacetKey, u64)>,
    rating: Vec<(FacetKey, u64)>,
    in_stock: Vec<(FacetKey, u64)>,
) -> Facets {
    let mut price_counts = vec![0u64; PRICE_BOUNDS_CENTS.len() + 1];
    for (i, n) in int_counts(&price) {
        if let Some(slot) = usize::try_from(i)
            .ok()
            .and_then(|i| price_counts.get_mut(i))
        {
            *slot += n;
        }
    }
    let price = price_counts
        .iter()
        .enumerate()
        .map(|(i, count)| PriceBucket {
            min: if i == 0 {
                0.0
            } else {
                PRICE_BOUNDS_CENTS[i - 1] as f64 / 100.0
            },
            max: PRICE_BOUNDS_CENTS.get(i).map(|c| *c as f64 / 100.0),
            count: *count,
        })
        .collect();
    let by_star: Vec<(i64, u64)> = int_counts(&rating).collect();
    let rating = RATING_THRESHOLDS_TENTHS
        .iter()
        .map(|t| {
            let stars = i64::from(*t / 10);
            RatingBucket {
                min: f64::from(*t) / 10.0,
                count: by_star
                    .iter()
                    .filter(|(s, _)| *s >= stars)
                    .map(|(_, n)| n)
                    .sum(),
            }
        })
        .collect();
    let stock: Vec<(i64, u64)> = int_counts(&in_stock).collect();
    let count_of = |v: i64| stock.iter().filter(|(k, _)| *k == v).map(|(_, n)| n).sum();
    Facets {
        total,
        category: text_counts(category),
        brand: text_counts(brand),
        price,
        rating,
        in_stock: vec![
            BoolCount {
                value: true,
                count: count_of(1),
            },
            BoolCount {
                value: false,
                count: count_of(0),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_buckets_are_half_open() {
        assert_eq!(price_bucket(0), 0);
        assert_eq!(price_bucket(999), 0);
        assert_eq!(price_bucket(1_000), 1);
        assert_eq!(price_bucket(99_999), 6);
        assert_eq!(price_bucket(100_000), 7);
        assert_eq!(price_bucket(100_000_000), 7);
    }

    #[test]
    fn rating_buckets_are_cumulative() {
        let f = assemble(
            10,
            vec![],
            vec![],
            vec![],
            vec![
                (FacetKey::Int(5), 1),
                (FacetKey::Int(4), 2),
                (FacetKey::Int(3), 3),
                (FacetKey::Int(0), 4),
            ],
            vec![(FacetKey::Int(1), 6), (FacetKey::Int(0), 4)],
        );
        let counts: Vec<u64> = f.rating.iter().map(|r| r.count).collect();
        assert_eq!(counts, vec![3, 6, 6, 6]);
        assert_eq!(
            f.in_stock[0],
            BoolCount {
                value: true,
                count: 6
            }
        );
        assert_eq!(f.price.len(), 8);
        assert_eq!(f.price[7].max, None);
    }
}
