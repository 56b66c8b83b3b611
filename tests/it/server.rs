//! Integration tests: the clinic server through `app(state)` with
//! `oneshot`: every endpoint's success, auth failures, every bad-input
//! class, and idempotent ingest. Shared helpers for the other server
//! suites live here too.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use checkin_kiosk::config::ServerConfig;
use checkin_kiosk::domain::{ClinicId, FixedClock};
use checkin_kiosk::pass::PassVerifier;
use checkin_kiosk::protocol::{
    EnrollResponse, EventBatchResponse, EventStatus, ScheduleResponse, StaffAppointments,
};
use checkin_kiosk::server::{self, AppState, Db, demo, staff};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

/// The staff password the harness sets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A seeded server with one enrolled kiosk and a signed-in staff user.
pub struct Harness {
    /// The app under test.
    pub app: Router,
    /// Its state, for direct database checks.
    pub state: AppState,
    /// The fixed clock the state reads.
    pub clock: Arc<FixedClock>,
    /// The enrolled kiosk's device token.
    pub token: String,
    /// The enrolled kiosk's id.
    pub kiosk_id: String,
    /// The pass public key from enrollment.
    pub public_key: String,
    /// `Cookie` header value of the staff session.
    pub cookie: String,
    /// Keeps the data directory alive.
    pub _dir: tempfile::TempDir,
}

/// Noon on 2026-03-02 in New York, the demo clinic's zone.
pub fn noon() -> DateTime<Utc> {
    chrono_tz::America::New_York
        .with_ymd_and_hms(2026, 3, 2, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// The demo configuration plus a second clinic `other`.
pub fn config(dir: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::demo(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    let mut other = c.clinics[0].clone();
    other.id = ClinicId("other".into());
    other.name = "Other Clinic".into();
    c.clinics.push(other);
    c.server.max_events_per_batch = 50;
    c.server.max_body_bytes = 64 * 1024;
    // Tests move the clock by hours; the idle timeout has its own tests.
    c.server.staff_idle = c.server.staff_session;
    c
}

impl Harness {
    /// A fresh server on a temporary file database.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let (db, signer) = server::open_data_dir(&config).unwrap();
        let clock = Arc::new(FixedClock::new(noon()));
        let day = noon()
            .with_timezone(&config.clinics[0].time_zone)
            .date_naive();
        demo::seed(&db, &config.clinics[0], day, noon()).unwrap();
        demo::seed(&db, &config.clinics[1], day, noon()).unwrap();
        db.blocking(|c| {
            staff::add_staff(c, &ClinicId("demo".into()), "amy", PASSWORD, noon()).unwrap();
            staff::add_staff(c, &ClinicId("other".into()), "olga", PASSWORD, noon()).unwrap();
            Ok(())
        })
        .unwrap();
        let state = AppState::with_clock(config, db, signer, clock.clone());
        let app = server::app(state.clone());
        let mut h = Harness {
            app,
            state,
            clock,
            token: String::new(),
            kiosk_id: String::new(),
            public_key: String::new(),
            cookie: String::new(),
            _dir: dir,
        };
        let code = h.code("demo");
        let (status, _, body) = h
            .post_json("/api/v1/kiosk/enroll", None, enroll_body(&code))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let enrolled: EnrollResponse = serde_json::from_value(body).unwrap();
        h.token = enrolled.device_token;
        h.kiosk_id = enrolled.kiosk_id;
        h.public_key = enrolled.pass_public_key;
        h.cookie = h.login("amy").await;
        h
    }

    /// The database.
    pub fn db(&self) -> &Db {
        self.state.db()
    }

    /// A fresh enrollment code for `clinic`.
    pub fn code(&self, clinic: &str) -> String {
        let now = self.clock_now();
        self.db()
            .blocking(|c| staff::create_enrollment_code(c, &ClinicId(clinic.into()), now))
            .unwrap()
            .0
    }

    /// The harness clock's time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        use checkin_kiosk::domain::Clock;
        self.clock.now()
    }

    /// Signs `user` in; returns the `Cookie` header value.
    pub async fn login(&self, user: &str) -> String {
        let req = Request::post("/api/v1/staff/login")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-requested-with", "test")
            .body(Body::from(
                json!({"username": user, "password": PASSWORD}).to_string(),
            ))
            .unwrap();
        let (status, headers, body) = send(&self.app, req).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let set = headers[header::SET_COOKIE].to_str().unwrap().to_string();
        set.split(';').next().unwrap().to_string()
    }

    /// A JSON POST with the kiosk token (`Some`) or none.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, HeaderMap, Value) {
        self.post_raw(path, token, "application/json", body.to_string())
            .await
    }

    /// A POST of any body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, content_type);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let (status, headers, bytes) = send(&self.app, req.body(Body::from(body)).unwrap()).await;
        (status, headers, to_json(&bytes))
    }

    /// A kiosk GET.
    pub async fn kiosk_get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::get(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let (status, _, bytes) = send(&self.app, req.body(Body::empty()).unwrap()).await;
        (status, to_json(&bytes))
    }

    /// A staff request with the session cookie and the CSRF header.
    pub async fn staff(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &self.cookie)
            .header("x-requested-with", "test");
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        send(&self.app, req.body(body).unwrap()).await
    }

    /// A staff request, its body as JSON.
    pub async fn staff_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, b) = self.staff(method, path, body).await;
        (s, to_json(&b))
    }

    /// Sends a batch of events with the harness kiosk's token.
    pub async fn events(&self, events: Vec<Value>) -> (StatusCode, Value) {
        let (s, _, b) = self
            .post_json(
                "/api/v1/kiosk/events",
                Some(&self.token),
                json!({"events": events}),
            )
            .await;
        (s, b)
    }

    /// A count from the database.
    pub fn count(&self, sql: &str) -> i64 {
        self.db()
            .blocking(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .unwrap()
    }
}

