//! The HTTP client of the kiosk API, `/api/v1/kiosk/`: one `reqwest` client
//! with rustls, the optional CA pin, connect and request timeouts and no
//! redirects, and the classification of every failure into an
//! [`ExchangeError`] the worker can act on.
//!
//! **Invariant:** no error built here carries the request URL's query, the
//! device token or a request body; server messages are the server's
//! PHI-free `ErrorBody.message`, cut short.

use std::error::Error as _;

use chrono::{DateTime, Utc};
use reqwest::{Certificate, Client, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{SyncError, SyncSettings};
use crate::protocol::{
    EnrollRequest, EnrollResponse, ErrorBody, EventBatch, EventBatchResponse, Heartbeat,
    HeartbeatResponse, ScheduleResponse,
};

/// Server messages longer than this are cut; they are for IT to read.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why one exchange with the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// No connection could be made, or it broke before the reply was read.
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
    /// No complete reply within the connect or request timeout.
    #[error("the server did not answer in time")]
    Timeout,
    /// The TLS handshake failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// 401: the device token (or enrollment code) is unknown or revoked.
    #[error("the server refused the credentials: {0}")]
    Unauthorized(String),
    /// 403: the kiosk's clinic is not (or no longer) this server's, or the
    /// request named another clinic.
    #[error("the server refused access: {0}")]
    Forbidden(String),
    /// 413: the request body or batch is larger than the server accepts.
    #[error("the server refused the request as too large")]
    TooLarge,
    /// 5xx, 408 or 429: the server failed or is overloaded; retry later.
    #[error("the server answered HTTP {0}")]
    ServerFailed(u16),
    /// Any other 4xx: the server refused this request as it is.
    #[error("the server refused the request (HTTP {status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// A 2xx reply that is not what the protocol says.
    #[error("the server's reply was not understood: {0}")]
    BadReply(String),
}

impl ExchangeError {
    /// This failure as a [`SyncError`] naming the server at `url`.
    pub(super) fn into_sync_error(self, url: &url::Url) -> SyncError {
        let url = url.to_string();
        match self {
            Self::Unreachable(reason) => SyncError::Unreachable { url, reason },
            Self::Timeout => SyncError::Timeout { url },
            Self::Tls(reason) => SyncError::Tls { url, reason },
            Self::Unauthorized(message) => SyncError::Refused {
                status: 401,
                message,
            },
            Self::Forbidden(message) => SyncError::Refused {
                status: 403,
                message,
            },
            Self::TooLarge => SyncError::Refused {
                status: 413,
                message: "the request is too large".into(),
            },
            Self::ServerFailed(status) => SyncError::ServerFailed { url, status },
            Self::Refused { status, message } => SyncError::Refused { status, message },
            Self::BadReply(reason) => SyncError::BadReply { url, reason },
        }
    }
}

/// A client of one clinic server's kiosk API.
#[derive(Debug, Clone)]
pub(super) struct ServerClient {
    /// The pooled HTTP client, with the TLS and timeout settings applied.
    http: Client,
    /// The settings the endpoints are resolved against.
    settings: SyncSettings,
}

