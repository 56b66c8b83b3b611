//! The backend facade: the same operations through [`Store`] give the same
//! answers on SQLite and on PostgreSQL.

use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::protocol::Heartbeat;
use checkin_kiosk::server::db::Db;
use checkin_kiosk::server::storage::backend::{NewKiosk, Store};
use checkin_kiosk::server::storage::pg;
use chrono::{Duration, Utc};

/// Runs the kiosk path and a staff session through `store`; returns what
/// it saw, to compare across backends.
async fn exercise(store: &Store) -> Vec<String> {
    let mut seen = Vec::new();
    let north = ClinicId::from("north");
    let now = Utc::now();
    store.reachable().await.unwrap();
    store
        .insert_enrollment_code(north.clone(), "code".into(), now, now + Duration::hours(1))
        .await
        .unwrap();
    let kiosk = |code: &str| NewKiosk {
        code_hash: code.into(),
        kiosk_id: "k1".into(),
        name: "Lobby".into(),
        app_version: "1.0".into(),
        token_hash: "token".into(),
        now,
    };
    seen.push(format!("{:?}", store.enroll(kiosk("code")).await.unwrap()));
    seen.push(format!("{:?}", store.enroll(kiosk("code")).await.unwrap()));
    let owner = store.token_owner("token").await.unwrap().expect("enrolled");
    seen.push(format!(
        "{} {} {}",
        owner.kiosk_id, owner.clinic_id, owner.revoked
    ));
    seen.push(format!(
        "{:?}",
        store
            .token_owner("other")
            .await
            .unwrap()
            .map(|o| o.kiosk_id)
    ));
    let hb = Heartbeat {
        app_version: "1.1".into(),
        outbox_depth: 3,
        outbox_oldest_age_secs: None,
        last_sync_at: None,
        online: true,
        clock_skew_secs: None,
    };
    let answered = store
        .record_heartbeat(north, "k1".into(), hb, now)
        .await
        .unwrap();
    // No help flag was raised: both backends answer with none.
    seen.push(format!("help answered {answered:?}"));

    store
        .insert_session("s".into(), "ana".into(), now, Duration::hours(1))
        .await
        .unwrap();
    let later = now + Duration::minutes(1);
    store.touch_session("s", later).await.unwrap();
    let s = store.load_session("s").await.unwrap().expect("a session");
    seen.push(format!(
        "{} {} {}",
        s.username,
        s.expires_at.timestamp_millis() - now.timestamp_millis(),
        s.last_used_at.timestamp_millis() - now.timestamp_millis()
    ));
    store.delete_session("s").await.unwrap();
    seen.push(format!(
        "{:?}",
        store.load_session("s").await.unwrap().map(|s| s.username)
    ));
    seen
}

#[tokio::test]
async fn sqlite_and_postgres_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::Sqlite(Db::open(&dir.path().join("server.db")).unwrap());
    let expected = exercise(&sqlite).await;
    assert_eq!(
        expected,
        [
            "Some(ClinicId(\"north\"))",
            "None",
            "k1 north false",
            "None",
            "help answered []",
            "ana 3600000 60000",
            "None",
        ]
    );
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let postgres = Store::Postgres(pg::connect(&settings).await.unwrap());
    assert_eq!(exercise(&postgres).await, expected);
}

/// The same two patients and three appointments, written as SQL both
/// backends accept; `b` is removed later and `c` is on another day.
const SCHEDULE: &str = "
UPDATE clinic_cursor SET seq = 1 WHERE clinic_id = 'north';
INSERT INTO patients (clinic_id, patient_id, first_name, last_name, date_of_birth, demographics, coverage)
VALUES ('north', 'p1', 'Maria', 'Garcia', '1980-04-02', '{\"phone\": \"5550100\"}', NULL),
       ('north', 'p2', 'Ken', 'Ito', '1975-11-30', '{}', NULL);
INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day, start_ms, end_ms,
    time_zone, clinician, status, expected_copay_cents, prior_balance_cents, currency, removed, change_seq)
VALUES ('north', 'a', 'p1', 'main', '2026-03-02', 1772460000000, 1772461800000, 'America/Chicago', 'Dr. Patel', 'booked', 2500, 0, 'USD', false, 1),
       ('north', 'b', 'p2', 'main', '2026-03-02', 1772463600000, 1772465400000, 'America/Chicago', 'Dr. Patel', 'arrived', 0, 1200, 'USD', false, 1),
       ('north', 'c', 'p2', 'main', '2026-03-03', 1772550000000, 1772551800000, 'America/Chicago', 'Dr. Patel', 'booked', 0, 0, 'USD', false, 1);
";

/// A change after the first pull: `b` removed, `a` checked in.
const CHANGE: &str = "
UPDATE clinic_cursor SET seq = 2 WHERE clinic_id = 'north';
UPDATE appointments SET removed = true, change_seq = 2 WHERE appointment_id = 'b';
UPDATE appointments SET status = 'checked_in', change_seq = 2 WHERE appointment_id = 'a';
";

/// A full pull, a change, a delta from the first cursor and a pull with a
/// foreign cursor, through `store`; `sql` runs a script on its database.
async fn pulls<F, Fut>(store: &Store, sql: F) -> Vec<String>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let north = ClinicId::from("north");
    let today: chrono::NaiveDate = "2026-03-02".parse().unwrap();
    let summary = |r: &checkin_kiosk::protocol::ScheduleResponse| {
        let ups: Vec<String> = r
            .upserts
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}:{}",
                    a.id, a.status, a.patient.first_name, a.patient.demographics.phone
                )
            })
            .collect();
        format!("full={} up={ups:?} rm={:?}", r.full, r.removals)
    };
    // The cursor state is created by the first pull, so the fixture goes
    // in after an empty one.
    let empty = store.pull(north.clone(), today, None).await.unwrap();
    sql(SCHEDULE).await;
    let first = store
        .pull(north.clone(), today, Some(empty.cursor.clone()))
        .await
        .unwrap();
    let full = store.pull(north.clone(), today, None).await.unwrap();
    sql(CHANGE).await;
    let delta = store
        .pull(north.clone(), today, Some(full.cursor.clone()))
        .await
        .unwrap();
    let foreign = store
        .pull(north.clone(), today, Some("elsewhere.2026-03-02.1".into()))
        .await
        .unwrap();
    assert_ne!(delta.cursor, full.cursor);
    vec![
        summary(&empty),
        summary(&first),
        summary(&full),
        summary(&delta),
        summary(&foreign),
    ]
}

#[tokio::test]
async fn schedule_pulls_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("server.db")).unwrap();
    let sqlite = Store::Sqlite(db.clone());
    let expected = pulls(&sqlite, |script| {
        let db = db.clone();
        async move {
            db.blocking(|c| Ok(c.execute_batch(script)?)).unwrap();
        }
    })
    .await;
    assert_eq!(
        expected,
        [
            "full=true up=[] rm=[]",
            "full=false up=[\"a:booked:Maria:5550100\", \"b:arrived:Ken:\"] rm=[\"c\"]",
            "full=true up=[\"a:booked:Maria:5550100\", \"b:arrived:Ken:\"] rm=[]",
            "full=false up=[\"a:checked_in:Maria:5550100\"] rm=[\"b\"]",
            "full=true up=[\"a:checked_in:Maria:5550100\"] rm=[]",
        ]
    );
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let pg = pg::connect(&settings).await.unwrap();
    let postgres = Store::Postgres(pg.clone());
    let got = pulls(&postgres, |script| {
        let pg = pg.clone();
        async move {
            pg.client()
                .await
                .unwrap()
                .batch_execute(script)
                .await
                .unwrap();
        }
    })
    .await;
    assert_eq!(got, expected);
}
