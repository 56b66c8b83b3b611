//! Patient self check-in: the kiosk touch app, the clinic server it syncs
//! with, and the staff console that server serves.
//!
//! # Layout
//! - [`domain`]: the pure check-in domain (types, matching, masking, rules,
//!   the flow state machine). No I/O.
//! - [`protocol`]: the serde wire types of the kiosk ↔ server API, `/api/v1`,
//!   and their conversions to and from `domain`.
//! - [`config`]: kiosk and clinic-server configuration, parsed in two stages
//!   with errors that name the file, the key and what was expected.

pub mod config;
pub mod domain;
pub mod protocol;
