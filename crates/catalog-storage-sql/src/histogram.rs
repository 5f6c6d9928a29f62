//! Reads from `product_price_summary`, the price histogram maintained by
//! triggers (migration `m20261201_000011_price_summary`): exact counts and
//! stats of filters with a price range or `is_active` / `in_stock` cost
//! about a hundred histogram rows plus the products of the two partial $1
//! buckets at the range's edges, instead of every matching product.

use crate::schema::{PRICE_SUMMARY_TABLE, PRICE_SUMMARY_WIDTHS};
use catalog_domain::facets::{FacetKey, PRICE_BOUNDS_CENTS};
use catalog_domain::product::MAX_PRICE_CENTS;
use catalog_domain::{ProductFilter, StatsRow, StorageError};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, Func, Query, SelectStatement, UnionType,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::dialect::Dialect;
use crate::entity::{Column, Entity};
use crate::error::Context;
use crate::helpers::{get_i64, non_negative};
use crate::query::filter_condition;

const FINE: i64 = PRICE_SUMMARY_WIDTHS[0];
const COARSE: i64 = PRICE_SUMMARY_WIDTHS[1];

/// Whether the histogram answers `filter`'s count: no search or rating
/// filter, categories or brands but not both, and something that the
/// per-(category, brand) summary cannot answer (a price range or a flag).
pub(crate) fn answers_count(filter: &ProductFilter) -> bool {
    answers_facet(filter) && !crate::summary::answers(filter)
}

/// Whether it answers `filter`'s stats: as [`answers_count`], without the
/// flags (its sums are not split by them).
pub(crate) fn answers_stats(filter: &ProductFilter) -> bool {
    answers_count(filter) && filter.is_active.is_none() && filter.in_stock.is_none()
}

/// Whether the histogram answers a facet of `filter` (the facet's own
/// filter already removed): no search or rating filter, categories or
/// brands but not both.
pub(crate) fn answers_facet(filter: &ProductFilter) -> bool {
    filter.search.is_none()
        && filter.min_rating.is_none()
        && (filter.categories.is_empty() || filter.brands.is_empty())
}

/// The lowest facet price bound from which every bound is a multiple of
/// the coarse width: the facet reads $100 buckets from there up, $1
/// buckets below. `None` when a bound is not a whole $1 (then the
/// histogram cannot answer the facet).
fn facet_coarse_from() -> Option<i64> {
    if PRICE_BOUNDS_CENTS.iter().any(|b| b % FINE != 0) {
        return None;
    }
    let mut from = MAX_PRICE_CENTS + 1;
    for b in PRICE_BOUNDS_CENTS.iter().rev() {
        if b % COARSE != 0 {
            break;
        }
        from = *b;
    }
    Some(from)
}

/// The price-bucket facet (`facets::price_bucket` keys and counts, empty
/// buckets left out) of `filter` ([`answers_facet`], its price range
/// removed), or `None` when the facet's bounds do not fit the histogram.
pub(crate) async fn price_facet(
    db: &DatabaseConnection,
    filter: &ProductFilter,
) -> Result<Option<Vec<(FacetKey, u64)>>, StorageError> {
    let Some(coarse_from) = facet_coarse_from() else {
        return Ok(None);
    };
    let part = |width: i64, lower: bool| {
        let split = coarse_from / width;
        let bucket = if lower {
            col("bucket").lt(split)
        } else {
            col("bucket").gte(split)
        };
        Query::select()
            .from(Alias::new(PRICE_SUMMARY_TABLE))
            .expr_as(col("bucket").mul(width), "lo")
            .expr_as(Expr::cust(counter(filter)), "n")
            .cond_where(rows_of(filter, width).add(bucket))
            .to_owned()
    };
    let mut rows = part(FINE, true);
    rows.union(UnionType::All, part(COARSE, false));
    // `facets::price_bucket` of each histogram row's lowest price.
    let stmt = Query::select()
        .expr_as(crate::query::price_bucket_sql(col("lo")), "k")
        .expr_as(
            Func::cast_as(Func::sum(col("n")), Alias::new("BIGINT")),
            "n",
        )
        .from_subquery(rows, Alias::new("rows"))
        .group_by_col(Alias::new("k"))
        .to_owned();
    let rows = db
        .query_all(&stmt)
        .await
        .context("reading the price summary")?;
    let mut out = Vec::new();
    for row in &rows {
        let n = non_negative(get_i64(row, "n")?);
        if n > 0 {
            out.push((FacetKey::Int(get_i64(row, "k")?), n));
        }
    }
    Ok(Some(out))
}

