//! The staff API, `/api/v1/staff/`: sign-in, today's appointments, the
//! flag queue, the co-pay queue, proposed changes, the kiosk fleet,
//! enrollment codes, passes, and the live change stream.
//!
//! Every clinic-scoped path starts `/clinics/{clinic}/`; a user who does
//! not belong to that clinic gets 403 whether or not the clinic exists.
//! Viewing or changing patient data appends to the audit table.

use std::convert::Infallible;
use std::time::Duration as StdDuration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::db::StorageError;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::login_guard::LoginAlert;
use super::passes;
use super::staff::{self, ClientAddr, StaffSession};
use super::storage::backend::ChangeDecision as Decided;
use super::storage::{Actor, AuditAction, AuditRow};
use crate::config::ClinicSettings;
use crate::domain::fields::{self, Field};
use crate::domain::{AppointmentId, ClinicId};
use crate::protocol::{
    ChangeDecision, ChangeNotice, CopayDecision, CopayItem, CopayStatus, EnrollmentCodeResponse,
    FleetKiosk, PassResponse, ProposedChange, ResolveFlagRequest, StaffAppointments, StaffClinic,
    StaffFlag, StaffLabel, StaffLoginRequest, StaffMe,
};

/// The clinic `id` if the user belongs to it (403) and it is configured (404).
fn clinic_for(
    state: &AppState,
    session: &StaffSession,
    id: &str,
) -> Result<ClinicSettings, ApiError> {
    let id = ClinicId(id.to_string());
    session.require(&id)?;
    state
        .clinic(&id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("clinic {id} is not served here")))
}

/// Audits a staff view of patient data. On SQLite lists are read on the
/// read-only connection; this row goes through the writer. Either way it
/// is committed before the data leaves the server, so a view is never
/// shown unaudited.
async fn audit_view(
    state: &AppState,
    clinic: &ClinicId,
    user: &str,
    action: AuditAction,
    detail: Option<String>,
) -> Result<(), ApiError> {
    let row = AuditRow {
        clinic: clinic.clone(),
        actor: Actor::Staff,
        actor_id: user.to_string(),
        action,
        detail,
    };
    state
        .store()
        .audit(vec![row], state.now())
        .await
        .map_err(ApiError::from)
}

fn me(state: &AppState, username: String, clinics: &[ClinicId]) -> StaffMe {
    StaffMe {
        username,
        clinics: clinics
            .iter()
            .filter_map(|c| state.clinic(c))
            .map(|c| StaffClinic {
                id: c.id.as_str().to_string(),
                name: c.name.clone(),
                time_zone: c.time_zone.name().to_string(),
            })
            .collect(),
        reasons: StaffLabel::reasons(),
        steps: StaffLabel::steps(),
    }
}

fn secure_cookies(state: &AppState) -> bool {
    staff::secure_cookies(state.config())
}

