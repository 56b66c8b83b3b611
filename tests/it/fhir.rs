//! Integration tests: the EHR connector. Its `[clinic.fhir]` configuration,
//! and the connector against a real FHIR R4 server, `sekmet-fhir` (PyPI,
//! installed by `scripts/install-fhir-server`), started on loopback with a
//! temporary data directory and its simulator off: seeding through a FHIR
//! transaction, pulling, checking in through the kiosk API, and reading
//! the written-back Appointment from the FHIR server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use checkin_kiosk::config::{
    ClinicReference, ConfigError, FhirAuth, JwtAlgorithm, SecretSource, ServerConfig, parse_server,
};
use checkin_kiosk::domain::ClinicId;
use checkin_kiosk::server::{self, AppState, fhir, staff};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{PASSWORD, send};

const SERVER_FILE: &str = "/etc/clinic-server/clinic-server.toml";
const ZONE: chrono_tz::Tz = chrono_tz::America::Chicago;

// ---------------------------------------------------------------- config

fn clinic_with(fhir: &str) -> String {
    format!(
        "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n[clinic.fhir]\n{fhir}"
    )
}

#[allow(clippy::result_large_err)] // ConfigError is the library's, not this test's.
fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
    parse_server(text, Path::new(SERVER_FILE))
}

