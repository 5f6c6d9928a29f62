//! The real binary's life: graceful shutdown on SIGTERM (draining, a slow
//! request in flight, the shutdown timeout) over raw HTTP/1.1 connections,
//! so that each connection's fate is visible.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, SqliteFile, catalog, run_ok};
use serde_json::Value;

const SECRET: &str = "lifecycle-test-secret";

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A raw client connection: what it sends is exactly what the test wrote.
struct Conn(TcpStream);

impl Conn {
    fn open(server: &Server) -> std::io::Result<Self> {
        let addr = server.base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Self(stream))
    }

    fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).expect("write to the server");
    }

    fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.read_response().expect("a response")
    }

    /// Reads one response (the body by Content-Length; the tests' routes
    /// send no chunked bodies); `None` when the server closed first.
    fn read_response(&mut self) -> Option<Response> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match self.0.read(&mut byte) {
                Ok(0) | Err(_) => return None,
                Ok(_) => buf.push(byte[0]),
            }
        }
        let head = String::from_utf8(buf).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let len = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().expect("content-length"));
        let mut body = vec![0u8; len];
        self.0.read_exact(&mut body).ok()?;
        Some(Response {
            status,
            headers,
            body,
        })
    }
}

fn token() -> String {
    let done = run_ok(catalog(
        &["token", "--sub", "lifecycle"],
        &[("CATALOG_JWT_SECRET", SECRET)],
    ));
    done.stdout.trim().to_string()
}

fn sigterm(server: &mut Server) {
    let pid = server.child().id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success(), "kill -TERM {pid}");
}

/// Waits for the process to exit; its exit status and how long it took.
fn wait_exit(server: &mut Server, within: Duration) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = server.child().try_wait().unwrap() {
            server.child = None;
            return (status, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "still running {within:?} after SIGTERM; stderr:\n{}",
            server.stderr.read()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The head of a POST whose body is `len` bytes long.
fn post_head(token: &str, len: usize) -> String {
    format!(
        "POST /api/v1/products HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

const BODY: &str = r#"{"sku":"DRAIN-1","name":"In flight at SIGTERM","category":"Books","brand":"Acme","price":12.5,"stock_quantity":3}"#;

/// SIGTERM with a request in flight (its body half sent): /health turns
/// 503 with `draining` (on an open keep-alive connection, and on new ones
/// while `CATALOG_SHUTDOWN_DELAY` lasts), every response says
/// `Connection: close`, new connections are refused once the delay is
/// over, the in-flight write completes, and the process exits 0.
#[test]
fn sigterm_drains_then_finishes_the_request_in_flight() {
    let db = SqliteFile::create();
    let mut server = Server::spawn_with(
        db.url(),
        20,
        &[
            ("CATALOG_JWT_SECRET", SECRET),
            ("CATALOG_SHUTDOWN_DELAY", "2s"),
            ("CATALOG_SHUTDOWN_TIMEOUT", "20s"),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    rt.block_on(server.wait_ready(&http));
    let token = token();

    let mut slow = Conn::open(&server).unwrap();
    let (first, rest) = BODY.split_at(BODY.len() / 2);
    slow.send(post_head(&token, BODY.len()).as_bytes());
    slow.send(first.as_bytes());

    let mut keep_alive = Conn::open(&server).unwrap();
    let before = keep_alive.get("/health");
    assert_eq!(before.status, 200, "{:?}", before.json());
    assert_eq!(before.json().get("draining"), None);

    sigterm(&mut server);
    let signalled = Instant::now();
    std::thread::sleep(Duration::from_millis(400));

    let during = keep_alive.get("/health");
    assert_eq!(during.status, 503);
    let body = during.json();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["draining"], true, "{body}");
    assert_eq!(body["checks"]["database"], "up", "{body}");
    assert_eq!(during.header("connection"), Some("close"));

    // Still accepting during the delay, so that a load balancer polling
    // /health on fresh connections sees the 503.
    let mut fresh = Conn::open(&server).expect("accepting during CATALOG_SHUTDOWN_DELAY");
    let res = fresh.get("/api/v1/products?limit=1");
    assert_eq!(res.status, 200, "reads are still served while draining");
    assert_eq!(res.header("connection"), Some("close"));

    // Past the delay, nothing new is accepted.
    let past = Duration::from_millis(2_600).saturating_sub(signalled.elapsed());
    std::thread::sleep(past);
    assert!(
        Conn::open(&server).is_err(),
        "a new connection was accepted after the shutdown delay"
    );

    // The request in flight since before the signal completes.
    slow.send(rest.as_bytes());
    let created = slow
        .read_response()
        .expect("the in-flight request's answer");
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(created.json()["sku"], "DRAIN-1");

    let (status, _) = wait_exit(&mut server, Duration::from_secs(15));
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr.read()
    );

    // The write is there, with its change-log entry.
    let count = rt.block_on(async {
        use sea_orm::ConnectionTrait;
        let store = catalog_storage_sql::SqlStore::connect(db.url())
            .await
            .unwrap();
        let row = store
            .connection()
            .query_one_raw(sea_orm::Statement::from_string(
                store.connection().get_database_backend(),
                "SELECT (SELECT count(*) FROM products WHERE sku = 'DRAIN-1') \
                 + (SELECT count(*) FROM product_changes c JOIN products p \
                    ON p.id = c.product_id WHERE p.sku = 'DRAIN-1' AND c.op = 'create') AS n",
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        store.close().await.unwrap();
        n
    });
    assert_eq!(count, 2, "the product and its change-log entry");
}

/// A request still in flight when `CATALOG_SHUTDOWN_TIMEOUT` runs out is
/// cut off (its connection closes, nothing half-written), and the process
/// exits 0 soon after the timeout instead of hanging.
#[test]
fn shutdown_timeout_cuts_a_stuck_request() {
    let db = SqliteFile::create();
    let mut server = Server::spawn_with(
        db.url(),
        20,
        &[
            ("CATALOG_JWT_SECRET", SECRET),
            ("CATALOG_SHUTDOWN_TIMEOUT", "1s"),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(server.wait_ready(&reqwest::Client::new()));
    let token = token();

    let mut stuck = Conn::open(&server).unwrap();
    stuck.send(post_head(&token, BODY.len()).as_bytes());
    stuck.send(&BODY.as_bytes()[..10]);
    std::thread::sleep(Duration::from_millis(200));

    sigterm(&mut server);
    let (status, took) = wait_exit(&mut server, Duration::from_secs(10));
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        server.stderr.read()
    );
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}, before the shutdown timeout"
    );
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM with a 1 s shutdown timeout"
    );
    assert!(
        stuck.read_response().is_none_or(|r| r.status >= 400),
        "the stuck request was not cut off"
    );

    let products = rt.block_on(async {
        let store = catalog_storage_sql::SqlStore::connect(db.url())
            .await
            .unwrap();
        let n = catalog_domain::ProductWriter::count_all(&store)
            .await
            .unwrap();
        store.close().await.unwrap();
        n
    });
    assert_eq!(products, 20, "nothing of the cut request was written");
}
