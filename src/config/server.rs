//! The clinic server's configuration file: its raw serde mirror, its
//! defaults, and the checked [`ServerConfig`] the server runs on.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;
use url::Url;

use super::LinkTemplate;
use super::check::{Checker, PlainHttp};
use super::document::{Document, Shape};
use super::error::ConfigError;
use crate::domain::{Clinic, ClinicId, Currency, LocationId};

/// Checks a server file's text; see [`super::parse_server`].
pub(super) fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<ServerConfig, ConfigError> {
    let doc = Document::parse(text, file)?;
    let raw: RawServerFile = doc.deserialize(TABLES)?;
    let mut checker = Checker::new(Some(&doc), base_dir.to_path_buf());
    let config = raw.check(&mut checker, Some(doc.file()));
    checker.finish(config, doc.file())
}

// ---------------------------------------------------------------------------
// Stage two: the checked configuration.
// ---------------------------------------------------------------------------

/// Everything the clinic server is configured with, checked and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The file this came from, for `check-config` and logs; `None` for the
    /// built-in demo settings.
    pub source: Option<PathBuf>,
    /// `[server]`: where to listen, where to keep data, and the limits.
    pub server: ServerSettings,
    /// `[tls]`: the certificate to serve HTTPS with; `None` serves plain
    /// HTTP, for use behind a TLS-terminating proxy or on loopback.
    pub tls: Option<TlsFiles>,
    /// `[[clinic]]`: the clinics this server holds; at least one, ids unique.
    pub clinics: Vec<ClinicSettings>,
    /// `[[forms]]`: the intake forms offered, each parsed from its files.
    pub forms: Vec<super::forms::FormSettings>,
    /// `[screening]`: the crisis text shown after a screener's self-harm
    /// item.
    pub screening: super::screening::ScreeningSettings,
    /// `[database]`: PostgreSQL shared by replicas; `None` keeps the data
    /// in SQLite under `server.data_dir`.
    pub database: Option<super::database::DatabaseSettings>,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The address and port to accept connections on.
    pub listen: SocketAddr,
    /// Where the database and the pass-signing key live.
    pub data_dir: PathBuf,
    /// The address people and kiosks use to reach the server, for links
    /// the server prints; `None` derives them from `listen`.
    pub public_url: Option<Url>,
    /// Larger request bodies are refused before they are read.
    pub max_body_bytes: usize,
    /// Larger event batches are refused; kiosks send at most 500.
    pub max_events_per_batch: usize,
    /// How long a staff sign-in lasts.
    pub staff_session: chrono::Duration,
    /// A staff session unused for this long ends, whatever its age.
    pub staff_idle: chrono::Duration,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` name the
    /// client; requests from any other peer are taken at their socket
    /// address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where `/metrics` is served without credentials; `None` serves it
    /// nowhere but behind `metrics_token_file`.
    pub metrics_listen: Option<SocketAddr>,
    /// The file holding the bearer token that opens `/metrics` on the main
    /// address; `None` keeps it closed there.
    pub metrics_token_file: Option<PathBuf>,
    /// How long after its appointment starts a QR pass stops working.
    pub pass_expiry_after_start: chrono::Duration,
    /// Heartbeats a kiosk may miss before the fleet view shows it offline.
    pub offline_after_missed_heartbeats: u32,
    /// How often kiosks are expected to send a heartbeat; keep equal to the
    /// kiosks' `sync.heartbeat_secs`.
    pub heartbeat_every: Duration,
}

impl ServerSettings {
    /// Where `/metrics` is served and which proxies are trusted, for the
    /// summary; the token is named by its file only.
    fn metrics_summary(&self) -> String {
        let mut out = match self.metrics_listen {
            Some(addr) => format!("metrics on {addr}"),
            None => "no metrics address".to_string(),
        };
        if let Some(file) = &self.metrics_token_file {
            let _ = write!(
                out,
                ", and on the main address with the token in {}",
                file.display()
            );
        }
        if !self.trusted_proxies.is_empty() {
            let proxies: Vec<String> = self
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = write!(out, "; trusted proxies {}", proxies.join(", "));
        }
        out
    }

    /// How long a silent kiosk stays "online" in the fleet view.
    pub fn offline_after(&self) -> chrono::Duration {
        let secs = self.heartbeat_every.as_secs() * u64::from(self.offline_after_missed_heartbeats);
        chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
    }
}

/// The `[tls]` table: a certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The PEM certificate chain to present.
    pub cert_file: PathBuf,
    /// The PEM private key of the certificate; kept in a file, never in the
    /// config.
    pub key_file: PathBuf,
}

/// One `[[clinic]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicSettings {
    /// The stable id every record of the clinic carries.
    pub id: ClinicId,
    /// The name on the kiosk's Welcome screen and in the console.
    pub name: String,
    /// The zone appointment times are laid out and shown in.
    pub time_zone: Tz,
    /// The currency co-pays and balances are in.
    pub currency: Currency,
    /// The locations kiosks of this clinic may stand in.
    pub locations: Vec<LocationId>,
    /// The link patients pay through on their phone; `None` hides "Pay on
    /// my phone".
    pub payment_link: Option<LinkTemplate>,
    /// Whether "Bill me later" is offered.
    pub allow_bill_later: bool,
    /// The largest co-pay, in cents, a kiosk may report; a larger one is
    /// refused as a broken or hostile amount.
    pub max_copay_cents: i64,
    /// `[clinic.fhir]`: the EHR connector that pulls this clinic's schedule
    /// and writes arrivals back; `None` when the schedule comes from imports.
    pub fhir: Option<super::fhir::FhirSettings>,
}

impl ClinicSettings {
    /// The domain's view of this clinic.
    pub fn clinic(&self) -> Clinic {
        Clinic {
            id: self.id.clone(),
            name: self.name.clone(),
            time_zone: self.time_zone,
        }
    }
}

impl ServerConfig {
    /// Valid settings for the no-configuration demo: every default, one
    /// clinic `demo` at location `main` in New York, listening on `listen`
    /// and keeping data in `data_dir`.
    pub fn demo(data_dir: PathBuf, listen: SocketAddr) -> Self {
        // Problems are not possible from the built-in values (the tests
        // check them), and `data_dir` and `listen` are the caller's to choose.
        let mut checker = Checker::new(None, PathBuf::new());
        let mut config = RawServerFile::demo(data_dir).check(&mut checker, None);
        config.server.listen = listen;
        // Demos and tests run many servers side by side; none opens the
        // metrics port.
        config.server.metrics_listen = None;
        // The demo clinic offers the ready-made forms, built in, and a
        // crisis text.
        config.forms = super::forms::demo_forms();
        config.screening = super::screening::ScreeningSettings::demo();
        config
    }

    /// The clinic with `id`, if this server holds it.
    pub fn clinic(&self, id: &ClinicId) -> Option<&ClinicSettings> {
        self.clinics.iter().find(|c| &c.id == id)
    }

    /// A few lines for `check-config` and the start-up log. The config
    /// holds no secrets: the TLS key is named by path only.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let source = self
            .source
            .as_ref()
            .map_or("built-in demo settings".to_string(), |p| {
                p.display().to_string()
            });
        let v = &self.server;
        let _ = writeln!(s, "clinic server configuration: {source}");
        let tls = match &self.tls {
            Some(t) => format!("HTTPS with {}", t.cert_file.display()),
            None => "plain HTTP".to_string(),
        };
        let _ = writeln!(s, "  listening on {}, {tls}", v.listen);
        if let Some(url) = &v.public_url {
            let _ = writeln!(s, "  public URL: {url}");
        }
        let _ = writeln!(s, "  data directory: {}", v.data_dir.display());
        if let Some(db) = &self.database {
            let _ = writeln!(s, "  database: {}", db.summary());
        }
        let _ = writeln!(s, "  {}", v.metrics_summary());
        let _ = writeln!(
            s,
            "  limits: {} bytes a request, {} events a batch; staff sessions {} h, {} min idle; passes expire {} h after the start",
            v.max_body_bytes,
            v.max_events_per_batch,
            v.staff_session.num_hours(),
            v.staff_idle.num_minutes(),
            v.pass_expiry_after_start.num_hours()
        );
        let _ = write!(
            s,
            "  kiosks offline after {} missed heartbeats of {}s",
            v.offline_after_missed_heartbeats,
            v.heartbeat_every.as_secs()
        );
        for c in &self.clinics {
            let locations: Vec<&str> = c.locations.iter().map(LocationId::as_str).collect();
            let _ = write!(
                s,
                "\n  clinic {} \"{}\": {}, {}, locations {}; co-pay at desk{}{}",
                c.id,
                c.name,
                c.time_zone.name(),
                c.currency,
                locations.join(", "),
                if c.payment_link.is_some() {
                    ", phone"
                } else {
                    ""
                },
                if c.allow_bill_later {
                    ", bill later"
                } else {
                    ""
                }
            );
            if let Some(f) = &c.fhir {
                let _ = write!(s, "\n    {}", f.summary());
            }
        }
        for f in &self.forms {
            let _ = write!(s, "\n  {}", f.summary());
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Stage one: the raw mirror of the file, holding the defaults.
// ---------------------------------------------------------------------------

/// The tables of [`RawServerFile`], whose shape serde would not check.
const TABLES: &[(&str, Shape)] = &[
    ("server", Shape::Table),
    ("tls", Shape::Table),
    ("clinic", Shape::ArrayOfTables),
    ("forms", Shape::ArrayOfTables),
    ("database", Shape::Table),
    ("screening", Shape::Table),
];

/// The server file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServerFile {
    /// `[server]`.
    server: RawServer,
    /// `[tls]`, if present.
    tls: Option<RawTls>,
    /// `[[clinic]]`, one entry per clinic.
    clinic: Vec<RawClinic>,
    /// `[[forms]]`, one entry per intake form.
    forms: Vec<super::forms::RawForm>,
    /// `[database]`, if present.
    database: Option<super::database::RawDatabase>,
    /// `[screening]`, if present.
    screening: super::screening::RawScreening,
}

/// `[server]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    /// `ip:port`.
    listen: String,
    /// The data directory, relative to the config file if not absolute.
    data_dir: PathBuf,
    /// The server's public base URL.
    public_url: Option<String>,
    /// Body limit in bytes.
    max_body_bytes: i64,
    /// Event batch limit.
    max_events_per_batch: i64,
    /// Staff session length in hours.
    staff_session_hours: i64,
    /// Staff session idle timeout in minutes.
    staff_idle_minutes: i64,
    /// Proxy addresses whose forwarding headers are believed.
    trusted_proxies: Vec<String>,
    /// The metrics-only listen address; empty for none.
    metrics_listen: String,
    /// The file with the metrics bearer token.
    metrics_token_file: Option<PathBuf>,
    /// Pass lifetime after the appointment start, in hours.
    pass_expiry_hours_after_start: i64,
    /// Missed heartbeats before offline.
    offline_after_missed_heartbeats: i64,
    /// Expected heartbeat period in seconds.
    heartbeat_secs: i64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)).to_string(),
            data_dir: PathBuf::from("/var/lib/clinic-server"),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            max_events_per_batch: 500,
            staff_session_hours: 12,
            staff_idle_minutes: 30,
            trusted_proxies: Vec::new(),
            metrics_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9464)).to_string(),
            metrics_token_file: None,
            pass_expiry_hours_after_start: 12,
            offline_after_missed_heartbeats: 2,
            heartbeat_secs: 60,
        }
    }
}

