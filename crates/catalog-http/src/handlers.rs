//! Request handlers: parse at the edge into domain types, call the service,
//! serialize. No SQL, no status-code decisions for domain errors, no unwrap.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::{FieldSet, ListPage, NameCount, Product, ProductId};
use serde::Serialize;

use crate::conditional::{CacheStatus, cacheable_json, etag_for};
use crate::docs::{FilterParamsDoc, ListParamsDoc};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Decodes the query string into ordered pairs; undecodable input is a 400.
fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|_| ApiError::BadRequest("the query string is not valid URL encoding".into()))
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(Box::new(e)))
}

fn respond(req: &HttpRequest, body: Vec<u8>) -> HttpResponse {
    let etag = etag_for(&body);
    cacheable_json(req, body, &etag, CacheStatus::Miss)
}

#[derive(Serialize)]
#[serde(untagged)]
enum Items<'a> {
    Full(&'a [Product]),
    Projected(Vec<serde_json::Value>),
}

#[derive(Serialize)]
struct ListBody<'a> {
    items: Items<'a>,
    total: Option<u64>,
    limit: u32,
    offset: u64,
    next_cursor: Option<&'a str>,
}

fn list_body(page: &ListPage, fields: Option<FieldSet>) -> ListBody<'_> {
    ListBody {
        items: match fields {
            None => Items::Full(&page.items),
            Some(f) => Items::Projected(page.items.iter().map(|p| f.project(p)).collect()),
        },
        total: page.total,
        limit: page.limit,
        offset: page.offset,
        next_cursor: page.next_cursor.as_deref(),
    }
}

/// List products.
///
/// Filter, sort, project and page through products. Pages by `offset` or by
/// the keyset `cursor` returned in `next_cursor`.
#[utoipa::path(
    get, path = "/api/v1/products", tag = "products",
    params(ListParamsDoc, FilterParamsDoc),
    responses(
        (status = 200, description = "A page of products", body = crate::docs::ProductListDoc,
            headers(("ETag" = String, description = "Strong entity tag"), ("X-Cache" = String, description = "HIT or MISS"))),
        (status = 304, description = "Not modified (If-None-Match matched)"),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let query = state.service.parse_list(&pairs)?;
    let page = state.service.list(&query).await?;
    let body = to_json(&list_body(&page, query.fields))?;
    Ok(respond(&req, body))
}

/// Get one product.
#[utoipa::path(
    get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id, a positive integer", minimum = 1)),
    responses(
        (status = 200, description = "The product", body = crate::docs::ProductDoc),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "id is not a positive integer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = ProductId::parse(&path.into_inner())?;
    let product = state.service.get(id).await?;
    Ok(respond(&req, to_json(&product)?))
}

/// Aggregate statistics.
///
/// Counts, stock and price/rating aggregates over the products matching the
/// list's filters.
#[utoipa::path(
    get, path = "/api/v1/products/stats", tag = "products",
    params(FilterParamsDoc),
    responses(
        (status = 200, description = "Aggregates", body = crate::docs::StatsDoc),
        (status = 304, description = "Not modified"),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn product_stats(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let filter = state.service.parse_filter(&pairs)?;
    let stats = state.service.stats(&filter).await?;
    Ok(respond(&req, to_json(&stats)?))
}

#[derive(Serialize)]
struct NameCounts {
    items: Vec<NameCount>,
}

/// Every category with its product count.
#[utoipa::path(
    get, path = "/api/v1/products/categories", tag = "products",
    responses(
        (status = 200, description = "Categories by name", body = crate::docs::NameCountListDoc),
        (status = 304, description = "Not modified"),
    )
)]
pub async fn list_categories(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items = state.service.categories().await?;
    Ok(respond(&req, to_json(&NameCounts { items })?))
}

/// Every brand with its product count.
#[utoipa::path(
    get, path = "/api/v1/products/brands", tag = "products",
    responses(
        (status = 200, description = "Brands by name", body = crate::docs::NameCountListDoc),
        (status = 304, description = "Not modified"),
    )
)]
pub async fn list_brands(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items = state.service.brands().await?;
    Ok(respond(&req, to_json(&NameCounts { items })?))
}

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    checks: HealthChecks,
}

#[derive(Serialize)]
struct HealthChecks {
    database: &'static str,
    cache: &'static str,
}

/// Health of the service and its dependencies.
#[utoipa::path(
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Up (status ok, or degraded when only the cache is down)", body = crate::docs::HealthDoc),
        (status = 503, description = "The database is down", body = crate::docs::HealthDoc),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db_up = state.service.storage_up().await;
    let body = HealthBody {
        status: if db_up { "ok" } else { "unavailable" },
        checks: HealthChecks {
            database: if db_up { "up" } else { "down" },
            cache: "memory",
        },
    };
    let mut res = if db_up {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}
