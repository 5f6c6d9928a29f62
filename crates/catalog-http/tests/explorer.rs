//! The catalog explorer's routes: `/` and its files under `/explorer/`,
//! embedded in the binary, under a strict Content-Security-Policy, out of
//! the API's documentation. The page itself is tested in a browser by
//! crates/catalog/tests/explorer.rs.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use actix_web::test::TestRequest;
use catalog_domain::CatalogService;
use catalog_http::{AppState, HttpConfig};
use common::{app, assert_problem, store_with};

/// The explorer's policy, directive by directive: nothing inline, nothing
/// from elsewhere, never framed.
fn assert_explorer_csp(csp: &str) {
    for needed in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(needed), "{needed} not in {csp}");
    }
    for forbidden in ["'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"] {
        assert!(!csp.contains(forbidden), "{forbidden} in {csp}");
    }
}

#[actix_web::test]
async fn the_page_is_served_at_the_root() {
    let app = app().await;
    let page = app.get("/").await.ok("GET /");
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert_explorer_csp(page.header("content-security-policy").unwrap());
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = std::str::from_utf8(&page.body).unwrap();
    assert!(html.contains("<title>Catalog explorer</title>"), "{html}");
    assert!(html.contains(r#"role="grid""#));
    // No inline script or style: the policy would block them.
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
    }
    assert!(!html.contains("<style"), "an inline <style>");
    assert!(!html.contains(" style="), "an inline style attribute");
    // A query string (the page's state) is the same page.
    let shared = app
        .get("/?search=lamp&category=Books&at=500")
        .await
        .ok("with state");
    assert_eq!(shared.body, page.body);
}

#[actix_web::test]
async fn every_file_the_page_links_is_served_under_the_same_policy() {
    let app = app().await;
    let html = String::from_utf8(app.get("/").await.body.to_vec()).unwrap();
    let mut linked: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/explorer/"))
        .map(str::to_string)
        .collect();
    linked.sort();
    linked.dedup();
    assert!(linked.len() >= 4, "{linked:?}");
    for path in &linked {
        let r = app.get(path).await.ok(path);
        let expected = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript",
            "css" => "text/css",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other}"),
        };
        assert!(
            r.content_type().starts_with(expected),
            "{path}: {}",
            r.content_type()
        );
        assert_explorer_csp(r.header("content-security-policy").unwrap());
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[actix_web::test]
async fn assets_revalidate_with_their_etag() {
    let app = app().await;
    let first = app.get("/explorer/app.js").await.ok("app.js");
    let tag = first.etag().to_string();
    let again = app.get_if_none_match("/explorer/app.js", &tag).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let page = app.get("/").await;
    assert_ne!(page.etag(), tag, "each file has its own tag");
    assert_eq!(app.get_if_none_match("/", page.etag()).await.status, 304);
}

#[actix_web::test]
async fn head_is_answered_and_other_methods_are_405() {
    let app = app().await;
    for uri in ["/", "/explorer/style.css", "/explorer/config.json"] {
        let head = app
            .send(
                TestRequest::default()
                    .method(actix_web::http::Method::HEAD)
                    .uri(uri),
            )
            .await;
        assert_eq!(head.status, 200, "HEAD {uri}");
        // The server drops a HEAD answer's body (the test service does not).
        assert!(!head.content_type().is_empty(), "HEAD {uri}");
        for req in [
            TestRequest::post(),
            TestRequest::delete(),
            TestRequest::put(),
        ] {
            let r = app.send(req.uri(uri)).await;
            let body = assert_problem(&r, 405, &[]);
            assert_eq!(body["type"], "urn:catalog:problem:method-not-allowed");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
}

#[actix_web::test]
async fn unknown_files_are_404_problems() {
    let app = app().await;
    for uri in [
        "/explorer/nope.js",
        "/explorer/index.html",
        "/explorer/../Cargo.toml",
        "/explorer/a/b.js",
    ] {
        let r = app.get(uri).await;
        let body = assert_problem(&r, 404, &[]);
        assert_eq!(body["type"], "urn:catalog:problem:not-found", "{uri}");
    }
}

#[actix_web::test]
async fn the_config_tells_the_page_the_deepest_offset() {
    let app = app().await;
    let r = app.get("/explorer/config.json").await.ok("config");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let body = r.json();
    assert_eq!(body["max_offset"], serde_json::Value::Null);
    assert_eq!(body["writes_enabled"], false);

    let store = store_with(&common::dataset()).await;
    let service = CatalogService::new(
        std::sync::Arc::new(store),
        catalog_domain::cursor::CursorKey::new(b"k"),
    )
    .with_max_offset(Some(10_000));
    let config = HttpConfig {
        jwt_secret: Some("s".repeat(32)),
        ..HttpConfig::default()
    };
    let app = common::app_with_state(AppState::new(service, config)).await;
    let body = app.get("/explorer/config.json").await.ok("config").json();
    assert_eq!(body["max_offset"], 10_000);
    assert_eq!(body["writes_enabled"], true);
}

#[actix_web::test]
async fn the_page_is_not_in_the_api_document() {
    let app = app().await;
    let doc = app.get("/api-docs/openapi.json").await.ok("openapi").json();
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths
            .keys()
            .all(|p| p != "/" && !p.starts_with("/explorer")),
        "{:?}",
        paths.keys()
    );
}

#[test]
fn the_policy_is_chosen_by_path() {
    use catalog_http::content_security_policy as csp;
    assert_explorer_csp(csp("/"));
    assert_explorer_csp(csp("/explorer/app.js"));
    assert!(
        !csp("/explorerx").contains("script-src"),
        "only the /explorer/ tree"
    );
    assert!(!csp("/api/v1/products").contains("script-src"));
}
