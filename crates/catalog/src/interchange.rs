//! `catalog import` and `catalog export`.
//!
//! An import streams its file on a blocking thread (records parsed and
//! checked by the API's rules, [`catalog_interchange::read`]) into batches
//! of [`MAX_BULK_ITEMS`], each upserted by sku in one transaction through
//! [`CatalogService::bulk_upsert`], which writes the change log and makes
//! the cache forget once per batch. Memory holds a few batches, plus 8
//! bytes per distinct sku to report a sku the file repeats. A rejected row
//! is reported with its line, field and message, and does not stop the
//! rest unless `--strict` is given, in which case the whole file is checked
//! first and nothing is written when any row is rejected.
//!
//! An export streams [`CatalogService::export`]'s pages (id order, the
//! list's filters) as CSV or NDJSON; what it writes imports back as is.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use catalog_domain::bulk::{ItemResult, MAX_BULK_ITEMS};
use catalog_domain::{CatalogError, CatalogService, NewProduct, UpsertOutcome};
use catalog_interchange::read::{Format, ReadError, ReadOptions, Record, read_records};
use catalog_storage_sql::SqlStore;
use futures::StreamExt;

/// Rejects printed to the terminal; the rest are counted (and all of
/// them go to `--errors`).
const SHOWN: u64 = 20;

/// What `catalog import` was asked.
#[derive(Debug, Clone)]
pub struct ImportArgs {
    /// A path, or `-` for standard input.
    pub file: String,
    pub format: Option<Format>,
    pub strict: bool,
    pub errors: Option<PathBuf>,
    pub ignore_unknown: bool,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Rows whose sku an earlier row of the file already had (the last
    /// one wins).
    pub repeated: u64,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error("{file}: {source}")]
    Read { file: String, source: ReadError },
    #[error("cannot write {path}: {source}")]
    Errors {
        path: String,
        source: std::io::Error,
    },
    #[error("--strict: {rejected} row(s) rejected, nothing was imported")]
    Strict { rejected: u64 },
    #[error("{summary}; stopped: {source}")]
    Write {
        summary: String,
        source: catalog_domain::CatalogError,
    },
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} created, {} updated, {} unchanged, {} rejected, {} repeated sku(s) (the last one wins)",
            self.rows, self.created, self.updated, self.unchanged, self.rejected, self.repeated
        )
    }
}

/// Where rejects and repeats are reported: the terminal (the first
/// [`SHOWN`]) and `--errors` (every one, as NDJSON).
struct Reporter {
    shown: u64,
    file: Option<(String, std::io::BufWriter<File>)>,
}

impl Reporter {
    fn new(path: Option<&Path>) -> Result<Self, ImportError> {
        let file = match path {
            Some(p) => {
                let f = File::create(p).map_err(|source| ImportError::Errors {
                    path: p.display().to_string(),
                    source,
                })?;
                Some((p.display().to_string(), std::io::BufWriter::new(f)))
            }
            None => None,
        };
        Ok(Self { shown: 0, file })
    }

