//! The wire format of write bodies: one [`ProductBody`] names the members a
//! POST, PUT or PATCH body may hold, is what the handlers deserialize, and is
//! what the OpenAPI document describes (`ProductInput`, and `ProductPatch`
//! derived from it in [`crate::docs`]).
//!
//! Each member is kept as sent (absent, `null` or any JSON value) rather than
//! typed by serde, because a 422 names every offending member at once with
//! the contract's messages (`must be a string, not a number`), where serde
//! would stop at the first. The conversions here check the JSON types and
//! hand the values to the domain's rules ([`Sku::parse`], [`Label::parse`],
//! [`Price::from_f64`], ...), naming each offence by its member.
//!
//! Types are strict: a number sent as a string is invalid. Unknown members
//! and the server-set ones (`id`, `created_at`, `updated_at`) are refused.

use catalog_domain::write::{
    DEFAULT_DESCRIPTION, DEFAULT_IS_ACTIVE, DEFAULT_RATING, DEFAULT_STOCK_QUANTITY,
    check_description, check_name, check_stock_quantity,
};
use catalog_domain::{
    Change, Label, NewProduct, Price, ProductPatch, Rating, Sku, ValidationErrors,
};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Members the server sets: named as such when a body holds them.
const SERVER_SET: [&str; 3] = ["id", "created_at", "updated_at"];

/// One member of a body: `None` when absent, otherwise the value as sent
/// (`null` included, which `Option`'s own deserializer would fold into
/// `None`).
type Member = Option<Value>;

fn member<'de, D: Deserializer<'de>>(d: D) -> Result<Member, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A product as written by POST and PUT (server-set fields are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ProductInput, example = json!({
    "sku": "ELEC-000042", "name": "Wireless Headphones Pro", "description": "Over-ear, noise cancelling.",
    "category": "Electronics", "brand": "Acme", "price": 199.99, "stock_quantity": 12, "rating": 4.5, "is_active": true
}))]
pub struct ProductBody {
    /// Unique, 3–32 chars of A-Z 0-9 - (lower case is upper-cased;
    /// surrounding white space is trimmed).
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = String, required = true, pattern = r"^\s*[A-Za-z0-9-]{3,32}\s*$")]
    sku: Member,
    /// 1–200 characters after trimming; line breaks and tabs allowed, no
    /// other control characters.
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200,
        pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B-\x1F\x7F-\x9F]*$")]
    name: Member,
    /// Default "" (POST, PUT; `null` in a PATCH resets it). At most 5000
    /// characters after trimming; line breaks and tabs allowed, no other
    /// control characters.
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = String, max_length = 5000, pattern = r"^[^\x00-\x08\x0B-\x1F\x7F-\x9F]*$")]
    description: Member,
    /// 1–100 characters after trimming, no control characters at all (the
    /// one rule of a category or brand).
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")]
    category: Member,
    /// As `category`.
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")]
    brand: Member,
    /// A JSON number (not a string), 0–1,000,000, at most 2 decimals.
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000, multiple_of = 0.01)]
    price: Member,
    /// Default 0 (POST, PUT).
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = i64, minimum = 0)]
    stock_quantity: Member,
    /// Default 0.0 (POST, PUT); at most 1 decimal.
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = f64, minimum = 0, maximum = 5, multiple_of = 0.1)]
    rating: Member,
    /// Default true (POST, PUT).
    #[serde(default, deserialize_with = "member")]
    #[schema(value_type = bool)]
    is_active: Member,
    /// Every other member, to be refused by name.
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string<'v>(errors: &mut ValidationErrors, field: &str, v: &'v Value) -> Option<&'v str> {
    match v {
        Value::String(s) => Some(s),
        v => {
            errors.push(field, format!("must be a string, not {}", type_name(v)));
            None
        }
    }
}

fn number(errors: &mut ValidationErrors, field: &str, v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => {
            let f = n.as_f64();
            if f.is_none() {
                errors.push(field, "must be a number");
            }
            f
        }
        v => {
            errors.push(field, format!("must be a number, not {}", type_name(v)));
            None
        }
    }
}

