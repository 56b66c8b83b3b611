//! Intake forms and schedule import on both backends. Every forms
//! scenario of `server_forms` (the forms due across visits, the stored and
//! scored form, each rejection, the urgent flag live and on top, staff's
//! view) runs here on PostgreSQL; the import's rules (validated first, an
//! empty or bad file stores nothing, only the days listed are replaced, a
//! kiosk's arrival is kept) run on SQLite and PostgreSQL alike, and
//! `clinic-server import` writes to PostgreSQL when `[database]` names it.

use checkin_kiosk::config::ClinicSettings;
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::import::{self, ImportError};
use checkin_kiosk::server::storage::backend::Store;
use checkin_kiosk::server::storage::pg::{self, PgStore};
use checkin_kiosk::server::{Db, demo};
use chrono::{DateTime, NaiveDate, Utc};

use super::server_forms::{self as scenario, Forms};

/// Adds the demo's sample flags (one per reason code, by `demo-seed`) as
/// `demo::seed` does on SQLite, each raised at its appointment's start or
/// a minute before `now`, whichever is earlier.
pub(super) async fn seed_sample_flags(
    pg: &PgStore,
    clinic: &ClinicSettings,
    day: NaiveDate,
    now: DateTime<Utc>,
) {
    let appointments = demo::appointments(clinic, day);
    let latest = now - chrono::Duration::minutes(1);
    let client = pg.client().await.unwrap();
    for s in demo::scenarios() {
        let at = appointments
            .iter()
            .find(|a| Some(a.id.as_str()) == s.appointment_id)
            .map_or_else(|| appointments[0].start, |a| a.start)
            .with_timezone(&Utc)
            .min(latest);
        client
            .execute(
                "INSERT INTO flags (clinic_id, kiosk_id, appointment_id, code, step, text, raised_ms)
                 VALUES ($1, 'demo-seed', $2, $3, 'welcome', $4, $5)",
                &[
                    &clinic.id.as_str(),
                    &s.appointment_id,
                    &s.code.as_str(),
                    &s.code.staff_text(),
                    &at.timestamp_millis(),
                ],
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_positive_phq2_without_its_phq9_asks_staff_for_it_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::a_positive_phq2_without_its_phq9_asks_staff_for_it(f).await;
    }
}

#[tokio::test]
async fn forms_due_follow_each_frequency_across_two_visits_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::forms_due_follow_each_frequency_across_two_visits(f).await;
    }
}

#[tokio::test]
async fn a_completed_form_is_stored_once_scored_and_audited_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::a_completed_form_is_stored_once_scored_and_audited(f).await;
    }
}

#[tokio::test]
async fn bad_forms_are_rejected_with_a_reason_and_change_nothing_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::bad_forms_are_rejected_with_a_reason_and_change_nothing(f).await;
    }
}

#[tokio::test]
async fn an_urgent_phq9_raises_screening_positive_live_and_on_top_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::an_urgent_phq9_raises_screening_positive_live_and_on_top(f).await;
    }
}

#[tokio::test]
async fn staff_see_todays_completed_forms_with_scores_audited_on_postgres() {
    if let Some(f) = Forms::postgres().await {
        scenario::staff_see_todays_completed_forms_with_scores_audited(f).await;
    }
}

fn clinic() -> ClinicSettings {
    super::server::config(std::path::Path::new("/tmp"))
        .clinics
        .remove(0)
}

fn day1() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

fn day2() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 3).unwrap()
}

const HEADER: &str = "appointment_id,patient_id,first_name,last_name,date_of_birth,start,clinician,status,clinician_id,visit_type";

/// Runs `sql` (no parameters) on either backend; returns the rows changed.
async fn exec(store: &Store, sql: &str) -> u64 {
    match store {
        Store::Sqlite(db) => db.blocking(|c| Ok(c.execute(sql, [])? as u64)).unwrap(),
        Store::Postgres(pg) => pg.client().await.unwrap().execute(sql, &[]).await.unwrap(),
    }
}

/// The number `sql` (no parameters) selects, on either backend.
async fn count(store: &Store, sql: &str) -> i64 {
    match store {
        Store::Sqlite(db) => db
            .blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap(),
        Store::Postgres(pg) => pg
            .client()
            .await
            .unwrap()
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0),
    }
}

