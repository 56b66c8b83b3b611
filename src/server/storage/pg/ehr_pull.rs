//! Storing an EHR schedule pull on PostgreSQL, as `fhir::pull` does on
//! SQLite and by the same rules (`fhir::pull::keep_local_progress`,
//! `keep_queued_patient`, `plan_removals`): check-in progress and queued
//! patient details are kept, and an empty or odd answer holds its removals
//! for staff instead of making them. The whole pull is one transaction
//! that first locks the clinic's change cursor, as every schedule writer
//! does, so a check-in on another replica is never overwritten by a pull
//! that read the appointment before it.

use std::collections::HashSet;

use chrono::Duration;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::PgStore;
use super::ingest::next_seq;
use crate::domain::{Appointment, ClinicId};
use crate::protocol::{CoverageWire, DemographicsWire};
use crate::server::fhir::client::Versioned;
use crate::server::fhir::mapping;
use crate::server::fhir::pull::{
    Batch, PullSummary, Removals, Stale, Written, keep_local_progress, keep_queued_patient,
    plan_removals,
};
use crate::server::storage::StorageError;
use crate::server::storage::schedule::VisitFacts;

/// How often a pull that lost a deadlock to a concurrent writer is run
/// again before it counts as failed (the next pull tries anyway).
const ATTEMPTS: usize = 4;