/// A JSON integer. As in JSON Schema, a number with a zero fraction
/// (`12.0`) is an integer; `12.5` is not.
fn integer(errors: &mut ValidationErrors, field: &str, v: &Value) -> Option<i64> {
    // 2^63: the first float beyond i64.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(i),
            (None, Some(_), _) => {
                errors.push(field, "is too large");
                None
            }
            (None, None, Some(f)) if f.is_finite() && f.fract() == 0.0 => {
                if (-I64_END..I64_END).contains(&f) {
                    // Exact: a whole float within i64 converts without loss.
                    Some(f as i64)
                } else {
                    errors.push(field, "is too large");
                    None
                }
            }
            _ => {
                errors.push(field, "must be an integer");
                None
            }
        },
        v => {
            errors.push(field, format!("must be an integer, not {}", type_name(v)));
            None
        }
    }
}

fn boolean(errors: &mut ValidationErrors, field: &str, v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        v => {
            errors.push(field, format!("must be a boolean, not {}", type_name(v)));
            None
        }
    }
}

/// `rule`'s answer, its refusal pushed under `field`.
fn ruled<T>(errors: &mut ValidationErrors, field: &str, rule: Result<T, String>) -> Option<T> {
    rule.map_err(|m| errors.push(field, m)).ok()
}

// One converter per member, for a value that is there (`null` included:
// a whole body refuses it as the wrong type).
fn sku(e: &mut ValidationErrors, v: &Value) -> Option<Sku> {
    let s = string(e, "sku", v)?;
    ruled(e, "sku", Sku::parse(s))
}
fn name(e: &mut ValidationErrors, v: &Value) -> Option<String> {
    string(e, "name", v).map(|s| check_name(e, "name", s))
}
fn description(e: &mut ValidationErrors, v: &Value) -> Option<String> {
    string(e, "description", v).map(|s| check_description(e, "description", s))
}
fn label(e: &mut ValidationErrors, field: &str, v: &Value) -> Option<Label> {
    let s = string(e, field, v)?;
    ruled(e, field, Label::parse(s))
}
fn price(e: &mut ValidationErrors, v: &Value) -> Option<Price> {
    let f = number(e, "price", v)?;
    ruled(e, "price", Price::from_f64(f))
}
fn stock_quantity(e: &mut ValidationErrors, v: &Value) -> Option<i64> {
    let i = integer(e, "stock_quantity", v)?;
    ruled(e, "stock_quantity", check_stock_quantity(i))
}
fn rating(e: &mut ValidationErrors, v: &Value) -> Option<Rating> {
    let f = number(e, "rating", v)?;
    ruled(e, "rating", Rating::from_f64(f))
}
fn is_active(e: &mut ValidationErrors, v: &Value) -> Option<bool> {
    boolean(e, "is_active", v)
}

/// A required member: `is required` when absent.
fn required<T>(
    e: &mut ValidationErrors,
    field: &str,
    m: &Member,
    convert: impl FnOnce(&mut ValidationErrors, &Value) -> Option<T>,
) -> Option<T> {
    match m {
        Some(v) => convert(e, v),
        None => {
            e.push(field, "is required");
            None
        }
    }
}

/// An optional member: `default` when absent.
fn optional<T>(
    e: &mut ValidationErrors,
    m: &Member,
    default: impl FnOnce() -> T,
    convert: impl FnOnce(&mut ValidationErrors, &Value) -> Option<T>,
) -> Option<T> {
    match m {
        Some(v) => convert(e, v),
        None => Some(default()),
    }
}

/// A patched member: absent leaves the field; `null` is refused, since the
/// field is required of a stored product (reported beforehand, see
/// [`ProductBody::into_patch`]).
fn patched<T>(
    e: &mut ValidationErrors,
    m: &Member,
    convert: impl FnOnce(&mut ValidationErrors, &Value) -> Option<T>,
) -> Option<T> {
    match m {
        Some(Value::Null) | None => None,
        Some(v) => convert(e, v),
    }
}

impl ProductBody {
    /// Reads a parsed JSON body. Only an object is a body.
    pub fn from_json(body: &Value) -> Result<Self, ValidationErrors> {
        let not_an_object = || ValidationErrors::single("body", "must be a JSON object");
        if !body.is_object() {
            return Err(not_an_object());
        }
        // Every member deserializes from any JSON value, so an object
        // always reads; the fallback only keeps this total.
        Self::deserialize(body).map_err(|_| not_an_object())
    }

    /// Unknown and server-set members, by name.
    fn refuse_others(&self, errors: &mut ValidationErrors) {
        for key in self.other.keys() {
            if SERVER_SET.contains(&key.as_str()) {
                errors.push(key.as_str(), "is set by the server and cannot be written");
            } else {
                errors.push(key.as_str(), "is not a product field");
            }
        }
    }

