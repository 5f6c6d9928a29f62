//! The in-process HTTP harness the test crates share: [`TestApp`] runs the
//! real actix app (`catalog_http::build_app`) without a socket, and
//! [`Resp`] is a response read whole, with the accessors tests need.
//!
//! Only test crates depend on this (as a dev-dependency); the fixtures and
//! checks particular to one suite stay in that suite's `tests/common`.

// Test support: a failed unwrap is a failed assertion of the calling test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::rc::Rc;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use actix_web::web::Bytes;
use catalog_domain::CatalogService;
use catalog_http::{AppState, HttpConfig, build_app};
use futures::future::LocalBoxFuture;
use serde_json::Value;

/// What a suite asserts of every response an app answers.
pub type Check = fn(&Resp);

/// The app under test, type-erased so helpers need not name actix's request
/// and body types.
pub struct TestApp {
    call: Box<dyn Fn(TestRequest) -> LocalBoxFuture<'static, Resp>>,
    check: Option<Check>,
}

impl TestApp {
    /// The app over `service`, with the default HTTP configuration.
    pub async fn new(service: CatalogService) -> Self {
        Self::with_state(AppState::new(service, HttpConfig::default())).await
    }

    /// The app over this state.
    pub async fn with_state(state: AppState) -> Self {
        let app = Rc::new(init_service(build_app(state)).await);
        Self {
            call: Box::new(move |req: TestRequest| {
                let app = Rc::clone(&app);
                Box::pin(async move {
                    let res = call_service(&*app, req.to_request()).await;
                    let status = res.status();
                    let headers = res.headers().clone();
                    let body = read_body(res).await;
                    Resp {
                        status,
                        headers,
                        body,
                    }
                })
            }),
            check: None,
        }
    }

    /// Every response, whatever its status, must pass `check`.
    pub fn checking(mut self, check: Check) -> Self {
        self.check = Some(check);
        self
    }

    /// Sends a request. The future owns what it needs (not `self`), so
    /// tests can hold many at once, or race them.
    pub fn send(&self, req: TestRequest) -> LocalBoxFuture<'static, Resp> {
        let answer = (self.call)(req);
        let check = self.check;
        Box::pin(async move {
            let resp = answer.await;
            if let Some(check) = check {
                check(&resp);
            }
            resp
        })
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.send(TestRequest::get().uri(uri)).await
    }

    pub async fn get_if_none_match(&self, uri: &str, etag: &str) -> Resp {
        self.send(
            TestRequest::get()
                .uri(uri)
                .insert_header(("if-none-match", etag)),
        )
        .await
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// `X-Cache`, which every cacheable answer must carry.
    pub fn x_cache(&self) -> &str {
        self.header("x-cache")
            .unwrap_or_else(|| panic!("no X-Cache on a {} response", self.status))
    }

    pub fn etag(&self) -> &str {
        self.header("etag")
            .unwrap_or_else(|| panic!("no ETag on a {} response", self.status))
    }

    /// Asserts a 200 and returns self, for chaining.
    pub fn ok(self, what: &str) -> Self {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Ids of a list body's items, in order.
    pub fn ids(&self) -> Vec<i64> {
        item_ids(&self.json())
    }
}

/// Ids of a list body's items, in order.
pub fn item_ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array in {body}"))
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}
