//! The readers against every kind of bad input the import must answer
//! clearly (a line number, a field, a message; never a panic), and the
//! writers' output reading back as the same products.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use catalog_domain::{Label, NewProduct, Price, Product, ProductId, Rating, Sku};
use catalog_interchange::read::{Format, ReadError, ReadOptions, Record, read_records};
use catalog_interchange::write::{csv_header, csv_rows, ndjson_rows};

fn read(format: Format, input: &[u8], options: ReadOptions) -> Result<Vec<Record>, ReadError> {
    let mut out = Vec::new();
    read_records(format, input, options, &mut |r| {
        out.push(r);
        true
    })?;
    Ok(out)
}

fn ok(format: Format, input: &[u8]) -> Vec<Record> {
    read(format, input, ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// `(line, field, message)` of every error of a rejected record.
fn rejects(records: &[Record]) -> Vec<(u64, String, String)> {
    records
        .iter()
        .filter_map(|r| r.item.as_ref().err().map(|e| (r.line, e)))
        .flat_map(|(line, e)| {
            e.errors()
                .iter()
                .map(move |f| (line, f.field.clone(), f.message.clone()))
        })
        .collect()
}

fn malformed(r: Result<Vec<Record>, ReadError>) -> (u64, String) {
    match r {
        Err(ReadError::Malformed { line, message }) => (line, message),
        Err(ReadError::Io(e)) => panic!("an I/O error: {e}"),
        Ok(records) => panic!("read {} records", records.len()),
    }
}

const HEADER: &str = "sku,name,description,category,brand,price,stock_quantity,rating,is_active\n";

#[test]
fn a_csv_file_reads_with_defaults_for_empty_optional_cells() {
    let file = format!(
        "{HEADER}AB-1,Lamp,\"A lamp, \"\"bright\"\"\",Home,Acme,19.99,3,4.5,true\nAB-2,Desk,,Home,Acme,5,,,\n"
    );
    let records = ok(Format::Csv, file.as_bytes());
    assert_eq!(records.len(), 2);
    let a = records[0].item.as_ref().unwrap();
    assert_eq!(records[0].line, 2);
    assert_eq!(a.description, "A lamp, \"bright\"");
    assert_eq!(a.price.cents(), 1999);
    assert_eq!(a.rating.tenths(), 45);
    let b = records[1].item.as_ref().unwrap();
    assert_eq!(records[1].line, 3);
    assert_eq!(b.description, "");
    assert_eq!(b.stock_quantity, 0);
    assert!(b.is_active, "an empty is_active takes the default");
}

#[test]
fn a_bom_and_crlf_line_ends_are_read_as_usual() {
    let file = format!("\u{feff}{HEADER}AB-1,Lamp,,Home,Acme,19.99,3,4.5,true\r\nAB-2,Desk,,Home,Acme,5,1,1,false\r\n")
        .replace('\n', "\r\n")
        .replace("\r\r\n", "\r\n");
    let records = ok(Format::Csv, file.as_bytes());
    assert_eq!(rejects(&records), vec![]);
    assert_eq!(records[1].item.as_ref().unwrap().sku.as_str(), "AB-2");
    assert!(
        !records[1].item.as_ref().unwrap().is_active,
        "no \\r is left in the last cell"
    );

    let nd = "\u{feff}{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}\r\n";
    let records = ok(Format::Ndjson, nd.as_bytes());
    assert_eq!(rejects(&records), vec![]);
    let arr = "\u{feff}[{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}]\r\n";
    assert_eq!(rejects(&ok(Format::Json, arr.as_bytes())), vec![]);
}

#[test]
fn a_wrong_column_count_rejects_that_row_only() {
    let file = format!(
        "{HEADER}AB-1,Lamp,,Home,Acme,19.99,3,4.5,true\nAB-2,Desk,,Home,Acme,5\nAB-3,Chair,,Home,Acme,5,1,1,true,extra\nAB-4,Shelf,,Home,Acme,5,1,1,true\n"
    );
    let records = ok(Format::Csv, file.as_bytes());
    assert_eq!(records.len(), 4);
    let r = rejects(&records);
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[0].0, r[0].1.as_str()), (3, "record"));
    assert!(
        r[0].2.contains("has 6 fields where the header row names 9"),
        "{}",
        r[0].2
    );
    assert_eq!(r[1].0, 4);
    assert!(
        records[3].item.is_ok(),
        "the rows after a bad one still read"
    );
}