/// The ids and statuses a kiosk pulling `day` gets, in order.
async fn on_day(store: &Store, day: NaiveDate) -> Vec<(String, String)> {
    store
        .pull(clinic().id, day, None)
        .await
        .unwrap()
        .upserts
        .into_iter()
        .map(|w| (w.id, w.status))
        .collect()
}

/// The import's rules, on `store`.
async fn import_rules(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.csv");
    let write = |rows: &[&str]| {
        let mut text = String::from(HEADER);
        for r in rows {
            text.push('\n');
            text.push_str(r);
        }
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    };
    let a1 = "a1,p1,Inés,Núñez-Ortega,1980-05-17,2026-03-02 09:00,Dr. Patel,booked,dr-patel,annual";
    let a2 = "a2,p2,Bo,Li,1990-01-02,2026-03-02 09:20,Dr. Patel,,,";
    let a3 = "a3,p3,Cy,Wu,1970-07-07,2026-03-02 09:40,Dr. Kim,,dr-kim,follow-up";
    let b1 = "b1,p1,Inés,Núñez-Ortega,1980-05-17,2026-03-03 10:00,Dr. Patel,,,";
    let c = clinic();

    // A first import stores every row with its visit facts.
    write(&[a1, a2, a3, b1]);
    let s = import::import_into(&store, &c, &path).await.unwrap();
    assert_eq!((s.upserted, s.unchanged, s.removed), (4, 0, 0));
    let ids = |v: Vec<(String, String)>| v.into_iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(ids(on_day(&store, day1()).await), ["a1", "a2", "a3"]);
    assert_eq!(ids(on_day(&store, day2()).await), ["b1"]);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM appointments WHERE clinician_id = 'dr-patel' AND visit_type = 'annual'").await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM appointments WHERE clinician_id IS NULL AND visit_type IS NULL"
        )
        .await,
        2
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM patients").await, 3);

    // The same file again changes nothing, so kiosks are sent nothing.
    let cursor = store.pull(c.id.clone(), day1(), None).await.unwrap().cursor;
    let s = import::import_into(&store, &c, &path).await.unwrap();
    assert_eq!((s.upserted, s.unchanged, s.removed), (0, 4, 0));
    let delta = store
        .pull(c.id.clone(), day1(), Some(cursor.clone()))
        .await
        .unwrap();
    assert!(!delta.full && delta.upserts.is_empty() && delta.removals.is_empty());

    // A kiosk's arrival is not moved back to booked by a re-import, and a
    // change in the visit type alone is a change.
    assert_eq!(
        exec(
            &store,
            "UPDATE appointments SET status = 'arrived' WHERE appointment_id = 'a1'"
        )
        .await,
        1
    );
    let a3_new = "a3,p3,Cy,Wu,1970-07-07,2026-03-02 09:40,Dr. Kim,,dr-kim,annual";
    write(&[a1, a2, a3_new, b1]);
    let s = import::import_into(&store, &c, &path).await.unwrap();
    assert_eq!((s.upserted, s.unchanged, s.removed), (1, 3, 0));
    let day = on_day(&store, day1()).await;
    assert_eq!(day[0], ("a1".to_string(), "arrived".to_string()));

    // A bad row, or an empty file, stores nothing and removes nothing.
    let before = count(
        &store,
        "SELECT COUNT(*) FROM appointments WHERE NOT (removed = true)",
    )
    .await;
    write(&[a1, "a2,p2,Bo,Li,1990-13-40,2026-03-02 09:20,Dr. Patel,,,"]);
    let err = import::import_into(&store, &c, &path).await.unwrap_err();
    assert!(
        matches!(err, ImportError::Rows(ref rows) if rows.len() == 1 && rows[0].line == 3),
        "{err}"
    );
    write(&[]);
    let err = import::import_into(&store, &c, &path).await.unwrap_err();
    assert!(matches!(err, ImportError::Format(_)), "{err}");
    assert!(err.to_string().contains("no rows"), "{err}");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM appointments WHERE NOT (removed = true)"
        )
        .await,
        before
    );
    assert_eq!(ids(on_day(&store, day1()).await), ["a1", "a2", "a3"]);

    // A file for day 1 without a2 removes a2 (kiosks are told), and only
    // that: day 2, which the file does not list, keeps its visit.
    let cursor = store.pull(c.id.clone(), day1(), None).await.unwrap().cursor;
    write(&[a1, a3_new]);
    let s = import::import_into(&store, &c, &path).await.unwrap();
    assert_eq!((s.upserted, s.unchanged, s.removed), (0, 2, 1));
    let delta = store
        .pull(c.id.clone(), day1(), Some(cursor))
        .await
        .unwrap();
    assert_eq!(delta.removals, ["a2"]);
    assert!(delta.upserts.is_empty());
    assert_eq!(ids(on_day(&store, day1()).await), ["a1", "a3"]);
    assert_eq!(ids(on_day(&store, day2()).await), ["b1"]);
    // Removed, never deleted: the row and its patient stay.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM appointments").await, 4);

    // Listing it again brings it back.
    write(&[a1, a2, a3_new]);
    let s = import::import_into(&store, &c, &path).await.unwrap();
    assert_eq!((s.upserted, s.unchanged, s.removed), (1, 2, 0));
    assert_eq!(ids(on_day(&store, day1()).await), ["a1", "a2", "a3"]);
}

