//! Reads: the list statements (filter, keyset position, sort, page, and
//! the total carried in the same statement), the routing of counts, stats
//! and facets to the summaries when they answer, and the
//! [`ProductReader`] implementation. Relevance pages PostgreSQL reads tier
//! by tier are in `tiers`.

use async_trait::async_trait;
use catalog_domain::facets::{FacetField, FacetKey};
use catalog_domain::ports::PageSpec;
use catalog_domain::query::SortField;
use catalog_domain::{
    NameCount, Product, ProductFilter, ProductId, ProductReader, StatsRow, StorageError,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Select, TransactionTrait,
};

use crate::connection::SqlStore;
use crate::dialect::{Dialect, plan_row_estimate};
use crate::entity::{self, Column, Entity};
use crate::error::Context;
use crate::helpers::{get_i64, non_negative, plan_lines, to_product};
use crate::query::{filter_condition, keyset_condition, sort_expr};

/// The statement [`ProductReader::list`] runs (and
/// [`SqlStore::explain_list`] explains): filter, keyset position, sort and
/// page.
fn list_select(page: &PageSpec<'_>, dialect: &dyn Dialect) -> Select<Entity> {
    let search = page.filter.search.as_ref();
    let mut select = Entity::find().filter(filter_condition(page.filter, dialect));
    if let Some(after) = page.after {
        select = select.filter(keyset_condition(page.sort, after, search));
    }
    for k in page.sort {
        let order = if k.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        select = select.order_by(sort_expr(k.field, search), order);
    }
    select
        .limit(page.limit)
        .offset((page.offset > 0).then_some(page.offset))
}

