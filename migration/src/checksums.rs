//! Landed migrations are never edited: `checksums.txt` (beside
//! `Cargo.toml`) holds the SHA-256 of every migration file as it landed,
//! in `sha256sum` format, and this test recomputes them.
//!
//! A database that ran a migration keeps what that migration did then; an
//! edit changes only databases created afterwards, so fresh and upgraded
//! databases drift apart silently. A change to the schema is a new
//! migration (and an edit to the storage adapter's live schema).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Migrator, MigratorTrait};

/// `checksums.txt`: file (relative to the crate) -> SHA-256 in hex.
fn committed() -> BTreeMap<String, String> {
    include_str!("../checksums.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (sum, file) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (file.trim().to_string(), sum.to_string())
        })
        .collect()
}

/// Every migration file (`src/mYYYYMMDD_NNNNNN_*.rs`) and its SHA-256.
/// Line endings are normalised, so a checkout that converts them does not
/// count as an edit.
fn on_disk() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let entries = std::fs::read_dir(&src).unwrap_or_else(|e| panic!("reading {src:?}: {e}"));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {src:?}: {e}"));
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('m')
            && name.ends_with(".rs")
            && name.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
        {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())
            .unwrap_or_else(|e| panic!("reading {name}: {e}"))
            .replace("\r\n", "\n");
        let sum = Sha256::digest(text.as_bytes());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        files.insert(format!("src/{name}"), hex);
    }
    files
}

#[test]
fn landed_migrations_are_unchanged() {
    let committed = committed();
    let on_disk = on_disk();
    assert!(!committed.is_empty(), "checksums.txt lists no migration");
    let mut problems = Vec::new();
    for (file, sum) in &committed {
        match on_disk.get(file) {
            None => problems.push(format!(
                "{file} is in checksums.txt but gone: a landed migration is never removed"
            )),
            Some(actual) if actual != sum => problems.push(format!(
                "{file} changed (sha256 {actual}, checksums.txt says {sum}): landed \
                 migrations are never edited, since databases that ran them keep what they \
                 did; revert the edit and add a new migration instead (and change the live \
                 schema in catalog-storage-sql's schema.rs)"
            )),
            Some(_) => {}
        }
    }
    for (file, sum) in &on_disk {
        if !committed.contains_key(file) {
            problems.push(format!(
                "{file} is not in checksums.txt: when a new migration lands, add its line \
                 (`{sum}  {file}`, as `sha256sum {file}` prints it from migration/)"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_migration_file_is_registered() {
    let registered = Migrator::migrations().len();
    assert_eq!(
        on_disk().len(),
        registered,
        "each migration file is one entry of Migrator::migrations"
    );
}
