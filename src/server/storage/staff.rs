//! Staff records: users and their clinics, sessions, enrollment codes, and
//! what the staff API reads and decides: today's appointments, flags,
//! co-pay items, proposed changes, the kiosk fleet and pass look-ups. Each
//! decision and its audit row are one transaction.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StorageError;
use super::schedule;
use super::{Actor, AuditAction, AuditEntry, audit};
use crate::domain::ClinicId;
use crate::protocol::{
    ChangeProposal, CopayItem, CopayStatus, CoverageWire, FleetKiosk, OnFile, ProposedChange,
    StaffAppointment, StaffFlag,
};
use crate::server::db::{from_ms, to_ms};

// ---------------------------------------------------------------- users and sessions

/// The stored password hash and clinics of `username`, if the user exists.
pub fn load_user(
    conn: &Connection,
    username: &str,
) -> Result<Option<(String, Vec<ClinicId>)>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT password_hash, clinic_id FROM staff_members WHERE username = ?1 ORDER BY clinic_id",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([username], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let Some((hash, _)) = rows.first().cloned() else {
        return Ok(None);
    };
    Ok(Some((
        hash,
        rows.into_iter().map(|(_, c)| ClinicId(c)).collect(),
    )))
}

/// Sets the password hash of `username` in every clinic; returns how many
/// memberships had it.
pub fn set_password(conn: &Connection, username: &str, hash: &str) -> Result<usize, StorageError> {
    Ok(conn.execute(
        "UPDATE staff_members SET password_hash = ?2 WHERE username = ?1",
        params![username, hash],
    )?)
}

/// Adds `username` to `clinic` unless already there; true when added.
pub fn add_member(
    conn: &Connection,
    clinic: &ClinicId,
    username: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO staff_members (clinic_id, username, password_hash, created_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![clinic.as_str(), username, hash, to_ms(now)],
    )?;
    Ok(inserted == 1)
}

/// Removes `username` from `clinic`, or from every clinic; returns how many
/// memberships were removed.
pub fn remove_member(
    conn: &Connection,
    clinic: Option<&ClinicId>,
    username: &str,
) -> Result<usize, StorageError> {
    Ok(match clinic {
        Some(c) => conn.execute(
            "DELETE FROM staff_members WHERE clinic_id = ?1 AND username = ?2",
            params![c.as_str(), username],
        )?,
        None => conn.execute("DELETE FROM staff_members WHERE username = ?1", [username])?,
    })
}

/// Ends every session of `username`; returns how many there were.
pub fn end_sessions(conn: &Connection, username: &str) -> Result<usize, StorageError> {
    Ok(conn.execute("DELETE FROM staff_sessions WHERE username = ?1", [username])?)
}

/// Stores a new session for `username` (dropping expired ones).
pub fn insert_session(
    conn: &Connection,
    token_hash: &str,
    username: &str,
    now: DateTime<Utc>,
    lasts: Duration,
) -> Result<(), StorageError> {
    conn.execute(
        "DELETE FROM staff_sessions WHERE expires_ms <= ?1",
        [to_ms(now)],
    )?;
    conn.execute(
        "INSERT INTO staff_sessions (token_hash, username, created_ms, expires_ms, last_used_ms) VALUES (?1, ?2, ?3, ?4, ?3)",
        params![token_hash, username, to_ms(now), to_ms(now + lasts)],
    )?;
    Ok(())
}

/// A stored session and its user's clinics.
#[derive(Debug)]
pub struct StoredSession {
    /// Whose.
    pub username: String,
    /// Its absolute end.
    pub expires_at: DateTime<Utc>,
    /// When it was last written as used (or created).
    pub last_used_at: DateTime<Utc>,
    /// The user's clinics.
    pub clinics: Vec<ClinicId>,
}

/// The session with `token_hash`, if it exists.
pub fn load_session(
    c: &Connection,
    token_hash: &str,
) -> Result<Option<StoredSession>, StorageError> {
    let row: Option<(String, i64, i64)> = c
        .prepare_cached(
            "SELECT username, expires_ms, COALESCE(last_used_ms, created_ms) FROM staff_sessions WHERE token_hash = ?1",
        )?
        .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((username, expires_ms, last_used_ms)) = row else {
        return Ok(None);
    };
    let clinics = load_user(c, &username)?.map(|(_, c)| c).unwrap_or_default();
    Ok(Some(StoredSession {
        username,
        expires_at: from_ms(expires_ms),
        last_used_at: from_ms(last_used_ms),
        clinics,
    }))
}

