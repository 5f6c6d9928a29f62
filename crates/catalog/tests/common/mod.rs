//! The harness shared by the binary's integration tests: the `catalog`
//! command with a clean environment, a served instance killed on drop,
//! scratch databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use catalog_storage_sql::testing::{PgScratch, SqliteScratch};

pub const BIN: &str = env!("CARGO_BIN_EXE_catalog");

/// Variables of the contract that must not leak from the developer's shell
/// into the binary under test.
pub const CONTRACT_VARS: [&str; 21] = [
    "DATABASE_URL",
    "REDIS_URL",
    "CATALOG_ADDR",
    "CATALOG_JWT_SECRET",
    "CATALOG_SEED_COUNT",
    "CATALOG_CORS_ORIGINS",
    "CATALOG_CURSOR_SECRET",
    "CATALOG_DB_MAX_CONNECTIONS",
    "CATALOG_DB_STATEMENT_TIMEOUT_MS",
    "CATALOG_DB_ACQUIRE_TIMEOUT_MS",
    "CATALOG_LOG_FORMAT",
    "CATALOG_METRICS_TOKEN",
    "CATALOG_RATE_LIMIT",
    "CATALOG_TRUSTED_PROXIES",
    "CATALOG_REQUEST_TIMEOUT",
    "CATALOG_MAX_INFLIGHT_EXPENSIVE",
    "CATALOG_SHUTDOWN_TIMEOUT",
    "CATALOG_SHUTDOWN_DELAY",
    "CATALOG_SEARCH_INDEX",
    "CATALOG_CHANGE_LOG_RETENTION",
    "RUST_LOG",
];

/// A `catalog` command with a clean contract environment, `envs` on top.
pub fn catalog(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for var in CONTRACT_VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn");
    cmd.envs(envs.iter().copied());
    cmd
}

/// A temporary file that captures a child's output; removed on drop.
pub struct OutputFile(PathBuf);

impl OutputFile {
    pub fn new(label: &str) -> Self {
        let name = format!("catalog_e2e_{label}_{}.log", uuid::Uuid::new_v4().simple());
        Self(std::env::temp_dir().join(name))
    }

    pub fn stdio(&self) -> Stdio {
        Stdio::from(File::create(&self.0).expect("create output capture file"))
    }

    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The outcome of a finished command.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion (killing it after `timeout`).
pub fn run(mut cmd: Command, timeout: Duration) -> Finished {
    let out = OutputFile::new("stdout");
    let err = OutputFile::new("stderr");
    let mut child = cmd
        .stdout(out.stdio())
        .stderr(err.stdio())
        .spawn()
        .expect("spawn catalog");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for catalog") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                err.read()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished {
        status,
        stdout: out.read(),
        stderr: err.read(),
    }
}

/// Runs a command that must succeed.
pub fn run_ok(cmd: Command) -> Finished {
    let shown = format!("{cmd:?}");
    let done = run(cmd, Duration::from_secs(300));
    assert!(
        done.status.success(),
        "{shown} failed with {}; stderr:\n{}",
        done.status,
        done.stderr
    );
    done
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// A scratch SQLite file removed on drop, so a failing test leaves no file.
pub struct SqliteFile(Option<SqliteScratch>);

impl SqliteFile {
    pub fn create() -> Self {
        Self(Some(SqliteScratch::create()))
    }

    pub fn url(&self) -> &str {
        &self.0.as_ref().expect("scratch file").url
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        if let Some(scratch) = self.0.take() {
            scratch.remove();
        }
    }
}

/// A running `catalog serve`; killed on drop (a failed test never leaves it
/// behind), with its stderr printed when the test is panicking.
pub struct Server {
    pub child: Option<Child>,
    pub stderr: OutputFile,
    pub base: String,
}

impl Server {
    pub fn spawn(database_url: &str, seed_count: u64) -> Self {
        Self::spawn_with(database_url, seed_count, &[])
    }

    /// [`Server::spawn`] with more variables.
    pub fn spawn_with(database_url: &str, seed_count: u64, more: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let stderr = OutputFile::new("serve");
        let seed_count = seed_count.to_string();
        let mut envs = vec![
            ("DATABASE_URL", database_url),
            ("CATALOG_ADDR", &addr),
            ("CATALOG_SEED_COUNT", &seed_count),
        ];
        envs.extend_from_slice(more);
        let child = catalog(&["serve"], &envs)
            .stdout(Stdio::null())
            .stderr(stderr.stdio())
            .spawn()
            .expect("spawn catalog serve");
        Self {
            child: Some(child),
            stderr,
            base: format!("http://{addr}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("server already stopped")
    }

    /// Polls GET /health until 200; fails with the server's stderr when it
    /// exits first or takes over a minute.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child().try_wait().expect("poll catalog serve") {
                panic!(
                    "catalog serve exited early with {status}; stderr:\n{}",
                    self.stderr.read()
                );
            }
            if let Ok(res) = http.get(self.url("/health")).send().await
                && res.status() == reqwest::StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "catalog serve not healthy after 60 s; stderr:\n{}",
                self.stderr.read()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM and waits (up to 30 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child().id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child().try_wait().expect("poll catalog serve") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "catalog serve still running 30 s after SIGTERM; stderr:\n{}",
                self.stderr.read()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- catalog serve stderr ---\n{}", self.stderr.read());
        }
    }
}

pub fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Runs `checks` with the URL of a scratch PostgreSQL database in a task of
/// its own, so that a failing check still reaches the database's removal
/// (a server guard inside kills its process as the task unwinds). Skips
/// loudly when PostgreSQL is absent (fails under `CI=true`).
pub async fn with_scratch_pg<F>(checks: impl FnOnce(String) -> F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(db) = PgScratch::create().await else {
        return;
    };
    let outcome = tokio::spawn(checks(db.url.clone())).await;
    db.drop_db().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
