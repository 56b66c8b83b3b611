//! `migrate-data` from SQLite to PostgreSQL, on the private test cluster:
//! a demo clinic after a day's use (every table filled) moves over with
//! equal counts and checksums; a second run copies nothing; kiosks and
//! staff carry on against `serve` on PostgreSQL with the credentials they
//! had; a changed PostgreSQL row fails the verify and nothing is written;
//! what PostgreSQL has no place for is refused; and the command line
//! reports and exits accordingly.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use checkin_kiosk::config::{DatabaseSettings, ServerConfig};
use checkin_kiosk::domain::{ClinicId, FixedClock};
use checkin_kiosk::server::migrate_data::{MigrateError, MigrateOptions, Report, migrate_data};
use checkin_kiosk::server::storage::pg;
use checkin_kiosk::server::{self, AppState, Db, demo, staff};
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{enroll_body, event, noon, send};

/// The SQLite schema version this build copies.
const KNOWN_SQLITE_VERSION: i64 = checkin_kiosk::server::schema::SCHEMA_VERSION as i64;

/// The test server's configuration without intake forms, which a
/// PostgreSQL replica refuses.
fn config(dir: &Path) -> ServerConfig {
    let mut c = super::server::config(dir);
    c.forms.clear();
    c
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Kiosk(&'a str),
    Staff(&'a str),
    None,
}

/// One request through `app`: the status and the JSON body (or, for a
/// sign-in, `{"cookie": …}`).
async fn call(
    app: &Router,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-requested-with", "test");
    match auth {
        Auth::Kiosk(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Auth::Staff(c) => req = req.header(header::COOKIE, c),
        Auth::None => {}
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let (status, headers, bytes) = send(app, req.body(body).unwrap()).await;
    if let Some(cookie) = headers.get(header::SET_COOKIE) {
        let c = cookie.to_str().unwrap().split(';').next().unwrap();
        return (status, json!({ "cookie": c }));
    }
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v)
}

/// A SQLite data directory as `clinic-server demo` leaves it, after use.
struct Source {
    /// The data directory.
    dir: tempfile::TempDir,
    /// The demo's staff login.
    login: demo::DemoLogin,
    /// The kiosk's device token.
    token: String,
    /// A staff session cookie from SQLite.
    cookie: String,
    /// The check-in batch the kiosk sent.
    batch: Value,
    /// The flag left open.
    open_flag: i64,
    /// A second, unused enrollment code.
    spare_code: String,
}

impl Source {
    fn db(&self) -> Db {
        Db::open(&self.dir.path().join(server::DB_FILE)).unwrap()
    }

    fn options(&self, to: &DatabaseSettings) -> MigrateOptions {
        MigrateOptions {
            from: self.dir.path().to_path_buf(),
            to: to.clone(),
            verify_only: false,
        }
    }
}

/// The demo clinic after a morning: a kiosk enrolled with the demo's code
/// sent a check-in (a help flag, a co-pay that differs, an address
/// change), staff signed in and resolved the help flag, a spare
/// enrollment code was made, and an EHR connector left its queue, cache
/// and status. Every table holds rows except those PostgreSQL has no
/// place for yet.
async fn used_demo() -> Source {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, signer) = server::open_data_dir(&config).unwrap();
    let login = demo::prepare(&db, &config, noon()).unwrap();
    let state = AppState::with_clock(
        config,
        db.clone(),
        signer,
        Arc::new(FixedClock::new(noon())),
    );
    let app = server::app(state.clone());
    let (s, enrolled) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/enroll",
        Auth::None,
        Some(enroll_body(&login.enrollment_code)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{enrolled}");
    let token = enrolled["device_token"].as_str().unwrap().to_string();
    let (s, pull) = call(
        &app,
        Method::GET,
        "/api/v1/kiosk/schedule",
        Auth::Kiosk(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pull}");
    let a = pull["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["status"] == "booked" && w["expected_copay_cents"].as_i64() > Some(0))
        .expect("a booked appointment with a co-pay")
        .clone();
    let (appt, patient) = (
        a["id"].as_str().unwrap(),
        a["patient"]["id"].as_str().unwrap(),
    );
    let batch = json!({"events": [
        event(Uuid::new_v4(), Some(appt), json!({"type": "arrived"})),
        event(Uuid::new_v4(), None, json!({"type": "flag", "code": "help_requested", "step": "welcome", "text": "Help requested"})),
        event(Uuid::new_v4(), Some(appt), json!({"type": "copay_chosen", "choice": "front_desk", "amount_cents": a["expected_copay_cents"].as_i64().unwrap() + 100, "currency": "USD"})),
        event(Uuid::new_v4(), Some(appt), json!({"type": "demographics_proposed", "patient_id": patient, "demographics": {"address": {"line1": "1 New Road", "city": "Albany"}, "phone": "518-555-0100", "email": "new@example.com"}})),
        event(Uuid::new_v4(), Some(appt), json!({"type": "phi_viewed", "what": "demographics"})),
        event(Uuid::new_v4(), Some(appt), json!({"type": "checked_in"})),
    ]});
    let (s, r) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/events",
        Auth::Kiosk(&token),
        Some(batch.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let hb = json!({"app_version": "0.1.0", "outbox_depth": 2, "online": true});
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/heartbeat",
        Auth::Kiosk(&token),
        Some(hb),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, signed_in) = call(
        &app,
        Method::POST,
        "/api/v1/staff/login",
        Auth::None,
        Some(json!({"username": login.username, "password": login.password})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{signed_in}");
    let cookie = signed_in["cookie"].as_str().unwrap().to_string();
    let base = "/api/v1/staff/clinics/demo";
    let (s, flags) = call(
        &app,
        Method::GET,
        &format!("{base}/flags"),
        Auth::Staff(&cookie),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{flags}");
    let id_of = |code: &str| {
        flags
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (help, open_flag) = (id_of("help_requested"), id_of("copay_mismatch"));
    let (s, _) = call(
        &app,
        Method::POST,
        &format!("{base}/flags/{help}/resolve"),
        Auth::Staff(&cookie),
        Some(json!({"note": "Helped"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (spare_code, _) =
        staff::issue_enrollment_code(state.store(), ClinicId("demo".into()), noon(), None)
            .await
            .unwrap();
    db.blocking(|c| {
        c.execute_batch(
            r#"INSERT INTO fhir_outbox (clinic_id, kind, target_id, payload, created_ms, next_attempt_ms)
                 VALUES ('demo', 'appointment_status', 'appt-1', '{"status": "arrived", "n": 1.50}', 1, 2);
               INSERT INTO fhir_resources (clinic_id, resource_type, resource_id, version_id, body)
                 VALUES ('demo', 'Patient', 'p-1', '3', '{"resourceType":"Patient","id":"p-1"}');
               INSERT INTO fhir_status (clinic_id, last_pull_ms, last_pull_summary, held_removals)
                 VALUES ('demo', 5, 'pulled 3', '["appt-9"]');"#,
        )?;
        Ok(())
    })
    .unwrap();
    Source {
        dir,
        login,
        token,
        cookie,
        batch,
        open_flag,
        spare_code,
    }
}

/// Rows of `table` in SQLite.
fn sqlite_rows(db: &Db, table: &str) -> u64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    db.blocking(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
        .unwrap()
        .try_into()
        .unwrap()
}

/// Runs one SQL statement on the PostgreSQL database; the rows it touched.
async fn pg_execute(settings: &DatabaseSettings, sql: &str) -> u64 {
    let store = pg::connect(settings).await.unwrap();
    store
        .client()
        .await
        .unwrap()
        .execute(sql, &[])
        .await
        .unwrap()
}

/// Rows of `table` in PostgreSQL.
async fn pg_rows(settings: &DatabaseSettings, table: &str) -> u64 {
    let store = pg::connect(settings).await.unwrap();
    let n: i64 = store
        .client()
        .await
        .unwrap()
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    n.try_into().unwrap()
}

/// Whether the PostgreSQL schema has `table` (and `column`, if given).
async fn pg_has(settings: &DatabaseSettings, table: &str, column: Option<&str>) -> bool {
    let store = pg::connect(settings).await.unwrap();
    let n: i64 = store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
               AND ($2::text IS NULL OR column_name = $2)",
            &[&table, &column],
        )
        .await
        .unwrap()
        .get(0);
    n > 0
}

/// The appointments' form columns (clinician id, visit type), which the
/// demo fills, are emptied when PostgreSQL has no place for them yet, after
/// checking that the migration refuses to drop them.
async fn fit_to_postgres(source: &Source, settings: &DatabaseSettings) {
    for column in ["clinician_id", "visit_type"] {
        if pg_has(settings, "appointments", Some(column)).await {
            continue;
        }
        let err = migrate_data(&source.options(settings)).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, MigrateError::Unsupported(_))
                && text.contains(&format!("column appointments.{column}")),
            "{text}"
        );
        assert_eq!(pg_rows(settings, "patients").await, 0, "nothing was copied");
        let sql = format!("UPDATE appointments SET {column} = NULL");
        source
            .db()
            .blocking(move |c| Ok(c.execute(&sql, [])?))
            .unwrap();
    }
}

/// One completed form, straight into SQLite (the demo's kiosk has no
/// forms): kept when PostgreSQL has `form_responses`, and otherwise first
/// shown to be refused, then removed.
async fn fit_form_responses(source: &Source, settings: &DatabaseSettings) {
    let id = Uuid::new_v4().to_string();
    source
        .db()
        .blocking(move |c| {
            c.execute(
                "INSERT INTO form_responses (clinic_id, event_id, kiosk_id, appointment_id,
                     patient_id, form_id, form_version, response, signature_png, score, band,
                     urgent, completed_ms, received_ms)
                 SELECT 'demo', ?1, kiosk_id, 'appt-1', 'p-1', 'phq-2', '1',
                     '{\"resourceType\": \"QuestionnaireResponse\", \"status\": \"completed\"}',
                     X'89504E470D0A1A0A', 2, 'minimal', 0, 1, 2
                 FROM kiosks LIMIT 1",
                [id],
            )?;
            Ok(())
        })
        .unwrap();
    if pg_has(settings, "form_responses", None).await {
        return;
    }
    let err = migrate_data(&source.options(settings)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("table form_responses (1 rows) has no PostgreSQL table yet"),
        "{err}"
    );
    source
        .db()
        .blocking(|c| Ok(c.execute("DELETE FROM form_responses", [])?))
        .unwrap();
}

/// A used demo clinic, and PostgreSQL holding its migration.
async fn migrated() -> Option<(Source, DatabaseSettings, Report)> {
    let settings = super::pg_support::fresh_database().await?;
    let source = used_demo().await;
    fit_to_postgres(&source, &settings).await;
    fit_form_responses(&source, &settings).await;
    let report = migrate_data(&source.options(&settings)).await.unwrap();
    assert!(report.verified() && report.committed, "{report}");
    Some((source, settings, report))
}

#[tokio::test]
async fn a_used_demo_clinic_moves_over_and_a_second_run_copies_nothing() {
    let Some((source, settings, first)) = migrated().await else {
        return;
    };
    let db = source.db();
    for t in checkin_kiosk::server::migrate_data::tables::TABLES {
        let rows = sqlite_rows(&db, t.name);
        let Some(r) = first.table(t.name) else {
            assert_eq!(rows, 0, "{} is left behind only when empty", t.name);
            continue;
        };
        assert!(rows > 0, "the used demo fills {}", t.name);
        assert_eq!((r.source_rows, r.copied), (rows, rows), "{}", t.name);
        assert_eq!(pg_rows(&settings, t.name).await, rows, "{}", t.name);
        assert_eq!(r.source_checksum, r.target_checksum, "{}", t.name);
    }
    let second = migrate_data(&source.options(&settings)).await.unwrap();
    assert!(second.verified() && second.committed, "{second}");
    assert_eq!(second.totals(), (first.totals().0, 0), "{second}");
    for (a, b) in first.tables.iter().zip(&second.tables) {
        assert_eq!(a.target_checksum, b.target_checksum, "{}", a.table);
        assert_eq!(b.target_rows, a.target_rows, "{}", a.table);
    }
    let text = second.to_string();
    assert!(text.contains("0 copied now, committed"), "{text}");
    assert!(text.contains(server::KEY_FILE), "{text}");
}

/// `serve` on the migrated database, with the SQLite server's data
/// directory (the key file) as its own.
async fn start_serve(
    source: &Source,
    settings: &DatabaseSettings,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut config = config(source.dir.path());
    config.database = Some(settings.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// `GET path` over a socket with a kiosk token; the status.
async fn get_over_socket(addr: std::net::SocketAddr, path: &str, token: &str) -> StatusCode {
    use hyper_util::rt::TokioIo;
    for _ in 0..100 {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::get(format!("http://{addr}{path}"))
            .header(header::HOST, addr.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        return sender.send_request(req).await.unwrap().status();
    }
    panic!("serve did not listen on {addr}");
}

#[tokio::test]
async fn a_kiosk_enrolled_on_sqlite_syncs_with_serve_on_postgres() {
    let Some((source, settings, _)) = migrated().await else {
        return;
    };
    let (addr, stop) = start_serve(&source, &settings).await;
    let schedule = "/api/v1/kiosk/schedule";
    assert_eq!(
        get_over_socket(addr, schedule, &source.token).await,
        StatusCode::OK
    );
    assert_eq!(
        get_over_socket(addr, schedule, "not-a-token").await,
        StatusCode::UNAUTHORIZED
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn kiosks_and_staff_carry_on_against_the_migrated_database() {
    let Some((source, settings, _)) = migrated().await else {
        return;
    };
    let store = pg::connect(&settings).await.unwrap();
    let mut cfg = config(source.dir.path());
    cfg.database = Some(settings.clone());
    let signer =
        checkin_kiosk::pass::PassSigner::load_or_create(&source.dir.path().join(server::KEY_FILE))
            .unwrap();
    let state =
        AppState::postgres_with_clock(cfg, store, signer, Arc::new(FixedClock::new(noon())))
            .unwrap();
    let app = server::app(state);
    let kiosk = Auth::Kiosk(&source.token);

    let (s, pull) = call(&app, Method::GET, "/api/v1/kiosk/schedule", kiosk, None).await;
    assert_eq!(s, StatusCode::OK, "{pull}");
    assert!(
        pull["upserts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["status"] == "checked_in"),
        "the check-in made on SQLite: {pull}"
    );
    let (s, replay) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/events",
        kiosk,
        Some(source.batch.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{replay}");
    assert!(
        replay["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "duplicate"),
        "events taken on SQLite are duplicates on PostgreSQL: {replay}"
    );
    let new_flag = json!({"events": [event(Uuid::new_v4(), None, json!({"type": "flag", "code": "help_requested", "step": "welcome", "text": "Help requested"}))]});
    let (s, r) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/events",
        kiosk,
        Some(new_flag),
    )
    .await;
    assert_eq!(
        (s, r["results"][0]["status"].clone()),
        (StatusCode::OK, json!("accepted")),
        "{r}"
    );

    let base = "/api/v1/staff/clinics/demo";
    let old_session = Auth::Staff(&source.cookie);
    let (s, flags) = call(
        &app,
        Method::GET,
        &format!("{base}/flags"),
        old_session,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the SQLite session carries on: {flags}");
    let ids: Vec<i64> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&source.open_flag), "{flags}");
    let newest = ids.iter().max().copied().unwrap();
    assert!(
        newest > source.open_flag + 1,
        "new flags get ids past the copied ones: {ids:?}"
    );

    let (s, signed_in) = call(
        &app,
        Method::POST,
        "/api/v1/staff/login",
        Auth::None,
        Some(json!({"username": source.login.username, "password": source.login.password})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the password hash carries on: {signed_in}"
    );
    let cookie = signed_in["cookie"].as_str().unwrap().to_string();
    let staff = Auth::Staff(&cookie);
    let (s, _) = call(
        &app,
        Method::POST,
        &format!("{base}/flags/{}/resolve", source.open_flag),
        staff,
        Some(json!({"note": "Settled at the desk"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, copays) = call(&app, Method::GET, &format!("{base}/copays"), staff, None).await;
    assert_eq!(
        (s, copays.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{copays}"
    );
    let copay = copays[0]["id"].as_i64().unwrap();
    let (s, item) = call(
        &app,
        Method::POST,
        &format!("{base}/copays/{copay}"),
        staff,
        Some(json!({"status": "collected"})),
    )
    .await;
    assert_eq!(
        (s, item["status"].clone()),
        (StatusCode::OK, json!("collected"))
    );
    let (s, changes) = call(&app, Method::GET, &format!("{base}/changes"), staff, None).await;
    assert_eq!(
        (s, changes.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{changes}"
    );
    let change = changes[0]["id"].as_i64().unwrap();
    let (s, decided) = call(
        &app,
        Method::POST,
        &format!("{base}/changes/{change}/approve"),
        staff,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (s, decided["status"].clone()),
        (StatusCode::OK, json!("approved")),
        "{decided}"
    );
    let (s, list) = call(
        &app,
        Method::GET,
        &format!("{base}/appointments"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert!(
        list["appointments"].as_array().unwrap().len() >= 3,
        "{list}"
    );
    let (s, fleet) = call(&app, Method::GET, &format!("{base}/kiosks"), staff, None).await;
    assert_eq!(
        (s, fleet[0]["name"].clone()),
        (StatusCode::OK, json!("Lobby 1")),
        "{fleet}"
    );

    let (s, enrolled) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/enroll",
        Auth::None,
        Some(enroll_body(&source.spare_code)),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the unused SQLite enrollment code: {enrolled}"
    );
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/enroll",
        Auth::None,
        Some(enroll_body(&source.login.enrollment_code)),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the code used on SQLite stays used"
    );
}

#[tokio::test]
async fn a_changed_postgres_row_fails_the_verify_and_nothing_is_written() {
    let Some((source, settings, first)) = migrated().await else {
        return;
    };
    let (id, name): (String, String) = source
        .db()
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT patient_id, first_name FROM patients ORDER BY patient_id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    let rename = async |to: &str| {
        let store = pg::connect(&settings).await.unwrap();
        let client = store.client().await.unwrap();
        let sql =
            "UPDATE patients SET first_name = $1 WHERE clinic_id = 'demo' AND patient_id = $2";
        assert_eq!(client.execute(sql, &[&to, &id]).await.unwrap(), 1);
    };
    rename("Mallory").await;
    assert_eq!(
        pg_execute(
            &settings,
            "DELETE FROM audit WHERE audit_id = (SELECT MAX(audit_id) FROM audit)"
        )
        .await,
        1
    );
    let audit_rows = first.table("audit").unwrap().source_rows;
    let report = migrate_data(&source.options(&settings)).await.unwrap();
    assert!(!report.verified() && !report.committed, "{report}");
    let patients = report.table("patients").unwrap();
    assert_eq!((patients.differing, patients.missing), (1, 0), "{report}");
    assert_eq!(
        patients.examples,
        [format!("holds other data: clinic_id=demo, patient_id={id}")],
        "{report}"
    );
    assert_ne!(patients.source_checksum, patients.target_checksum);
    assert!(!report.to_string().contains("Mallory"), "{report}");
    assert!(report.to_string().contains("NOT verified"), "{report}");
    assert_eq!(
        pg_rows(&settings, "audit").await,
        audit_rows - 1,
        "rolled back"
    );

    let mut compare = source.options(&settings);
    compare.verify_only = true;
    let report = migrate_data(&compare).await.unwrap();
    assert!(!report.verified(), "{report}");
    assert_eq!(report.table("audit").unwrap().missing, 1, "{report}");

    rename(&name).await;
    let repaired = migrate_data(&source.options(&settings)).await.unwrap();
    assert!(repaired.verified() && repaired.committed, "{repaired}");
    assert_eq!(repaired.table("audit").unwrap().copied, 1, "{repaired}");
}

#[tokio::test]
async fn what_postgres_has_no_place_for_is_refused_and_nothing_is_copied() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let source = used_demo().await;
    fit_to_postgres(&source, &settings).await;
    source
        .db()
        .blocking(|c| {
            c.execute_batch(
                "CREATE TABLE visitor_log (clinic_id TEXT, name TEXT);
                 INSERT INTO visitor_log VALUES ('demo', 'someone');
                 CREATE TABLE scratch (x INTEGER);",
            )?;
            Ok(())
        })
        .unwrap();
    let err = migrate_data(&source.options(&settings)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MigrateError::Unsupported(_)), "{text}");
    assert!(text.contains("table visitor_log (1 rows)"), "{text}");
    assert!(
        !text.contains("scratch"),
        "an empty table is only noted: {text}"
    );
    assert!(!text.contains("someone"), "no value is shown: {text}");
    assert_eq!(
        pg_rows(&settings, "patients").await,
        0,
        "nothing was copied"
    );

    source
        .db()
        .blocking(|c| Ok(c.execute("DELETE FROM visitor_log", [])?))
        .unwrap();
    let report = migrate_data(&source.options(&settings)).await.unwrap();
    assert!(report.verified(), "{report}");
    assert!(
        report.notes.iter().any(|n| n.contains("table scratch")),
        "{report}"
    );
}

#[test]
fn an_older_sqlite_schema_or_a_missing_database_is_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = MigrateOptions {
        from: dir.path().to_path_buf(),
        to: DatabaseSettings {
            url: "postgres://checkin@127.0.0.1:1/checkin".parse().unwrap(),
            tls: checkin_kiosk::config::DbTls::Disable,
            ca_file: None,
            password_file: None,
            pool_size: 1,
        },
        verify_only: false,
    };
    let err = runtime.block_on(migrate_data(&options)).unwrap_err();
    assert!(matches!(err, MigrateError::NoDatabase(_)), "{err}");
    let mut conn = rusqlite::Connection::open(dir.path().join(server::DB_FILE)).unwrap();
    server::schema::migrations()
        .to_version(&mut conn, 6)
        .unwrap();
    drop(conn);
    let err = runtime.block_on(migrate_data(&options)).unwrap_err();
    assert!(
        matches!(
            err,
            MigrateError::SqliteVersion {
                found: 6,
                known: KNOWN_SQLITE_VERSION,
                ..
            }
        ),
        "{err}"
    );
}

/// Runs `clinic-server migrate-data` on `source` into `settings`, with
/// the password in the environment; exit code, stdout and stderr.
fn run_cli(
    source: &Source,
    settings: &DatabaseSettings,
    to: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let password = settings
        .password_file
        .as_ref()
        .map(|f| std::fs::read_to_string(f).unwrap().trim().to_string())
        .unwrap_or_default();
    let out = Command::new(env!("CARGO_BIN_EXE_clinic-server"))
        .arg("migrate-data")
        .arg("--from")
        .arg(source.dir.path())
        .args(["--to", to])
        .args(extra)
        .env("CLINIC_SERVER_DB_PASSWORD", password)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_reports_and_exits_non_zero_on_a_mismatch() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let source = used_demo().await;
    fit_to_postgres(&source, &settings).await;
    let url = settings.url.as_str();
    let (code, out, err) = run_cli(&source, &settings, url, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verified: PostgreSQL holds all"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("patients ") && l.ends_with("ok")),
        "{out}"
    );
    let (code, out, _) = run_cli(&source, &settings, url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("; 0 copied now, committed"), "{out}");

    pg_execute(&settings, "UPDATE staff_members SET password_hash = 'x'").await;
    let (code, out, _) = run_cli(&source, &settings, url, &["--verify-only"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("MISMATCH") && out.contains("staff_members: holds other data"),
        "{out}"
    );

    let with_password = settings.url.as_str().replace("checkin@", "checkin:secret@");
    let (code, _, err) = run_cli(&source, &settings, &with_password, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("holds a password"), "{err}");

    let _lock = server::lock_data_dir(source.dir.path()).unwrap();
    let (code, _, err) = run_cli(&source, &settings, url, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("in use") && err.contains("stop the SQLite clinic-server"),
        "{err}"
    );
}
