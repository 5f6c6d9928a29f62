//! The product and the value types that make an invalid product
//! unrepresentable: each constructor names the contract field it validates.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::error::ValidationErrors;

/// Server-assigned identifier, > 0, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(i64);

impl ProductId {
    pub fn new(id: i64) -> Result<Self, ValidationErrors> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(ValidationErrors::single("id", "must be a positive integer"))
        }
    }

    /// Parses a path segment: digits only, > 0, within i64.
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        let err = || ValidationErrors::single("id", "must be a positive integer");
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        raw.parse::<i64>().map_err(|_| err()).and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// 3–32 characters of `A-Z 0-9 -`, stored and compared upper-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let upper = raw.trim().to_ascii_uppercase();
        let len = upper.chars().count();
        if !(3..=32).contains(&len) {
            return Err("must be 3 to 32 characters".into());
        }
        if !upper
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may contain only letters A-Z, digits 0-9 and '-'".into());
        }
        Ok(Self(upper))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// A category or brand name. One rule for every label a product holds: 1–100
/// characters after trimming, with no control characters at all
/// ([`Label::parse`]). A filter compares a value *as given* with those
/// labels ([`Label::compared`]): it only has to fit the length, so a value no
/// label can hold (one with a line break, say) matches nothing instead of
/// being refused. Serialized as a plain JSON string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    /// A label to store (writes): trimmed, 1–100 characters, no control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let label = Self::compared(trimmed)?;
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(label)
    }

    /// A value to compare stored labels with (filters), kept as given: only
    /// the length is checked, since whatever a value holds beyond that can at
    /// worst match no product.
    pub fn compared(raw: &str) -> Result<Self, String> {
        if (1..=MAX_LABEL_CHARS).contains(&raw.chars().count()) {
            Ok(Self(raw.to_string()))
        } else {
            Err(format!("must be 1 to {MAX_LABEL_CHARS} characters"))
        }
    }

    /// A label read back from storage, as stored: not checked again, since
    /// rows written before this rule (which let `\n` and `\t` through)
    /// must still read.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Labels come back from cursors, where they were filter values: the
/// filter rule applies.
impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Label::compared(&raw).map_err(serde::de::Error::custom)
    }
}

/// Highest accepted price, in cents (1,000,000.00).
pub const MAX_PRICE_CENTS: i64 = 100_000_000;

/// A price held exactly, as integer cents: 0 ≤ price ≤ 1,000,000, at most two
/// decimals. Serialized as a JSON number (`19.99`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct Price(i64);

impl Price {
    pub fn from_cents(cents: i64) -> Result<Self, String> {
        if (0..=MAX_PRICE_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err("must be between 0 and 1000000".into())
        }
    }

    /// Accepts a JSON-style number with at most two decimals.
    pub fn from_f64(value: f64) -> Result<Self, String> {
        let cents = decimal_units(value, 100).ok_or("must have at most 2 decimals")?;
        Self::from_cents(cents)
    }

