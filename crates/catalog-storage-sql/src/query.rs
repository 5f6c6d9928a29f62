//! Compiles the domain's query language to sea-query expressions. User input
//! only ever reaches SQL as bound values, never as SQL text.

use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::search::{Clause, EXACT_SKU_SCORE};
use catalog_domain::{ProductFilter, SearchQuery};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};

use crate::dialect::Dialect;
use crate::entity::Column;

/// A token for PostgreSQL's `tsquery` input syntax. Tokens are
/// alphanumeric already; quoting keeps it so whatever they hold.
fn ts_lexeme(token: &str) -> String {
    format!("'{}'", token.replace('\\', "\\\\").replace('\'', "''"))
}

/// PostgreSQL's lexeme length limit, in bytes.
const PG_MAX_LEXEME_BYTES: usize = 2047;
/// PostgreSQL's largest tsvector position (larger ones are clamped).
const PG_MAX_POSITION: usize = 16383;

/// A product's search vector as a `tsvector` literal: each token of
/// `search_name` at its position with weight A, then each token of
/// `search_body` after them with weight D. Exactly what migration 8's SQL
/// function `catalog_search_vector` builds from the same columns (the
/// bulk load sends this instead of having the server build each one).
pub fn pg_tsvector(search_name: &str, search_body: &str) -> String {
    let name = split_tokens(search_name);
    let body = split_tokens(search_body);
    let mut out = String::with_capacity(
        search_name.len() + search_body.len() + 8 * (name.len() + body.len()),
    );
    let tokens = name
        .iter()
        .enumerate()
        .map(|(i, t)| (i + 1, *t, 'A'))
        .chain(
            body.iter()
                .enumerate()
                .map(|(i, t)| (name.len() + i + 1, *t, 'D')),
        );
    for (pos, token, weight) in tokens {
        if token.is_empty() || token.len() > PG_MAX_LEXEME_BYTES {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&ts_lexeme(token));
        out.push(':');
        out.push_str(&pos.min(PG_MAX_POSITION).to_string());
        out.push(weight);
    }
    out
}

/// Space-separated tokens as `string_to_array(s, ' ')` splits them (`''`
/// is no token at all, not one empty token).
fn split_tokens(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(' ').collect()
    }
}

/// A clause as a `tsquery`: adjacent tokens joined by `<->`, the last one
/// `:*` for a prefix, alternatives OR-ed in.
fn ts_clause(c: &Clause) -> String {
    let last = c.tokens.len() - 1;
    let phrase = c
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let lex = ts_lexeme(t);
            if c.prefix && i == last {
                format!("{lex}:*")
            } else {
                lex
            }
        })
        .collect::<Vec<_>>()
        .join(" <-> ");
    if c.alternatives.is_empty() {
        return format!("({phrase})");
    }
    let mut alts = vec![phrase];
    alts.extend(c.alternatives.iter().map(|a| ts_lexeme(a)));
    format!("({})", alts.join(" | "))
}