/// `[tls]` as written; both keys or neither.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    /// The certificate chain file.
    cert_file: Option<PathBuf>,
    /// The private key file.
    key_file: Option<PathBuf>,
}

/// One `[[clinic]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClinic {
    /// Required: the stable id.
    id: Option<String>,
    /// Required: the display name.
    name: Option<String>,
    /// Required: guessing a zone would put every appointment at the wrong
    /// hour.
    time_zone: Option<String>,
    /// ISO 4217 code.
    currency: String,
    /// Location ids.
    locations: Vec<String>,
    /// Link template with `{reference}`.
    payment_link: Option<String>,
    /// Offer "Bill me later".
    allow_bill_later: bool,
    /// The largest co-pay a kiosk may report, in cents.
    max_copay_cents: i64,
    /// `[clinic.fhir]`, if present.
    fhir: Option<super::fhir::RawFhir>,
}

impl Default for RawClinic {
    fn default() -> Self {
        Self {
            id: None,
            name: None,
            time_zone: None,
            currency: "USD".to_string(),
            locations: vec!["main".to_string()],
            payment_link: None,
            allow_bill_later: false,
            max_copay_cents: DEFAULT_MAX_COPAY_CENTS,
            fhir: None,
        }
    }
}

/// `max_copay_cents` when the config leaves it out: $10,000.
pub const DEFAULT_MAX_COPAY_CENTS: i64 = 1_000_000;