/// The rating-floor facet (whole stars, empty floors left out) of `filter`
/// ([`answers_facet`], without flags: the per-floor counts are not split
/// by them): whole buckets from the histogram, the range's edges from
/// the products table.
pub(crate) async fn rating_facet(
    db: &DatabaseConnection,
    filter: &ProductFilter,
    dialect: &dyn Dialect,
) -> Result<Vec<(FacetKey, u64)>, StorageError> {
    const FLOORS: [&str; 6] = ["r0", "r1", "r2", "r3", "r4", "r5"];
    let sums: Vec<Sum> = FLOORS
        .iter()
        .enumerate()
        .map(|(k, c)| Sum {
            alias: c,
            buckets: format!("rating_{k}_count"),
            products: format!("SUM(CASE WHEN rating_tenths / 10 = {k} THEN 1 ELSE 0 END)"),
        })
        .collect();
    let row = db
        .query_one(&range_sums(filter, dialect, &sums))
        .await
        .context("reading the price summary")?
        .ok_or_else(|| StorageError::internal("reading the price summary", "no row"))?;
    let mut out = Vec::new();
    for (k, c) in FLOORS.iter().enumerate() {
        let n = non_negative(get_i64(&row, c)?);
        if n > 0 {
            out.push((FacetKey::Int(k as i64), n));
        }
    }
    Ok(out)
}

/// Half-open ranges of bucket numbers, and inclusive ranges of cents.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Cover {
    /// `$100` buckets wholly inside the range.
    pub coarse: Option<(i64, i64)>,
    /// `$1` buckets wholly inside the range and outside `coarse`.
    pub fine: Vec<(i64, i64)>,
    /// Cents at the range's ends that no whole bucket covers: counted in
    /// the products table.
    pub edges: Vec<(i64, i64)>,
}

fn ceil_to(v: i64, w: i64) -> i64 {
    (v + w - 1) / w * w
}

fn floor_to(v: i64, w: i64) -> i64 {
    v / w * w
}

/// How the histogram covers the prices `lo..=hi` (cents, `0 <= lo`).
pub(crate) fn cover(lo: i64, hi: i64) -> Cover {
    let mut c = Cover::default();
    if lo > hi {
        return c;
    }
    let end = hi + 1;
    let (f_lo, f_hi) = (ceil_to(lo, FINE), floor_to(end, FINE));
    if f_lo >= f_hi {
        c.edges.push((lo, hi));
        return c;
    }
    if lo < f_lo {
        c.edges.push((lo, f_lo - 1));
    }
    if f_hi < end {
        c.edges.push((f_hi, hi));
    }
    let (c_lo, c_hi) = (ceil_to(f_lo, COARSE), floor_to(f_hi, COARSE));
    let mut fine = |a: i64, b: i64| {
        if a < b {
            c.fine.push((a / FINE, b / FINE));
        }
    };
    if c_lo < c_hi {
        fine(f_lo, c_lo);
        fine(c_hi, f_hi);
        c.coarse = Some((c_lo / COARSE, c_hi / COARSE));
    } else {
        fine(f_lo, f_hi);
    }
    c
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// The histogram's `dim` and names for `filter` (which it answers).
fn dimension(filter: &ProductFilter) -> (i64, Vec<String>) {
    if !filter.categories.is_empty() {
        (
            1,
            filter
                .categories
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
        )
    } else if !filter.brands.is_empty() {
        (
            2,
            filter
                .brands
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
        )
    } else {
        (0, vec![String::new()])
    }
}

/// The histogram rows of `filter`'s dimension and names at one width.
fn rows_of(filter: &ProductFilter, width: i64) -> Condition {
    let (dim, names) = dimension(filter);
    Condition::all()
        .add(col("dim").eq(dim))
        .add(col("name").is_in(names))
        .add(col("width").eq(width))
}

/// The histogram rows of `filter`'s dimension wholly inside `cover`, one
/// condition per range of buckets: each is a range scan of the primary
/// key (an OR of them would filter every row of the dimension).
fn bucket_conditions(filter: &ProductFilter, cover: &Cover) -> Vec<Condition> {
    let within = |width: i64, (a, b): (i64, i64)| {
        rows_of(filter, width)
            .add(col("bucket").gte(a))
            .add(col("bucket").lt(b))
    };
    cover
        .coarse
        .iter()
        .map(|r| within(COARSE, *r))
        .chain(cover.fine.iter().map(|r| within(FINE, *r)))
        .collect()
}

/// The price range of `filter`, whole when it names none.
fn price_range(filter: &ProductFilter) -> (i64, i64) {
    (
        filter.min_price.map_or(0, |p| p.cents()),
        filter.max_price.map_or(MAX_PRICE_CENTS, |p| p.cents()),
    )
}

/// The products of `filter` whose price is in one of `edges`.
fn edge_condition(
    filter: &ProductFilter,
    edges: &[(i64, i64)],
    dialect: &dyn Dialect,
) -> Condition {
    let rest = ProductFilter {
        min_price: None,
        max_price: None,
        ..filter.clone()
    };
    let mut any = Condition::any();
    for (a, b) in edges {
        any = any.add(Expr::col(Column::PriceCents).between(*a, *b));
    }
    filter_condition(&rest, dialect).add(any)
}

/// The histogram counter that counts `filter`'s flags.
fn counter(filter: &ProductFilter) -> &'static str {
    match (filter.is_active, filter.in_stock) {
        (None, None) => "product_count",
        (Some(true), None) => "active_count",
        (Some(false), None) => "product_count - active_count",
        (None, Some(true)) => "in_stock_count",
        (None, Some(false)) => "product_count - in_stock_count",
        (Some(true), Some(true)) => "active_in_stock_count",
        (Some(true), Some(false)) => "active_count - active_in_stock_count",
        (Some(false), Some(true)) => "in_stock_count - active_in_stock_count",
        (Some(false), Some(false)) => {
            "product_count - active_count - in_stock_count + active_in_stock_count"
        }
    }
}

