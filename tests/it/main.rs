//! Integration tests, built as one binary.

mod config;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod server_import;
#[cfg(feature = "server")]
mod server_socket;