/// Enrolls a kiosk with `code` and signs `user` in (with [`PASSWORD`]) on
/// `app`: the device token and the `Cookie` header value.
pub async fn enroll_and_sign_in(app: &Router, code: &str, user: &str) -> (String, String) {
    let req = Request::post("/api/v1/kiosk/enroll")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(enroll_body(code).to_string()))
        .unwrap();
    let (status, _, body) = send(app, req).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let token = serde_json::from_slice::<Value>(&body).unwrap()["device_token"]
        .as_str()
        .unwrap()
        .to_string();
    let req = Request::post("/api/v1/staff/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-requested-with", "test")
        .body(Body::from(
            json!({"username": user, "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    let (status, headers, _) = send(app, req).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (token, cookie)
}

/// An enrollment request body.
pub fn enroll_body(code: &str) -> Value {
    json!({"code": code, "kiosk_name": "Lobby 1", "app_version": "0.1.0"})
}

/// One event envelope.
pub fn event(id: Uuid, appointment: Option<&str>, body: Value) -> Value {
    json!({"id": id, "occurred_at": noon(), "appointment_id": appointment, "body": body})
}

/// Sends one request through the app.
pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

fn to_json(b: &[u8]) -> Value {
    if b.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into()))
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

// ---------------------------------------------------------------- enrollment

#[tokio::test]
async fn an_enrollment_code_works_once_and_expires() {
    let h = Harness::new().await;
    let code = h.code("demo");
    let (s, _, b) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&code))
        .await;
    assert_eq!(s, StatusCode::OK);
    let e: EnrollResponse = serde_json::from_value(b).unwrap();
    assert_eq!(e.clinic.clinic_id, "demo");
    assert_eq!(e.clinic.currency, "USD");
    assert_eq!(e.device_token.len(), 43, "32 random bytes, base64url");
    assert_eq!(e.pass_public_key, h.state.signer().public_key_b64());
    // The token is stored only as a hash.
    let plain = h.db().blocking(|c| {
        Ok(c.query_row(
            "SELECT COUNT(*) FROM kiosks WHERE token_hash = ?1",
            [&e.device_token],
            |r| r.get::<_, i64>(0),
        )?)
    });
    assert_eq!(plain.unwrap(), 0);

    let (s, _, b) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&code))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");

    // Codes are forgiving of case and separators, but expire after 24 h.
    let code = h.code("demo");
    let sloppy = code.replace('-', " ").to_lowercase();
    h.clock.advance(chrono::Duration::hours(25));
    let (s, _, _) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&sloppy))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    h.clock.set(noon());
    let (s, _, _) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&sloppy))
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, _, b) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body("NOPE-NOPE-NOPE"))
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let mut bad = enroll_body(&h.code("demo"));
    bad["kiosk_name"] = json!("   ");
    let (s, _, b) = h.post_json("/api/v1/kiosk/enroll", None, bad).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
}

// ---------------------------------------------------------------- kiosk auth

