//! Domain errors. Adapters translate their own errors into [`StorageError`];
//! the service surfaces [`CatalogError`], which the HTTP edge maps to
//! problem+json in exactly one place.

use std::fmt;

/// One offending input, named as in the public contract (`limit`, `sku`, ...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every offending input of one request: validation reports them all at
/// once, not just the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.push(field, message);
        e
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(value)` when nothing was reported, the errors otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a storage adapter MUST return. Adapters never leak their own error
/// types (no `DbErr` here): a unique violation on sku is `DuplicateSku`, a
/// refused or timed-out connection is `Unavailable`, anything else `Internal`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("a product with this sku already exists")]
    DuplicateSku,
    #[error("product not found")]
    NotFound,
    /// The product changed since the version the write was based on.
    #[error("the product was changed concurrently")]
    VersionConflict,
    /// An idempotency key was reused with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    #[error("storage unavailable: {context}")]
    Unavailable {
        context: String,
        #[source]
        source: Source,
    },
    #[error("storage failure: {context}")]
    Internal {
        context: String,
        #[source]
        source: Source,
    },
}

impl StorageError {
    pub fn internal(context: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Internal {
            context: context.into(),
            source: source.into(),
        }
    }

    pub fn unavailable(context: impl Into<String>, source: impl Into<Source>) -> Self {
        Self::Unavailable {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// What the catalog service returns to its callers.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("invalid request: {0}")]
    Validation(#[from] ValidationErrors),
    #[error("product not found")]
    NotFound,
    #[error("a product with this sku already exists")]
    DuplicateSku,
    /// `If-Match` did not match the current version.
    #[error("the product has changed: If-Match does not match its current ETag")]
    PreconditionFailed,
    #[error(transparent)]
    Storage(StorageError),
    /// The change feed position is older than the log's retention: some
    /// changes after it are gone.
    #[error("the change log no longer holds every change after this position")]
    FeedExpired,
    /// This deployment's storage keeps no change log.
    #[error("this storage keeps no change log")]
    FeedUnsupported,
    /// Too many expensive requests of this class are already running: the
    /// request was refused at once rather than queued (a 503 with
    /// `Retry-After`). Only work that missed the cache is ever refused.
    #[error("too many {0} requests in flight")]
    Overloaded(crate::service::WorkClass),
    /// Something that cannot happen with well-formed data did (a response
    /// or a cursor failed to serialize): a 500, never a silently empty
    /// body, cursor or key.
    #[error("internal error: {context}")]
    Internal {
        context: &'static str,
        #[source]
        source: Source,
    },
}

impl CatalogError {
    pub fn internal(context: &'static str, source: impl Into<Source>) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }
}

impl From<StorageError> for CatalogError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::DuplicateSku => CatalogError::DuplicateSku,
            StorageError::NotFound => CatalogError::NotFound,
            StorageError::VersionConflict => CatalogError::PreconditionFailed,
            StorageError::IdempotencyKeyReused => {
                CatalogError::Validation(ValidationErrors::single(
                    "Idempotency-Key",
                    "was already used with a different request body",
                ))
            }
            other => CatalogError::Storage(other),
        }
    }
}

/// Renders an error with its whole `source()` chain, for logs.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