/// Ends the session with `token_hash`.
pub fn delete_session(c: &Connection, token_hash: &str) -> Result<(), StorageError> {
    c.execute(
        "DELETE FROM staff_sessions WHERE token_hash = ?1",
        [token_hash],
    )?;
    Ok(())
}

/// Records that the session with `token_hash` was used at `now`.
pub fn touch_session(
    c: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    c.prepare_cached("UPDATE staff_sessions SET last_used_ms = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash, to_ms(now)])?;
    Ok(())
}

/// Stores a one-time enrollment code's hash for `clinic`.
pub fn insert_enrollment_code(
    conn: &Connection,
    clinic: &ClinicId,
    code_hash: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO enrollment_codes (clinic_id, code_hash, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![clinic.as_str(), code_hash, to_ms(now), to_ms(expires)],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- appointments

/// `clinic`'s appointments on `day`, with their check-in state at `now`
/// and their open flags.
pub fn appointments_on(
    c: &Connection,
    clinic: &ClinicId,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<StaffAppointment>, StorageError> {
    let wires = schedule::day_wires(c, clinic, day)?;
    let mut out = Vec::with_capacity(wires.len());
    let mut stmt = c.prepare_cached(
        "SELECT COUNT(*) FROM flags WHERE clinic_id = ?1 AND appointment_id = ?2 AND resolved_ms IS NULL",
    )?;
    for w in wires {
        let open_flags: u32 = stmt.query_row(params![clinic.as_str(), w.id], |r| r.get(0))?;
        out.push(staff_appointment(w, open_flags, now));
    }
    Ok(out)
}

/// The staff view of one appointment with its open flags, at `now`; the
/// same on either backend.
pub(crate) fn staff_appointment(
    w: crate::protocol::AppointmentWire,
    open_flags: u32,
    now: DateTime<Utc>,
) -> StaffAppointment {
    StaffAppointment {
        check_in_state: StaffAppointment::check_in_state_at(&w.status, w.end, now).to_string(),
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
    }
}

/// The start of appointment `id` of `clinic`, unless removed.
pub fn appointment_start(
    c: &Connection,
    clinic: &ClinicId,
    id: &str,
) -> Result<DateTime<Utc>, StorageError> {
    let start: Option<i64> = c
        .query_row(
            "SELECT start_ms FROM appointments WHERE clinic_id = ?1 AND appointment_id = ?2 AND removed = 0",
            params![clinic.as_str(), id],
            |r| r.get(0),
        )
        .optional()?;
    start
        .map(from_ms)
        .ok_or_else(|| StorageError::not_found("appointment", id))
}

// ---------------------------------------------------------------- flags

pub(crate) const FLAG_COLUMNS: &str = "flag_id, code, step, text, kiosk_id, appointment_id, raised_ms, resolved_ms, resolved_by, resolution_note";

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

/// The order of open flags on every backend: urgent ones
/// (`screening_positive`) first, then oldest first.
pub(crate) const OPEN_FLAG_ORDER: &str =
    "ORDER BY code = 'screening_positive' DESC, raised_ms, flag_id";

/// `clinic`'s open flags, in [`OPEN_FLAG_ORDER`].
pub fn open_flags(c: &Connection, clinic: &ClinicId) -> Result<Vec<StaffFlag>, StorageError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = ?1 AND resolved_ms IS NULL
         {OPEN_FLAG_ORDER}"
    ))?;
    let rows = stmt
        .query_map([clinic.as_str()], flag_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn load_flag(c: &Connection, clinic: &ClinicId, id: i64) -> Result<StaffFlag, StorageError> {
    c.query_row(
        &format!("SELECT {FLAG_COLUMNS} FROM flags WHERE clinic_id = ?1 AND flag_id = ?2"),
        params![clinic.as_str(), id],
        flag_from_row,
    )
    .optional()?
    .ok_or_else(|| StorageError::not_found("flag", id))
}

/// Resolves open flag `id` as `user` with `note`, audited.
pub fn resolve_flag(
    c: &mut Connection,
    clinic: &ClinicId,
    id: i64,
    user: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<StaffFlag, StorageError> {
    let flag = load_flag(c, clinic, id)?;
    if flag.resolved_at.is_some() {
        return Err(StorageError::Conflict(format!(
            "flag {id} is already resolved"
        )));
    }
    let tx = c.transaction()?;
    tx.execute(
        "UPDATE flags SET resolved_ms = ?3, resolved_by = ?4, resolution_note = ?5
         WHERE clinic_id = ?1 AND flag_id = ?2",
        params![clinic.as_str(), id, to_ms(now), user, note],
    )?;
    audit(
        &tx,
        clinic,
        now,
        &AuditEntry {
            appointment_id: flag.appointment_id.as_deref(),
            detail: Some(&id.to_string()),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::FlagResolved)
        },
    )?;
    tx.commit()?;
    load_flag(c, clinic, id)
}

// ---------------------------------------------------------------- co-pays

pub(crate) const COPAY_COLUMNS: &str =
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

/// `clinic`'s co-pay items in `status`, oldest first.
pub fn copays(
    c: &Connection,
    clinic: &ClinicId,
    status: CopayStatus,
) -> Result<Vec<CopayItem>, StorageError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = ?1 AND status = ?2 ORDER BY created_ms, item_id"
    ))?;
    let rows = stmt
        .query_map(params![clinic.as_str(), status.as_str()], copay_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn load_copay(c: &Connection, clinic: &ClinicId, id: i64) -> Result<CopayItem, StorageError> {
    c.query_row(
        &format!("SELECT {COPAY_COLUMNS} FROM copay_items WHERE clinic_id = ?1 AND item_id = ?2"),
        params![clinic.as_str(), id],
        copay_from_row,
    )
    .optional()?
    .ok_or_else(|| StorageError::not_found("co-pay item", id))
}

/// Marks pending co-pay item `id` collected or waived as `user`, audited.
pub fn decide_copay(
    c: &mut Connection,
    clinic: &ClinicId,
    id: i64,
    status: CopayStatus,
    user: &str,
    now: DateTime<Utc>,
) -> Result<CopayItem, StorageError> {
    let item = load_copay(c, clinic, id)?;
    if item.status != CopayStatus::Pending {
        return Err(StorageError::Conflict(format!(
            "co-pay item {id} is already {}",
            item.status.as_str()
        )));
    }
    let tx = c.transaction()?;
    tx.execute(
        "UPDATE copay_items SET status = ?3, decided_ms = ?4, decided_by = ?5 WHERE clinic_id = ?1 AND item_id = ?2",
        params![clinic.as_str(), id, status.as_str(), to_ms(now), user],
    )?;
    let action = match status {
        CopayStatus::Collected => AuditAction::CopayCollected,
        CopayStatus::Waived => AuditAction::CopayWaived,
        CopayStatus::Pending => {
            return Err(StorageError::Refused(
                "status must be collected or waived".into(),
            ));
        }
    };
    audit(
        &tx,
        clinic,
        now,
        &AuditEntry {
            appointment_id: Some(&item.appointment_id),
            detail: Some(&id.to_string()),
            ..AuditEntry::new(Actor::Staff, user, action)
        },
    )?;
    tx.commit()?;
    load_copay(c, clinic, id)
}

// ---------------------------------------------------------------- proposed changes

pub(crate) const CHANGE_COLUMNS: &str =
    "change_id, appointment_id, patient_id, kiosk_id, proposed_ms, status, payload";

fn change_from_row(r: &Row<'_>) -> rusqlite::Result<ProposedChange> {
    let payload: String = r.get(6)?;
    let proposal: ChangeProposal = serde_json::from_str(&payload).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(ProposedChange {
        id: r.get(0)?,
        appointment_id: r.get(1)?,
        patient_id: r.get(2)?,
        kiosk_id: r.get(3)?,
        proposed_at: from_ms(r.get(4)?),
        status: r.get(5)?,
        proposal,
        on_file: OnFile::default(),
    })
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

/// `clinic`'s pending proposals, oldest first, each with what is on file.
pub fn pending_changes(
    c: &Connection,
    clinic: &ClinicId,
) -> Result<Vec<ProposedChange>, StorageError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = ?1 AND status = 'pending' ORDER BY proposed_ms, change_id"
    ))?;
    let mut rows = stmt
        .query_map([clinic.as_str()], change_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    for change in &mut rows {
        fill_on_file(c, clinic, change)?;
    }
    Ok(rows)
}

fn load_change(c: &Connection, clinic: &ClinicId, id: i64) -> Result<ProposedChange, StorageError> {
    c.query_row(
        &format!(
            "SELECT {CHANGE_COLUMNS} FROM proposed_changes WHERE clinic_id = ?1 AND change_id = ?2"
        ),
        params![clinic.as_str(), id],
        change_from_row,
    )
    .optional()?
    .ok_or_else(|| StorageError::not_found("proposed change", id))
}

/// A staff decision on a proposed change.
#[derive(Debug)]
pub struct ChangeDecided<'a> {
    /// The change.
    pub id: i64,
    /// Approve (apply it) or reject (leave the record).
    pub approve: bool,
    /// Who decided.
    pub user: &'a str,
    /// Their note.
    pub note: Option<&'a str>,
    /// Whether an approval is also queued for the EHR.
    pub write_back: bool,
    /// When.
    pub now: DateTime<Utc>,
}

