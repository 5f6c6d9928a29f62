//! The query language of the list, stats and facet reads: filters, sort keys,
//! pages (offset or keyset cursor), projections and count modes, and the
//! rules that combine them. Values arrive typed ([`FilterRequest`],
//! [`ListRequest`]); the edge reads them off its wire format and names what
//! a [`ListRefusal`] refuses.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cursor::Cursor;
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

impl CountMode {
    /// `exact`, `estimated` or `none`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "exact" => Ok(CountMode::Exact),
            "estimated" => Ok(CountMode::Estimated),
            "none" => Ok(CountMode::None),
            _ => Err("must be exact, estimated or none".into()),
        }
    }
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

/// A label filter: which of the two a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFilter {
    Categories,
    Brands,
}

/// A rule of the query language that a combination of inputs broke. The
/// edge names the inputs as its wire format spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListRefusal {
    /// More than [`MAX_FILTER_VALUES`] values, repeats included (what the
    /// wire format can state: the OpenAPI document's `maxItems`).
    TooManyValues(LabelFilter),
    /// The lower price bound is above the upper one.
    PriceRangeReversed,
    /// The offset is above the deployment's bound.
    OffsetTooDeep { max: u64 },
    /// A cursor and an offset > 0: two starts.
    CursorWithOffset,
    /// Filters sent beside a cursor differ from the ones it carries.
    CursorFilterMismatch,
    /// A sort sent beside a cursor differs from the one it carries.
    CursorSortMismatch,
}

/// The filters of a request as typed values, before the rules that combine
/// them. `None` (or empty) is "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterRequest {
    pub categories: Vec<Label>,
    pub brands: Vec<Label>,
    pub min_price: Option<Price>,
    pub max_price: Option<Price>,
    pub min_rating: Option<Rating>,
    pub in_stock: Option<bool>,
    pub is_active: Option<bool>,
    pub search: Option<SearchQuery>,
    pub fuzzy: Option<bool>,
}

impl FilterRequest {
    /// Whether any filter was given (a cursor then checks they are its own).
    fn is_given(&self) -> bool {
        *self != Self::default()
    }

    /// The canonical filter: values sorted and de-duplicated, bounds checked.
    pub fn build(self) -> Result<ProductFilter, Vec<ListRefusal>> {
        let mut refusals = Vec::new();
        let filter = self.build_into(&mut refusals);
        if refusals.is_empty() {
            Ok(filter)
        } else {
            Err(refusals)
        }
    }

    fn build_into(self, refusals: &mut Vec<ListRefusal>) -> ProductFilter {
        let mut distinct = |values: Vec<Label>, which| {
            if values.len() > MAX_FILTER_VALUES {
                refusals.push(ListRefusal::TooManyValues(which));
            }
            let set: BTreeSet<Label> = values.into_iter().collect();
            set.into_iter().collect::<Vec<_>>()
        };
        let categories = distinct(self.categories, LabelFilter::Categories);
        let brands = distinct(self.brands, LabelFilter::Brands);
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price)
            && lo > hi
        {
            refusals.push(ListRefusal::PriceRangeReversed);
        }
        // Without a search there is nothing to be tolerant about: ignored,
        // so equal listings share one cache entry and cursor.
        let fuzzy = self.fuzzy == Some(true) && self.search.is_some();
        ProductFilter {
            categories,
            brands,
            min_price: self.min_price,
            max_price: self.max_price,
            min_rating: self.min_rating,
            in_stock: self.in_stock,
            is_active: self.is_active,
            search: self.search,
            fuzzy,
        }
    }
}

/// A list request as typed values, before the rules that combine them
/// (cursor against offset and filters, the offset bound, sort completion).
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub filter: FilterRequest,
    pub limit: Option<PageSize>,
    pub offset: Option<u64>,
    pub sort: Option<Vec<SortKey>>,
    pub fields: Option<FieldSet>,
    pub count: Option<CountMode>,
    /// A cursor already verified with the deployment's key.
    pub cursor: Option<Cursor>,
}

