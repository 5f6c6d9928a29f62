//! Write handlers: authenticate, check the media type and size, parse JSON,
//! read it into the domain's write types ([`crate::body`]), call the
//! service, answer with the product and its ETag.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::{
    CatalogError, Created, Idempotency, Precondition, Product, ProductId, ProductVersion,
    fingerprint,
};
use futures::StreamExt;

use crate::app::MAX_BODY_BYTES;
use crate::auth::{WRITE_SCOPE, authorize};
use crate::body::ProductBody;
use crate::conditional::parse_if_match;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

const MERGE_PATCH: &str = "application/merge-patch+json";

/// The media type without parameters, lower-cased.
pub(crate) fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn require_json(req: &HttpRequest, allow_merge_patch: bool) -> Result<(), ApiError> {
    match media_type(req).as_deref() {
        Some("application/json") => Ok(()),
        Some(MERGE_PATCH) if allow_merge_patch => Ok(()),
        _ if allow_merge_patch => Err(ApiError::UnsupportedMediaType(
            "PATCH bodies must be application/merge-patch+json or application/json".into(),
        )),
        _ => Err(ApiError::UnsupportedMediaType(
            "request bodies must be application/json".into(),
        )),
    }
}

/// Reads the body, refusing more than `max` bytes (by Content-Length up
/// front, or while streaming) with a 413 naming `limit`.
pub(crate) async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: usize,
    limit: &'static str,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads the body, refusing more than 64 KiB, and parses it as JSON.
async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, ApiError> {
    let body = read_limited(req, payload, MAX_BODY_BYTES, "64 KiB").await?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body is empty; a JSON object is expected".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))
}

/// `If-Match` as a typed precondition (RFC 9110: strong comparison), or
/// `None` without the header. `*` is any version; otherwise each strong
/// entity tag this service issued names a version, and weak or foreign tags
/// name none (a 412). A value that is not `If-Match` syntax at all is a 422
/// naming the header, never silently a 412 or an unconditional write.
fn if_match(req: &HttpRequest) -> Result<Option<Precondition>, ApiError> {
    let values: Vec<&[u8]> = req
        .headers()
        .get_all(header::IF_MATCH)
        .map(|v| v.as_bytes())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let joined = values.join(&b", "[..]);
    let malformed = || {
        ApiError::Validation(catalog_domain::ValidationErrors::single(
            "If-Match",
            "must be * or a comma-separated list of entity tags (\"...\" or W/\"...\")",
        ))
    };
    let Some(parsed) = parse_if_match(&joined) else {
        return Err(malformed());
    };
    let Some(tags) = parsed else {
        return Ok(Some(Precondition::Any));
    };
    // Tags of compressed representations carry a coding suffix; they name
    // the same version.
    Ok(Some(Precondition::Versions(
        tags.iter()
            .filter(|t| !t.weak)
            .filter_map(|t| ProductVersion::from_etag(&crate::middleware::strip_coding(t.opaque)))
            .collect(),
    )))
}

/// `Idempotency-Key`: 1–255 visible ASCII characters, scoped to the caller.
pub(crate) fn idempotency(
    req: &HttpRequest,
    subject: &str,
    body: &serde_json::Value,
) -> Result<Option<Idempotency>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::Validation(catalog_domain::ValidationErrors::single(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ))
        })?;
    // Scoped by subject so two clients' keys never collide; the subject is
    // hashed to keep the stored key short whatever its length.
    let scope = fingerprint(&serde_json::Value::from(subject))?;
    Ok(Some(Idempotency {
        key: format!("{}:{key}", &scope[..16]),
        fingerprint: fingerprint(body)?,
    }))
}

fn product_response(status: StatusCode, product: &Product) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(product)
        .map_err(|e| CatalogError::internal("rendering a product", e))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, product.etag()))
        .content_type("application/json")
        .body(body))
}

fn location(id: ProductId) -> String {
    format!("/api/v1/products/{}", id.get())
}

fn parse_id(path: web::Path<String>) -> Result<ProductId, ApiError> {
    Ok(ProductId::parse(&path.into_inner())?)
}

/// The two ways to change a stored product.
#[derive(Clone, Copy)]
enum Update {
    /// PUT: a whole product body.
    Replace,
    /// PATCH: a JSON Merge Patch (also sent as plain JSON).
    Patch,
}