#[tokio::test]
async fn kiosk_endpoints_need_a_live_token_of_their_own_clinic() {
    let h = Harness::new().await;
    for token in [None, Some("not-a-token"), Some("")] {
        let (s, b) = h.kiosk_get("/api/v1/kiosk/schedule", token).await;
        assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let req = Request::get("/api/v1/kiosk/schedule")
        .header(header::AUTHORIZATION, format!("Basic {}", h.token))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, req).await.0, StatusCode::UNAUTHORIZED);

    let (s, b) = h
        .kiosk_get("/api/v1/kiosk/schedule?clinic=other", Some(&h.token))
        .await;
    assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (s, _) = h
        .kiosk_get("/api/v1/kiosk/schedule?clinic=demo", Some(&h.token))
        .await;
    assert_eq!(s, StatusCode::OK);

    // Another clinic's appointment is unknown to this kiosk.
    let other_code = h.code("other");
    let (_, _, b) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&other_code))
        .await;
    let other_token = b["device_token"].as_str().unwrap().to_string();
    let (s, _, b) = h
        .post_json("/api/v1/kiosk/events", Some(&other_token), json!({"events": [event(Uuid::new_v4(), Some("demo-001"), json!({"type": "arrived"}))]}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["results"][0]["status"], "accepted",
        "other clinic has its own demo-001"
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM appointments WHERE clinic_id = 'demo' AND appointment_id = 'demo-001' AND status = 'arrived'"), 0);

    // Revoked: 401 at once.
    let (s, _, _) = h
        .staff(
            Method::POST,
            &format!("/api/v1/staff/clinics/demo/kiosks/{}/revoke", h.kiosk_id),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = h.kiosk_get("/api/v1/kiosk/schedule", Some(&h.token)).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(b["message"].as_str().unwrap().contains("revoked"));
}

// ---------------------------------------------------------------- schedule

#[tokio::test]
async fn the_schedule_is_a_snapshot_then_a_tiny_delta() {
    let h = Harness::new().await;
    let (s, b) = h.kiosk_get("/api/v1/kiosk/schedule", Some(&h.token)).await;
    assert_eq!(s, StatusCode::OK);
    let full: ScheduleResponse = serde_json::from_value(b).unwrap();
    assert!(full.full);
    assert_eq!(full.upserts.len(), 42);
    assert!(full.upserts.iter().all(|a| a.clinic_id == "demo"));
    assert_eq!(full.window_from.to_string(), "2026-03-02");
    let twin = full.upserts.iter().find(|a| a.id == "demo-016").unwrap();
    assert_eq!(twin.patient.last_name, "García");
    assert!(full.upserts.iter().any(|a| a.coverage.is_none()));

    let path = format!("/api/v1/kiosk/schedule?since={}", full.cursor);
    let req = Request::get(&path)
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .body(Body::empty())
        .unwrap();
    let (s, _, bytes) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::OK);
    assert!(bytes.len() <= 1024, "empty delta is {} bytes", bytes.len());
    let delta: ScheduleResponse = serde_json::from_slice(&bytes).unwrap();
    assert!(!delta.full && delta.upserts.is_empty() && delta.removals.is_empty());

    // An arrival from a kiosk shows up in the next delta.
    let (s, _) = h
        .events(vec![event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "arrived"}),
        )])
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = h.kiosk_get(&path, Some(&h.token)).await;
    let delta: ScheduleResponse = serde_json::from_value(b).unwrap();
    assert_eq!(delta.upserts.len(), 1);
    assert_eq!(delta.upserts[0].status, "arrived");

    // An unknown cursor gets the snapshot again; a malformed query is 400.
    let (_, b) = h
        .kiosk_get("/api/v1/kiosk/schedule?since=bogus", Some(&h.token))
        .await;
    assert_eq!(b["full"], true);
    let (s, b) = h
        .kiosk_get("/api/v1/kiosk/schedule?surprise=1", Some(&h.token))
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_query");
}

// ---------------------------------------------------------------- events

fn full_batch() -> Vec<Value> {
    vec![
        event(Uuid::new_v4(), Some("demo-003"), json!({"type": "arrived"})),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "phi_viewed", "what": "identity"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "flag", "code": "insurance_changed", "step": "insurance", "text": "Patient reported new insurance"}),
        ),
        event(
            Uuid::new_v4(),
            None,
            json!({"type": "flag", "code": "identity_not_found", "step": "not_found", "text": "Patient could not be found"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "demographics_proposed", "patient_id": "demo-p003", "demographics": {"address": {"line1": "1 New Road", "city": "Albany"}, "phone": "518-555-0100", "email": "new@example.com"}}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "coverage_proposed", "patient_id": "demo-p003", "coverage": {"payer": "Cigna", "member_id": "CG123456", "group": "G9"}}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "copay_chosen", "choice": "front_desk", "amount_cents": 2500, "currency": "USD"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "demographics_confirmed", "patient_id": "demo-p003"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "checked_in"}),
        ),
    ]
}

