//! Pure translation of a completed intake form into the FHIR R4 resources
//! written back to the EHR: the QuestionnaireResponse, an Observation for
//! a screener's total score (PHQ-2, PHQ-9, GAD-7), and a Consent carrying
//! the patient's signature: the drawing as a PNG, or, for a patient who
//! signed by keypad, the name they typed as a plain-text attachment with a
//! `verification` saying the patient confirmed it themself. No I/O; every
//! builder is unit-tested.
//!
//! Every resource carries a client-assigned identifier made from the kiosk
//! event's UUID, so a retried write finds the first one instead of adding
//! a duplicate: the QuestionnaireResponse is written with PUT to the
//! event's UUID as its id, the Observation and the Consent with a
//! conditional create (`If-None-Exist` on the identifier). An EHR that
//! does not let clients choose ids refuses the PUT; the
//! QuestionnaireResponse then goes by conditional create too.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::domain::screening::Instrument;

/// The identifier system of QuestionnaireResponses written from kiosk forms.
pub const RESPONSE_IDENTIFIER_SYSTEM: &str = "urn:checkin-kiosk:form-response";
/// The identifier system of total-score Observations written from kiosk forms.
pub const SCORE_IDENTIFIER_SYSTEM: &str = "urn:checkin-kiosk:form-score";
/// The identifier system of Consents written from kiosk forms.
pub const CONSENT_IDENTIFIER_SYSTEM: &str = "urn:checkin-kiosk:form-consent";

/// One completed form as stored, ready to map.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedForm {
    /// The kiosk event's UUID; the resources' identifier.
    pub event_id: String,
    /// The EHR's Patient id.
    pub patient_id: String,
    /// The form's id in the clinic's configuration.
    pub form_id: String,
    /// The Questionnaire's canonical URL.
    pub questionnaire_url: String,
    /// The QuestionnaireResponse as the kiosk sent it.
    pub response: Value,
    /// The signature PNG, for a consent signed by drawing.
    pub signature_png: Option<Vec<u8>>,
    /// The typed name, for a consent signed by keypad.
    pub signature_name: Option<String>,
    /// The screener's total, if scored.
    pub score: Option<u8>,
    /// When the patient finished.
    pub completed_at: DateTime<Utc>,
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn patient_ref(f: &CompletedForm) -> Value {
    json!({"reference": format!("Patient/{}", f.patient_id)})
}

/// The QuestionnaireResponse to write: the stored answers, with the
/// event's UUID as id and identifier, the EHR patient as subject, the
/// Questionnaire's canonical, and `authored` when the kiosk left it out.
/// An Appointment is not a valid `encounter` or `basedOn` target in R4,
/// so neither is set.
pub fn questionnaire_response(f: &CompletedForm) -> Value {
    let mut qr = match &f.response {
        Value::Object(m) => Value::Object(m.clone()),
        _ => json!({}),
    };
    if let Some(m) = qr.as_object_mut() {
        m.remove("meta");
        m.remove("text");
        m.remove("encounter");
        m.remove("basedOn");
    }
    qr["resourceType"] = json!("QuestionnaireResponse");
    qr["id"] = json!(f.event_id);
    qr["identifier"] = json!({"system": RESPONSE_IDENTIFIER_SYSTEM, "value": f.event_id});
    qr["questionnaire"] = json!(f.questionnaire_url);
    qr["status"] = json!("completed");
    qr["subject"] = patient_ref(f);
    if qr.get("authored").and_then(Value::as_str).is_none() {
        qr["authored"] = json!(instant(f.completed_at));
    }
    qr
}

/// The LOINC display of an instrument's total score.
fn loinc_display(i: Instrument) -> &'static str {
    match i {
        Instrument::Phq2 => "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]",
        Instrument::Phq9 => "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        Instrument::Gad7 => {
            "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"
        }
    }
}

/// The total-score Observation of a scored screener, or `None` for a form
/// that is no screener or has no stored score. It is derived from the
/// QuestionnaireResponse `response_id` when the EHR gave one, else from
/// the response's identifier.
pub fn score_observation(f: &CompletedForm, response_id: Option<&str>) -> Option<Value> {
    let instrument = Instrument::for_form(&f.form_id)?;
    let total = f.score?;
    let derived = match response_id {
        Some(id) => json!({"reference": format!("QuestionnaireResponse/{id}")}),
        None => json!({
            "type": "QuestionnaireResponse",
            "identifier": {"system": RESPONSE_IDENTIFIER_SYSTEM, "value": f.event_id}
        }),
    };
    Some(json!({
        "resourceType": "Observation",
        "identifier": [{"system": SCORE_IDENTIFIER_SYSTEM, "value": f.event_id}],
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey"
        }]}],
        "code": {"coding": [{
            "system": "http://loinc.org",
            "code": instrument.total_loinc(),
            "display": loinc_display(instrument)
        }]},
        "subject": patient_ref(f),
        "effectiveDateTime": instant(f.completed_at),
        "valueInteger": total,
        "derivedFrom": [derived]
    }))
}

