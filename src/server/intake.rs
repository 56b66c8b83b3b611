//! The intake forms this server offers, ready to use: each configured
//! form's rule, its parsed Questionnaire, the definition kiosks get (FHIR
//! JSON and a version digest), whether it is a scored screener and
//! whether it takes a signature; and the clinic's crisis text.
//!
//! Built once from the configuration when the server starts.
//!
//! - A form is scored as the PHQ-2, PHQ-9 or GAD-7 when its id is that
//!   screener's ready-made id (`phq-2`, `phq-9`, `gad-7`, as
//!   [`Instrument::for_form`]) and it has every scored linkId. The domain's
//!   Questionnaire keeps no canonical URL or LOINC code, so the id is the
//!   match; a clinic that renames a screener's form gets it unscored.
//! - A form takes the patient's signature when its id starts with
//!   `consent` (the ready-made `consent-npp`); every other form refuses one.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::ServerConfig;
use crate::domain::forms_due::FormRule;
use crate::domain::questionnaire::Questionnaire;
use crate::domain::screening::Instrument;
use crate::forms::to_fhir_json;
use crate::protocol::{BilingualTextWire, FormDefinitionWire};

/// One offered form.
#[derive(Debug, Clone)]
pub struct OfferedForm {
    /// Its id, visits and frequency.
    pub rule: FormRule,
    /// The form, for checking answers.
    pub questionnaire: Questionnaire,
    /// What kiosks get: the Questionnaire JSON and its version.
    pub definition: FormDefinitionWire,
    /// The screener it is scored as, if any.
    pub instrument: Option<Instrument>,
    /// Whether it takes (and needs) the patient's signature.
    pub takes_signature: bool,
}

/// Every offered form, in configuration order, and the crisis text.
#[derive(Debug, Clone, Default)]
pub struct FormCatalog {
    /// The forms, in the order kiosks ask them.
    forms: Vec<OfferedForm>,
    /// Index into `forms` by id.
    by_id: HashMap<String, usize>,
    /// The clinic's crisis text, if configured.
    crisis_text: Option<BilingualTextWire>,
}

impl FormCatalog {
    /// The catalog of `config`'s `[[forms]]` and `[screening]`.
    pub fn new(config: &ServerConfig) -> Self {
        let forms: Vec<OfferedForm> = config
            .forms
            .iter()
            .map(|f| OfferedForm::new(f.rule.clone(), f.questionnaire.clone()))
            .collect();
        let by_id = forms
            .iter()
            .enumerate()
            .map(|(i, f)| (f.rule.form_id.clone(), i))
            .collect();
        let crisis_text = config
            .screening
            .crisis_text
            .as_ref()
            .map(|t| BilingualTextWire {
                en: t.en.clone(),
                es: t.es.clone(),
            });
        Self {
            forms,
            by_id,
            crisis_text,
        }
    }

    /// Whether no form is offered.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// The rules, in configuration order, for `domain::forms_due`.
    pub fn rules(&self) -> Vec<FormRule> {
        self.forms.iter().map(|f| f.rule.clone()).collect()
    }

    /// The offered form with `id`.
    pub fn get(&self, id: &str) -> Option<&OfferedForm> {
        self.by_id.get(id).and_then(|&i| self.forms.get(i))
    }

    /// The crisis text, if configured.
    pub fn crisis_text(&self) -> Option<&BilingualTextWire> {
        self.crisis_text.as_ref()
    }

    /// The definitions a reply naming `due` must carry, each once, in
    /// configuration order: every named form, and the PHQ-9 whenever the
    /// PHQ-2 is named and the PHQ-9 is offered (the kiosk steps up to it
    /// on its own, offline too).
    pub fn definitions_for<'a>(
        &self,
        due: impl IntoIterator<Item = &'a str>,
    ) -> Vec<FormDefinitionWire> {
        let mut wanted = vec![false; self.forms.len()];
        for id in due {
            let Some(&i) = self.by_id.get(id) else {
                continue;
            };
            wanted[i] = true;
            let phq9 = self.by_id.get(Instrument::Phq9.form_id());
            if let (Some(Instrument::Phq2), Some(&j)) = (self.forms[i].instrument, phq9) {
                wanted[j] |= self.forms[j].instrument == Some(Instrument::Phq9);
            }
        }
        self.forms
            .iter()
            .zip(wanted)
            .filter(|(_, w)| *w)
            .map(|(f, _)| f.definition.clone())
            .collect()
    }
}

impl OfferedForm {
    /// Prepares `questionnaire` under `rule`.
    pub fn new(rule: FormRule, questionnaire: Questionnaire) -> Self {
        let json = to_fhir_json(&questionnaire);
        let version = version_of(&json);
        let instrument = Instrument::for_form(questionnaire.id()).filter(|i| {
            i.link_ids()
                .iter()
                .all(|id| questionnaire.item(id).is_some())
        });
        let takes_signature = questionnaire
            .id()
            .starts_with(crate::domain::forms_session::CONSENT_PREFIX);
        Self {
            definition: FormDefinitionWire {
                id: rule.form_id.clone(),
                version,
                questionnaire: json,
            },
            rule,
            questionnaire,
            instrument,
            takes_signature,
        }
    }
}