#[tokio::test]
async fn a_replayed_batch_is_acknowledged_and_has_exactly_one_effect() {
    let h = Harness::new().await;
    let batch = full_batch();
    let flags_before = h.count("SELECT COUNT(*) FROM flags");
    let (s, b) = h.events(batch.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let r: EventBatchResponse = serde_json::from_value(b).unwrap();
    assert_eq!(r.results.len(), batch.len());
    assert!(
        r.results.iter().all(|x| x.status == EventStatus::Accepted),
        "{r:?}"
    );

    for _ in 0..2 {
        let (s, b) = h.events(batch.clone()).await;
        assert_eq!(s, StatusCode::OK);
        let r: EventBatchResponse = serde_json::from_value(b).unwrap();
        assert!(
            r.results.iter().all(|x| x.status == EventStatus::Duplicate),
            "{r:?}"
        );
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM events"), 9);
    assert_eq!(h.count("SELECT COUNT(*) FROM flags") - flags_before, 2);
    assert_eq!(h.count("SELECT COUNT(*) FROM proposed_changes"), 2);
    assert_eq!(h.count("SELECT COUNT(*) FROM copay_items"), 1);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit WHERE action = 'phi_viewed'"),
        1
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM appointments WHERE clinic_id = 'demo' AND appointment_id = 'demo-003' AND status = 'checked_in'"), 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM patients WHERE clinic_id = 'demo' AND patient_id = 'demo-p003' AND demographics_confirmed_ms IS NOT NULL"), 1);

    // A duplicate within one batch is also caught.
    let id = Uuid::new_v4();
    let one = event(id, Some("demo-004"), json!({"type": "arrived"}));
    let (_, b) = h.events(vec![one.clone(), one]).await;
    assert_eq!(b["results"][0]["status"], "accepted");
    assert_eq!(b["results"][1]["status"], "duplicate");
}

