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
    store
        .record_heartbeat(north, "k1".into(), hb, now)
        .await
        .unwrap();

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
