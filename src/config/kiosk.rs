//! The kiosk's configuration file: its raw serde mirror, its defaults, and
//! the checked [`KioskConfig`] the kiosk runs on.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::LinkTemplate;
use super::access::{KeypadSettings, RawKeypad, RawSpeech, SpeechSettings};
use super::check::{Checker, PlainHttp};
use super::document::{Document, Shape};
use super::error::ConfigError;
use crate::domain::{
    Currency, FlowSettings, Language, LocationId, LookupThrottle, RuleAction, RulePolicy,
};

/// Checks a kiosk file's text; see [`super::parse_kiosk`].
pub(super) fn parse(text: &str, file: &Path, base_dir: &Path) -> Result<KioskConfig, ConfigError> {
    let doc = Document::parse(text, file)?;
    let raw: RawKioskFile = doc.deserialize(TABLES)?;
    let mut checker = Checker::new(Some(&doc), base_dir.to_path_buf());
    let config = raw.check(&mut checker, Some(doc.file()));
    checker.finish(config, doc.file())
}

// ---------------------------------------------------------------------------
// Stage two: the checked configuration.
// ---------------------------------------------------------------------------

/// Everything a kiosk is configured with, checked and typed. Each field is
/// one table of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct KioskConfig {
    /// The file this came from, for `check-config` and logs; `None` for the
    /// built-in demo settings.
    pub source: Option<PathBuf>,
    /// `[kiosk]`: which device this is and where it keeps its data.
    pub kiosk: DeviceSettings,
    /// `[server]`: how to reach the clinic server.
    pub server: ServerLinkSettings,
    /// `[sync]`: how often and how much the sync worker exchanges.
    pub sync: SyncSettings,
    /// `[flow]`: the patient session's limits and timers.
    pub flow: SessionSettings,
    /// `[rules]`: the arrival rules' windows and whether each stops or flags.
    pub rules: RulePolicy,
    /// `[payment]`: the co-pay currency and the choices offered.
    pub payment: PaymentSettings,
    /// `[throttle]`: how many failed lookups a minute go unslowed.
    pub throttle: ThrottleSettings,
    /// `[display]`: how the UI is put on the screen.
    pub display: DisplaySettings,
    /// `[keypad]`: the tactile keypad's keys.
    pub keypad: KeypadSettings,
    /// `[speech]`: speech output for blind and low-vision patients.
    pub speech: SpeechSettings,
}

/// The `[kiosk]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSettings {
    /// The name IT sees in the fleet view and logs, such as "Lobby 1".
    pub name: String,
    /// The location the kiosk stands in, for the wrong-location rule.
    pub location_id: LocationId,
    /// Where the encrypted store and its key file live.
    pub data_dir: PathBuf,
    /// The language Welcome starts in, and returns to after each session.
    pub default_language: Language,
    /// Whether the window covers the whole screen; off for development.
    pub fullscreen: bool,
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLinkSettings {
    /// The clinic server's base URL; `None` until the kiosk is enrolled, and
    /// then the kiosk runs from its cache alone.
    pub url: Option<Url>,
    /// A PEM file of the CA (or certificate) to trust for the server, for
    /// clinics with a private CA; `None` uses the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Whether plain `http://` is allowed to a non-loopback server. Only
    /// for closed test networks: it exposes PHI on the wire.
    pub allow_insecure_http: bool,
    /// How long to wait for a connection before treating the server as
    /// offline.
    pub connect_timeout: Duration,
    /// How long one request may take in total.
    pub request_timeout: Duration,
}

/// The `[sync]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// How often to pull schedule changes.
    pub schedule_pull_every: Duration,
    /// How often to report health to the server.
    pub heartbeat_every: Duration,
    /// The most outbox events sent in one request.
    pub push_batch_size: usize,
    /// The first retry delay after a failed exchange.
    pub backoff_initial: Duration,
    /// The longest retry delay, however many exchanges failed.
    pub backoff_max: Duration,
    /// How many days of schedule to cache, today included; kept small so
    /// the kiosk holds as little PHI as it can.
    pub schedule_window_days: u32,
}

