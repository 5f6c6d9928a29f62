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

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use catalog_domain::facets::{FacetField, FacetKey, PRICE_BOUNDS_CENTS, price_bucket};
use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::search::{Clause, EXACT_SKU_SCORE, SearchDocument, SearchQuery, in_vocabulary};
use catalog_domain::{NameCount, Product, ProductFilter, StatsRow};
use roaring::RoaringBitmap;

use crate::arena::{Arena, push_varint, varints};
use crate::dict::Dictionary;
use crate::posting::Posting;

/// Ratings are tenths from 0 to 50.
const RATING_VALUES: usize = 51;
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
    docs: Vec<RoaringBitmap>,
}

impl Labels {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        self.docs.push(RoaringBitmap::new());
        id
    }

    /// The products holding any of `names` (a name never seen holds none).
    fn any_of<'a>(&self, names: impl Iterator<Item = &'a str>) -> RoaringBitmap {
        let mut acc = RoaringBitmap::new();
        for n in names {
            if let Some(id) = self.ids.get(n) {
                acc |= &self.docs[*id as usize];
            }
        }
        acc
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

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
    live: RoaringBitmap,
    version: Vec<i64>,
    price: Vec<i64>,
    stock: Vec<i64>,
    rating: Vec<i16>,
    created: Vec<i64>,
    updated: Vec<i64>,
    category: Vec<u32>,
    brand: Vec<u32>,
    sku: Arena,
    /// A hash of each sku → its product, for the exact-sku match of a
    /// search (a common word is also a valid sku: scanning its postings
    /// for one would read tens of thousands of skus).
    sku_ids: HashMap<u64, u32>,
    name: Arena,
    active: RoaringBitmap,
    in_stock: RoaringBitmap,
    categories: Labels,
    brands: Labels,
    ratings: Vec<RoaringBitmap>,
    price_buckets: Vec<RoaringBitmap>,
    dict: Dictionary,
    /// By term id: the products holding the term anywhere, and in the name.
    all: Vec<Posting>,
    names: Vec<Posting>,
    /// Each product's term ids (varint-coded, name part first) and how
    /// many belong to the name part: what phrase clauses check adjacency on.
    tokens: Arena,
    name_tokens: Vec<u16>,
    /// Sort orders built on demand, by (column, descending).
    perms: std::sync::Mutex<HashMap<(SortField, bool), Perm>>,
}

/// Every product in one sort order (the column, then id ascending), as of
/// its build, and the products written since, whose place in `order` may
/// be stale: a walk skips them there and merges them in at their current
/// place. Rebuilt when the written ones pass 1 % of the catalog.
#[derive(Debug, Clone, Default)]
struct Perm {
    order: std::sync::Arc<Vec<u32>>,
    dirty: RoaringBitmap,
}

/// A relevance tier: the products of one score, in id order.
type Tiers = Vec<(i64, RoaringBitmap)>;

