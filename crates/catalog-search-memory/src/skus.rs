//! Sku → product, for the exact-sku match of a search.
//!
//! A common word is also a valid sku, so the match cannot scan the
//! word's postings for the product whose sku it is. The table holds
//! document numbers alone, 4 bytes a slot: the sku text it hashes and
//! compares is the index's sku arena. (A map from a 64-bit sku hash to the
//! document took 16 bytes a slot, 36 MB at a million products; this takes
//! about 10.)

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::arena::Arena;

#[derive(Debug, Default)]
pub struct Skus {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Skus {
    /// The document whose sku in `arena` is `sku` (any of them, should
    /// two share it for a moment during a catch-up).
    pub fn find(&self, sku: &str, arena: &Arena) -> Option<u32> {
        let hash = self.hasher.hash_one(sku.as_bytes());
        self.table
            .find(hash, |d| arena.get(*d) == sku.as_bytes())
            .copied()
    }

    /// Adds `doc` under its sku, which `arena` already holds.
    pub fn insert(&mut self, doc: u32, arena: &Arena) {
        let Self { table, hasher } = self;
        let hash = hasher.hash_one(arena.get(doc));
        table.insert_unique(hash, doc, |d| hasher.hash_one(arena.get(*d)));
    }

    /// Removes `doc`, whose sku `arena` still holds.
    pub fn remove(&mut self, doc: u32, arena: &Arena) {
        let hash = self.hasher.hash_one(arena.get(doc));
        if let Ok(entry) = self.table.find_entry(hash, |d| *d == doc) {
            entry.remove();
        }
    }

    /// Room for `docs` products in all.
    pub fn reserve(&mut self, docs: usize, arena: &Arena) {
        let Self { table, hasher } = self;
        let more = docs.saturating_sub(table.len());
        table.reserve(more, |d| hasher.hash_one(arena.get(*d)));
    }

    /// Approximate heap bytes: a slot and a control byte for every
    /// bucket (capacity is 7/8 of the buckets).
    pub fn memory(&self) -> usize {
        self.table.capacity() * 8 / 7 * 5
    }
}

#[cfg(test)]
mod tests {
    use super::Skus;
    use crate::arena::Arena;

    #[test]
    fn finds_by_text_and_forgets_by_document() {
        let mut arena = Arena::default();
        let mut skus = Skus::default();
        for (d, sku) in ["A-1", "B-2", "C-3"].iter().enumerate() {
            arena.set(d as u32, sku.as_bytes());
            skus.insert(d as u32, &arena);
        }
        assert_eq!(skus.find("B-2", &arena), Some(1));
        assert_eq!(skus.find("b-2", &arena), None);
        skus.remove(1, &arena);
        arena.clear(1);
        assert_eq!(skus.find("B-2", &arena), None);
        // A product takes over a sku another one still held: either is
        // found until the old one leaves, then the new one.
        arena.set(3, b"A-1");
        skus.insert(3, &arena);
        assert!(matches!(skus.find("A-1", &arena), Some(0 | 3)));
        skus.remove(0, &arena);
        arena.clear(0);
        assert_eq!(skus.find("A-1", &arena), Some(3));
        assert_eq!(skus.find("C-3", &arena), Some(2));
    }
}
