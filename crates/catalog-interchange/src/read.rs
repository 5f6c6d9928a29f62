//! Readers of product files: CSV with a header row, NDJSON, or one JSON
//! array, streamed (one record in memory at a time, one line of NDJSON at
//! most [`MAX_LINE_BYTES`]). Each record becomes a product or the reasons
//! it is not one, by the API's rules ([`ProductBody`]), with its line
//! number. A file that cannot be read on (no header row, an unknown
//! column, a JSON array broken mid-way, an I/O error) is a [`ReadError`].
//!
//! The members the server sets (`id`, `created_at`, `updated_at`) are
//! what `catalog export` writes beside the product's fields: they are
//! read and ignored, so an export imports as it is. Upserts go by `sku`.

use std::cell::Cell;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use catalog_domain::{NewProduct, ValidationErrors};
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::json::ProductBody;

/// The longest NDJSON line read (a product's longest fields fit in a
/// tenth of it); a longer one is rejected and skipped.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The writable members of a product, in the order exports write them.
pub const PRODUCT_FIELDS: [&str; 9] = [
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

/// Members the server sets: written by exports, ignored by imports.
pub const SERVER_FIELDS: [&str; 3] = ["id", "created_at", "updated_at"];

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, a header row naming the columns (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// One JSON array of objects.
    Json,
}

impl Format {
    /// The format a file name's extension names: `.csv`, `.ndjson` or
    /// `.jsonl`, `.json`.
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// `csv`, `ndjson` (or `jsonl`), `json`.
    pub fn parse(raw: &str) -> Result<Format, String> {
        match raw.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown format {raw:?}: use csv, ndjson or json")),
        }
    }
}

/// One record of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based: the line the record starts on (CSV, NDJSON) or ends on (an
    /// item of a JSON array).
    pub line: u64,
    /// The product, or why the record is not one (each field named).
    pub item: Result<NewProduct, ValidationErrors>,
}

/// How to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Drop columns and members that are not product fields instead of
    /// refusing them.
    pub ignore_unknown: bool,
}

/// Why a file cannot be read on.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// The file's structure is broken at `line`: nothing after it is read.
    Malformed {
        line: u64,
        message: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read the file: {e}"),
            ReadError::Malformed { line, message } => write!(f, "line {line}: {message}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn malformed(line: u64, message: impl Into<String>) -> ReadError {
    ReadError::Malformed {
        line,
        message: message.into(),
    }
}

/// Reads every record of `input` in `format`, handing each to `sink` in
/// file order (`sink` returns `false` to stop early). Returns how many
/// records were read. An empty file (no record at all, or a CSV file
/// without a header row) is `Malformed`: importing nothing is never what
/// was meant.
pub fn read_records<R: Read>(
    format: Format,
    input: R,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record) -> bool,
) -> Result<u64, ReadError> {
    let n = match format {
        Format::Csv => read_csv(input, options, sink)?,
        Format::Ndjson => read_ndjson(BufReader::with_capacity(1 << 16, input), options, sink)?,
        Format::Json => read_json_array(input, options, sink)?,
    };
    if n == 0 {
        return Err(malformed(1, "the file holds no products"));
    }
    Ok(n)
}

/// A JSON object as a product, by the API's rules, once the members the
/// server sets (and, with `ignore_unknown`, the unknown ones) are dropped.
pub fn product_from_value(
    mut value: Value,
    options: ReadOptions,
) -> Result<NewProduct, ValidationErrors> {
    let Some(object) = value.as_object_mut() else {
        return Err(ValidationErrors::single(
            "record",
            "must be a JSON object (a product)",
        ));
    };
    strip(object, options);
    ProductBody::from_json(&value)?.into_new_product()
}

fn strip(object: &mut Map<String, Value>, options: ReadOptions) {
    object.retain(|k, _| {
        !SERVER_FIELDS.contains(&k.as_str())
            && (!options.ignore_unknown || PRODUCT_FIELDS.contains(&k.as_str()))
    });
}

