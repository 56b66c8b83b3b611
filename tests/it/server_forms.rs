//! Integration tests of intake forms on the clinic server: the forms due
//! in schedule replies across visits (every visit, every N days, once),
//! the definitions sent once per reply with the PHQ-9 step-up, the
//! `form_completed` ingest (accepted, duplicate, and each rejection),
//! the urgent screener's flag on the live stream, and staff's view.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use checkin_kiosk::config::ServerConfig;
use checkin_kiosk::domain::forms_due::{AppliesTo, Frequency};
use checkin_kiosk::domain::questionnaire::{Answer, ItemKind, Questionnaire, Response};
use checkin_kiosk::domain::{ClinicId, FixedClock, Language};
use checkin_kiosk::forms::{ResponseMeta, questionnaire_response};
use checkin_kiosk::protocol::{EventBatchResponse, EventStatus, ScheduleResponse};
use checkin_kiosk::server::schedule::VisitFacts;
use checkin_kiosk::server::storage::backend::Store;
use checkin_kiosk::server::{self, AppState, demo, staff};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use super::server::{PASSWORD, enroll_and_sign_in, noon, send};

/// A server whose forms are the shipped ones under test rules: the
/// consent once, the PHQ-2 every 365 days, the GAD-7 every visit, and the
/// PHQ-9 only where a visit type no appointment has (so only the step-up
/// brings it). On SQLite or on PostgreSQL (`pg_forms` runs every scenario
/// here there too), seeded through the same storage facade.
pub(super) struct Forms {
    app: Router,
    state: AppState,
    clock: Arc<FixedClock>,
    token: String,
    cookie: String,
    _dir: tempfile::TempDir,
}

