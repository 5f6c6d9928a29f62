//! The summaries of a bulk load's rows, accumulated by the loader while it
//! encodes them ([`crate::CopyRows`]): writing a few tens of thousands of
//! summary rows at the end costs a fraction of a second, where grouping a
//! million products in SQL took seconds of the two cores the index builds
//! share. [`crate::SqlStore::finish_bulk_load_with`] writes them only
//! after checking that the table holds exactly the loaded rows; otherwise
//! (a write landed during the load) it rebuilds from the table.

use std::collections::HashMap;

use crate::schema::PRICE_SUMMARY_WIDTHS;
use catalog_domain::NewProduct;

/// The histogram counters, in the order of
/// `crate::schema::price_summary_counters`: counts by flag, sums, and a count
/// per rating floor 0–5.
const COUNTERS: usize = 13;
type Counters = [i64; COUNTERS];

/// Per (category, brand, $1 price bucket) counters of loaded rows.
#[derive(Debug, Default, Clone)]
pub struct BulkSummary {
    groups: HashMap<(String, String, i64), Counters>,
    rows: u64,
    max_id: i64,
}

impl BulkSummary {
    /// Counts `p`, loaded with id `id`.
    pub(crate) fn add(&mut self, p: &NewProduct, id: i64) {
        let price = p.price.cents();
        let c = self
            .groups
            .entry((
                p.category.as_str().to_owned(),
                p.brand.as_str().to_owned(),
                price / PRICE_SUMMARY_WIDTHS[0],
            ))
            .or_insert([0; COUNTERS]);
        let active = i64::from(p.is_active);
        let in_stock = i64::from(p.stock_quantity > 0);
        let rating = i64::from(p.rating.tenths());
        c[0] += 1;
        c[1] += active;
        c[2] += in_stock;
        c[3] += active * in_stock;
        c[4] += p.stock_quantity;
        c[5] += price;
        c[6] += rating;
        c[7 + usize::try_from(rating / 10).unwrap_or(0).min(5)] += 1;
        self.rows += 1;
        self.max_id = self.max_id.max(id);
    }

    /// Adds another batch's counts.
    pub fn merge(&mut self, other: BulkSummary) {
        for (k, v) in other.groups {
            let c = self.groups.entry(k).or_insert([0; COUNTERS]);
            for (a, b) in c.iter_mut().zip(v) {
                *a += b;
            }
        }
        self.rows += other.rows;
        self.max_id = self.max_id.max(other.max_id);
    }

    /// Rows counted.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The highest id counted.
    pub fn max_id(&self) -> i64 {
        self.max_id
    }

    /// `COPY product_summary (category, brand, product_count,
    /// active_count, in_stock_count, stock_sum, price_sum, rating_sum)`
    /// text.
    pub(crate) fn summary_copy(&self) -> Vec<u8> {
        let mut pairs: HashMap<(&str, &str), [i64; 6]> = HashMap::new();
        for ((cat, brand, _), c) in &self.groups {
            let s = pairs.entry((cat, brand)).or_default();
            for (a, b) in s.iter_mut().zip([c[0], c[1], c[2], c[4], c[5], c[6]]) {
                *a += b;
            }
        }
        let mut text = Vec::new();
        for ((cat, brand), s) in pairs {
            crate::helpers::copy_escape(&mut text, cat);
            text.push(b'\t');
            crate::helpers::copy_escape(&mut text, brand);
            push_numbers(&mut text, &s);
        }
        text
    }

    /// `COPY product_price_summary (dim, name, width, bucket, <counters>)`
    /// text: each group counted once per dimension and width.
    pub(crate) fn price_summary_copy(&self) -> Vec<u8> {
        let mut rows: HashMap<(i64, &str, i64, i64), Counters> = HashMap::new();
        for ((cat, brand, fine), c) in &self.groups {
            for (dim, name) in [(0, ""), (1, cat.as_str()), (2, brand.as_str())] {
                for width in PRICE_SUMMARY_WIDTHS {
                    let bucket = fine * PRICE_SUMMARY_WIDTHS[0] / width;
                    let r = rows
                        .entry((dim, name, width, bucket))
                        .or_insert([0; COUNTERS]);
                    for (a, b) in r.iter_mut().zip(c) {
                        *a += b;
                    }
                }
            }
        }
        let mut text = Vec::new();
        for ((dim, name, width, bucket), c) in rows {
            text.extend_from_slice(dim.to_string().as_bytes());
            text.push(b'\t');
            crate::helpers::copy_escape(&mut text, name);
            push_numbers(&mut text, &[width, bucket]);
            text.pop();
            push_numbers(&mut text, &c);
        }
        text
    }
}

/// `\t<n>` for each number, then a newline.
fn push_numbers(text: &mut Vec<u8>, numbers: &[i64]) {
    for n in numbers {
        text.push(b'\t');
        text.extend_from_slice(n.to_string().as_bytes());
    }
    text.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_the_migrations_columns() {
        let names: Vec<String> = crate::schema::price_summary_counters()
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(names.len(), COUNTERS);
        assert_eq!(
            names[..7],
            [
                "product_count",
                "active_count",
                "in_stock_count",
                "active_in_stock_count",
                "stock_sum",
                "price_sum",
                "rating_sum"
            ]
        );
        for k in 0..6 {
            assert_eq!(names[7 + k], format!("rating_{k}_count"));
        }
    }
}
