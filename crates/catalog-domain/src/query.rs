//! The query language of the list, stats and facet reads: filters, sort keys,
//! pages (offset or keyset cursor), projections and count modes, parsed from
//! raw query parameters with every offending parameter reported by its
//! contract name.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cursor::{Cursor, CursorKey};
use crate::error::ValidationErrors;
use crate::product::{Label, Price, Product, Rating};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// How many products a page holds: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`]
/// unless asked. Serialized as the plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PageSize(u32);

impl PageSize {
    pub const DEFAULT: PageSize = PageSize(DEFAULT_LIMIT);
    pub const MAX: PageSize = PageSize(MAX_LIMIT);

    pub fn new(n: u64) -> Result<Self, String> {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .map(Self)
            .ok_or_else(|| format!("must be between 1 and {MAX_LIMIT}"))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for PageSize {
    type Error = String;

    fn try_from(n: u32) -> Result<Self, String> {
        Self::new(u64::from(n))
    }
}

impl From<PageSize> for u32 {
    fn from(p: PageSize) -> u32 {
        p.0
    }
}

impl PartialEq<u32> for PageSize {
    fn eq(&self, other: &u32) -> bool {
        self.0 == *other
    }
}
pub const MAX_SEARCH_CHARS: usize = 200;
/// Upper bound on repeated `category`/`brand` values in one request, so a
/// query string cannot expand into an unbounded `IN (...)` list.
pub const MAX_FILTER_VALUES: usize = 100;

pub use crate::search::{SearchQuery, fold};

/// The filters shared by list, stats and facets. Canonical: repeated values
/// are sorted and de-duplicated, so equal filters compare (and hash) equal
/// whatever the parameter order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct ProductFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Label>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub brands: Vec<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rating: Option<Rating>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchQuery>,
    /// Typo-tolerant `search` (`fuzzy=true`); always false without one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fuzzy: bool,
}

impl ProductFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The reference semantics every storage adapter MUST match.
    pub fn matches(&self, p: &Product) -> bool {
        (self.categories.is_empty() || self.categories.contains(&p.category))
            && (self.brands.is_empty() || self.brands.contains(&p.brand))
            && self.min_price.is_none_or(|m| p.price >= m)
            && self.max_price.is_none_or(|m| p.price <= m)
            && self.min_rating.is_none_or(|m| p.rating >= m)
            && self.in_stock.is_none_or(|s| (p.stock_quantity > 0) == s)
            && self.is_active.is_none_or(|a| p.is_active == a)
            && self.search.as_ref().is_none_or(|s| s.matches(p))
    }
}

/// A sortable column. `Relevance` is never named by clients: it is the
/// default order of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    Id,
    Sku,
    Name,
    Category,
    Brand,
    Price,
    StockQuantity,
    Rating,
    CreatedAt,
    UpdatedAt,
    Relevance,
}

impl SortField {
    pub const PUBLIC: [SortField; 10] = [
        SortField::Id,
        SortField::Sku,
        SortField::Name,
        SortField::Category,
        SortField::Brand,
        SortField::Price,
        SortField::StockQuantity,
        SortField::Rating,
        SortField::CreatedAt,
        SortField::UpdatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortField::Id => "id",
            SortField::Sku => "sku",
            SortField::Name => "name",
            SortField::Category => "category",
            SortField::Brand => "brand",
            SortField::Price => "price",
            SortField::StockQuantity => "stock_quantity",
            SortField::Rating => "rating",
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
            SortField::Relevance => "relevance",
        }
    }

    fn from_public_name(name: &str) -> Option<Self> {
        Self::PUBLIC.into_iter().find(|f| f.name() == name)
    }
}

/// One key of the sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    pub field: SortField,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descending: bool,
}

impl SortKey {
    pub const ID: SortKey = SortKey {
        field: SortField::Id,
        descending: false,
    };
}

/// A row's value for one sort key: what a keyset cursor remembers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortValue {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

