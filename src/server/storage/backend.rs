//! The one storage handle handlers reach either backend through:
//! [`Store`], SQLite (the embedded default) or PostgreSQL (replicas
//! sharing one database), with one async method per storage operation.
//! Each method runs the operation's SQLite twin on the blocking pool, or
//! its PostgreSQL twin on the pool, and answers in [`StorageError`].
//!
//! Only the operations implemented on both backends are here so far (the
//! kiosk's authentication, enrollment, schedule pull and heartbeat,
//! enrollment codes and
//! staff sessions); handlers reach the rest through [`Db`] until their
//! PostgreSQL twins exist.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::StorageError;
use super::kiosks::{self, Enrollment, TokenOwner};
use super::pg::PgStore;
use super::schedule;
use super::staff::{self, StoredSession};
use crate::domain::ClinicId;
use crate::protocol::{Heartbeat, ScheduleResponse};
use crate::server::db::Db;

/// Where the server's data lives.
#[derive(Debug, Clone)]
pub enum Store {
    /// One SQLite file, owned by this process.
    Sqlite(Db),
    /// A PostgreSQL database, shared by every replica.
    Postgres(PgStore),
}

/// A kiosk enrolling, with owned fields so the work can move to another
/// thread; see [`Enrollment`].
#[derive(Debug, Clone)]
pub struct NewKiosk {
    /// The hash of the normalized one-time code.
    pub code_hash: String,
    /// The new kiosk's id.
    pub kiosk_id: String,
    /// Its name.
    pub name: String,
    /// Its app version.
    pub app_version: String,
    /// The hash of its new device token.
    pub token_hash: String,
    /// When.
    pub now: DateTime<Utc>,
}

impl NewKiosk {
    fn enrollment(&self) -> Enrollment<'_> {
        Enrollment {
            code_hash: &self.code_hash,
            kiosk_id: &self.kiosk_id,
            name: &self.name,
            app_version: &self.app_version,
            token_hash: &self.token_hash,
            now: self.now,
        }
    }
}

impl Store {
    /// Answers when the database does.
    pub async fn reachable(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => db.read(super::reachable).await,
            Self::Postgres(pg) => Ok(pg.reachable().await?),
        }
    }

    /// The kiosk whose token hashes to `token_hash`, if any; on SQLite
    /// from the read connection, so it never waits for a commit.
    pub async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.read(move |c| kiosks::token_owner(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.token_owner(token_hash).await?),
        }
    }

    /// Uses the code and stores the kiosk, audited, in one transaction;
    /// `None` (nothing changed) when the code is unknown, used or expired.
    pub async fn enroll(&self, kiosk: NewKiosk) -> Result<Option<ClinicId>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| kiosks::enroll(c, &kiosk.enrollment()))
                    .await
            }
            Self::Postgres(pg) => Ok(pg.enroll(&kiosk.enrollment()).await?),
        }
    }

    /// Stores what kiosk `kiosk` of `clinic` reported in `hb` at `now`,
    /// and returns the client event ids of its help flags that staff
    /// resolved lately, for the heartbeat reply.
    pub async fn record_heartbeat(
        &self,
        clinic: ClinicId,
        kiosk: String,
        hb: Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    kiosks::record_heartbeat(c, &clinic, &kiosk, &hb, now)?;
                    kiosks::help_answered(c, &clinic, &kiosk, now)
                })
                .await
            }
            Self::Postgres(pg) => {
                pg.record_heartbeat(&clinic, &kiosk, &hb, now).await?;
                Ok(pg.help_answered(&clinic, &kiosk, now).await?)
            }
        }
    }

    /// The kiosk's schedule pull for `today`: the changes since `since`
    /// when that cursor is known, otherwise a full snapshot. On SQLite on
    /// the write connection, as it may create the clinic's cursor.
    pub async fn pull(
        &self,
        clinic: ClinicId,
        today: NaiveDate,
        since: Option<String>,
    ) -> Result<ScheduleResponse, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| schedule::pull(c, &clinic, today, since.as_deref()))
                    .await
            }
            Self::Postgres(pg) => Ok(pg.pull(&clinic, today, since.as_deref()).await?),
        }
    }

    /// Stores a one-time enrollment code's hash for `clinic`.
    pub async fn insert_enrollment_code(
        &self,
        clinic: ClinicId,
        code_hash: String,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    staff::insert_enrollment_code(c, &clinic, &code_hash, now, expires)
                })
                .await
            }
            Self::Postgres(pg) => Ok(pg
                .insert_enrollment_code(&clinic, &code_hash, now, expires)
                .await?),
        }
    }

    /// Stores a new staff session (dropping expired ones).
    pub async fn insert_session(
        &self,
        token_hash: String,
        username: String,
        now: DateTime<Utc>,
        lasts: Duration,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::insert_session(c, &token_hash, &username, now, lasts))
                    .await
            }
            Self::Postgres(pg) => Ok(pg
                .insert_session(&token_hash, &username, now, lasts)
                .await?),
        }
    }

    /// The staff session with `token_hash`, if it exists.
    pub async fn load_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StoredSession>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.read(move |c| staff::load_session(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.load_session(token_hash).await?),
        }
    }

    /// Records that the session with `token_hash` was used at `now`.
    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.call(move |c| staff::touch_session(c, &hash, now)).await
            }
            Self::Postgres(pg) => Ok(pg.touch_session(token_hash, now).await?),
        }
    }

    /// Ends the session with `token_hash`.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.call(move |c| staff::delete_session(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.delete_session(token_hash).await?),
        }
    }
}