/// `POST /api/v1/staff/login`. Attempts are limited per client address
/// and per user name ([`super::login_guard`]), and password checks run at
/// most one per core: beyond that the answer is 503 with `Retry-After`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    _: staff::CsrfChecked,
    ApiJson(req): ApiJson<StaffLoginRequest>,
) -> Result<Response, ApiError> {
    if !staff::valid_username(&req.username) || req.password.len() > 1024 {
        return Err(ApiError::Unauthorized("wrong user name or password"));
    }
    let now = state.now();
    let guard = state.login_guard();
    let attempt = guard.begin(&req.username, ip, now).await?;
    let Some(permit) = guard.check_permit() else {
        guard.abandon(attempt).await?;
        return Err(ApiError::Busy {
            retry_after_secs: 1,
        });
    };
    let user = state.store().load_user(&req.username).await;
    let user = match user {
        Ok(u) => u,
        Err(e) => {
            // The count stays if this fails too: the safe side.
            if let Err(abandon) = guard.abandon(attempt).await {
                tracing::warn!(error = %abandon, "taking back a sign-in count");
            }
            return Err(e.into());
        }
    };
    let (hash, clinics) = user.unwrap_or_else(|| (staff::dummy_hash().to_string(), Vec::new()));
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || {
        let ok = staff::verify_password(&password, &hash);
        drop(permit);
        ok
    })
    .await
    .map_err(ApiError::internal)?;
    if !ok || clinics.is_empty() {
        let alerts = guard.failed(&attempt).await?;
        tracing::info!("staff login failed");
        raise_login_alerts(&state, alerts, &clinics, now).await?;
        return Err(ApiError::Unauthorized("wrong user name or password"));
    }
    guard.succeeded(attempt).await?;
    let lasts = state.config().server.staff_session;
    let token = staff::start_session(state.store(), &req.username, now, lasts).await?;
    let cookie = staff::session_cookie(Some(&token), lasts.num_seconds(), secure_cookies(&state));
    let mut response = Json(me(&state, req.username, &clinics)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// Tells staff about repeated failed sign-ins: an `alert` on the live
/// stream and an audit row, for the user's clinics (a user name alert) or
/// every clinic (an address alert, or a user name nobody has).
async fn raise_login_alerts(
    state: &AppState,
    alerts: Vec<LoginAlert>,
    user_clinics: &[ClinicId],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let every: Vec<ClinicId> = state
        .config()
        .clinics
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let mut notices = Vec::new();
    for alert in alerts {
        let clinics = match &alert {
            LoginAlert::User(_) if !user_clinics.is_empty() => user_clinics.to_vec(),
            _ => every.clone(),
        };
        let subject = alert.subject();
        tracing::warn!(subject = %subject, "repeated failed staff sign-ins");
        for clinic in clinics {
            notices.push((clinic, subject.clone()));
        }
    }
    let rows = notices
        .iter()
        .map(|(clinic, subject)| AuditRow {
            clinic: clinic.clone(),
            actor: Actor::System,
            actor_id: "login".into(),
            action: AuditAction::LoginAlert,
            detail: Some(subject.clone()),
        })
        .collect();
    let notices: Vec<ChangeNotice> = notices
        .into_iter()
        .map(|(clinic, subject)| ChangeNotice {
            clinic_id: clinic.as_str().to_string(),
            kind: LOGIN_ALERT.to_string(),
            id: subject,
        })
        .collect();
    state
        .store()
        .audit_and_announce(rows, notices.clone(), now)
        .await?;
    state.publish(notices);
    Ok(())
}

/// The [`ChangeNotice`] kind of a sign-in alert, sent as an `alert` event.
pub const LOGIN_ALERT: &str = "login_alert";

/// The [`ChangeNotice`] kind that asks every console, whatever its clinic,
/// to refetch everything, sent as a `resync` event: notices may have been
/// missed, as when the PostgreSQL change listener reconnects.
pub const RESYNC: &str = "resync";

/// `POST /api/v1/staff/logout`.
pub async fn logout(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Response, ApiError> {
    state.store().delete_session(&session.token_hash).await?;
    let cookie = staff::session_cookie(None, 0, secure_cookies(&state));
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// `GET /api/v1/staff/me`.
pub async fn whoami(State(state): State<AppState>, session: StaffSession) -> Json<StaffMe> {
    Json(me(&state, session.username, &session.clinics))
}

/// `GET /api/v1/staff/clinics/{clinic}/appointments`: today's, with their
/// check-in state.
pub async fn appointments(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<StaffAppointments>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let day = state.today(&clinic);
    let now = state.now();
    let user = &session.username;
    let list = state
        .store()
        .appointments_on(clinic.id.clone(), day, now)
        .await?;
    audit_view(
        &state,
        &clinic.id,
        user,
        AuditAction::ViewedAppointments,
        Some(day.to_string()),
    )
    .await?;
    Ok(Json(StaffAppointments {
        clinic_id: clinic.id.as_str().to_string(),
        day,
        appointments: list,
    }))
}

/// `GET /api/v1/staff/clinics/{clinic}/forms`: today's completed intake
/// forms with their scores, audited as a PHI view.
pub async fn forms(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<crate::server::intake::StaffCompletedForms>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let day = state.today(&clinic);
    let rows = state
        .store()
        .completed_forms(clinic.id.clone(), day)
        .await?;
    audit_view(
        &state,
        &clinic.id,
        &session.username,
        AuditAction::ViewedFormResponses,
        Some(day.to_string()),
    )
    .await?;
    Ok(Json(state.forms().staff_view(&clinic.id, day, rows)))
}

/// `GET /api/v1/staff/clinics/{clinic}/flags`: open flags, urgent ones
/// (`screening_positive`) first, then oldest first.
pub async fn flags(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<StaffFlag>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let list = state.store().open_flags(clinic.id).await?;
    Ok(Json(list))
}

/// `POST /api/v1/staff/clinics/{clinic}/flags/{id}/resolve`.
pub async fn resolve_flag(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, id)): ApiPath<(String, i64)>,
    ApiJson(req): ApiJson<ResolveFlagRequest>,
) -> Result<Json<StaffFlag>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let note = req.note.trim().to_string();
    fields::require(Field::Note, &note).map_err(|e| ApiError::invalid(e.to_string()))?;
    let now = state.now();
    let flag = state
        .store()
        .resolve_flag(clinic.id.clone(), id, session.username, note, now)
        .await?;
    state.publish([notice(&clinic.id, "flag", id.to_string())]);
    Ok(Json(flag))
}

