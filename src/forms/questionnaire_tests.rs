//! Tests of Questionnaire JSON: every refusal names the item, forms round
//! trip, the ready-made forms ship and score like the domain scorer, and
//! QuestionnaireResponses round trip.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::questionnaire::{Answer, Response};
use crate::domain::screening::{Instrument, score, score_response};
use crate::forms::{ResponseMeta, parse_response, questionnaire_response};

const PHQ2: &str = include_str!("../../config/forms/phq-2.json");
const PHQ9: &str = include_str!("../../config/forms/phq-9.json");
const GAD7: &str = include_str!("../../config/forms/gad-7.json");
const CONSENT: &str = include_str!("../../config/forms/consent-npp.json");

fn es(text: &str) -> Value {
    json!({"extension": [{"url": TRANSLATION_URL, "extension": [
        {"url": "lang", "valueCode": "es"}, {"url": "content", "valueString": text}]}]})
}

/// A bilingual item of `ty` with `extra` elements merged in.
fn item(link_id: &str, ty: &str, extra: Value) -> Value {
    let mut v = json!({"linkId": link_id, "type": ty, "text": "Q", "_text": es("P")});
    if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    v
}

fn coding(code: &str, weight: Option<f64>) -> Value {
    let mut o = json!({"valueCoding": {"code": code, "display": code, "_display": es(code)}});
    if let Some(w) = weight {
        o["extension"] = json!([{"url": ORDINAL_VALUE_URL, "valueDecimal": w}]);
    }
    o
}

fn form(items: Vec<Value>) -> String {
    json!({"resourceType": "Questionnaire", "id": "t", "title": "T", "item": items}).to_string()
}

fn refused(items: Vec<Value>) -> String {
    parse_questionnaire(&form(items)).unwrap_err().to_string()
}

#[test]
fn unsupported_features_are_refused_naming_the_link_id() {
    let yes = || item("ok", "boolean", json!({}));
    let mut selected = coding("a", None);
    selected["initialSelected"] = json!(true);
    let cases: Vec<(Value, &str)> = vec![
        (
            item("oc", "open-choice", json!({})),
            "item oc: the item type open-choice is not supported",
        ),
        (
            item("att", "attachment", json!({})),
            "item att: the item type attachment is not supported",
        ),
        (
            item("dec", "decimal", json!({})),
            "item dec: the item type decimal is not supported",
        ),
        (
            item("long", "text", json!({})),
            "item long: the item type text is not supported",
        ),
        (
            item(
                "vs",
                "choice",
                json!({"answerValueSet": "http://example.org/vs"}),
            ),
            "item vs: answerValueSet (list the answers in answerOption) is not supported",
        ),
        (
            item("rep", "boolean", json!({"repeats": true})),
            "item rep: repeats is not supported",
        ),
        (
            item("ro", "boolean", json!({"readOnly": true})),
            "item ro: readOnly is not supported",
        ),
        (
            item("ini", "boolean", json!({"initial": []})),
            "item ini: the element initial is not supported",
        ),
        (
            item("mod", "boolean", json!({"modifierExtension": []})),
            "item mod: the element modifierExtension is not supported",
        ),
        (
            item(
                "hid",
                "boolean",
                json!({"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden", "valueBoolean": true}]}),
            ),
            "item hid: the extension http://hl7.org/fhir/StructureDefinition/questionnaire-hidden is not supported",
        ),
        (
            item("nest", "boolean", json!({"item": [yes()]})),
            "item nest: items nested under a question is not supported",
        ),
        (
            item(
                "str",
                "choice",
                json!({"answerOption": [{"valueString": "a"}]}),
            ),
            "item str: the answerOption element valueString (only valueCoding) is not supported",
        ),
        (
            item("sel", "choice", json!({"answerOption": [selected]})),
            "item sel: initialSelected is not supported",
        ),
        (
            item(
                "when",
                "display",
                json!({"enableWhen": [{"question": "ok", "operator": "=", "answerDate": "2020-01-01"}]}),
            ),
            "item when: enableWhen with answerDate is not supported",
        ),
        (
            item(
                "op",
                "display",
                json!({"enableWhen": [{"question": "ok", "operator": "~", "answerBoolean": true}]}),
            ),
            "item op: the enableWhen operator ~ is not supported",
        ),
    ];
    for (bad, message) in cases {
        assert_eq!(refused(vec![yes(), bad]), message);
    }
}