/// One column of [`range_sums`]: `alias`, summed over the histogram rows
/// (`SUM(buckets)`) and the edge products (`products`, an aggregate).
struct Sum<'a> {
    alias: &'a str,
    buckets: String,
    products: String,
}

/// `SELECT CAST(COALESCE(SUM(alias), 0) AS BIGINT) AS alias, …` of each of
/// `sums` over `filter`'s price range: the histogram rows wholly inside it
/// (one part per bucket range), plus its edge products, as a UNION ALL.
fn range_sums(filter: &ProductFilter, dialect: &dyn Dialect, sums: &[Sum<'_>]) -> SelectStatement {
    let (lo, hi) = price_range(filter);
    let cover = cover(lo, hi);
    let mut parts: Vec<SelectStatement> = bucket_conditions(filter, &cover)
        .into_iter()
        .map(|cond| {
            let mut q = Query::select();
            q.from(Alias::new(PRICE_SUMMARY_TABLE));
            for s in sums {
                q.expr_as(
                    Expr::cust(format!("SUM({})", s.buckets)),
                    Alias::new(s.alias),
                );
            }
            q.cond_where(cond);
            q
        })
        .collect();
    if !cover.edges.is_empty() {
        let mut q = Query::select();
        q.from(Entity);
        for s in sums {
            q.expr_as(Expr::cust(s.products.clone()), Alias::new(s.alias));
        }
        q.cond_where(edge_condition(filter, &cover.edges, dialect));
        parts.push(q);
    }
    let mut outer = Query::select();
    for s in sums {
        let zero = Expr::val(0i64);
        if parts.is_empty() {
            // An empty range (min_price > max_price is refused before here).
            outer.expr_as(zero, Alias::new(s.alias));
        } else {
            outer.expr_as(
                Expr::cust(format!("CAST(COALESCE(SUM(\"{}\"), 0) AS BIGINT)", s.alias)),
                Alias::new(s.alias),
            );
        }
    }
    let mut parts = parts.into_iter();
    if let Some(mut union) = parts.next() {
        for p in parts {
            union.union(UnionType::All, p);
        }
        outer.from_subquery(union, Alias::new("parts"));
    }
    outer
}

/// The exact count of the products matching `filter` ([`answers_count`]),
/// as one SELECT of one column, `n`.
pub(crate) fn count_statement(filter: &ProductFilter, dialect: &dyn Dialect) -> SelectStatement {
    let n = Sum {
        alias: "n",
        buckets: counter(filter).to_string(),
        products: "COUNT(*)".to_string(),
    };
    range_sums(filter, dialect, &[n])
}

/// How many distinct values of `name` (`category` or `brand`) the products
/// matching `filter` hold: each value the summary lists for the filter's
/// categories and brands, kept when one matching product has it (an index
/// probe of `(category|brand, price)` each).
fn distinct(name: &str, filter: &ProductFilter, dialect: &dyn Dialect) -> SelectStatement {
    let mut values = Condition::all().add(col("product_count").gt(0));
    if !filter.categories.is_empty() {
        values = values.add(
            col("category").is_in(filter.categories.iter().map(catalog_domain::Label::as_str)),
        );
    }
    if !filter.brands.is_empty() {
        values =
            values.add(col("brand").is_in(filter.brands.iter().map(catalog_domain::Label::as_str)));
    }
    let column = if name == "category" {
        Column::Category
    } else {
        Column::Brand
    };
    let probe = Query::select()
        .from(Entity)
        .expr(Expr::val(1))
        .cond_where(
            filter_condition(filter, dialect)
                .add(Expr::col((Entity, column)).equals((Alias::new("v"), Alias::new("value")))),
        )
        .to_owned();
    let names = Query::select()
        .distinct()
        .from(Alias::new("product_summary"))
        .expr_as(col(name), "value")
        .cond_where(values)
        .to_owned();
    Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(names, Alias::new("v"))
        .and_where(Expr::exists(probe))
        .to_owned()
}

/// Every aggregate of the stats of `filter` ([`answers_stats`]) but the
/// price bounds.
pub(crate) async fn stats(
    db: &DatabaseConnection,
    filter: &ProductFilter,
    dialect: &dyn Dialect,
) -> Result<StatsRow, StorageError> {
    let sums: Vec<Sum> = [
        ("total", "product_count", "COUNT(*)"),
        (
            "active",
            "active_count",
            "SUM(CASE WHEN is_active THEN 1 ELSE 0 END)",
        ),
        (
            "in_stock",
            "in_stock_count",
            "SUM(CASE WHEN stock_quantity > 0 THEN 1 ELSE 0 END)",
        ),
        ("stock", "stock_sum", "SUM(stock_quantity)"),
        ("sum_price", "price_sum", "SUM(price_cents)"),
        ("sum_rating", "rating_sum", "SUM(rating_tenths)"),
    ]
    .into_iter()
    .map(|(alias, buckets, products)| Sum {
        alias,
        buckets: buckets.to_string(),
        products: products.to_string(),
    })
    .collect();
    let mut stmt = range_sums(filter, dialect, &sums);
    stmt.expr_as(distinct("category", filter, dialect), "categories")
        .expr_as(distinct("brand", filter, dialect), "brands");
    let row = db
        .query_one(&stmt)
        .await
        .context("reading the price summary")?
        .ok_or_else(|| StorageError::internal("reading the price summary", "no row"))?;
    crate::summary::stats_row(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cent of `lo..=hi` is covered once, and nothing else is.
    fn check(lo: i64, hi: i64) {
        let c = cover(lo, hi);
        let mut spans: Vec<(i64, i64)> = c.edges.clone();
        spans.extend(c.fine.iter().map(|(a, b)| (a * FINE, b * FINE - 1)));
        spans.extend(c.coarse.iter().map(|(a, b)| (a * COARSE, b * COARSE - 1)));
        spans.sort();
        let mut next = lo;
        for (a, b) in &spans {
            assert!(a <= b, "{lo}..={hi}: empty span {a}..={b} in {c:?}");
            assert_eq!(*a, next, "{lo}..={hi}: gap or overlap at {a} in {c:?}");
            next = b + 1;
        }
        assert_eq!(next, hi + 1, "{lo}..={hi}: not covered to the end in {c:?}");
        assert!(c.edges.len() <= 2 && c.fine.len() <= 2, "{c:?}");
        let edge_cents: i64 = c.edges.iter().map(|(a, b)| b - a + 1).sum();
        assert!(
            edge_cents < 2 * FINE,
            "{lo}..={hi}: edges too wide in {c:?}"
        );
    }

    #[test]
    fn covers_every_range_exactly_once() {
        for lo in (0..30_500).step_by(37) {
            for hi in (lo..lo + 25_000).step_by(53) {
                check(lo, hi);
            }
        }
        for (lo, hi) in [
            (0, 0),
            (0, 99),
            (0, 100),
            (100, 199),
            (0, 9_999),
            (0, 10_000),
            (1_000, 20_000),
            (0, MAX_PRICE_CENTS),
            (MAX_PRICE_CENTS, MAX_PRICE_CENTS),
        ] {
            check(lo, hi);
        }
    }

    #[test]
    fn facet_bounds_fit_the_histogram() {
        // Every bound is a whole dollar; $500 and $1,000 are whole $100s.
        assert_eq!(facet_coarse_from(), Some(50_000));
    }

    #[test]
    fn reads_coarse_buckets_where_they_fit() {
        // $10.00 to $200.00: $1 buckets 10..100, $100 bucket 1, and the
        // single cent $200.00 at the edge.
        assert_eq!(
            cover(1_000, 20_000),
            Cover {
                coarse: Some((1, 2)),
                fine: vec![(10, 100)],
                edges: vec![(20_000, 20_000)],
            }
        );
        assert_eq!(cover(5, 4), Cover::default());
    }
}
