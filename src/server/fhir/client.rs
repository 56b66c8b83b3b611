//! A small FHIR R4 REST client over reqwest: search with `next`-link
//! paging, read, update with `If-Match`, and conditional create, with the
//! configured timeouts and credentials.
//!
//! Paging links and redirects are followed only when they stay on the base
//! URL's origin, so a credential is never sent to another host, and a
//! response body is read only up to the configured size.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use super::auth::{AuthError, Credentials};
use super::mapping::version_id;
use crate::config::FhirSettings;

/// The FHIR JSON media type.
const FHIR_JSON: &str = "application/fhir+json";
/// The most search pages followed, against a server that links forever.
const MAX_PAGES: usize = 200;
/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Why a FHIR request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or the answer not read (down,
    /// refused, timed out).
    #[error("{what}: {detail}")]
    Transport {
        /// The interaction, such as `search Appointment`.
        what: String,
        /// reqwest's message without the URL.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("{what}: HTTP {status}{}", outcome.as_deref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Status {
        /// The interaction.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The OperationOutcome's issue codes, if any (never diagnostics,
        /// which may quote PHI).
        outcome: Option<String>,
    },
    /// The answer was not the JSON resource expected.
    #[error("{what}: {detail}")]
    Body {
        /// The interaction.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A paging link pointed off the server's origin.
    #[error("{0}: a paging link leaves the FHIR server; not followed")]
    ForeignLink(String),
    /// The server redirected off its origin (or too often).
    #[error(
        "{what}: HTTP {status} redirect off the FHIR server's origin (or more than {MAX_REDIRECTS}); not followed"
    )]
    Redirect {
        /// The interaction.
        what: String,
        /// The redirect status.
        status: u16,
    },
    /// The body was larger than `max_response_mib`.
    #[error("{what}: the response is larger than {limit} bytes; not read")]
    TooLarge {
        /// The interaction.
        what: String,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// No credential could be had.
    #[error("auth: {0}")]
    Auth(#[from] AuthError),
}

impl ClientError {
    /// True when a retry later may succeed: transport failures, 408, 429,
    /// 5xx, and a token endpoint that was down.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::Auth(e) => e.is_transient(),
            Self::Body { .. }
            | Self::ForeignLink(_)
            | Self::Redirect { .. }
            | Self::TooLarge { .. } => false,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A resource and the version to send back in `If-Match`.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The resource.
    pub resource: Value,
    /// Its version id (from the ETag, else `meta.versionId`).
    pub version: Option<String>,
}

/// One entry of a search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The resource.
    pub resource: Value,
    /// True for `search.mode = include` (or a resource of another type).
    pub included: bool,
}

/// A client for one EHR.
#[derive(Debug)]
pub struct FhirClient {
    /// The connection pool, with the timeouts.
    http: reqwest::Client,
    /// The base URL, ending in `/`.
    base: Url,
    /// Where the `Authorization` header comes from.
    credentials: Credentials,
    /// The largest body read, in bytes.
    max_body: u64,
}

/// Follows a redirect only to the origin of the request that was sent
/// first, and at most [`MAX_REDIRECTS`] times.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

impl FhirClient {
    /// A client for `settings`.
    pub fn new(settings: &FhirSettings) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(same_origin_redirects())
            .user_agent(concat!(
                "checkin-kiosk-clinic-server/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| ClientError::Transport {
                what: "building the HTTP client".into(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: settings.base_url.clone(),
            credentials: Credentials::new(settings.auth.clone()),
            max_body: settings.max_response_bytes,
        })
    }

