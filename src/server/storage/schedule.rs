//! A clinic's schedule in the store: upserting appointments and patients
//! (from import, the demo seeder or a connector), stamping every change
//! with the clinic's change sequence, and the kiosk's pull: a full snapshot
//! for an unknown cursor, or the upserts and removals since a known one.
//!
//! A cursor is `<epoch>.<day>.<seq>`: the clinic's random epoch (so a cursor
//! from another database is unknown), the day the kiosk's window was, and
//! the sequence it had seen. A cursor for another day, epoch or a future
//! sequence gets a full snapshot.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::{Appointment, AppointmentStatus, ClinicId};
use crate::protocol::{
    AppointmentWire, CoverageWire, DemographicsWire, PatientWire, ScheduleResponse,
};
use crate::server::db::{StorageError, cursor_state, from_ms, next_seq, to_ms};

/// What an upsert changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Appointments added or changed.
    pub upserted: usize,
    /// Appointments left as they were.
    pub unchanged: usize,
    /// Appointments removed because a replaced day no longer lists them.
    pub removed: usize,
}

/// What the server knows of a visit besides its wire form: the clinician's
/// id and the visit type, which decide the intake forms due and never go
/// to kiosks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VisitFacts {
    /// The clinician's id in the schedule source, such as a FHIR
    /// Practitioner id.
    pub clinician_id: Option<String>,
    /// The visit type code, such as `annual`.
    pub visit_type: Option<String>,
}

/// Upserts `appointments` and their patients for `clinic` in one
/// transaction. With `replace_days`, every other appointment on the days
/// the list covers is removed: the list is those days' whole schedule.
///
/// A row that ends up as it was keeps its change sequence, so re-importing
/// the same file sends kiosks nothing. A status the kiosks moved forward
/// (arrived, checked in) is not moved back to booked by a re-import.
/// Appointments keep no clinician id or visit type; see
/// [`upsert_with_facts`].
pub fn upsert(
    conn: &mut Connection,
    clinic: &ClinicId,
    appointments: &[Appointment],
    replace_days: bool,
) -> Result<UpsertSummary, StorageError> {
    upsert_with_facts(conn, clinic, appointments, &HashMap::new(), replace_days)
}

/// [`upsert`], with each appointment's [`VisitFacts`] by appointment id;
/// one not in `facts` has neither a clinician id nor a visit type.
pub fn upsert_with_facts(
    conn: &mut Connection,
    clinic: &ClinicId,
    appointments: &[Appointment],
    facts: &HashMap<String, VisitFacts>,
    replace_days: bool,
) -> Result<UpsertSummary, StorageError> {
    let tx = conn.transaction()?;
    let mut stamp = Stamp { clinic, seq: None };
    let mut summary = UpsertSummary::default();
    let mut days = BTreeSet::new();
    let mut ids = HashSet::new();
    let none = VisitFacts::default();
    for a in appointments {
        days.insert(a.local_day());
        ids.insert(a.id.as_str());
        let wire = AppointmentWire::from(a);
        let existing = load_wire(&tx, clinic, a.id.as_str())?;
        let patient_changed = upsert_patient(&tx, clinic, &wire.patient, wire.coverage.as_ref())?;
        if patient_changed {
            let s = stamp.get(&tx)?;
            tx.execute(
                "UPDATE appointments SET change_seq = ?3 WHERE clinic_id = ?1 AND patient_id = ?2",
                params![clinic.as_str(), wire.patient.id, s],
            )?;
        }
        let visit = facts.get(a.id.as_str()).unwrap_or(&none);
        let facts_changed = existing.is_some() && load_facts(&tx, clinic, a.id.as_str())? != *visit;
        let status = match merged_status(&wire, existing.as_ref()) {
            Some(status) => status,
            None if facts_changed => wire_status(existing.as_ref(), &wire),
            None => {
                summary.unchanged += 1;
                continue;
            }
        };
        let s = stamp.get(&tx)?;
        write_appointment(&tx, clinic, a, &wire, &status, s)?;
        tx.execute(
            "UPDATE appointments SET clinician_id = ?3, visit_type = ?4
             WHERE clinic_id = ?1 AND appointment_id = ?2",
            params![
                clinic.as_str(),
                wire.id,
                visit.clinician_id,
                visit.visit_type
            ],
        )?;
        summary.upserted += 1;
    }
    if replace_days {
        summary.removed = remove_unlisted(&tx, &mut stamp, &days, &ids)?;
    }
    tx.commit()?;
    Ok(summary)
}