impl RawServerFile {
    /// The demo's file: the defaults plus a data directory and one clinic
    /// offering every co-pay choice.
    fn demo(data_dir: PathBuf) -> Self {
        RawServerFile {
            server: RawServer {
                data_dir,
                ..RawServer::default()
            },
            tls: None,
            clinic: vec![RawClinic {
                id: Some("demo".to_string()),
                name: Some("Demo Family Clinic".to_string()),
                time_zone: Some("America/New_York".to_string()),
                payment_link: Some("https://pay.example.com/checkin?ref={reference}".to_string()),
                allow_bill_later: true,
                ..RawClinic::default()
            }],
            forms: Vec::new(),
            database: None,
            screening: super::screening::RawScreening::default(),
        }
    }

    /// Stage two: every value checked and typed. Problems go to `c`; the
    /// result is only meaningful when there are none.
    fn check(self, c: &mut Checker<'_>, source: Option<&Path>) -> ServerConfig {
        if self.clinic.is_empty() {
            c.missing(
                "clinic",
                "at least one [[clinic]] table with `id`, `name` and `time_zone`",
            );
        }
        let mut seen = HashSet::new();
        let mut clinics = Vec::with_capacity(self.clinic.len());
        for (i, raw) in self.clinic.into_iter().enumerate() {
            let clinic = raw.check(c, i);
            if !clinic.id.0.is_empty() && !seen.insert(clinic.id.clone()) {
                c.problem(
                    &format!("clinic[{i}].id"),
                    format!(
                        "duplicate clinic id \"{}\"; each [[clinic]] needs its own id",
                        clinic.id
                    ),
                );
            }
            clinics.push(clinic);
        }
        ServerConfig {
            source: source.map(Path::to_path_buf),
            server: self.server.check(c),
            tls: self.tls.and_then(|t| t.check(c)),
            clinics,
            forms: super::forms::check_all(self.forms, c),
            database: self.database.and_then(|d| d.check(c)),
            screening: self.screening.check(c),
        }
    }
}