impl ServerClient {
    /// A client for `settings`, after checking them; reads the CA file if
    /// one is pinned.
    pub(super) fn new(settings: &SyncSettings) -> Result<Self, SyncError> {
        settings.check()?;
        let mut builder = Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // A redirect could carry the device token to another host, and
            // the kiosk API never redirects.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(format!("checkin-kiosk/{}", settings.app_version.trim()));
        if settings.server_url.scheme() == "https" {
            builder = builder.https_only(true);
        }
        if let Some(path) = &settings.ca_file {
            let ca_error = |reason: String| SyncError::CaFile {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_error(format!("not valid PEM ({})", describe(&e))))?;
            if certs.is_empty() {
                return Err(ca_error("it holds no certificate".into()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::HttpClient(describe(&e)))?;
        Ok(Self {
            http,
            settings: settings.clone(),
        })
    }

    /// The settings this client was built with.
    pub(super) fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// `POST /api/v1/kiosk/enroll`.
    pub(super) async fn enroll(
        &self,
        req: &EnrollRequest,
    ) -> Result<EnrollResponse, ExchangeError> {
        let url = self.settings.endpoint("api/v1/kiosk/enroll");
        exchange(self.http.post(url).json(req)).await
    }

    /// `POST /api/v1/kiosk/events`.
    pub(super) async fn push(
        &self,
        token: &str,
        batch: &EventBatch,
    ) -> Result<EventBatchResponse, ExchangeError> {
        let url = self.settings.endpoint("api/v1/kiosk/events");
        exchange(self.http.post(url).bearer_auth(token).json(batch)).await
    }

    /// `GET /api/v1/kiosk/schedule?since=CURSOR`.
    pub(super) async fn pull(
        &self,
        token: &str,
        since: Option<&str>,
    ) -> Result<ScheduleResponse, ExchangeError> {
        let url = self.settings.endpoint("api/v1/kiosk/schedule");
        let mut req = self.http.get(url).bearer_auth(token);
        if let Some(cursor) = since {
            req = req.query(&[("since", cursor)]);
        }
        exchange(req).await
    }

    /// `POST /api/v1/kiosk/heartbeat`.
    pub(super) async fn heartbeat(
        &self,
        token: &str,
        hb: &Heartbeat,
    ) -> Result<HeartbeatResponse, ExchangeError> {
        let url = self.settings.endpoint("api/v1/kiosk/heartbeat");
        exchange(self.http.post(url).bearer_auth(token).json(hb)).await
    }

    /// [`ServerClient::heartbeat`], measuring the kiosk's clock against the
    /// reply's `server_time`: the kiosk's clock minus the server's, in
    /// seconds (see [`clock_skew_secs`]), and the reply's answered help
    /// flags.
    pub(super) async fn heartbeat_measuring_clock(
        &self,
        token: &str,
        hb: &Heartbeat,
    ) -> Result<(i64, Vec<Uuid>), ExchangeError> {
        let sent = Utc::now();
        let reply = self.heartbeat(token, hb).await?;
        let skew = clock_skew_secs(sent, Utc::now(), reply.server_time);
        Ok((skew, reply.help_answered))
    }

    /// `GET /healthz`: whether the server answers at all.
    pub(super) async fn healthz(&self) -> Result<(), ExchangeError> {
        let url = self.settings.endpoint("healthz");
        exchange::<serde_json::Value>(self.http.get(url))
            .await
            .map(|_| ())
    }
}

/// The kiosk's clock minus the server's, in whole seconds (rounded half
/// away from zero), from a reply stamped `server_time` by the server
/// somewhere between `sent` and `received` on the kiosk's clock. The
/// midpoint is the best guess, off by at most half the round trip.
pub fn clock_skew_secs(
    sent: DateTime<Utc>,
    received: DateTime<Utc>,
    server_time: DateTime<Utc>,
) -> i64 {
    let midpoint = sent + (received - sent) / 2;
    let ms = (midpoint - server_time).num_milliseconds();
    (ms + ms.signum() * 500) / 1000
}

/// Sends `req` and decodes a 2xx JSON reply, or classifies the failure.
async fn exchange<T: DeserializeOwned>(req: RequestBuilder) -> Result<T, ExchangeError> {
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    // Reading the body can fail too: a connection cut after the server
    // committed but before the reply arrived is a lost acknowledgement.
    let body = resp.bytes().await.map_err(transport)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            ExchangeError::BadReply(format!(
                "{} at line {} column {}",
                category(&e),
                e.line(),
                e.column()
            ))
        });
    }
    Err(classify_status(status, &body))
}

/// The failure an HTTP error status means.
pub(super) fn classify_status(status: StatusCode, body: &[u8]) -> ExchangeError {
    let message = || {
        let text = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.message)
            .unwrap_or_else(|_| {
                status
                    .canonical_reason()
                    .unwrap_or("no explanation")
                    .to_string()
            });
        text.chars().take(MAX_MESSAGE_CHARS).collect::<String>()
    };
    match status {
        StatusCode::UNAUTHORIZED => ExchangeError::Unauthorized(message()),
        StatusCode::FORBIDDEN => ExchangeError::Forbidden(message()),
        StatusCode::PAYLOAD_TOO_LARGE => ExchangeError::TooLarge,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
            ExchangeError::ServerFailed(status.as_u16())
        }
        s if s.is_server_error() => ExchangeError::ServerFailed(s.as_u16()),
        s => ExchangeError::Refused {
            status: s.as_u16(),
            message: message(),
        },
    }
}