/// The stored status to keep when only the visit's facts changed.
fn wire_status(existing: Option<&(AppointmentWire, bool)>, wire: &AppointmentWire) -> String {
    existing.map_or_else(|| wire.status.clone(), |(old, _)| old.status.clone())
}

/// The stored [`VisitFacts`] of one appointment (default when it has none).
pub fn load_facts(
    conn: &Connection,
    clinic: &ClinicId,
    appointment_id: &str,
) -> Result<VisitFacts, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT clinician_id, visit_type FROM appointments
             WHERE clinic_id = ?1 AND appointment_id = ?2",
        )?
        .query_row(params![clinic.as_str(), appointment_id], |r| {
            Ok(VisitFacts {
                clinician_id: r.get(0)?,
                visit_type: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// The clinic's change sequence, advanced once per transaction on first
/// use; every row the transaction changes is stamped with it.
struct Stamp<'a> {
    clinic: &'a ClinicId,
    seq: Option<i64>,
}

impl Stamp<'_> {
    fn get(&mut self, tx: &Connection) -> Result<i64, StorageError> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = next_seq(tx, self.clinic)?;
        self.seq = Some(s);
        Ok(s)
    }
}

/// The status to store for `wire` over the `existing` row, or `None` when
/// the row's own fields would not change. A status the kiosks moved
/// forward (arrived, checked in) is not moved back to booked.
pub(crate) fn merged_status(
    wire: &AppointmentWire,
    existing: Option<&(AppointmentWire, bool)>,
) -> Option<String> {
    let mut status = wire.status.clone();
    if let Some((old, removed)) = existing {
        let advanced = matches!(old.status.as_str(), "arrived" | "checked_in");
        if advanced && status == AppointmentStatus::Booked.as_str() {
            status = old.status.clone();
        }
        // Patient and coverage changes are stamped apart; compare the
        // appointment's own fields.
        let mut candidate = wire.clone();
        candidate.status = status.clone();
        candidate.patient = old.patient.clone();
        candidate.coverage = old.coverage.clone();
        if !removed && *old == candidate {
            return None;
        }
    }
    Some(status)
}

/// Inserts or replaces one appointment row, stamped `seq`.
fn write_appointment(
    tx: &Connection,
    clinic: &ClinicId,
    a: &Appointment,
    wire: &AppointmentWire,
    status: &str,
    seq: i64,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day,
             start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
             prior_balance_cents, currency, removed, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14)
         ON CONFLICT (clinic_id, appointment_id) DO UPDATE SET
             patient_id = excluded.patient_id, location_id = excluded.location_id,
             day = excluded.day, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
             time_zone = excluded.time_zone, clinician = excluded.clinician,
             status = excluded.status, expected_copay_cents = excluded.expected_copay_cents,
             prior_balance_cents = excluded.prior_balance_cents, currency = excluded.currency,
             removed = 0, change_seq = excluded.change_seq",
        params![
            clinic.as_str(),
            wire.id,
            wire.patient.id,
            wire.location_id,
            a.local_day().to_string(),
            to_ms(wire.start),
            to_ms(wire.end),
            wire.time_zone,
            wire.clinician,
            status,
            wire.expected_copay_cents,
            wire.prior_balance_cents,
            wire.currency,
            seq
        ],
    )?;
    Ok(())
}

