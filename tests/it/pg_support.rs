//! What the PostgreSQL tests share: the test cluster that scripts/test
//! starts (`scripts/pg-cluster`), and a fresh database for each test.
//!
//! The cluster is named by `CHECKIN_TEST_PG_URL` (with the password in the
//! file `CHECKIN_TEST_PG_PASSWORD_FILE`). Without it the tests fail when
//! `CI=true`, and otherwise skip with a note, so a targeted run on a
//! developer's machine works without PostgreSQL.

use checkin_kiosk::config::{DatabaseSettings, DbTls};

/// Settings for a new, empty database on the test cluster; `None` (after
/// printing why) when no cluster is configured outside CI.
pub async fn fresh_database() -> Option<DatabaseSettings> {
    let Ok(url) = std::env::var("CHECKIN_TEST_PG_URL") else {
        let how = "start one with `scripts/pg-cluster start && eval \"$(scripts/pg-cluster env)\"`";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "CHECKIN_TEST_PG_URL is not set, and CI=true: the PostgreSQL tests need a cluster; {how}"
            );
        }
        eprintln!("skipping a PostgreSQL test: CHECKIN_TEST_PG_URL is not set; {how}");
        return None;
    };
    let password_file =
        std::env::var_os("CHECKIN_TEST_PG_PASSWORD_FILE").map(std::path::PathBuf::from);
    let mut config: tokio_postgres::Config =
        url.parse().expect("CHECKIN_TEST_PG_URL is a postgres URL");
    if let Some(file) = &password_file {
        let password = std::fs::read_to_string(file).expect("the test cluster's password file");
        config.password(password.lines().next().unwrap_or_default());
    }
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connecting to the test cluster");
    tokio::spawn(connection);
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating a test database");
    let mut db_url: url::Url = url.parse().expect("a URL");
    db_url.set_path(&name);
    Some(DatabaseSettings {
        url: db_url,
        tls: DbTls::Disable,
        ca_file: None,
        password_file,
        pool_size: 8,
    })
}
