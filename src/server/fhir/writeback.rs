//! The write-back outbox: kiosk arrivals and check-ins, and staff-approved
//! demographics and coverage changes, queued in the `fhir_outbox` table in
//! the same transaction as the change that caused them, then sent to the
//! EHR by the connector's background task with retries and exponential
//! backoff.
//!
//! Items for one target (an Appointment, a Patient, a patient's Coverage)
//! are sent in the order they were queued: while one waits for a retry,
//! the later ones wait too. A transient failure (EHR down, 5xx, 429,
//! timeout) is retried for ever, the wait doubling from 5 s up to
//! `retry_max_secs`; a permanent one (another 4xx) marks the item `failed`
//! for staff to see, and is never dropped silently.
//!
//! Appointment updates carry `If-Match` with the version read at the last
//! pull (or a fresh read); a 412 re-reads the Appointment, re-applies the
//! status to what the EHR now holds, and tries again. A 404 or 410 also
//! re-reads, then decides: if the EHR has the Appointment after all (a
//! stale cache, a server behind a balancer), the status is applied to
//! it; if the read is also 404 or 410, the item fails for good.
//!
//! Failed items stay in the table for staff: [`failed_items`] lists them
//! (the console shows them with the appointment) and [`retry_failed`]
//! queues one again.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ClientError, FhirClient, backoff};
use super::forms;
use super::mapping::{self, StatusEdit, TargetStatus};
use crate::config::{ClinicSettings, FhirSettings};
use crate::domain::ClinicId;
use crate::protocol::{ChangeProposal, CoverageUpdateWire, DemographicsWire};
use crate::server::AppState;
use crate::server::db::{StorageError, from_ms, to_ms};

/// How many 412s in a row one attempt absorbs before waiting for a retry.
const CONFLICT_ROUNDS: usize = 3;
/// Items looked at per drain.
const BATCH: i64 = 200;

/// Why a drain could not run at all (one item's failure is recorded on
/// the item instead).
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    /// The outbox could not be read or updated.
    #[error("write-back outbox: {0}")]
    Store(String),
}

/// One queued write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WriteBack {
    /// Set an Appointment's status.
    AppointmentStatus {
        /// The Appointment id.
        appointment_id: String,
        /// The status to set.
        status: TargetStatus,
    },
    /// Replace a Patient's address, phone, email and emergency contact.
    Demographics {
        /// The Patient id.
        patient_id: String,
        /// The approved details.
        demographics: DemographicsWire,
    },
    /// Replace a patient's active Coverage, or end it (`None`).
    Coverage {
        /// The Patient id.
        patient_id: String,
        /// The approved coverage, or `None` for "I have no insurance".
        coverage: Option<CoverageUpdateWire>,
    },
    /// Write a completed intake form (stored in `form_responses`) as a
    /// QuestionnaireResponse, with its score Observation or its Consent.
    FormResponse {
        /// The kiosk event that carried the form.
        event_id: String,
        /// The Patient id.
        patient_id: String,
    },
}

impl WriteBack {
    /// The ordering key, stored as the row's `kind` and `target_id`: items
    /// with the same key are sent in queue order.
    pub fn target(&self) -> (&'static str, &str) {
        match self {
            Self::AppointmentStatus { appointment_id, .. } => {
                ("appointment_status", appointment_id)
            }
            Self::Demographics { patient_id, .. } => ("demographics", patient_id),
            Self::Coverage { patient_id, .. } => ("coverage", patient_id),
            Self::FormResponse { patient_id, .. } => ("form_response", patient_id),
        }
    }
}

/// True when `clinic` has a connector that writes back.
pub fn enabled(clinic: &ClinicSettings) -> bool {
    clinic.fhir.as_ref().is_some_and(|f| f.write_back)
}

