//! OpenAPI schemas of the HTTP bodies and the document itself. The schema
//! structs describe what the handlers serialize; a test checks they agree.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::{OpenApi, ToSchema};

use crate::body::ProductBody;
use crate::contract::Contract;
use crate::error::{Problem, ProblemField};

/// What a category or brand filter value may hold: 1–100 characters,
/// compared exactly as given (a value no product holds matches nothing).
pub struct LabelFilterDoc;

impl utoipa::PartialSchema for LabelFilterDoc {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(catalog_domain::product::MAX_LABEL_CHARS))
            .description(Some(
                "A category or brand filter value: 1–100 characters, compared exactly as given.",
            ))
            .into()
    }
}

impl ToSchema for LabelFilterDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("LabelFilter")
    }
}

/// A product projected by `fields`: `id` and the fields asked for.
pub struct ProductProjectionDoc;

impl utoipa::PartialSchema for ProductProjectionDoc {
    fn schema() -> RefOr<Schema> {
        let mut schema = <ProductDoc as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(product)) = &mut schema {
            product.required = vec!["id".to_string()];
            product.description = Some(
                "A product projected by `fields`: `id` always, and only the fields asked for."
                    .into(),
            );
            product.example = Some(
                serde_json::json!({"id": 42, "name": "Wireless Headphones Pro", "price": 199.99}),
            );
        }
        schema
    }
}

impl ToSchema for ProductProjectionDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProductProjection")
    }
}

/// A product.
#[derive(ToSchema)]
#[schema(as = Product, example = json!({
    "id": 42, "sku": "ELEC-000042", "name": "Wireless Headphones Pro",
    "description": "Over-ear, noise cancelling.", "category": "Electronics",
    "brand": "Acme", "price": 199.99, "stock_quantity": 12, "rating": 4.5,
    "is_active": true, "created_at": "2026-01-01T12:00:00Z", "updated_at": "2026-01-02T08:30:00Z"
}))]
#[allow(dead_code)]
pub struct ProductDoc {
    /// Assigned by the server, > 0, never reused.
    #[schema(minimum = 1)]
    pub id: i64,
    /// Unique, 3–32 chars of A-Z 0-9 -, stored upper-case.
    #[schema(pattern = "^[A-Z0-9-]{3,32}$", min_length = 3, max_length = 32)]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 5000)]
    pub description: String,
    #[schema(min_length = 1, max_length = 100)]
    pub category: String,
    #[schema(min_length = 1, max_length = 100)]
    pub brand: String,
    /// 0–1,000,000, at most 2 decimals; exact in storage.
    #[schema(minimum = 0, maximum = 1000000, multiple_of = 0.01)]
    pub price: f64,
    #[schema(minimum = 0)]
    pub stock_quantity: i64,
    /// 0.0–5.0, at most 1 decimal.
    #[schema(minimum = 0, maximum = 5, multiple_of = 0.1)]
    pub rating: f64,
    pub is_active: bool,
    /// RFC 3339, UTC, set by the server.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// RFC 3339, UTC, set by the server on every change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A JSON Merge Patch (RFC 7396): the schema of [`ProductBody`] (the one
/// wire struct of write bodies, `ProductInput` here) with no member
/// required, and `null` allowed on `description` only.
pub struct ProductPatchDoc;

const PATCH_DESCRIPTION: &str = "A JSON Merge Patch (RFC 7396) of writable fields: present fields are\nreplaced; `null` clears `description` and is refused on the others.";

impl utoipa::PartialSchema for ProductPatchDoc {
    fn schema() -> RefOr<Schema> {
        let mut schema = <ProductBody as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(body)) = &mut schema {
            body.required.clear();
            body.description = Some(PATCH_DESCRIPTION.into());
            body.example = Some(serde_json::json!({"price": 179.99, "stock_quantity": 40}));
            if let Some(RefOr::T(Schema::Object(d))) = body.properties.get_mut("description") {
                d.schema_type = SchemaType::Array(vec![Type::String, Type::Null]);
            }
        }
        schema
    }
}

impl ToSchema for ProductPatchDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProductPatch")
    }
}

