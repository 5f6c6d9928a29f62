//! Pages: the ids of one page of the matches in any sort order, by
//! relevance tiers, id order, a walk of a prebuilt sort order, or
//! collecting and selecting; and the comparisons every order is made of.

use super::*;

/// From how long an expected walk its membership tests read a flat copy
/// of the matches (making one costs about what 500 tests cost).
const FLAT_WALK: u64 = 1024;

impl Index {
    /// The ids of the page `page` asks for.
    pub fn page(&self, page: &PageSpec<'_>) -> Vec<i64> {
        let m = self.matches(page.filter);
        self.page_of(&m, page)
    }

    /// The ids of `page` among the matches `m`.
    pub fn page_of(&self, m: &Bitmap, page: &PageSpec<'_>) -> Vec<i64> {
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
            let need = offset.saturating_add(limit) as u64;
            let walk = need.saturating_mul(self.live.len()) / m.len().max(1);
            let early = Checkpoint {
                every: walk.max(1),
                need,
                instead: m.len(),
            };
            if walk < m.len()
                && let Some(ids) = self.walk_page(*key, m, offset, limit, early)
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
        let value: &dyn Fn(usize) -> i64 = match key.field {
            SortField::Price => &|x| self.price.at(x),
            SortField::StockQuantity => &|x| self.stock.at(x),
            SortField::Rating => &|x| i64::from(self.rating[x]),
            SortField::CreatedAt => &|x| self.created[x],
            SortField::UpdatedAt => &|x| self.updated[x],
            _ => return None,
        };
        // `!v` orders the values in reverse without overflow (it is
        // -v - 1); ids stay ascending either way.
        let keyed: Vec<(i64, u32)> = if key.descending {
            m.iter().map(|d| (!value(d as usize), d)).collect()
        } else {
            m.iter().map(|d| (value(d as usize), d)).collect()
        };
        Some(
            select_page(keyed, offset, limit, Ord::cmp)
                .into_iter()
                .map(|(_, d)| i64::from(d))
                .collect(),
        )
    }

    /// The sort order of `key` (then id), built now when missing.
    pub(super) fn perm(&self, key: SortKey) -> Perm {
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
                    dirty: Bitmap::new(),
                }
            })
            .clone()
    }

    /// A page of `m` in `key` order by walking the prebuilt order; `None`
    /// when a filtered walk gave up at a checkpoint (`early`: the rest of
    /// its projected length exceeded the selection's cost; the caller
    /// then selects the page from the matches).
    pub(super) fn walk_page(
        &self,
        key: SortKey,
        m: &Bitmap,
        offset: usize,
        limit: usize,
        early: Checkpoint,
    ) -> Option<Vec<i64>> {
        let sort = [key, SortKey::ID];
        let perm = self.perm(key);
        let cmp = |a: &u32, b: &u32| self.cmp_docs(&sort, *a, *b, &|_| 0);
        // Written since the build: at their current place, merged in.
        let mut moved: Vec<u32> = (m & &perm.dirty).iter().collect();
        moved.sort_unstable_by(cmp);
        let mut moved = moved.into_iter().peekable();
        let unfiltered = perm.dirty.is_empty() && m.len() == perm.order.len() as u64;
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
            Box::new(perm.order.iter().copied().skip(offset))
        } else {
            Box::new(
                perm.order
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
                let Some(first) = u32::try_from(offset).ok().and_then(|r| top.select(r)) else {
                    return Vec::new();
                };
                return top.iter_from(first).take(limit).map(i64::from).collect();
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
