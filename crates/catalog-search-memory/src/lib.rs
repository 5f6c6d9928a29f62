//! The in-process search index: every list, count, stats and facets
//! question with a `search`, answered from memory.
//!
//! PostgreSQL (or SQLite) stays the source of truth. The index is derived
//! from it and rebuildable: posting lists and filter values are
//! Roaring bitmaps ([`bitmap`], CRoaring) keyed by product id, the term dictionary is an
//! [`fst`] transducer walked by a typo automaton, and totals, facets and
//! stats are bitmap cardinalities and sums over the matches, never a read
//! of every matching row. Pages hold ids; the rows come from one by-id
//! read of the database (docs/search.md says why).
//!
//! - [`arena`]: per-product text in one buffer;
//! - [`bitmap`]: the set of product numbers every posting and filter is;
//! - [`dict`]: the term dictionary and the typo automaton;
//! - [`posting`]: a posting list that costs nothing for one product;
//! - [`column`]: number columns at the narrowest width that holds them;
//! - [`skus`]: sku → product, for the exact-sku match;
//! - [`index`]: the index and its query engine;
//! - [`port`]: the index as the domain's
//!   [`catalog_domain::SearchIndex`] port, which the domain's
//!   [`catalog_domain::search_index::Follower`] keeps exact by the change
//!   log and [`catalog_domain::search_index::SearchRouted`] routes reads to
//!   (what the server runs);
//! - [`store`]: [`IndexedStore`], the index in front of any storage
//!   adapter, which the storage contract suite runs against.

pub mod arena;
pub mod bitmap;
pub mod column;
pub mod dict;
pub mod index;
pub mod port;
pub mod posting;
pub mod skus;
pub mod store;

pub use index::{Index, Refused};

/// The server's storage adapter with this index in front of its searches.
pub type Routed<S> = catalog_domain::search_index::Routed<S, Index>;
/// The router behind [`Routed`].
pub type SearchRouted<S> = catalog_domain::search_index::SearchRouted<S, Index>;
/// The follower of the change log holding this index.
pub type Follower = catalog_domain::search_index::Follower<Index>;
pub use catalog_domain::search_index::{CatchUp, DEEP_OFFSET};
pub use store::IndexedStore;