fn notice(clinic: &ClinicId, kind: &str, id: String) -> crate::protocol::ChangeNotice {
    crate::protocol::ChangeNotice {
        clinic_id: clinic.as_str().to_string(),
        kind: kind.to_string(),
        id,
    }
}

/// The co-pay queue's filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopayQuery {
    /// Which items to list; `pending` when absent.
    #[serde(default)]
    pub status: Option<CopayStatus>,
}

/// `GET /api/v1/staff/clinics/{clinic}/copays?status=pending`.
pub async fn copays(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
    ApiQuery(q): ApiQuery<CopayQuery>,
) -> Result<Json<Vec<CopayItem>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let status = q.status.unwrap_or(CopayStatus::Pending);
    let list = state.store().copays(clinic.id, status).await?;
    Ok(Json(list))
}

/// `POST /api/v1/staff/clinics/{clinic}/copays/{id}`: mark collected or waived.
pub async fn decide_copay(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, id)): ApiPath<(String, i64)>,
    ApiJson(req): ApiJson<CopayDecision>,
) -> Result<Json<CopayItem>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    if req.status == CopayStatus::Pending {
        return Err(ApiError::invalid("status must be collected or waived"));
    }
    let now = state.now();
    let item = state
        .store()
        .decide_copay(clinic.id.clone(), id, req.status, session.username, now)
        .await?;
    state.publish([notice(&clinic.id, "copay", id.to_string())]);
    Ok(Json(item))
}

/// `GET /api/v1/staff/clinics/{clinic}/changes`: pending proposals.
pub async fn changes(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<ProposedChange>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let list = state.store().pending_changes(clinic.id.clone()).await?;
    if !list.is_empty() {
        audit_view(
            &state,
            &clinic.id,
            &session.username,
            AuditAction::ViewedProposedChanges,
            None,
        )
        .await?;
    }
    Ok(Json(list))
}

/// `POST .../changes/{id}/approve`: applies the change to the patient record.
pub async fn approve_change(
    state: State<AppState>,
    session: StaffSession,
    path: ApiPath<(String, i64)>,
    body: ApiJson<ChangeDecision>,
) -> Result<Json<ProposedChange>, ApiError> {
    decide_change(state, session, path, body, true).await
}

/// `POST .../changes/{id}/reject`: leaves the record as it was.
pub async fn reject_change(
    state: State<AppState>,
    session: StaffSession,
    path: ApiPath<(String, i64)>,
    body: ApiJson<ChangeDecision>,
) -> Result<Json<ProposedChange>, ApiError> {
    decide_change(state, session, path, body, false).await
}

async fn decide_change(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, id)): ApiPath<(String, i64)>,
    ApiJson(req): ApiJson<ChangeDecision>,
    approve: bool,
) -> Result<Json<ProposedChange>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    if let Some(note) = &req.note {
        fields::check(Field::Note, note).map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let now = state.now();
    let ehr = super::fhir::writeback::enabled(&clinic);
    let decision = Decided {
        id,
        approve,
        user: session.username,
        note: req.note,
        write_back: ehr,
        now,
    };
    let change = state
        .store()
        .decide_change(clinic.id.clone(), decision)
        .await?;
    if approve && ehr {
        state.ehr_wake().wake();
    }
    state.publish([
        notice(&clinic.id, "change", id.to_string()),
        notice(&clinic.id, "appointment", change.appointment_id.clone()),
    ]);
    Ok(Json(change))
}

/// The clinic's kiosks, for the fleet view and `/metrics` (on SQLite from
/// the read connection).
pub async fn load_fleet(
    state: &AppState,
    clinic: &ClinicId,
) -> Result<Vec<FleetKiosk>, StorageError> {
    let st = state.clone();
    let seen = std::sync::Arc::new(move |id: &str| st.kiosk_seen(id));
    state
        .store()
        .fleet(
            clinic.clone(),
            state.now(),
            state.config().server.offline_after(),
            seen,
        )
        .await
}

