//! Aggregates over the matches: stats, facet groups, the category and
//! brand lists, and the vocabulary for typo tolerance.

use super::*;

impl Index {
    /// Counts and sums over `m`.
    pub fn stats_of(&self, m: &Bitmap) -> StatsRow {
        let mut row = StatsRow {
            total_products: m.len(),
            active_products: m.intersection_len(&self.active),
            in_stock_products: m.intersection_len(&self.in_stock),
            ..StatsRow::default()
        };
        let mut categories = vec![false; self.categories.names.len()];
        let mut brands = vec![false; self.brands.names.len()];
        // `for_each` folds: a dense set is read by chunks (bitmap.rs).
        m.iter().for_each(|d| {
            let x = d as usize;
            row.total_stock += self.stock.at(x);
            let cents = self.price.at(x);
            row.min_price_cents = Some(row.min_price_cents.map_or(cents, |v| v.min(cents)));
            row.max_price_cents = Some(row.max_price_cents.map_or(cents, |v| v.max(cents)));
            row.sum_price_cents += cents;
            row.sum_rating_tenths += i64::from(self.rating[x]);
            let (cat, brand) = self.labels_of(x);
            categories[cat as usize] = true;
            brands[brand as usize] = true;
        });
        row.categories = categories.iter().filter(|b| **b).count() as u64;
        row.brands = brands.iter().filter(|b| **b).count() as u64;
        row
    }

    /// `m` grouped by `field` (groups without products left out), by key.
    pub fn facet_counts_of(&self, m: &Bitmap, field: FacetField) -> Vec<(FacetKey, u64)> {
        if self.by_pass(m, field) {
            return self.one_pass(m, &[field]).pop().unwrap_or_default();
        }
        let mut out: Vec<(FacetKey, u64)> = match field {
            FacetField::InStock => {
                let yes = m.intersection_len(&self.in_stock);
                vec![(FacetKey::Int(0), m.len() - yes), (FacetKey::Int(1), yes)]
            }
            FacetField::PriceBucket => numbered_intersections(m, &self.price_buckets),
            FacetField::RatingFloor => numbered_intersections(m, &self.floors),
            // Labels are always counted by pass (`by_pass`).
            FacetField::Category | FacetField::Brand => Vec::new(),
        };
        out.retain(|(_, n)| *n > 0);
        out.sort();
        out
    }

    /// The total of `filter`, and the groups of each `(filter, field)` of
    /// `requests` (as [`Index::facet_counts_of`]). The matches of each
    /// distinct filter are computed once: a disjunctive facet request
    /// without facet filters matches once, not six times.
    pub fn facets_of(
        &self,
        filter: &ProductFilter,
        requests: &[(ProductFilter, FacetField)],
    ) -> catalog_domain::FacetGroups {
        let mut by_filter: Vec<(&ProductFilter, Vec<usize>)> = Vec::new();
        for (i, (f, _)) in requests.iter().enumerate() {
            match by_filter.iter_mut().find(|(g, _)| *g == f) {
                Some((_, members)) => members.push(i),
                None => by_filter.push((f, vec![i])),
            }
        }
        let mut total = None;
        let mut out = vec![Vec::new(); requests.len()];
        for (f, members) in by_filter {
            let m = self.matches(f);
            if f == filter {
                total = Some(m.len());
            }
            // The fields counted by pass share one pass over the matches.
            let (passed, others): (Vec<usize>, Vec<usize>) = members
                .into_iter()
                .partition(|i| self.by_pass(&m, requests[*i].1));
            let fields: Vec<FacetField> = passed.iter().map(|i| requests[*i].1).collect();
            for (i, groups) in passed.into_iter().zip(self.one_pass(&m, &fields)) {
                out[i] = groups;
            }
            for i in others {
                out[i] = self.facet_counts_of(&m, requests[i].1);
            }
        }
        let total = total.unwrap_or_else(|| self.matches(filter).len());
        (total, out)
    }

    /// Whether `m` holds a sixteenth of the catalog or more: most of its
    /// containers are then bitmaps, and intersecting it with a group's
    /// bitmap is a run of word ANDs and popcounts. A sparser `m` is arrays,
    /// and an intersection merges two arrays per 65,536 ids: there one pass
    /// over the matches, reading each one's columns, costs less (a facet
    /// request for a 1.5 % word at 1M products: about 600 requests/s by
    /// intersections, docs/performance.md).
    fn dense(&self, m: &Bitmap) -> bool {
        m.len().saturating_mul(16) >= self.live.len()
    }

    /// Whether `field` is counted over `m` by a pass over the matches
    /// rather than by intersections: always for the labels (many groups,
    /// each sparse: 15 categories and 20 brands at 1M products are arrays,
    /// and a pass beat their intersections even for a 13 % word, 713
    /// against 654 requests/s), and for every field when `m` is sparse.
    fn by_pass(&self, m: &Bitmap, field: FacetField) -> bool {
        matches!(field, FacetField::Category | FacetField::Brand) || !self.dense(m)
    }

