//! `build_app`: the one application factory used by `main` and every test.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::docs::ApiDoc;
use crate::error::ApiError;
use crate::limits::{RATELIMIT, RATELIMIT_POLICY, deadline, rate_limit};
use crate::middleware::{
    PROCESS_TIME, REQUEST_ID, SERVER_TIMING, close_when_draining, observe, security_headers,
    tag_encoded,
};
use crate::state::{AppState, CorsOrigins};
use crate::{handlers, writes};

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

fn cors(origins: &CorsOrigins) -> Cors {
    let all = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let base = match origins {
        // `*` literally (no credentials are involved: writes use bearer
        // tokens, not cookies), as the contract's default reads.
        CorsOrigins::DefaultReadOnly => Cors::default()
            .allow_any_origin()
            .send_wildcard()
            .allowed_methods([Method::GET, Method::HEAD]),
        CorsOrigins::Any => Cors::default()
            .allow_any_origin()
            .send_wildcard()
            .allowed_methods(all),
        CorsOrigins::List(list) => list
            .iter()
            .fold(Cors::default(), |c, o| c.allowed_origin(o))
            .allowed_methods(all),
    };
    base.allowed_headers([
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::ACCEPT,
        header::HeaderName::from_static("idempotency-key"),
        REQUEST_ID,
    ])
    .expose_headers([
        header::ETAG,
        header::LOCATION,
        header::HeaderName::from_static("x-cache"),
        PROCESS_TIME,
        SERVER_TIMING,
        REQUEST_ID,
        // A browser client can only back off if it can read these.
        header::RETRY_AFTER,
        RATELIMIT,
        RATELIMIT_POLICY,
    ])
    // A disallowed origin still gets its answer, just without CORS
    // headers: the browser enforces the policy, and non-browser clients are
    // unaffected.
    .block_on_origin_mismatch(false)
    .max_age(3600)
}

fn method_not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move || std::future::ready(Err(ApiError::MethodNotAllowed { allow }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // The documentation routes only answer GET; other methods there are a
    // 405 like everywhere else.
    let path = req.path();
    if req.method() != Method::GET
        && (path == "/api-docs/openapi.json" || path.starts_with("/docs/"))
    {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    Err(ApiError::NotFound(format!("no route for {path}")))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

fn read_only(
    path: &str,
    handler: impl actix_web::Handler<
        (HttpRequest, web::Data<AppState>),
        Output = Result<HttpResponse, ApiError>,
    >,
) -> actix_web::Resource {
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(method_not_allowed("GET, HEAD")))
}

/// `resource` with its reads bounded by `CATALOG_REQUEST_TIMEOUT`. Per
/// resource, not around the app: the deadline's 503 needs the request,
/// which may only be shared once routing is done. Streams and long polls
/// must not opt in.
fn with_deadline<T>(resource: actix_web::Resource<T>) -> impl actix_web::dev::HttpServiceFactory
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    resource.wrap(from_fn(deadline))
}

/// Framework-made 404/405 responses (the Swagger UI service's, chiefly)
/// get the same problem+json body as ours.
fn problem_for_bare_errors<B: MessageBody + 'static>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let error = if res.status() == actix_web::http::StatusCode::METHOD_NOT_ALLOWED {
        ApiError::MethodNotAllowed { allow: "GET" }
    } else {
        ApiError::NotFound(format!("no resource at {}", res.request().path()))
    };
    let (req, _) = res.into_parts();
    let res = actix_web::ResponseError::error_response(&error);
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, res).map_into_right_body(),
    ))
}

/// Registers every route; shared by [`build_app`] and anyone embedding the
/// API in a larger actix application.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(with_deadline(
        web::resource("/api/v1/products")
            .route(web::get().to(handlers::list_products))
            .route(web::head().to(handlers::list_products))
            .route(web::post().to(writes::create_product))
            .default_service(web::to(method_not_allowed("GET, HEAD, POST"))),
    ))
    .service(with_deadline(read_only(
        "/api/v1/products/stats",
        handlers::product_stats,
    )))
    .service(with_deadline(read_only(
        "/api/v1/products/facets",
        handlers::product_facets,
    )))
    .service(with_deadline(read_only(
        "/api/v1/products/categories",
        handlers::list_categories,
    )))
    .service(with_deadline(read_only(
        "/api/v1/products/brands",
        handlers::list_brands,
    )))
    // No deadline: a long poll waits up to 30 s by design, and bounds
    // itself.
    .service(read_only(
        "/api/v1/products/changes",
        crate::feed::list_changes,
    ))
    // Its own body limit (8 MiB) and no deadline: up to 1,000 products in
    // one transaction.
    .service(
        web::resource("/api/v1/products/bulk")
            .route(web::post().to(crate::bulk::bulk_upsert))
            .default_service(web::to(method_not_allowed("POST"))),
    )
    // No deadline: a million rows stream for seconds.
    .service(read_only(
        "/api/v1/products/export",
        crate::bulk::export_products,
    ))
    .service(with_deadline(
        web::resource("/api/v1/products/{id}")
            .route(web::get().to(handlers::get_product))
            .route(web::head().to(handlers::get_product))
            .route(web::put().to(writes::replace_product))
            .route(web::patch().to(writes::patch_product))
            .route(web::delete().to(writes::delete_product))
            .default_service(web::to(method_not_allowed("GET, HEAD, PUT, PATCH, DELETE"))),
    ))
    .service(
        web::resource("/health")
            .route(web::get().to(handlers::health))
            .route(web::head().to(handlers::health))
            .default_service(web::to(method_not_allowed("GET, HEAD"))),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(crate::metrics::metrics))
            .route(web::head().to(crate::metrics::metrics))
            .default_service(web::to(method_not_allowed("GET, HEAD"))),
    )
    .configure(crate::explorer::configure)
    .service(web::resource("/docs").route(web::get().to(docs_redirect)))
    .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", ApiDoc::openapi()));
}

/// The whole application: routes, middleware and shared state.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let cors = cors(&state.config.cors);
    App::new()
        .app_data(web::Data::new(state))
        .configure(configure)
        .default_service(web::to(not_found))
        .wrap(
            actix_web::middleware::ErrorHandlers::new()
                .handler(
                    actix_web::http::StatusCode::NOT_FOUND,
                    problem_for_bare_errors,
                )
                .handler(
                    actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                    problem_for_bare_errors,
                ),
        )
        .wrap(Compress::default())
        .wrap(from_fn(tag_encoded))
        // Inside CORS and `observe`, so its refusals still carry CORS,
        // timing and request-id headers and are logged.
        .wrap(from_fn(rate_limit))
        .wrap(cors)
        .wrap(from_fn(close_when_draining))
        .wrap(from_fn(security_headers))
        .wrap(from_fn(observe))
}