/// The `[flow]` table: limits and timers of one patient session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// How many last-name letters the patient types.
    pub name_prefix_len: usize,
    /// Failed lookups in one session before the kiosk offers help.
    pub max_failed_lookups: u32,
    /// Demographics confirmed within this many days are not asked again.
    pub demographics_skip_days: u32,
    /// Idle time before the "are you still there?" countdown appears.
    pub idle_warning: Duration,
    /// Idle time before the session is cleared and Welcome returns; always
    /// longer than `idle_warning`.
    pub idle_reset: Duration,
    /// How long "You're checked in" stays before Welcome returns.
    pub done_return: Duration,
    /// Idle time before the reset while help has been asked for: the
    /// patient was told to wait; never shorter than `idle_reset` (the
    /// longer of the two applies).
    pub help_reset: Duration,
}

/// The `[payment]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSettings {
    /// The currency co-pay amounts are shown in.
    pub currency: Currency,
    /// The link "Pay on my phone" shows as a QR code; `None` hides that
    /// choice.
    pub pay_on_phone: Option<LinkTemplate>,
    /// Whether "Bill me later" is offered.
    pub allow_bill_later: bool,
    /// What a patient without insurance pays for a visit, in cents of
    /// `currency`; `None` says the front desk will tell them.
    pub self_pay_cents: Option<i64>,
}

/// The `[throttle]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed lookups a minute before further lookups are slowed, so the
    /// kiosk cannot be used to probe the schedule.
    pub free_misses_per_minute: u32,
}

/// The `[display]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplaySettings {
    /// Which Slint backend draws the UI.
    pub backend: DisplayBackend,
    /// How the UI is turned to match a screen mounted on its side.
    pub rotation: Rotation,
    /// Whether to hide the mouse pointer on a touch screen.
    pub hide_cursor: bool,
    /// The window's width in pixels, when not full screen.
    pub width: u32,
    /// The window's height in pixels, when not full screen.
    pub height: u32,
    /// Whether times show on the 24-hour clock ("14:30") instead of the
    /// 12-hour one ("2:30 PM", "2:30 p. m.").
    pub clock_24h: bool,
}

/// The Slint backend and renderer the kiosk draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayBackend {
    /// A window under X11 or Wayland, drawn in software.
    WinitSoftware,
    /// Straight to the screen through Linux KMS, with no desktop; drawn in
    /// software.
    LinuxKmsSoftware,
}

impl DisplayBackend {
    /// The name used in the config file.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::WinitSoftware => "winit-software",
            Self::LinuxKmsSoftware => "linuxkms-software",
        }
    }
}

/// A clockwise rotation of the UI, in quarter turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Upright.
    Deg0,
    /// A quarter turn clockwise.
    Deg90,
    /// Upside down.
    Deg180,
    /// Three quarter turns clockwise.
    Deg270,
}

impl Rotation {
    /// The rotation in degrees: 0, 90, 180 or 270.
    pub fn degrees(&self) -> u16 {
        match self {
            Self::Deg0 => 0,
            Self::Deg90 => 90,
            Self::Deg180 => 180,
            Self::Deg270 => 270,
        }
    }
}

impl KioskConfig {
    /// Valid settings for the no-configuration demo: every default, a
    /// "Demo kiosk" at location `main` keeping its data in `data_dir`, no
    /// server, and every co-pay choice offered.
    pub fn demo(data_dir: PathBuf) -> Self {
        // Problems are not possible from the built-in values (the tests
        // check them), and `data_dir` is the caller's to choose.
        let mut checker = Checker::new(None, PathBuf::new());
        RawKioskFile::demo(data_dir).check(&mut checker, None)
    }

    /// The settings the check-in flow runs with.
    pub fn flow_settings(&self) -> FlowSettings {
        FlowSettings {
            rules: self.rules.clone(),
            kiosk_location: self.kiosk.location_id.clone(),
            name_prefix_len: self.flow.name_prefix_len,
            max_failed_lookups: self.flow.max_failed_lookups,
            demographics_skip_days: self.flow.demographics_skip_days,
            allow_bill_later: self.payment.allow_bill_later,
            allow_pay_on_phone: self.payment.pay_on_phone.is_some(),
            language: self.kiosk.default_language,
        }
    }

    /// The lookup throttle: the configured misses a minute, then delays of
    /// 2 s doubling to 60 s.
    pub fn lookup_throttle(&self) -> LookupThrottle {
        LookupThrottle::new(
            self.throttle.free_misses_per_minute as usize,
            chrono::Duration::minutes(1),
            chrono::Duration::seconds(2),
            chrono::Duration::seconds(60),
        )
    }

