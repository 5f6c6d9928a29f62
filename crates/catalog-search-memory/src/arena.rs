//! Per-product byte strings in one buffer: names, skus and varint-coded
//! token sequences.
//!
//! A `Box<str>` per product costs its 16-byte handle plus the allocator's
//! rounding and bookkeeping, about as much again as a 25-byte name; a
//! million of them is most of the index. Here each value is appended to one
//! vector, after its length, and found by its start. A replaced value stays
//! behind as garbage until it outweighs the live bytes, then the buffer is
//! rewritten (a few milliseconds at a million products, amortised over as
//! many writes).

use crate::bitmap::Bitmap;

/// Values, each stored as its length (LEB128) and its bytes, found by
/// their start. Offset 0 holds the empty value, which a product without
/// one points at. A (start, length) pair per product took 8 bytes where a
/// start and a one- or two-byte length take 5 or 6: 7 MB less at a
/// million products for the three arenas of the index.
#[derive(Debug)]
pub struct Arena {
    bytes: Vec<u8>,
    at: Vec<u32>,
    garbage: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Self {
            bytes: vec![0],
            at: Vec::new(),
            garbage: 0,
        }
    }
}

impl Arena {
    /// Stores `value` for `doc`, replacing what it held.
    pub fn set(&mut self, doc: u32, value: &[u8]) {
        let d = doc as usize;
        if self.at.len() <= d {
            self.at.resize(d + 1, 0);
        }
        self.garbage += self.entry_len(self.at[d]);
        let start = self.bytes.len() as u32;
        push_varint(&mut self.bytes, value.len() as u32);
        self.bytes.extend_from_slice(value);
        self.at[d] = start;
    }

    /// The header and value bytes of the entry at `start` (0 for the
    /// shared empty value, which is never garbage).
    fn entry_len(&self, start: u32) -> usize {
        if start == 0 {
            return 0;
        }
        let (header, len) = self.header(start);
        header + len
    }

    /// The length of the entry at `start`'s header, and of its value.
    fn header(&self, start: u32) -> (usize, usize) {
        let tail = self.bytes.get(start as usize..).unwrap_or_default();
        let header = tail.iter().take_while(|b| **b >= 0x80).count() + 1;
        let len = varints(tail).next().unwrap_or(0) as usize;
        (header, len)
    }

    pub fn get(&self, doc: u32) -> &[u8] {
        match self.at.get(doc as usize) {
            Some(&start) if start != 0 => {
                let (header, len) = self.header(start);
                let from = start as usize + header;
                self.bytes.get(from..from + len).unwrap_or_default()
            }
            _ => &[],
        }
    }

    /// The value of `doc` as text (values are stored from `&str`).
    pub fn text(&self, doc: u32) -> &str {
        std::str::from_utf8(self.get(doc)).unwrap_or("")
    }

    pub fn clear(&mut self, doc: u32) {
        if let Some(&start) = self.at.get(doc as usize) {
            self.garbage += self.entry_len(start);
            self.at[doc as usize] = 0;
        }
    }

    /// Rewrites the buffer with the values of `live` alone when garbage
    /// is more than half of it.
    pub fn maybe_compact(&mut self, live: &Bitmap) {
        if self.garbage <= self.bytes.len() / 2 || self.garbage < 1 << 20 {
            return;
        }
        self.compact(live);
    }

    /// Rewrites the buffer with the values of `live` alone; without
    /// garbage (after a build) it only trims the buffers, which the
    /// allocator does in place: a rewrite would hold both copies at once,
    /// the peak of a build.
    pub fn compact(&mut self, live: &Bitmap) {
        if self.garbage == 0 {
            self.bytes.shrink_to_fit();
            self.at.shrink_to_fit();
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
        bytes.push(0);
        for doc in live {
            let d = doc as usize;
            let Some(&start) = self.at.get(d) else {
                continue;
            };
            if start == 0 {
                continue;
            }
            let end = start as usize + self.entry_len(start);
            self.at[d] = bytes.len() as u32;
            bytes.extend_from_slice(&self.bytes[start as usize..end]);
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
        self.bytes.capacity() + self.at.capacity() * 4
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
        let mut live = Bitmap::new();
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
        assert_eq!(a.text(42), "");
        // The empty value, then a length byte and the value for each of
        // the nine live products.
        assert_eq!(a.bytes.len(), 1 + 8 * 3 + 6);
    }

    #[test]
    fn long_and_empty_values_keep_their_bytes() {
        let mut a = Arena::default();
        let long = "x".repeat(300);
        a.set(0, long.as_bytes());
        a.set(1, b"");
        a.set(2, b"short");
        assert_eq!(a.text(0), long);
        assert_eq!(a.get(1), b"");
        a.set(0, b"now short");
        a.clear(2);
        let live: Bitmap = [0, 1].into_iter().collect();
        a.compact(&live);
        assert_eq!(a.text(0), "now short");
        assert_eq!(a.get(1), b"");
        assert_eq!(a.get(2), b"");
    }
}
