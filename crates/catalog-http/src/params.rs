//! The query parameters of the list, stats and facet reads, written once:
//! each struct is both what the handlers deserialize and what the OpenAPI
//! document describes (`IntoParams`), so the contract cannot drift from the
//! parser.
//!
//! Every field holds the raw strings as sent (a parameter may repeat), so
//! reading them never fails; turning them into the domain's typed requests
//! then reports every offending parameter by its name in one
//! [`ValidationErrors`]. Parameters not named here are ignored (cache
//! busters, tracking tags).

use std::collections::BTreeMap;

use catalog_domain::cursor::{Cursor, CursorKey};
use catalog_domain::query::{
    LabelFilter, MAX_FILTER_VALUES, parse_fields, parse_min_rating, parse_sort,
};
use catalog_domain::{
    CountMode, FilterRequest, Label, ListQuery, ListRefusal, ListRequest, PageSize, Price,
    ProductFilter, SearchQuery, ValidationErrors,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::value::{Error as ValueError, MapDeserializer};
use utoipa::IntoParams;

use crate::error::ApiError;

/// Filters shared by the list, stats and facets.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Exact, case-sensitive match; repeat for any of several (up to 100).
    /// Each value is 1–100 characters and compared exactly as given: a
    /// value no product's category can hold (a line break, surrounding
    /// spaces) matches nothing rather than being refused.
    #[serde(default)]
    #[param(value_type = Option<Vec<crate::docs::LabelFilterDoc>>, max_items = 100)]
    pub category: Vec<String>,
    /// Exact match; repeat for any of several (up to 100). Each value is
    /// 1–100 characters, compared exactly as given (see `category`).
    #[serde(default)]
    #[param(value_type = Option<Vec<crate::docs::LabelFilterDoc>>, max_items = 100)]
    pub brand: Vec<String>,
    /// Inclusive lower price bound: a decimal 0–1,000,000 with at most 2
    /// decimals, no sign or exponent (`19.99`). Above `max_price` is a 422
    /// naming `min_price`.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = r"^\s*(0{0,6}[0-9]{1,6}(\.[0-9]{1,2})?|0{0,5}1000000(\.0{1,2})?)\s*$", example = "19.99")]
    pub min_price: Vec<String>,
    /// Inclusive upper price bound, written as `min_price`.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = r"^\s*(0{0,6}[0-9]{1,6}(\.[0-9]{1,2})?|0{0,5}1000000(\.0{1,2})?)\s*$", example = "250")]
    pub max_price: Vec<String>,
    /// Minimum rating: a decimal 0–5, no sign or exponent. Ratings are
    /// tenths, so a finer bound rounds up (`3.95` keeps 4.0, drops 3.9).
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = r"^\s*0*([0-4](\.[0-9]+)?|5(\.0+)?)\s*$", example = "4")]
    pub min_rating: Vec<String>,
    /// `true`: stock_quantity > 0; `false`: stock_quantity = 0.
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    pub in_stock: Vec<String>,
    #[serde(default)]
    #[param(value_type = Option<bool>)]
    pub is_active: Vec<String>,
    /// 1–200 chars; case-insensitive full-text search over name,
    /// description and sku. Words (runs of letters and digits) are ANDed;
    /// `"quoted words"` must be adjacent, in order; `-word` excludes; the
    /// last word also matches as a prefix (`headph` finds headphones). A
    /// product whose sku equals the search always matches and comes first.
    /// Results by relevance (exact sku, then how many words are in the
    /// name) unless `sort` is given.
    #[serde(default)]
    /// Control characters are refused; so is a value that is empty after
    /// trimming.
    #[param(
        value_type = Option<String>,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
        example = "wireless \"noise cancelling\" -refurbished"
    )]
    pub search: Vec<String>,
    /// `true`: typo-tolerant `search`. Each word of 4 or more letters also
    /// matches indexed words within 1 edit (2 from 8 letters); exact
    /// matches rank first. Phrases, exclusions and the sku stay exact.
    /// Ignored without `search`. Default `false`: exact and predictable.
    #[serde(default)]
    #[param(value_type = Option<bool>, default = false)]
    pub fuzzy: Vec<String>,
}