#[tokio::test]
async fn the_import_rules_hold_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("s.db")).unwrap();
    import_rules(Store::Sqlite(db)).await;
}

#[tokio::test]
async fn the_import_rules_hold_on_postgres() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let store = pg::connect(&settings).await.unwrap();
    import_rules(Store::Postgres(store)).await;
}

/// `clinic-server import` as an operator runs it, with `[database]`
/// naming PostgreSQL: the rows land there, and no SQLite file is made.
#[tokio::test]
async fn the_import_command_writes_to_postgres() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = settings
        .password_file
        .as_ref()
        .map(|p| format!("password_file = {:?}\n", p.display().to_string()))
        .unwrap_or_default();
    let toml = format!(
        "[server]\ndata_dir = {:?}\n[database]\nurl = {:?}\n{password}\
         [[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/New_York\"\n",
        data.display().to_string(),
        settings.url.as_str(),
    );
    let config = dir.path().join("clinic-server.toml");
    std::fs::write(&config, toml).unwrap();
    let file = dir.path().join("day.csv");
    std::fs::write(
        &file,
        format!(
            "{HEADER}\na1,p1,Ana,Diaz,1980-05-17,2026-03-02 09:00,Dr. Patel,,dr-patel,annual\n"
        ),
    )
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_clinic-server"))
            .args(["import", "--config"])
            .arg(&config)
            .args(["--clinic", "north"])
            .arg(&file)
            .env_remove("CLINIC_SERVER_DB_PASSWORD")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 added or changed, 0 unchanged, 0 removed"),
        "{stdout}"
    );
    assert!(!data.join(checkin_kiosk::server::DB_FILE).exists());
    let store = Store::Postgres(pg::connect(&settings).await.unwrap());
    let north = ClinicId("north".into());
    let wires = store.pull(north, day1(), None).await.unwrap().upserts;
    assert_eq!(wires.len(), 1);
    assert_eq!(wires[0].patient.last_name, "Diaz");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM appointments WHERE visit_type = 'annual'"
        )
        .await,
        1
    );
    // Run again: nothing changes.
    let out = run();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added or changed, 1 unchanged"));
}

/// A database at schema version 1 with a schedule and audit rows is
/// brought to version 2 in place: the rows stay, the visit facts start
/// empty, and the audit takes exactly the actions the server writes.
#[tokio::test]
async fn a_version_1_database_is_upgraded_in_place() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let version_1 = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/server/storage/pg/migrations/0001_initial.sql"
    ));
    let (client, connection) = settings_config(&settings)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(version_1).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE schema_version (version bigint PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL);
             INSERT INTO schema_version VALUES (1, 'initial', 0);
             INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action)
                 VALUES ('demo', 1, 'staff', 'amy', 'viewed_appointments');",
        )
        .await
        .unwrap();
    let pg = pg::connect(&settings).await.unwrap();
    let store = Store::Postgres(pg.clone());
    let clinic = clinic();
    let appointments = demo::appointments(&clinic, day1());
    let n = appointments.len();
    store
        .upsert_schedule(clinic.id.clone(), appointments, Default::default(), true)
        .await
        .unwrap();
    assert_eq!(
        count(&store, "SELECT MAX(version) FROM schema_version").await,
        pg::SCHEMA_VERSION
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM audit").await, 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM appointments WHERE clinician_id IS NULL AND visit_type IS NULL"
        )
        .await,
        n as i64
    );
    let c = pg.client().await.unwrap();
    for action in checkin_kiosk::server::storage::AuditAction::ALL {
        c.execute(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action) VALUES ('demo', 2, 'system', 't', $1)",
            &[&action.as_str()],
        )
        .await
        .unwrap_or_else(|e| panic!("{} refused: {e}", action.as_str()));
    }
    let refused = c
        .execute(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action) VALUES ('demo', 2, 'system', 't', 'made_up')",
            &[],
        )
        .await;
    assert!(refused.is_err(), "an action the server never writes");
}

