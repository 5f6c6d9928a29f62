//! Request handlers: parse at the edge into domain types, call the service,
//! serialize. No SQL, no status-code decisions for domain errors, no unwrap.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use catalog_domain::{
    CacheHealth, CatalogService, FieldSet, IndexState, ListPage, ListQuery, NameCount, ProductId,
    RenderResult, Rendered,
};
use serde::Serialize;

use crate::conditional::{CacheStatus, cacheable_json};
use crate::error::{ApiError, Problem};
use crate::params::{FilterParams, ListParams, from_query};
use crate::state::AppState;

/// The list query of a request, its cursor checked with this deployment's
/// key.
fn list_query(req: &HttpRequest, service: &CatalogService) -> Result<ListQuery, ApiError> {
    let params: ListParams = from_query(req.query_string())?;
    Ok(params.into_query(service.cursor_key(), service.max_offset())?)
}

/// The filter of a stats or facets request.
fn filter_of(req: &HttpRequest) -> Result<catalog_domain::ProductFilter, ApiError> {
    let params: FilterParams = from_query(req.query_string())?;
    Ok(params.into_filter()?)
}

/// Serializes a response body; a failure becomes a 500 (the service maps
/// it), never an empty body cached and tagged as if it were the answer.
fn to_json<T: Serialize>(value: &T) -> RenderResult {
    serde_json::to_vec(value)
}

fn respond(req: &HttpRequest, r: Rendered) -> HttpResponse {
    let status = if r.hit {
        CacheStatus::Hit
    } else {
        CacheStatus::Miss
    };
    cacheable_json(req, r.body, &r.etag, status)
}

#[derive(Serialize)]
#[serde(untagged)]
enum Items<'a> {
    Full(&'a [catalog_domain::Product]),
    Projected(Vec<serde_json::Value>),
}

#[derive(Serialize)]
struct ListBody<'a> {
    items: Items<'a>,
    total: Option<u64>,
    /// Only with `count=estimated`, so the contract's shape is unchanged
    /// for every other request.
    #[serde(skip_serializing_if = "Option::is_none")]
    total_is_exact: Option<bool>,
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
        total_is_exact: page.total_is_exact,
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
    params(ListParams, FilterParams),
    responses(
        (status = 200, description = "A page of products", body = crate::docs::ProductListDoc),
        (status = 304, description = "Not modified (If-None-Match matched)"),
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = list_query(&req, &state.service)?;
    let rendered = render_list(&state.service, &query).await?;
    Ok(respond(&req, rendered))
}

/// Get one product.
#[utoipa::path(
    get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id, a positive integer", minimum = 1, maximum = 9223372036854775807_i64)),
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
    let rendered = state.service.get_rendered(id, to_json).await?;
    Ok(respond(&req, rendered))
}

