//! The clinic server's `[[forms]]` tables: which intake forms (FHIR
//! Questionnaires) it offers, to which visits, how often, and the form
//! files themselves, read and parsed when the configuration is checked so
//! that an unsupported item stops the server before any patient sees it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::check::Checker;
use crate::domain::forms_due::{AppliesTo, FormRule, Frequency};
use crate::domain::questionnaire::Questionnaire;
use crate::forms::{parse_bilingual, parse_questionnaire};

/// The longest gap `every_days` may set: ten years.
const MAX_EVERY_DAYS: i64 = 3650;

/// One `[[forms]]` entry, checked, with its form parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSettings {
    /// The form's id, its visits and its frequency.
    pub rule: FormRule,
    /// The Questionnaire file: English, with Spanish translations unless
    /// `file_es` is set.
    pub file: PathBuf,
    /// The Spanish Questionnaire, when the form comes as one file per
    /// language.
    pub file_es: Option<PathBuf>,
    /// The form, parsed from the files.
    pub questionnaire: Questionnaire,
}

impl FormSettings {
    /// A line for the configuration summary.
    pub fn summary(&self) -> String {
        let how = match self.rule.frequency {
            Frequency::EveryVisit => "every visit".to_string(),
            Frequency::EveryDays(n) => format!("once every {n} days"),
            Frequency::Once => "once".to_string(),
        };
        let to = match &self.rule.applies_to {
            AppliesTo::AllVisits => "all visits".to_string(),
            AppliesTo::Clinicians(c) => format!("clinicians {}", c.join(", ")),
            AppliesTo::VisitTypes(t) => format!("visit types {}", t.join(", ")),
        };
        format!(
            "form {}: {how}, {to}, from {}",
            self.rule.form_id,
            self.file.display()
        )
    }
}

/// The ready-made forms, built into the binary, with the demo clinic's
/// rules: the consent at a new patient's first visit, the PHQ-2 once a
/// year at an annual visit (stepping up to the PHQ-9, which is also asked
/// at every depression follow-up), and the GAD-7 every 180 days at a
/// behavioral-health visit.
pub(super) fn demo_forms() -> Vec<FormSettings> {
    const SHIPPED: [(&str, &str, &str, Frequency); 4] = [
        (
            "consent-npp",
            include_str!("../../config/forms/consent-npp.json"),
            "new-patient",
            Frequency::Once,
        ),
        (
            "phq-2",
            include_str!("../../config/forms/phq-2.json"),
            "annual",
            Frequency::EveryDays(365),
        ),
        (
            "phq-9",
            include_str!("../../config/forms/phq-9.json"),
            "depression-follow-up",
            Frequency::EveryVisit,
        ),
        (
            "gad-7",
            include_str!("../../config/forms/gad-7.json"),
            "behavioral-health",
            Frequency::EveryDays(180),
        ),
    ];
    SHIPPED
        .iter()
        // The shipped files parse (tested in `src/forms`), so none is
        // dropped here.
        .filter_map(|(id, text, visit_type, frequency)| {
            let questionnaire = parse_questionnaire(text).ok()?;
            Some(FormSettings {
                rule: FormRule {
                    form_id: (*id).to_string(),
                    applies_to: AppliesTo::VisitTypes(vec![(*visit_type).to_string()]),
                    frequency: *frequency,
                },
                file: PathBuf::from(format!("config/forms/{id}.json")),
                file_es: None,
                questionnaire,
            })
        })
        .collect()
}

/// `[[forms]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawForm {
    /// Required: the form's id, equal to the Questionnaire's `id`.
    id: Option<String>,
    /// Required: the Questionnaire JSON file.
    file: Option<PathBuf>,
    /// The Spanish Questionnaire JSON file, if one file per language.
    file_es: Option<PathBuf>,
    /// Clinician ids the form applies to; empty for any.
    clinicians: Vec<String>,
    /// Visit type codes the form applies to; empty for any.
    visit_types: Vec<String>,
    /// Required: "every_visit", "every_n_days" or "once".
    frequency: Option<String>,
    /// With "every_n_days": the days between two asks.
    every_days: Option<i64>,
}

/// Checks every `[[forms]]` entry; ids must be unique.
pub(super) fn check_all(raw: Vec<RawForm>, c: &mut Checker<'_>) -> Vec<FormSettings> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, form) in raw.into_iter().enumerate() {
        if let Some(form) = form.check(c, i) {
            if !seen.insert(form.rule.form_id.clone()) {
                c.problem(
                    &format!("forms[{i}].id"),
                    format!(
                        "duplicate form id \"{}\"; each [[forms]] needs its own id",
                        form.rule.form_id
                    ),
                );
            }
            out.push(form);
        }
    }
    out
}

/// The frequency words, before `every_days` is joined in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrequencyWord {
    EveryVisit,
    EveryNDays,
    Once,
}

