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
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::db::{StorageError, audit, from_ms, to_ms};
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::login_guard::LoginAlert;
use super::passes;
use super::staff::{self, ClientAddr, StaffSession};
use super::storage::schedule;
use crate::config::ClinicSettings;
use crate::domain::fields::{self, Field};
use crate::domain::{AppointmentId, ClinicId};
use crate::protocol::{
    ChangeDecision, ChangeNotice, ChangeProposal, CopayDecision, CopayItem, CopayStatus,
    CoverageWire, EnrollmentCodeResponse, FleetKiosk, OnFile, PassResponse, ProposedChange,
    ResolveFlagRequest, StaffAppointment, StaffAppointments, StaffClinic, StaffFlag, StaffLabel,
    StaffLoginRequest, StaffMe,
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

/// Audits a staff view of patient data. Lists are read on the read-only
/// connection; this row goes through the writer and is committed before
/// the data leaves the server, so a view is never shown unaudited.
async fn audit_view(
    state: &AppState,
    clinic: &ClinicId,
    user: &str,
    action: &'static str,
    detail: Option<String>,
) -> Result<(), ApiError> {
    let now = state.now();
    let (clinic, user) = (clinic.clone(), user.to_string());
    state
        .db()
        .call(move |c| {
            audit(
                c,
                &clinic,
                now,
                "staff",
                &user,
                action,
                None,
                None,
                detail.as_deref(),
            )?;
            Ok(())
        })
        .await
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
    let attempt = guard
        .begin(&req.username, ip, now)
        .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    let Some(permit) = guard.check_permit() else {
        guard.abandon(attempt);
        return Err(ApiError::Busy {
            retry_after_secs: 1,
        });
    };
    let username = req.username.clone();
    let user = state
        .db()
        .call(move |c| Ok(staff::load_user(c, &username)?))
        .await;
    let user = match user {
        Ok(u) => u,
        Err(e) => {
            guard.abandon(attempt);
            return Err(e);
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
        let alerts = guard.failed(&attempt);
        tracing::info!("staff login failed");
        raise_login_alerts(&state, alerts, &clinics, now).await?;
        return Err(ApiError::Unauthorized("wrong user name or password"));
    }
    guard.succeeded(attempt);
    let lasts = state.config().server.staff_session;
    let username = req.username.clone();
    let token = state
        .db()
        .call(move |c| Ok(staff::start_session(c, &username, now, lasts)?))
        .await?;
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
    let rows = notices.clone();
    state
        .db()
        .call(move |c| {
            for (clinic, subject) in &rows {
                audit(
                    c,
                    clinic,
                    now,
                    "system",
                    "login",
                    "login_alert",
                    None,
                    None,
                    Some(subject),
                )?;
            }
            Ok(())
        })
        .await?;
    state.publish(notices.into_iter().map(|(clinic, subject)| ChangeNotice {
        clinic_id: clinic.as_str().to_string(),
        kind: LOGIN_ALERT.to_string(),
        id: subject,
    }));
    Ok(())
}

/// The [`ChangeNotice`] kind of a sign-in alert, sent as an `alert` event.
pub const LOGIN_ALERT: &str = "login_alert";

/// `POST /api/v1/staff/logout`.
pub async fn logout(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Response, ApiError> {
    let hash = session.token_hash.clone();
    state
        .db()
        .call(move |c| {
            c.execute("DELETE FROM staff_sessions WHERE token_hash = ?1", [hash])?;
            Ok(())
        })
        .await?;
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
    let id = clinic.id.clone();
    let user = &session.username;
    let list = state
        .db()
        .read(move |c| {
            let wires = schedule::day_wires(c, &id, day)?;
            let mut out = Vec::with_capacity(wires.len());
            let mut stmt = c.prepare_cached(
                "SELECT COUNT(*) FROM flags WHERE clinic_id = ?1 AND appointment_id = ?2 AND resolved_ms IS NULL",
            )?;
            for w in wires {
                let open_flags: u32 = stmt.query_row(params![id.as_str(), w.id], |r| r.get(0))?;
                out.push(StaffAppointment {
                    check_in_state: StaffAppointment::check_in_state_at(&w.status, w.end, now)
                        .to_string(),
                    id: w.id,
                    start: w.start,
                    end: w.end,
                    clinician: w.clinician,
                    location_id: w.location_id,
                    status: w.status,
                    patient_id: w.patient.id,
                    first_name: w.patient.first_name,
                    last_name: w.patient.last_name,
                    date_of_birth: w.patient.date_of_birth,
                    expected_copay_cents: w.expected_copay_cents,
                    prior_balance_cents: w.prior_balance_cents,
                    currency: w.currency,
                    open_flags,
                });
            }
            Ok(out)
        })
        .await?;
    audit_view(
        &state,
        &clinic.id,
        user,
        "viewed_appointments",
        Some(day.to_string()),
    )
    .await?;
    Ok(Json(StaffAppointments {
        clinic_id: clinic.id.as_str().to_string(),
        day,
        appointments: list,
    }))
}

const FLAG_COLUMNS: &str = "flag_id, code, step, text, kiosk_id, appointment_id, raised_ms, resolved_ms, resolved_by, resolution_note";

fn flag_from_row(r: &Row<'_>) -> rusqlite::Result<StaffFlag> {
    Ok(StaffFlag {
        id: r.get(0)?,
        code: r.get(1)?,
        step: r.get(2)?,
        text: r.get(3)?,
        kiosk_id: r.get(4)?,
        appointment_id: r.get(5)?,
        raised_at: from_ms(r.get(6)?),
        resolved_at: r.get::<_, Option<i64>>(7)?.map(from_ms),
        resolved_by: r.get(8)?,
        note: r.get(9)?,
    })
}

/// `GET /api/v1/staff/clinics/{clinic}/flags`: open flags, oldest first.
pub async fn flags(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<StaffFlag>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let list = state
        .db()
        .read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = ?1 AND resolved_ms IS NULL ORDER BY raised_ms, flag_id"
            ))?;
            let rows = stmt
                .query_map([clinic.id.as_str()], flag_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
    Ok(Json(list))
}

fn load_flag(
    c: &Connection,
    clinic: &ClinicId,
    id: i64,
) -> Result<Option<StaffFlag>, StorageError> {
    Ok(c.query_row(
        &format!("SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = ?1 AND flag_id = ?2"),
        params![clinic.as_str(), id],
        flag_from_row,
    )
    .optional()?)
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
    let user = session.username.clone();
    let cid = clinic.id.clone();
    let flag = state
        .db()
        .call(move |c| {
            let flag = load_flag(c, &cid, id)?
                .ok_or_else(|| ApiError::NotFound(format!("no flag {id} in this clinic")))?;
            if flag.resolved_at.is_some() {
                return Err(ApiError::Conflict(format!("flag {id} is already resolved")));
            }
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE flags SET resolved_ms = ?3, resolved_by = ?4, resolution_note = ?5
                 WHERE clinic_id = ?1 AND flag_id = ?2",
                params![cid.as_str(), id, to_ms(now), user, note],
            )?;
            audit(
                &tx,
                &cid,
                now,
                "staff",
                &user,
                "flag_resolved",
                flag.appointment_id.as_deref(),
                None,
                Some(&id.to_string()),
            )?;
            tx.commit()?;
            load_flag(c, &cid, id)?.ok_or_else(|| ApiError::internal("resolved flag vanished"))
        })
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

const COPAY_COLUMNS: &str =
    "item_id, appointment_id, amount_cents, currency, status, created_ms, decided_ms, decided_by";

fn copay_from_row(r: &Row<'_>) -> rusqlite::Result<CopayItem> {
    let status: String = r.get(4)?;
    Ok(CopayItem {
        id: r.get(0)?,
        appointment_id: r.get(1)?,
        amount_cents: r.get(2)?,
        currency: r.get(3)?,
        status: CopayStatus::parse(&status).unwrap_or(CopayStatus::Pending),
        created_at: from_ms(r.get(5)?),
        decided_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        decided_by: r.get(7)?,
    })
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
    let list = state
        .db()
        .read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = ?1 AND status = ?2 ORDER BY created_ms, item_id"
            ))?;
            let rows = stmt
                .query_map(params![clinic.id.as_str(), status.as_str()], copay_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await?;
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
    let user = session.username.clone();
    let cid = clinic.id.clone();
    let item = state
        .db()
        .call(move |c| {
            let load = |c: &Connection| {
                c.query_row(
                    &format!("SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = ?1 AND item_id = ?2"),
                    params![cid.as_str(), id],
                    copay_from_row,
                )
                .optional()
            };
            let item = load(c)?.ok_or_else(|| ApiError::NotFound(format!("no co-pay item {id} in this clinic")))?;
            if item.status != CopayStatus::Pending {
                return Err(ApiError::Conflict(format!("co-pay item {id} is already {}", item.status.as_str())));
            }
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE copay_items SET status = ?3, decided_ms = ?4, decided_by = ?5 WHERE clinic_id = ?1 AND item_id = ?2",
                params![cid.as_str(), id, req.status.as_str(), to_ms(now), user],
            )?;
            audit(&tx, &cid, now, "staff", &user, &format!("copay_{}", req.status.as_str()), Some(&item.appointment_id), None, Some(&id.to_string()))?;
            tx.commit()?;
            load(c)?.ok_or_else(|| ApiError::internal("decided co-pay vanished"))
        })
        .await?;
    state.publish([notice(&clinic.id, "copay", id.to_string())]);
    Ok(Json(item))
}

