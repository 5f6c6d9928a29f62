//! Strong ETags over response bytes and `If-None-Match` handling (RFC 9110).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// Whether the response came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
        }
    }
}

/// `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`; `*`
/// matches any current representation; a list may hold several tags.
pub fn none_match(req: &HttpRequest, etag: &str) -> bool {
    let opaque = |t: &str| crate::middleware::strip_coding(t.trim().trim_start_matches("W/"));
    let ours = opaque(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == ours)
}

/// A cacheable JSON response: 200 with the body, or 304 when the client's
/// copy is current. Both carry the ETag and the cache status.
pub fn cacheable_json(
    req: &HttpRequest,
    body: std::sync::Arc<[u8]>,
    etag: &str,
    status: CacheStatus,
) -> HttpResponse {
    let not_modified = none_match(req, etag);
    let mut res = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::ETAG, etag))
        .insert_header(("x-cache", HeaderValue::from_static(status.as_str())))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    if not_modified {
        return res.finish();
    }
    res.content_type("application/json")
        .body(actix_web::web::Bytes::copy_from_slice(&body))
}