impl RawForm {
    fn check(self, c: &mut Checker<'_>, i: usize) -> Option<FormSettings> {
        let key = |k: &str| format!("forms[{i}].{k}");
        let id = match &self.id {
            Some(id) => c.identifier(&key("id"), id),
            None => {
                c.missing(&key("id"), "the form's id, such as \"phq-9\"");
                String::new()
            }
        };
        let frequency = self.frequency(c, i);
        let applies_to = self.applies_to(c, i);
        let Some(file) = &self.file else {
            c.missing(
                &key("file"),
                "the path of the form's FHIR Questionnaire JSON file",
            );
            return None;
        };
        let file = c.path(&key("file"), file);
        let file_es = self.file_es.as_ref().map(|f| c.path(&key("file_es"), f));
        let questionnaire = load(c, i, &file, file_es.as_deref())?;
        if !id.is_empty() && questionnaire.id() != id {
            c.problem(
                &key("id"),
                format!(
                    "the Questionnaire in {} has id \"{}\", not \"{id}\"",
                    file.display(),
                    questionnaire.id()
                ),
            );
        }
        Some(FormSettings {
            rule: FormRule {
                form_id: id,
                applies_to,
                frequency: frequency?,
            },
            file,
            file_es,
            questionnaire,
        })
    }

    fn frequency(&self, c: &mut Checker<'_>, i: usize) -> Option<Frequency> {
        let key = |k: &str| format!("forms[{i}].{k}");
        let Some(word) = &self.frequency else {
            c.missing(
                &key("frequency"),
                "\"every_visit\", \"every_n_days\" or \"once\"",
            );
            return None;
        };
        let options = [
            ("every_visit", FrequencyWord::EveryVisit),
            ("every_n_days", FrequencyWord::EveryNDays),
            ("once", FrequencyWord::Once),
        ];
        let word = c.choice(&key("frequency"), word, &options, FrequencyWord::EveryVisit);
        match (word, self.every_days) {
            (FrequencyWord::EveryNDays, None) => {
                c.missing(
                    &key("every_days"),
                    "the days between two asks, with frequency = \"every_n_days\"",
                );
                None
            }
            (FrequencyWord::EveryNDays, Some(n)) => Some(Frequency::EveryDays(c.whole(
                &key("every_days"),
                n,
                1..=MAX_EVERY_DAYS,
                "days",
            ))),
            (_, Some(_)) => {
                c.problem(
                    &key("every_days"),
                    "only used with frequency = \"every_n_days\"; remove it or change frequency",
                );
                None
            }
            (FrequencyWord::EveryVisit, None) => Some(Frequency::EveryVisit),
            (FrequencyWord::Once, None) => Some(Frequency::Once),
        }
    }

    fn applies_to(&self, c: &mut Checker<'_>, i: usize) -> AppliesTo {
        let mut checked = |name: &str, list: &[String]| -> Vec<String> {
            list.iter()
                .enumerate()
                .map(|(j, v)| c.name(&format!("forms[{i}].{name}[{j}]"), Some(v), "an id"))
                .collect()
        };
        let clinicians = checked("clinicians", &self.clinicians);
        let visit_types = checked("visit_types", &self.visit_types);
        match (clinicians.is_empty(), visit_types.is_empty()) {
            (true, true) => AppliesTo::AllVisits,
            (false, true) => AppliesTo::Clinicians(clinicians),
            (true, false) => AppliesTo::VisitTypes(visit_types),
            (false, false) => {
                c.problem(
                    &format!("forms[{i}].visit_types"),
                    "set `clinicians` or `visit_types`, not both; use two [[forms]] entries for both",
                );
                AppliesTo::AllVisits
            }
        }
    }
}

