//! Credentials for the EHR: a bearer token read from a file or an
//! environment variable, or a SMART Backend Services access token obtained
//! with a signed client assertion (RS384 or ES384, signed with `ring`) and
//! cached until shortly before it expires.
//!
//! The token file and the private key are read once, on the blocking pool,
//! and kept parsed; [`Credentials::reload`] reads them again (on SIGHUP, and
//! a bearer token after a 401). The PEM key is decoded with
//! `rustls-pki-types`. Only one token request runs at a time: callers that
//! find the cached token stale wait for that one request and share it.
//!
//! **Architecture invariant:** no token, key or assertion is ever logged or
//! put in an error message; errors name the file, variable or endpoint.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
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
    /// The last load of the token or key failed; its message, kept until
    /// the next reload.
    #[error("{0}")]
    NotLoaded(String),
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

/// A parsed signing key.
pub enum SigningKey {
    /// P-384 for ES384.
    Ecdsa(EcdsaKeyPair),
    /// RSA for RS384.
    Rsa(RsaKeyPair),
}

/// What the configured method needs, read and parsed.
enum Material {
    /// No auth: nothing to read.
    Nothing,
    /// The bearer token.
    Token(String),
    /// The SMART client assertion's signing key.
    Key(Box<SigningKey>),
}

/// The outcome of the last load: the material, or why it failed.
type Loaded = Result<Arc<Material>, String>;

/// Supplies the `Authorization` header value for EHR requests.
pub struct Credentials {
    /// The configured method.
    auth: FhirAuth,
    /// The token or key as last loaded; `None` before the first use.
    loaded: RwLock<Option<Loaded>>,
    /// The SMART access token and when to stop using it.
    cached: Mutex<Option<(String, Instant)>>,
    /// Held while a token request runs, so only one runs at a time.
    refresh: tokio::sync::Mutex<()>,
    /// Token requests sent, for status and tests.
    token_requests: std::sync::atomic::AtomicU64,
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
            loaded: RwLock::new(None),
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            token_requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many token requests were sent.
    pub fn token_requests(&self) -> u64 {
        self.token_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads the token or key again on the blocking pool, and forgets a
    /// cached access token. When the read fails, credentials loaded before
    /// stay in use (a file being replaced is not a reason to stop), and the
    /// error is returned for the log; with none loaded before, requests
    /// fail with it until a reload succeeds.
    pub async fn reload(&self) -> Result<(), AuthError> {
        let auth = self.auth.clone();
        let read = tokio::task::spawn_blocking(move || load(&auth))
            .await
            .unwrap_or_else(|e| Err(AuthError::NotLoaded(format!("loading credentials: {e}"))));
        let mut loaded = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        let out = match read {
            Ok(m) => {
                *loaded = Some(Ok(Arc::new(m)));
                Ok(())
            }
            Err(e) => {
                if !matches!(*loaded, Some(Ok(_))) {
                    *loaded = Some(Err(e.to_string()));
                }
                Err(e)
            }
        };
        drop(loaded);
        self.invalidate();
        out
    }

    /// The loaded material, loading it on first use.
    async fn material(&self) -> Result<Arc<Material>, AuthError> {
        let current = self
            .loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let loaded = match current {
            Some(l) => l,
            None => {
                // An error here is also stored; it is returned below.
                let _ = self.reload().await;
                self.loaded
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| Err("credentials not loaded".into()))
            }
        };
        loaded.map_err(AuthError::NotLoaded)
    }

    /// Forgets a cached access token.
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// After a 401: a bearer token is read again from its source (it may
    /// have been rotated); a SMART access token is forgotten.
    pub async fn unauthorized(&self) {
        match &self.auth {
            FhirAuth::Bearer(_) => {
                if let Err(e) = self.reload().await {
                    tracing::warn!("EHR bearer token reload failed: {e}");
                }
            }
            _ => self.invalidate(),
        }
    }

    /// The cached access token, if still good.
    fn cached_token(&self) -> Option<String> {
        let now = Instant::now();
        self.cached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(t, _)| t.clone())
    }

    /// The `Authorization` header value, or `None` for no auth.
    pub async fn header(&self, http: &reqwest::Client) -> Result<Option<String>, AuthError> {
        let smart = match &self.auth {
            FhirAuth::None => return Ok(None),
            FhirAuth::Bearer(_) => {
                return match &*self.material().await? {
                    Material::Token(t) => Ok(Some(format!("Bearer {t}"))),
                    _ => Err(AuthError::NotLoaded("no bearer token loaded".into())),
                };
            }
            FhirAuth::Smart(smart) => smart,
        };
        if let Some(token) = self.cached_token() {
            return Ok(Some(format!("Bearer {token}")));
        }
        let _one_at_a_time = self.refresh.lock().await;
        // Another caller may have fetched it while this one waited.
        if let Some(token) = self.cached_token() {
            return Ok(Some(format!("Bearer {token}")));
        }
        let material = self.material().await?;
        let Material::Key(key) = &*material else {
            return Err(AuthError::NotLoaded("no private key loaded".into()));
        };
        let now = Instant::now();
        self.token_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (token, lifetime) = fetch_token(http, smart, key).await?;
        // Renew a minute early, and never cache for less than 0 s.
        let until = now + lifetime.saturating_sub(Duration::from_secs(60));
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some((token.clone(), until));
        Ok(Some(format!("Bearer {token}")))
    }
}

