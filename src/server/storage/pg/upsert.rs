//! Upserting a clinic's schedule on PostgreSQL, as
//! `storage::schedule::upsert_with_facts` does on SQLite (for `import`):
//! appointments and their patients in one transaction, each changed row
//! stamped with one new change sequence, unchanged rows left alone, a
//! status kiosks moved forward kept, and with `replace_days` the other
//! appointments of the days listed removed (marked, never deleted).
//!
//! The clinic's cursor row is locked first, so an import and the event
//! batches that stamp the schedule take their locks in one order and never
//! interleave on a row.

use std::collections::{BTreeSet, HashMap, HashSet};

use deadpool_postgres::Transaction;
use tokio_postgres::types::Json;

use super::ingest::next_seq;
use super::schedule::{WIRE_COLUMNS, wire_from_row};
use super::{PgError, PgStore, ms};
use crate::domain::{Appointment, ClinicId};
use crate::protocol::{AppointmentWire, CoverageWire, DemographicsWire, PatientWire};
use crate::server::db::random_token;
use crate::server::storage::schedule::{UpsertSummary, VisitFacts, merged_status, wire_status};

/// A stored appointment: its wire form, whether it was removed, and its
/// visit facts.
type Stored = (AppointmentWire, bool, VisitFacts);

impl PgStore {
    /// Upserts `appointments` and their patients for `clinic` in one
    /// transaction, each with its [`VisitFacts`] from `facts` (none when
    /// absent). With `replace_days`, every other appointment on the days
    /// the list covers is removed: the list is those days' whole schedule.
    pub async fn upsert_schedule(
        &self,
        clinic: &ClinicId,
        appointments: &[Appointment],
        facts: &HashMap<String, VisitFacts>,
        replace_days: bool,
    ) -> Result<UpsertSummary, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_cursor(&tx, clinic).await?;
        let ids: Vec<String> = appointments.iter().map(|a| a.id.0.clone()).collect();
        let mut stored = load(&tx, clinic, &ids).await?;
        let mut run = Run {
            tx: &tx,
            clinic,
            seq: None,
        };
        let mut summary = UpsertSummary::default();
        let mut days = BTreeSet::new();
        let none = VisitFacts::default();
        for a in appointments {
            days.insert(a.local_day());
            let visit = facts.get(a.id.as_str()).unwrap_or(&none);
            let existing = stored.remove(a.id.as_str());
            if run.appointment(a, visit, existing).await? {
                summary.upserted += 1;
            } else {
                summary.unchanged += 1;
            }
        }
        if replace_days {
            summary.removed = run.remove_unlisted(&days, &ids).await?;
        }
        tx.commit().await?;
        Ok(summary)
    }
}

/// Creates the clinic's cursor if needed and locks its row until commit.
async fn lock_cursor(tx: &Transaction<'_>, clinic: &ClinicId) -> Result<(), PgError> {
    tx.execute(
        "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, $2, 0)
         ON CONFLICT (clinic_id) DO NOTHING",
        &[&clinic.as_str(), &random_token(6)],
    )
    .await?;
    tx.query_one(
        "SELECT seq FROM clinic_cursor WHERE clinic_id = $1 FOR UPDATE",
        &[&clinic.as_str()],
    )
    .await?;
    Ok(())
}

/// The stored rows of `ids`, by appointment id, in one query.
pub(super) async fn load(
    tx: &Transaction<'_>,
    clinic: &ClinicId,
    ids: &[String],
) -> Result<HashMap<String, Stored>, PgError> {
    let sql = format!(
        "SELECT {WIRE_COLUMNS}, a.clinician_id, a.visit_type FROM appointments a JOIN patients p
           ON p.clinic_id = a.clinic_id AND p.patient_id = a.patient_id
         WHERE a.clinic_id = $1 AND a.appointment_id = ANY($2)"
    );
    let rows = tx.query(&sql, &[&clinic.as_str(), &ids]).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let (wire, removed) = wire_from_row(clinic, r)?;
        let facts = VisitFacts {
            clinician_id: r.try_get(19)?,
            visit_type: r.try_get(20)?,
        };
        out.insert(wire.id.clone(), (wire, removed, facts));
    }
    Ok(out)
}

/// One upsert's transaction and its change sequence, taken on first need.
pub(super) struct Run<'a, 'c> {
    tx: &'a Transaction<'c>,
    clinic: &'a ClinicId,
    seq: Option<i64>,
}

impl<'a, 'c> Run<'a, 'c> {
    /// A run in `tx` for `clinic`, with no change sequence taken yet.
    pub(super) fn new(tx: &'a Transaction<'c>, clinic: &'a ClinicId) -> Self {
        Self {
            tx,
            clinic,
            seq: None,
        }
    }

    async fn seq(&mut self) -> Result<i64, PgError> {
        if let Some(s) = self.seq {
            return Ok(s);
        }
        let s = next_seq(self.tx, self.clinic).await?;
        self.seq = Some(s);
        Ok(s)
    }