impl SortValue {
    /// The value of `field` for `p` (`search` is needed for relevance).
    pub fn of(field: SortField, p: &Product, search: Option<&SearchQuery>) -> SortValue {
        match field {
            SortField::Id => SortValue::Int(p.id.get()),
            SortField::Sku => SortValue::Text(p.sku.as_str().to_string()),
            SortField::Name => SortValue::Text(p.name.clone()),
            SortField::Category => SortValue::Text(p.category.as_str().to_string()),
            SortField::Brand => SortValue::Text(p.brand.as_str().to_string()),
            SortField::Price => SortValue::Int(p.price.cents()),
            SortField::StockQuantity => SortValue::Int(p.stock_quantity),
            SortField::Rating => SortValue::Int(i64::from(p.rating.tenths())),
            SortField::CreatedAt => SortValue::Time(p.created_at),
            SortField::UpdatedAt => SortValue::Time(p.updated_at),
            SortField::Relevance => SortValue::Int(search.map_or(0, |s| s.score(p))),
        }
    }

    /// Whether this value has the type `field` sorts by.
    pub fn fits(&self, field: SortField) -> bool {
        matches!(
            (field, self),
            (
                SortField::Id
                    | SortField::Price
                    | SortField::StockQuantity
                    | SortField::Rating
                    | SortField::Relevance,
                SortValue::Int(_)
            ) | (
                SortField::Sku | SortField::Name | SortField::Category | SortField::Brand,
                SortValue::Text(_)
            ) | (
                SortField::CreatedAt | SortField::UpdatedAt,
                SortValue::Time(_)
            )
        )
    }
}

/// The key tuple of `p` under `sort`.
pub fn sort_values(sort: &[SortKey], p: &Product, search: Option<&SearchQuery>) -> Vec<SortValue> {
    sort.iter()
        .map(|k| SortValue::of(k.field, p, search))
        .collect()
}

/// Compares two key tuples under `sort` (the reference order every adapter
/// MUST reproduce; strings compare by code point).
pub fn compare_keys(sort: &[SortKey], a: &[SortValue], b: &[SortValue]) -> std::cmp::Ordering {
    for (k, (x, y)) in sort.iter().zip(a.iter().zip(b.iter())) {
        let ord = x.cmp(y);
        let ord = if k.descending { ord.reverse() } else { ord };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

/// A product field, for `fields=` projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    Sku,
    Name,
    Description,
    Category,
    Brand,
    Price,
    StockQuantity,
    Rating,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Id,
        Field::Sku,
        Field::Name,
        Field::Description,
        Field::Category,
        Field::Brand,
        Field::Price,
        Field::StockQuantity,
        Field::Rating,
        Field::IsActive,
        Field::CreatedAt,
        Field::UpdatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Sku => "sku",
            Field::Name => "name",
            Field::Description => "description",
            Field::Category => "category",
            Field::Brand => "brand",
            Field::Price => "price",
            Field::StockQuantity => "stock_quantity",
            Field::Rating => "rating",
            Field::IsActive => "is_active",
            Field::CreatedAt => "created_at",
            Field::UpdatedAt => "updated_at",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fields to return; `id` is always in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FieldSet(u16);

impl FieldSet {
    pub fn contains(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn fields(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The projection of `p` on this set, as a JSON object.
    pub fn project(self, p: &Product) -> serde_json::Value {
        let mut full = match serde_json::to_value(p) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let mut out = serde_json::Map::new();
        for f in self.fields() {
            if let Some(v) = full.remove(f.name()) {
                out.insert(f.name().to_string(), v);
            }
        }
        serde_json::Value::Object(out)
    }
}

/// Whether the list computes `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum CountMode {
    #[default]
    Exact,
    /// The database planner's estimate for large results, exact below
    /// [`crate::service::ESTIMATE_THRESHOLD`]; the body says which.
    Estimated,
    None,
}

/// Where a page starts: after skipping rows, or after a keyset position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Start {
    Offset(u64),
    After(Vec<SortValue>),
}

/// A validated list request. Its JSON form is canonical (filters sorted and
/// de-duplicated), so it doubles as the cache key material.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ListQuery {
    pub filter: ProductFilter,
    /// Total order: always ends with `id` (ascending unless named).
    pub sort: Vec<SortKey>,
    pub limit: PageSize,
    pub start: Start,
    pub fields: Option<FieldSet>,
    pub count: CountMode,
}

impl ListQuery {
    pub fn offset(&self) -> u64 {
        match self.start {
            Start::Offset(o) => o,
            Start::After(_) => 0,
        }
    }
}

/// Raw query parameters, as received, in order. Parameters the contract does
/// not name are ignored (cache busters, tracking tags).
#[derive(Debug, Clone, Default)]
pub struct ListParams<'a> {
    pairs: &'a [(String, String)],
}