/// A page of products.
#[derive(ToSchema)]
#[schema(as = ProductList)]
#[allow(dead_code)]
pub struct ProductListDoc {
    /// The page's products: whole, or projected when `fields` is given.
    #[schema(value_type = Vec<ProductListItemDoc>)]
    pub items: Vec<ProductDoc>,
    /// Matching products in all; null with `count=none`; the planner's
    /// estimate with `count=estimated` above 10,000 rows.
    pub total: Option<u64>,
    /// Only with `count=estimated`: whether `total` is exact (counted,
    /// below 10,000 rows) or the planner's estimate.
    pub total_is_exact: Option<bool>,
    pub limit: u32,
    pub offset: u64,
    /// Opaque token for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// An item of a page: a whole [`ProductDoc`] without `fields`, a
/// [`ProductProjectionDoc`] with it. `anyOf`, since a whole product is a
/// projection too.
pub struct ProductListItemDoc;

impl utoipa::PartialSchema for ProductListItemDoc {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name("Product"))
            .item(utoipa::openapi::Ref::from_schema_name("ProductProjection"))
            .description(Some(
                "A whole Product, or a ProductProjection when `fields` is given.",
            ))
            .into()
    }
}

impl ToSchema for ProductListItemDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProductListItem")
    }
}

/// Aggregates over the matching products.
#[derive(ToSchema)]
#[schema(as = Stats, example = json!({
    "total_products": 100000, "active_products": 90012, "in_stock_products": 95001,
    "total_stock": 25000000, "price": {"min": 1.99, "max": 4999.0, "avg": 312.45},
    "average_rating": 3.9, "categories": 15, "brands": 20
}))]
#[allow(dead_code)]
pub struct StatsDoc {
    pub total_products: u64,
    pub active_products: u64,
    pub in_stock_products: u64,
    pub total_stock: i64,
    pub price: PriceStatsDoc,
    /// Null when nothing matches; rounded to 2 decimals.
    pub average_rating: Option<f64>,
    /// Distinct categories among the matches.
    pub categories: u64,
    /// Distinct brands among the matches.
    pub brands: u64,
}

/// Price aggregates; null when nothing matches.
#[derive(ToSchema)]
#[schema(as = PriceStats)]
#[allow(dead_code)]
pub struct PriceStatsDoc {
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Rounded to 2 decimals.
    pub avg: Option<f64>,
}

/// A distinct value with its product count.
#[derive(ToSchema)]
#[schema(as = NameCount)]
#[allow(dead_code)]
pub struct NameCountDoc {
    pub name: String,
    pub product_count: u64,
}

/// Every distinct value, sorted by name (code-point order).
#[derive(ToSchema)]
#[schema(as = NameCountList)]
#[allow(dead_code)]
pub struct NameCountListDoc {
    pub items: Vec<NameCountDoc>,
}

/// Facet counts (see the facets route).
#[derive(ToSchema)]
#[schema(as = Facets, example = json!({
    "total": 6588,
    "category": [{"value": "Books", "count": 6588}, {"value": "Toys", "count": 6601}],
    "brand": [{"value": "Acme", "count": 330}],
    "price": [{"min": 0.0, "max": 10.0, "count": 1201}, {"min": 1000.0, "max": null, "count": 3}],
    "rating": [{"min": 4.0, "count": 5012}, {"min": 3.0, "count": 6400}],
    "in_stock": [{"value": true, "count": 6100}, {"value": false, "count": 488}]
}))]
#[allow(dead_code)]
pub struct FacetsDoc {
    /// Products matching every filter.
    pub total: u64,
    /// Per category, counted without the category filter; by name.
    pub category: Vec<FacetValueDoc>,
    /// Per brand, counted without the brand filter; by name.
    pub brand: Vec<FacetValueDoc>,
    /// Price buckets [min, max) in currency units (0-10, 10-25, 25-50,
    /// 50-100, 100-250, 250-500, 500-1000, 1000+), without the price filters.
    pub price: Vec<PriceBucketDoc>,
    /// Products rated at least 4, 3, 2, 1, without the min_rating filter.
    pub rating: Vec<RatingBucketDoc>,
    /// In stock or not, without the in_stock filter.
    pub in_stock: Vec<BoolCountDoc>,
}

#[derive(ToSchema)]
#[schema(as = FacetValue)]
#[allow(dead_code)]
pub struct FacetValueDoc {
    pub value: String,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(as = PriceBucket)]
#[allow(dead_code)]
pub struct PriceBucketDoc {
    /// Inclusive.
    pub min: f64,
    /// Exclusive; null for the top bucket.
    pub max: Option<f64>,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(as = RatingBucket)]
