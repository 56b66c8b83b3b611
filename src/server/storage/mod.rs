//! The clinic server's storage: every SQL query the server runs, behind
//! functions that take and return domain and record types, and the one
//! error type they share, [`StorageError`]. HTTP handlers call these
//! functions through [`super::db::Db`] and map the error to a response;
//! they hold no SQL themselves.

use std::path::PathBuf;

pub mod schedule;
pub mod staff;

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite refused or failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("migrating {path}: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        source: rusqlite_migration::Error,
    },
    /// A stored JSON column could not be read back.
    #[error("stored JSON in {column}: {source}")]
    Json {
        /// The column.
        column: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A stored value is not what the schema promises.
    #[error("stored value in {0} is invalid")]
    Corrupt(&'static str),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// The record is not in the caller's clinic (or does not exist).
    #[error("no {what} {id} in this clinic")]
    NotFound {
        /// What kind of record, such as "flag".
        what: &'static str,
        /// Its id as the caller gave it.
        id: String,
    },
    /// The record is not in a state that allows the change, such as a
    /// flag already resolved.
    #[error("{0}")]
    Conflict(String),
    /// The change breaks a rule that only the stored record shows, such
    /// as a proposal that no longer passes the field rules.
    #[error("{0}")]
    Refused(String),
}

impl StorageError {
    /// A [`StorageError::NotFound`] for `what` `id`.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// Answers when the database does: `SELECT 1` on the connection.
pub fn reachable(c: &mut rusqlite::Connection) -> Result<(), StorageError> {
    c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}
