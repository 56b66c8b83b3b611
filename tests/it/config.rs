//! Integration tests: config. The shipped example files, defaults, and the
//! messages a person sees for every kind of mistake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use checkin_kiosk::config::{
    ConfigError, DisplayBackend, KioskConfig, Rotation, ServerConfig, load_kiosk, load_server,
    parse_kiosk, parse_server,
};
use checkin_kiosk::domain::{Currency, Language, LocationId, RuleAction, RulePolicy};

const KIOSK_FILE: &str = "/etc/checkin-kiosk/kiosk.toml";
const SERVER_FILE: &str = "/etc/clinic-server/clinic-server.toml";

/// The smallest valid server file.
const ONE_CLINIC: &str =
    "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n";

fn example(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    (path, text)
}

fn kiosk(text: &str) -> KioskConfig {
    parse_kiosk(text, Path::new(KIOSK_FILE)).unwrap_or_else(|e| panic!("expected valid:\n{e}"))
}

fn server(text: &str) -> ServerConfig {
    parse_server(text, Path::new(SERVER_FILE)).unwrap_or_else(|e| panic!("expected valid:\n{e}"))
}

fn kiosk_error(text: &str) -> ConfigError {
    match parse_kiosk(text, Path::new(KIOSK_FILE)) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

fn server_error(text: &str) -> ConfigError {
    match parse_server(text, Path::new(SERVER_FILE)) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected the message to contain\n  {needle}\nbut it was\n  {haystack}"
    );
}

/// The keys a table accepts, read back from the unknown-key error, so the
/// tests follow the raw structs without a second list to keep in step.
fn keys_of(error: ConfigError) -> Vec<String> {
    match error {
        ConfigError::UnknownKey { valid, .. } => valid,
        other => panic!("expected an unknown-key error, got: {other}"),
    }
}

/// True when `text` has a line `key = ...`, commented out or not.
fn mentions_key(text: &str, key: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start().trim_start_matches('#').trim_start();
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

/// True when `text` has a header for `table`, commented out or not.
fn mentions_table(text: &str, table: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start().trim_start_matches('#').trim();
        line == format!("[{table}]") || line == format!("[[{table}]]")
    })
}

// --- The shipped examples -------------------------------------------------

