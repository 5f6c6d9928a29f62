//! Write requests: a product body (POST/PUT) or a JSON Merge Patch (PATCH,
//! RFC 7396) validated into a [`NewProduct`], every offending field named.
//!
//! Types are strict: a number sent as a string is invalid. Unknown fields
//! and the server-set ones (`id`, `created_at`, `updated_at`) are refused.
//! Optional fields default as a storefront expects: `description` "",
//! `stock_quantity` 0, `rating` 0.0, `is_active` true.

use serde_json::{Map, Value};

use crate::error::ValidationErrors;
use crate::product::{Label, NewProduct, Price, Product, Rating, Sku, check_text};

const WRITABLE: [&str; 9] = [
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price",
    "stock_quantity",
    "rating",
    "is_active",
];
const SERVER_SET: [&str; 3] = ["id", "created_at", "updated_at"];

fn object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object()
        .ok_or_else(|| ValidationErrors::single("body", "must be a JSON object"))
}

fn refuse_unknown(map: &Map<String, Value>, errors: &mut ValidationErrors) {
    for key in map.keys() {
        if SERVER_SET.contains(&key.as_str()) {
            errors.push(key.as_str(), "is set by the server and cannot be written");
        } else if !WRITABLE.contains(&key.as_str()) {
            errors.push(key.as_str(), "is not a product field");
        }
    }
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

/// The fields of a product body, each checked; missing required fields are
/// reported; optional ones take their defaults.
fn draft(map: &Map<String, Value>, errors: &mut ValidationErrors) -> Option<NewProduct> {
    let text =
        |errors: &mut ValidationErrors, field: &str, min: usize, max: usize, required: bool| {
            match map.get(field) {
                None if required => {
                    errors.push(field, "is required");
                    None
                }
                None => Some(String::new()),
                Some(Value::String(s)) => Some(check_text(errors, field, s, min, max)),
                Some(v) => {
                    errors.push(field, format!("must be a string, not {}", type_name(v)));
                    None
                }
            }
        };
    let sku = match map.get("sku") {
        None => {
            errors.push("sku", "is required");
            None
        }
        Some(Value::String(s)) => Sku::parse(s).map_err(|m| errors.push("sku", m)).ok(),
        Some(v) => {
            errors.push("sku", format!("must be a string, not {}", type_name(v)));
            None
        }
    };
    let name = text(errors, "name", 1, 200, true);
    let description = text(errors, "description", 0, 5000, false);
    let label = |errors: &mut ValidationErrors, field: &str| match map.get(field) {
        None => {
            errors.push(field, "is required");
            None
        }
        Some(Value::String(s)) => Label::parse(s).map_err(|m| errors.push(field, m)).ok(),
        Some(v) => {
            errors.push(field, format!("must be a string, not {}", type_name(v)));
            None
        }
    };
    let category = label(errors, "category");
    let brand = label(errors, "brand");
    let price = match map.get("price") {
        None => {
            errors.push("price", "is required");
            None
        }
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) => Price::from_f64(f).map_err(|m| errors.push("price", m)).ok(),
            None => {
                errors.push("price", "must be a number");
                None
            }
        },
        Some(v) => {
            errors.push("price", format!("must be a number, not {}", type_name(v)));
            None
        }
    };
    let stock_quantity = match map.get("stock_quantity") {
        None => Some(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if i >= 0 => Some(i),
            Some(_) => {
                errors.push("stock_quantity", "must be 0 or more");
                None
            }
            None if n.as_u64().is_some() => {
                errors.push("stock_quantity", "is too large");
                None
            }
            None => {
                errors.push("stock_quantity", "must be an integer");
                None
            }
        },
        Some(v) => {
            errors.push(
                "stock_quantity",
                format!("must be an integer, not {}", type_name(v)),
            );
            None
        }
    };
    let rating = match map.get("rating") {
        None => Rating::from_tenths(0).ok(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) => Rating::from_f64(f)
                .map_err(|m| errors.push("rating", m))
                .ok(),
            None => {
                errors.push("rating", "must be a number");
                None
            }
        },
        Some(v) => {
            errors.push("rating", format!("must be a number, not {}", type_name(v)));
            None
        }
    };
    let is_active = match map.get("is_active") {
        None => Some(true),
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            errors.push(
                "is_active",
                format!("must be a boolean, not {}", type_name(v)),
            );
            None
        }
    };
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

