//! The OpenAPI document agrees with the server: Schemathesis (from PyPI, a
//! pinned version in a venv under the target directory) runs every check
//! against the real `catalog` binary on a fresh SQLite database, with a
//! write token, a fixed seed and a bounded budget, and must find nothing.
//!
//! Without python3, its venv module or PyPI the test skips loudly, and
//! fails under `CI=true` (as the PostgreSQL tests do). How to run it by hand
//! and why each hook exists: docs/testing.md and `schemathesis/hooks.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use catalog_storage_sql::testing::SqliteScratch;

const BIN: &str = env!("CARGO_BIN_EXE_catalog");

/// The Schemathesis release the document is checked with. Its CLI is
/// checked below for every flag used, so an upgrade that renames one fails
/// with a clear message instead of a usage error.
const SCHEMATHESIS: &str = "4.32.5";

/// Flags of `schemathesis run` this test relies on (v4 spellings: v3 used
/// `--hypothesis-seed` and `--hypothesis-max-examples`).
const FLAGS: [&str; 8] = [
    "--checks",
    "--seed",
    "--max-examples",
    "--workers",
    "--header",
    "--generation-database",
    "--request-timeout",
    "--no-color",
];

/// The budget: examples per operation. About 1,300 requests, some 30 s on
/// two cores with a debug build.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "42";
/// Secret of the throw-away server (32 bytes, as production needs).
const JWT_SECRET: &str = "schemathesis-secret-0123456789abcdef";

/// Variables that must not leak from the developer's shell into the server.
const CLEARED: [&str; 8] = [
    "DATABASE_URL",
    "REDIS_URL",
    "CATALOG_ADDR",
    "CATALOG_JWT_SECRET",
    "CATALOG_SEED_COUNT",
    "CATALOG_CORS_ORIGINS",
    "CATALOG_MAX_OFFSET",
    "RUST_LOG",
];

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// An unavailable prerequisite: a failure under CI, a loud skip otherwise.
fn unavailable(what: &str) {
    assert!(!under_ci(), "{what}; CI=true forbids skipping");
    eprintln!("\n!!! SKIPPED: {what}. The OpenAPI/schemathesis check did not run.\n");
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The venv's `schemathesis`, installed on first use and reused while its
/// marker names the pinned version. `Err` says why it cannot be had.
fn schemathesis() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let marker = venv.join("catalog-installed");
    let exe = venv.join("bin").join("schemathesis");
    if std::fs::read_to_string(&marker).is_ok_and(|v| v == SCHEMATHESIS) && exe.exists() {
        return Ok(exe);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("python3 is not available ({e})"))?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv failed (is python3-venv installed?):\n{}",
            output_text(&made)
        ));
    }
    let pip = venv.join("bin").join("pip");
    let installed = Command::new(&pip)
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("schemathesis=={SCHEMATHESIS}"),
        ])
        .output()
        .map_err(|e| format!("could not run pip ({e})"))?;
    if !installed.status.success() {
        let _ = std::fs::remove_dir_all(&venv);
        return Err(format!(
            "pip install schemathesis=={SCHEMATHESIS} failed (is PyPI reachable?):\n{}",
            output_text(&installed)
        ));
    }
    std::fs::write(&marker, SCHEMATHESIS).expect("write the venv marker");
    Ok(exe)
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// The running server: killed on drop, its stderr shown when failing.
struct Server {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Server {
    fn spawn(database_url: &str) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let log =
            std::env::temp_dir().join(format!("catalog_schemathesis_{}.log", std::process::id()));
        let mut cmd = Command::new(BIN);
        for var in CLEARED {
            cmd.env_remove(var);
        }
        let child = cmd
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CATALOG_ADDR", &addr)
            .env("CATALOG_SEED_COUNT", "200")
            .env("CATALOG_JWT_SECRET", JWT_SECRET)
            // Thousands of requests from one client in seconds: no limit.
            .env("CATALOG_RATE_LIMIT", "off")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create the server log"))
            .spawn()
            .expect("spawn catalog serve");
        Self {
            child,
            log,
            base: format!("http://{addr}"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls /health until 200 (a minute at most).
    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll catalog serve") {
                panic!("catalog serve exited with {status}:\n{}", self.log());
            }
            if let Ok(res) = http.get(format!("{}/health", self.base)).send().await
                && res.status() == reqwest::StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "catalog serve not healthy after 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- catalog serve stderr ---\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A write token for the server's secret.
fn write_token() -> String {
    let out = Command::new(BIN)
        .args([
            "token",
            "--sub",
            "schemathesis",
            "--scope",
            "products:write",
        ])
        .args(["--ttl", "3600"])
        .env("CATALOG_JWT_SECRET", JWT_SECRET)
        .output()
        .expect("run catalog token");
    assert!(
        out.status.success(),
        "catalog token failed:\n{}",
        output_text(&out)
    );
    String::from_utf8(out.stdout)
        .expect("token is UTF-8")
        .trim()
        .to_string()
}

#[tokio::test]
async fn the_openapi_document_agrees_with_the_server() {
    let exe = match schemathesis() {
        Ok(exe) => exe,
        Err(why) => return unavailable(&why),
    };
    let help = Command::new(&exe)
        .args(["run", "--help"])
        .output()
        .expect("run schemathesis run --help");
    let help = output_text(&help);
    for flag in FLAGS {
        assert!(
            help.contains(flag),
            "schemathesis {SCHEMATHESIS} has no `run {flag}`; the test needs updating:\n{help}"
        );
    }

    let db = SqliteScratch::create();
    let mut server = Server::spawn(&db.url);
    server.wait_ready().await;
    let token = write_token();

    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    let run = Command::new(&exe)
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api-docs/openapi.json", server.base))
        // Every check; none is excluded (docs/testing.md).
        .args(["--checks", "all"])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
        // One worker: the run is deterministic for the seed.
        .args(["--workers", "1", "--generation-database", "none"])
        .args(["--request-timeout", "30", "--no-color"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &here)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let text = output_text(&run);
    drop(server);
    db.remove();
    assert!(
        run.status.success(),
        "schemathesis found the document and the server disagreeing \
         (exit {}):\n{text}",
        run.status
    );
    eprintln!("{text}");
}
