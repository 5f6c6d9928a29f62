//! Full-text search: the tokenizer every backend indexes with, the query
//! language (`websearch_to_tsquery`-style: words ANDed, `"quoted phrases"`,
//! `-word` exclusion, prefix matching on the last word), opt-in typo
//! tolerance, and the reference matching and relevance every storage adapter
//! MUST reproduce.
//!
//! Tokenizing happens here, once, for every backend: a token is a maximal
//! run of alphanumeric characters (Unicode), lower-cased with [`fold`].
//! Storage keeps the tokens of each product in two space-separated columns
//! ([`SearchDocument`]); PostgreSQL builds its `tsvector` from them and
//! SQLite its FTS5 row, so both databases see exactly the tokens the
//! in-memory reference sees, whatever their own parsers and locales do.

use crate::product::{Product, Sku};
use crate::query::MAX_SEARCH_CHARS;

/// The case folding search uses (Unicode lower case).
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// The tokens of `text`: maximal runs of alphanumeric characters, folded.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(fold)
        .collect()
}

/// Whether a token belongs to the typo-tolerance vocabulary: only words,
/// tokens without an ASCII digit. Numbers, model numbers and sku parts
/// (`0004217`, `x200`) are matched exactly or not at all: a typo in a
/// number is another number. Keeping them out also keeps the vocabulary at
/// the size of the language, not of the catalog (every sku has its own
/// number).
pub fn in_vocabulary(token: &str) -> bool {
    !token.is_empty() && !token.bytes().any(|b| b.is_ascii_digit())
}

/// A product's indexed text: `name` holds the tokens of name and sku (the
/// heavily weighted field), `body` those of the description; both
/// space-separated. The full document is `name` followed by `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDocument {
    pub name: String,
    pub body: String,
}

impl SearchDocument {
    pub fn new(name: &str, description: &str, sku: &str) -> Self {
        let mut head = tokens(name);
        head.extend(tokens(sku));
        Self {
            name: head.join(" "),
            body: tokens(description).join(" "),
        }
    }

    pub fn of(p: &Product) -> Self {
        Self::new(&p.name, &p.description, p.sku.as_str())
    }
}

/// One positive or negated part of a query: a word, or a phrase of adjacent
/// words. `prefix` makes the last token match any token it starts;
/// `alternatives` (single words only, filled in by typo-tolerant search) are
/// other tokens accepted in its place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Clause {
    pub tokens: Vec<String>,
    pub prefix: bool,
    pub alternatives: Vec<String>,
}

impl Clause {
    fn new(tokens: Vec<String>) -> Self {
        Self {
            tokens,
            prefix: false,
            alternatives: Vec::new(),
        }
    }

    /// Whether the clause occurs in a token sequence.
    pub fn matches(&self, doc: &[&str]) -> bool {
        let n = self.tokens.len();
        if n == 1 && self.alternatives.iter().any(|a| doc.contains(&a.as_str())) {
            return true;
        }
        if doc.len() < n {
            return false;
        }
        (0..=doc.len() - n).any(|start| {
            self.tokens.iter().enumerate().all(|(i, t)| {
                let d = doc[start + i];
                if self.prefix && i == n - 1 {
                    d.starts_with(t.as_str())
                } else {
                    d == t
                }
            })
        })
    }
}