pub(super) fn config(dir: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::demo(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    c.server.max_body_bytes = 1 << 20;
    c.server.staff_idle = c.server.staff_session;
    for f in &mut c.forms {
        f.rule.applies_to = AppliesTo::AllVisits;
        f.rule.frequency = match f.rule.form_id.as_str() {
            "consent-npp" => Frequency::Once,
            "phq-2" => Frequency::EveryDays(365),
            _ => Frequency::EveryVisit,
        };
        if f.rule.form_id == "phq-9" {
            f.rule.applies_to = AppliesTo::VisitTypes(vec!["never".into()]);
        }
    }
    c
}

fn day1() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

impl Forms {
    /// On SQLite, seeded with the demo day (and its sample flags).
    pub(super) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let (db, signer) = server::open_data_dir(&config).unwrap();
        let clock = Arc::new(FixedClock::new(noon()));
        demo::seed(&db, &config.clinics[0], day1(), noon()).unwrap();
        let state = AppState::with_clock(config, db, signer, clock.clone());
        Self::ready(state, clock, dir).await
    }

    /// On a fresh PostgreSQL database, seeded with the demo day and its
    /// sample flags as on SQLite; `None` without a test cluster.
    pub(super) async fn postgres() -> Option<Self> {
        let settings = super::pg_support::fresh_database().await?;
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        config.database = Some(settings.clone());
        let pg = checkin_kiosk::server::storage::pg::connect(&settings)
            .await
            .unwrap();
        let signer =
            checkin_kiosk::pass::PassSigner::load_or_create(&dir.path().join("key")).unwrap();
        let clock = Arc::new(FixedClock::new(noon()));
        let clinic = config.clinics[0].clone();
        let state =
            AppState::postgres_with_clock(config, pg.clone(), signer, clock.clone()).unwrap();
        let appointments = demo::appointments(&clinic, day1());
        let facts = demo::visit_facts(&appointments);
        state
            .store()
            .upsert_schedule(clinic.id.clone(), appointments, facts, true)
            .await
            .unwrap();
        super::pg_forms::seed_sample_flags(&pg, &clinic, day1(), noon()).await;
        Some(Self::ready(state, clock, dir).await)
    }

    /// Adds staff user amy, enrolls a kiosk and signs amy in.
    async fn ready(state: AppState, clock: Arc<FixedClock>, dir: tempfile::TempDir) -> Self {
        let demo_clinic = ClinicId("demo".into());
        staff::add_staff_to(state.store(), &demo_clinic, "amy", PASSWORD, noon())
            .await
            .unwrap();
        let (code, _) = staff::issue_enrollment_code(state.store(), demo_clinic, noon(), None)
            .await
            .unwrap();
        let app = server::app(state.clone());
        let (token, cookie) = enroll_and_sign_in(&app, &code, "amy").await;
        Self {
            app,
            state,
            clock,
            token,
            cookie,
            _dir: dir,
        }
    }

    /// The single number `sql` (no parameters) selects, on either backend.
    async fn count(&self, sql: &str) -> i64 {
        match self.state.store() {
            Store::Sqlite(db) => db
                .blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
                .unwrap(),
            Store::Postgres(pg) => {
                let client = pg.client().await.unwrap();
                client.query_one(sql, &[]).await.unwrap().get(0)
            }
        }
    }

    /// The two texts of the one row `sql` (no parameters) selects.
    async fn texts(&self, sql: &str) -> (String, String) {
        match self.state.store() {
            Store::Sqlite(db) => db
                .blocking(|c| Ok(c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?))
                .unwrap(),
            Store::Postgres(pg) => {
                let row = pg
                    .client()
                    .await
                    .unwrap()
                    .query_one(sql, &[])
                    .await
                    .unwrap();
                (row.get(0), row.get(1))
            }
        }
    }

    /// The stored score, band, urgency and form version of the form that
    /// event `id` carried.
    async fn stored_form(&self, id: Uuid) -> (i64, String, bool, String) {
        match self.state.store() {
            Store::Sqlite(db) => db
                .blocking(|c| {
                    Ok(c.query_row(
                        "SELECT score, band, urgent, form_version FROM form_responses WHERE event_id = ?1",
                        [id.to_string()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?)
                })
                .unwrap(),
            Store::Postgres(pg) => {
                let row = pg
                    .client()
                    .await
                    .unwrap()
                    .query_one(
                        "SELECT score::bigint, band, urgent, form_version FROM form_responses WHERE event_id = $1",
                        &[&id],
                    )
                    .await
                    .unwrap();
                (row.get(0), row.get(1), row.get(2), row.get(3))
            }
        }
    }

    fn form(&self, id: &str) -> Questionnaire {
        let f = self
            .state
            .config()
            .forms
            .iter()
            .find(|f| f.rule.form_id == id);
        f.unwrap().questionnaire.clone()
    }

    async fn schedule(&self, since: Option<&str>) -> ScheduleResponse {
        let path = match since {
            Some(s) => format!("/api/v1/kiosk/schedule?since={s}"),
            None => "/api/v1/kiosk/schedule".into(),
        };
        let req = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    /// Sends `events`; the result of each.
    async fn events(&self, events: Vec<Value>) -> Vec<(EventStatus, Option<String>)> {
        let req = Request::post("/api/v1/kiosk/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::from(json!({ "events": events }).to_string()))
            .unwrap();
        let (status, _, body) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let r: EventBatchResponse = serde_json::from_slice(&body).unwrap();
        r.results
            .into_iter()
            .map(|r| (r.status, r.reason))
            .collect()
    }

    async fn staff_get(&self, path: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::COOKIE, &self.cookie)
            .header("x-requested-with", "test")
            .body(Body::empty())
            .unwrap();
        let (s, _, b) = send(&self.app, req).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// Sends `events`, which must all be accepted, then reads staff's view
    /// of today's forms, which must answer 200.
    async fn staff_forms_after(&self, events: Vec<Value>) -> Value {
        let results = self.events(events).await;
        assert!(
            results.iter().all(|r| r.0 == EventStatus::Accepted),
            "{results:?}"
        );
        let (s, body) = self.staff_get("/api/v1/staff/clinics/demo/forms").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    /// Stores another visit for demo-002's patient on `day`, as `id`.
    async fn second_visit(&self, id: &str, day: NaiveDate) {
        let clinic = self.state.config().clinics[0].clone();
        let mut a = demo::appointments(&clinic, day)[1].clone();
        a.id = checkin_kiosk::domain::AppointmentId(id.into());
        self.state
            .store()
            .upsert_schedule(
                clinic.id.clone(),
                vec![a],
                [(id.to_string(), VisitFacts::default())].into(),
                false,
            )
            .await
            .unwrap();
    }
}

/// The answers to `form` whose options carry `weights`, in item order; any
/// other question gets its first option, `true`, or is left out.
pub(super) fn answers(form: &Questionnaire, weights: &[(&str, i32)]) -> Response {
    let mut r = Response::new();
    for item in form.items() {
        let answer = match &item.kind {
            ItemKind::Choice(options) => {
                let want = weights
                    .iter()
                    .find(|(id, _)| *id == item.link_id)
                    .map(|(_, w)| *w);
                let o = options
                    .iter()
                    .find(|o| want.is_none() || o.weight == want)
                    .unwrap();
                Answer::Coding(o.code.clone())
            }
            ItemKind::Boolean => Answer::Boolean(true),
            _ => continue,
        };
        r.set(form, &item.link_id, answer).unwrap();
    }
    r
}

/// A QuestionnaireResponse to `form` with `r`.
pub(super) fn response_json(form: &Questionnaire, r: &Response) -> Value {
    let meta = ResponseMeta {
        id: "r1",
        questionnaire: "urn:checkin-kiosk:form:x",
        subject: None,
        authored: noon(),
        completed: true,
        language: Language::Es,
    };
    questionnaire_response(form, r, &meta)
}

/// A small stand-in signature: the PNG signature bytes and a little more.
fn png_b64() -> String {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 13, b'I', b'H', b'D', b'R']);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn form_event(
    id: Uuid,
    appointment: &str,
    patient: &str,
    form: &str,
    response: Value,
    signature: Option<String>,
    at: DateTime<Utc>,
) -> Value {
    json!({"id": id, "occurred_at": at, "appointment_id": appointment, "body": {
        "type": "form_completed", "patient_id": patient, "form_id": form,
        "form_version": "v-test", "response": response, "signature_png": signature}})
}

/// On either backend.
pub(super) async fn forms_due_follow_each_frequency_across_two_visits(f: Forms) {
    let full = f.schedule(None).await;
    let due = |s: &ScheduleResponse, id: &str| {
        s.upserts
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.forms_due.clone())
    };
    assert_eq!(
        due(&full, "demo-002").unwrap(),
        ["consent-npp", "phq-2", "gad-7"]
    );
    assert_eq!(
        due(&full, "demo-024").unwrap(),
        Vec::<String>::new(),
        "cancelled"
    );
    // Every form named, each definition once, with the PHQ-9 the PHQ-2
    // steps up to although no visit names it; and the crisis text.
    let ids: Vec<&str> = full.forms.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["consent-npp", "phq-2", "phq-9", "gad-7"]);
    assert!(full.forms.iter().all(|d| d.version.len() == 64));
    assert!(
        full.crisis_text
            .as_ref()
            .is_some_and(|t| t.es.contains("988"))
    );

    // The patient completes all three at the first visit.
    let at = noon();
    let consent = f.form("consent-npp");
    let phq2 = f.form("phq-2");
    let gad7 = f.form("gad-7");
    let results = f
        .events(vec![
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "consent-npp",
                response_json(&consent, &answers(&consent, &[])),
                Some(png_b64()),
                at,
            ),
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                response_json(&phq2, &answers(&phq2, &[("phq2-1", 1), ("phq2-2", 1)])),
                None,
                at,
            ),
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "gad-7",
                response_json(&gad7, &answers(&gad7, &[])),
                None,
                at,
            ),
        ])
        .await;
    assert!(
        results.iter().all(|r| r.0 == EventStatus::Accepted),
        "{results:?}"
    );
    // The next delta carries the appointment with nothing left due, and
    // no definition, since nothing is named.
    let delta = f.schedule(Some(&full.cursor)).await;
    assert!(!delta.full);
    assert_eq!(due(&delta, "demo-002").unwrap(), Vec::<String>::new());
    assert_eq!(delta.upserts.len(), 1, "only that patient's visit changed");
    assert!(delta.forms.is_empty());

    // 30 days later: only the every-visit GAD-7 is due.
    let day2 = day1() + Duration::days(30);
    f.clock.set(noon() + Duration::days(30));
    f.second_visit("v2", day2).await;
    let s = f.schedule(None).await;
    assert_eq!(due(&s, "v2").unwrap(), ["gad-7"]);
    assert_eq!(s.forms.len(), 1);

    // 365 days after the first: the PHQ-2 again, the consent never.
    let day3 = day1() + Duration::days(365);
    f.clock.set(noon() + Duration::days(365));
    f.second_visit("v3", day3).await;
    let s = f.schedule(None).await;
    assert_eq!(due(&s, "v3").unwrap(), ["phq-2", "gad-7"]);
    let ids: Vec<&str> = s.forms.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["phq-2", "phq-9", "gad-7"]);
}

