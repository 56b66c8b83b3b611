//! Stage two of loading a configuration: turning raw values into typed ones
//! (durations, URLs, time zones, currencies, resolved paths, choices) while
//! collecting every problem instead of stopping at the first.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use url::{Host, Url};

use super::LinkTemplate;
use super::document::Document;
use super::error::{ConfigError, Problem};
use crate::domain::{Currency, LocationId};

/// The longest id, name or location id a config may hold.
const MAX_NAME_CHARS: usize = 64;

/// The valid word closest to `word`, when one is close enough to be a
/// likely typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// True when `url` names this machine: 127.0.0.0/8, `::1` or `localhost`.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether a URL may use plain `http://`.
#[derive(Debug, Clone, Copy)]
pub(super) enum PlainHttp {
    /// Anywhere: the URL is only printed, never fetched by the kiosk.
    Allowed,
    /// Only to a loopback host; `hint` says how to allow it elsewhere, if
    /// anything can.
    LoopbackOnly {
        /// Appended to the message, such as "or set `x = true`".
        hint: &'static str,
    },
}

/// Collects the problems found while validating one file. Every check
/// returns a usable value even when it records a problem (the default, or a
/// placeholder), so validation carries on and reports everything at once;
/// a caller must not use the result when [`Checker::into_problems`] is not
/// empty.
pub(super) struct Checker<'d> {
    /// The parsed file, to place problems at a line and column; `None` when
    /// validating built-in settings such as the demo's.
    doc: Option<&'d Document>,
    /// Relative paths in the file are resolved against this directory.
    base_dir: PathBuf,
    /// Every problem so far.
    problems: Vec<Problem>,
}

impl<'d> Checker<'d> {
    /// A checker for `doc`, resolving relative paths against `base_dir`.
    pub(super) fn new(doc: Option<&'d Document>, base_dir: PathBuf) -> Self {
        Self {
            doc,
            base_dir,
            problems: Vec::new(),
        }
    }

    /// Records a problem with the value of `key`.
    pub(super) fn problem(&mut self, key: &str, message: impl Into<String>) {
        let location = self.doc.and_then(|d| d.value_location(key));
        self.problems.push(Problem {
            key: key.to_string(),
            location,
            message: message.into(),
        });
    }

    /// How many problems were recorded so far.
    pub(super) fn problem_count(&self) -> usize {
        self.problems.len()
    }

    /// Records that the required `key` is absent; `expected` says what it
    /// should hold.
    pub(super) fn missing(&mut self, key: &str, expected: &str) {
        let location = self.doc.and_then(|d| d.missing_location(key));
        self.problems.push(Problem {
            key: key.to_string(),
            location,
            message: format!("missing required key; expected {expected}"),
        });
    }

