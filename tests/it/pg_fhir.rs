//! The EHR connector on PostgreSQL, against the real FHIR server the SQLite
//! connector tests use (`sekmet-fhir`, see `fhir.rs`): a pull, a check-in
//! written back despite a concurrent edit, a replayed event that writes
//! nothing more, an outage that loses nothing, removals an odd answer
//! holds for staff, a write-back that fails for good and a staff retry;
//! and two replicas configured with the same clinic, of which only the
//! lease holder pulls and writes, and the other takes over when the
//! holder stops.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use checkin_kiosk::config::{DatabaseSettings, parse_server};
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::storage::pg;
use checkin_kiosk::server::{self, AppState, fhir, staff};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::fhir::{Sekmet, seed};
use super::server::{PASSWORD, enroll_and_sign_in, send};

fn north() -> ClinicId {
    ClinicId::from("north")
}

/// A replica serving clinic `north`, whose `[clinic.fhir]` is `fhir_toml`,
/// on the PostgreSQL database `settings`, with the wall clock (the FHIR
/// server's appointments are today's).
async fn replica(dir: &Path, settings: &DatabaseSettings, fhir_toml: &str) -> AppState {
    let text = format!(
        "[server]\ndata_dir = \"{}\"\n[[clinic]]\nid = \"north\"\nname = \"North\"\n\
         time_zone = \"America/Chicago\"\n[clinic.fhir]\n{fhir_toml}",
        dir.join("server").display()
    );
    let mut config =
        parse_server(&text, &dir.join("clinic-server.toml")).unwrap_or_else(|e| panic!("{e}"));
    config.database = Some(settings.clone());
    let store = pg::connect(settings).await.expect("connect");
    std::fs::create_dir_all(dir.join("server")).unwrap();
    let signer =
        checkin_kiosk::pass::PassSigner::load_or_create(&dir.join("server").join(server::KEY_FILE))
            .unwrap();
    AppState::postgres(config, store, signer).expect("a PostgreSQL replica with a connector")
}

/// A kiosk and a staff member on `state`'s database.
struct Clients {
    app: Router,
    token: String,
    cookie: String,
}

async fn clients(state: &AppState) -> Clients {
    let now = Utc::now();
    staff::add_staff_to(state.store(), &north(), "amy", PASSWORD, now)
        .await
        .unwrap();
    let (code, _) = staff::issue_enrollment_code(state.store(), north(), now, None)
        .await
        .unwrap();
    let app = server::app(state.clone());
    let (token, cookie) = enroll_and_sign_in(&app, &code, "amy").await;
    Clients { app, token, cookie }
}

