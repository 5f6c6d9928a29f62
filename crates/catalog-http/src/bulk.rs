//! `POST /api/v1/products/bulk` (upserts by sku, up to 1,000 products in
//! one transaction) and `GET /api/v1/products/export` (every product a
//! filter matches, streamed in id order as NDJSON or CSV).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::bulk::{ItemResult, MAX_BULK_ITEMS};
use catalog_domain::{NewProduct, UpsertOutcome, ValidationErrors};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{WRITE_SCOPE, authorize};
use crate::body::ProductBody;
use crate::error::{ApiError, Problem};
use crate::params::{FilterParams, boolean, from_query, typed};
use crate::state::AppState;
use crate::writes::{idempotency, media_type, read_limited};

/// A bulk body's size limit (every other route keeps 64 KiB).
pub const MAX_BULK_BODY_BYTES: usize = 8 * 1024 * 1024;

const NDJSON: &str = "application/x-ndjson";

/// The bulk endpoint's query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkParams {
    /// `true`: all or nothing. Any invalid item refuses the whole batch
    /// (a 422 naming each item's fields as `[index].field`); nothing is
    /// written. Default `false`: the valid items are written, the invalid
    /// ones reported.
    #[serde(default)]
    #[param(value_type = Option<bool>, default = false)]
    pub atomic: Vec<String>,
}

/// What happened to one item.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkItemResult)]
pub struct BulkItemDoc {
    /// The item's position in the body, from 0.
    pub index: usize,
    /// 201 created; 200 updated, unchanged, or superseded by a later item
    /// with the same sku (the last one wins); 422 invalid (`errors`).
    #[schema(example = 201)]
    pub status: u16,
    /// The product's id (absent for an invalid item).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 17)]
    pub id: Option<i64>,
    /// `created`, `updated`, `unchanged` (every field already equal:
    /// nothing written, no version bump) or `superseded` (not written: the
    /// item at `superseded_by` has the same sku).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "created")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<usize>,
    /// Why the item is invalid, each field named.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::error::ProblemField>>)]
    pub errors: Option<Vec<catalog_domain::FieldError>>,
}

/// The answer of a bulk write: one result per item, in order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BulkResult)]
pub struct BulkDoc {
    pub items: Vec<BulkItemDoc>,
}

/// A body's items, each a JSON value or why it is not one (an NDJSON line
/// that is not JSON).
fn items_of(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Vec<Result<Value, ValidationErrors>>, ApiError> {
    let ndjson = match media_type(req).as_deref() {
        Some("application/json") => false,
        Some(NDJSON) => true,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "bulk bodies are application/json (an array of products) or application/x-ndjson (one product per line)".into(),
            ));
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body is empty; products are expected".into(),
        ));
    }
    let items = if ndjson {
        body.split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(i, line)| {
                serde_json::from_slice::<Value>(line).map_err(|e| {
                    ValidationErrors::single(
                        "body",
                        format!("line {} is not valid JSON: {e}", i + 1),
                    )
                })
            })
            .collect::<Vec<_>>()
    } else {
        match serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?
        {
            Value::Array(items) => items.into_iter().map(Ok).collect(),
            _ => {
                return Err(ApiError::Validation(ValidationErrors::single(
                    "body",
                    "must be a JSON array of products (or NDJSON, one per line, as application/x-ndjson)",
                )));
            }
        }
    };
    if items.len() > MAX_BULK_ITEMS {
        return Err(ApiError::Validation(ValidationErrors::single(
            "body",
            format!(
                "holds {} products; at most {MAX_BULK_ITEMS} per request",
                items.len()
            ),
        )));
    }
    Ok(items)
}

