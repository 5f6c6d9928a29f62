//! PostgreSQL relevance pages read tier by tier ([`TierStart`]): a page of
//! a search ordered by relevance stops at the tier that fills it instead
//! of scoring every match. SQLite computes the score in SQL
//! (`Dialect::reads_relevance_in_tiers`).

use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::search::EXACT_SKU_SCORE;
use catalog_domain::{Product, ProductFilter, SearchQuery, Sku, StorageError};
use sea_orm::sea_query::Order;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use crate::connection::SqlStore;
use crate::dialect::{Dialect, Postgres};
use crate::entity::{self, Column, Entity};
use crate::error::Context;
use crate::helpers::{plan_lines, to_product};
use crate::query::filter_condition;

/// Most include clauses for which a relevance page is read tier by tier
/// (the lower tiers enumerate which clauses are in the name: 2^n terms).
const MAX_TIERED_CLAUSES: usize = 3;

/// Where a relevance listing read tier by tier starts (PostgreSQL).
///
/// The relevance score is the exact-sku bonus plus the number of include
/// clauses found in the name, so rows of one score form a tier, and the
/// order (score DESC, id) is: the exact-sku row, then the tier with every
/// clause in the name by id, then one clause fewer, and so on. Each tier is
/// one `ORDER BY id LIMIT k` query the planner answers either by walking
/// the primary key until k rows pass (a frequent word: a few hundred rows)
/// or by the search indexes and a top-k sort (a rare one), and a page stops
/// at the tier that fills it. Computing the score in SQL instead read and
/// scored every match before the first row (seconds for a word in 10% of
/// a million products).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TierStart {
    /// The exact-sku row comes first (a first page).
    sku_first: bool,
    /// The tier to start in: clauses found in the name.
    tier: usize,
    /// Continue that tier after this id.
    after_id: Option<i64>,
}

/// One query of a tiered relevance page.
#[derive(Debug, Clone, Copy)]
enum Tier<'a> {
    /// The product whose sku is the search text.
    Sku(&'a str),
    /// Products with this many clauses in the name, after an id.
    Name(usize, Option<i64>),
}

impl TierStart {
    /// The tiers to read, in order; `sku` is the search's sku candidate.
    fn tiers(self, sku: Option<&str>) -> Vec<Tier<'_>> {
        let mut v = Vec::new();
        if let (true, Some(sku)) = (self.sku_first, sku) {
            v.push(Tier::Sku(sku));
        }
        v.push(Tier::Name(self.tier, self.after_id));
        v.extend((0..self.tier).rev().map(|t| Tier::Name(t, None)));
        v
    }
}

/// The sku a search's text could be, when it has the shape of one (a
/// product with that sku matches and comes first).
fn sku_candidate(s: &SearchQuery) -> Option<String> {
    let cand = s.sku_candidate();
    Sku::parse(&cand)
        .ok()
        .filter(|sku| sku.as_str() == cand)
        .map(|_| cand)
}

/// One tier of a tiered relevance page, by id: the exact-sku row, or the
/// other rows (never the `sku` candidate's) with `k` clauses in the name.
fn tier_statement(
    filter: &ProductFilter,
    s: &SearchQuery,
    sku: Option<&str>,
    tier: Tier<'_>,
    limit: u64,
) -> sea_orm::Statement {
    use sea_orm::PartialModelTrait;
    // The other filters; the search is the tier's own condition.
    let others = ProductFilter {
        search: None,
        ..filter.clone()
    };
    let mut select = Entity::find().filter(filter_condition(&others, &Postgres));
    match tier {
        Tier::Sku(sku) => select = select.filter(Column::Sku.eq(sku)),
        Tier::Name(k, after_id) => {
            select = select.filter(crate::query::pg_name_tier(s, k));
            // Every clause in the name implies the words match, unless
            // some are excluded: the top tier is then one index probe.
            if k < s.include().len() || !s.exclude().is_empty() {
                select = select.filter(crate::query::pg_words(s));
            }
            if let Some(sku) = sku {
                select = select.filter(Column::Sku.ne(sku));
            }
            if let Some(id) = after_id {
                select = select.filter(Column::Id.gt(id));
            }
        }
    }
    let select = select.order_by(Column::Id, Order::Asc).limit(limit);
    entity::ProductRow::select_cols(select.select_only()).build(sea_orm::DbBackend::Postgres)
}

