//! The kiosk's local memory: an SQLCipher-encrypted SQLite database holding
//! the cached schedule, the kiosk's own record of each check-in, the outbox of
//! events for the clinic server, the audit log and the enrollment.
//!
//! Everything a patient does lands here first, in one transaction, before the
//! screen moves on; the sync worker later delivers it from the outbox.
//!
//! # Layout
//! - [`Store`] (this file): opening, keying, checking and migrating the
//!   database, and purging past days.
//! - `error`: [`StoreError`].
//! - `key`: [`DbKey`] and the key file.
//! - `schema`: the versioned migrations.
//! - `schedule`: the schedule cache and the lookups.
//! - `forms`: each appointment's intake forms due, the form definitions
//!   and the crisis text.
//! - `outbox`: [`Store::record_step`] and delivery bookkeeping.
//! - `audit`: the audit log of PHI views and proposed changes.
//! - `identity`: the kiosk's [`Enrollment`] and sync state.
//!
//! **Architecture invariants:**
//! - The store never reads the system clock: every operation that depends on
//!   time takes `now`, so tests control it.
//! - No error message or stored audit row carries PHI.
//! - Each public write is one SQLite transaction; a failure changes nothing.
//!
//! One [`Store`] wraps one connection. Open one per thread that needs it (the
//! UI thread and the sync worker each own one); WAL mode lets them read while
//! the other writes.

mod audit;
mod error;
mod forms;
mod identity;
mod key;
mod outbox;
mod schedule;
mod schema;

use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

pub use audit::{AuditAction, AuditEntry};
pub use error::StoreError;
pub use forms::{FormDefinition, ScheduleUpdate};
pub use identity::Enrollment;
pub use key::DbKey;
pub use outbox::{EventState, OutboxItem, OutboxStats};
pub use schema::SCHEMA_VERSION;

/// How long a writer waits for another connection's transaction to finish
/// before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLCipher's page size, fixed by `cipher_compatibility = 4`.
const PAGE_SIZE: u64 = 4096;

/// Local audit rows are kept this long; the clinic server holds the durable
/// copy, delivered through the outbox.
const AUDIT_RETENTION_DAYS: i64 = 30;

/// The kiosk's encrypted local database.
pub struct Store {
    /// The keyed, migrated SQLCipher connection.
    conn: Connection,
    /// The database file, named in errors so IT knows which file is meant.
    path: PathBuf,
    /// The clinic day this connection last purged past days for.
    purged_for: Option<NaiveDate>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Cached appointments of past days.
    pub appointments: usize,
    /// Check-in progress rows of past days, and old demographics confirmations.
    pub progress: usize,
    /// Outbox events delivered or rejected before today.
    pub outbox: usize,
    /// Local audit rows past their retention.
    pub audit: usize,
}

