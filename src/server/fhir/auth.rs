//! Credentials for the EHR: a bearer token read from a file or an
//! environment variable, or a SMART Backend Services access token obtained
//! with a signed client assertion (RS384 or ES384, signed with `ring`) and
//! cached until shortly before it expires.
//!
//! **Architecture invariant:** no token, key or assertion is ever logged or
//! put in an error message; errors name the file, variable or endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::json;

use crate::config::{FhirAuth, JwtAlgorithm, SecretSource, SmartSettings};

/// Why no credential could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token or key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file or variable is empty or unset.
    #[error("no bearer token in {0}")]
    Empty(String),
    /// The private key is not a usable PEM key for the algorithm.
    #[error("private key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Signing failed.
    #[error("signing the client assertion failed")]
    Sign,
    /// The token endpoint could not be reached.
    #[error("token endpoint: {0}")]
    Transport(String),
    /// The token endpoint refused.
    #[error("token endpoint answered {status}: {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, if any.
        error: String,
    },
    /// The token endpoint's answer had no `access_token`.
    #[error("token endpoint answered without an access_token")]
    NoToken,
}

impl AuthError {
    /// True when trying again later may work (the endpoint was down).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Supplies the `Authorization` header value for EHR requests.
pub struct Credentials {
    /// The configured method.
    auth: FhirAuth,
    /// The SMART access token and when to stop using it.
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials for `auth`; nothing is read until first use.
    pub fn new(auth: FhirAuth) -> Self {
        Self {
            auth,
            cached: Mutex::new(None),
        }
    }