/// The SHA-256, in hex, of `json` written canonically: object keys sorted,
/// no whitespace. Equal forms get equal versions whatever their key order.
pub fn version_of(json: &Value) -> String {
    let mut text = String::new();
    canonical(json, &mut text);
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (n, k) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(k) {
                    canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `GET /api/v1/staff/clinics/{clinic}/forms`: the completed intake forms
/// of today's appointments. Staff-only, like the EHR status, so it lives
/// beside the catalog rather than in `protocol`.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct StaffCompletedForms {
    /// The clinic.
    pub clinic_id: String,
    /// The day listed, in the clinic's zone.
    pub day: chrono::NaiveDate,
    /// The forms, by appointment start, then completion time.
    pub forms: Vec<StaffCompletedForm>,
}

/// One completed form, as the front desk sees it: no answers, only the
/// score and its band.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct StaffCompletedForm {
    /// The appointment it was completed at.
    pub appointment_id: String,
    /// The form's id.
    pub form_id: String,
    /// The form's English title (its id when the form is no longer offered).
    pub title: String,
    /// When the patient finished it.
    pub completed_at: chrono::DateTime<chrono::Utc>,
    /// A screener's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// The highest total the screener has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<u8>,
    /// The score's band: `minimal` to `severe`, or for the PHQ-2
    /// `positive` (3 or more) or `negative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
    /// Whether the result raised `screening_positive`.
    pub urgent: bool,
    /// Whether the patient's signature is stored with it.
    pub signed: bool,
    /// What the result still asks of staff: for a positive PHQ-2 whose
    /// PHQ-9 the patient did not finish at that appointment,
    /// `phq9_not_completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<String>,
}

/// The follow-up of a positive PHQ-2 whose PHQ-9 was not finished.
pub const FOLLOW_UP_PHQ9: &str = "phq9_not_completed";

/// The appointments at which a PHQ-9 was finished.
fn with_phq9(rows: &[crate::server::storage::forms::StoredForm]) -> HashSet<&str> {
    rows.iter()
        .filter(|r| Instrument::for_form(&r.form_id) == Some(Instrument::Phq9))
        .map(|r| r.appointment_id.as_str())
        .collect()
}

/// A positive PHQ-2 (scored 3 or more) with no PHQ-9 at its appointment
/// asks staff for the PHQ-9.
fn follow_up(
    r: &crate::server::storage::forms::StoredForm,
    phq9_done: &HashSet<&str>,
) -> Option<String> {
    let positive = Instrument::for_form(&r.form_id) == Some(Instrument::Phq2)
        && r.score
            .is_some_and(|s| s >= crate::domain::screening::PHQ2_STEP_UP_AT);
    (positive && !phq9_done.contains(r.appointment_id.as_str())).then(|| FOLLOW_UP_PHQ9.to_string())
}

impl FormCatalog {
    /// Staff's view of stored forms: titles and score ranges added.
    pub fn staff_view(
        &self,
        clinic: &crate::domain::ClinicId,
        day: chrono::NaiveDate,
        rows: Vec<crate::server::storage::forms::StoredForm>,
    ) -> StaffCompletedForms {
        let phq9_done = with_phq9(&rows);
        let follow_ups: Vec<Option<String>> =
            rows.iter().map(|r| follow_up(r, &phq9_done)).collect();
        let forms = rows
            .into_iter()
            .zip(follow_ups)
            .map(|(r, follow_up)| {
                let offered = self.get(&r.form_id);
                StaffCompletedForm {
                    title: offered
                        .map_or_else(|| r.form_id.clone(), |f| f.questionnaire.title().en.clone()),
                    max_score: offered
                        .and_then(|f| f.instrument)
                        .filter(|_| r.score.is_some())
                        .map(|i| i.max_total()),
                    appointment_id: r.appointment_id,
                    form_id: r.form_id,
                    completed_at: r.completed_at,
                    score: r.score,
                    band: r.band,
                    urgent: r.urgent,
                    signed: r.signed,
                    follow_up,
                }
            })
            .collect();
        StaffCompletedForms {
            clinic_id: clinic.as_str().to_string(),
            day,
            forms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo() -> FormCatalog {
        FormCatalog::new(&ServerConfig::demo(
            std::path::PathBuf::from("/tmp/x"),
            "127.0.0.1:0".parse().unwrap(),
        ))
    }

    #[test]
    fn the_version_ignores_key_order_and_follows_content() {
        let a = json!({"b": 1, "a": [1, {"y": "x", "x": null}]});
        let b = json!({"a": [1, {"x": null, "y": "x"}], "b": 1});
        assert_eq!(version_of(&a), version_of(&b));
        assert_eq!(version_of(&a).len(), 64);
        assert_ne!(version_of(&a), version_of(&json!({"b": 2, "a": []})));
    }

    #[test]
    fn screeners_are_scored_and_consents_signed() {
        let c = demo();
        assert_eq!(c.get("phq-2").unwrap().instrument, Some(Instrument::Phq2));
        assert_eq!(c.get("phq-9").unwrap().instrument, Some(Instrument::Phq9));
        assert_eq!(c.get("gad-7").unwrap().instrument, Some(Instrument::Gad7));
        assert_eq!(c.get("consent-npp").unwrap().instrument, None);
        assert!(c.get("consent-npp").unwrap().takes_signature);
        assert!(!c.get("phq-9").unwrap().takes_signature);
        assert!(c.get("nope").is_none());
        assert!(c.crisis_text().is_some());
    }

    #[test]
    fn the_phq2_brings_the_phq9_and_each_definition_comes_once() {
        let c = demo();
        let ids = |d: Vec<FormDefinitionWire>| d.into_iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(c.definitions_for(["phq-2"])), ["phq-2", "phq-9"]);
        assert_eq!(
            ids(c.definitions_for(["gad-7", "phq-2", "phq-2", "consent-npp", "zzz"])),
            ["consent-npp", "phq-2", "phq-9", "gad-7"]
        );
        assert!(c.definitions_for([]).is_empty());
        let d = c.definitions_for(["phq-9"]);
        assert_eq!(d[0].questionnaire["resourceType"], "Questionnaire");
        assert_eq!(d[0].version, version_of(&d[0].questionnaire));
    }
}