    fn report(
        &mut self,
        line: u64,
        kind: &str,
        field: &str,
        message: &str,
    ) -> Result<(), ImportError> {
        if self.shown < SHOWN {
            eprintln!("line {line}: {kind}: {field}: {message}");
        } else if self.shown == SHOWN {
            eprintln!("... more in --errors FILE");
        }
        self.shown += 1;
        if let Some((path, w)) = &mut self.file {
            let entry =
                serde_json::json!({"line": line, "kind": kind, "field": field, "message": message});
            writeln!(w, "{entry}").map_err(|source| ImportError::Errors {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ImportError> {
        if let Some((path, w)) = &mut self.file {
            w.flush().map_err(|source| ImportError::Errors {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Counts the bytes read, for the progress bar.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn format_of(args: &ImportArgs) -> Result<Format, ImportError> {
    if let Some(f) = args.format {
        return Ok(f);
    }
    if args.file == "-" {
        return Err(ImportError::Usage(
            "reading standard input: say which format with --format csv|ndjson|json".into(),
        ));
    }
    Format::from_path(&args.file).ok_or_else(|| {
        ImportError::Usage(format!(
            "{}: cannot tell the format from the extension (.csv, .ndjson, .jsonl, .json): pass --format",
            args.file
        ))
    })
}

fn open(path: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), ImportError> {
    if path == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let f = File::open(path).map_err(|e| ImportError::Read {
        file: path.to_owned(),
        source: ReadError::Io(e),
    })?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

/// Shows progress: a bar on a terminal, a log line every 5 s elsewhere.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_log: Instant,
}

impl Progress {
    fn new(len: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match len {
                Some(n) => indicatif::ProgressBar::new(n).with_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {msg} ({eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                ),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            last_log: Instant::now(),
        }
    }

    fn update(&mut self, bytes: u64, summary: &ImportSummary) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{} rows", summary.rows));
            }
            None if self.last_log.elapsed() >= Duration::from_secs(5) => {
                self.last_log = Instant::now();
                tracing::info!(rows = summary.rows, bytes, "importing");
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `--strict`'s first pass: every row checked, nothing written. Standard
/// input is kept in a temporary file for the second pass.
fn check_all(
    args: &ImportArgs,
    format: Format,
    options: ReadOptions,
    reporter: &mut Reporter,
) -> Result<(String, Option<tempfile_path::TempPath>), ImportError> {
    let (path, temp) = if args.file == "-" {
        let temp = tempfile_path::TempPath::new()?;
        let mut f = File::create(temp.path()).map_err(|source| ImportError::Errors {
            path: temp.path().display().to_string(),
            source,
        })?;
        std::io::copy(&mut std::io::stdin(), &mut f).map_err(|e| ImportError::Read {
            file: "-".into(),
            source: ReadError::Io(e),
        })?;
        (temp.path().display().to_string(), Some(temp))
    } else {
        (args.file.clone(), None)
    };
    let (input, _) = open(&path)?;
    let mut rejected = 0;
    let mut failure = None;
    read_records(format, input, options, &mut |r: Record| {
        if let Err(errors) = &r.item {
            rejected += 1;
            for e in errors.errors() {
                if let Err(err) = reporter.report(r.line, "rejected", &e.field, &e.message) {
                    failure = Some(err);
                    return false;
                }
            }
        }
        true
    })
    .map_err(|source| ImportError::Read {
        file: args.file.clone(),
        source,
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if rejected > 0 {
        reporter.finish()?;
        return Err(ImportError::Strict { rejected });
    }
    Ok((path, temp))
}

/// The sku-repeat check: 8 bytes per distinct sku.
struct Seen {
    hasher: std::collections::hash_map::RandomState,
    hashes: HashSet<u64>,
}

impl Seen {
    fn new() -> Self {
        Self {
            hasher: std::collections::hash_map::RandomState::new(),
            hashes: HashSet::new(),
        }
    }

    /// Whether `sku` is new to this import (and remembers it).
    fn first(&mut self, sku: &str) -> bool {
        let mut h = self.hasher.build_hasher();
        h.write(sku.as_bytes());
        self.hashes.insert(h.finish())
    }
}

/// Batches of an import into a filled table handed to the database at
/// once: on PostgreSQL one writes while the next waits for the bulk lock
/// (batches that ran together deadlocked on the summaries), so the next
/// batch's rows are read and checked meanwhile.
const IN_FLIGHT: usize = 2;

/// A batch being written.
type Batch = tokio::task::JoinHandle<Result<catalog_domain::bulk::BulkResult, CatalogError>>;

/// Rows per `COPY` of an import into an empty table: about 100 MB of rows
/// were in flight at 20,000 (read, queued, encoded, sent on two lanes);
/// at 5,000 the peak RSS of a 1M-row import is 177 MB instead of 332, for
/// the same time.
const LOAD_BATCH: usize = 5_000;

/// Runs an import. `loader`: the SQL store behind `service`, for the fast
/// path of an import into an empty table (a bulk load: `COPY`, the derived
/// tables rebuilt once, one `reload` entry in the change log).
pub async fn import(
    service: &CatalogService,
    loader: Option<&SqlStore>,
    args: &ImportArgs,
) -> Result<ImportSummary, ImportError> {
    let format = format_of(args)?;
    let options = ReadOptions {
        ignore_unknown: args.ignore_unknown,
    };
    let mut reporter = Reporter::new(args.errors.as_deref())?;
    let started = Instant::now();
    let (path, _temp) = if args.strict {
        check_all(args, format, options, &mut reporter)?
    } else {
        (args.file.clone(), None)
    };
    let (input, len) = open(&path)?;
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: input,
        read: bytes.clone(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Record>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(MAX_BULK_ITEMS);
        let read = read_records(format, counted, options, &mut |r| {
            batch.push(r);
            if batch.len() == MAX_BULK_ITEMS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BULK_ITEMS));
                // The writer stopped: stop reading.
                return tx.blocking_send(full).is_ok();
            }
            true
        });
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        read
    });

    let mut progress = Progress::new(len);
    let empty = match loader {
        Some(store) => {
            catalog_domain::ProductWriter::count_all(store)
                .await
                .map_err(|e| ImportError::Write {
                    summary: ImportSummary::default().to_string(),
                    source: e.into(),
                })?
                == 0
        }
        None => false,
    };
    let mut run = Run {
        service,
        summary: ImportSummary::default(),
        seen: Seen::new(),
        reporter: &mut reporter,
        progress: &mut progress,
        bytes: &bytes,
    };
    let written = match loader {
        Some(store) if empty => {
            tracing::info!(
                "the products table is empty: bulk-loading (COPY, derived tables rebuilt once)"
            );
            run.load_empty(store, rx).await
        }
        _ => run.upsert_all(rx).await,
    };
    let summary = run.summary;
    progress.finish();
    reporter.finish()?;
    if let Err(source) = written {
        return Err(ImportError::Write {
            summary: summary.to_string(),
            source,
        });
    }
    match reader.await {
        Ok(Ok(_)) => {}
        Ok(Err(source)) => {
            return Err(ImportError::Read {
                file: args.file.clone(),
                source,
            });
        }
        Err(e) => {
            return Err(ImportError::Usage(format!("the reader stopped: {e}")));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        rows = summary.rows,
        created = summary.created,
        updated = summary.updated,
        unchanged = summary.unchanged,
        rejected = summary.rejected,
        repeated = summary.repeated,
        seconds = format!("{secs:.2}"),
        rows_per_second = if secs > 0.0 {
            (summary.rows as f64 / secs) as u64
        } else {
            0
        },
        "import done"
    );
    Ok(summary)
}

/// One import's state while it writes.
struct Run<'a> {
    service: &'a CatalogService,
    summary: ImportSummary,
    seen: Seen,
    reporter: &'a mut Reporter,
    progress: &'a mut Progress,
    bytes: &'a AtomicU64,
}

impl Run<'_> {
    /// A record's product, counted: rejects reported, a repeated sku
    /// reported (`Ok((p, false))`).
    fn take(&mut self, r: Record) -> Result<Option<(NewProduct, bool)>, ImportError> {
        self.summary.rows += 1;
        match r.item {
            Ok(p) => {
                let first = self.seen.first(p.sku.as_str());
                if !first {
                    self.summary.repeated += 1;
                    self.reporter.report(
                        r.line,
                        "repeated",
                        "sku",
                        &format!(
                            "{} appears on an earlier line too; this later line wins",
                            p.sku.as_str()
                        ),
                    )?;
                }
                Ok(Some((p, first)))
            }
            Err(errors) => {
                self.summary.rejected += 1;
                for e in errors.errors() {
                    self.reporter
                        .report(r.line, "rejected", &e.field, &e.message)?;
                }
                Ok(None)
            }
        }
    }

    fn count(&mut self, outcome: UpsertOutcome) {
        match outcome {
            UpsertOutcome::Created => self.summary.created += 1,
            UpsertOutcome::Updated => self.summary.updated += 1,
            UpsertOutcome::Unchanged => self.summary.unchanged += 1,
        }
    }

    /// Upserts `products` (valid, in file order) in one batch.
    async fn upsert(&mut self, products: Vec<NewProduct>) -> Result<(), CatalogError> {
        if products.is_empty() {
            return Ok(());
        }
        let items: Vec<_> = products.into_iter().map(Ok).collect();
        let result = self.service.bulk_upsert(&items, false, None).await?;
        for item in result.items {
            if let ItemResult::Applied { outcome, .. } = item {
                self.count(outcome);
            }
        }
        Ok(())
    }

    /// Counts a finished batch.
    async fn join(&mut self, running: Batch) -> Result<(), CatalogError> {
        let result = running
            .await
            .map_err(|e| CatalogError::internal("an import batch", e.to_string()))??;
        for item in result.items {
            if let ItemResult::Applied { outcome, .. } = item {
                self.count(outcome);
            }
        }
        self.progress
            .update(self.bytes.load(Ordering::Relaxed), &self.summary);
        Ok(())
    }

    /// Every batch upserted as it comes, [`IN_FLIGHT`] at a time. A batch that
    /// repeats a sku of an earlier row waits for every batch before it, so
    /// the last row still wins.
    async fn upsert_all(
        &mut self,
        mut rx: tokio::sync::mpsc::Receiver<Vec<Record>>,
    ) -> Result<(), CatalogError> {
        let mut running: std::collections::VecDeque<Batch> = std::collections::VecDeque::new();
        while let Some(batch) = rx.recv().await {
            let mut products = Vec::with_capacity(batch.len());
            let mut repeats = false;
            for r in batch {
                if let Some((p, first)) = self.take(r).map_err(io_failure)? {
                    repeats |= !first;
                    products.push(Ok(p));
                }
            }
            while running.len() >= IN_FLIGHT || (repeats && !running.is_empty()) {
                if let Some(done) = running.pop_front() {
                    self.join(done).await?;
                }
            }
            if products.is_empty() {
                continue;
            }
            let service = self.service.clone();
            running.push_back(tokio::spawn(async move {
                service.bulk_upsert(&products, false, None).await
            }));
        }
        while let Some(done) = running.pop_front() {
            self.join(done).await?;
        }
        Ok(())
    }

    /// An empty table's import: each sku's first row is bulk-loaded, the
    /// rows that repeat a sku are upserted after the load, in file order
    /// (so the last one wins), and the cache forgets once.
    async fn load_empty(
        &mut self,
        store: &SqlStore,
        mut rx: tokio::sync::mpsc::Receiver<Vec<Record>>,
    ) -> Result<(), CatalogError> {
        let (load_tx, load_rx) = tokio::sync::mpsc::channel::<Vec<NewProduct>>(2);
        let mut later: Vec<NewProduct> = Vec::new();
        let feed = async {
            let mut pending = Vec::with_capacity(LOAD_BATCH);
            while let Some(batch) = rx.recv().await {
                for r in batch {
                    match self.take(r) {
                        Ok(Some((p, true))) => pending.push(p),
                        Ok(Some((p, false))) => later.push(p),
                        Ok(None) => {}
                        Err(e) => return Err(io_failure(e)),
                    }
                }
                if pending.len() >= LOAD_BATCH {
                    let full = std::mem::replace(&mut pending, Vec::with_capacity(LOAD_BATCH));
                    if load_tx.send(full).await.is_err() {
                        // The load failed: its error is reported.
                        return Ok(());
                    }
                }
                self.progress
                    .update(self.bytes.load(Ordering::Relaxed), &self.summary);
            }
            if !pending.is_empty() {
                let _ = load_tx.send(pending).await;
            }
            drop(load_tx);
            Ok(())
        };
        let load = store.bulk_load_batches(load_rx, |_| {});
        let (fed, loaded) = tokio::join!(feed, load);
        let report = loaded.map_err(CatalogError::from)?;
        fed?;
        self.summary.created += report.inserted;
        for chunk in later.chunks(MAX_BULK_ITEMS) {
            self.upsert(chunk.to_vec()).await?;
        }
        self.service.invalidate_all().await;
        Ok(())
    }
}

/// An `--errors` file that cannot be written stops the import.
fn io_failure(e: ImportError) -> CatalogError {
    CatalogError::internal("writing the errors file", e.to_string())
}

/// Runs an export of `filter` to `out`; returns the rows written.
pub async fn export(
    service: &CatalogService,
    filter: catalog_domain::ProductFilter,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<u64, crate::AppError> {
    let mut pages = service.export(filter);
    let mut rows = 0;
    let io = |e: std::io::Error| crate::AppError::Io(e);
    if format == Format::Csv {
        out.write_all(&catalog_interchange::write::csv_header())
            .map_err(io)?;
    }
    let mut buf = Vec::with_capacity(1 << 20);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| crate::AppError::Export(e.to_string()))?;
        rows += page.len() as u64;
        buf.clear();
        buf = match format {
            Format::Csv => catalog_interchange::write::csv_rows(&page, buf),
            _ => catalog_interchange::write::ndjson_rows(&page, buf),
        };
        out.write_all(&buf).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(rows)
}

/// A temporary file removed when dropped (standard input kept for
/// `--strict`'s second pass).
mod tempfile_path {
    use std::path::{Path, PathBuf};

    pub struct TempPath(PathBuf);

    impl TempPath {
        pub fn new() -> Result<Self, super::ImportError> {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            Ok(Self(std::env::temp_dir().join(format!(
                "catalog-import-{}-{nanos}.tmp",
                std::process::id()
            ))))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
