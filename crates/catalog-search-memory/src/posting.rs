//! A posting list: the products holding one term, or one filter value.
//!
//! Most terms of a catalog are sku numbers held by exactly one product, and
//! an empty [`RoaringBitmap`] with its container vector costs about a
//! hundred bytes: a million of them would outweigh the rest of the index.
//! So one product is held inline and a bitmap is made only for the second.

use roaring::RoaringBitmap;

#[derive(Debug, Clone, Default)]
pub enum Posting {
    #[default]
    Empty,
    One(u32),
    Many(Box<RoaringBitmap>),
}

impl Posting {
    pub fn insert(&mut self, doc: u32) {
        match self {
            Posting::Empty => *self = Posting::One(doc),
            Posting::One(d) if *d == doc => {}
            Posting::One(d) => {
                let mut b = RoaringBitmap::new();
                b.insert(*d);
                b.insert(doc);
                *self = Posting::Many(Box::new(b));
            }
            Posting::Many(b) => {
                b.insert(doc);
            }
        }
    }

    pub fn remove(&mut self, doc: u32) {
        match self {
            Posting::Empty => {}
            Posting::One(d) => {
                if *d == doc {
                    *self = Posting::Empty;
                }
            }
            Posting::Many(b) => {
                b.remove(doc);
                match b.len() {
                    0 => *self = Posting::Empty,
                    1 => {
                        if let Some(d) = b.min() {
                            *self = Posting::One(d);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Posting::Empty => 0,
            Posting::One(_) => 1,
            Posting::Many(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Posting::Empty)
    }

    /// Adds every product of this list to `acc`.
    pub fn or_into(&self, acc: &mut RoaringBitmap) {
        match self {
            Posting::Empty => {}
            Posting::One(d) => {
                acc.insert(*d);
            }
            Posting::Many(b) => *acc |= b.as_ref(),
        }
    }

    /// The list as a bitmap (a copy).
    pub fn to_bitmap(&self) -> RoaringBitmap {
        let mut b = RoaringBitmap::new();
        self.or_into(&mut b);
        b
    }

    /// `acc ∩ self`, in place.
    pub fn and_into(&self, acc: &mut RoaringBitmap) {
        match self {
            Posting::Empty => acc.clear(),
            Posting::One(d) => {
                let keep = acc.contains(*d);
                acc.clear();
                if keep {
                    acc.insert(*d);
                }
            }
            Posting::Many(b) => *acc &= b.as_ref(),
        }
    }
}
