//! The catalog explorer: a web page at `/` that browses, searches, filters
//! and edits the catalog through the public API (docs/ui/README.md).
//!
//! Its files are plain ES modules, CSS and HTML under `assets/explorer/`,
//! embedded with `include_bytes!` so that the binary is the whole
//! deployment and nothing (no Node.js) is needed to build it. They are
//! served under `/explorer/`, with a strong ETag and `no-cache` (a browser
//! revalidates, so a new release is picked up at once). Not an API route:
//! kept out of the OpenAPI document and out of the rate limiter.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::conditional::none_match;
use crate::error::ApiError;
use crate::state::AppState;

/// Where the page's files are served; the page's policy covers this tree
/// (see `middleware::content_security_policy`).
pub const ASSET_PREFIX: &str = "/explorer/";

/// One embedded file: its name under [`ASSET_PREFIX`], media type, bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../assets/explorer/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page. `index.html` is served at `/` only.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("grid.js", JS),
    asset!("state.js", JS),
    asset!("detail.js", JS),
    asset!("format.js", JS),
    asset!("icon.svg", "image/svg+xml"),
];

/// The ETag of each asset, computed once (same order as [`ASSETS`]).
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| catalog_domain::cache::etag_for(a.body))
            .collect()
    })
}

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let Some((index, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return Err(ApiError::NotFound(format!("no resource at {}", req.path())));
    };
    let etag = &etags()[index];
    let not_modified = none_match(req, etag);
    let mut res = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    if not_modified {
        return Ok(res.finish());
    }
    // A HEAD answer's body is dropped by actix-web, its length kept.
    Ok(res
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .body(asset.body))
}

async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if name.as_str() == "index.html" {
        return Err(ApiError::NotFound(format!("no resource at {}", req.path())));
    }
    serve(&req, &name)
}

/// What the page needs to know about this deployment and cannot read from
/// a response: `max_offset` (`CATALOG_MAX_OFFSET`, null when unset), the
/// deepest row a scrollbar drag may jump to by `offset`; past it the page
/// walks cursors. Also whether writes can work at all.
async fn config(state: web::Data<AppState>) -> HttpResponse {
    let body = serde_json::json!({
        "max_offset": state.service.max_offset(),
        "writes_enabled": state.config.jwt_secret.is_some(),
        "max_page_size": 100,
    });
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}

fn method_not_allowed() -> std::future::Ready<Result<HttpResponse, ApiError>> {
    std::future::ready(Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }))
}

/// Registers `/`, `/explorer/config.json` and `/explorer/{file}`. GET and
/// HEAD only; any other method is a 405 problem like everywhere else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(page))
            .route(web::head().to(page))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/explorer/config.json")
            .route(web::get().to(config))
            .route(web::head().to(config))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/explorer/{name}")
            .route(web::get().to(asset))
            .route(web::head().to(asset))
            .default_service(web::to(method_not_allowed)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_and_named_once() {
        let mut names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
    }

    /// Every module the page imports is served: a relative import of a
    /// file missing from [`ASSETS`] would break the page with a 404.
    #[test]
    fn every_imported_module_is_served() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.body).unwrap_or_default();
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(start) = line.find("'./") else {
                    continue;
                };
                let rest = &line[start + 3..];
                let name = &rest[..rest.find('\'').unwrap_or(rest.len())];
                assert!(
                    ASSETS.iter().any(|x| x.name == name),
                    "{} imports ./{name}, which is not embedded",
                    a.name
                );
            }
        }
    }
}
