//! The connector's status for staff and monitoring: the last pull and its
//! counts, the last errors, and the write-back queue depth, kept in the
//! `fhir_status` table (so a restart does not forget an outage) and served
//! as `GET /api/v1/staff/clinics/{clinic}/ehr` and in `/metrics`.
//!
//! It also carries the EHR alerts staff act on: removals a pull held back
//! (confirmed with `POST .../ehr/held-removals/confirm`) and write-backs
//! that failed for good (queued again with `POST .../ehr/writes/{item}/retry`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::pull::PullSummary;
use super::writeback::FailedWrite;
use crate::domain::ClinicId;
use crate::server::AppState;
use crate::server::error::{ApiError, ApiPath};
use crate::server::ops::{clinic_label, metric_family};
use crate::server::staff::StaffSession;
pub use crate::server::storage::ehr::{
    load, load_hold, record_pull, record_write_error, save_hold,
};

/// Removals a pull held back for staff: the EHR stopped listing these
/// appointments, in a way that looks more like a fault than a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeldRemovals {
    /// The appointments the EHR no longer lists, still on the schedule.
    pub appointment_ids: Vec<String>,
    /// Why they were held (counts and dates only).
    pub reason: String,
    /// When the first pull that held them ended.
    pub since: DateTime<Utc>,
    /// Later pulls that listed the same removals.
    pub agreeing_pulls: u32,
    /// Later pulls that must agree before the removals go ahead.
    pub pulls_to_release: u32,
}

/// `GET /api/v1/staff/clinics/{clinic}/ehr`: the EHR connector's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EhrStatus {
    /// The clinic.
    pub clinic_id: String,
    /// Whether the clinic has a `[clinic.fhir]` connector; when false every
    /// other field is empty.
    pub configured: bool,
    /// The EHR's FHIR base URL.
    pub base_url: Option<String>,
    /// The Location or Organization that is the clinic in the EHR.
    pub clinic_reference: Option<String>,
    /// Whether arrivals and approved changes are written back.
    pub write_back: bool,
    /// Seconds between pulls.
    pub poll_secs: Option<u64>,
    /// When the last pull ended, successfully or not.
    pub last_pull_at: Option<DateTime<Utc>>,
    /// When the last successful pull ended.
    pub last_pull_ok_at: Option<DateTime<Utc>>,
    /// The last successful pull's counts.
    pub last_pull: Option<PullSummary>,
    /// Why the last pull failed; `None` when it succeeded.
    pub last_pull_error: Option<String>,
    /// The last write-back failure (ids only, no PHI).
    pub last_write_error: Option<String>,
    /// When it happened.
    pub last_write_error_at: Option<DateTime<Utc>>,
    /// Write-backs waiting to be sent (including those waiting to retry).
    pub queue_pending: i64,
    /// Write-backs that failed for good and need a person.
    pub queue_failed: i64,
    /// When the oldest waiting write-back was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Removals held for staff to confirm; `None` when nothing is held.
    pub held_removals: Option<HeldRemovals>,
    /// Write-backs that failed for good, newest first (at most 100).
    pub failed_writes: Vec<FailedWrite>,
    /// On PostgreSQL, the replica that runs this clinic's connector now
    /// (host, process and instance), or `None` while no replica holds its
    /// lease; on SQLite always `None`, as the one server process runs it.
    #[serde(default)]
    pub lease_holder: Option<String>,
}

/// The status of `clinic`, configuration included.
pub async fn of_clinic(state: &AppState, clinic: &ClinicId) -> Result<EhrStatus, ApiError> {
    let today = state
        .clinic(clinic)
        .map_or_else(|| state.now().date_naive(), |c| state.today(c));
    let mut status = state.store().ehr_status(clinic.clone(), today).await?;
    if let Some(f) = state.clinic(clinic).and_then(|c| c.fhir.as_ref()) {
        status.configured = true;
        status.base_url = Some(f.base_url.to_string());
        status.clinic_reference = Some(f.clinic.reference());
        status.write_back = f.write_back;
        status.poll_secs = Some(f.poll_every.as_secs());
    }
    Ok(status)
}

