//! Integration tests: completed intake forms written back to the EHR, on
//! the real FHIR R4 server `sekmet-fhir`. A form sent through the kiosk
//! API queues its write-back in the ingest transaction; the drain writes
//! the QuestionnaireResponse, the score Observation (PHQ-9, GAD-7, PHQ-2)
//! and the signed Consent, which sekmet checks on the way in (strict
//! structural validation against the FHIR models, answering 400 to a
//! resource that fails it). A retry after an outage, and a replay of an
//! item already written, write each resource once.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use checkin_kiosk::config::{ServerConfig, parse_server};
use checkin_kiosk::domain::questionnaire::{Answer, ItemKind, Questionnaire, Response};
use checkin_kiosk::domain::{ClinicId, Language};
use checkin_kiosk::forms::{ResponseMeta, questionnaire_response};
use checkin_kiosk::server::{self, AppState, fhir, staff};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::fhir::{Sekmet, appointment, put_entry, today_at};
use super::server::{PASSWORD, enroll_and_sign_in, send};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR";

fn north() -> ClinicId {
    ClinicId::from("north")
}

/// A clinic server for `north`, connected to `ehr`, offering the shipped
/// forms; the EHR's schedule pulled.
struct Clinic {
    state: AppState,
    app: Router,
    token: String,
    _dir: tempfile::TempDir,
}

impl Clinic {
    async fn new(ehr: &Sekmet) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let text = format!(
            "[server]\ndata_dir = \"{}\"\n[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/Chicago\"\n[clinic.fhir]\nbase_url = \"{}\"\nlocation = \"Location/loc-north\"\n",
            dir.path().join("server").display(),
            ehr.base()
        );
        let mut config = parse_server(&text, &dir.path().join("clinic-server.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        config.forms =
            ServerConfig::demo(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap()).forms;
        assert!(!config.forms.is_empty());
        let (db, signer) = server::open_data_dir(&config).expect("data dir");
        let now = Utc::now();
        let code = db
            .blocking(move |c| {
                staff::add_staff(c, &north(), "amy", PASSWORD, now).expect("staff");
                staff::create_enrollment_code(c, &north(), now)
            })
            .expect("code")
            .0;
        let state = AppState::new(config, db, signer);
        let app = server::app(state.clone());
        let (token, _) = enroll_and_sign_in(&app, &code, "amy").await;
        fhir::pull_now(&state, &north()).await.expect("pull");
        Clinic {
            state,
            app,
            token,
            _dir: dir,
        }
    }

    fn form(&self, id: &str) -> Questionnaire {
        let f = self
            .state
            .config()
            .forms
            .iter()
            .find(|f| f.rule.form_id == id);
        f.expect("form").questionnaire.clone()
    }

    /// Sends a completed `form_id` that must be accepted; the event's id.
    async fn complete(&self, form_id: &str, weight: i32, png: Option<&[u8]>) -> Uuid {
        let (id, result) = self.submit(form_id, weight, png).await;
        assert_eq!(result["status"], "accepted", "{result}");
        id
    }

    /// Sends a completed `form_id` for a1's patient, each choice answered
    /// with the option weighing `weight`; the event's id and its result.
    async fn submit(&self, form_id: &str, weight: i32, png: Option<&[u8]>) -> (Uuid, Value) {
        let png = png.map(|b| base64::engine::general_purpose::STANDARD.encode(b));
        self.submit_signed(form_id, weight, json!({ "signature_png": png }))
            .await
    }

    /// Sends a consent signed by keypad with the typed `name`, which must
    /// be accepted; the event's id.
    async fn complete_named(&self, form_id: &str, name: &str) -> Uuid {
        let (id, result) = self
            .submit_signed(form_id, 0, json!({ "signature_name": name }))
            .await;
        assert_eq!(result["status"], "accepted", "{result}");
        id
    }

    /// [`Clinic::submit`] with the body's signature fields in `signature`.
    async fn submit_signed(&self, form_id: &str, weight: i32, signature: Value) -> (Uuid, Value) {
        let form = self.form(form_id);
        let mut r = Response::new();
        for item in form.items() {
            let answer = match &item.kind {
                ItemKind::Choice(options) => {
                    // An unscored question (PHQ-9's difficulty) gets its first option.
                    let o = options.iter().find(|o| o.weight == Some(weight));
                    Answer::Coding(o.or(options.first()).expect("option").code.clone())
                }
                ItemKind::Boolean => Answer::Boolean(true),
                _ => continue,
            };
            r.set(&form, &item.link_id, answer).expect("answer");
        }
        let id = Uuid::new_v4();
        let meta = ResponseMeta {
            id: "local-1",
            questionnaire: "urn:checkin-kiosk:form:local",
            subject: None,
            authored: Utc::now(),
            completed: true,
            language: Language::Es,
        };
        let mut body = json!({
            "type": "form_completed", "patient_id": "p1", "form_id": form_id,
            "form_version": "v-test", "response": questionnaire_response(&form, &r, &meta)});
        if let (Some(b), Some(sig)) = (body.as_object_mut(), signature.as_object()) {
            b.extend(sig.clone());
        }
        let event = json!({"id": id, "occurred_at": Utc::now(), "appointment_id": "a1",
            "body": body});
        let req = Request::post("/api/v1/kiosk/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(json!({ "events": [event] }).to_string()))
            .unwrap();
        let (status, _, bytes) = send(&self.app, req).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        (id, v["results"][0].clone())
    }

    async fn drain(&self) -> fhir::DrainReport {
        fhir::drain_now(&self.state, &north()).await.expect("drain")
    }

    /// The write-back items queued for forms and still pending.
    fn queued_forms(&self) -> i64 {
        self.state
            .db()
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM fhir_outbox WHERE kind = 'form_response' AND state = 'pending'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .expect("count")
    }

    fn sql(&self, sql: &'static str) -> i64 {
        self.state
            .db()
            .blocking(move |c| Ok(c.execute(sql, [])? as i64))
            .expect("sql")
    }
}

fn seed() -> Vec<Value> {
    vec![
        put_entry(json!({"resourceType": "Location", "id": "loc-north", "name": "North"})),
        put_entry(
            json!({"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Patel"}]}),
        ),
        put_entry(json!({
            "resourceType": "Patient", "id": "p1", "name": [{"family": "Diaz", "given": ["Ana"]}],
            "birthDate": "1980-01-02"
        })),
        put_entry(appointment("a1", "p1", "loc-north", today_at(10))),
    ]
}