const FILTER_PARAMS: [&str; 9] = [
    "category",
    "brand",
    "min_price",
    "max_price",
    "min_rating",
    "in_stock",
    "is_active",
    "search",
    "fuzzy",
];

impl<'a> ListParams<'a> {
    pub fn new(pairs: &'a [(String, String)]) -> Self {
        Self { pairs }
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &'a str> + use<'a, '_> {
        let name = name.to_string();
        self.pairs
            .iter()
            .filter(move |(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The single value of `name`; a repeated scalar is an error.
    fn one(&self, name: &str, errors: &mut ValidationErrors) -> Option<&'a str> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            errors.push(name, "must be given at most once");
            return None;
        }
        first
    }

    fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Parses the filter parameters (list, stats and facets share them).
    pub fn filter(&self, errors: &mut ValidationErrors) -> ProductFilter {
        let mut f = ProductFilter {
            categories: self.names("category", errors),
            brands: self.names("brand", errors),
            ..ProductFilter::default()
        };
        f.min_price = self.one("min_price", errors).and_then(|raw| {
            Price::parse(raw)
                .map_err(|m| errors.push("min_price", m))
                .ok()
        });
        f.max_price = self.one("max_price", errors).and_then(|raw| {
            Price::parse(raw)
                .map_err(|m| errors.push("max_price", m))
                .ok()
        });
        if let (Some(lo), Some(hi)) = (f.min_price, f.max_price)
            && lo > hi
        {
            errors.push("min_price", "must not be greater than max_price");
        }
        f.min_rating = self.one("min_rating", errors).and_then(|raw| {
            parse_min_rating(raw)
                .map_err(|m| errors.push("min_rating", m))
                .ok()
        });
        f.in_stock = self.bool("in_stock", errors);
        f.is_active = self.bool("is_active", errors);
        f.search = self.one("search", errors).and_then(|raw| {
            SearchQuery::parse(raw)
                .map_err(|m| errors.push("search", m))
                .ok()
        });
        // Without a search there is nothing to be tolerant about: ignored,
        // so equal listings share one cache entry and cursor.
        f.fuzzy = self.bool("fuzzy", errors) == Some(true) && f.search.is_some();
        f
    }

    fn names(&self, name: &str, errors: &mut ValidationErrors) -> Vec<Label> {
        let mut set = BTreeSet::new();
        for raw in self.all(name) {
            match Label::compared(raw) {
                Ok(label) => {
                    set.insert(label);
                }
                Err(m) => errors.push(name, m),
            }
        }
        if set.len() > MAX_FILTER_VALUES {
            errors.push(
                name,
                format!("may be given at most {MAX_FILTER_VALUES} times"),
            );
        }
        set.into_iter().collect()
    }

    fn bool(&self, name: &str, errors: &mut ValidationErrors) -> Option<bool> {
        match self.one(name, errors)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                errors.push(name, "must be true or false");
                None
            }
        }
    }

    fn uint(&self, name: &str, errors: &mut ValidationErrors) -> Option<u64> {
        let raw = self.one(name, errors)?;
        if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(name, "must be a non-negative integer");
            return None;
        }
        // Bounded by what SQL's BIGINT OFFSET accepts.
        raw.parse::<u64>()
            .ok()
            .filter(|n| i64::try_from(*n).is_ok())
            .or_else(|| {
                errors.push(name, "must be a non-negative integer below 2^63");
                None
            })
    }

    fn has_filter_params(&self) -> bool {
        FILTER_PARAMS.iter().any(|p| self.has(p))
    }

    /// Parses a whole list request. Every offending parameter is reported.
    /// `max_offset` bounds `offset` when set.
    pub fn list(
        &self,
        key: &CursorKey,
        max_offset: Option<u64>,
    ) -> Result<ListQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let filter = self.filter(&mut errors);
        let limit = self
            .uint("limit", &mut errors)
            .and_then(|l| PageSize::new(l).map_err(|m| errors.push("limit", m)).ok());
        let offset = self.uint("offset", &mut errors);
        if let (Some(o), Some(max)) = (offset, max_offset)
            && o > max
        {
            errors.push(
                "offset",
                format!(
                    "must be at most {max}; for deeper pages follow next_cursor \
                     (the cursor parameter), which is as fast at any depth"
                ),
            );
        }
        let sort = self
            .one("sort", &mut errors)
            .and_then(|raw| parse_sort(raw).map_err(|m| errors.push("sort", m)).ok());
        let fields = self
            .one("fields", &mut errors)
            .and_then(|raw| parse_fields(raw).map_err(|m| errors.push("fields", m)).ok());
        let count = match self.one("count", &mut errors) {
            None | Some("exact") => CountMode::Exact,
            Some("none") => CountMode::None,
            Some("estimated") => CountMode::Estimated,
            Some(_) => {
                errors.push("count", "must be exact, estimated or none");
                CountMode::Exact
            }
        };
        let cursor = self.one("cursor", &mut errors).and_then(|raw| {
            Cursor::decode(raw, key)
                .map_err(|m| errors.push("cursor", m))
                .ok()
        });
        let offset_given = offset.is_some_and(|o| o > 0);

        let (filter, sort, limit, start) = match cursor {
            Some(c) => {
                if offset_given {
                    errors.push("cursor", "cannot be combined with offset");
                    errors.push("offset", "must be 0 or absent when a cursor is given");
                }
                if self.has_filter_params() && filter != c.filter {
                    errors.push(
                        "cursor",
                        "does not match the filter parameters sent with it",
                    );
                }
                // The same sort sent again resolves to the cursor's order
                // (with its id tie-breaker).
                if let Some(s) = &sort
                    && resolve_sort(Some(s.clone()), c.filter.search.is_some()) != c.sort
                {
                    errors.push("cursor", "does not match the sort parameter sent with it");
                }
                (
                    c.filter,
                    c.sort,
                    limit.unwrap_or(c.limit),
                    Start::After(c.after),
                )
            }
            None => {
                let sort = resolve_sort(sort, filter.search.is_some());
                (
                    filter,
                    sort,
                    limit.unwrap_or_default(),
                    Start::Offset(offset.unwrap_or(0)),
                )
            }
        };
        errors.into_result(ListQuery {
            filter,
            sort,
            limit,
            start,
            fields,
            count,
        })
    }
}

