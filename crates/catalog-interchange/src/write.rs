//! Writers of exports: CSV (a header row, then one row per product) and
//! NDJSON (one product per line, as the API returns it). What they write
//! reads back through [`crate::read`] to the same products.

use catalog_domain::Product;

/// The columns of a CSV export: the product as the API returns it.
pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "sku",
    "name",
    "description",
    "category",
    "brand",
    "price",
    "stock_quantity",
    "rating",
    "is_active",
    "created_at",
    "updated_at",
];

/// `19.9` for 1990 cents: the shortest decimal, as the JSON number is.
fn decimal(units: i64, scale: i64) -> String {
    let whole = units / scale;
    let frac = units % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = if scale == 100 { 2 } else { 1 };
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The CSV header row, with its line end.
pub fn csv_header() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(128));
    // Writing to a Vec cannot fail.
    let _ = w.write_record(CSV_COLUMNS);
    w.into_inner().unwrap_or_default()
}

/// The CSV rows of `products` (no header), appended to `out`.
pub fn csv_rows(products: &[Product], out: Vec<u8>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(out);
    for p in products {
        let id = p.id.get().to_string();
        let price = decimal(p.price.cents(), 100);
        let stock = p.stock_quantity.to_string();
        let rating = decimal(i64::from(p.rating.tenths()), 10);
        let created = timestamp(&p.created_at);
        let updated = timestamp(&p.updated_at);
        let _ = w.write_record([
            id.as_str(),
            p.sku.as_str(),
            p.name.as_str(),
            p.description.as_str(),
            p.category.as_str(),
            p.brand.as_str(),
            price.as_str(),
            stock.as_str(),
            rating.as_str(),
            if p.is_active { "true" } else { "false" },
            created.as_str(),
            updated.as_str(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

/// The NDJSON lines of `products`, appended to `out`.
pub fn ndjson_rows(products: &[Product], mut out: Vec<u8>) -> Vec<u8> {
    for p in products {
        // A product always serializes (strings, numbers, timestamps).
        if serde_json::to_writer(&mut out, p).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimals_are_the_shortest_form() {
        assert_eq!(decimal(1990, 100), "19.9");
        assert_eq!(decimal(1999, 100), "19.99");
        assert_eq!(decimal(2000, 100), "20");
        assert_eq!(decimal(5, 100), "0.05");
        assert_eq!(decimal(45, 10), "4.5");
        assert_eq!(decimal(50, 10), "5");
    }
}