/// `GET /api/v1/staff/clinics/{clinic}/kiosks`.
pub async fn kiosks(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<FleetKiosk>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let list = load_fleet(&state, &clinic.id).await?;
    Ok(Json(list))
}

/// `POST /api/v1/staff/clinics/{clinic}/kiosks/{id}/revoke`: the kiosk's
/// token stops working at once. Revoking twice is harmless.
pub async fn revoke_kiosk(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, kiosk)): ApiPath<(String, String)>,
) -> Result<Json<FleetKiosk>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let now = state.now();
    state
        .store()
        .revoke_kiosk(clinic.id.clone(), kiosk.clone(), session.username, now)
        .await?;
    let fleet = load_fleet(&state, &clinic.id)
        .await?
        .into_iter()
        .find(|k| k.id == kiosk)
        .ok_or_else(|| ApiError::internal("revoked kiosk vanished"))?;
    tracing::info!(kiosk_id = %kiosk, "kiosk revoked");
    state.publish([notice(&clinic.id, "kiosk", kiosk)]);
    Ok(Json(fleet))
}

/// `POST /api/v1/staff/clinics/{clinic}/enrollment-codes`.
pub async fn create_enrollment_code(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<(StatusCode, Json<EnrollmentCodeResponse>), ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let now = state.now();
    let (code, expires_at) =
        staff::issue_enrollment_code(state.store(), clinic.id, now, Some(session.username)).await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentCodeResponse { code, expires_at }),
    ))
}

async fn pass_text(
    state: &AppState,
    session: &StaffSession,
    clinic: &str,
    appointment: String,
) -> Result<PassResponse, ApiError> {
    let clinic = clinic_for(state, session, clinic)?;
    let start = state
        .store()
        .appointment_start(clinic.id.clone(), appointment.clone())
        .await?;
    let (pass, expires_at) = passes::sign_for(
        state.signer(),
        &clinic.id,
        &AppointmentId(appointment.clone()),
        start,
        state.config().server.pass_expiry_after_start,
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(PassResponse {
        appointment_id: appointment,
        pass,
        expires_at,
    })
}

/// `GET .../appointments/{id}/pass`: the pass as text.
pub async fn pass_json(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, appointment)): ApiPath<(String, String)>,
) -> Result<Json<PassResponse>, ApiError> {
    Ok(Json(
        pass_text(&state, &session, &clinic, appointment).await?,
    ))
}

/// `GET .../appointments/{id}/pass.png`.
pub async fn pass_png(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, appointment)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let p = pass_text(&state, &session, &clinic, appointment).await?;
    let png = passes::png(&p.pass).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// `GET .../appointments/{id}/pass.svg`.
pub async fn pass_svg(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath((clinic, appointment)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let p = pass_text(&state, &session, &clinic, appointment).await?;
    let svg = passes::svg(&p.pass).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// `GET /api/v1/staff/clinics/{clinic}/stream`: server-sent events, one
/// `change` event per [`crate::protocol::ChangeNotice`] of the clinic, and
/// a `resync` event when the stream fell behind (or, on PostgreSQL, the
/// replica's change listener reconnected) and the console should refetch
/// everything.
pub async fn stream(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let rx = state.subscribe();
    let closing = state.closing();
    let clinic_id = clinic.id.as_str().to_string();
    let events = futures_util::stream::unfold(
        (rx, closing, clinic_id),
        |(mut rx, mut closing, clinic_id)| async move {
            loop {
                // The stream ends when the server shuts down, so graceful
                // shutdown can finish; the console reconnects by itself.
                let received = tokio::select! {
                    r = rx.recv() => r,
                    _ = closing.wait_for(|c| *c) => return None,
                };
                match received {
                    Ok(n) if n.kind == RESYNC => {
                        let ev = Event::default().event("resync").data("{}");
                        return Some((Ok(ev), (rx, closing, clinic_id)));
                    }
                    Ok(n) if n.clinic_id == clinic_id => {
                        let data = serde_json::to_string(&n).unwrap_or_default();
                        let name = if n.kind == LOGIN_ALERT {
                            "alert"
                        } else {
                            "change"
                        };
                        let ev = Event::default().event(name).data(data);
                        return Some((Ok(ev), (rx, closing, clinic_id)));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        let ev = Event::default().event("resync").data("{}");
                        return Some((Ok(ev), (rx, closing, clinic_id)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(StdDuration::from_secs(15))))
}