// ------------------------------------------------------------------ CSV

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Text(&'static str),
    Decimal(&'static str),
    Integer(&'static str),
    Boolean(&'static str),
    Ignored,
}

fn column(name: &str) -> Option<Column> {
    Some(match name {
        "sku" => Column::Text("sku"),
        "name" => Column::Text("name"),
        "description" => Column::Text("description"),
        "category" => Column::Text("category"),
        "brand" => Column::Text("brand"),
        "price" => Column::Decimal("price"),
        "rating" => Column::Decimal("rating"),
        "stock_quantity" => Column::Integer("stock_quantity"),
        "is_active" => Column::Boolean("is_active"),
        n if SERVER_FIELDS.contains(&n) => Column::Ignored,
        _ => return None,
    })
}

/// A CSV cell as the JSON value the API would take. An empty cell is an
/// absent member (a default, or "is required").
fn cell(col: Column, raw: &str) -> Result<Option<Value>, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match col {
        Column::Text(_) => Ok(Some(Value::String(raw.to_owned()))),
        Column::Decimal(_) => t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(|n| Some(Value::Number(n)))
            .ok_or_else(|| format!("must be a number, not {t:?}")),
        Column::Integer(_) => t
            .parse::<i64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| format!("must be a whole number, not {t:?}")),
        Column::Boolean(_) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(Value::Bool(true))),
            "false" | "0" => Ok(Some(Value::Bool(false))),
            _ => Err(format!("must be true or false, not {t:?}")),
        },
        Column::Ignored => Ok(None),
    }
}

fn read_csv<R: Read>(
    input: R,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record) -> bool,
) -> Result<u64, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(e)),
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(malformed(
            1,
            "the file is empty: a CSV file starts with a header row naming its columns",
        ));
    }
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for raw in &headers {
        let name = std::str::from_utf8(raw)
            .map_err(|_| malformed(1, "the header row is not valid UTF-8"))?
            .trim();
        if !seen.insert(name.to_owned()) {
            return Err(malformed(
                1,
                format!("column {name:?} appears twice in the header row"),
            ));
        }
        match column(name) {
            Some(c) => columns.push(c),
            None if options.ignore_unknown => columns.push(Column::Ignored),
            None => {
                unknown.push(name.to_owned());
                columns.push(Column::Ignored);
            }
        }
    }
    if !unknown.is_empty() {
        return Err(malformed(
            1,
            format!(
                "unknown column(s) {unknown:?}: a product has {PRODUCT_FIELDS:?} (and {SERVER_FIELDS:?}, ignored); pass --ignore-unknown to skip them"
            ),
        ));
    }
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        n += 1;
        let item = if record.len() != columns.len() {
            Err(ValidationErrors::single(
                "record",
                format!(
                    "has {} fields where the header row names {} columns (a stray comma or broken quoting?)",
                    record.len(),
                    columns.len()
                ),
            ))
        } else {
            csv_product(&columns, &record, options)
        };
        if !sink(Record { line, item }) {
            break;
        }
    }
    Ok(n)
}

fn csv_product(
    columns: &[Column],
    record: &csv::ByteRecord,
    options: ReadOptions,
) -> Result<NewProduct, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let mut object = Map::new();
    for (col, raw) in columns.iter().zip(record) {
        let (Column::Text(name)
        | Column::Decimal(name)
        | Column::Integer(name)
        | Column::Boolean(name)) = *col
        else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            errors.push(name, "is not valid UTF-8 (save the file as UTF-8)");
            continue;
        };
        match cell(*col, text) {
            Ok(Some(v)) => {
                object.insert(name.to_owned(), v);
            }
            Ok(None) => {}
            Err(m) => errors.push(name, m),
        }
    }
    if !errors.is_empty() {
        // The other fields are still checked, so that one pass names every
        // offence of the row.
        let fields: Vec<String> = errors.errors().iter().map(|e| e.field.clone()).collect();
        object.retain(|k, _| !fields.contains(k));
        if let Err(more) = product_from_value(Value::Object(object), options) {
            for e in more.errors() {
                if !fields.contains(&e.field) {
                    errors.push(e.field.clone(), e.message.clone());
                }
            }
        }
        return Err(errors);
    }
    product_from_value(Value::Object(object), options)
}

fn csv_error(e: csv::Error) -> ReadError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ReadError::Io(io),
        other => malformed(line, format!("{other:?}")),
    }
}

// --------------------------------------------------------------- NDJSON