impl Store {
    /// Opens (creating on first start) the database at `db_path`, encrypted
    /// with the key in `key_path` (created with mode 0600 on first start).
    ///
    /// Checks that encryption is really active, that the key fits, and that
    /// the file is intact; switches to WAL; migrates the schema to
    /// [`SCHEMA_VERSION`]; and purges days before `now`'s day.
    pub fn open(db_path: &Path, key_path: &Path, now: DateTime<Utc>) -> Result<Self, StoreError> {
        require_directory(db_path)?;
        require_directory(key_path)?;
        let key = match fs::symlink_metadata(key_path) {
            Ok(_) => DbKey::load(key_path)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if has_data(db_path) {
                    return Err(StoreError::KeyFileMissing {
                        key: key_path.to_path_buf(),
                        db: db_path.to_path_buf(),
                    });
                }
                DbKey::create(key_path)?
            }
            Err(source) => {
                return Err(StoreError::KeyFileRead {
                    path: key_path.to_path_buf(),
                    source,
                });
            }
        };
        Self::open_with_key(db_path, &key, now)
    }

    /// Opens the database at `db_path` with a key already in memory. See
    /// [`Store::open`].
    pub fn open_with_key(
        db_path: &Path,
        key: &DbKey,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        require_directory(db_path)?;
        let path = db_path.to_path_buf();
        let is_new = !path.exists();
        // No SQLITE_OPEN_URI: the path is a file name, never a URI.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| classify(&path, "open the database", e))?;
        unlock(&conn, key, &path)?;
        set_up_connection(&mut conn, &path)?;
        migrate(&mut conn, &path)?;
        if is_new {
            // SQLite syncs the directory for its WAL but not for a new main
            // file; without this a power cut could lose the whole database.
            key::sync_parent_dir(&path).map_err(|e| StoreError::NotWritable {
                path: path.clone(),
                reason: format!("cannot sync its directory: {e}"),
            })?;
        }

        let mut store = Self {
            conn,
            path,
            purged_for: None,
        };
        store.purge_past(now)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes what belongs to days before `now`'s day in the clinic's time
    /// zone. Runs on open and after each schedule update; the sync worker
    /// also runs it when the clinic's day changes.
    pub fn purge_past(&mut self, now: DateTime<Utc>) -> Result<PurgeReport, StoreError> {
        let today = self.clinic_today(now)?;
        let report = self.purge_before(today)?;
        self.purged_for = Some(today);
        Ok(report)
    }

    /// [`Store::purge_past`], but only when the clinic's day has changed
    /// since this connection last purged (on open, or in an earlier call):
    /// `None`, with nothing written, on the same day. The sync worker calls
    /// it every round, so a kiosk offline overnight, which pulls no
    /// schedule, still drops yesterday's patients when the day turns.
    pub fn purge_on_a_new_day(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Option<PurgeReport>, StoreError> {
        if self.purged_for == Some(self.clinic_today(now)?) {
            return Ok(None);
        }
        self.purge_past(now).map(Some)
    }

    /// `now`'s calendar day in the clinic's time zone.
    fn clinic_today(&self, now: DateTime<Utc>) -> Result<NaiveDate, StoreError> {
        Ok(now.with_timezone(&self.clinic_zone()?).date_naive())
    }

    /// Deletes what belongs to days before `day` (in the clinic's time zone):
    /// cached appointments and the kiosk's progress on them, demographics
    /// confirmations, and outbox events that were delivered or rejected
    /// before that day began. Undelivered events are never purged. Audit
    /// rows are kept for 30 days.
    pub fn purge_before(&mut self, day: NaiveDate) -> Result<PurgeReport, StoreError> {
        let zone = self.clinic_zone()?;
        let tx = self
            .conn
            .transaction()
            .map_err(StoreError::sqlite("purge past days"))?;
        let report = purge(&tx, day, start_of_day(zone, day))
            .map_err(StoreError::sqlite("purge past days"))?;
        tx.commit().map_err(StoreError::sqlite("purge past days"))?;
        Ok(report)
    }

    /// The clinic's time zone: from the enrollment, else from the cached
    /// schedule, else UTC.
    fn clinic_zone(&self) -> Result<Tz, StoreError> {
        clinic_zone(&self.conn).map_err(StoreError::sqlite("read the clinic's time zone"))
    }
}

/// The clinic's time zone as seen through `conn`; see [`Store::clinic_zone`].
fn clinic_zone(conn: &Connection) -> rusqlite::Result<Tz> {
    let from_enrollment: Option<String> = conn
        .query_row(
            "SELECT json_extract(clinic_settings, '$.time_zone') FROM enrollment",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let name = match from_enrollment {
        Some(name) => Some(name),
        None => conn
            .query_row(
                "SELECT time_zone FROM schedule_appointment LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?,
    };
    Ok(name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC))
}

/// Deletes past days' data; see [`Store::purge_before`].
fn purge(
    conn: &Connection,
    day: NaiveDate,
    day_start: DateTime<Utc>,
) -> rusqlite::Result<PurgeReport> {
    let day_text = day.to_string();
    let start = timestamp(day_start);
    let audit_cutoff = timestamp(day_start - chrono::Duration::days(AUDIT_RETENTION_DAYS));
    let appointments = conn.execute(
        "DELETE FROM schedule_appointment WHERE local_day < ?1",
        [&day_text],
    )?;
    let progress = conn.execute(
        "DELETE FROM appointment_progress WHERE local_day < ?1",
        [&day_text],
    )? + conn.execute(
        "DELETE FROM patient_progress WHERE demographics_confirmed_at < ?1",
        [&start],
    )?;
    let outbox = conn.execute(
        "DELETE FROM outbox WHERE delivered_at < ?1 OR rejected_at < ?1",
        [&start],
    )?;
    let audit = conn.execute("DELETE FROM audit_log WHERE at < ?1", [&audit_cutoff])?;
    Ok(PurgeReport {
        appointments,
        progress,
        outbox,
        audit,
    })
}

/// Runs the migrations up to [`SCHEMA_VERSION`].
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn).map_err(|e| classify(path, "read the schema version", e))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    match schema::migrations().to_latest(conn) {
        Ok(()) => Ok(()),
        // Another connection may have migrated between our version check and
        // our transaction; then the schema is current and all is well.
        Err(_) if user_version(conn).ok() == Some(SCHEMA_VERSION) => Ok(()),
        Err(rusqlite_migration::Error::RusqliteError { err: source, .. })
            if matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied)
            ) =>
        {
            Err(StoreError::NotWritable {
                path: path.to_path_buf(),
                reason: source.to_string(),
            })
        }
        Err(err) => Err(StoreError::Migration(err)),
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<usize> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(usize::try_from(v).unwrap_or(usize::MAX))
}