/// Removes the appointments on `days` that are not in `ids`; returns how
/// many.
fn remove_unlisted(
    tx: &Connection,
    stamp: &mut Stamp<'_>,
    days: &BTreeSet<chrono::NaiveDate>,
    ids: &HashSet<&str>,
) -> Result<usize, StorageError> {
    let clinic = stamp.clinic;
    let mut removed = 0;
    for day in days {
        let stale: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT appointment_id FROM appointments
                 WHERE clinic_id = ?1 AND day = ?2 AND removed = 0",
            )?;
            stmt.query_map(params![clinic.as_str(), day.to_string()], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?
                .into_iter()
                .filter(|id| !ids.contains(id.as_str()))
                .collect()
        };
        for id in stale {
            let s = stamp.get(tx)?;
            tx.execute(
                "UPDATE appointments SET removed = 1, change_seq = ?3
                 WHERE clinic_id = ?1 AND appointment_id = ?2",
                params![clinic.as_str(), id, s],
            )?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Inserts or updates a patient and their coverage; true when anything changed.
fn upsert_patient(
    tx: &Connection,
    clinic: &ClinicId,
    p: &PatientWire,
    coverage: Option<&CoverageWire>,
) -> Result<bool, StorageError> {
    let coverage_changed = set_coverage(tx, clinic, &p.id, coverage)?;
    let demographics = json(&p.demographics)?;
    let confirmed = p.demographics_confirmed_at.map(to_ms);
    let existing: Option<(String, String, String, String, Option<i64>)> = tx
        .query_row(
            "SELECT first_name, last_name, date_of_birth, demographics, demographics_confirmed_ms
             FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
            params![clinic.as_str(), p.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let dob = p.date_of_birth.to_string();
    if let Some((first, last, old_dob, old_demo, old_confirmed)) = &existing {
        // A later confirmation on the server (from a kiosk) wins over an
        // older or missing one in an import.
        let keep_confirmed = old_confirmed.max(&confirmed);
        if first == &p.first_name
            && last == &p.last_name
            && old_dob == &dob
            && old_demo == &demographics
            && old_confirmed == keep_confirmed
        {
            return Ok(coverage_changed);
        }
        tx.execute(
            "UPDATE patients SET first_name = ?3, last_name = ?4, date_of_birth = ?5,
                 demographics = ?6, demographics_confirmed_ms = ?7
             WHERE clinic_id = ?1 AND patient_id = ?2",
            params![
                clinic.as_str(),
                p.id,
                p.first_name,
                p.last_name,
                dob,
                demographics,
                keep_confirmed
            ],
        )?;
        return Ok(true);
    }
    tx.execute(
        "INSERT INTO patients (clinic_id, patient_id, first_name, last_name, date_of_birth,
             demographics, demographics_confirmed_ms, coverage)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            clinic.as_str(),
            p.id,
            p.first_name,
            p.last_name,
            dob,
            demographics,
            confirmed,
            coverage.map(json).transpose()?
        ],
    )?;
    Ok(true)
}

/// Sets an existing patient's coverage; true when it changed. Used by
/// [`upsert`] and by approved coverage changes.
pub fn set_coverage(
    tx: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
    coverage: Option<&CoverageWire>,
) -> Result<bool, StorageError> {
    let new = coverage.map(json).transpose()?;
    let old: Option<Option<String>> = tx
        .query_row(
            "SELECT coverage FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
            params![clinic.as_str(), patient_id],
            |r| r.get(0),
        )
        .optional()?;
    match old {
        None => Ok(false),
        Some(old) if old == new => Ok(false),
        Some(_) => {
            tx.execute(
                "UPDATE patients SET coverage = ?3 WHERE clinic_id = ?1 AND patient_id = ?2",
                params![clinic.as_str(), patient_id, new],
            )?;
            Ok(true)
        }
    }
}

/// Stamps every appointment of a patient with a new change sequence, so
/// kiosks pull the patient's new details.
pub fn touch_patient(
    tx: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
) -> Result<(), StorageError> {
    let s = next_seq(tx, clinic)?;
    tx.execute(
        "UPDATE appointments SET change_seq = ?3 WHERE clinic_id = ?1 AND patient_id = ?2",
        params![clinic.as_str(), patient_id, s],
    )?;
    Ok(())
}

const WIRE_COLUMNS: &str = "a.appointment_id, a.location_id, a.start_ms, a.end_ms, a.time_zone,
    a.clinician, a.status, a.expected_copay_cents, a.prior_balance_cents, a.currency,
    p.patient_id, p.first_name, p.last_name, p.date_of_birth, p.demographics,
    p.demographics_confirmed_ms, p.coverage, a.removed, a.day";

fn wire_from_row(clinic: &ClinicId, r: &Row<'_>) -> Result<(AppointmentWire, bool), StorageError> {
    let dob: String = r.get(13)?;
    let demographics: String = r.get(14)?;
    let coverage: Option<String> = r.get(16)?;
    let removed: i64 = r.get(17)?;
    let wire = AppointmentWire {
        id: r.get(0)?,
        clinic_id: clinic.as_str().to_string(),
        location_id: r.get(1)?,
        start: from_ms(r.get(2)?),
        end: from_ms(r.get(3)?),
        time_zone: r.get(4)?,
        clinician: r.get(5)?,
        status: r.get(6)?,
        expected_copay_cents: r.get(7)?,
        prior_balance_cents: r.get(8)?,
        currency: r.get(9)?,
        patient: PatientWire {
            id: r.get(10)?,
            first_name: r.get(11)?,
            last_name: r.get(12)?,
            date_of_birth: dob
                .parse()
                .map_err(|_| StorageError::Corrupt("patients.date_of_birth"))?,
            demographics: serde_json::from_str::<DemographicsWire>(&demographics).map_err(
                |source| StorageError::Json {
                    column: "patients.demographics",
                    source,
                },
            )?,
            demographics_confirmed_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        },
        coverage: coverage
            .map(|c| serde_json::from_str::<CoverageWire>(&c))
            .transpose()
            .map_err(|source| StorageError::Json {
                column: "patients.coverage",
                source,
            })?,
        forms_due: Vec::new(),
    };
    Ok((wire, removed != 0))
}

/// One appointment with its patient, and whether it was removed.
pub fn load_wire(
    conn: &Connection,
    clinic: &ClinicId,
    appointment_id: &str,
) -> Result<Option<(AppointmentWire, bool)>, StorageError> {
    let sql = format!(
        "SELECT {WIRE_COLUMNS} FROM appointments a JOIN patients p
           ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id
         WHERE a.clinic_id = ?1 AND a.appointment_id = ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![clinic.as_str(), appointment_id])?;
    match rows.next()? {
        Some(r) => Ok(Some(wire_from_row(clinic, r)?)),
        None => Ok(None),
    }
}

/// Every live appointment of `clinic` on `day`, by start time.
pub fn day_wires(
    conn: &Connection,
    clinic: &ClinicId,
    day: NaiveDate,
) -> Result<Vec<AppointmentWire>, StorageError> {
    let sql = format!(
        "SELECT {WIRE_COLUMNS} FROM appointments a JOIN patients p
           ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id
         WHERE a.clinic_id = ?1 AND a.day = ?2 AND a.removed = 0
         ORDER BY a.start_ms, a.appointment_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![clinic.as_str(), day.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(wire_from_row(clinic, r)?.0);
    }
    Ok(out)
}

/// A parsed cursor; the PostgreSQL backend issues the same ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The clinic epoch it was issued under.
    pub(crate) epoch: String,
    /// The window day it was issued for.
    pub(crate) day: NaiveDate,
    /// The change sequence it had seen.
    pub(crate) seq: i64,
}

impl Cursor {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '.');
        let epoch = parts.next()?.to_string();
        let day = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        Some(Self { epoch, day, seq })
    }

    pub(crate) fn render(&self) -> String {
        format!("{}.{}.{}", self.epoch, self.day, self.seq)
    }
}

