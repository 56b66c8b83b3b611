//! The PostgreSQL backend against a real PostgreSQL (the test cluster of
//! scripts/pg-cluster): connecting, migrations under a lock, refusing a
//! newer schema, and each storage operation implemented on it so far.

use checkin_kiosk::config::DbTls;
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::protocol::Heartbeat;
use checkin_kiosk::server::storage::kiosks::Enrollment;
use checkin_kiosk::server::storage::pg::kiosks::NewEvent;
use checkin_kiosk::server::storage::pg::{self, PgError, PgStore};
use chrono::{Duration, Utc};

use super::pg_support::fresh_database;

async fn store() -> Option<(PgStore, checkin_kiosk::config::DatabaseSettings)> {
    let settings = fresh_database().await?;
    let store = pg::connect(&settings)
        .await
        .expect("connecting and migrating");
    Some((store, settings))
}

async fn count(store: &PgStore, sql: &str) -> i64 {
    store
        .client()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let Some(settings) = fresh_database().await else {
        return;
    };
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let s = settings.clone();
            tokio::spawn(async move { pg::connect(&s).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().expect("every replica starts"));
    }
    let store = &stores[0];
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM schema_version").await,
        pg::SCHEMA_VERSION
    );
    assert_eq!(
        count(store, "SELECT MAX(version) FROM schema_version").await,
        pg::SCHEMA_VERSION
    );
    let tables = count(
        store,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(
        tables, 19,
        "the 16 tables of the SQLite schema, login_strikes, change_outbox and schema_version"
    );
    store.reachable().await.unwrap();
}