/// Completes a requested sort into a total order: relevance for a search
/// with no sort, `id` otherwise, and `id` ascending as the final tie-breaker.
/// Keys after a unique one (`id`, `sku`) can never decide an order, so they
/// are dropped: `sort=-sku` is `sku DESC` alone, which the sku's unique
/// index serves in either direction, rather than `sku DESC, id`, which no
/// index does.
pub fn resolve_sort(requested: Option<Vec<SortKey>>, searching: bool) -> Vec<SortKey> {
    let mut keys = match requested {
        Some(k) => k,
        None if searching => vec![SortKey {
            field: SortField::Relevance,
            descending: true,
        }],
        None => Vec::new(),
    };
    let unique = |k: &SortKey| matches!(k.field, SortField::Id | SortField::Sku);
    match keys.iter().position(unique) {
        Some(last) => keys.truncate(last + 1),
        None => keys.push(SortKey::ID),
    }
    keys
}

/// `price,-rating` → keys (without the tie-breaker).
pub fn parse_sort(raw: &str) -> Result<Vec<SortKey>, String> {
    let mut keys: Vec<SortKey> = Vec::new();
    for part in raw.split(',') {
        let part = part.trim();
        let (descending, name) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let Some(field) = SortField::from_public_name(name) else {
            let allowed: Vec<&str> = SortField::PUBLIC.iter().map(|f| f.name()).collect();
            return Err(format!(
                "unknown sort field '{}'; allowed: {} (prefix - for descending)",
                truncate(part, 40),
                allowed.join(", ")
            ));
        };
        if keys.iter().any(|k| k.field == field) {
            return Err(format!("names '{name}' more than once"));
        }
        keys.push(SortKey { field, descending });
    }
    Ok(keys)
}

