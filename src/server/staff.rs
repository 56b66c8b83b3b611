//! Staff identity: users and their clinics, Argon2id passwords, session
//! cookies with an absolute and an idle timeout, the CSRF header rule, the
//! client address of a request, and one-time kiosk enrollment codes staff
//! create. A password reset or a removal ends the user's sessions.
//!
//! Sessions and enrollment codes are random secrets stored only as SHA-256
//! hashes; a stolen database cannot be replayed as a login or an
//! enrollment.

use std::net::{IpAddr, SocketAddr};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rusqlite::Connection;

use super::AppState;
use super::db::{StorageError, secret_hash};
use super::error::ApiError;
use super::storage::backend::Store;
use super::storage::staff::{self as storage, StoredSession};
use crate::domain::ClinicId;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ck_session";
/// The header every state-changing staff request must carry. Browsers send
/// custom headers cross-origin only after a CORS preflight, which this
/// server never approves, so its presence proves a same-origin script.
pub const CSRF_HEADER: &str = "x-requested-with";
/// How long enrollment codes last.
pub const ENROLLMENT_CODE_HOURS: i64 = 24;
/// Failed sign-ins for one user name before it is delayed.
pub const MAX_LOGIN_FAILURES: u32 = super::login_guard::USER_FREE_FAILURES;
/// A session's last use is written at most this often, in seconds, so
/// every staff request does not cost a write.
const TOUCH_EVERY_SECS: i64 = 60;

/// The alphabet of enrollment codes: Crockford base32, no I, L, O or U,
/// so a code read aloud or typed on a kiosk is unambiguous.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why a staff administration command failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// The user name is empty, too long or has characters other than
    /// letters, digits, `.`, `_`, `-` and `@`.
    #[error("user name must be 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadUsername,
    /// The password is shorter than 12 characters.
    #[error("password must be at least 12 characters")]
    WeakPassword,
    /// The clinic is not in the configuration.
    #[error("clinic {0} is not configured on this server")]
    UnknownClinic(String),
    /// Hashing the password failed.
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

impl From<rusqlite::Error> for StaffError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(StorageError::Sqlite(e))
    }
}

/// Checks a user name's form.
pub fn valid_username(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

/// Checks a password against a stored PHC string; false on any mismatch
/// or unreadable hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Adds `username` to `clinic` with `password`, or sets the password of an
/// existing user (for every clinic they belong to, since a person has one
/// password). Returns true when the membership is new.
pub fn add_staff(
    conn: &Connection,
    clinic: &ClinicId,
    username: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<bool, StaffError> {
    if !valid_username(username) {
        return Err(StaffError::BadUsername);
    }
    if password.chars().count() < 12 {
        return Err(StaffError::WeakPassword);
    }
    let hash = hash_password(password)?;
    if storage::set_password(conn, username, &hash)? > 0 {
        // A new password ends every session started with the old one.
        end_sessions(conn, username)?;
    }
    Ok(storage::add_member(conn, clinic, username, &hash, now)?)
}

/// [`add_staff`] through the storage facade, on either backend: checks
/// the name and password, hashes the password off the runtime, and stores
/// it in one step. Returns true when the membership is new.
pub async fn add_staff_to(
    store: &Store,
    clinic: &ClinicId,
    username: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<bool, StaffError> {
    if !valid_username(username) {
        return Err(StaffError::BadUsername);
    }
    if password.chars().count() < 12 {
        return Err(StaffError::WeakPassword);
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StaffError::Hash(e.to_string()))??;
    Ok(store
        .add_staff(clinic.clone(), username.to_string(), hash, now)
        .await?)
}

/// [`remove_staff`] through the storage facade, on either backend.
pub async fn remove_staff_from(
    store: &Store,
    clinic: Option<&ClinicId>,
    username: &str,
) -> Result<u64, StaffError> {
    Ok(store
        .remove_staff(clinic.cloned(), username.to_string())
        .await?)
}

/// Ends every session of `username`; returns how many there were.
pub fn end_sessions(conn: &Connection, username: &str) -> Result<usize, StaffError> {
    Ok(storage::end_sessions(conn, username)?)
}

/// Removes `username` from `clinic`, or from every clinic when `clinic`
/// is `None`, and ends their sessions. Returns how many memberships were
/// removed; 0 when the user was not there.
pub fn remove_staff(
    conn: &Connection,
    clinic: Option<&ClinicId>,
    username: &str,
) -> Result<usize, StaffError> {
    let removed = storage::remove_member(conn, clinic, username)?;
    if removed > 0 {
        end_sessions(conn, username)?;
    }
    Ok(removed)
}

/// A fresh enrollment code, `XXXX-XXXX-XXXX` (60 random bits).
pub fn new_enrollment_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(
            CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())],
        ));
    }
    out
}

