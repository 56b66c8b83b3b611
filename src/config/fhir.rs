//! The `[clinic.fhir]` sub-table: how the clinic server reaches a clinic's
//! EHR over FHIR R4 (base URL, the Location or Organization that is the
//! clinic, authentication, polling and timeouts), raw and checked.
//!
//! **Architecture invariant:** no secret is ever written in the file. A
//! bearer token is named by a file or an environment variable, and a SMART
//! private key by a file; they are read when the connector runs, so
//! parsing stays pure and `check-config` prints no secret.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::check::{Checker, PlainHttp};

/// The checked `[clinic.fhir]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirSettings {
    /// The FHIR R4 base URL, ending in `/` so relative paths join under it.
    pub base_url: Url,
    /// The resource that is this clinic in the EHR; appointments are
    /// searched by it.
    pub clinic: ClinicReference,
    /// How requests authenticate.
    pub auth: FhirAuth,
    /// How often the schedule is pulled.
    pub poll_every: Duration,
    /// Days pulled, starting today in the clinic's zone; 1 pulls today.
    pub window_days: u32,
    /// The most a TCP and TLS connect may take.
    pub connect_timeout: Duration,
    /// The most a whole request may take, body included.
    pub request_timeout: Duration,
    /// Whether arrivals and approved changes are written back; `false`
    /// makes the connector read-only (nothing is queued).
    pub write_back: bool,
    /// The longest wait between write-back retries; the backoff doubles
    /// from 5 s up to this.
    pub retry_max: Duration,
    /// The largest response body read from the EHR (one search page or
    /// one resource), in bytes; a larger one fails the request.
    pub max_response_bytes: u64,
    /// The largest share of a day's appointments, in percent, that one
    /// pull may remove; a pull that would remove more is held for staff.
    pub max_removal_percent: u8,
    /// How many later pulls must list the same held removals before they
    /// go ahead without staff.
    pub removal_confirm_pulls: u32,
}

/// The EHR resource that identifies the clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicReference {
    /// `Location/<id>`: appointments with this location as a participant.
    Location(String),
    /// `Organization/<id>`: appointments at any Location it manages.
    Organization(String),
}

impl ClinicReference {
    /// The reference as FHIR writes it, `Type/id`.
    pub fn reference(&self) -> String {
        match self {
            Self::Location(id) => format!("Location/{id}"),
            Self::Organization(id) => format!("Organization/{id}"),
        }
    }
}

/// How the connector authenticates to the EHR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FhirAuth {
    /// No `Authorization` header (a test server, or a network-level trust).
    None,
    /// `Authorization: Bearer <token>`, the token read from its source
    /// once, when first needed, and again after a 401 or on SIGHUP.
    Bearer(SecretSource),
    /// SMART Backend Services: client credentials with a private-key JWT.
    Smart(SmartSettings),
}

/// Where a secret is read from; the secret itself is never in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The first line of this file.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

/// SMART Backend Services settings (client credentials grant with a
/// `private_key_jwt` client assertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartSettings {
    /// The client id registered with the EHR; the assertion's `iss` and `sub`.
    pub client_id: String,
    /// The token endpoint; also the assertion's `aud`.
    pub token_url: Url,
    /// The PKCS#8 PEM private key the assertion is signed with.
    pub private_key_file: PathBuf,
    /// The signature algorithm, matching the key.
    pub algorithm: JwtAlgorithm,
    /// The `kid` header, when the EHR's JWKS needs it to pick the key.
    pub key_id: Option<String>,
    /// The scopes requested.
    pub scope: String,
}

/// The JWT signature algorithms SMART Backend Services requires servers
/// to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-384 (an RSA key of 2048 bits or more).
    Rs384,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl JwtAlgorithm {
    /// The JOSE name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Rs384 => "RS384",
            Self::Es384 => "ES384",
        }
    }
}