/// `name,price` → a field set (with `id`).
pub fn parse_fields(raw: &str) -> Result<FieldSet, String> {
    let mut bits = Field::Id.bit();
    for part in raw.split(',') {
        let part = part.trim();
        let Some(f) = Field::ALL.into_iter().find(|f| f.name() == part) else {
            let allowed: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            return Err(format!(
                "unknown field '{}'; allowed: {}",
                truncate(part, 40),
                allowed.join(", ")
            ));
        };
        bits |= f.bit();
    }
    Ok(FieldSet(bits))
}

/// `min_rating`: 0–5. Ratings are tenths, so a finer bound rounds up:
/// `3.95` keeps 4.0 and drops 3.9, exactly as the inequality says.
fn parse_min_rating(raw: &str) -> Result<Rating, String> {
    let msg = || "must be a number between 0 and 5".to_string();
    let value: f64 = raw.trim().parse().map_err(|_| msg())?;
    if !value.is_finite() || !(0.0..=5.0).contains(&value) || raw.contains(['e', 'E']) {
        return Err(msg());
    }
    let tenths = (value * 10.0 - 1e-9).ceil().max(0.0) as i64;
    Rating::from_tenths(tenths)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn parse(q: &str) -> Result<ListQuery, ValidationErrors> {
        let p = pairs(q);
        ListParams::new(&p).list(&CursorKey::new(b"test"), None)
    }

    fn fields_of(e: ValidationErrors) -> Vec<String> {
        e.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn defaults() {
        let q = parse("").unwrap();
        assert_eq!(q.limit, 20);
        assert_eq!(q.start, Start::Offset(0));
        assert_eq!(q.sort, vec![SortKey::ID]);
        assert_eq!(q.count, CountMode::Exact);
        assert!(q.filter.is_empty());
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(parse("limit=1").unwrap().limit, 1);
        assert_eq!(parse("limit=100").unwrap().limit, 100);
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=1&limit=2",
        ] {
            assert_eq!(fields_of(parse(bad).unwrap_err()), vec!["limit"], "{bad}");
        }
    }

    #[test]
    fn offset_must_be_non_negative() {
        assert_eq!(parse("offset=40").unwrap().start, Start::Offset(40));
        assert_eq!(fields_of(parse("offset=-1").unwrap_err()), vec!["offset"]);
    }

    #[test]
    fn offset_bound_when_configured() {
        let key = CursorKey::new(b"test");
        let at = |q: &str| ListParams::new(&pairs(q)).list(&key, Some(10_000));
        assert_eq!(at("offset=10000").unwrap().start, Start::Offset(10_000));
        let e = at("offset=10001").unwrap_err();
        assert_eq!(e.0[0].field, "offset");
        assert!(e.0[0].message.contains("cursor"), "{}", e.0[0].message);
        assert!(parse("offset=10000001").is_ok(), "unbounded by default");
    }

    #[test]
    fn fuzzy_only_with_a_search() {
        assert!(parse("search=abc&fuzzy=true").unwrap().filter.fuzzy);
        assert!(!parse("search=abc&fuzzy=false").unwrap().filter.fuzzy);
        assert!(!parse("fuzzy=true").unwrap().filter.fuzzy);
        assert_eq!(
            fields_of(parse("search=a&fuzzy=yes").unwrap_err()),
            vec!["fuzzy"]
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let e = parse("limit=0&min_price=x&in_stock=yes&sort=bogus&fields=nope&count=maybe&min_rating=6&search=")
            .unwrap_err();
        let mut f = fields_of(e);
        f.sort();
        assert_eq!(
            f,
            vec![
                "count",
                "fields",
                "in_stock",
                "limit",
                "min_price",
                "min_rating",
                "search",
                "sort"
            ]
        );
    }

    #[test]
    fn price_range_must_be_ordered() {
        assert_eq!(
            fields_of(parse("min_price=10&max_price=5").unwrap_err()),
            vec!["min_price"]
        );
        assert!(parse("min_price=5&max_price=5").is_ok());
    }

    #[test]
    fn repeated_categories_are_canonical() {
        let a = parse("category=B&category=A&category=B").unwrap();
        assert_eq!(a.filter.categories, vec!["A", "B"]);
        let b = parse("category=A&category=B").unwrap();
        assert_eq!(a.filter, b.filter);
    }

    #[test]
    fn sort_parsing() {
        let q = parse("sort=-price,name").unwrap();
        assert_eq!(
            q.sort,
            vec![
                SortKey {
                    field: SortField::Price,
                    descending: true
                },
                SortKey {
                    field: SortField::Name,
                    descending: false
                },
                SortKey::ID,
            ]
        );
        let q = parse("sort=-id").unwrap();
        assert_eq!(
            q.sort,
            vec![SortKey {
                field: SortField::Id,
                descending: true
            }]
        );
        // sku is unique: nothing after it can decide, not even the id.
        let sku_desc = SortKey {
            field: SortField::Sku,
            descending: true,
        };
        assert_eq!(parse("sort=-sku").unwrap().sort, vec![sku_desc]);
        assert_eq!(
            parse("sort=-sku,price").unwrap().sort,
            vec![sku_desc],
            "keys after a unique one are dropped"
        );
        assert_eq!(
            parse("sort=rating,sku").unwrap().sort,
            vec![
                SortKey {
                    field: SortField::Rating,
                    descending: false
                },
                SortKey {
                    field: SortField::Sku,
                    descending: false
                },
            ]
        );
        assert!(parse("sort=price,price").is_err());
        assert!(parse("sort=relevance").is_err());
        assert!(parse("sort=").is_err());
        assert!(parse("sort=is_active").is_err());
    }

    #[test]
    fn search_defaults_to_relevance() {
        let q = parse("search=Red Shoe").unwrap();
        assert_eq!(q.sort[0].field, SortField::Relevance);
        assert!(parse(&format!("search={}", "a".repeat(201))).is_err());
        assert!(parse(&format!("search={}", "a".repeat(200))).is_ok());
        assert!(parse("search=  ").is_err());
    }

    #[test]
    fn fields_projection() {
        let q = parse("fields=name,price").unwrap();
        let f = q.fields.unwrap();
        assert!(f.contains(Field::Id) && f.contains(Field::Name) && f.contains(Field::Price));
        assert!(!f.contains(Field::Sku));
    }

    #[test]
    fn min_rating_rounds_up_to_tenths() {
        assert_eq!(
            parse("min_rating=3.95")
                .unwrap()
                .filter
                .min_rating
                .map(Rating::tenths),
            Some(40)
        );
        assert_eq!(
            parse("min_rating=4")
                .unwrap()
                .filter
                .min_rating
                .map(Rating::tenths),
            Some(40)
        );
        assert!(parse("min_rating=5.5").is_err());
        assert!(parse("min_rating=NaN").is_err());
    }

    #[test]
    fn count_modes() {
        assert_eq!(
            parse("count=estimated").unwrap().count,
            CountMode::Estimated
        );
        assert_eq!(parse("count=none").unwrap().count, CountMode::None);
        assert!(parse("count=approx").is_err());
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(parse("in_stock=true").unwrap().filter.in_stock, Some(true));
        assert_eq!(
            parse("is_active=false").unwrap().filter.is_active,
            Some(false)
        );
        assert!(parse("in_stock=1").is_err());
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(parse("_=123&utm_source=x").is_ok());
    }
}