/// Queues `item` for `clinic` inside the caller's transaction.
pub fn enqueue(
    tx: &Connection,
    clinic: &ClinicId,
    item: &WriteBack,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let payload = serde_json::to_string(item).map_err(|source| StorageError::Json {
        column: "fhir_outbox.payload",
        source,
    })?;
    let (kind, target) = item.target();
    tx.prepare_cached(
        "INSERT INTO fhir_outbox (clinic_id, kind, target_id, payload, created_ms, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![clinic.as_str(), kind, target, payload, to_ms(now)])?;
    Ok(())
}

/// Queues the EHR update for an approved proposal.
pub fn enqueue_change(
    tx: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
    proposal: &ChangeProposal,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let item = match proposal {
        ChangeProposal::Demographics { demographics } => WriteBack::Demographics {
            patient_id: patient_id.to_string(),
            demographics: demographics.clone(),
        },
        ChangeProposal::Coverage { coverage } => WriteBack::Coverage {
            patient_id: patient_id.to_string(),
            coverage: coverage.clone(),
        },
    };
    enqueue(tx, clinic, &item, now)
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Items written (or found already done) and closed.
    pub sent: usize,
    /// Items that failed transiently and wait for a retry.
    pub retrying: usize,
    /// Items that failed for good.
    pub failed: usize,
    /// Items not yet due, or behind one that is not.
    pub waiting: usize,
}

/// A queued item as loaded.
#[derive(Debug)]
pub struct Item {
    /// The outbox row.
    pub(crate) id: i64,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// When it is due, in milliseconds since the epoch.
    pub(crate) due_ms: i64,
    /// The write, or why its payload could not be read.
    pub(crate) body: Result<WriteBack, String>,
    /// The ordering key's kind.
    pub(crate) kind: String,
    /// The ordering key's target id.
    pub(crate) target: String,
}

/// How long a claimed item is kept from other drains: long enough for
/// every request one attempt makes, after which a drain that died
/// mid-attempt leaves the item to be tried again.
fn claim_for(settings: &FhirSettings) -> chrono::Duration {
    let attempt = settings.connect_timeout + settings.request_timeout * 8;
    chrono::Duration::from_std(attempt).unwrap_or_else(|_| chrono::Duration::minutes(10))
}

/// Sends every due item of `clinic`, in order per target: once an item
/// of a target waits or fails for now, the later items of that target
/// wait behind it.
pub async fn drain(
    state: &AppState,
    clinic: &ClinicSettings,
    settings: &FhirSettings,
    client: &FhirClient,
) -> Result<DrainReport, WriteBackError> {
    let items = load_due(state, &clinic.id).await?;
    let mut report = DrainReport::default();
    let mut blocked: HashSet<(String, String)> = HashSet::new();
    for item in items {
        let key = (item.kind.clone(), item.target.clone());
        if blocked.contains(&key) || item.due_ms > to_ms(state.now()) {
            blocked.insert(key);
            report.waiting += 1;
            continue;
        }
        // Another drain (a replica that held this clinic's lease until
        // just now) may have the item: then it and its target wait.
        let now = state.now();
        let claimed = state
            .store()
            .ehr_claim_item(clinic.id.clone(), item.id, now, now + claim_for(settings))
            .await
            .map_err(|e| WriteBackError::Store(e.to_string()))?;
        if !claimed {
            blocked.insert(key);
            report.waiting += 1;
            continue;
        }
        let outcome = match &item.body {
            Ok(wb) => send(state, clinic, client, wb).await,
            Err(e) => Err(Failure::Permanent(format!("unreadable payload ({e})"))),
        };
        let now = state.now();
        let settled = settle(clinic, settings, &item, &outcome, now, &mut report);
        if settled.state == "pending" {
            blocked.insert(key);
        }
        record_attempt(state, &clinic.id, item.id, settled, now).await?;
    }
    Ok(report)
}

/// The oldest [`BATCH`] pending items of `clinic`.
async fn load_due(state: &AppState, clinic: &ClinicId) -> Result<Vec<Item>, WriteBackError> {
    state
        .store()
        .ehr_pending_items(clinic.clone(), BATCH)
        .await
        .map_err(|e| WriteBackError::Store(e.to_string()))
}

/// The oldest `limit` pending items of `clinic` on SQLite.
pub fn pending_items(
    c: &Connection,
    clinic: &ClinicId,
    limit: i64,
) -> Result<Vec<Item>, StorageError> {
    let mut stmt = c.prepare_cached(
        "SELECT item_id, attempts, next_attempt_ms, payload, kind, target_id FROM fhir_outbox
         WHERE clinic_id = ?1 AND state = 'pending' ORDER BY item_id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![clinic.as_str(), limit], |r| {
            let payload: String = r.get(3)?;
            Ok(Item {
                id: r.get(0)?,
                attempts: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                due_ms: r.get(2)?,
                body: serde_json::from_str(&payload).map_err(|e| e.to_string()),
                kind: r.get(4)?,
                target: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// An item's state after an attempt.
#[derive(Debug)]
pub struct Settled {
    /// `done`, `pending` (retried at `next_ms`) or `failed`.
    pub(crate) state: &'static str,
    /// When it is due again, in milliseconds since the epoch.
    pub(crate) next_ms: i64,
    /// Why the attempt failed, if it did.
    pub(crate) error: Option<String>,
}

/// What an attempt's outcome makes of the item: logged, counted in
/// `report`, and its next state.
fn settle(
    clinic: &ClinicSettings,
    settings: &FhirSettings,
    item: &Item,
    outcome: &Result<Option<String>, Failure>,
    now: DateTime<Utc>,
    report: &mut DrainReport,
) -> Settled {
    match outcome {
        Ok(note) => {
            if let Some(n) = note {
                tracing::info!(clinic = %clinic.id, item = item.id, target = %item.target, kind = %item.kind, "EHR write-back skipped: {n}");
            }
            report.sent += 1;
            Settled {
                state: "done",
                next_ms: to_ms(now),
                error: None,
            }
        }
        Err(Failure::Transient(e)) => {
            let attempts = item.attempts.saturating_add(1);
            let wait = backoff(attempts, settings.retry_max);
            tracing::warn!(clinic = %clinic.id, item = item.id, target = %item.target, kind = %item.kind, attempts, retry_in_secs = wait.as_secs(), "EHR write-back failed, will retry: {e}");
            report.retrying += 1;
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
            Settled {
                state: "pending",
                next_ms: to_ms(now).saturating_add(wait_ms),
                error: Some(e.clone()),
            }
        }
        Err(Failure::Permanent(e)) => {
            tracing::error!(clinic = %clinic.id, item = item.id, target = %item.target, kind = %item.kind, "EHR write-back failed for good: {e}");
            report.failed += 1;
            Settled {
                state: "failed",
                next_ms: to_ms(now),
                error: Some(e.clone()),
            }
        }
    }
}

/// Stores an attempt's result, and its error for the EHR status.
async fn record_attempt(
    state: &AppState,
    clinic: &ClinicId,
    id: i64,
    settled: Settled,
    now: DateTime<Utc>,
) -> Result<(), WriteBackError> {
    state
        .store()
        .ehr_record_attempt(clinic.clone(), id, settled, now)
        .await
        .map_err(|e| WriteBackError::Store(e.to_string()))
}

/// Stores an attempt's result on SQLite, and its error for the EHR status.
pub fn store_attempt(
    c: &Connection,
    clinic: &ClinicId,
    id: i64,
    settled: &Settled,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let finished = (settled.state != "pending").then_some(to_ms(now));
    c.execute(
        "UPDATE fhir_outbox SET state = ?3, attempts = attempts + 1, next_attempt_ms = ?4,
             last_error = ?5, finished_ms = ?6
         WHERE clinic_id = ?1 AND item_id = ?2",
        params![
            clinic.as_str(),
            id,
            settled.state,
            settled.next_ms,
            settled.error,
            finished
        ],
    )?;
    if let Some(e) = &settled.error {
        super::status::record_write_error(c, clinic, now, e)?;
    }
    Ok(())
}

/// Why one item was not written.
enum Failure {
    /// Try again later.
    Transient(String),
    /// Trying again will not help.
    Permanent(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// Writes one item; `Ok(Some(note))` when there was nothing to write.
async fn send(
    state: &AppState,
    clinic: &ClinicSettings,
    client: &FhirClient,
    item: &WriteBack,
) -> Result<Option<String>, Failure> {
    match item {
        WriteBack::AppointmentStatus {
            appointment_id,
            status,
        } => write_status(state, clinic, client, appointment_id, *status).await,
        WriteBack::Demographics {
            patient_id,
            demographics,
        } => {
            for _ in 0..CONFLICT_ROUNDS {
                let current = client.read("Patient", patient_id).await?;
                let edited = mapping::apply_demographics(&current.resource, demographics);
                if edited == current.resource {
                    return Ok(Some("the EHR already has these details".into()));
                }
                match client.update(&edited, current.version.as_deref()).await {
                    Ok(_) => return Ok(None),
                    Err(e) if e.status() == Some(412) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Failure::Transient(format!(
                "Patient/{patient_id} kept changing ({CONFLICT_ROUNDS} version conflicts)"
            )))
        }
        WriteBack::Coverage {
            patient_id,
            coverage,
        } => write_coverage(state, clinic, client, patient_id, coverage.as_ref()).await,
        WriteBack::FormResponse { event_id, .. } => {
            write_form(state, clinic, client, event_id).await
        }
    }
}

/// Writes a completed form: the QuestionnaireResponse with PUT to the
/// event's UUID (or, where the EHR refuses ids chosen by clients, with a
/// conditional create on its identifier), then its score Observation and
/// its Consent with conditional creates, so a retry after any partial
/// write adds nothing.
async fn write_form(
    state: &AppState,
    clinic: &ClinicSettings,
    client: &FhirClient,
    event_id: &str,
) -> Result<Option<String>, Failure> {
    let stored = state
        .store()
        .ehr_completed_form(clinic.id.clone(), event_id.to_string())
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let Some(mut form) = stored else {
        return Err(Failure::Permanent(format!(
            "the form of event {event_id} is not in the store"
        )));
    };
    if let Some(url) = state
        .forms()
        .get(&form.form_id)
        .and_then(|f| f.definition.questionnaire.get("url"))
        .and_then(Value::as_str)
    {
        form.questionnaire_url = url.to_string();
    }
    let written = match client
        .update(&forms::questionnaire_response(&form), None)
        .await
    {
        Ok(written) => written,
        Err(e) if e.status().is_some_and(forms::refuses_update_as_create) => {
            let query = forms::identifier_query(forms::RESPONSE_IDENTIFIER_SYSTEM, event_id);
            client
                .create(
                    &forms::questionnaire_response_to_create(&form),
                    Some(&query),
                )
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    let response_id = mapping::resource_id(&written.resource, "QuestionnaireResponse");
    if let Some(obs) = forms::score_observation(&form, response_id) {
        let query = forms::identifier_query(forms::SCORE_IDENTIFIER_SYSTEM, event_id);
        client.create(&obs, Some(&query)).await?;
    }
    if let Some(consent) = forms::consent(&form) {
        let query = forms::identifier_query(forms::CONSENT_IDENTIFIER_SYSTEM, event_id);
        client.create(&consent, Some(&query)).await?;
    }
    Ok(None)
}

/// The stored form of event `event_id`, with the default canonical
/// `urn:checkin-kiosk:form:<id>`.
pub fn load_form(
    c: &Connection,
    clinic: &ClinicId,
    event_id: &str,
) -> Result<Option<forms::CompletedForm>, StorageError> {
    let row = c
        .query_row(
            "SELECT patient_id, form_id, response, signature_png, score, completed_ms,
                    signature_name
             FROM form_responses WHERE clinic_id = ?1 AND event_id = ?2",
            params![clinic.as_str(), event_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((patient_id, form_id, response, signature_png, score, completed_ms, signature_name)) =
        row
    else {
        return Ok(None);
    };
    let response = serde_json::from_str(&response).map_err(|source| StorageError::Json {
        column: "form_responses.response",
        source,
    })?;
    Ok(Some(forms::CompletedForm {
        event_id: event_id.to_string(),
        patient_id,
        questionnaire_url: format!("urn:checkin-kiosk:form:{form_id}"),
        form_id,
        response,
        signature_png,
        signature_name,
        score: score.and_then(|s| u8::try_from(s).ok()),
        completed_at: from_ms(completed_ms),
    }))
}

/// Sets an Appointment's status with `If-Match`, re-reading on 412.
async fn write_status(
    state: &AppState,
    clinic: &ClinicSettings,
    client: &FhirClient,
    appointment_id: &str,
    target: TargetStatus,
) -> Result<Option<String>, Failure> {
    // Start from what the last pull (or write) saw; it saves a read, and a
    // concurrent edit since then is caught by If-Match.
    let cached = state
        .store()
        .ehr_cached_resource(clinic.id.clone(), "Appointment", appointment_id.to_string())
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let mut current = match cached {
        Some(v) => v,
        None => client.read("Appointment", appointment_id).await?,
    };
    for _ in 0..CONFLICT_ROUNDS {
        let edited = match mapping::set_status(&current.resource, target) {
            StatusEdit::Skip(why) => return Ok(Some(why)),
            StatusEdit::Apply(v) => v,
        };
        if current.version.is_none() {
            tracing::warn!(clinic = %clinic.id, appointment = %appointment_id, "the EHR gave no version; updating without If-Match");
        }
        match client.update(&edited, current.version.as_deref()).await {
            Ok(written) => {
                let cached = state
                    .store()
                    .ehr_cache_resource(
                        clinic.id.clone(),
                        "Appointment",
                        appointment_id.to_string(),
                        written,
                    )
                    .await;
                if let Err(e) = cached {
                    // The next write re-reads on a stale version (412).
                    tracing::warn!(clinic = %clinic.id, appointment = %appointment_id, "caching the written Appointment failed: {e}");
                }
                return Ok(None);
            }
            Err(e) if e.status() == Some(412) => {
                tracing::info!(clinic = %clinic.id, appointment = %appointment_id, "EHR version conflict; re-reading and re-applying");
                current = client.read("Appointment", appointment_id).await?;
            }
            Err(e) if matches!(e.status(), Some(404 | 410)) => {
                tracing::info!(clinic = %clinic.id, appointment = %appointment_id, status = e.status(), "EHR update found no Appointment; re-reading");
                current = match client.read("Appointment", appointment_id).await {
                    Ok(v) => v,
                    Err(r) if matches!(r.status(), Some(404 | 410)) => {
                        return Err(Failure::Permanent(format!(
                            "Appointment/{appointment_id} is not in the EHR (update and read answered {}); the clinic's status was not written",
                            r.status().unwrap_or_default()
                        )));
                    }
                    Err(r) => return Err(r.into()),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Failure::Transient(format!(
        "Appointment/{appointment_id} kept changing ({CONFLICT_ROUNDS} version conflicts)"
    )))
}

/// Ends the patient's other active Coverages and creates (once) the new one.
async fn write_coverage(
    state: &AppState,
    clinic: &ClinicSettings,
    client: &FhirClient,
    patient_id: &str,
    update: Option<&CoverageUpdateWire>,
) -> Result<Option<String>, Failure> {
    // Dates are the clinic's, as the pull reads them.
    let today = state.today(clinic);
    let active = client
        .search(
            "Coverage",
            &[
                ("beneficiary", format!("Patient/{patient_id}")),
                ("status", "active".to_string()),
            ],
        )
        .await?;
    let active: Vec<Value> = active
        .into_iter()
        .filter(|f| !f.included)
        .map(|f| f.resource)
        .filter(|r| r.get("status").and_then(Value::as_str) == Some("active"))
        .collect();
    if let Some(u) = update
        && active.iter().any(|c| mapping::coverage_matches(c, u))
    {
        return Ok(Some("the EHR already has this coverage".into()));
    }
    for c in &active {
        let version = mapping::version_id(c);
        let cancelled = mapping::cancel_coverage(c, today);
        match client.update(&cancelled, version.as_deref()).await {
            Ok(_) => {}
            // Someone else changed it meanwhile: the next attempt re-reads.
            Err(e) if e.status() == Some(412) => {
                return Err(Failure::Transient(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(u) = update {
        // The key makes a retried create find the first one.
        let key = format!(
            "{patient_id}-{}",
            stable_hash(&format!("{}|{}|{}", u.payer, u.member_id, u.group))
        );
        let copay = state
            .store()
            .ehr_known_copay(clinic.id.clone(), patient_id.to_string(), today)
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        let copay = copay.as_ref().map(|(cents, cur)| (*cents, cur.as_str()));
        let resource = mapping::new_coverage(patient_id, u, today, &key, copay);
        let query = format!("identifier={}|{key}", mapping::CHANGE_IDENTIFIER_SYSTEM);
        client.create(&resource, Some(&query)).await?;
    }
    Ok(None)
}

/// The co-pay of the patient's visit, in cents and currency: today's (or
/// the next) appointment, else the latest.
pub fn known_copay(
    c: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
    today: chrono::NaiveDate,
) -> Result<Option<(i64, String)>, StorageError> {
    Ok(c.query_row(
        "SELECT expected_copay_cents, currency FROM appointments
         WHERE clinic_id = ?1 AND patient_id = ?2 AND removed = 0
         ORDER BY day < ?3, CASE WHEN day < ?3 THEN -start_ms ELSE start_ms END
         LIMIT 1",
        params![clinic.as_str(), patient_id, today.to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

/// A short stable hex digest, so identifiers carry no member ids.
fn stable_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Queue counts for the status endpoint and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Items waiting to be sent.
    pub pending: i64,
    /// Items that failed for good.
    pub failed: i64,
    /// When the oldest pending item was queued.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The queue depth of `clinic`.
pub fn queue_depth(conn: &Connection, clinic: &ClinicId) -> Result<QueueDepth, StorageError> {
    let (pending, oldest): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MIN(created_ms) FROM fhir_outbox WHERE clinic_id = ?1 AND state = 'pending'",
        [clinic.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let failed: i64 = conn.query_row(
        "SELECT COUNT(*) FROM fhir_outbox WHERE clinic_id = ?1 AND state = 'failed'",
        [clinic.as_str()],
        |r| r.get(0),
    )?;
    Ok(QueueDepth {
        pending,
        failed,
        oldest_pending: oldest.map(from_ms),
    })
}

/// Makes every pending item of `clinic` due now; for tests and for an
/// operator who knows the EHR is back.
pub fn retry_now(
    conn: &Connection,
    clinic: &ClinicId,
    now: DateTime<Utc>,
) -> Result<usize, StorageError> {
    Ok(conn.execute(
        "UPDATE fhir_outbox SET next_attempt_ms = ?2 WHERE clinic_id = ?1 AND state = 'pending'",
        params![clinic.as_str(), to_ms(now)],
    )?)
}

/// The state of one item, for tests: `pending`, `done` or `failed`.
pub fn item_state(
    conn: &Connection,
    clinic: &ClinicId,
    item_id: i64,
) -> Result<Option<String>, StorageError> {
    Ok(conn
        .query_row(
            "SELECT state FROM fhir_outbox WHERE clinic_id = ?1 AND item_id = ?2",
            params![clinic.as_str(), item_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A write-back that failed for good, for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailedWrite {
    /// The outbox item; what the retry endpoint takes.
    pub item_id: i64,
    /// `appointment_status`, `demographics`, `coverage` or `form_response`.
    pub kind: String,
    /// The Appointment id (for a status) or the Patient id.
    pub target_id: String,
    /// The appointment concerned: the target of a status write, else the
    /// patient's appointment today (or next), if any.
    pub appointment_id: Option<String>,
    /// The status that was not written, for a status write.
    pub status: Option<String>,
    /// Why it failed (ids and codes only, no PHI).
    pub error: String,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// How many attempts were made.
    pub attempts: i64,
}

/// The most failed items listed.
const FAILED_LISTED: i64 = 100;

/// The failed write-backs of `clinic`, newest first.
pub fn failed_items(
    conn: &Connection,
    clinic: &ClinicId,
    today: chrono::NaiveDate,
) -> Result<Vec<FailedWrite>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT item_id, kind, target_id, payload, last_error, finished_ms, attempts FROM fhir_outbox
         WHERE clinic_id = ?1 AND state = 'failed' ORDER BY item_id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![clinic.as_str(), FAILED_LISTED], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (item_id, kind, target_id, payload, error, finished, attempts) in rows {
        let status = match serde_json::from_str::<WriteBack>(&payload) {
            Ok(WriteBack::AppointmentStatus { status, .. }) => Some(status.code().to_string()),
            _ => None,
        };
        let appointment_id = if kind == "appointment_status" {
            Some(target_id.clone())
        } else {
            patient_appointment(conn, clinic, &target_id, today)?
        };
        out.push(FailedWrite {
            item_id,
            kind,
            target_id,
            appointment_id,
            status,
            error: error.unwrap_or_default(),
            failed_at: finished.map(from_ms),
            attempts,
        });
    }
    Ok(out)
}

/// The patient's appointment today (or next), else the latest.
fn patient_appointment(
    conn: &Connection,
    clinic: &ClinicId,
    patient_id: &str,
    today: chrono::NaiveDate,
) -> Result<Option<String>, StorageError> {
    Ok(conn
        .query_row(
            "SELECT appointment_id FROM appointments
             WHERE clinic_id = ?1 AND patient_id = ?2 AND removed = 0
             ORDER BY day < ?3, CASE WHEN day < ?3 THEN -start_ms ELSE start_ms END
             LIMIT 1",
            params![clinic.as_str(), patient_id, today.to_string()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Queues a failed item again, due now, with its attempts reset. Returns
/// the item's target (kind and id), or `None` when `clinic` has no
/// failed item `item_id`.
pub fn retry_failed(
    conn: &Connection,
    clinic: &ClinicId,
    item_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, StorageError> {
    let target: Option<(String, String)> = conn
        .query_row(
            "SELECT kind, target_id FROM fhir_outbox
             WHERE clinic_id = ?1 AND item_id = ?2 AND state = 'failed'",
            params![clinic.as_str(), item_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if target.is_some() {
        conn.execute(
            "UPDATE fhir_outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?3,
                 finished_ms = NULL
             WHERE clinic_id = ?1 AND item_id = ?2",
            params![clinic.as_str(), item_id, to_ms(now)],
        )?;
    }
    Ok(target)
}
