//! Scratch databases for tests: a fresh, migrated PostgreSQL database or
//! SQLite file per test, dropped afterwards. Shared by this crate's contract
//! tests and the binary's end-to-end tests.
//!
//! PostgreSQL is looked for at `CATALOG_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it is absent the
//! helpers print a loud warning and return `None` so the caller skips; with
//! `CI=true` they panic instead, so CI never passes by skipping.

use sea_orm::{ConnectionTrait, Database};

use crate::SqlStore;

pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Whether skipping for an absent service is forbidden.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Reports an absent service: a failure under CI, a loud skip otherwise.
pub fn service_absent(service: &str, why: &str) {
    let msg = format!("{service} is not reachable ({why})");
    if in_ci() {
        panic!("{msg}; CI=true forbids skipping");
    }
    eprintln!(
        "\n!!! SKIPPED: {msg}. Start it to run these tests (CI fails instead of skipping).\n"
    );
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A scratch PostgreSQL database.
#[derive(Debug)]
pub struct PgScratch {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgScratch {
    /// Creates an empty database; `None` (after a loud warning) when the
    /// server is absent and not under CI.
    pub async fn create() -> Option<Self> {
        let admin_url =
            std::env::var("CATALOG_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.into());
        let admin = match Database::connect(admin_url.as_str()).await {
            Ok(db) => db,
            Err(e) => {
                service_absent("PostgreSQL", &e.to_string());
                return None;
            }
        };
        let name = unique_name("catalog_test");
        // The name is generated here (hex only), never user input.
        if let Err(e) = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            panic!("creating scratch database {name}: {e}");
        }
        let _ = admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }

    /// Connects and migrates.
    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::connect(&self.url)
            .await
            .expect("connect to scratch database");
        store.migrate().await.expect("migrate scratch database");
        store
    }

    /// Drops the database (closing anything still connected).
    pub async fn drop_db(self) {
        if let Ok(admin) = Database::connect(self.admin_url.as_str()).await {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            if let Err(e) = admin.execute_unprepared(&sql).await {
                eprintln!(
                    "warning: could not drop scratch database {}: {e}",
                    self.name
                );
            }
            let _ = admin.close().await;
        }
    }
}

/// A scratch SQLite file (with its WAL and shared-memory files).
#[derive(Debug)]
pub struct SqliteScratch {
    pub url: String,
    path: std::path::PathBuf,
}

impl SqliteScratch {
    pub fn create() -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("catalog_test")));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            path,
        }
    }

    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::connect(&self.url)
            .await
            .expect("open scratch sqlite");
        store.migrate().await.expect("migrate scratch sqlite");
        store
    }

    pub fn remove(self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
