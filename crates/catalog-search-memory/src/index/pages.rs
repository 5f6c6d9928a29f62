//! Pages: the ids of one page of the matches in any sort order, by
//! relevance tiers, id order, a walk of a prebuilt sort order, or
//! collecting and selecting; and the comparisons every order is made of.

use super::*;

/// From how long an expected walk its membership tests read a flat copy
/// of the matches (making one costs about what 500 tests cost).
const FLAT_WALK: u64 = 1024;

/// What [`Index::posting_page`] found.
#[derive(Debug, PartialEq)]
pub enum Quick {
    /// The page's ids and the matches' total.
    Page(Vec<i64>, u64),
    /// The page needs the general path: here are the matches.
    Matches(Bitmap),
}

impl Index {
    /// The ids of the page `page` asks for, and the matches' total.
    pub fn page(&self, page: &PageSpec<'_>) -> (Vec<i64>, u64) {
        let m = match self.posting_page(page) {
            Some(Quick::Page(ids, total)) => return (ids, total),
            Some(Quick::Matches(m)) => m,
            None => self.matches(page.filter),
        };
        (self.page_of(&m, page), m.len())
    }

    /// The commonest search page, answered from the postings alone: the
    /// first pages (no cursor) of words (the last one a prefix, or not) in
    /// relevance order, with no other filter, no exclusion, no phrase and
    /// no exact sku. The total is the size of the words' intersection,
    /// counted without building it when every clause is one word's list
    /// (one word: its list's length), and the page comes from the best
    /// tier (every word in the name), which is then the words' name lists
    /// intersected, when that tier holds the page. The general path
    /// builds the matches, every word's named matches and then the same
    /// tier: for one word, a copy of its list. When the tier is short of
    /// the page, the matches built here go to the general path
    /// ([`Quick::Matches`]); `None` when the search is not of this kind.
    /// The general path gives the same answers, and is the reference in
    /// the tests.
    pub fn posting_page(&self, page: &PageSpec<'_>) -> Option<Quick> {
        let ProductFilter {
            categories,
            brands,
            min_price,
            max_price,
            min_rating,
            in_stock,
            is_active,
            search,
            fuzzy: _,
        } = page.filter;
        let s = search.as_ref()?;
        let filtered = !categories.is_empty()
            || !brands.is_empty()
            || min_price.is_some()
            || max_price.is_some()
            || min_rating.is_some()
            || in_stock.is_some()
            || is_active.is_some();
        if filtered
            || page.after.is_some()
            || !relevance_first(page.sort)
            || !s.exclude().is_empty()
            || s.include().is_empty()
        {
            return None;
        }
        // Each clause's terms' lists: one for a word, those of every
        // word it starts for the last word (a prefix).
        let mut all = Vec::with_capacity(s.include().len());
        let mut named = Vec::with_capacity(s.include().len());
        for c in s.include() {
            if c.tokens.len() != 1 || !c.alternatives.is_empty() {
                return None;
            }
            let terms = self.terms_of(&c.tokens[0], c.prefix);
            if terms.is_empty() {
                return None;
            }
            all.push(
                terms
                    .iter()
                    .filter_map(|id| self.all.get(*id))
                    .collect::<Vec<_>>(),
            );
            named.push(
                terms
                    .iter()
                    .filter_map(|id| self.names.get(*id))
                    .collect::<Vec<_>>(),
            );
        }
        if self.sku_match(s).is_some() {
            return None;
        }
        let offset = usize::try_from(page.offset).ok()?;
        let limit = usize::try_from(page.limit).ok()?;
        let top = meet_clauses(&named);
        if top.len() >= offset.saturating_add(limit) as u64 {
            let total = if all.iter().all(|l| l.len() == 1) {
                meet_len(&all.iter().map(|l| l[0]).collect::<Vec<_>>())
            } else {
                meet_clauses(&all).len()
            };
            return Some(Quick::Page(slice(&top, offset, limit), total));
        }
        // The best tier is short of the page (words mostly in the
        // descriptions): the general path's tiers, from these matches.
        let m = meet_clauses(&all).into_owned();
        if top.len() == m.len() {
            return Some(Quick::Page(slice(&top, offset, limit), m.len()));
        }
        Some(Quick::Matches(m))
    }