/// Upsert up to 1,000 products by sku.
///
/// Requires `products:write`. The body is a JSON array of products (as
/// POST takes them) or NDJSON (`Content-Type: application/x-ndjson`), at
/// most 8 MiB. Each product's sku decides: a new sku is created, a known
/// one replaced when any field differs, and left alone (no new version)
/// when none does; a sku repeated in the body takes its last valid item.
/// The valid items are written in one transaction; with `atomic=true`, any
/// invalid item refuses them all. An `Idempotency-Key` makes a retry
/// answer as the first call did, writing nothing.
#[utoipa::path(
    post, path = "/api/v1/products/bulk", tag = "products",
    security(("bearer" = ["products:write"])),
    params(BulkParams, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes retries safe (remembered 24 h): the same key and body answer as the first time, with `Idempotent-Replayed: true`, and write nothing; another body is a 422.")),
    request_body(content = Vec<crate::body::ProductBody>, description = "A JSON array of products, or NDJSON (application/x-ndjson): at most 1,000 products and 8 MiB.", content_type = "application/json"),
    responses(
        (status = 200, description = "One result per item, in order (invalid items included unless `atomic=true`)", body = BulkDoc),
        (status = 400, description = "Malformed JSON, or an empty body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Token lacks products:write", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 8 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither application/json nor application/x-ndjson", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an array, over 1,000 items, a bad parameter or Idempotency-Key, or (`atomic=true`) any invalid item: every item's errors as `[index].field`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn bulk_upsert(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let who = authorize(&req, state.config.jwt_secret.as_deref(), WRITE_SCOPE)?;
    let params: BulkParams = from_query(req.query_string())?;
    let mut errors = ValidationErrors::new();
    let atomic = typed(&mut errors, "atomic", params.atomic, boolean).unwrap_or(false);
    errors.into_result(())?;
    let body = read_limited(&req, payload, MAX_BULK_BODY_BYTES, "8 MiB for bulk writes").await?;
    let values = items_of(&req, &body)?;
    // The key's fingerprint covers the items and the mode, whatever the
    // media type carried them.
    let fingerprinted = serde_json::json!({
        "bulk": values.iter().map(|v| v.as_ref().ok().cloned().unwrap_or(Value::Null)).collect::<Vec<_>>(),
        "atomic": atomic,
    });
    let idem = idempotency(&req, &who.subject, &fingerprinted)?;
    let items: Vec<Result<NewProduct, ValidationErrors>> = values
        .into_iter()
        .map(|v| v.and_then(|v| ProductBody::from_json(&v)?.into_new_product()))
        .collect();
    let result = state.service.bulk_upsert(&items, atomic, idem).await?;
    let docs: Vec<BulkItemDoc> = result
        .items
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            ItemResult::Applied { id, outcome } => BulkItemDoc {
                index,
                status: if outcome == UpsertOutcome::Created {
                    201
                } else {
                    200
                },
                id: Some(id.get()),
                outcome: Some(match outcome {
                    UpsertOutcome::Created => "created",
                    UpsertOutcome::Updated => "updated",
                    UpsertOutcome::Unchanged => "unchanged",
                }),
                superseded_by: None,
                errors: None,
            },
            ItemResult::Superseded { id, by } => BulkItemDoc {
                index,
                status: 200,
                id: Some(id.get()),
                outcome: Some("superseded"),
                superseded_by: Some(by),
                errors: None,
            },
            ItemResult::Invalid(e) => BulkItemDoc {
                index,
                status: 422,
                id: None,
                outcome: None,
                superseded_by: None,
                errors: Some(e.errors().to_vec()),
            },
        })
        .collect();
    let written = docs.iter().filter(|d| d.status != 422).count();
    tracing::info!(items = docs.len(), written, atomic, replayed = result.replayed, sub = %who.subject, "bulk upsert");
    let mut res = HttpResponse::Ok();
    if result.replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    Ok(res.json(BulkDoc { items: docs }))
}

/// The export's query parameters (besides the list's filters).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `ndjson` (default: one product per line, as the API returns it) or
    /// `csv` (a header row, then one row per product).
    #[serde(default)]
    #[param(value_type = Option<String>, example = "csv", pattern = "^(ndjson|csv)$")]
    pub format: Vec<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub filters: FilterParams,
}

/// Export every product the filters match, in id order.
///
/// Streamed (chunked): the response is never held whole, so a million
/// products export in flat memory. `Catalog-Changes-Since` is a change
/// feed position taken before the first row: follow
/// `/api/v1/products/changes?since=` from it to catch every change the
/// export may have missed (it is not a snapshot). CSV and NDJSON exports
/// import back as they are (`catalog import`). An error after the first
/// byte ends the stream early (an incomplete chunked body).
#[utoipa::path(
    get, path = "/api/v1/products/export", tag = "products",
    params(ExportParams, FilterParams),
    responses(
        (status = 200, description = "The products, as NDJSON or CSV", content((String = "application/x-ndjson"), (String = "text/csv")),
            headers(("Catalog-Changes-Since" = String, description = "A change feed `since` taken before the export (absent without a change log)"))),
        (status = 422, description = "A bad filter or format", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export_products(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: ExportParams = from_query(req.query_string())?;
    let mut errors = ValidationErrors::new();
    let csv = typed(&mut errors, "format", params.format, |f| match f {
        "ndjson" => Ok(false),
        "csv" => Ok(true),
        _ => Err("must be ndjson or csv".into()),
    })
    .unwrap_or(false);
    let filter = match params.filters.into_filter() {
        Ok(f) => errors.into_result(f)?,
        Err(e) => {
            for f in e.errors() {
                errors.push(f.field.clone(), f.message.clone());
            }
            return Err(ApiError::Validation(errors));
        }
    };
    let head = state.service.feed_head().await?;
    let pages = state.service.export(filter);
    let header_row = csv.then(catalog_interchange::write::csv_header);
    let rows = pages.map(move |page| match page {
        Ok(products) => Ok(web::Bytes::from(if csv {
            catalog_interchange::write::csv_rows(&products, Vec::with_capacity(products.len() * 300))
        } else {
            catalog_interchange::write::ndjson_rows(&products, Vec::with_capacity(products.len() * 400))
        })),
        Err(e) => {
            tracing::warn!(error = %catalog_domain::error::error_chain(&e), "export stopped mid-stream");
            Err(actix_web::error::ErrorServiceUnavailable("export stopped"))
        }
    });
    let body = futures::stream::iter(header_row.map(|h| Ok(web::Bytes::from(h)))).chain(rows);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if csv {
        res.content_type("text/csv; charset=utf-8").insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"products.csv\""),
        ));
    } else {
        res.content_type(NDJSON);
    }
    if let Some(h) = head.and_then(|h| HeaderValue::from_str(&h).ok()) {
        res.insert_header(("catalog-changes-since", h));
    }
    Ok(res.streaming(body))
}
