//! FHIR R4 Questionnaire JSON ⇄ the domain's [`Questionnaire`]: the
//! supported subset only, with texts in English and Spanish either from
//! the translation extension or from one file per language.

use serde_json::{Map, Value, json};

use crate::domain::Language;
use crate::domain::questionnaire::{
    AnswerOption, Condition, EnableBehavior, EnableWhen, INTEGER_LIMIT, Item, ItemKind,
    LocalizedText, MAX_STRING_ANSWER_CHARS, Operator, Questionnaire, QuestionnaireError, is_id,
};

use super::MAX_FORM_BYTES;

/// The FHIR extension carrying a text's translation.
pub const TRANSLATION_URL: &str = "http://hl7.org/fhir/StructureDefinition/translation";
/// The FHIR R4 extension carrying an answer's ordinal weight.
pub const ORDINAL_VALUE_URL: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
/// The R5-style extension carrying an answer's weight.
const ITEM_WEIGHT_URL: &str = "http://hl7.org/fhir/StructureDefinition/itemWeight";
const MIN_VALUE_URL: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
const MAX_VALUE_URL: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
/// A presentation hint (radio buttons, drop-down); the kiosk always shows
/// big buttons, so it is accepted and ignored.
const ITEM_CONTROL_URL: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";
/// The largest weight accepted.
const MAX_WEIGHT: f64 = 1000.0;

/// The item elements understood. Anything else is refused.
/// `answerValueSet` is listed so that it gets its own message.
const ITEM_KEYS: [&str; 18] = [
    "linkId",
    "answerValueSet",
    "text",
    "_text",
    "type",
    "required",
    "enableWhen",
    "enableBehavior",
    "answerOption",
    "item",
    "repeats",
    "readOnly",
    "maxLength",
    "extension",
    "code",
    "prefix",
    "definition",
    "id",
];

