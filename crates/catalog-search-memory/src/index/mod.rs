//! The index itself: columns, filter bitmaps and posting lists, keyed by
//! product id.
//!
//! A product's id is its document number (ids fit in `u32` up to four
//! billion products; a larger one makes the index refuse the product and
//! the caller falls back to SQL). So every bitmap iterates in id order,
//! which is the tie-break order of every sort: a relevance tier is already
//! sorted, and a page of it is a `select` and a short walk.
//!
//! What it holds per product: the sort columns (price, stock, rating,
//! timestamps, version, sku and name text, category and brand as label
//! numbers), membership in the flag, label, rating and price-bucket
//! bitmaps, and the product's token sequence (term ids, name part first),
//! which only phrase clauses read. Descriptions and other text are not
//! kept: pages are filled by one by-id read of the database, so the index
//! stays at a few hundred bytes per product (docs/search.md).
//!
//! This module holds the data and its upkeep (build, upsert, remove,
//! compaction); `matching` turns a filter into the bitmap of its matches,
//! `pages` picks one page of them in any order, `aggregates` counts and
//! sums over them.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::bitmap::Bitmap;
use catalog_domain::facets::{FacetField, FacetKey, PRICE_BOUNDS_CENTS, price_bucket};
use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::search::{Clause, EXACT_SKU_SCORE, SearchDocument, SearchQuery, in_vocabulary};
use catalog_domain::{NameCount, Product, ProductFilter, StatsRow};

mod aggregates;
mod matching;
mod pages;
pub use pages::Quick;
#[cfg(test)]
mod tests;

use crate::arena::{Arena, push_varint, varints};
use crate::column::{Packed, grow};
use crate::dict::Dictionary;
use crate::posting::{Posting, PostingLists, trimmed, union_within};
use crate::skus::Skus;

/// Ratings are tenths from 0 to 50.
const RATING_VALUES: usize = 51;
/// Whole stars, 0 to 5.
const RATING_FLOORS: usize = RATING_VALUES / 10 + 1;
/// Price buckets of the facets (their bounds in `PRICE_BOUNDS_CENTS`).
const PRICE_BUCKETS: usize = PRICE_BOUNDS_CENTS.len() + 1;

/// Why a product could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Its id does not fit a document number.
    IdOutOfRange(i64),
    /// Its rating is outside 0–5 (the domain never builds one).
    Rating(i16),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::IdOutOfRange(id) => write!(f, "product id {id} does not fit the index"),
            Refused::Rating(r) => write!(f, "rating {r} is outside 0-50 tenths"),
        }
    }
}

impl std::error::Error for Refused {}

/// The distinct values of a text column (category, brand), each with the
/// products holding it.
#[derive(Debug, Default)]
struct Labels {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    docs: Vec<Bitmap>,
}