impl SqlStore {
    /// Whether `page` is a relevance listing read tier by tier, and from
    /// where: PostgreSQL, no OFFSET, a search with 1 to
    /// [`MAX_TIERED_CLAUSES`] include clauses in relevance order. Other
    /// relevance pages compute the score in SQL.
    pub(crate) fn relevance_tiers<'a>(
        &self,
        page: &PageSpec<'a>,
    ) -> Option<(&'a SearchQuery, TierStart)> {
        if !self.dialect.reads_relevance_in_tiers() || page.offset > 0 {
            return None;
        }
        let s = page.filter.search.as_ref()?;
        let n = s.include().len();
        if n == 0 || n > MAX_TIERED_CLAUSES {
            return None;
        }
        let relevance = SortKey {
            field: SortField::Relevance,
            descending: true,
        };
        if page.sort != [relevance, SortKey::ID] {
            return None;
        }
        let start = match page.after {
            None => TierStart {
                sku_first: true,
                tier: n,
                after_id: None,
            },
            // After the exact-sku row: every tier from its start.
            Some([SortValue::Int(score), SortValue::Int(_)]) if *score >= EXACT_SKU_SCORE => {
                TierStart {
                    sku_first: false,
                    tier: n,
                    after_id: None,
                }
            }
            Some([SortValue::Int(score), SortValue::Int(id)]) => TierStart {
                sku_first: false,
                tier: usize::try_from(*score).ok().filter(|t| *t <= n)?,
                after_id: Some(*id),
            },
            Some(_) => return None,
        };
        Some((s, start))
    }

    /// A relevance page read tier by tier ([`TierStart`]), stopping at the
    /// tier that fills it.
    pub(crate) async fn list_tiered(
        &self,
        page: &PageSpec<'_>,
        s: &SearchQuery,
        start: TierStart,
    ) -> Result<Vec<Product>, StorageError> {
        use sea_orm::FromQueryResult;
        let sku = sku_candidate(s);
        let mut rows = Vec::new();
        for tier in start.tiers(sku.as_deref()) {
            let remaining = page.limit.saturating_sub(rows.len() as u64);
            if remaining == 0 {
                break;
            }
            let stmt = tier_statement(page.filter, s, sku.as_deref(), tier, remaining);
            let found = entity::ProductRow::find_by_statement(stmt)
                .all(&self.db)
                .await
                .context("listing products by relevance")?;
            rows.extend(found);
        }
        rows.into_iter().map(to_product).collect()
    }

    /// The plans of every tier a tiered relevance page may read, each a
    /// plan of its own (for [`SqlStore::explain_list`]).
    pub(crate) async fn explain_tiered(
        &self,
        page: &PageSpec<'_>,
        s: &SearchQuery,
        start: TierStart,
    ) -> Result<Vec<String>, StorageError> {
        let (prefix, column) = Postgres.explain();
        let sku = sku_candidate(s);
        let mut lines = Vec::new();
        for tier in start.tiers(sku.as_deref()) {
            let mut stmt = tier_statement(page.filter, s, sku.as_deref(), tier, page.limit);
            stmt.sql.insert_str(0, prefix);
            let rows = self
                .db
                .query_all_raw(stmt)
                .await
                .context("explaining a relevance tier")?;
            lines.push(format!("-- relevance tier {tier:?}"));
            lines.extend(plan_lines(&rows, column)?);
        }
        Ok(lines)
    }
}
