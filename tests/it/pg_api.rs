//! The HTTP API end to end on both backends: a kiosk enrolls, pulls, sends
//! a check-in's events (and replays them), and staff sign in, list and
//! decide, through `app(state)` over SQLite and over PostgreSQL. Both give
//! the same transcript; a second PostgreSQL replica sees what the first
//! stored.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use checkin_kiosk::domain::{ClinicId, FixedClock};
use checkin_kiosk::protocol::AppointmentWire;
use checkin_kiosk::server::storage::backend::Store;
use checkin_kiosk::server::storage::pg;
use checkin_kiosk::server::{self, AppState, Db, demo, schedule, staff};
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{PASSWORD, enroll_body, event, noon, send};

/// The test server's configuration without intake forms (their own
/// two-backend tests are in `pg_forms`), so the transcripts compared here
/// carry no forms due.
fn config(dir: &std::path::Path) -> checkin_kiosk::config::ServerConfig {
    let mut config = super::server::config(dir);
    config.forms.clear();
    config
}

/// The demo clinic's appointments on the test day, as SQLite stores them.
fn demo_schedule(config: &checkin_kiosk::config::ServerConfig) -> Vec<AppointmentWire> {
    let clinic = &config.clinics[0];
    let day = noon().with_timezone(&clinic.time_zone).date_naive();
    let db = Db::open_in_memory().unwrap();
    db.blocking(|c| {
        schedule::upsert(c, &clinic.id, &demo::appointments(clinic, day), true)?;
        schedule::day_wires(c, &clinic.id, day)
    })
    .unwrap()
}

/// A server on SQLite with the demo day's appointments.
async fn sqlite(dir: &std::path::Path) -> AppState {
    let config = config(dir);
    let (db, signer) = server::open_data_dir(&config).unwrap();
    let clinic = config.clinics[0].clone();
    let day = noon().with_timezone(&clinic.time_zone).date_naive();
    db.blocking(|c| {
        schedule::upsert(c, &clinic.id, &demo::appointments(&clinic, day), true)?;
        Ok(())
    })
    .unwrap();
    AppState::with_clock(config, db, signer, Arc::new(FixedClock::new(noon())))
}

/// A replica on a fresh PostgreSQL database, or `None` without a cluster.
async fn postgres(
    dir: &std::path::Path,
) -> Option<(AppState, checkin_kiosk::config::DatabaseSettings)> {
    let settings = super::pg_support::fresh_database().await?;
    let mut config = config(dir);
    config.database = Some(settings.clone());
    let store = pg::connect(&settings).await.unwrap();
    super::pg_support::seed_schedule(&store, "demo", &demo_schedule(&config)).await;
    let signer =
        checkin_kiosk::pass::PassSigner::load_or_create(&dir.join(server::KEY_FILE)).unwrap();
    let state =
        AppState::postgres_with_clock(config, store, signer, Arc::new(FixedClock::new(noon())))
            .unwrap();
    Some((state, settings))
}