    /// The credentials, to reload them (on SIGHUP).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Reads `resp`'s body, refusing one over the size limit before (by
    /// `Content-Length`) or while reading it.
    async fn body(&self, what: &str, mut resp: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        let too_large = || ClientError::TooLarge {
            what: what.to_string(),
            limit: self.max_body,
        };
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        loop {
            let chunk = resp.chunk().await.map_err(|e| ClientError::Transport {
                what: what.to_string(),
                detail: e.without_url().to_string(),
            })?;
            let Some(chunk) = chunk else {
                return Ok(out);
            };
            if (out.len() + chunk.len()) as u64 > self.max_body {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
    }

    /// The URL of `path` (such as `Appointment/1`) under the base.
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base.join(path).map_err(|e| ClientError::Body {
            what: path.to_string(),
            detail: format!("bad path ({e})"),
        })
    }

    /// Sends one request, refreshing the credential once after a 401.
    async fn send(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: HeaderMap,
    ) -> Result<(StatusCode, HeaderMap, Value), ClientError> {
        let mut retried = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, FHIR_JSON)
                .headers(headers.clone());
            if let Some(auth) = self.credentials.header(&self.http).await? {
                req = req.header(AUTHORIZATION, auth);
            }
            if let Some(b) = body {
                req = req.header(CONTENT_TYPE, FHIR_JSON).body(b.to_string());
            }
            let resp = req.send().await.map_err(|e| ClientError::Transport {
                what: what.to_string(),
                detail: e.without_url().to_string(),
            })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                self.credentials.unauthorized().await;
                continue;
            }
            if status.is_redirection() {
                return Err(ClientError::Redirect {
                    what: what.to_string(),
                    status: status.as_u16(),
                });
            }
            let headers = resp.headers().clone();
            let bytes = self.body(what, resp).await?;
            let json: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if !status.is_success() {
                return Err(ClientError::Status {
                    what: what.to_string(),
                    status: status.as_u16(),
                    outcome: outcome_codes(&json),
                });
            }
            return Ok((status, headers, json));
        }
    }

    /// Every entry of a search, following `next` links.
    pub async fn search(
        &self,
        resource_type: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<Found>, ClientError> {
        let what = format!("search {resource_type}");
        let mut url = self.url(resource_type)?;
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let (_, _, bundle) = self
                .send(&what, Method::GET, url.clone(), None, HeaderMap::new())
                .await?;
            if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                return Err(ClientError::Body {
                    what,
                    detail: "the answer is not a Bundle".into(),
                });
            }
            for entry in bundle
                .get("entry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(resource) = entry.get("resource") else {
                    continue;
                };
                let mode = entry
                    .get("search")
                    .and_then(|s| s.get("mode"))
                    .and_then(Value::as_str);
                if mode == Some("outcome")
                    || resource.get("resourceType").and_then(Value::as_str)
                        == Some("OperationOutcome")
                {
                    continue;
                }
                let of_type =
                    resource.get("resourceType").and_then(Value::as_str) == Some(resource_type);
                out.push(Found {
                    resource: resource.clone(),
                    included: mode == Some("include") || !of_type,
                });
            }
            let next = bundle
                .get("link")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
                .and_then(|l| l.get("url"))
                .and_then(Value::as_str);
            let Some(next) = next else {
                return Ok(out);
            };
            let next = self.base.join(next).map_err(|_| ClientError::Body {
                what: what.clone(),
                detail: "a paging link is not a URL".into(),
            })?;
            if next.origin() != self.base.origin() {
                return Err(ClientError::ForeignLink(what));
            }
            url = next;
        }
        Err(ClientError::Body {
            what,
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Reads `Type/id`.
    pub async fn read(&self, resource_type: &str, id: &str) -> Result<Versioned, ClientError> {
        let what = format!("read {resource_type}/{id}");
        let url = self.url(&format!("{resource_type}/{id}"))?;
        let (_, headers, body) = self
            .send(&what, Method::GET, url, None, HeaderMap::new())
            .await?;
        versioned(&what, resource_type, &headers, body)
    }

    /// Replaces a resource (its `resourceType` and `id` say which), with
    /// `If-Match` when a version is given; a stale version answers 412.
    pub async fn update(
        &self,
        resource: &Value,
        if_match: Option<&str>,
    ) -> Result<Versioned, ClientError> {
        let kind = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let what = format!("update {kind}/{id}");
        let url = self.url(&format!("{kind}/{id}"))?;
        let mut headers = HeaderMap::new();
        if let Some(v) = if_match
            && let Ok(value) = format!("W/\"{v}\"").parse()
        {
            headers.insert(reqwest::header::IF_MATCH, value);
        }
        let (_, h, body) = self
            .send(&what, Method::PUT, url, Some(resource), headers)
            .await?;
        versioned_or_echo(&what, &kind, &h, body, resource)
    }

    /// Creates a resource; with `if_none_exist` (a search query) an
    /// existing match is returned instead of a duplicate.
    pub async fn create(
        &self,
        resource: &Value,
        if_none_exist: Option<&str>,
    ) -> Result<Versioned, ClientError> {
        let kind = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let what = format!("create {kind}");
        let url = self.url(&kind)?;
        let mut headers = HeaderMap::new();
        if let Some(q) = if_none_exist
            && let Ok(value) = q.parse()
        {
            headers.insert("if-none-exist", value);
        }
        let (_, h, body) = self
            .send(&what, Method::POST, url, Some(resource), headers)
            .await?;
        versioned_or_echo(&what, &kind, &h, body, resource)
    }

    /// POSTs a transaction or batch Bundle to the base; for tests and
    /// seeding tools.
    pub async fn transaction(&self, bundle: &Value) -> Result<Value, ClientError> {
        let url = self.base.clone();
        let (_, _, body) = self
            .send(
                "transaction",
                Method::POST,
                url,
                Some(bundle),
                HeaderMap::new(),
            )
            .await?;
        Ok(body)
    }
}

/// The version from a weak or strong ETag (`W/"3"` gives `3`).
fn etag_version(headers: &HeaderMap) -> Option<String> {
    let tag = headers.get(ETAG)?.to_str().ok()?;
    let v = tag.trim().trim_start_matches("W/").trim_matches('"');
    (!v.is_empty()).then(|| v.to_string())
}

fn versioned(
    what: &str,
    kind: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Versioned, ClientError> {
    if body.get("resourceType").and_then(Value::as_str) != Some(kind) {
        return Err(ClientError::Body {
            what: what.to_string(),
            detail: format!("the answer is not a {kind}"),
        });
    }
    let version = etag_version(headers).or_else(|| version_id(&body));
    Ok(Versioned {
        resource: body,
        version,
    })
}

/// A write's answer: the stored resource, or (for `Prefer: return=minimal`
/// servers) what was sent with the ETag's version.
fn versioned_or_echo(
    what: &str,
    kind: &str,
    headers: &HeaderMap,
    body: Value,
    sent: &Value,
) -> Result<Versioned, ClientError> {
    if body.is_null()
        || body.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome")
    {
        return Ok(Versioned {
            resource: sent.clone(),
            version: etag_version(headers),
        });
    }
    versioned(what, kind, headers, body)
}

/// The issue codes of an OperationOutcome, for messages.
fn outcome_codes(body: &Value) -> Option<String> {
    if body.get("resourceType").and_then(Value::as_str) != Some("OperationOutcome") {
        return None;
    }
    let codes: Vec<&str> = body
        .get("issue")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("code").and_then(Value::as_str))
        .take(5)
        .collect();
    (!codes.is_empty()).then(|| codes.join(", "))
}

/// How long to wait before retry `attempt` (1-based): 5 s doubling, capped.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    Duration::from_secs(5u64.saturating_mul(1u64 << exp)).min(max)
}