/// The canonical form of a typed code: upper case, without separators,
/// with the look-alikes O→0 and I/L→1 folded.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// Creates and stores a one-time enrollment code for `clinic`; returns it
/// and its expiry. Only its hash is stored.
pub fn create_enrollment_code(
    conn: &Connection,
    clinic: &ClinicId,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), StorageError> {
    let code = new_enrollment_code();
    let expires = now + Duration::hours(ENROLLMENT_CODE_HOURS);
    let hash = secret_hash(&normalize_code(&code));
    storage::insert_enrollment_code(conn, clinic, &hash, now, expires)?;
    Ok((code, expires))
}

/// Creates and stores a one-time enrollment code for `clinic` through the
/// storage facade; returns it and its expiry. With `user`, the creation is
/// audited as theirs in the same transaction.
pub async fn issue_enrollment_code(
    store: &Store,
    clinic: ClinicId,
    now: DateTime<Utc>,
    user: Option<String>,
) -> Result<(String, DateTime<Utc>), StorageError> {
    let code = new_enrollment_code();
    let expires = now + Duration::hours(ENROLLMENT_CODE_HOURS);
    let hash = secret_hash(&normalize_code(&code));
    match user {
        Some(user) => {
            store
                .create_enrollment_code(clinic, hash, now, expires, user)
                .await?
        }
        None => {
            store
                .insert_enrollment_code(clinic, hash, now, expires)
                .await?
        }
    }
    Ok((code, expires))
}

/// A dummy hash to verify against when the user does not exist, so a
/// wrong user name costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password-000").unwrap_or_default())
}

/// Starts a session for `username`; returns the cookie value.
pub async fn start_session(
    store: &Store,
    username: &str,
    now: DateTime<Utc>,
    lasts: Duration,
) -> Result<String, StorageError> {
    let token = super::db::random_token(32);
    store
        .insert_session(secret_hash(&token), username.to_string(), now, lasts)
        .await?;
    Ok(token)
}

/// The `Set-Cookie` value for a session, or for clearing it (`token` None).
pub fn session_cookie(token: Option<&str>, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
        ),
        None => format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    }
}

/// Whether the session cookie is marked `Secure`: always, unless the
/// server listens on a loopback address and is not published over HTTPS
/// (the demo and tests on `http://127.0.0.1`).
pub fn secure_cookies(config: &crate::config::ServerConfig) -> bool {
    let https = config
        .server
        .public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    https || !config.server.listen.ip().is_loopback()
}

/// The client address of a request: the socket peer, or, when the peer is
/// one of `trusted` proxies, the address that proxy appended last to
/// `X-Forwarded-For` (skipping further trusted proxies), else its
/// `X-Real-IP`. Entries left of the first untrusted hop are the client's
/// own claims and never believed. `None` when there is no socket address
/// (a request built in a test).
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => {}
            Ok(ip) => return Some(ip),
            // An unreadable hop: nothing left of it can be trusted.
            Err(_) => return Some(peer),
        }
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(Some(peer))
}

/// The request's client address (see [`client_ip`]), as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self(client_ip(
            &parts.headers,
            peer,
            &state.config().server.trusted_proxies,
        )))
    }
}