#[test]
fn broken_quoting_is_reported_with_its_line() {
    // The quote never closes: the rest of the file is one field.
    let file = format!(
        "{HEADER}AB-1,Lamp,,Home,Acme,19.99,3,4.5,true\nAB-2,\"Desk,,Home,Acme,5,1,1,true\nAB-3,Chair,,Home,Acme,5,1,1,true\n"
    );
    let records = ok(Format::Csv, file.as_bytes());
    let r = rejects(&records);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].0, 3, "the row where the broken quote starts");
}

#[test]
fn bytes_that_are_not_utf8_name_their_field() {
    let mut file = HEADER.as_bytes().to_vec();
    file.extend_from_slice(
        b"AB-1,L\xe4mp,,Home,Acme,19.99,3,4.5,true\nAB-2,Desk,,Home,Acme,5,1,1,true\n",
    );
    let records = ok(Format::Csv, &file);
    assert_eq!(
        rejects(&records),
        vec![(
            2,
            "name".into(),
            "is not valid UTF-8 (save the file as UTF-8)".into()
        )]
    );
    assert!(records[1].item.is_ok());

    let nd = b"{\"sku\":\"AB-1\",\"name\":\"L\xe4mp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}\n";
    let r = rejects(&ok(Format::Ndjson, nd));
    assert_eq!((r[0].0, r[0].1.as_str()), (1, "record"));
    assert!(r[0].2.contains("UTF-8"));
}

#[test]
fn unknown_columns_are_refused_unless_ignored() {
    let file = "sku,name,colour,category,brand,price\nAB-1,Lamp,red,Home,Acme,1\n";
    let (line, message) = malformed(read(Format::Csv, file.as_bytes(), ReadOptions::default()));
    assert_eq!(line, 1);
    assert!(
        message.contains("\"colour\"") && message.contains("--ignore-unknown"),
        "{message}"
    );
    let records = read(
        Format::Csv,
        file.as_bytes(),
        ReadOptions {
            ignore_unknown: true,
        },
    )
    .unwrap();
    assert_eq!(records[0].item.as_ref().unwrap().name, "Lamp");

    let nd = "{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"colour\":\"red\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}\n";
    assert_eq!(
        rejects(&ok(Format::Ndjson, nd.as_bytes())),
        vec![(1, "colour".into(), "is not a product field".into())]
    );
}

#[test]
fn numbers_sent_as_strings_in_ndjson_are_invalid_as_in_the_api() {
    let nd = "{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":\"19.99\",\"stock_quantity\":\"3\"}\n";
    let r = rejects(&ok(Format::Ndjson, nd.as_bytes()));
    let fields: Vec<&str> = r.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(fields, vec!["price", "stock_quantity"], "{r:?}");
    assert!(r[0].2.contains("not a string"), "{}", r[0].2);
}

#[test]
fn csv_cells_that_are_not_numbers_name_their_field_with_the_rest_checked() {
    let file = format!("{HEADER}AB-1,,,Home,Acme,abc,3.5,9,maybe\n");
    let r = rejects(&ok(Format::Csv, file.as_bytes()));
    let fields: Vec<&str> = r.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        fields,
        vec!["price", "stock_quantity", "is_active", "name", "rating"],
        "{r:?}"
    );
}

#[test]
fn an_empty_file_is_refused() {
    for format in [Format::Csv, Format::Ndjson, Format::Json] {
        let (line, message) = malformed(read(format, b"", ReadOptions::default()));
        assert_eq!(line, 1, "{format:?}");
        assert!(
            message.contains("empty") || message.contains("no products"),
            "{message}"
        );
    }
    let (_, message) = malformed(read(Format::Csv, HEADER.as_bytes(), ReadOptions::default()));
    assert!(message.contains("no products"), "a header alone: {message}");
    let (_, message) = malformed(read(Format::Json, b"[]", ReadOptions::default()));
    assert!(message.contains("no products"), "{message}");
    let (_, message) = malformed(read(Format::Ndjson, b"\n  \n", ReadOptions::default()));
    assert!(message.contains("no products"), "{message}");
}