impl Clients {
    /// Sends one event with id `id`; returns its result's status.
    async fn event(&self, id: Uuid, appointment: &str, body: Value) -> String {
        let batch = json!({"events": [{"id": id, "occurred_at": Utc::now(), "appointment_id": appointment, "body": body}]});
        let req = Request::post("/api/v1/kiosk/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(batch.to_string()))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        v["results"][0]["status"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string()
    }

    /// The kiosk's full schedule: appointment ids and statuses, by id.
    async fn schedule(&self) -> Vec<(String, String)> {
        let req = Request::get("/api/v1/kiosk/schedule")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        // An empty list is left out.
        let mut out: Vec<(String, String)> = v["upserts"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_string(),
                    a["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    async fn ehr_status(&self) -> Value {
        let req = Request::get("/api/v1/staff/clinics/north/ehr")
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn staff_post(&self, path: &str) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header(header::COOKIE, &self.cookie)
            .header("x-requested-with", "test")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn ids(schedule: &[(String, String)]) -> Vec<&str> {
    schedule.iter().map(|(id, _)| id.as_str()).collect()
}

fn status_of<'a>(schedule: &'a [(String, String)], id: &str) -> &'a str {
    schedule
        .iter()
        .find(|(a, _)| a == id)
        .map_or("", |(_, s)| s.as_str())
}

/// How many requests in the FHIR server's access log start with `what`
/// (such as `GET /fhir/Appointment?`).
fn requests(dir: &Path, what: &str) -> usize {
    let log = std::fs::read_to_string(dir.join("sekmet.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains(&format!("\"{what}")))
        .count()
}

/// How many updates of `path` (such as `Appointment/a1`) the FHIR server
/// accepted.
fn writes(dir: &Path, path: &str) -> usize {
    let log = std::fs::read_to_string(dir.join("sekmet.log")).unwrap_or_default();
    let line = format!("\"PUT /fhir/{path} HTTP/1.1\" 200");
    log.lines().filter(|l| l.contains(&line)).count()
}

async fn delete(ehr: &Sekmet, path: &str) {
    let r = reqwest::Client::new()
        .delete(format!("{}/{path}", ehr.base()))
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_and_a_check_in_are_written_back_once_even_when_replayed() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let fhir_toml = format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
        ehr.base()
    );
    let state = replica(dir.path(), &settings, &fhir_toml).await;
    let kiosk = clients(&state).await;

    let summary = fhir::pull_now(&state, &north()).await.expect("pull");
    assert_eq!(summary.appointments, 4, "{summary:?}");
    assert_eq!(
        (summary.upserted, summary.skipped, summary.removed),
        (2, 2, 0),
        "{summary:?}"
    );
    assert_eq!(ids(&kiosk.schedule().await), ["a1", "a2"]);

    // Someone edits the appointment in the EHR after our pull read it.
    let mut edited = ehr.read("Appointment/a1").await;
    edited["comment"] = json!("interpreter requested");
    ehr.put(&edited).await;

    let arrived = Uuid::new_v4();
    assert_eq!(
        kiosk.event(arrived, "a1", json!({"type": "arrived"})).await,
        "accepted"
    );
    assert_eq!(kiosk.ehr_status().await["queue_pending"], 1);
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (1, 0, 0),
        "{report:?}"
    );
    let now = ehr.read("Appointment/a1").await;
    assert_eq!(now["status"], "arrived");
    assert_eq!(now["comment"], "interpreter requested", "{now}");
    assert_eq!(now["meta"]["versionId"], "3");