/// The resources of `kind` whose identifier is `system|value`.
async fn by_identifier(ehr: &Sekmet, kind: &str, system: &str, value: &Uuid) -> Vec<Value> {
    let found = ehr
        .read(&format!("{kind}?identifier={system}|{value}"))
        .await;
    found["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| x["resource"].clone()).collect())
        .unwrap_or_default()
}

async fn count(ehr: &Sekmet, kind: &str) -> usize {
    let found = ehr.read(kind).await;
    found["entry"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_forms_are_written_back_as_valid_fhir_and_read_back() {
    let dir = tempfile::tempdir().expect("dir");
    let ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let clinic = Clinic::new(&ehr).await;

    let phq9 = clinic.complete("phq-9", 2, None).await;
    let gad7 = clinic.complete("gad-7", 1, None).await;
    let consent = clinic.complete("consent-npp", 0, Some(PNG)).await;
    let typed = clinic
        .complete_named("consent-npp", "María García-López")
        .await;
    assert_eq!(clinic.queued_forms(), 4, "queued with the events");
    let report = clinic.drain().await;
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (4, 0, 0),
        "{report:?}"
    );

    // The QuestionnaireResponse is at the event's id, for the EHR patient.
    let qr = ehr.read(&format!("QuestionnaireResponse/{phq9}")).await;
    assert_eq!(qr["resourceType"], "QuestionnaireResponse", "{qr}");
    assert_eq!(qr["status"], "completed");
    assert_eq!(qr["subject"]["reference"], "Patient/p1");
    assert_eq!(qr["questionnaire"], "urn:checkin-kiosk:form:phq-9");
    assert_eq!(qr["identifier"]["value"], phq9.to_string());
    let answered = qr["item"].as_array().map_or(0, Vec::len);
    assert!(answered >= 9, "{qr}");

    // One Observation per total, with its LOINC code and value.
    for (event, code, total) in [(phq9, "44261-6", 18), (gad7, "70274-6", 7)] {
        let obs = by_identifier(
            &ehr,
            "Observation",
            fhir::forms::SCORE_IDENTIFIER_SYSTEM,
            &event,
        )
        .await;
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o["status"], "final");
        assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
        assert_eq!(o["code"]["coding"][0]["code"], code);
        assert_eq!(o["valueInteger"], total);
        assert_eq!(o["category"][0]["coding"][0]["code"], "survey");
        assert_eq!(o["subject"]["reference"], "Patient/p1");
        assert!(o["effectiveDateTime"].is_string(), "{o}");
        assert_eq!(
            o["derivedFrom"][0]["reference"],
            format!("QuestionnaireResponse/{event}")
        );
    }
    // The consent has no score; it is a Consent with the signature.
    let none = by_identifier(
        &ehr,
        "Observation",
        fhir::forms::SCORE_IDENTIFIER_SYSTEM,
        &consent,
    )
    .await;
    assert!(none.is_empty());
    let consents = by_identifier(
        &ehr,
        "Consent",
        fhir::forms::CONSENT_IDENTIFIER_SYSTEM,
        &consent,
    )
    .await;
    assert_eq!(consents.len(), 1, "{consents:?}");
    let c = &consents[0];
    assert_eq!(c["status"], "active");
    assert_eq!(c["patient"]["reference"], "Patient/p1");
    assert_eq!(c["scope"]["coding"][0]["code"], "patient-privacy");
    assert_eq!(c["category"][0]["coding"][0]["code"], "59284-0");
    assert_eq!(c["sourceAttachment"]["contentType"], "image/png");
    let data = c["sourceAttachment"]["data"].as_str().unwrap_or_default();
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    assert_eq!(png, PNG);
    assert!(c.get("verification").is_none(), "{c}");

    // The consent signed by keypad: the typed name, verified with the
    // patient, accepted by the server's validation.
    let consents = by_identifier(
        &ehr,
        "Consent",
        fhir::forms::CONSENT_IDENTIFIER_SYSTEM,
        &typed,
    )
    .await;
    assert_eq!(consents.len(), 1, "{consents:?}");
    let c = &consents[0];
    assert_eq!(c["status"], "active");
    assert_eq!(c["patient"]["reference"], "Patient/p1");
    let a = &c["sourceAttachment"];
    assert_eq!(a["contentType"], "text/plain; charset=utf-8", "{c}");
    assert_eq!(a["title"], fhir::forms::TYPED_SIGNATURE_TITLE);
    let name = base64::engine::general_purpose::STANDARD
        .decode(a["data"].as_str().unwrap_or_default())
        .expect("base64");
    assert_eq!(
        String::from_utf8(name).expect("utf-8"),
        "María García-López"
    );
    assert_eq!(c["verification"][0]["verified"], true, "{c}");
    assert_eq!(
        c["verification"][0]["verifiedWith"]["reference"],
        "Patient/p1"
    );
    assert!(c["verification"][0]["verificationDate"].is_string(), "{c}");
    let qr = ehr.read(&format!("QuestionnaireResponse/{typed}")).await;
    assert_eq!(qr["status"], "completed", "{qr}");
    assert_eq!(count(&ehr, "QuestionnaireResponse").await, 4);
    assert_eq!(count(&ehr, "Consent").await, 2);

    // The console counts it signed.
    let signed = clinic
        .state
        .db()
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM form_responses
                 WHERE signature_name = 'María García-López' AND signature_png IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .expect("count");
    assert_eq!(signed, 1);

    // sekmet validates what it is sent: a malformed Observation is refused.
    let bad = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueInteger": "seven"});
    let r = reqwest::Client::new()
        .post(format!("{}/Observation", ehr.base()))
        .header("content-type", "application/fhir+json")
        .body(bad.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_waits_out_an_outage_and_a_replay_writes_nothing_twice() {
    let dir = tempfile::tempdir().expect("dir");
    let mut ehr = Sekmet::start(dir.path(), "").await;
    ehr.transaction(seed()).await;
    let clinic = Clinic::new(&ehr).await;

    // A refused form (a consent without its signature) queues nothing.
    let (_, refused) = clinic.submit("consent-npp", 0, None).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    // Nor does a typed signature on a form that takes none.
    let (_, refused) = clinic
        .submit_signed("phq-2", 2, json!({"signature_name": "Ana Diaz"}))
        .await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert!(
        refused.to_string().contains("takes no signature"),
        "{refused}"
    );
    assert!(!refused.to_string().contains("Ana Diaz"), "{refused}");
    assert_eq!(clinic.queued_forms(), 0);

    ehr.stop();
    let phq2 = clinic.complete("phq-2", 2, None).await;
    let report = clinic.drain().await;
    assert_eq!((report.sent, report.retrying), (0, 1), "{report:?}");

    ehr.restart().await;
    clinic.sql("UPDATE fhir_outbox SET next_attempt_ms = 0 WHERE state = 'pending'");
    let report = clinic.drain().await;
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");

    // The EHR wrote but its answer was lost: the item is sent again.
    let replayed = clinic.sql(
        "UPDATE fhir_outbox SET state = 'pending', next_attempt_ms = 0 WHERE kind = 'form_response'",
    );
    assert_eq!(replayed, 1);
    let report = clinic.drain().await;
    assert_eq!(report.sent, 1, "{report:?}");

    let obs = by_identifier(
        &ehr,
        "Observation",
        fhir::forms::SCORE_IDENTIFIER_SYSTEM,
        &phq2,
    )
    .await;
    assert_eq!(obs.len(), 1, "{obs:?}");
    assert_eq!(obs[0]["code"]["coding"][0]["code"], "55758-7");
    assert_eq!(obs[0]["valueInteger"], 4);
    assert_eq!(count(&ehr, "Observation").await, 1);
    assert_eq!(count(&ehr, "QuestionnaireResponse").await, 1);
    let qr = ehr.read(&format!("QuestionnaireResponse/{phq2}")).await;
    assert_eq!(qr["subject"]["reference"], "Patient/p1");
}
