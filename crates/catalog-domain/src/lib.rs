//! Catalog's domain: the product model, the query language (filters, sort,
//! pages, cursors, projections), their validation, the storage port and the
//! catalog service that orchestrates it.
//!
//! Nothing here knows about HTTP, SQL or Redis. Adapters implement the ports in
//! [`ports`]; the HTTP edge reads its wire format into the typed requests of
//! [`query`] ([`query::ListRequest`]) and [`write`] ([`NewProduct`],
//! [`write::ProductPatch`]), and calls
//! [`service::CatalogService`].

pub mod bulk;
pub mod cache;
pub mod changes;
pub mod cursor;
pub mod error;
pub mod export;
pub mod facets;
pub mod feed;
pub mod observe;
pub mod ports;
pub mod product;
pub mod query;
pub mod rate_limit;
pub mod search;
pub mod search_index;
pub mod service;
pub mod stats;
pub mod write;

pub use cache::{Cache, CacheError, CacheKind, CacheTtls, Rendered};
pub use changes::{ChangeBatch, ChangeCursor, ChangeLog};
pub use error::{CatalogError, FieldError, StorageError, ValidationErrors};
pub use ports::{BatchUpserted, Created, FacetGroups, Idempotency, UpsertOutcome, Upserted};
pub use ports::{ProductReader, ProductStore, ProductWriter};
pub use product::{Label, NewProduct, Price, Product, ProductId, ProductVersion, Rating, Sku};
pub use query::{
    CountMode, Field, FieldSet, FilterRequest, ListQuery, ListRefusal, ListRequest, PageSize,
    ProductFilter, SearchQuery, SortField, SortKey, SortValue, Start,
};
pub use rate_limit::{Decision, FailOpen, Quota, RateLimitError, RateLimiter};
pub use search_index::{IndexState, SearchIndex};
pub use service::{
    CacheHealth, CacheSettings, CatalogService, ListPage, Precondition, RenderResult, WorkClass,
    fingerprint,
};
pub use stats::{NameCount, PriceStats, Stats, StatsRow};
pub use write::{Change, ProductPatch};
