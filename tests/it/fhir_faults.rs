//! Integration tests: the EHR connector against faults a real FHIR server
//! does not produce on demand, served by a small fake FHIR endpoint on
//! loopback: an empty answer that would empty the schedule, a 404 on
//! write-back, redirects to another origin, oversized bodies, and
//! credentials that must be read once and reloaded on SIGHUP.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use checkin_kiosk::config::{FhirSettings, ServerConfig, parse_server};
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::{self, AppState, fhir, staff};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{PASSWORD, send};
use super::server_forms as scenario;

const ZONE: chrono_tz::Tz = chrono_tz::America::Chicago;

// ---------------------------------------------------------------- the fake EHR

/// What the fake EHR holds and how it misbehaves.
#[derive(Default)]
struct Ehr {
    /// Appointments by id, each with `meta.versionId`.
    appointments: HashMap<String, Value>,
    /// Patients by id.
    patients: HashMap<String, Value>,
    /// Answer Appointment searches with an empty Bundle.
    empty: bool,
    /// Appointment ids answering 404 to reads and updates.
    lost: HashSet<String>,
    /// The next this many Appointment updates answer 404.
    updates_404: usize,
    /// A body this large (bytes) for Appointment searches, if set; with
    /// `Content-Length` or streamed.
    huge: Option<(usize, bool)>,
    /// Token endpoint calls.
    token_calls: usize,
    /// Every request: method, path and query, and `Authorization`.
    requests: Vec<(String, String, Option<String>)>,
    /// Refuse creating a QuestionnaireResponse at an id the client chose
    /// (PUT), with this status, as EHRs without update-as-create do.
    refuse_put_create: Option<StatusCode>,
    /// The next create (POST) of this type answers 503, once.
    outage_on_create: Option<String>,
    /// Created resources, by type, in order; ids assigned by the EHR.
    created: HashMap<String, Vec<Value>>,
}

type Shared = Arc<Mutex<Ehr>>;

fn outcome(status: StatusCode, code: &str) -> Response {
    let body =
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

fn fhir_json(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

fn bundle(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "searchset", "entry": entries})
}

async fn handle(
    State(ehr): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = uri.path().to_string();
    let mut e = ehr.lock().unwrap();
    e.requests.push((
        method.to_string(),
        uri.path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        auth,
    ));
    let parts: Vec<&str> = path.trim_start_matches("/fhir/").split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["token"]) | ("POST", ["/token"]) => token(&mut e),
        ("GET", ["Appointment"]) => search_appointments(&e),
        ("GET", ["Coverage"]) => fhir_json(StatusCode::OK, &bundle(vec![])),
        ("GET", ["Patient", id]) => match e.patients.get(*id) {
            Some(p) => fhir_json(StatusCode::OK, p),
            None => outcome(StatusCode::NOT_FOUND, "not-found"),
        },
        ("GET", ["Appointment", id]) => match e.appointments.get(*id) {
            Some(a) if !e.lost.contains(*id) => fhir_json(StatusCode::OK, a),
            _ => outcome(StatusCode::NOT_FOUND, "not-found"),
        },
        ("PUT", ["Appointment", id]) => {
            if e.updates_404 > 0 {
                e.updates_404 -= 1;
                return outcome(StatusCode::NOT_FOUND, "not-found");
            }
            let id = (*id).to_string();
            if e.lost.contains(&id) || !e.appointments.contains_key(&id) {
                return outcome(StatusCode::NOT_FOUND, "not-found");
            }
            let mut sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let version = e.appointments[&id]["meta"]["versionId"]
                .as_str()
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(1);
            sent["meta"] = json!({"versionId": (version + 1).to_string()});
            e.appointments.insert(id, sent.clone());
            fhir_json(StatusCode::OK, &sent)
        }
        ("PUT", ["QuestionnaireResponse", id]) => put_response(&mut e, id, &body),
        ("POST", [kind]) if kind.starts_with(char::is_uppercase) => {
            let if_none_exist = headers
                .get("if-none-exist")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            create(&mut e, kind, if_none_exist.as_deref(), &body)
        }
        _ => outcome(StatusCode::NOT_FOUND, "not-supported"),
    }
}