/// The title of a typed signature's attachment.
pub const TYPED_SIGNATURE_TITLE: &str = "Patient signature, name typed by the patient at the kiosk";

/// The Consent of a signed form, or `None` without a signature: active,
/// scope patient-privacy under the HIPAA notice of privacy practices
/// policy, category LOINC 59284-0 "Consent Document", and the signature
/// as its source attachment: the PNG of a drawn one, or the typed name as
/// UTF-8 text. A typed name also gets a `verification`, verified with the
/// patient at the completion time, as the drawing itself is no mark.
pub fn consent(f: &CompletedForm) -> Option<Value> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let (attachment, verification) = match (&f.signature_png, &f.signature_name) {
        (Some(png), _) => (
            json!({
                "contentType": "image/png",
                "data": b64(png),
                "title": "Patient signature",
                "creation": instant(f.completed_at)
            }),
            None,
        ),
        (None, Some(name)) => (
            json!({
                "contentType": "text/plain; charset=utf-8",
                "data": b64(name.as_bytes()),
                "title": TYPED_SIGNATURE_TITLE,
                "creation": instant(f.completed_at)
            }),
            Some(json!([{
                "verified": true,
                "verifiedWith": patient_ref(f),
                "verificationDate": instant(f.completed_at)
            }])),
        ),
        (None, None) => return None,
    };
    let mut consent = json!({
        "resourceType": "Consent",
        "identifier": [{"system": CONSENT_IDENTIFIER_SYSTEM, "value": f.event_id}],
        "status": "active",
        "scope": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
            "display": "Privacy Consent"
        }]},
        "category": [{"coding": [{
            "system": "http://loinc.org",
            "code": "59284-0",
            "display": "Consent Document"
        }]}],
        "patient": patient_ref(f),
        "dateTime": instant(f.completed_at),
        "performer": [patient_ref(f)],
        "policyRule": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentpolicycodes",
            "code": "hipaa-npp",
            "display": "HIPAA Notice of Privacy Practices"
        }]},
        "sourceAttachment": attachment
    });
    if let Some(v) = verification {
        consent["verification"] = v;
    }
    Some(consent)
}

/// Whether an EHR's answer to the QuestionnaireResponse's PUT says it does
/// not create resources at ids the client chose, so a conditional create
/// should be tried: 405 is R4's answer for that, 404 is what servers
/// without update-as-create commonly answer for an id they do not hold,
/// 400 is how some word it, and 403 is what a SMART client that may create
/// but not update gets. A resource the EHR finds invalid fails the create
/// the same way, so the retry costs one request and hides nothing.
pub fn refuses_update_as_create(status: u16) -> bool {
    matches!(status, 400 | 403 | 404 | 405)
}

/// The QuestionnaireResponse for a conditional create: as for the PUT,
/// without the id, which only the EHR assigns on create.
pub fn questionnaire_response_to_create(f: &CompletedForm) -> Value {
    let mut qr = questionnaire_response(f);
    if let Some(m) = qr.as_object_mut() {
        m.remove("id");
    }
    qr
}

