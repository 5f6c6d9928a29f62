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

/// `If-Match`'s syntax (RFC 9110 §13.1.1): `*`, or a comma list of entity
/// tags, each `"…"` or `W/"…"` of visible ASCII other than `"`, empty list
/// elements allowed (§5.6.1). The OpenAPI document publishes this as the
/// header's pattern; [`parse_if_match`] accepts exactly what it matches.
pub const IF_MATCH_PATTERN: &str =
    r#"^[ \t]*(\*|[ \t,]*(W/)?"[!#-~]*"([ \t]*,[ \t,]*(W/)?"[!#-~]*")*[ \t,]*)[ \t]*$"#;

/// One entity tag of an `If-Match` list, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag<'a> {
    pub weak: bool,
    /// The quoted form, quotes included (`"12-3"`).
    pub opaque: &'a str,
}

/// The tags of an `If-Match` value: `Some(None)` for `*`, `Some(Some(tags))`
/// for a list, `None` when the value is not [`IF_MATCH_PATTERN`]'s syntax.
/// `obs-text` (bytes above 0x7F) is refused: no tag this service issues
/// holds it, and the published pattern is ASCII.
pub fn parse_if_match(raw: &[u8]) -> Option<Option<Vec<EntityTag<'_>>>> {
    let text = std::str::from_utf8(raw).ok()?;
    if text.trim_matches([' ', '\t']) == "*" {
        return Some(None);
    }
    let mut tags = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        let inner = &body[..end];
        let etagc = |c: char| c == '!' || ('#'..='~').contains(&c);
        if !inner.chars().all(etagc) {
            return None;
        }
        tags.push(EntityTag {
            weak,
            opaque: &rest[..end + 2],
        });
        rest = &body[end + 1..];
        let after = rest.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return None;
        }
        rest = after;
    }
    (!tags.is_empty()).then_some(Some(tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(raw: &str) -> Option<Option<Vec<(bool, &str)>>> {
        parse_if_match(raw.as_bytes())
            .map(|t| t.map(|t| t.into_iter().map(|t| (t.weak, t.opaque)).collect()))
    }

    #[test]
    fn if_match_syntax() {
        assert_eq!(tags("*"), Some(None));
        assert_eq!(tags(" * "), Some(None));
        assert_eq!(tags(r#""1-2""#), Some(Some(vec![(false, r#""1-2""#)])));
        assert_eq!(
            tags(r#""a,b", W/"c" ,"""#),
            Some(Some(vec![
                (false, r#""a,b""#),
                (true, r#""c""#),
                (false, r#""""#),
            ]))
        );
        assert_eq!(tags(r#", "x",,"#), Some(Some(vec![(false, r#""x""#)])));
        for bad in [
            "",
            " ",
            "null",
            "mW",
            "\"x",
            "x\"",
            "W/x",
            "\"a\" \"b\"",
            "*, \"a\"",
            "\"a b\"",
            "w/\"a\"",
            ",",
        ] {
            assert_eq!(tags(bad), None, "{bad:?}");
        }
        assert!(parse_if_match(b"\"\xff\"").is_none(), "not UTF-8");
        assert!(parse_if_match("\"é\"".as_bytes()).is_none(), "obs-text");
    }
}
