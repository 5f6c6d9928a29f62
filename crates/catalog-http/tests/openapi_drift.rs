//! The OpenAPI document committed in docs/openapi.json is the one the code
//! generates, and its Product schema describes the body reads really return.
//!
//! Regenerate the file with `UPDATE_OPENAPI=1 cargo test -p catalog-http
//! --test openapi_drift` (or `just openapi`).

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use catalog_domain::{
    Label, NewProduct, Price, Product, ProductId, ProductReader, ProductWriter, Rating, Sku,
};
use catalog_storage_memory::MemoryStore;
use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
}

/// What the file holds: the generated document plus a final newline, byte
/// for byte what `just openapi` (`catalog openapi > docs/openapi.json`)
/// writes.
fn generated() -> String {
    format!("{}\n", catalog_http::openapi_json())
}

#[test]
fn committed_openapi_matches_the_code() {
    let path = committed_path();
    let want = generated();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&path, &want)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let hint = "run `UPDATE_OPENAPI=1 cargo test -p catalog-http --test openapi_drift` \
                (or `just openapi`) and commit docs/openapi.json";
    let have = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}; {hint}", path.display()));
    if have != want {
        // Point at the first difference, so the failure says what drifted.
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "docs/openapi.json is out of date with the code (first difference at line {}: \
             committed {:?}, generated {:?}); {hint}",
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// A real domain product, as storage returns it (built through the port,
/// so this test does not break whenever the struct grows a private field).
async fn sample_product() -> Product {
    let store = MemoryStore::new();
    let new = NewProduct {
        sku: Sku::parse("ELEC-000042").unwrap(),
        name: "Wireless Headphones Pro".into(),
        description: "Over-ear".into(),
        category: Label::parse("Electronics").unwrap(),
        brand: Label::parse("Acme").unwrap(),
        price: Price::from_cents(19_999).unwrap(),
        stock_quantity: 12,
        rating: Rating::from_tenths(45).unwrap(),
        is_active: true,
    };
    assert_eq!(store.insert_batch(&[new]).await.unwrap(), 1);
    store
        .get(ProductId::new(1).unwrap())
        .await
        .unwrap()
        .unwrap()
}

fn schema(name: &str) -> Value {
    let doc: Value = serde_json::from_str(&catalog_http::openapi_json()).unwrap();
    doc["components"]["schemas"][name].clone()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[actix_web::test]
async fn product_schema_matches_the_serialized_product() {
    let body = serde_json::to_value(sample_product().await).unwrap();
    let product = schema("Product");
    assert_eq!(
        keys(&product["properties"]),
        keys(&body),
        "the documented Product and the real body have different fields"
    );
    // Every field is always present, so every field is required.
    let required: BTreeSet<String> = product["required"]
        .as_array()
        .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    assert_eq!(required, keys(&body), "Product.required");
}

#[actix_web::test]
async fn product_schema_types_match_the_serialized_product() {
    let body = serde_json::to_value(sample_product().await).unwrap();
    let props = schema("Product")["properties"].clone();
    for (field, value) in body.as_object().unwrap() {
        let ty = &props[field]["type"];
        let documented: Vec<&str> = match ty {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{field}: no type in the schema: {}", props[field]),
        };
        let actual = match value {
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            other => panic!("{field}: unexpected JSON {other}"),
        };
        assert!(
            documented.contains(&actual) || (actual == "integer" && documented.contains(&"number")),
            "{field}: serialized as {actual}, documented as {documented:?}"
        );
    }
}