fn doc_of(id: i64) -> Option<u32> {
    u32::try_from(id).ok()
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, doc: u32) {
    let need = doc as usize + 1;
    if v.len() < need {
        v.resize(need, T::default());
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            ratings: vec![RoaringBitmap::new(); RATING_VALUES],
            price_buckets: vec![RoaringBitmap::new(); PRICE_BUCKETS],
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
        let posting = |p: &Posting| match p {
            Posting::Many(b) => b.serialized_size() + 48,
            _ => 0,
        };
        let bitmaps =
            |v: &[RoaringBitmap]| v.iter().map(RoaringBitmap::serialized_size).sum::<usize>();
        vec![
            (
                "columns",
                self.version.capacity() * 8 * 5
                    + self.rating.capacity() * 2
                    + self.category.capacity() * 8,
            ),
            ("sku and name text", self.sku.memory() + self.name.memory()),
            (
                "token sequences",
                self.tokens.memory() + self.name_tokens.capacity() * 2,
            ),
            (
                "posting lists",
                (self.all.capacity() + self.names.capacity()) * std::mem::size_of::<Posting>()
                    + self
                        .all
                        .iter()
                        .chain(&self.names)
                        .map(posting)
                        .sum::<usize>(),
            ),
            (
                "filter bitmaps",
                bitmaps(&self.categories.docs)
                    + bitmaps(&self.brands.docs)
                    + bitmaps(&self.ratings)
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
        self.live.contains(doc).then(|| self.version[doc as usize])
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
        for v in self.wide_columns() {
            grow(v, doc);
        }
        grow(&mut self.rating, doc);
        grow(&mut self.category, doc);
        grow(&mut self.brand, doc);
        grow(&mut self.name_tokens, doc);
        let d = doc as usize;
        self.version[d] = p.version;
        self.price[d] = p.price.cents();
        self.stock[d] = p.stock_quantity;
        self.rating[d] = tenths;
        self.created[d] = p.created_at.timestamp_micros();
        self.updated[d] = p.updated_at.timestamp_micros();
        self.sku.set(doc, p.sku.as_str().as_bytes());
        self.sku_ids.insert(sku_hash(p.sku.as_str()), doc);
        self.name.set(doc, p.name.as_bytes());
        let cat = self.categories.intern(p.category.as_str());
        self.category[d] = cat;
        self.categories.docs[cat as usize].insert(doc);
        let brand = self.brands.intern(p.brand.as_str());
        self.brand[d] = brand;
        self.brands.docs[brand as usize].insert(doc);
        if p.is_active {
            self.active.insert(doc);
        }
        if p.stock_quantity > 0 {
            self.in_stock.insert(doc);
        }
        self.ratings[rating].insert(doc);
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
            let i = id as usize;
            if self.all.len() <= i {
                self.all.resize(i + 1, Posting::Empty);
                self.names.resize(i + 1, Posting::Empty);
            }
            self.all[i].insert(doc);
            if in_name {
                self.names[i].insert(doc);
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

    /// The 64-bit columns, for growing and trimming them together.
    fn wide_columns(&mut self) -> [&mut Vec<i64>; 5] {
        [
            &mut self.version,
            &mut self.price,
            &mut self.stock,
            &mut self.created,
            &mut self.updated,
        ]
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

    fn remove_doc(&mut self, doc: u32) {
        let d = doc as usize;
        self.live.remove(doc);
        self.active.remove(doc);
        self.in_stock.remove(doc);
        if let Some(b) = self.categories.docs.get_mut(self.category[d] as usize) {
            b.remove(doc);
        }
        if let Some(b) = self.brands.docs.get_mut(self.brand[d] as usize) {
            b.remove(doc);
        }
        if let Some(b) = usize::try_from(self.rating[d])
            .ok()
            .and_then(|r| self.ratings.get_mut(r))
        {
            b.remove(doc);
        }
        self.price_buckets[bucket_of(self.price[d])].remove(doc);
        let name_len = usize::from(self.name_tokens[d]);
        for (k, id) in varints(self.tokens.get(doc)).enumerate() {
            let id = id as usize;
            if let Some(p) = self.all.get_mut(id) {
                p.remove(doc);
            }
            if k < name_len
                && let Some(p) = self.names.get_mut(id)
            {
                p.remove(doc);
            }
        }
        self.tokens.clear(doc);
        let key = sku_hash(self.sku.text(doc));
        if self.sku_ids.get(&key) == Some(&doc) {
            self.sku_ids.remove(&key);
        }
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

    /// Trims every buffer to its contents (after a build).
    pub fn shrink(&mut self) {
        self.tokens.compact(&self.live);
        self.sku.compact(&self.live);
        self.name.compact(&self.live);
        for v in self.wide_columns() {
            v.shrink_to_fit();
        }
        self.all.shrink_to_fit();
        self.names.shrink_to_fit();
    }

    // --- matching --------------------------------------------------------

    /// Every product `filter` matches.
    pub fn matches(&self, filter: &ProductFilter) -> RoaringBitmap {
        let mut m = match &filter.search {
            Some(s) => self.search_docs(s),
            None => self.live.clone(),
        };
        if !filter.categories.is_empty() {
            m &= self
                .categories
                .any_of(filter.categories.iter().map(|c| c.as_str()));
        }
        if !filter.brands.is_empty() {
            m &= self.brands.any_of(filter.brands.iter().map(|c| c.as_str()));
        }
        match filter.is_active {
            Some(true) => m &= &self.active,
            Some(false) => m -= &self.active,
            None => {}
        }
        match filter.in_stock {
            Some(true) => m &= &self.in_stock,
            Some(false) => m -= &self.in_stock,
            None => {}
        }
        if let Some(min) = filter.min_rating {
            let mut ok = RoaringBitmap::new();
            for r in usize::try_from(min.tenths()).unwrap_or(0)..RATING_VALUES {
                ok |= &self.ratings[r];
            }
            m &= ok;
        }
        if filter.min_price.is_some() || filter.max_price.is_some() {
            let lo = filter.min_price.map_or(i64::MIN, |p| p.cents());
            let hi = filter.max_price.map_or(i64::MAX, |p| p.cents());
            m = self.price_range(m, lo, hi);
        }
        m
    }

    /// `m` ∩ {price in lo..=hi}: whole facet buckets inside the range by
    /// bitmap, the products of the edge buckets by their price.
    fn price_range(&self, m: RoaringBitmap, lo: i64, hi: i64) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for b in 0..PRICE_BUCKETS {
            let b_lo = if b == 0 { 0 } else { PRICE_BOUNDS_CENTS[b - 1] };
            let b_hi = PRICE_BOUNDS_CENTS.get(b).map_or(i64::MAX, |h| h - 1);
            if b_hi < lo || b_lo > hi {
                continue;
            }
            let in_bucket = &m & &self.price_buckets[b];
            if lo <= b_lo && b_hi <= hi {
                out |= in_bucket;
            } else {
                out.extend(
                    in_bucket
                        .iter()
                        .filter(|d| (lo..=hi).contains(&self.price[*d as usize])),
                );
            }
        }
        out
    }

    fn search_docs(&self, s: &SearchQuery) -> RoaringBitmap {
        let mut m = if s.has_words() {
            let mut acc: Option<RoaringBitmap> = None;
            for c in s.include() {
                let docs = self.clause_docs(c, Part::All, acc.as_ref());
                acc = Some(match acc {
                    None => docs,
                    Some(a) => a & docs,
                });
                if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                    break;
                }
            }
            let mut m = acc.unwrap_or_else(|| self.live.clone());
            for c in s.exclude() {
                if m.is_empty() {
                    break;
                }
                let out = self.clause_docs(c, Part::All, Some(&m));
                m -= out;
            }
            m
        } else {
            RoaringBitmap::new()
        };
        if let Some(doc) = self.sku_match(s) {
            m.insert(doc);
        }
        m
    }

    /// The product whose sku is the search text.
    fn sku_match(&self, s: &SearchQuery) -> Option<u32> {
        let wanted = s.sku_candidate();
        self.sku_ids
            .get(&sku_hash(&wanted))
            .copied()
            .filter(|d| self.live.contains(*d) && self.sku.text(*d) == wanted.as_str())
    }

    fn postings(&self, part: Part) -> &[Posting] {
        match part {
            Part::All => &self.all,
            Part::Name => &self.names,
        }
    }

    /// The products holding `token` in `part` (any token it starts, when
    /// `prefix`).
    fn token_docs(&self, token: &str, prefix: bool, part: Part) -> RoaringBitmap {
        let postings = self.postings(part);
        let mut acc = RoaringBitmap::new();
        if prefix {
            self.dict.prefixed(token, |_, id| {
                if let Some(p) = postings.get(id as usize) {
                    p.or_into(&mut acc);
                }
            });
        } else if let Some(p) = self
            .dict
            .get(token)
            .and_then(|id| postings.get(id as usize))
        {
            p.or_into(&mut acc);
        }
        acc
    }

    /// The products whose `part` contains clause `c`, within `within` when
    /// given (phrases then verify fewer candidates).
    fn clause_docs(&self, c: &Clause, part: Part, within: Option<&RoaringBitmap>) -> RoaringBitmap {
        let n = c.tokens.len();
        if n == 1 {
            let mut acc = self.token_docs(&c.tokens[0], c.prefix, part);
            let postings = self.postings(part);
            for a in &c.alternatives {
                if let Some(p) = self.dict.get(a).and_then(|id| postings.get(id as usize)) {
                    p.or_into(&mut acc);
                }
            }
            if let Some(w) = within {
                acc &= w;
            }
            return acc;
        }
        // A phrase: every token present, then adjacency checked on the
        // token sequences of the remaining candidates.
        let mut candidates = within.cloned();
        for (i, t) in c.tokens.iter().enumerate() {
            let docs = self.token_docs(t, c.prefix && i == n - 1, part);
            candidates = Some(match candidates {
                None => docs,
                Some(cand) => cand & docs,
            });
            if candidates.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        let Some(candidates) = candidates else {
            return RoaringBitmap::new();
        };
        let mut exact: Vec<u32> = Vec::with_capacity(n);
        for t in &c.tokens[..n - 1] {
            match self.dict.get(t) {
                Some(id) => exact.push(id),
                None => return RoaringBitmap::new(),
            }
        }
        let last: HashSet<u32> = if c.prefix {
            let mut ids = HashSet::new();
            self.dict.prefixed(&c.tokens[n - 1], |_, id| {
                ids.insert(id);
            });
            ids
        } else {
            self.dict.get(&c.tokens[n - 1]).into_iter().collect()
        };
        let mut out = RoaringBitmap::new();
        let mut seq: Vec<u32> = Vec::with_capacity(64);
        for doc in &candidates {
            let len = match part {
                Part::Name => usize::from(self.name_tokens[doc as usize]),
                Part::All => usize::MAX,
            };
            seq.clear();
            seq.extend(varints(self.tokens.get(doc)).take(len));
            let found = seq
                .windows(n)
                .any(|w| w[..n - 1] == exact[..] && last.contains(&w[n - 1]));
            if found {
                out.insert(doc);
            }
        }
        out
    }

    /// The relevance tiers of `m` under `s`, best first; empty tiers are
    /// left out.
    fn tiers(&self, s: &SearchQuery, m: &RoaringBitmap) -> Tiers {
        let mut levels: Vec<RoaringBitmap> = vec![m.clone()];
        for c in s.include() {
            let named = self.clause_docs(c, Part::Name, Some(m));
            let mut next: Vec<RoaringBitmap> = Vec::with_capacity(levels.len() + 1);
            for (j, level) in levels.iter().enumerate() {
                let stays = level - &named;
                let rises = level & &named;
                if j == 0 {
                    next.push(stays);
                } else {
                    next[j] |= stays;
                }
                next.push(rises);
            }
            levels = next;
        }
        let mut tiers: Tiers = Vec::new();
        if let Some(doc) = self.sku_match(s).filter(|d| m.contains(*d)) {
            for (score, level) in levels.iter_mut().enumerate() {
                if level.remove(doc) {
                    let mut top = RoaringBitmap::new();
                    top.insert(doc);
                    tiers.push((EXACT_SKU_SCORE + score as i64, top));
                }
            }
        }
        for (score, level) in levels.into_iter().enumerate().rev() {
            if !level.is_empty() {
                tiers.push((score as i64, level));
            }
        }
        tiers
    }

    // --- pages -------------------------------------------------------------

    /// The ids of the page `page` asks for.
    pub fn page(&self, page: &PageSpec<'_>) -> Vec<i64> {
        let m = self.matches(page.filter);
        self.page_of(&m, page)
    }

    /// The ids of `page` among the matches `m`.
    pub fn page_of(&self, m: &RoaringBitmap, page: &PageSpec<'_>) -> Vec<i64> {
        let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let search = page.filter.search.as_ref();
        let relevance_first = matches!(
            page.sort,
            [
                SortKey {
                    field: SortField::Relevance,
                    descending: true
                },
                SortKey {
                    field: SortField::Id,
                    descending: false
                }
            ]
        );
        if let (Some(s), true) = (search, relevance_first) {
            return self.relevance_page(s, m, page.after, offset, limit);
        }
        if page.sort == [SortKey::ID] {
            return self.id_page(m, page.after, offset, limit);
        }
        if let ([key, SortKey::ID], None) = (page.sort, page.after)
            && key.field != SortField::Relevance
            && key.field != SortField::Id
        {
            // Walking the order reads about (offset + limit) × all / matches
            // entries; collecting and selecting reads every match.
            let walk = (offset.saturating_add(limit) as u64).saturating_mul(self.live.len())
                / m.len().max(1);
            if walk < m.len().saturating_mul(4) {
                return self.walk_page(*key, m, offset, limit);
            }
        }
        let scores: Option<HashMap<u32, i64>> =
            (page.sort.iter().any(|k| k.field == SortField::Relevance)).then(|| {
                let mut by_doc = HashMap::new();
                if let Some(s) = search {
                    for (score, tier) in self.tiers(s, m) {
                        by_doc.extend(tier.iter().map(|d| (d, score)));
                    }
                }
                by_doc
            });
        let score = |d: u32| {
            scores
                .as_ref()
                .and_then(|s| s.get(&d).copied())
                .unwrap_or(0)
        };
        let mut docs: Vec<u32> = match page.after {
            Some(after) => m
                .iter()
                .filter(|d| self.cmp_after(page.sort, *d, after, &score) == Ordering::Greater)
                .collect(),
            None => m.iter().collect(),
        };
        let cmp = |a: &u32, b: &u32| self.cmp_docs(page.sort, *a, *b, &score);
        let end = offset.saturating_add(limit).min(docs.len());
        if end < docs.len() && end > 0 {
            docs.select_nth_unstable_by(end - 1, cmp);
            docs.truncate(end);
        }
        docs.sort_unstable_by(cmp);
        docs.into_iter()
            .skip(offset)
            .take(limit)
            .map(i64::from)
            .collect()
    }

    /// The sort order of `key` (then id), built now when missing.
    fn perm(&self, key: SortKey) -> Perm {
        let Ok(mut perms) = self.perms.lock() else {
            return Perm::default();
        };
        perms
            .entry((key.field, key.descending))
            .or_insert_with(|| {
                let sort = [key, SortKey::ID];
                let mut order: Vec<u32> = self.live.iter().collect();
                order.sort_unstable_by(|a, b| self.cmp_docs(&sort, *a, *b, &|_| 0));
                Perm {
                    order: std::sync::Arc::new(order),
                    dirty: RoaringBitmap::new(),
                }
            })
            .clone()
    }

    /// A page of `m` in `key` order by walking the prebuilt order.
    fn walk_page(&self, key: SortKey, m: &RoaringBitmap, offset: usize, limit: usize) -> Vec<i64> {
        let sort = [key, SortKey::ID];
        let perm = self.perm(key);
        let cmp = |a: &u32, b: &u32| self.cmp_docs(&sort, *a, *b, &|_| 0);
        // Written since the build: at their current place, merged in.
        let mut moved: Vec<u32> = (m & &perm.dirty).iter().collect();
        moved.sort_unstable_by(cmp);
        let mut moved = moved.into_iter().peekable();
        let unfiltered = perm.dirty.is_empty() && m.len() == perm.order.len() as u64;
        let mut skip = offset;
        let mut rest: Box<dyn Iterator<Item = u32>> = if unfiltered {
            // Every product, none moved: the page is a slice.
            skip = 0;
            Box::new(perm.order.iter().copied().skip(offset))
        } else {
            Box::new(
                perm.order
                    .iter()
                    .copied()
                    .filter(|d| m.contains(*d) && !perm.dirty.contains(*d)),
            )
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut next_rest = rest.next();
        while out.len() < limit {
            let take_moved = match (next_rest, moved.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(r), Some(mv)) => cmp(mv, &r).is_lt(),
            };
            let doc = if take_moved {
                moved.next()
            } else {
                let d = next_rest;
                next_rest = rest.next();
                d
            };
            let Some(doc) = doc else { break };
            if skip > 0 {
                skip -= 1;
            } else {
                out.push(i64::from(doc));
            }
        }
        out
    }

    fn id_page(
        &self,
        m: &RoaringBitmap,
        after: Option<&[SortValue]>,
        offset: usize,
        limit: usize,
    ) -> Vec<i64> {
        let from = match after {
            Some([SortValue::Int(id)]) => {
                u32::try_from(id.saturating_add(1).max(0)).unwrap_or(u32::MAX)
            }
            _ => 0,
        };
        let skipped = if from == 0 { 0 } else { m.rank(from - 1) };
        let start = skipped.saturating_add(offset as u64);
        let Some(first) = u32::try_from(start).ok().and_then(|s| m.select(s)) else {
            return Vec::new();
        };
        m.range(first..).take(limit).map(i64::from).collect()
    }

    fn relevance_page(
        &self,
        s: &SearchQuery,
        m: &RoaringBitmap,
        after: Option<&[SortValue]>,
        mut offset: usize,
        limit: usize,
    ) -> Vec<i64> {
        let (after_score, after_id) = match after {
            Some([SortValue::Int(score), SortValue::Int(id)]) => (Some(*score), *id),
            _ => (None, 0),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for (score, tier) in self.tiers(s, m) {
            if out.len() >= limit {
                break;
            }
            let from: u32 = match after_score {
                Some(a) if score > a => continue,
                Some(a) if score == a => {
                    u32::try_from(after_id.saturating_add(1).max(0)).unwrap_or(u32::MAX)
                }
                _ => 0,
            };
            let available = tier.len() - if from == 0 { 0 } else { tier.rank(from - 1) };
            if (offset as u64) >= available {
                offset -= available as usize;
                continue;
            }
            let skip_to = tier.len() - available + offset as u64;
            offset = 0;
            let Some(first) = u32::try_from(skip_to).ok().and_then(|r| tier.select(r)) else {
                continue;
            };
            out.extend(tier.range(first..).take(limit - out.len()).map(i64::from));
        }
        out
    }

    fn cmp_docs(&self, sort: &[SortKey], a: u32, b: u32, score: &impl Fn(u32) -> i64) -> Ordering {
        for k in sort {
            let ord = self.cmp_field(k.field, a, b, score);
            let ord = if k.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    fn cmp_field(&self, field: SortField, a: u32, b: u32, score: &impl Fn(u32) -> i64) -> Ordering {
        let (x, y) = (a as usize, b as usize);
        match field {
            SortField::Id => a.cmp(&b),
            SortField::Sku => self.sku.get(a).cmp(self.sku.get(b)),
            SortField::Name => self.name.get(a).cmp(self.name.get(b)),
            SortField::Category => self
                .categories
                .name(self.category[x])
                .cmp(self.categories.name(self.category[y])),
            SortField::Brand => self
                .brands
                .name(self.brand[x])
                .cmp(self.brands.name(self.brand[y])),
            SortField::Price => self.price[x].cmp(&self.price[y]),
            SortField::StockQuantity => self.stock[x].cmp(&self.stock[y]),
            SortField::Rating => self.rating[x].cmp(&self.rating[y]),
            SortField::CreatedAt => self.created[x].cmp(&self.created[y]),
            SortField::UpdatedAt => self.updated[x].cmp(&self.updated[y]),
            SortField::Relevance => score(a).cmp(&score(b)),
        }
    }

    /// How document `d` compares with a cursor position under `sort`.
    fn cmp_after(
        &self,
        sort: &[SortKey],
        d: u32,
        after: &[SortValue],
        score: &impl Fn(u32) -> i64,
    ) -> Ordering {
        for (k, v) in sort.iter().zip(after) {
            let ord = self.cmp_value(k.field, d, v, score);
            let ord = if k.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    fn cmp_value(
        &self,
        field: SortField,
        d: u32,
        v: &SortValue,
        score: &impl Fn(u32) -> i64,
    ) -> Ordering {
        let x = d as usize;
        match (field, v) {
            (SortField::Id, SortValue::Int(i)) => i64::from(d).cmp(i),
            (SortField::Price, SortValue::Int(i)) => self.price[x].cmp(i),
            (SortField::StockQuantity, SortValue::Int(i)) => self.stock[x].cmp(i),
            (SortField::Rating, SortValue::Int(i)) => i64::from(self.rating[x]).cmp(i),
            (SortField::Relevance, SortValue::Int(i)) => score(d).cmp(i),
            (SortField::Sku, SortValue::Text(t)) => self.sku.get(d).cmp(t.as_bytes()),
            (SortField::Name, SortValue::Text(t)) => self.name.get(d).cmp(t.as_bytes()),
            (SortField::Category, SortValue::Text(t)) => {
                self.categories.name(self.category[x]).cmp(t.as_str())
            }
            (SortField::Brand, SortValue::Text(t)) => {
                self.brands.name(self.brand[x]).cmp(t.as_str())
            }
            (SortField::CreatedAt, SortValue::Time(t)) => {
                self.created[x].cmp(&t.timestamp_micros())
            }
            (SortField::UpdatedAt, SortValue::Time(t)) => {
                self.updated[x].cmp(&t.timestamp_micros())
            }
            // A cursor is checked against its sort when decoded; a value of
            // another type cannot reach here.
            _ => Ordering::Equal,
        }
    }

    // --- aggregates ----------------------------------------------------------

    /// Counts and sums over `m`.
    pub fn stats_of(&self, m: &RoaringBitmap) -> StatsRow {
        let mut row = StatsRow {
            total_products: m.len(),
            active_products: m.intersection_len(&self.active),
            in_stock_products: m.intersection_len(&self.in_stock),
            ..StatsRow::default()
        };
        let mut categories = vec![false; self.categories.names.len()];
        let mut brands = vec![false; self.brands.names.len()];
        for d in m {
            let x = d as usize;
            row.total_stock += self.stock[x];
            let cents = self.price[x];
            row.min_price_cents = Some(row.min_price_cents.map_or(cents, |v| v.min(cents)));
            row.max_price_cents = Some(row.max_price_cents.map_or(cents, |v| v.max(cents)));
            row.sum_price_cents += cents;
            row.sum_rating_tenths += i64::from(self.rating[x]);
            categories[self.category[x] as usize] = true;
            brands[self.brand[x] as usize] = true;
        }
        row.categories = categories.iter().filter(|b| **b).count() as u64;
        row.brands = brands.iter().filter(|b| **b).count() as u64;
        row
    }

    /// `m` grouped by `field` (groups without products left out), by key.
    pub fn facet_counts_of(&self, m: &RoaringBitmap, field: FacetField) -> Vec<(FacetKey, u64)> {
        let mut out: Vec<(FacetKey, u64)> = match field {
            FacetField::Category => label_counts(&self.categories, m),
            FacetField::Brand => label_counts(&self.brands, m),
            FacetField::InStock => {
                let yes = m.intersection_len(&self.in_stock);
                vec![(FacetKey::Int(0), m.len() - yes), (FacetKey::Int(1), yes)]
            }
            FacetField::PriceBucket => self
                .price_buckets
                .iter()
                .enumerate()
                .map(|(b, docs)| (FacetKey::Int(b as i64), m.intersection_len(docs)))
                .collect(),
            FacetField::RatingFloor => {
                let mut floors = [0u64; 6];
                for (tenths, docs) in self.ratings.iter().enumerate() {
                    floors[tenths / 10] += m.intersection_len(docs);
                }
                floors
                    .iter()
                    .enumerate()
                    .map(|(f, n)| (FacetKey::Int(f as i64), *n))
                    .collect()
            }
        };
        out.retain(|(_, n)| *n > 0);
        out.sort();
        out
    }

    /// Every category with its count, by name in code-point order.
    pub fn categories(&self) -> Vec<NameCount> {
        name_counts(&self.categories)
    }

    /// Every brand with its count, by name in code-point order.
    pub fn brands(&self) -> Vec<NameCount> {
        name_counts(&self.brands)
    }

    /// The vocabulary words (`in_vocabulary`) of `min_chars..=max_chars`
    /// characters that some product holds.
    pub fn vocabulary(&self, min_chars: usize, max_chars: usize) -> Vec<String> {
        let mut out = Vec::new();
        self.dict.prefixed("", |term, id| {
            let Ok(term) = std::str::from_utf8(term) else {
                return;
            };
            if in_vocabulary(term)
                && (min_chars..=max_chars).contains(&term.chars().count())
                && self.all.get(id as usize).is_some_and(|p| !p.is_empty())
            {
                out.push(term.to_string());
            }
        });
        out.sort();
        out
    }

    /// The vocabulary words within `bound` typos of `word` that some
    /// product holds: the transducer walked by the typo automaton.
    pub fn near_words(&self, word: &str, bound: usize) -> Vec<String> {
        let mut out = Vec::new();
        self.dict.near(word, bound, |term, id| {
            if in_vocabulary(term) && self.all.get(id as usize).is_some_and(|p| !p.is_empty()) {
                out.push(term.to_string());
            }
        });
        out.sort();
        out
    }
}

fn sku_hash(sku: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sku.hash(&mut h);
    h.finish()
}

fn bucket_of(cents: i64) -> usize {
    usize::try_from(price_bucket(cents))
        .unwrap_or(0)
        .min(PRICE_BUCKETS - 1)
}

fn label_counts(labels: &Labels, m: &RoaringBitmap) -> Vec<(FacetKey, u64)> {
    labels
        .docs
        .iter()
        .enumerate()
        .map(|(id, docs)| {
            (
                FacetKey::Text(labels.names[id].clone()),
                m.intersection_len(docs),
            )
        })
        .collect()
}

fn name_counts(labels: &Labels) -> Vec<NameCount> {
    let mut out: Vec<NameCount> = labels
        .names
        .iter()
        .zip(&labels.docs)
        .filter(|(_, d)| !d.is_empty())
        .map(|(name, d)| NameCount {
            name: name.clone(),
            product_count: d.len(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use catalog_domain::query::{compare_keys, sort_values};
    use catalog_domain::{Label, Price, ProductId, Rating, Sku};

    fn product(id: i64, cents: i64) -> Product {
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + id, 0).unwrap();
        Product {
            id: ProductId::new(id).unwrap(),
            sku: Sku::parse(&format!("P-{id}")).unwrap(),
            name: format!("Item {}", id % 7),
            description: "plain".into(),
            category: Label::from_stored(format!("C{}", id % 3)),
            brand: Label::from_stored("B".into()),
            price: Price::from_cents(cents).unwrap(),
            stock_quantity: id % 5,
            rating: Rating::from_tenths(id % 51).unwrap(),
            is_active: true,
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }

    /// Pages by walking a built sort order stay exact after writes move,
    /// add and remove products (their stale places are skipped and their
    /// current places merged in), and after the order is rebuilt.
    #[test]
    fn sort_orders_stay_exact_under_writes() {
        let mut products: Vec<Product> = (1..=3000).map(|i| product(i, (i * 37) % 1000)).collect();
        let mut index = Index::build(products.iter()).unwrap();
        let all = ProductFilter::default();
        let check = |index: &Index, products: &[Product]| {
            for key in [
                SortKey {
                    field: SortField::Price,
                    descending: false,
                },
                SortKey {
                    field: SortField::Price,
                    descending: true,
                },
                SortKey {
                    field: SortField::Name,
                    descending: false,
                },
            ] {
                let sort = [key, SortKey::ID];
                let mut expected: Vec<&Product> = products.iter().collect();
                expected.sort_by(|a, b| {
                    compare_keys(
                        &sort,
                        &sort_values(&sort, a, None),
                        &sort_values(&sort, b, None),
                    )
                });
                for offset in [0u64, 7, 1500, 2990] {
                    let got = index.page(&PageSpec {
                        filter: &all,
                        sort: &sort,
                        after: None,
                        offset,
                        limit: 20,
                    });
                    let want: Vec<i64> = expected
                        .iter()
                        .skip(offset as usize)
                        .take(20)
                        .map(|p| p.id.get())
                        .collect();
                    assert_eq!(got, want, "{key:?} at {offset}");
                }
            }
        };
        check(&index, &products);
        // Move some, delete some, add some: fewer than the rebuild limit.
        for i in (0..products.len()).step_by(97) {
            products[i].price = Price::from_cents(999 - (i as i64 % 1000)).unwrap();
            products[i].name = "Aardvark".into();
            products[i].version += 1;
            index.upsert(&products[i]).unwrap();
        }
        for id in [5, 500, 2999] {
            index.remove(id);
        }
        products.retain(|p| ![5, 500, 2999].contains(&p.id.get()));
        for id in 3001..3010 {
            let p = product(id, id % 13);
            index.upsert(&p).unwrap();
            products.push(p);
        }
        check(&index, &products);
        // Past the limit: the orders are dropped and rebuilt on use.
        for p in products.iter_mut().take(1100) {
            p.price = Price::from_cents(p.price.cents() / 2).unwrap();
            p.version += 1;
            index.upsert(p).unwrap();
        }
        check(&index, &products);
    }
}