#[test]
fn the_kiosk_example_is_valid_and_holds_only_defaults() {
    let (path, text) = example("kiosk.toml");
    let shipped = parse_kiosk(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    // The example sets the required name and otherwise shows each default,
    // so it must equal a file with only the name.
    let minimal =
        parse_kiosk("[kiosk]\nname = \"Lobby 1\"\n", &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped, minimal);
}

#[test]
fn the_kiosk_example_lists_every_key() {
    let (_, text) = example("kiosk.toml");
    let tables = keys_of(kiosk_error("zzz_probe = 1\n"));
    assert!(tables.len() >= 8, "{tables:?}");
    for table in &tables {
        assert!(
            mentions_table(&text, table),
            "config/kiosk.toml lacks [{table}]"
        );
        let keys = keys_of(kiosk_error(&format!("[{table}]\nzzz_probe = 1\n")));
        for key in keys {
            assert!(
                mentions_key(&text, &key),
                "config/kiosk.toml does not document `{table}.{key}`"
            );
        }
    }
}

#[test]
fn the_server_example_is_valid_with_default_server_settings() {
    let (path, text) = example("clinic-server.toml");
    let shipped = parse_server(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    let minimal = parse_server(ONE_CLINIC, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped.server, minimal.server);
    assert_eq!(shipped.tls, None);
    assert_eq!(shipped.clinics.len(), 1);
    assert_eq!(shipped.clinics[0].id.as_str(), "north");
    assert_eq!(shipped.clinics[0].currency, minimal.clinics[0].currency);
    assert_eq!(shipped.clinics[0].locations, minimal.clinics[0].locations);
    assert_eq!(shipped.clinics[0].payment_link, None);
    assert!(!shipped.clinics[0].allow_bill_later);
}

#[test]
fn the_server_example_lists_every_key() {
    let (_, text) = example("clinic-server.toml");
    let tables = keys_of(server_error("zzz_probe = 1\n"));
    assert_eq!(
        tables,
        ["server", "tls", "clinic", "forms", "database", "screening"]
    );
    for (header, table) in [
        ("[server]", "server"),
        ("[tls]", "tls"),
        ("[[clinic]]", "clinic"),
        ("[[forms]]", "forms"),
        ("[database]", "database"),
        ("[screening]", "screening"),
    ] {
        assert!(
            mentions_table(&text, table),
            "config/clinic-server.toml lacks {header}"
        );
        let keys = keys_of(server_error(&format!("{header}\nzzz_probe = 1\n")));
        assert!(!keys.is_empty());
        for key in keys {
            assert!(
                mentions_key(&text, &key),
                "config/clinic-server.toml does not document `{table}.{key}`"
            );
        }
    }
}

#[test]
fn load_reads_the_file_and_resolves_paths_beside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kiosk.toml");
    std::fs::write(
        &path,
        "[kiosk]\nname = \"Lobby 1\"\ndata_dir = \"data\"\n[server]\nca_file = \"ca.pem\"\n",
    )
    .expect("write");
    let config = load_kiosk(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.kiosk.data_dir, dir.path().join("data"));
    assert_eq!(config.server.ca_file, Some(dir.path().join("ca.pem")));
    assert_eq!(config.source.as_deref(), Some(path.as_path()));

    let server_path = dir.path().join("server.toml");
    let tls = "[server]\ndata_dir = \"db\"\n[tls]\ncert_file = \"cert.pem\"\nkey_file = \"/etc/key.pem\"\n";
    std::fs::write(&server_path, format!("{tls}{ONE_CLINIC}")).expect("write");
    let config = load_server(&server_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.data_dir, dir.path().join("db"));
    let files = config.tls.expect("tls");
    assert_eq!(files.cert_file, dir.path().join("cert.pem"));
    assert_eq!(files.key_file, Path::new("/etc/key.pem"));
}

#[test]
fn a_missing_file_is_named() {
    let err = load_kiosk(Path::new("/nonexistent/kiosk.toml")).expect_err("no such file");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_contains(
        &err.to_string(),
        "cannot read configuration file /nonexistent/kiosk.toml:",
    );
}

// --- Defaults -------------------------------------------------------------

#[test]
fn a_minimal_kiosk_config_takes_every_default() {
    let c = kiosk("[kiosk]\nname = \"Lobby 1\"\n");
    assert_eq!(c.kiosk.name, "Lobby 1");
    assert_eq!(c.kiosk.location_id, LocationId::from("main"));
    assert_eq!(c.kiosk.data_dir, Path::new("/var/lib/checkin-kiosk"));
    assert_eq!(c.kiosk.default_language, Language::En);
    assert!(c.kiosk.fullscreen);
    assert_eq!(c.server.url, None);
    assert_eq!(c.server.ca_file, None);
    assert!(!c.server.allow_insecure_http);
    assert_eq!(c.server.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.server.request_timeout, Duration::from_secs(10));
    assert_eq!(c.sync.schedule_pull_every, Duration::from_secs(15));
    assert_eq!(c.sync.heartbeat_every, Duration::from_secs(60));
    assert_eq!(c.sync.push_batch_size, 100);
    assert_eq!(c.sync.backoff_initial, Duration::from_millis(500));
    assert_eq!(c.sync.backoff_max, Duration::from_secs(60));
    assert_eq!(c.sync.schedule_window_days, 1);
    assert_eq!(c.flow.name_prefix_len, 3);
    assert_eq!(c.flow.max_failed_lookups, 3);
    assert_eq!(c.flow.demographics_skip_days, 7);
    assert_eq!(c.flow.idle_warning, Duration::from_secs(45));
    assert_eq!(c.flow.idle_reset, Duration::from_secs(60));
    assert_eq!(c.flow.done_return, Duration::from_secs(10));
    assert_eq!(c.flow.help_reset, Duration::from_secs(300));
    assert_eq!(c.payment.self_pay_cents, None);
    assert!(!c.display.clock_24h);
    assert_eq!(c.rules, RulePolicy::default());
    assert_eq!(c.payment.currency, Currency::USD);
    assert_eq!(c.payment.pay_on_phone, None);
    assert!(!c.payment.allow_bill_later);
    assert_eq!(c.throttle.free_misses_per_minute, 5);
    assert_eq!(c.display.backend, DisplayBackend::WinitSoftware);
    assert_eq!(c.display.rotation, Rotation::Deg0);
    assert!(c.display.hide_cursor);
    assert_eq!((c.display.width, c.display.height), (1080, 1920));

    let flow = c.flow_settings();
    assert_eq!(flow.kiosk_location, LocationId::from("main"));
    assert_eq!(flow.name_prefix_len, 3);
    assert!(
        !flow.allow_pay_on_phone,
        "no payment link, so no phone payment"
    );
    assert!(!flow.allow_bill_later);
}

#[test]
fn a_minimal_server_config_takes_every_default() {
    let c = server(ONE_CLINIC);
    assert_eq!(c.server.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(c.server.data_dir, Path::new("/var/lib/clinic-server"));
    assert_eq!(c.server.public_url, None);
    assert_eq!(c.server.max_body_bytes, 1024 * 1024);
    assert_eq!(c.server.max_events_per_batch, 500);
    assert_eq!(c.server.staff_session, chrono::Duration::hours(12));
    assert_eq!(
        c.server.pass_expiry_after_start,
        chrono::Duration::hours(12)
    );
    assert_eq!(c.server.offline_after_missed_heartbeats, 2);
    assert_eq!(c.server.heartbeat_every, Duration::from_secs(60));
    assert_eq!(c.tls, None);
    let clinic = &c.clinics[0];
    assert_eq!(clinic.time_zone, chrono_tz::America::Chicago);
    assert_eq!(clinic.currency, Currency::USD);
    assert_eq!(clinic.locations, [LocationId::from("main")]);
    assert_eq!(clinic.clinic().name, "North");
}

#[test]
fn set_values_are_typed() {
    let c = kiosk(
        "[kiosk]\nname = \"North entrance\"\nlocation_id = \"annex\"\ndefault_language = \"es\"\n\
         [server]\nurl = \"https://checkin.example.org/base/\"\n\
         [rules]\ntoo_early = \"flag\"\nlate_after_minutes = 5\n\
         [payment]\ncurrency = \"eur\"\npay_on_phone_url = \"https://pay.example.org/p/{reference}\"\n\
         [display]\nbackend = \"linuxkms-software\"\nrotation = 270\n",
    );
    assert_eq!(c.kiosk.default_language, Language::Es);
    assert_eq!(
        c.server.url.as_ref().map(|u| u.as_str()),
        Some("https://checkin.example.org/base/")
    );
    assert_eq!(c.rules.too_early, RuleAction::Flag);
    assert_eq!(c.rules.late_after, chrono::Duration::minutes(5));
    assert_eq!(c.payment.currency.code(), "EUR");
    let link = c.payment.pay_on_phone.as_ref().map(|t| t.render("R-1"));
    assert_eq!(link.as_deref(), Some("https://pay.example.org/p/R-1"));
    assert!(c.flow_settings().allow_pay_on_phone);
    assert_eq!(c.display.backend, DisplayBackend::LinuxKmsSoftware);
    assert_eq!(c.display.rotation.degrees(), 270);
    assert_eq!(c.flow_settings().kiosk_location, LocationId::from("annex"));
}

#[test]
fn the_journey_keys_are_typed_and_checked() {
    let c = kiosk(
        "[kiosk]\nname = \"Lobby 1\"\n[flow]\nhelp_reset_secs = 600\n\
         [payment]\nself_pay_cents = 15000\n[display]\ntime_format = \"24h\"\n",
    );
    assert_eq!(c.flow.help_reset, Duration::from_secs(600));
    assert_eq!(c.payment.self_pay_cents, Some(15_000));
    assert!(c.display.clock_24h);
    // A longer ordinary reset wins over a shorter help reset.
    let c = kiosk("[kiosk]\nname = \"Lobby 1\"\n[flow]\nidle_reset_secs = 900\n");
    assert_eq!(c.flow.help_reset, Duration::from_secs(900));
    for (text, key) in [
        ("[payment]\nself_pay_cents = -1\n", "payment.self_pay_cents"),
        (
            "[display]\ntime_format = \"12-hour\"\n",
            "display.time_format",
        ),
        ("[flow]\nhelp_reset_secs = 5\n", "flow.help_reset_secs"),
    ] {
        let e = kiosk_error(&format!("[kiosk]\nname = \"Lobby 1\"\n{text}"));
        assert_contains(&e.to_string(), &format!("`{key}`"));
    }
}

#[test]
fn the_demo_configs_match_their_file_equivalents() {
    let demo = KioskConfig::demo(PathBuf::from("/tmp/kiosk-demo"));
    let mut parsed = kiosk(
        "[kiosk]\nname = \"Demo kiosk\"\ndata_dir = \"/tmp/kiosk-demo\"\n\
         [payment]\nallow_bill_later = true\n",
    );
    assert!(demo.payment.pay_on_phone.is_some());
    parsed.source = None;
    parsed.payment.pay_on_phone = demo.payment.pay_on_phone.clone();
    assert_eq!(demo, parsed);

    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let demo = ServerConfig::demo(PathBuf::from("/tmp/server-demo"), listen);
    assert_eq!(demo.server.listen, listen);
    assert_eq!(demo.server.data_dir, Path::new("/tmp/server-demo"));
    assert_eq!(demo.clinics.len(), 1);
    assert_eq!(demo.clinics[0].locations, [LocationId::from("main")]);
}

#[test]
fn summaries_name_the_essentials() {
    let c = kiosk("[kiosk]\nname = \"Lobby 1\"\n[server]\nurl = \"https://checkin.example.org\"\n");
    let s = c.summary();
    assert_contains(&s, KIOSK_FILE);
    assert_contains(&s, "kiosk \"Lobby 1\" at location main");
    assert_contains(&s, "https://checkin.example.org/");
    assert_contains(&s, "warning at 45s, reset at 60s");

    let s = server(ONE_CLINIC).summary();
    assert_contains(&s, "listening on 127.0.0.1:8080");
    assert_contains(
        &s,
        "clinic north \"North\": America/Chicago, USD, locations main",
    );
}

// --- Stage one: syntax, unknown keys, wrong types -------------------------

#[test]
fn bad_toml_is_reported_with_its_line_and_column() {
    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert_contains(&err.to_string(), "/etc/checkin-kiosk/kiosk.toml:2:");
    assert_contains(&err.to_string(), "invalid TOML");

    let err = kiosk_error("[kiosk]\nname = \"a\"\nname = \"b\"\n");
    assert_contains(
        &err.to_string(),
        "kiosk.toml:3:1: invalid TOML: duplicate key `name`",
    );
}

#[test]
fn an_unknown_key_suggests_the_nearest_valid_one() {
    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\"\n\n[flow]\nidle_warnin_secs = 30\n");
    assert_eq!(
        err.to_string(),
        "/etc/checkin-kiosk/kiosk.toml:5:1: unknown key `idle_warnin_secs` in [flow]; \
         did you mean `idle_warning_secs`?"
    );
    assert_eq!(err.suggestion(), Some("idle_warning_secs"));
    match err {
        ConfigError::UnknownKey {
            table, key, valid, ..
        } => {
            assert_eq!(table, "flow");
            assert_eq!(key, "idle_warnin_secs");
            assert!(valid.iter().any(|k| k == "idle_reset_secs"), "{valid:?}");
        }
        other => panic!("wrong variant: {other:?}"),
    }
}

#[test]
fn unknown_tables_and_misplaced_keys_are_explained() {
    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\"\n[flwo]\nidle_warning_secs = 30\n");
    assert_contains(
        &err.to_string(),
        "kiosk.toml:3:2: unknown key `flwo` at the top level; did you mean `flow`?",
    );

    // Nothing close: list what the table does take.
    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\"\ncurrency = \"USD\"\n");
    assert_contains(
        &err.to_string(),
        "unknown key `currency` in [kiosk]; valid keys here are `name`, `location_id`",
    );

    let err = server_error(&format!(
        "{ONE_CLINIC}\n[[clinic]]\nid = \"south\"\ntimezone = \"UTC\"\n"
    ));
    assert_contains(
        &err.to_string(),
        "clinic-server.toml:8:1: unknown key `timezone` in [[clinic]] entry 2; did you mean `time_zone`?",
    );
}