/// On either backend.
pub(super) async fn a_completed_form_is_stored_once_scored_and_audited(f: Forms) {
    let gad7 = f.form("gad-7");
    let id = Uuid::new_v4();
    let weights: Vec<(&str, i32)> = (1..=7)
        .map(|i| {
            (
                [
                    "gad7-1", "gad7-2", "gad7-3", "gad7-4", "gad7-5", "gad7-6", "gad7-7",
                ][i - 1],
                2,
            )
        })
        .collect();
    let ev = form_event(
        id,
        "demo-003",
        "demo-p003",
        "gad-7",
        response_json(&gad7, &answers(&gad7, &weights)),
        None,
        noon(),
    );
    assert_eq!(f.events(vec![ev.clone()]).await[0].0, EventStatus::Accepted);
    assert_eq!(f.events(vec![ev]).await[0].0, EventStatus::Duplicate);
    let (score, band, urgent, version) = f.stored_form(id).await;
    assert_eq!(
        (score, band.as_str(), urgent, version.as_str()),
        (14, "moderate", false, "v-test")
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM form_responses").await, 1);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM audit WHERE action = 'form_completed' AND patient_id = 'demo-p003' AND detail = 'gad-7'").await,
        1
    );
    assert_eq!(
        f.count("SELECT COUNT(*) FROM flags WHERE code = 'screening_positive' AND kiosk_id != 'demo-seed'").await,
        0,
        "a GAD-7 is never urgent"
    );
}

