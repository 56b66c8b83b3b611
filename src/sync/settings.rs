//! [`SyncSettings`]: how the kiosk reaches its clinic server and how often
//! it syncs, taken from the kiosk's config and checked once more before any
//! request is made.

use std::path::PathBuf;
use std::time::Duration;

use url::{Host, Url};

use super::SyncError;
use crate::config::KioskConfig;

/// How long the worker leaves the server alone after it refused the
/// kiosk's token (401) or clinic (403): retrying sooner cannot help, and a
/// fleet of revoked kiosks must not hammer the server.
pub const BLOCKED_RETRY: Duration = Duration::from_secs(5 * 60);

/// How often the worker looks at the outbox even without a notification,
/// so an event committed without one still goes out.
pub const PUSH_EVERY: Duration = Duration::from_secs(5);

/// Everything the sync worker and the enrollment need to talk to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// The clinic server's base URL, the one the kiosk enrolled with; every
    /// endpoint is resolved against it.
    pub server_url: Url,
    /// A PEM file of the clinic's own CA: when set, only it is trusted, so
    /// a certificate from any public CA is refused for this server.
    pub ca_file: Option<PathBuf>,
    /// Plain `http://` to a non-loopback host is refused unless this is set,
    /// since it would put PHI on the wire unencrypted.
    pub allow_insecure_http: bool,
    /// How long to wait for a connection before counting the server as
    /// unreachable.
    pub connect_timeout: Duration,
    /// How long one whole request may take before it counts as failed (and
    /// is retried, which the server's idempotent ingest makes safe).
    pub request_timeout: Duration,
    /// How often to pull schedule changes since the stored cursor.
    pub schedule_pull_every: Duration,
    /// How often to report version and outbox state to the server.
    pub heartbeat_every: Duration,
    /// How often to look at the outbox without a notification; a safety
    /// net, since every local commit notifies the worker.
    pub push_every: Duration,
    /// The most events sent in one request.
    pub push_batch_size: usize,
    /// The first retry delay after a failed exchange.
    pub backoff_initial: Duration,
    /// The longest retry delay, however many exchanges failed in a row.
    pub backoff_max: Duration,
    /// The fixed wait after the server refused the token or the clinic.
    pub blocked_retry: Duration,
    /// The app version reported at enrollment and in each heartbeat, for the
    /// fleet view.
    pub app_version: String,
}

