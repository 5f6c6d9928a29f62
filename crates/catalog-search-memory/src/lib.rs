//! The in-process search index: every list, count, stats and facets
//! question with a `search`, answered from memory.
//!
//! PostgreSQL (or SQLite) stays the source of truth. The index is derived
//! from it and rebuildable: posting lists and filter values are
//! [`roaring`] bitmaps keyed by product id, the term dictionary is an
//! [`fst`] transducer walked by a typo automaton, and totals, facets and
//! stats are bitmap cardinalities and sums over the matches, never a read
//! of every matching row. Pages hold ids; the rows come from one by-id
//! read of the database (docs/search.md says why).
//!
//! - [`arena`]: per-product text in one buffer;
//! - [`dict`]: the term dictionary and the typo automaton;
//! - [`posting`]: a posting list that costs nothing for one product;
//! - [`follow`]: [`Follower`], the index kept exact by the change log;
//! - [`index`]: the index and its query engine;
//! - [`routed`]: [`SearchRouted`], what the server runs: searches to the
//!   index, the rest to the database;
//! - [`store`]: [`IndexedStore`], the index in front of any storage
//!   adapter, which the storage contract suite runs against.

pub mod arena;
pub mod dict;
pub mod follow;
pub mod index;
pub mod posting;
pub mod routed;
pub mod store;

pub use follow::{CatchUp, Follower};
pub use index::{Index, Refused};
pub use routed::{DEEP_OFFSET, IndexState, Routed, SearchRouted};
pub use store::IndexedStore;
