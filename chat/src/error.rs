//! The one error type of the crate. Variants below `Migration` are domain outcomes the caller
//! maps to protocol error codes; the ones above are infrastructure.

use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("attachment storage error: {0}")]
    Io(#[from] std::io::Error),
    /// The conversation, message, attachment or member does not exist.
    #[error("not found")]
    NotFound,
    /// The actor is not a member of the conversation.
    #[error("not a member of this conversation")]
    NotMember,
    /// The actor is a member but its role (or lack of the moderate grant) does not allow this.
    #[error("not allowed")]
    Forbidden,
    #[error("muted in this conversation")]
    Muted,
    #[error("banned from this conversation")]
    Banned,
    #[error("{what} is {size} {unit}, the limit is {limit}")]
    TooLarge {
        what: &'static str,
        /// What `size` and `limit` count: bytes, members, ...
        unit: &'static str,
        size: u64,
        limit: u64,
    },
    /// Input the caller should not have sent (empty message, negative cursor, bad emoji...).
    #[error("invalid input: {0}")]
    Invalid(Cow<'static, str>),
    /// The request contradicts the current state (editing a deleted message...).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("content type not allowed: {0}")]
    ContentTypeNotAllowed(String),
    /// The upload's bytes are not what its declared type says (an HTML page sent as a PNG).
    #[error("the file's content does not match its declared type {0}")]
    ContentMismatch(String),
}

impl StoreError {
    pub(crate) fn invalid(why: &'static str) -> Self {
        Self::Invalid(Cow::Borrowed(why))
    }

    /// True when the same request may succeed later unchanged: the database is unreachable,
    /// the pool is exhausted, or the row/file is locked. Clients get a "try again" error for
    /// these; nothing acknowledged was lost.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Database(e) => sqlx_retriable(e),
            Self::Migration(sqlx::migrate::MigrateError::Execute(e)) => sqlx_retriable(e),
            Self::Io(e) | Self::DataDir(e) => io_retriable(e.kind()),
            _ => false,
        }
    }
}

fn io_retriable(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | Interrupted
            | WouldBlock
            | UnexpectedEof
    )
}

fn sqlx_retriable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Io(io) => io_retriable(io.kind()),
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Extended result codes keep the primary code in the low byte:
                // SQLITE_BUSY = 5, SQLITE_LOCKED = 6.
                return code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
            }
            // 08: connection exception, 40001/40P01: serialization failure and deadlock,
            // 53: insufficient resources, 57P01-03: server shutting down or starting.
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code.as_ref(),
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03"
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_retriable_and_domain_errors_are_not() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_retriable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(StoreError::Database(sqlx::Error::Io(refused)).is_retriable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_retriable());
        assert!(!StoreError::Database(sqlx::Error::PoolClosed).is_retriable());
        assert!(!StoreError::NotMember.is_retriable());
        assert!(!StoreError::Muted.is_retriable());
    }
}
