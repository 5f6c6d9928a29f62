//! Small helpers shared by the adapter's modules: reading aggregates and
//! rows, timing, COPY text escaping. A leaf: it imports nothing from the
//! store's modules (only `entity` and `error`, which import nothing from
//! the crate), so `query`, `summary`, `histogram` and `bulk_summary` can
//! use it without reaching back into the store.

use std::time::Instant;

use catalog_domain::{Price, Product, ProductId, Rating, Sku, StorageError};

use crate::entity;
use crate::error::Context;

/// Escapes a value for COPY's text format.
pub(crate) fn copy_escape(buf: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            other => buf.push(other),
        }
    }
}

pub(crate) fn to_product(m: impl Into<entity::ProductRow>) -> Result<Product, StorageError> {
    let m: entity::ProductRow = m.into();
    let corrupt = |what: &str, why: String| {
        StorageError::internal(format!("row {} has an invalid {what}", m.id), why)
    };
    Ok(Product {
        id: ProductId::new(m.id).map_err(|e| corrupt("id", e.to_string()))?,
        sku: Sku::parse(&m.sku).map_err(|e| corrupt("sku", e))?,
        price: Price::from_cents(m.price_cents).map_err(|e| corrupt("price", e))?,
        rating: Rating::from_tenths(i64::from(m.rating_tenths))
            .map_err(|e| corrupt("rating", e))?,
        name: m.name,
        description: m.description,
        category: catalog_domain::Label::from_stored(m.category),
        brand: catalog_domain::Label::from_stored(m.brand),
        stock_quantity: m.stock_quantity,
        is_active: m.is_active,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}

/// An integer aggregate; SQL NULL (an empty SUM) reads as 0.
pub(crate) fn get_i64(row: &sea_orm::QueryResult, col: &str) -> Result<i64, StorageError> {
    row.try_get::<Option<i64>>("", col)
        .map(|v| v.unwrap_or(0))
        .context("reading an aggregate")
}

pub(crate) fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn plan_lines(
    rows: &[sea_orm::QueryResult],
    column: &str,
) -> Result<Vec<String>, StorageError> {
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", column)
                .context("reading a query plan")
        })
        .collect()
}

/// Milliseconds since `since`, for phase logs.
pub(crate) fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