const CHANGE_COLUMNS: &str =
    "change_id, appointment_id, patient_id, kiosk_id, proposed_ms, status, payload";

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<(ProposedChange, String)> {
    let payload: String = r.get(6)?;
    let proposal: ChangeProposal = serde_json::from_str(&payload).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok((
        ProposedChange {
            id: r.get(0)?,
            appointment_id: r.get(1)?,
            patient_id: r.get(2)?,
            kiosk_id: r.get(3)?,
            proposed_at: from_ms(r.get(4)?),
            status: r.get(5)?,
            proposal,
            on_file: OnFile::default(),
        },
        payload,
    ))
}

/// Fills `change.on_file` from the patient record as it stands.
fn fill_on_file(
    c: &Connection,
    clinic: &ClinicId,
    change: &mut ProposedChange,
) -> Result<(), StorageError> {
    let row: Option<(String, Option<String>)> = c
        .prepare_cached(
            "SELECT demographics, coverage FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
        )?
        .query_row(params![clinic.as_str(), change.patient_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let Some((demographics, coverage)) = row else {
        change.on_file = OnFile::default();
        return Ok(());
    };
    change.on_file = match change.proposal {
        ChangeProposal::Demographics { .. } => OnFile {
            demographics: Some(serde_json::from_str(&demographics).map_err(|source| {
                StorageError::Json {
                    column: "patients.demographics",
                    source,
                }
            })?),
            coverage: None,
        },
        ChangeProposal::Coverage { .. } => OnFile {
            demographics: None,
            coverage: coverage
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|source| StorageError::Json {
                    column: "patients.coverage",
                    source,
                })?,
        },
    };
    Ok(())
}

/// `GET /api/v1/staff/clinics/{clinic}/changes`: pending proposals.
pub async fn changes(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<ProposedChange>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let cid = clinic.id.clone();
    let list = state
        .db()
        .read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = ?1 AND status = 'pending' ORDER BY proposed_ms, change_id"
            ))?;
            let mut rows = stmt
                .query_map([cid.as_str()], change_from_row)?
                .map(|r| r.map(|(c, _)| c))
                .collect::<Result<Vec<_>, _>>()?;
            for change in &mut rows {
                fill_on_file(c, &cid, change)?;
            }
            Ok(rows)
        })
        .await?;
    if !list.is_empty() {
        audit_view(
            &state,
            &clinic.id,
            &session.username,
            "viewed_proposed_changes",
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
    let user = session.username.clone();
    let cid = clinic.id.clone();
    let ehr = super::fhir::writeback::enabled(&clinic);
    let change = state
        .db()
        .call(move |c| {
            let load = |c: &Connection| {
                c.query_row(
                    &format!("SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = ?1 AND change_id = ?2"),
                    params![cid.as_str(), id],
                    change_from_row,
                )
                .optional()
            };
            let (change, _) = load(c)?.ok_or_else(|| ApiError::NotFound(format!("no proposed change {id} in this clinic")))?;
            if change.status != "pending" {
                return Err(ApiError::Conflict(format!("change {id} is already {}", change.status)));
            }
            if approve && let Err(e) = change.proposal.validate() {
                return Err(ApiError::invalid(format!(
                    "change {id} breaks the field rules and cannot be approved; reject it: {e}"
                )));
            }
            let tx = c.transaction()?;
            let status = if approve { "approved" } else { "rejected" };
            tx.execute(
                "UPDATE proposed_changes SET status = ?3, decided_ms = ?4, decided_by = ?5, note = ?6
                 WHERE clinic_id = ?1 AND change_id = ?2",
                params![cid.as_str(), id, status, to_ms(now), user, req.note],
            )?;
            if approve {
                apply_change(&tx, &cid, &change, now)?;
                if ehr {
                    super::fhir::writeback::enqueue_change(&tx, &cid, &change.patient_id, &change.proposal, now)?;
                }
            }
            let kind = match change.proposal {
                ChangeProposal::Demographics { .. } => "demographics",
                ChangeProposal::Coverage { .. } => "coverage",
            };
            audit(&tx, &cid, now, "staff", &user, &format!("{kind}_change_{status}"), Some(&change.appointment_id), Some(&change.patient_id), Some(&id.to_string()))?;
            tx.commit()?;
            let mut decided = load(c)?.ok_or_else(|| ApiError::internal("decided change vanished"))?.0;
            fill_on_file(c, &cid, &mut decided)?;
            Ok(decided)
        })
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

/// Writes an approved proposal into the patient record and stamps the
/// patient's appointments so kiosks pull it.
fn apply_change(
    tx: &Connection,
    clinic: &ClinicId,
    change: &ProposedChange,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    match &change.proposal {
        ChangeProposal::Demographics { demographics } => {
            let json = serde_json::to_string(demographics).map_err(ApiError::internal)?;
            tx.execute(
                "UPDATE patients SET demographics = ?3, demographics_confirmed_ms = ?4
                 WHERE clinic_id = ?1 AND patient_id = ?2",
                params![clinic.as_str(), change.patient_id, json, to_ms(now)],
            )?;
        }
        ChangeProposal::Coverage { coverage } => {
            let current: Option<Option<String>> = tx
                .query_row(
                    "SELECT coverage FROM patients WHERE clinic_id = ?1 AND patient_id = ?2",
                    params![clinic.as_str(), change.patient_id],
                    |r| r.get(0),
                )
                .optional()?;
            let relation = current
                .flatten()
                .and_then(|c| serde_json::from_str::<CoverageWire>(&c).ok())
                .map(|c| c.subscriber_relation)
                .unwrap_or_else(|| "self".to_string());
            let new = coverage.as_ref().map(|u| CoverageWire {
                payer: u.payer.clone(),
                plan: String::new(),
                member_id: u.member_id.clone(),
                group: u.group.clone(),
                subscriber_relation: relation,
                valid_from: Some(now.date_naive()),
                valid_to: None,
            });
            schedule::set_coverage(tx, clinic, &change.patient_id, new.as_ref())?;
        }
    }
    schedule::touch_patient(tx, clinic, &change.patient_id)?;
    Ok(())
}

fn fleet_from_row(state: &AppState, r: &Row<'_>) -> rusqlite::Result<FleetKiosk> {
    let id: String = r.get(0)?;
    let revoked_at = r.get::<_, Option<i64>>(4)?.map(from_ms);
    let stored_seen = r.get::<_, Option<i64>>(5)?.map(from_ms);
    let last_seen_at = match (stored_seen, state.kiosk_seen(&id)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let online = revoked_at.is_none()
        && last_seen_at.is_some_and(|t| state.now() - t <= state.config().server.offline_after());
    Ok(FleetKiosk {
        id,
        name: r.get(1)?,
        app_version: r.get(2)?,
        enrolled_at: from_ms(r.get(3)?),
        revoked_at,
        last_seen_at,
        last_sync_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        outbox_depth: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        outbox_oldest_age_secs: r
            .get::<_, Option<i64>>(8)?
            .and_then(|a| u64::try_from(a).ok()),
        online,
        clock_skew_secs: r.get(9)?,
    })
}

const FLEET_COLUMNS: &str = "kiosk_id, name, app_version, enrolled_ms, revoked_ms, last_seen_ms, last_sync_ms, outbox_depth, outbox_oldest_age_secs, clock_skew_secs";

/// The clinic's kiosks, for the fleet view and `/metrics`.
pub fn load_fleet(
    c: &Connection,
    state: &AppState,
    clinic: &ClinicId,
) -> Result<Vec<FleetKiosk>, StorageError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FLEET_COLUMNS} FROM kiosks WHERE clinic_id = ?1 ORDER BY name, kiosk_id"
    ))?;
    let rows = stmt
        .query_map([clinic.as_str()], |r| fleet_from_row(state, r))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `GET /api/v1/staff/clinics/{clinic}/kiosks`.