    /// A few lines for `check-config` and the start-up log. The config
    /// holds no secrets, and this prints no patient data.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let source = self
            .source
            .as_ref()
            .map_or("built-in demo settings".to_string(), |p| {
                p.display().to_string()
            });
        let k = &self.kiosk;
        let _ = writeln!(s, "kiosk configuration: {source}");
        let _ = writeln!(
            s,
            "  kiosk \"{}\" at location {}; language {}; {}",
            k.name,
            k.location_id,
            k.default_language.code(),
            if k.fullscreen {
                "full screen"
            } else {
                "windowed"
            }
        );
        let _ = writeln!(s, "  data directory: {}", k.data_dir.display());
        let server = match &self.server.url {
            Some(url) => url.to_string(),
            None => "none (not enrolled; runs from its cache)".to_string(),
        };
        let ca = match &self.server.ca_file {
            Some(ca) => format!("pinned CA {}", ca.display()),
            None => "system CAs".to_string(),
        };
        let _ = writeln!(s, "  clinic server: {server}; {ca}");
        self.write_policy(&mut s);
        let d = &self.display;
        let _ = write!(
            s,
            "  display: {}, rotated {}°, {}x{} when windowed, {} clock",
            d.backend.as_str(),
            d.rotation.degrees(),
            d.width,
            d.height,
            if d.clock_24h { "24-hour" } else { "12-hour" }
        );
        s
    }

    /// The summary's lines on sync, idle times, rules and payment.
    fn write_policy(&self, s: &mut String) {
        let y = &self.sync;
        let _ = writeln!(
            *s,
            "  sync: schedule every {}s, heartbeat every {}s, {} event(s) a batch, {} day(s) cached",
            y.schedule_pull_every.as_secs(),
            y.heartbeat_every.as_secs(),
            y.push_batch_size,
            y.schedule_window_days
        );
        let f = &self.flow;
        let _ = writeln!(
            *s,
            "  idle: warning at {}s, reset at {}s ({}s while help comes); done screen {}s",
            f.idle_warning.as_secs(),
            f.idle_reset.as_secs(),
            f.help_reset.as_secs(),
            f.done_return.as_secs()
        );
        let r = &self.rules;
        let _ = writeln!(
            *s,
            "  rules: early > {} min ({}), late > {} min ({}), cancelled {}, wrong location {}, already checked in {}",
            r.early_window.num_minutes(),
            action_name(r.too_early),
            r.late_after.num_minutes(),
            action_name(r.late),
            action_name(r.cancelled),
            action_name(r.wrong_location),
            action_name(r.already_checked_in)
        );
        let p = &self.payment;
        let _ = writeln!(
            *s,
            "  co-pay in {}: front desk{}{}; self-pay {}",
            p.currency,
            if p.pay_on_phone.is_some() {
                ", phone"
            } else {
                ""
            },
            if p.allow_bill_later {
                ", bill later"
            } else {
                ""
            },
            p.self_pay_cents
                .map_or("told at the desk".to_string(), |c| format!("{c} cents"))
        );
    }
}

fn action_name(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Stop => "stop",
        RuleAction::Flag => "flag",
    }
}

/// The payment link of the demo; `example.com` never resolves to a real
/// payment page.
const DEMO_PAYMENT_LINK: &str = "https://pay.example.com/checkin?ref={reference}";

const LANGUAGES: &[(&str, Language)] = &[("en", Language::En), ("es", Language::Es)];
const ACTIONS: &[(&str, RuleAction)] = &[("stop", RuleAction::Stop), ("flag", RuleAction::Flag)];
const BACKENDS: &[(&str, DisplayBackend)] = &[
    ("winit-software", DisplayBackend::WinitSoftware),
    ("linuxkms-software", DisplayBackend::LinuxKmsSoftware),
];

// ---------------------------------------------------------------------------
// Stage one: the raw mirror of the file, holding the defaults.
// ---------------------------------------------------------------------------

