//! The catalog explorer (`GET /`) end to end in headless Chromium: the real
//! `catalog` binary on a fresh SQLite database with 60,000 products and a
//! write secret (and a second one with 3,000 and `CATALOG_MAX_OFFSET`),
//! driven by `explorer/e2e.mjs` through `playwright-core`.
//!
//! Prerequisites, installed on first use and never a downloaded browser:
//! `playwright-core` pinned by `explorer/package-lock.json`, installed with
//! `npm ci --ignore-scripts` into the target directory; Debian's `chromium`
//! (`apt-get install -y chromium` when `/usr/bin/chromium` is missing).
//! Without node/npm, the npm registry or the Debian package the test skips
//! loudly, and fails under `CI=true` (as the PostgreSQL and schemathesis
//! tests do). How to run the scripts by hand: docs/ui/README.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Server, SqliteFile, catalog, run, run_ok};

/// The playwright-core release the scripts are written against; the
/// committed package.json and package-lock.json pin the same.
const PLAYWRIGHT_CORE: &str = "1.65.2";
const CHROMIUM: &str = "/usr/bin/chromium";
/// Enough rows to scroll to row 50,000 (some 12 s of seeding in a debug
/// build on two cores).
const SEED_COUNT: u64 = 60_000;
const JWT_SECRET: &str = "explorer-secret-0123456789abcdef01234";

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// An unavailable prerequisite: a failure under CI, a loud skip otherwise.
fn unavailable(what: &str) {
    assert!(!under_ci(), "{what}; CI=true forbids skipping");
    eprintln!("\n!!! SKIPPED: {what}. The explorer's browser tests did not run.\n");
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/explorer")
}

/// A directory holding `node_modules/playwright-core`, installed with
/// `npm ci` from the committed lock file and reused while the lock file is
/// unchanged. `Err` says why it cannot be had.
fn playwright() -> Result<PathBuf, String> {
    let package = std::fs::read_to_string(scripts().join("package.json"))
        .map_err(|e| format!("read package.json: {e}"))?;
    assert!(
        package.contains(&format!("\"playwright-core\": \"{PLAYWRIGHT_CORE}\"")),
        "package.json must pin playwright-core {PLAYWRIGHT_CORE} exactly"
    );
    let lock = std::fs::read_to_string(scripts().join("package-lock.json"))
        .map_err(|e| format!("read package-lock.json: {e}"))?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer-node");
    let marker = dir.join("catalog-installed");
    let installed = dir.join("node_modules/playwright-core/package.json");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == lock) && installed.exists() {
        return Ok(dir);
    }
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is not available ({e}); apt-get install nodejs npm"))?;
    if !node.status.success() {
        return Err(format!("node --version failed:\n{}", output_text(&node)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(scripts().join(file), dir.join(file))
            .map_err(|e| format!("copy {file}: {e}"))?;
    }
    let ci = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        // playwright-core has no install script; this says so twice.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("npm is not available ({e}); apt-get install npm"))?;
    if !ci.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "npm ci (playwright-core {PLAYWRIGHT_CORE}) failed (is the npm registry reachable?):\n{}",
            output_text(&ci)
        ));
    }
    std::fs::write(&marker, lock).expect("write the install marker");
    Ok(dir)
}

/// Debian's Chromium, installed with apt-get when missing (the tests run
/// as root in CI). Never a browser download of Playwright's own.
fn chromium() -> Result<PathBuf, String> {
    let exe = PathBuf::from(CHROMIUM);
    if exe.exists() {
        return Ok(exe);
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
    };
    let mut out = install()
        .map_err(|e| format!("{CHROMIUM} is missing and apt-get is not available ({e})"))?;
    if !out.status.success() {
        // A fresh machine may have no package lists yet.
        let _ = Command::new("apt-get")
            .arg("update")
            .stdin(Stdio::null())
            .output();
        out = install().map_err(|e| format!("apt-get install chromium: {e}"))?;
    }
    if !out.status.success() || !exe.exists() {
        return Err(format!(
            "{CHROMIUM} is missing and `apt-get install -y chromium` failed:\n{}",
            output_text(&out)
        ));
    }
    Ok(exe)
}

/// A write token for the server's secret.
fn write_token() -> String {
    let done = run_ok(catalog(
        &[
            "token",
            "--sub",
            "explorer-e2e",
            "--scope",
            "products:write",
        ],
        &[("CATALOG_JWT_SECRET", JWT_SECRET)],
    ));
    done.stdout.trim().to_string()
}

/// Waits until the in-memory search index is built, so that the search
/// step measures the page, not the index's first build.
async fn wait_for_search_index(server: &Server, http: &reqwest::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health: serde_json::Value = http
            .get(server.url("/health"))
            .send()
            .await
            .expect("GET /health")
            .json()
            .await
            .expect("health JSON");
        if health["checks"]["search_index"] != "building" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "search index still building: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_explorer_works_in_chromium() {
    let started = Instant::now();
    let node_dir = match playwright() {
        Ok(dir) => dir,
        Err(why) => return unavailable(&why),
    };
    let browser = match chromium() {
        Ok(exe) => exe,
        Err(why) => return unavailable(&why),
    };

    let db = SqliteFile::create();
    let mut server = Server::spawn_with(
        db.url(),
        SEED_COUNT,
        &[
            ("CATALOG_JWT_SECRET", JWT_SECRET),
            // Empty is unset: no limit, whatever the caller's shell says.
            ("CATALOG_MAX_OFFSET", ""),
            // A browser fires bursts of page requests while scrolling.
            ("CATALOG_RATE_LIMIT", "off"),
        ],
    );
    // A small second one whose offsets stop at 1,000: a drag past that is
    // clamped and cursors walk on (started now, ready long before needed).
    let capped_db = SqliteFile::create();
    let mut capped = Server::spawn_with(
        capped_db.url(),
        3_000,
        &[
            ("CATALOG_MAX_OFFSET", "1000"),
            ("CATALOG_RATE_LIMIT", "off"),
        ],
    );
    let http = reqwest::Client::new();
    server.wait_ready(&http).await;
    capped.wait_ready(&http).await;
    wait_for_search_index(&server, &http).await;
    let ready = started.elapsed();

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explorer-failure.png");
    let mut node = Command::new("node");
    node.arg(scripts().join("e2e.mjs"))
        .env("EXPLORER_NODE_DIR", &node_dir)
        .env("EXPLORER_BASE", &server.base)
        .env("EXPLORER_CAPPED_BASE", &capped.base)
        .env("EXPLORER_TOKEN", write_token())
        .env("EXPLORER_FAILURE_SHOT", &shot)
        .env("CHROMIUM", &browser)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null());
    let done = run(node, Duration::from_secs(180));
    assert!(
        done.status.success(),
        "the explorer's browser test failed ({}); a screenshot of the page is at {}:\n{}{}",
        done.status,
        shot.display(),
        done.stdout,
        done.stderr
    );
    eprintln!(
        "{}explorer: server ready in {:.1} s, whole test {:.1} s",
        done.stdout,
        ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