impl PgStore {
    /// Stores a mapped pull for `clinic` in one transaction and records it
    /// as the last pull; returns `summary` completed with what changed.
    pub async fn ehr_store_pull(
        &self,
        clinic: &ClinicId,
        batch: Batch,
        summary: PullSummary,
    ) -> Result<PullSummary, StorageError> {
        let mut c = self.client().await?;
        // Created apart, so a kiosk's pull never meets a cursor this
        // transaction is creating.
        create_cursor(&c, clinic).await?;
        let mut attempt = 1;
        loop {
            let tx = c.transaction().await?;
            let stored = match store(&tx, clinic, &batch).await {
                Ok(written) => {
                    let summary = written.into_summary(summary.clone());
                    match super::ehr::record_pull(&tx, clinic, batch.now, Ok(&summary)).await {
                        Ok(()) => tx.commit().await.map(|()| summary).map_err(Into::into),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match stored {
                Ok(summary) => return Ok(summary),
                Err(e) if attempt < ATTEMPTS && lost_a_race(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the transaction lost to another and may simply run again.
fn lost_a_race(e: &StorageError) -> bool {
    let StorageError::Postgres(super::PgError::Postgres(e)) = e else {
        return false;
    };
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// Creates `clinic`'s change cursor if it has none, on its own.
pub(super) async fn create_cursor(
    c: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ($1, $2, 0)
         ON CONFLICT (clinic_id) DO NOTHING",
        &[&clinic.as_str(), &crate::server::db::random_token(6)],
    )
    .await?;
    Ok(())
}

/// Locks `clinic`'s change cursor (made by [`create_cursor`]) until the
/// transaction ends: schedule writers take it before any appointment row.
pub(super) async fn lock_cursor(
    tx: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<(), StorageError> {
    tx.query_opt(
        "SELECT seq FROM clinic_cursor WHERE clinic_id = $1 FOR UPDATE",
        &[&clinic.as_str()],
    )
    .await?;
    Ok(())
}

/// Writes the mapped window: upserts, removals (or a hold), and the
/// Appointment cache write-back starts from.
async fn store(
    tx: &Transaction<'_>,
    clinic: &ClinicId,
    batch: &Batch,
) -> Result<Written, StorageError> {
    lock_cursor(tx, clinic).await?;
    let queued: HashSet<String> = tx
        .query(
            "SELECT DISTINCT target_id FROM fhir_outbox
             WHERE clinic_id = $1 AND state = 'pending' AND kind IN ('demographics', 'coverage')",
            &[&clinic.as_str()],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut written = Written::default();
    let mut appointments = Vec::with_capacity(batch.wires.len());
    let mut keep: HashSet<String> = batch.skipped.clone();
    for wire in &batch.wires {
        let mut w = wire.clone();
        let local = tx
            .query_opt(
                "SELECT status, expected_copay_cents FROM appointments
                 WHERE clinic_id = $1 AND appointment_id = $2 AND NOT removed",
                &[&clinic.as_str(), &w.id],
            )
            .await?
            .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
            .transpose()?;
        let silent = batch.silent_copay.contains(&w.id);
        keep_local_progress(&mut w, local, silent);
        if queued.contains(&w.patient.id) {
            let row = tx
                .query_opt(
                    "SELECT demographics, coverage FROM patients
                     WHERE clinic_id = $1 AND patient_id = $2",
                    &[&clinic.as_str(), &w.patient.id],
                )
                .await?;
            if let Some(r) = row {
                let demographics = r.try_get::<_, Json<DemographicsWire>>(0).ok();
                let coverage = r.try_get::<_, Option<Json<CoverageWire>>>(1).ok().flatten();
                keep_queued_patient(
                    &mut w,
                    demographics.map(|Json(d)| d),
                    coverage.map(|Json(c)| c),
                );
            }
        }
        keep.insert(w.id.clone());
        match Appointment::try_from(w.clone()) {
            Ok(a) => appointments.push(a),
            Err(e) => {
                tracing::warn!(clinic = %clinic, appointment = %w.id, "EHR pull: skipped: {e}");
                written.skipped += 1;
            }
        }
    }
    // The same upsert as an import: a row that ends up as it was keeps its
    // change sequence, a status kiosks moved forward is kept, and the
    // visit's clinician and type are stored for the forms due.
    let ids: Vec<String> = appointments.iter().map(|a| a.id.0.clone()).collect();
    let mut stored = super::upsert::load(tx, clinic, &ids).await?;
    let mut run = super::upsert::Run::new(tx, clinic);
    let no_facts = VisitFacts::default();
    for a in &appointments {
        let visit = batch.facts.get(a.id.as_str()).unwrap_or(&no_facts);
        if run
            .appointment(a, visit, stored.remove(a.id.as_str()))
            .await?
        {
            written.upserted += 1;
        } else {
            written.unchanged += 1;
        }
    }
    apply_removals(tx, clinic, batch, &keep, &mut written).await?;
    for (id, body) in &batch.cache {
        let v = Versioned {
            resource: body.clone(),
            version: mapping::version_id(body),
        };
        super::ehr::cache_resource(tx, clinic, "Appointment", id, &v).await?;
    }
    Ok(written)
}

/// Removes the window's appointments the EHR no longer lists, or holds
/// the removals for staff.
async fn apply_removals(
    tx: &impl GenericClient,
    clinic: &ClinicId,
    batch: &Batch,
    keep: &HashSet<String>,
    written: &mut Written,
) -> Result<(), StorageError> {
    let mut stale = Stale::default();
    let mut day = batch.first_day;
    while day <= batch.last_day {
        let rows = tx
            .query(
                "SELECT appointment_id, status FROM appointments
                 WHERE clinic_id = $1 AND day = $2 AND NOT removed ORDER BY appointment_id",
                &[&clinic.as_str(), &day.to_string()],
            )
            .await?;
        let all = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()?;
        stale.add_day(day, all, keep);
        day += Duration::days(1);
    }
    let prior = super::ehr::load_hold(tx, clinic, true).await?;
    match plan_removals(clinic, stale.finish(), prior, batch) {
        Removals::Remove(ids) => {
            written.removed = remove(tx, clinic, &ids).await?;
            super::ehr::save_hold(tx, clinic, None).await?;
        }
        Removals::Hold(hold) => {
            written.held = hold.appointment_ids.len();
            super::ehr::save_hold(tx, clinic, Some(&hold)).await?;
        }
    }
    Ok(())
}

/// Marks `ids` removed under one new change sequence; how many were.
pub(super) async fn remove(
    tx: &impl GenericClient,
    clinic: &ClinicId,
    ids: &[String],
) -> Result<usize, StorageError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let seq = next_seq(tx, clinic).await?;
    let n = tx
        .execute(
            "UPDATE appointments SET removed = true, change_seq = $3
             WHERE clinic_id = $1 AND appointment_id = ANY($2) AND NOT removed",
            &[&clinic.as_str(), &ids, &seq],
        )
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
