//! The HTTP edge of Catalog: actix-web handlers that parse requests into
//! domain queries, call the catalog service and map results to JSON or RFC
//! 9457 problem documents; OpenAPI (utoipa) and Swagger UI at `/docs`.

mod app;
pub mod auth;
pub use catalog_interchange::json as body;
pub mod bulk;
mod conditional;
mod contract;
pub mod docs;
mod error;
mod explorer;
mod feed;
mod handlers;
pub mod limits;
pub mod metrics;
mod middleware;
pub mod params;
mod state;
mod writes;

pub use app::{MAX_BODY_BYTES, build_app, configure};
pub use catalog_domain::cache::etag_for;
pub use conditional::CacheStatus;
pub use docs::{ApiDoc, openapi_json};
pub use error::{ApiError, PROBLEM_JSON, Problem};
pub use handlers::warm_cache;
pub use limits::{DEFAULT_REQUEST_TIMEOUT, TrustedProxies};
pub use metrics::{Metrics, PoolStats};
pub use middleware::content_security_policy;
pub use state::{AppState, CorsOrigins, HttpConfig, Lifecycle};