/// The tables of [`RawKioskFile`], which serde would also accept as arrays.
const TABLES: &[(&str, Shape)] = &[
    ("kiosk", Shape::Table),
    ("server", Shape::Table),
    ("sync", Shape::Table),
    ("flow", Shape::Table),
    ("rules", Shape::Table),
    ("payment", Shape::Table),
    ("throttle", Shape::Table),
    ("display", Shape::Table),
    ("keypad", Shape::Table),
    ("speech", Shape::Table),
];

/// The kiosk file as written. Every table may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKioskFile {
    /// `[kiosk]`.
    kiosk: RawDevice,
    /// `[server]`.
    server: RawServerLink,
    /// `[sync]`.
    sync: RawSync,
    /// `[flow]`.
    flow: RawFlow,
    /// `[rules]`.
    rules: RawRules,
    /// `[payment]`.
    payment: RawPayment,
    /// `[throttle]`.
    throttle: RawThrottle,
    /// `[display]`.
    display: RawDisplay,
    /// `[keypad]`.
    keypad: RawKeypad,
    /// `[speech]`.
    speech: RawSpeech,
}

/// `[kiosk]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDevice {
    /// Required: every kiosk needs its own name in the fleet view.
    name: Option<String>,
    /// The location id.
    location_id: String,
    /// The data directory, relative to the config file if not absolute.
    data_dir: PathBuf,
    /// `"en"` or `"es"`.
    default_language: String,
    /// Full screen or windowed.
    fullscreen: bool,
}

impl Default for RawDevice {
    fn default() -> Self {
        Self {
            name: None,
            location_id: "main".to_string(),
            data_dir: PathBuf::from("/var/lib/checkin-kiosk"),
            default_language: "en".to_string(),
            fullscreen: true,
        }
    }
}

/// `[server]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServerLink {
    /// The server's base URL, once enrolled.
    url: Option<String>,
    /// A PEM file to trust for the server.
    ca_file: Option<PathBuf>,
    /// Allow `http://` off loopback.
    allow_insecure_http: bool,
    /// Seconds to connect.
    connect_timeout_secs: i64,
    /// Seconds for a whole request.
    request_timeout_secs: i64,
}

impl Default for RawServerLink {
    fn default() -> Self {
        Self {
            url: None,
            ca_file: None,
            allow_insecure_http: false,
            connect_timeout_secs: 5,
            request_timeout_secs: 10,
        }
    }
}

/// `[sync]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSync {
    /// Seconds between schedule pulls.
    schedule_pull_secs: i64,
    /// Seconds between heartbeats.
    heartbeat_secs: i64,
    /// Events per push.
    push_batch_size: i64,
    /// First retry delay, in milliseconds.
    backoff_initial_ms: i64,
    /// Longest retry delay, in seconds.
    backoff_max_secs: i64,
    /// Days of schedule cached.
    schedule_window_days: i64,
}

impl Default for RawSync {
    fn default() -> Self {
        Self {
            schedule_pull_secs: 15,
            heartbeat_secs: 60,
            push_batch_size: 100,
            backoff_initial_ms: 500,
            backoff_max_secs: 60,
            schedule_window_days: 1,
        }
    }
}

/// `[flow]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFlow {
    /// Last-name letters typed.
    name_prefix_len: i64,
    /// Failed lookups before help.
    max_failed_lookups: i64,
    /// Days a demographics confirmation lasts.
    demographics_skip_days: i64,
    /// Idle seconds before the warning.
    idle_warning_secs: i64,
    /// Idle seconds before the reset.
    idle_reset_secs: i64,
    /// Seconds the done screen stays.
    done_return_secs: i64,
    /// Idle seconds before the reset while help is on its way.
    help_reset_secs: i64,
}

impl Default for RawFlow {
    fn default() -> Self {
        Self {
            name_prefix_len: 3,
            max_failed_lookups: 3,
            demographics_skip_days: 7,
            idle_warning_secs: 45,
            idle_reset_secs: 60,
            done_return_secs: 10,
            help_reset_secs: 300,
        }
    }
}

/// `[rules]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRules {
    /// Minutes before the start that count as on time.
    early_window_minutes: i64,
    /// Minutes after the start that count as on time.
    late_after_minutes: i64,
    /// `"stop"` or `"flag"`.
    too_early: String,
    /// `"stop"` or `"flag"`.
    late: String,
    /// `"stop"` or `"flag"`.
    cancelled: String,
    /// `"stop"` or `"flag"`.
    wrong_location: String,
    /// `"stop"` or `"flag"`.
    already_checked_in: String,
    /// The age of majority.
    minor_age_years: i64,
    /// The balance threshold in cents.
    balance_due_over_cents: i64,
}

