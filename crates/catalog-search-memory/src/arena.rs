//! Per-product byte strings in one buffer: names, skus and varint-coded
//! token sequences.
//!
//! A `Box<str>` per product costs its 16-byte handle plus the allocator's
//! rounding and bookkeeping, about as much again as a 25-byte name; a
//! million of them is most of the index. Here each value is appended to one
//! vector and found by a (start, length) pair. A replaced value stays
//! behind as garbage until it outweighs the live bytes, then the buffer is
//! rewritten (a few milliseconds at a million products, amortised over as
//! many writes).

use roaring::RoaringBitmap;

#[derive(Debug, Default)]
pub struct Arena {
    bytes: Vec<u8>,
    at: Vec<(u32, u32)>,
    garbage: usize,
}

impl Arena {
    /// Stores `value` for `doc`, replacing what it held.
    pub fn set(&mut self, doc: u32, value: &[u8]) {
        let d = doc as usize;
        if self.at.len() <= d {
            self.at.resize(d + 1, (0, 0));
        }
        self.garbage += self.at[d].1 as usize;
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.at[d] = (start, value.len() as u32);
    }

    pub fn get(&self, doc: u32) -> &[u8] {
        match self.at.get(doc as usize) {
            Some(&(start, len)) => &self.bytes[start as usize..(start + len) as usize],
            None => &[],
        }
    }

    /// The value of `doc` as text (values are stored from `&str`).
    pub fn text(&self, doc: u32) -> &str {
        std::str::from_utf8(self.get(doc)).unwrap_or("")
    }

    pub fn clear(&mut self, doc: u32) {
        if let Some(slot) = self.at.get_mut(doc as usize) {
            self.garbage += slot.1 as usize;
            *slot = (0, 0);
        }
    }

    /// Rewrites the buffer with the values of `live` alone when garbage
    /// is more than half of it.
    pub fn maybe_compact(&mut self, live: &RoaringBitmap) {
        if self.garbage <= self.bytes.len() / 2 || self.garbage < 1 << 20 {
            return;
        }
        self.compact(live);
    }

    /// Rewrites the buffer with the values of `live` alone; without
    /// garbage (after a build) it only trims the buffers, which the
    /// allocator does in place: a rewrite would hold both copies at once,
    /// the peak of a build.
    pub fn compact(&mut self, live: &RoaringBitmap) {
        if self.garbage == 0 {
            self.bytes.shrink_to_fit();
            self.at.shrink_to_fit();
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
        for doc in live {
            if let Some(slot) = self.at.get_mut(doc as usize) {
                let start = bytes.len() as u32;
                bytes.extend_from_slice(&self.bytes[slot.0 as usize..(slot.0 + slot.1) as usize]);
                slot.0 = start;
            }
        }
        bytes.shrink_to_fit();
        self.at.shrink_to_fit();
        self.bytes = bytes;
        self.garbage = 0;
    }

    /// Room for `docs` values of about `bytes_each` bytes.
    pub fn reserve(&mut self, docs: usize, bytes_each: usize) {
        self.at.reserve(docs.saturating_sub(self.at.len()));
        self.bytes
            .reserve((docs.saturating_mul(bytes_each)).saturating_sub(self.bytes.len()));
    }

    pub fn memory(&self) -> usize {
        self.bytes.capacity() + self.at.capacity() * 8
    }
}

/// Appends `n` in LEB128: term ids are handed out in order of first
/// appearance, so common words take one or two bytes.
pub fn push_varint(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The numbers of a LEB128 sequence.
pub fn varints(mut bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    std::iter::from_fn(move || {
        let mut n = 0u32;
        let mut shift = 0;
        loop {
            let (&b, rest) = bytes.split_first()?;
            bytes = rest;
            n |= u32::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
            shift += 7;
            if shift > 28 {
                return None;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let numbers = [0, 1, 127, 128, 300, 16_383, 16_384, 2_000_000, u32::MAX];
        let mut buf = Vec::new();
        for n in numbers {
            push_varint(&mut buf, n);
        }
        assert_eq!(varints(&buf).collect::<Vec<_>>(), numbers);
    }

    #[test]
    fn replaced_values_compact_away() {
        let mut a = Arena::default();
        let mut live = RoaringBitmap::new();
        for d in 0..10u32 {
            a.set(d, format!("v{d}").as_bytes());
            live.insert(d);
        }
        a.set(3, b"three");
        a.clear(4);
        live.remove(4);
        a.compact(&live);
        assert_eq!(a.text(3), "three");
        assert_eq!(a.text(4), "");
        assert_eq!(a.text(9), "v9");
        assert_eq!(a.bytes.len(), 2 * 8 + 5);
    }
}
