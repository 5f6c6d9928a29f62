//! Cross-cutting response headers and observation: request ids, server
//! timing, request metrics, one access log line per request, and the
//! security headers every response carries.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::state::AppState;

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

/// The target of the access log lines: `RUST_LOG=catalog::access=off`
/// silences them, `RUST_LOG=warn,catalog::access=info` keeps only them.
pub const ACCESS_LOG: &str = "catalog::access";

/// Adds `X-Request-Id`, `X-Process-Time` and `Server-Timing` to every
/// response (errors included), records it in the request metrics, and
/// writes its access log line (target [`ACCESS_LOG`]).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.path().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Arc::clone(&s.metrics));
    let _in_flight = metrics.as_ref().map(|m| m.request_started());
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    // Handlers' errors arrive here as responses already; an `Err` can only
    // come from the framework itself and is passed on untouched (the
    // request cannot be cloned before routing to rebuild a response).
    let mut res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_boxed_body();
    let elapsed = start.elapsed();
    let ms = elapsed.as_secs_f64() * 1000.0;
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
    // The template of the route that answered (`/api/v1/products/{id}`),
    // known once routing is done; `None` when no route matched.
    let route = res.request().match_pattern();
    let bytes = match res.response().body().size() {
        BodySize::Sized(n) => Some(n),
        _ => None,
    };
    // Every field on the event itself (not only on the span), so that a
    // JSON line stands alone.
    let route_field = route.as_deref().unwrap_or(crate::metrics::UNMATCHED);
    let method_field = method.as_str();
    if status >= 500 {
        tracing::warn!(target: ACCESS_LOG, request_id = %id, method = method_field, route = route_field, %path, status, duration_ms = ms, bytes, "request served");
    } else {
        tracing::info!(target: ACCESS_LOG, request_id = %id, method = method_field, route = route_field, %path, status, duration_ms = ms, bytes, "request served");
    }
    if let Some(m) = &metrics {
        m.request_done(route, &method, status, elapsed);
    }
    Ok(res)
}

/// The `Content-Security-Policy` of API answers (JSON, problem+json,
/// metrics): nothing may load, nothing may frame them.
pub const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of Swagger UI under `/docs/`: its scripts and styles are
/// files served by this app (no inline script: utoipa-swagger-ui's
/// index.html loads swagger-initializer.js). Swagger UI sets inline
/// `style` attributes and its CSS draws icons from `data:` URIs; "Try it
/// out" calls this origin.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The policy of the catalog explorer (`/` and its files under
/// `/explorer/`): only its own scripts, styles and API calls; no inline
/// script or style (it sets styles through the CSSOM, which the policy
/// allows); `data:` images for the favicon.
pub const EXPLORER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The `Content-Security-Policy` for a request path. A page served to
/// browsers gets its own branch here; everything else gets [`API_CSP`].
pub fn content_security_policy(path: &str) -> &'static str {
    if path == "/docs" || path.starts_with("/docs/") {
        DOCS_CSP
    } else if path == "/" || path.starts_with(crate::explorer::ASSET_PREFIX) {
        EXPLORER_CSP
    } else {
        API_CSP
    }
}

/// `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options` and a
/// `Content-Security-Policy` (by path, see [`content_security_policy`])
/// on every response: errors, 304s, preflights and Swagger UI included.
/// A handler that sets its own policy keeps it.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let policy = content_security_policy(req.path());
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
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

/// While the instance drains (SIGTERM), every response asks its client to
/// close the connection, so that keep-alive clients reconnect to another
/// instance instead of waiting for this one to go.
pub async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let draining = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|s| s.lifecycle.is_draining());
    let mut res = next.call(req).await?.map_into_boxed_body();
    if draining {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    Ok(res)
}
