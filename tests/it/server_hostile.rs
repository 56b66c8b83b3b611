//! Integration tests: hostile and malformed input from kiosks and staff.
//! Every wire string has a length limit and an allowed character set,
//! event times and appointments are checked against the server, co-pays
//! against a sane range and the appointment, and proposed demographics
//! against the same field rules the kiosk applies. Each refused event gets
//! its own `rejected` result, and nothing of it is stored.

use axum::http::{Method, StatusCode};
use checkin_kiosk::protocol::{EventBatchResponse, EventStatus};
use serde_json::{Value, json};
use uuid::Uuid;

use super::server::{Harness, enroll_body, event, noon};

/// Row counts of every table that an event can write to.
fn footprint(h: &Harness) -> Vec<i64> {
    [
        "events",
        "flags",
        "proposed_changes",
        "copay_items",
        "audit",
        "kiosks",
    ]
    .iter()
    .map(|t| h.count(&format!("SELECT COUNT(*) FROM {t}")))
    .collect()
}

/// Sends one event and returns its result's status and reason.
async fn one(h: &Harness, ev: Value) -> (EventStatus, String) {
    let (s, b) = h.events(vec![ev]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let r: EventBatchResponse = serde_json::from_value(b).unwrap();
    let x = &r.results[0];
    (x.status, x.reason.clone().unwrap_or_default())
}

/// Asserts that `ev` is rejected with a reason containing `why`, and that
/// nothing was stored.
async fn refused(h: &Harness, ev: Value, why: &str) {
    let before = footprint(h);
    let (status, reason) = one(h, ev.clone()).await;
    assert_eq!(status, EventStatus::Rejected, "{ev}");
    assert!(reason.contains(why), "{reason:?} should mention {why:?}");
    assert!(reason.chars().count() < 300, "the reason echoes the input");
    assert_eq!(footprint(h), before, "{ev}");
}

fn demographics(line1: &str, phone: &str, email: &str) -> Value {
    json!({
        "type": "demographics_proposed",
        "patient_id": "demo-p003",
        "demographics": {
            "address": {"line1": line1, "line2": "", "city": "New York", "region": "NY", "postal_code": "10001"},
            "phone": phone,
            "email": email
        }
    })
}

#[tokio::test]
async fn oversized_and_invisible_strings_in_events_are_rejected_one_by_one() {
    let h = Harness::new().await;
    let appt = Some("demo-003");
    let long = "A".repeat(5_000);
    refused(
        &h,
        event(
            Uuid::new_v4(),
            appt,
            demographics(&long, "212-555-0100", ""),
        ),
        "address.line1 is longer than 100",
    )
    .await;
    refused(
        &h,
        event(
            Uuid::new_v4(),
            appt,
            json!({"type": "flag", "code": "help_requested", "step": long, "text": ""}),
        ),
        "step",
    )
    .await;
    refused(
        &h,
        event(
            Uuid::new_v4(),
            appt,
            json!({"type": "flag", "code": "help_requested", "step": "help", "text": "A\u{202E}B"}),
        ),
        "invisible",
    )
    .await;
    refused(
        &h,
        event(
            Uuid::new_v4(),
            appt,
            json!({"type": "coverage_proposed", "patient_id": "demo-p003", "coverage": {"payer": "Aetna\u{0000}", "member_id": "W1234567"}}),
        ),
        "payer",
    )
    .await;
    // One bad event does not take its good neighbour down with it.
    let good = Uuid::new_v4();
    let (s, b) = h
        .events(vec![
            event(
                Uuid::new_v4(),
                appt,
                demographics("1 Main St\u{200B}", "", ""),
            ),
            event(good, appt, json!({"type": "arrived"})),
        ])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["results"][0]["status"], "rejected");
    assert_eq!(b["results"][1]["status"], "accepted");
}

#[tokio::test]
async fn unknown_nested_fields_are_refused() {
    let h = Harness::new().await;
    let before = footprint(&h);
    let mut body = demographics("2 New Rd", "212-555-0100", "");
    body["demographics"]["address"]["evil"] = json!({"nested": true});
    let (s, b) = h
        .events(vec![event(Uuid::new_v4(), Some("demo-003"), body)])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["message"].as_str().unwrap().contains("evil"), "{b}");
    let mut body = json!({"type": "coverage_proposed", "patient_id": "demo-p003", "coverage": {"payer": "Aetna", "member_id": "W1234567", "plan": "Gold"}});
    let (s, _) = h
        .events(vec![event(Uuid::new_v4(), Some("demo-003"), body.take())])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(footprint(&h), before);
}

