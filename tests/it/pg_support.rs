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

/// Stores `wires` (appointments with their patients, as the SQLite
/// schedule holds them) in the PostgreSQL database behind `store`, at
/// change sequence 1, for tests that need a schedule there.
pub async fn seed_schedule(
    store: &checkin_kiosk::server::storage::pg::PgStore,
    clinic: &str,
    wires: &[checkin_kiosk::protocol::AppointmentWire],
) {
    use tokio_postgres::types::Json;
    let client = store.client().await.unwrap();
    client
        .execute(
            "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, 'seeded', 1)
             ON CONFLICT (clinic_id) DO NOTHING",
            &[&clinic],
        )
        .await
        .unwrap();
    for w in wires {
        let p = &w.patient;
        client
            .execute(
                "INSERT INTO patients (clinic_id, patient_id, first_name, last_name, date_of_birth,
                     demographics, demographics_confirmed_ms, coverage)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &clinic,
                    &p.id,
                    &p.first_name,
                    &p.last_name,
                    &p.date_of_birth.to_string(),
                    &Json(&p.demographics),
                    &p.demographics_confirmed_at.map(|t| t.timestamp_millis()),
                    &w.coverage.as_ref().map(Json),
                ],
            )
            .await
            .unwrap();
        let tz: chrono_tz::Tz = w.time_zone.parse().unwrap();
        client
            .execute(
                "INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day,
                     start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
                     prior_balance_cents, currency, removed, change_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, false, 1)",
                &[
                    &clinic,
                    &w.id,
                    &p.id,
                    &w.location_id,
                    &w.start.with_timezone(&tz).date_naive().to_string(),
                    &w.start.timestamp_millis(),
                    &w.end.timestamp_millis(),
                    &w.time_zone,
                    &w.clinician,
                    &w.status,
                    &w.expected_copay_cents,
                    &w.prior_balance_cents,
                    &w.currency,
                ],
            )
            .await
            .unwrap();
    }
}
