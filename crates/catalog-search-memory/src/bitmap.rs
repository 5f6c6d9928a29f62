//! [`Bitmap`]: a set of product numbers, the one bitmap type of the index.
//!
//! It wraps CRoaring (the `croaring` crate: the reference Roaring
//! implementation, in C, by the format's authors) behind the few
//! operations the index uses, in the shape the pure-Rust `roaring` crate
//! had, which the index used before. Why CRoaring: an intersection of two
//! array containers (a word's postings are arrays below 4,096 products per
//! 65,536 ids) is a scalar merge in `roaring` on stable Rust, and a
//! vectorised one in CRoaring, chosen at run time for the CPU: on this
//! project's machine, two postings of 50,089 and 11,874 products intersect
//! in 175 µs with `roaring` (copy, then in place) and in 21 µs with
//! CRoaring, by reference, with no copy (docs/performance.md, "CRoaring
//! for the postings"). A search's matches and tiers are such intersections.
//!
//! Iteration reads the set in batches (`roaring_uint32_iterator_read`), not
//! one element per call into C, so a pass over the matches costs less than
//! it did with `roaring`.

use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Sub, SubAssign};

use croaring::Bitmap as Inner;
use croaring::bitmap::BitmapIterator;

/// A set of `u32` (product numbers), compressed as a Roaring bitmap.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bitmap(Inner);

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Bitmap {
    pub fn new() -> Self {
        Self(Inner::new())
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.0.cardinality()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `d`; whether it was missing.
    pub fn insert(&mut self, d: u32) -> bool {
        self.0.add_checked(d)
    }

    /// Removes `d`; whether it was there.
    pub fn remove(&mut self, d: u32) -> bool {
        self.0.remove_checked(d)
    }

    pub fn contains(&self, d: u32) -> bool {
        self.0.contains(d)
    }

    pub fn min(&self) -> Option<u32> {
        self.0.minimum()
    }

    pub fn max(&self) -> Option<u32> {
        self.0.maximum()
    }

    /// How many numbers are `<= d`.
    pub fn rank(&self, d: u32) -> u64 {
        self.0.rank(d)
    }

    /// The `n`th number (from 0), in ascending order.
    pub fn select(&self, n: u32) -> Option<u32> {
        self.0.select(n)
    }

    /// `|self ∩ other|`, without building the intersection.
    pub fn intersection_len(&self, other: &Bitmap) -> u64 {
        self.0.and_cardinality(&other.0)
    }

    /// The numbers in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter::new(self.0.iter());
        it.whole = Some(&self.0);
        it
    }

    /// The numbers `>= from`, in ascending order.
    pub fn iter_from(&self, from: u32) -> Iter<'_> {
        let mut inner = self.0.iter();
        inner.reset_at_or_after(from);
        Iter::new(inner)
    }

    /// A flat copy of the set, for many membership tests in a row.
    pub fn to_flat(&self) -> Flat {
        Flat(self.0.to_bitset().unwrap_or_default())
    }

    /// Frees the containers' spare capacity (after a build by inserts).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    /// The size of the set's portable serialization: a close estimate of
    /// its heap bytes.
    pub fn serialized_size(&self) -> usize {
        self.0.get_serialized_size_in_bytes::<croaring::Portable>()
    }
}

/// A set as one bit per number up to its largest (125 KB for a million
/// ids): a membership test is one load in Rust, where
/// [`Bitmap::contains`] is a call into C and two binary searches (about
/// 20 ns; a walk of a sort order tests thousands of entries).
pub struct Flat(croaring::Bitset);

impl Flat {
    #[inline]
    pub fn contains(&self, d: u32) -> bool {
        self.0
            .as_slice()
            .get((d >> 6) as usize)
            .is_some_and(|w| (w >> (d & 63)) & 1 == 1)
    }
}

/// How many numbers [`Iter`] reads from C at a time.
const BATCH: usize = 256;

/// From how many members a whole-set fold reads by [`CHUNK`]s.
const DENSE: u64 = 16_384;

/// The id range of one chunk of a dense fold: four containers, at most
/// 1 MB of numbers.
const CHUNK: u64 = 1 << 18;

/// The numbers of a [`Bitmap`], read in batches.
pub struct Iter<'a> {
    inner: BitmapIterator<'a>,
    buf: [u32; BATCH],
    at: usize,
    filled: usize,
    /// The set, while the iterator stands at its start: a fold over all
    /// of a dense one reads it by chunks.
    whole: Option<&'a Inner>,
}