#[test]
fn malformed_forms_are_refused_with_where_and_what() {
    let frac = item(
        "w",
        "choice",
        json!({"answerOption": [coding("a", Some(0.5))]}),
    );
    assert_eq!(
        refused(vec![frac]),
        "item w: ordinal weight is missing or is not a whole number from -1000 to 1000"
    );
    assert_eq!(
        refused(vec![json!({"type": "boolean", "text": "Q"})]),
        "Questionnaire item #1: linkId is missing or is not 1 to 64 visible ASCII characters"
    );
    let no_es = json!({"linkId": "q", "type": "boolean", "text": "Q"});
    assert_eq!(refused(vec![no_es]), "item q: the Spanish text is missing");
    assert_eq!(
        refused(vec![item("c", "choice", json!({}))]),
        "item c: answerOption is missing or is not a list of answers"
    );
    let orphan = item(
        "o",
        "display",
        json!({"enableWhen": [{"question": "x", "operator": "exists", "answerBoolean": true}]}),
    );
    assert_eq!(
        refused(vec![orphan]),
        "item o: enableWhen names x, which is not a question in this form"
    );
    assert!(matches!(parse_questionnaire("{"), Err(ParseError::Json(_))));
    assert_eq!(
        parse_questionnaire(r#"{"resourceType": "Patient", "id": "p"}"#),
        Err(ParseError::WrongResource("Questionnaire"))
    );
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_FORM_BYTES));
    assert_eq!(parse_questionnaire(&huge), Err(ParseError::TooLarge));
    let top = json!({"resourceType": "Questionnaire", "id": "t", "modifierExtension": [], "item": [item("a", "boolean", json!({}))]});
    assert_eq!(
        parse_questionnaire(&top.to_string())
            .unwrap_err()
            .to_string(),
        "Questionnaire: modifierExtension is not supported"
    );
}

#[test]
fn a_form_with_every_item_type_round_trips() {
    let items = vec![
        item("intro", "display", json!({})),
        item("smoke", "boolean", json!({"required": true})),
        item(
            "g",
            "group",
            json!({
                "enableWhen": [{"question": "smoke", "operator": "=", "answerBoolean": true}],
                "item": [item("packs", "integer", json!({"extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
                    {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10}]}))],
            }),
        ),
        item(
            "mood",
            "choice",
            json!({"answerOption": [coding("good", Some(0.0)), coding("bad", Some(2.0))]}),
        ),
        item(
            "why",
            "string",
            json!({"maxLength": 40, "enableBehavior": "any", "enableWhen": [
            {"question": "mood", "operator": "=", "answerCoding": {"code": "bad"}},
            {"question": "packs", "operator": ">=", "answerInteger": 2}]}),
        ),
        item("when", "date", json!({})),
    ];
    let parsed = parse_questionnaire(&form(items)).unwrap();
    assert_eq!(parsed.item("smoke").map(|i| i.text.es.as_str()), Some("P"));
    assert_eq!(
        parsed
            .item("mood")
            .and_then(|i| i.option("bad"))
            .and_then(|o| o.weight),
        Some(2)
    );
    let again = parse_questionnaire(&to_fhir_json(&parsed).to_string()).unwrap();
    assert_eq!(again, parsed);
}

