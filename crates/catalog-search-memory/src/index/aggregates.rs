//! Aggregates over the matches: stats, facet groups, the category and
//! brand lists, and the vocabulary for typo tolerance.

use super::*;

impl Index {
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
            FacetField::Category => label_counts(&self.categories, &self.category, m),
            FacetField::Brand => label_counts(&self.brands, &self.brand, m),
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

/// How many products of `m` hold each label. With few labels (categories)
/// one bitmap intersection each; with many (a thousand brands) one pass
/// over the matches reading the label column, which costs the same
/// whatever the number of labels.
fn label_counts(labels: &Labels, column: &[u32], m: &RoaringBitmap) -> Vec<(FacetKey, u64)> {
    if labels.names.len() > 32 {
        let mut counts = vec![0u64; labels.names.len()];
        for doc in m {
            if let Some(n) = column
                .get(doc as usize)
                .and_then(|label| counts.get_mut(*label as usize))
            {
                *n += 1;
            }
        }
        return labels
            .names
            .iter()
            .zip(counts)
            .map(|(name, n)| (FacetKey::Text(name.clone()), n))
            .collect();
    }
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
