//! Completed intake forms in the store: the `form_responses` rows the
//! event ingest writes, the forms due that every schedule reply carries
//! (from the configured rules and each patient's history), and today's
//! completed forms for the staff console. The checks, scoring and
//! forms-due rules here are shared with the PostgreSQL twin, `pg::forms`.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, params};

use super::StorageError;
use crate::domain::ClinicId;
use crate::domain::forms_due::{Completed, FormRule, Visit, forms_due};
use crate::domain::screening::Score;
use crate::protocol::{EventBody, ScheduleResponse};
use crate::server::db::{from_ms, to_ms};
use crate::server::intake::{FormCatalog, OfferedForm};

/// A completed form to store.
#[derive(Debug, Clone)]
pub struct NewFormResponse<'a> {
    /// The kiosk event that carried it; its UUID.
    pub event_id: &'a str,
    /// The sending kiosk.
    pub kiosk_id: &'a str,
    /// The appointment it was completed at.
    pub appointment_id: &'a str,
    /// The patient.
    pub patient_id: &'a str,
    /// The form.
    pub form_id: &'a str,
    /// The version of the definition answered.
    pub form_version: &'a str,
    /// The QuestionnaireResponse, as JSON text.
    pub response: &'a str,
    /// The signature PNG, for a consent signed by drawing.
    pub signature_png: Option<&'a [u8]>,
    /// The typed name, for a consent signed by keypad.
    pub signature_name: Option<&'a str>,
    /// The screener's total, if scored.
    pub score: Option<u8>,
    /// The screener's band, if it has one.
    pub band: Option<&'a str>,
    /// Whether the result is urgent (`screening_positive`).
    pub urgent: bool,
    /// When the patient finished.
    pub completed_at: chrono::DateTime<chrono::Utc>,
    /// When the server received it.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// Stores one completed form; the caller's transaction holds the event.
pub fn insert(
    tx: &Connection,
    clinic: &ClinicId,
    f: &NewFormResponse<'_>,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO form_responses (clinic_id, event_id, kiosk_id, appointment_id, patient_id,
             form_id, form_version, response, signature_png, score, band, urgent,
             completed_ms, received_ms, signature_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        clinic.as_str(),
        f.event_id,
        f.kiosk_id,
        f.appointment_id,
        f.patient_id,
        f.form_id,
        f.form_version,
        f.response,
        f.signature_png,
        f.score,
        f.band,
        f.urgent,
        to_ms(f.completed_at),
        to_ms(f.received_at),
        f.signature_name
    ])?;
    Ok(())
}

/// Fills in a schedule reply's forms: each upsert's `forms_due` (from
/// `catalog`'s rules and the patients' completed forms, days counted in
/// `tz`), the definitions those name, each once, and the crisis text.
/// Two queries whatever the reply's size: the upserts' visit facts, and
/// their patients' history.
pub fn annotate(
    conn: &Connection,
    clinic: &ClinicId,
    tz: Tz,
    reply: &mut ScheduleResponse,
    catalog: &FormCatalog,
) -> Result<(), StorageError> {
    let Some(wanted) = lookups(reply, catalog) else {
        return Ok(());
    };
    let ids: Vec<&str> = wanted.appointments.iter().map(String::as_str).collect();
    let facts = visit_facts(conn, clinic, &ids)?;
    let patients: Vec<&str> = wanted.patients.iter().map(String::as_str).collect();
    let history = history(conn, clinic, tz, patients)?;
    fill(reply, catalog, &facts, &history);
    Ok(())
}

/// What [`annotate`] (on either backend) must read for a reply.
pub(crate) struct Lookups {
    /// The appointments the reply upserts.
    pub(crate) appointments: Vec<String>,
    /// Their patients, each once.
    pub(crate) patients: Vec<String>,
}

/// Sets the reply's crisis text, and names what to read for its forms due;
/// `None` when there is nothing to compute (no form offered, no upsert).
pub(crate) fn lookups(reply: &mut ScheduleResponse, catalog: &FormCatalog) -> Option<Lookups> {
    reply.crisis_text = catalog.crisis_text().cloned();
    if catalog.is_empty() || reply.upserts.is_empty() {
        return None;
    }
    let appointments = reply.upserts.iter().map(|w| w.id.clone()).collect();
    let patients: HashSet<&str> = reply
        .upserts
        .iter()
        .map(|w| w.patient.id.as_str())
        .collect();
    Some(Lookups {
        appointments,
        patients: patients.into_iter().map(str::to_string).collect(),
    })
}

