//! Integration tests, built as one binary.

mod config;
#[cfg(feature = "kiosk")]
mod crash;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod server_import;
#[cfg(feature = "server")]
mod server_socket;
#[cfg(feature = "kiosk")]
mod store;
#[cfg(feature = "kiosk")]
mod ui;