/// The kiosk's schedule pull for `today`: a delta since `since` when that
/// cursor is known, otherwise a full snapshot.
pub fn pull(
    conn: &Connection,
    clinic: &ClinicId,
    today: NaiveDate,
    since: Option<&str>,
) -> Result<ScheduleResponse, StorageError> {
    let (epoch, seq) = cursor_state(conn, clinic)?;
    let cursor = Cursor {
        epoch: epoch.clone(),
        day: today,
        seq,
    }
    .render();
    let known = since
        .and_then(Cursor::parse)
        .filter(|c| c.epoch == epoch && c.day == today && c.seq <= seq);
    let Some(known) = known else {
        return Ok(ScheduleResponse {
            cursor,
            full: true,
            window_from: today,
            window_to: today,
            upserts: day_wires(conn, clinic, today)?,
            removals: Vec::new(),
            forms: Vec::new(),
            crisis_text: None,
        });
    };
    let sql = format!(
        "SELECT {WIRE_COLUMNS} FROM appointments a JOIN patients p
           ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id
         WHERE a.clinic_id = ?1 AND a.change_seq > ?2
         ORDER BY a.start_ms, a.appointment_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![clinic.as_str(), known.seq])?;
    let mut upserts = Vec::new();
    let mut removals = Vec::new();
    let today_text = today.to_string();
    while let Some(r) = rows.next()? {
        let day: String = r.get(18)?;
        let (wire, removed) = wire_from_row(clinic, r)?;
        if removed || day != today_text {
            removals.push(wire.id);
        } else {
            upserts.push(wire);
        }
    }
    Ok(ScheduleResponse {
        cursor,
        full: false,
        window_from: today,
        window_to: today,
        upserts,
        removals,
        forms: Vec::new(),
        crisis_text: None,
    })
}