    /// A whole product (POST, PUT): required members reported when missing,
    /// optional ones taking the domain's defaults.
    pub fn into_new_product(self) -> Result<NewProduct, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.refuse_others(&mut errors);
        match self.draft(&mut errors) {
            Some(p) => errors.into_result(p),
            None => Err(errors),
        }
    }

    /// Every member checked (each offence pushed, in member order), then
    /// the product when all of them were valid.
    fn draft(&self, e: &mut ValidationErrors) -> Option<NewProduct> {
        let sku = required(e, "sku", &self.sku, sku);
        let name = required(e, "name", &self.name, name);
        let description = optional(
            e,
            &self.description,
            || DEFAULT_DESCRIPTION.to_owned(),
            description,
        );
        let category = required(e, "category", &self.category, |e, v| {
            label(e, "category", v)
        });
        let brand = required(e, "brand", &self.brand, |e, v| label(e, "brand", v));
        let price = required(e, "price", &self.price, price);
        let stock_quantity = optional(
            e,
            &self.stock_quantity,
            || DEFAULT_STOCK_QUANTITY,
            stock_quantity,
        );
        let rating = optional(e, &self.rating, || DEFAULT_RATING, rating);
        let is_active = optional(e, &self.is_active, || DEFAULT_IS_ACTIVE, is_active);
        Some(NewProduct {
            sku: sku?,
            name: name?,
            description: description?,
            category: category?,
            brand: brand?,
            price: price?,
            stock_quantity: stock_quantity?,
            rating: rating?,
            is_active: is_active?,
        })
    }

    /// A JSON Merge Patch (RFC 7396, PATCH): present members replace,
    /// `null` resets `description` to its default and is refused on every
    /// other member.
    pub fn into_patch(self) -> Result<ProductPatch, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let e = &mut errors;
        self.refuse_others(e);
        // Refused nulls come first, in member-name order, as the contract's
        // 422 has always listed them.
        let members = [
            ("brand", &self.brand),
            ("category", &self.category),
            ("is_active", &self.is_active),
            ("name", &self.name),
            ("price", &self.price),
            ("rating", &self.rating),
            ("sku", &self.sku),
            ("stock_quantity", &self.stock_quantity),
        ];
        for (field, m) in members {
            if matches!(m, Some(Value::Null)) {
                e.push(field, "is required and cannot be null");
            }
        }
        let patch = ProductPatch {
            sku: patched(e, &self.sku, sku),
            name: patched(e, &self.name, name),
            description: match &self.description {
                None => Change::Keep,
                Some(Value::Null) => Change::Reset,
                Some(v) => description(e, v).map_or(Change::Keep, Change::Set),
            },
            category: patched(e, &self.category, |e, v| label(e, "category", v)),
            brand: patched(e, &self.brand, |e, v| label(e, "brand", v)),
            price: patched(e, &self.price, price),
            stock_quantity: patched(e, &self.stock_quantity, stock_quantity),
            rating: patched(e, &self.rating, rating),
            is_active: patched(e, &self.is_active, is_active),
        };
        errors.into_result(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ValidationErrors) -> Vec<String> {
        e.0.into_iter().map(|e| e.field).collect()
    }

    fn new_product(body: Value) -> Result<NewProduct, ValidationErrors> {
        ProductBody::from_json(&body)?.into_new_product()
    }

    fn patch(body: Value) -> Result<ProductPatch, ValidationErrors> {
        ProductBody::from_json(&body)?.into_patch()
    }

    fn valid() -> Value {
        json!({"sku": "ab-1", "name": " Lamp ", "category": "Home", "brand": "Acme", "price": 19.99})
    }

    #[test]
    fn minimal_body_gets_defaults() {
        let p = new_product(valid()).unwrap();
        assert_eq!(p.sku.as_str(), "AB-1");
        assert_eq!(p.name, "Lamp");
        assert_eq!(p.description, "");
        assert_eq!(p.stock_quantity, 0);
        assert_eq!(p.rating, Rating::ZERO);
        assert!(p.is_active);
        assert_eq!(p.price.cents(), 1999);
    }

    #[test]
    fn every_bad_member_is_named_unknown_ones_first() {
        let body = json!({
            "sku": "x", "name": "", "category": 5, "brand": "b", "price": "19.99",
            "stock_quantity": -1, "rating": 5.5, "is_active": "yes", "id": 3, "colour": "red"
        });
        assert_eq!(
            fields(new_product(body).unwrap_err()),
            vec![
                "colour",
                "id",
                "sku",
                "name",
                "category",
                "price",
                "stock_quantity",
                "rating",
                "is_active"
            ]
        );
    }

    #[test]
    fn messages() {
        let body = json!({"sku": null, "name": "", "category": [], "brand": "b", "price": "1",
            "stock_quantity": 1.5, "rating": {}, "is_active": 1, "created_at": "x", "colour": 1});
        let got: Vec<(String, String)> = new_product(body)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect();
        let want = [
            ("colour", "is not a product field"),
            ("created_at", "is set by the server and cannot be written"),
            ("sku", "must be a string, not null"),
            ("name", "must be 1 to 200 characters"),
            ("category", "must be a string, not an array"),
            ("price", "must be a number, not a string"),
            ("stock_quantity", "must be an integer"),
            ("rating", "must be a number, not an object"),
            ("is_active", "must be a boolean, not a number"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
        let big = json!(u64::MAX);
        let mut b = valid();
        b["stock_quantity"] = big;
        assert_eq!(
            new_product(b.clone()).unwrap_err().0[0].message,
            "is too large"
        );
        b["stock_quantity"] = json!(1e19);
        assert_eq!(new_product(b).unwrap_err().0[0].message, "is too large");
    }

    #[test]
    fn an_integer_may_be_written_with_a_zero_fraction() {
        // JSON Schema's `integer`: 12.0 is 12.
        let mut b = valid();
        b["stock_quantity"] = json!(12.0);
        assert_eq!(new_product(b.clone()).unwrap().stock_quantity, 12);
        b["stock_quantity"] = json!(-0.0);
        assert_eq!(new_product(b.clone()).unwrap().stock_quantity, 0);
        b["stock_quantity"] = json!(12.5);
        assert_eq!(
            new_product(b).unwrap_err().0[0].message,
            "must be an integer"
        );
    }

    #[test]
    fn missing_required_members() {
        assert_eq!(
            fields(new_product(json!({})).unwrap_err()),
            vec!["sku", "name", "category", "brand", "price"]
        );
        for not_an_object in [json!([1]), json!(null), json!("x"), json!(1)] {
            assert_eq!(
                fields(new_product(not_an_object).unwrap_err()),
                vec!["body"]
            );
        }
    }

    #[test]
    fn price_decimals_and_bounds() {
        let with = |price: Value| {
            let mut b = valid();
            b["price"] = price;
            new_product(b)
        };
        assert!(with(json!(0)).is_ok());
        assert!(with(json!(1000000)).is_ok());
        assert!(with(json!(1000000.01)).is_err());
        assert!(with(json!(0.01)).is_ok());
        assert!(with(json!(0.001)).is_err());
        assert!(with(json!(-0.01)).is_err());
        // Every two-decimal price up to the maximum reads exactly; a third
        // decimal is refused however large the price (found by
        // Schemathesis: 456006.15038194315 was accepted).
        assert!(with(json!(456006.15038194315)).is_err());
        assert!(with(json!(999999.999)).is_err());
        for cents in [1_i64, 10, 99, 12_345, 45_600_615, 99_999_999, 100_000_000] {
            let price = cents as f64 / 100.0;
            assert_eq!(
                with(json!(price)).map(|p| p.price.cents()).ok(),
                Some(cents),
                "{price}"
            );
        }
    }

    #[test]
    fn patch_members_absent_set_and_null() {
        let p = patch(json!({"price": 5, "description": null})).unwrap();
        assert_eq!(p.price.map(Price::cents), Some(500));
        assert_eq!(p.description, Change::Reset);
        assert_eq!(p.name, None);
        let p = patch(json!({"description": " d "})).unwrap();
        assert_eq!(p.description, Change::Set("d".into()));
        assert_eq!(patch(json!({})).unwrap(), ProductPatch::default());
    }

    #[test]
    fn patch_refusals_in_the_contract_order() {
        let e = patch(json!({
            "updated_at": "x", "sku": null, "brand": null, "price": 1.234, "colour": "red", "rating": "4"
        }))
        .unwrap_err();
        let got: Vec<(String, String)> = e.0.into_iter().map(|e| (e.field, e.message)).collect();
        let want = [
            ("colour", "is not a product field"),
            ("updated_at", "is set by the server and cannot be written"),
            ("brand", "is required and cannot be null"),
            ("sku", "is required and cannot be null"),
            ("price", "must have at most 2 decimals"),
            ("rating", "must be a number, not a string"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            fields(patch(json!([{"op": "add"}])).unwrap_err()),
            vec!["body"]
        );
    }
}