/// Why a Questionnaire (or QuestionnaireResponse) file was refused. Every
/// message says where: the item's linkId, or the path to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// Larger than [`MAX_FORM_BYTES`].
    #[error("the file is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    /// Another resource type.
    #[error("resourceType must be \"{0}\"")]
    WrongResource(&'static str),
    /// A required element is missing or of the wrong shape.
    #[error("{at}: {field} is missing or is not {expected}")]
    BadField {
        /// The item (`item phq9-1`) or `Questionnaire`.
        at: String,
        /// The element.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A FHIR feature outside the supported subset.
    #[error("{at}: {what} is not supported")]
    Unsupported {
        /// The item (`item phq9-1`) or `Questionnaire`.
        at: String,
        /// What was found.
        what: String,
    },
    /// The English and Spanish files are not the same form.
    #[error("{0}: the English and Spanish files differ in more than their texts")]
    LanguagesDiffer(String),
    /// The form parsed but breaks a rule of the domain model.
    #[error(transparent)]
    Invalid(#[from] QuestionnaireError),
}

fn unsupported(at: &str, what: impl Into<String>) -> ParseError {
    ParseError::Unsupported {
        at: at.to_owned(),
        what: what.into(),
    }
}

fn bad(at: &str, field: &'static str, expected: &'static str) -> ParseError {
    ParseError::BadField {
        at: at.to_owned(),
        field,
        expected,
    }
}

/// A name from the file, fit to print: ids as they are, anything else cut.
fn shown(s: &str) -> String {
    if is_id(s) {
        s.to_owned()
    } else {
        "(unprintable)".to_owned()
    }
}

/// Parses JSON text within the size limit.
pub(super) fn parse_json(
    text: &str,
    resource: &'static str,
) -> Result<Map<String, Value>, ParseError> {
    if text.len() > MAX_FORM_BYTES {
        return Err(ParseError::TooLarge);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
    match value {
        Value::Object(map) if map.get("resourceType").and_then(Value::as_str) == Some(resource) => {
            Ok(map)
        }
        _ => Err(ParseError::WrongResource(resource)),
    }
}

/// Parses one Questionnaire whose texts are English, with Spanish from the
/// translation extension on each text.
pub fn parse_questionnaire(text: &str) -> Result<Questionnaire, ParseError> {
    let (id, title, items) = parse_raw(text, Language::En)?;
    Ok(Questionnaire::new(id, title, items)?)
}

/// Parses a form given as one Questionnaire per language. Both must be the
/// same form (id, items, types, codes, weights, logic); only texts differ.
pub fn parse_bilingual(en: &str, es: &str) -> Result<Questionnaire, ParseError> {
    let (id, mut title, en_items) = parse_raw(en, Language::En)?;
    let (es_id, es_title, es_items) = parse_raw(es, Language::Es)?;
    if id != es_id {
        return Err(ParseError::LanguagesDiffer("Questionnaire id".into()));
    }
    title.es = es_title.es;
    let items = merge_items(en_items, es_items, "Questionnaire")?;
    Ok(Questionnaire::new(id, title, items)?)
}

type RawForm = (String, LocalizedText, Vec<Item>);

fn parse_raw(text: &str, primary: Language) -> Result<RawForm, ParseError> {
    let map = parse_json(text, "Questionnaire")?;
    let at = "Questionnaire";
    for key in ["modifierExtension", "contained"] {
        if map.contains_key(key) {
            return Err(unsupported(at, key));
        }
    }
    let id = map
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| is_id(s))
        .ok_or_else(|| bad(at, "id", "1 to 64 visible ASCII characters"))?;
    let mut title = texts(&map, "title", primary, at)?;
    if title.en.is_empty() && title.es.is_empty() {
        let name = map.get("name").and_then(Value::as_str).unwrap_or(id);
        title = LocalizedText::new(name, name);
    }
    if title.es.is_empty() {
        title.es = title.en.clone();
    }
    if title.en.is_empty() {
        title.en = title.es.clone();
    }
    let items = items(map.get("item"), primary, at, 0)?;
    Ok((id.to_owned(), title, items))
}

/// The text in `key` (in `primary`) and its translation into the other
/// language from `_key`'s translation extension.
fn texts(
    map: &Map<String, Value>,
    key: &str,
    primary: Language,
    at: &str,
) -> Result<LocalizedText, ParseError> {
    let main = match map.get(key) {
        None => "",
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad(at, "text", "a string")),
    };
    let other_code = match primary {
        Language::En => "es",
        Language::Es => "en",
    };
    let mut other = String::new();
    let exts = map
        .get(&format!("_{key}"))
        .and_then(|v| v.get("extension"))
        .and_then(Value::as_array);
    for ext in exts.into_iter().flatten() {
        if ext.get("url").and_then(Value::as_str) != Some(TRANSLATION_URL) {
            continue;
        }
        let parts = ext
            .get("extension")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let part = |name: &str, value: &str| {
            parts
                .iter()
                .find(|p| p.get("url").and_then(Value::as_str) == Some(name))
                .and_then(|p| p.get(value))
                .and_then(Value::as_str)
        };
        let lang = part("lang", "valueCode").unwrap_or("");
        if lang == other_code || lang.starts_with(&format!("{other_code}-")) {
            other = part("content", "valueString")
                .ok_or_else(|| bad(at, "translation", "a lang and a content valueString"))?
                .to_owned();
        }
    }
    Ok(match primary {
        Language::En => LocalizedText::new(main, other),
        Language::Es => LocalizedText::new(other, main),
    })
}

fn items(
    value: Option<&Value>,
    primary: Language,
    at: &str,
    depth: usize,
) -> Result<Vec<Item>, ParseError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value.as_array().ok_or_else(|| bad(at, "item", "a list"))?;
    if depth > crate::domain::questionnaire::MAX_DEPTH {
        return Err(ParseError::Invalid(QuestionnaireError::BadSize));
    }
    list.iter()
        .enumerate()
        .map(|(n, v)| item(v, primary, &format!("{at} item #{}", n + 1), depth))
        .collect()
}

