//! The clinic server's `[database]` table: the PostgreSQL URL, where its
//! password comes from, the pool size and TLS to the database. Left out,
//! the server keeps its data in SQLite under `server.data_dir`.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::check::Checker;

/// The environment variable the database password is read from when no
/// `password_file` is configured.
pub const PASSWORD_ENV: &str = "CLINIC_SERVER_DB_PASSWORD";

/// The longest database URL accepted.
const MAX_URL_CHARS: usize = 2048;

/// How the connection to PostgreSQL is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbTls {
    /// `sslmode=disable` (or none given): plain TCP or a Unix socket.
    Disable,
    /// `sslmode=require` or `verify-full`: TLS through rustls, the server's
    /// certificate checked against the CA file (or the public roots) and
    /// its host name. Stricter than libpq's `require`, which checks nothing.
    Verify,
}

/// The checked `[database]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// The URL as given, without `sslmode` (which is [`Self::tls`]); it
    /// holds no password.
    pub url: Url,
    /// TLS to the database.
    pub tls: DbTls,
    /// The PEM CA certificates the database's certificate must chain to;
    /// `None` trusts the public web roots.
    pub ca_file: Option<PathBuf>,
    /// The file holding the password (its first line); `None` reads
    /// [`PASSWORD_ENV`], and connects without one when that is unset too.
    pub password_file: Option<PathBuf>,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl DatabaseSettings {
    /// One line for the configuration summary; the URL has no password.
    pub fn summary(&self) -> String {
        let mut s = format!("PostgreSQL at {}", self.url);
        let _ = write!(s, ", pool of {}", self.pool_size);
        match (self.tls, &self.ca_file) {
            (DbTls::Disable, _) => s.push_str(", no TLS"),
            (DbTls::Verify, Some(ca)) => {
                let _ = write!(s, ", TLS verified against {}", ca.display());
            }
            (DbTls::Verify, None) => s.push_str(", TLS verified against the public roots"),
        }
        match &self.password_file {
            Some(f) => {
                let _ = write!(s, ", password in {}", f.display());
            }
            None => {
                let _ = write!(s, ", password from ${PASSWORD_ENV} if set");
            }
        }
        s
    }
}

/// `[database]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDatabase {
    /// `postgres://user@host:port/db?sslmode=…`.
    url: Option<String>,
    /// The password's file.
    password_file: Option<PathBuf>,
    /// The CA certificates' file.
    ca_file: Option<PathBuf>,
    /// Connections in the pool.
    pool_size: i64,
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            ca_file: None,
            pool_size: 16,
        }
    }
}

impl RawDatabase {
    /// Stage two; `None` when the URL is missing or wrong (a problem is
    /// recorded).
    pub(super) fn check(self, c: &mut Checker<'_>) -> Option<DatabaseSettings> {
        let pool_size = c.whole("database.pool_size", self.pool_size, 1..=512, "connections");
        let password_file = self
            .password_file
            .map(|p| c.path("database.password_file", &p));
        let ca_file = self.ca_file.map(|p| c.path("database.ca_file", &p));
        let Some(raw) = self.url else {
            c.missing(
                "database.url",
                "a PostgreSQL URL such as \"postgres://checkin@db.example.org/checkin?sslmode=verify-full\"",
            );
            return None;
        };
        let (url, tls) = match check_url(&raw) {
            Ok(v) => v,
            Err(message) => {
                c.problem("database.url", message);
                return None;
            }
        };
        if tls == DbTls::Disable && ca_file.is_some() {
            c.problem(
                "database.ca_file",
                "a CA file is only used with TLS; add `?sslmode=verify-full` to `database.url` or remove `ca_file`",
            );
        }
        Some(DatabaseSettings {
            url,
            tls,
            ca_file,
            password_file,
            pool_size,
        })
    }
}

/// Checks a PostgreSQL URL and splits `sslmode` off it.
pub fn check_url(raw: &str) -> Result<(Url, DbTls), String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("expected at most {MAX_URL_CHARS} characters"));
    }
    let mut url = Url::parse(raw).map_err(|e| format!("expected a postgres:// URL: {e}"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "expected a postgres:// URL, found the scheme \"{}\"",
            url.scheme()
        ));
    }
    if url.password().is_some() {
        return Err(format!(
            "the URL holds a password; never write it here: put it in a file named by `database.password_file`, or in the environment variable {PASSWORD_ENV}"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(
            "expected a host name, such as postgres://checkin@db.example.org/checkin".into(),
        );
    }
    if url.username().is_empty() {
        return Err(
            "expected a user name, such as postgres://checkin@db.example.org/checkin".into(),
        );
    }
    let db = url.path().trim_start_matches('/');
    if db.is_empty() || db.contains('/') {
        return Err("expected one database name after the host, such as /checkin".into());
    }
    let mut tls = DbTls::Disable;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("sslmode", "disable") => tls = DbTls::Disable,
            ("sslmode", "require" | "verify-full") => tls = DbTls::Verify,
            ("sslmode", other) => {
                return Err(format!(
                    "sslmode \"{other}\" is not supported; expected \"disable\", \"require\" or \"verify-full\" (both of which verify the certificate)"
                ));
            }
            ("password", _) => {
                return Err(format!(
                    "the URL holds a password; never write it here: put it in a file named by `database.password_file`, or in the environment variable {PASSWORD_ENV}"
                ));
            }
            (other, _) => {
                return Err(format!(
                    "unknown URL parameter \"{other}\"; only sslmode is accepted"
                ));
            }
        }
    }
    url.set_query(None);
    Ok((url, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_split_off_the_url() {
        let (url, tls) =
            check_url("postgres://checkin@db.example.org:5433/checkin?sslmode=require").unwrap();
        assert_eq!(
            url.as_str(),
            "postgres://checkin@db.example.org:5433/checkin"
        );
        assert_eq!(tls, DbTls::Verify);
        let (_, tls) = check_url("postgresql://checkin@127.0.0.1/checkin").unwrap();
        assert_eq!(tls, DbTls::Disable);
    }

    #[test]
    fn passwords_and_odd_urls_are_refused() {
        for (url, expected) in [
            ("postgres://checkin:secret@db/checkin", "holds a password"),
            (
                "postgres://checkin@db/checkin?password=secret",
                "holds a password",
            ),
            (
                "postgres://checkin@db/checkin?sslmode=verify-ca",
                "not supported",
            ),
            (
                "postgres://checkin@db/checkin?connect_timeout=3",
                "unknown URL parameter",
            ),
            ("mysql://checkin@db/checkin", "scheme"),
            ("postgres://db/checkin", "user name"),
            ("postgres://checkin@db/", "database name"),
            ("postgres://checkin@db/a/b", "database name"),
            ("not a url", "postgres://"),
        ] {
            let err = check_url(url).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
        }
    }
}
