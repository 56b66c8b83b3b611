//! Patient self check-in: the kiosk touch app, the clinic server it syncs
//! with, and the staff console that server serves.
//!
//! # Layout
//! - [`domain`]: the pure check-in domain (types, matching, masking, rules,
//!   the flow state machine). No I/O.
//! - [`protocol`]: the serde wire types of the kiosk ↔ server API, `/api/v1`,
//!   and their conversions to and from `domain`.
//! - [`forms`]: intake forms as FHIR R4 JSON: Questionnaires read into
//!   the domain's supported subset, and QuestionnaireResponses.
//! - [`config`]: kiosk and clinic-server configuration, parsed in two stages
//!   with errors that name the file, the key and what was expected.
//! - `kiosk` (feature `kiosk`): the kiosk app: the check-in controller, the
//!   scanner, the view model, and the Slint adapters of the touch UI.
//! - [`store`] (kiosk only): the kiosk's SQLCipher-encrypted database: the
//!   schedule cache, the outbox, the audit log and the enrollment.
//! - `systemd` (Linux): readiness and watchdog notifications to systemd.
//! - `logging`: the binaries' stderr logger, coloured only on a terminal.
//! - [`pass`]: signed QR check-in passes (`CK1.<payload>.<signature>`): the
//!   server's signer and key file, and the verifier kiosks use offline.
//! - `sync` (feature `kiosk`): the kiosk's sync worker (outbox push,
//!   schedule pull, heartbeat, backoff, status) and enrollment.
//! - `server` (feature `server`): the clinic server: kiosk and staff APIs,
//!   its SQLite store, schedule import, the demo clinic and operations
//!   endpoints.

pub mod config;
pub mod domain;
pub mod forms;
#[cfg(feature = "kiosk")]
pub mod kiosk;
#[cfg(any(feature = "kiosk", feature = "server"))]
pub mod logging;
pub mod pass;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "kiosk")]
pub mod store;
#[cfg(feature = "kiosk")]
pub mod sync;
#[cfg(target_os = "linux")]
pub mod systemd;