/// The pure part of [`annotate`], the same on every backend: each live
/// upsert's `forms_due` from its visit facts and its patient's history,
/// and the definitions the reply names.
pub(crate) fn fill(
    reply: &mut ScheduleResponse,
    catalog: &FormCatalog,
    facts: &HashMap<String, Facts>,
    history: &HashMap<String, Vec<Completed>>,
) {
    let rules: Vec<FormRule> = catalog.rules();
    let mut named: Vec<String> = Vec::new();
    let none = Vec::new();
    for w in &mut reply.upserts {
        let Some(f) = facts.get(&w.id) else { continue };
        if w.status == "cancelled" {
            continue;
        }
        let visit = Visit {
            appointment_id: &w.id,
            day: f.day,
            clinician_id: f.clinician_id.as_deref(),
            visit_type: f.visit_type.as_deref(),
        };
        let past = history.get(&w.patient.id).unwrap_or(&none);
        w.forms_due = forms_due(&rules, &visit, past)
            .into_iter()
            .map(str::to_string)
            .collect();
        named.extend(w.forms_due.iter().cloned());
    }
    reply.forms = catalog.definitions_for(named.iter().map(String::as_str));
}

/// What decides a visit's forms, besides its id.
pub(crate) struct Facts {
    /// The visit's day in the clinic's zone.
    pub(crate) day: NaiveDate,
    /// The clinician's id, if the schedule has one.
    pub(crate) clinician_id: Option<String>,
    /// The visit type, if the schedule has one.
    pub(crate) visit_type: Option<String>,
}

/// The day, in `tz`, a form completed at `completed_ms` counts for.
pub(crate) fn completed_day(completed_ms: i64, tz: Tz) -> NaiveDate {
    from_ms(completed_ms).with_timezone(&tz).date_naive()
}

/// The day, clinician id and visit type of each of `ids`, in one query.
fn visit_facts(
    conn: &Connection,
    clinic: &ClinicId,
    ids: &[&str],
) -> Result<HashMap<String, Facts>, StorageError> {
    let list = json_list(ids)?;
    let mut stmt = conn.prepare_cached(
        "SELECT appointment_id, day, clinician_id, visit_type FROM appointments
         WHERE clinic_id = ?1 AND appointment_id IN (SELECT value FROM json_each(?2))",
    )?;
    let mut rows = stmt.query(params![clinic.as_str(), list])?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next()? {
        let day: String = r.get(1)?;
        let day = day
            .parse()
            .map_err(|_| StorageError::Corrupt("appointments.day"))?;
        out.insert(
            r.get(0)?,
            Facts {
                day,
                clinician_id: r.get(2)?,
                visit_type: r.get(3)?,
            },
        );
    }
    Ok(out)
}

/// Every completed form of each of `patients`, by patient, in one query.
fn history(
    conn: &Connection,
    clinic: &ClinicId,
    tz: Tz,
    patients: Vec<&str>,
) -> Result<HashMap<String, Vec<Completed>>, StorageError> {
    let list = json_list(&patients)?;
    let mut stmt = conn.prepare_cached(
        "SELECT patient_id, form_id, appointment_id, completed_ms FROM form_responses
         WHERE clinic_id = ?1 AND patient_id IN (SELECT value FROM json_each(?2))",
    )?;
    let mut rows = stmt.query(params![clinic.as_str(), list])?;
    let mut out: HashMap<String, Vec<Completed>> = HashMap::new();
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push(Completed {
            form_id: r.get(1)?,
            appointment_id: Some(r.get(2)?),
            completed_on: completed_day(r.get(3)?, tz),
        });
    }
    Ok(out)
}

fn json_list(items: &[&str]) -> Result<String, StorageError> {
    serde_json::to_string(items).map_err(|source| StorageError::Json {
        column: "(serializing)",
        source,
    })
}

/// One completed form, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredForm {
    /// The appointment.
    pub appointment_id: String,
    /// The form.
    pub form_id: String,
    /// When the patient finished.
    pub completed_at: chrono::DateTime<chrono::Utc>,
    /// The screener's total, if scored.
    pub score: Option<u8>,
    /// The screener's band, if any.
    pub band: Option<String>,
    /// Whether the result was urgent.
    pub urgent: bool,
    /// Whether a signature is stored with it, drawn or typed.
    pub signed: bool,
}