#[tokio::test]
async fn events_need_a_real_appointment_of_the_clinic_and_a_sane_time() {
    let h = Harness::new().await;
    let flag = json!({"type": "flag", "code": "help_requested", "step": "help", "text": "Patient asked for help"});
    refused(
        &h,
        event(Uuid::new_v4(), Some("no/such/appt\u{0000}"), flag.clone()),
        "invisible",
    )
    .await;
    refused(
        &h,
        event(Uuid::new_v4(), Some("no-such-appt"), flag.clone()),
        "unknown appointment",
    )
    .await;
    for at in [
        "0000-01-01T00:00:00Z".to_string(),
        (noon() - chrono::Duration::days(40)).to_rfc3339(),
        (noon() + chrono::Duration::hours(25)).to_rfc3339(),
    ] {
        let mut ev = event(Uuid::new_v4(), Some("demo-003"), flag.clone());
        ev["occurred_at"] = json!(at);
        refused(&h, ev, "occurred_at").await;
    }
    // An offline kiosk's events from last week still count.
    let mut ev = event(Uuid::new_v4(), Some("demo-003"), flag.clone());
    ev["occurred_at"] = json!((noon() - chrono::Duration::days(7)).to_rfc3339());
    assert_eq!(one(&h, ev).await.0, EventStatus::Accepted);
    // A flag with no appointment still works.
    assert_eq!(
        one(&h, event(Uuid::new_v4(), None, flag)).await.0,
        EventStatus::Accepted
    );
}

#[tokio::test]
async fn co_pays_outside_the_sane_range_are_rejected_and_a_mismatch_is_flagged() {
    let h = Harness::new().await;
    let expected: i64 = h.count(
        "SELECT expected_copay_cents FROM appointments WHERE clinic_id = 'demo' AND appointment_id = 'demo-003'",
    );
    let pay = |cents: i64| json!({"type": "copay_chosen", "choice": "front_desk", "amount_cents": cents, "currency": "USD"});
    refused(
        &h,
        event(Uuid::new_v4(), Some("demo-003"), pay(i64::MAX)),
        "above this clinic's largest co-pay",
    )
    .await;
    refused(
        &h,
        event(Uuid::new_v4(), Some("demo-003"), pay(1_000_001)),
        "above",
    )
    .await;
    refused(
        &h,
        event(Uuid::new_v4(), Some("demo-003"), pay(-1)),
        "amount_cents",
    )
    .await;

    // In range but not what the server expects: accepted, kept at the
    // expected amount, and flagged for staff.
    let flags = h.count(
        "SELECT COUNT(*) FROM flags WHERE code = 'copay_mismatch' AND appointment_id = 'demo-003'",
    );
    let reported = expected + 1234;
    let (status, _) = one(&h, event(Uuid::new_v4(), Some("demo-003"), pay(reported))).await;
    assert_eq!(status, EventStatus::Accepted);
    assert_eq!(
        h.count("SELECT amount_cents FROM copay_items WHERE appointment_id = 'demo-003'"),
        expected
    );
    assert_eq!(
        h.count("SELECT COUNT(*) FROM flags WHERE code = 'copay_mismatch' AND appointment_id = 'demo-003'"),
        flags + 1
    );
    let (_, list) = h
        .staff_json(Method::GET, "/api/v1/staff/clinics/demo/flags", None)
        .await;
    let text = list
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["code"] == "copay_mismatch"
                && f["appointment_id"] == "demo-003"
                && f["kiosk_id"] != "demo-seed"
        })
        .map(|f| f["text"].as_str().unwrap().to_string())
        .unwrap();
    assert!(
        text.contains(&format!("{}.{:02}", reported / 100, reported % 100)),
        "{text}"
    );

    // The expected amount raises no flag.
    let mismatches = h.count("SELECT COUNT(*) FROM flags WHERE code = 'copay_mismatch'");
    let (status, _) = one(&h, event(Uuid::new_v4(), Some("demo-003"), pay(expected))).await;
    assert_eq!(status, EventStatus::Accepted);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM flags WHERE code = 'copay_mismatch'"),
        mismatches
    );
}

#[tokio::test]
async fn proposed_demographics_follow_the_kiosks_field_rules() {
    let h = Harness::new().await;
    let appt = Some("demo-003");
    refused(
        &h,
        event(Uuid::new_v4(), appt, demographics("2 New Rd", "AIJ28", "")),
        "phone must be a 10-digit US phone number",
    )
    .await;
    refused(
        &h,
        event(
            Uuid::new_v4(),
            appt,
            demographics("2 New Rd", "212-555-0100", "AB"),
        ),
        "email",
    )
    .await;
    let mut zip = demographics("2 New Rd", "212-555-0100", "");
    zip["demographics"]["address"]["postal_code"] = json!("1234");
    refused(&h, event(Uuid::new_v4(), appt, zip), "ZIP").await;
    let mut state = demographics("2 New Rd", "212-555-0100", "");
    state["demographics"]["address"]["region"] = json!("ZZ");
    refused(&h, event(Uuid::new_v4(), appt, state), "state").await;
    let mut contact = demographics("2 New Rd", "212-555-0100", "");
    contact["demographics"]["emergency_contact"] =
        json!({"name": "<b>Rosa</b>", "relation": "Sister", "phone": "2125550199"});
    refused(
        &h,
        event(Uuid::new_v4(), appt, contact),
        "emergency_contact.name",
    )
    .await;

    // Valid changes, a line 2 and a new emergency contact are accepted.
    let mut ok = demographics("2 New Rd", "(518) 555-0100", "ana.new@example.org");
    ok["demographics"]["address"]["line2"] = json!("Apt 5B");
    ok["demographics"]["emergency_contact"] =
        json!({"name": "Rosa Núñez", "relation": "Sister", "phone": "2125550199"});
    let changes = h.count("SELECT COUNT(*) FROM proposed_changes");
    let (status, reason) = one(&h, event(Uuid::new_v4(), appt, ok)).await;
    assert_eq!(status, EventStatus::Accepted, "{reason}");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM proposed_changes"),
        changes + 1
    );
}

