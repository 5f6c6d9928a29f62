//! Matching: a filter to the bitmap of the products it matches (search
//! clauses from postings, phrases checked on token sequences, the other
//! filters from their bitmaps), and a search's relevance tiers.

use super::*;
use std::borrow::Cow;

impl Index {
    /// Every product `filter` matches.
    pub fn matches(&self, filter: &ProductFilter) -> Bitmap {
        // Borrowed while it is one list (a word's postings, or every
        // product): a category or brand then intersects it by reference,
        // without a copy of the whole list first.
        let mut m = match &filter.search {
            Some(s) => self.search_cow(s),
            None => Cow::Borrowed(&self.live),
        };
        if !filter.categories.is_empty() {
            m = Cow::Owned(
                self.categories
                    .restricted(&m, filter.categories.iter().map(|c| c.as_str())),
            );
        }
        if !filter.brands.is_empty() {
            m = Cow::Owned(
                self.brands
                    .restricted(&m, filter.brands.iter().map(|c| c.as_str())),
            );
        }
        let mut m = m.into_owned();
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
            // The tenths below the next whole star one by one, then whole
            // stars: at most 15 unions instead of up to 51.
            let min = usize::try_from(min.tenths()).unwrap_or(0);
            let whole = min.div_ceil(10);
            let mut ok = Bitmap::new();
            for r in min..(whole * 10).min(RATING_VALUES) {
                ok |= &self.ratings[r];
            }
            for f in whole..RATING_FLOORS {
                ok |= &self.floors[f];
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

    /// Whether `filter` may match a sixteenth of the catalog or more: a
    /// bound from its rarest clause's postings, read without computing
    /// the matches. Prefixes, and filters without words, count as heavy.
    pub fn heavy(&self, filter: &ProductFilter) -> bool {
        let limit = (self.live.len() / 16).max(4096);
        let Some(s) = &filter.search else {
            return true;
        };
        s.include()
            .iter()
            .map(|c| self.clause_bound(c))
            .min()
            .is_none_or(|bound| bound >= limit)
    }

    /// At least as many products as clause `c` matches. A prefix of one
    /// or two characters counts as unbounded (its range of the dictionary
    /// can be most of it); a longer one sums the postings of its range.
    fn clause_bound(&self, c: &Clause) -> u64 {
        let len = |id: u32| self.all.get(id).map_or(0, |p| p.len());
        let exact = |t: &str| self.dict.get(t).map_or(0, len);
        let n = c.tokens.len();
        let rarest = c
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if !(c.prefix && i + 1 == n) {
                    exact(t)
                } else if t.chars().count() < 3 {
                    u64::MAX
                } else {
                    let mut sum = 0u64;
                    self.dict
                        .prefixed(t, |_, id| sum = sum.saturating_add(len(id)));
                    sum
                }
            })
            .min()
            .unwrap_or(0);
        rarest.saturating_add(c.alternatives.iter().map(|a| exact(a)).sum::<u64>())
    }

