//! The clinic server's `[screening]` table: the crisis text a kiosk shows
//! after a screener's self-harm item is answered above zero, in English
//! and Spanish (both or neither).

use serde::Deserialize;

use super::check::Checker;
use crate::domain::fields;

/// The most characters in one language's crisis text.
pub const MAX_CRISIS_TEXT_CHARS: usize = 500;

/// The checked `[screening]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreeningSettings {
    /// The crisis text, `None` when the clinic has none (the kiosk then
    /// shows only its neutral thank-you).
    pub crisis_text: Option<CrisisText>,
}

/// A crisis text in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrisisText {
    /// English.
    pub en: String,
    /// Spanish.
    pub es: String,
}

impl ScreeningSettings {
    /// The built-in demo's crisis text: the US 988 line.
    pub fn demo() -> Self {
        Self {
            crisis_text: Some(CrisisText {
                en: "If you are thinking about hurting yourself, please tell the front desk now. You can also call or text 988, the Suicide & Crisis Lifeline, at any time.".into(),
                es: "Si está pensando en hacerse daño, avise ahora a la recepción. También puede llamar o enviar un mensaje de texto al 988, la Línea de Prevención del Suicidio y Crisis, a cualquier hora.".into(),
            }),
        }
    }
}

/// `[screening]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawScreening {
    /// The crisis text in English.
    crisis_text_en: Option<String>,
    /// The crisis text in Spanish.
    crisis_text_es: Option<String>,
}

impl RawScreening {
    /// Checks the table: each text 1 to [`MAX_CRISIS_TEXT_CHARS`]
    /// characters with no control or invisible character, both or neither.
    pub(super) fn check(self, c: &mut Checker<'_>) -> ScreeningSettings {
        let en = self
            .crisis_text_en
            .map(|t| text(c, "screening.crisis_text_en", &t));
        let es = self
            .crisis_text_es
            .map(|t| text(c, "screening.crisis_text_es", &t));
        let crisis_text = match (en, es) {
            (Some(en), Some(es)) => Some(CrisisText { en, es }),
            (None, None) => None,
            (Some(_), None) => {
                c.missing(
                    "screening.crisis_text_es",
                    "the Spanish crisis text, as crisis_text_en is set",
                );
                None
            }
            (None, Some(_)) => {
                c.missing(
                    "screening.crisis_text_en",
                    "the English crisis text, as crisis_text_es is set",
                );
                None
            }
        };
        ScreeningSettings { crisis_text }
    }
}

fn text(c: &mut Checker<'_>, key: &str, value: &str) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        c.problem(key, "expected the text, found an empty string");
    } else if trimmed.chars().count() > MAX_CRISIS_TEXT_CHARS {
        c.problem(
            key,
            format!("expected at most {MAX_CRISIS_TEXT_CHARS} characters"),
        );
    } else if trimmed
        .chars()
        .any(|ch| ch.is_control() || fields::is_invisible(ch))
    {
        c.problem(
            key,
            "expected one line of text without control or invisible characters",
        );
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse_server;

    const CLINIC: &str =
        "[[clinic]]\nid = \"north\"\nname = \"North\"\ntime_zone = \"America/New_York\"\n";

    fn parse(table: &str) -> Result<crate::config::ServerConfig, String> {
        parse_server(
            &format!("{CLINIC}{table}"),
            Path::new("/etc/clinic-server.toml"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn both_texts_are_read_and_neither_is_none() {
        let c = parse(
            "[screening]\ncrisis_text_en = \" Call 988. \"\ncrisis_text_es = \"Llame al 988.\"\n",
        )
        .unwrap();
        let t = c.screening.crisis_text.unwrap();
        assert_eq!(
            (t.en.as_str(), t.es.as_str()),
            ("Call 988.", "Llame al 988.")
        );
        assert_eq!(parse("").unwrap().screening.crisis_text, None);
        assert_eq!(parse("[screening]\n").unwrap().screening.crisis_text, None);
    }

    #[test]
    fn one_language_alone_long_or_invisible_texts_are_refused() {
        let err = parse("[screening]\ncrisis_text_en = \"Call 988.\"\n").unwrap_err();
        assert!(err.contains("`screening.crisis_text_es`"), "{err}");
        let long = "a".repeat(super::MAX_CRISIS_TEXT_CHARS + 1);
        let err = parse(&format!(
            "[screening]\ncrisis_text_en = \"{long}\"\ncrisis_text_es = \"ok\"\n"
        ))
        .unwrap_err();
        assert!(err.contains("at most 500 characters"), "{err}");
        let err = parse("[screening]\ncrisis_text_en = \"a\\u202eb\"\ncrisis_text_es = \"ok\"\n")
            .unwrap_err();
        assert!(err.contains("invisible"), "{err}");
        let err =
            parse("[screening]\ncrisis_text_en = \" \"\ncrisis_text_es = \"ok\"\n").unwrap_err();
        assert!(err.contains("empty string"), "{err}");
    }
}
