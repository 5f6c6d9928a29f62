//! Translation of SeaORM errors into the domain's `StorageError`.

use catalog_domain::StorageError;
use sea_orm::{DbErr, SqlErr};

/// Maps a database error, with what was being done, to the port's error.
pub(crate) fn storage_err(context: &str, e: DbErr) -> StorageError {
    if let Some(SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
        return StorageError::DuplicateSku;
    }
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StorageError::unavailable(context, e),
        other => StorageError::internal(context, other),
    }
}

pub(crate) trait Context<T> {
    fn context(self, context: &str) -> Result<T, StorageError>;
}

impl<T> Context<T> for Result<T, DbErr> {
    fn context(self, context: &str) -> Result<T, StorageError> {
        self.map_err(|e| storage_err(context, e))
    }
}