    /// Parses a decimal string (query parameters): digits with at most two
    /// decimals, no sign, no exponent.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let cents = parse_fixed(raw.trim(), 2)
            .ok_or("must be a number with at most 2 decimals, e.g. 19.99")?;
        Self::from_cents(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// A rating 0.0–5.0 with at most one decimal, held as tenths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct Rating(i16);

impl Rating {
    /// 0.0: an unrated product.
    pub const ZERO: Rating = Rating(0);

    pub fn from_tenths(tenths: i64) -> Result<Self, String> {
        if (0..=50).contains(&tenths) {
            Ok(Self(tenths as i16))
        } else {
            Err("must be between 0.0 and 5.0".into())
        }
    }

    pub fn from_f64(value: f64) -> Result<Self, String> {
        let tenths = decimal_units(value, 10).ok_or("must have at most 1 decimal")?;
        Self::from_tenths(tenths)
    }

    pub fn tenths(self) -> i16 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }
}

impl Serialize for Rating {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// `value * scale` when it is (within float noise) a whole number. The
/// noise allowed is absolute: a decimal with at most the scale's places,
/// parsed to the nearest double and scaled, lands within 1e-8 of a whole
/// number for every value the contract allows (prices to 1,000,000), so
/// 1e-6 refuses `456006.1503` (a relative bound would let it through).
fn decimal_units(value: f64, scale: i64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let scaled = value * scale as f64;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 || rounded.abs() > 1e15 {
        return None;
    }
    Some(rounded as i64)
}

/// Parses `123`, `123.4`, `123.45` (up to `decimals` places) into units of
/// 10^-decimals. No sign, no exponent, no surrounding text.
pub(crate) fn parse_fixed(raw: &str, decimals: u32) -> Option<i64> {
    let (int, frac) = match raw.split_once('.') {
        Some((i, f)) => (i, f),
        None => (raw, ""),
    };
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > decimals as usize || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if raw.contains('.') && frac.is_empty() {
        return None;
    }
    let mut units: i64 = int.parse().ok()?;
    for i in 0..decimals {
        let digit = frac
            .as_bytes()
            .get(i as usize)
            .map_or(0, |b| i64::from(b - b'0'));
        units = units.checked_mul(10)?.checked_add(digit)?;
    }
    Some(units)
}

/// A stored product, as every read returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category: Label,
    pub brand: Label,
    pub price: Price,
    pub stock_quantity: i64,
    pub rating: Rating,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the basis of optimistic concurrency (the
    /// product's ETag). Not part of the JSON body.
    #[serde(skip)]
    pub version: i64,
}

impl Product {
    /// The version this product is at.
    pub fn current_version(&self) -> ProductVersion {
        ProductVersion {
            id: self.id,
            version: self.version,
        }
    }

    /// The strong ETag of this product's current version.
    pub fn etag(&self) -> String {
        self.current_version().etag()
    }
}

/// One version of one product: what its ETag names and a conditional write
/// names back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductVersion {
    pub id: ProductId,
    pub version: i64,
}

impl ProductVersion {
    /// The strong ETag: `"{id}-{version}"`.
    pub fn etag(self) -> String {
        format!("\"{}-{}\"", self.id.get(), self.version)
    }

    /// The version a strong ETag names, when it is one this service issued
    /// (exactly as [`ProductVersion::etag`] writes it). Weak and foreign
    /// tags name none.
    pub fn from_etag(tag: &str) -> Option<Self> {
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        let (id, version) = inner.split_once('-')?;
        let parsed = Self {
            id: ProductId::parse(id).ok()?,
            version: version.parse().ok()?,
        };
        // Leading zeros or a sign would parse too; only the exact tag
        // names the version.
        (parsed.etag() == tag).then_some(parsed)
    }
}

/// A valid product not yet stored: what a create (or the seeder) hands to
/// the storage port, which assigns the id and timestamps. The write path
/// builds `category` and `brand` with [`Label::parse`]; trusted sources (the
/// seeder's constant names, a stored product written back) with
/// [`Label::from_stored`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category: Label,
    pub brand: Label,
    pub price: Price,
    pub stock_quantity: i64,
    pub rating: Rating,
    pub is_active: bool,
}

impl NewProduct {
    /// Whether `stored` already holds every writable field of this one: an
    /// upsert of it would change nothing.
    pub fn same_as(&self, stored: &Product) -> bool {
        self.sku == stored.sku
            && self.name == stored.name
            && self.description == stored.description
            && self.category == stored.category
            && self.brand == stored.brand
            && self.price == stored.price
            && self.stock_quantity == stored.stock_quantity
            && self.rating == stored.rating
            && self.is_active == stored.is_active
    }
}

