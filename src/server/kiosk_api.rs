//! The kiosk API, `/api/v1/kiosk/`: enrollment with a one-time code,
//! device-token authentication, the schedule pull, event ingest and
//! heartbeats.
//!
//! Device tokens are 32 random bytes, shown once at enrollment and stored
//! as SHA-256 hashes. A kiosk sees only its own clinic.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;

use serde::Deserialize;

use super::AppState;
use super::db::{random_token, secret_hash};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::staff;
use super::storage::backend::NewKiosk;
use crate::config::ClinicSettings;
use crate::domain::ClinicId;
use crate::protocol::{
    self, EnrollRequest, EnrollResponse, EventBatch, EventBatchResponse, Heartbeat,
    HeartbeatResponse, ScheduleResponse,
};

/// An authenticated kiosk, from its `Authorization: Bearer` device token.
#[derive(Debug, Clone)]
pub struct KioskAuth {
    /// The kiosk.
    pub kiosk_id: String,
    /// Its clinic: the only clinic whose data it may see.
    pub clinic_id: ClinicId,
}

impl KioskAuth {
    /// The kiosk's clinic settings; 403 if the clinic was removed from the
    /// configuration since the kiosk enrolled.
    pub fn clinic<'s>(&self, state: &'s AppState) -> Result<&'s ClinicSettings, ApiError> {
        state.clinic(&self.clinic_id).ok_or(ApiError::Forbidden {
            code: "clinic_not_served",
            message: "this kiosk's clinic is no longer served by this server",
        })
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty() && token.len() <= 128).then_some(token)
}

impl FromRequestParts<AppState> for KioskAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "send the device token as Authorization: Bearer <token>",
        ))?;
        let hash = secret_hash(token);
        // On a read connection, so authenticating never waits for a commit.
        let owner = state.store().token_owner(&hash).await?;
        let auth = match owner {
            None => return Err(ApiError::Unauthorized("unknown device token")),
            Some(o) if o.revoked => {
                return Err(ApiError::Unauthorized(
                    "this kiosk has been revoked; enroll it again",
                ));
            }
            Some(o) => KioskAuth {
                kiosk_id: o.kiosk_id,
                clinic_id: o.clinic_id,
            },
        };
        state.kiosk_heard(&auth.kiosk_id).await?;
        Ok(auth)
    }
}

/// The settings a kiosk takes from its clinic.
pub fn clinic_settings_wire(c: &ClinicSettings) -> protocol::ClinicSettings {
    protocol::ClinicSettings {
        clinic_id: c.id.as_str().to_string(),
        name: c.name.clone(),
        time_zone: c.time_zone.name().to_string(),
        currency: c.currency.code().to_string(),
        locations: c.locations.iter().map(|l| l.as_str().to_string()).collect(),
        payment_link: c.payment_link.as_ref().map(|l| l.as_str().to_string()),
        allow_bill_later: c.allow_bill_later,
    }
}

/// `POST /api/v1/kiosk/enroll`: exchanges a one-time code for a device token.
pub async fn enroll(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    req.validate()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let name = req.kiosk_name.trim().to_string();
    let version = req.app_version.trim().to_string();
    let code_hash = secret_hash(&staff::normalize_code(&req.code));
    let now = state.now();
    let token = random_token(32);
    let token_hash = secret_hash(&token);
    let kiosk_id = format!("k-{}", random_token(9));
    let clinic_id = state
        .store()
        .enroll(NewKiosk {
            code_hash,
            kiosk_id: kiosk_id.clone(),
            name,
            app_version: version,
            token_hash,
            now,
        })
        .await?
        .ok_or(ApiError::Unauthorized(
            "the enrollment code is unknown, used or expired; ask staff for a new one",
        ))?;
    let clinic = state.clinic(&clinic_id).ok_or(ApiError::Forbidden {
        code: "clinic_not_served",
        message: "the code's clinic is no longer served by this server",
    })?;
    tracing::info!(kiosk_id = %kiosk_id, clinic_id = %clinic_id, "kiosk enrolled");
    state.touch_kiosk(&kiosk_id);
    state.publish([protocol::ChangeNotice {
        clinic_id: clinic_id.as_str().to_string(),
        kind: "kiosk".into(),
        id: kiosk_id.clone(),
    }]);
    Ok(Json(EnrollResponse {
        kiosk_id,
        device_token: token,
        clinic: clinic_settings_wire(clinic),
        pass_public_key: state.signer().public_key_b64(),
        server_time: now,
    }))
}

