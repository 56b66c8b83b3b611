//! `SyncError`: what enrolling, checking the status and starting the sync
//! worker can fail with, each with what IT can do about it.
//!
//! **Invariant:** no message carries PHI or the device token. Messages name
//! URLs, files, ids, HTTP statuses and transport diagnostics only.

use std::path::PathBuf;

use crate::store::StoreError;

/// Everything the sync side can report to a caller.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server URL cannot be used: not http(s), no host, or credentials in it.
    #[error("the clinic server URL {url} cannot be used: {reason}")]
    BadServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Plain `http://` to a host that is not this machine, without the
    /// explicit opt-in.
    #[error(
        "the clinic server URL {url} uses plain http://, which is allowed only to 127.0.0.1, \
         ::1 or localhost; use https://, or set `server.allow_insecure_http = true` in the kiosk \
         config on a closed test network (it sends patient data unencrypted)"
    )]
    InsecureHttp {
        /// The URL as given.
        url: String,
    },

    /// A setting is outside what the worker can run with.
    #[error("sync setting {name}: {reason}")]
    BadSetting {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The CA file to pin could not be read or holds no certificate.
    #[error(
        "cannot use the CA file {path} (`server.ca_file`): {reason}; it must be a PEM file \
         with the clinic's CA certificate"
    )]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The HTTP client could not be built (for example, TLS setup failed).
    #[error("cannot set up the HTTP client: {0}")]
    HttpClient(String),

    /// The worker's thread or its async runtime could not be started.
    #[error("cannot start the sync worker: {0}")]
    Runtime(std::io::Error),

    /// The kiosk store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The server refused the one-time code (unknown, used, expired, or
    /// its clinic is no longer served).
    #[error(
        "the enrollment code was not accepted: {message} (codes work once and expire after \
         24 hours; staff create them in the console's Kiosks view)"
    )]
    CodeNotAccepted {
        /// The server's explanation, or why the code was refused locally.
        message: String,
    },

    /// The server refused the request for another reason than the code.
    #[error("the clinic server refused the request (HTTP {status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        message: String,
    },

    /// No connection to the server could be made.
    #[error(
        "cannot reach the clinic server at {url}: {reason}; check the URL, the network and \
         that the server is running"
    )]
    Unreachable {
        /// The server URL.
        url: String,
        /// The transport's diagnostic.
        reason: String,
    },

    /// The TLS handshake failed: the certificate is not trusted or not for
    /// this host, or the server does not speak TLS.
    #[error(
        "the TLS connection to {url} failed: {reason}; check that the URL is right, that the \
         server's certificate is valid for its host name, and that `server.ca_file` names the \
         clinic's CA if it has its own"
    )]
    Tls {
        /// The server URL.
        url: String,
        /// The TLS diagnostic.
        reason: String,
    },

    /// The server did not answer in time.
    #[error(
        "the clinic server at {url} did not answer within the timeout; check the network and \
         the server's load, or raise `server.request_timeout_secs`"
    )]
    Timeout {
        /// The server URL.
        url: String,
    },

    /// The server failed (5xx) or asked to be left alone (429).
    #[error(
        "the clinic server at {url} answered HTTP {status}; try again later, or check its logs"
    )]
    ServerFailed {
        /// The server URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },

    /// The server's reply was not what the kiosk API promises.
    #[error(
        "the clinic server at {url} sent a reply the kiosk cannot use ({reason}); is the URL \
         the clinic server's, and are the kiosk and server versions compatible?"
    )]
    BadReply {
        /// The server URL.
        url: String,
        /// What was wrong with the reply.
        reason: String,
    },

    /// The kiosk is enrolled already and `--force` was not given; the code
    /// was not used.
    #[error(
        "this kiosk is already enrolled as {kiosk_id} with clinic {clinic_id}; pass --force to \
         replace that enrollment (the one-time code was not used)"
    )]
    AlreadyEnrolled {
        /// The current kiosk id.
        kiosk_id: String,
        /// The current clinic.
        clinic_id: String,
    },

    /// The server enrolled the kiosk but the store refused to save it.
    #[error(
        "the server enrolled this kiosk as {kiosk_id}, but it could not be saved: {source}. \
         Ask staff to revoke kiosk {kiosk_id} in the console, then enroll again with a new code"
    )]
    NotSaved {
        /// The id the server gave.
        kiosk_id: String,
        /// Why the store refused.
        source: StoreError,
    },
}
