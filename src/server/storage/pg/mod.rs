//! The clinic server's PostgreSQL backend: the connection pool (with TLS
//! through rustls when the URL asks for it), its own migrations, and the
//! storage operations on it. Every query here has its SQLite twin in the
//! modules beside this one; handlers reach neither directly. `serve` and
//! `import` run on it when `[database]` names it, and `migrate-data`
//! fills it from a SQLite server; the demo keeps its own SQLite file.

mod connect;
pub mod ehr;
pub mod ehr_pull;
pub mod forms;
pub mod ingest;
pub mod kiosks;
pub mod lease;
pub mod login_limits;
mod migrate;
pub mod notify;
mod pipeline;
pub mod schedule;
pub mod sessions;
pub mod staff;
pub mod upsert;

use std::path::PathBuf;

pub use connect::connect;
pub use migrate::{SCHEMA_VERSION, migrate};

/// A handle on the PostgreSQL pool; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    /// The pool every operation takes a connection from.
    pool: deadpool_postgres::Pool,
    /// This replica's id in change notices it sends, so its own listener
    /// skips what it already published in process.
    origin: uuid::Uuid,
    /// How to open a connection outside the pool, for the change listener.
    dial: std::sync::Arc<connect::Dial>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool.status())
            .field("origin", &self.origin)
            .finish()
    }
}

impl PgStore {
    /// A connection from the pool, waiting for one when all are in use.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// The pool's size, connections open and idle, and waiting callers.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// Answers when the database does: `SELECT 1` on a pooled connection.
    pub async fn reachable(&self) -> Result<(), PgError> {
        self.client().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }
}

/// Why the PostgreSQL backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// PostgreSQL refused or failed, or the connection broke.
    #[error("postgres: {}", chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool.
    #[error("postgres pool: {}", chain(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The pool could not be built from the settings.
    #[error("postgres pool set-up: {0}")]
    Setup(String),
    /// The password file could not be read.
    #[error("database password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The CA file could not be read or holds no usable certificate.
    #[error("database CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The database's schema is newer than this binary knows: a newer
    /// clinic-server migrated it.
    #[error(
        "the database schema is at version {found}, newer than this clinic-server knows ({known}); run the newer clinic-server, or upgrade this one"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this binary knows.
        known: i64,
    },
    /// A stored value is not what the schema promises.
    #[error("stored value in {0} is invalid")]
    Corrupt(&'static str),
}

/// An error and its sources, joined: tokio-postgres says only "db error"
/// at the top and puts the server's message in the source.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = source.source();
    }
    out
}

/// Milliseconds since the epoch, as stored.
fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    crate::server::db::to_ms(t)
}

/// Appends an audit row for `clinic` at `at`, in the caller's transaction.
async fn audit(
    tx: &impl deadpool_postgres::GenericClient,
    clinic: &crate::domain::ClinicId,
    at: chrono::DateTime<chrono::Utc>,
    e: &super::AuditEntry<'_>,
) -> Result<(), tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action, appointment_id, patient_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &clinic.as_str(),
            &ms(at),
            &e.actor.as_str(),
            &e.actor_id,
            &e.action.as_str(),
            &e.appointment_id,
            &e.patient_id,
            &e.detail,
        ],
    )
    .await?;
    Ok(())
}