    /// `m` ∩ {price in lo..=hi}: whole facet buckets inside the range by
    /// bitmap, the products of the edge buckets by their price.
    pub(super) fn price_range(&self, m: Bitmap, lo: i64, hi: i64) -> Bitmap {
        let mut out = Bitmap::new();
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
                        .filter(|d| (lo..=hi).contains(&self.price.at(*d as usize))),
                );
            }
        }
        out
    }

    /// The products search `s` matches, borrowed when that is one word's
    /// postings as they are.
    pub(super) fn search_cow(&self, s: &SearchQuery) -> Cow<'_, Bitmap> {
        let mut m = if s.has_words() {
            // The first clause's postings are borrowed when they are one
            // term's list (the next clause intersects them by reference:
            // no copy of the list); later clauses are computed within
            // the matches so far, which is their intersection already.
            let mut acc: Option<Cow<'_, Bitmap>> = None;
            for c in s.include() {
                let next = match (&acc, self.term_postings(c)) {
                    (None, Some(list)) => Cow::Borrowed(list),
                    (so_far, _) => Cow::Owned(self.clause_docs(c, Part::All, so_far.as_deref())),
                };
                let empty = next.is_empty();
                acc = Some(next);
                if empty {
                    break;
                }
            }
            let mut m = acc.unwrap_or(Cow::Borrowed(&self.live));
            for c in s.exclude() {
                if m.is_empty() {
                    break;
                }
                let out = self.clause_docs(c, Part::All, Some(&m));
                *m.to_mut() -= out;
            }
            m
        } else {
            Cow::Owned(Bitmap::new())
        };
        if let Some(doc) = self.sku_match(s)
            && !m.contains(doc)
        {
            m.to_mut().insert(doc);
        }
        m
    }

    /// The whole-document bitmap of clause `c` when it is one exact term
    /// held by two products or more, borrowed.
    fn term_postings(&self, c: &Clause) -> Option<&Bitmap> {
        if c.prefix || c.tokens.len() != 1 || !c.alternatives.is_empty() {
            return None;
        }
        match self.dict.get(&c.tokens[0]).and_then(|id| self.all.get(id)) {
            Some(Posting::Many(b)) => Some(b),
            _ => None,
        }
    }

    /// The product whose sku is the search text.
    pub(super) fn sku_match(&self, s: &SearchQuery) -> Option<u32> {
        let wanted = s.sku_candidate();
        self.sku_ids
            .find(&wanted, &self.sku)
            .filter(|d| self.live.contains(*d))
    }

    pub(super) fn postings(&self, part: Part) -> &PostingLists {
        match part {
            Part::All => &self.all,
            Part::Name => &self.names,
        }
    }

    /// The products holding `token` in `part` (any token it starts, when
    /// `prefix`), within `within` when given. One term's postings are
    /// intersected by reference (no copy of the list); the terms of a
    /// prefix are unioned first.
    pub(super) fn token_docs(
        &self,
        token: &str,
        prefix: bool,
        part: Part,
        within: Option<&Bitmap>,
    ) -> Bitmap {
        let postings = self.postings(part);
        let terms = self.terms_of(token, prefix);
        if let [id] = terms[..] {
            return match postings.get(id) {
                Some(Posting::Many(b)) => within.map_or_else(|| b.clone(), |w| b & w),
                Some(Posting::One(d)) if within.is_none_or(|w| w.contains(d)) => {
                    std::iter::once(d).collect()
                }
                _ => Bitmap::new(),
            };
        }
        // Several terms (a prefix): each list within `within`, then unioned.
        union_within(terms.into_iter().filter_map(|id| postings.get(id)), within)
    }

    /// The dictionary's terms of `token`: itself, or with `prefix` every
    /// term it starts.
    pub(super) fn terms_of(&self, token: &str, prefix: bool) -> Vec<u32> {
        let mut terms = Vec::new();
        if prefix {
            self.dict.prefixed(token, |_, id| terms.push(id));
        } else if let Some(id) = self.dict.get(token) {
            terms.push(id);
        }
        terms
    }

    /// The products whose `part` contains clause `c`, within `within` when
    /// given (phrases then verify fewer candidates).
    pub(super) fn clause_docs(&self, c: &Clause, part: Part, within: Option<&Bitmap>) -> Bitmap {
        let n = c.tokens.len();
        if n == 1 && c.alternatives.is_empty() {
            return self.token_docs(&c.tokens[0], c.prefix, part, within);
        }
        if n == 1 {
            let mut acc = self.token_docs(&c.tokens[0], c.prefix, part, None);
            let postings = self.postings(part);
            for a in &c.alternatives {
                if let Some(p) = self.dict.get(a).and_then(|id| postings.get(id)) {
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
        let mut candidates: Option<Bitmap> = None;
        for (i, t) in c.tokens.iter().enumerate() {
            let docs = self.token_docs(
                t,
                c.prefix && i == n - 1,
                part,
                candidates.as_ref().or(within),
            );
            if docs.is_empty() {
                return Bitmap::new();
            }
            candidates = Some(docs);
        }
        let Some(candidates) = candidates else {
            return Bitmap::new();
        };
        let mut exact: Vec<u32> = Vec::with_capacity(n);
        for t in &c.tokens[..n - 1] {
            match self.dict.get(t) {
                Some(id) => exact.push(id),
                None => return Bitmap::new(),
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
        let mut out = Bitmap::new();
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
    pub(super) fn tiers(&self, s: &SearchQuery, m: &Bitmap) -> Tiers {
        self.tiers_of(s, m, self.named(s, m))
    }

    /// For each clause of `s`, the products of `m` whose name contains
    /// it: what the tiers are made of.
    pub(super) fn named(&self, s: &SearchQuery, m: &Bitmap) -> Vec<Bitmap> {
        s.include()
            .iter()
            .map(|c| self.clause_docs(c, Part::Name, Some(m)))
            .collect()
    }

    /// [`Index::tiers`] from the clauses' [`Index::named`].
    pub(super) fn tiers_of(&self, s: &SearchQuery, m: &Bitmap, named: Vec<Bitmap>) -> Tiers {
        let mut levels: Vec<Bitmap> = vec![m.clone()];
        for named in named {
            let mut next: Vec<Bitmap> = Vec::with_capacity(levels.len() + 1);
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
                    let mut top = Bitmap::new();
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
}