/// The schedule pull's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleQuery {
    /// The cursor of the kiosk's last pull, if any.
    #[serde(default)]
    pub since: Option<String>,
    /// The clinic asked for; must be the kiosk's own if given.
    #[serde(default)]
    pub clinic: Option<String>,
}

/// `GET /api/v1/kiosk/schedule?since=CURSOR`.
pub async fn schedule(
    State(state): State<AppState>,
    auth: KioskAuth,
    ApiQuery(q): ApiQuery<ScheduleQuery>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    if q.clinic
        .as_deref()
        .is_some_and(|c| c != auth.clinic_id.as_str())
    {
        return Err(ApiError::other_clinic());
    }
    if q.since.as_ref().is_some_and(|s| s.len() > 200) {
        return Err(ApiError::bad_request(
            "since is not a cursor this server issued",
        ));
    }
    let clinic = auth.clinic(&state)?;
    let today = state.today(clinic);
    let response = state
        .store()
        .pull(auth.clinic_id.clone(), today, q.since)
        .await?;
    let response = state
        .store()
        .annotate_forms(
            auth.clinic_id.clone(),
            clinic.time_zone,
            response,
            state.forms_shared(),
        )
        .await?;
    Ok(Json(response))
}

/// `POST /api/v1/kiosk/events`: an idempotent batch.
pub async fn events(
    State(state): State<AppState>,
    auth: KioskAuth,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<EventBatchResponse>, ApiError> {
    let max = state.config().server.max_events_per_batch;
    if batch.events.len() > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {max} events; this one has {}",
            batch.events.len()
        )));
    }
    let clinic = auth.clinic(&state)?.clone();
    let now = state.now();
    let kiosk_id = auth.kiosk_id.clone();
    // On SQLite committed together with the batches other kiosks sent
    // meanwhile; on PostgreSQL in its own transaction.
    let outcome = state
        .apply_events(clinic, kiosk_id, now, batch.events)
        .await?;
    let mut counts = [0usize; 3];
    for r in &outcome.results {
        state.count_event(r.status);
        counts[r.status as usize] += 1;
    }
    tracing::info!(
        kiosk_id = %auth.kiosk_id,
        accepted = counts[0],
        duplicate = counts[1],
        rejected = counts[2],
        "event batch"
    );
    state.publish(outcome.notices);
    Ok(Json(EventBatchResponse {
        results: outcome.results,
    }))
}

/// `POST /api/v1/kiosk/heartbeat`.
pub async fn heartbeat(
    State(state): State<AppState>,
    auth: KioskAuth,
    ApiJson(hb): ApiJson<Heartbeat>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let now = state.now();
    hb.validate(now)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let max = protocol::MAX_CLOCK_SKEW_SECS;
    if hb
        .clock_skew_secs
        .is_some_and(|s| !(-max..=max).contains(&s))
    {
        return Err(ApiError::invalid(
            "clock_skew_secs must be within ten years either way",
        ));
    }
    let kiosk_id = auth.kiosk_id.clone();
    let clinic_id = auth.clinic_id.clone();
    let help_answered = state
        .store()
        .record_heartbeat(clinic_id, kiosk_id, hb, now)
        .await?;
    state.publish([protocol::ChangeNotice {
        clinic_id: auth.clinic_id.as_str().to_string(),
        kind: "kiosk".into(),
        id: auth.kiosk_id.clone(),
    }]);
    Ok(Json(HeartbeatResponse {
        server_time: now,
        help_answered,
    }))
}