/// Reads and parses what `auth` needs; blocking.
fn load(auth: &FhirAuth) -> Result<Material, AuthError> {
    match auth {
        FhirAuth::None => Ok(Material::Nothing),
        FhirAuth::Bearer(source) => read_secret(source).map(Material::Token),
        FhirAuth::Smart(smart) => {
            read_key(&smart.private_key_file, smart.algorithm).map(|k| Material::Key(Box::new(k)))
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
    key: &SigningKey,
) -> Result<(String, Duration), AuthError> {
    let assertion = client_assertion(smart, key, chrono::Utc::now().timestamp())?;
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
    let body = small_body(resp).await?;
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

/// The most a token endpoint's answer may be.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// The token endpoint's JSON answer, read only up to [`MAX_TOKEN_ANSWER`];
/// `Null` when it is not JSON.
async fn small_body(mut resp: reqwest::Response) -> Result<serde_json::Value, AuthError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| AuthError::Transport(e.without_url().to_string()))?
    {
        if bytes.len() + chunk.len() > MAX_TOKEN_ANSWER {
            return Err(AuthError::Transport(format!(
                "the answer is larger than {MAX_TOKEN_ANSWER} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

/// A signed JWT client assertion (`private_key_jwt`), valid for 4 minutes
/// from `now` (unix seconds).
pub fn client_assertion(
    smart: &SmartSettings,
    key: &SigningKey,
    now: i64,
) -> Result<String, AuthError> {
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
    let sig = sign(key, signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Reads the one private key in a PEM file and parses it for `alg`.
pub fn read_key(path: &Path, alg: JwtAlgorithm) -> Result<SigningKey, AuthError> {
    let bytes = std::fs::read(path).map_err(|e| AuthError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |reason: String| AuthError::Key {
        path: path.to_path_buf(),
        reason,
    };
    // The PEM parser's own errors may quote the file; they are not passed on.
    let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        bad("no PEM private key (\"-----BEGIN PRIVATE KEY-----\") could be read".to_string())
    })?;
    let found = match &der {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        PrivateKeyDer::Pkcs8(_) => "PRIVATE KEY",
        _ => "an unknown kind of key",
    };
    match (alg, &der) {
        (JwtAlgorithm::Es384, PrivateKeyDer::Pkcs8(k)) => EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            k.secret_pkcs8_der(),
            &SystemRandom::new(),
        )
        .map(SigningKey::Ecdsa)
        .map_err(|e| bad(format!("not a P-384 key for ES384 ({e})"))),
        (JwtAlgorithm::Es384, _) => Err(bad(format!(
            "expected a PKCS#8 \"PRIVATE KEY\" for ES384, found \"{found}\"; convert it with `openssl pkcs8 -topk8 -nocrypt`"
        ))),
        (JwtAlgorithm::Rs384, PrivateKeyDer::Pkcs8(k)) => {
            RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
                .map(SigningKey::Rsa)
                .map_err(|e| {
                    bad(format!(
                        "not an RSA key of 2048 bits or more for RS384 ({e})"
                    ))
                })
        }
        (JwtAlgorithm::Rs384, PrivateKeyDer::Pkcs1(k)) => {
            RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map(SigningKey::Rsa)
                .map_err(|e| {
                    bad(format!(
                        "not an RSA key of 2048 bits or more for RS384 ({e})"
                    ))
                })
        }
        (JwtAlgorithm::Rs384, _) => Err(bad(format!(
            "expected a \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" for RS384, found \"{found}\""
        ))),
    }
}

fn sign(key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, AuthError> {
    let rng = SystemRandom::new();
    match key {
        SigningKey::Ecdsa(key) => key
            .sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| AuthError::Sign),
        SigningKey::Rsa(key) => {
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
    use base64::engine::general_purpose::STANDARD;
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
        let settings = smart(path, JwtAlgorithm::Es384);
        let key = read_key(&settings.private_key_file, settings.algorithm).unwrap();
        let jwt = client_assertion(&settings, &key, 1_700_000_000).unwrap();
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
        let err = read_key(&path, JwtAlgorithm::Es384).err().unwrap();
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