pub async fn kiosks(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(clinic): ApiPath<String>,
) -> Result<Json<Vec<FleetKiosk>>, ApiError> {
    let clinic = clinic_for(&state, &session, &clinic)?;
    let st = state.clone();
    let list = state
        .db()
        .read(move |c| Ok(load_fleet(c, &st, &clinic.id)?))
        .await?;
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
    let user = session.username.clone();
    let st = state.clone();
    let cid = clinic.id.clone();
    let kid = kiosk.clone();
    let fleet = state
        .db()
        .call(move |c| {
            let changed = c.execute(
                "UPDATE kiosks SET revoked_ms = COALESCE(revoked_ms, ?3) WHERE clinic_id = ?1 AND kiosk_id = ?2",
                params![cid.as_str(), kid, to_ms(now)],
            )?;
            if changed == 0 {
                return Err(ApiError::NotFound(format!("no kiosk {kid} in this clinic")));
            }
            audit(c, &cid, now, "staff", &user, "kiosk_revoked", None, None, Some(&kid))?;
            let k = load_fleet(c, &st, &cid)?
                .into_iter()
                .find(|k| k.id == kid)
                .ok_or_else(|| ApiError::internal("revoked kiosk vanished"))?;
            Ok(k)
        })
        .await?;
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
    let user = session.username.clone();
    let (code, expires_at) = state
        .db()
        .call(move |c| {
            let made = staff::create_enrollment_code(c, &clinic.id, now)?;
            audit(
                c,
                &clinic.id,
                now,
                "staff",
                &user,
                "enrollment_code_created",
                None,
                None,
                None,
            )?;
            Ok(made)
        })
        .await?;
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
    let cid = clinic.id.clone();
    let aid = appointment.clone();
    let start = state
        .db()
        .read(move |c| {
            let start: Option<i64> = c
                .query_row(
                    "SELECT start_ms FROM appointments WHERE clinic_id = ?1 AND appointment_id = ?2 AND removed = 0",
                    params![cid.as_str(), aid],
                    |r| r.get(0),
                )
                .optional()?;
            start.map(from_ms).ok_or_else(|| ApiError::NotFound(format!("no appointment {aid} in this clinic")))
        })
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
/// a `resync` event when the stream fell behind and the console should
/// refetch everything.
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