/// Parameters of the product list (besides its [`FilterParams`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Documented by its own `IntoParams`.
    #[serde(flatten)]
    #[param(ignore)]
    pub filter: FilterParams,
    /// Page size, 1–100.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Vec<String>,
    /// Rows to skip, ≥ 0. Not combinable with `cursor`. A deployment may
    /// bound it (`CATALOG_MAX_OFFSET`): deeper is a 422 naming `offset` that
    /// points to `cursor`, which is as fast at any depth.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9223372036854775807_i64, default = 0)]
    pub offset: Vec<String>,
    /// Opaque token from a previous `next_cursor`: continues that listing
    /// (its filters and sort) by keyset, without an OFFSET scan. Signed: any
    /// other value, or one sent beside different filters or sort, is a 422
    /// naming `cursor`; so is `offset` > 0 beside it.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")]
    pub cursor: Vec<String>,
    /// Comma list of fields from id, sku, name, category, brand, price,
    /// stock_quantity, rating, created_at, updated_at; `-` prefix for
    /// descending. Default `id` (relevance when `search` is given); `id`
    /// ascending is always the final tie-breaker. Each key at most once.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "-price,name", pattern = r"^\s*[+-]?(id|sku|name|category|brand|price|stock_quantity|rating|created_at|updated_at)\s*(,\s*[+-]?(id|sku|name|category|brand|price|stock_quantity|rating|created_at|updated_at)\s*)*$")]
    pub sort: Vec<String>,
    /// Comma list of product fields to return (id is always included);
    /// the items are then `ProductProjection`s.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "name,price", pattern = r"^\s*(id|sku|name|description|category|brand|price|stock_quantity|rating|is_active|created_at|updated_at)\s*(,\s*(id|sku|name|description|category|brand|price|stock_quantity|rating|is_active|created_at|updated_at)\s*)*$")]
    pub fields: Vec<String>,
    /// `exact` (default), `estimated` (the planner's estimate when above
    /// 10,000 rows, exact below; see `total_is_exact`) or `none` (then
    /// `total` is null and no count query runs).
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^(exact|estimated|none)$")]
    pub count: Vec<String>,
}

/// Reads a query string into one of the parameter structs. Undecodable URL
/// encoding is a 400; anything else is read as raw strings, so it is the
/// typed conversion that judges values.
pub fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .map_err(|_| ApiError::BadRequest("the query string is not valid URL encoding".into()))?;
    // serde_urlencoded keeps only one value of a repeated key: group them
    // here so a repeated parameter reaches its field whole.
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        grouped.entry(k).or_default().push(v);
    }
    T::deserialize(MapDeserializer::<_, ValueError>::new(grouped.into_iter()))
        .map_err(|e| ApiError::BadRequest(format!("unreadable query parameters: {e}")))
}

/// The single value of a parameter; a repeated scalar is an error.
fn one(errors: &mut ValidationErrors, name: &str, values: Vec<String>) -> Option<String> {
    let mut values = values.into_iter();
    let first = values.next();
    if values.next().is_some() {
        errors.push(name, "must be given at most once");
        return None;
    }
    first
}

/// The single value of a parameter through a domain constructor, whose
/// message is reported under the parameter's name.
pub(crate) fn typed<T>(
    errors: &mut ValidationErrors,
    name: &str,
    values: Vec<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let raw = one(errors, name, values)?;
    parse(&raw).map_err(|m| errors.push(name, m)).ok()
}

pub(crate) fn boolean(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn non_negative(raw: &str) -> Result<u64, String> {
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a non-negative integer".into());
    }
    // Bounded by what SQL's BIGINT OFFSET accepts.
    raw.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| "must be a non-negative integer below 2^63".into())
}

fn labels(errors: &mut ValidationErrors, name: &str, values: Vec<String>) -> Vec<Label> {
    values
        .iter()
        .filter_map(|raw| Label::compared(raw).map_err(|m| errors.push(name, m)).ok())
        .collect()
}

/// Names what the domain refused, as the wire format spells it.
fn name_refusals(errors: &mut ValidationErrors, refusals: Vec<ListRefusal>) {
    for r in refusals {
        match r {
            ListRefusal::TooManyValues(which) => errors.push(
                match which {
                    LabelFilter::Categories => "category",
                    LabelFilter::Brands => "brand",
                },
                format!("may be given at most {MAX_FILTER_VALUES} times"),
            ),
            ListRefusal::PriceRangeReversed => {
                errors.push("min_price", "must not be greater than max_price");
            }
            ListRefusal::OffsetTooDeep { max } => errors.push(
                "offset",
                format!(
                    "must be at most {max}; for deeper pages follow next_cursor \
                     (the cursor parameter), which is as fast at any depth"
                ),
            ),
            ListRefusal::CursorWithOffset => {
                errors.push("cursor", "cannot be combined with offset");
                errors.push("offset", "must be 0 or absent when a cursor is given");
            }
            ListRefusal::CursorFilterMismatch => {
                errors.push(
                    "cursor",
                    "does not match the filter parameters sent with it",
                );
            }
            ListRefusal::CursorSortMismatch => {
                errors.push("cursor", "does not match the sort parameter sent with it");
            }
        }
    }
}