impl<'a> Iter<'a> {
    fn new(inner: BitmapIterator<'a>) -> Self {
        Self {
            inner,
            buf: [0; BATCH],
            at: 0,
            filled: 0,
            whole: None,
        }
    }
}

/// Folds every number of `set` by chunks of [`CHUNK`] ids: each chunk
/// intersected with its range, then extracted whole. CRoaring extracts a
/// bitmap container with SIMD this way (`roaring_bitmap_to_uint32_array`),
/// where its iterator's batched read (`roaring_uint32_iterator_read`) walks
/// the bits one by one: for 130,000 members of a million ids, about 30 µs
/// against 330 µs on this project's machine.
fn fold_dense<B, F: FnMut(B, u32) -> B>(set: &Inner, init: B, mut f: F) -> B {
    let mut acc = init;
    let mut cursor = set.iter();
    let mut from = 0u32;
    loop {
        // The chunk of the next member: empty chunks are skipped.
        cursor.reset_at_or_after(from);
        let Some(next) = cursor.peek() else {
            return acc;
        };
        let lo = u64::from(next) & !(CHUNK - 1);
        let hi = u32::try_from(lo + CHUNK - 1).unwrap_or(u32::MAX);
        let lo = u32::try_from(lo).unwrap_or(u32::MAX);
        let part = set.and(&Inner::from_range(lo..=hi));
        for d in part.to_vec() {
            acc = f(acc, d);
        }
        match hi.checked_add(1) {
            Some(h) => from = h,
            None => return acc,
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        self.whole = None;
        if self.at == self.filled {
            self.filled = self.inner.next_many(&mut self.buf);
            self.at = 0;
            if self.filled == 0 {
                return None;
            }
        }
        let d = self.buf[self.at];
        self.at += 1;
        Some(d)
    }

    #[inline]
    fn fold<B, F: FnMut(B, u32) -> B>(mut self, init: B, mut f: F) -> B {
        if let Some(set) = self.whole.filter(|s| s.cardinality() >= DENSE) {
            return fold_dense(set, init, f);
        }
        let mut acc = init;
        for &d in &self.buf[self.at..self.filled] {
            acc = f(acc, d);
        }
        loop {
            let n = self.inner.next_many(&mut self.buf);
            if n == 0 {
                return acc;
            }
            for &d in &self.buf[..n] {
                acc = f(acc, d);
            }
        }
    }
}

impl<'a> IntoIterator for &'a Bitmap {
    type Item = u32;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<u32> for Bitmap {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        Self(Inner::from_iter(iter))
    }
}

impl Extend<u32> for Bitmap {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// `impl Op<R> for L` for the four combinations of owned and borrowed
/// operands, each by reference into C (no copy of either side).
macro_rules! binop {
    ($trait:ident, $method:ident, $inner:ident) => {
        impl $trait<&Bitmap> for &Bitmap {
            type Output = Bitmap;
            fn $method(self, rhs: &Bitmap) -> Bitmap {
                Bitmap(self.0.$inner(&rhs.0))
            }
        }
        impl $trait<Bitmap> for &Bitmap {
            type Output = Bitmap;
            fn $method(self, rhs: Bitmap) -> Bitmap {
                Bitmap(self.0.$inner(&rhs.0))
            }
        }
        impl $trait<&Bitmap> for Bitmap {
            type Output = Bitmap;
            fn $method(self, rhs: &Bitmap) -> Bitmap {
                Bitmap(self.0.$inner(&rhs.0))
            }
        }
        impl $trait<Bitmap> for Bitmap {
            type Output = Bitmap;
            fn $method(self, rhs: Bitmap) -> Bitmap {
                Bitmap(self.0.$inner(&rhs.0))
            }
        }
    };
}

binop!(BitAnd, bitand, and);
binop!(BitOr, bitor, or);
binop!(Sub, sub, andnot);

/// `impl OpAssign<R> for Bitmap` for an owned and a borrowed right side,
/// in place.
macro_rules! assign {
    ($trait:ident, $method:ident, $inner:ident) => {
        impl $trait<&Bitmap> for Bitmap {
            fn $method(&mut self, rhs: &Bitmap) {
                self.0.$inner(&rhs.0);
            }
        }
        impl $trait<Bitmap> for Bitmap {
            fn $method(&mut self, rhs: Bitmap) {
                self.0.$inner(&rhs.0);
            }
        }
    };
}

assign!(BitAndAssign, bitand_assign, and_inplace);
assign!(BitOrAssign, bitor_assign, or_inplace);
assign!(SubAssign, sub_assign, andnot_inplace);

#[cfg(test)]
mod tests {
    use super::Bitmap;

    fn of(v: &[u32]) -> Bitmap {
        v.iter().copied().collect()
    }

    #[test]
    fn set_operations_and_iteration_agree_with_a_sorted_vector() {
        // Across containers (65,536 apart) and past one batch of the
        // iterator (256), dense enough for a bitmap container.
        let a: Vec<u32> = (0..200_000).filter(|x| x % 3 == 0).collect();
        let b: Vec<u32> = (0..200_000).filter(|x| x % 5 == 0).collect();
        let (ba, bb) = (of(&a), of(&b));
        let and: Vec<u32> = a.iter().copied().filter(|x| x % 5 == 0).collect();
        let or: Vec<u32> = (0..200_000).filter(|x| x % 3 == 0 || x % 5 == 0).collect();
        let sub: Vec<u32> = a.iter().copied().filter(|x| x % 5 != 0).collect();
        assert_eq!((&ba & &bb).iter().collect::<Vec<_>>(), and);
        assert_eq!((ba.clone() | &bb).iter().collect::<Vec<_>>(), or);
        assert_eq!((&ba - bb.clone()).iter().collect::<Vec<_>>(), sub);
        let mut x = ba.clone();
        x &= &bb;
        assert_eq!(x.len(), and.len() as u64);
        x |= ba.clone();
        assert_eq!(x, ba);
        x -= &bb;
        assert_eq!(x.iter().collect::<Vec<_>>(), sub);
        assert_eq!(ba.intersection_len(&bb), and.len() as u64);
        // fold (for_each, sum, count) and next agree, also after a partial read.
        let mut it = ba.iter();
        let first: Vec<u32> = it.by_ref().take(300).collect();
        assert_eq!(first[..], a[..300]);
        assert_eq!(it.count(), a.len() - 300);
        assert_eq!(
            ba.iter().map(u64::from).sum::<u64>(),
            a.iter().map(|x| u64::from(*x)).sum::<u64>()
        );
        // A whole dense set folds by chunks; a started one by batches.
        assert_eq!(ba.iter().fold(0u64, |n, _| n + 1), a.len() as u64);
        let mut started = ba.iter();
        started.next();
        assert_eq!(started.collect::<Vec<_>>()[..], a[1..]);
        let top: Bitmap = [u32::MAX - 1, u32::MAX, 5]
            .into_iter()
            .chain(0..20_000)
            .collect();
        let mut want: Vec<u32> = (0..20_000).collect();
        want.extend([u32::MAX - 1, u32::MAX]);
        let mut got = Vec::new();
        top.iter().for_each(|d| got.push(d));
        assert_eq!(got, want);
        assert_eq!(ba.iter_from(100_001).next(), Some(100_002));
        let flat = ba.to_flat();
        assert!((0..200_100).all(|d| flat.contains(d) == (d % 3 == 0 && d < 200_000)));
        assert!(!Bitmap::new().to_flat().contains(0) && !flat.contains(u32::MAX));
        assert_eq!(ba.iter_from(199_999).collect::<Vec<_>>(), Vec::<u32>::new());
    }

    #[test]
    fn single_members_rank_and_select() {
        let mut s = Bitmap::new();
        assert!(s.is_empty() && s.min().is_none() && s.iter().next().is_none());
        assert!(s.insert(7));
        assert!(!s.insert(7));
        assert!(s.insert(70_000));
        assert!(s.insert(3));
        assert_eq!((s.min(), s.max(), s.len()), (Some(3), Some(70_000), 3));
        assert!(s.contains(7) && !s.contains(8));
        assert_eq!((s.rank(6), s.rank(7), s.rank(u32::MAX)), (1, 2, 3));
        assert_eq!(
            (s.select(0), s.select(2), s.select(3)),
            (Some(3), Some(70_000), None)
        );
        assert!(s.remove(7));
        assert!(!s.remove(7));
        assert_eq!(format!("{s:?}"), "{3, 70000}");
        s.shrink_to_fit();
        assert!(s.serialized_size() > 0);
    }
}
