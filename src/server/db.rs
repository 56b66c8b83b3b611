//! The server's SQLite connection: opening it (WAL, `synchronous=FULL`,
//! migrations), running work on it off the async runtime, and the small
//! helpers every query module shares (times, hashes, the change sequence).
//!
//! One connection serves every request that writes. Work runs on tokio's
//! blocking pool, so the async runtime never waits on SQLite; requests queue
//! on the connection's mutex, which is also what SQLite would do with a
//! single writer. A second, read-only connection serves the hot reads that
//! must not wait behind a commit's fsync (device-token authentication,
//! staff sessions and the staff lists); WAL lets it read the last committed
//! state while the writer commits.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::domain::ClinicId;

pub use super::storage::StorageError;
/// The former name of [`StorageError`].
pub use super::storage::StorageError as StoreError;

/// A handle on the server's database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    /// The one connection, behind a mutex because rusqlite's is not `Sync`.
    conn: Arc<Mutex<Connection>>,
    /// A read-only connection to the same file; `None` in memory, where a
    /// second connection would be a different database.
    reader: Option<Arc<Mutex<Connection>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// Runs `f` on `conn` on tokio's blocking pool.
async fn on_blocking_pool<R, E, F>(conn: Arc<Mutex<Connection>>, f: F) -> Result<R, E>
where
    R: Send + 'static,
    E: From<StorageError> + Send + 'static,
    F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    })
    .await
    .map_err(|e| E::from(StorageError::Task(e.to_string())))?
}

impl Db {
    /// Opens (creating if needed) the database at `path`, switches it to
    /// WAL with `synchronous=FULL`, and migrates it to the latest schema.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let mut db = Self::prepare(conn, path)?;
        // Opened after the migrations, so it sees the whole schema.
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        db.reader = Some(Arc::new(Mutex::new(reader)));
        Ok(db)
    }

    /// An in-memory database, for unit tests only.
    pub fn open_in_memory() -> Result<Self, StorageError> {
        Self::prepare(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn prepare(mut conn: Connection, path: &Path) -> Result<Self, StorageError> {
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Take the write lock when a transaction begins: a deferred one
        // that reads first fails at once with SQLITE_BUSY, without waiting,
        // when another connection (an `import` run beside the server)
        // writes at the same time.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        super::schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StorageError::Migration {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            reader: None,
        })
    }

    /// Runs storage work `f` on the write connection on tokio's blocking
    /// pool; requests queue on the connection, behind a commit in progress.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StorageError> + Send + 'static,
    {
        on_blocking_pool(Arc::clone(&self.conn), f).await
    }

    /// Runs storage work `f`, which only reads, on the read-only
    /// connection on tokio's blocking pool, so it does not wait for a
    /// commit in progress. It sees the last committed state. In memory it
    /// runs on the one connection.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StorageError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, StorageError> + Send + 'static,
    {
        on_blocking_pool(Arc::clone(self.reader.as_ref().unwrap_or(&self.conn)), f).await
    }

    /// Runs `f` on the connection on this thread; for the command line,
    /// which has no runtime.
    pub fn blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// Milliseconds since the epoch, as stored.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored millisecond time; out-of-range values become the epoch rather
/// than failing a whole listing.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// SHA-256 of a high-entropy secret (device token, session token,
/// enrollment code), hex. A fast hash is right for random secrets; Argon2
/// is for passwords people choose.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `n` random bytes from the OS, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The clinic's change sequence and the epoch that makes cursors from
/// another database unrecognisable, creating both on first use.
pub fn cursor_state(conn: &Connection, clinic: &ClinicId) -> Result<(String, i64), StorageError> {
    let found = conn
        .query_row(
            "SELECT epoch, seq FROM clinic_cursor WHERE clinic_id = ?1",
            [clinic.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some(state) = found {
        return Ok(state);
    }
    let epoch = random_token(6);
    conn.execute(
        "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES (?1, ?2, 0)",
        params![clinic.as_str(), epoch],
    )?;
    Ok((epoch, 0))
}

/// Advances the clinic's change sequence and returns the new value; every
/// schedule row changed in the same transaction is stamped with it.
pub fn next_seq(conn: &Connection, clinic: &ClinicId) -> Result<i64, StorageError> {
    cursor_state(conn, clinic)?;
    Ok(conn.query_row(
        "UPDATE clinic_cursor SET seq = seq + 1 WHERE clinic_id = ?1 RETURNING seq",
        [clinic.as_str()],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_database_is_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("server.db")).unwrap();
        db.blocking(|c| {
            let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
            let sync: i64 = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
            assert_eq!(mode.to_lowercase(), "wal");
            assert_eq!(sync, 2, "FULL");
            Ok(())
        })
        .unwrap();
        // Reopening an up-to-date database is a no-op.
        drop(db);
        Db::open(&dir.path().join("server.db")).unwrap();
    }

    #[test]
    fn a_transaction_that_reads_then_writes_waits_for_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.db");
        let server = Db::open(&path).unwrap();
        let import = Db::open(&path).unwrap();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            server
                .blocking(|c| {
                    let tx = c.transaction()?;
                    tx.execute(
                        "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ('a', 'e', 1)",
                        [],
                    )?;
                    held_tx.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.commit()?;
                    Ok(())
                })
                .unwrap();
        });
        held_rx.recv().unwrap();
        // What a schedule import does beside the running server: read,
        // then write, in one transaction. It waits for the lock instead of
        // failing with "database is locked".
        import
            .blocking(|c| {
                let tx = c.transaction()?;
                let n: i64 =
                    tx.query_row("SELECT COUNT(*) FROM clinic_cursor", [], |r| r.get(0))?;
                tx.execute(
                    "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ('b', 'e', ?1)",
                    [n + 1],
                )?;
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        holder.join().unwrap();
        let seq: i64 = import
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT seq FROM clinic_cursor WHERE clinic_id = 'b'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(seq, 2, "the import saw the other connection's commit");
    }

    #[test]
    fn the_change_sequence_advances_per_clinic() {
        let db = Db::open_in_memory().unwrap();
        db.blocking(|c| {
            let a = ClinicId("a".into());
            let b = ClinicId("b".into());
            assert_eq!(next_seq(c, &a)?, 1);
            assert_eq!(next_seq(c, &a)?, 2);
            assert_eq!(next_seq(c, &b)?, 1);
            let (epoch_a, seq_a) = cursor_state(c, &a)?;
            assert_eq!(seq_a, 2);
            assert_ne!(epoch_a, cursor_state(c, &b)?.0);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn secrets_hash_to_hex_sha256() {
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
    }
}