fn item(value: &Value, primary: Language, path: &str, depth: usize) -> Result<Item, ParseError> {
    let map = value
        .as_object()
        .ok_or_else(|| bad(path, "item", "an object"))?;
    let link_id = map
        .get("linkId")
        .and_then(Value::as_str)
        .filter(|s| is_id(s))
        .ok_or_else(|| bad(path, "linkId", "1 to 64 visible ASCII characters"))?;
    let at = format!("item {link_id}");
    let at = at.as_str();
    if let Some(key) = map.keys().find(|k| !ITEM_KEYS.contains(&k.as_str())) {
        return Err(unsupported(at, format!("the element {}", shown(key))));
    }
    for flag in ["repeats", "readOnly"] {
        if map.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(unsupported(at, flag));
        }
    }
    let ty = map
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(at, "type", "a string"))?;
    let extensions = item_extensions(map, at, ty)?;
    let kind = match ty {
        "display" => ItemKind::Display,
        "boolean" => ItemKind::Boolean,
        "date" => ItemKind::Date,
        "choice" => ItemKind::Choice(options(map, primary, at)?),
        "integer" => ItemKind::Integer {
            min: extensions.0.unwrap_or(-INTEGER_LIMIT),
            max: extensions.1.unwrap_or(INTEGER_LIMIT),
        },
        "string" => ItemKind::String {
            max_chars: match map.get("maxLength") {
                None => MAX_STRING_ANSWER_CHARS,
                Some(v) => v
                    .as_u64()
                    .map_or(0, |n| n.min(u64::from(u32::MAX)) as usize),
            },
        },
        "group" => ItemKind::Group(items(map.get("item"), primary, at, depth + 1)?),
        other => return Err(unsupported(at, format!("the item type {}", shown(other)))),
    };
    if ty != "group" && map.contains_key("item") {
        return Err(unsupported(at, "items nested under a question"));
    }
    if ty != "choice" && map.contains_key("answerOption") {
        return Err(unsupported(at, "answerOption on a non-choice item"));
    }
    Ok(Item {
        link_id: link_id.to_owned(),
        text: texts(map, "text", primary, at)?,
        kind,
        required: match map.get("required") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| bad(at, "required", "true or false"))?,
        },
        enable_when: enable_when(map, at)?,
        enable_behavior: match map.get("enableBehavior").map(|v| v.as_str()) {
            None | Some(Some("all")) => EnableBehavior::All,
            Some(Some("any")) => EnableBehavior::Any,
            Some(_) => return Err(bad(at, "enableBehavior", "\"all\" or \"any\"")),
        },
    })
}

/// The item's extensions: minValue and maxValue for integers; the
/// item-control hint is ignored; anything else is refused.
fn item_extensions(
    map: &Map<String, Value>,
    at: &str,
    ty: &str,
) -> Result<(Option<i64>, Option<i64>), ParseError> {
    let (mut min, mut max) = (None, None);
    let exts = match map.get("extension") {
        None => return Ok((None, None)),
        Some(v) => v.as_array().ok_or_else(|| bad(at, "extension", "a list"))?,
    };
    for ext in exts {
        let url = ext.get("url").and_then(Value::as_str).unwrap_or("");
        let limit = || {
            ext.get("valueInteger")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad(at, "minValue/maxValue", "a valueInteger"))
        };
        match url {
            ITEM_CONTROL_URL => {}
            MIN_VALUE_URL if ty == "integer" => min = Some(limit()?),
            MAX_VALUE_URL if ty == "integer" => max = Some(limit()?),
            other => {
                return Err(unsupported(
                    at,
                    format!("the extension {}", shown_url(other)),
                ));
            }
        }
    }
    Ok((min, max))
}

/// A URL fit to print: visible ASCII, cut at 200 characters.
fn shown_url(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_graphic()) {
        s.chars().take(200).collect()
    } else {
        "(unprintable)".to_owned()
    }
}

fn options(
    map: &Map<String, Value>,
    primary: Language,
    at: &str,
) -> Result<Vec<AnswerOption>, ParseError> {
    if map.contains_key("answerValueSet") {
        return Err(unsupported(
            at,
            "answerValueSet (list the answers in answerOption)",
        ));
    }
    let list = map
        .get("answerOption")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(at, "answerOption", "a list of answers"))?;
    list.iter().map(|o| option(o, primary, at)).collect()
}

