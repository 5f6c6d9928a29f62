//! Reads from `product_summary` (maintained by triggers, see migration
//! `m20261125_000004_product_summary`): stats, counts and the category and
//! brand lists of filters that only name categories and brands cost a few
//! hundred summary rows instead of a scan of products.

use catalog_domain::{NameCount, ProductFilter, StatsRow, StorageError};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::Context;
use crate::helpers::{get_i64, non_negative};

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn table() -> Alias {
    Alias::new("product_summary")
}

/// Whether the summary can answer for `filter`: only category and brand
/// filters are summarised.
pub(crate) fn answers(filter: &ProductFilter) -> bool {
    filter.min_price.is_none()
        && filter.max_price.is_none()
        && filter.min_rating.is_none()
        && filter.in_stock.is_none()
        && filter.is_active.is_none()
        && filter.search.is_none()
}

fn condition(filter: &ProductFilter) -> Condition {
    let mut c = Condition::all().add(col("product_count").gt(0));
    if !filter.categories.is_empty() {
        c = c.add(
            col("category").is_in(filter.categories.iter().map(catalog_domain::Label::as_str)),
        );
    }
    if !filter.brands.is_empty() {
        c = c.add(col("brand").is_in(filter.brands.iter().map(catalog_domain::Label::as_str)));
    }
    c
}

fn sum(name: &str) -> Expr {
    // PostgreSQL widens SUM(bigint) to NUMERIC; cast back.
    Func::cast_as(Func::sum(col(name)), Alias::new("BIGINT")).into()
}

/// Every aggregate of the stats but the price bounds.
pub(crate) async fn stats(
    db: &DatabaseConnection,
    filter: &ProductFilter,
) -> Result<StatsRow, StorageError> {
    let stmt = Query::select()
        .from(table())
        .expr_as(sum("product_count"), "total")
        .expr_as(sum("active_count"), "active")
        .expr_as(sum("in_stock_count"), "in_stock")
        .expr_as(sum("stock_sum"), "stock")
        .expr_as(sum("price_sum"), "sum_price")
        .expr_as(sum("rating_sum"), "sum_rating")
        .expr_as(Func::count_distinct(col("category")), "categories")
        .expr_as(Func::count_distinct(col("brand")), "brands")
        .cond_where(condition(filter))
        .to_owned();
    let row = db
        .query_one(&stmt)
        .await
        .context("reading the summary")?
        .ok_or_else(|| StorageError::internal("reading the summary", "no row"))?;
    stats_row(&row)
}

/// The stats of a summary read (columns `total`, `active`, `in_stock`,
/// `stock`, `sum_price`, `sum_rating`, `categories`, `brands`), without the
/// price bounds.
pub(crate) fn stats_row(row: &sea_orm::QueryResult) -> Result<StatsRow, StorageError> {
    Ok(StatsRow {
        total_products: non_negative(get_i64(row, "total")?),
        active_products: non_negative(get_i64(row, "active")?),
        in_stock_products: non_negative(get_i64(row, "in_stock")?),
        total_stock: get_i64(row, "stock")?,
        min_price_cents: None,
        max_price_cents: None,
        sum_price_cents: get_i64(row, "sum_price")?,
        sum_rating_tenths: get_i64(row, "sum_rating")?,
        categories: non_negative(get_i64(row, "categories")?),
        brands: non_negative(get_i64(row, "brands")?),
    })
}

/// How many products match a category/brand filter, as one SELECT of one
/// column, `total`.
pub(crate) fn count_statement(filter: &ProductFilter) -> SelectStatement {
    Query::select()
        .from(table())
        .expr_as(
            Func::coalesce([sum("product_count"), Expr::val(0i64)]),
            "total",
        )
        .cond_where(condition(filter))
        .to_owned()
}

/// Every distinct value of `name` (`category` or `brand`) with its count
/// among the products matching `filter` (which the summary [`answers`]):
/// the category and brand lists, and their facets.
pub(crate) async fn name_counts(
    db: &DatabaseConnection,
    name: &str,
    filter: &ProductFilter,
) -> Result<Vec<NameCount>, StorageError> {
    let stmt = Query::select()
        .from(table())
        .expr_as(col(name), "name")
        .expr_as(sum("product_count"), "n")
        .cond_where(condition(filter))
        .group_by_col(Alias::new(name))
        .order_by(Alias::new(name), Order::Asc)
        .to_owned();
    let rows = db.query_all(&stmt).await.context("reading the summary")?;
    rows.iter()
        .map(|row| {
            Ok(NameCount {
                name: row
                    .try_get::<String>("", "name")
                    .context("reading the summary")?,
                product_count: non_negative(get_i64(row, "n")?),
            })
        })
        .collect()
}
