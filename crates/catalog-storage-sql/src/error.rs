//! Translation of SeaORM errors into the domain's `StorageError`.

use catalog_domain::StorageError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// Maps a database error, with what was being done, to the port's error.
/// Conditions that pass on their own (the server is overloaded, shutting
/// down or cancelled a statement at its timeout; a lock or deadlock; a
/// lost connection; SQLite busy past its timeout) are `Unavailable`: the
/// client gets a 503 with `Retry-After`, never a 500.
pub(crate) fn storage_err(context: &str, e: DbErr) -> StorageError {
    if let Some(SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
        return StorageError::DuplicateSku;
    }
    if is_transient(&e) {
        return StorageError::unavailable(context, e);
    }
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StorageError::unavailable(context, e),
        other => StorageError::internal(context, other),
    }
}

/// Whether `e` is a condition that retrying shortly can clear.
fn is_transient(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    // Connection errors (`DbErr::Conn`) are unavailable whatever they are.
    let (DbErr::Query(RuntimeErr::SqlxError(err)) | DbErr::Exec(RuntimeErr::SqlxError(err))) = e
    else {
        return false;
    };
    match err.as_ref() {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let sqlite = db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some();
            db.code().is_some_and(|c| transient_code(&c, sqlite))
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (five characters, often all digits) and SQLite
/// result codes (decimal, possibly extended) that retrying shortly can
/// clear.
fn transient_code(code: &str, sqlite: bool) -> bool {
    if sqlite {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended
        // codes (the primary code in the low byte).
        return code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    matches!(
        code,
        // query_canceled: statement_timeout (or a cancel request)
        "57014"
            // admin_shutdown, crash_shutdown, cannot_connect_now
            | "57P01"
            | "57P02"
            | "57P03"
            // serialization_failure, deadlock_detected
            | "40001"
            | "40P01"
            // lock_not_available (lock_timeout)
            | "55P03"
    ) || code.starts_with("08") // connection exceptions
        || code.starts_with("53") // insufficient resources, too many connections
}

pub(crate) trait Context<T> {
    fn context(self, context: &str) -> Result<T, StorageError>;
}

impl<T> Context<T> for Result<T, DbErr> {
    fn context(self, context: &str) -> Result<T, StorageError> {
        self.map_err(|e| storage_err(context, e))
    }
}

#[cfg(test)]
mod tests {
    use super::transient_code;

    #[test]
    fn transient_codes() {
        for code in [
            "57014", "40P01", "40001", "55P03", "53300", "08006", "57P01",
        ] {
            assert!(transient_code(code, false), "{code}");
        }
        // unique_violation, syntax error, check violation.
        for code in ["23505", "42601", "23514"] {
            assert!(!transient_code(code, false), "{code}");
        }
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED,
        // SQLITE_LOCKED_SHAREDCACHE.
        for code in ["5", "517", "6", "262"] {
            assert!(transient_code(code, true), "{code}");
        }
        // SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE, SQLITE_ERROR; and a
        // SQLSTATE read as an SQLite code.
        for code in ["19", "2067", "1", "57014"] {
            assert!(!transient_code(code, true), "{code}");
        }
    }
}