    // The kiosk sends the same event again: a duplicate, queued no more.
    assert_eq!(
        kiosk.event(arrived, "a1", json!({"type": "arrived"})).await,
        "duplicate"
    );
    assert_eq!(kiosk.ehr_status().await["queue_pending"], 0);
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report, fhir::DrainReport::default());
    assert_eq!(ehr.read("Appointment/a1").await["meta"]["versionId"], "3");

    kiosk
        .event(Uuid::new_v4(), "a1", json!({"type": "checked_in"}))
        .await;
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(ehr.read("Appointment/a1").await["status"], "checked-in");
    assert_eq!(
        writes(dir.path(), "Appointment/a1"),
        3,
        "the test's edit and one write per event"
    );

    // A later pull keeps the check-in and changes nothing.
    let summary = fhir::pull_now(&state, &north()).await.expect("pull");
    assert_eq!(
        (summary.upserted, summary.unchanged, summary.removed),
        (0, 2, 0),
        "{summary:?}"
    );
    assert_eq!(status_of(&kiosk.schedule().await, "a1"), "checked_in");
    let status = kiosk.ehr_status().await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["last_pull"]["skipped"], 2, "{status}");
    assert!(status["last_pull_error"].is_null(), "{status}");
    assert!(
        status["lease_holder"].is_null(),
        "no connector task runs here: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_loses_nothing_and_an_odd_answer_removes_nothing_until_staff_confirm() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let fhir_toml = format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\nconnect_timeout_secs = 2\nrequest_timeout_secs = 5\n",
        ehr.base()
    );
    let state = replica(dir.path(), &settings, &fhir_toml).await;
    let kiosk = clients(&state).await;
    fhir::pull_now(&state, &north()).await.expect("pull");

    ehr.stop();
    // The kiosk is answered at once; the write-backs wait.
    kiosk
        .event(Uuid::new_v4(), "a2", json!({"type": "arrived"}))
        .await;
    kiosk
        .event(Uuid::new_v4(), "a2", json!({"type": "checked_in"}))
        .await;
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(
        (report.sent, report.retrying, report.waiting),
        (0, 1, 1),
        "{report:?}"
    );
    assert!(fhir::pull_now(&state, &north()).await.is_err());
    let status = kiosk.ehr_status().await;
    assert_eq!(status["queue_pending"], 2, "{status}");
    assert!(status["last_write_error"].is_string(), "{status}");
    assert!(status["last_pull_error"].is_string(), "{status}");
    // The failed pull removed nothing.
    assert_eq!(ids(&kiosk.schedule().await), ["a1", "a2"]);

    ehr.restart().await;
    // The retry is not due yet: nothing is sent early.
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report.sent, 0, "{report:?}");
    let due = state
        .store()
        .ehr_retry_now(north(), Utc::now())
        .await
        .unwrap();
    assert_eq!(due, 2);
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(ehr.read("Appointment/a2").await["status"], "checked-in");

    // The EHR answers without today's appointments: the removals are
    // held, for staff to see, and the kiosks keep the schedule.
    delete(&ehr, "Appointment/a1").await;
    delete(&ehr, "Appointment/a2").await;
    let summary = fhir::pull_now(&state, &north()).await.expect("pull");
    assert_eq!((summary.removed, summary.held), (0, 2), "{summary:?}");
    assert_eq!(ids(&kiosk.schedule().await), ["a1", "a2"]);
    let status = kiosk.ehr_status().await;
    assert_eq!(
        status["held_removals"]["appointment_ids"],
        json!(["a1", "a2"]),
        "{status}"
    );
    // A second pull that agrees does not release them yet (two must).
    let summary = fhir::pull_now(&state, &north()).await.expect("pull");
    assert_eq!((summary.removed, summary.held), (0, 2), "{summary:?}");
    assert_eq!(
        kiosk.ehr_status().await["held_removals"]["agreeing_pulls"],
        1
    );

    let (s, body) = kiosk
        .staff_post("/api/v1/staff/clinics/north/ehr/held-removals/confirm")
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["held_removals"].is_null(), "{body}");
    assert!(ids(&kiosk.schedule().await).is_empty());
    // Nothing is held any more: a second confirmation is a conflict.
    let (s, _) = kiosk
        .staff_post("/api/v1/staff/clinics/north/ehr/held-removals/confirm")
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_the_ehr_cannot_find_fails_visibly_until_staff_retry_it() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let fhir_toml = format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
        ehr.base()
    );
    let state = replica(dir.path(), &settings, &fhir_toml).await;
    let kiosk = clients(&state).await;
    fhir::pull_now(&state, &north()).await.expect("pull");
    let a1 = ehr.read("Appointment/a1").await;

    delete(&ehr, "Appointment/a1").await;
    kiosk
        .event(Uuid::new_v4(), "a1", json!({"type": "arrived"}))
        .await;
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report.failed, 1, "{report:?}");
    let status = kiosk.ehr_status().await;
    assert_eq!(status["queue_failed"], 1, "{status}");
    let failed = &status["failed_writes"][0];
    assert_eq!(failed["appointment_id"], "a1", "{status}");
    assert_eq!(failed["status"], "arrived", "{status}");
    let item = failed["item_id"].as_i64().unwrap();

    // The EHR has it again; staff queue the write again.
    let mut back = a1.clone();
    back.as_object_mut().unwrap().remove("meta");
    ehr.put(&back).await;
    let (s, body) = kiosk
        .staff_post(&format!(
            "/api/v1/staff/clinics/north/ehr/writes/{item}/retry"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["queue_failed"], 0, "{body}");
    assert_eq!(body["queue_pending"], 1, "{body}");
    let report = fhir::drain_now(&state, &north()).await.expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    assert_eq!(ehr.read("Appointment/a1").await["status"], "arrived");
    assert_eq!(
        state
            .store()
            .ehr_item_state(north(), item)
            .await
            .unwrap()
            .as_deref(),
        Some("done")
    );
    // Retrying an item that has not failed is refused.
    let (s, _) = kiosk
        .staff_post(&format!(
            "/api/v1/staff/clinics/north/ehr/writes/{item}/retry"
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Waits up to `within` for `check` to give a value.
async fn until<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

async fn holder(state: &AppState) -> Option<String> {
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Chicago)
        .date_naive();
    state
        .store()
        .ehr_status(north(), today)
        .await
        .unwrap()
        .lease_holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_one_connector_and_the_other_takes_over_when_it_stops() {
    let Some(settings) = super::pg_support::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    // A pull on taking the lease, then not for five minutes.
    let fhir_toml = format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\npoll_secs = 300\n",
        ehr.base()
    );
    let a = replica(dir.path(), &settings, &fhir_toml).await;
    let b = replica(dir.path(), &settings, &fhir_toml).await;
    let kiosk = clients(&b).await;
    let searches = || requests(dir.path(), "GET /fhir/Appointment?");

    let mut running = vec![(a.clone(), fhir::spawn(&a)), (b.clone(), fhir::spawn(&b))];
    let name = until(Duration::from_secs(20), || holder(&a))
        .await
        .expect("a replica takes the lease");
    let at = running
        .iter()
        .position(|(_, c)| c.replica() == Some(name.as_str()))
        .expect("the holder is one of the two replicas");
    let (_, holding) = running.remove(at);
    let (other, waiting) = running.remove(0);
    assert_ne!(waiting.replica(), Some(name.as_str()));
    until(Duration::from_secs(20), || async {
        (ids(&kiosk.schedule().await) == ["a1", "a2"]).then_some(())
    })
    .await
    .expect("the holder pulls on taking the lease");

    // The other replica tries the lease twice meanwhile, and neither
    // pulls nor takes it.
    tokio::time::sleep(fhir::lease::LEASE_RETRY * 2 + Duration::from_secs(1)).await;
    assert_eq!(searches(), 1, "one replica pulled");
    assert_eq!(holder(&other).await.as_deref(), Some(name.as_str()));

    // An arrival sent to the other replica is written by the holder, once.
    kiosk
        .event(Uuid::new_v4(), "a1", json!({"type": "arrived"}))
        .await;
    until(Duration::from_secs(20), || async {
        (ehr.read("Appointment/a1").await["status"] == "arrived").then_some(())
    })
    .await
    .expect("the holder writes the arrival back");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(writes(dir.path(), "Appointment/a1"), 1);

    // The holder stops: its lease connection closes, and the other
    // replica takes the lease, pulls, and writes the next event.
    let stopped = Instant::now();
    drop(holding);
    let took_over = until(Duration::from_secs(30), || async {
        (holder(&other).await.as_deref() == waiting.replica()).then_some(stopped.elapsed())
    })
    .await
    .expect("the other replica takes over within 30 s");
    eprintln!(
        "EHR lease takeover after the holder stopped: {} ms",
        took_over.as_millis()
    );
    until(Duration::from_secs(20), || async {
        (searches() == 2).then_some(())
    })
    .await
    .expect("the new holder pulls on taking the lease");
    kiosk
        .event(Uuid::new_v4(), "a1", json!({"type": "checked_in"}))
        .await;
    until(Duration::from_secs(20), || async {
        (ehr.read("Appointment/a1").await["status"] == "checked-in").then_some(())
    })
    .await
    .expect("the new holder writes the check-in back");
    assert_eq!(writes(dir.path(), "Appointment/a1"), 2);
    assert_eq!(searches(), 2);
    drop(waiting);
}