#[test]
fn a_truncated_final_line_is_reported() {
    let nd = "{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}\n{\"sku\":\"AB-2\",\"na";
    let records = ok(Format::Ndjson, nd.as_bytes());
    assert!(records[0].item.is_ok());
    let r = rejects(&records);
    assert_eq!((r[0].0, r[0].1.as_str()), (2, "record"));
    assert!(r[0].2.contains("truncated"), "{}", r[0].2);

    // A complete last line without its newline is fine.
    let nd =
        "{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}";
    assert_eq!(rejects(&ok(Format::Ndjson, nd.as_bytes())), vec![]);

    let arr = "[\n{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1},\n{\"sku\":\"AB-2\"";
    let mut seen = 0;
    let r = read_records(
        Format::Json,
        arr.as_bytes(),
        ReadOptions::default(),
        &mut |_| {
            seen += 1;
            true
        },
    );
    match r {
        Err(ReadError::Malformed { line, message }) => {
            assert_eq!(line, 3);
            assert!(message.contains("truncated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen, 1, "the items before the break were read");

    let file = format!("{HEADER}AB-1,Lamp,,Home,Acme,19.99,3,4.5,true\nAB-2,Desk,,Ho");
    let r = rejects(&ok(Format::Csv, file.as_bytes()));
    assert_eq!(r[0].0, 3, "{r:?}");
}

#[test]
fn json_array_items_carry_lines_and_bad_items_do_not_stop_the_rest() {
    let arr = "[\n {\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1},\n 42,\n {\"sku\":\"AB-3\",\"name\":\"Desk\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":-1}\n]";
    let records = ok(Format::Json, arr.as_bytes());
    assert_eq!(records.len(), 3);
    let r = rejects(&records);
    assert_eq!(
        r[0],
        (
            3,
            "record".into(),
            "must be a JSON object (a product)".into()
        )
    );
    assert_eq!((r[1].0, r[1].1.as_str()), (4, "price"));
}

#[test]
fn an_overlong_ndjson_line_is_rejected_and_skipped() {
    let long = format!(
        "{{\"name\":\"{}\"}}\n",
        "x".repeat(catalog_interchange::read::MAX_LINE_BYTES + 10)
    );
    let nd = format!(
        "{long}{{\"sku\":\"AB-1\",\"name\":\"Lamp\",\"category\":\"Home\",\"brand\":\"Acme\",\"price\":1}}\n"
    );
    let records = ok(Format::Ndjson, nd.as_bytes());
    assert_eq!(records.len(), 2);
    assert!(rejects(&records)[0].2.contains("bytes long"));
    assert_eq!(records[1].line, 2);
    assert!(records[1].item.is_ok());
}

fn product(id: i64, sku: &str, name: &str, description: &str) -> Product {
    Product {
        id: ProductId::new(id).unwrap(),
        sku: Sku::parse(sku).unwrap(),
        name: name.into(),
        description: description.into(),
        category: Label::parse("Home & Garden").unwrap(),
        brand: Label::parse("Acme, Inc.").unwrap(),
        price: Price::from_cents(1990).unwrap(),
        stock_quantity: 7,
        rating: Rating::from_tenths(45).unwrap(),
        is_active: false,
        created_at: catalog_domain::product::now(),
        updated_at: catalog_domain::product::now(),
        version: 3,
    }
}

fn as_new(p: &Product) -> NewProduct {
    NewProduct {
        sku: p.sku.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        category: p.category.clone(),
        brand: p.brand.clone(),
        price: p.price,
        stock_quantity: p.stock_quantity,
        rating: p.rating,
        is_active: p.is_active,
    }
}

#[test]
fn exports_read_back_as_the_same_products() {
    let products = vec![
        product(
            1,
            "AB-1",
            "Lamp \"Pro\"",
            "Line one\nline two, with a comma",
        ),
        product(2, "AB-2", "Ünïcödé 灯", ""),
    ];
    let want: Vec<NewProduct> = products.iter().map(as_new).collect();

    let csv = csv_rows(&products, csv_header());
    let got: Vec<NewProduct> = ok(Format::Csv, &csv)
        .into_iter()
        .map(|r| r.item.unwrap())
        .collect();
    assert_eq!(got, want, "CSV round trip");

    let nd = ndjson_rows(&products, Vec::new());
    let got: Vec<NewProduct> = ok(Format::Ndjson, &nd)
        .into_iter()
        .map(|r| r.item.unwrap())
        .collect();
    assert_eq!(got, want, "NDJSON round trip");
}