impl RawServer {
    fn check(self, c: &mut Checker<'_>) -> ServerSettings {
        let default_listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
        let hours = |c: &mut Checker<'_>, key: &str, value: i64| {
            chrono::Duration::hours(c.whole(key, value, 1..=168, "hours"))
        };
        ServerSettings {
            listen: c
                .socket_addr("server.listen", &self.listen)
                .unwrap_or(default_listen),
            data_dir: c.path("server.data_dir", &self.data_dir),
            public_url: self
                .public_url
                .as_deref()
                .and_then(|u| c.base_url("server.public_url", u, PlainHttp::Allowed)),
            max_body_bytes: c.whole(
                "server.max_body_bytes",
                self.max_body_bytes,
                1024..=64 * 1024 * 1024,
                "bytes",
            ),
            max_events_per_batch: c.whole(
                "server.max_events_per_batch",
                self.max_events_per_batch,
                1..=10_000,
                "events",
            ),
            staff_session: hours(c, "server.staff_session_hours", self.staff_session_hours),
            staff_idle: chrono::Duration::minutes(c.whole(
                "server.staff_idle_minutes",
                self.staff_idle_minutes,
                1..=24 * 60,
                "minutes",
            )),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .enumerate()
                .filter_map(|(i, a)| c.ip_addr(&format!("server.trusted_proxies[{i}]"), a))
                .collect(),
            metrics_listen: match self.metrics_listen.as_str() {
                "" => None,
                a => c.socket_addr("server.metrics_listen", a),
            },
            metrics_token_file: self
                .metrics_token_file
                .map(|p| c.path("server.metrics_token_file", &p)),
            pass_expiry_after_start: hours(
                c,
                "server.pass_expiry_hours_after_start",
                self.pass_expiry_hours_after_start,
            ),
            offline_after_missed_heartbeats: c.whole(
                "server.offline_after_missed_heartbeats",
                self.offline_after_missed_heartbeats,
                1..=100,
                "",
            ),
            heartbeat_every: c.secs("server.heartbeat_secs", self.heartbeat_secs, 10..=3600),
        }
    }
}