/// The whole query as a `tsquery` literal (cast, never parsed by
/// `to_tsquery`, so PostgreSQL's parser and dictionaries never re-tokenize
/// what the domain tokenized).
pub(crate) fn pg_tsquery(s: &SearchQuery) -> String {
    s.include()
        .iter()
        .map(ts_clause)
        .chain(s.exclude().iter().map(|c| format!("!{}", ts_clause(c))))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// A token as an FTS5 string (double quotes doubled).
fn fts_string(token: &str) -> String {
    format!("\"{}\"", token.replace('"', "\"\""))
}

/// A clause in FTS5 query syntax: a phrase string, `*` for a prefix,
/// alternatives OR-ed in.
fn fts_clause(c: &Clause) -> String {
    let mut phrase = fts_string(&c.tokens.join(" "));
    if c.prefix {
        phrase.push_str(" *");
    }
    if c.alternatives.is_empty() {
        return format!("({phrase})");
    }
    let mut alts = vec![phrase];
    alts.extend(c.alternatives.iter().map(|a| fts_string(a)));
    format!("({})", alts.join(" OR "))
}

/// The search condition on SQLite: the FTS5 table answers the words
/// (`NOT` needs a positive side, so an all-negative query is a `NOT IN`).
/// Custom SQL takes the builder's placeholder: `?` here, `$1` on PostgreSQL.
pub(crate) fn sqlite_search(s: &SearchQuery) -> Expr {
    let excluded = s.exclude().iter().map(fts_clause).collect::<Vec<_>>();
    if s.include().is_empty() {
        return Expr::cust_with_values(
            r#""products"."id" NOT IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?)"#,
            [excluded.join(" OR ")],
        );
    }
    let mut q = s
        .include()
        .iter()
        .map(fts_clause)
        .collect::<Vec<_>>()
        .join(" AND ");
    if !excluded.is_empty() {
        q = format!("({q})");
        for e in excluded {
            q.push_str(" NOT ");
            q.push_str(&e);
        }
    }
    Expr::cust_with_values(
        r#""products"."id" IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?)"#,
        [q],
    )
}

/// PostgreSQL: the words of a search (without the exact-sku alternative).
pub(crate) fn pg_words(s: &SearchQuery) -> Expr {
    Expr::cust_with_values(r#""search_vector" @@ CAST($1 AS tsquery)"#, [pg_tsquery(s)])
}

/// The search condition: the exact sku, or the words.
fn search_condition(s: &SearchQuery, dialect: &dyn Dialect) -> Condition {
    let exact_sku = Expr::col(Column::Sku).eq(s.sku_candidate());
    if !s.has_words() {
        return Condition::all().add(exact_sku);
    }
    Condition::any().add(dialect.search_words(s)).add(exact_sku)
}

/// `facets::price_bucket` of `price` (cents) in SQL, as a BIGINT: the same
/// half-open buckets, the top one open-ended.
pub(crate) fn price_bucket_sql(price: Expr) -> Expr {
    use catalog_domain::facets::PRICE_BOUNDS_CENTS;
    use sea_orm::sea_query::{Alias, Func};
    let mut case = Expr::case(price.clone().lt(PRICE_BOUNDS_CENTS[0]), 0i64);
    for (i, bound) in PRICE_BOUNDS_CENTS.iter().enumerate().skip(1) {
        case = case.case(price.clone().lt(*bound), i as i64);
    }
    Func::cast_as(
        case.finally(PRICE_BOUNDS_CENTS.len() as i64),
        Alias::new("BIGINT"),
    )
    .into()
}

/// The WHERE clause of a filter.
pub(crate) fn filter_condition(f: &ProductFilter, dialect: &dyn Dialect) -> Condition {
    let mut c = Condition::all();
    if !f.categories.is_empty() {
        c = c.add(
            Expr::col(Column::Category)
                .is_in(f.categories.iter().map(catalog_domain::Label::as_str)),
        );
    }
    if !f.brands.is_empty() {
        c = c.add(
            Expr::col(Column::Brand).is_in(f.brands.iter().map(catalog_domain::Label::as_str)),
        );
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
        c = c.add(search_condition(s, dialect));
    }
    c
}

/// `(' ' || search_name || ' ') LIKE '% tokens %'`: whether a clause
/// occurs in the name field (tokens hold no LIKE wildcards: they are
/// alphanumeric).
fn in_name(c: &Clause) -> Condition {
    let padded = || Expr::cust(r#"(' ' || "search_name" || ' ')"#);
    let tail = if c.prefix { "%" } else { " %" };
    let mut any = Condition::any().add(padded().like(format!("% {}{tail}", c.tokens.join(" "))));
    for a in &c.alternatives {
        any = any.add(padded().like(format!("% {a} %")));
    }
    any
}

/// The relevance score of `SearchQuery::score`, in SQL.
fn relevance(search: Option<&SearchQuery>) -> Expr {
    let Some(s) = search else {
        return Expr::val(0i64);
    };
    let mut score: Expr = Expr::case(
        Expr::col(Column::Sku).eq(s.sku_candidate()),
        EXACT_SKU_SCORE,
    )
    .finally(0i64)
    .into();
    for c in s.include() {
        score = score.add(Expr::case(in_name(c), 1i64).finally(0i64));
    }
    score
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
/// `a >= ? AND (a > ? OR (a = ? AND (b < ? OR (b = ? AND id > ?))))`: the
/// redundant leading bound is what lets the planner start an index range
/// scan at the cursor (an OR alone is only a Filter over every earlier row).
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
    let Some(cond) = cond else {
        return Condition::all();
    };
    match (sort.first(), after.first()) {
        // Relevance is a computed score no index holds: a bound on it
        // would only be one more Filter.
        (Some(k), Some(v)) if sort.len() > 1 && k.field != SortField::Relevance => {
            let e = sort_expr(k.field, search);
            let bound = if k.descending {
                e.lte(value_expr(v))
            } else {
                e.gte(value_expr(v))
            };
            Condition::all().add(bound).add(cond)
        }
        _ => cond,
    }
}

/// PostgreSQL: whether a clause occurs in the name field, read from the
/// weight-A part of the search vector (name and sku tokens, at their
/// positions), which migration 10's index answers. The same test as
/// [`in_name`]'s LIKE and the domain's `Clause::matches` over the name
/// tokens: a phrase is adjacent positions, a prefix a lexeme prefix, an
/// alternative a whole lexeme.
fn pg_in_name(tsquery: String) -> Expr {
    Expr::cust_with_values(
        r#"ts_filter("search_vector", '{a}') @@ CAST($1 AS tsquery)"#,
        [tsquery],
    )
}

/// PostgreSQL: the rows whose relevance score (without the exact-sku
/// bonus) is exactly `k`: `k` of the query's include clauses occur in the
/// name. `k` equal to the number of clauses is one indexed probe; lower
/// tiers enumerate which clauses are in the name (callers keep the number
/// of clauses small).
pub(crate) fn pg_name_tier(s: &SearchQuery, k: usize) -> Condition {
    let clauses = s.include();
    let n = clauses.len();
    if k >= n {
        let all = clauses
            .iter()
            .map(ts_clause)
            .collect::<Vec<_>>()
            .join(" & ");
        return Condition::all().add(pg_in_name(all));
    }
    let mut any = Condition::any();
    for mask in 0u32..(1u32 << n) {
        if mask.count_ones() as usize != k {
            continue;
        }
        let mut exact = Condition::all();
        for (i, c) in clauses.iter().enumerate() {
            let found = pg_in_name(ts_clause(c));
            exact = if mask & (1 << i) != 0 {
                exact.add(found)
            } else {
                exact.add(found.not())
            };
        }
        any = any.add(exact);
    }
    any
}