/// The `If-None-Exist` query finding a resource by `system|event_id`.
pub fn identifier_query(system: &str, event_id: &str) -> String {
    format!("identifier={system}|{event_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(form_id: &str, score: Option<u8>, png: Option<Vec<u8>>) -> CompletedForm {
        CompletedForm {
            event_id: "6f0c1a52-3f0e-4d8e-9a55-0d7f6f7b1c11".into(),
            patient_id: "p1".into(),
            form_id: form_id.into(),
            questionnaire_url: format!("urn:checkin-kiosk:form:{form_id}"),
            response: json!({
                "resourceType": "QuestionnaireResponse", "id": "local", "status": "completed",
                "questionnaire": "urn:x", "authored": "2026-03-02T12:00:00Z",
                "meta": {"versionId": "9"}, "encounter": {"reference": "Appointment/a1"},
                "item": [{"linkId": "phq2-1", "answer": [{"valueInteger": 2}]}]
            }),
            signature_png: png,
            signature_name: None,
            score,
            completed_at: DateTime::from_timestamp(1_772_452_800, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn the_response_takes_the_event_id_the_patient_and_the_canonical() {
        let f = form("phq-2", Some(4), None);
        let qr = questionnaire_response(&f);
        assert_eq!(qr["id"], f.event_id.as_str());
        assert_eq!(qr["identifier"]["system"], RESPONSE_IDENTIFIER_SYSTEM);
        assert_eq!(qr["identifier"]["value"], f.event_id.as_str());
        assert_eq!(qr["subject"]["reference"], "Patient/p1");
        assert_eq!(qr["questionnaire"], "urn:checkin-kiosk:form:phq-2");
        assert_eq!(qr["authored"], "2026-03-02T12:00:00Z");
        assert_eq!(qr["item"][0]["linkId"], "phq2-1");
        assert!(qr.get("meta").is_none() && qr.get("encounter").is_none());
        // Without `authored`, the completion time is used.
        let mut f = f;
        f.response.as_object_mut().map(|m| m.remove("authored"));
        assert_eq!(
            questionnaire_response(&f)["authored"],
            instant(f.completed_at)
        );
    }

    #[test]
    fn a_refused_put_turns_into_a_create_found_by_the_same_identifier() {
        for status in [400, 403, 404, 405] {
            assert!(refuses_update_as_create(status), "{status}");
        }
        // Conflicts, validation and server errors are answered as they are.
        for status in [401, 409, 412, 422, 429, 500, 503] {
            assert!(!refuses_update_as_create(status), "{status}");
        }
        let f = form("phq-2", Some(4), None);
        let put = questionnaire_response(&f);
        let post = questionnaire_response_to_create(&f);
        assert!(post.get("id").is_none());
        assert_eq!(post["identifier"], put["identifier"]);
        let mut without_id = put;
        without_id.as_object_mut().map(|m| m.remove("id"));
        assert_eq!(post, without_id);
    }

    #[test]
    fn each_screener_total_is_an_observation_with_its_loinc_code() {
        for (id, code, total) in [
            ("phq-2", "55758-7", 4),
            ("phq-9", "44261-6", 21),
            ("gad-7", "70274-6", 0),
        ] {
            let f = form(id, Some(total), None);
            let o = score_observation(&f, Some("qr-1")).expect("observation");
            assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
            assert_eq!(o["code"]["coding"][0]["code"], code);
            assert_eq!(o["valueInteger"], total);
            assert_eq!(o["status"], "final");
            assert_eq!(o["category"][0]["coding"][0]["code"], "survey");
            assert_eq!(o["subject"]["reference"], "Patient/p1");
            assert_eq!(
                o["derivedFrom"][0]["reference"],
                "QuestionnaireResponse/qr-1"
            );
            assert_eq!(o["identifier"][0]["value"], f.event_id.as_str());
        }
        // Without the EHR's id, the response's identifier stands in.
        let f = form("phq-9", Some(3), None);
        let o = score_observation(&f, None).expect("observation");
        assert_eq!(
            o["derivedFrom"][0]["identifier"]["value"],
            f.event_id.as_str()
        );
        // No score, or no screener: no Observation.
        assert!(score_observation(&form("phq-9", None, None), None).is_none());
        assert!(score_observation(&form("consent-npp", Some(1), None), None).is_none());
    }

    #[test]
    fn a_signed_form_is_a_consent_with_the_png_attached() {
        let png = b"\x89PNG\r\n\x1a\nrest".to_vec();
        let f = form("consent-npp", None, Some(png.clone()));
        let c = consent(&f).expect("consent");
        assert_eq!(c["status"], "active");
        assert_eq!(c["scope"]["coding"][0]["code"], "patient-privacy");
        assert_eq!(c["category"][0]["coding"][0]["code"], "59284-0");
        assert_eq!(c["patient"]["reference"], "Patient/p1");
        assert_eq!(c["policyRule"]["coding"][0]["code"], "hipaa-npp");
        assert_eq!(c["sourceAttachment"]["contentType"], "image/png");
        let data = c["sourceAttachment"]["data"].as_str().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_default();
        assert_eq!(decoded, png);
        assert!(consent(&form("consent-npp", None, None)).is_none());
        assert!(c.get("verification").is_none(), "the drawing is the mark");
        assert_eq!(
            identifier_query(CONSENT_IDENTIFIER_SYSTEM, "e1"),
            "identifier=urn:checkin-kiosk:form-consent|e1"
        );
    }

    #[test]
    fn a_name_typed_by_keypad_is_the_consent_s_text_attachment_verified_with_the_patient() {
        let mut f = form("consent-npp", None, None);
        f.signature_name = Some("María García".into());
        let c = consent(&f).expect("consent");
        let a = &c["sourceAttachment"];
        assert_eq!(a["contentType"], "text/plain; charset=utf-8");
        assert_eq!(a["title"], TYPED_SIGNATURE_TITLE);
        let data = a["data"].as_str().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_default();
        assert_eq!(
            String::from_utf8(decoded).unwrap_or_default(),
            "María García"
        );
        assert_eq!(c["verification"][0]["verified"], true);
        assert_eq!(
            c["verification"][0]["verifiedWith"]["reference"],
            "Patient/p1"
        );
        assert_eq!(
            c["verification"][0]["verificationDate"],
            instant(f.completed_at)
        );
        assert_eq!(c["scope"]["coding"][0]["code"], "patient-privacy");
        assert_eq!(c["identifier"][0]["value"], f.event_id.as_str());
        // A drawing wins over a name; the two never travel together.
        f.signature_png = Some(b"\x89PNG\r\n\x1a\n".to_vec());
        assert_eq!(
            consent(&f).expect("consent")["sourceAttachment"]["contentType"],
            "image/png"
        );
    }
}
