//! The term dictionary: every indexed token, mapped to a dense term id.
//!
//! The bulk of the vocabulary lives in an [`fst::Map`] built once from the
//! sorted terms (at index build, and again when the delta grows): a
//! million sku numbers take a few megabytes there, against tens in a hash
//! map. Terms first seen after that build go to a small sorted `delta`
//! map, so a write never rebuilds the transducer. Lookups, prefix ranges
//! and typo searches read both.
//!
//! Typo search runs [`Osa`], an [`fst::Automaton`] that computes the
//! domain's optimal-string-alignment distance (insertions, deletions,
//! substitutions and adjacent swaps each cost one, the distance
//! [`catalog_domain::search::typo_distance`] defines) row by row as the
//! transducer is walked, and abandons a branch as soon as every cell of
//! the row exceeds the bound. So only the prefixes that can still lead to
//! a near word are visited: never a scan of the vocabulary. fst's own
//! Levenshtein automaton counts a swap as two edits, which is not the
//! contract's distance.

use std::collections::BTreeMap;

use fst::{Automaton, IntoStreamer, Map, MapBuilder, Streamer};

/// Terms added since the transducer was built, before it is rebuilt with
/// them. Small enough that a rebuild is rare; large enough that a burst of
/// new skus does not rebuild on every write.
const DELTA_LIMIT: usize = 65_536;

/// Token → term id.
#[derive(Default)]
pub struct Dictionary {
    base: Map<Vec<u8>>,
    delta: BTreeMap<String, u32>,
    next_id: u32,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("base", &self.base.len())
            .field("delta", &self.delta.len())
            .finish()
    }
}

impl Dictionary {
    /// A dictionary of `terms` (sorted, distinct) with ids `0..n` in order.
    pub fn from_sorted<'a>(terms: impl Iterator<Item = &'a str>) -> Self {
        let mut builder = MapBuilder::memory();
        let mut n = 0u32;
        for t in terms {
            // Sorted and distinct by construction; a violation would be a
            // bug in the caller, and the term then lands in the delta.
            if builder.insert(t, u64::from(n)).is_err() {
                break;
            }
            n += 1;
        }
        let base = builder
            .into_inner()
            .ok()
            .and_then(|bytes| Map::new(bytes).ok())
            .unwrap_or_default();
        Self {
            base,
            delta: BTreeMap::new(),
            next_id: n,
        }
    }

    /// Approximate heap bytes.
    pub fn memory(&self) -> usize {
        self.base.as_fst().size() + self.delta.keys().map(|k| k.len() + 48).sum::<usize>()
    }

    /// How many terms have an id.
    pub fn len(&self) -> usize {
        self.next_id as usize
    }

    pub fn is_empty(&self) -> bool {
        self.next_id == 0
    }

    pub fn get(&self, term: &str) -> Option<u32> {
        self.base
            .get(term)
            .map(|id| id as u32)
            .or_else(|| self.delta.get(term).copied())
    }

    /// The id of `term`, assigning the next one when it is new.
    pub fn intern(&mut self, term: &str) -> u32 {
        if let Some(id) = self.get(term) {
            return id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.delta.insert(term.to_string(), id);
        if self.delta.len() >= DELTA_LIMIT {
            self.merge_delta();
        }
        id
    }

    /// Folds the delta into the transducer, keeping every id.
    fn merge_delta(&mut self) {
        let mut builder = MapBuilder::memory();
        let mut base = self.base.stream();
        let mut delta = self.delta.iter().peekable();
        let mut next_base = base.next().map(|(k, v)| (k.to_vec(), v));
        loop {
            let take_delta = match (&next_base, delta.peek()) {
                (None, None) => break,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some((k, _)), Some((d, _))) => d.as_bytes() < k.as_slice(),
            };
            let (key, value) = if take_delta {
                let Some((d, id)) = delta.next() else { break };
                (d.as_bytes().to_vec(), u64::from(*id))
            } else {
                let Some(kv) = next_base.take() else { break };
                next_base = base.next().map(|(k, v)| (k.to_vec(), v));
                kv
            };
            if builder.insert(&key, value).is_err() {
                return;
            }
        }
        drop(base);
        if let Some(map) = builder.into_inner().ok().and_then(|b| Map::new(b).ok()) {
            self.base = map;
            self.delta.clear();
        }
    }

    /// Every term starting with `prefix`, with its id.
    pub fn prefixed(&self, prefix: &str, mut visit: impl FnMut(&[u8], u32)) {
        let mut stream = self
            .base
            .search(fst::automaton::Str::new(prefix).starts_with())
            .into_stream();
        while let Some((k, v)) = stream.next() {
            visit(k, v as u32);
        }
        for (k, v) in self.delta.range(prefix.to_string()..) {
            if !k.starts_with(prefix) {
                break;
            }
            visit(k.as_bytes(), *v);
        }
    }

    /// Every term within `bound` typos of `word` (the domain's distance),
    /// with its id.
    pub fn near(&self, word: &str, bound: usize, mut visit: impl FnMut(&str, u32)) {
        let automaton = Osa::new(word, bound);
        let mut stream = self.base.search(&automaton).into_stream();
        while let Some((k, v)) = stream.next() {
            if let Ok(term) = std::str::from_utf8(k) {
                visit(term, v as u32);
            }
        }
        // The delta holds the terms first seen since the last fold: after
        // a build, mostly the sku numbers of products created since. A
        // term with more digits than `bound` is farther than `bound` from
        // a word without digits (every digit must be edited away): those
        // are skipped before the distance is computed.
        let word_digits = word.chars().filter(char::is_ascii_digit).count();
        let len = word.chars().count();
        for (k, v) in &self.delta {
            if word_digits == 0 && k.bytes().filter(u8::is_ascii_digit).count() > bound {
                continue;
            }
            if k.chars().count().abs_diff(len) > bound {
                continue;
            }
            if catalog_domain::search::typo_distance(word, k, bound).is_some() {
                visit(k, *v);
            }
        }
    }

    /// Folds every delta term into the transducer (after a build: the
    /// typo walk then never scans a delta).
    pub fn fold(&mut self) {
        if !self.delta.is_empty() {
            self.merge_delta();
        }
    }
}

