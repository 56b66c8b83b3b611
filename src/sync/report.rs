//! `kiosk status`: the enrollment, the last sync, the outbox and whether the
//! server answers right now, for IT at the device. No PHI, no token.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use url::Url;

use super::client::{ExchangeError, ServerClient};
use super::enroll::run_blocking;
use super::{SyncError, SyncSettings, store_paths};
use crate::config::KioskConfig;
use crate::protocol::Heartbeat;
use crate::store::{OutboxStats, Store};

/// The longest the status command waits for the server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What `kiosk status` prints.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Where the store lives, so IT knows which device state this is.
    pub data_dir: PathBuf,
    /// Who the kiosk is; `None` before enrollment.
    pub enrollment: Option<EnrolledAs>,
    /// The last completed push or pull.
    pub last_sync: Option<DateTime<Utc>>,
    /// Undelivered and rejected events.
    pub outbox: OutboxStats,
    /// What one quick request to the server showed.
    pub server: ServerCheck,
}

/// The enrollment, without its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledAs {
    /// The kiosk's id on the server.
    pub kiosk_id: String,
    /// Its clinic's id.
    pub clinic_id: String,
    /// Its clinic's name, as on Welcome.
    pub clinic_name: String,
    /// The server it syncs with.
    pub server_url: Url,
    /// When it enrolled.
    pub enrolled_at: DateTime<Utc>,
}

/// What one quick request to the server showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerCheck {
    /// The server answered (and accepted the token, when enrolled).
    Answered {
        /// How long the answer took.
        took: Duration,
        /// The kiosk's clock minus the server's, in seconds, measured from
        /// the heartbeat reply; `None` when not enrolled.
        clock_skew_secs: Option<i64>,
    },
    /// The server answered but refused the token: revoked or unknown.
    TokenRevoked,
    /// The server answered but does not serve the kiosk's clinic.
    ClinicMismatch,
    /// The server did not answer usefully; why.
    Failed(String),
    /// Nothing to ask: not enrolled and no `server.url` configured.
    NoServer,
}

/// Gathers the status of the kiosk configured by `cfg`. Never creates the
/// store: a kiosk without one reports "not enrolled".
pub fn status_report(cfg: &KioskConfig) -> Result<StatusReport, SyncError> {
    let data_dir = cfg.kiosk.data_dir.clone();
    let (db, key) = store_paths(&data_dir);
    let (enrollment, last_sync, outbox, token) = if db.exists() {
        let now = Utc::now();
        let store = Store::open(&db, &key, now)?;
        let enrollment = store.enrollment()?;
        (
            enrollment.as_ref().map(|e| EnrolledAs {
                kiosk_id: e.kiosk_id.to_string(),
                clinic_id: e.clinic.clinic_id.clone(),
                clinic_name: e.clinic.name.clone(),
                server_url: e.server_url.clone(),
                enrolled_at: e.enrolled_at,
            }),
            store.last_sync()?,
            store.stats(now)?,
            enrollment.map(|e| e.device_token),
        )
    } else {
        (None, None, OutboxStats::default(), None)
    };
    let url = enrollment
        .as_ref()
        .map(|e| e.server_url.clone())
        .or_else(|| cfg.server.url.clone());
    let server = match url {
        None => ServerCheck::NoServer,
        Some(url) => {
            let mut settings = SyncSettings::from_config(cfg, url);
            settings.connect_timeout = settings.connect_timeout.min(PROBE_TIMEOUT);
            settings.request_timeout = settings.request_timeout.min(PROBE_TIMEOUT);
            probe(&settings, token.as_deref(), outbox, last_sync)?
        }
    };
    Ok(StatusReport {
        data_dir,
        enrollment,
        last_sync,
        outbox,
        server,
    })
}

