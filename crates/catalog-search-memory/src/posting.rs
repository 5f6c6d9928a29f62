//! Posting lists: the products holding each term.
//!
//! Most terms of a catalog are sku numbers held by exactly one product, and
//! a [`Bitmap`] per term costs its header and a separately allocated
//! container even for one member: a million of them would outweigh the
//! rest of the index.
//! So a term's slot is 8 bytes: empty, the one product holding it, or the
//! number of its bitmap, made for the second product. (A slot holding the
//! bitmap's box took 16 bytes: 16 MB more at a million sku numbers, for
//! the two lists of the index.)

use crate::bitmap::Bitmap;

#[derive(Debug, Clone, Copy, Default)]
enum Slot {
    #[default]
    Empty,
    One(u32),
    Many(u32),
}

/// The posting lists of every term, by term id.
#[derive(Debug, Default)]
pub struct PostingLists {
    slots: Vec<Slot>,
    bitmaps: Vec<Bitmap>,
    /// Numbers of bitmaps emptied by removals, for the next term that
    /// needs one.
    free: Vec<u32>,
}

/// One term's posting list, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Posting<'a> {
    Empty,
    One(u32),
    Many(&'a Bitmap),
}

impl PostingLists {
    /// The list of `term` (`None` past every term seen).
    pub fn get(&self, term: u32) -> Option<Posting<'_>> {
        self.slots.get(term as usize).map(|s| match *s {
            Slot::Empty => Posting::Empty,
            Slot::One(d) => Posting::One(d),
            Slot::Many(b) => Posting::Many(&self.bitmaps[b as usize]),
        })
    }

    pub fn insert(&mut self, term: u32, doc: u32) {
        let t = term as usize;
        if self.slots.len() <= t {
            self.slots.resize(t + 1, Slot::Empty);
        }
        match self.slots[t] {
            Slot::Empty => self.slots[t] = Slot::One(doc),
            Slot::One(d) if d == doc => {}
            Slot::One(d) => {
                let b = self.new_bitmap();
                self.bitmaps[b as usize].insert(d);
                self.bitmaps[b as usize].insert(doc);
                self.slots[t] = Slot::Many(b);
            }
            Slot::Many(b) => {
                self.bitmaps[b as usize].insert(doc);
            }
        }
    }

    fn new_bitmap(&mut self) -> u32 {
        if let Some(b) = self.free.pop() {
            return b;
        }
        self.bitmaps.push(Bitmap::new());
        (self.bitmaps.len() - 1) as u32
    }

    pub fn remove(&mut self, term: u32, doc: u32) {
        let Some(slot) = self.slots.get_mut(term as usize) else {
            return;
        };
        match *slot {
            Slot::Empty => {}
            Slot::One(d) => {
                if d == doc {
                    *slot = Slot::Empty;
                }
            }
            Slot::Many(b) => {
                let bitmap = &mut self.bitmaps[b as usize];
                bitmap.remove(doc);
                if bitmap.len() <= 1 {
                    *slot = bitmap.min().map_or(Slot::Empty, Slot::One);
                    // Its containers go now; the number is reused.
                    *bitmap = Bitmap::new();
                    self.free.push(b);
                }
            }
        }
    }

    /// Trims the slots and every bitmap to their contents (after a build).
    pub fn trim(&mut self) {
        self.slots.shrink_to_fit();
        for b in &mut self.bitmaps {
            *b = trimmed(b);
        }
    }

    /// Approximate heap bytes.
    pub fn memory(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .bitmaps
                .iter()
                .map(|b| b.serialized_size() + std::mem::size_of::<Bitmap>())
                .sum::<usize>()
    }
}

impl Posting<'_> {
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

    pub fn contains(&self, d: u32) -> bool {
        match self {
            Posting::Empty => false,
            Posting::One(x) => *x == d,
            Posting::Many(b) => b.contains(d),
        }
    }

    /// Adds every product of this list to `acc`.
    pub fn or_into(&self, acc: &mut Bitmap) {
        match self {
            Posting::Empty => {}
            Posting::One(d) => {
                acc.insert(*d);
            }
            Posting::Many(b) => *acc |= *b,
        }
    }
}

/// A copy of `b` whose containers are allocated at their length. A bitmap
/// built by inserts holds its arrays at the capacity they doubled to, up to
/// twice what they hold. (A CRoaring clone keeps each array's capacity;
/// the copy, allocated anew, is what leaves the build's fragments behind.)
pub fn trimmed(b: &Bitmap) -> Bitmap {
    let mut out = b.clone();
    out.shrink_to_fit();
    out
}

/// The union of `lists`, each cut down to `within` first when given (by
/// reference: the small parts are unioned, not whole lists copied and cut
/// afterwards).
pub fn union_within<'a>(
    lists: impl IntoIterator<Item = Posting<'a>>,
    within: Option<&Bitmap>,
) -> Bitmap {
    let mut acc = Bitmap::new();
    for p in lists {
        match (p, within) {
            (Posting::Many(b), Some(w)) => acc |= b & w,
            (Posting::One(d), Some(w)) if !w.contains(d) => {}
            (p, _) => p.or_into(&mut acc),
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::{Posting, PostingLists};

    fn docs(lists: &PostingLists, term: u32) -> Vec<u32> {
        let mut acc = crate::bitmap::Bitmap::new();
        if let Some(p) = lists.get(term) {
            p.or_into(&mut acc);
        }
        acc.iter().collect()
    }

    #[test]
    fn lists_grow_shrink_and_reuse_their_bitmaps() {
        let mut lists = PostingLists::default();
        lists.insert(2, 7);
        assert!(matches!(lists.get(2), Some(Posting::One(7))));
        assert!(matches!(lists.get(0), Some(Posting::Empty)));
        assert!(lists.get(3).is_none());
        lists.insert(2, 9);
        lists.insert(2, 7);
        assert_eq!(docs(&lists, 2), [7, 9]);
        assert_eq!(lists.get(2).map(|p| p.len()), Some(2));
        lists.remove(2, 7);
        assert!(matches!(lists.get(2), Some(Posting::One(9))));
        // The emptied bitmap serves the next term that needs one.
        lists.insert(5, 1);
        lists.insert(5, 2);
        lists.insert(5, 3);
        assert_eq!(lists.bitmaps.len(), 1);
        lists.remove(5, 2);
        assert_eq!(docs(&lists, 5), [1, 3]);
        lists.remove(5, 1);
        lists.remove(5, 3);
        assert!(lists.get(5).is_some_and(|p| p.is_empty()));
        lists.trim();
        assert_eq!(docs(&lists, 2), [9]);
    }
}