/// The connection settings of `settings`, with its password.
fn settings_config(settings: &checkin_kiosk::config::DatabaseSettings) -> tokio_postgres::Config {
    let mut config: tokio_postgres::Config = settings.url.as_str().parse().unwrap();
    if let Some(file) = &settings.password_file {
        let password = std::fs::read_to_string(file).unwrap();
        config.password(password.lines().next().unwrap_or_default());
    }
    config
}

/// The same urgent PHQ-9 posted to two replicas at the same moment, ten
/// times over: each time one replica accepts it and the other finds it a
/// duplicate, and it is stored, flagged and audited once.
#[tokio::test]
async fn the_same_form_posted_to_two_replicas_at_once_has_one_effect() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = scenario::config(dir.path());
    let clinic = config.clinics[0].clone();
    let (a, b) = (
        pg::connect(&settings).await.unwrap(),
        pg::connect(&settings).await.unwrap(),
    );
    let appointments = demo::appointments(&clinic, day1());
    let facts = demo::visit_facts(&appointments);
    Store::Postgres(a.clone())
        .upsert_schedule(clinic.id.clone(), appointments, facts, true)
        .await
        .unwrap();
    let catalog = checkin_kiosk::server::intake::FormCatalog::new(&config);
    let phq9 = &config
        .forms
        .iter()
        .find(|f| f.rule.form_id == "phq-9")
        .unwrap()
        .questionnaire;
    let mut weights: Vec<(String, i32)> = (1..=8).map(|i| (format!("phq9-{i}"), 0)).collect();
    weights.push(("phq9-9".into(), 2));
    let weights: Vec<(&str, i32)> = weights.iter().map(|(k, w)| (k.as_str(), *w)).collect();
    let response = scenario::response_json(phq9, &scenario::answers(phq9, &weights));
    let now = super::server::noon();
    const ROUNDS: i64 = 10;
    for _ in 0..ROUNDS {
        let ev = scenario::form_event(
            uuid::Uuid::new_v4(),
            "demo-005",
            "demo-p005",
            "phq-9",
            response.clone(),
            None,
            now,
        );
        let batch: Vec<checkin_kiosk::protocol::EventEnvelope> =
            vec![serde_json::from_value(ev).unwrap()];
        let (ra, rb) = tokio::join!(
            a.apply_batch(&clinic, &catalog, "k1", now, &batch),
            b.apply_batch(&clinic, &catalog, "k1", now, &batch),
        );
        let mut statuses = [ra.unwrap().results[0].status, rb.unwrap().results[0].status];
        statuses.sort_by_key(|s| *s as u8);
        use checkin_kiosk::protocol::EventStatus::{Accepted, Duplicate};
        assert_eq!(statuses, [Accepted, Duplicate]);
    }
    let store = Store::Postgres(a);
    for (sql, want) in [
        ("SELECT COUNT(*) FROM form_responses WHERE urgent", ROUNDS),
        (
            "SELECT COUNT(*) FROM events WHERE kind = 'form_completed'",
            ROUNDS,
        ),
        (
            "SELECT COUNT(*) FROM flags WHERE code = 'screening_positive'",
            ROUNDS,
        ),
        (
            "SELECT COUNT(*) FROM audit WHERE action = 'form_completed'",
            ROUNDS,
        ),
    ] {
        assert_eq!(count(&store, sql).await, want, "{sql}");
    }
}
