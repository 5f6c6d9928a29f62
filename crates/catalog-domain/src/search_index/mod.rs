//! The search index port, and what the domain does with any index: keep it
//! exact by the change log ([`Follower`]) and route reads to it
//! ([`SearchRouted`]).
//!
//! A [`SearchIndex`] is a derived view of the products table held by one
//! instance: it answers, from memory, the questions the database answers
//! slowly (every read that carries a `search`, and deep `offset` pages),
//! with the same semantics as the domain's reference
//! ([`ProductFilter::matches`], [`crate::query::compare_keys`],
//! [`crate::SearchQuery::score`]). It never holds the truth: it is built
//! from the table, follows the change log, and is thrown away and rebuilt
//! whenever it cannot be proven current. `catalog-search-memory` implements
//! it with roaring bitmaps and an fst dictionary; the storage contract suite
//! runs against it like every other adapter.

mod compute;
mod follow;
mod routed;
mod verify;

pub use compute::Compute;
pub use follow::{CatchUp, Follower};
pub use routed::{DEEP_OFFSET, Routed, SearchRouted};
pub use verify::{CrossCheck, Disagreement, cross_check};

use crate::facets::{FacetField, FacetKey};
use crate::ports::PageSpec;
use crate::product::{Product, ProductId};
use crate::query::ProductFilter;
use crate::stats::StatsRow;

/// An in-process index of every product. Queries are synchronous and cheap
/// (microseconds to a millisecond at a million products); a [`Follower`]
/// holds the index behind a lock and applies the change log to it.
pub trait SearchIndex: Send + Sync + Sized + 'static {
    /// An index of no product.
    fn empty() -> Self;

    /// Adds `product`, or replaces the entry of its id. An error leaves the
    /// index unusable until rebuilt (the follower drops it then).
    fn upsert(&mut self, product: &Product) -> Result<(), IndexRefused>;

    /// Forgets `id` (a deleted product); absent ids are ignored.
    fn remove(&mut self, id: ProductId);

    /// Products indexed.
    fn len(&self) -> u64;

    /// Whether no product is indexed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Called before a full build of about `products` products (the
    /// table's count): room for them, so that nothing grows by copying.
    fn reserve(&mut self, _products: u64) {}

    /// Called once after a full build: release spare capacity, prepare
    /// what incremental upkeep would rebuild anyway.
    fn finish_build(&mut self) {}

    /// The version of `id` the index holds, if any. Rows read from the
    /// database are checked against it: a different version was written
    /// after the index was read.
    fn version_of(&self, id: ProductId) -> Option<i64>;

    /// The ids of one page in `page.sort` order, and how many products
    /// match `page.filter` in all.
    fn page(&self, page: &PageSpec<'_>) -> (Vec<ProductId>, u64);

    /// How many products match.
    fn count(&self, filter: &ProductFilter) -> u64;

    /// The statistics of the matches.
    fn stats(&self, filter: &ProductFilter) -> StatsRow;

    /// Facet counts of the matches, as [`crate::ProductReader::facet_counts`].
    fn facet_counts(&self, filter: &ProductFilter, field: FacetField) -> Vec<(FacetKey, u64)>;

    /// The total of `filter` and the facet groups of each `(filter, field)`
    /// of `requests`, as [`crate::ProductReader::facet_groups`]. The
    /// provided implementation asks [`SearchIndex::count`] and
    /// [`SearchIndex::facet_counts`] one by one; an index that can share
    /// the matches of equal filters overrides it.
    fn facet_groups(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> crate::FacetGroups {
        let groups = requests
            .iter()
            .map(|(f, field)| self.facet_counts(f, *field))
            .collect();
        (self.count(filter), groups)
    }

    /// Indexed vocabulary words within `bound` typo edits of `word`
    /// ([`crate::search::typo_distance`]), found without scanning the
    /// vocabulary; only words some product still holds, `word` itself
    /// included when indexed. Any order.
    fn typo_candidates(&self, word: &str, bound: usize) -> Vec<String>;

    /// [`SearchIndex::typo_candidates`] of each of `words` within its own
    /// typo distance ([`crate::search::max_typos`]): what
    /// [`crate::ProductReader::typo_candidates`] answers.
    fn typo_candidates_of(&self, words: &[&str]) -> Vec<Vec<String>> {
        words
            .iter()
            .map(|w| self.typo_candidates(w, crate::search::max_typos(w)))
            .collect()
    }

    /// Whether reading `filter`'s matches is heavy enough (about a tenth
    /// of a millisecond or more) to be worth a hand-over to the compute
    /// threads ([`Compute`]) instead of running on the server's worker.
    fn heavy(&self, _filter: &ProductFilter) -> bool {
        false
    }

    /// Approximate heap bytes held (for /health and the docs' per-product
    /// figure).
    fn memory_bytes(&self) -> usize;
}

/// A product the index cannot hold (its error text says why). Never
/// expected; if it happens the follower logs it, drops the index and
/// rebuilds, and the SQL path answers meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the search index cannot hold product {id}: {reason}")]
pub struct IndexRefused {
    pub id: i64,
    pub reason: String,
}

/// The state of an instance's search index, for `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexState {
    /// Building: at start-up, after a bulk load, after a change could not
    /// be applied, or after falling behind the change log's retention.
    /// Searches take the SQL path meanwhile.
    Building,
    /// Answering: the products it holds, the change-log sequence number it
    /// has applied up to, the log's newest sequence number, and the index's
    /// approximate size.
    Ready {
        products: u64,
        applied: Option<i64>,
        head: Option<i64>,
        memory_bytes: u64,
    },
}

impl IndexState {
    /// Changes committed but not yet applied (applied at the next read
    /// that uses the index at the latest).
    pub fn lag(&self) -> Option<u64> {
        match self {
            IndexState::Ready { applied, head, .. } => match (applied, head) {
                (Some(a), Some(h)) => Some(u64::try_from(h.saturating_sub(*a)).unwrap_or(0)),
                // Nothing logged, or nothing since the build began.
                _ => Some(0),
            },
            IndexState::Building => None,
        }
    }
}
