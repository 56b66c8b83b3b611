//! The intake forms beside the schedule cache: each appointment's forms due,
//! the form definitions (FHIR Questionnaire JSON, newest version by id) and
//! the clinic's crisis text, written with the schedule in its transaction,
//! and read back as the domain's [`FormSet`] for one appointment.
//!
//! Only definitions that parsed are stored (the sync worker checks them);
//! one that no longer parses, or is missing, is left out of the set, so a
//! broken form is never shown.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::Store;
use super::error::StoreError;
use crate::domain::forms_session::{DueForm, FormSet};
use crate::domain::questionnaire::LocalizedText;
use crate::domain::screening::Instrument;
use crate::domain::{Appointment, AppointmentId};

/// A form definition as cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDefinition {
    /// The form's id, as appointments name it in their forms due.
    pub id: String,
    /// The version of the definition.
    pub version: String,
    /// The FHIR R4 Questionnaire, as JSON text.
    pub definition: String,
}

/// One schedule reply, with its intake-form part.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleUpdate<'a> {
    /// Whether `upserts` (and `forms`) replace everything cached.
    pub full: bool,
    /// Appointments added or changed.
    pub upserts: &'a [Appointment],
    /// The forms due of each of `upserts`, at the same index; a missing
    /// entry means none.
    pub forms_due: &'a [Vec<String>],
    /// Appointments removed.
    pub removals: &'a [AppointmentId],
    /// Form definitions, added or replaced by id.
    pub forms: &'a [FormDefinition],
    /// The clinic's crisis text. A full reply without one clears it; a
    /// delta without one keeps the cached one.
    pub crisis_text: Option<&'a LocalizedText>,
    /// The cursor to store.
    pub cursor: &'a str,
}

/// Writes the forms due of each upserted appointment, the definitions and
/// the crisis text, inside the schedule's transaction.
pub(super) fn write(conn: &Connection, update: &ScheduleUpdate<'_>) -> rusqlite::Result<()> {
    if update.full {
        conn.execute("DELETE FROM form_definition", [])?;
    }
    {
        let mut due =
            conn.prepare_cached("UPDATE schedule_appointment SET forms_due = ?2 WHERE id = ?1")?;
        for (i, a) in update.upserts.iter().enumerate() {
            let ids = update.forms_due.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let json = serde_json::Value::from(ids.to_vec()).to_string();
            due.execute(params![a.id.as_str(), json])?;
        }
        let mut def = conn.prepare_cached(
            "INSERT INTO form_definition (id, version, definition) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET
                version = excluded.version, definition = excluded.definition",
        )?;
        for f in update.forms {
            def.execute(params![f.id, f.version, f.definition])?;
        }
    }
    match (update.crisis_text, update.full) {
        (Some(t), _) => {
            conn.execute(
                "UPDATE sync_state SET crisis_text_en = ?1, crisis_text_es = ?2",
                params![t.en, t.es],
            )?;
        }
        (None, true) => {
            conn.execute(
                "UPDATE sync_state SET crisis_text_en = NULL, crisis_text_es = NULL",
                [],
            )?;
        }
        (None, false) => {}
    }
    Ok(())
}

impl Store {
    /// The intake forms due at an appointment, in order, with their checked
    /// definitions; the PHQ-9 for a PHQ-2's step-up when it is cached; and
    /// the clinic's crisis text. Forms without a usable definition are left
    /// out.
    pub fn forms_for(&self, id: &AppointmentId) -> Result<FormSet, StoreError> {
        const OP: &str = "read an appointment's forms";
        let due: Option<String> = self
            .conn
            .query_row(
                "SELECT forms_due FROM schedule_appointment WHERE id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite(OP))?;
        let ids: Vec<String> = due
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        let mut set = FormSet::default();
        for form_id in &ids {
            if let Some(form) = self.form(form_id)? {
                set.due.push(form);
            }
        }
        let has = |i: Instrument| set.due.iter().any(|f| f.id == i.form_id());
        if has(Instrument::Phq2) && !has(Instrument::Phq9) {
            set.step_up = self.form(Instrument::Phq9.form_id())?;
        }
        set.crisis_text = self.crisis_text()?;
        Ok(set)
    }

    /// The cached definition of one form, if it is cached and parses.
    fn form(&self, form_id: &str) -> Result<Option<DueForm>, StoreError> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT version, definition FROM form_definition WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([form_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(StoreError::sqlite("read a form definition"))?;
        Ok(row.and_then(|(version, json)| {
            let form = crate::forms::parse_questionnaire(&json).ok()?;
            Some(DueForm {
                id: form_id.to_owned(),
                version,
                form: Arc::new(form),
            })
        }))
    }

    /// The clinic's crisis text, if it has one.
    pub fn crisis_text(&self) -> Result<Option<LocalizedText>, StoreError> {
        let (en, es): (Option<String>, Option<String>) = self
            .conn
            .query_row(
                "SELECT crisis_text_en, crisis_text_es FROM sync_state",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::sqlite("read the crisis text"))?;
        Ok(en.zip(es).map(|(en, es)| LocalizedText::new(en, es)))
    }

    /// The ids of every cached form definition, in id order.
    pub fn form_ids(&self) -> Result<Vec<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT id FROM form_definition ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(StoreError::sqlite("list form definitions"))
    }
}