impl RawTls {
    fn check(self, c: &mut Checker<'_>) -> Option<TlsFiles> {
        match (self.cert_file, self.key_file) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert_file: c.path("tls.cert_file", &cert),
                key_file: c.path("tls.key_file", &key),
            }),
            (None, None) => None,
            (Some(_), None) => {
                c.missing(
                    "tls.key_file",
                    "the PEM private key for `tls.cert_file` (both or neither)",
                );
                None
            }
            (None, Some(_)) => {
                c.missing(
                    "tls.cert_file",
                    "the PEM certificate for `tls.key_file` (both or neither)",
                );
                None
            }
        }
    }
}

impl RawClinic {
    fn check(self, c: &mut Checker<'_>, i: usize) -> ClinicSettings {
        let key = |name: &str| format!("clinic[{i}].{name}");
        let id = match self.id.as_deref() {
            Some(id) => c.identifier(&key("id"), id),
            None => {
                c.missing(
                    &key("id"),
                    "a clinic id of lower-case letters, digits, `-` or `_`, such as \"north\"",
                );
                String::new()
            }
        };
        let name = c.name(
            &key("name"),
            self.name.as_deref(),
            "the clinic's name as patients know it",
        );
        let time_zone = match self.time_zone.as_deref() {
            Some(tz) => c.time_zone(&key("time_zone"), tz),
            None => {
                c.missing(
                    &key("time_zone"),
                    "an IANA time zone name such as \"America/Chicago\"",
                );
                Tz::UTC
            }
        };
        if self.locations.is_empty() {
            c.problem(
                &key("locations"),
                "expected at least one location id, such as [\"main\"]",
            );
        }
        let mut seen = HashSet::new();
        let mut locations = Vec::with_capacity(self.locations.len());
        for (j, loc) in self.locations.iter().enumerate() {
            let loc_key = format!("clinic[{i}].locations[{j}]");
            let loc = c.location_id(&loc_key, loc);
            if !seen.insert(loc.clone()) {
                c.problem(&loc_key, format!("duplicate location id \"{loc}\""));
            }
            locations.push(loc);
        }
        ClinicSettings {
            id: ClinicId(id),
            name,
            time_zone,
            currency: c.currency(&key("currency"), &self.currency),
            locations,
            payment_link: self
                .payment_link
                .as_deref()
                .and_then(|u| c.link_template(&key("payment_link"), u)),
            allow_bill_later: self.allow_bill_later,
            max_copay_cents: c.whole(
                &key("max_copay_cents"),
                self.max_copay_cents,
                1..=100_000_000,
                "cents",
            ),
            fhir: self.fhir.and_then(|f| f.check(c, &key("fhir"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_its_shape_checked() {
        let valid = match parse("zzz_probe = 1", Path::new("s.toml"), Path::new("")) {
            Err(ConfigError::UnknownKey { valid, .. }) => valid,
            other => panic!("expected an unknown key, got {other:?}"),
        };
        let shaped: Vec<&str> = TABLES.iter().map(|(name, _)| *name).collect();
        assert_eq!(valid, shaped);
    }

    #[test]
    fn the_demo_is_valid() {
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut checker = Checker::new(None, PathBuf::new());
        RawServerFile::demo(PathBuf::from("/tmp/demo-server")).check(&mut checker, None);
        assert_eq!(checker.into_problems(), []);
        let demo = ServerConfig::demo(PathBuf::from("/tmp/demo-server"), listen);
        assert_eq!(demo.server.listen, listen);
        assert_eq!(demo.clinics.len(), 1);
        assert_eq!(demo.clinics[0].time_zone, chrono_tz::America::New_York);
        assert!(demo.clinic(&ClinicId::from("demo")).is_some());
        assert_eq!(demo.server.offline_after(), chrono::Duration::seconds(120));
    }
}