/// A signed-in staff user, extracted from the session cookie. For any
/// method but GET and HEAD it also requires the CSRF header.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// Who.
    pub username: String,
    /// The clinics they belong to; nothing else is visible to them.
    pub clinics: Vec<ClinicId>,
    /// The session token's hash, for logout.
    pub token_hash: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

impl StaffSession {
    /// 403 unless the user belongs to `clinic`.
    pub fn require(&self, clinic: &ClinicId) -> Result<(), ApiError> {
        if self.clinics.contains(clinic) {
            Ok(())
        } else {
            Err(ApiError::other_clinic())
        }
    }
}

/// The value of the session cookie, if the request has one.
pub fn session_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// 403 unless a state-changing request carries the CSRF header.
pub fn require_csrf(parts: &Parts) -> Result<(), ApiError> {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return Ok(());
    }
    match parts.headers.get(CSRF_HEADER) {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(ApiError::Forbidden {
            code: "csrf",
            message: "state-changing staff requests need the X-Requested-With header",
        }),
    }
}

/// A request that passed [`require_csrf`]: taken by handlers that change
/// state without a session, such as sign-in.
#[derive(Debug, Clone, Copy)]
pub struct CsrfChecked;

impl<S: Send + Sync> FromRequestParts<S> for CsrfChecked {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        require_csrf(parts).map(|()| CsrfChecked)
    }
}

/// What a request may do with a stored session at `now`.
#[derive(Debug, PartialEq, Eq)]
enum SessionUse {
    /// Past its absolute end.
    Expired,
    /// Unused for the idle timeout: it is deleted.
    Idle,
    /// Valid, and its last use is recent enough to leave as it is.
    Fresh,
    /// Valid, and its last use is older than [`TOUCH_EVERY_SECS`]: it is
    /// written, so the idle timeout counts from now.
    Touch,
}

/// What `session` allows at `now` with the idle timeout `idle`.
fn usable_at(session: &StoredSession, now: DateTime<Utc>, idle: Duration) -> SessionUse {
    if session.expires_at <= now {
        SessionUse::Expired
    } else if session.last_used_at + idle <= now {
        SessionUse::Idle
    } else if now - session.last_used_at >= Duration::seconds(TOUCH_EVERY_SECS) {
        SessionUse::Touch
    } else {
        SessionUse::Fresh
    }
}

const SESSION_ENDED: ApiError = ApiError::Unauthorized("your session has ended; sign in again");