    /// Forgets a cached token, after the EHR answered 401.
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The `Authorization` header value, or `None` for no auth.
    pub async fn header(&self, http: &reqwest::Client) -> Result<Option<String>, AuthError> {
        match &self.auth {
            FhirAuth::None => Ok(None),
            FhirAuth::Bearer(source) => Ok(Some(format!("Bearer {}", read_secret(source)?))),
            FhirAuth::Smart(smart) => {
                let now = Instant::now();
                if let Some((token, until)) = self
                    .cached
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    && *until > now
                {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let (token, lifetime) = fetch_token(http, smart).await?;
                // Renew a minute early, and never cache for less than 0 s.
                let until = now + lifetime.saturating_sub(Duration::from_secs(60));
                *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((token.clone(), until));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

/// The secret from its source: the first line of the file, or the variable.
pub fn read_secret(source: &SecretSource) -> Result<String, AuthError> {
    let (value, name) = match source {
        SecretSource::File(path) => (
            std::fs::read_to_string(path).map_err(|e| AuthError::Read {
                path: path.clone(),
                source: e,
            })?,
            path.display().to_string(),
        ),
        SecretSource::Env(var) => (std::env::var(var).unwrap_or_default(), format!("${var}")),
    };
    let token = value.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(AuthError::Empty(name));
    }
    Ok(token)
}

/// Exchanges a fresh client assertion for an access token.
async fn fetch_token(
    http: &reqwest::Client,
    smart: &SmartSettings,
) -> Result<(String, Duration), AuthError> {
    let assertion = client_assertion(smart, chrono::Utc::now().timestamp())?;
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", smart.scope.as_str()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let resp = http
        .post(smart.token_url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| AuthError::Transport(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        let error = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no error code")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return Err(AuthError::Refused { status, error });
    }
    let token = body
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::NoToken)?
        .to_string();
    let lifetime = body
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(300);
    Ok((token, Duration::from_secs(lifetime)))
}

/// A signed JWT client assertion (`private_key_jwt`), valid for 4 minutes
/// from `now` (unix seconds).
pub fn client_assertion(smart: &SmartSettings, now: i64) -> Result<String, AuthError> {
    let mut header = json!({"alg": smart.algorithm.as_str(), "typ": "JWT"});
    if let Some(kid) = &smart.key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": smart.client_id,
        "sub": smart.client_id,
        "aud": smart.token_url.as_str(),
        "iat": now,
        "exp": now + 240,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = read_pem_key(&smart.private_key_file)?;
    let sig = sign(
        &smart.private_key_file,
        smart.algorithm,
        &der,
        signing_input.as_bytes(),
    )?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The DER bytes of the one private key in a PEM file, with its label.
fn read_pem_key(path: &Path) -> Result<(String, Vec<u8>), AuthError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |reason: &str| AuthError::Key {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| bad("no PEM \"-----BEGIN ...-----\" block"))?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| bad("malformed PEM header"))?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end = rest
        .find("-----END ")
        .ok_or_else(|| bad("no PEM \"-----END ...-----\" line"))?;
    let b64: String = rest
        .get(body_start..end)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|_| bad("the PEM body is not base64"))?;
    Ok((label, der))
}

fn sign(
    path: &Path,
    alg: JwtAlgorithm,
    (label, der): &(String, Vec<u8>),
    message: &[u8],
) -> Result<Vec<u8>, AuthError> {
    let bad = |reason: String| AuthError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let rng = SystemRandom::new();
    match alg {
        JwtAlgorithm::Es384 => {
            if label != "PRIVATE KEY" {
                return Err(bad(format!(
                    "expected a PKCS#8 \"PRIVATE KEY\" for ES384, found \"{label}\"; convert it with `openssl pkcs8 -topk8 -nocrypt`"
                )));
            }
            let key =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng)
                    .map_err(|e| bad(format!("not a P-384 key for ES384 ({e})")))?;
            key.sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| AuthError::Sign)
        }
        JwtAlgorithm::Rs384 => {
            let key = match label.as_str() {
                "PRIVATE KEY" => RsaKeyPair::from_pkcs8(der),
                "RSA PRIVATE KEY" => RsaKeyPair::from_der(der),
                other => {
                    return Err(bad(format!(
                        "expected a \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" for RS384, found \"{other}\""
                    )));
                }
            }
            .map_err(|e| bad(format!("not an RSA key of 2048 bits or more for RS384 ({e})")))?;
            let mut sig = vec![0u8; key.public().modulus_len()];
            key.sign(&signature::RSA_PKCS1_SHA384, &rng, message, &mut sig)
                .map_err(|_| AuthError::Sign)?;
            Ok(sig)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    fn smart(path: PathBuf, algorithm: JwtAlgorithm) -> SmartSettings {
        SmartSettings {
            client_id: "kiosk".into(),
            token_url: "https://ehr.example.org/token".parse().unwrap(),
            private_key_file: path,
            algorithm,
            key_id: Some("k1".into()),
            scope: "system/*.rs".into(),
        }
    }

    #[test]
    fn an_es384_assertion_verifies_with_the_public_key() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, pem).unwrap();
        let jwt = client_assertion(&smart(path, JwtAlgorithm::Es384), 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES384");
        assert_eq!(header["kid"], "k1");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "kiosk");
        assert_eq!(claims["sub"], "kiosk");
        assert_eq!(claims["aud"], "https://ehr.example.org/token");
        assert_eq!(claims["exp"], 1_700_000_240);
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P384_SHA384_FIXED,
            key.public_key().as_ref(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn a_wrong_key_kind_is_named_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = client_assertion(&smart(path, JwtAlgorithm::Es384), 0).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("openssl pkcs8 -topk8"), "{msg}");
        assert!(!msg.contains("AAAA"), "{msg}");
    }

    #[test]
    fn bearer_tokens_come_from_the_first_line_of_a_file_or_a_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "abc123\nignored\n").unwrap();
        assert_eq!(
            read_secret(&SecretSource::File(path.clone())).unwrap(),
            "abc123"
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            read_secret(&SecretSource::File(path)),
            Err(AuthError::Empty(_))
        ));
        let err =
            read_secret(&SecretSource::Env("CHECKIN_TEST_UNSET_TOKEN_VAR".into())).unwrap_err();
        assert!(err.to_string().contains("$CHECKIN_TEST_UNSET_TOKEN_VAR"));
    }
}