#[tokio::test]
async fn the_check_constraints_refuse_unknown_statuses_and_actions() {
    let Some((store, _)) = store().await else {
        return;
    };
    let client = store.client().await.unwrap();
    let appointment = |status: &'static str| {
        format!(
            "INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day,
                 start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
                 prior_balance_cents, currency, change_seq)
             VALUES ('north', '{status}', 'p', 'main', '2026-03-02', 0, 1, 'UTC', 'Dr', '{status}', 0, 0, 'USD', 1)"
        )
    };
    client.batch_execute(&appointment("booked")).await.unwrap();
    let err = client
        .batch_execute(&appointment("seated"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("check constraint") || format!("{err:?}").contains("check"),
        "{err:?}"
    );
    let audit = |actor: &str, action: &str| {
        format!(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action) VALUES ('north', 0, '{actor}', 'x', '{action}')"
        )
    };
    client
        .batch_execute(&audit("kiosk", "enrolled"))
        .await
        .unwrap();
    assert!(
        client
            .batch_execute(&audit("robot", "enrolled"))
            .await
            .is_err()
    );
    assert!(
        client
            .batch_execute(&audit("staff", "viewed_everything"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_and_left_alone() {
    let Some((store, settings)) = store().await else {
        return;
    };
    store
        .client()
        .await
        .unwrap()
        .execute(
            "INSERT INTO schema_version (version, name, applied_ms) VALUES ($1, 'from the future', 0)",
            &[&(pg::SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let err = pg::connect(&settings).await.unwrap_err();
    assert!(
        matches!(err, PgError::SchemaTooNew { found, known } if found == pg::SCHEMA_VERSION + 1 && known == pg::SCHEMA_VERSION),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("newer than this clinic-server knows"),
        "{err}"
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM schema_version").await,
        pg::SCHEMA_VERSION + 1
    );
}

#[tokio::test]
async fn a_wrong_password_or_missing_file_or_refused_tls_fails_to_connect() {
    let Some(settings) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut missing = settings.clone();
    missing.password_file = Some(dir.path().join("no-such-file"));
    let err = pg::connect(&missing).await.unwrap_err();
    assert!(matches!(err, PgError::PasswordFile { .. }), "{err}");

    if settings.password_file.is_some() {
        let wrong_file = dir.path().join("wrong");
        std::fs::write(&wrong_file, "not-the-password\n").unwrap();
        let mut wrong = settings.clone();
        wrong.password_file = Some(wrong_file);
        let err = pg::connect(&wrong).await.unwrap_err();
        assert!(
            err.to_string().contains("password authentication failed"),
            "{err}"
        );
    }

    // The test cluster has no TLS: asking for it fails rather than falling
    // back to plain TCP.
    let mut tls = settings.clone();
    tls.tls = DbTls::Verify;
    assert!(pg::connect(&tls).await.is_err());
}

fn enrollment<'a>(code_hash: &'a str, kiosk_id: &'a str, token_hash: &'a str) -> Enrollment<'a> {
    Enrollment {
        code_hash,
        kiosk_id,
        name: "Lobby",
        app_version: "1.0.0",
        token_hash,
        now: Utc::now(),
    }
}

#[tokio::test]
async fn enrollment_uses_the_code_once_and_the_token_then_finds_the_kiosk() {
    let Some((store, _)) = store().await else {
        return;
    };
    let north = ClinicId::from("north");
    let now = Utc::now();
    store
        .insert_enrollment_code(&north, "code-1", now, now + Duration::hours(1))
        .await
        .unwrap();
    store
        .insert_enrollment_code(
            &north,
            "code-old",
            now - Duration::hours(2),
            now - Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(
        store.enroll(&enrollment("nope", "k0", "t0")).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .enroll(&enrollment("code-old", "k0", "t0"))
            .await
            .unwrap(),
        None
    );

    // Two kiosks racing for one code, as on two replicas: one wins.
    let a = store.clone();
    let b = store.clone();
    let (ra, rb) = tokio::join!(
        async move { a.enroll(&enrollment("code-1", "k1", "t1")).await },
        async move { b.enroll(&enrollment("code-1", "k2", "t2")).await },
    );
    let won: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(won.len(), 1);
    assert_eq!(won[0], north);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM kiosks").await, 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit WHERE action = 'enrolled' AND actor_kind = 'kiosk'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM enrollment_codes WHERE used_ms IS NOT NULL"
        )
        .await,
        1
    );

    let (kiosk, token) = if store.token_owner("t1").await.unwrap().is_some() {
        ("k1", "t1")
    } else {
        ("k2", "t2")
    };
    let owner = store.token_owner(token).await.unwrap().expect("the kiosk");
    assert_eq!(
        (owner.kiosk_id.as_str(), &owner.clinic_id, owner.revoked),
        (kiosk, &north, false)
    );
    assert!(store.token_owner("unknown").await.unwrap().is_none());

    let hb = Heartbeat {
        app_version: "1.2.3 ".into(),
        outbox_depth: 7,
        outbox_oldest_age_secs: Some(90),
        last_sync_at: Some(now),
        online: false,
        clock_skew_secs: Some(-4),
    };
    store
        .record_heartbeat(&north, kiosk, &hb, now)
        .await
        .unwrap();
    let row = store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT app_version, outbox_depth, outbox_oldest_age_secs, reported_online, clock_skew_secs, last_seen_ms FROM kiosks WHERE kiosk_id = $1",
            &[&kiosk],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "1.2.3");
    assert_eq!(row.get::<_, i64>(1), 7);
    assert_eq!(row.get::<_, Option<i64>>(2), Some(90));
    assert!(!row.get::<_, bool>(3));
    assert_eq!(row.get::<_, Option<i64>>(4), Some(-4));
    assert_eq!(row.get::<_, Option<i64>>(5), Some(now.timestamp_millis()));
    // A heartbeat from another clinic's kiosk id changes nothing.
    store
        .record_heartbeat(
            &ClinicId::from("south"),
            kiosk,
            &Heartbeat {
                outbox_depth: 99,
                ..hb
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        count(&store, "SELECT MAX(outbox_depth) FROM kiosks").await,
        7
    );
}

#[tokio::test]
async fn the_same_batch_posted_twice_at_once_has_one_effect() {
    let Some((store, settings)) = store().await else {
        return;
    };
    // A second pool on the same database stands for a second replica.
    let replica = pg::connect(&settings).await.unwrap();
    let north = ClinicId::from("north");
    let ids: Vec<uuid::Uuid> = (0..200).map(|_| uuid::Uuid::new_v4()).collect();
    let now = Utc::now();
    let batch = |ids: &[uuid::Uuid]| -> Vec<NewEvent<'static>> {
        ids.iter()
            .map(|id| NewEvent {
                event_id: *id,
                kind: "arrived",
                appointment_id: Some("a1"),
                occurred_at: now,
            })
            .collect()
    };
    let (a, b) = (batch(&ids), batch(&ids));
    let (n1, n2) = (north.clone(), north.clone());
    let (ra, rb) = tokio::join!(
        async { store.record_events(&n1, "k1", &a, now).await },
        async { replica.record_events(&n2, "k1", &b, now).await },
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
        assert!(x ^ y, "event {i} is new to exactly one of the two posts");
    }
    assert_eq!(count(&store, "SELECT COUNT(*) FROM events").await, 200);

    // Posted again later: nothing new; a batch mixing old and new events
    // records only the new one; another clinic's same UUID is its own.
    let again = store
        .record_events(&north, "k1", &batch(&ids), now)
        .await
        .unwrap();
    assert!(again.iter().all(|fresh| !fresh));
    let mixed_ids = [ids[0], uuid::Uuid::new_v4()];
    assert_eq!(
        store
            .record_events(&north, "k1", &batch(&mixed_ids), now)
            .await
            .unwrap(),
        [false, true]
    );
    assert_eq!(
        store
            .record_events(&ClinicId::from("south"), "k9", &batch(&ids[..1]), now)
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM events").await, 202);
}

#[tokio::test]
async fn a_staff_session_started_on_one_replica_is_seen_on_another() {
    let Some((store, settings)) = store().await else {
        return;
    };
    let replica = pg::connect(&settings).await.unwrap();
    let now = Utc::now();
    let north = ClinicId::from("north");
    assert!(
        store
            .add_member(&north, "ana", "hash-1", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_member(&north, "ana", "hash-2", now)
            .await
            .unwrap()
    );
    assert!(
        store
            .add_member(&ClinicId::from("south"), "ana", "hash-2", now)
            .await
            .unwrap()
    );
    // An expired session is dropped when the next one starts.
    store
        .insert_session("old", "ana", now - Duration::hours(13), Duration::hours(12))
        .await
        .unwrap();
    store
        .insert_session("s1", "ana", now, Duration::hours(12))
        .await
        .unwrap();
    assert!(replica.load_session("old").await.unwrap().is_none());

    let seen = replica
        .load_session("s1")
        .await
        .unwrap()
        .expect("the session");
    assert_eq!(seen.username, "ana");
    assert_eq!(seen.clinics, [north.clone(), ClinicId::from("south")]);
    assert_eq!(
        seen.expires_at.timestamp_millis(),
        (now + Duration::hours(12)).timestamp_millis()
    );
    assert_eq!(seen.last_used_at.timestamp_millis(), now.timestamp_millis());

    let later = now + Duration::minutes(5);
    replica.touch_session("s1", later).await.unwrap();
    let seen = store
        .load_session("s1")
        .await
        .unwrap()
        .expect("the session");
    assert_eq!(
        seen.last_used_at.timestamp_millis(),
        later.timestamp_millis()
    );

    store.delete_session("s1").await.unwrap();
    assert!(replica.load_session("s1").await.unwrap().is_none());
}