#[tokio::test]
async fn bad_events_are_rejected_one_by_one_and_change_nothing() {
    let h = Harness::new().await;
    let good = Uuid::new_v4();
    let batch = vec![
        event(
            Uuid::new_v4(),
            Some("no-such-appt"),
            json!({"type": "arrived"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "flag", "code": "bored", "step": "welcome", "text": ""}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "demographics_confirmed", "patient_id": "demo-p999"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "copay_chosen", "choice": "barter", "amount_cents": 1, "currency": "USD"}),
        ),
        event(
            Uuid::new_v4(),
            Some("demo-003"),
            json!({"type": "copay_chosen", "choice": "front_desk", "amount_cents": 1, "currency": "EUR"}),
        ),
        event(Uuid::new_v4(), None, json!({"type": "checked_in"})),
        event(good, Some("demo-003"), json!({"type": "arrived"})),
    ];
    let flags = h.count("SELECT COUNT(*) FROM flags");
    let (s, b) = h.events(batch.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let r: EventBatchResponse = serde_json::from_value(b).unwrap();
    for x in &r.results[..6] {
        assert_eq!(x.status, EventStatus::Rejected, "{x:?}");
        assert!(x.reason.as_ref().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(r.results[6].status, EventStatus::Accepted);
    assert_eq!(h.count("SELECT COUNT(*) FROM events"), 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM flags"), flags);
    assert_eq!(h.count("SELECT COUNT(*) FROM copay_items"), 0);
    // Rejections are judged again on replay; they do not become duplicates.
    let (_, b) = h.events(batch).await;
    assert_eq!(b["results"][0]["status"], "rejected");
    assert_eq!(b["results"][6]["status"], "duplicate");
}

#[tokio::test]
async fn every_bad_body_class_gets_its_status_and_stores_nothing() {
    let h = Harness::new().await;
    let path = "/api/v1/kiosk/events";
    let t = Some(h.token.as_str());
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        ("application/json", "{\"events\": [".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("application/json", "not json".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("application/json", "".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("application/json", json!({"events": "many"}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        ("application/json", json!({"events": [event(Uuid::new_v4(), None, json!({"type": "teleported"}))]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        ("application/json", json!({"events": [], "extra": 1}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        ("application/json", json!({"events": [{"id": "not-a-uuid", "occurred_at": noon(), "body": {"type": "arrived"}}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        ("application/json", json!({"events": [{"id": Uuid::new_v4(), "occurred_at": 5, "body": {"type": "arrived"}}]}).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_json"),
        ("text/plain", json!({"events": []}).to_string(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", "events=1".into(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("application/json", format!("{{\"events\": [], \"pad\": \"{}\"}}", "x".repeat(70 * 1024)), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (ct, body, want, code) in cases {
        let (s, _, b) = h.post_raw(path, t, ct, body.clone()).await;
        assert_error(s, &b, want, code);
    }
    // Too many events for one batch.
    let many: Vec<Value> = (0..51)
        .map(|_| event(Uuid::new_v4(), Some("demo-003"), json!({"type": "arrived"})))
        .collect();
    let (s, b) = h.events(many).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // No content type at all.
    let req = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", h.token))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        send(&h.app, req).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM events"), 0);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM appointments WHERE status = 'arrived'"),
        0
    );
}

// ---------------------------------------------------------------- heartbeat and fleet

#[tokio::test]
async fn heartbeats_fill_the_fleet_view_which_goes_offline_after_missed_beats() {
    let h = Harness::new().await;
    let hb = json!({"app_version": "0.2.0", "outbox_depth": 3, "outbox_oldest_age_secs": 40, "last_sync_at": noon(), "online": true});
    let (s, _, b) = h
        .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), hb.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["server_time"].is_string());
    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/kiosks", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let k = &b[0];
    assert_eq!(k["id"], h.kiosk_id.as_str());
    assert_eq!(k["app_version"], "0.2.0");
    assert_eq!(k["outbox_depth"], 3);
    assert_eq!(k["outbox_oldest_age_secs"], 40);
    assert_eq!(k["online"], true);
    assert_eq!(k["clock_skew_secs"], Value::Null, "not measured yet");

    // A kiosk 7 minutes slow is shown so, and counted in /metrics; a beat
    // that carries no measurement keeps the last one.
    let mut slow = hb.clone();
    slow["clock_skew_secs"] = json!(-420);
    for beat in [slow, hb.clone()] {
        let (s, _, b) = h
            .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), beat)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, b) = h
            .staff_json(Method::GET, "/api/v1/staff/clinics/demo/kiosks", None)
            .await;
        assert_eq!(b[0]["clock_skew_secs"], -420);
    }
    let (_, _, metrics) = send(
        &server::metrics_app(h.state.clone()),
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("clinic_kiosks_clock_skewed{clinic=\"demo\"} 1"),
        "{metrics}"
    );
    // A skew beyond ten years is a broken clock, refused with a reason,
    // and the last measurement stays.
    let mut broken = hb.clone();
    broken["clock_skew_secs"] = json!(-400_000_000_i64);
    let (s, _, b) = h
        .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), broken)
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    assert!(
        b["message"].as_str().unwrap().contains("clock_skew_secs"),
        "{b}"
    );
    let (_, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/kiosks", None)
        .await;
    assert_eq!(b[0]["clock_skew_secs"], -420);

    let after = h.state.config().server.offline_after() + chrono::Duration::seconds(1);
    h.clock.advance(after);
    let (_, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/kiosks", None)
        .await;
    assert_eq!(b[0]["online"], false);

    let (s, _, b) = h
        .post_json("/api/v1/kiosk/heartbeat", None, hb.clone())
        .await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, _, b) = h
        .post_json(
            "/api/v1/kiosk/heartbeat",
            Some(&h.token),
            json!({"app_version": "0.2.0"}),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_json");
    let mut neg = hb;
    neg["outbox_depth"] = json!(-1);
    let (s, _, _) = h
        .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), neg)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The other clinic's user cannot see this fleet.
    let olga = h.login("olga").await;
    let req = Request::get("/api/v1/staff/clinics/demo/kiosks")
        .header(header::COOKIE, olga)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, req).await.0, StatusCode::FORBIDDEN);
}

/// The id of the open flag raised by client event `event_id`.
fn flag_id_of(h: &Harness, event_id: Uuid) -> i64 {
    h.count(&format!(
        "SELECT flag_id FROM flags WHERE event_id = '{event_id}'"
    ))
}

#[tokio::test]
async fn a_heartbeat_reply_lists_this_kiosks_help_requests_staff_resolved() {
    let h = Harness::new().await;
    let hb = json!({"app_version": "0.2.0", "outbox_depth": 0, "online": true});
    let beat = || async {
        let (s, _, b) = h
            .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), hb.clone())
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let mut ids: Vec<Uuid> = b
            .get("help_answered")
            .map(|v| serde_json::from_value(v.clone()).unwrap())
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let help = Uuid::new_v4();
    let not_found = Uuid::new_v4();
    let other_code = Uuid::new_v4();
    let open_help = Uuid::new_v4();
    let (s, b) = h
        .events(vec![
            event(help, Some("demo-003"), json!({"type": "flag", "code": "help_requested", "step": "insurance", "text": "Patient asked for help"})),
            event(not_found, None, json!({"type": "flag", "code": "identity_not_found", "step": "not_found", "text": "Patient could not be found"})),
            event(other_code, Some("demo-003"), json!({"type": "flag", "code": "insurance_changed", "step": "insurance", "text": "Patient reported new insurance"})),
            event(open_help, None, json!({"type": "flag", "code": "help_requested", "step": "welcome", "text": "Patient asked for help"})),
        ])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(beat().await, Vec::<Uuid>::new(), "nothing resolved yet");

    for id in [help, not_found, other_code] {
        let path = format!(
            "/api/v1/staff/clinics/demo/flags/{}/resolve",
            flag_id_of(&h, id)
        );
        let (s, b) = h
            .staff_json(Method::POST, &path, Some(json!({"note": "At the desk"})))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // Only help flags, only resolved ones, and only this kiosk's.
    let mut expected = vec![help, not_found];
    expected.sort();
    assert_eq!(beat().await, expected);
    let (other_token, _) = enroll_and_sign_in(&h.app, &h.code("demo"), "amy").await;
    let (s, _, b) = h
        .post_json("/api/v1/kiosk/heartbeat", Some(&other_token), hb.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b.get("help_answered").is_none(), "{b}");

    // Old answers age out of the reply.
    let window = checkin_kiosk::protocol::HELP_ANSWERED_WINDOW_SECS;
    h.clock.advance(chrono::Duration::seconds(window + 1));
    assert_eq!(beat().await, Vec::<Uuid>::new());
}

// ---------------------------------------------------------------- staff sessions

#[tokio::test]
async fn staff_sign_in_is_strict_csrf_checked_and_throttled() {
    let h = Harness::new().await;
    let login = |user: &str, pw: &str, csrf: bool| {
        let mut req =
            Request::post("/api/v1/staff/login").header(header::CONTENT_TYPE, "application/json");
        if csrf {
            req = req.header("x-requested-with", "test");
        }
        req.body(Body::from(
            json!({"username": user, "password": pw}).to_string(),
        ))
        .unwrap()
    };
    let (s, headers, _) = send(&h.app, login("amy", PASSWORD, true)).await;
    assert_eq!(s, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(
        send(&h.app, login("amy", PASSWORD, false)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&h.app, login("nobody", PASSWORD, true)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // "nobody" was this address's first failure.
    for _ in 1..staff::MAX_LOGIN_FAILURES {
        assert_eq!(
            send(&h.app, login("amy", "wrong password!", true)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, headers, _) = send(&h.app, login("amy", PASSWORD, true)).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "this address waits, even with the right password"
    );
    assert!(headers.contains_key(header::RETRY_AFTER));

    // Session use: GET works without CSRF, POST does not.
    let req = Request::get("/api/v1/staff/me")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(to_json(&b)["clinics"][0]["id"], "demo");
    let req = Request::post("/api/v1/staff/clinics/demo/enrollment-codes")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(to_json(&b)["error"], "csrf");
    let req = Request::get("/api/v1/staff/me")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, req).await.0, StatusCode::UNAUTHORIZED);

    // Sessions expire, and logout ends them.
    h.clock
        .advance(h.state.config().server.staff_session + chrono::Duration::seconds(1));
    assert_eq!(
        h.staff(Method::GET, "/api/v1/staff/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.clock.set(noon());
    let (s, headers, _) = h.staff(Method::POST, "/api/v1/staff/logout", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        h.staff(Method::GET, "/api/v1/staff/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------- staff queues

#[tokio::test]
async fn staff_see_todays_appointments_and_resolve_flags() {
    let h = Harness::new().await;
    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/appointments", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let list: StaffAppointments = serde_json::from_value(b).unwrap();
    assert_eq!(list.appointments.len(), 42);
    assert_eq!(list.day.to_string(), "2026-03-02");
    assert!(list.appointments.iter().any(|a| a.status == "checked_in"));
    assert_eq!(
        h.count(
            "SELECT COUNT(*) FROM audit WHERE action = 'viewed_appointments' AND actor_id = 'amy'"
        ),
        1
    );

    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/flags", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let flags = b.as_array().unwrap();
    assert_eq!(flags.len(), 18, "one seeded flag per reason code");
    let id = flags[0]["id"].as_i64().unwrap();
    for key in ["code", "step", "kiosk_id", "raised_at"] {
        assert!(!flags[0][key].is_null(), "{key}");
    }
    let path = format!("/api/v1/staff/clinics/demo/flags/{id}/resolve");
    let (s, b) = h
        .staff_json(Method::POST, &path, Some(json!({"note": ""})))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    let (s, b) = h
        .staff_json(
            Method::POST,
            &path,
            Some(json!({"note": "Spoke to the patient", "x": 1})),
        )
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_json");
    let (s, b) = h
        .staff_json(
            Method::POST,
            &path,
            Some(json!({"note": "Spoke to the patient"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["resolved_by"], "amy");
    let (s, b) = h
        .staff_json(Method::POST, &path, Some(json!({"note": "again"})))
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "conflict");
    let (s, b) = h
        .staff_json(
            Method::POST,
            "/api/v1/staff/clinics/demo/flags/999999/resolve",
            Some(json!({"note": "x"})),
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = h
        .staff_json(
            Method::POST,
            "/api/v1/staff/clinics/demo/flags/abc/resolve",
            Some(json!({"note": "x"})),
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "bad_path");
    let (_, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/flags", None)
        .await;
    assert_eq!(b.as_array().unwrap().len(), 17);

    // Another clinic: 403, whether or not it exists.
    for clinic in ["other", "nowhere"] {
        let (s, b) = h
            .staff_json(
                Method::GET,
                &format!("/api/v1/staff/clinics/{clinic}/flags"),
                None,
            )
            .await;
        assert_error(s, &b, StatusCode::FORBIDDEN, "forbidden");
    }
    let (s, _) = h
        .staff_json(
            Method::POST,
            "/api/v1/staff/clinics/other/flags/1/resolve",
            Some(json!({"note": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[test]
fn a_database_from_before_the_status_checks_opens_and_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        server::schema::migrations()
            .to_version(&mut conn, 5)
            .unwrap();
    }
    // A version-5 database with a seeded day and a staff action on it.
    let config = config(dir.path());
    let day = noon()
        .with_timezone(&config.clinics[0].time_zone)
        .date_naive();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let before: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(before, 5);
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action) VALUES ('demo', 0, 'staff', 'amy', 'viewed_appointments')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let db = Db::open(&path).unwrap();
    demo::seed(&db, &config.clinics[0], day, noon()).unwrap();
    let (version, audits, appointments): (i64, i64, i64) = db
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT COUNT(*) FROM audit WHERE actor_id = 'amy'),
                        (SELECT COUNT(*) FROM appointments)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!(version, server::schema::SCHEMA_VERSION as i64);
    assert_eq!(audits, 1, "the old audit row is kept");
    assert!(appointments > 0);
    let stray = db.blocking(|c| {
        Ok(c.execute(
            "UPDATE appointments SET status = 'seated' WHERE clinic_id = 'demo'",
            [],
        )?)
    });
    assert!(stray.is_err(), "the status check holds");
}

/// Holds the writer connection on its own thread until the returned
/// sender is dropped or sent to; returns once it is held.
fn hold_the_writer(db: &Db) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let db = db.clone();
    let holder = std::thread::spawn(move || {
        db.blocking(|_| {
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
            Ok(())
        })
        .unwrap();
    });
    held_rx.recv().unwrap();
    (release_tx, holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_list_reads_proceed_while_the_writer_is_held() {
    let h = Harness::new().await;
    let (release, holder) = hold_the_writer(h.db());
    // With the writer held (as during a commit's fsync), the session check
    // and the lists that write nothing answer from the read connection. The
    // timeout only turns a regression (a read queued behind the writer)
    // into a failure instead of a hang.
    let reads = async {
        let mut answers = Vec::new();
        for path in [
            "me",
            "clinics/demo/flags",
            "clinics/demo/copays",
            "clinics/demo/kiosks",
        ] {
            let (s, b) = h
                .staff_json(Method::GET, &format!("/api/v1/staff/{path}"), None)
                .await;
            answers.push((path, s, b));
        }
        answers
    };
    let answers = tokio::time::timeout(StdDuration::from_secs(60), reads)
        .await
        .expect("staff reads waited for the writer");
    assert!(!holder.is_finished(), "the writer was held throughout");
    for (path, s, b) in &answers {
        assert_eq!(*s, StatusCode::OK, "{path}: {b}");
    }
    assert_eq!(
        answers[1].2.as_array().unwrap().len(),
        18,
        "every open flag"
    );
    release.send(()).unwrap();
    holder.join().unwrap();
    // A write still goes through the writer once it is free.
    let (s, _) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/appointments", None)
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_copay_queue_and_proposed_changes_are_worked_by_staff() {
    let h = Harness::new().await;
    let (s, _) = h.events(full_batch()).await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/copays", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let items = b.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["amount_cents"], 2500);
    let path = format!("/api/v1/staff/clinics/demo/copays/{}", items[0]["id"]);
    let (s, b) = h
        .staff_json(Method::POST, &path, Some(json!({"status": "refunded"})))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_json");
    let (s, b) = h
        .staff_json(Method::POST, &path, Some(json!({"status": "pending"})))
        .await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value");
    let (s, b) = h
        .staff_json(Method::POST, &path, Some(json!({"status": "collected"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "collected");
    let (s, _) = h
        .staff_json(Method::POST, &path, Some(json!({"status": "waived"})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, b) = h
        .staff_json(
            Method::GET,
            "/api/v1/staff/clinics/demo/copays?status=collected",
            None,
        )
        .await;
    assert_eq!(b.as_array().unwrap().len(), 1);
    let (s, _) = h
        .staff_json(
            Method::GET,
            "/api/v1/staff/clinics/demo/copays?status=lost",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/changes", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let changes = b.as_array().unwrap().clone();
    assert_eq!(changes.len(), 2);
    let demo_change = changes
        .iter()
        .find(|c| c["kind"] == "demographics")
        .unwrap();
    let cov_change = changes.iter().find(|c| c["kind"] == "coverage").unwrap();
    assert_eq!(demo_change["demographics"]["address"]["city"], "Albany");

    let approve = format!(
        "/api/v1/staff/clinics/demo/changes/{}/approve",
        demo_change["id"]
    );
    let (s, b) = h
        .staff_json(Method::POST, &approve, Some(json!({"note": "checked ID"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "approved");
    let (s, _) = h.staff_json(Method::POST, &approve, Some(json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let reject = format!(
        "/api/v1/staff/clinics/demo/changes/{}/reject",
        cov_change["id"]
    );
    let (s, b) = h.staff_json(Method::POST, &reject, Some(json!({}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "rejected");

    // The approved change is in the record kiosks pull; the rejected one is not.
    let (_, b) = h.kiosk_get("/api/v1/kiosk/schedule", Some(&h.token)).await;
    let a = b["upserts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "demo-003")
        .unwrap()
        .clone();
    assert_eq!(a["patient"]["demographics"]["address"]["city"], "Albany");
    assert_ne!(a["coverage"]["payer"], "Cigna");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM audit WHERE action = 'demographics_change_approved'"),
        1
    );
}

// ---------------------------------------------------------------- enrollment codes and passes

#[tokio::test]
async fn staff_create_enrollment_codes_and_fetch_passes() {
    let h = Harness::new().await;
    let (s, b) = h
        .staff_json(
            Method::POST,
            "/api/v1/staff/clinics/demo/enrollment-codes",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let code = b["code"].as_str().unwrap().to_string();
    let (s, _, _) = h
        .post_json("/api/v1/kiosk/enroll", None, enroll_body(&code))
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = h
        .staff_json(
            Method::GET,
            "/api/v1/staff/clinics/demo/appointments/demo-001/pass",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = b["pass"].as_str().unwrap();
    let verifier = PassVerifier::from_base64(&h.public_key).unwrap();
    let claims = verifier
        .verify(text, &ClinicId("demo".into()), noon())
        .unwrap();
    assert_eq!(claims.appointment_id.as_str(), "demo-001");
    assert!(
        verifier
            .verify(text, &ClinicId("other".into()), noon())
            .is_err()
    );

    let (s, headers, png) = h
        .staff(
            Method::GET,
            "/api/v1/staff/clinics/demo/appointments/demo-001/pass.png",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(decode_qr_png(&png), text);
    let (s, headers, svg) = h
        .staff(
            Method::GET,
            "/api/v1/staff/clinics/demo/appointments/demo-001/pass.svg",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    let (s, b) = h
        .staff_json(
            Method::GET,
            "/api/v1/staff/clinics/demo/appointments/nope/pass",
            None,
        )
        .await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, _) = h
        .staff_json(
            Method::GET,
            "/api/v1/staff/clinics/other/appointments/demo-001/pass.png",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Decodes the one QR code in a PNG with `rqrr`.
pub fn decode_qr_png(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let stride = info.line_size;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * stride + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    grids[0].decode().unwrap().1
}

// ---------------------------------------------------------------- live stream

#[tokio::test]
async fn an_arrival_reaches_the_staff_stream_within_a_second() {
    let h = Harness::new().await;
    let req = Request::get("/api/v1/staff/clinics/demo/stream")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();

    // Another clinic's change must not appear; this clinic's must.
    h.state.publish([checkin_kiosk::protocol::ChangeNotice {
        clinic_id: "other".into(),
        kind: "flag".into(),
        id: "1".into(),
    }]);
    let (s, _) = h
        .events(vec![event(
            Uuid::new_v4(),
            Some("demo-002"),
            json!({"type": "arrived"}),
        )])
        .await;
    assert_eq!(s, StatusCode::OK);
    let frame = tokio::time::timeout(StdDuration::from_secs(1), body.frame())
        .await
        .expect("a change within 1 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains("event: change"), "{text}");
    assert!(
        text.contains("\"clinic_id\":\"demo\"") && text.contains("demo-002"),
        "{text}"
    );

    let req = Request::get("/api/v1/staff/clinics/other/stream")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.app, req).await.0, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------- operations

#[tokio::test]
async fn operations_endpoints_answer_and_unknown_routes_are_json() {
    let h = Harness::new().await;
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let (s, headers, b) = send(&h.app, get("/healthz")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(to_json(&b)["status"], "ok");
    assert!(headers.contains_key("x-request-id"));

    h.events(full_batch()).await;
    let (s, headers, b) = send(&server::metrics_app(h.state.clone()), get("/metrics")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(b.to_vec()).unwrap();
    assert!(
        text.contains("clinic_events_ingested_total{status=\"accepted\"} 9"),
        "{text}"
    );
    assert!(
        text.contains("clinic_open_flags{clinic=\"demo\"} 20"),
        "{text}"
    );
    assert!(
        text.contains("clinic_kiosks_online{clinic=\"demo\"} 1"),
        "{text}"
    );
    assert!(text.contains("clinic_http_requests_total "));

    let (s, _, b) = send(&h.app, get("/openapi.json")).await;
    assert_eq!(s, StatusCode::OK);
    let doc = to_json(&b);
    for spec in server::routes::table() {
        assert!(
            doc["paths"][spec.path][spec.method.to_ascii_lowercase()].is_object(),
            "{}",
            spec.path
        );
    }
    assert!(doc["paths"]["/api/v1/kiosk/events"]["post"]["responses"]["413"].is_object());

    let (s, _, b) = send(&h.app, get("/no/such/thing")).await;
    assert_error(s, &to_json(&b), StatusCode::NOT_FOUND, "not_found");
    let req = Request::delete("/api/v1/kiosk/events")
        .body(Body::empty())
        .unwrap();
    let (s, _, b) = send(&h.app, req).await;
    assert_error(
        s,
        &to_json(&b),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}