/// `GET /api/v1/staff/clinics/{clinic}/ehr`.
pub async fn ehr_status(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<EhrStatus>, ApiError> {
    let id = ClinicId(clinic);
    session.require(&id)?;
    if state.clinic(&id).is_none() {
        return Err(ApiError::NotFound(format!(
            "clinic {id} is not served here"
        )));
    }
    Ok(Json(of_clinic(&state, &id).await?))
}

/// The clinic of a staff request on the EHR, checked: the session holds
/// it, it is served here, and it has a connector.
fn ehr_clinic(
    state: &AppState,
    session: &StaffSession,
    clinic: String,
) -> Result<ClinicId, ApiError> {
    let id = ClinicId(clinic);
    session.require(&id)?;
    match state.clinic(&id) {
        None => Err(ApiError::NotFound(format!(
            "clinic {id} is not served here"
        ))),
        Some(c) if c.fhir.is_none() => Err(ApiError::NotFound(format!(
            "clinic {id} has no EHR connector"
        ))),
        Some(_) => Ok(id),
    }
}

/// `POST /api/v1/staff/clinics/{clinic}/ehr/held-removals/confirm`: makes
/// the removals a pull held back, and clears the alert. 409 when nothing
/// is held.
pub async fn confirm_held_removals(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<EhrStatus>, ApiError> {
    let id = ehr_clinic(&state, &session, clinic)?;
    let now = state.now();
    let user = session.username.clone();
    let removed = state
        .store()
        .ehr_confirm_held(id.clone(), user, now)
        .await?;
    tracing::info!(clinic = %id, removed = removed.len(), "EHR held removals confirmed by staff");
    state.publish(removed.into_iter().map(|a| notice(&id, "appointment", a)));
    Ok(Json(of_clinic(&state, &id).await?))
}

/// `POST /api/v1/staff/clinics/{clinic}/ehr/writes/{item}/retry`: queues
/// a write-back that failed for good again, due now.
pub async fn retry_failed_write(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, item)): ApiPath<(String, i64)>,
) -> Result<Json<EhrStatus>, ApiError> {
    let id = ehr_clinic(&state, &session, clinic)?;
    let now = state.now();
    let user = session.username.clone();
    state
        .store()
        .ehr_retry_failed(id.clone(), item, user, now)
        .await?;
    tracing::info!(clinic = %id, item, "EHR write-back queued again by staff");
    state.ehr_wake().wake();
    Ok(Json(of_clinic(&state, &id).await?))
}

fn notice(clinic: &ClinicId, kind: &str, id: String) -> crate::protocol::ChangeNotice {
    crate::protocol::ChangeNotice {
        clinic_id: clinic.as_str().to_string(),
        kind: kind.to_string(),
        id,
    }
}

/// The connector's lines for `/metrics`, for clinics with a connector.
pub async fn prometheus(state: &AppState) -> Result<String, ApiError> {
    let clinics: Vec<(ClinicId, NaiveDate)> = state
        .config()
        .clinics
        .iter()
        .filter(|c| c.fhir.is_some())
        .map(|c| (c.id.clone(), state.today(c)))
        .collect();
    if clinics.is_empty() {
        return Ok(String::new());
    }
    let mut rows = Vec::with_capacity(clinics.len());
    for (id, today) in clinics {
        rows.push(state.store().ehr_status(id, today).await?);
    }
    let mut s = String::new();
    let mut family = |name: &str, help: &str, value: &dyn Fn(&EhrStatus) -> i64| {
        let samples = rows.iter().map(|r| (clinic_label(&r.clinic_id), value(r)));
        metric_family(&mut s, name, "gauge", help, samples);
    };
    family(
        "clinic_ehr_writeback_queue",
        "EHR write-backs waiting to be sent.",
        &|r| r.queue_pending,
    );
    family(
        "clinic_ehr_writeback_failed",
        "EHR write-backs that failed for good.",
        &|r| r.queue_failed,
    );
    family(
        "clinic_ehr_last_pull_ok_timestamp_seconds",
        "When the last successful EHR schedule pull ended (0: never).",
        &|r| r.last_pull_ok_at.map_or(0, |t| t.timestamp()),
    );
    family(
        "clinic_ehr_removals_held",
        "Appointment removals a pull held for staff to confirm.",
        &|r| {
            r.held_removals.as_ref().map_or(0, |h| {
                i64::try_from(h.appointment_ids.len()).unwrap_or(i64::MAX)
            })
        },
    );
    family(
        "clinic_ehr_pull_failing",
        "1 when the last EHR schedule pull failed.",
        &|r| i64::from(r.last_pull_error.is_some()),
    );
    Ok(s)
}