/// The generic plan PostgreSQL runs `stmt` with on a session of the
/// generic pool: prepared, explained and deallocated on one connection (a
/// transaction pins it). Prepared statements outlive transactions, so each
/// gets a name of its own.
async fn explain_generic(
    generic: &DatabaseConnection,
    stmt: sea_orm::Statement,
) -> Result<Vec<String>, StorageError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let context = "explaining a generic plan";
    let name = format!(
        "catalog_explain_{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let txn = generic.begin().await.context(context)?;
    let raw = |sql: String| sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
    txn.execute_raw(raw(format!("PREPARE {name} AS {}", stmt.sql)))
        .await
        .context(context)?;
    let values = stmt.values.map(|v| v.0).unwrap_or_default();
    let placeholders = (1..=values.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let args = sea_orm::sea_query::inject_parameters(
        &placeholders,
        &values,
        &sea_orm::sea_query::PostgresQueryBuilder,
    );
    let execute = if values.is_empty() {
        format!("EXPLAIN (FORMAT TEXT) EXECUTE {name}")
    } else {
        format!("EXPLAIN (FORMAT TEXT) EXECUTE {name}({args})")
    };
    let rows = txn.query_all_raw(raw(execute)).await.context(context)?;
    txn.execute_raw(raw(format!("DEALLOCATE {name}")))
        .await
        .context(context)?;
    txn.rollback().await.context(context)?;
    plan_lines(&rows, "QUERY PLAN")
}

impl SqlStore {
    /// [`list_select`] as SQL. For a generic plan the LIMIT is a literal: a
    /// generic plan cannot see a bound one and plans for a tenth of the
    /// table instead of a page (which makes a filtered primary-key scan
    /// look cheaper than the filter's own index). Page sizes are a small
    /// closed set, so the statement cache holds a few variants per shape.
    fn list_statement(&self, page: &PageSpec<'_>, generic: bool) -> sea_orm::Statement {
        self.list_statement_counted(page, generic, None)
    }

    /// [`SqlStore::list_statement`], each row carrying `count` (a SELECT of
    /// one value) as a `matches` column when given: an InitPlan that
    /// PostgreSQL and SQLite evaluate once, so the page and its total cost
    /// one round trip.
    fn list_statement_counted(
        &self,
        page: &PageSpec<'_>,
        generic: bool,
        count: Option<SelectStatement>,
    ) -> sea_orm::Statement {
        use sea_orm::PartialModelTrait;
        let db = self.db.get_database_backend();
        // The product columns only, never the search tokens.
        let mut select =
            entity::ProductRow::select_cols(list_select(page, self.dialect).select_only());
        if let Some(count) = count {
            QueryTrait::query(&mut select).expr_as(count, Alias::new("matches"));
        }
        if !generic {
            return select.build(db);
        }
        QueryTrait::query(&mut select).reset_limit();
        let mut stmt = select.build(db);
        stmt.sql.push_str(&format!(" LIMIT {}", page.limit));
        stmt
    }

    /// The query plan of exactly the statement [`ProductReader::list`]
    /// runs for `page`, one line per row, as the server would run it: for
    /// a plan-stable shape (`crate::plans`) the generic plan its pool's
    /// sessions use (`PREPARE`, then `EXPLAIN EXECUTE` with the bound
    /// values), otherwise the custom plan for the bound values (so the
    /// planner sees the real selectivities): PostgreSQL's `EXPLAIN` text,
    /// or SQLite's `EXPLAIN QUERY PLAN` details. Nothing is executed. For
    /// tests and diagnostics.
    pub async fn explain_list(&self, page: PageSpec<'_>) -> Result<Vec<String>, StorageError> {
        if let Some((s, start)) = self.relevance_tiers(&page) {
            return self.explain_tiered(&page, s, start).await;
        }
        let generic = self.plan_is_generic(&page);
        let mut stmt = self.list_statement(&page, generic);
        if let (Some(pool), true) = (&self.generic, generic) {
            return explain_generic(pool, stmt).await;
        }
        let (prefix, column) = self.dialect.explain();
        stmt.sql.insert_str(0, prefix);
        let rows = self
            .db
            .query_all_raw(stmt)
            .await
            .context("explaining a list")?;
        plan_lines(&rows, column)
    }

    /// The lowest and highest price matching `filter`. Two statements:
    /// SQLite answers a lone MIN or MAX from an index end, but scans for
    /// both in one SELECT.
    async fn price_bounds(
        &self,
        filter: &ProductFilter,
    ) -> Result<(Option<i64>, Option<i64>), StorageError> {
        // One round trip: PostgreSQL answers each of MIN and MAX from one
        // end of a price index (an InitPlan each), SQLite likewise.
        let stmt = Query::select()
            .from(Entity)
            .expr_as(Func::min(Expr::col(Column::PriceCents)), "lo")
            .expr_as(Func::max(Expr::col(Column::PriceCents)), "hi")
            .cond_where(filter_condition(filter, self.dialect))
            .to_owned();
        let row = self
            .reads(crate::plans::filter_is_plan_stable(filter))
            .query_one(&stmt)
            .await
            .context("reading price bounds")?
            .ok_or_else(|| StorageError::internal("reading price bounds", "no row"))?;
        let get = |col: &str| {
            row.try_get::<Option<i64>>("", col)
                .context("reading price bounds")
        };
        Ok((get("lo")?, get("hi")?))
    }

    /// The in-stock or price facet of `filter` from the summaries, when
    /// they answer it: two summary counts, or the histogram's buckets.
    async fn facet_from_summaries(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Option<Vec<(FacetKey, u64)>>, StorageError> {
        match field {
            FacetField::PriceBucket
                if filter.min_price.is_none()
                    && filter.max_price.is_none()
                    && crate::histogram::answers_facet(filter) =>
            {
                crate::histogram::price_facet(self.reads(true), filter).await
            }
            FacetField::RatingFloor
                if filter.is_active.is_none()
                    && filter.in_stock.is_none()
                    && crate::histogram::answers_facet(filter) =>
            {
                crate::histogram::rating_facet(self.reads(true), filter, self.dialect)
                    .await
                    .map(Some)
            }
            FacetField::InStock if filter.in_stock.is_none() => {
                let with = |in_stock| ProductFilter {
                    in_stock: Some(in_stock),
                    ..filter.clone()
                };
                let (Some(yes), Some(no)) = (
                    self.summary_count_statement(&with(true)),
                    self.summary_count_statement(&with(false)),
                ) else {
                    return Ok(None);
                };
                let (a, b) =
                    futures::future::join(self.summary_count(&yes), self.summary_count(&no)).await;
                Ok(Some(
                    [(1, a?), (0, b?)]
                        .into_iter()
                        .filter(|(_, n)| *n > 0)
                        .map(|(k, n)| (FacetKey::Int(k), n))
                        .collect(),
                ))
            }
            _ => Ok(None),
        }
    }

    /// The exact count of `filter` from a summary, when one answers it: a
    /// SELECT of one value, cheap and with one plan whatever the values.
    fn summary_count_statement(&self, filter: &ProductFilter) -> Option<SelectStatement> {
        if crate::summary::answers(filter) {
            Some(crate::summary::count_statement(filter))
        } else if crate::histogram::answers_count(filter) {
            Some(crate::histogram::count_statement(filter, self.dialect))
        } else {
            None
        }
    }

    /// Runs a [`SqlStore::summary_count_statement`]. The summaries are
    /// small tables with one plan whatever the values: the generic pool.
    async fn summary_count(&self, stmt: &SelectStatement) -> Result<u64, StorageError> {
        let row = self
            .reads(true)
            .query_one(stmt)
            .await
            .context("reading the summary")?
            .ok_or_else(|| StorageError::internal("reading the summary", "no row"))?;
        let n = row
            .try_get_by_index::<i64>(0)
            .context("reading the summary")?;
        Ok(non_negative(n))
    }

    /// A page and its total in one statement, the total from `count`
    /// ([`SqlStore::summary_count_statement`]). An empty page carries no
    /// total: the first page of nothing is 0, any other counts again.
    async fn list_with_summary_count(
        &self,
        page: PageSpec<'_>,
        count: SelectStatement,
    ) -> Result<(Vec<Product>, u64), StorageError> {
        use sea_orm::FromQueryResult;
        let generic = self.plan_is_generic(&page);
        let stmt = self.list_statement_counted(&page, generic, Some(count));
        let rows = entity::PageRow::find_by_statement(stmt)
            .all(self.reads(generic))
            .await
            .context("listing products with their count")?;
        self.page_with_total(&page, rows.into_iter().map(|r| (r.row, r.matches)))
            .await
    }

    /// A page whose rows each carry the filter's total. An empty page
    /// carries none: the first page of nothing is 0, a later one (an
    /// offset or a cursor past the end) counts again.
    async fn page_with_total(
        &self,
        page: &PageSpec<'_>,
        rows: impl Iterator<Item = (entity::ProductRow, i64)>,
    ) -> Result<(Vec<Product>, u64), StorageError> {
        let mut total = None;
        let mut products = Vec::new();
        for (row, matches) in rows {
            total.get_or_insert(non_negative(matches));
            products.push(to_product(row)?);
        }
        match total {
            Some(total) => Ok((products, total)),
            None if page.offset == 0 && page.after.is_none() => Ok((products, 0)),
            None => Ok((products, self.count(page.filter).await?)),
        }
    }

    /// Category or brand counts among the products matching `filter`,
    /// from the summary (which must answer for `filter`).
    async fn name_counts(
        &self,
        col: Column,
        filter: &ProductFilter,
    ) -> Result<Vec<NameCount>, StorageError> {
        let name = if matches!(col, Column::Category) {
            "category"
        } else {
            "brand"
        };
        // The summary is a small table with one plan whatever the values.
        crate::summary::name_counts(self.reads(true), name, filter).await
    }
}

#[async_trait]
impl ProductReader for SqlStore {
    #[tracing::instrument(skip_all, fields(limit = page.limit, offset = page.offset))]
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        use sea_orm::FromQueryResult;
        if let Some((s, start)) = self.relevance_tiers(&page) {
            return self.list_tiered(&page, s, start).await;
        }
        let generic = self.plan_is_generic(&page);
        let rows = entity::ProductRow::find_by_statement(self.list_statement(&page, generic))
            .all(self.reads(generic))
            .await
            .context("listing products")?;
        rows.into_iter().map(to_product).collect()
    }

    /// A relevance-ordered search page that scores every match before its
    /// LIMIT (not read tier by tier, [`TierStart`]) gets its total with it
    /// (`COUNT(*) OVER ()`) instead of from a second scan of the search
    /// index and the heap. Other pages stop after `limit` rows in index
    /// order (tiered relevance pages too), so they keep the separate count;
    /// so does a keyset continuation (its rows are only those after the
    /// cursor) and an empty page (no row carries a total).
    #[tracing::instrument(skip_all, fields(limit = page.limit, offset = page.offset))]
    async fn list_counted(&self, page: PageSpec<'_>) -> Result<(Vec<Product>, u64), StorageError> {
        let tiered = self.relevance_tiers(&page).is_some();
        let by_relevance = page.filter.search.is_some()
            && page.after.is_none()
            && page.sort.first().map(|k| k.field) == Some(SortField::Relevance)
            && !tiered;
        if !by_relevance {
            if !tiered && let Some(count) = self.summary_count_statement(page.filter) {
                return self.list_with_summary_count(page, count).await;
            }
            let (rows, total) =
                futures::future::join(self.list(page), self.count(page.filter)).await;
            return Ok((rows?, total?));
        }
        let rows = list_select(&page, self.dialect)
            .into_partial_model::<entity::CountedRow>()
            .all(&self.db)
            .await
            .context("listing products with their count")?;
        self.page_with_total(&page, rows.into_iter().map(|r| (r.row, r.matches)))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        if let Some(stmt) = self.summary_count_statement(filter) {
            return self.summary_count(&stmt).await;
        }
        let n: Option<i64> = Entity::find()
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .filter(filter_condition(filter, self.dialect))
            .into_tuple()
            .one(self.reads(crate::plans::filter_is_plan_stable(filter)))
            .await
            .context("counting products")?;
        Ok(non_negative(n.unwrap_or(0)))
    }

    fn counts_cheaply(&self, filter: &ProductFilter) -> bool {
        // What `summary_count_statement` answers, without building it.
        crate::summary::answers(filter) || crate::histogram::answers_count(filter)
    }

    fn aggregates_cheaply(&self, filter: &ProductFilter, facet: Option<FacetField>) -> bool {
        // What `stats` and `facet_from_summaries` answer from summaries.
        use crate::histogram::{answers_facet, answers_stats};
        let summary = crate::summary::answers(filter);
        match facet {
            None => summary || answers_stats(filter),
            Some(FacetField::Category | FacetField::Brand) => summary,
            Some(FacetField::PriceBucket) => {
                filter.min_price.is_none() && filter.max_price.is_none() && answers_facet(filter)
            }
            Some(FacetField::RatingFloor) => {
                filter.is_active.is_none() && filter.in_stock.is_none() && answers_facet(filter)
            }
            Some(FacetField::InStock) => {
                filter.in_stock.is_none()
                    && self.counts_cheaply(&ProductFilter {
                        in_stock: Some(true),
                        ..filter.clone()
                    })
            }
        }
    }

    /// PostgreSQL's planner estimate (`EXPLAIN`'s row count) of the filtered
    /// count; SQLite has none.
    #[tracing::instrument(skip_all)]
    async fn estimate_count(&self, filter: &ProductFilter) -> Result<Option<u64>, StorageError> {
        // An exact count from the summaries costs less than a plan.
        if self.counts_cheaply(filter) {
            return Ok(None);
        }
        let stmt = Query::select()
            .from(Entity)
            .column(Column::Id)
            .cond_where(filter_condition(filter, self.dialect))
            .to_owned();
        let Some(raw) = self
            .dialect
            .count_estimate(self.db.get_database_backend().build(&stmt))
        else {
            return Ok(None);
        };
        let row = self
            .db
            .query_one_raw(raw)
            .await
            .context("estimating a count")?
            .ok_or_else(|| StorageError::internal("estimating a count", "no plan"))?;
        let plan: String = row.try_get_by(0).context("reading a plan")?;
        Ok(plan_row_estimate(&plan))
    }

    #[tracing::instrument(skip_all, fields(id = id.get()))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        Entity::find_by_id(id.get())
            .into_partial_model::<entity::ProductRow>()
            .one(self.reads(true))
            .await
            .context("fetching a product")?
            .map(to_product)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        if crate::summary::answers(filter) {
            let mut row = crate::summary::stats(self.reads(true), filter).await?;
            if row.total_products > 0 {
                // Bounds come from the price indexes: MIN/MAX read one end.
                let (lo, hi) = self.price_bounds(filter).await?;
                row.min_price_cents = lo;
                row.max_price_cents = hi;
            }
            return Ok(row);
        }
        if crate::histogram::answers_stats(filter) {
            let mut row = crate::histogram::stats(self.reads(true), filter, self.dialect).await?;
            if row.total_products > 0 {
                let (lo, hi) = self.price_bounds(filter).await?;
                row.min_price_cents = lo;
                row.max_price_cents = hi;
            }
            return Ok(row);
        }
        // Sums are cast to BIGINT: PostgreSQL widens SUM(bigint) to NUMERIC.
        let bigint = || Alias::new("BIGINT");
        let flag = |cond: Expr| Expr::case(cond, 1i64).finally(0i64);
        let stmt = Query::select()
            .from(Entity)
            .expr_as(Expr::cust("COUNT(*)"), "total")
            .expr_as(
                Func::cast_as(
                    Func::sum(flag(Expr::col(Column::IsActive).eq(true))),
                    bigint(),
                ),
                "active",
            )
            .expr_as(
                Func::cast_as(
                    Func::sum(flag(Expr::col(Column::StockQuantity).gt(0))),
                    bigint(),
                ),
                "in_stock",
            )
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::StockQuantity)), bigint()),
                "stock",
            )
            .expr_as(Func::min(Expr::col(Column::PriceCents)), "min_price")
            .expr_as(Func::max(Expr::col(Column::PriceCents)), "max_price")
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::PriceCents)), bigint()),
                "sum_price",
            )
            .expr_as(
                Func::cast_as(Func::sum(Expr::col(Column::RatingTenths)), bigint()),
                "sum_rating",
            )
            .expr_as(
                Func::count_distinct(Expr::col(Column::Category)),
                "categories",
            )
            .expr_as(Func::count_distinct(Expr::col(Column::Brand)), "brands")
            .cond_where(filter_condition(filter, self.dialect))
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await
            .context("computing stats")?
            .ok_or_else(|| StorageError::internal("computing stats", "no row returned"))?;
        let total = non_negative(get_i64(&row, "total")?);
        let opt = |col: &str| -> Result<Option<i64>, StorageError> {
            row.try_get::<Option<i64>>("", col)
                .context("reading an aggregate")
        };
        Ok(StatsRow {
            total_products: total,
            active_products: non_negative(get_i64(&row, "active")?),
            in_stock_products: non_negative(get_i64(&row, "in_stock")?),
            total_stock: get_i64(&row, "stock")?,
            min_price_cents: opt("min_price")?,
            max_price_cents: opt("max_price")?,
            sum_price_cents: get_i64(&row, "sum_price")?,
            sum_rating_tenths: get_i64(&row, "sum_rating")?,
            categories: non_negative(get_i64(&row, "categories")?),
            brands: non_negative(get_i64(&row, "brands")?),
        })
    }

    #[tracing::instrument(skip_all)]
    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        self.name_counts(Column::Category, &ProductFilter::default())
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        self.name_counts(Column::Brand, &ProductFilter::default())
            .await
    }

    #[tracing::instrument(skip_all, fields(field = ?field))]
    async fn facet_counts(
        &self,
        filter: &ProductFilter,
        field: FacetField,
    ) -> Result<Vec<(FacetKey, u64)>, StorageError> {
        let bigint = || Alias::new("BIGINT");
        let text = matches!(field, FacetField::Category | FacetField::Brand);
        if text && crate::summary::answers(filter) {
            let col = if field == FacetField::Category {
                Column::Category
            } else {
                Column::Brand
            };
            let counts = self.name_counts(col, filter).await?;
            return Ok(counts
                .into_iter()
                .map(|c| (FacetKey::Text(c.name), c.product_count))
                .collect());
        }
        if let Some(counts) = self.facet_from_summaries(filter, field).await? {
            return Ok(counts);
        }
        let key: Expr = match field {
            FacetField::Category => Expr::col(Column::Category),
            FacetField::Brand => Expr::col(Column::Brand),
            FacetField::InStock => Func::cast_as(
                Expr::case(Expr::col(Column::StockQuantity).gt(0), 1i64).finally(0i64),
                bigint(),
            )
            .into(),
            FacetField::PriceBucket => {
                crate::query::price_bucket_sql(Expr::col(Column::PriceCents))
            }
            FacetField::RatingFloor => {
                Func::cast_as(Expr::col(Column::RatingTenths).div(10), bigint()).into()
            }
        };
        let stmt = Query::select()
            .from(Entity)
            .expr_as(key, "k")
            .expr_as(Expr::cust("COUNT(*)"), "n")
            .cond_where(filter_condition(filter, self.dialect))
            // By the output name: the CASE's bound values get other
            // placeholders in a repeated GROUP BY expression, which
            // PostgreSQL would not recognise as the same expression.
            .group_by_col(Alias::new("k"))
            .to_owned();
        let rows = self.db.query_all(&stmt).await.context("counting facets")?;
        rows.iter()
            .map(|row| {
                let n = non_negative(get_i64(row, "n")?);
                let k = if text {
                    FacetKey::Text(row.try_get::<String>("", "k").context("reading a facet")?)
                } else {
                    FacetKey::Int(get_i64(row, "k")?)
                };
                Ok((k, n))
            })
            .collect()
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        let sql = self.dialect.vocabulary();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [as_i64(min_chars).into(), as_i64(max_chars).into()],
            ))
            .await
            .context("reading the search vocabulary")?;
        rows.iter()
            .map(|r| {
                r.try_get::<String>("", "term")
                    .context("reading a search term")
            })
            .collect()
    }

    fn change_feed(&self) -> Option<&dyn catalog_domain::changes::ChangeFeed> {
        Some(self)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.db.ping().await.context("pinging the database")
    }
}