impl Labels {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        self.docs.push(Bitmap::new());
        id
    }

    /// `m` ∩ the products holding any of `names` (a name never seen holds
    /// none). One name is intersected by reference, without the copy its
    /// union would be.
    fn restricted<'a>(&self, m: &Bitmap, names: impl Iterator<Item = &'a str>) -> Bitmap {
        let sets: Vec<&Bitmap> = names
            .filter_map(|n| self.ids.get(n))
            .map(|id| &self.docs[*id as usize])
            .collect();
        match sets[..] {
            [] => Bitmap::new(),
            [one] => m & one,
            _ => {
                let mut any = Bitmap::new();
                for set in sets {
                    any |= set;
                }
                m & &any
            }
        }
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// The distinct (category, brand) pairs of the catalog. Each product holds
/// one pair code, in one column: a facet pass over the matches reads that
/// column once for both label facets (a read a product instead of two,
/// and 4 bytes a product less than a column for each label).
#[derive(Debug, Default)]
struct Pairs {
    labels: Vec<(u32, u32)>,
    ids: HashMap<(u32, u32), u32>,
}

impl Pairs {
    fn intern(&mut self, category: u32, brand: u32) -> u32 {
        *self.ids.entry((category, brand)).or_insert_with(|| {
            self.labels.push((category, brand));
            (self.labels.len() - 1) as u32
        })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Each product's pair code: 2 bytes while the catalog has at most 65,536
/// pairs (the facet pass reads four codes per cache line instead of two),
/// 4 bytes from the first pair past that on.
type PairCodes = Packed<u16, u32>;

/// A number column: 4 bytes a product while every value fits.
type Numbers = Packed<i32, i64>;

/// Which part of a product's text a clause is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Name, sku and description: where a clause must occur to match.
    All,
    /// Name and sku: where a clause must occur to score.
    Name,
}

/// The search index of a catalog.
#[derive(Debug, Default)]
pub struct Index {
    live: Bitmap,
    version: Numbers,
    price: Numbers,
    stock: Numbers,
    rating: Vec<i16>,
    created: Vec<i64>,
    updated: Vec<i64>,
    /// Each product's (category, brand) pair code, in `pairs`.
    pair: PairCodes,
    pairs: Pairs,
    sku: Arena,
    /// Each sku's product, for the exact-sku match of a search.
    sku_ids: Skus,
    name: Arena,
    active: Bitmap,
    in_stock: Bitmap,
    categories: Labels,
    brands: Labels,
    ratings: Vec<Bitmap>,
    /// By whole star (tenths / 10): what the rating facet counts. Its six
    /// bitmaps are dense, so a facet is six fast intersections where the
    /// 51 sparse per-tenth bitmaps read every product's entry.
    floors: Vec<Bitmap>,
    price_buckets: Vec<Bitmap>,
    dict: Dictionary,
    /// By term id: the products holding the term anywhere, and in the name.
    all: PostingLists,
    names: PostingLists,
    /// Each product's term ids (varint-coded, name part first) and how
    /// many belong to the name part: what phrase clauses check adjacency on.
    tokens: Arena,
    name_tokens: Vec<u16>,
    /// Sort orders built on demand, by (column, descending, grouping).
    perms: std::sync::Mutex<HashMap<(SortField, bool, Group), Perm>>,
}

/// Every product in one sort order (the column, then id ascending), as of
/// its build, and the products written since, whose place in `order` may
/// be stale: a walk skips them there and merges them in at their current
/// place. Rebuilt when the written ones pass 1 % of the catalog. A
/// grouped order holds the same products by label first (category or
/// brand id), then the column and id: label `l`'s products in order are
/// `order[starts[l]..starts[l + 1]]`.
#[derive(Debug, Clone, Default)]
struct Perm {
    order: std::sync::Arc<Vec<u32>>,
    starts: std::sync::Arc<Vec<usize>>,
    dirty: Bitmap,
}

/// Which products a sort order's walk reads: all of them, or those of one
/// label, from an order grouped by that column (a category filter under
/// `sort=-price` walks its category's products in price order, not the
/// whole catalog's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Group {
    All,
    Category,
    Brand,
}

/// A relevance tier: the products of one score, in id order.
type Tiers = Vec<(i64, Bitmap)>;

fn doc_of(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            ratings: vec![Bitmap::new(); RATING_VALUES],
            floors: vec![Bitmap::new(); RATING_FLOORS],
            price_buckets: vec![Bitmap::new(); PRICE_BUCKETS],
            ..Self::default()
        }
    }

    /// An index of `products`. New terms go to the dictionary's delta,
    /// which folds into the transducer as it grows, so products can be
    /// streamed in pages (the start-up build reads the table in id order)
    /// without holding them all.
    pub fn build<'a>(products: impl Iterator<Item = &'a Product>) -> Result<Self, Refused> {
        let mut index = Self::new();
        for p in products {
            index.upsert(p)?;
        }
        Ok(index)
    }

    /// Approximate heap bytes by component, for the build log and the
    /// docs' memory figures.
    pub fn memory(&self) -> Vec<(&'static str, usize)> {
        let bitmaps = |v: &[Bitmap]| v.iter().map(Bitmap::serialized_size).sum::<usize>();
        vec![
            (
                "columns",
                self.version.bytes()
                    + self.price.bytes()
                    + self.stock.bytes()
                    + self.created.capacity() * 8 * 2
                    + self.rating.capacity() * 2
                    + self.pair.bytes(),
            ),
            (
                "sku and name text",
                self.sku.memory() + self.name.memory() + self.sku_ids.memory(),
            ),
            (
                "token sequences",
                self.tokens.memory() + self.name_tokens.capacity() * 2,
            ),
            ("posting lists", self.all.memory() + self.names.memory()),
            (
                "filter bitmaps",
                bitmaps(&self.categories.docs)
                    + bitmaps(&self.brands.docs)
                    + bitmaps(&self.ratings)
                    + bitmaps(&self.floors)
                    + bitmaps(&self.price_buckets)
                    + self.live.serialized_size()
                    + self.active.serialized_size()
                    + self.in_stock.serialized_size(),
            ),
            ("dictionary", self.dict.memory()),
        ]
    }

    /// How many products the index holds.
    pub fn len(&self) -> u64 {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The version of product `id` as indexed, if it is.
    pub fn version_of(&self, id: i64) -> Option<i64> {
        let doc = doc_of(id)?;
        self.live
            .contains(doc)
            .then(|| self.version.at(doc as usize))
    }

    /// Indexes `p`, replacing what was indexed for its id.
    pub fn upsert(&mut self, p: &Product) -> Result<(), Refused> {
        let doc = doc_of(p.id.get()).ok_or(Refused::IdOutOfRange(p.id.get()))?;
        let tenths = p.rating.tenths();
        let rating = usize::try_from(tenths)
            .ok()
            .filter(|r| *r < RATING_VALUES)
            .ok_or(Refused::Rating(tenths))?;
        if self.live.contains(doc) {
            self.remove_doc(doc);
        }
        self.touch_perms(doc);
        grow(&mut self.created, doc);
        grow(&mut self.updated, doc);
        grow(&mut self.rating, doc);
        grow(&mut self.name_tokens, doc);
        let d = doc as usize;
        self.version.set(doc, p.version);
        self.price.set(doc, p.price.cents());
        self.stock.set(doc, p.stock_quantity);
        self.rating[d] = tenths;
        self.created[d] = p.created_at.timestamp_micros();
        self.updated[d] = p.updated_at.timestamp_micros();
        self.sku.set(doc, p.sku.as_str().as_bytes());
        self.sku_ids.insert(doc, &self.sku);
        self.name.set(doc, p.name.as_bytes());
        let cat = self.categories.intern(p.category.as_str());
        self.categories.docs[cat as usize].insert(doc);
        let brand = self.brands.intern(p.brand.as_str());
        self.brands.docs[brand as usize].insert(doc);
        let code = self.pairs.intern(cat, brand);
        self.pair.set(doc, code);
        if p.is_active {
            self.active.insert(doc);
        }
        if p.stock_quantity > 0 {
            self.in_stock.insert(doc);
        }
        self.ratings[rating].insert(doc);
        self.floors[rating / 10].insert(doc);
        self.price_buckets[bucket_of(p.price.cents())].insert(doc);

        let text = SearchDocument::of(p);
        let mut seq = Vec::with_capacity(64);
        let mut name_len = 0u16;
        for (in_name, t) in text
            .name
            .split(' ')
            .map(|t| (true, t))
            .chain(text.body.split(' ').map(|t| (false, t)))
            .filter(|(_, t)| !t.is_empty())
        {
            let id = self.dict.intern(t);
            self.all.insert(id, doc);
            if in_name {
                self.names.insert(id, doc);
                name_len = name_len.saturating_add(1);
            }
            push_varint(&mut seq, id);
        }
        self.tokens.set(doc, &seq);
        self.name_tokens[d] = name_len;
        self.live.insert(doc);
        Ok(())
    }

    /// Forgets product `id` (a no-op when it is not indexed).
    pub fn remove(&mut self, id: i64) {
        if let Some(doc) = doc_of(id).filter(|d| self.live.contains(*d)) {
            self.remove_doc(doc);
            self.touch_perms(doc);
            self.compact_if_worth_it();
        }
    }

    /// The number columns, for growing and trimming them together.
    fn numbers(&mut self) -> [&mut Numbers; 3] {
        [&mut self.version, &mut self.price, &mut self.stock]
    }

    /// Marks `doc`'s place stale in every built sort order, dropping the
    /// orders with too many stale places (rebuilt on their next use).
    fn touch_perms(&mut self, doc: u32) {
        let limit = (self.live.len() / 100).max(1024);
        if let Ok(perms) = self.perms.get_mut() {
            perms.retain(|_, p| {
                p.dirty.insert(doc);
                p.dirty.len() <= limit
            });
        }
    }

    /// Product `d`'s (category, brand) label ids.
    fn labels_of(&self, d: usize) -> (u32, u32) {
        self.pair
            .get(d)
            .and_then(|p| self.pairs.labels.get(p as usize))
            .copied()
            .unwrap_or_default()
    }

    fn remove_doc(&mut self, doc: u32) {
        let d = doc as usize;
        self.live.remove(doc);
        self.active.remove(doc);
        self.in_stock.remove(doc);
        let (cat, brand) = self.labels_of(d);
        if let Some(b) = self.categories.docs.get_mut(cat as usize) {
            b.remove(doc);
        }
        if let Some(b) = self.brands.docs.get_mut(brand as usize) {
            b.remove(doc);
        }
        if let Ok(r) = usize::try_from(self.rating[d]) {
            if let Some(b) = self.ratings.get_mut(r) {
                b.remove(doc);
            }
            if let Some(b) = self.floors.get_mut(r / 10) {
                b.remove(doc);
            }
        }
        self.price_buckets[bucket_of(self.price.at(d))].remove(doc);
        let name_len = usize::from(self.name_tokens[d]);
        for (k, id) in varints(self.tokens.get(doc)).enumerate() {
            self.all.remove(id, doc);
            if k < name_len {
                self.names.remove(id, doc);
            }
        }
        self.tokens.clear(doc);
        self.sku_ids.remove(doc, &self.sku);
        self.sku.clear(doc);
        self.name.clear(doc);
    }

    /// Rewrites the text buffers without the values of replaced and
    /// deleted products once those outweigh the live ones.
    fn compact_if_worth_it(&mut self) {
        self.tokens.maybe_compact(&self.live);
        self.sku.maybe_compact(&self.live);
        self.name.maybe_compact(&self.live);
    }

    /// Room for `docs` products (ids up to about `docs`), so that a build
    /// never grows a column or the sku table by copying it.
    pub fn reserve(&mut self, docs: usize) {
        for v in self.numbers() {
            v.reserve(docs);
        }
        for v in [&mut self.created, &mut self.updated] {
            v.reserve(docs.saturating_sub(v.len()));
        }
        self.rating.reserve(docs.saturating_sub(self.rating.len()));
        self.pair.reserve(docs);
        self.name_tokens
            .reserve(docs.saturating_sub(self.name_tokens.len()));
        self.sku_ids.reserve(docs, &self.sku);
        // Generous per-product sizes: pages never touched cost no memory,
        // and the buffers are trimmed after the build.
        self.sku.reserve(docs, 24);
        self.name.reserve(docs, 64);
        self.tokens.reserve(docs, 96);
    }

    /// Trims every buffer to its contents (after a build).
    pub fn shrink(&mut self) {
        self.dict.fold();
        self.tokens.compact(&self.live);
        self.sku.compact(&self.live);
        self.name.compact(&self.live);
        for v in self.numbers() {
            v.shrink_to_fit();
        }
        self.created.shrink_to_fit();
        self.updated.shrink_to_fit();
        self.rating.shrink_to_fit();
        self.name_tokens.shrink_to_fit();
        self.pair.shrink_to_fit();
        self.all.trim();
        self.names.trim();
        for b in self
            .categories
            .docs
            .iter_mut()
            .chain(&mut self.brands.docs)
            .chain(&mut self.ratings)
            .chain(&mut self.floors)
            .chain(&mut self.price_buckets)
        {
            *b = trimmed(b);
        }
    }
}

fn bucket_of(cents: i64) -> usize {
    usize::try_from(price_bucket(cents))
        .unwrap_or(0)
        .min(PRICE_BUCKETS - 1)
}