/// One request: a heartbeat when enrolled (it proves the token too), else
/// `/healthz`.
fn probe(
    settings: &SyncSettings,
    token: Option<&str>,
    outbox: OutboxStats,
    last_sync: Option<DateTime<Utc>>,
) -> Result<ServerCheck, SyncError> {
    let client = match ServerClient::new(settings) {
        Ok(c) => c,
        Err(e) => return Ok(ServerCheck::Failed(e.to_string())),
    };
    let started = Instant::now();
    let result = run_blocking(async {
        match token {
            Some(token) => {
                let hb = Heartbeat {
                    app_version: client.settings().app_version.trim().to_string(),
                    outbox_depth: outbox.depth,
                    outbox_oldest_age_secs: outbox.oldest_age.map(|a| a.as_secs()),
                    last_sync_at: last_sync,
                    online: true,
                    clock_skew_secs: None,
                };
                client
                    .heartbeat_measuring_clock(token, &hb)
                    .await
                    .map(|(skew, _)| Some(skew))
            }
            None => client.healthz().await.map(|()| None),
        }
    })?;
    Ok(match result {
        Ok(clock_skew_secs) => ServerCheck::Answered {
            took: started.elapsed(),
            clock_skew_secs,
        },
        Err(ExchangeError::Unauthorized(_)) => ServerCheck::TokenRevoked,
        Err(ExchangeError::Forbidden(_)) => ServerCheck::ClinicMismatch,
        Err(e) => ServerCheck::Failed(e.into_sync_error(&settings.server_url).to_string()),
    })
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data directory: {}", self.data_dir.display())?;
        match &self.enrollment {
            Some(e) => {
                writeln!(f, "kiosk id:       {}", e.kiosk_id)?;
                writeln!(f, "clinic:         {} ({})", e.clinic_id, e.clinic_name)?;
                writeln!(f, "server:         {}", e.server_url)?;
                writeln!(f, "enrolled at:    {}", e.enrolled_at.to_rfc3339())?;
            }
            None => writeln!(
                f,
                "enrollment:     not enrolled (run `kiosk enroll --server URL --code CODE`)"
            )?,
        }
        match self.last_sync {
            Some(t) => writeln!(f, "last sync:      {}", t.to_rfc3339())?,
            None => writeln!(f, "last sync:      never")?,
        }
        write!(f, "outbox:         {} waiting", self.outbox.depth)?;
        if let Some(age) = self.outbox.oldest_age {
            write!(f, ", oldest {}", human(age))?;
        }
        if self.outbox.rejected > 0 {
            write!(f, "; {} rejected by the server", self.outbox.rejected)?;
        }
        writeln!(f)?;
        match &self.server {
            ServerCheck::Answered {
                took,
                clock_skew_secs,
            } => {
                write!(
                    f,
                    "server now:     online (answered in {} ms)",
                    took.as_millis()
                )?;
                match clock_skew_secs {
                    Some(skew) => write!(f, "\nclock:          {}", clock_text(*skew)),
                    None => Ok(()),
                }
            }
            ServerCheck::TokenRevoked => write!(
                f,
                "server now:     answers, but refused this kiosk's token (revoked?); enroll again \
                 with a new code and --force"
            ),
            ServerCheck::ClinicMismatch => write!(
                f,
                "server now:     answers, but does not serve this kiosk's clinic"
            ),
            ServerCheck::Failed(why) => write!(f, "server now:     offline: {why}"),
            ServerCheck::NoServer => write!(f, "server now:     no server configured"),
        }
    }
}

/// How the kiosk's clock compares with the server's, for IT.
fn clock_text(skew_secs: i64) -> String {
    let off = human(Duration::from_secs(skew_secs.unsigned_abs()));
    let way = if skew_secs > 0 { "fast" } else { "slow" };
    if !crate::protocol::clock_is_off(skew_secs) {
        if skew_secs == 0 {
            "in step with the server".to_string()
        } else {
            format!("in step with the server ({off} {way})")
        }
    } else {
        format!(
            "{off} {way} against the server; appointment windows and passes are judged by \
             this clock, so fix its time synchronisation (NTP)"
        )
    }
}

/// A duration as IT reads it: `42 s`, `7 min`, `3 h 5 min`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_reads_as_in_step_fast_or_slow() {
        assert_eq!(clock_text(0), "in step with the server");
        assert_eq!(clock_text(-3), "in step with the server (3 s slow)");
        let slow = clock_text(-7 * 60);
        assert!(slow.starts_with("7 min slow against the server;"), "{slow}");
        assert!(slow.contains("NTP"), "{slow}");
        assert!(clock_text(2 * 3600 + 60).starts_with("2 h 1 min fast"));
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_secs(7 * 60)), "7 min");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 5 * 60)), "3 h 5 min");
    }

    #[test]
    fn the_report_has_no_token_and_says_what_to_do() {
        let report = StatusReport {
            data_dir: PathBuf::from("/var/lib/checkin-kiosk"),
            enrollment: None,
            last_sync: None,
            outbox: OutboxStats {
                depth: 3,
                oldest_age: Some(Duration::from_secs(90)),
                rejected: 1,
            },
            server: ServerCheck::TokenRevoked,
        };
        let text = report.to_string();
        assert!(text.contains("not enrolled"), "{text}");
        assert!(
            text.contains("3 waiting, oldest 90 s; 1 rejected"),
            "{text}"
        );
        assert!(text.contains("refused this kiosk's token"), "{text}");
    }
}