impl Default for RawRules {
    fn default() -> Self {
        let d = RulePolicy::default();
        Self {
            early_window_minutes: d.early_window.num_minutes(),
            late_after_minutes: d.late_after.num_minutes(),
            too_early: action_name(d.too_early).to_string(),
            late: action_name(d.late).to_string(),
            cancelled: action_name(d.cancelled).to_string(),
            wrong_location: action_name(d.wrong_location).to_string(),
            already_checked_in: action_name(d.already_checked_in).to_string(),
            minor_age_years: i64::from(d.minor_age_years),
            balance_due_over_cents: d.balance_due_over_cents,
        }
    }
}

/// `[payment]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPayment {
    /// ISO 4217 code.
    currency: String,
    /// Link template with `{reference}`.
    pay_on_phone_url: Option<String>,
    /// Offer "Bill me later".
    allow_bill_later: bool,
    /// The self-pay amount in cents, if the clinic has one.
    self_pay_cents: Option<i64>,
}

impl Default for RawPayment {
    fn default() -> Self {
        Self {
            currency: "USD".to_string(),
            pay_on_phone_url: None,
            allow_bill_later: false,
            self_pay_cents: None,
        }
    }
}

/// `[throttle]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawThrottle {
    /// Misses a minute before slowing down.
    free_misses_per_minute: i64,
}

impl Default for RawThrottle {
    fn default() -> Self {
        Self {
            free_misses_per_minute: 5,
        }
    }
}

/// `[display]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDisplay {
    /// Backend name.
    backend: String,
    /// Degrees clockwise.
    rotation: i64,
    /// Hide the pointer.
    hide_cursor: bool,
    /// Window width.
    width: i64,
    /// Window height.
    height: i64,
    /// `"12h"` or `"24h"`.
    time_format: String,
}

impl Default for RawDisplay {
    fn default() -> Self {
        Self {
            backend: "winit-software".to_string(),
            rotation: 0,
            hide_cursor: true,
            width: 1080,
            height: 1920,
            time_format: "12h".to_string(),
        }
    }
}

impl RawKioskFile {
    /// The demo's file: the defaults plus a name, a data directory, and
    /// every co-pay choice.
    fn demo(data_dir: PathBuf) -> Self {
        RawKioskFile {
            kiosk: RawDevice {
                name: Some("Demo kiosk".to_string()),
                data_dir,
                ..RawDevice::default()
            },
            payment: RawPayment {
                pay_on_phone_url: Some(DEMO_PAYMENT_LINK.to_string()),
                allow_bill_later: true,
                ..RawPayment::default()
            },
            ..RawKioskFile::default()
        }
    }

    /// Stage two: every value checked and typed. Problems go to `c`; the
    /// result is only meaningful when there are none.
    fn check(self, c: &mut Checker<'_>, source: Option<&Path>) -> KioskConfig {
        let Self {
            kiosk,
            server,
            sync,
            flow,
            rules,
            payment,
            throttle,
            display,
            keypad,
            speech,
        } = self;
        let flow = flow.check(c);
        let speech = speech.check(c, flow.idle_reset);
        KioskConfig {
            source: source.map(Path::to_path_buf),
            kiosk: kiosk.check(c),
            server: server.check(c),
            sync: sync.check(c),
            flow,
            rules: rules.check(c),
            payment: payment.check(c),
            throttle: ThrottleSettings {
                free_misses_per_minute: c.whole(
                    "throttle.free_misses_per_minute",
                    throttle.free_misses_per_minute,
                    1..=100,
                    "",
                ),
            },
            display: display.check(c),
            keypad: keypad.check(c),
            speech,
        }
    }
}

impl RawDevice {
    fn check(self, c: &mut Checker<'_>) -> DeviceSettings {
        DeviceSettings {
            name: c.name(
                "kiosk.name",
                self.name.as_deref(),
                "the kiosk's name as IT sees it, such as \"Lobby 1\"",
            ),
            location_id: c.location_id("kiosk.location_id", &self.location_id),
            data_dir: c.path("kiosk.data_dir", &self.data_dir),
            default_language: c.choice(
                "kiosk.default_language",
                &self.default_language,
                LANGUAGES,
                Language::En,
            ),
            fullscreen: self.fullscreen,
        }
    }
}

