//! Cross-cutting response headers: request ids, server timing, and a
//! structured log line per request.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const PROCESS_TIME: HeaderName = HeaderName::from_static("x-process-time");
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// A client-supplied request id is kept when it is short and printable, so
/// a request can be followed across a load balancer; otherwise one is made.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Adds `X-Request-Id`, `X-Process-Time` and `Server-Timing` to every
/// response (errors included) and logs it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    // Handlers' errors arrive here as responses already; an `Err` can only
    // come from the framework itself and is passed on untouched (the
    // request cannot be cloned before routing to rebuild a response).
    let mut res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let timing = format!("{ms:.3}");
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&timing) {
        headers.insert(PROCESS_TIME, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={timing}")) {
        headers.insert(SERVER_TIMING, v);
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, duration_ms = ms, "request served");
        } else {
            tracing::info!(status, duration_ms = ms, "request served");
        }
    });
    Ok(res)
}

/// Content codings the compressor may apply, as ETag suffixes.
pub const CODING_SUFFIXES: [&str; 4] = ["-gzip", "-br", "-zstd", "-deflate"];

/// Removes a content-coding suffix added by [`tag_encoded`] from an entity
/// tag, giving the identity representation's tag.
pub fn strip_coding(tag: &str) -> String {
    let t = tag.trim();
    if let Some(inner) = t.strip_suffix('"') {
        for suffix in CODING_SUFFIXES {
            if let Some(base) = inner.strip_suffix(suffix) {
                return format!("{base}\"");
            }
        }
    }
    t.to_string()
}

/// The codings `Compress` may apply: exactly the set actix-web's
/// compressor negotiates with under this crate's `compress-*` features
/// (identity, br, gzip, deflate, zstd).
const NEGOTIABLE: [actix_web::http::header::Encoding; 5] = {
    use actix_web::http::header::Encoding;
    [
        Encoding::identity(),
        Encoding::brotli(),
        Encoding::gzip(),
        Encoding::deflate(),
        Encoding::zstd(),
    ]
};

/// The content coding `Compress` picks for this request's body, as it
/// picks it: no or an unreadable `Accept-Encoding` means identity,
/// otherwise the same negotiation over the same codings. `None` for
/// identity.
fn negotiated_coding(req: &ServiceRequest) -> Option<String> {
    use actix_web::HttpMessage;
    use actix_web::http::header::{AcceptEncoding, Encoding};
    let accept = req.get_header::<AcceptEncoding>()?;
    match accept.negotiate(NEGOTIABLE.iter())? {
        Encoding::Known(c) if c != actix_web::http::header::ContentEncoding::Identity => {
            Some(c.as_str().to_string())
        }
        _ => None,
    }
}

/// `"x"` with a coding suffix: `"x-gzip"`; weak or malformed tags are
/// left alone.
fn with_coding(tag: &str, coding: &str) -> Option<String> {
    tag.strip_suffix('"')
        .filter(|t| t.starts_with('"'))
        .map(|t| format!("{t}-{coding}\""))
}

/// A compressed body is a different representation, so its strong ETag
/// must differ (RFC 9110 §8.8.3): `"x"` becomes `"x-gzip"`. Conditional
/// requests strip the suffix again before comparing.
///
/// A 304 has no body, so the compressor leaves it alone; yet it must carry
/// the tag the 200 would have carried (RFC 9110 §15.4.5). Its suffix comes
/// from the request's `Accept-Encoding`, negotiated as `Compress` does.
pub async fn tag_encoded(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    use actix_web::http::{StatusCode, header};
    let would_encode = negotiated_coding(&req);
    let mut res = next.call(req).await?.map_into_boxed_body();
    let applied = res
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|c| c != "identity");
    let coding = match applied {
        Some(c) => Some(c),
        None if res.status() == StatusCode::NOT_MODIFIED => would_encode,
        None => None,
    };
    if let Some(coding) = coding {
        let tagged = res
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|t| with_coding(t, &coding));
        if let Some(v) = tagged.and_then(|t| HeaderValue::from_str(&t).ok()) {
            res.headers_mut().insert(header::ETAG, v);
        }
    }
    Ok(res)
}
