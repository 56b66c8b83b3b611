//! Intake forms as FHIR R4 JSON: reading a Questionnaire into the domain's
//! supported subset (refusing, by linkId, anything outside it), writing a
//! form back out as a Questionnaire, and writing and reading a patient's
//! answers as a QuestionnaireResponse.
//!
//! **Architecture invariant:** an unsupported item is an error here, never
//! silently dropped, so a form that loads is shown whole.

mod questionnaire;
mod response;

pub use questionnaire::{
    ORDINAL_VALUE_URL, ParseError, TRANSLATION_URL, parse_bilingual, parse_questionnaire,
    to_fhir_json,
};
pub use response::{ResponseMeta, parse_response, questionnaire_response};

/// The largest form file accepted, in bytes.
pub const MAX_FORM_BYTES: usize = 1 << 20;