/// Decides pending change `d.id`: an approval is applied to the patient
/// record (and queued for the EHR), and the decision audited, in one
/// transaction. A change that no longer passes the field rules is refused.
pub fn decide_change(
    c: &mut Connection,
    clinic: &ClinicId,
    d: &ChangeDecided<'_>,
) -> Result<ProposedChange, StorageError> {
    let id = d.id;
    let change = load_change(c, clinic, id)?;
    if change.status != "pending" {
        return Err(StorageError::Conflict(format!(
            "change {id} is already {}",
            change.status
        )));
    }
    if d.approve
        && let Err(e) = change.proposal.validate()
    {
        return Err(StorageError::Refused(format!(
            "change {id} breaks the field rules and cannot be approved; reject it: {e}"
        )));
    }
    let tx = c.transaction()?;
    let status = if d.approve { "approved" } else { "rejected" };
    tx.execute(
        "UPDATE proposed_changes SET status = ?3, decided_ms = ?4, decided_by = ?5, note = ?6
         WHERE clinic_id = ?1 AND change_id = ?2",
        params![clinic.as_str(), id, status, to_ms(d.now), d.user, d.note],
    )?;
    if d.approve {
        apply_change(&tx, clinic, &change, d.now)?;
        if d.write_back {
            crate::server::fhir::writeback::enqueue_change(
                &tx,
                clinic,
                &change.patient_id,
                &change.proposal,
                d.now,
            )?;
        }
    }
    let action = match (&change.proposal, d.approve) {
        (ChangeProposal::Demographics { .. }, true) => AuditAction::DemographicsChangeApproved,
        (ChangeProposal::Demographics { .. }, false) => AuditAction::DemographicsChangeRejected,
        (ChangeProposal::Coverage { .. }, true) => AuditAction::CoverageChangeApproved,
        (ChangeProposal::Coverage { .. }, false) => AuditAction::CoverageChangeRejected,
    };
    audit(
        &tx,
        clinic,
        d.now,
        &AuditEntry {
            appointment_id: Some(&change.appointment_id),
            patient_id: Some(&change.patient_id),
            detail: Some(&id.to_string()),
            ..AuditEntry::new(Actor::Staff, d.user, action)
        },
    )?;
    tx.commit()?;
    let mut decided = load_change(c, clinic, id)?;
    fill_on_file(c, clinic, &mut decided)?;
    Ok(decided)
}