#[allow(dead_code)]
pub struct RatingBucketDoc {
    pub min: f64,
    pub count: u64,
}

#[derive(ToSchema)]
#[schema(as = BoolCount)]
#[allow(dead_code)]
pub struct BoolCountDoc {
    pub value: bool,
    pub count: u64,
}

/// Service health.
#[derive(ToSchema)]
#[schema(as = Health, example = json!({"status": "ok", "checks": {"database": "up", "cache": "memory", "search_index": "ready"}, "search_index": {"state": "ready", "products": 100000, "seq": 100412, "head": 100412, "lag": 0, "memory_bytes": 27000000}}))]
#[allow(dead_code)]
pub struct HealthDoc {
    /// `ok`, `degraded` (cache down) or `unavailable` (database down, or
    /// the instance is shutting down: 503).
    pub status: String,
    /// Present (and `true`) only while the instance shuts down: it
    /// finishes its in-flight requests and a load balancer should stop
    /// sending it new ones.
    pub draining: Option<bool>,
    pub checks: HealthChecksDoc,
    pub search_index: Option<SearchIndexHealthDoc>,
}

#[derive(ToSchema)]
#[schema(as = HealthChecks)]
#[allow(dead_code)]
pub struct HealthChecksDoc {
    /// `up` or `down`.
    pub database: String,
    /// `up`, `down` (Redis unreachable) or `memory` (in-process cache).
    pub cache: String,
    /// `building` (searches take the slower SQL path meanwhile), `ready`,
    /// or `off` (`CATALOG_SEARCH_INDEX=sql`). Never makes the status 503.
    pub search_index: String,
}

/// The search index in detail (absent with `CATALOG_SEARCH_INDEX=sql`).
#[derive(ToSchema)]
#[schema(as = SearchIndexHealth)]
#[allow(dead_code)]
pub struct SearchIndexHealthDoc {
    /// `building` or `ready`.
    pub state: String,
    /// Products indexed (ready only).
    pub products: Option<u64>,
    /// The change-log sequence number the index has applied up to.
    pub seq: Option<i64>,
    /// The change log's newest sequence number.
    pub head: Option<i64>,
    /// Changes committed but not applied yet: the next search applies
    /// them before answering, so this is never staleness a reader sees.
    pub lag: Option<u64>,
    /// Approximate heap bytes the index holds.
    pub memory_bytes: Option<u64>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Catalog API",
        version = "1.0.0",
        description = "Browse, filter, search and edit a product catalog. Errors are RFC 9457 problem+json; cacheable GETs carry a strong ETag and honour If-None-Match."
    ),
    paths(
        crate::handlers::list_products,
        crate::writes::create_product,
        crate::handlers::get_product,
        crate::writes::replace_product,
        crate::writes::patch_product,
        crate::writes::delete_product,
        crate::handlers::product_stats,
        crate::handlers::product_facets,
        crate::handlers::list_categories,
        crate::handlers::list_brands,
        crate::feed::list_changes,
        crate::bulk::bulk_upsert,
        crate::bulk::export_products,
        crate::handlers::health,
        crate::metrics::metrics,
    ),
    components(schemas(
        ProductDoc, ProductProjectionDoc, ProductListItemDoc, LabelFilterDoc, ProductBody, ProductPatchDoc, ProductListDoc, StatsDoc, PriceStatsDoc, NameCountDoc, NameCountListDoc,
        HealthDoc, HealthChecksDoc, SearchIndexHealthDoc, Problem, ProblemField, FacetsDoc, FacetValueDoc,
        PriceBucketDoc, RatingBucketDoc, BoolCountDoc, crate::feed::ChangeDoc, crate::feed::ChangeListDoc,
        crate::bulk::BulkDoc, crate::bulk::BulkItemDoc
    )),
    modifiers(&BearerAuth, &Contract),
    tags(
        (name = "products", description = "Products: reads are public, writes need a bearer token with products:write"),
        (name = "operations", description = "Health, metrics and documentation"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the write routes reference, and
/// `metrics_token`, which `GET /metrics` accepts.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("HS256 JWT with sub, exp and scope (space-separated, must include products:write). Mint one with `catalog token`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The value of CATALOG_METRICS_TOKEN (an opaque string, not a JWT); only required when that variable is set."))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, pretty-printed (what docs/openapi.json holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