impl RawServerLink {
    fn check(self, c: &mut Checker<'_>) -> ServerLinkSettings {
        let plain = if self.allow_insecure_http {
            PlainHttp::Allowed
        } else {
            PlainHttp::LoopbackOnly {
                hint: " (or with `server.allow_insecure_http = true` on a closed test network)",
            }
        };
        ServerLinkSettings {
            url: self
                .url
                .as_deref()
                .and_then(|u| c.base_url("server.url", u, plain)),
            ca_file: self.ca_file.as_deref().map(|p| c.path("server.ca_file", p)),
            allow_insecure_http: self.allow_insecure_http,
            connect_timeout: c.secs(
                "server.connect_timeout_secs",
                self.connect_timeout_secs,
                1..=120,
            ),
            request_timeout: c.secs(
                "server.request_timeout_secs",
                self.request_timeout_secs,
                1..=600,
            ),
        }
    }
}

impl RawSync {
    fn check(self, c: &mut Checker<'_>) -> SyncSettings {
        let backoff_initial_ms: u64 = c.whole(
            "sync.backoff_initial_ms",
            self.backoff_initial_ms,
            10..=60_000,
            "milliseconds",
        );
        let backoff_max = c.secs("sync.backoff_max_secs", self.backoff_max_secs, 1..=3600);
        let backoff_initial = Duration::from_millis(backoff_initial_ms);
        if backoff_max < backoff_initial {
            c.problem(
                "sync.backoff_max_secs",
                format!(
                    "expected at least `sync.backoff_initial_ms` ({backoff_initial_ms} ms), found {} s",
                    self.backoff_max_secs
                ),
            );
        }
        SyncSettings {
            schedule_pull_every: c.secs(
                "sync.schedule_pull_secs",
                self.schedule_pull_secs,
                5..=3600,
            ),
            heartbeat_every: c.secs("sync.heartbeat_secs", self.heartbeat_secs, 10..=3600),
            push_batch_size: c.whole(
                "sync.push_batch_size",
                self.push_batch_size,
                1..=500,
                "events",
            ),
            backoff_initial,
            backoff_max,
            schedule_window_days: c.whole(
                "sync.schedule_window_days",
                self.schedule_window_days,
                1..=7,
                "days",
            ),
        }
    }
}

impl RawFlow {
    fn check(self, c: &mut Checker<'_>) -> SessionSettings {
        let idle_warning = c.secs("flow.idle_warning_secs", self.idle_warning_secs, 5..=600);
        let idle_reset = c.secs("flow.idle_reset_secs", self.idle_reset_secs, 10..=3600);
        if self.idle_reset_secs <= self.idle_warning_secs {
            c.problem(
                "flow.idle_reset_secs",
                format!(
                    "expected more seconds than `flow.idle_warning_secs` ({}), so the warning shows before the reset; found {}",
                    self.idle_warning_secs, self.idle_reset_secs
                ),
            );
        }
        // Never sooner than the ordinary reset: a longer `idle_reset_secs`
        // wins, so an older file that sets only that still loads.
        let help_reset = c
            .secs("flow.help_reset_secs", self.help_reset_secs, 60..=7200)
            .max(idle_reset);
        SessionSettings {
            name_prefix_len: c.whole(
                "flow.name_prefix_len",
                self.name_prefix_len,
                1..=10,
                "letters",
            ),
            max_failed_lookups: c.whole(
                "flow.max_failed_lookups",
                self.max_failed_lookups,
                1..=10,
                "",
            ),
            demographics_skip_days: c.whole(
                "flow.demographics_skip_days",
                self.demographics_skip_days,
                0..=365,
                "days",
            ),
            idle_warning,
            idle_reset,
            done_return: c.secs("flow.done_return_secs", self.done_return_secs, 3..=120),
            help_reset,
        }
    }
}