    /// The ids of `page` among the matches `m`.
    pub fn page_of(&self, m: &Bitmap, page: &PageSpec<'_>) -> Vec<i64> {
        let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let search = page.filter.search.as_ref();
        if let (Some(s), true) = (search, relevance_first(page.sort)) {
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
            // entries when the matches are spread over the order;
            // collecting and selecting reads every match (a step of the
            // walk costs about what a match costs to select). Matches
            // bunched at the far end of the order (a cheap category under
            // `sort=-price`) would make the walk read most of the catalog
            // (seen: "blue" in Clothing, `sort=-price`, 250 requests/s
            // walking, docs/performance.md). So the walk projects its
            // length from what it has found at each multiple of the
            // expected length, and gives up for the selection as soon as
            // what is left of it would read more entries than there are
            // matches.
            //
            // A filter of one category or one brand walks that label's
            // products alone, from an order grouped by it: a cheap
            // category's matches are no longer at the far end of the
            // catalog's order, and the walk reads about (offset + limit)
            // × label / matches entries.
            let need = offset.saturating_add(limit) as u64;
            let scope = self.walk_scope(page.filter);
            let domain = scope.map_or(self.live.len(), |(_, _, n)| n);
            let walk = need.saturating_mul(domain) / m.len().max(1);
            let early = Checkpoint {
                every: walk.max(1),
                need,
                instead: m.len(),
            };
            let scope = scope.map(|(group, label, _)| (group, label));
            if walk < m.len()
                && let Some(ids) = self.walk_page(*key, scope, m, offset, limit, early)
            {
                return ids;
            }
            if let Some(ids) = self.keyed_page(*key, m, offset, limit) {
                return ids;
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
        let docs: Vec<u32> = match page.after {
            Some(after) => m
                .iter()
                .filter(|d| self.cmp_after(page.sort, *d, after, &score) == Ordering::Greater)
                .collect(),
            None => m.iter().collect(),
        };
        let cmp = |a: &u32, b: &u32| self.cmp_docs(page.sort, *a, *b, &score);
        select_page(docs, offset, limit, cmp)
            .into_iter()
            .map(i64::from)
            .collect()
    }

    /// A page of `m` under a number column `key` (then id), selected
    /// among (value, id) pairs: each match's value is read once, and the
    /// selection compares plain integers where [`Index::cmp_docs`]
    /// dispatches on the field at every comparison. `None` for a text or
    /// relevance key.
    pub(super) fn keyed_page(
        &self,
        key: SortKey,
        m: &Bitmap,
        offset: usize,
        limit: usize,
    ) -> Option<Vec<i64>> {
        // One loop per column and width, the value read inlined (a call
        // through `&dyn Fn` per match, and a width check per read, cost a
        // sixth of a `-price` page in a category), into a vector sized
        // once.
        let d = key.descending;
        let keyed: Vec<(i64, u32)> = match (key.field, &self.price, &self.stock) {
            (SortField::Price, Packed::Narrow(v), _)
            | (SortField::StockQuantity, _, Packed::Narrow(v)) => {
                keyed_by(m, d, |x| v.get(x).copied().map_or(0, i64::from))
            }
            (SortField::Price, Packed::Wide(v), _)
            | (SortField::StockQuantity, _, Packed::Wide(v)) => {
                keyed_by(m, d, |x| v.get(x).copied().unwrap_or(0))
            }
            (SortField::Rating, _, _) => {
                keyed_by(m, d, |x| self.rating.get(x).copied().map_or(0, i64::from))
            }
            (SortField::CreatedAt, _, _) => {
                keyed_by(m, d, |x| self.created.get(x).copied().unwrap_or(0))
            }
            (SortField::UpdatedAt, _, _) => {
                keyed_by(m, d, |x| self.updated.get(x).copied().unwrap_or(0))
            }
            _ => return None,
        };
        Some(
            select_page(keyed, offset, limit, Ord::cmp)
                .into_iter()
                .map(|(_, d)| i64::from(d))
                .collect(),
        )
    }

    /// The label a filtered walk can read alone: the filter's one category
    /// or one brand (of both, the one with fewer products), its id and its
    /// product count; `None` for any other filter.
    pub(super) fn walk_scope(&self, f: &ProductFilter) -> Option<(Group, u32, u64)> {
        let one = |labels: &Labels, names: &[catalog_domain::Label], group| match names {
            [one] => labels.ids.get(one.as_str()).map(|id| {
                let n = labels.docs.get(*id as usize).map_or(0, Bitmap::len);
                (group, *id, n)
            }),
            _ => None,
        };
        let category = one(&self.categories, &f.categories, Group::Category);
        let brand = one(&self.brands, &f.brands, Group::Brand);
        match (category, brand) {
            (Some(c), Some(b)) => Some(if b.2 < c.2 { b } else { c }),
            (c, b) => c.or(b),
        }
    }

    /// The sort order of `key` (then id), built now when missing; grouped
    /// by category or brand first with `group`.
    pub(super) fn perm(&self, key: SortKey, group: Group) -> Perm {
        let whole = || {
            let sort = [key, SortKey::ID];
            let mut order: Vec<u32> = self.live.iter().collect();
            order.sort_unstable_by(|a, b| self.cmp_docs(&sort, *a, *b, &|_| 0));
            Perm {
                order: std::sync::Arc::new(order),
                starts: std::sync::Arc::default(),
                dirty: Bitmap::new(),
            }
        };
        let Ok(mut perms) = self.perms.lock() else {
            return Perm::default();
        };
        // A grouped order already built is all a walk needs: the catalog's
        // order (and a copy of its stale places) only to build one.
        if let Some(grouped) = perms.get(&(key.field, key.descending, group)) {
            return grouped.clone();
        }
        let all = perms
            .entry((key.field, key.descending, Group::All))
            .or_insert_with(whole)
            .clone();
        if group == Group::All {
            return all;
        }
        perms
            .entry((key.field, key.descending, group))
            .or_insert_with(|| self.grouped(&all, group))
            .clone()
    }

    /// `all` partitioned by label, each label's products kept in `all`'s
    /// order (a counting sort: two passes, no comparison). Its stale
    /// places are `all`'s: a product written since `all` was built is
    /// placed by its current label, and skipped there by the walks like
    /// in `all`.
    fn grouped(&self, all: &Perm, group: Group) -> Perm {
        let labels = match group {
            Group::Brand => self.brands.names.len(),
            _ => self.categories.names.len(),
        };
        let label = |d: u32| {
            let (category, brand) = self.labels_of(d as usize);
            let l = if group == Group::Brand {
                brand
            } else {
                category
            };
            (l as usize).min(labels.saturating_sub(1))
        };
        let mut starts = vec![0usize; labels + 1];
        for d in all.order.iter() {
            starts[label(*d) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; all.order.len()];
        for d in all.order.iter() {
            let at = &mut next[label(*d)];
            order[*at] = *d;
            *at += 1;
        }
        Perm {
            order: std::sync::Arc::new(order),
            starts: std::sync::Arc::new(starts),
            dirty: all.dirty.clone(),
        }
    }

    /// A page of `m` in `key` order by walking the prebuilt order; `None`
    /// when a filtered walk gave up at a checkpoint (`early`: the rest of
    /// its projected length exceeded the selection's cost; the caller
    /// then selects the page from the matches).
    ///
    /// With `scope` (a label, as [`Index::walk_scope`] picks it; every
    /// match must hold it) the walk reads that label's products alone.
    pub(super) fn walk_page(
        &self,
        key: SortKey,
        scope: Option<(Group, u32)>,
        m: &Bitmap,
        offset: usize,
        limit: usize,
        early: Checkpoint,
    ) -> Option<Vec<i64>> {
        let sort = [key, SortKey::ID];
        let perm = self.perm(key, scope.map_or(Group::All, |(g, _)| g));
        let order: &[u32] = match scope {
            None => &perm.order,
            // A label interned after the order was built has no range:
            // its products were all written since, and are merged in.
            Some((_, label)) => {
                let l = label as usize;
                match (perm.starts.get(l), perm.starts.get(l + 1)) {
                    (Some(a), Some(b)) => perm.order.get(*a..*b).unwrap_or_default(),
                    _ => &[],
                }
            }
        };
        let cmp = |a: &u32, b: &u32| self.cmp_docs(&sort, *a, *b, &|_| 0);
        // Written since the build: at their current place, merged in.
        let mut moved: Vec<u32> = (m & &perm.dirty).iter().collect();
        moved.sort_unstable_by(cmp);
        let mut moved = moved.into_iter().peekable();
        let unfiltered = perm.dirty.is_empty() && m.len() == order.len() as u64;
        // Membership by a flat copy when the walk may read thousands of
        // entries (bitmap.rs, `Flat`); products written since the build
        // are tested only when there are some.
        let flat = (early.every >= FLAT_WALK && !unfiltered).then(|| m.to_flat());
        let in_m = |d: u32| {
            flat.as_ref()
                .map_or_else(|| m.contains(d), |f| f.contains(d))
        };
        let moved_any = !perm.dirty.is_empty();
        let mut skip = offset;
        let read = std::cell::Cell::new(0u64);
        let found = std::cell::Cell::new(0u64);
        let gave_up = std::cell::Cell::new(false);
        let mut rest: Box<dyn Iterator<Item = u32>> = if unfiltered {
            // Every product, none moved: the page is a slice.
            skip = 0;
            Box::new(order.iter().copied().skip(offset))
        } else {
            Box::new(
                order
                    .iter()
                    .copied()
                    .take_while(|_| {
                        read.set(read.get() + 1);
                        if read.get().is_multiple_of(early.every)
                            && early.give_up(read.get(), found.get())
                        {
                            gave_up.set(true);
                            return false;
                        }
                        true
                    })
                    .filter(|d| {
                        let hit = in_m(*d) && !(moved_any && perm.dirty.contains(*d));
                        found.set(found.get() + u64::from(hit));
                        hit
                    }),
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
        // The walk gave up: what was taken after that (products written
        // since the build, merged in) may belong behind entries not read.
        if gave_up.get() {
            return None;
        }
        Some(out)
    }

    pub(super) fn id_page(
        &self,
        m: &Bitmap,
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
        m.iter_from(first).take(limit).map(i64::from).collect()
    }

    pub(super) fn relevance_page(
        &self,
        s: &SearchQuery,
        m: &Bitmap,
        after: Option<&[SortValue]>,
        mut offset: usize,
        limit: usize,
    ) -> Vec<i64> {
        let (after_score, after_id) = match after {
            Some([SortValue::Int(score), SortValue::Int(id)]) => (Some(*score), *id),
            _ => (None, 0),
        };
        let named = self.named(s, m);
        // The common case first: no cursor, no exact sku, and the best
        // tier (every clause in the name) holds the page. That tier is
        // the clauses' named products intersected, without the lower
        // tiers' differences (the pages of a two-word search make one
        // intersection instead of seven set operations).
        if after.is_none() && !named.is_empty() && self.sku_match(s).is_none_or(|d| !m.contains(d))
        {
            let mut top = named[0].clone();
            for n in &named[1..] {
                top &= n;
            }
            let need = offset.saturating_add(limit) as u64;
            if top.len() >= need || top.len() == m.len() {
                return slice(&top, offset, limit);
            }
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        for (score, tier) in self.tiers_of(s, m, named) {
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
            out.extend(tier.iter_from(first).take(limit - out.len()).map(i64::from));
        }
        out
    }

    pub(super) fn cmp_docs(
        &self,
        sort: &[SortKey],
        a: u32,
        b: u32,
        score: &impl Fn(u32) -> i64,
    ) -> Ordering {
        for k in sort {
            let ord = self.cmp_field(k.field, a, b, score);
            let ord = if k.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    pub(super) fn cmp_field(
        &self,
        field: SortField,
        a: u32,
        b: u32,
        score: &impl Fn(u32) -> i64,
    ) -> Ordering {
        let (x, y) = (a as usize, b as usize);
        match field {
            SortField::Id => a.cmp(&b),
            SortField::Sku => self.sku.get(a).cmp(self.sku.get(b)),
            SortField::Name => self.name.get(a).cmp(self.name.get(b)),
            SortField::Category => self
                .categories
                .name(self.labels_of(x).0)
                .cmp(self.categories.name(self.labels_of(y).0)),
            SortField::Brand => self
                .brands
                .name(self.labels_of(x).1)
                .cmp(self.brands.name(self.labels_of(y).1)),
            SortField::Price => self.price.at(x).cmp(&self.price.at(y)),
            SortField::StockQuantity => self.stock.at(x).cmp(&self.stock.at(y)),
            SortField::Rating => self.rating[x].cmp(&self.rating[y]),
            SortField::CreatedAt => self.created[x].cmp(&self.created[y]),
            SortField::UpdatedAt => self.updated[x].cmp(&self.updated[y]),
            SortField::Relevance => score(a).cmp(&score(b)),
        }
    }

    /// How document `d` compares with a cursor position under `sort`.
    pub(super) fn cmp_after(
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

    pub(super) fn cmp_value(
        &self,
        field: SortField,
        d: u32,
        v: &SortValue,
        score: &impl Fn(u32) -> i64,
    ) -> Ordering {
        let x = d as usize;
        match (field, v) {
            (SortField::Id, SortValue::Int(i)) => i64::from(d).cmp(i),
            (SortField::Price, SortValue::Int(i)) => self.price.at(x).cmp(i),
            (SortField::StockQuantity, SortValue::Int(i)) => self.stock.at(x).cmp(i),
            (SortField::Rating, SortValue::Int(i)) => i64::from(self.rating[x]).cmp(i),
            (SortField::Relevance, SortValue::Int(i)) => score(d).cmp(i),
            (SortField::Sku, SortValue::Text(t)) => self.sku.get(d).cmp(t.as_bytes()),
            (SortField::Name, SortValue::Text(t)) => self.name.get(d).cmp(t.as_bytes()),
            (SortField::Category, SortValue::Text(t)) => {
                self.categories.name(self.labels_of(x).0).cmp(t.as_str())
            }
            (SortField::Brand, SortValue::Text(t)) => {
                self.brands.name(self.labels_of(x).1).cmp(t.as_str())
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
}

/// When a filtered walk gives up ([`Index::walk_page`]): at every
/// `every` entries read, it projects the entries it needs to find `need`
/// matches from those found so far, and gives up when what is left of
/// that projection exceeds `instead` (the matches the caller would select
/// from instead).
#[derive(Debug, Clone, Copy)]
pub(super) struct Checkpoint {
    pub every: u64,
    pub need: u64,
    pub instead: u64,
}

impl Checkpoint {
    fn give_up(&self, read: u64, found: u64) -> bool {
        if found >= self.need {
            return false;
        }
        // Nothing found yet counts as one: the projection grows with
        // every entry read in vain.
        let projected = read.saturating_mul(self.need) / found.max(1);
        projected.saturating_sub(read) > self.instead
    }
}

/// Items `offset..offset + limit` of `items` in `cmp` order: the first
/// `offset + limit` selected, then only those sorted.
fn select_page<T>(
    mut items: Vec<T>,
    offset: usize,
    limit: usize,
    mut cmp: impl FnMut(&T, &T) -> Ordering,
) -> Vec<T> {
    let end = offset.saturating_add(limit).min(items.len());
    if end < items.len() && end > 0 {
        items.select_nth_unstable_by(end - 1, &mut cmp);
        items.truncate(end);
    }
    items.sort_unstable_by(cmp);
    items.into_iter().skip(offset).take(limit).collect()
}

/// (value, id) for every member of `m`; `!value` when `descending` (it
/// orders the values in reverse without overflow, being -v - 1), so that
/// ids stay ascending either way.
fn keyed_by(m: &Bitmap, descending: bool, value: impl Fn(usize) -> i64) -> Vec<(i64, u32)> {
    let mut out = Vec::with_capacity(usize::try_from(m.len()).unwrap_or(0));
    if descending {
        out.extend(m.iter().map(|d| (!value(d as usize), d)));
    } else {
        out.extend(m.iter().map(|d| (value(d as usize), d)));
    }
    out
}

/// Members `offset..offset + limit` of `set`, in id order.
fn slice(set: &Bitmap, offset: usize, limit: usize) -> Vec<i64> {
    match u32::try_from(offset).ok().and_then(|r| set.select(r)) {
        Some(first) => set.iter_from(first).take(limit).map(i64::from).collect(),
        None => Vec::new(),
    }
}

/// Whether `sort` is relevance (best first), then id: a search's default.
fn relevance_first(sort: &[SortKey]) -> bool {
    matches!(
        sort,
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
    )
}

/// The intersection of posting lists: one list borrowed, several built
/// smallest first.
fn meet<'a>(lists: &[Posting<'a>]) -> std::borrow::Cow<'a, Bitmap> {
    use std::borrow::Cow;
    if let Some(d) = lists.iter().find_map(|p| match p {
        Posting::One(d) => Some(*d),
        _ => None,
    }) {
        let all = lists.iter().all(|p| p.contains(d));
        return Cow::Owned(if all {
            std::iter::once(d).collect()
        } else {
            Bitmap::new()
        });
    }
    let Some(mut many) = bitmaps(lists) else {
        return Cow::Owned(Bitmap::new());
    };
    match many.as_mut_slice() {
        [] => Cow::Owned(Bitmap::new()),
        [one] => Cow::Borrowed(*one),
        [a, b, rest @ ..] => {
            let mut acc = *a & *b;
            for r in rest {
                if acc.is_empty() {
                    break;
                }
                acc &= *r;
            }
            Cow::Owned(acc)
        }
    }
}

/// The products every clause holds, a clause being one list or the
/// union of several (a prefix's words): the one-list clauses met first,
/// then each union made within what they hold.
fn meet_clauses<'a>(clauses: &[Vec<Posting<'a>>]) -> std::borrow::Cow<'a, Bitmap> {
    use std::borrow::Cow;
    let singles: Vec<Posting<'a>> = clauses
        .iter()
        .filter(|l| l.len() == 1)
        .map(|l| l[0])
        .collect();
    let mut base: Option<Cow<'a, Bitmap>> = (!singles.is_empty()).then(|| meet(&singles));
    for lists in clauses.iter().filter(|l| l.len() != 1) {
        if base.as_ref().is_some_and(|b| b.is_empty()) {
            break;
        }
        base = Some(Cow::Owned(union_within(
            lists.iter().copied(),
            base.as_deref(),
        )));
    }
    base.unwrap_or(Cow::Owned(Bitmap::new()))
}

/// `|meet(lists)|`; the last (largest) list is only counted against.
fn meet_len(lists: &[Posting<'_>]) -> u64 {
    let Some(many) = bitmaps(lists) else {
        return meet(lists).len();
    };
    match many.as_slice() {
        [] => 0,
        [one] => one.len(),
        [rest @ .., last] => {
            meet(&rest.iter().map(|b| Posting::Many(b)).collect::<Vec<_>>()).intersection_len(last)
        }
    }
}

/// The lists' bitmaps, smallest first; `None` when one is not a bitmap
/// (one product, or none).
fn bitmaps<'a>(lists: &[Posting<'a>]) -> Option<Vec<&'a Bitmap>> {
    let mut many = lists
        .iter()
        .map(|p| match p {
            Posting::Many(b) => Some(*b),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    many.sort_by_key(|b| b.len());
    Some(many)
}