/// A full product body (POST, PUT).
pub fn parse_product(body: &Value) -> Result<NewProduct, ValidationErrors> {
    let map = object(body)?;
    let mut errors = ValidationErrors::new();
    refuse_unknown(map, &mut errors);
    let product = draft(map, &mut errors);
    match product {
        Some(p) if errors.is_empty() => Ok(p),
        _ => Err(errors),
    }
}

/// The writable fields of a stored product, as a JSON object.
fn writable_json(p: &Product) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sku".into(), Value::from(p.sku.as_str()));
    m.insert("name".into(), Value::from(p.name.as_str()));
    m.insert("description".into(), Value::from(p.description.as_str()));
    m.insert("category".into(), Value::from(p.category.as_str()));
    m.insert("brand".into(), Value::from(p.brand.as_str()));
    m.insert("price".into(), Value::from(p.price.as_f64()));
    m.insert("stock_quantity".into(), Value::from(p.stock_quantity));
    m.insert("rating".into(), Value::from(p.rating.as_f64()));
    m.insert("is_active".into(), Value::from(p.is_active));
    m
}

/// Applies a JSON Merge Patch to `current`. `null` removes an optional
/// field (description becomes ""); on a required field it is refused.
pub fn apply_merge_patch(current: &Product, patch: &Value) -> Result<NewProduct, ValidationErrors> {
    let patch = object(patch)?;
    let mut errors = ValidationErrors::new();
    refuse_unknown(patch, &mut errors);
    let mut merged = writable_json(current);
    for (k, v) in patch {
        if !WRITABLE.contains(&k.as_str()) {
            continue;
        }
        if v.is_null() {
            if k == "description" {
                merged.insert(k.clone(), Value::from(""));
            } else {
                errors.push(k.as_str(), "is required and cannot be null");
            }
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    let product = draft(&merged, &mut errors);
    match product {
        Some(p) if errors.is_empty() => Ok(p),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: ValidationErrors) -> Vec<String> {
        let mut f: Vec<String> = e.0.into_iter().map(|e| e.field).collect();
        f.sort();
        f
    }

    fn valid() -> Value {
        json!({"sku": "ab-1", "name": " Lamp ", "category": "Home", "brand": "Acme", "price": 19.99})
    }

    #[test]
    fn minimal_body_gets_defaults() {
        let p = parse_product(&valid()).unwrap();
        assert_eq!(p.sku.as_str(), "AB-1");
        assert_eq!(p.name, "Lamp");
        assert_eq!(p.description, "");
        assert_eq!(p.stock_quantity, 0);
        assert!(p.is_active);
        assert_eq!(p.price.cents(), 1999);
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = json!({
            "sku": "x", "name": "", "category": 5, "brand": "b", "price": "19.99",
            "stock_quantity": -1, "rating": 5.5, "is_active": "yes", "id": 3, "colour": "red"
        });
        assert_eq!(
            fields(parse_product(&body).unwrap_err()),
            vec![
                "category",
                "colour",
                "id",
                "is_active",
                "name",
                "price",
                "rating",
                "sku",
                "stock_quantity"
            ]
        );
    }

    #[test]
    fn missing_required_fields() {
        assert_eq!(
            fields(parse_product(&json!({})).unwrap_err()),
            vec!["brand", "category", "name", "price", "sku"]
        );
        assert_eq!(
            fields(parse_product(&json!([1])).unwrap_err()),
            vec!["body"]
        );
    }

    #[test]
    fn price_decimals_and_bounds() {
        let with = |price: Value| {
            let mut b = valid();
            b["price"] = price;
            parse_product(&b)
        };
        assert!(with(json!(0)).is_ok());
        assert!(with(json!(1000000)).is_ok());
        assert!(with(json!(1000000.01)).is_err());
        assert!(with(json!(0.01)).is_ok());
        assert!(with(json!(0.001)).is_err());
        assert!(with(json!(-0.01)).is_err());
        let mut b = valid();
        b["stock_quantity"] = json!(1.5);
        assert_eq!(
            fields(parse_product(&b).unwrap_err()),
            vec!["stock_quantity"]
        );
    }
}