/// The upper bound of a word's typo distance: none up to 4 characters,
/// one edit from 5, two from 9 (the contract's rule; Meilisearch's
/// defaults).
pub fn max_typos(word: &str) -> usize {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Optimal-string-alignment distance (insertions, deletions, substitutions
/// and adjacent transpositions each cost 1), giving up above `bound`.
pub fn typo_distance(a: &str, b: &str, bound: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > bound {
        return None;
    }
    let width = b.len() + 1;
    let mut prev2 = vec![0usize; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur = vec![0usize; width];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > bound {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= bound).then_some(d)
}

/// How many alternatives one word may expand to (the closest win).
pub const MAX_ALTERNATIVES: usize = 16;

/// A parsed `search`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    raw: String,
    include: Vec<Clause>,
    exclude: Vec<Clause>,
    /// The sku the text is, when it has the shape of one: worked out once
    /// here rather than for every product a match or score looks at.
    sku: Option<Sku>,
}

impl SearchQuery {
    /// Parses the websearch-style syntax. Never fails on syntax: a stray
    /// quote closes at the end, punctuation separates words. Fails only on
    /// length (1 to `max_chars` characters after trimming) and control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let max_chars = MAX_SEARCH_CHARS;
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > max_chars {
            return Err(format!("must be 1 to {max_chars} characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        let chars: Vec<char> = trimmed.chars().collect();
        let mut include: Vec<Clause> = Vec::new();
        let mut exclude: Vec<Clause> = Vec::new();
        // Where the text's last clause went, when it is a positive bare word
        // (or hyphenated run): that clause gets prefix matching.
        let mut last_bare_positive: Option<usize> = None;
        let mut i = 0;
        while i < chars.len() {
            if chars[i].is_whitespace() {
                i += 1;
                continue;
            }
            let negate = chars[i] == '-'
                && chars
                    .get(i + 1)
                    .is_some_and(|c| !c.is_whitespace() && *c != '-');
            if negate {
                i += 1;
            }
            let (text, quoted): (String, bool) = if chars[i] == '"' {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '"')
                    .map_or(chars.len(), |p| i + 1 + p);
                let t = chars[i + 1..end].iter().collect();
                i = (end + 1).min(chars.len());
                (t, true)
            } else {
                let end = chars[i..]
                    .iter()
                    .position(|c| c.is_whitespace() || *c == '"')
                    .map_or(chars.len(), |p| i + p);
                let t = chars[i..end].iter().collect();
                i = end;
                (t, false)
            };
            let toks = tokens(&text);
            if toks.is_empty() {
                continue;
            }
            let clause = Clause::new(toks);
            let list = if negate { &mut exclude } else { &mut include };
            last_bare_positive = None;
            if !list.contains(&clause) {
                list.push(clause);
                if !negate && !quoted {
                    last_bare_positive = Some(list.len() - 1);
                }
            }
        }
        if let Some(i) = last_bare_positive {
            include[i].prefix = true;
        }
        let raw = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
        let candidate = raw.to_uppercase();
        // Sku::parse also trims and upper-cases: only a text that already
        // is its own sku can equal a stored one.
        let sku = Sku::parse(&candidate)
            .ok()
            .filter(|s| s.as_str() == candidate);
        Ok(Self {
            raw,
            include,
            exclude,
            sku,
        })
    }

    /// The normalised text (trimmed, single spaces).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Clauses every match contains.
    pub fn include(&self) -> &[Clause] {
        &self.include
    }

    /// Clauses no match contains.
    pub fn exclude(&self) -> &[Clause] {
        &self.exclude
    }

    /// Whether there is any word to match at all (`"%%"` has none and then
    /// only an exact sku can match).
    pub fn has_words(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty()
    }

    /// The upper-cased text: a product whose sku equals it always matches
    /// and comes first.
    pub fn sku_candidate(&self) -> String {
        self.raw.to_uppercase()
    }

    /// Whether `p` is the product whose sku the text names.
    pub fn is_exact_sku(&self, p: &Product) -> bool {
        self.sku.as_ref() == Some(&p.sku)
    }

    /// The words typo tolerance may expand: positive single-token clauses
    /// long enough to allow a typo, without digits ([`in_vocabulary`]).
    /// Exclusions and phrases stay exact.
    pub fn fuzzy_words(&self) -> impl Iterator<Item = &str> {
        self.include
            .iter()
            .filter(|c| {
                c.tokens.len() == 1 && max_typos(&c.tokens[0]) > 0 && in_vocabulary(&c.tokens[0])
            })
            .map(|c| c.tokens[0].as_str())
    }

    /// Expands every fuzzy word with the vocabulary `terms` within its typo
    /// distance (closest first, at most [`MAX_ALTERNATIVES`]).
    pub fn expand(&mut self, word: &str, terms: &[String]) {
        let bound = max_typos(word);
        let mut near: Vec<(usize, &String)> = terms
            .iter()
            .filter(|t| t.as_str() != word)
            .filter_map(|t| typo_distance(word, t, bound).map(|d| (d, t)))
            .collect();
        near.sort();
        near.truncate(MAX_ALTERNATIVES);
        for clause in &mut self.include {
            if clause.tokens.len() == 1 && clause.tokens[0] == word {
                clause.alternatives = near.iter().map(|(_, t)| (*t).clone()).collect();
            }
        }
    }

    /// The reference semantics: the exact sku, or every included clause and
    /// no excluded one somewhere in name, sku and description.
    pub fn matches(&self, p: &Product) -> bool {
        if self.is_exact_sku(p) {
            return true;
        }
        if !self.has_words() {
            return false;
        }
        let doc = SearchDocument::of(p);
        let all: Vec<&str> = doc
            .name
            .split(' ')
            .chain(doc.body.split(' '))
            .filter(|t| !t.is_empty())
            .collect();
        self.include.iter().all(|c| c.matches(&all))
            && !self.exclude.iter().any(|c| c.matches(&all))
    }

    /// Relevance: [`EXACT_SKU_SCORE`] for the exact sku, plus one per
    /// included clause found in the name (or sku). Depends on the product
    /// alone, never on the rest of the catalog, so a relevance cursor stays
    /// valid while other products change. Storage adapters MUST compute the
    /// same score.
    pub fn score(&self, p: &Product) -> i64 {
        let mut score = 0;
        if self.is_exact_sku(p) {
            score += EXACT_SKU_SCORE;
        }
        let doc = SearchDocument::of(p);
        let name: Vec<&str> = doc.name.split(' ').filter(|t| !t.is_empty()).collect();
        score += self.include.iter().filter(|c| c.matches(&name)).count() as i64;
        score
    }
}

impl serde::Serialize for SearchQuery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for SearchQuery {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        SearchQuery::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The relevance of an exact sku match: above any word score (a query has
/// at most 100 clauses).
pub const EXACT_SKU_SCORE: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> SearchQuery {
        SearchQuery::parse(s).unwrap()
    }

    fn toks(c: &Clause) -> Vec<&str> {
        c.tokens.iter().map(String::as_str).collect()
    }

    #[test]
    fn tokenizer_splits_on_non_alphanumerics_and_folds() {
        assert_eq!(
            tokens("Wi-Fi 6E, USB-C/Ünïcode_x"),
            ["wi", "fi", "6e", "usb", "c", "ünïcode", "x"]
        );
        assert!(tokens("%%% --").is_empty());
        let d = SearchDocument::new("Red Shoe", "Made of leather.", "SKU-001");
        assert_eq!(d.name, "red shoe sku 001");
        assert_eq!(d.body, "made of leather");
    }

    #[test]
    fn websearch_syntax() {
        let s = q(r#"wireless "noise cancelling" -refurbished head"#);
        assert_eq!(s.include().len(), 3);
        assert_eq!(toks(&s.include()[1]), ["noise", "cancelling"]);
        assert!(s.include()[2].prefix, "last bare word is a prefix");
        assert!(!s.include()[0].prefix);
        assert_eq!(toks(&s.exclude()[0]), ["refurbished"]);
        // A quoted phrase last is not a prefix; an unclosed quote runs to the end.
        assert!(!q(r#"a "b c"#).include()[1].prefix);
        // Hyphenated runs are phrases; a lone or doubled dash is punctuation.
        assert_eq!(toks(&q("usb-c").include()[0]), ["usb", "c"]);
        assert_eq!(q("a - b").include().len(), 2);
        assert!(q("a - b").exclude().is_empty());
        assert!(!q("%%%").has_words());
        assert!(q("-foo").has_words());
        // The last word is a prefix only when nothing follows it.
        assert!(!q("abc -def").include()[0].prefix);
    }

    #[test]
    fn parse_limits() {
        assert!(SearchQuery::parse("  ").is_err());
        assert!(SearchQuery::parse(&"a".repeat(201)).is_err());
        assert!(SearchQuery::parse("a\u{7}b").is_err());
        assert_eq!(q("  Red   Shoe ").as_str(), "Red Shoe");
    }

    #[test]
    fn clause_matching() {
        let doc = ["wireless", "noise", "cancelling", "headphones"];
        assert!(q("head").include()[0].matches(&doc));
        assert!(
            !q("head x").include()[0].matches(&doc),
            "only the last word is a prefix"
        );
        assert!(!q("\"noise cancel").include()[0].matches(&doc));
        assert!(
            q("noise-cancel").include()[0].matches(&doc),
            "prefix on a phrase's last word"
        );
        assert!(!q("\"cancelling noise\"").include()[0].matches(&doc));
    }

    #[test]
    fn typo_distance_bounds() {
        assert_eq!(typo_distance("wirelss", "wireless", 1), Some(1));
        assert_eq!(typo_distance("headphnes", "headphones", 2), Some(1));
        assert_eq!(typo_distance("ab", "ba", 1), Some(1), "transposition");
        assert_eq!(typo_distance("kitten", "sitting", 2), None);
        assert_eq!(typo_distance("kitten", "sitting", 3), Some(3));
        // The contract: one typo from 5 letters, two from 9.
        assert_eq!(max_typos("abc"), 0);
        assert_eq!(max_typos("shoe"), 0);
        assert_eq!(max_typos("phone"), 1);
        assert_eq!(max_typos("wirelss"), 1);
        assert_eq!(max_typos("keyboard"), 1);
        assert_eq!(max_typos("headphnes"), 2);
        assert_eq!(max_typos("ünïcodéss"), 2, "letters, not bytes");
    }

    #[test]
    fn expansion_keeps_the_closest() {
        let mut s = q("wirelss headphnes");
        let vocab: Vec<String> = ["wireless", "wires", "headphones", "phones"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let words: Vec<String> = s.fuzzy_words().map(str::to_string).collect();
        for w in &words {
            s.expand(w, &vocab);
        }
        assert_eq!(s.include()[0].alternatives, ["wireless"]);
        assert_eq!(s.include()[1].alternatives, ["headphones"]);
        assert!(s.include()[0].matches(&["the", "wireless"]));
    }

    #[test]
    fn numbers_are_never_fuzzy() {
        assert!(in_vocabulary("wireless") && in_vocabulary("ünïcode"));
        for t in ["0004217", "x200", "6e", ""] {
            assert!(!in_vocabulary(t), "{t:?}");
        }
        let s = q("charger 0004217 x2000 model");
        let words: Vec<&str> = s.fuzzy_words().collect();
        assert_eq!(words, ["charger", "model"]);
    }
}
