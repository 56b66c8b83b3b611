//! A patient's answers as a FHIR R4 QuestionnaireResponse, for storage and
//! EHR write-back, and read back from one.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::domain::Language;
use crate::domain::questionnaire::{Answer, Item, ItemKind, MAX_DEPTH, Questionnaire, Response};

use super::questionnaire::{ParseError, parse_json};

/// What a QuestionnaireResponse says besides the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseMeta<'a> {
    /// The resource id (a UUID the kiosk chose, so retries are idempotent).
    pub id: &'a str,
    /// The canonical reference of the form answered.
    pub questionnaire: &'a str,
    /// The patient, as a reference such as `Patient/123`, where known.
    pub subject: Option<&'a str>,
    /// When the patient finished (or stopped).
    pub authored: DateTime<Utc>,
    /// Whether every required question was answered.
    pub completed: bool,
    /// The language the patient read the form in; texts are written in it.
    pub language: Language,
}

/// Builds the QuestionnaireResponse of `response` to `form`: answers of
/// enabled items only, nested in the form's groups.
pub fn questionnaire_response(
    form: &Questionnaire,
    response: &Response,
    meta: &ResponseMeta<'_>,
) -> Value {
    let effective = form.effective(response);
    let mut obj = Map::new();
    obj.insert("resourceType".into(), json!("QuestionnaireResponse"));
    obj.insert("id".into(), json!(meta.id));
    obj.insert("questionnaire".into(), json!(meta.questionnaire));
    obj.insert(
        "status".into(),
        json!(if meta.completed {
            "completed"
        } else {
            "in-progress"
        }),
    );
    obj.insert("language".into(), json!(meta.language.code()));
    if let Some(subject) = meta.subject {
        obj.insert("subject".into(), json!({"reference": subject}));
    }
    obj.insert(
        "authored".into(),
        json!(meta.authored.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    let items = answered(form.items(), &effective, meta.language);
    if !items.is_empty() {
        obj.insert("item".into(), Value::Array(items));
    }
    Value::Object(obj)
}

fn answered(items: &[Item], response: &Response, language: Language) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        let mut obj = Map::new();
        obj.insert("linkId".into(), json!(item.link_id));
        let text = item.text.get(language);
        if !text.is_empty() {
            obj.insert("text".into(), json!(text));
        }
        match &item.kind {
            ItemKind::Group(children) => {
                let inner = answered(children, response, language);
                if inner.is_empty() {
                    continue;
                }
                obj.insert("item".into(), Value::Array(inner));
            }
            _ => {
                let Some(answer) = response.get(&item.link_id) else {
                    continue;
                };
                obj.insert(
                    "answer".into(),
                    json!([answer_json(item, answer, language)]),
                );
            }
        }
        out.push(Value::Object(obj));
    }
    out
}

fn answer_json(item: &Item, answer: &Answer, language: Language) -> Value {
    match answer {
        Answer::Boolean(b) => json!({"valueBoolean": b}),
        Answer::Integer(n) => json!({"valueInteger": n}),
        Answer::Date(d) => json!({"valueDate": d.format("%Y-%m-%d").to_string()}),
        Answer::String(s) => json!({"valueString": s}),
        Answer::Coding(code) => {
            let mut coding = Map::new();
            let option = item.option(code);
            if let Some(system) = option.and_then(|o| o.system.as_ref()) {
                coding.insert("system".into(), json!(system));
            }
            coding.insert("code".into(), json!(code));
            if let Some(o) = option {
                coding.insert("display".into(), json!(o.display.get(language)));
            }
            json!({"valueCoding": coding})
        }
    }
}

/// Reads a QuestionnaireResponse to `form` back into a [`Response`],
/// checking every answer against its item as the kiosk did.
pub fn parse_response(form: &Questionnaire, text: &str) -> Result<Response, ParseError> {
    let map = parse_json(text, "QuestionnaireResponse")?;
    let mut response = Response::new();
    read_items(form, map.get("item"), &mut response, 0)?;
    Ok(response)
}

fn read_items(
    form: &Questionnaire,
    items: Option<&Value>,
    into: &mut Response,
    depth: usize,
) -> Result<(), ParseError> {
    let at = "QuestionnaireResponse";
    let Some(items) = items else {
        return Ok(());
    };
    let list = items.as_array().ok_or_else(|| ParseError::BadField {
        at: at.into(),
        field: "item",
        expected: "a list",
    })?;
    if depth > MAX_DEPTH {
        return Err(ParseError::Unsupported {
            at: at.into(),
            what: "items nested deeper than the form".into(),
        });
    }
    for item in list {
        let link_id =
            item.get("linkId")
                .and_then(Value::as_str)
                .ok_or_else(|| ParseError::BadField {
                    at: at.into(),
                    field: "item.linkId",
                    expected: "a string",
                })?;
        read_items(form, item.get("item"), into, depth + 1)?;
        let answers = match item.get("answer") {
            None => continue,
            Some(v) => v.as_array().map(Vec::as_slice).unwrap_or(&[]),
        };
        let at = format!(
            "item {}",
            if crate::domain::questionnaire::is_id(link_id) {
                link_id
            } else {
                "(unprintable)"
            }
        );
        match answers {
            [] => {}
            [one] => into.set(form, link_id, answer_value(one, &at)?)?,
            _ => {
                return Err(ParseError::Unsupported {
                    at,
                    what: "more than one answer".into(),
                });
            }
        }
    }
    Ok(())
}

fn answer_value(value: &Value, at: &str) -> Result<Answer, ParseError> {
    let bad = || ParseError::BadField {
        at: at.to_owned(),
        field: "answer",
        expected: "one valueBoolean, valueCoding, valueInteger, valueDate or valueString",
    };
    if value.get("item").is_some() {
        return Err(ParseError::Unsupported {
            at: at.to_owned(),
            what: "items nested under an answer".into(),
        });
    }
    if let Some(b) = value.get("valueBoolean") {
        return b.as_bool().map(Answer::Boolean).ok_or_else(bad);
    }
    if let Some(n) = value.get("valueInteger") {
        return n.as_i64().map(Answer::Integer).ok_or_else(bad);
    }
    if let Some(d) = value.get("valueDate") {
        let d = d.as_str().ok_or_else(bad)?;
        return NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Answer::Date)
            .map_err(|_| bad());
    }
    if let Some(s) = value.get("valueString") {
        return s
            .as_str()
            .map(|s| Answer::String(s.to_owned()))
            .ok_or_else(bad);
    }
    if let Some(c) = value.get("valueCoding") {
        return c
            .get("code")
            .and_then(Value::as_str)
            .map(|s| Answer::Coding(s.to_owned()))
            .ok_or_else(bad);
    }
    Err(bad())
}