    /// [`Index::facet_counts_of`] of each of `fields`, counted in one pass
    /// over `m` from the columns.
    fn one_pass(&self, m: &Bitmap, fields: &[FacetField]) -> Vec<Vec<(FacetKey, u64)>> {
        let wants = |f: FacetField| fields.contains(&f);
        let sized = |f: FacetField, n: usize| if wants(f) { vec![0u64; n] } else { Vec::new() };
        let mut categories = sized(FacetField::Category, self.categories.names.len());
        let mut brands = sized(FacetField::Brand, self.brands.names.len());
        // Both label facets come from one count per (category, brand) pair.
        let mut pairs = if categories.is_empty() && brands.is_empty() {
            Vec::new()
        } else {
            vec![0u64; self.pairs.len()]
        };
        let mut buckets = sized(FacetField::PriceBucket, PRICE_BUCKETS);
        let mut floors = sized(FacetField::RatingFloor, RATING_FLOORS);
        let mut in_stock = sized(FacetField::InStock, 2);
        let bump = |v: &mut Vec<u64>, at: usize| {
            if let Some(n) = v.get_mut(at) {
                *n += 1;
            }
        };
        // Labels alone (the dense case: the other fields go by
        // intersection): a loop over the pair column with nothing else in
        // it.
        let labels_only =
            !pairs.is_empty() && buckets.is_empty() && floors.is_empty() && in_stock.is_empty();
        if labels_only {
            match &self.pair {
                PairCodes::Narrow(codes) => count_codes(m, codes, &mut pairs),
                PairCodes::Wide(codes) => count_codes(m, codes, &mut pairs),
            }
        } else {
            // `for_each` folds container by container, without the
            // per-item dispatch of `next`. (The match inside
            // `PairCodes::get` is the same branch for every product.)
            m.iter().for_each(|d| {
                let x = d as usize;
                if !pairs.is_empty()
                    && let Some(code) = self.pair.get(x)
                {
                    bump(&mut pairs, code as usize);
                }
                if !buckets.is_empty() {
                    bump(&mut buckets, bucket_of(self.price.at(x)));
                }
                if !floors.is_empty() {
                    bump(
                        &mut floors,
                        usize::try_from(self.rating[x] / 10).unwrap_or(0),
                    );
                }
                if !in_stock.is_empty() {
                    bump(&mut in_stock, usize::from(self.stock.at(x) > 0));
                }
            });
        }
        for (&(cat, brand), &n) in self.pairs.labels.iter().zip(&pairs) {
            if let Some(c) = categories.get_mut(cat as usize) {
                *c += n;
            }
            if let Some(b) = brands.get_mut(brand as usize) {
                *b += n;
            }
        }
        let labelled = |labels: &Labels, counts: &[u64]| -> Vec<(FacetKey, u64)> {
            labels
                .names
                .iter()
                .zip(counts)
                .map(|(name, n)| (FacetKey::Text(name.clone()), *n))
                .collect()
        };
        let numbered = |counts: &[u64]| -> Vec<(FacetKey, u64)> {
            counts
                .iter()
                .enumerate()
                .map(|(k, n)| (FacetKey::Int(k as i64), *n))
                .collect()
        };
        fields
            .iter()
            .map(|field| {
                let mut groups = match field {
                    FacetField::Category => labelled(&self.categories, &categories),
                    FacetField::Brand => labelled(&self.brands, &brands),
                    FacetField::PriceBucket => numbered(&buckets),
                    FacetField::RatingFloor => numbered(&floors),
                    FacetField::InStock => numbered(&in_stock),
                };
                groups.retain(|(_, n)| *n > 0);
                groups.sort();
                groups
            })
            .collect()
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
                && self.all.get(id).is_some_and(|p| !p.is_empty())
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
            if in_vocabulary(term) && self.all.get(id).is_some_and(|p| !p.is_empty()) {
                out.push(term.to_string());
            }
        });
        out.sort();
        out
    }
}

/// Adds one to `counts[code]` for the code of each product of `m`.
fn count_codes<C: Copy + Into<u32>>(m: &Bitmap, codes: &[C], counts: &mut [u64]) {
    m.iter().for_each(|d| {
        if let Some(c) = codes.get(d as usize)
            && let Some(n) = counts.get_mut((*c).into() as usize)
        {
            *n += 1;
        }
    });
}

/// (bucket, products of `m` in it) for each bucket's bitmap.
fn numbered_intersections(m: &Bitmap, buckets: &[Bitmap]) -> Vec<(FacetKey, u64)> {
    buckets
        .iter()
        .enumerate()
        .map(|(k, docs)| (FacetKey::Int(k as i64), m.intersection_len(docs)))
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
