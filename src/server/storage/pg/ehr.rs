//! The EHR connector's tables on PostgreSQL, as `storage::ehr`,
//! `fhir::writeback` and `fhir::pull` keep them on SQLite: the write-back
//! queue (`fhir_outbox`; items are claimed with `FOR UPDATE SKIP LOCKED`,
//! so two drains never send one item at once), the resource cache
//! (`fhir_resources`), and the status (`fhir_status`) with the staff
//! actions on it. The pull's writes are in [`super::ehr_pull`].

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

use super::{PgStore, audit, ms};
use crate::domain::ClinicId;
use crate::server::db::from_ms;
use crate::server::fhir::client::Versioned;
use crate::server::fhir::forms::CompletedForm;
use crate::server::fhir::pull::PullSummary;
use crate::server::fhir::status::{EhrStatus, HeldRemovals};
use crate::server::fhir::writeback::{FailedWrite, Item, Settled, WriteBack};
use crate::server::storage::{Actor, AuditAction, AuditEntry, StorageError};

/// The most failed items listed, as on SQLite.
const FAILED_LISTED: i64 = 100;

impl PgStore {
    /// The connector's stored status of `clinic`, with the replica that
    /// holds its lease; `today` names the appointment of a failed write.
    pub async fn ehr_status(
        &self,
        clinic: &ClinicId,
        today: NaiveDate,
    ) -> Result<EhrStatus, StorageError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT last_pull_ms, last_pull_ok_ms, last_pull_summary, last_pull_error,
                        last_write_error, last_write_error_ms, held_removals
                 FROM fhir_status WHERE clinic_id = $1",
                &[&clinic.as_str()],
            )
            .await?;
        let mut status = EhrStatus {
            clinic_id: clinic.as_str().to_string(),
            configured: false,
            base_url: None,
            clinic_reference: None,
            write_back: false,
            poll_secs: None,
            last_pull_at: None,
            last_pull_ok_at: None,
            last_pull: None,
            last_pull_error: None,
            last_write_error: None,
            last_write_error_at: None,
            queue_pending: 0,
            queue_failed: 0,
            oldest_pending_at: None,
            held_removals: None,
            failed_writes: Vec::new(),
            lease_holder: None,
        };
        if let Some(r) = row {
            status.last_pull_at = r.try_get::<_, Option<i64>>(0)?.map(from_ms);
            status.last_pull_ok_at = r.try_get::<_, Option<i64>>(1)?.map(from_ms);
            status.last_pull = r
                .try_get::<_, Option<String>>(2)?
                .map(|s| serde_json::from_str::<PullSummary>(&s))
                .transpose()
                .map_err(|source| StorageError::Json {
                    column: "fhir_status.last_pull_summary",
                    source,
                })?;
            status.last_pull_error = r.try_get(3)?;
            status.last_write_error = r.try_get(4)?;
            status.last_write_error_at = r.try_get::<_, Option<i64>>(5)?.map(from_ms);
            status.held_removals = r
                .try_get::<_, Option<Json<HeldRemovals>>>(6)?
                .map(|Json(h)| h);
        }
        let depth = c
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = 'pending'),
                        COUNT(*) FILTER (WHERE state = 'failed'),
                        MIN(created_ms) FILTER (WHERE state = 'pending')
                 FROM fhir_outbox WHERE clinic_id = $1",
                &[&clinic.as_str()],
            )
            .await?;
        status.queue_pending = depth.try_get(0)?;
        status.queue_failed = depth.try_get(1)?;
        status.oldest_pending_at = depth.try_get::<_, Option<i64>>(2)?.map(from_ms);
        status.failed_writes = failed_items(&c, clinic, today).await?;
        status.lease_holder = super::lease::holder(&c, clinic).await?;
        Ok(status)
    }

    /// Records a pull's outcome for `clinic`.
    pub async fn ehr_record_pull(
        &self,
        clinic: &ClinicId,
        now: DateTime<Utc>,
        outcome: Result<&PullSummary, &str>,
    ) -> Result<(), StorageError> {
        let c = self.client().await?;
        record_pull(&c, clinic, now, outcome).await
    }

    /// Makes the removals held for `clinic` as staff `user`, audited, in
    /// one transaction; returns the appointments held. A conflict when
    /// nothing is held.
    pub async fn ehr_confirm_held(
        &self,
        clinic: &ClinicId,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        let mut c = self.client().await?;
        super::ehr_pull::create_cursor(&c, clinic).await?;
        let tx = c.transaction().await?;
        // The schedule's writers take the clinic's cursor first; so does
        // this, so it never removes beside a pull or a check-in.
        super::ehr_pull::lock_cursor(&tx, clinic).await?;
        let held = load_hold(&tx, clinic, true)
            .await?
            .ok_or_else(|| StorageError::Conflict("no removals are held for this clinic".into()))?;
        let removed = super::ehr_pull::remove(&tx, clinic, &held.appointment_ids).await?;
        save_hold(&tx, clinic, None).await?;
        let detail = format!("{removed} of {} held", held.appointment_ids.len());
        let entry = AuditEntry {
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::EhrRemovalsConfirmed)
        };
        audit(&tx, clinic, now, &entry).await?;
        tx.commit().await?;
        Ok(held.appointment_ids)
    }

    /// Queues failed item `item` of `clinic` again, due now, with its
    /// attempts reset, as staff `user`, audited, in one transaction.
    pub async fn ehr_retry_failed(
        &self,
        clinic: &ClinicId,
        item: i64,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE fhir_outbox SET state = 'pending', attempts = 0, next_attempt_ms = $3,
                     finished_ms = NULL
                 WHERE clinic_id = $1 AND item_id = $2 AND state = 'failed'
                 RETURNING kind, target_id",
                &[&clinic.as_str(), &item, &ms(now)],
            )
            .await?
            .ok_or_else(|| StorageError::not_found("failed EHR write-back", item))?;
        let kind: String = row.try_get(0)?;
        let target: String = row.try_get(1)?;
        let (appointment, patient) = if kind == "appointment_status" {
            (Some(target.as_str()), None)
        } else {
            (None, Some(target.as_str()))
        };
        let detail = format!("{kind} item {item}");
        let entry = AuditEntry {
            appointment_id: appointment,
            patient_id: patient,
            detail: Some(&detail),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::EhrWriteRetried)
        };
        audit(&tx, clinic, now, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The oldest `limit` pending items of `clinic`, in queue order.
    pub async fn ehr_pending_items(
        &self,
        clinic: &ClinicId,
        limit: i64,
    ) -> Result<Vec<Item>, StorageError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT item_id, attempts, next_attempt_ms, payload::text, kind, target_id
                 FROM fhir_outbox WHERE clinic_id = $1 AND state = 'pending'
                 ORDER BY item_id LIMIT $2",
                &[&clinic.as_str(), &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let payload: String = r.try_get(3)?;
                Ok(Item {
                    id: r.try_get(0)?,
                    attempts: r
                        .try_get::<_, i64>(1)?
                        .clamp(0, i64::from(u32::MAX))
                        .try_into()
                        .unwrap_or(u32::MAX),
                    due_ms: r.try_get(2)?,
                    body: serde_json::from_str::<WriteBack>(&payload).map_err(|e| e.to_string()),
                    kind: r.try_get(4)?,
                    target: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Claims pending item `item`, due at `now`, until `until`: its due
    /// time moves to `until`, so no other drain takes it meanwhile, and a
    /// drain that dies mid-attempt leaves it due again then. False when it
    /// is no longer due or another drain holds its row.
    pub async fn ehr_claim_item(
        &self,
        clinic: &ClinicId,
        item: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE fhir_outbox SET next_attempt_ms = $4
                 WHERE item_id = (
                     SELECT item_id FROM fhir_outbox
                     WHERE clinic_id = $1 AND item_id = $2 AND state = 'pending'
                       AND next_attempt_ms <= $3
                     FOR UPDATE SKIP LOCKED)",
                &[&clinic.as_str(), &item, &ms(now), &ms(until)],
            )
            .await?;
        Ok(n == 1)
    }

    /// Stores an attempt's outcome, and its error for the status, in one
    /// transaction.
    pub async fn ehr_record_attempt(
        &self,
        clinic: &ClinicId,
        item: i64,
        settled: &Settled,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let finished = (settled.state != "pending").then_some(ms(now));
        tx.execute(
            "UPDATE fhir_outbox SET state = $3, attempts = attempts + 1, next_attempt_ms = $4,
                 last_error = $5, finished_ms = $6
             WHERE clinic_id = $1 AND item_id = $2",
            &[
                &clinic.as_str(),
                &item,
                &settled.state,
                &settled.next_ms,
                &settled.error,
                &finished,
            ],
        )
        .await?;
        if let Some(e) = &settled.error {
            tx.execute(
                "INSERT INTO fhir_status (clinic_id, last_write_error, last_write_error_ms)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (clinic_id) DO UPDATE SET last_write_error = $2, last_write_error_ms = $3",
                &[&clinic.as_str(), e, &ms(now)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The completed form of kiosk event `event_id`, as on SQLite, from
    /// the `form_responses` table.
    pub async fn ehr_completed_form(
        &self,
        clinic: &ClinicId,
        event_id: &str,
    ) -> Result<Option<CompletedForm>, StorageError> {
        let c = self.client().await?;
        let Some(r) = c
            .query_opt(
                "SELECT patient_id, form_id, response::text, signature_png, score::bigint,
                        completed_ms, signature_name
                 FROM form_responses WHERE clinic_id = $1 AND event_id::text = $2",
                &[&clinic.as_str(), &event_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let form_id: String = r.try_get(1)?;
        let response: String = r.try_get(2)?;
        Ok(Some(CompletedForm {
            event_id: event_id.to_string(),
            patient_id: r.try_get(0)?,
            questionnaire_url: format!("urn:checkin-kiosk:form:{form_id}"),
            form_id,
            response: serde_json::from_str(&response).map_err(|source| StorageError::Json {
                column: "form_responses.response",
                source,
            })?,
            signature_png: r.try_get(3)?,
            signature_name: r.try_get(6)?,
            score: r
                .try_get::<_, Option<i64>>(4)?
                .and_then(|s| u8::try_from(s).ok()),
            completed_at: from_ms(r.try_get(5)?),
        }))
    }

    /// The cached copy of a resource, if a pull or write has seen it.
    pub async fn ehr_cached_resource(
        &self,
        clinic: &ClinicId,
        kind: &str,
        id: &str,
    ) -> Result<Option<Versioned>, StorageError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT version_id, body FROM fhir_resources
                 WHERE clinic_id = $1 AND resource_type = $2 AND resource_id = $3",
                &[&clinic.as_str(), &kind, &id],
            )
            .await?;
        row.map(|r| {
            let Json(resource) = r.try_get(1)?;
            Ok(Versioned {
                resource,
                version: r.try_get(0)?,
            })
        })
        .transpose()
    }

    /// Remembers the EHR's copy of a resource and its version.
    pub async fn ehr_cache_resource(
        &self,
        clinic: &ClinicId,
        kind: &str,
        id: &str,
        v: &Versioned,
    ) -> Result<(), StorageError> {
        let c = self.client().await?;
        cache_resource(&c, clinic, kind, id, v).await
    }

    /// The co-pay of the patient's visit: today's (or the next)
    /// appointment, else the latest.
    pub async fn ehr_known_copay(
        &self,
        clinic: &ClinicId,
        patient_id: &str,
        today: NaiveDate,
    ) -> Result<Option<(i64, String)>, StorageError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT expected_copay_cents, currency FROM appointments
                     WHERE clinic_id = $1 AND patient_id = $2 AND NOT removed
                     ORDER BY {VISIT_ORDER} LIMIT 1"
                ),
                &[&clinic.as_str(), &patient_id, &today.to_string()],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Makes every pending item of `clinic` due now; returns how many.
    pub async fn ehr_retry_now(
        &self,
        clinic: &ClinicId,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE fhir_outbox SET next_attempt_ms = $2 WHERE clinic_id = $1 AND state = 'pending'",
                &[&clinic.as_str(), &ms(now)],
            )
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The state of item `item` of `clinic`, if it exists.
    pub async fn ehr_item_state(
        &self,
        clinic: &ClinicId,
        item: i64,
    ) -> Result<Option<String>, StorageError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT state FROM fhir_outbox WHERE clinic_id = $1 AND item_id = $2",
                &[&clinic.as_str(), &item],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

/// Today's (or the next) visit first, else the latest: SQLite's order,
/// with `$3` the clinic's today.
const VISIT_ORDER: &str = "day < $3, CASE WHEN day < $3 THEN -start_ms ELSE start_ms END";

/// Records a pull's outcome, in the caller's transaction or not.
pub(super) async fn record_pull(
    c: &impl GenericClient,
    clinic: &ClinicId,
    now: DateTime<Utc>,
    outcome: Result<&PullSummary, &str>,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO fhir_status (clinic_id) VALUES ($1) ON CONFLICT (clinic_id) DO NOTHING",
        &[&clinic.as_str()],
    )
    .await?;
    match outcome {
        Ok(summary) => {
            let json = serde_json::to_string(summary).map_err(|source| StorageError::Json {
                column: "fhir_status.last_pull_summary",
                source,
            })?;
            let skipped = i64::try_from(summary.skipped).unwrap_or(i64::MAX);
            c.execute(
                "UPDATE fhir_status SET last_pull_ms = $2, last_pull_ok_ms = $2, last_pull_summary = $3,
                     last_pull_error = NULL, skipped_resources = $4
                 WHERE clinic_id = $1",
                &[&clinic.as_str(), &ms(now), &json, &skipped],
            )
            .await?;
        }
        Err(error) => {
            c.execute(
                "UPDATE fhir_status SET last_pull_ms = $2, last_pull_error = $3 WHERE clinic_id = $1",
                &[&clinic.as_str(), &ms(now), &error],
            )
            .await?;
        }
    }
    Ok(())
}

/// The removals held for `clinic`, if any; with `lock`, the status row is
/// locked until the transaction ends.
pub(super) async fn load_hold(
    c: &impl GenericClient,
    clinic: &ClinicId,
    lock: bool,
) -> Result<Option<HeldRemovals>, StorageError> {
    let sql = if lock {
        "SELECT held_removals FROM fhir_status WHERE clinic_id = $1 FOR UPDATE"
    } else {
        "SELECT held_removals FROM fhir_status WHERE clinic_id = $1"
    };
    let row = c.query_opt(sql, &[&clinic.as_str()]).await?;
    Ok(row
        .map(|r| r.try_get::<_, Option<Json<HeldRemovals>>>(0))
        .transpose()?
        .flatten()
        .map(|Json(h)| h))
}

/// Stores (or with `None` clears) the removals held for `clinic`.
pub(super) async fn save_hold(
    c: &impl GenericClient,
    clinic: &ClinicId,
    hold: Option<&HeldRemovals>,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO fhir_status (clinic_id, held_removals) VALUES ($1, $2)
         ON CONFLICT (clinic_id) DO UPDATE SET held_removals = $2",
        &[&clinic.as_str(), &hold.map(Json)],
    )
    .await?;
    Ok(())
}

/// Remembers the EHR's copy of a resource and its version.
pub(super) async fn cache_resource(
    c: &impl GenericClient,
    clinic: &ClinicId,
    kind: &str,
    id: &str,
    v: &Versioned,
) -> Result<(), StorageError> {
    c.execute(
        "INSERT INTO fhir_resources (clinic_id, resource_type, resource_id, version_id, body)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (clinic_id, resource_type, resource_id) DO UPDATE SET
             version_id = excluded.version_id, body = excluded.body",
        &[&clinic.as_str(), &kind, &id, &v.version, &Json(&v.resource)],
    )
    .await?;
    Ok(())
}

/// The failed write-backs of `clinic`, newest first, as on SQLite.
async fn failed_items(
    c: &impl GenericClient,
    clinic: &ClinicId,
    today: NaiveDate,
) -> Result<Vec<FailedWrite>, StorageError> {
    let rows = c
        .query(
            "SELECT item_id, kind, target_id, payload::text, last_error, finished_ms, attempts
             FROM fhir_outbox WHERE clinic_id = $1 AND state = 'failed'
             ORDER BY item_id DESC LIMIT $2",
            &[&clinic.as_str(), &FAILED_LISTED],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let kind: String = r.try_get(1)?;
        let target_id: String = r.try_get(2)?;
        let payload: String = r.try_get(3)?;
        let status = match serde_json::from_str::<WriteBack>(&payload) {
            Ok(WriteBack::AppointmentStatus { status, .. }) => Some(status.code().to_string()),
            _ => None,
        };
        let appointment_id = if kind == "appointment_status" {
            Some(target_id.clone())
        } else {
            let sql = format!(
                "SELECT appointment_id FROM appointments
                 WHERE clinic_id = $1 AND patient_id = $2 AND NOT removed
                 ORDER BY {VISIT_ORDER} LIMIT 1"
            );
            c.query_opt(&sql, &[&clinic.as_str(), &target_id, &today.to_string()])
                .await?
                .map(|r| r.try_get(0))
                .transpose()?
        };
        out.push(FailedWrite {
            item_id: r.try_get(0)?,
            kind,
            target_id,
            appointment_id,
            status,
            error: r.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
            failed_at: r.try_get::<_, Option<i64>>(5)?.map(from_ms),
            attempts: r.try_get(6)?,
        });
    }
    Ok(out)
}