/// Today in `tz`, from the wall clock; for the command line.
pub fn today_in(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StorageError> {
    serde_json::to_string(v).map_err(|source| StorageError::Json {
        column: "(serializing)",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit::{appointment, day};
    use crate::server::db::Db;

    fn c1() -> ClinicId {
        ClinicId("c1".into())
    }

    #[test]
    fn unknown_cursors_get_a_snapshot_and_known_ones_a_delta() {
        let db = Db::open_in_memory().unwrap();
        db.blocking(|c| {
            let a1 = appointment("a1", "Ana", "Diaz", (1980, 1, 2), 9, 0);
            let a2 = appointment("a2", "Bo", "Li", (1990, 3, 4), 9, 20);
            upsert(c, &c1(), &[a1.clone(), a2.clone()], true)?;
            let full = pull(c, &c1(), day(), None)?;
            assert!(full.full);
            assert_eq!(full.upserts.len(), 2);
            assert_eq!(
                full.upserts[0].coverage.as_ref().unwrap().payer,
                "Blue Shield"
            );
            for bad in [
                "",
                "garbage",
                "x.2026-03-02.1",
                &full.cursor.replace(".2026-03-02.", ".2026-03-01."),
            ] {
                assert!(pull(c, &c1(), day(), Some(bad))?.full, "{bad}");
            }
            let delta = pull(c, &c1(), day(), Some(&full.cursor))?;
            assert!(!delta.full);
            assert!(delta.upserts.is_empty() && delta.removals.is_empty());
            assert!(serde_json::to_vec(&delta).unwrap().len() <= 1024);

            // Re-importing the same day changes nothing.
            let s = upsert(c, &c1(), &[a1.clone(), a2.clone()], true)?;
            assert_eq!(s.upserted, 0);
            assert!(
                pull(c, &c1(), day(), Some(&full.cursor))?
                    .upserts
                    .is_empty()
            );

            // A changed row and a dropped row show up in the delta.
            let mut a1b = a1.clone();
            a1b.clinician = "Dr. Okafor".into();
            let s = upsert(c, &c1(), &[a1b], true)?;
            assert_eq!((s.upserted, s.removed), (1, 1));
            let delta = pull(c, &c1(), day(), Some(&full.cursor))?;
            assert_eq!(delta.upserts.len(), 1);
            assert_eq!(delta.upserts[0].clinician, "Dr. Okafor");
            assert_eq!(delta.removals, vec!["a2".to_string()]);
            let after = pull(c, &c1(), day(), Some(&delta.cursor))?;
            assert!(after.upserts.is_empty() && after.removals.is_empty());
            // Another clinic sees none of it.
            assert!(
                pull(c, &ClinicId("c2".into()), day(), None)?
                    .upserts
                    .is_empty()
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn visit_facts_are_stored_and_a_change_in_them_is_a_change() {
        let db = Db::open_in_memory().unwrap();
        db.blocking(|c| {
            let a1 = appointment("a1", "Ana", "Diaz", (1980, 1, 2), 9, 0);
            let one = std::slice::from_ref(&a1);
            upsert(c, &c1(), one, true)?;
            assert_eq!(load_facts(c, &c1(), "a1")?, VisitFacts::default());
            let facts = HashMap::from([(
                "a1".to_string(),
                VisitFacts {
                    clinician_id: Some("dr-patel".into()),
                    visit_type: Some("annual".into()),
                },
            )]);
            let s = upsert_with_facts(c, &c1(), one, &facts, true)?;
            assert_eq!((s.upserted, s.unchanged), (1, 0));
            assert_eq!(load_facts(c, &c1(), "a1")?, facts["a1"]);
            let s = upsert_with_facts(c, &c1(), one, &facts, true)?;
            assert_eq!((s.upserted, s.unchanged), (0, 1));
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_reimport_does_not_move_an_arrival_back_to_booked() {
        let db = Db::open_in_memory().unwrap();
        db.blocking(|c| {
            let a1 = appointment("a1", "Ana", "Diaz", (1980, 1, 2), 9, 0);
            upsert(c, &c1(), std::slice::from_ref(&a1), true)?;
            c.execute(
                "UPDATE appointments SET status = 'arrived' WHERE appointment_id = 'a1'",
                [],
            )?;
            upsert(c, &c1(), &[a1], true)?;
            let (w, _) = load_wire(c, &c1(), "a1")?.unwrap();
            assert_eq!(w.status, "arrived");
            Ok(())
        })
        .unwrap();
    }
}