/// Aggregate statistics.
///
/// Counts, stock and price/rating aggregates over the products matching the
/// list's filters.
#[utoipa::path(
    get, path = "/api/v1/products/stats", tag = "products",
    params(FilterParams),
    responses(
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Aggregates", body = crate::docs::StatsDoc),
        (status = 304, description = "Not modified"),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn product_stats(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter_of(&req)?;
    let rendered = render_stats(&state.service, &filter).await?;
    Ok(respond(&req, rendered))
}

/// Disjunctive facet counts.
///
/// For category, brand, price buckets, rating ("at least" buckets) and
/// in_stock: how many products each value matches, each counted with every
/// filter except its own — what a filtering UI shows beside its options.
#[utoipa::path(
    get, path = "/api/v1/products/facets", tag = "products",
    params(FilterParams),
    responses(
        (status = 400, description = "Malformed query string", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Facet counts", body = crate::docs::FacetsDoc),
        (status = 304, description = "Not modified"),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn product_facets(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter_of(&req)?;
    let rendered = state.service.facets_rendered(&filter, to_json).await?;
    Ok(respond(&req, rendered))
}

#[derive(Serialize)]
struct NameCounts<'a> {
    items: &'a [NameCount],
}

fn render_names(items: &Vec<NameCount>) -> RenderResult {
    to_json(&NameCounts { items })
}

async fn render_list(service: &CatalogService, query: &ListQuery) -> Result<Rendered, ApiError> {
    let fields = query.fields;
    Ok(service
        .list_rendered(query, |page| to_json(&list_body(page, fields)))
        .await?)
}

async fn render_stats(
    service: &CatalogService,
    filter: &catalog_domain::ProductFilter,
) -> Result<Rendered, ApiError> {
    Ok(service.stats_rendered(filter, to_json).await?)
}

/// Fills the cache with what nearly every client asks first: categories,
/// brands, unfiltered stats and the first list page. Rendered exactly as
/// the handlers render them, so the warmed entries are the ones they hit.
pub async fn warm_cache(service: &CatalogService) -> Result<(), ApiError> {
    service.categories_rendered(render_names).await?;
    service.brands_rendered(render_names).await?;
    render_stats(service, &catalog_domain::ProductFilter::default()).await?;
    let first_page =
        ListParams::default().into_query(service.cursor_key(), service.max_offset())?;
    render_list(service, &first_page).await?;
    Ok(())
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
    let rendered = state.service.categories_rendered(render_names).await?;
    Ok(respond(&req, rendered))
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
    let rendered = state.service.brands_rendered(render_names).await?;
    Ok(respond(&req, rendered))
}

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    /// Only while shutting down: the instance finishes what it has and
    /// takes nothing new.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    draining: bool,
    checks: HealthChecks,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_index: Option<SearchIndexHealth>,
}

#[derive(Serialize)]
struct HealthChecks {
    database: &'static str,
    cache: &'static str,
    /// `building`, `ready`, or `off` (`CATALOG_SEARCH_INDEX=sql`).
    search_index: &'static str,
}

/// The index's detail: what it holds and how far it has read the log.
#[derive(Serialize)]
struct SearchIndexHealth {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    products: Option<u64>,
    /// The change-log sequence number applied up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    /// The log's newest sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    head: Option<i64>,
    /// Changes committed and not applied yet (the next search applies them).
    #[serde(skip_serializing_if = "Option::is_none")]
    lag: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
}

fn index_health(state: &IndexState) -> SearchIndexHealth {
    match state {
        IndexState::Building => SearchIndexHealth {
            state: "building",
            products: None,
            seq: None,
            head: None,
            lag: None,
            memory_bytes: None,
        },
        IndexState::Ready {
            products,
            applied,
            head,
            memory_bytes,
        } => SearchIndexHealth {
            state: "ready",
            products: Some(*products),
            seq: *applied,
            head: *head,
            lag: state.lag(),
            memory_bytes: Some(*memory_bytes),
        },
    }
}

/// Health of the service and its dependencies.
#[utoipa::path(
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Up (status ok, or degraded when only the cache is down)", body = crate::docs::HealthDoc),
        (status = 503, description = "The database is down, or the instance is draining before it stops (SIGTERM)", body = crate::docs::HealthDoc),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (db_up, cache, index) = futures::future::join3(
        state.service.storage_up(),
        state.service.cache_health(),
        state.service.search_index_state(),
    )
    .await;
    let index = index.as_ref().map(index_health);
    let draining = state.lifecycle.is_draining();
    let body = HealthBody {
        status: match (db_up && !draining, cache) {
            (false, _) => "unavailable",
            (true, CacheHealth::Down) => "degraded",
            (true, _) => "ok",
        },
        checks: HealthChecks {
            database: if db_up { "up" } else { "down" },
            cache: match cache {
                CacheHealth::Memory => "memory",
                CacheHealth::Up => "up",
                CacheHealth::Down => "down",
            },
            search_index: index.as_ref().map_or("off", |i| i.state),
        },
        search_index: index,
        draining,
    };
    let mut res = if db_up && !draining {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(body)
}
