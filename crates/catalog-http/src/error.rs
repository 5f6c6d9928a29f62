//! The one error type of the HTTP edge and its one mapping to RFC 9457
//! problem+json. Handlers return `Result<_, ApiError>` and never pick status
//! codes for domain errors themselves.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use catalog_domain::error::error_chain;
use catalog_domain::{CatalogError, FieldError, StorageError, ValidationErrors};
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URI identifying the problem kind (`urn:catalog:problem:<code>`).
    #[serde(rename = "type")]
    #[schema(example = "urn:catalog:problem:validation-error")]
    pub kind: String,
    #[schema(example = "Validation failed")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "limit: must be between 1 and 100")]
    pub detail: String,
    /// Present on validation errors: every offending parameter or field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// One offending input.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    /// The parameter or body field, named as in the contract.
    #[schema(example = "limit")]
    pub field: String,
    #[schema(example = "must be between 1 and 100")]
    pub message: String,
}

impl From<&FieldError> for ProblemField {
    fn from(e: &FieldError) -> Self {
        Self {
            field: e.field.clone(),
            message: e.message.clone(),
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// The body is over the route's limit (64 KiB; 8 MiB for bulk writes).
    #[error("request body too large")]
    PayloadTooLarge { limit: &'static str },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("a product with this sku already exists")]
    Conflict,
    #[error("{detail}")]
    Unauthorized { detail: String, invalid_token: bool },
    #[error("the token lacks the scope {scope}")]
    Forbidden { scope: String },
    #[error("the product has changed since the ETag given in If-Match")]
    PreconditionFailed,
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("service unavailable")]
    Unavailable(#[source] StorageError),
    /// The client is over its rate limit (429).
    #[error("too many requests: retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Too much expensive work is in flight: refused at once (503).
    #[error("too many expensive requests are running ({0}); retry shortly")]
    Overloaded(catalog_domain::WorkClass),
    /// The request outlived `CATALOG_REQUEST_TIMEOUT`; its work was dropped.
    #[error("the request took longer than the server's {timeout_ms} ms deadline; retry shortly")]
    Timeout { timeout_ms: u128 },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Validation(e)
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Validation(v) => ApiError::Validation(v),
            CatalogError::NotFound => ApiError::NotFound("product not found".into()),
            CatalogError::DuplicateSku => ApiError::Conflict,
            CatalogError::PreconditionFailed => ApiError::PreconditionFailed,
            CatalogError::FeedExpired => ApiError::Gone(
                "the change log no longer holds every change after this position (it keeps \
                 CATALOG_CHANGE_LOG_RETENTION): take a new position with since=now, \
                 re-export the catalog, then follow the feed from that position"
                    .into(),
            ),
            CatalogError::FeedUnsupported => {
                ApiError::NotImplemented("this deployment's storage keeps no change log".into())
            }
            CatalogError::Storage(s @ StorageError::Unavailable { .. }) => ApiError::Unavailable(s),
            CatalogError::Storage(s) => ApiError::Internal(Box::new(s)),
            CatalogError::Overloaded(class) => ApiError::Overloaded(class),
            e @ CatalogError::Internal { .. } => ApiError::Internal(Box::new(e)),
        }
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation-error",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Conflict => "duplicate-sku",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "insufficient-scope",
            ApiError::PreconditionFailed => "precondition-failed",
            ApiError::Gone(_) => "since-expired",
            ApiError::NotImplemented(_) => "not-implemented",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::Overloaded(_) => "overloaded",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "Validation failed",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::PayloadTooLarge { .. } => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Conflict => "Conflict",
            ApiError::Unauthorized { .. } => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::PreconditionFailed => "Precondition failed",
            ApiError::Gone(_) => "Gone",
            ApiError::NotImplemented(_) => "Not implemented",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::Overloaded(_) => "Overloaded",
            ApiError::Timeout { .. } => "Request timed out",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    /// The client-facing detail. 5xx details are fixed strings: internals
    /// (SQL, connection strings, stacks) only ever reach the log.
    fn detail(&self) -> String {
        match self {
            ApiError::Validation(v) => v.to_string(),
            ApiError::Unavailable(_) => {
                "the database is temporarily unavailable; retry shortly".into()
            }
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            ApiError::MethodNotAllowed { allow } => format!("allowed methods: {allow}"),
            ApiError::PayloadTooLarge { limit } => {
                format!("request bodies on this route are limited to {limit}")
            }
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:catalog:problem:{}", self.code()),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            errors: match self {
                ApiError::Validation(v) => {
                    Some(v.errors().iter().map(ProblemField::from).collect())
                }
                ApiError::Conflict => Some(vec![ProblemField {
                    field: "sku".into(),
                    message: "is already used by another product".into(),
                }]),
                ApiError::Gone(_) => Some(vec![ProblemField {
                    field: "since".into(),
                    message: "is older than the change log's retention".into(),
                }]),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict => StatusCode::CONFLICT,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable(_) | ApiError::Overloaded(_) | ApiError::Timeout { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(e) => {
                tracing::error!(error = %error_chain(e), "request failed: storage unavailable")
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %error_chain(e.as_ref()), "request failed")
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if let ApiError::MethodNotAllowed { allow } = self {
            res.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        match self {
            ApiError::Unauthorized { invalid_token, .. } => {
                let v = if *invalid_token {
                    r#"Bearer realm="catalog", error="invalid_token""#
                } else {
                    r#"Bearer realm="catalog""#
                };
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(v)));
            }
            ApiError::Forbidden { .. } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="catalog", error="insufficient_scope", scope="products:write""#,
                    ),
                ));
            }
            _ => {}
        }
        match self {
            ApiError::Unavailable(_) | ApiError::Overloaded(_) | ApiError::Timeout { .. } => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            ApiError::RateLimited { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
            }
            _ => {}
        }
        res.body(body)
    }
}
