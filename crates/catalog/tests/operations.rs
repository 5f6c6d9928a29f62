//! Operations, end to end against the real binary: JSON access log lines
//! (`CATALOG_LOG_FORMAT=json`), `/metrics` with the pool and search index
//! series, and no secret in any log line, even at debug level.
//!
//! The SQLite test always runs; the PostgreSQL one (a password in the
//! URL) skips loudly when the server is absent, or fails under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Server, SqliteFile, with_scratch_pg};
use serde_json::Value;

const JWT_SECRET: &str = "jwt-secret-e2e-7f3a";
const CURSOR_SECRET: &str = "cursor-secret-e2e-91bc";
const METRICS_TOKEN: &str = "metrics-token-e2e-55d0";

/// `catalog serve` with JSON logs at debug level for the binary's own
/// lines (the configuration is logged there, and must not carry a secret
/// either), and every secret set.
fn spawn(database_url: &str) -> Server {
    Server::spawn_with(
        database_url,
        40,
        &[
            ("CATALOG_LOG_FORMAT", "json"),
            ("RUST_LOG", "info,catalog=debug"),
            ("CATALOG_JWT_SECRET", JWT_SECRET),
            ("CATALOG_CURSOR_SECRET", CURSOR_SECRET),
            ("CATALOG_METRICS_TOKEN", METRICS_TOKEN),
        ],
    )
}

/// The metric families the Grafana dashboard's queries name (histogram
/// series by their family name).
fn dashboard_metrics() -> std::collections::BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/catalog-dashboard.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if ["http_", "catalog_", "process_"]
                    .iter()
                    .any(|p| token.starts_with(p))
                {
                    let family = token.strip_suffix("_bucket").unwrap_or(token);
                    names.insert(family.to_string());
                }
            }
        }
    }
    assert!(names.len() > 10, "{names:?}");
    names
}

/// Serves `database_url`, makes a few requests, then checks the metrics,
/// the access log and that none of `secrets` was ever logged.
async fn check_operations(database_url: &str, secrets: &[&str]) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = spawn(database_url);
    server.wait_ready(&http).await;

    let detail = http
        .get(server.url("/api/v1/products/3"))
        .header("x-request-id", "ops-e2e-detail")
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), 200);
    assert_eq!(
        detail
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let missing = http
        .get(server.url("/no/such/path"))
        .header("x-request-id", "ops-e2e-missing")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let refused = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // The index's gauges (products, sequence, lag) exist once it is built:
    // scrape a ready instance, as the dashboard's panels assume.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let health: serde_json::Value = http
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["checks"]["search_index"] == "ready" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the search index was not ready in 60 s: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let metrics = http
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for series in [
        "http_requests_total{route=\"/api/v1/products/{id}\",method=\"GET\",status=\"200\"} 1",
        "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "catalog_db_pool_size ",
        "catalog_db_pool_idle ",
        "catalog_db_pool_in_use ",
        "catalog_search_index_ready ",
        "catalog_storage_duration_seconds_count{operation=\"get\"}",
        "catalog_cache_operation_duration_seconds_count{backend=\"memory\",operation=\"lookup\"}",
        "catalog_build_info{version=",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    // Every series the starter dashboard queries is one we expose (error
    // counters by operation appear with their first error).
    let after_first_error = [
        "catalog_storage_errors_total",
        "catalog_cache_operation_errors_total",
    ];
    for name in dashboard_metrics()
        .into_iter()
        .filter(|n| !after_first_error.contains(&n.as_str()))
    {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "deploy/grafana/catalog-dashboard.json queries {name}, which /metrics lacks"
        );
    }
    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}");
    let log = server.stderr.read();

    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id} in:\n{log}"))
            .clone()
    };
    let line = access("ops-e2e-detail");
    assert_eq!(line["target"], "catalog::access", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    let f = &line["fields"];
    assert_eq!(f["message"], "request served", "{line}");
    assert_eq!(f["method"], "GET", "{line}");
    assert_eq!(f["route"], "/api/v1/products/{id}", "{line}");
    assert_eq!(f["path"], "/api/v1/products/3", "{line}");
    assert_eq!(f["status"], 200, "{line}");
    assert!(
        f["duration_ms"].as_f64().is_some_and(|d| d >= 0.0),
        "{line}"
    );
    assert!(f["bytes"].as_u64().is_some_and(|b| b > 0), "{line}");
    let line = access("ops-e2e-missing");
    assert_eq!(line["fields"]["route"], "unmatched", "{line}");
    assert_eq!(line["fields"]["status"], 404, "{line}");
    // The configuration was logged (at debug), redacted.
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "configuration"),
        "no configuration line in:\n{log}"
    );
    for secret in secrets
        .iter()
        .chain(&[JWT_SECRET, CURSOR_SECRET, METRICS_TOKEN])
    {
        assert!(!log.contains(secret), "{secret} was logged:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_metrics_and_no_secret_in_logs_on_sqlite() {
    let db = SqliteFile::create();
    check_operations(db.url(), &[]).await;
}

/// A password in `DATABASE_URL` (the test server trusts local
/// connections, so any password connects) never reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_password_is_never_logged() {
    with_scratch_pg(|url| async move {
        let password = "pg-pass-e2e-3c1d";
        // postgres://user@host/db → postgres://user:password@host/db
        let (scheme, rest) = url.split_once("://").unwrap();
        let url = match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or(user);
                format!("{scheme}://{user}:{password}@{host}")
            }
            None => format!("{scheme}://postgres:{password}@{rest}"),
        };
        check_operations(&url, &[password]).await;
    })
    .await;
}