#[tokio::test]
async fn kiosk_names_and_versions_are_checked_at_enrollment_and_heartbeat() {
    let h = Harness::new().await;
    let kiosks = h.count("SELECT COUNT(*) FROM kiosks");
    for name in [
        "Lobby\u{202E}1",
        "Lobby\u{0000}",
        "<img src=x onerror=alert(1)>",
        &"K".repeat(61),
    ] {
        let mut body = enroll_body(&h.code("demo"));
        body["kiosk_name"] = json!(name);
        let (s, _, b) = h.post_json("/api/v1/kiosk/enroll", None, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {b}");
        assert!(b["message"].as_str().unwrap().contains("kiosk_name"), "{b}");
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM kiosks"), kiosks);

    let version = |h: &Harness| -> String {
        h.db()
            .blocking(|c| {
                Ok(c.query_row(
                    "SELECT app_version FROM kiosks WHERE kiosk_id = ?1",
                    [&h.kiosk_id],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    };
    let before = version(&h);
    for (app_version, extra) in [
        ("\u{0000}", json!({})),
        ("0.1.0\u{202E}", json!({})),
        ("0.1.0", json!({"outbox_depth": u64::MAX})),
        ("0.1.0", json!({"last_sync_at": "0000-01-01T00:00:00Z"})),
    ] {
        let mut hb = json!({"app_version": app_version, "outbox_depth": 0, "online": true});
        for (k, v) in extra.as_object().unwrap() {
            hb[k] = v.clone();
        }
        let (s, _, b) = h
            .post_json("/api/v1/kiosk/heartbeat", Some(&h.token), hb)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    }
    assert_eq!(version(&h), before);
}

#[tokio::test]
async fn staff_notes_get_the_same_limits() {
    let h = Harness::new().await;
    let id =
        h.count("SELECT MIN(flag_id) FROM flags WHERE clinic_id = 'demo' AND resolved_ms IS NULL");
    let path = format!("/api/v1/staff/clinics/demo/flags/{id}/resolve");
    for note in ["Helped\u{202E}", "ok\u{0000}", &"n".repeat(1001)] {
        let (s, b) = h
            .staff_json(Method::POST, &path, Some(json!({"note": note})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(b["message"].as_str().unwrap().contains("note"), "{b}");
    }
    assert_eq!(
        h.count(&format!(
            "SELECT COUNT(*) FROM flags WHERE flag_id = {id} AND resolved_ms IS NULL"
        )),
        1
    );
    // A note over two lines is fine.
    let (s, b) = h
        .staff_json(
            Method::POST,
            &path,
            Some(json!({"note": "Called the payer.\nAll set."})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_stored_oversized_proposal_cannot_be_approved() {
    let h = Harness::new().await;
    // As a proposal stored before these limits existed would be.
    let payload = json!({"kind": "demographics", "demographics": {"address": {"line1": "x".repeat(400_000)}, "phone": "", "email": ""}});
    let id: i64 = h
        .db()
        .blocking(move |c| {
            Ok(c.query_row(
                "INSERT INTO proposed_changes (clinic_id, event_id, kiosk_id, appointment_id, patient_id, kind, payload, proposed_ms)
                 VALUES ('demo', 'legacy', 'k', 'demo-003', 'demo-p003', 'demographics', ?1, 0) RETURNING change_id",
                [payload.to_string()],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let before = demographics_on_file(&h);
    let (s, b) = h
        .staff_json(
            Method::POST,
            &format!("/api/v1/staff/clinics/demo/changes/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let after = demographics_on_file(&h);
    assert_eq!(after, before);
    // Rejecting it still works.
    let (s, _) = h
        .staff_json(
            Method::POST,
            &format!("/api/v1/staff/clinics/demo/changes/{id}/reject"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// The stored demographics of the demo patient the proposals are for.
fn demographics_on_file(h: &Harness) -> String {
    h.db()
        .blocking(|c| {
            Ok(c.query_row(
                "SELECT demographics FROM patients WHERE clinic_id = 'demo' AND patient_id = 'demo-p003'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap()
}