/// PUT and PATCH: one path from the request to the answer; only the media
/// types accepted and the service call differ.
async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    how: Update,
) -> Result<HttpResponse, ApiError> {
    let who = authorize(&req, state.config.jwt_secret.as_deref(), WRITE_SCOPE)?;
    let id = parse_id(path)?;
    require_json(&req, matches!(how, Update::Patch))?;
    let body = ProductBody::from_json(&read_json(&req, payload).await?)?;
    let precondition = if_match(&req)?;
    let p = match how {
        Update::Replace => {
            let new = body.into_new_product()?;
            state
                .service
                .replace(id, &new, precondition.as_ref())
                .await?
        }
        Update::Patch => {
            let patch = body.into_patch()?;
            state
                .service
                .patch(id, &patch, precondition.as_ref())
                .await?
        }
    };
    let done = match how {
        Update::Replace => "product replaced",
        Update::Patch => "product patched",
    };
    tracing::info!(id = id.get(), sub = %who.subject, "{done}");
    product_response(StatusCode::OK, &p)
}

/// Create a product.
///
/// Requires a bearer token with the `products:write` scope. An
/// `Idempotency-Key` makes retries safe: the same key and body return the
/// original response without creating anything (24 h); the same key with
/// another body is a 422.
#[utoipa::path(
    post, path = "/api/v1/products", tag = "products",
    security(("bearer" = ["products:write"])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe (1-255 visible ASCII characters, remembered 24 h). The same key with another body is a 422 naming Idempotency-Key; a replay answers as the first time, with `Idempotent-Replayed: true`.")),
    request_body(content = crate::body::ProductBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = crate::docs::ProductDoc,
            headers(("Location" = String, description = "/api/v1/products/{id}"), ("ETag" = String, description = "The product's version tag"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token lacks products:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate sku", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid product, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_product(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = authorize(&req, state.config.jwt_secret.as_deref(), WRITE_SCOPE)?;
    require_json(&req, false)?;
    let body = read_json(&req, payload).await?;
    let idem = idempotency(&req, &who.subject, &body)?;
    let new = ProductBody::from_json(&body)?.into_new_product()?;
    match state.service.create(&new, idem).await? {
        Created::New(p) => {
            tracing::info!(id = p.id.get(), sub = %who.subject, "product created");
            let mut res = product_response(StatusCode::CREATED, &p)?;
            if let Ok(v) = HeaderValue::from_str(&location(p.id)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            Ok(res)
        }
        // The original response: the product as created, version 1.
        Created::Replayed { id, body } => Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, location(id)))
            .insert_header((header::ETAG, format!("\"{}-1\"", id.get())))
            .insert_header(("idempotent-replayed", "true"))
            .content_type("application/json")
            .body(body)),
    }
}

/// Replace a product.
#[utoipa::path(
    put, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = ["products:write"])),
    params(
        ("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9223372036854775807_i64),
        ("If-Match" = Option<String>, Header, description = "`*` or the product's ETag(s): replace only if unchanged (strong comparison; 412 otherwise). Anything but entity-tag syntax is a 422 naming If-Match."),
    ),
    request_body(content = crate::body::ProductBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = crate::docs::ProductDoc),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token lacks products:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate sku", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid product, If-Match or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn replace_product(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    update(req, path, payload, state, Update::Replace).await
}

/// Update a product partially (JSON Merge Patch, RFC 7396).
#[utoipa::path(
    patch, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = ["products:write"])),
    params(
        ("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9223372036854775807_i64),
        ("If-Match" = Option<String>, Header, description = "`*` or the product's ETag(s): update only if unchanged (strong comparison; 412 otherwise). Anything but entity-tag syntax is a 422 naming If-Match."),
    ),
    request_body(content = crate::docs::ProductPatchDoc, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "Updated", body = crate::docs::ProductDoc),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token lacks products:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Duplicate sku", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON media type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, null on a required field, or a malformed If-Match", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn patch_product(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    update(req, path, payload, state, Update::Patch).await
}

/// Delete a product (its sku may be used again, its id never).
#[utoipa::path(
    delete, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = ["products:write"])),
    params(
        ("id" = i64, Path, description = "Product id", minimum = 1, maximum = 9223372036854775807_i64),
        ("If-Match" = Option<String>, Header, description = "`*` or the product's ETag(s): delete only if unchanged (strong comparison; 412 otherwise). Anything but entity-tag syntax is a 422 naming If-Match."),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token lacks products:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "id is not a positive integer, or a malformed If-Match", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_product(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = authorize(&req, state.config.jwt_secret.as_deref(), WRITE_SCOPE)?;
    let id = parse_id(path)?;
    let precondition = if_match(&req)?;
    state.service.delete(id, precondition.as_ref()).await?;
    tracing::info!(id = id.get(), sub = %who.subject, "product deleted");
    Ok(HttpResponse::NoContent().finish())
}
