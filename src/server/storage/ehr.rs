//! The EHR connector's status rows (`fhir_status`): the last pull and its
//! summary, the last write error, removals a pull held for staff, and the
//! audited staff actions on them (confirming held removals, retrying a
//! failed write-back), on SQLite. The connector's queue and resource cache
//! stay with the connector (`fhir::writeback`, `fhir::pull`), which this
//! calls. The connector reaches all of them through the `Store` facade
//! (`storage::backend_ehr`); `storage::pg::ehr` holds their PostgreSQL
//! twins.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Actor, AuditAction, AuditEntry, StorageError, audit};
use crate::domain::ClinicId;
use crate::server::db::{from_ms, to_ms};
use crate::server::fhir::pull::PullSummary;
use crate::server::fhir::status::{EhrStatus, HeldRemovals};
use crate::server::fhir::writeback::{failed_items, queue_depth};

/// The removals held for `clinic`, if any.
pub fn load_hold(c: &Connection, clinic: &ClinicId) -> Result<Option<HeldRemovals>, StorageError> {
    let json: Option<Option<String>> = c
        .query_row(
            "SELECT held_removals FROM fhir_status WHERE clinic_id = ?1",
            [clinic.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.flatten()
        .map(|j| serde_json::from_str(&j))
        .transpose()
        .map_err(|source| StorageError::Json {
            column: "fhir_status.held_removals",
            source,
        })
}

/// Stores (or with `None` clears) the removals held for `clinic`.
pub fn save_hold(
    c: &Connection,
    clinic: &ClinicId,
    hold: Option<&HeldRemovals>,
) -> Result<(), StorageError> {
    let json = hold
        .map(serde_json::to_string)
        .transpose()
        .map_err(|source| StorageError::Json {
            column: "fhir_status.held_removals",
            source,
        })?;
    c.execute(
        "INSERT INTO fhir_status (clinic_id, held_removals) VALUES (?1, ?2)
         ON CONFLICT (clinic_id) DO UPDATE SET held_removals = ?2",
        params![clinic.as_str(), json],
    )?;
    Ok(())
}

/// Records a pull's outcome.
pub fn record_pull(
    c: &Connection,
    clinic: &ClinicId,
    now: DateTime<Utc>,
    outcome: Result<&PullSummary, &str>,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO fhir_status (clinic_id) VALUES (?1) ON CONFLICT (clinic_id) DO NOTHING",
        [clinic.as_str()],
    )?;
    match outcome {
        Ok(summary) => {
            let json = serde_json::to_string(summary).map_err(|source| StorageError::Json {
                column: "fhir_status.last_pull_summary",
                source,
            })?;
            c.execute(
                "UPDATE fhir_status SET last_pull_ms = ?2, last_pull_ok_ms = ?2, last_pull_summary = ?3,
                     last_pull_error = NULL, skipped_resources = ?4
                 WHERE clinic_id = ?1",
                params![
                    clinic.as_str(),
                    to_ms(now),
                    json,
                    i64::try_from(summary.skipped).unwrap_or(i64::MAX)
                ],
            )?;
        }
        Err(error) => {
            c.execute(
                "UPDATE fhir_status SET last_pull_ms = ?2, last_pull_error = ?3 WHERE clinic_id = ?1",
                params![clinic.as_str(), to_ms(now), error],
            )?;
        }
    }
    Ok(())
}

/// Records a write-back failure.
pub fn record_write_error(
    c: &Connection,
    clinic: &ClinicId,
    now: DateTime<Utc>,
    error: &str,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO fhir_status (clinic_id, last_write_error, last_write_error_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (clinic_id) DO UPDATE SET last_write_error = ?2, last_write_error_ms = ?3",
        params![clinic.as_str(), error, to_ms(now)],
    )?;
    Ok(())
}

/// The status of `clinic` as stored, without the configuration part;
/// `today` is the clinic's, to name the appointment of a failed write.
pub fn load(
    c: &Connection,
    clinic: &ClinicId,
    today: NaiveDate,
) -> Result<EhrStatus, StorageError> {
    type Row = (
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let row: Option<Row> = c
        .query_row(
            "SELECT last_pull_ms, last_pull_ok_ms, last_pull_summary, last_pull_error,
                    last_write_error, last_write_error_ms
             FROM fhir_status WHERE clinic_id = ?1",
            [clinic.as_str()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let (pull_ms, ok_ms, summary, pull_error, write_error, write_ms) =
        row.unwrap_or((None, None, None, None, None, None));
    let last_pull = summary
        .map(|s| serde_json::from_str::<PullSummary>(&s))
        .transpose()
        .map_err(|source| StorageError::Json {
            column: "fhir_status.last_pull_summary",
            source,
        })?;
    let depth = queue_depth(c, clinic)?;
    Ok(EhrStatus {
        clinic_id: clinic.as_str().to_string(),
        configured: false,
        base_url: None,
        clinic_reference: None,
        write_back: false,
        poll_secs: None,
        last_pull_at: pull_ms.map(from_ms),
        last_pull_ok_at: ok_ms.map(from_ms),
        last_pull,
        last_pull_error: pull_error,
        last_write_error: write_error,
        last_write_error_at: write_ms.map(from_ms),
        queue_pending: depth.pending,
        queue_failed: depth.failed,
        oldest_pending_at: depth.oldest_pending,
        held_removals: load_hold(c, clinic)?,
        failed_writes: failed_items(c, clinic, today)?,
        lease_holder: None,
    })
}

/// Makes the held removals of `clinic` as staff `user`, audited; returns
/// the appointments held. A conflict when nothing is held.
pub fn confirm_held_audited(
    c: &mut Connection,
    clinic: &ClinicId,
    user: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StorageError> {
    let held = load_hold(c, clinic)?
        .ok_or_else(|| StorageError::Conflict("no removals are held for this clinic".into()))?;
    let removed = crate::server::fhir::pull::confirm_held(c, clinic)?.unwrap_or_default();
    let detail = format!("{removed} of {} held", held.appointment_ids.len());
    audit(
        c,
        clinic,
        now,
        &AuditEntry {
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::EhrRemovalsConfirmed)
        },
    )?;
    Ok(held.appointment_ids)
}

/// Queues failed write-back `item` of `clinic` again as staff `user`,
/// audited, in one transaction.
pub fn retry_failed_audited(
    c: &mut Connection,
    clinic: &ClinicId,
    item: i64,
    user: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let tx = c.transaction()?;
    let (kind, target) = crate::server::fhir::writeback::retry_failed(&tx, clinic, item, now)?
        .ok_or_else(|| StorageError::not_found("failed EHR write-back", item))?;
    let (appointment, patient) = if kind == "appointment_status" {
        (Some(target.as_str()), None)
    } else {
        (None, Some(target.as_str()))
    };
    let detail = format!("{kind} item {item}");
    audit(
        &tx,
        clinic,
        now,
        &AuditEntry {
            appointment_id: appointment,
            patient_id: patient,
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::EhrWriteRetried)
        },
    )?;
    tx.commit()?;
    Ok(())
}
