//! `StoreError`, the one error type of the kiosk store: what went wrong, on
//! which file, and what IT can do about it.
//!
//! **Invariant:** no message carries PHI. Messages name files, ids, counts and
//! SQLite's own diagnostics, never a value read from a patient record.

use std::path::PathBuf;

use crate::domain::MatchError;

/// Everything that can go wrong in the kiosk store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database or key file does not exist.
    #[error(
        "the data directory {dir} does not exist; create it (owned by the kiosk user, mode 700) \
         or fix the data path in the kiosk config"
    )]
    MissingDirectory {
        /// The directory that was expected.
        dir: PathBuf,
    },

    /// The database exists but its key file does not, so it can never be decrypted.
    #[error(
        "the database {db} exists but its key file {key} is missing; restore the key file from \
         backup, or move the database aside to start fresh (unsent check-ins in it would be lost)"
    )]
    KeyFileMissing {
        /// The key file that should exist.
        key: PathBuf,
        /// The database that needs it.
        db: PathBuf,
    },

    /// The key file could not be created on first start.
    #[error(
        "cannot create the key file {path}: {source}; its directory must be writable by the \
         kiosk user on first start"
    )]
    KeyFileCreate {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The key file exists but could not be read.
    #[error("cannot read the key file {path}: {source}; it must be readable by the kiosk user")]
    KeyFileRead {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The key file is readable or writable by users other than its owner.
    #[error(
        "the key file {path} has mode {mode:04o}, so other users can read or change it; \
         run `chmod 600 {path}` (and make the kiosk user its owner)"
    )]
    KeyFileInsecure {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The key file does not hold a key in the expected format.
    #[error(
        "the key file {path} is not a valid key ({reason}); it must hold exactly 64 hex \
         characters. Restore it from backup; do not edit it by hand"
    )]
    KeyFileMalformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it, without its contents.
        reason: &'static str,
    },

    /// The SQLite library linked into this build has no encryption.
    #[error(
        "this build of the kiosk has no SQLCipher (PRAGMA cipher_version returned nothing), so \
         the database would not be encrypted; install a kiosk package built with the `kiosk` \
         feature"
    )]
    CipherUnavailable,

    /// The key does not decrypt the database.
    #[error(
        "cannot decrypt the database {path}: the key file does not match it (was the key file \
         replaced, or the database copied from another kiosk?), or the database's first page is \
         damaged; restore the matching key file, or move the database aside to start fresh \
         (unsent check-ins in it would be lost)"
    )]
    WrongKey {
        /// The database.
        path: PathBuf,
    },

    /// The database is a plain, unencrypted SQLite file.
    #[error(
        "the database {path} is not encrypted; the kiosk refuses to use an unencrypted database. \
         Move it aside and restart to create a new encrypted one"
    )]
    PlaintextDatabase {
        /// The database.
        path: PathBuf,
    },

    /// The database file is damaged.
    #[error(
        "the database {path} is damaged ({detail}); move it aside and restart to create a new \
         one (unsent check-ins in it would be lost), or restore it from backup"
    )]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// What SQLite found, without data values.
        detail: String,
    },

    /// The database or its directory cannot be written.
    #[error(
        "cannot write the database {path} ({reason}); the kiosk user needs write access to the \
         file and to its directory, where SQLite keeps the -wal and -shm files"
    )]
    NotWritable {
        /// The database.
        path: PathBuf,
        /// What SQLite or the system said.
        reason: String,
    },

    /// SQLite would not switch the database to WAL mode.
    #[error(
        "the database {path} cannot use WAL mode (SQLite kept journal mode {mode:?}); keep the \
         data directory on a local file system"
    )]
    NoWal {
        /// The database.
        path: PathBuf,
        /// The journal mode SQLite reported instead.
        mode: String,
    },

    /// The database was written by a newer kiosk version.
    #[error(
        "the database {path} has schema version {found}, newer than the {supported} this kiosk \
         version knows; install the newer kiosk version again"
    )]
    SchemaTooNew {
        /// The database.
        path: PathBuf,
        /// The version found in the file.
        found: usize,
        /// The newest version this build knows.
        supported: usize,
    },

    /// A schema migration failed; the database was left at its previous version.
    #[error("cannot upgrade the database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),

    /// An SQLite operation failed.
    #[error("database error while trying to {op}: {source}")]
    Sqlite {
        /// What the store was doing, for example "record a check-in step".
        op: &'static str,
        /// What SQLite said.
        source: rusqlite::Error,
    },

    /// A stored row could not be decoded.
    #[error("a stored {table} row ({key}) cannot be read: {reason}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's id (never PHI).
        key: String,
        /// What is wrong, without the row's contents.
        reason: String,
    },

    /// A value could not be encoded for storage.
    #[error("cannot encode {what} for storage: {reason}")]
    Encode {
        /// What was being stored.
        what: &'static str,
        /// What went wrong, without the value.
        reason: String,
    },

    /// A schedule update carried an appointment of another clinic.
    #[error(
        "the schedule update holds appointment {appointment_id} of clinic {found}, but this \
         kiosk is enrolled in clinic {expected}; nothing was applied"
    )]
    ForeignClinic {
        /// The offending appointment.
        appointment_id: String,
        /// The clinic this kiosk is enrolled in.
        expected: String,
        /// The clinic the appointment belongs to.
        found: String,
    },

    /// `save_enrollment` was called on an enrolled kiosk.
    #[error(
        "this kiosk is already enrolled as kiosk {kiosk_id}; use re-enrollment to replace its \
         identity"
    )]
    AlreadyEnrolled {
        /// The current kiosk id.
        kiosk_id: String,
    },

    /// Re-enrolling into another clinic or server would strand unsent events.
    #[error(
        "{pending} check-in events have not reached the clinic server yet; re-enrolling into \
         another clinic or server would strand them. Let the kiosk sync first, or move the \
         database aside to start fresh"
    )]
    PendingEventsBlockReenroll {
        /// Undelivered events in the outbox.
        pending: u64,
    },

    /// The patient's lookup query was refused by the matching rules.
    #[error("{0}")]
    Query(#[from] MatchError),
}

impl StoreError {
    /// Wraps an SQLite error with the operation that failed.
    pub(crate) fn sqlite(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sqlite { op, source }
    }
}

/// Describes a JSON decoding error by position and category only: serde's
/// own message can quote the offending value, which may be PHI.
pub(crate) fn describe_json_error(err: &serde_json::Error) -> String {
    let category = match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected field or value",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{category} at line {} column {}", err.line(), err.column())
}