/// Unlocks a freshly opened connection with `key` and checks the file:
/// SQLCipher is there, the key decrypts it, it is writable and intact.
fn unlock(conn: &Connection, key: &DbKey, path: &Path) -> Result<(), StoreError> {
    key.unlock(conn)
        .map_err(|e| classify(path, "set the database key", e))?;
    let cipher: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .optional()
        .map_err(StoreError::sqlite("check the cipher"))?;
    if cipher.is_none_or(|v| v.trim().is_empty()) {
        return Err(StoreError::CipherUnavailable);
    }
    // Pin the on-disk format, so a future SQLCipher with other defaults
    // still opens databases written by this version.
    conn.execute_batch("PRAGMA cipher_compatibility = 4;")
        .map_err(StoreError::sqlite("set the cipher format"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::sqlite("set the busy timeout"))?;

    // The first read decrypts page 1: a wrong key shows here.
    if let Err(e) = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    }) {
        return Err(match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => diagnose_undecryptable(path),
            _ => classify(path, "read the database", e),
        });
    }
    if conn
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(StoreError::sqlite("check write access"))?
    {
        return Err(StoreError::NotWritable {
            path: path.to_path_buf(),
            reason: "the database file is read-only".into(),
        });
    }
    quick_check(conn, path)?;
    Ok(())
}

/// WAL, full sync, foreign keys and immediate transactions.
fn set_up_connection(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    // WAL lets the sync worker read while the UI thread writes, and makes
    // a commit a single append to the log.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| classify(path, "switch to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL, not NORMAL: an acknowledged check-in must survive a power cut.
    // In WAL mode NORMAL skips the fsync at each commit, so the last
    // transactions before a power failure can vanish even though the
    // patient was told "You're checked in". FULL syncs the log on every
    // commit; at a few commits per patient the cost is invisible.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(StoreError::sqlite("set synchronous mode"))?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(StoreError::sqlite("enable foreign keys"))?;
    // Take the write lock when a transaction begins, not at its first
    // write: with two connections, a deferred transaction that reads then
    // writes can fail at once with SQLITE_BUSY instead of waiting.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);

    Ok(())
}

/// Runs SQLite's quick integrity check, which reads (and so decrypts and
/// authenticates) every page.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| classify(path, "check the database", e))?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => corrupt(e.to_string()),
            _ => classify(path, "check the database", e),
        })?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(corrupt(lines.join("; ")))
    }
}

/// Maps an SQLite error met while opening to the clearest [`StoreError`].
fn classify(path: &Path, op: &'static str, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            StoreError::NotWritable {
                path: path.to_path_buf(),
                reason: source.to_string(),
            }
        }
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        Some(ErrorCode::NotADatabase) => diagnose_undecryptable(path),
        _ => StoreError::Sqlite { op, source },
    }
}