impl FilterParams {
    /// The typed filter request; offending values are reported and left out.
    fn into_request(self, errors: &mut ValidationErrors) -> FilterRequest {
        FilterRequest {
            categories: labels(errors, "category", self.category),
            brands: labels(errors, "brand", self.brand),
            min_price: typed(errors, "min_price", self.min_price, Price::parse),
            max_price: typed(errors, "max_price", self.max_price, Price::parse),
            min_rating: typed(errors, "min_rating", self.min_rating, parse_min_rating),
            in_stock: typed(errors, "in_stock", self.in_stock, boolean),
            is_active: typed(errors, "is_active", self.is_active, boolean),
            search: typed(errors, "search", self.search, SearchQuery::parse),
            fuzzy: typed(errors, "fuzzy", self.fuzzy, boolean),
        }
    }

    /// The filter of a stats or facets request.
    pub fn into_filter(self) -> Result<ProductFilter, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let request = self.into_request(&mut errors);
        match request.build() {
            Ok(filter) => errors.into_result(filter),
            Err(refusals) => {
                name_refusals(&mut errors, refusals);
                Err(errors)
            }
        }
    }
}

impl ListParams {
    /// The list query: every parameter read by the domain's constructors
    /// (the cursor verified with `key`), then the domain's rules that
    /// combine them (`max_offset` bounds `offset` when set).
    pub fn into_query(
        self,
        key: &CursorKey,
        max_offset: Option<u64>,
    ) -> Result<ListQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let request = ListRequest {
            filter: self.filter.into_request(&mut errors),
            limit: typed(&mut errors, "limit", self.limit, |raw| {
                PageSize::new(non_negative(raw)?)
            }),
            offset: typed(&mut errors, "offset", self.offset, non_negative),
            sort: typed(&mut errors, "sort", self.sort, parse_sort),
            fields: typed(&mut errors, "fields", self.fields, parse_fields),
            count: typed(&mut errors, "count", self.count, CountMode::parse),
            cursor: typed(&mut errors, "cursor", self.cursor, |raw| {
                Cursor::decode(raw, key)
            }),
        };
        match request.build(max_offset) {
            Ok(query) => errors.into_result(query),
            Err(refusals) => {
                name_refusals(&mut errors, refusals);
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use catalog_domain::Rating;
    use catalog_domain::query::{Field, SortField, SortKey, Start};

    use super::*;

    fn parse_at(q: &str, max_offset: Option<u64>) -> Result<ListQuery, ValidationErrors> {
        let params: ListParams = from_query(q).unwrap();
        params.into_query(&CursorKey::new(b"test"), max_offset)
    }

    fn parse(q: &str) -> Result<ListQuery, ValidationErrors> {
        parse_at(q, None)
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
        let at = |q: &str| parse_at(q, Some(10_000));
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
    fn min_rating_is_plain_decimal_digits() {
        // Exactly what the OpenAPI pattern publishes.
        for ok in [
            "0",
            "5",
            "5.000",
            "0005",
            "4.99999999999999999999",
            " 3.5 ",
            "00.1",
        ] {
            assert!(parse(&format!("min_rating={ok}")).is_ok(), "{ok:?}");
        }
        for bad in [
            "%2B1",
            "1e0",
            ".5",
            "5.",
            "5.0001",
            "5.000000000000000001",
            "10",
            "inf",
            "-0",
            "",
            "1.2.3",
        ] {
            assert_eq!(
                fields_of(parse(&format!("min_rating={bad}")).unwrap_err()),
                vec!["min_rating"],
                "{bad:?}"
            );
        }
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

    #[test]
    fn filter_params_alone() {
        let f: FilterParams = from_query("category=Books&limit=oops").unwrap();
        assert_eq!(f.into_filter().unwrap().categories, vec!["Books"]);
        let f: FilterParams = from_query("brand=&brand=x&min_price=1&min_price=2").unwrap();
        let mut named = fields_of(f.into_filter().unwrap_err());
        named.sort();
        assert_eq!(named, vec!["brand", "min_price"]);
    }
}
