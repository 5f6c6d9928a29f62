//! Product interchange: how products are written to and read from the
//! world outside the API's single-product bodies.
//!
//! - [`json`]: the JSON write body and its rules (POST, PUT, PATCH, and
//!   every JSON or NDJSON record of a bulk write or an import).
//! - [`read`]: CSV, NDJSON and JSON-array readers, streamed, each record a
//!   product or its field errors with a line number.
//! - [`write`]: CSV and NDJSON writers of exports, which read back as the
//!   same products.

pub mod json;
pub mod read;
pub mod write;

pub use read::{Format, ReadError, ReadOptions, Record, read_records};
