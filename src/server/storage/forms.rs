//! Completed intake forms in the store: the `form_responses` rows the
//! event ingest writes, the forms due that every schedule reply carries
//! (from the configured rules and each patient's history), and today's
//! completed forms for the staff console.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use chrono_tz::Tz;
use rusqlite::{Connection, params};

use super::StorageError;
use crate::domain::ClinicId;
use crate::domain::forms_due::{Completed, FormRule, Visit, forms_due};
use crate::protocol::ScheduleResponse;
use crate::server::db::{from_ms, to_ms};
use crate::server::intake::FormCatalog;

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
    reply.crisis_text = catalog.crisis_text().cloned();
    if catalog.is_empty() || reply.upserts.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = reply.upserts.iter().map(|w| w.id.as_str()).collect();
    let facts = visit_facts(conn, clinic, &ids)?;
    let patients: HashSet<&str> = reply
        .upserts
        .iter()
        .map(|w| w.patient.id.as_str())
        .collect();
    let history = history(conn, clinic, tz, patients.into_iter().collect())?;
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
    Ok(())
}

/// What decides a visit's forms, besides its id.
struct Facts {
    day: NaiveDate,
    clinician_id: Option<String>,
    visit_type: Option<String>,
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
        let completed_on = from_ms(r.get(3)?).with_timezone(&tz).date_naive();
        out.entry(r.get(0)?).or_default().push(Completed {
            form_id: r.get(1)?,
            appointment_id: Some(r.get(2)?),
            completed_on,
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