impl FhirSettings {
    /// One line for `check-config`: no secrets, only where they come from.
    pub fn summary(&self) -> String {
        let auth = match &self.auth {
            FhirAuth::None => "no auth".to_string(),
            FhirAuth::Bearer(SecretSource::File(p)) => {
                format!("bearer token from {}", p.display())
            }
            FhirAuth::Bearer(SecretSource::Env(v)) => format!("bearer token from ${v}"),
            FhirAuth::Smart(s) => format!(
                "SMART backend services as {} ({})",
                s.client_id,
                s.algorithm.as_str()
            ),
        };
        format!(
            "EHR {} for {}, {auth}; pull every {}s for {} day(s); write-back {}",
            self.base_url,
            self.clinic.reference(),
            self.poll_every.as_secs(),
            self.window_days,
            if self.write_back { "on" } else { "off" }
        )
    }
}

/// `[clinic.fhir]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFhir {
    /// Required: the FHIR base URL.
    base_url: Option<String>,
    /// `Location/<id>` or a bare id; one of this or `organization`.
    location: Option<String>,
    /// `Organization/<id>` or a bare id.
    organization: Option<String>,
    /// `none`, `bearer` or `smart`.
    auth: String,
    /// Bearer: the file holding the token.
    token_file: Option<PathBuf>,
    /// Bearer: the environment variable holding the token.
    token_env: Option<String>,
    /// SMART: the client id.
    client_id: Option<String>,
    /// SMART: the token endpoint.
    token_url: Option<String>,
    /// SMART: the PEM private key file.
    private_key_file: Option<PathBuf>,
    /// SMART: `ES384` or `RS384`.
    algorithm: String,
    /// SMART: the `kid` header.
    key_id: Option<String>,
    /// SMART: the scopes requested.
    scope: String,
    /// Seconds between pulls.
    poll_secs: i64,
    /// Days pulled from today.
    window_days: i64,
    /// Connect timeout in seconds.
    connect_timeout_secs: i64,
    /// Request timeout in seconds.
    request_timeout_secs: i64,
    /// Write arrivals and approved changes back.
    write_back: bool,
    /// The longest retry wait in seconds.
    retry_max_secs: i64,
    /// The largest response body, in MiB.
    max_response_mib: i64,
    /// The largest share of a day one pull may remove, in percent.
    max_removal_percent: i64,
    /// Later pulls that must agree before held removals go ahead.
    removal_confirm_pulls: i64,
}

/// The scopes the connector needs: read the schedule, write appointments,
/// patients and coverage.
pub const DEFAULT_SCOPE: &str = "system/Appointment.rs system/Appointment.u system/Patient.rs system/Patient.u system/Coverage.rs system/Coverage.cu system/Location.rs";

impl Default for RawFhir {
    fn default() -> Self {
        Self {
            base_url: None,
            location: None,
            organization: None,
            auth: "none".to_string(),
            token_file: None,
            token_env: None,
            client_id: None,
            token_url: None,
            private_key_file: None,
            algorithm: "ES384".to_string(),
            key_id: None,
            scope: DEFAULT_SCOPE.to_string(),
            poll_secs: 300,
            window_days: 1,
            connect_timeout_secs: 10,
            request_timeout_secs: 30,
            write_back: true,
            retry_max_secs: 900,
            max_response_mib: 20,
            max_removal_percent: 50,
            removal_confirm_pulls: 2,
        }
    }
}

/// The keys only one auth method uses, to refuse them under another.
const BEARER_KEYS: &[&str] = &["token_file", "token_env"];
const SMART_KEYS: &[&str] = &["client_id", "token_url", "private_key_file", "key_id"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    None,
    Bearer,
    Smart,
}

