//! Compiles the domain's query language to sea-query expressions. User input
//! only ever reaches SQL as bound values, never as SQL text.

use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::{ProductFilter, SearchQuery};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};

use crate::entity::Column;

/// `%term%` with LIKE's wildcards and the escape character escaped, so a
/// search for `50%` or `a_b` matches those characters literally.
fn contains_pattern(term: &str) -> LikeExpr {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

/// `col LIKE '%term%'` on a pre-folded column (terms are folded already).
fn folded_contains(col: Column, term: &str) -> Expr {
    Expr::col(col).like(contains_pattern(term))
}

/// The WHERE clause of a filter.
pub(crate) fn filter_condition(f: &ProductFilter) -> Condition {
    let mut c = Condition::all();
    if !f.categories.is_empty() {
        c = c.add(Expr::col(Column::Category).is_in(f.categories.iter().cloned()));
    }
    if !f.brands.is_empty() {
        c = c.add(Expr::col(Column::Brand).is_in(f.brands.iter().cloned()));
    }
    if let Some(p) = f.min_price {
        c = c.add(Expr::col(Column::PriceCents).gte(p.cents()));
    }
    if let Some(p) = f.max_price {
        c = c.add(Expr::col(Column::PriceCents).lte(p.cents()));
    }
    if let Some(r) = f.min_rating {
        c = c.add(Expr::col(Column::RatingTenths).gte(r.tenths()));
    }
    match f.in_stock {
        Some(true) => c = c.add(Expr::col(Column::StockQuantity).gt(0)),
        Some(false) => c = c.add(Expr::col(Column::StockQuantity).eq(0)),
        None => {}
    }
    if let Some(a) = f.is_active {
        c = c.add(Expr::col(Column::IsActive).eq(a));
    }
    if let Some(s) = &f.search {
        for term in s.terms() {
            c = c.add(folded_contains(Column::SearchFolded, term));
        }
    }
    c
}

/// The relevance score of `SearchQuery::score`, in SQL.
fn relevance(search: Option<&SearchQuery>) -> Expr {
    let Some(s) = search else {
        return Expr::val(0i64);
    };
    let exact_sku = Expr::case(Expr::col(Column::Sku).eq(s.sku_candidate()), 2i64).finally(0i64);
    let mut all_in_name = Condition::all();
    for term in s.terms() {
        all_in_name = all_in_name.add(folded_contains(Column::NameFolded, term));
    }
    let in_name = Expr::case(all_in_name, 1i64).finally(0i64);
    Expr::expr(exact_sku).add(in_name)
}

/// The SQL expression a sort key orders by.
pub(crate) fn sort_expr(field: SortField, search: Option<&SearchQuery>) -> Expr {
    let col = match field {
        SortField::Id => Column::Id,
        SortField::Sku => Column::Sku,
        SortField::Name => Column::Name,
        SortField::Category => Column::Category,
        SortField::Brand => Column::Brand,
        SortField::Price => Column::PriceCents,
        SortField::StockQuantity => Column::StockQuantity,
        SortField::Rating => Column::RatingTenths,
        SortField::CreatedAt => Column::CreatedAt,
        SortField::UpdatedAt => Column::UpdatedAt,
        SortField::Relevance => return relevance(search),
    };
    Expr::col(col)
}

fn value_expr(v: &SortValue) -> Expr {
    match v {
        SortValue::Int(i) => Expr::val(*i),
        SortValue::Text(s) => Expr::val(s.clone()),
        SortValue::Time(t) => Expr::val(*t),
    }
}

/// Rows strictly after `after` in `sort` order.
///
/// When every key runs the same direction this is one row-value comparison,
/// `(a, b, id) > (?, ?, ?)`, which both backends answer with an index range
/// scan. Mixed directions expand to the equivalent
/// `a > ? OR (a = ? AND (b < ? OR (b = ? AND id > ?)))`.
pub(crate) fn keyset_condition(
    sort: &[SortKey],
    after: &[SortValue],
    search: Option<&SearchQuery>,
) -> Condition {
    let uniform = sort.iter().all(|k| k.descending == sort[0].descending);
    if uniform && sort.len() > 1 {
        let lhs = Expr::tuple(sort.iter().map(|k| sort_expr(k.field, search)));
        let rhs = Expr::tuple(after.iter().map(value_expr));
        return Condition::all().add(if sort[0].descending {
            lhs.lt(rhs)
        } else {
            lhs.gt(rhs)
        });
    }
    let mut cond: Option<Condition> = None;
    for (k, v) in sort.iter().zip(after).rev() {
        let e = sort_expr(k.field, search);
        let strictly = if k.descending {
            e.clone().lt(value_expr(v))
        } else {
            e.clone().gt(value_expr(v))
        };
        cond = Some(match cond {
            None => Condition::all().add(strictly),
            Some(rest) => Condition::any()
                .add(strictly)
                .add(Condition::all().add(e.eq(value_expr(v))).add(rest)),
        });
    }
    cond.unwrap_or_else(Condition::all)
}