fn error_text(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_minimal_fhir_table_takes_every_default() {
    let c = parse(&clinic_with(
        "base_url = \"https://ehr.example.org/fhir/R4\"\nlocation = \"Location/123\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let f = c.clinics[0].fhir.as_ref().expect("fhir");
    assert_eq!(f.base_url.as_str(), "https://ehr.example.org/fhir/R4/");
    assert_eq!(f.clinic, ClinicReference::Location("123".into()));
    assert_eq!(f.auth, FhirAuth::None);
    assert_eq!(f.poll_every, Duration::from_secs(300));
    assert_eq!(f.window_days, 1);
    assert_eq!(f.connect_timeout, Duration::from_secs(10));
    assert_eq!(f.request_timeout, Duration::from_secs(30));
    assert!(f.write_back);
    assert_eq!(f.retry_max, Duration::from_secs(900));
    assert_eq!(f.max_response_bytes, 20 * 1024 * 1024);
    assert_eq!(f.max_removal_percent, 50);
    assert_eq!(f.removal_confirm_pulls, 2);
    // Without the table there is no connector.
    let plain =
        parse("[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(plain.clinics[0].fhir.is_none());
}

#[test]
fn bearer_and_smart_auth_name_their_secrets_by_path_or_variable() {
    let c = parse(&clinic_with(
        "base_url = \"https://ehr.example.org/fhir\"\norganization = \"9\"\nauth = \"bearer\"\ntoken_file = \"ehr-token\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let f = c.clinics[0].fhir.as_ref().expect("fhir");
    assert_eq!(f.clinic, ClinicReference::Organization("9".into()));
    assert_eq!(
        f.auth,
        FhirAuth::Bearer(SecretSource::File(PathBuf::from(
            "/etc/clinic-server/ehr-token"
        )))
    );
    let c = parse(&clinic_with(
        "base_url = \"https://ehr.example.org/fhir\"\nlocation = \"1\"\nauth = \"smart\"\nclient_id = \"kiosk\"\ntoken_url = \"https://ehr.example.org/token\"\nprivate_key_file = \"/etc/k.pem\"\nalgorithm = \"RS384\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let FhirAuth::Smart(s) = &c.clinics[0].fhir.as_ref().expect("fhir").auth else {
        panic!("expected smart");
    };
    assert_eq!(s.algorithm, JwtAlgorithm::Rs384);
    assert_eq!(s.private_key_file, Path::new("/etc/k.pem"));
    assert!(c.summary().contains("SMART backend services as kiosk"));
}

#[test]
fn fhir_mistakes_are_reported_by_key() {
    let msg = error_text(&clinic_with("location = \"Location/1\"\n"));
    assert!(msg.contains("clinic[0].fhir.base_url"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"http://ehr.example.org/fhir\"\nlocation = \"Location/1\"\n",
    ));
    assert!(msg.contains("plain http:// is allowed only to"), "{msg}");
    let msg = error_text(&clinic_with("base_url = \"https://e.org/fhir\"\n"));
    assert!(msg.contains("clinic[0].fhir.location"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\norganization = \"2\"\n",
    ));
    assert!(msg.contains("not both"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\nauth = \"bearer\"\n",
    ));
    assert!(msg.contains("clinic[0].fhir.token_file"), "{msg}");
    assert!(msg.contains("never the token itself"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\nauth = \"oauth\"\n",
    ));
    assert!(msg.contains("\"none\", \"bearer\" or \"smart\""), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\nauth = \"smart\"\n",
    ));
    for key in ["client_id", "token_url", "private_key_file"] {
        assert!(msg.contains(&format!("clinic[0].fhir.{key}")), "{msg}");
    }
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\ntoken_file = \"t\"\npoll_secs = 1\n",
    ));
    assert!(msg.contains("not used with auth = \"none\""), "{msg}");
    assert!(msg.contains("clinic[0].fhir.poll_secs"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"Location/a b\"\n",
    ));
    assert!(msg.contains("FHIR id"), "{msg}");
    let msg = error_text(&clinic_with(
        "base_url = \"https://e.org/fhir\"\nlocation = \"1\"\nmax_response_mib = 0\nmax_removal_percent = 101\nremoval_confirm_pulls = 0\n",
    ));
    for key in [
        "max_response_mib",
        "max_removal_percent",
        "removal_confirm_pulls",
    ] {
        assert!(msg.contains(&format!("clinic[0].fhir.{key}")), "{msg}");
    }
    let msg = error_text(&clinic_with("bse_url = \"https://e.org/fhir\"\n"));
    assert!(msg.contains("base_url"), "{msg}");
}

#[test]
fn the_server_example_documents_every_fhir_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clinic-server.toml");
    let text = std::fs::read_to_string(&path).expect("example");
    let keys = match parse(&clinic_with("zzz_probe = 1\n")) {
        Err(ConfigError::UnknownKey { valid, .. }) => valid,
        other => panic!("expected an unknown key, got {other:?}"),
    };
    assert!(keys.len() >= 18, "{keys:?}");
    for key in keys {
        let documented = text.lines().any(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            line.strip_prefix(key.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        assert!(
            documented,
            "config/clinic-server.toml does not document `clinic.fhir.{key}`"
        );
    }
    assert!(text.contains("# [clinic.fhir]"));
    // The shipped example, uncommented, is valid.
    let uncommented: String = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("# [clinic.fhir]")
                || [
                    "base_url",
                    "location",
                    "poll_secs",
                    "window_days",
                    "write_back",
                ]
                .iter()
                .any(|k| t.starts_with(&format!("# {k} =")))
            {
                t.trim_start_matches("# ").to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = parse_server(&uncommented, &path).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.clinics[0].fhir.is_some());
}

// ---------------------------------------------------------------- sekmet

/// The `sekmet` executable: `SEKMET_BIN`, else `.venv-fhir/bin/sekmet`.
pub(super) fn sekmet_bin() -> PathBuf {
    let p = std::env::var_os("SEKMET_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-fhir/bin/sekmet"));
    assert!(
        p.exists(),
        "the FHIR server sekmet-fhir is not installed at {}: run scripts/install-fhir-server \
         (python3 -m venv .venv-fhir && .venv-fhir/bin/pip install sekmet-fhir==0.1.1), \
         or set SEKMET_BIN to its `sekmet` executable",
        p.display()
    );
    p
}

/// A running sekmet on loopback; killed when dropped.
pub(super) struct Sekmet {
    /// The server process.
    child: Option<Child>,
    /// Its port.
    port: u16,
    /// Its data directory and config; kept so a restart finds its data.
    dir: PathBuf,
    /// Extra YAML (auth) the config was written with.
    extra: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Sekmet {
    pub(super) async fn start(dir: &Path, extra: &str) -> Self {
        let mut s = Sekmet {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            extra: extra.to_string(),
        };
        s.restart().await;
        s
    }

    pub(super) fn base(&self) -> String {
        format!("http://127.0.0.1:{}/fhir", self.port)
    }

    /// Starts (or starts again) the process and waits until it answers.
    pub(super) async fn restart(&mut self) {
        self.stop();
        let bin = sekmet_bin();
        let config = self.dir.join("sekmet.yaml");
        let yaml = format!(
            "base_url: {}\nhost: 127.0.0.1\nport: {}\ndata_dir: {}\nsimulator: {{enabled: false}}\nown_private_key_path: {}\n{}",
            self.base(),
            self.port,
            self.dir.join("data").display(),
            self.dir.join("own.pem").display(),
            self.extra
        );
        std::fs::write(&config, yaml).expect("sekmet config");
        let log = std::fs::File::create(self.dir.join("sekmet.log")).expect("log file");
        let child = Command::new(&bin)
            .arg("serve")
            .env("SEKMET_CONFIG", &config)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        self.child = Some(child);
        let http = reqwest::Client::new();
        for _ in 0..300 {
            let ok = http
                .get(format!("{}/metadata", self.base()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("sekmet.log")).unwrap_or_default();
                panic!("sekmet exited with {status}:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("sekmet.log")).unwrap_or_default();
        panic!("sekmet did not answer within 30 s:\n{log}");
    }

    pub(super) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// POSTs a transaction bundle; panics unless it succeeds.
    pub(super) async fn transaction(&self, entries: Vec<Value>) {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let r = reqwest::Client::new()
            .post(self.base())
            .header("content-type", "application/fhir+json")
            .body(bundle.to_string())
            .send()
            .await
            .expect("transaction");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "transaction failed: {status} {body}");
    }

    pub(super) async fn read(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/{path}", self.base()))
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("json")
    }

    pub(super) async fn put(&self, resource: &Value) {
        let path = format!(
            "{}/{}",
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        );
        let r = reqwest::Client::new()
            .put(format!("{}/{path}", self.base()))
            .header("content-type", "application/fhir+json")
            .body(resource.to_string())
            .send()
            .await
            .expect("put");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Sekmet {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(super) fn put_entry(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    json!({"request": {"method": "PUT", "url": url}, "resource": resource})
}

/// Today at `hour:00` in the clinic's zone.
pub(super) fn today_at(hour: u32) -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&ZONE).date_naive();
    at(today, hour)
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    ZONE.from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn appointment(id: &str, patient: &str, location: &str, start: DateTime<Utc>) -> Value {
    json!({
        "resourceType": "Appointment", "id": id, "status": "booked",
        "start": start.to_rfc3339(), "end": (start + chrono::Duration::minutes(20)).to_rfc3339(),
        "participant": [
            {"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"},
            {"actor": {"reference": format!("Location/{location}")}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/d1", "display": "Dr. Patel"}, "status": "accepted"}
        ]
    })
}

pub(super) fn seed() -> Vec<Value> {
    let tomorrow = Utc::now().with_timezone(&ZONE).date_naive() + chrono::Duration::days(1);
    let mut a2 = appointment("a2", "p2", "loc-north", today_at(11));
    a2.as_object_mut().unwrap().remove("end");
    a2["participant"].as_array_mut().unwrap().pop();
    vec![
        put_entry(json!({"resourceType": "Location", "id": "loc-north", "name": "North"})),
        put_entry(json!({"resourceType": "Location", "id": "loc-south", "name": "South"})),
        put_entry(
            json!({"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Patel"}]}),
        ),
        put_entry(json!({
            "resourceType": "Patient", "id": "p1", "name": [{"use": "official", "family": "Diaz", "given": ["Ana"]}],
            "birthDate": "1980-01-02", "telecom": [{"system": "phone", "value": "555-0101", "use": "mobile"}],
            "address": [{"use": "home", "line": ["1 Main St"], "city": "Chicago", "state": "IL", "postalCode": "60601"}]
        })),
        put_entry(
            json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Ng", "given": ["Bo"]}], "birthDate": "1990-05-06"}),
        ),
        put_entry(
            json!({"resourceType": "Patient", "id": "p3", "name": [{"family": "Roe", "given": ["Jo"]}]}),
        ),
        put_entry(json!({
            "resourceType": "Coverage", "id": "c1", "status": "active", "beneficiary": {"reference": "Patient/p1"},
            "payor": [{"display": "Blue Shield"}], "subscriberId": "XYZ123456",
            "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]},
            "costToBeneficiary": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-copay-type", "code": "copay"}]},
                "valueMoney": {"value": 25.00, "currency": "USD"}
            }]
        })),
        put_entry(appointment("a1", "p1", "loc-north", today_at(10))),
        put_entry(a2),
        // No birth date: skipped as malformed.
        put_entry(appointment("a3", "p3", "loc-north", today_at(12))),
        // Another location, and another day: not this clinic's window.
        put_entry(appointment("a4", "p1", "loc-south", today_at(13))),
        put_entry(appointment("a5", "p1", "loc-north", at(tomorrow, 9))),
        // A patient the EHR does not have.
        put_entry(appointment("a6", "ghost", "loc-north", today_at(14))),
    ]
}

/// A clinic server for clinic `north` whose `[clinic.fhir]` points at `ehr`.
struct Clinic {
    state: AppState,
    app: Router,
    token: String,
    cookie: String,
    _dir: tempfile::TempDir,
}

impl Clinic {
    async fn new(fhir_toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let text = format!(
            "[server]\ndata_dir = \"{}\"\n{}",
            dir.path().join("server").display(),
            clinic_with(fhir_toml)
        );
        let config = parse_server(&text, &dir.path().join("clinic-server.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (db, signer) = server::open_data_dir(&config).expect("data dir");
        let north = ClinicId::from("north");
        let now = Utc::now();
        let code = db
            .blocking(|c| {
                staff::add_staff(c, &north, "amy", PASSWORD, now).expect("staff");
                staff::create_enrollment_code(c, &north, now)
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

    fn north() -> ClinicId {
        ClinicId::from("north")
    }

    async fn event(&self, appointment: &str, body: Value) {
        let batch = json!({"events": [{"id": Uuid::new_v4(), "occurred_at": Utc::now(), "appointment_id": appointment, "body": body}]});
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

    async fn schedule(&self) -> Value {
        let req = Request::get("/api/v1/kiosk/schedule")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice(&bytes).unwrap()
    }

    async fn staff_get(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        (status, bytes.to_vec())
    }

    async fn staff_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header(header::COOKIE, &self.cookie)
            .header("x-requested-with", "test")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ehr_status(&self) -> Value {
        let (status, bytes) = self.staff_get("/api/v1/staff/clinics/north/ehr").await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice(&bytes).unwrap()
    }
}

fn ids(schedule: &Value) -> Vec<String> {
    let mut v: Vec<String> = schedule["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_is_written_back_as_arrived_then_checked_in_despite_a_concurrent_edit() {
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let clinic = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
        ehr.base()
    ))
    .await;

    let summary = fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    assert_eq!(summary.appointments, 4, "{summary:?}");
    assert_eq!(
        (summary.upserted, summary.skipped, summary.removed),
        (2, 2, 0),
        "{summary:?}"
    );

    // Kiosks get the EHR's schedule on their next pull.
    let schedule = clinic.schedule().await;
    assert_eq!(ids(&schedule), ["a1", "a2"]);
    let a1 = schedule["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "a1")
        .unwrap();
    assert_eq!(a1["patient"]["last_name"], "Diaz");
    assert_eq!(a1["clinician"], "Dr. Patel");
    assert_eq!(a1["coverage"]["payer"], "Blue Shield");
    assert_eq!(a1["expected_copay_cents"], 2500);
    assert_eq!(a1["location_id"], "main");

    // Someone edits the appointment in the EHR after our pull read it.
    let mut edited = ehr.read("Appointment/a1").await;
    edited["comment"] = json!("interpreter requested");
    ehr.put(&edited).await;

    clinic.event("a1", json!({"type": "arrived"})).await;
    assert_eq!(clinic.ehr_status().await["queue_pending"], 1);
    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (1, 0, 0),
        "{report:?}"
    );
    let now = ehr.read("Appointment/a1").await;
    assert_eq!(now["status"], "arrived");
    assert_eq!(
        now["comment"], "interpreter requested",
        "the 412 path re-read and kept the edit"
    );
    assert_eq!(now["meta"]["versionId"], "3");

    clinic.event("a1", json!({"type": "checked_in"})).await;
    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    let now = ehr.read("Appointment/a1").await;
    assert_eq!(now["status"], "checked-in");
    assert_eq!(now["comment"], "interpreter requested");

    // A later pull keeps the check-in and changes nothing.
    let summary = fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    assert_eq!(summary.removed, 0);
    let status = clinic.ehr_status().await;
    assert_eq!(status["configured"], true);
    assert_eq!(status["queue_pending"], 0);
    assert_eq!(status["queue_failed"], 0);
    assert_eq!(status["last_pull"]["skipped"], 2);
    assert!(status["last_pull_ok_at"].is_string(), "{status}");
    assert!(status["last_pull_error"].is_null(), "{status}");

    // The endpoint is in the route table's document and in /metrics.
    let (s, doc) = clinic.staff_get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert!(doc["paths"]["/api/v1/staff/clinics/{clinic}/ehr"]["get"].is_object());
    let metrics_app = server::metrics_app(clinic.state.clone());
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let (_, _, metrics) = send(&metrics_app, req).await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("clinic_ehr_writeback_queue{clinic=\"north\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("clinic_ehr_pull_failing{clinic=\"north\"} 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ehr_outage_loses_nothing_and_never_blocks_a_kiosk() {
    let dir = tempfile::tempdir().expect("dir");
    let mut ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let clinic = Clinic::new(&format!("base_url = \"{}\"\nlocation = \"Location/loc-north\"\nconnect_timeout_secs = 2\nrequest_timeout_secs = 5\n", ehr.base())).await;
    fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");

    ehr.stop();
    // The kiosk is answered at once; the write-back waits.
    clinic.event("a2", json!({"type": "arrived"})).await;
    clinic.event("a2", json!({"type": "checked_in"})).await;
    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(
        (report.sent, report.retrying, report.waiting),
        (0, 1, 1),
        "{report:?}"
    );
    assert!(
        fhir::pull_now(&clinic.state, &Clinic::north())
            .await
            .is_err()
    );
    let status = clinic.ehr_status().await;
    assert_eq!(status["queue_pending"], 2, "{status}");
    assert!(status["last_write_error"].is_string(), "{status}");
    assert!(status["last_pull_error"].is_string(), "{status}");
    // The failed pull removed nothing.
    assert_eq!(ids(&clinic.schedule().await), ["a1", "a2"]);

    ehr.restart().await;
    // The retry is not due yet: nothing is sent early.
    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(report.sent, 0, "{report:?}");
    let now = Utc::now();
    clinic
        .state
        .db()
        .blocking(|c| fhir::writeback::retry_now(c, &Clinic::north(), now))
        .expect("retry now");
    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(report.sent, 2, "{report:?}");
    assert_eq!(ehr.read("Appointment/a2").await["status"], "checked-in");
    assert_eq!(clinic.ehr_status().await["queue_pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_follows_paging_and_removes_what_the_ehr_no_longer_lists() {
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    let mut entries = seed();
    for i in 0..110 {
        let start = today_at(8) + chrono::Duration::minutes(i);
        entries.push(put_entry(appointment(
            &format!("bulk{i:03}"),
            "p2",
            "loc-north",
            start,
        )));
    }
    ehr.transaction(entries).await;
    let clinic = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
        ehr.base()
    ))
    .await;
    let summary = fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    assert_eq!(summary.appointments, 114, "{summary:?}");
    assert_eq!(summary.upserted, 112, "{summary:?}");
    let full = clinic.schedule().await;
    assert_eq!(full["upserts"].as_array().unwrap().len(), 112);

    // The EHR cancels one and deletes another.
    let mut cancelled = ehr.read("Appointment/bulk000").await;
    cancelled["status"] = json!("cancelled");
    ehr.put(&cancelled).await;
    let r = reqwest::Client::new()
        .delete(format!("{}/Appointment/bulk001", ehr.base()))
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success());
    let summary = fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    assert_eq!((summary.upserted, summary.removed), (1, 1), "{summary:?}");
    let cursor = full["cursor"].as_str().unwrap();
    let req = Request::get(format!("/api/v1/kiosk/schedule?since={cursor}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", clinic.token))
        .body(Body::empty())
        .unwrap();
    let (_, _, bytes) = send(&clinic.app, req).await;
    let delta: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(delta["full"], false);
    assert_eq!(delta["removals"], json!(["bulk001"]));
    assert_eq!(delta["upserts"][0]["id"], "bulk000");
    assert_eq!(delta["upserts"][0]["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_and_smart_backend_services_authenticate_to_a_guarded_ehr() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("client.pem");
    let out = Command::new(sekmet_bin())
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .args(["--alg", "ES384"])
        .current_dir(dir.path())
        .output()
        .expect("sekmet keys generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = format!(
        "server_auth:\n  types: [bearer, smart]\n  tokens: [static-test-token]\n  smart_clients:\n    - client_id: checkin-server\n      public_key_path: {}\n      scopes: \"system/*.*\"\n",
        key.display()
    );
    let ehr = Sekmet::start(dir.path(), &extra).await;
    let client = reqwest::Client::new();
    let r = client
        .post(ehr.base())
        .header("authorization", "Bearer static-test-token")
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Bundle", "type": "transaction", "entry": seed()}).to_string())
        .send()
        .await
        .expect("seed");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );

    // No credentials: the pull fails and says so, and nothing is written.
    let none = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"loc-north\"\n",
        ehr.base()
    ))
    .await;
    let err = fhir::pull_now(&none.state, &Clinic::north())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    assert!(
        none.ehr_status().await["last_pull_error"]
            .as_str()
            .unwrap()
            .contains("401")
    );

    let token = dir.path().join("token");
    std::fs::write(&token, "static-test-token\n").unwrap();
    let bearer = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"loc-north\"\nauth = \"bearer\"\ntoken_file = \"{}\"\n",
        ehr.base(),
        token.display()
    ))
    .await;
    let s = fhir::pull_now(&bearer.state, &Clinic::north())
        .await
        .expect("bearer pull");
    assert_eq!(s.upserted, 2);

    let smart = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"loc-north\"\nauth = \"smart\"\nclient_id = \"checkin-server\"\ntoken_url = \"http://127.0.0.1:{}/auth/token\"\nprivate_key_file = \"{}\"\nalgorithm = \"ES384\"\n",
        ehr.base(),
        ehr.port,
        key.display()
    ))
    .await;
    let s = fhir::pull_now(&smart.state, &Clinic::north())
        .await
        .expect("smart pull");
    assert_eq!(s.upserted, 2);
    smart.event("a1", json!({"type": "arrived"})).await;
    let report = fhir::drain_now(&smart.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!(report.sent, 1, "{report:?}");
    let r = client
        .get(format!("{}/Appointment/a1", ehr.base()))
        .header("authorization", "Bearer static-test-token")
        .send()
        .await
        .expect("read");
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_demographics_and_coverage_changes_update_the_ehr() {
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let clinic = Clinic::new(&format!(
        "base_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
        ehr.base()
    ))
    .await;
    fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");

    let demographics = json!({
        "address": {"line1": "9 Elm Rd", "line2": "", "city": "Evanston", "region": "IL", "postal_code": "60201"},
        "phone": "312-555-0111", "email": "ana@example.org",
        "emergency_contact": {"name": "Rosa Diaz", "relation": "sister", "phone": "312-555-0122"}
    });
    clinic.event("a1", json!({"type": "demographics_proposed", "patient_id": "p1", "demographics": demographics})).await;
    clinic.event("a1", json!({"type": "coverage_proposed", "patient_id": "p1", "coverage": {"payer": "Aetna", "member_id": "AET-998877", "group": "G5"}})).await;
    // Nothing is written before staff approve.
    assert_eq!(clinic.ehr_status().await["queue_pending"], 0);
    let (_, body) = clinic
        .staff_get("/api/v1/staff/clinics/north/changes")
        .await;
    let changes: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(changes.as_array().unwrap().len(), 2, "{changes}");
    for c in changes.as_array().unwrap() {
        let (s, v) = clinic
            .staff_post(
                &format!("/api/v1/staff/clinics/north/changes/{}/approve", c["id"]),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(clinic.ehr_status().await["queue_pending"], 2);
    // A pull while the write-back is queued keeps the approved details.
    fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    let a1 = clinic.schedule().await["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "a1")
        .cloned()
        .unwrap();
    assert_eq!(a1["patient"]["demographics"]["address"]["city"], "Evanston");
    assert_eq!(a1["coverage"]["payer"], "Aetna");

    let report = fhir::drain_now(&clinic.state, &Clinic::north())
        .await
        .expect("drain");
    assert_eq!((report.sent, report.failed), (2, 0), "{report:?}");
    let p1 = ehr.read("Patient/p1").await;
    assert_eq!(p1["address"][0]["city"], "Evanston");
    assert_eq!(p1["telecom"][0]["value"], "312-555-0111");
    assert_eq!(p1["contact"][0]["name"]["text"], "Rosa Diaz");
    assert_eq!(
        p1["name"][0]["family"], "Diaz",
        "the rest of the record is kept"
    );
    let covs = ehr.read("Coverage?beneficiary=Patient/p1").await;
    let mut by_status: Vec<(String, String)> = covs["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["resource"]["status"].as_str().unwrap().to_string(),
                e["resource"]["payor"][0]["display"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    by_status.sort();
    assert_eq!(
        by_status,
        [
            ("active".to_string(), "Aetna".to_string()),
            ("cancelled".to_string(), "Blue Shield".to_string())
        ]
    );
    // The next pull reads the EHR's new state back unchanged.
    fhir::pull_now(&clinic.state, &Clinic::north())
        .await
        .expect("pull");
    let a1 = clinic.schedule().await["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "a1")
        .cloned()
        .unwrap();
    assert_eq!(a1["coverage"]["member_id"], "AET-998877");
    assert_eq!(a1["coverage"]["group"], "G5");
    assert_eq!(
        a1["patient"]["demographics"]["emergency_contact"]["relation"],
        "sister"
    );

    // The new Coverage carries the visit's co-pay, so it is not lost.
    assert_eq!(a1["expected_copay_cents"], 2500, "{a1}");
    let active = covs["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["status"] == "active")
        .unwrap();
    let cost = &active["costToBeneficiary"][0];
    assert_eq!(cost["type"]["coding"][0]["code"], "copay", "{active}");
    assert_eq!(cost["valueMoney"]["value"].as_f64(), Some(25.0), "{active}");
    assert_eq!(cost["valueMoney"]["currency"], "USD", "{active}");
    // An EHR that replaces it with a Coverage stating no co-pay keeps the
    // visit's co-pay; one stating a co-pay changes it.
    let copay_after = |mut coverage: Value, cost: Option<Value>| {
        let ehr = &ehr;
        let clinic = &clinic;
        async move {
            match cost {
                Some(c) => coverage["costToBeneficiary"] = c,
                None => {
                    coverage
                        .as_object_mut()
                        .unwrap()
                        .remove("costToBeneficiary");
                }
            }
            ehr.put(&coverage).await;
            fhir::pull_now(&clinic.state, &Clinic::north())
                .await
                .expect("pull");
            clinic.schedule().await["upserts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == "a1")
                .unwrap()["expected_copay_cents"]
                .clone()
        }
    };
    assert_eq!(
        copay_after(
            ehr.read(&format!("Coverage/{}", active["id"].as_str().unwrap()))
                .await,
            None
        )
        .await,
        2500
    );
    let forty = json!([{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-copay-type", "code": "copay"}]}, "valueMoney": {"value": 40, "currency": "USD"}}]);
    assert_eq!(
        copay_after(
            ehr.read(&format!("Coverage/{}", active["id"].as_str().unwrap()))
                .await,
            Some(forty)
        )
        .await,
        4000
    );
}