impl RawFhir {
    /// Stage two; `table` is the dotted key of this table, such as
    /// `clinic[0].fhir`.
    ///
    /// `None` only when a problem was recorded, so the result is never used.
    pub(super) fn check(self, c: &mut Checker<'_>, table: &str) -> Option<FhirSettings> {
        let key = |name: &str| format!("{table}.{name}");
        let base_url = self.checked_base_url(c, &key);
        let clinic = self.checked_clinic(c, &key);
        let auth = self.checked_auth(c, &key);
        let poll_every = c.secs(&key("poll_secs"), self.poll_secs, 15..=86_400);
        let window_days = c.whole(&key("window_days"), self.window_days, 1..=14, "days");
        let connect_timeout = c.secs(
            &key("connect_timeout_secs"),
            self.connect_timeout_secs,
            1..=120,
        );
        let request_timeout = c.secs(
            &key("request_timeout_secs"),
            self.request_timeout_secs,
            1..=600,
        );
        let retry_max = c.secs(&key("retry_max_secs"), self.retry_max_secs, 5..=86_400);
        let max_response_mib: u64 = c.whole(
            &key("max_response_mib"),
            self.max_response_mib,
            1..=1024,
            "MiB",
        );
        let max_removal_percent = c.whole(
            &key("max_removal_percent"),
            self.max_removal_percent,
            0..=100,
            "percent",
        );
        let removal_confirm_pulls = c.whole(
            &key("removal_confirm_pulls"),
            self.removal_confirm_pulls,
            1..=100,
            "pulls",
        );
        Some(FhirSettings {
            base_url: base_url?,
            clinic,
            auth: auth?,
            poll_every,
            window_days,
            connect_timeout,
            request_timeout,
            write_back: self.write_back,
            retry_max,
            max_response_bytes: max_response_mib * 1024 * 1024,
            max_removal_percent,
            removal_confirm_pulls,
        })
    }

    /// `base_url`: required, HTTPS unless on loopback, ending in `/`.
    fn checked_base_url(&self, c: &mut Checker<'_>, key: &impl Fn(&str) -> String) -> Option<Url> {
        match self.base_url.as_deref() {
            Some(u) => c.base_url(
                &key("base_url"),
                u,
                PlainHttp::LoopbackOnly {
                    hint: " (the EHR carries PHI)",
                },
            ),
            None => {
                c.missing(
                    &key("base_url"),
                    "the EHR's FHIR R4 base URL, such as \"https://ehr.example.org/fhir/R4\"",
                );
                None
            }
        }
        .map(with_trailing_slash)
    }

    /// Exactly one of `location` and `organization`.
    fn checked_clinic(
        &self,
        c: &mut Checker<'_>,
        key: &impl Fn(&str) -> String,
    ) -> ClinicReference {
        match (self.location.as_deref(), self.organization.as_deref()) {
            (Some(l), None) => {
                ClinicReference::Location(reference_id(c, &key("location"), "Location", l))
            }
            (None, Some(o)) => ClinicReference::Organization(reference_id(
                c,
                &key("organization"),
                "Organization",
                o,
            )),
            (Some(_), Some(_)) => {
                c.problem(
                    &key("organization"),
                    "expected either `location` or `organization`, not both",
                );
                ClinicReference::Location(String::new())
            }
            (None, None) => {
                c.missing(
                    &key("location"),
                    "the EHR Location that is this clinic, such as \"Location/123\" (or `organization`)",
                );
                ClinicReference::Location(String::new())
            }
        }
    }

