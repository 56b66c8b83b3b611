//! The kiosk's sync worker and the enrollment it runs on: everything that
//! talks to the clinic server from the kiosk side.
//!
//! The kiosk works offline first. A check-in is committed to the local
//! store (event and outbox row in one transaction) and the patient moves on;
//! the worker delivers the outbox later, on its own thread, and the patient
//! never waits for it or sees its errors.
//!
//! # Layout
//! - [`SyncSettings`] (`settings`): the checked link and timing settings,
//!   built from the kiosk's config and the enrolled server URL.
//! - [`SyncError`] (`error`): what enrollment, the status command and
//!   starting the worker can fail with.
//! - `client`: the HTTP client of the kiosk API (rustls, optional CA pin,
//!   timeouts) and the classification of every failure.
//! - `backoff`: exponential backoff with jitter and a cap.
//! - `forms`: the checks on a schedule reply's form definitions and crisis
//!   text before they are cached.
//! - [`SyncWorker`] (`worker`): the worker thread: push, pull, heartbeat,
//!   backoff, and the [`SyncStatus`] it publishes to the UI side.
//! - [`enroll`] and [`enroll_kiosk`] (`enroll`): `kiosk enroll`.
//! - [`status_report`] (`report`): `kiosk status`.
//!
//! **Architecture invariants:**
//! - The UI thread never waits on the network: it only calls
//!   [`SyncNotifier::notify`], which never blocks.
//! - Exactly-once effects rest on the server's idempotent ingest: an event
//!   is marked delivered only after the server acknowledged its UUID
//!   (accepted or duplicate), so a lost reply is replayed, never lost.
//! - Nothing here logs or reports PHI: logs and errors carry ids, counts,
//!   HTTP statuses and transport diagnostics only. The device token is
//!   never printed.
//! - This module never uses `crate::server`; the kiosk builds without it.

mod backoff;
mod client;
mod enroll;
mod error;
mod forms;
mod report;
mod settings;
mod worker;

use std::path::{Path, PathBuf};

pub use enroll::{enroll, enroll_kiosk};
pub use error::SyncError;
pub use report::{EnrolledAs, ServerCheck, StatusReport, status_report};
pub use settings::SyncSettings;
pub use worker::{SyncNotifier, SyncProblem, SyncStatus, SyncWorker};

/// The kiosk database's file name inside the configured `data_dir`.
pub const DB_FILE: &str = "kiosk.db";
/// The database key file's name inside the configured `data_dir` (mode 0600).
pub const KEY_FILE: &str = "kiosk.key";

/// The database and key file paths inside `data_dir`, as the kiosk app, the
/// worker and the command line all use them.
pub fn store_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (data_dir.join(DB_FILE), data_dir.join(KEY_FILE))
}