/// On either backend.
pub(super) async fn bad_forms_are_rejected_with_a_reason_and_change_nothing(f: Forms) {
    let phq2 = f.form("phq-2");
    let consent = f.form("consent-npp");
    let good = response_json(&phq2, &answers(&phq2, &[]));
    let mut bad_code = good.clone();
    bad_code["item"][0]["answer"][0]["valueCoding"]["code"] = json!("SECRET-ANSWER");
    let mut missing = good.clone();
    missing["item"].as_array_mut().unwrap().truncate(1);
    let mut in_progress = good.clone();
    in_progress["status"] = json!("in-progress");
    let mut huge = good.clone();
    huge["text"] = json!({"div": "x".repeat(70 * 1024)});
    let not_png = base64::engine::general_purpose::STANDARD.encode(b"GIF89a....");
    let consent_ok = response_json(&consent, &answers(&consent, &[]));
    let cases: Vec<(Value, &str)> = vec![
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "nope",
                good.clone(),
                None,
                noon(),
            ),
            "form nope is not offered",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p003",
                "phq-2",
                good.clone(),
                None,
                noon(),
            ),
            "patient_id is not the appointment's patient",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                bad_code,
                None,
                noon(),
            ),
            "item phq2-1: the answer is not one of its options",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                missing,
                None,
                noon(),
            ),
            "required item phq2-2 is not answered",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                in_progress,
                None,
                noon(),
            ),
            "status must be \"completed\"",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                huge,
                None,
                noon(),
            ),
            "response",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "phq-2",
                good.clone(),
                Some(png_b64()),
                noon(),
            ),
            "form phq-2 takes no signature",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "consent-npp",
                consent_ok.clone(),
                None,
                noon(),
            ),
            "needs the patient's signature",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "demo-002",
                "demo-p002",
                "consent-npp",
                consent_ok,
                Some(not_png),
                noon(),
            ),
            "signature_png",
        ),
        (
            form_event(
                Uuid::new_v4(),
                "no-such",
                "demo-p002",
                "phq-2",
                good,
                None,
                noon(),
            ),
            "unknown appointment",
        ),
    ];
    let audits = f.count("SELECT COUNT(*) FROM audit").await;
    for (ev, want) in cases {
        let r = f.events(vec![ev]).await;
        assert_eq!(r[0].0, EventStatus::Rejected, "{want}: {r:?}");
        let reason = r[0].1.clone().unwrap_or_default();
        assert!(reason.contains(want), "{want:?} not in {reason:?}");
        assert!(
            !reason.contains("SECRET"),
            "the reason echoes an answer: {reason}"
        );
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM form_responses").await, 0);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM events WHERE kind = 'form_completed'")
            .await,
        0
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM audit").await, audits);
}

