//! The intake-form part of a schedule reply, checked before it is cached:
//! a form definition the kiosk cannot show whole is logged (by id, never
//! with its content) and left out, and so is a crisis text that breaks the
//! text rules. Appointments that name a left-out form then skip it.

use crate::domain::fields::is_invisible;
use crate::domain::questionnaire::LocalizedText;
use crate::forms::{MAX_FORM_BYTES, parse_questionnaire};
use crate::protocol::{BilingualTextWire, FormDefinitionWire, check_form_id};
use crate::store::FormDefinition;

/// The most characters in a form version.
pub const MAX_VERSION_CHARS: usize = 128;
/// The most characters in each language of the crisis text.
pub const MAX_CRISIS_TEXT_CHARS: usize = 2000;

/// The definitions that parse as a supported Questionnaire, as cached.
pub(super) fn usable_forms(forms: Vec<FormDefinitionWire>) -> Vec<FormDefinition> {
    forms.into_iter().filter_map(usable_form).collect()
}

fn usable_form(wire: FormDefinitionWire) -> Option<FormDefinition> {
    if check_form_id(&wire.id).is_err() {
        tracing::warn!("skipped a form definition with an invalid id");
        return None;
    }
    let version_ok = !wire.version.is_empty()
        && wire.version.len() <= MAX_VERSION_CHARS
        && wire.version.chars().all(|c| c.is_ascii_graphic());
    if !version_ok {
        tracing::warn!(form_id = %wire.id, "skipped a form definition with an invalid version");
        return None;
    }
    let definition = wire.questionnaire.to_string();
    if definition.len() > MAX_FORM_BYTES {
        tracing::warn!(form_id = %wire.id, bytes = definition.len(), "skipped a form definition that is too large");
        return None;
    }
    if let Err(e) = parse_questionnaire(&definition) {
        tracing::warn!(form_id = %wire.id, error = %e, "skipped a form definition the kiosk cannot show");
        return None;
    }
    Some(FormDefinition {
        id: wire.id,
        version: wire.version,
        definition,
    })
}

/// The crisis text, when both languages are present, within the limit and
/// free of invisible characters (line breaks are kept).
pub(super) fn usable_crisis_text(wire: BilingualTextWire) -> Option<LocalizedText> {
    let ok = |t: &str| {
        !t.trim().is_empty()
            && t.chars().count() <= MAX_CRISIS_TEXT_CHARS
            && !t.chars().any(|c| is_invisible(c) && c != '\n')
    };
    if ok(&wire.en) && ok(&wire.es) {
        Some(LocalizedText::new(wire.en.trim(), wire.es.trim()))
    } else {
        tracing::warn!("skipped a crisis text that breaks the text rules");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHQ2: &str = include_str!("../../config/forms/phq-2.json");

    fn wire(id: &str, questionnaire: serde_json::Value) -> FormDefinitionWire {
        FormDefinitionWire {
            id: id.into(),
            version: "v1".into(),
            questionnaire,
        }
    }

    #[test]
    fn only_forms_the_kiosk_can_show_are_kept() {
        let good: serde_json::Value = serde_json::from_str(PHQ2).unwrap();
        let mut unsupported = good.clone();
        unsupported["item"][1]["type"] = "attachment".into();
        let kept = usable_forms(vec![
            wire("phq-2", good.clone()),
            wire("broken", unsupported),
            wire("Bad Id", good.clone()),
            FormDefinitionWire {
                version: String::new(),
                ..wire("no-version", good)
            },
        ]);
        let ids: Vec<&str> = kept.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["phq-2"]);
        assert!(parse_questionnaire(&kept[0].definition).is_ok());
    }

    #[test]
    fn a_crisis_text_needs_both_languages_and_clean_text() {
        let text = |en: &str, es: &str| BilingualTextWire {
            en: en.into(),
            es: es.into(),
        };
        assert_eq!(
            usable_crisis_text(text(" Call 988.\n", "Llame al 988.")),
            Some(LocalizedText::new("Call 988.", "Llame al 988."))
        );
        assert_eq!(usable_crisis_text(text("Call 988.", " ")), None);
        assert_eq!(usable_crisis_text(text("Call\u{202E}988", "x")), None);
        let long = "x".repeat(MAX_CRISIS_TEXT_CHARS + 1);
        assert_eq!(usable_crisis_text(text(&long, "x")), None);
    }
}