    /// Every problem, those with a location first and in file order.
    pub(super) fn into_problems(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| {
            p.location
                .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
        });
        self.problems
    }

    /// Turns the collected problems, if any, into [`ConfigError::Invalid`].
    pub(super) fn finish<T>(self, value: T, file: &Path) -> Result<T, ConfigError> {
        let problems = self.into_problems();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems,
            })
        }
    }

    /// A whole number within `range`; `unit` names what it counts ("" for
    /// plain numbers). Out of range gives the range's start.
    pub(super) fn whole<T>(
        &mut self,
        key: &str,
        value: i64,
        range: RangeInclusive<i64>,
        unit: &str,
    ) -> T
    where
        T: TryFrom<i64> + Default,
    {
        if !range.contains(&value) {
            let what = if unit.is_empty() {
                "a whole number".to_string()
            } else {
                format!("a whole number of {unit}")
            };
            let (lo, hi) = (range.start(), range.end());
            let bounds = if *hi == i64::MAX {
                format!("{lo} or more")
            } else {
                format!("from {lo} to {hi}")
            };
            self.problem(key, format!("expected {what} {bounds}, found {value}"));
        }
        let value = value.clamp(*range.start(), *range.end());
        T::try_from(value).unwrap_or_default()
    }

    /// A number of seconds within `range`.
    pub(super) fn secs(
        &mut self,
        key: &str,
        value: i64,
        range: RangeInclusive<i64>,
    ) -> std::time::Duration {
        std::time::Duration::from_secs(self.whole(key, value, range, "seconds"))
    }

    /// One of the words in `options`, each naming a value; anything else is
    /// a problem, with the nearest word suggested, and gives `fallback`.
    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &str,
        value: &str,
        options: &[(&str, T)],
        fallback: T,
    ) -> T {
        if let Some((_, v)) = options.iter().find(|(word, _)| *word == value) {
            return *v;
        }
        let words: Vec<String> = options.iter().map(|(w, _)| format!("\"{w}\"")).collect();
        let listed = match words.as_slice() {
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => String::from("nothing"),
        };
        let mut message = format!("expected {listed}, found \"{value}\"");
        let near = closest(&value.to_ascii_lowercase(), options.iter().map(|(w, _)| *w));
        if let Some(near) = near {
            message.push_str(&format!("; did you mean \"{near}\"?"));
        }
        self.problem(key, message);
        fallback
    }

    /// A required, non-blank name of at most 64 characters with no control
    /// characters; `expected` describes it for a missing key.
    pub(super) fn name(&mut self, key: &str, value: Option<&str>, expected: &str) -> String {
        let Some(value) = value else {
            self.missing(key, expected);
            return String::new();
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.problem(key, format!("expected {expected}, found an empty string"));
        } else if trimmed.chars().count() > MAX_NAME_CHARS {
            self.problem(key, format!("expected at most {MAX_NAME_CHARS} characters"));
        } else if trimmed.chars().any(char::is_control) {
            self.problem(
                key,
                "expected text without control characters such as tabs or newlines",
            );
        }
        trimmed.to_string()
    }

    /// An identifier of lower-case letters, digits, `-` and `_`.
    pub(super) fn identifier(&mut self, key: &str, value: &str) -> String {
        let ok = !value.is_empty()
            && value.len() <= MAX_NAME_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.problem(
                key,
                format!(
                    "expected 1 to {MAX_NAME_CHARS} lower-case letters, digits, `-` or `_`, found \"{value}\""
                ),
            );
        }
        value.to_string()
    }

    /// A location id, as the schedule source writes it: not blank, no
    /// spaces or control characters, at most 64 characters.
    pub(super) fn location_id(&mut self, key: &str, value: &str) -> LocationId {
        let ok = !value.is_empty()
            && value.chars().count() <= MAX_NAME_CHARS
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            self.problem(
                key,
                format!(
                    "expected a location id of 1 to {MAX_NAME_CHARS} characters without spaces, found \"{value}\""
                ),
            );
        }
        LocationId(value.to_string())
    }

    /// An ISO 4217 currency code.
    pub(super) fn currency(&mut self, key: &str, value: &str) -> Currency {
        Currency::from_str(value).unwrap_or_else(|_| {
            self.problem(
                key,
                format!("expected a three-letter ISO 4217 currency code such as \"USD\", found \"{value}\""),
            );
            Currency::USD
        })
    }

    /// An IANA time zone name such as `America/Chicago`.
    pub(super) fn time_zone(&mut self, key: &str, value: &str) -> Tz {
        if let Ok(tz) = Tz::from_str(value) {
            return tz;
        }
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let near = names
            .clone()
            .find(|name| name.eq_ignore_ascii_case(value))
            .or_else(|| closest(value, names));
        let mut message = format!(
            "expected an IANA time zone name such as \"America/Chicago\", found \"{value}\""
        );
        if let Some(near) = near {
            message.push_str(&format!("; did you mean \"{near}\"?"));
        }
        self.problem(key, message);
        Tz::UTC
    }

    /// A path, resolved against the config file's directory when relative.
    pub(super) fn path(&mut self, key: &str, value: &Path) -> PathBuf {
        if value.as_os_str().is_empty() {
            self.problem(key, "expected a path, found an empty string");
        }
        self.base_dir.join(value)
    }

    /// An `ip:port` socket address.
    pub(super) fn socket_addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        match SocketAddr::from_str(value) {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.problem(
                    key,
                    format!(
                        "expected an IP address and port such as \"127.0.0.1:8080\" or \"[::]:8443\" (not a host name), found \"{value}\""
                    ),
                );
                None
            }
        }
    }

    /// A bare IP address, v4 or v6.
    pub(super) fn ip_addr(&mut self, key: &str, value: &str) -> Option<std::net::IpAddr> {
        match std::net::IpAddr::from_str(value) {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.problem(
                    key,
                    format!(
                        "expected an IP address such as \"127.0.0.1\" or \"::1\" (not a host name or a network), found \"{value}\""
                    ),
                );
                None
            }
        }
    }

    /// An `http(s)` base URL with a host, no user name or password, no query
    /// and no fragment.
    pub(super) fn base_url(&mut self, key: &str, value: &str, plain: PlainHttp) -> Option<Url> {
        let url = self.web_url(key, value, value, plain)?;
        if url.query().is_some() || url.fragment().is_some() {
            self.problem(
                key,
                format!("expected a base URL without `?` or `#`, found \"{value}\""),
            );
            return None;
        }
        Some(url)
    }

    /// A payment link template: an `https` URL (or `http` to a loopback
    /// host) with a `{reference}` placeholder and no other.
    pub(super) fn link_template(&mut self, key: &str, value: &str) -> Option<LinkTemplate> {
        if !value.contains(LinkTemplate::PLACEHOLDER) {
            self.problem(
                key,
                format!(
                    "expected a URL containing {}, such as \"https://pay.example.com/p?ref={}\", found \"{value}\"",
                    LinkTemplate::PLACEHOLDER,
                    LinkTemplate::PLACEHOLDER
                ),
            );
            return None;
        }
        let sample = value.replace(LinkTemplate::PLACEHOLDER, "REF123");
        if sample.contains(['{', '}']) {
            self.problem(
                key,
                format!(
                    "expected {} as the only placeholder, found \"{value}\"",
                    LinkTemplate::PLACEHOLDER
                ),
            );
            return None;
        }
        let plain = PlainHttp::LoopbackOnly { hint: "" };
        self.web_url(key, &sample, value, plain)?;
        Some(LinkTemplate(value.to_string()))
    }

    /// Parses `text` as an `http` or `https` URL with a host and no
    /// credentials; `shown` is what to quote in messages.
    fn web_url(&mut self, key: &str, text: &str, shown: &str, plain: PlainHttp) -> Option<Url> {
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(e) => {
                self.problem(
                    key,
                    format!("expected a URL such as \"https://clinic.example.org\", found \"{shown}\" ({e})"),
                );
                return None;
            }
        };
        if !url.has_host() || !matches!(url.scheme(), "http" | "https") {
            self.problem(
                key,
                format!("expected an https:// URL with a host name, found \"{shown}\""),
            );
            return None;
        }
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                key,
                "expected a URL without a user name or password; credentials do not belong in the config file",
            );
            return None;
        }
        if url.scheme() == "http"
            && let PlainHttp::LoopbackOnly { hint } = plain
            && !is_loopback(&url)
        {
            self.problem(
                key,
                format!(
                    "expected an https:// URL; plain http:// is allowed only to 127.0.0.1, ::1 or localhost{hint}, found \"{shown}\""
                ),
            );
            return None;
        }
        Some(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let keys = ["idle_warning_secs", "idle_reset_secs", "done_return_secs"];
        assert_eq!(closest("idle_warnin_secs", keys), Some("idle_warning_secs"));
        assert_eq!(closest("idle_reset", keys), Some("idle_reset_secs"));
        assert_eq!(closest("currency", keys), None);
        assert_eq!(closest("flwo", ["kiosk", "flow", "sync"]), Some("flow"));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        let loopback = |s: &str| Url::parse(s).map(|u| is_loopback(&u)).unwrap_or(false);
        assert!(loopback("http://127.0.0.1:8080/"));
        assert!(loopback("http://127.8.9.10/"));
        assert!(loopback("http://[::1]:8080/"));
        assert!(loopback("http://LOCALHOST/"));
        assert!(!loopback("http://10.0.0.5/"));
        assert!(!loopback("http://localhost.example.com/"));
        assert!(!loopback("http://[::2]/"));
    }

    #[test]
    fn every_check_records_a_problem_and_still_returns_a_value() {
        let mut c = Checker::new(None, PathBuf::from("/etc/kiosk"));
        let n: u32 = c.whole("a", 0, 1..=10, "");
        assert_eq!(n, 1);
        assert_eq!(c.choice("b", "flagg", &[("stop", 1), ("flag", 2)], 0), 0);
        assert_eq!(c.currency("c", "dollars"), Currency::USD);
        assert_eq!(c.time_zone("d", "america/chicago"), Tz::UTC);
        assert_eq!(
            c.path("e", Path::new("data")),
            PathBuf::from("/etc/kiosk/data")
        );
        assert_eq!(c.path("f", Path::new("/abs")), PathBuf::from("/abs"));
        let problems = c.into_problems();
        let messages: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert_eq!(
            messages[0],
            "`a`: expected a whole number from 1 to 10, found 0"
        );
        assert!(
            messages[1].ends_with("did you mean \"flag\"?"),
            "{}",
            messages[1]
        );
        assert!(messages[2].contains("ISO 4217"), "{}", messages[2]);
        assert!(
            messages[3].contains("did you mean \"America/Chicago\"?"),
            "{}",
            messages[3]
        );
    }
}