/// Reads and parses the form's file(s); problems name the key and file.
fn load(
    c: &mut Checker<'_>,
    i: usize,
    file: &Path,
    file_es: Option<&Path>,
) -> Option<Questionnaire> {
    let mut read = |key: &str, path: &Path| match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            c.problem(
                &format!("forms[{i}].{key}"),
                format!("cannot read {}: {e}", path.display()),
            );
            None
        }
    };
    let en = read("file", file);
    let es = match file_es {
        Some(path) => Some(read("file_es", path)?),
        None => None,
    };
    let parsed = match es {
        Some(es) => parse_bilingual(&en?, &es),
        None => parse_questionnaire(&en?),
    };
    match parsed {
        Ok(q) => Some(q),
        Err(e) => {
            c.problem(
                &format!("forms[{i}].file"),
                format!("{}: {e}", file.display()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse_server;
    use crate::domain::forms_due::{AppliesTo, Frequency};

    const CLINIC: &str =
        "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/New_York\"\n";

    fn shipped(name: &str) -> String {
        format!("{}/config/forms/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn parse(forms: &str, dir: &Path) -> Result<crate::config::ServerConfig, String> {
        parse_server(&format!("{CLINIC}{forms}"), &dir.join("clinic-server.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn shipped_forms_load_with_their_rules() {
        let dir = Path::new("/nonexistent");
        let text = format!(
            "[[forms]]\nid = \"phq-2\"\nfile = \"{}\"\nfrequency = \"every_n_days\"\nevery_days = 365\n\n\
             [[forms]]\nid = \"consent-npp\"\nfile = \"{}\"\nfrequency = \"once\"\nvisit_types = [\"new-patient\"]\n",
            shipped("phq-2.json"),
            shipped("consent-npp.json")
        );
        let config = parse(&text, dir).unwrap();
        assert_eq!(config.forms.len(), 2);
        assert_eq!(config.forms[0].rule.frequency, Frequency::EveryDays(365));
        assert_eq!(config.forms[0].rule.applies_to, AppliesTo::AllVisits);
        assert_eq!(config.forms[0].questionnaire.id(), "phq-2");
        assert_eq!(
            config.forms[1].rule.applies_to,
            AppliesTo::VisitTypes(vec!["new-patient".into()])
        );
        assert!(
            config
                .summary()
                .contains("form phq-2: once every 365 days, all visits")
        );
    }

    #[test]
    fn an_unsupported_item_is_refused_with_file_key_and_link_id() {
        let dir = tempfile::tempdir().unwrap();
        let form = r#"{"resourceType": "Questionnaire", "id": "intake", "item": [
            {"linkId": "photo", "type": "attachment", "text": "Photo"}]}"#;
        std::fs::write(dir.path().join("intake.json"), form).unwrap();
        let err = parse(
            "[[forms]]\nid = \"intake\"\nfile = \"intake.json\"\nfrequency = \"every_visit\"\n",
            dir.path(),
        )
        .unwrap_err();
        let path = dir.path().join("intake.json");
        assert!(err.contains("clinic-server.toml"), "{err}");
        assert!(err.contains("`forms[0].file`"), "{err}");
        assert!(
            err.contains(&format!(
                "{}: item photo: the item type attachment is not supported",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn broken_entries_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[forms]]\nid = \"phq-9\"\nfile = \"missing.json\"\nfrequency = \"weekly\"\n\n\
             [[forms]]\nid = \"gad-7\"\nfile = \"{gad}\"\nfrequency = \"once\"\nevery_days = 30\n\n\
             [[forms]]\nid = \"phq-2\"\nfile = \"{gad}\"\nfrequency = \"every_visit\"\nclinicians = [\"a\"]\nvisit_types = [\"b\"]\n\n\
             [[forms]]\nid = \"gad-7\"\nfile = \"{gad}\"\nfrequency = \"every_n_days\"\n",
            gad = shipped("gad-7.json")
        );
        let err = parse(&text, dir.path()).unwrap_err();
        for expected in [
            "`forms[0].file`: cannot read",
            "`forms[0].frequency`: expected \"every_visit\", \"every_n_days\" or \"once\", found \"weekly\"",
            "`forms[1].every_days`: only used with frequency = \"every_n_days\"",
            "`forms[2].visit_types`: set `clinicians` or `visit_types`, not both",
            "`forms[2].id`: the Questionnaire in",
            "has id \"gad-7\", not \"phq-2\"",
            "`forms[3].every_days`: missing required key",
        ] {
            assert!(err.contains(expected), "{expected:?} not in {err}");
        }
    }

    #[test]
    fn the_demo_offers_every_shipped_form() {
        let forms = super::demo_forms();
        let ids: Vec<&str> = forms.iter().map(|f| f.rule.form_id.as_str()).collect();
        assert_eq!(ids, ["consent-npp", "phq-2", "phq-9", "gad-7"]);
        for f in &forms {
            assert_eq!(f.questionnaire.id(), f.rule.form_id);
        }
    }

    #[test]
    fn one_file_per_language_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        let q = |title: &str, text: &str| {
            format!(
                r#"{{"resourceType": "Questionnaire", "id": "ok", "title": "{title}", "item": [{{"linkId": "a", "type": "boolean", "text": "{text}"}}]}}"#
            )
        };
        std::fs::write(dir.path().join("en.json"), q("Agree", "I agree")).unwrap();
        std::fs::write(dir.path().join("es.json"), q("Acuerdo", "Estoy de acuerdo")).unwrap();
        let config = parse(
            "[[forms]]\nid = \"ok\"\nfile = \"en.json\"\nfile_es = \"es.json\"\nfrequency = \"once\"\n",
            dir.path(),
        )
        .unwrap();
        let item = config.forms[0].questionnaire.item("a").unwrap();
        assert_eq!(item.text.es, "Estoy de acuerdo");
        assert_eq!(config.forms[0].file_es, Some(dir.path().join("es.json")));
    }
}
