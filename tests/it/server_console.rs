//! Integration tests of what the staff console needs from the server,
//! through `app(state)` with `oneshot`: the embedded page and its assets
//! (types, cache validation, security headers, OpenAPI), the server-side
//! check-in state with its no-show rule, the on-file side of proposed
//! changes, and staff streams ending when the server shuts down.

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Duration;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::server::{Harness, event, send};

async fn get(h: &Harness, path: &str, if_none_match: Option<&str>) -> axum::response::Response {
    let mut req = Request::get(path);
    if let Some(tag) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, tag);
    }
    h.app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_validating_caches() {
    let h = Harness::new().await;
    for (path, media, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<title>Check-in console</title>",
        ),
        ("/console.css", "text/css; charset=utf-8", "--primary"),
        (
            "/console.js",
            "text/javascript; charset=utf-8",
            "EventSource",
        ),
    ] {
        let resp = get(&h, path, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], media, "{path}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains(needle),
            "{path} lacks {needle}"
        );

        // The browser's copy is current: 304, no body, same tag.
        let resp = get(&h, path, Some(&etag)).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(resp.headers()[header::ETAG].to_str().unwrap(), etag);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(body.is_empty());
        // A stale copy gets the file again.
        let resp = get(&h, path, Some("\"stale\"")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }

    // The page is public (it shows the sign-in form) but the data is not.
    let (s, _, _) = send(
        &h.app,
        Request::get("/api/v1/staff/clinics/demo/appointments")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let resp = get(&h, "/openapi.json", None).await;
    let doc: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    for path in ["/", "/console.css", "/console.js"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    assert!(
        doc["paths"]["/"]["get"]["responses"]["200"]["content"]["text/html; charset=utf-8"]
            .is_object()
    );

    // Only GET: a POST to the page is a JSON 405.
    let req = Request::post("/").body(Body::empty()).unwrap();
    let (s, _, b) = send(&h.app, req).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(b["error"], "method_not_allowed");
}

fn state_of<'a>(list: &'a Value, id: &str) -> &'a str {
    list["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no {id}"))["check_in_state"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn appointments_carry_a_check_in_state_with_no_show_after_the_window() {
    let h = Harness::new().await;
    let path = "/api/v1/staff/clinics/demo/appointments";

    // Noon: the 08:00 appointment ended long ago, the 16:50 one is ahead.
    let (s, list) = h.staff_json(Method::GET, path, None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(state_of(&list, "demo-001"), "no_show");
    assert_eq!(state_of(&list, "demo-042"), "scheduled");
    assert_eq!(state_of(&list, "demo-009"), "checked_in");
    assert_eq!(state_of(&list, "demo-024"), "cancelled");
    // The stored status is untouched: the kiosk schedule still says booked.
    let a = list["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "demo-001")
        .unwrap();
    assert_eq!(a["status"], "booked");

    // A booked appointment is still expected until 15 minutes after its
    // end, and a no-show after that.
    let id = list["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            let end: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(a["end"].clone()).unwrap();
            a["status"] == "booked"
                && end > h.clock_now()
                && end < h.clock_now() + Duration::minutes(60)
        })
        .map(|a| a["id"].as_str().unwrap().to_string())
        .expect("an appointment ending soon after noon");
    let end: chrono::DateTime<chrono::Utc> = serde_json::from_value(
        list["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id.as_str())
            .unwrap()["end"]
            .clone(),
    )
    .unwrap();
    h.clock.set(end + Duration::minutes(14));
    let (_, list) = h.staff_json(Method::GET, path, None).await;
    assert_eq!(state_of(&list, &id), "scheduled");
    h.clock.set(end + Duration::minutes(16));
    let (_, list) = h.staff_json(Method::GET, path, None).await;
    assert_eq!(state_of(&list, &id), "no_show");

    // A late arrival turns a no-show into arrived, then checked in.
    let (s, _) = h
        .events(vec![event(
            Uuid::new_v4(),
            Some("demo-001"),
            json!({"type": "arrived"}),
        )])
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = h.staff_json(Method::GET, path, None).await;
    assert_eq!(state_of(&list, "demo-001"), "arrived");
    h.events(vec![event(
        Uuid::new_v4(),
        Some("demo-001"),
        json!({"type": "checked_in"}),
    )])
    .await;
    let (_, list) = h.staff_json(Method::GET, path, None).await;
    assert_eq!(state_of(&list, "demo-001"), "checked_in");
}

#[tokio::test]
async fn proposed_changes_show_what_is_on_file_beside_the_proposal() {
    let h = Harness::new().await;
    let (s, _) = h
        .events(vec![
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
                Some("demo-020"),
                json!({"type": "coverage_proposed", "patient_id": "demo-p020", "coverage": {"payer": "Aetna", "member_id": "A12345", "group": ""}}),
            ),
        ])
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/changes", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let changes = b.as_array().unwrap();
    assert_eq!(changes.len(), 3);
    let find = |appt: &str, kind: &str| {
        changes
            .iter()
            .find(|c| c["appointment_id"] == appt && c["kind"] == kind)
            .unwrap()
            .clone()
    };

    let demo = find("demo-003", "demographics");
    assert_eq!(demo["demographics"]["address"]["city"], "Albany");
    assert_eq!(
        demo["on_file"]["demographics"]["address"]["city"],
        "Springfield"
    );
    assert_eq!(demo["on_file"]["demographics"]["phone"], "212-555-0103");
    assert!(demo["on_file"].get("coverage").is_none());

    let cov = find("demo-003", "coverage");
    assert_eq!(cov["coverage"]["payer"], "Cigna");
    assert_eq!(cov["on_file"]["coverage"]["payer"], "UnitedHealthcare");
    assert!(cov["on_file"].get("demographics").is_none());

    // Nothing on file: the console shows an empty "on file" column.
    let none = find("demo-020", "coverage");
    assert_eq!(none["on_file"], json!({}));

    // After approval the record is the proposal.
    let (s, b) = h
        .staff_json(
            Method::POST,
            &format!("/api/v1/staff/clinics/demo/changes/{}/approve", demo["id"]),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["on_file"]["demographics"]["address"]["city"], "Albany");
}

#[tokio::test]
async fn staff_streams_end_when_the_server_shuts_down() {
    let h = Harness::new().await;
    let req = Request::get("/api/v1/staff/clinics/demo/stream")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // Open: nothing arrives on its own.
    assert!(
        tokio::time::timeout(StdDuration::from_millis(200), body.frame())
            .await
            .is_err()
    );
    h.state.close_streams();
    let end = tokio::time::timeout(StdDuration::from_secs(1), body.frame())
        .await
        .expect("the stream ends at shutdown");
    assert!(end.is_none(), "no more frames after shutdown");
    // A stream opened during shutdown ends at once too.
    let req = Request::get("/api/v1/staff/clinics/demo/stream")
        .header(header::COOKIE, &h.cookie)
        .body(Body::empty())
        .unwrap();
    let resp = h.app.clone().oneshot(req).await.unwrap();
    let mut body = resp.into_body();
    let end = tokio::time::timeout(StdDuration::from_secs(1), body.frame())
        .await
        .expect("ends at once");
    assert!(end.is_none());
}

#[tokio::test]
async fn the_console_gets_its_reason_and_step_words_from_the_server() {
    let h = Harness::new().await;
    let (s, me) = h.staff_json(Method::GET, "/api/v1/staff/me", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let words = |key: &str| -> std::collections::BTreeMap<String, String> {
        me[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["code"].as_str().unwrap().to_string(),
                    r["label"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let reasons = words("reasons");
    for code in checkin_kiosk::domain::ReasonCode::ALL {
        assert_eq!(reasons[code.as_str()], code.staff_label(), "{code}");
    }
    assert_eq!(reasons["help_requested"], "Asked for help");
    let steps = words("steps");
    assert_eq!(steps.len(), checkin_kiosk::domain::Step::NAMES.len());
    assert_eq!(steps["copay"], "Co-pay");
    // The console keeps no copy of them.
    let js = include_str!("../../src/server/console/console.js");
    assert!(
        !js.contains("'Asked for help'"),
        "console.js still has its own words"
    );
}