/// Writes an approved proposal into the patient record and stamps the
/// patient's appointments so kiosks pull it.
fn apply_change(
    tx: &Connection,
    clinic: &ClinicId,
    change: &ProposedChange,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    match &change.proposal {
        ChangeProposal::Demographics { demographics } => {
            let json =
                serde_json::to_string(demographics).map_err(|source| StorageError::Json {
                    column: "patients.demographics",
                    source,
                })?;
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

// ---------------------------------------------------------------- the fleet

/// What decides whether a kiosk is online: the time, the threshold, and
/// the last heartbeat seen in memory (newer than the stored one).
pub struct Liveness<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// How long without a heartbeat makes a kiosk offline.
    pub offline_after: Duration,
    /// The last heartbeat this process saw from a kiosk.
    pub seen: &'a dyn Fn(&str) -> Option<DateTime<Utc>>,
}

/// A kiosk as stored, before the liveness rule decides whether it is
/// online; the same on either backend.
#[derive(Debug, Clone)]
pub struct StoredKiosk {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its app version.
    pub app_version: String,
    /// When it enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last time it was heard from, as stored.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Its last sync, as it reported.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Its outbox depth, as it reported.
    pub outbox_depth: i64,
    /// The age of its oldest unsent event, as it reported.
    pub outbox_oldest_age_secs: Option<i64>,
    /// Its clock's offset from the server's.
    pub clock_skew_secs: Option<i64>,
}

impl StoredKiosk {
    /// The fleet view of the kiosk: last seen is the later of the stored
    /// time and this process's own, and online means seen within the
    /// threshold and not revoked.
    pub fn with_liveness(self, live: &Liveness<'_>) -> FleetKiosk {
        let last_seen_at = match (self.last_seen_at, (live.seen)(&self.id)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let online = self.revoked_at.is_none()
            && last_seen_at.is_some_and(|t| live.now - t <= live.offline_after);
        FleetKiosk {
            id: self.id,
            name: self.name,
            app_version: self.app_version,
            enrolled_at: self.enrolled_at,
            revoked_at: self.revoked_at,
            last_seen_at,
            last_sync_at: self.last_sync_at,
            outbox_depth: u64::try_from(self.outbox_depth).unwrap_or(0),
            outbox_oldest_age_secs: self
                .outbox_oldest_age_secs
                .and_then(|a| u64::try_from(a).ok()),
            online,
            clock_skew_secs: self.clock_skew_secs,
        }
    }
}

fn fleet_from_row(live: &Liveness<'_>, r: &Row<'_>) -> rusqlite::Result<FleetKiosk> {
    Ok(StoredKiosk {
        id: r.get(0)?,
        name: r.get(1)?,
        app_version: r.get(2)?,
        enrolled_at: from_ms(r.get(3)?),
        revoked_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
        last_seen_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
        last_sync_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        outbox_depth: r.get(7)?,
        outbox_oldest_age_secs: r.get(8)?,
        clock_skew_secs: r.get(9)?,
    }
    .with_liveness(live))
}

/// The columns of a [`StoredKiosk`], in its fields' order.
pub(crate) const FLEET_COLUMNS: &str = "kiosk_id, name, app_version, enrolled_ms, revoked_ms, last_seen_ms, last_sync_ms, outbox_depth, outbox_oldest_age_secs, clock_skew_secs";

/// The clinic's kiosks, for the fleet view and `/metrics`.
pub fn fleet(
    c: &Connection,
    clinic: &ClinicId,
    live: &Liveness<'_>,
) -> Result<Vec<FleetKiosk>, StorageError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FLEET_COLUMNS} FROM kiosks WHERE clinic_id = ?1 ORDER BY name, kiosk_id"
    ))?;
    let rows = stmt
        .query_map([clinic.as_str()], |r| fleet_from_row(live, r))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Revokes kiosk `kiosk` as `user`, audited; revoking twice keeps the
