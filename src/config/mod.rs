//! Kiosk and clinic-server configuration: reading the TOML file, checking
//! it, and the typed settings the rest of the program uses.
//!
//! Loading happens in two stages:
//! 1. `document.rs` parses the TOML and deserializes raw serde structs
//!    (in `kiosk.rs` and `server.rs`) that mirror the file exactly, with
//!    `deny_unknown_fields` everywhere and the defaults. Syntax errors,
//!    unknown keys (with the nearest valid key suggested) and wrong types
//!    stop here, at the first one, with the key and line:column.
//! 2. `check.rs` turns raw values into typed ones (durations, URLs, time
//!    zones, currencies, resolved paths, rule actions) and collects every
//!    problem into one [`ConfigError::Invalid`], so a person fixes the file
//!    in one pass.
//!
//! The results are [`KioskConfig`] and [`ServerConfig`].
//! `config/kiosk.toml` and `config/clinic-server.toml` are commented
//! examples listing every key with its default; a test keeps them complete.
//!
//! **Architecture invariant:** parsing is pure, with one exception. Only
//! [`load_kiosk`] and [`load_server`] touch the file system, to read the
//! file; nothing checks that the paths named in it exist, except the form
//! files of the server's `[[forms]]`, which checking reads and parses so an
//! unsupported form item stops the server at start-up (see `forms.rs`).

mod access;
mod check;
mod database;
mod document;
mod error;
mod fhir;
mod forms;
mod kiosk;
mod screening;
mod server;

use std::path::{Path, PathBuf};

pub use access::{
    KEY_NAMES, KeyName, KeypadAction, KeypadSettings, ListeningRoute, SpeechDevice, SpeechSettings,
};
pub use database::{
    DatabaseSettings, DbTls, PASSWORD_ENV as DB_PASSWORD_ENV, check_url as check_database_url,
};
pub use error::{ConfigError, Location, Problem};
pub use fhir::{
    ClinicReference, FhirAuth, FhirSettings, JwtAlgorithm, SecretSource, SmartSettings,
};
pub use forms::FormSettings;
pub use kiosk::{
    DeviceSettings, DisplayBackend, DisplaySettings, KioskConfig, PaymentSettings, Rotation,
    ServerLinkSettings, SessionSettings, SyncSettings, ThrottleSettings,
};
pub use screening::{CrisisText, MAX_CRISIS_TEXT_CHARS, ScreeningSettings};
pub use server::{ClinicSettings, ServerConfig, ServerSettings, TlsFiles};

/// Reads and checks the kiosk's configuration file.
pub fn load_kiosk(path: &Path) -> Result<KioskConfig, ConfigError> {
    let text = read(path)?;
    kiosk::parse(&text, path, &base_dir(path))
}

/// Reads and checks the clinic server's configuration file.
pub fn load_server(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = read(path)?;
    server::parse(&text, path, &base_dir(path))
}

/// Checks the text of a kiosk configuration. `origin` names the file in
/// messages, and relative paths are resolved against its directory.
pub fn parse_kiosk(text: &str, origin: &Path) -> Result<KioskConfig, ConfigError> {
    kiosk::parse(text, origin, &dir_of(origin))
}

/// Checks the text of a clinic-server configuration. `origin` names the
/// file in messages, and relative paths are resolved against its directory.
pub fn parse_server(text: &str, origin: &Path) -> Result<ServerConfig, ConfigError> {
    server::parse(text, origin, &dir_of(origin))
}

/// A payment link with a `{reference}` placeholder, checked to give an
/// `https` URL (or `http` to a loopback host) once the reference is put in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTemplate(String);

impl LinkTemplate {
    /// The placeholder the reference replaces.
    pub const PLACEHOLDER: &'static str = "{reference}";

    /// The template as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The link for one payment `reference`, percent-encoded so that any
    /// reference gives a valid URL.
    pub fn render(&self, reference: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(reference.as_bytes())
            .collect::<String>()
            // `byte_serialize` writes a space as `+`, which a path would keep
            // literally; a literal `+` has already become `%2B`.
            .replace('+', "%20");
        self.0.replace(Self::PLACEHOLDER, &encoded)
    }
}

impl std::fmt::Display for LinkTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// The directory relative paths in `path` are resolved against, made
/// absolute so a service's working directory does not matter later.
fn base_dir(path: &Path) -> PathBuf {
    let dir = dir_of(path);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The directory holding `origin`; empty (the working directory) for a
/// bare file name.
fn dir_of(origin: &Path) -> PathBuf {
    origin.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_references_are_encoded_into_the_link() {
        let t = LinkTemplate("https://pay.example.com/p/{reference}?src=kiosk".into());
        assert_eq!(
            t.render("AB-12"),
            "https://pay.example.com/p/AB-12?src=kiosk"
        );
        assert_eq!(
            t.render("a b+c/d"),
            "https://pay.example.com/p/a%20b%2Bc%2Fd?src=kiosk"
        );
    }

    #[test]
    fn relative_paths_resolve_beside_the_config_file() {
        assert_eq!(
            dir_of(Path::new("/etc/kiosk/kiosk.toml")),
            Path::new("/etc/kiosk")
        );
        assert_eq!(dir_of(Path::new("kiosk.toml")), Path::new(""));
        assert!(base_dir(Path::new("kiosk.toml")).is_absolute());
    }
}