    /// `auth` and the keys of its method; a key of another method is a
    /// problem.
    fn checked_auth(&self, c: &mut Checker<'_>, key: &impl Fn(&str) -> String) -> Option<FhirAuth> {
        let method = c.choice(
            &key("auth"),
            &self.auth,
            &[
                ("none", Method::None),
                ("bearer", Method::Bearer),
                ("smart", Method::Smart),
            ],
            Method::None,
        );
        let stray = |c: &mut Checker<'_>, names: &[&str], set: &[bool], method: &str| {
            for (name, is_set) in names.iter().zip(set) {
                if *is_set {
                    c.problem(
                        &key(name),
                        format!("`{name}` is not used with auth = \"{method}\"; remove it"),
                    );
                }
            }
        };
        let bearer_set = [self.token_file.is_some(), self.token_env.is_some()];
        let smart_set = [
            self.client_id.is_some(),
            self.token_url.is_some(),
            self.private_key_file.is_some(),
            self.key_id.is_some(),
        ];
        match method {
            Method::None => {
                stray(c, BEARER_KEYS, &bearer_set, "none");
                stray(c, SMART_KEYS, &smart_set, "none");
                Some(FhirAuth::None)
            }
            Method::Bearer => {
                stray(c, SMART_KEYS, &smart_set, "bearer");
                Some(FhirAuth::Bearer(self.checked_bearer(c, key)))
            }
            Method::Smart => {
                stray(c, BEARER_KEYS, &bearer_set, "smart");
                self.checked_smart(c, key).map(FhirAuth::Smart)
            }
        }
    }

    /// Exactly one of `token_file` and `token_env`.
    fn checked_bearer(&self, c: &mut Checker<'_>, key: &impl Fn(&str) -> String) -> SecretSource {
        match (&self.token_file, &self.token_env) {
            (Some(f), None) => SecretSource::File(c.path(&key("token_file"), f)),
            (None, Some(v)) => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    c.problem(
                        &key("token_env"),
                        format!("expected an environment variable name such as \"EHR_TOKEN\", found \"{v}\""),
                    );
                }
                SecretSource::Env(v.clone())
            }
            (Some(_), Some(_)) => {
                c.problem(
                    &key("token_env"),
                    "expected either `token_file` or `token_env`, not both",
                );
                SecretSource::Env(String::new())
            }
            (None, None) => {
                c.missing(
                    &key("token_file"),
                    "the file holding the bearer token (or `token_env`, an environment variable); never the token itself",
                );
                SecretSource::Env(String::new())
            }
        }
    }

    /// The SMART Backend Services keys; `None` without a usable token URL.
    fn checked_smart(
        &self,
        c: &mut Checker<'_>,
        key: &impl Fn(&str) -> String,
    ) -> Option<SmartSettings> {
        let client_id = c.name(
            &key("client_id"),
            self.client_id.as_deref(),
            "the client id the EHR registered for this server",
        );
        let token_url = match self.token_url.as_deref() {
            Some(u) => c.base_url(&key("token_url"), u, PlainHttp::LoopbackOnly { hint: "" }),
            None => {
                c.missing(
                    &key("token_url"),
                    "the EHR's OAuth token endpoint, such as \"https://ehr.example.org/oauth/token\"",
                );
                None
            }
        };
        let private_key_file = match &self.private_key_file {
            Some(p) => c.path(&key("private_key_file"), p),
            None => {
                c.missing(
                    &key("private_key_file"),
                    "the PKCS#8 PEM private key file the client assertion is signed with",
                );
                PathBuf::new()
            }
        };
        let algorithm = c.choice(
            &key("algorithm"),
            &self.algorithm,
            &[
                ("ES384", JwtAlgorithm::Es384),
                ("RS384", JwtAlgorithm::Rs384),
            ],
            JwtAlgorithm::Es384,
        );
        if self.scope.trim().is_empty() {
            c.problem(
                &key("scope"),
                "expected the scopes to request, found an empty string",
            );
        }
        Some(SmartSettings {
            client_id,
            token_url: token_url?,
            private_key_file,
            algorithm,
            key_id: self.key_id.clone(),
            scope: self.scope.trim().to_string(),
        })
    }
}

/// The base URL with a trailing `/`, so `join("Appointment")` stays under it.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The id of `Type/id` or a bare id, checked to be a FHIR id
/// (`[A-Za-z0-9\-\.]{1,64}`).
fn reference_id(c: &mut Checker<'_>, key: &str, kind: &str, value: &str) -> String {
    let id = value
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(value);
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        c.problem(
            key,
            format!("expected \"{kind}/<id>\" with a FHIR id (letters, digits, `-`, `.`), found \"{value}\""),
        );
    }
    id.to_string()
}
