//! Opening the PostgreSQL pool from `[database]`: the password from its
//! file or the environment, and TLS through rustls.

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;

use super::{PgError, PgStore};
use crate::config::{DB_PASSWORD_ENV, DatabaseSettings, DbTls};

/// Builds the pool for `settings` and migrates the database to this
/// binary's schema (under an advisory lock; see [`super::migrate`]).
/// Refuses a schema newer than this binary knows.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgStore, PgError> {
    let mut config: tokio_postgres::Config = settings
        .url
        .as_str()
        .parse()
        .map_err(|e: tokio_postgres::Error| PgError::Setup(e.to_string()))?;
    if let Some(password) = password(settings, std::env::var(DB_PASSWORD_ENV).ok())? {
        config.password(password);
    }
    config.application_name("clinic-server");
    // A connection whose peer vanished without a word (a crashed host) is
    // noticed by TCP keepalives, not left waiting forever.
    config.keepalives(true);
    config.keepalives_idle(std::time::Duration::from_secs(30));
    // A database host that drops packets fails a connection attempt in
    // seconds rather than minutes.
    config.connect_timeout(std::time::Duration::from_secs(10));
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let dial = match settings.tls {
        DbTls::Disable => {
            config.ssl_mode(SslMode::Disable);
            Dial::Plain(config)
        }
        DbTls::Verify => {
            config.ssl_mode(SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(settings)?);
            Dial::Tls(config, tls)
        }
    };
    let manager = match dial.clone() {
        Dial::Plain(config) => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        Dial::Tls(config, tls) => Manager::from_config(config, tls, manager_config),
    };
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size)
        // A request waits this long for a connection, then fails (the
        // kiosk retries later) instead of hanging.
        .wait_timeout(Some(POOL_WAIT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PgError::Setup(e.to_string()))?;
    let store = PgStore {
        pool,
        origin: uuid::Uuid::new_v4(),
        dial: Arc::new(dial),
    };
    let mut client = store.client().await?;
    super::migrate(&mut client).await?;
    Ok(store)
}

/// How to reach the database: its settings, with TLS or without, kept so
/// a connection can be opened outside the pool (the change listener's).
#[derive(Clone)]
pub(super) enum Dial {
    /// Plain TCP or a Unix socket.
    Plain(tokio_postgres::Config),
    /// TLS through rustls.
    Tls(
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ),
}

/// The password: the first line of `password_file`, else `from_env` (the
/// environment variable's value), else none (for trust or peer
/// authentication).
fn password(
    settings: &DatabaseSettings,
    from_env: Option<String>,
) -> Result<Option<String>, PgError> {
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| PgError::PasswordFile {
            path: path.clone(),
            source,
        })?;
        let line = text.lines().next().unwrap_or_default().to_string();
        return Ok(Some(line));
    }
    Ok(from_env.filter(|p| !p.is_empty()))
}

/// rustls with ring, trusting the CA file or else the public web roots.
fn tls_config(settings: &DatabaseSettings) -> Result<rustls::ClientConfig, PgError> {
    let mut roots = rustls::RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let ca_error = |message: String| PgError::CaFile {
                path: path.clone(),
                message,
            };
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_error(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_error(e.to_string()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ca_error("no usable PEM certificate in it".to_string()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The longest a request waits for a pooled connection.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(password_file: Option<std::path::PathBuf>) -> DatabaseSettings {
        DatabaseSettings {
            url: "postgres://checkin@db.example.org/checkin".parse().unwrap(),
            tls: DbTls::Disable,
            ca_file: None,
            password_file,
            pool_size: 1,
        }
    }

    #[test]
    fn the_password_file_wins_over_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db-password");
        std::fs::write(&file, "from-file\nignored second line\n").unwrap();
        let got = password(&settings(Some(file)), Some("from-env".into())).unwrap();
        assert_eq!(got.as_deref(), Some("from-file"));
        let got = password(&settings(None), Some("from-env".into())).unwrap();
        assert_eq!(got.as_deref(), Some("from-env"));
        assert_eq!(
            password(&settings(None), Some(String::new())).unwrap(),
            None
        );
        assert_eq!(password(&settings(None), None).unwrap(), None);
        let missing = password(&settings(Some(dir.path().join("none"))), None);
        assert!(matches!(missing, Err(PgError::PasswordFile { .. })));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let mut s = settings(None);
        s.tls = DbTls::Verify;
        s.ca_file = Some(ca);
        let err = tls_config(&s).unwrap_err();
        assert!(
            err.to_string().contains("no usable PEM certificate"),
            "{err}"
        );
        s.ca_file = None;
        assert!(tls_config(&s).is_ok(), "the public roots");
    }
}
