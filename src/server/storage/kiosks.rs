//! Kiosk records: device tokens, enrollment with a one-time code, and the
//! state each heartbeat reports.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Actor, AuditAction, AuditEntry, StorageError, audit};
use crate::domain::ClinicId;
use crate::protocol::{HELP_ANSWERED_WINDOW_SECS, Heartbeat, MAX_HELP_ANSWERED};
use crate::server::db::to_ms;

/// Whose a device token is.
#[derive(Debug)]
pub struct TokenOwner {
    /// The kiosk.
    pub kiosk_id: String,
    /// Its clinic.
    pub clinic_id: ClinicId,
    /// Whether staff revoked it.
    pub revoked: bool,
}

/// The kiosk whose token hashes to `token_hash`, if any.
pub fn token_owner(c: &Connection, token_hash: &str) -> Result<Option<TokenOwner>, StorageError> {
    Ok(c.prepare_cached(
        "SELECT kiosk_id, clinic_id, revoked_ms FROM kiosks WHERE token_hash = ?1",
    )?
    .query_row([token_hash], |r| {
        Ok(TokenOwner {
            kiosk_id: r.get(0)?,
            clinic_id: ClinicId(r.get(1)?),
            revoked: r.get::<_, Option<i64>>(2)?.is_some(),
        })
    })
    .optional()?)
}

/// A kiosk enrolling.
#[derive(Debug)]
pub struct Enrollment<'a> {
    /// The hash of the normalized one-time code.
    pub code_hash: &'a str,
    /// The new kiosk's id.
    pub kiosk_id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its app version.
    pub app_version: &'a str,
    /// The hash of its new device token.
    pub token_hash: &'a str,
    /// When.
    pub now: DateTime<Utc>,
}

/// Uses the code and stores the kiosk, audited, in one transaction;
/// returns the code's clinic, or `None` (and changes nothing) when the
/// code is unknown, used or expired.
pub fn enroll(c: &mut Connection, e: &Enrollment<'_>) -> Result<Option<ClinicId>, StorageError> {
    let tx = c.transaction()?;
    let row: Option<(String, i64, Option<i64>)> = tx
        .query_row(
            "SELECT clinic_id, expires_ms, used_ms FROM enrollment_codes WHERE code_hash = ?1",
            [e.code_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let clinic = match row {
        Some((clinic, expires, None)) if expires > to_ms(e.now) => ClinicId(clinic),
        _ => return Ok(None),
    };
    tx.execute(
        "UPDATE enrollment_codes SET used_ms = ?2, kiosk_id = ?3 WHERE code_hash = ?1",
        params![e.code_hash, to_ms(e.now), e.kiosk_id],
    )?;
    tx.execute(
        "INSERT INTO kiosks (clinic_id, kiosk_id, name, token_hash, enrolled_ms, app_version, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
        params![clinic.as_str(), e.kiosk_id, e.name, e.token_hash, to_ms(e.now), e.app_version],
    )?;
    audit(
        &tx,
        &clinic,
        e.now,
        &AuditEntry::new(Actor::Kiosk, e.kiosk_id, AuditAction::Enrolled),
    )?;
    tx.commit()?;
    Ok(Some(clinic))
}

/// Stores what kiosk `kiosk` of `clinic` reported in `hb` at `now`.
pub fn record_heartbeat(
    c: &Connection,
    clinic: &ClinicId,
    kiosk: &str,
    hb: &Heartbeat,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    c.prepare_cached(
        "UPDATE kiosks SET app_version = ?3, outbox_depth = ?4, outbox_oldest_age_secs = ?5,
             last_sync_ms = ?6, last_seen_ms = ?7, reported_online = ?8,
             clock_skew_secs = COALESCE(?9, clock_skew_secs)
         WHERE clinic_id = ?1 AND kiosk_id = ?2",
    )?
    .execute(params![
        clinic.as_str(),
        kiosk,
        hb.app_version.trim(),
        i64::try_from(hb.outbox_depth).unwrap_or(i64::MAX),
        hb.outbox_oldest_age_secs
            .map(|a| i64::try_from(a).unwrap_or(i64::MAX)),
        hb.last_sync_at.map(to_ms),
        to_ms(now),
        hb.online,
        hb.clock_skew_secs
    ])?;
    Ok(())
}

/// Client event ids of the help flags (`help_requested`,
/// `identity_not_found`) that kiosk `kiosk` of `clinic` raised and staff
/// resolved in the [`HELP_ANSWERED_WINDOW_SECS`] before `now`, newest first.
pub fn help_answered(
    c: &Connection,
    clinic: &ClinicId,
    kiosk: &str,
    now: DateTime<Utc>,
) -> Result<Vec<uuid::Uuid>, StorageError> {
    let since = to_ms(now) - HELP_ANSWERED_WINDOW_SECS * 1000;
    let mut stmt = c.prepare_cached(
        "SELECT event_id FROM flags
         WHERE clinic_id = ?1 AND kiosk_id = ?2 AND resolved_ms >= ?3
           AND code IN ('help_requested', 'identity_not_found') AND event_id IS NOT NULL
         ORDER BY resolved_ms DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            clinic.as_str(),
            kiosk,
            since,
            i64::try_from(MAX_HELP_ANSWERED).unwrap_or(i64::MAX)
        ],
        |r| r.get::<_, String>(0),
    )?;
    let mut ids = Vec::new();
    for row in rows {
        // Event ids were parsed as UUIDs on ingest; anything else is skipped.
        if let Ok(id) = uuid::Uuid::parse_str(&row?) {
            ids.push(id);
        }
    }
    Ok(ids)
}