/// Another replica on the same PostgreSQL database and key.
async fn replica(
    dir: &std::path::Path,
    settings: &checkin_kiosk::config::DatabaseSettings,
) -> AppState {
    let mut config = config(dir);
    config.database = Some(settings.clone());
    let store = pg::connect(settings).await.unwrap();
    let signer =
        checkin_kiosk::pass::PassSigner::load_or_create(&dir.join(server::KEY_FILE)).unwrap();
    AppState::postgres_with_clock(config, store, signer, Arc::new(FixedClock::new(noon()))).unwrap()
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    match auth {
        Auth::Kiosk(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Auth::Staff(c) => {
            req = req
                .header(header::COOKIE, c)
                .header("x-requested-with", "test")
        }
        Auth::None => req = req.header("x-requested-with", "test"),
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
        let c = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        return (status, json!({"cookie": c}));
    }
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, v)
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    Kiosk(&'a str),
    Staff(&'a str),
    None,
}

/// The event ids of the check-in batch, fixed so both backends see the
/// same batch.
struct Ids {
    arrived: Uuid,
    help: Uuid,
    copay: Uuid,
    proposal: Uuid,
    phi: Uuid,
    form: Uuid,
    checked_in: Uuid,
}

fn check_in_batch(ids: &Ids, a: &AppointmentWire) -> Vec<Value> {
    let appt = Some(a.id.as_str());
    vec![
        event(ids.arrived, appt, json!({"type": "arrived"})),
        event(
            ids.help,
            None,
            json!({"type": "flag", "code": "help_requested", "step": "welcome", "text": "Help requested"}),
        ),
        event(
            ids.copay,
            appt,
            json!({"type": "copay_chosen", "choice": "front_desk", "amount_cents": a.expected_copay_cents + 100, "currency": "USD"}),
        ),
        event(
            ids.proposal,
            appt,
            json!({"type": "demographics_proposed", "patient_id": a.patient.id, "demographics": {"address": {"line1": "1 New Road", "city": "Albany"}, "phone": "518-555-0100", "email": "new@example.com"}}),
        ),
        event(
            ids.phi,
            appt,
            json!({"type": "phi_viewed", "what": "demographics"}),
        ),
        event(
            ids.form,
            appt,
            json!({"type": "form_completed", "patient_id": a.patient.id, "form_id": "phq-2", "form_version": "1", "response": {"resourceType": "QuestionnaireResponse", "status": "completed", "item": []}}),
        ),
        event(ids.checked_in, appt, json!({"type": "checked_in"})),
    ]
}

fn statuses(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

/// Runs the journey on `state` (a second replica `other`, if any, serves
/// the staff side); returns what it saw, for comparison across backends.
async fn journey(state: &AppState, other: Option<&AppState>, ids: &Ids) -> Vec<String> {
    let kiosk_app = server::app(state.clone());
    let staff_app = server::app(other.unwrap_or(state).clone());
    let mut seen = Vec::new();
    let demo_id = ClinicId("demo".into());
    staff::add_staff_to(state.store(), &demo_id, "amy", PASSWORD, noon())
        .await
        .unwrap();
    let (token, kiosk_id) = enroll_kiosk(state, &kiosk_app).await;
    let kiosk = Auth::Kiosk(&token);

    let (s, pull) = call(
        &kiosk_app,
        Method::GET,
        "/api/v1/kiosk/schedule",
        kiosk,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pull}");
    let upserts: Vec<AppointmentWire> = serde_json::from_value(pull["upserts"].clone()).unwrap();
    assert!(upserts.len() >= 3, "the demo day: {}", upserts.len());
    seen.push(format!(
        "pull full={} {} appointments",
        pull["full"],
        upserts.len()
    ));
    let cursor = pull["cursor"].as_str().unwrap().to_string();
    let a = upserts
        .iter()
        .find(|w| w.status == "booked" && w.expected_copay_cents > 0)
        .expect("a booked appointment with a co-pay")
        .clone();

    let batch = json!({"events": check_in_batch(ids, &a)});
    let (s, first) = call(
        &kiosk_app,
        Method::POST,
        "/api/v1/kiosk/events",
        kiosk,
        Some(batch.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    seen.push(format!("first {:?}", statuses(&first)));
    let (s, again) = call(
        &kiosk_app,
        Method::POST,
        "/api/v1/kiosk/events",
        kiosk,
        Some(batch),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    seen.push(format!("replay {:?}", statuses(&again)));

    let (s, login) = call(
        &staff_app,
        Method::POST,
        "/api/v1/staff/login",
        Auth::None,
        Some(json!({"username": "amy", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{login}");
    let cookie = login["cookie"].as_str().unwrap().to_string();
    let staff = Auth::Staff(&cookie);
    let base = "/api/v1/staff/clinics/demo";

    let (s, list) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/appointments"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let row = list["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == a.id.as_str())
        .unwrap()
        .clone();
    seen.push(format!(
        "appointment {} {} flags {}",
        row["status"], row["check_in_state"], row["open_flags"]
    ));

    let (s, flags) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/flags"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{flags}");
    let mut codes: Vec<String> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["code"], f["text"]))
        .collect();
    codes.sort();
    seen.push(format!("flags {codes:?}"));
    let help = flags
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "help_requested")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    let (s, copays) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/copays"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{copays}");
    let copay = &copays.as_array().unwrap()[0];
    seen.push(format!(
        "copays {} amount {}",
        copays.as_array().unwrap().len(),
        copay["amount_cents"]
    ));
    let copay_id = copay["id"].as_i64().unwrap();

    let (s, changes) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/changes"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{changes}");
    let change = &changes.as_array().unwrap()[0];
    seen.push(format!(
        "changes {} on file {}",
        changes.as_array().unwrap().len(),
        change["on_file"]["demographics"].is_object()
    ));
    let change_id = change["id"].as_i64().unwrap();

    let (s, resolved) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/flags/{help}/resolve"),
        staff,
        Some(json!({"note": "Helped at the desk"})),
    )
    .await;
    seen.push(format!("resolve {s} by {}", resolved["resolved_by"]));
    let (s, _) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/flags/{help}/resolve"),
        staff,
        Some(json!({"note": "Again"})),
    )
    .await;
    seen.push(format!("resolve again {s}"));
    let hb = json!({"app_version": "0.1.0", "outbox_depth": 0, "online": true});
    let (s, beat) = call(
        &kiosk_app,
        Method::POST,
        "/api/v1/kiosk/heartbeat",
        kiosk,
        Some(hb),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{beat}");
    seen.push(format!(
        "help answered {}",
        beat["help_answered"] == json!([ids.help])
    ));

    let (s, item) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/copays/{copay_id}"),
        staff,
        Some(json!({"status": "collected"})),
    )
    .await;
    seen.push(format!("copay {s} {}", item["status"]));
    let (s, _) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/copays/{copay_id}"),
        staff,
        Some(json!({"status": "waived"})),
    )
    .await;
    seen.push(format!("copay again {s}"));
    let (s, decided) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/changes/{change_id}/approve"),
        staff,
        Some(json!({})),
    )
    .await;
    seen.push(format!(
        "approve {s} {} phone on file {}",
        decided["status"], decided["on_file"]["demographics"]["phone"]
    ));

    let (s, delta) = call(
        &kiosk_app,
        Method::GET,
        &format!("/api/v1/kiosk/schedule?since={cursor}"),
        kiosk,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{delta}");
    let changed: Vec<&str> = delta["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    seen.push(format!(
        "delta full={} {:?}",
        delta["full"],
        changed == [a.id.as_str()]
    ));

    let (s, fleet) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/kiosks"),
        staff,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{fleet}");
    seen.push(format!(
        "fleet {} online {}",
        fleet.as_array().unwrap().len(),
        fleet[0]["online"]
    ));
    let (s, pass) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/appointments/{}/pass", a.id),
        staff,
        None,
    )
    .await;
    seen.push(format!(
        "pass {s} {}",
        pass["pass"].as_str().is_some_and(|p| p.starts_with("CK1."))
    ));
    let (s, _) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/enrollment-codes"),
        staff,
        None,
    )
    .await;
    seen.push(format!("enrollment code {s}"));
    let (s, _) = call(&staff_app, Method::GET, "/healthz", Auth::None, None).await;
    seen.push(format!("healthz {s}"));
    let (s, metrics) = call(
        &server::metrics_app(staff_app_state(other, state)),
        Method::GET,
        "/metrics",
        Auth::None,
        None,
    )
    .await;
    let text = metrics.as_str().unwrap_or_default().to_string();
    seen.push(format!(
        "metrics {s} {}",
        text.contains("clinic_open_flags{clinic=\"demo\"} 1")
    ));
    let pool = text.contains("clinic_db_pool_connections ");
    assert_eq!(
        pool,
        matches!(state.store(), Store::Postgres(_)),
        "the pool's gauges on PostgreSQL only:\n{text}"
    );
    let (s, _) = call(
        &staff_app,
        Method::POST,
        &format!("{base}/kiosks/{kiosk_id}/revoke"),
        staff,
        None,
    )
    .await;
    seen.push(format!("revoke {s}"));
    let (s, _) = call(
        &kiosk_app,
        Method::GET,
        "/api/v1/kiosk/schedule",
        kiosk,
        None,
    )
    .await;
    seen.push(format!("revoked pull {s}"));
    let (s, _) = call(
        &staff_app,
        Method::POST,
        "/api/v1/staff/logout",
        staff,
        None,
    )
    .await;
    seen.push(format!("logout {s}"));
    let (s, _) = call(
        &staff_app,
        Method::GET,
        &format!("{base}/flags"),
        staff,
        None,
    )
    .await;
    seen.push(format!("after logout {s}"));
    seen
}