/// The optimal-string-alignment distance to a word, as an automaton over
/// UTF-8 bytes. Its state is the last two rows of the distance table and
/// the characters they ended on; bytes of a character are buffered until
/// it is complete.
#[derive(Debug)]
pub struct Osa {
    word: Vec<char>,
    bound: usize,
}

impl Osa {
    pub fn new(word: &str, bound: usize) -> Self {
        Self {
            word: word.chars().collect(),
            bound,
        }
    }
}

/// One position of the walk: `None` once no continuation can match.
#[derive(Debug, Clone)]
pub struct OsaState {
    prev: Vec<u8>,
    cur: Vec<u8>,
    /// The last character consumed (for swaps).
    last: Option<char>,
    pending: [u8; 4],
    pending_len: u8,
}

fn clamp(n: usize) -> u8 {
    n.min(u8::MAX as usize) as u8
}

impl Osa {
    fn step(&self, s: &OsaState, c: char) -> Option<OsaState> {
        let w = &self.word;
        let mut next = vec![0u8; w.len() + 1];
        next[0] = s.cur[0].saturating_add(1);
        let mut row_min = next[0];
        for j in 1..=w.len() {
            let cost = u8::from(w[j - 1] != c);
            let mut v = (s.cur[j].saturating_add(1))
                .min(next[j - 1].saturating_add(1))
                .min(s.cur[j - 1].saturating_add(cost));
            // A swap of the last two characters: `c` matches w[j-2] and the
            // previous character matches w[j-1].
            if j > 1 && c == w[j - 2] && s.last == Some(w[j - 1]) {
                v = v.min(s.prev[j - 2].saturating_add(1));
            }
            next[j] = v;
            row_min = row_min.min(v);
        }
        if usize::from(row_min) > self.bound {
            return None;
        }
        Some(OsaState {
            prev: s.cur.clone(),
            cur: next,
            last: Some(c),
            pending: [0; 4],
            pending_len: 0,
        })
    }
}

impl Automaton for Osa {
    type State = Option<OsaState>;

    fn start(&self) -> Self::State {
        let cur: Vec<u8> = (0..=self.word.len()).map(clamp).collect();
        Some(OsaState {
            prev: cur.clone(),
            cur,
            last: None,
            pending: [0; 4],
            pending_len: 0,
        })
    }

