//! The clinic server: the kiosk API, the staff API, QR passes, schedule
//! import, the demo clinic and the operations endpoints, over one SQLite
//! database, or over PostgreSQL shared by replicas ([`storage::backend`]).
//!
//! # Layout
//! - [`routes`]: the one table of routes; it builds the router *and* the
//!   OpenAPI document, so the two cannot drift.
//! - [`error`]: [`ApiError`], the one error type every handler returns, and
//!   the extractors that keep rejections in its `{error, message}` shape.
//! - [`db`] and [`schema`]: the SQLite connection and migrations.
//! - [`schedule`]: appointments and patients: upserts with a per-clinic
//!   change sequence, and the kiosk's snapshot or delta pull.
//! - [`kiosk_api`] and [`ingest`]: enrollment, device-token auth, schedule,
//!   heartbeat, and the idempotent event ingest; [`group_commit`] commits
//!   the batches that kiosks send at the same time together.
//! - [`staff`] and [`staff_api`]: staff users, sessions and CSRF; the
//!   front-desk endpoints and the live change stream. [`login_guard`]
//!   limits sign-in attempts per address and per user name, and bounds
//!   concurrent password checks.
//! - [`console`]: the staff console page and its assets, embedded in the
//!   binary and served at `/`.
//! - [`passes`]: signing passes for appointments and rendering them as PNG
//!   and SVG.
//! - [`import`]: validated CSV and JSON schedule import.
//! - [`demo`]: the deterministic demo clinic.
//! - [`ops`]: request ids and logging, security headers, `/healthz`,
//!   `/metrics` (on its own address, or behind a bearer token).
//! - [`fhir`]: the EHR connector: schedule pull and write-back over FHIR R4.
//! - [`migrate_data`]: `migrate-data`, copying a SQLite server's data into
//!   PostgreSQL and verifying it.
//!
//! **Architecture invariants:** handlers never block the runtime on SQLite
//! (see [`db::Db::call`]); logs carry ids, never names, dates of birth,
//! addresses or member ids; every query is scoped by clinic id.

pub mod console;
pub mod db;
pub mod demo;
pub mod error;
pub mod fhir;
pub mod group_commit;
pub mod import;
pub mod intake;
pub mod kiosk_api;
pub mod login_guard;
pub mod migrate_data;
pub mod ops;
pub mod passes;
pub mod routes;
pub mod schema;
pub mod staff;
pub mod staff_api;
pub mod storage;

/// Event ingest, also at its former path.
pub use storage::ingest;
/// The schedule's storage, also at its former path.
pub use storage::schedule;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::config::{ClinicSettings, ServerConfig};
use crate::domain::{ClinicId, Clock, SystemClock};
use crate::pass::{PassKeyError, PassSigner};
use crate::protocol::ChangeNotice;

pub use db::Db;
pub use error::ApiError;