/// The failure a transport error means: timeout, TLS, or unreachable.
fn transport(err: reqwest::Error) -> ExchangeError {
    if err.is_timeout() {
        return ExchangeError::Timeout;
    }
    let text = describe(&err);
    if looks_like_tls(&text) {
        ExchangeError::Tls(text)
    } else {
        ExchangeError::Unreachable(text)
    }
}

/// True when a transport diagnostic comes from the TLS layer.
fn looks_like_tls(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
        "unknownissuer",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// An error and its causes on one line, without the request URL.
fn describe(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    // The URL can carry the schedule cursor; the caller names the server.
    let mut current: Option<&dyn std::error::Error> = err.source();
    let head = match err.url() {
        Some(_) => {
            if err.is_connect() {
                "connection failed".to_string()
            } else if err.is_body() || err.is_decode() {
                "the connection broke while reading the reply".to_string()
            } else if err.is_request() {
                "the request could not be sent".to_string()
            } else {
                "the exchange failed".to_string()
            }
        }
        None => err.to_string(),
    };
    parts.push(head);
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// serde_json's category of a decoding failure, without the input.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "could not be read",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "JSON cut short",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_skew_is_taken_at_the_midpoint_of_the_round_trip() {
        let t = |ms: i64| DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap();
        // In step: stamped halfway through a 200 ms round trip.
        assert_eq!(clock_skew_secs(t(0), t(200), t(100)), 0);
        // The kiosk is 7 minutes slow: the server stamps 420 s later.
        assert_eq!(clock_skew_secs(t(0), t(200), t(420_100)), -420);
        // The kiosk is 90 s fast.
        assert_eq!(clock_skew_secs(t(90_000), t(90_200), t(100)), 90);
        // Rounded half away from zero, either way.
        assert_eq!(clock_skew_secs(t(0), t(0), t(-1_500)), 2);
        assert_eq!(clock_skew_secs(t(0), t(0), t(1_499)), -1);
    }

    #[test]
    fn statuses_map_to_what_the_worker_does() {
        let body =
            br#"{"error":"unauthorized","message":"this kiosk has been revoked; enroll it again"}"#;
        assert_eq!(
            classify_status(StatusCode::UNAUTHORIZED, body),
            ExchangeError::Unauthorized("this kiosk has been revoked; enroll it again".into())
        );
        assert!(matches!(
            classify_status(StatusCode::FORBIDDEN, b"{}"),
            ExchangeError::Forbidden(m) if m == "Forbidden"
        ));
        assert_eq!(
            classify_status(StatusCode::PAYLOAD_TOO_LARGE, b""),
            ExchangeError::TooLarge
        );
        for s in [500, 502, 503, 504, 408, 429] {
            let status = StatusCode::from_u16(s).unwrap();
            assert_eq!(
                classify_status(status, b"<html>"),
                ExchangeError::ServerFailed(s)
            );
        }
        assert!(matches!(
            classify_status(StatusCode::UNPROCESSABLE_ENTITY, b"{\"error\":\"x\",\"message\":\"bad\"}"),
            ExchangeError::Refused { status: 422, message } if message == "bad"
        ));
    }

    #[test]
    fn long_server_messages_are_cut() {
        let long = format!(r#"{{"error":"x","message":"{}"}}"#, "a".repeat(5000));
        let ExchangeError::Refused { message, .. } =
            classify_status(StatusCode::BAD_REQUEST, long.as_bytes())
        else {
            panic!("expected Refused");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn tls_diagnostics_are_recognised() {
        assert!(looks_like_tls("invalid peer certificate: UnknownIssuer"));
        assert!(looks_like_tls(
            "received corrupt message of type InvalidContentType"
        ));
        assert!(!looks_like_tls(
            "tcp connect error: Connection refused (os error 111)"
        ));
    }
}