/// A PUT of a QuestionnaireResponse: refused when the EHR takes no ids
/// chosen by clients, else stored (created or replaced) at that id.
fn put_response(e: &mut Ehr, id: &str, body: &[u8]) -> Response {
    let mut sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let stored = e.created.entry("QuestionnaireResponse".into()).or_default();
    if let Some(old) = stored.iter_mut().find(|r| r["id"] == id) {
        *old = sent.clone();
        return fhir_json(StatusCode::OK, &sent);
    }
    if let Some(status) = e.refuse_put_create {
        return outcome(status, "not-supported");
    }
    sent["id"] = json!(id);
    stored.push(sent.clone());
    fhir_json(StatusCode::CREATED, &sent)
}

/// A create, conditional on `identifier=system|value` when
/// `If-None-Exist` is sent: an existing match is answered 200 instead.
fn create(e: &mut Ehr, kind: &str, if_none_exist: Option<&str>, body: &[u8]) -> Response {
    if e.outage_on_create.as_deref() == Some(kind) {
        e.outage_on_create = None;
        return outcome(StatusCode::SERVICE_UNAVAILABLE, "transient");
    }
    let mut sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if sent["resourceType"] != kind {
        return outcome(StatusCode::BAD_REQUEST, "invalid");
    }
    let stored = e.created.entry(kind.to_string()).or_default();
    if let Some(q) = if_none_exist {
        let wanted = q.strip_prefix("identifier=").unwrap_or(q);
        let matches = |r: &&Value| {
            let ids = match &r["identifier"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            ids.iter().any(|i| {
                format!(
                    "{}|{}",
                    i["system"].as_str().unwrap_or(""),
                    i["value"].as_str().unwrap_or("")
                ) == wanted
            })
        };
        if let Some(found) = stored.iter().find(matches) {
            return fhir_json(StatusCode::OK, found);
        }
    }
    sent["id"] = json!(format!("{}-{}", kind.to_lowercase(), stored.len() + 1));
    stored.push(sent.clone());
    fhir_json(StatusCode::CREATED, &sent)
}

fn search_appointments(e: &Ehr) -> Response {
    if let Some((size, streamed)) = e.huge {
        let filler = "x".repeat(size);
        let text =
            json!({"resourceType": "Bundle", "type": "searchset", "entry": [], "id": filler})
                .to_string();
        let headers = [(header::CONTENT_TYPE, "application/fhir+json")];
        if streamed {
            let chunks: Vec<Result<Bytes, std::convert::Infallible>> = text
                .into_bytes()
                .chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let body = Body::from_stream(futures_util::stream::iter(chunks));
            return (StatusCode::OK, headers, body).into_response();
        }
        return (StatusCode::OK, headers, text).into_response();
    }
    if e.empty {
        return fhir_json(StatusCode::OK, &bundle(vec![]));
    }
    let mut entries = Vec::new();
    let mut ids: Vec<&String> = e.appointments.keys().collect();
    ids.sort();
    let mut included = HashSet::new();
    for id in ids {
        if e.lost.contains(id) {
            continue;
        }
        let a = &e.appointments[id];
        entries.push(json!({"resource": a, "search": {"mode": "match"}}));
        let patient = a["participant"][0]["actor"]["reference"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("Patient/")
            .to_string();
        if let Some(p) = e.patients.get(&patient)
            && included.insert(patient.clone())
        {
            entries.push(json!({"resource": p, "search": {"mode": "include"}}));
        }
    }
    fhir_json(StatusCode::OK, &bundle(entries))
}

fn token(e: &mut Ehr) -> Response {
    e.token_calls += 1;
    let body = json!({"access_token": format!("tok-{}", e.token_calls), "token_type": "bearer", "expires_in": 3600});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A fake EHR on a loopback port.
struct FakeEhr {
    state: Shared,
    port: u16,
}

impl FakeEhr {
    async fn start(ehr: Ehr) -> Self {
        Self::start_with(ehr, Router::new()).await
    }

    /// With `extra` routes (matched before the FHIR handler).
    async fn start_with(ehr: Ehr, extra: Router<Shared>) -> Self {
        let state: Shared = Arc::new(Mutex::new(ehr));
        let app = extra.fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake EHR");
        });
        Self { state, port }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/fhir", self.port)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Ehr) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn status_of(&self, id: &str) -> Value {
        self.with(|e| e.appointments[id]["status"].clone())
    }
}

fn today_at(hour: u32, minute: u32) -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&ZONE).date_naive();
    ZONE.from_local_datetime(&today.and_hms_opt(hour, minute, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// An EHR with `n` booked appointments today at Location `loc`, each with
/// its own patient; patient `p0` has two given names.
fn day_of(n: usize) -> Ehr {
    let mut ehr = Ehr::default();
    for i in 0..n {
        let start = today_at(8, 0) + chrono::Duration::minutes(20 * i as i64);
        let (a, p) = (format!("a{i}"), format!("p{i}"));
        ehr.appointments.insert(
            a.clone(),
            json!({
                "resourceType": "Appointment", "id": a, "status": "booked", "meta": {"versionId": "1"},
                "start": start.to_rfc3339(), "end": (start + chrono::Duration::minutes(20)).to_rfc3339(),
                "participant": [
                    {"actor": {"reference": format!("Patient/{p}")}, "status": "accepted"},
                    {"actor": {"reference": "Location/loc"}, "status": "accepted"},
                    {"actor": {"reference": "Practitioner/d1", "display": "Dr. Patel"}, "status": "accepted"}
                ]
            }),
        );
        let given = if i == 0 {
            json!(["Mary", "Ann"])
        } else {
            json!(["Jo"])
        };
        ehr.patients.insert(
            p.clone(),
            json!({"resourceType": "Patient", "id": p, "birthDate": "1980-01-02",
                   "name": [{"use": "official", "family": format!("Roe{i}"), "given": given}]}),
        );
    }
    ehr
}

// ---------------------------------------------------------------- the clinic

/// A clinic server for clinic `north` connected to a fake EHR.
struct Clinic {
    state: AppState,
    app: Router,
    token: String,
    cookie: String,
    _dir: tempfile::TempDir,
}

fn north() -> ClinicId {
    ClinicId::from("north")
}

fn clinic_toml(fhir: &str) -> String {
    format!(
        "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n[clinic.fhir]\n{fhir}"
    )
}

/// The checked `[clinic.fhir]` settings of `fhir`.
fn settings(fhir: &str) -> FhirSettings {
    let config = parse_server(
        &clinic_toml(fhir),
        std::path::Path::new("/etc/clinic-server/clinic-server.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    config.clinics[0].fhir.clone().expect("fhir")
}

impl Clinic {
    async fn new(ehr: &FakeEhr, extra: &str) -> Self {
        Self::configured(ehr, extra, |_| {}).await
    }

    /// Offering the shipped forms (those of the demo).
    async fn with_forms(ehr: &FakeEhr) -> Self {
        Self::configured(ehr, "", |config| {
            let demo = ServerConfig::demo(std::env::temp_dir(), "127.0.0.1:0".parse().unwrap());
            config.forms = demo.forms;
        })
        .await
    }

    /// With `extra` in `[clinic.fhir]`, then `edit` applied to the config.
    async fn configured(ehr: &FakeEhr, extra: &str, edit: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let text = format!(
            "[server]\ndata_dir = \"{}\"\n{}",
            dir.path().join("server").display(),
            clinic_toml(&format!(
                "base_url = \"{}\"\nlocation = \"Location/loc\"\n{extra}",
                ehr.base()
            ))
        );
        let mut config = parse_server(&text, &dir.path().join("clinic-server.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        edit(&mut config);
        let (db, signer) = server::open_data_dir(&config).expect("data dir");
        let now = Utc::now();
        let code = db
            .blocking(|c| {
                staff::add_staff(c, &north(), "amy", PASSWORD, now).expect("staff");
                staff::create_enrollment_code(c, &north(), now)
            })
            .expect("code")
            .0;
        let state = AppState::new(config, db, signer);
        let app = server::app(state.clone());
        let (token, cookie) = super::server::enroll_and_sign_in(&app, &code, "amy").await;
        Clinic {
            state,
            app,
            token,
            cookie,
            _dir: dir,
        }
    }

    async fn event(&self, appointment: &str, body: Value) {
        self.events(vec![json!({"id": Uuid::new_v4(), "occurred_at": Utc::now(), "appointment_id": appointment, "body": body})]).await;
    }

    /// Posts `events` as one kiosk batch; the first must be accepted.
    async fn events(&self, events: Vec<Value>) {
        let batch = json!({ "events": events });
        let req = Request::post("/api/v1/kiosk/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(batch.to_string()))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["results"][0]["status"], "accepted", "{v}");
    }

    /// The ids on the kiosks' schedule, sorted.
    async fn scheduled(&self) -> Vec<String> {
        let req = Request::get("/api/v1/kiosk/schedule")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        let mut ids: Vec<String> = v["upserts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    async fn schedule_entry(&self, id: &str) -> Value {
        let req = Request::get("/api/v1/kiosk/schedule")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let (_, _, bytes) = send(&self.app, req).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        v["upserts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
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

    async fn staff_post(&self, path: &str, csrf: bool) -> (StatusCode, Value) {
        let mut req = Request::post(path).header(header::COOKIE, &self.cookie);
        if csrf {
            req = req.header("x-requested-with", "test");
        }
        let (status, _, bytes) = send(&self.app, req.body(Body::empty()).unwrap()).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn pull(&self) -> fhir::PullSummary {
        fhir::pull_now(&self.state, &north()).await.expect("pull")
    }

    async fn drain(&self) -> fhir::DrainReport {
        fhir::drain_now(&self.state, &north()).await.expect("drain")
    }

    /// Makes every pending write-back due now, as if its back-off had passed.
    fn retry_now(&self) {
        self.state
            .db()
            .blocking(|c| {
                Ok(c.execute(
                    "UPDATE fhir_outbox SET next_attempt_ms = 0 WHERE state = 'pending'",
                    [],
                )?)
            })
            .expect("retry now");
    }
}

// ---------------------------------------------------------------- removals

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_holds_the_removals_until_staff_confirm() {
    let ehr = FakeEhr::start(day_of(10)).await;
    let clinic = Clinic::new(&ehr, "").await;
    assert_eq!(clinic.pull().await.upserted, 10);
    let all = clinic.scheduled().await;
    assert_eq!(all.len(), 10);

    // The EHR answers 200 with nothing: the schedule stays.
    ehr.with(|e| e.empty = true);
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (0, 10), "{s:?}");
    assert_eq!(clinic.scheduled().await, all);
    let status = clinic.ehr_status().await;
    let held = &status["held_removals"];
    assert_eq!(
        held["appointment_ids"].as_array().unwrap().len(),
        10,
        "{status}"
    );
    assert!(
        held["reason"].as_str().unwrap().contains("10 of the 10"),
        "{status}"
    );
    assert_eq!(held["agreeing_pulls"], 0);
    assert_eq!(held["pulls_to_release"], 2);

    // Confirming needs the CSRF header and a held removal.
    let path = "/api/v1/staff/clinics/north/ehr/held-removals/confirm";
    let (s, v) = clinic.staff_post(path, false).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(clinic.scheduled().await, all);
    let (s, v) = clinic.staff_post(path, true).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["held_removals"].is_null(), "{v}");
    assert!(clinic.scheduled().await.is_empty());
    let (s, v) = clinic.staff_post(path, true).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"], "conflict", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no removals are held")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_removals_go_ahead_when_later_pulls_agree_and_clear_when_the_ehr_recovers() {
    let ehr = FakeEhr::start(day_of(4)).await;
    let clinic = Clinic::new(&ehr, "removal_confirm_pulls = 2\n").await;
    clinic.pull().await;

    // A transient empty answer, then the EHR is back: nothing is removed
    // and the alert clears.
    ehr.with(|e| e.empty = true);
    assert_eq!(clinic.pull().await.held, 4);
    ehr.with(|e| e.empty = false);
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (0, 0), "{s:?}");
    assert!(clinic.ehr_status().await["held_removals"].is_null());

    // The EHR really did drop three of four: held, then two later pulls
    // listing the same removals let them go ahead.
    ehr.with(|e| {
        for id in ["a1", "a2", "a3"] {
            e.appointments.remove(id);
        }
    });
    assert_eq!(clinic.pull().await.held, 3);
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (0, 3), "{s:?}");
    assert_eq!(
        clinic.ehr_status().await["held_removals"]["agreeing_pulls"],
        1
    );
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (3, 0), "{s:?}");
    assert_eq!(clinic.scheduled().await, ["a0"]);
    assert!(clinic.ehr_status().await["held_removals"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_arrived_appointment_is_held_even_when_it_is_one_of_many() {
    let ehr = FakeEhr::start(day_of(10)).await;
    let clinic = Clinic::new(&ehr, "write_back = false\n").await;
    clinic.pull().await;
    clinic.event("a3", json!({"type": "arrived"})).await;
    // One of ten, well under the share, but the patient is in the lobby.
    ehr.with(|e| e.appointments.remove("a3"));
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (0, 1), "{s:?}");
    assert!(clinic.scheduled().await.contains(&"a3".to_string()));
    let status = clinic.ehr_status().await;
    assert_eq!(status["held_removals"]["appointment_ids"], json!(["a3"]));
    assert!(
        status["held_removals"]["reason"]
            .as_str()
            .unwrap()
            .contains("arrived or checked in"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_booked_appointment_of_many_is_removed_at_once() {
    let ehr = FakeEhr::start(day_of(10)).await;
    let clinic = Clinic::new(&ehr, "").await;
    clinic.pull().await;
    ehr.with(|e| e.appointments.remove("a5"));
    let s = clinic.pull().await;
    assert_eq!((s.removed, s.held), (1, 0), "{s:?}");
    assert!(!clinic.scheduled().await.contains(&"a5".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_given_name_reaches_the_schedule() {
    let ehr = FakeEhr::start(day_of(2)).await;
    let clinic = Clinic::new(&ehr, "").await;
    clinic.pull().await;
    let a0 = clinic.schedule_entry("a0").await;
    assert_eq!(a0["patient"]["first_name"], "Mary Ann", "{a0}");
    assert_eq!(
        checkin_kiosk::domain::masking::patient_display_name("Mary Ann", "Roe0"),
        "Mary R."
    );
}

// ---------------------------------------------------------------- write-back

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_on_write_back_re_reads_and_then_writes() {
    let ehr = FakeEhr::start(day_of(2)).await;
    let clinic = Clinic::new(&ehr, "").await;
    clinic.pull().await;
    // The EHR answers the first update 404 (a replica behind), but has it.
    ehr.with(|e| e.updates_404 = 1);
    clinic.event("a1", json!({"type": "arrived"})).await;
    let r = clinic.drain().await;
    assert_eq!((r.sent, r.failed, r.retrying), (1, 0, 0), "{r:?}");
    assert_eq!(ehr.status_of("a1"), "arrived");
    let reads = ehr.with(|e| {
        e.requests
            .iter()
            .filter(|(m, p, _)| m == "GET" && p == "/fhir/Appointment/a1")
            .count()
    });
    assert_eq!(reads, 1, "the 404 was followed by a read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_reaches_an_ehr_that_refuses_ids_chosen_by_clients_once_across_retries() {
    let ehr = FakeEhr::start(day_of(2)).await;
    ehr.with(|e| e.refuse_put_create = Some(StatusCode::METHOD_NOT_ALLOWED));
    let clinic = Clinic::with_forms(&ehr).await;
    clinic.pull().await;
    let phq2 = clinic
        .state
        .config()
        .forms
        .iter()
        .find(|f| f.rule.form_id == "phq-2")
        .expect("phq-2")
        .questionnaire
        .clone();
    let weights = [("phq2-1", 2), ("phq2-2", 2)];
    let response = scenario::response_json(&phq2, &scenario::answers(&phq2, &weights));
    let id = Uuid::new_v4();
    let event = scenario::form_event(id, "a1", "p1", "phq-2", response, None, Utc::now());
    clinic.events(vec![event]).await;

    // The PUT is refused; the response is created, but the score's
    // create meets an outage and the item waits for a retry.
    ehr.with(|e| e.outage_on_create = Some("Observation".into()));
    let report = clinic.drain().await;
    assert_eq!((report.sent, report.retrying), (0, 1), "{report:?}");
    // The retry: the PUT is refused again, the conditional create finds
    // the response written before, and the score is written once.
    clinic.retry_now();
    let report = clinic.drain().await;
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");

    let (responses, scores, puts) = ehr.with(|e| {
        let puts = e
            .requests
            .iter()
            .filter(|(m, p, _)| m == "PUT" && p.starts_with("/fhir/QuestionnaireResponse/"))
            .count();
        (
            e.created["QuestionnaireResponse"].clone(),
            e.created["Observation"].clone(),
            puts,
        )
    });
    assert_eq!(puts, 2, "each attempt tried the PUT first");
    assert_eq!(responses.len(), 1, "{responses:?}");
    let response = &responses[0];
    assert_eq!(
        response["id"], "questionnaireresponse-1",
        "the EHR chose the id"
    );
    assert_eq!(response["identifier"]["value"], id.to_string());
    assert_eq!(response["subject"]["reference"], "Patient/p1");
    assert_eq!(scores.len(), 1, "{scores:?}");
    assert_eq!(scores[0]["valueInteger"], 4);
    assert_eq!(
        scores[0]["derivedFrom"][0]["reference"], "QuestionnaireResponse/questionnaireresponse-1",
        "the score points at the id the EHR chose"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_back_the_ehr_cannot_find_fails_visibly_and_staff_can_retry_it() {
    let ehr = FakeEhr::start(day_of(2)).await;
    let clinic = Clinic::new(&ehr, "").await;
    clinic.pull().await;
    ehr.with(|e| e.lost.insert("a1".into()));
    clinic.event("a1", json!({"type": "arrived"})).await;
    let r = clinic.drain().await;
    assert_eq!((r.sent, r.failed), (0, 1), "{r:?}");

    let status = clinic.ehr_status().await;
    assert_eq!(status["queue_failed"], 1);
    let failed = &status["failed_writes"][0];
    assert_eq!(failed["kind"], "appointment_status", "{status}");
    assert_eq!(failed["appointment_id"], "a1", "{status}");
    assert_eq!(failed["status"], "arrived", "{status}");
    assert!(
        failed["error"].as_str().unwrap().contains("not in the EHR"),
        "{status}"
    );
    let item = failed["item_id"].as_i64().unwrap();

    // Unknown items are a 404 with the error shape; nothing changes.
    let (s, v) = clinic
        .staff_post("/api/v1/staff/clinics/north/ehr/writes/999999/retry", true)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"].as_str().unwrap().contains("999999"), "{v}");
    let (s, v) = clinic
        .staff_post("/api/v1/staff/clinics/north/ehr/writes/abc/retry", true)
        .await;
    assert_eq!(s.as_u16() / 100, 4, "{v}");
    assert!(v["error"].is_string(), "{v}");
    assert_eq!(clinic.ehr_status().await["queue_failed"], 1);

    // The EHR finds it again; staff retry; it is written.
    ehr.with(|e| e.lost.clear());
    let mut woken = clinic.state.ehr_wake().subscribe();
    woken.mark_unchanged();
    let (s, v) = clinic
        .staff_post(
            &format!("/api/v1/staff/clinics/north/ehr/writes/{item}/retry"),
            true,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["queue_failed"], 0, "{v}");
    assert_eq!(v["queue_pending"], 1, "{v}");
    assert!(woken.has_changed().unwrap(), "a retry wakes the drain");
    let r = clinic.drain().await;
    assert_eq!(r.sent, 1, "{r:?}");
    assert_eq!(ehr.status_of("a1"), "arrived");
    // A second retry of a done item is a 404.
    let (s, _) = clinic
        .staff_post(
            &format!("/api/v1/staff/clinics/north/ehr/writes/{item}/retry"),
            true,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_arrival_wakes_the_write_back_drain() {
    let ehr = FakeEhr::start(day_of(2)).await;
    let clinic = Clinic::new(&ehr, "").await;
    clinic.pull().await;
    let mut woken = clinic.state.ehr_wake().subscribe();
    woken.mark_unchanged();
    assert!(!woken.has_changed().unwrap());
    clinic.event("a0", json!({"type": "arrived"})).await;
    assert!(woken.has_changed().unwrap(), "the commit rang the drain");
}

// ---------------------------------------------------------------- the HTTP client

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_only_within_the_ehr_origin() {
    let other = FakeEhr::start(day_of(1)).await;
    let target = format!("{}/Patient/p0", other.base());
    let routes = Router::new()
        .route(
            "/fhir/Patient/moved",
            axum::routing::get(move || {
                let target = target.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, target)]) }
            }),
        )
        .route(
            "/fhir/Patient/here",
            axum::routing::get(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/fhir/Patient/p0")],
                )
            }),
        );
    let ehr = FakeEhr::start_with(day_of(1), routes).await;
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "secret-1\n").unwrap();
    let client = fhir::FhirClient::new(&settings(&format!(
        "base_url = \"{}\"\nlocation = \"loc\"\nauth = \"bearer\"\ntoken_file = \"{}\"\n",
        ehr.base(),
        token.path().display()
    )))
    .unwrap();
    let same = client
        .read("Patient", "here")
        .await
        .expect("same-origin redirect");
    assert_eq!(same.resource["id"], "p0");
    let err = client.read("Patient", "moved").await.unwrap_err();
    assert!(
        err.to_string().contains("redirect off the FHIR server"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(
        other.with(|e| e.requests.is_empty()),
        "nothing, and no token, reached the other origin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_over_the_size_limit_fails_the_pull_and_changes_nothing() {
    let ehr = FakeEhr::start(day_of(3)).await;
    let clinic = Clinic::new(&ehr, "max_response_mib = 1\n").await;
    clinic.pull().await;
    let before = clinic.scheduled().await;
    for streamed in [false, true] {
        ehr.with(|e| e.huge = Some((2 * 1024 * 1024, streamed)));
        let err = fhir::pull_now(&clinic.state, &north()).await.unwrap_err();
        assert!(
            err.to_string().contains("larger than 1048576 bytes"),
            "streamed {streamed}: {err}"
        );
        assert_eq!(clinic.scheduled().await, before);
        let status = clinic.ehr_status().await;
        assert!(
            status["last_pull_error"]
                .as_str()
                .unwrap()
                .contains("larger than"),
            "{status}"
        );
    }
    // Under the limit, a page is read.
    ehr.with(|e| e.huge = None);
    assert_eq!(clinic.pull().await.appointments, 3);
}

// ---------------------------------------------------------------- credentials

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_read_once_and_reloaded_on_sighup() {
    let ehr = FakeEhr::start(day_of(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "first-token\n").unwrap();
    let client = Arc::new(
        fhir::FhirClient::new(&settings(&format!(
            "base_url = \"{}\"\nlocation = \"loc\"\nauth = \"bearer\"\ntoken_file = \"{}\"\n",
            ehr.base(),
            token.display()
        )))
        .unwrap(),
    );
    let last_auth = || ehr.with(|e| e.requests.last().and_then(|r| r.2.clone()));
    client.read("Patient", "p0").await.expect("read");
    assert_eq!(last_auth().as_deref(), Some("Bearer first-token"));

    // The file changes: requests keep the loaded token, not re-reading it.
    std::fs::write(&token, "second-token\n").unwrap();
    client.read("Patient", "p0").await.expect("read");
    assert_eq!(last_auth().as_deref(), Some("Bearer first-token"));

    // SIGHUP reloads it.
    let listener = fhir::reload_on_hangup(vec![(north(), client.clone())]).expect("SIGHUP");
    let pid = std::process::id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut seen = None;
    for _ in 0..200 {
        client.read("Patient", "p0").await.expect("read");
        seen = last_auth();
        if seen.as_deref() == Some("Bearer second-token") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen.as_deref(), Some("Bearer second-token"));
    listener.abort();
}

/// A PKCS#8 PEM P-384 key, written to `path`.
fn write_es384_key(path: &std::path::Path) {
    use base64::Engine;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    std::fs::write(
        path,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_request_serves_concurrent_callers_and_the_key_is_parsed_once() {
    let slow_token = Router::new().route(
        "/token",
        axum::routing::post(|State(ehr): State<Shared>| async move {
            // Slow, so every caller below finds the token missing.
            tokio::time::sleep(Duration::from_millis(300)).await;
            token(&mut ehr.lock().unwrap())
        }),
    );
    let ehr = FakeEhr::start_with(day_of(1), slow_token).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client.pem");
    write_es384_key(&key);
    let client = fhir::FhirClient::new(&settings(&format!(
        "base_url = \"{}\"\nlocation = \"loc\"\nauth = \"smart\"\nclient_id = \"kiosk\"\ntoken_url = \"http://127.0.0.1:{}/token\"\nprivate_key_file = \"{}\"\n",
        ehr.base(),
        ehr.port,
        key.display()
    )))
    .unwrap();
    let reads = (0..8).map(|_| client.read("Patient", "p0"));
    for r in futures_util::future::join_all(reads).await {
        r.expect("read");
    }
    assert_eq!(ehr.with(|e| e.token_calls), 1);
    assert_eq!(client.credentials().token_requests(), 1);
    let auths: HashSet<Option<String>> = ehr.with(|e| {
        e.requests
            .iter()
            .filter(|r| r.0 == "GET")
            .map(|r| r.2.clone())
            .collect()
    });
    assert_eq!(auths, HashSet::from([Some("Bearer tok-1".to_string())]));

    // The key was parsed once: with the file gone, a new token is still
    // signed with the loaded key.
    std::fs::remove_file(&key).unwrap();
    client.credentials().invalidate();
    client.read("Patient", "p0").await.expect("read");
    assert_eq!(ehr.with(|e| e.token_calls), 2);
    // A reload that cannot read the file reports it by path only, and the
    // key loaded before stays in use.
    let err = client.credentials().reload().await.unwrap_err();
    assert!(err.to_string().contains("client.pem"), "{err}");
    client.read("Patient", "p0").await.expect("read");
    assert_eq!(ehr.with(|e| e.token_calls), 3);
    write_es384_key(&key);
    client.credentials().reload().await.expect("reload");
    client.read("Patient", "p0").await.expect("read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_token_answer_is_not_read() {
    let huge_token = Router::new().route(
        "/token",
        axum::routing::post(|| async {
            let body = json!({"access_token": "x".repeat(200 * 1024), "expires_in": 3600});
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
        }),
    );
    let ehr = FakeEhr::start_with(day_of(1), huge_token).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("client.pem");
    write_es384_key(&key);
    let client = fhir::FhirClient::new(&settings(&format!(
        "base_url = \"{}\"\nlocation = \"loc\"\nauth = \"smart\"\nclient_id = \"kiosk\"\ntoken_url = \"http://127.0.0.1:{}/token\"\nprivate_key_file = \"{}\"\n",
        ehr.base(),
        ehr.port,
        key.display()
    )))
    .unwrap();
    let err = client.read("Patient", "p0").await.unwrap_err();
    assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    assert!(
        ehr.with(|e| e.requests.iter().all(|r| r.0 != "GET")),
        "no FHIR request went out without a token"
    );
}