/// The database file inside the data directory.
pub const DB_FILE: &str = "clinic-server.db";
/// The pass-signing key file inside the data directory.
pub const KEY_FILE: &str = "pass-signing.key";

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] db::StorageError),
    /// The pass-signing key could not be loaded or created.
    #[error("{0}")]
    Key(#[from] PassKeyError),
    /// `[tls]` is configured, but this build serves plain HTTP only.
    #[error(
        "[tls] is configured, but this server serves plain HTTP only; terminate TLS in a proxy in front of it and remove [tls]"
    )]
    TlsUnsupported,
    /// `[database]` names PostgreSQL, and the configuration or command
    /// needs a part that still runs on SQLite only.
    #[error("[database] names PostgreSQL, but {what} runs on SQLite only so far; {advice}")]
    PostgresUnsupported {
        /// What needs SQLite, such as "the EHR connector of clinic north".
        what: String,
        /// What to do instead.
        advice: &'static str,
    },
    /// Accepting or serving connections failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
    /// Another server process already serves this data directory.
    #[error(
        "data directory {path} is in use by another running clinic-server; stop it, or use another directory"
    )]
    DataDirInUse {
        /// The directory.
        path: PathBuf,
    },
    /// The metrics address could not be bound.
    #[error("binding the metrics address {addr}: {source}")]
    MetricsListen {
        /// `server.metrics_listen`.
        addr: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Counters behind `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Every HTTP request answered.
    pub requests: AtomicU64,
    /// Requests answered with a 5xx.
    pub server_errors: AtomicU64,
    /// Kiosk events stored and applied.
    pub events_accepted: AtomicU64,
    /// Kiosk events acknowledged as replays.
    pub events_duplicate: AtomicU64,
    /// Kiosk events refused.
    pub events_rejected: AtomicU64,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Shared so every clone sees one database, one key, one bus.
    inner: Arc<StateInner>,
}

struct StateInner {
    /// The checked configuration the server runs on.
    config: ServerConfig,
    /// The SQLite database. On PostgreSQL an empty in-memory one, which
    /// nothing reads: every operation goes through `store`.
    db: Db,
    /// Where the data lives, behind the backend facade: the same SQLite
    /// database, or PostgreSQL.
    store: storage::backend::Store,
    /// The pass-signing key.
    signer: PassSigner,
    /// The source of "now"; fixed in tests.
    clock: Arc<dyn Clock>,
    /// Change notices for the staff console's live stream.
    changes: broadcast::Sender<ChangeNotice>,
    /// Turns true when the server starts shutting down, so open staff
    /// streams end and graceful shutdown does not wait on them forever.
    closing: watch::Sender<bool>,
    /// Request and ingest counters.
    metrics: Metrics,
    /// Event batches waiting for the group commit; SQLite only, as
    /// PostgreSQL takes concurrent batches itself.
    ingest: Option<group_commit::IngestQueue>,
    /// When each kiosk was last heard from, kept in memory so that
    /// authenticating a request costs no write.
    last_seen: Mutex<HashMap<String, DateTime<Utc>>>,
    /// When this process last wrote a kiosk's last-seen time to
    /// PostgreSQL, so a busy kiosk costs one write per
    /// [`SEEN_WRITE_EVERY_SECS`], not one per request.
    seen_written: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Staff sign-in limits per address and user name.
    login_guard: login_guard::LoginGuard,
    /// On PostgreSQL, the listener that brings other replicas' change
    /// notices to this one's staff streams; it stops with the state.
    listener: Option<storage::pg::notify::Listener>,
    /// Wakes the EHR write-back drains when a write-back is queued.
    ehr_wake: fhir::Wake,
    /// The intake forms offered, ready for schedule replies and ingest.
    forms: Arc<intake::FormCatalog>,
}

/// What a backend brings to [`AppState::build`].
struct Parts {
    /// The SQLite database (in memory when the store is PostgreSQL).
    db: Db,
    /// Where the data lives.
    store: storage::backend::Store,
    /// The SQLite group commit; none on PostgreSQL.
    ingest: Option<group_commit::IngestQueue>,
    /// The intake forms offered.
    forms: Arc<intake::FormCatalog>,
    /// Wakes the EHR write-back drains.
    ehr_wake: fhir::Wake,
}

impl AppState {
    /// State over an opened database and key, with the wall clock.
    pub fn new(config: ServerConfig, db: Db, signer: PassSigner) -> Self {
        Self::with_clock(config, db, signer, Arc::new(SystemClock))
    }

    /// State with a given clock, for tests.
    pub fn with_clock(
        config: ServerConfig,
        db: Db,
        signer: PassSigner,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let ehr_wake = fhir::Wake::default();
        let forms = Arc::new(intake::FormCatalog::new(&config));
        let ingest =
            group_commit::IngestQueue::start(db.clone(), ehr_wake.clone(), Arc::clone(&forms));
        let store = storage::backend::Store::Sqlite(db.clone());
        let parts = Parts {
            db,
            store,
            ingest: Some(ingest),
            forms,
            ehr_wake,
        };
        Self::build(config, parts, signer, clock)
    }

    /// State over a PostgreSQL pool shared with other replicas, with the
    /// wall clock. Refuses a configuration with what runs on SQLite only.
    pub fn postgres(
        config: ServerConfig,
        pg: storage::pg::PgStore,
        signer: PassSigner,
    ) -> Result<Self, ServerError> {
        Self::postgres_with_clock(config, pg, signer, Arc::new(SystemClock))
    }

    /// [`AppState::postgres`] with a given clock, for tests.
    pub fn postgres_with_clock(
        config: ServerConfig,
        pg: storage::pg::PgStore,
        signer: PassSigner,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServerError> {
        let parts = Parts {
            db: Db::open_in_memory()?,
            store: storage::backend::Store::Postgres(pg),
            ingest: None,
            forms: Arc::new(intake::FormCatalog::new(&config)),
            ehr_wake: fhir::Wake::default(),
        };
        Ok(Self::build(config, parts, signer, clock))
    }

    fn build(
        config: ServerConfig,
        parts: Parts,
        signer: PassSigner,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let Parts {
            db,
            store,
            ingest,
            forms,
            ehr_wake,
        } = parts;
        let (changes, _) = broadcast::channel(1024);
        let (closing, _) = watch::channel(false);
        let (login_guard, listener) = match &store {
            storage::backend::Store::Postgres(pg) => (
                login_guard::LoginGuard::shared(pg.clone()),
                listen_to_replicas(pg, &changes),
            ),
            storage::backend::Store::Sqlite(_) => (login_guard::LoginGuard::default(), None),
        };
        Self {
            inner: Arc::new(StateInner {
                config,
                ingest,
                store,
                db,
                signer,
                clock,
                changes,
                closing,
                metrics: Metrics::default(),
                last_seen: Mutex::new(HashMap::new()),
                seen_written: Mutex::new(HashMap::new()),
                login_guard,
                listener,
                ehr_wake,
                forms,
            }),
        }
    }

    /// Opens the database and key in the configured data directory,
    /// creating the directory (mode 0700) and the key on first start.
    pub fn open(config: ServerConfig) -> Result<Self, ServerError> {
        let (db, signer) = open_data_dir(&config)?;
        Ok(Self::new(config, db, signer))
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Storage through the backend facade, for the operations it holds.
    pub fn store(&self) -> &storage::backend::Store {
        &self.inner.store
    }

    /// Applies a kiosk's event batch and returns once it is committed: on
    /// SQLite through the group commit, on PostgreSQL in its own
    /// transaction.
    pub async fn apply_events(
        &self,
        clinic: ClinicSettings,
        kiosk_id: String,
        now: DateTime<Utc>,
        events: Vec<crate::protocol::EventEnvelope>,
    ) -> Result<storage::ingest::BatchOutcome, ApiError> {
        match (&self.inner.ingest, &self.inner.store) {
            (_, storage::backend::Store::Postgres(pg)) => {
                let outcome = pg
                    .apply_batch(&clinic, &self.inner.forms, &kiosk_id, now, &events)
                    .await
                    .map_err(storage::StorageError::from)?;
                // A write-back it queued goes at once if this replica
                // runs the clinic's connector; else the holder's drain
                // finds it within a few seconds.
                if fhir::writeback::enabled(&clinic) {
                    self.inner.ehr_wake.wake();
                }
                Ok(outcome)
            }
            (Some(queue), storage::backend::Store::Sqlite(_)) => {
                queue.apply(clinic, kiosk_id, now, events).await
            }
            (None, storage::backend::Store::Sqlite(_)) => Err(ApiError::internal(
                "the SQLite ingest writer is not running",
            )),
        }
    }

    /// The intake forms offered and the crisis text.
    pub fn forms(&self) -> &intake::FormCatalog {
        &self.inner.forms
    }

    /// [`AppState::forms`], shared, for work that outlives the borrow.
    pub fn forms_shared(&self) -> Arc<intake::FormCatalog> {
        Arc::clone(&self.inner.forms)
    }

    /// The pass signer.
    pub fn signer(&self) -> &PassSigner {
        &self.inner.signer
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The request and ingest counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The configured clinic `id`, if this server holds it.
    pub fn clinic(&self, id: &ClinicId) -> Option<&ClinicSettings> {
        self.inner.config.clinic(id)
    }

    /// Today's date in `clinic`'s time zone.
    pub fn today(&self, clinic: &ClinicSettings) -> NaiveDate {
        self.now().with_timezone(&clinic.time_zone).date_naive()
    }

    /// Announces changes to every open staff stream. Nobody listening is fine.
    pub fn publish(&self, notices: impl IntoIterator<Item = ChangeNotice>) {
        for n in notices {
            let _ = self.inner.changes.send(n);
        }
    }

    /// A receiver of future change notices.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        self.inner.changes.subscribe()
    }

    /// On PostgreSQL, a receiver that is true while this replica listens
    /// for the other replicas' change notices; `None` on SQLite.
    pub fn replica_listening(&self) -> Option<watch::Receiver<bool>> {
        self.inner
            .listener
            .as_ref()
            .map(storage::pg::notify::Listener::listening)
    }

    /// A receiver that turns true when the server starts shutting down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Tells open staff streams that the server is shutting down.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Records that `kiosk_id` was heard from now.
    pub fn touch_kiosk(&self, kiosk_id: &str) {
        let now = self.now();
        self.inner
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kiosk_id.to_string(), now);
    }

    /// Records that `kiosk_id` was heard from now: in memory, and on
    /// PostgreSQL also in the database (at most once per
    /// [`SEEN_WRITE_EVERY_SECS`] per kiosk from this process), so every
    /// replica's fleet view sees it.
    pub async fn kiosk_heard(&self, kiosk_id: &str) -> Result<(), storage::StorageError> {
        self.touch_kiosk(kiosk_id);
        if !matches!(self.store(), storage::backend::Store::Postgres(_)) {
            return Ok(());
        }
        let now = self.now();
        let due = {
            let mut written = self
                .inner
                .seen_written
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = written
                .get(kiosk_id)
                .is_none_or(|t| now - *t >= chrono::Duration::seconds(SEEN_WRITE_EVERY_SECS));
            if due {
                written.insert(kiosk_id.to_string(), now);
            }
            due
        };
        if due {
            self.store().kiosk_seen(kiosk_id, now).await?;
        }
        Ok(())
    }

    /// When `kiosk_id` was last heard from since this process started.
    pub fn kiosk_seen(&self, kiosk_id: &str) -> Option<DateTime<Utc>> {
        self.inner
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kiosk_id)
            .copied()
    }

    /// The staff sign-in limits.
    pub fn login_guard(&self) -> &login_guard::LoginGuard {
        &self.inner.login_guard
    }

    /// Wakes the EHR write-back drains; call after committing a write-back.
    pub fn ehr_wake(&self) -> &fhir::Wake {
        &self.inner.ehr_wake
    }

    /// Counts one ingest outcome.
    pub fn count_event(&self, status: crate::protocol::EventStatus) {
        use crate::protocol::EventStatus;
        let m = &self.inner.metrics;
        let counter = match status {
            EventStatus::Accepted => &m.events_accepted,
            EventStatus::Duplicate => &m.events_duplicate,
            EventStatus::Rejected => &m.events_rejected,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the listener that publishes other replicas' change notices on
/// `changes`, and a resync (kind [`staff_api::RESYNC`]) for every console
/// after it reconnects. Needs a tokio runtime; without one (no server can
/// run there either) nothing listens.
fn listen_to_replicas(
    pg: &storage::pg::PgStore,
    changes: &broadcast::Sender<ChangeNotice>,
) -> Option<storage::pg::notify::Listener> {
    tokio::runtime::Handle::try_current().ok()?;
    let changes = changes.clone();
    Some(pg.listen(move |heard| {
        for n in heard.notices {
            let _ = changes.send(n);
        }
        if heard.resync {
            let _ = changes.send(ChangeNotice {
                clinic_id: String::new(),
                kind: staff_api::RESYNC.to_string(),
                id: String::new(),
            });
        }
    }))
}

/// How often, in seconds, one process writes a kiosk's last-seen time to
/// PostgreSQL; the fleet's online threshold is minutes.
pub const SEEN_WRITE_EVERY_SECS: i64 = 30;

/// Creates the data directory if needed and opens the SQLite database and
/// the pass-signing key in it. Used by `demo` and SQLite's `serve`;
/// refused when `[database]` names PostgreSQL, as `what` (the
/// caller) works on SQLite only.
pub fn open_data_dir(config: &ServerConfig) -> Result<(Db, PassSigner), ServerError> {
    if config.database.is_some() {
        return Err(ServerError::PostgresUnsupported {
            what: "this command".into(),
            advice: "remove [database] to use the SQLite database under server.data_dir",
        });
    }
    let dir = &config.server.data_dir;
    create_data_dir(dir)?;
    let db = Db::open(&dir.join(DB_FILE))?;
    let signer = PassSigner::load_or_create(&dir.join(KEY_FILE))?;
    Ok((db, signer))
}

/// Opens the configured storage for a command-line tool (`add-staff`,
/// `enrollment-code`, `import`), with a runtime to drive it: PostgreSQL when `[database]` names it (migrated, as
/// `serve` would), else the SQLite database in the data directory.
pub fn open_store(
    config: &ServerConfig,
) -> Result<(storage::backend::Store, tokio::runtime::Runtime), ServerError> {
    let runtime = tokio::runtime::Runtime::new().map_err(ServerError::Serve)?;
    let store = match &config.database {
        Some(settings) => storage::backend::Store::Postgres(
            runtime
                .block_on(storage::pg::connect(settings))
                .map_err(storage::StorageError::from)?,
        ),
        None => storage::backend::Store::Sqlite(open_data_dir(config)?.0),
    };
    Ok((store, runtime))
}

/// Holds the data directory for the one process that serves it; released
/// when dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct DataDirLock {
    /// The locked file, `serve.lock` in the data directory.
    _file: std::fs::File,
}

/// Takes the data directory for serving, creating it if needed. A second
/// server on the same directory gets [`ServerError::DataDirInUse`] before
/// it touches any data. Administrative commands (`add-staff`, `import`)
/// do not take it: they run beside the server.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, ServerError> {
    create_data_dir(dir)?;
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServerError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::DataDirInUse {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServerError::DataDir { path, source }),
    }
}

/// Creates the data directory, private to the server's user.
fn create_data_dir(dir: &Path) -> Result<(), ServerError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| ServerError::DataDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// The whole HTTP application over `state`, without a socket; tests call
/// it with `oneshot`.
pub fn app(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `config` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if config.tls.is_some() {
        return Err(ServerError::TlsUnsupported);
    }
    // Replicas on PostgreSQL may share the data directory (the key file);
    // a SQLite database belongs to one process.
    let _lock = match config.database {
        Some(_) => None,
        None => Some(lock_data_dir(&config.server.data_dir)?),
    };
    let metrics = match config.server.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::MetricsListen { addr, source })?,
        ),
        None => None,
    };
    let state = match &config.database {
        Some(settings) => {
            let pg = storage::pg::connect(settings)
                .await
                .map_err(storage::StorageError::from)?;
            create_data_dir(&config.server.data_dir)?;
            let signer = PassSigner::load_or_create(&config.server.data_dir.join(KEY_FILE))?;
            AppState::postgres(config, pg, signer)?
        }
        None => AppState::open(config)?,
    };
    let Some(metrics) = metrics else {
        return serve(listener, state, shutdown).await;
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let metrics_state = state.clone();
    let metrics_server = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        axum::serve(metrics, metrics_app(metrics_state))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
    });
    let result = serve(listener, state, shutdown).await;
    stop_tx.send_replace(true);
    let _ = metrics_server.await;
    result
}

/// The metrics address's application: `/metrics` and `/healthz` only,
/// with no credentials; bind it to loopback or a management network.
pub fn metrics_app(state: AppState) -> Router {
    routes::metrics_router(state)
}

/// Serves an already-built state on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        closing.close_streams();
    };
    // The EHR connectors stop when `serve` returns.
    let _connectors = fhir::spawn(&state);
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}