/// first time.
pub fn revoke_kiosk(
    c: &Connection,
    clinic: &ClinicId,
    kiosk: &str,
    user: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let changed = c.execute(
        "UPDATE kiosks SET revoked_ms = COALESCE(revoked_ms, ?3) WHERE clinic_id = ?1 AND kiosk_id = ?2",
        params![clinic.as_str(), kiosk, to_ms(now)],
    )?;
    if changed == 0 {
        return Err(StorageError::not_found("kiosk", kiosk));
    }
    audit(
        c,
        clinic,
        now,
        &AuditEntry {
            detail: Some(kiosk),
            ..AuditEntry::new(Actor::Staff, user, AuditAction::KioskRevoked)
        },
    )
}

/// Counts `clinic`'s unresolved flags.
pub fn open_flag_count(c: &Connection, clinic: &ClinicId) -> Result<i64, StorageError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM flags WHERE clinic_id = ?1 AND resolved_ms IS NULL",
        [clinic.as_str()],
        |r| r.get(0),
    )?)
}

/// A flag raised outside a kiosk event (the demo's samples).
#[derive(Debug)]
pub struct NewFlag<'a> {
    /// The kiosk named as raising it.
    pub kiosk_id: &'a str,
    /// The appointment, if any.
    pub appointment_id: Option<&'a str>,
    /// The reason code.
    pub code: &'a str,
    /// The step.
    pub step: &'a str,
    /// The staff text.
    pub text: &'a str,
    /// When.
    pub raised_at: DateTime<Utc>,
}

/// Whether `clinic` has any flag, open or resolved.
pub fn has_flags(c: &Connection, clinic: &ClinicId) -> Result<bool, StorageError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM flags WHERE clinic_id = ?1)",
        [clinic.as_str()],
        |r| r.get(0),
    )?)
}

/// Stores `flags` for `clinic` in one transaction.
pub fn insert_flags(
    c: &mut Connection,
    clinic: &ClinicId,
    flags: &[NewFlag<'_>],
) -> Result<(), StorageError> {
    let tx = c.transaction()?;
    for f in flags {
        tx.execute(
            "INSERT INTO flags (clinic_id, kiosk_id, appointment_id, code, step, text, raised_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                clinic.as_str(),
                f.kiosk_id,
                f.appointment_id,
                f.code,
                f.step,
                f.text,
                to_ms(f.raised_at)
            ],
        )?;
    }
    tx.commit()?;
    Ok(())
}