fn staff_app_state(other: Option<&AppState>, state: &AppState) -> AppState {
    other.unwrap_or(state).clone()
}

fn ids() -> Ids {
    Ids {
        arrived: Uuid::new_v4(),
        help: Uuid::new_v4(),
        copay: Uuid::new_v4(),
        proposal: Uuid::new_v4(),
        phi: Uuid::new_v4(),
        form: Uuid::new_v4(),
        checked_in: Uuid::new_v4(),
    }
}

/// What the journey must show on either backend.
fn expected_shape(seen: &[String]) {
    let joined = seen.join("\n");
    for want in [
        r#"first ["accepted", "accepted", "accepted", "accepted", "accepted", "rejected", "accepted"]"#,
        r#"replay ["duplicate", "duplicate", "duplicate", "duplicate", "duplicate", "rejected", "duplicate"]"#,
        r#"appointment "checked_in""#,
        "copays 1",
        "changes 1 on file true",
        r#"resolve 200 OK by "amy""#,
        "resolve again 409 Conflict",
        "help answered true",
        r#"copay 200 OK "collected""#,
        "copay again 409 Conflict",
        r#"approve 200 OK "approved" phone on file "518-555-0100""#,
        "delta full=false true",
        "fleet 1 online true",
        "pass 200 OK true",
        "enrollment code 201 Created",
        "healthz 200 OK",
        "metrics 200 OK true",
        "revoke 200 OK",
        "revoked pull 401 Unauthorized",
        "logout 204 No Content",
        "after logout 401 Unauthorized",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
}

#[tokio::test]
async fn the_api_journey_is_the_same_on_sqlite_and_postgres() {
    let pg_dir = tempfile::tempdir().unwrap();
    let Some((pg_state, _)) = postgres(pg_dir.path()).await else {
        return;
    };
    let ids = ids();
    let on_pg = journey(&pg_state, None, &ids).await;
    let dir = tempfile::tempdir().unwrap();
    let on_sqlite = journey(&sqlite(dir.path()).await, None, &ids).await;
    expected_shape(&on_sqlite);
    assert_eq!(on_pg, on_sqlite);
}

#[tokio::test]
async fn a_second_replica_serves_staff_what_the_first_took_from_kiosks() {
    let dir = tempfile::tempdir().unwrap();
    let Some((first, settings)) = postgres(dir.path()).await else {
        return;
    };
    let second = replica(dir.path(), &settings).await;
    let seen = journey(&first, Some(&second), &ids()).await;
    expected_shape(&seen);
}

/// Audit rows by action, from the PostgreSQL database.
async fn audit_actions(settings: &checkin_kiosk::config::DatabaseSettings) -> Vec<(String, i64)> {
    let store = pg::connect(settings).await.unwrap();
    let rows = store
        .client()
        .await
        .unwrap()
        .query(
            "SELECT action, COUNT(*) FROM audit GROUP BY action ORDER BY action",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test]
async fn views_decisions_and_kiosk_steps_are_audited_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let Some((state, settings)) = postgres(dir.path()).await else {
        return;
    };
    journey(&state, None, &ids()).await;
    let got = audit_actions(&settings).await;
    let count = |a: &str| got.iter().find(|(x, _)| x == a).map_or(0, |(_, n)| *n);
    for action in [
        "enrolled",
        "copay_chosen",
        "demographics_proposed",
        "phi_viewed",
        "viewed_appointments",
        "viewed_proposed_changes",
        "flag_resolved",
        "copay_collected",
        "demographics_change_approved",
        "enrollment_code_created",
        "kiosk_revoked",
    ] {
        assert_eq!(count(action), 1, "{action} in {got:?}");
    }
}

/// Counts rows of `table` in the PostgreSQL database.
async fn rows(settings: &checkin_kiosk::config::DatabaseSettings, table: &str) -> i64 {
    let store = pg::connect(settings).await.unwrap();
    let client = store.client().await.unwrap();
    let row = client
        .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn the_same_batch_posted_to_two_replicas_at_once_has_one_effect() {
    let dir = tempfile::tempdir().unwrap();
    let Some((first, settings)) = postgres(dir.path()).await else {
        return;
    };
    let second = replica(dir.path(), &settings).await;
    let (a, b) = (server::app(first.clone()), server::app(second.clone()));
    let (token, _) = enroll_kiosk(&first, &a).await;
    let wires = demo_schedule(first.config());
    let target = wires
        .iter()
        .find(|w| w.status == "booked" && w.expected_copay_cents > 0)
        .unwrap();
    for round in 0..10 {
        let batch = json!({"events": check_in_batch(&ids(), target)});
        let post = |app: &Router| {
            let (app, batch, token) = (app.clone(), batch.clone(), token.clone());
            async move {
                call(
                    &app,
                    Method::POST,
                    "/api/v1/kiosk/events",
                    Auth::Kiosk(&token),
                    Some(batch),
                )
                .await
            }
        };
        let ((s1, r1), (s2, r2)) = tokio::join!(post(&a), post(&b));
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{r1} {r2}");
        let accepted = |r: &Value| statuses(r).iter().filter(|s| *s == "accepted").count();
        assert_eq!(
            accepted(&r1) + accepted(&r2),
            6,
            "round {round}: each event accepted by one replica only: {r1} {r2}"
        );
    }
    // Ten rounds, each with one help flag and one co-pay mismatch flag, one
    // co-pay item and one proposal: once each, whichever replica won.
    assert_eq!(rows(&settings, "events").await, 60);
    assert_eq!(rows(&settings, "flags").await, 20);
    assert_eq!(rows(&settings, "copay_items").await, 10);
    assert_eq!(rows(&settings, "proposed_changes").await, 10);
}

#[tokio::test]
async fn urgent_flags_are_listed_first_on_both_backends() {
    let (lite_dir, pg_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let Some((pg_state, _)) = postgres(pg_dir.path()).await else {
        return;
    };
    let demo_id = ClinicId("demo".into());
    for state in [sqlite(lite_dir.path()).await, pg_state] {
        let clinic = state.config().clinic(&demo_id).unwrap().clone();
        let flag = |id: Uuid, minutes: i64, code: &str| {
            let mut e = event(
                id,
                None,
                json!({"type": "flag", "code": code, "step": "forms", "text": "For the desk"}),
            );
            e["occurred_at"] = json!(noon() - chrono::Duration::minutes(minutes));
            serde_json::from_value(e).unwrap()
        };
        let events = vec![
            flag(Uuid::new_v4(), 10, "help_requested"),
            flag(Uuid::new_v4(), 5, "screening_positive"),
            flag(Uuid::new_v4(), 1, "incomplete_checkin"),
        ];
        state
            .apply_events(clinic, "kiosk-a".into(), noon(), events)
            .await
            .unwrap();
        let codes: Vec<String> = state
            .store()
            .open_flags(demo_id.clone())
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(
            codes,
            ["screening_positive", "help_requested", "incomplete_checkin"],
            "on {}",
            if matches!(state.store(), Store::Postgres(_)) {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        );
    }
}

/// Enrolls a kiosk in the demo clinic of `state` through `app`; its
/// device token and kiosk id.
async fn enroll_kiosk(state: &AppState, app: &Router) -> (String, String) {
    let demo_id = ClinicId("demo".into());
    let (code, _) = staff::issue_enrollment_code(state.store(), demo_id, noon(), None)
        .await
        .unwrap();
    let (s, enrolled) = call(
        app,
        Method::POST,
        "/api/v1/kiosk/enroll",
        Auth::None,
        Some(enroll_body(&code)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{enrolled}");
    let field = |name: &str| enrolled[name].as_str().unwrap().to_string();
    (field("device_token"), field("kiosk_id"))
}

/// Posts `events` as one batch from a kiosk newly enrolled on `state`;
/// each result's status and reason.
async fn post_batch(state: &AppState, token: &mut Option<String>, events: &[Value]) -> Vec<Value> {
    let app = server::app(state.clone());
    if token.is_none() {
        *token = Some(enroll_kiosk(state, &app).await.0);
    }
    let (s, r) = call(
        &app,
        Method::POST,
        "/api/v1/kiosk/events",
        Auth::Kiosk(token.as_deref().unwrap()),
        Some(json!({ "events": events })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["status"], r["reason"]]))
        .collect()
}

/// The events stored, and the status of each of `appointments`, on
/// SQLite.
fn stored_on_sqlite(state: &AppState, appointments: &[&str]) -> (i64, Vec<String>) {
    state
        .db()
        .blocking(|c| {
            let events = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
            let mut statuses = Vec::new();
            for id in appointments {
                statuses.push(c.query_row(
                    "SELECT status FROM appointments WHERE appointment_id = ?1",
                    [id],
                    |r| r.get(0),
                )?);
            }
            Ok((events, statuses))
        })
        .unwrap()
}

/// The same, on PostgreSQL.
async fn stored_on_postgres(
    settings: &checkin_kiosk::config::DatabaseSettings,
    appointments: &[&str],
) -> (i64, Vec<String>) {
    let store = pg::connect(settings).await.unwrap();
    let client = store.client().await.unwrap();
    let mut statuses = Vec::new();
    for id in appointments {
        let row = client
            .query_one(
                "SELECT status FROM appointments WHERE appointment_id = $1",
                &[id],
            )
            .await
            .unwrap();
        statuses.push(row.get::<_, String>(0));
    }
    (rows(settings, "events").await, statuses)
}

#[tokio::test]
async fn a_batch_that_repeats_itself_is_judged_alike_on_both_backends() {
    let (lite_dir, pg_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let Some((pg_state, settings)) = postgres(pg_dir.path()).await else {
        return;
    };
    let lite_state = sqlite(lite_dir.path()).await;
    let wires = demo_schedule(lite_state.config());
    let mut booked = wires.iter().filter(|w| w.status == "booked");
    let (a, b) = (booked.next().unwrap(), booked.next().unwrap());
    let appt = Some(a.id.as_str());
    let (first, second, stray, check_in) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let arrived = json!({"type": "arrived"});
    let batch = vec![
        event(first, appt, arrived.clone()),
        // A second arrival finds the appointment arrived by the first.
        event(second, appt, arrived.clone()),
        // The first again, in the same batch.
        event(first, appt, arrived.clone()),
        // Rejected, then the same event again.
        event(stray, Some("no-such-appointment"), arrived.clone()),
        event(stray, Some("no-such-appointment"), arrived),
        event(check_in, appt, json!({"type": "checked_in"})),
        // An arrival after the check-in does not take it back.
        event(Uuid::new_v4(), Some(&b.id), json!({"type": "checked_in"})),
        event(Uuid::new_v4(), Some(&b.id), json!({"type": "arrived"})),
    ];
    let (mut lite_token, mut pg_token) = (None, None);
    let on_lite = post_batch(&lite_state, &mut lite_token, &batch).await;
    let on_pg = post_batch(&pg_state, &mut pg_token, &batch).await;
    assert_eq!(on_pg, on_lite);
    let statuses: Vec<&str> = on_lite.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "accepted",
            "accepted",
            "duplicate",
            "rejected",
            "rejected",
            "accepted",
            "accepted",
            "accepted"
        ]
    );
    assert_eq!(on_lite[3], on_lite[4], "the repeat gets the same reason");

    // Sent again whole, as after a lost acknowledgement: nothing new, and
    // the rejected event is judged again.
    let replay_lite = post_batch(&lite_state, &mut lite_token, &batch).await;
    let replay_pg = post_batch(&pg_state, &mut pg_token, &batch).await;
    assert_eq!(replay_pg, replay_lite);
    let statuses: Vec<&str> = replay_pg.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "duplicate",
            "duplicate",
            "duplicate",
            "rejected",
            "rejected",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );

    // Five events stored, the rejected one not; both appointments checked
    // in.
    let ids = [a.id.as_str(), b.id.as_str()];
    let lite_rows = stored_on_sqlite(&lite_state, &ids);
    let pg_rows = stored_on_postgres(&settings, &ids).await;
    assert_eq!(lite_rows, pg_rows);
    assert_eq!(
        pg_rows,
        (5, vec!["checked_in".to_string(), "checked_in".to_string()])
    );
}
