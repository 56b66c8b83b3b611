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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::forms_session::CompletedForm;
    use crate::domain::testkit::{self, screener, signature_png};
    use crate::domain::{DomainEvent, KioskId, Language};
    use crate::store::{AuditAction, DbKey};

    const PHQ2: &str = include_str!("../../config/forms/phq-2.json");
    const PHQ9: &str = include_str!("../../config/forms/phq-9.json");

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 17, 0, 0).unwrap()
    }

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open_with_key(
            &dir.path().join("kiosk.db"),
            &DbKey::from_bytes([7; 32]),
            now(),
        )
        .unwrap()
    }

    fn def(id: &str, version: &str, json: &str) -> FormDefinition {
        FormDefinition {
            id: id.into(),
            version: version.into(),
            definition: json.into(),
        }
    }

    fn due_ids(set: &FormSet) -> Vec<&str> {
        set.due.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn a_full_reply_replaces_the_forms_and_a_delta_updates_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let a1 = testkit::appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
        let a2 = testkit::appointment("a2", "Bo", "Eng", (1981, 6, 18), 10, 0);
        let crisis = LocalizedText::new("Call 988.", "Llame al 988.");
        s.apply_update(
            &ScheduleUpdate {
                full: true,
                upserts: &[a1.clone(), a2.clone()],
                forms_due: &[vec!["phq-2".into(), "gone".into()], vec![]],
                removals: &[],
                forms: &[def("phq-2", "v1", PHQ2), def("phq-9", "v1", PHQ9)],
                crisis_text: Some(&crisis),
                cursor: "c1",
            },
            now(),
        )
        .unwrap();
        let set = s.forms_for(&a1.id).unwrap();
        assert_eq!(
            due_ids(&set),
            ["phq-2"],
            "a form with no definition is skipped"
        );
        assert_eq!(set.step_up.as_ref().map(|f| f.id.as_str()), Some("phq-9"));
        assert_eq!(set.crisis_text, Some(crisis.clone()));
        assert_eq!(s.forms_for(&a2.id).unwrap().due, []);
        assert_eq!(
            s.forms_for(&AppointmentId("nobody".into())).unwrap().due,
            []
        );

        // A delta: a2 now has the PHQ-9 due, the PHQ-2 has a new version,
        // and the crisis text stays.
        s.apply_update(
            &ScheduleUpdate {
                full: false,
                upserts: std::slice::from_ref(&a2),
                forms_due: &[vec!["phq-9".into()]],
                removals: &[],
                forms: &[def("phq-2", "v2", PHQ2)],
                crisis_text: None,
                cursor: "c2",
            },
            now(),
        )
        .unwrap();
        let set = s.forms_for(&a2.id).unwrap();
        assert_eq!(due_ids(&set), ["phq-9"]);
        assert_eq!(set.step_up, None, "no step-up without a PHQ-2");
        assert_eq!(s.forms_for(&a1.id).unwrap().due[0].version, "v2");
        assert_eq!(s.crisis_text().unwrap(), Some(crisis));
        assert_eq!(s.cursor().unwrap(), "c2");

        // A full reply without forms or crisis text clears them.
        s.apply_schedule(true, std::slice::from_ref(&a1), &[], "c3", now())
            .unwrap();
        assert_eq!(s.form_ids().unwrap(), Vec::<String>::new());
        assert_eq!(s.crisis_text().unwrap(), None);
        assert_eq!(s.forms_for(&a1.id).unwrap().due, []);
    }

    #[test]
    fn a_stored_definition_that_no_longer_parses_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let a1 = testkit::appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
        s.apply_update(
            &ScheduleUpdate {
                full: true,
                upserts: std::slice::from_ref(&a1),
                forms_due: &[vec!["phq-2".into()]],
                removals: &[],
                forms: &[def("phq-2", "v1", "{\"resourceType\": \"Questionnaire\"}")],
                crisis_text: None,
                cursor: "c1",
            },
            now(),
        )
        .unwrap();
        assert_eq!(s.forms_for(&a1.id).unwrap().due, []);
    }

    fn completed(urgent: bool) -> CompletedForm {
        CompletedForm {
            form: screener(crate::domain::screening::Instrument::Phq9),
            response: crate::domain::questionnaire::Response::new(),
            language: Language::En,
            signature_png: Some(signature_png()),
            signature_name: None,
            urgent,
        }
    }

    #[test]
    fn an_urgent_form_goes_first_with_its_audit_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let a1 = testkit::appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
        s.apply_schedule(true, std::slice::from_ref(&a1), &[], "c1", now())
            .unwrap();
        let kiosk = KioskId::from("k1");
        let form = |urgent| DomainEvent::FormCompleted {
            appointment_id: a1.id.clone(),
            patient_id: a1.patient.id.clone(),
            completed: Box::new(completed(urgent)),
            at: now(),
        };
        let arrived = DomainEvent::Arrived {
            appointment_id: a1.id.clone(),
            at: now(),
        };
        let first = s
            .record_step(&kiosk, &[arrived, form(false)], now())
            .unwrap();
        let urgent = s.record_step(&kiosk, &[form(true)], now()).unwrap();
        let pending: Vec<_> = s
            .pending(10)
            .unwrap()
            .into_iter()
            .map(|i| i.envelope.id)
            .collect();
        assert_eq!(pending, [urgent[0], first[0], first[1]]);
        let limited: Vec<_> = s
            .pending(1)
            .unwrap()
            .into_iter()
            .map(|i| i.envelope.id)
            .collect();
        assert_eq!(limited, [urgent[0]], "a small batch still starts with it");
        s.mark_delivered(&urgent, now()).unwrap();
        assert_eq!(s.pending(10).unwrap()[0].envelope.id, first[0]);
        let audit = s.audit_for(&a1.id).unwrap();
        let forms: Vec<_> = audit
            .iter()
            .filter(|e| e.action == AuditAction::Submitted)
            .map(|e| (e.event_id, e.what))
            .collect();
        assert_eq!(
            forms,
            [
                (first[1], crate::domain::PhiShown::Form),
                (urgent[0], crate::domain::PhiShown::Form)
            ]
        );
    }
}