impl SyncSettings {
    /// The settings of `cfg`'s `[server]` and `[sync]` tables, for the
    /// server at `server_url` (the enrollment's URL once enrolled).
    pub fn from_config(cfg: &KioskConfig, server_url: Url) -> Self {
        let link = &cfg.server;
        let sync = &cfg.sync;
        Self {
            server_url,
            ca_file: link.ca_file.clone(),
            allow_insecure_http: link.allow_insecure_http,
            connect_timeout: link.connect_timeout,
            request_timeout: link.request_timeout,
            schedule_pull_every: sync.schedule_pull_every,
            heartbeat_every: sync.heartbeat_every,
            push_every: PUSH_EVERY,
            push_batch_size: sync.push_batch_size,
            backoff_initial: sync.backoff_initial,
            backoff_max: sync.backoff_max,
            blocked_retry: BLOCKED_RETRY,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Checks what the config checked already, once more, because settings
    /// can also be built by hand: an http(s) URL with a host and no
    /// credentials, plain http only to loopback unless allowed, and
    /// non-zero timings.
    pub fn check(&self) -> Result<(), SyncError> {
        let url = &self.server_url;
        let bad = |reason| SyncError::BadServerUrl {
            url: url.to_string(),
            reason,
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("expected an https:// URL"));
        }
        if !url.has_host() {
            return Err(bad("it has no host name"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials do not belong in the URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("expected a base URL without `?` or `#`"));
        }
        if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(url) {
            return Err(SyncError::InsecureHttp {
                url: url.to_string(),
            });
        }
        let timings = [
            ("server.connect_timeout_secs", self.connect_timeout),
            ("server.request_timeout_secs", self.request_timeout),
            ("sync.schedule_pull_secs", self.schedule_pull_every),
            ("sync.heartbeat_secs", self.heartbeat_every),
            ("push interval", self.push_every),
            ("sync.backoff_initial_ms", self.backoff_initial),
            ("sync.backoff_max_secs", self.backoff_max),
            ("blocked retry", self.blocked_retry),
        ];
        for (name, value) in timings {
            if value.is_zero() {
                return Err(SyncError::BadSetting {
                    name,
                    reason: "must be more than zero",
                });
            }
        }
        if self.push_batch_size == 0 {
            return Err(SyncError::BadSetting {
                name: "sync.push_batch_size",
                reason: "must be at least 1",
            });
        }
        let version = self.app_version.trim();
        if version.is_empty() || version.len() > 64 {
            return Err(SyncError::BadSetting {
                name: "app version",
                reason: "must be 1 to 64 characters",
            });
        }
        Ok(())
    }

    /// The absolute URL of `path` (relative, such as `api/v1/kiosk/events`)
    /// under the server URL, which may itself have a path prefix.
    pub(super) fn endpoint(&self, path: &str) -> Url {
        let mut base = self.server_url.clone();
        if !base.path().ends_with('/') {
            let with_slash = format!("{}/", base.path());
            base.set_path(&with_slash);
        }
        // `path` is one of this module's constants, so joining cannot fail;
        // fall back to the base rather than panic.
        base.join(path).unwrap_or(base)
    }
}

/// True when `url` names this machine: 127.0.0.0/8, `::1` or `localhost`.
/// (The config has the same rule; it is private to `config`.)
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> SyncSettings {
        let cfg = KioskConfig::demo(PathBuf::from("/tmp/kiosk"));
        SyncSettings::from_config(&cfg, Url::parse(url).unwrap())
    }

    #[test]
    fn plain_http_goes_only_to_loopback_unless_allowed() {
        assert!(settings("http://127.0.0.1:8080").check().is_ok());
        assert!(settings("http://[::1]:8080").check().is_ok());
        assert!(settings("http://localhost/").check().is_ok());
        assert!(settings("https://clinic.example.org").check().is_ok());
        let err = settings("http://10.0.0.5:8080").check().unwrap_err();
        assert!(matches!(err, SyncError::InsecureHttp { .. }), "{err}");
        assert!(err.to_string().contains("allow_insecure_http"), "{err}");
        let mut allowed = settings("http://10.0.0.5:8080");
        allowed.allow_insecure_http = true;
        assert!(allowed.check().is_ok());
    }

    #[test]
    fn unusable_urls_and_timings_are_refused() {
        for url in [
            "ftp://clinic.example.org",
            "https://user:pw@clinic.example.org",
            "https://clinic.example.org/?x=1",
        ] {
            let err = settings(url).check().unwrap_err();
            assert!(
                matches!(err, SyncError::BadServerUrl { .. }),
                "{url}: {err}"
            );
        }
        let mut s = settings("https://clinic.example.org");
        s.request_timeout = Duration::ZERO;
        assert!(matches!(s.check(), Err(SyncError::BadSetting { .. })));
        let mut s = settings("https://clinic.example.org");
        s.push_batch_size = 0;
        assert!(matches!(s.check(), Err(SyncError::BadSetting { .. })));
    }

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let s = settings("https://clinic.example.org/checkin");
        assert_eq!(
            s.endpoint("api/v1/kiosk/events").as_str(),
            "https://clinic.example.org/checkin/api/v1/kiosk/events"
        );
        let s = settings("http://127.0.0.1:8080");
        assert_eq!(
            s.endpoint("healthz").as_str(),
            "http://127.0.0.1:8080/healthz"
        );
    }

    #[test]
    fn the_config_carries_over() {
        let cfg = KioskConfig::demo(PathBuf::from("/tmp/kiosk"));
        let s = SyncSettings::from_config(&cfg, Url::parse("https://c.example.org").unwrap());
        assert_eq!(s.schedule_pull_every, cfg.sync.schedule_pull_every);
        assert_eq!(s.heartbeat_every, cfg.sync.heartbeat_every);
        assert_eq!(s.push_batch_size, cfg.sync.push_batch_size);
        assert_eq!(s.backoff_max, cfg.sync.backoff_max);
        assert_eq!(s.request_timeout, cfg.server.request_timeout);
        assert_eq!(s.blocked_retry, BLOCKED_RETRY);
    }
}
