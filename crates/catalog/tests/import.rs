//! `catalog import` and `catalog export` as a user runs them, on SQLite
//! and on PostgreSQL: the summary and exit status, rejects with their line
//! and field (and `--errors`), a repeated sku (the last one wins),
//! idempotence (the same file twice: no new version, no change-log entry),
//! `--strict` (nothing written), standard input, the derived tables
//! (`catalog verify`), and an export that imports back unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Finished, SqliteFile, catalog, run, with_scratch_pg};
use sea_orm::{ConnectionTrait, Database, Statement};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let p =
            std::env::temp_dir().join(format!("catalog_import_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn file(&self, name: &str, content: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cli(url: &str, args: &[&str]) -> Finished {
    run(
        catalog(args, &[("DATABASE_URL", url)]),
        Duration::from_secs(120),
    )
}

fn cli_stdin(url: &str, args: &[&str], stdin: &Path) -> Finished {
    let mut cmd = catalog(args, &[("DATABASE_URL", url)]);
    cmd.stdin(File::open(stdin).unwrap());
    run(cmd, Duration::from_secs(120))
}

fn code(f: &Finished) -> i32 {
    f.status.code().unwrap_or(-1)
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let v: i64 = row.try_get_by_index(0).unwrap();
    let _ = db.close().await;
    v
}

const HEADER: &str = "sku,name,description,category,brand,price,stock_quantity,rating,is_active\n";

/// 50 valid rows, one with a price that is not a number (line 27), and a
/// repeat of IMP-0010 (line 53) that wins.
fn catalog_csv() -> String {
    let mut s = HEADER.to_owned();
    for i in 1..=50 {
        s.push_str(&format!(
            "IMP-{i:04},Imported lamp {i},\"Made of brass, {i} of 50\",Lighting,Importers,{}.99,{i},4.{},true\n",
            10 + i,
            i % 10
        ));
        if i == 25 {
            s.push_str("IMP-BAD,Broken row,,Lighting,Importers,abc,1,1,true\n");
        }
    }
    s.push_str("IMP-0010,Imported lamp ten (the last word),,Lighting,Importers,5,1,1,false\n");
    s
}

async fn import_contract(url: String) {
    let dir = Dir::new();
    let file = dir.file("catalog.csv", &catalog_csv());
    let errors = dir.path("errors.ndjson");

    // First import: every valid row, the bad one reported, exit status 3.
    let first = cli(&url, &["import", &file, "--errors", &errors]);
    assert_eq!(
        code(&first),
        3,
        "stdout:\n{}\nstderr:\n{}",
        first.stdout,
        first.stderr
    );
    assert!(
        first
            .stdout
            .contains("52 rows: 50 created, 1 updated, 0 unchanged, 1 rejected, 1 repeated"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stderr
            .contains("line 27: rejected: price: must be a number"),
        "{}",
        first.stderr
    );
    let reported: Vec<serde_json::Value> = std::fs::read_to_string(&errors)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(
        reported
            .iter()
            .any(|r| r["line"] == 27 && r["kind"] == "rejected" && r["field"] == "price")
    );
    assert!(
        reported
            .iter()
            .any(|r| r["line"] == 53 && r["kind"] == "repeated" && r["field"] == "sku")
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM products").await, 50);
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM products WHERE sku = 'IMP-0010' AND name = 'Imported lamp ten (the last word)' AND is_active = false").await,
        1,
        "the last row of a repeated sku wins"
    );
    // Into an empty table the import is a bulk load: one `reload` entry
    // (followers rebuild), then the repeated sku's row as an update.
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM product_changes WHERE op = 'reload'"
        )
        .await,
        1,
        "an import into an empty table is a bulk load"
    );
    let changes = scalar(&url, "SELECT count(*) FROM product_changes").await;
    let stamp = "SELECT count(*) FROM products WHERE version = 1";
    assert_eq!(
        scalar(&url, stamp).await,
        49,
        "the repeated sku's product is at version 2"
    );

    // The same file again changes nothing: no version, no change entry.
    let second = cli(&url, &["import", &file]);
    assert_eq!(code(&second), 3, "{}", second.stderr);
    assert!(
        second
            .stdout
            .contains("52 rows: 0 created, 0 updated, 50 unchanged, 1 rejected, 1 repeated"),
        "{}",
        second.stdout
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM product_changes").await,
        changes
    );
    assert_eq!(
        scalar(&url, stamp).await,
        49,
        "no product got a new version"
    );

    // The derived tables (summaries, histogram, full-text data) agree.
    let verify = cli(&url, &["verify", "--no-index"]);
    assert_eq!(code(&verify), 0, "{}\n{}", verify.stdout, verify.stderr);

    // --strict: a file with a bad row writes nothing at all.
    let strict = dir.file(
        "strict.csv",
        &format!("{HEADER}NEW-0001,Fine,,Lighting,Importers,1,1,1,true\nNEW-0002,,,Lighting,Importers,1,1,1,true\n"),
    );
    let refused = cli(&url, &["import", &strict, "--strict"]);
    assert_eq!(code(&refused), 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("line 3: rejected: name"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("--strict: 1 row(s) rejected, nothing was imported"),
        "{}",
        refused.stderr
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM products").await, 50);

    // Standard input, NDJSON: an update and a create.
    let nd = dir.file(
        "in.ndjson",
        "{\"sku\":\"IMP-0001\",\"name\":\"Renamed lamp\",\"category\":\"Lighting\",\"brand\":\"Importers\",\"price\":1}\n\
         {\"sku\":\"NEW-0003\",\"name\":\"Streamed\",\"category\":\"Lighting\",\"brand\":\"Importers\",\"price\":2}\n",
    );
    let piped = cli_stdin(&url, &["import", "-", "--format", "ndjson"], Path::new(&nd));
    assert_eq!(code(&piped), 0, "{}", piped.stderr);
    assert!(
        piped
            .stdout
            .contains("2 rows: 1 created, 1 updated, 0 unchanged, 0 rejected"),
        "{}",
        piped.stdout
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM product_changes").await,
        changes + 2,
        "an upsert into a filled table writes one change-log entry per written product"
    );
    let no_format = cli_stdin(&url, &["import", "-"], Path::new(&nd));
    assert_eq!(code(&no_format), 1);
    assert!(
        no_format.stderr.contains("--format"),
        "{}",
        no_format.stderr
    );

    // Unknown columns stop the import before anything is written.
    let unknown = dir.file(
        "unknown.csv",
        "sku,name,colour,category,brand,price\nNEW-0009,X,red,A,B,1\n",
    );
    let r = cli(&url, &["import", &unknown]);
    assert_eq!(code(&r), 1);
    assert!(
        r.stderr.contains("line 1") && r.stderr.contains("colour"),
        "{}",
        r.stderr
    );
    let r = cli(&url, &["import", &unknown, "--ignore-unknown"]);
    assert_eq!(code(&r), 0, "{}", r.stderr);

    // An export imports back unchanged, in both formats; filters apply.
    for format in ["csv", "ndjson"] {
        let out = dir.path(&format!("export.{format}"));
        let r = cli(&url, &["export", "--format", format, "--output", &out]);
        assert_eq!(code(&r), 0, "{}", r.stderr);
        let back = cli(&url, &["import", &out]);
        assert_eq!(code(&back), 0, "{}", back.stderr);
        assert!(
            back.stdout
                .contains("52 rows: 0 created, 0 updated, 52 unchanged"),
            "{format}: {}",
            back.stdout
        );
    }
    let r = cli(&url, &["export", "--format", "csv", "--max-price", "20"]);
    assert_eq!(code(&r), 0, "{}", r.stderr);
    let rows = r.stdout.lines().count() - 1;
    assert_eq!(
        rows as i64,
        scalar(
            &url,
            "SELECT count(*) FROM products WHERE price_cents <= 2000"
        )
        .await
    );
    let r = cli(&url, &["export", "--min-price", "abc"]);
    assert_eq!(code(&r), 1);
    assert!(r.stderr.contains("--min-price"), "{}", r.stderr);
}

#[tokio::test]
async fn import_and_export_on_sqlite() {
    let db = SqliteFile::create();
    import_contract(db.url().to_owned()).await;
}

#[tokio::test]
async fn import_and_export_on_postgres() {
    with_scratch_pg(import_contract).await;
}