fn option(value: &Value, primary: Language, at: &str) -> Result<AnswerOption, ParseError> {
    let map = value
        .as_object()
        .ok_or_else(|| bad(at, "answerOption", "an object"))?;
    if let Some(key) = map
        .keys()
        .find(|k| !["valueCoding", "extension", "initialSelected"].contains(&k.as_str()))
    {
        return Err(unsupported(
            at,
            format!("the answerOption element {} (only valueCoding)", shown(key)),
        ));
    }
    if map.get("initialSelected").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported(at, "initialSelected"));
    }
    let coding = map
        .get("valueCoding")
        .and_then(Value::as_object)
        .ok_or_else(|| bad(at, "answerOption.valueCoding", "a Coding"))?;
    let code = coding
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(at, "answerOption.valueCoding.code", "a string"))?;
    let mut weight = None;
    for exts in [map.get("extension"), coding.get("extension")]
        .into_iter()
        .flatten()
    {
        for ext in exts
            .as_array()
            .ok_or_else(|| bad(at, "extension", "a list"))?
        {
            match ext.get("url").and_then(Value::as_str).unwrap_or("") {
                ORDINAL_VALUE_URL | ITEM_WEIGHT_URL => weight = Some(weight_of(ext, at)?),
                other => {
                    return Err(unsupported(
                        at,
                        format!("the extension {}", shown_url(other)),
                    ));
                }
            }
        }
    }
    Ok(AnswerOption {
        code: code.to_owned(),
        system: coding
            .get("system")
            .and_then(Value::as_str)
            .map(str::to_owned),
        display: texts(coding, "display", primary, at)?,
        weight,
    })
}

fn weight_of(ext: &Value, at: &str) -> Result<i32, ParseError> {
    let n = ext
        .get("valueDecimal")
        .or_else(|| ext.get("valueInteger"))
        .and_then(Value::as_f64)
        .filter(|n| n.fract() == 0.0 && n.abs() <= MAX_WEIGHT)
        .ok_or_else(|| bad(at, "ordinal weight", "a whole number from -1000 to 1000"))?;
    Ok(n as i32)
}

fn enable_when(map: &Map<String, Value>, at: &str) -> Result<Vec<EnableWhen>, ParseError> {
    let Some(list) = map.get("enableWhen") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| bad(at, "enableWhen", "a list"))?;
    list.iter()
        .map(|c| {
            let question = c
                .get("question")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(at, "enableWhen.question", "a linkId"))?;
            let op = c.get("operator").and_then(Value::as_str).unwrap_or("");
            let operator = Operator::parse(op)
                .ok_or_else(|| unsupported(at, format!("the enableWhen operator {}", shown(op))))?;
            let answer = if let Some(b) = c.get("answerBoolean") {
                Condition::Boolean(
                    b.as_bool()
                        .ok_or_else(|| bad(at, "answerBoolean", "true or false"))?,
                )
            } else if let Some(n) = c.get("answerInteger") {
                Condition::Integer(
                    n.as_i64()
                        .ok_or_else(|| bad(at, "answerInteger", "a whole number"))?,
                )
            } else if let Some(code) = c.get("answerCoding").and_then(|v| v.get("code")) {
                Condition::Coding(
                    code.as_str()
                        .ok_or_else(|| bad(at, "answerCoding.code", "a string"))?
                        .to_owned(),
                )
            } else {
                let kind = c
                    .as_object()
                    .and_then(|m| m.keys().find(|k| k.starts_with("answer")).cloned())
                    .unwrap_or_else(|| "a missing answer".into());
                return Err(unsupported(at, format!("enableWhen with {}", shown(&kind))));
            };
            Ok(EnableWhen {
                question: question.to_owned(),
                operator,
                answer,
            })
        })
        .collect()
}

fn merge_items(en: Vec<Item>, es: Vec<Item>, at: &str) -> Result<Vec<Item>, ParseError> {
    if en.len() != es.len() {
        return Err(ParseError::LanguagesDiffer(at.to_owned()));
    }
    en.into_iter()
        .zip(es)
        .map(|(e, s)| merge_item(e, s))
        .collect()
}

fn merge_item(mut en: Item, es: Item) -> Result<Item, ParseError> {
    let at = format!("item {}", en.link_id);
    let differ = || ParseError::LanguagesDiffer(at.clone());
    if en.link_id != es.link_id
        || en.required != es.required
        || en.enable_when != es.enable_when
        || en.enable_behavior != es.enable_behavior
    {
        return Err(differ());
    }
    en.text.es = es.text.es;
    en.kind = match (en.kind, es.kind) {
        (ItemKind::Group(a), ItemKind::Group(b)) => ItemKind::Group(merge_items(a, b, &at)?),
        (ItemKind::Choice(a), ItemKind::Choice(b)) => {
            if a.len() != b.len() {
                return Err(differ());
            }
            let mut merged = Vec::with_capacity(a.len());
            for (mut x, y) in a.into_iter().zip(b) {
                if x.code != y.code || x.system != y.system || x.weight != y.weight {
                    return Err(differ());
                }
                x.display.es = y.display.es;
                merged.push(x);
            }
            ItemKind::Choice(merged)
        }
        (a, b) if a == b => a,
        _ => return Err(differ()),
    };
    Ok(en)
}