/// The completed forms of `clinic`'s appointments on `day`, by appointment
/// start and completion time.
pub fn completed_on_day(
    conn: &Connection,
    clinic: &ClinicId,
    day: NaiveDate,
) -> Result<Vec<StoredForm>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.appointment_id, f.form_id, f.completed_ms, f.score, f.band, f.urgent,
                f.signature_png IS NOT NULL OR f.signature_name IS NOT NULL
         FROM form_responses f JOIN appointments a
           ON a.clinic_id = f.clinic_id AND a.appointment_id = f.appointment_id
         WHERE f.clinic_id = ?1 AND a.day = ?2 AND a.removed = 0
         ORDER BY a.start_ms, a.appointment_id, f.completed_ms, f.event_id",
    )?;
    let rows = stmt.query_map(params![clinic.as_str(), day.to_string()], |r| {
        Ok(StoredForm {
            appointment_id: r.get(0)?,
            form_id: r.get(1)?,
            completed_at: from_ms(r.get(2)?),
            score: r.get(3)?,
            band: r.get(4)?,
            urgent: r.get(5)?,
            signed: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stamps every appointment of `patient_id` with `seq`, so the next delta
/// carries their new `forms_due`.
pub fn touch_patient_forms(
    tx: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
    seq: i64,
) -> Result<(), StorageError> {
    tx.prepare_cached(
        "UPDATE appointments SET change_seq = ?3 WHERE clinic_id = ?1 AND patient_id = ?2",
    )?
    .execute(params![clinic.as_str(), patient_id, seq])?;
    Ok(())
}

/// The step a flag raised by a completed form names.
pub(crate) const FORMS_STEP: &str = "forms";

/// A completed form that passed [`check_completed`].
pub(crate) struct CheckedForm<'a> {
    /// The form answered.
    pub(crate) offered: &'a OfferedForm,
    /// The QuestionnaireResponse, as stored.
    pub(crate) text: String,
    /// The patient's signature, for a consent.
    pub(crate) signature: Option<Signature>,
    /// The screener's score, for a scored form.
    pub(crate) score: Option<Score>,
}

impl CheckedForm<'_> {
    /// Whether the result raises `screening_positive`.
    pub(crate) fn urgent(&self) -> bool {
        self.score.as_ref().and_then(Score::urgent).is_some()
    }

    /// The screener's band for staff, if scored.
    pub(crate) fn band(&self) -> Option<String> {
        self.score.as_ref().map(band)
    }

    /// The screener's total, if scored.
    pub(crate) fn total(&self) -> Option<u8> {
        self.score.as_ref().map(|s| s.total)
    }
}

/// Checks a `form_completed` body against the offered form, the same on
/// every backend: offered here, a signature exactly when it takes one, a
/// completed response whose answers fit the items and answer every
/// required one, and a score for a screener. Reasons name the form and the
/// linkId, never an answer. `Ok(None)` for any other event.
pub(crate) fn check_completed<'a>(
    forms: &'a FormCatalog,
    body: &EventBody,
) -> Result<Option<CheckedForm<'a>>, String> {
    let EventBody::FormCompleted {
        form_id,
        response,
        signature_png,
        signature_name,
        ..
    } = body
    else {
        return Ok(None);
    };
    let Some(offered) = forms.get(form_id) else {
        return Err(format!(
            "form {form_id} is not offered by this clinic server"
        ));
    };
    let signature = signature(offered, signature_png.as_deref(), signature_name.as_deref())?;
    if response.get("status").and_then(|v| v.as_str()) != Some("completed") {
        return Err(format!(
            "response to form {form_id}: status must be \"completed\""
        ));
    }
    let text = response.to_string();
    let answers = crate::forms::parse_response(&offered.questionnaire, &text)
        .map_err(|e| format!("response to form {form_id}: {e}"))?;
    if let Some(missing) = offered.questionnaire.missing_required(&answers).first() {
        return Err(format!(
            "response to form {form_id}: required item {missing} is not answered"
        ));
    }
    let score = offered
        .instrument
        .map(|i| crate::domain::screening::score_response(i, &offered.questionnaire, &answers))
        .transpose()
        .map_err(|e| format!("response to form {form_id}: {e}"))?;
    Ok(Some(CheckedForm {
        offered,
        text,
        signature,
        score,
    }))
}

/// A consent's signature: drawn, or the name typed on the keypad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signature {
    /// The drawing's PNG bytes.
    Drawn(Vec<u8>),
    /// The typed name.
    Typed(String),
}

impl Signature {
    /// The drawing's PNG bytes, for a drawn signature.
    pub(crate) fn png(&self) -> Option<&[u8]> {
        match self {
            Self::Drawn(png) => Some(png),
            Self::Typed(_) => None,
        }
    }

    /// The typed name, for a signature typed by keypad.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Self::Typed(name) => Some(name),
            Self::Drawn(_) => None,
        }
    }
}

/// The signature: exactly one of a PNG or a typed name for a form that
/// takes one, neither for any other. The protocol check already made sure
/// the PNG is base64 PNG and the name follows the name rule.
fn signature(
    offered: &OfferedForm,
    png: Option<&str>,
    name: Option<&str>,
) -> Result<Option<Signature>, String> {
    use base64::Engine as _;
    let id = &offered.rule.form_id;
    match (png, name, offered.takes_signature) {
        (None, None, false) => Ok(None),
        (None, None, true) => Err(format!(
            "form {id} needs the patient's signature in signature_png or signature_name"
        )),
        (Some(_), Some(_), _) => Err(format!(
            "form {id}: send signature_png or signature_name, not both"
        )),
        (_, _, false) => Err(format!(
            "form {id} takes no signature; send a signature only with a consent form"
        )),
        (Some(png), None, true) => base64::engine::general_purpose::STANDARD
            .decode(png)
            .map(|png| Some(Signature::Drawn(png)))
            .map_err(|_| "signature_png: not standard base64".to_string()),
        (None, Some(name), true) => Ok(Some(Signature::Typed(name.to_string()))),
    }
}

/// A screener's band for staff: the severity, or for the PHQ-2 whether it
/// screens positive (3 or more).
fn band(score: &Score) -> String {
    match score.severity() {
        Some(s) => s.as_str().to_string(),
        None if score.steps_up_to_phq9() => "positive".to_string(),
        None => "negative".to_string(),
    }
}