impl ListRequest {
    /// The validated query, or every rule the combination breaks.
    /// `max_offset` bounds `offset` when set.
    pub fn build(self, max_offset: Option<u64>) -> Result<ListQuery, Vec<ListRefusal>> {
        let mut refusals = Vec::new();
        let filter_given = self.filter.is_given();
        let filter = self.filter.build_into(&mut refusals);
        if let (Some(o), Some(max)) = (self.offset, max_offset)
            && o > max
        {
            refusals.push(ListRefusal::OffsetTooDeep { max });
        }
        let (filter, sort, limit, start) = match self.cursor {
            Some(c) => {
                if self.offset.is_some_and(|o| o > 0) {
                    refusals.push(ListRefusal::CursorWithOffset);
                }
                if filter_given && filter != c.filter {
                    refusals.push(ListRefusal::CursorFilterMismatch);
                }
                // The same sort sent again resolves to the cursor's order
                // (with its id tie-breaker).
                if let Some(s) = self.sort
                    && resolve_sort(Some(s), c.filter.search.is_some()) != c.sort
                {
                    refusals.push(ListRefusal::CursorSortMismatch);
                }
                (
                    c.filter,
                    c.sort,
                    self.limit.unwrap_or(c.limit),
                    Start::After(c.after),
                )
            }
            None => {
                let sort = resolve_sort(self.sort, filter.search.is_some());
                (
                    filter,
                    sort,
                    self.limit.unwrap_or_default(),
                    Start::Offset(self.offset.unwrap_or(0)),
                )
            }
        };
        if !refusals.is_empty() {
            return Err(refusals);
        }
        Ok(ListQuery {
            filter,
            sort,
            limit,
            start,
            fields: self.fields,
            count: self.count.unwrap_or_default(),
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

/// `min_rating`: a decimal 0–5 (digits, optionally `.` and more digits; no
/// sign, no exponent, as the prices). Ratings are tenths, so a finer bound
/// rounds up: `3.95` keeps 4.0 and drops 3.9, exactly as the inequality
/// says.
pub fn parse_min_rating(raw: &str) -> Result<Rating, String> {
    let msg = || "must be a number between 0 and 5".to_string();
    let text = raw.trim();
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return Err(msg());
    }
    // Decided on the digits, so `5.000000000000000001` (5.0 as a float)
    // is above 5 as written.
    let whole = int.trim_start_matches('0');
    let above_five = whole.len() > 1
        || whole > "5"
        || (whole == "5" && frac.is_some_and(|f| f.bytes().any(|b| b != b'0')));
    if above_five {
        return Err(msg());
    }
    let value: f64 = text.parse().map_err(|_| msg())?;
    let tenths = (value * 10.0 - 1e-9).ceil().max(0.0) as i64;
    Rating::from_tenths(tenths)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::CursorKey;

    fn label(raw: &str) -> Label {
        Label::compared(raw).unwrap()
    }

    #[test]
    fn defaults() {
        let q = ListRequest::default().build(None).unwrap();
        assert_eq!(q.limit, 20);
        assert_eq!(q.start, Start::Offset(0));
        assert_eq!(q.sort, vec![SortKey::ID]);
        assert_eq!(q.count, CountMode::Exact);
        assert!(q.filter.is_empty());
    }

    #[test]
    fn filters_are_canonical() {
        let a = FilterRequest {
            categories: vec![label("B"), label("A"), label("B")],
            ..FilterRequest::default()
        }
        .build()
        .unwrap();
        assert_eq!(a.categories, vec!["A", "B"]);
    }

    #[test]
    fn combination_rules() {
        let price = |c| Price::from_cents(c).ok();
        let reversed = FilterRequest {
            min_price: price(1000),
            max_price: price(500),
            ..FilterRequest::default()
        };
        assert_eq!(reversed.build(), Err(vec![ListRefusal::PriceRangeReversed]));
        let many = FilterRequest {
            brands: (0..=MAX_FILTER_VALUES)
                .map(|i| label(&i.to_string()))
                .collect(),
            ..FilterRequest::default()
        };
        assert_eq!(
            many.build(),
            Err(vec![ListRefusal::TooManyValues(LabelFilter::Brands)])
        );
        // Counted as given: repeats count too.
        let repeated = FilterRequest {
            brands: vec![label("A"); MAX_FILTER_VALUES + 1],
            ..FilterRequest::default()
        };
        assert_eq!(
            repeated.build(),
            Err(vec![ListRefusal::TooManyValues(LabelFilter::Brands)])
        );
        let deep = ListRequest {
            offset: Some(11),
            ..ListRequest::default()
        };
        assert_eq!(
            deep.build(Some(10)).unwrap_err(),
            vec![ListRefusal::OffsetTooDeep { max: 10 }]
        );
    }

    #[test]
    fn a_cursor_refuses_what_contradicts_it() {
        let key = CursorKey::new(b"k");
        let books = FilterRequest {
            categories: vec![label("Books")],
            ..FilterRequest::default()
        };
        let first = ListRequest {
            filter: books.clone(),
            ..ListRequest::default()
        }
        .build(None)
        .unwrap();
        let token = Cursor::new(
            first.filter.clone(),
            first.sort.clone(),
            first.limit,
            vec![SortValue::Int(1)],
        )
        .encode(&key)
        .unwrap();
        let cursor = || Cursor::decode(&token, &key).ok();
        let again = ListRequest {
            filter: books,
            cursor: cursor(),
            offset: Some(0),
            ..ListRequest::default()
        };
        assert_eq!(
            again.build(None).unwrap().start,
            Start::After(vec![SortValue::Int(1)])
        );
        let other = ListRequest {
            filter: FilterRequest {
                in_stock: Some(true),
                ..FilterRequest::default()
            },
            offset: Some(5),
            sort: Some(vec![SortKey {
                field: SortField::Price,
                descending: false,
            }]),
            cursor: cursor(),
            ..ListRequest::default()
        };
        assert_eq!(
            other.build(None).unwrap_err(),
            vec![
                ListRefusal::CursorWithOffset,
                ListRefusal::CursorFilterMismatch,
                ListRefusal::CursorSortMismatch
            ]
        );
    }
}