/// Reads one line (without its `\n` and a `\r` before it) into `buf`, at
/// most [`MAX_LINE_BYTES`]: `Ok(None)` at the end, `Ok(Some(true))` when
/// the line ended with `\n`, `Ok(Some(false))` when the file ended first.
/// A longer line is skipped and reported as `Err(len)`.
fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<bool, usize>>> {
    buf.clear();
    let mut too_long = 0usize;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() && too_long == 0 {
                None
            } else if too_long > 0 {
                Some(Err(too_long))
            } else {
                Some(Ok(false))
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let body = if done {
            &chunk[..take - 1]
        } else {
            &chunk[..take]
        };
        if too_long > 0 || buf.len() + body.len() > MAX_LINE_BYTES {
            too_long += buf.len() + body.len();
            buf.clear();
        } else {
            buf.extend_from_slice(body);
        }
        input.consume(take);
        if done {
            if too_long > 0 {
                return Ok(Some(Err(too_long)));
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(Ok(true)));
        }
    }
}

fn read_ndjson<R: BufRead>(
    mut input: R,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record) -> bool,
) -> Result<u64, ReadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut line = 0u64;
    let mut n = 0;
    while let Some(read) = read_line(&mut input, &mut buf)? {
        line += 1;
        if line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        let item = match read {
            Err(len) => Err(ValidationErrors::single(
                "record",
                format!(
                    "the line is {len} bytes long, more than the {MAX_LINE_BYTES} a product can need"
                ),
            )),
            Ok(ended) => {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                ndjson_item(&buf, ended, options)
            }
        };
        n += 1;
        if !sink(Record { line, item }) {
            break;
        }
    }
    Ok(n)
}

fn ndjson_item(
    buf: &[u8],
    ended: bool,
    options: ReadOptions,
) -> Result<NewProduct, ValidationErrors> {
    if std::str::from_utf8(buf).is_err() {
        return Err(ValidationErrors::single(
            "record",
            "is not valid UTF-8 (save the file as UTF-8)",
        ));
    }
    match serde_json::from_slice::<Value>(buf) {
        Ok(v) => product_from_value(v, options),
        Err(e) if e.is_eof() && !ended => Err(ValidationErrors::single(
            "record",
            "the file ends in the middle of this line's JSON value (a truncated file?)",
        )),
        Err(e) => Err(ValidationErrors::single(
            "record",
            format!("is not valid JSON: {e}"),
        )),
    }
}

// ----------------------------------------------------------- JSON array

/// Counts the newlines the JSON parser has consumed (serde_json reads its
/// input a byte at a time, so the count is where it is).
struct LineCounter<R> {
    inner: R,
    newlines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.newlines.set(self.newlines.get() + lines);
        Ok(n)
    }
}

struct Items<'a> {
    newlines: Rc<Cell<u64>>,
    options: ReadOptions,
    sink: &'a mut dyn FnMut(Record) -> bool,
    count: u64,
}

impl<'de> Visitor<'de> for &mut Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of products")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            self.count += 1;
            let record = Record {
                line: self.newlines.get() + 1,
                item: product_from_value(value, self.options),
            };
            if !(self.sink)(record) {
                // Stopped early: the rest is not read.
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for &mut Items<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

fn read_json_array<R: Read>(
    input: R,
    options: ReadOptions,
    sink: &mut dyn FnMut(Record) -> bool,
) -> Result<u64, ReadError> {
    let newlines = Rc::new(Cell::new(0));
    let mut reader = BufReader::with_capacity(1 << 16, input);
    // A UTF-8 BOM is not JSON; editors on Windows write one.
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    let counted = LineCounter {
        inner: reader,
        newlines: newlines.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counted);
    let mut items = Items {
        newlines: newlines.clone(),
        options,
        sink,
        count: 0,
    };
    let parsed = (&mut items).deserialize(&mut de).and_then(|()| de.end());
    match parsed {
        Ok(()) => Ok(items.count),
        Err(e) if e.is_io() => Err(ReadError::Io(e.into())),
        Err(e) if e.is_eof() && items.count == 0 && e.line() <= 1 && e.column() == 0 => Ok(0),
        Err(e) => Err(malformed(
            e.line() as u64,
            if e.is_eof() {
                format!("the file ends inside the JSON array (a truncated file?): {e}")
            } else {
                format!("not a JSON array of products: {e}")
            },
        )),
    }
}