/// Text field rules of the contract, shared by writes and tests.
pub fn check_text(
    errors: &mut ValidationErrors,
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> String {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min || len > max {
        if min == 0 {
            errors.push(field, format!("must be at most {max} characters"));
        } else {
            errors.push(field, format!("must be {min} to {max} characters"));
        }
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(field, "must not contain control characters");
    }
    trimmed.to_string()
}

/// Timestamps are kept at microsecond precision, the finest both backends
/// store, so a value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_is_upper_cased_and_checked() {
        assert_eq!(
            Sku::parse("ab-12").map(Sku::into_string),
            Ok("AB-12".into())
        );
        assert!(Sku::parse("ab").is_err());
        assert!(Sku::parse(&"A".repeat(33)).is_err());
        assert!(Sku::parse("AB_12").is_err());
        assert!(Sku::parse("ÄBC").is_err());
    }

    #[test]
    fn price_is_exact_cents() {
        assert_eq!(Price::from_f64(19.99).map(Price::cents), Ok(1999));
        assert_eq!(Price::from_f64(0.1 + 0.2).map(Price::cents), Ok(30));
        assert!(Price::from_f64(19.999).is_err());
        assert!(Price::from_f64(-1.0).is_err());
        assert!(Price::from_f64(1_000_000.01).is_err());
        assert_eq!(
            Price::from_f64(1_000_000.0).map(Price::cents),
            Ok(MAX_PRICE_CENTS)
        );
        assert!(Price::from_f64(f64::NAN).is_err());
        assert_eq!(Price::parse("10").map(Price::cents), Ok(1000));
        assert_eq!(Price::parse("10.5").map(Price::cents), Ok(1050));
        assert!(Price::parse("10.").is_err());
        assert!(Price::parse("-1").is_err());
        assert!(Price::parse("1e3").is_err());
        assert!(Price::parse("10.123").is_err());
        assert_eq!(
            serde_json::to_string(&Price::from_cents(1999).unwrap()).unwrap(),
            "19.99"
        );
    }

    #[test]
    fn rating_is_tenths() {
        assert_eq!(Rating::from_f64(4.5).map(Rating::tenths), Ok(45));
        assert!(Rating::from_f64(4.55).is_err());
        assert!(Rating::from_f64(5.1).is_err());
        assert_eq!(
            serde_json::to_string(&Rating::from_tenths(39).unwrap()).unwrap(),
            "3.9"
        );
    }

    #[test]
    fn labels_are_trimmed_and_free_of_control_characters() {
        assert_eq!(
            Label::parse(" Home ").map(Label::into_string),
            Ok("Home".into())
        );
        assert_eq!(
            Label::parse(&"a".repeat(100)).map(|l| l.as_str().len()),
            Ok(100)
        );
        assert!(Label::parse(&"a".repeat(101)).is_err());
        assert!(Label::parse("   ").is_err());
        for bad in ["a\nb", "a\tb", "a\rb", "a\u{7f}b"] {
            assert_eq!(
                Label::parse(bad),
                Err("must not contain control characters".to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn compared_labels_are_kept_as_given() {
        assert_eq!(
            Label::compared("a\nb").map(Label::into_string),
            Ok("a\nb".into())
        );
        assert_eq!(
            Label::compared(" Home").map(Label::into_string),
            Ok(" Home".into())
        );
        assert!(Label::compared("").is_err());
        assert!(Label::compared(&"é".repeat(101)).is_err());
        assert!(Label::compared(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn version_tags_round_trip_exactly() {
        let v = ProductVersion {
            id: ProductId::new(42).unwrap(),
            version: 7,
        };
        assert_eq!(v.etag(), "\"42-7\"");
        assert_eq!(ProductVersion::from_etag("\"42-7\""), Some(v));
        for other in [
            "W/\"42-7\"",
            "\"042-7\"",
            "\"42-07\"",
            "\"42-+7\"",
            "42-7",
            "\"x\"",
            "*",
        ] {
            assert_eq!(ProductVersion::from_etag(other), None, "{other}");
        }
    }

    #[test]
    fn id_parsing() {
        assert_eq!(ProductId::parse("42").map(ProductId::get), Ok(42));
        for bad in ["0", "-1", "abc", "", "1.5", "+1", "99999999999999999999"] {
            assert!(ProductId::parse(bad).is_err(), "{bad}");
        }
    }
}