    fn is_match(&self, state: &Self::State) -> bool {
        state.as_ref().is_some_and(|s| {
            s.pending_len == 0 && s.cur.last().is_some_and(|d| usize::from(*d) <= self.bound)
        })
    }

    fn can_match(&self, state: &Self::State) -> bool {
        state.is_some()
    }

    fn accept(&self, state: &Self::State, byte: u8) -> Self::State {
        let s = state.as_ref()?;
        let mut pending = s.pending;
        let len = usize::from(s.pending_len);
        if len >= 4 {
            return None;
        }
        pending[len] = byte;
        let len = len + 1;
        match std::str::from_utf8(&pending[..len]) {
            Ok(text) => {
                let c = text.chars().next()?;
                self.step(s, c)
            }
            // An incomplete sequence: wait for its next byte (at most 4).
            Err(e) if e.error_len().is_none() => {
                let mut next = s.clone();
                next.pending = pending;
                next.pending_len = len as u8;
                Some(next)
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use catalog_domain::search::typo_distance;

    fn near(d: &Dictionary, word: &str, bound: usize) -> Vec<String> {
        let mut out = Vec::new();
        d.near(word, bound, |t, _| out.push(t.to_string()));
        out.sort();
        out
    }

    #[test]
    fn automaton_agrees_with_the_domain_distance() {
        let words = [
            "wireless",
            "wirelss",
            "wierless",
            "wireles",
            "wirelessly",
            "headphones",
            "headphnoes",
            "écran",
            "ecran",
            "écrna",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "bac",
            "xyz",
            "kitten",
            "sitting",
            "straße",
            "strasse",
            "日本語",
            "日本",
        ];
        let mut sorted: Vec<&str> = words.to_vec();
        sorted.sort();
        sorted.dedup();
        let d = Dictionary::from_sorted(sorted.iter().copied());
        for w in words {
            for bound in 0..=2 {
                let expected: Vec<String> = sorted
                    .iter()
                    .filter(|t| typo_distance(w, t, bound).is_some())
                    .map(|t| t.to_string())
                    .collect();
                assert_eq!(near(&d, w, bound), expected, "{w} within {bound}");
            }
        }
    }

    #[test]
    fn the_delta_agrees_with_the_domain_distance() {
        // Every term in the delta: the shortcuts (digit count, length)
        // must never drop a term within the bound.
        let mut d = Dictionary::from_sorted(std::iter::empty::<&str>());
        let terms = [
            "wireless", "wire1ess", "wi2e1ess", "0012345", "x200", "x20", "wirelss", "wires",
        ];
        for t in terms {
            d.intern(t);
        }
        for w in ["wireless", "wirelss", "x200", "x2000", "0012346"] {
            for bound in 0..=2 {
                let mut expected: Vec<String> = terms
                    .iter()
                    .filter(|t| typo_distance(w, t, bound).is_some())
                    .map(|t| t.to_string())
                    .collect();
                expected.sort();
                assert_eq!(near(&d, w, bound), expected, "{w} within {bound}");
            }
        }
        d.fold();
        assert!(d.delta.is_empty());
        assert_eq!(near(&d, "wireless", 1), ["wire1ess", "wireless", "wirelss"]);
    }

    #[test]
    fn delta_terms_are_found_and_merge_keeps_ids() {
        let mut d = Dictionary::from_sorted(["apple", "banana"].into_iter());
        let cherry = d.intern("cherry");
        let apricot = d.intern("apricot");
        assert_eq!(d.get("apple"), Some(0));
        assert_eq!(d.get("cherry"), Some(cherry));
        let mut pre = Vec::new();
        d.prefixed("ap", |k, id| {
            pre.push((String::from_utf8_lossy(k).into_owned(), id))
        });
        pre.sort();
        assert_eq!(pre, vec![("apple".into(), 0), ("apricot".into(), apricot)]);
        d.merge_delta();
        assert!(d.delta.is_empty());
        assert_eq!(d.get("apricot"), Some(apricot));
        assert_eq!(d.get("cherry"), Some(cherry));
        assert_eq!(d.get("banana"), Some(1));
        assert_eq!(d.len(), 4);
    }
}
