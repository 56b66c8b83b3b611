//! Integration tests, built as one binary.

mod config;
#[cfg(feature = "kiosk")]
mod crash;
#[cfg(feature = "server")]
mod fhir;
#[cfg(feature = "server")]
mod fhir_faults;
#[cfg(feature = "server")]
mod fhir_forms;
#[cfg(feature = "kiosk")]
mod keypad;
#[cfg(feature = "server")]
mod pg_api;
#[cfg(feature = "server")]
mod pg_facade;
#[cfg(feature = "server")]
mod pg_fhir;
#[cfg(feature = "server")]
mod pg_forms;
#[cfg(feature = "server")]
mod pg_live;
#[cfg(feature = "server")]
mod pg_migrate;
#[cfg(all(feature = "kiosk", feature = "server"))]
mod pg_replicas;
#[cfg(feature = "server")]
mod pg_serve;
#[cfg(feature = "server")]
mod pg_store;
#[cfg(feature = "server")]
mod pg_support;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod server_console;
#[cfg(feature = "server")]
mod server_demo_cli;
#[cfg(feature = "server")]
mod server_forms;
#[cfg(feature = "server")]
mod server_fuzz;
#[cfg(feature = "server")]
mod server_hostile;
#[cfg(feature = "server")]
mod server_import;
#[cfg(feature = "server")]
mod server_login;
#[cfg(feature = "server")]
mod server_routes_auth;
#[cfg(feature = "server")]
mod server_socket;
#[cfg(feature = "kiosk")]
mod speech;
#[cfg(feature = "kiosk")]
mod store;
#[cfg(all(feature = "kiosk", feature = "server"))]
mod sync;
#[cfg(all(feature = "kiosk", feature = "server"))]
mod sync_urgent;
#[cfg(all(feature = "kiosk", feature = "server"))]
mod tls_proxy;
#[cfg(feature = "kiosk")]
mod ui;
#[cfg(feature = "kiosk")]
mod ui_forms;
#[cfg(feature = "kiosk")]
mod ui_layout;
#[cfg(feature = "kiosk")]
mod ui_widgets;