#[test]
fn one_file_per_language_merges_and_must_match() {
    let en = json!({"resourceType": "Questionnaire", "id": "b", "title": "Hello", "item": [
        {"linkId": "q", "type": "choice", "text": "Pick", "answerOption": [
            {"valueCoding": {"code": "a", "display": "Apple"}}]}]});
    let mut es_form = json!({"resourceType": "Questionnaire", "id": "b", "title": "Hola", "item": [
        {"linkId": "q", "type": "choice", "text": "Elija", "answerOption": [
            {"valueCoding": {"code": "a", "display": "Manzana"}}]}]});
    let form = parse_bilingual(&en.to_string(), &es_form.to_string()).unwrap();
    assert_eq!(form.title().es, "Hola");
    let q = form.item("q").unwrap();
    assert_eq!((q.text.en.as_str(), q.text.es.as_str()), ("Pick", "Elija"));
    assert_eq!(
        q.option("a").map(|o| o.display.es.as_str()),
        Some("Manzana")
    );
    es_form["item"][0]["answerOption"][0]["valueCoding"]["code"] = json!("b");
    assert_eq!(
        parse_bilingual(&en.to_string(), &es_form.to_string()),
        Err(ParseError::LanguagesDiffer("item q".into()))
    );
    es_form["id"] = json!("c");
    assert!(matches!(
        parse_bilingual(&en.to_string(), &es_form.to_string()),
        Err(ParseError::LanguagesDiffer(_))
    ));
}

#[test]
fn the_ready_made_forms_ship_parse_and_round_trip() {
    for (text, id) in [
        (PHQ2, "phq-2"),
        (PHQ9, "phq-9"),
        (GAD7, "gad-7"),
        (CONSENT, "consent-npp"),
    ] {
        let form = parse_questionnaire(text).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(form.id(), id);
        assert_eq!(
            parse_questionnaire(&to_fhir_json(&form).to_string()).unwrap(),
            form
        );
        if let Some(instrument) = Instrument::for_form(id) {
            for link_id in instrument.link_ids() {
                let item = form
                    .item(link_id)
                    .unwrap_or_else(|| panic!("{id} has no {link_id}"));
                assert!(item.required, "{link_id}");
                let weights: Vec<_> = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
                    .iter()
                    .map(|c| item.option(c).and_then(|o| o.weight))
                    .collect();
                assert_eq!(weights, [Some(0), Some(1), Some(2), Some(3)], "{link_id}");
            }
        }
    }
    let phq9 = parse_questionnaire(PHQ9).unwrap();
    let nine = phq9.item("phq9-9").unwrap();
    assert!(
        nine.text
            .es
            .starts_with("Pensamientos de que estaría mejor muerto(a)")
    );
    let consent = parse_questionnaire(CONSENT).unwrap();
    assert!(
        consent
            .item("consent-treat")
            .unwrap()
            .text
            .en
            .starts_with("[CLINIC TO REPLACE]")
    );
    assert!(consent.item("agree").is_some_and(|i| i.required));
}

const CODES: [&str; 4] = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"];

#[test]
fn phq9_through_the_shipped_form_scores_as_the_domain_scorer() {
    let form = parse_questionnaire(PHQ9).unwrap();
    // Every 61st answer set, and the last one (all 3s).
    for n in (0..4u32.pow(9)).step_by(61).chain([4u32.pow(9) - 1]) {
        let weights: Vec<i32> = (0..9).map(|k| ((n >> (2 * k)) & 3) as i32).collect();
        let mut r = Response::new();
        for (k, &w) in weights.iter().enumerate() {
            let id = Instrument::Phq9.link_ids()[k];
            r.set(&form, id, Answer::Coding(CODES[w as usize].into()))
                .unwrap();
        }
        let through_form = score_response(Instrument::Phq9, &form, &r).unwrap();
        assert_eq!(through_form, score(Instrument::Phq9, &weights).unwrap());
        // The difficulty question shows only once a problem is reported.
        assert_eq!(form.is_enabled("phq9-10", &r), n != 0, "{weights:?}");
        assert!(form.is_complete(&r));
    }
    let mut partial = Response::new();
    partial
        .set(&form, "phq9-1", Answer::Coding(CODES[1].into()))
        .unwrap();
    assert!(score_response(Instrument::Phq9, &form, &partial).is_err());
}

