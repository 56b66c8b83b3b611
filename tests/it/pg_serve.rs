//! `serve` with a PostgreSQL `[database]`: refused, with a clear error,
//! until the PostgreSQL backend holds every operation the server runs.

use checkin_kiosk::config::{DatabaseSettings, DbTls};
use checkin_kiosk::server;

fn postgres_config(dir: &std::path::Path) -> checkin_kiosk::config::ServerConfig {
    let mut config = super::server::config(dir);
    config.database = Some(DatabaseSettings {
        url: "postgres://checkin@127.0.0.1/checkin".parse().unwrap(),
        tls: DbTls::Disable,
        ca_file: None,
        password_file: None,
        pool_size: 2,
    });
    config
}

#[tokio::test]
async fn serve_refuses_an_incomplete_postgres_backend() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server::run(listener, config, async {}).await.unwrap_err();
    assert!(
        matches!(err, server::ServerError::PostgresIncomplete),
        "{err}"
    );
    assert!(
        err.to_string().contains("PostgreSQL backend is incomplete"),
        "{err}"
    );
    assert!(
        !dir.path().join(server::DB_FILE).exists(),
        "no SQLite database is made in its place"
    );
}

#[test]
fn admin_commands_refuse_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = postgres_config(dir.path());
    let err = server::open_data_dir(&config).unwrap_err();
    assert!(
        matches!(err, server::ServerError::PostgresIncomplete),
        "{err}"
    );
}