/// Tells a wrong key from a plaintext or truncated file, when SQLCipher
/// says only "file is not a database".
fn diagnose_undecryptable(path: &Path) -> StoreError {
    let mut header = [0u8; 16];
    let read = fs::File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        f.read_exact(&mut header)?;
        Ok(len)
    });
    match read {
        Ok(_) if &header == b"SQLite format 3\0" => StoreError::PlaintextDatabase {
            path: path.to_path_buf(),
        },
        Ok(len) if len % PAGE_SIZE != 0 => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("its size, {len} bytes, is not a whole number of pages"),
        },
        Ok(_) => StoreError::WrongKey {
            path: path.to_path_buf(),
        },
        Err(e) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("its first page cannot be read: {e}"),
        },
    }
}

/// Fails with a clear error when the directory that should hold `path` is missing.
fn require_directory(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(StoreError::MissingDirectory {
            dir: dir.to_path_buf(),
        })
    }
}

/// True when the file exists and is not empty (SQLite treats an empty file
/// as a new database).
fn has_data(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(meta) => meta.len() > 0,
        Err(e) => e.kind() != ErrorKind::NotFound,
    }
}

/// The first instant of `day` in `zone`, in UTC. Where midnight does not
/// exist (a DST jump at midnight), the first hour that does.
fn start_of_day(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .filter_map(|h| NaiveTime::from_hms_opt(h, 0, 0))
        .find_map(|t| zone.from_local_datetime(&day.and_time(t)).earliest())
        .map_or_else(
            || day.and_time(NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// The stored form of an instant: RFC 3339 UTC with microseconds, so that
/// text order is time order.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored instant.
pub(crate) fn parse_timestamp(
    text: &str,
    table: &'static str,
    key: &str,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::CorruptRow {
            table,
            key: key.to_string(),
            reason: "a timestamp is not RFC 3339".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(store: &Store, name: &str) -> String {
        store
            .conn
            .query_row(&format!("PRAGMA {name}"), [], |r| {
                r.get::<_, rusqlite::types::Value>(0)
            })
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(t) => t,
                other => format!("{other:?}"),
            })
            .unwrap()
    }

    #[test]
    fn an_open_store_is_encrypted_durable_and_current() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 17, 0, 0).unwrap();
        let store = Store::open(&dir.path().join("k.db"), &dir.path().join("k.key"), now).unwrap();
        assert!(!pragma(&store, "cipher_version").is_empty());
        assert_eq!(pragma(&store, "journal_mode"), "wal");
        // 2 = FULL: every commit is synced to disk before it returns.
        assert_eq!(pragma(&store, "synchronous"), "2");
        assert_eq!(pragma(&store, "foreign_keys"), "1");
        assert_eq!(pragma(&store, "busy_timeout"), "5000");
        assert_eq!(pragma(&store, "user_version"), SCHEMA_VERSION.to_string());
        assert_eq!(pragma(&store, "cipher_page_size"), PAGE_SIZE.to_string());
    }

    /// The sync worker owns its store on its own thread.
    #[test]
    fn a_store_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Store>();
    }

    #[test]
    fn timestamps_sort_as_text_in_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let c = a + chrono::Duration::hours(30);
        let (ta, tb, tc) = (timestamp(a), timestamp(b), timestamp(c));
        assert!(ta < tb && tb < tc);
        assert_eq!(parse_timestamp(&tb, "t", "k").unwrap(), b);
        assert!(parse_timestamp("yesterday", "t", "k").is_err());
    }

    #[test]
    fn a_day_starts_at_local_midnight() {
        let la: Tz = "America/Los_Angeles".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert_eq!(
            start_of_day(la, day),
            Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
        );
        // Havana skips midnight at the start of DST; the day starts at 01:00.
        let havana: Tz = "America/Havana".parse().unwrap();
        let dst = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(
            start_of_day(havana, dst),
            Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap()
        );
    }
}