/// On either backend.
pub(super) async fn an_urgent_phq9_raises_screening_positive_live_and_on_top(f: Forms) {
    let req = Request::get("/api/v1/staff/clinics/demo/stream")
        .header(header::COOKIE, &f.cookie)
        .body(Body::empty())
        .unwrap();
    let resp = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();

    let phq9 = f.form("phq-9");
    // A low total, but item 9 above zero.
    let r = answers(
        &phq9,
        &[
            ("phq9-1", 0),
            ("phq9-2", 0),
            ("phq9-3", 0),
            ("phq9-4", 0),
            ("phq9-5", 0),
            ("phq9-6", 0),
            ("phq9-7", 0),
            ("phq9-8", 0),
            ("phq9-9", 1),
        ],
    );
    let ev = form_event(
        Uuid::new_v4(),
        "demo-005",
        "demo-p005",
        "phq-9",
        response_json(&phq9, &r),
        None,
        noon(),
    );
    let started = std::time::Instant::now();
    assert_eq!(f.events(vec![ev]).await[0].0, EventStatus::Accepted);
    let mut seen = String::new();
    while !seen.contains("\"kind\":\"flag\"") {
        let frame = tokio::time::timeout(StdDuration::from_secs(1), body.frame())
            .await
            .expect("the flag's notice within 1 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(started.elapsed() < StdDuration::from_secs(1));

    let (text, step) = f
        .texts("SELECT text, step FROM flags WHERE code = 'screening_positive' AND appointment_id = 'demo-005'")
        .await;
    assert_eq!(text, "Depression screener needs a clinician now");
    assert_eq!(step, "forms");
    // Urgent flags come first in the open list, whatever their age.
    let (s, flags) = f.staff_get("/api/v1/staff/clinics/demo/flags").await;
    assert_eq!(s, StatusCode::OK);
    let codes: Vec<&str> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    let urgent = codes.iter().filter(|c| **c == "screening_positive").count();
    assert!(urgent >= 2, "the demo's sample and this one: {codes:?}");
    assert!(
        codes[..urgent].iter().all(|c| *c == "screening_positive"),
        "{codes:?}"
    );
}

/// On either backend.
pub(super) async fn staff_see_todays_completed_forms_with_scores_audited(f: Forms) {
    let phq9 = f.form("phq-9");
    let consent = f.form("consent-npp");
    let weights: Vec<(String, i32)> = (1..=9)
        .map(|i| (format!("phq9-{i}"), if i == 9 { 0 } else { 3 }))
        .collect();
    let weights: Vec<(&str, i32)> = weights.iter().map(|(k, w)| (k.as_str(), *w)).collect();
    let later = noon() + Duration::minutes(5);
    let body = f
        .staff_forms_after(vec![
            form_event(
                Uuid::new_v4(),
                "demo-006",
                "demo-p006",
                "phq-9",
                response_json(&phq9, &answers(&phq9, &weights)),
                None,
                noon(),
            ),
            form_event(
                Uuid::new_v4(),
                "demo-006",
                "demo-p006",
                "consent-npp",
                response_json(&consent, &answers(&consent, &[])),
                Some(png_b64()),
                later,
            ),
        ])
        .await;
    assert_eq!(body["day"], "2026-03-02");
    let forms = body["forms"].as_array().unwrap();
    assert_eq!(forms.len(), 2, "{body}");
    assert_eq!(forms[0]["appointment_id"], "demo-006");
    assert_eq!(forms[0]["form_id"], "phq-9");
    assert_eq!(forms[0]["title"], "Patient Health Questionnaire-9 (PHQ-9)");
    assert_eq!(
        (forms[0]["score"].as_u64(), forms[0]["max_score"].as_u64()),
        (Some(24), Some(27))
    );
    assert_eq!(forms[0]["band"], "severe");
    assert_eq!(forms[0]["urgent"], true, "a total of 20 or more");
    assert_eq!(forms[1]["form_id"], "consent-npp");
    assert_eq!(forms[1]["signed"], true);
    assert!(forms[1].get("score").is_none());
    assert!(
        !body.to_string().contains("valueCoding"),
        "no answers reach staff"
    );
    assert_eq!(
        f.count(
            "SELECT COUNT(*) FROM audit WHERE action = 'viewed_form_responses' AND actor_id = 'amy'"
        )
        .await,
        1
    );
    // Another clinic's staff may not look.
    let (s, _) = f.staff_get("/api/v1/staff/clinics/other/forms").await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
}

/// On either backend.
pub(super) async fn a_positive_phq2_without_its_phq9_asks_staff_for_it(f: Forms) {
    let phq2 = f.form("phq-2");
    let phq9 = f.form("phq-9");
    let phq2_at = |appointment: &str, patient: &str, each: i32| {
        let weights = [("phq2-1", each), ("phq2-2", each)];
        let response = response_json(&phq2, &answers(&phq2, &weights));
        form_event(
            Uuid::new_v4(),
            appointment,
            patient,
            "phq-2",
            response,
            None,
            noon(),
        )
    };
    let body = f
        .staff_forms_after(vec![
            // Positive (4), and the patient stopped before the PHQ-9.
            phq2_at("demo-002", "demo-p002", 2),
            // Positive (6), with the PHQ-9 finished after it.
            phq2_at("demo-003", "demo-p003", 3),
            form_event(
                Uuid::new_v4(),
                "demo-003",
                "demo-p003",
                "phq-9",
                response_json(&phq9, &answers(&phq9, &[])),
                None,
                noon() + Duration::minutes(2),
            ),
            // Negative (2): nothing more to do.
            phq2_at("demo-004", "demo-p004", 1),
        ])
        .await;
    let follow_up = |appointment: &str, form: &str| {
        let found = body["forms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["appointment_id"] == appointment && x["form_id"] == form);
        found.unwrap_or_else(|| panic!("{appointment} {form}: {body}"))["follow_up"].clone()
    };
    assert_eq!(follow_up("demo-002", "phq-2"), "phq9_not_completed");
    assert_eq!(follow_up("demo-003", "phq-2"), Value::Null);
    assert_eq!(follow_up("demo-003", "phq-9"), Value::Null);
    assert_eq!(follow_up("demo-004", "phq-2"), Value::Null);
}

#[tokio::test]
async fn forms_due_follow_each_frequency_across_two_visits_on_sqlite() {
    forms_due_follow_each_frequency_across_two_visits(Forms::sqlite().await).await;
}

#[tokio::test]
async fn a_completed_form_is_stored_once_scored_and_audited_on_sqlite() {
    a_completed_form_is_stored_once_scored_and_audited(Forms::sqlite().await).await;
}

#[tokio::test]
async fn bad_forms_are_rejected_with_a_reason_and_change_nothing_on_sqlite() {
    bad_forms_are_rejected_with_a_reason_and_change_nothing(Forms::sqlite().await).await;
}

#[tokio::test]
async fn an_urgent_phq9_raises_screening_positive_live_and_on_top_on_sqlite() {
    an_urgent_phq9_raises_screening_positive_live_and_on_top(Forms::sqlite().await).await;
}

#[tokio::test]
async fn staff_see_todays_completed_forms_with_scores_audited_on_sqlite() {
    staff_see_todays_completed_forms_with_scores_audited(Forms::sqlite().await).await;
}

#[tokio::test]
async fn a_positive_phq2_without_its_phq9_asks_staff_for_it_on_sqlite() {
    a_positive_phq2_without_its_phq9_asks_staff_for_it(Forms::sqlite().await).await;
}