impl RawRules {
    fn check(self, c: &mut Checker<'_>) -> RulePolicy {
        let d = RulePolicy::default();
        let early: i64 = c.whole(
            "rules.early_window_minutes",
            self.early_window_minutes,
            0..=1440,
            "minutes",
        );
        let late: i64 = c.whole(
            "rules.late_after_minutes",
            self.late_after_minutes,
            0..=1440,
            "minutes",
        );
        RulePolicy {
            early_window: chrono::Duration::minutes(early),
            late_after: chrono::Duration::minutes(late),
            too_early: c.choice("rules.too_early", &self.too_early, ACTIONS, d.too_early),
            late: c.choice("rules.late", &self.late, ACTIONS, d.late),
            cancelled: c.choice("rules.cancelled", &self.cancelled, ACTIONS, d.cancelled),
            wrong_location: c.choice(
                "rules.wrong_location",
                &self.wrong_location,
                ACTIONS,
                d.wrong_location,
            ),
            already_checked_in: c.choice(
                "rules.already_checked_in",
                &self.already_checked_in,
                ACTIONS,
                d.already_checked_in,
            ),
            minor_age_years: c.whole(
                "rules.minor_age_years",
                self.minor_age_years,
                0..=30,
                "years",
            ),
            balance_due_over_cents: c.whole(
                "rules.balance_due_over_cents",
                self.balance_due_over_cents,
                0..=i64::MAX,
                "cents",
            ),
        }
    }
}

impl RawPayment {
    fn check(self, c: &mut Checker<'_>) -> PaymentSettings {
        PaymentSettings {
            currency: c.currency("payment.currency", &self.currency),
            pay_on_phone: self
                .pay_on_phone_url
                .as_deref()
                .and_then(|u| c.link_template("payment.pay_on_phone_url", u)),
            allow_bill_later: self.allow_bill_later,
            self_pay_cents: self.self_pay_cents.map(|cents| {
                c.whole::<i64>("payment.self_pay_cents", cents, 0..=100_000_000, "cents")
            }),
        }
    }
}

impl RawDisplay {
    fn check(self, c: &mut Checker<'_>) -> DisplaySettings {
        let rotation = match self.rotation {
            0 => Rotation::Deg0,
            90 => Rotation::Deg90,
            180 => Rotation::Deg180,
            270 => Rotation::Deg270,
            other => {
                c.problem(
                    "display.rotation",
                    format!("expected 0, 90, 180 or 270 degrees, found {other}"),
                );
                Rotation::Deg0
            }
        };
        DisplaySettings {
            backend: c.choice(
                "display.backend",
                &self.backend,
                BACKENDS,
                DisplayBackend::WinitSoftware,
            ),
            rotation,
            hide_cursor: self.hide_cursor,
            width: c.whole("display.width", self.width, 200..=8192, "pixels"),
            height: c.whole("display.height", self.height, 200..=8192, "pixels"),
            clock_24h: c.choice(
                "display.time_format",
                &self.time_format,
                &[("12h", false), ("24h", true)],
                false,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_valid_and_offers_every_choice() {
        let mut checker = Checker::new(None, PathBuf::new());
        RawKioskFile::demo(PathBuf::from("/tmp/demo")).check(&mut checker, None);
        assert_eq!(checker.into_problems(), []);

        let demo = KioskConfig::demo(PathBuf::from("/tmp/demo"));
        assert_eq!(demo.kiosk.data_dir, Path::new("/tmp/demo"));
        let flow = demo.flow_settings();
        assert!(flow.allow_bill_later && flow.allow_pay_on_phone);
        assert_eq!(flow.kiosk_location, LocationId::from("main"));
        assert!(demo.summary().contains("built-in demo settings"));
    }

    #[test]
    fn every_table_has_its_shape_checked() {
        let valid = match parse("zzz_probe = 1", Path::new("k.toml"), Path::new("")) {
            Err(ConfigError::UnknownKey { valid, .. }) => valid,
            other => panic!("expected an unknown key, got {other:?}"),
        };
        let shaped: Vec<&str> = TABLES.iter().map(|(name, _)| *name).collect();
        assert_eq!(valid, shaped);
    }

    #[test]
    fn rule_defaults_come_from_the_domain() {
        let mut checker = Checker::new(None, PathBuf::new());
        let policy = RawRules::default().check(&mut checker);
        assert_eq!(policy, RulePolicy::default());
        assert_eq!(checker.into_problems(), []);
    }
}