/// A text with its Spanish translation in the `_text`-style element.
fn put_text(obj: &mut Map<String, Value>, key: &str, text: &LocalizedText) {
    obj.insert(key.to_owned(), json!(text.en));
    obj.insert(
        format!("_{key}"),
        json!({"extension": [{
            "url": TRANSLATION_URL,
            "extension": [
                {"url": "lang", "valueCode": "es"},
                {"url": "content", "valueString": text.es},
            ],
        }]}),
    );
}

/// Writes a form as a FHIR R4 Questionnaire with English texts and their
/// Spanish translations; [`parse_questionnaire`] reads it back unchanged.
pub fn to_fhir_json(form: &Questionnaire) -> Value {
    let mut obj = Map::new();
    obj.insert("resourceType".into(), json!("Questionnaire"));
    obj.insert("id".into(), json!(form.id()));
    obj.insert("status".into(), json!("active"));
    put_text(&mut obj, "title", form.title());
    obj.insert(
        "item".into(),
        Value::Array(form.items().iter().map(item_json).collect()),
    );
    Value::Object(obj)
}

fn item_json(item: &Item) -> Value {
    let mut obj = Map::new();
    obj.insert("linkId".into(), json!(item.link_id));
    if !(item.text.en.is_empty() && item.text.es.is_empty()) {
        put_text(&mut obj, "text", &item.text);
    }
    obj.insert("type".into(), json!(item.kind.fhir_type()));
    if item.required {
        obj.insert("required".into(), json!(true));
    }
    if !item.enable_when.is_empty() {
        let conds = item.enable_when.iter().map(|c| {
            let mut m = Map::new();
            m.insert("question".into(), json!(c.question));
            m.insert("operator".into(), json!(c.operator.as_str()));
            let (k, v) = match &c.answer {
                Condition::Boolean(b) => ("answerBoolean", json!(b)),
                Condition::Integer(n) => ("answerInteger", json!(n)),
                Condition::Coding(code) => ("answerCoding", json!({"code": code})),
            };
            m.insert(k.into(), v);
            Value::Object(m)
        });
        obj.insert("enableWhen".into(), Value::Array(conds.collect()));
        if item.enable_when.len() > 1 {
            let b = if item.enable_behavior == EnableBehavior::Any {
                "any"
            } else {
                "all"
            };
            obj.insert("enableBehavior".into(), json!(b));
        }
    }
    match &item.kind {
        ItemKind::Choice(options) => {
            let list = options.iter().map(|o| {
                let mut coding = Map::new();
                if let Some(system) = &o.system {
                    coding.insert("system".into(), json!(system));
                }
                coding.insert("code".into(), json!(o.code));
                put_text(&mut coding, "display", &o.display);
                let mut opt = Map::new();
                opt.insert("valueCoding".into(), Value::Object(coding));
                if let Some(w) = o.weight {
                    opt.insert(
                        "extension".into(),
                        json!([{"url": ORDINAL_VALUE_URL, "valueDecimal": w}]),
                    );
                }
                Value::Object(opt)
            });
            obj.insert("answerOption".into(), Value::Array(list.collect()));
        }
        ItemKind::Integer { min, max } => {
            obj.insert(
                "extension".into(),
                json!([
                    {"url": MIN_VALUE_URL, "valueInteger": min},
                    {"url": MAX_VALUE_URL, "valueInteger": max},
                ]),
            );
        }
        ItemKind::String { max_chars } => {
            obj.insert("maxLength".into(), json!(max_chars));
        }
        ItemKind::Group(children) => {
            obj.insert(
                "item".into(),
                Value::Array(children.iter().map(item_json).collect()),
            );
        }
        ItemKind::Display | ItemKind::Boolean | ItemKind::Date => {}
    }
    Value::Object(obj)
}

#[cfg(test)]
#[path = "questionnaire_tests.rs"]
mod tests;