#[test]
fn a_wrong_type_names_the_key_the_line_and_what_was_expected() {
    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\"\n\n[flow]\nidle_warning_secs = \"45\"\n");
    assert!(matches!(err, ConfigError::WrongType { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "/etc/checkin-kiosk/kiosk.toml:5:21: `flow.idle_warning_secs`: \
         expected a whole number, found the string \"45\""
    );

    let err = kiosk_error("[kiosk]\nname = \"Lobby 1\"\nfullscreen = \"yes\"\n");
    assert_contains(
        &err.to_string(),
        "kiosk.toml:3:14: `kiosk.fullscreen`: expected `true` or `false`, found the string \"yes\"",
    );

    let err = kiosk_error("flow = 3\n");
    assert_contains(
        &err.to_string(),
        "kiosk.toml:1:8: `flow`: expected a table, written [flow], found a whole number",
    );

    let err = server_error(&format!("{ONE_CLINIC}locations = [\"main\", 2]\n"));
    assert_contains(
        &err.to_string(),
        "clinic-server.toml:5:22: `clinic[0].locations[1]`: expected a string in quotes, found the whole number 2",
    );
}

#[test]
fn tables_of_the_wrong_shape_are_explained() {
    let err = kiosk_error("[[kiosk]]\nname = \"Lobby 1\"\n");
    assert_eq!(
        err.to_string(),
        "/etc/checkin-kiosk/kiosk.toml:1:1: `kiosk`: expected a table, written [kiosk], \
         found an array, as if written [[kiosk]]"
    );
    let err = server_error("[clinic]\nid = \"north\"\n");
    assert_contains(
        &err.to_string(),
        "clinic-server.toml:1:1: `clinic`: expected one or more tables, each written [[clinic]], \
         found a table written [clinic]",
    );
    let err = server_error("clinic = [\"north\"]\n");
    assert_contains(&err.to_string(), "found an array of other values");
    let err = kiosk_error("[kiosk]\nname = 1979-05-27\n");
    assert_contains(
        &err.to_string(),
        "kiosk.toml:2:8: `kiosk.name`: expected a string in quotes, found a date or time",
    );
    // An inline table is still a table.
    let c = server("clinic = [{ id = \"a\", name = \"A\", time_zone = \"UTC\" }]\n");
    assert_eq!(c.clinics[0].id.as_str(), "a");
}

// --- Stage two: missing and bad values ------------------------------------

#[test]
fn a_missing_required_key_is_named() {
    let err = kiosk_error("[kiosk]\nlocation_id = \"annex\"\n");
    assert_eq!(
        err.to_string(),
        "/etc/checkin-kiosk/kiosk.toml has 1 problem:\n  \
         /etc/checkin-kiosk/kiosk.toml:1:1: `kiosk.name`: missing required key; \
         expected the kiosk's name as IT sees it, such as \"Lobby 1\""
    );
    // With no [kiosk] table at all there is no line to point at.
    let err = kiosk_error("");
    assert_contains(
        &err.to_string(),
        "\n  /etc/checkin-kiosk/kiosk.toml: `kiosk.name`: missing required key",
    );

    let err = server_error("[server]\nlisten = \"127.0.0.1:9000\"\n");
    assert_contains(
        &err.to_string(),
        "`clinic`: missing required key; expected at least one [[clinic]]",
    );

    let err = server_error("[[clinic]]\nid = \"north\"\n");
    let text = err.to_string();
    assert_contains(
        &text,
        "clinic-server.toml:1:1: `clinic[0].name`: missing required key",
    );
    assert_contains(
        &text,
        "clinic-server.toml:1:1: `clinic[0].time_zone`: missing required key",
    );
}

#[test]
fn a_bad_choice_lists_the_choices_and_suggests_one() {
    let err = kiosk_error(
        "[kiosk]\nname = \"Lobby 1\"\n[rules]\ntoo_early = \"maybe\"\nlate = \"Flag\"\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "kiosk.toml:4:13: `rules.too_early`: expected \"stop\" or \"flag\", found \"maybe\"\n",
    );
    assert_contains(
        &text,
        "kiosk.toml:5:8: `rules.late`: expected \"stop\" or \"flag\", found \"Flag\"; did you mean \"flag\"?",
    );

    let err = kiosk_error(
        "[kiosk]\nname = \"L\"\ndefault_language = \"fr\"\n[display]\nbackend = \"linuxkms\"\nrotation = 45\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "`kiosk.default_language`: expected \"en\" or \"es\", found \"fr\"",
    );
    assert_contains(&text, "did you mean \"linuxkms-software\"?");
    assert_contains(
        &text,
        "`display.rotation`: expected 0, 90, 180 or 270 degrees, found 45",
    );
}

#[test]
fn plain_http_is_allowed_only_to_loopback_unless_allowed() {
    let with_url = |url: &str, insecure: bool| {
        format!(
            "[kiosk]\nname = \"Lobby 1\"\n[server]\nurl = \"{url}\"\nallow_insecure_http = {insecure}\n"
        )
    };
    for url in [
        "http://127.0.0.1:8080",
        "http://127.1.2.3/",
        "http://[::1]:8080/",
        "http://localhost:8080/",
        "https://checkin.example.org",
        "https://10.0.0.5:8443/",
    ] {
        let c = kiosk(&with_url(url, false));
        assert!(c.server.url.is_some(), "{url}");
    }
    let err = kiosk_error(&with_url("http://10.0.0.5:8080", false));
    assert_contains(
        &err.to_string(),
        "kiosk.toml:4:7: `server.url`: expected an https:// URL; plain http:// is allowed only to \
         127.0.0.1, ::1 or localhost (or with `server.allow_insecure_http = true` on a closed test \
         network), found \"http://10.0.0.5:8080\"",
    );
    let err = kiosk_error(&with_url("http://checkin.example.org", false));
    assert_contains(&err.to_string(), "plain http:// is allowed only to");
    let c = kiosk(&with_url("http://10.0.0.5:8080", true));
    assert_eq!(
        c.server.url.map(String::from).as_deref(),
        Some("http://10.0.0.5:8080/")
    );

    // The patient's phone never gets a plain-http payment link, flag or not.
    let err = kiosk_error(
        "[kiosk]\nname = \"L\"\n[server]\nallow_insecure_http = true\n\
         [payment]\npay_on_phone_url = \"http://pay.example.org/?ref={reference}\"\n",
    );
    assert_contains(
        &err.to_string(),
        "`payment.pay_on_phone_url`: expected an https:// URL",
    );
}

#[test]
fn idle_reset_must_come_after_the_idle_warning() {
    for reset in [45, 30] {
        let err = kiosk_error(&format!(
            "[kiosk]\nname = \"Lobby 1\"\n[flow]\nidle_warning_secs = 45\nidle_reset_secs = {reset}\n"
        ));
        assert_contains(
            &err.to_string(),
            &format!(
                "kiosk.toml:5:19: `flow.idle_reset_secs`: expected more seconds than \
                 `flow.idle_warning_secs` (45), so the warning shows before the reset; found {reset}"
            ),
        );
    }
    let c = kiosk(
        "[kiosk]\nname = \"Lobby 1\"\n[flow]\nidle_warning_secs = 45\nidle_reset_secs = 46\n",
    );
    assert_eq!(c.flow.idle_reset, Duration::from_secs(46));
}

#[test]
fn bad_urls_time_zones_and_currencies_are_explained() {
    let err = kiosk_error(
        "[kiosk]\nname = \"L\"\n[server]\nurl = \"checkin.example.org\"\n\
         [payment]\ncurrency = \"dollars\"\npay_on_phone_url = \"https://pay.example.org/\"\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "`server.url`: expected a URL such as \"https://clinic.example.org\", found \"checkin.example.org\"",
    );
    assert_contains(
        &text,
        "`payment.currency`: expected a three-letter ISO 4217 currency code such as \"USD\", found \"dollars\"",
    );
    assert_contains(
        &text,
        "`payment.pay_on_phone_url`: expected a URL containing {reference}",
    );

    let err = server_error(
        "[[clinic]]\nid = \"north\"\nname = \"N\"\ntime_zone = \"America/Chicgo\"\n\
         payment_link = \"https://pay.example.org/{ref}\"\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "clinic-server.toml:4:13: `clinic[0].time_zone`: expected an IANA time zone name such as \
         \"America/Chicago\", found \"America/Chicgo\"; did you mean \"America/Chicago\"?",
    );
    assert_contains(
        &text,
        "`clinic[0].payment_link`: expected a URL containing {reference}",
    );

    let err = kiosk_error(
        "[kiosk]\nname = \"L\"\n[server]\nurl = \"https://user:secret@checkin.example.org\"\n",
    );
    assert_contains(&err.to_string(), "without a user name or password");
    assert!(
        !err.to_string().contains("secret"),
        "the message must not repeat a password"
    );
}

#[test]
fn out_of_range_numbers_give_the_range() {
    let err = kiosk_error(
        "[kiosk]\nname = \"L\"\n[sync]\npush_batch_size = 501\nschedule_window_days = 0\n\
         backoff_initial_ms = 5000\nbackoff_max_secs = 2\n[flow]\nname_prefix_len = -1\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "`sync.push_batch_size`: expected a whole number of events from 1 to 500, found 501",
    );
    assert_contains(
        &text,
        "`sync.schedule_window_days`: expected a whole number of days from 1 to 7, found 0",
    );
    assert_contains(
        &text,
        "`sync.backoff_max_secs`: expected at least `sync.backoff_initial_ms` (5000 ms), found 2 s",
    );
    assert_contains(
        &text,
        "`flow.name_prefix_len`: expected a whole number of letters from 1 to 10, found -1",
    );
}

#[test]
fn server_values_are_checked() {
    let err = server_error(&format!(
        "[server]\nlisten = \"localhost:8080\"\npublic_url = \"ftp://x.example.org\"\n\
         [tls]\ncert_file = \"cert.pem\"\n{ONE_CLINIC}locations = []\n"
    ));
    let text = err.to_string();
    assert_contains(
        &text,
        "`server.listen`: expected an IP address and port such as \"127.0.0.1:8080\"",
    );
    assert_contains(
        &text,
        "`server.public_url`: expected an https:// URL with a host name",
    );
    assert_contains(
        &text,
        "clinic-server.toml:4:1: `tls.key_file`: missing required key; expected the PEM private key",
    );
    assert_contains(
        &text,
        "`clinic[0].locations`: expected at least one location id",
    );

    let err = server_error(
        "[[clinic]]\nid = \"North Clinic\"\nname = \" \"\ntime_zone = \"UTC\"\nlocations = [\"a\", \"a\"]\n",
    );
    let text = err.to_string();
    assert_contains(
        &text,
        "`clinic[0].id`: expected 1 to 64 lower-case letters, digits, `-` or `_`, found \"North Clinic\"",
    );
    assert_contains(
        &text,
        "`clinic[0].name`: expected the clinic's name as patients know it, found an empty string",
    );
    assert_contains(
        &text,
        "`clinic[0].locations[1]`: duplicate location id \"a\"",
    );
}

#[test]
fn duplicate_clinic_ids_are_refused() {
    let err = server_error(&format!("{ONE_CLINIC}\n{ONE_CLINIC}"));
    assert_eq!(
        err.to_string(),
        "/etc/clinic-server/clinic-server.toml has 1 problem:\n  \
         /etc/clinic-server/clinic-server.toml:7:6: `clinic[1].id`: duplicate clinic id \"north\"; \
         each [[clinic]] needs its own id"
    );
}

#[test]
fn several_problems_are_reported_together_in_file_order() {
    let err = kiosk_error(
        "[kiosk]\n\
         default_language = \"de\"\n\
         [server]\n\
         url = \"http://192.168.1.10\"\n\
         [flow]\n\
         idle_warning_secs = 60\n\
         idle_reset_secs = 30\n\
         [payment]\n\
         currency = \"US\"\n",
    );
    let problems = match &err {
        ConfigError::Invalid { problems, .. } => problems.clone(),
        other => panic!("expected Invalid, got {other}"),
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "kiosk.name",
            "kiosk.default_language",
            "server.url",
            "flow.idle_reset_secs",
            "payment.currency",
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/checkin-kiosk/kiosk.toml has 5 problems:\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 6, "{text}");
    assert_contains(&text, "kiosk.toml:2:20: `kiosk.default_language`");
    assert_contains(&text, "kiosk.toml:4:7: `server.url`");
    assert_contains(&text, "kiosk.toml:7:19: `flow.idle_reset_secs`");
    assert_contains(&text, "kiosk.toml:9:12: `payment.currency`");
    assert_contains(&text, "kiosk.toml:1:1: `kiosk.name`: missing required key");
}

// --- [database] -----------------------------------------------------------

#[test]
fn a_database_table_is_checked_and_its_password_refused() {
    let ok = server(&format!(
        "[database]\nurl = \"postgres://checkin@db.example.org/checkin?sslmode=verify-full\"\npassword_file = \"db-password\"\npool_size = 4\n{ONE_CLINIC}"
    ));
    let db = ok.database.expect("a database");
    assert_eq!(db.url.as_str(), "postgres://checkin@db.example.org/checkin");
    assert_eq!(db.tls, checkin_kiosk::config::DbTls::Verify);
    assert_eq!(db.pool_size, 4);
    assert!(db.password_file.expect("a file").is_absolute());
    assert!(server(ONE_CLINIC).database.is_none());

    let err = server_error(&format!(
        "[database]\nurl = \"postgres://checkin:hunter2@db.example.org/checkin\"\n{ONE_CLINIC}"
    ))
    .to_string();
    assert!(err.contains("`database.url`"), "{err}");
    assert!(err.contains("holds a password"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is not echoed: {err}"
    );

    let err = server_error(&format!("[database]\npool_size = 0\n{ONE_CLINIC}")).to_string();
    assert!(
        err.contains("`database.url`: missing required key"),
        "{err}"
    );
    assert!(err.contains("`database.pool_size`"), "{err}");
}