#[test]
fn responses_round_trip_as_questionnaire_response() {
    let form = parse_questionnaire(&form(vec![
        item("smoke", "boolean", json!({})),
        item(
            "g",
            "group",
            json!({"item": [item("packs", "integer", json!({}))]}),
        ),
        item(
            "mood",
            "choice",
            json!({"answerOption": [coding("good", Some(0.0))]}),
        ),
        item("when", "date", json!({})),
        item(
            "why",
            "string",
            json!({"enableWhen": [{"question": "smoke", "operator": "=", "answerBoolean": true}]}),
        ),
    ]))
    .unwrap();
    let mut r = Response::new();
    r.set(&form, "smoke", Answer::Boolean(true)).unwrap();
    r.set(&form, "packs", Answer::Integer(3)).unwrap();
    r.set(&form, "mood", Answer::Coding("good".into())).unwrap();
    r.set(
        &form,
        "when",
        Answer::Date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()),
    )
    .unwrap();
    r.set(&form, "why", Answer::String("Habit".into())).unwrap();
    let meta = ResponseMeta {
        id: "5c1e8f7e-0000-4000-8000-000000000001",
        questionnaire: "urn:checkin-kiosk:form:t",
        subject: Some("Patient/p1"),
        authored: Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap(),
        completed: true,
        language: crate::domain::Language::Es,
    };
    let json = questionnaire_response(&form, &r, &meta);
    assert_eq!(json["status"], "completed");
    assert_eq!(json["authored"], "2026-03-04T15:00:00Z");
    assert_eq!(json["item"][1]["item"][0]["answer"][0]["valueInteger"], 3);
    assert_eq!(
        json["item"][2]["answer"][0]["valueCoding"]["display"],
        "good"
    );
    assert_eq!(
        json["item"][0]["text"], "P",
        "texts are in the patient's language"
    );
    assert_eq!(parse_response(&form, &json.to_string()).unwrap(), r);
    // An answer to an item later hidden is not written.
    r.set(&form, "smoke", Answer::Boolean(false)).unwrap();
    let json = questionnaire_response(&form, &r, &meta);
    let back = parse_response(&form, &json.to_string()).unwrap();
    assert_eq!(back.get("why"), None);
    assert_eq!(back, form.effective(&r));
}

#[test]
fn bad_questionnaire_responses_are_refused() {
    let form = parse_questionnaire(&form(vec![item("n", "integer", json!({}))])).unwrap();
    let qr = |answer: Value| {
        json!({"resourceType": "QuestionnaireResponse", "item": [{"linkId": "n", "answer": answer}]}).to_string()
    };
    assert_eq!(
        parse_response(
            &form,
            &qr(json!([{"valueInteger": 1}, {"valueInteger": 2}]))
        )
        .unwrap_err()
        .to_string(),
        "item n: more than one answer is not supported"
    );
    assert_eq!(
        parse_response(&form, &qr(json!([{"valueBoolean": true}])))
            .unwrap_err()
            .to_string(),
        "item n takes a integer answer, not a boolean one"
    );
    assert!(matches!(
        parse_response(&form, &qr(json!([{"valueQuantity": {}}]))),
        Err(ParseError::BadField { .. })
    ));
    let secret = "9999999999";
    let err = parse_response(&form, &qr(json!([{"valueInteger": 9_999_999_999i64}]))).unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
}

#[test]
fn phq2_and_gad7_through_the_shipped_forms_score_as_the_domain_scorer() {
    for (text, instrument, stride) in [(PHQ2, Instrument::Phq2, 1), (GAD7, Instrument::Gad7, 7)] {
        let form = parse_questionnaire(text).unwrap();
        let items = instrument.link_ids().len() as u32;
        for n in (0..4u32.pow(items)).step_by(stride) {
            let weights: Vec<i32> = (0..items).map(|k| ((n >> (2 * k)) & 3) as i32).collect();
            let mut r = Response::new();
            for (id, &w) in instrument.link_ids().iter().zip(&weights) {
                r.set(&form, id, Answer::Coding(CODES[w as usize].into()))
                    .unwrap();
            }
            assert!(form.is_complete(&r));
            let through_form = score_response(instrument, &form, &r).unwrap();
            assert_eq!(through_form, score(instrument, &weights).unwrap());
            let sum: i32 = weights.iter().sum();
            assert_eq!(
                through_form.steps_up_to_phq9(),
                instrument == Instrument::Phq2 && sum >= 3
            );
        }
    }
}