    /// Upserts one appointment and its patient; true when the appointment
    /// row was written (added or changed).
    pub(super) async fn appointment(
        &mut self,
        a: &Appointment,
        visit: &VisitFacts,
        existing: Option<Stored>,
    ) -> Result<bool, PgError> {
        let wire = AppointmentWire::from(a);
        if self.patient(&wire.patient, wire.coverage.as_ref()).await? {
            let s = self.seq().await?;
            self.tx
                .execute(
                    "UPDATE appointments SET change_seq = $3 WHERE clinic_id = $1 AND patient_id = $2",
                    &[&self.clinic.as_str(), &wire.patient.id, &s],
                )
                .await?;
        }
        let (old, old_facts) = match existing {
            Some((w, removed, f)) => (Some((w, removed)), Some(f)),
            None => (None, None),
        };
        let facts_changed = old_facts.is_some_and(|f| f != *visit);
        let status = match merged_status(&wire, old.as_ref()) {
            Some(status) => status,
            None if facts_changed => wire_status(old.as_ref(), &wire),
            None => return Ok(false),
        };
        let s = self.seq().await?;
        self.tx
            .execute(
                "INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day,
                     start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
                     prior_balance_cents, currency, removed, change_seq, clinician_id, visit_type)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, false, $14, $15, $16)
                 ON CONFLICT (clinic_id, appointment_id) DO UPDATE SET
                     patient_id = excluded.patient_id, location_id = excluded.location_id,
                     day = excluded.day, start_ms = excluded.start_ms, end_ms = excluded.end_ms,
                     time_zone = excluded.time_zone, clinician = excluded.clinician,
                     status = excluded.status, expected_copay_cents = excluded.expected_copay_cents,
                     prior_balance_cents = excluded.prior_balance_cents, currency = excluded.currency,
                     removed = false, change_seq = excluded.change_seq,
                     clinician_id = excluded.clinician_id, visit_type = excluded.visit_type",
                &[
                    &self.clinic.as_str(),
                    &wire.id,
                    &wire.patient.id,
                    &wire.location_id,
                    &a.local_day().to_string(),
                    &ms(wire.start),
                    &ms(wire.end),
                    &wire.time_zone,
                    &wire.clinician,
                    &status,
                    &wire.expected_copay_cents,
                    &wire.prior_balance_cents,
                    &wire.currency,
                    &s,
                    &visit.clinician_id,
                    &visit.visit_type,
                ],
            )
            .await?;
        Ok(true)
    }

    /// Inserts or updates a patient and their coverage; true when anything
    /// changed. A later confirmation on the server (from a kiosk) wins
    /// over an older or missing one in the import, as on SQLite.
    async fn patient(
        &mut self,
        p: &PatientWire,
        coverage: Option<&CoverageWire>,
    ) -> Result<bool, PgError> {
        let clinic = self.clinic.as_str();
        let dob = p.date_of_birth.to_string();
        let confirmed = p.demographics_confirmed_at.map(ms);
        let row = self
            .tx
            .query_opt(
                "SELECT first_name, last_name, date_of_birth, demographics,
                        demographics_confirmed_ms, coverage
                 FROM patients WHERE clinic_id = $1 AND patient_id = $2",
                &[&clinic, &p.id],
            )
            .await?;
        let Some(r) = row else {
            self.tx
                .execute(
                    "INSERT INTO patients (clinic_id, patient_id, first_name, last_name,
                         date_of_birth, demographics, demographics_confirmed_ms, coverage)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &clinic,
                        &p.id,
                        &p.first_name,
                        &p.last_name,
                        &dob,
                        &Json(&p.demographics),
                        &confirmed,
                        &coverage.map(Json),
                    ],
                )
                .await?;
            return Ok(true);
        };
        let Json(old_demo): Json<DemographicsWire> = r.try_get(3)?;
        let old_confirmed: Option<i64> = r.try_get(4)?;
        let old_coverage: Option<Json<CoverageWire>> = r.try_get(5)?;
        let keep_confirmed = old_confirmed.max(confirmed);
        let same = r.try_get::<_, String>(0)? == p.first_name
            && r.try_get::<_, String>(1)? == p.last_name
            && r.try_get::<_, String>(2)? == dob
            && old_demo == p.demographics
            && old_confirmed == keep_confirmed
            && old_coverage.as_ref().map(|Json(c)| c) == coverage;
        if same {
            return Ok(false);
        }
        self.tx
            .execute(
                "UPDATE patients SET first_name = $3, last_name = $4, date_of_birth = $5,
                     demographics = $6, demographics_confirmed_ms = $7, coverage = $8
                 WHERE clinic_id = $1 AND patient_id = $2",
                &[
                    &clinic,
                    &p.id,
                    &p.first_name,
                    &p.last_name,
                    &dob,
                    &Json(&p.demographics),
                    &keep_confirmed,
                    &coverage.map(Json),
                ],
            )
            .await?;
        Ok(true)
    }

    /// Marks removed the live appointments on `days` that are not in
    /// `ids`; returns how many.
    async fn remove_unlisted(
        &mut self,
        days: &BTreeSet<chrono::NaiveDate>,
        ids: &[String],
    ) -> Result<usize, PgError> {
        let days: Vec<String> = days.iter().map(ToString::to_string).collect();
        let listed: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let stale: Vec<String> = self
            .tx
            .query(
                "SELECT appointment_id FROM appointments
                 WHERE clinic_id = $1 AND day = ANY($2) AND NOT removed",
                &[&self.clinic.as_str(), &days],
            )
            .await?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|id| !listed.contains(id.as_str()))
            .collect();
        if stale.is_empty() {
            return Ok(0);
        }
        let s = self.seq().await?;
        let n = self
            .tx
            .execute(
                "UPDATE appointments SET removed = true, change_seq = $3
                 WHERE clinic_id = $1 AND appointment_id = ANY($2)",
                &[&self.clinic.as_str(), &stale, &s],
            )
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