/// Resolving a session reads (on SQLite on the read-only connection, so
/// staff reads never wait behind a commit's fsync). The writer is used only when the
/// session changes: its last use is written when it is older than
/// [`TOUCH_EVERY_SECS`] (once a minute per active session, which keeps the
/// idle timeout exact to the minute), and an idle session is deleted.
/// The touch is awaited rather than sent off, so the next request sees it.
impl FromRequestParts<AppState> for StaffSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require_csrf(parts)?;
        let token = session_token(parts).ok_or(ApiError::Unauthorized("sign in first"))?;
        let token_hash = secret_hash(&token);
        let now = state.now();
        let idle = state.config().server.staff_idle;
        let stored = state
            .store()
            .load_session(&token_hash)
            .await?
            .ok_or(SESSION_ENDED)?;
        match usable_at(&stored, now, idle) {
            SessionUse::Expired => return Err(SESSION_ENDED),
            SessionUse::Idle => {
                state.store().delete_session(&token_hash).await?;
                return Err(ApiError::Unauthorized(
                    "your session ended after a while unused; sign in again",
                ));
            }
            SessionUse::Touch => {
                state.store().touch_session(&token_hash, now).await?;
            }
            SessionUse::Fresh => {}
        }
        Ok(StaffSession {
            username: stored.username,
            clinics: stored.clinics,
            token_hash,
            expires_at: stored.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn enrollment_codes_are_typable_and_normalize() {
        let code = new_enrollment_code();
        assert_eq!(code.len(), 14);
        assert_eq!(normalize_code(&code).len(), 12);
        assert_eq!(normalize_code(" abcd-efgh-ol1i "), "ABCDEFGH0111");
        assert_ne!(new_enrollment_code(), new_enrollment_code());
    }

    #[test]
    fn user_names_are_checked() {
        assert!(valid_username("front.desk@clinic"));
        for bad in ["", "a b", "ñ", &"x".repeat(65), "a;b"] {
            assert!(!valid_username(bad), "{bad}");
        }
    }

    #[test]
    fn the_client_address_is_the_peer_unless_a_trusted_proxy_names_it() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.9.9.9, 198.51.100.7".parse().unwrap());
        assert_eq!(client_ip(&h, None, &[proxy]), None);
        // Untrusted peers cannot name another address.
        assert_eq!(client_ip(&h, Some(peer), &[]), Some(proxy));
        // The last hop the trusted proxy appended is the client; earlier
        // entries are the client's own claims.
        assert_eq!(client_ip(&h, Some(peer), &[proxy]), ip("198.51.100.7"));
        // A client's own X-Real-IP, passed along, does not win over it.
        h.insert("x-real-ip", "203.0.113.5".parse().unwrap());
        assert_eq!(client_ip(&h, Some(peer), &[proxy]), ip("198.51.100.7"));
        // Trusted hops are skipped; a garbled hop stops the walk.
        h.insert(
            "x-forwarded-for",
            "10.9.9.9, 198.51.100.7, 127.0.0.1".parse().unwrap(),
        );
        assert_eq!(client_ip(&h, Some(peer), &[proxy]), ip("198.51.100.7"));
        h.insert("x-forwarded-for", "10.9.9.9, junk".parse().unwrap());
        assert_eq!(client_ip(&h, Some(peer), &[proxy]), Some(proxy));
        // Without X-Forwarded-For, the proxy's X-Real-IP.
        h.remove("x-forwarded-for");
        assert_eq!(client_ip(&h, Some(peer), &[proxy]), ip("203.0.113.5"));
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(peer), &[proxy]),
            Some(proxy)
        );
    }

    #[test]
    fn cookies_are_secure_except_on_plain_loopback() {
        let dir = std::path::PathBuf::from("/tmp/x");
        let mut c = crate::config::ServerConfig::demo(dir, "127.0.0.1:8080".parse().unwrap());
        assert!(!secure_cookies(&c));
        c.server.listen = "[::1]:8080".parse().unwrap();
        assert!(!secure_cookies(&c));
        c.server.public_url = Some("https://checkin.example.org".parse().unwrap());
        assert!(secure_cookies(&c));
        c.server.public_url = Some("http://checkin.example.org".parse().unwrap());
        c.server.listen = "0.0.0.0:8080".parse().unwrap();
        assert!(secure_cookies(&c));
        c.server.public_url = None;
        c.server.listen = "192.168.1.5:8080".parse().unwrap();
        assert!(secure_cookies(&c));
    }

    #[test]
    fn a_session_is_written_only_when_its_last_use_is_a_minute_old() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let idle = Duration::minutes(30);
        let s = StoredSession {
            username: "amy".into(),
            expires_at: t0 + Duration::hours(8),
            last_used_at: t0,
            clinics: Vec::new(),
        };
        assert_eq!(usable_at(&s, t0, idle), SessionUse::Fresh);
        let touch = t0 + Duration::seconds(TOUCH_EVERY_SECS);
        assert_eq!(
            usable_at(&s, touch - Duration::seconds(1), idle),
            SessionUse::Fresh
        );
        assert_eq!(usable_at(&s, touch, idle), SessionUse::Touch);
        assert_eq!(usable_at(&s, t0 + idle, idle), SessionUse::Idle);
        assert_eq!(
            usable_at(&s, t0 + Duration::hours(8), idle),
            SessionUse::Expired
        );
    }

    #[test]
    fn session_cookies_are_strict() {
        let c = session_cookie(Some("tok"), 3600, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/") && c.contains("Max-Age=3600"));
        assert!(session_cookie(None, 0, true).contains("Max-Age=0; Secure"));
    }
}
