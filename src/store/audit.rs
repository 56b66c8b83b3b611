//! The local audit log: every PHI view (a match, demographics, coverage, the
//! amount due), every proposed change and every submitted intake form, with the kiosk, the time and the
//! appointment id, never the PHI itself.
//!
//! Each entry points at the outbox event that carries it to the clinic
//! server (`phi_viewed`, or the proposal event itself), so audit entries sync
//! exactly like check-in events; the server holds the durable copy.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use super::error::StoreError;
use super::{Store, parse_timestamp, timestamp};
use crate::domain::{AppointmentId, DomainEvent, KioskId, PhiShown};

/// What happened to the PHI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A screen showed it, masked as the domain masks it.
    Viewed,
    /// The patient proposed a change to it, for staff to verify.
    Proposed,
    /// The patient submitted it: an intake form's answers.
    Submitted,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Viewed => "viewed",
            Self::Proposed => "proposed",
            Self::Submitted => "submitted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Viewed, Self::Proposed, Self::Submitted]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, in recording order.
    pub seq: i64,
    /// The outbox event that carries this entry to the server.
    pub event_id: Uuid,
    /// Which kiosk showed or took the data.
    pub kiosk_id: KioskId,
    /// When.
    pub at: DateTime<Utc>,
    /// Whose data, by appointment.
    pub appointment_id: AppointmentId,
    /// Viewed or proposed.
    pub action: AuditAction,
    /// Which kind of data.
    pub what: PhiShown,
}

/// The audit fields of an event, when the event is auditable.
pub(crate) struct NewEntry<'a> {
    /// When it happened.
    at: DateTime<Utc>,
    /// Whose data.
    appointment_id: &'a AppointmentId,
    /// Viewed or proposed.
    action: AuditAction,
    /// Which kind of data.
    what: PhiShown,
}

/// The audit entry an event calls for, if any.
pub(crate) fn entry_for(event: &DomainEvent) -> Option<NewEntry<'_>> {
    match event {
        DomainEvent::PhiShown {
            appointment_id,
            what,
            at,
        } => Some(NewEntry {
            at: *at,
            appointment_id,
            action: AuditAction::Viewed,
            what: *what,
        }),
        DomainEvent::DemographicsProposed {
            appointment_id, at, ..
        } => Some(NewEntry {
            at: *at,
            appointment_id,
            action: AuditAction::Proposed,
            what: PhiShown::Demographics,
        }),
        DomainEvent::CoverageProposed {
            appointment_id, at, ..
        } => Some(NewEntry {
            at: *at,
            appointment_id,
            action: AuditAction::Proposed,
            what: PhiShown::Coverage,
        }),
        DomainEvent::FormCompleted {
            appointment_id, at, ..
        } => Some(NewEntry {
            at: *at,
            appointment_id,
            action: AuditAction::Submitted,
            what: PhiShown::Form,
        }),
        DomainEvent::Arrived { .. }
        | DomainEvent::CheckedIn { .. }
        | DomainEvent::Flag(_)
        | DomainEvent::DemographicsConfirmed { .. }
        | DomainEvent::CoPayChosen { .. } => None,
    }
}

/// Writes one audit row, inside the caller's transaction.
pub(crate) fn insert(
    conn: &Connection,
    event_id: Uuid,
    kiosk_id: &KioskId,
    entry: &NewEntry<'_>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (event_id, kiosk_id, at, appointment_id, action, what)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event_id.to_string(),
        kiosk_id.as_str(),
        timestamp(entry.at),
        entry.appointment_id.as_str(),
        entry.action.as_str(),
        entry.what.as_str(),
    ])?;
    Ok(())
}

impl Store {
    /// The audit entries for one appointment, oldest first.
    pub fn audit_for(&self, appointment_id: &AppointmentId) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_query(
            "WHERE appointment_id = ?1 ORDER BY seq",
            params![appointment_id.as_str()],
        )
    }

    /// Up to `limit` audit entries recorded after `after_seq`, oldest first;
    /// page with the last entry's `seq`.
    pub fn audit_entries(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_query(
            "WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![after_seq, i64::try_from(limit).unwrap_or(i64::MAX)],
        )
    }

    fn audit_query(
        &self,
        tail: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const OP: &str = "read the audit log";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT seq, event_id, kiosk_id, at, appointment_id, action, what
                 FROM audit_log {tail}"
            ))
            .map_err(StoreError::sqlite(OP))?;
        let raw: Vec<RawEntry> = stmt
            .query_map(params, RawEntry::read)
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sqlite(OP))?;
        raw.into_iter().map(RawEntry::decode).collect()
    }
}

/// One audit row as read, before decoding.
struct RawEntry {
    /// `seq`.
    seq: i64,
    /// `event_id`.
    event_id: String,
    /// `kiosk_id`.
    kiosk_id: String,
    /// `at`.
    at: String,
    /// `appointment_id`.
    appointment_id: String,
    /// `action`.
    action: String,
    /// `what`.
    what: String,
}

impl RawEntry {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            event_id: row.get(1)?,
            kiosk_id: row.get(2)?,
            at: row.get(3)?,
            appointment_id: row.get(4)?,
            action: row.get(5)?,
            what: row.get(6)?,
        })
    }

    fn decode(self) -> Result<AuditEntry, StoreError> {
        let key = self.seq.to_string();
        let corrupt = |reason: &str| StoreError::CorruptRow {
            table: "audit_log",
            key: key.clone(),
            reason: reason.to_string(),
        };
        Ok(AuditEntry {
            seq: self.seq,
            event_id: Uuid::parse_str(&self.event_id).map_err(|_| corrupt("bad event id"))?,
            kiosk_id: KioskId(self.kiosk_id),
            at: parse_timestamp(&self.at, "audit_log", &key)?,
            appointment_id: AppointmentId(self.appointment_id),
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt("unknown action"))?,
            what: parse_what(&self.what).ok_or_else(|| corrupt("unknown kind of data"))?,
        })
    }
}

fn parse_what(s: &str) -> Option<PhiShown> {
    [
        PhiShown::Identity,
        PhiShown::Demographics,
        PhiShown::Coverage,
        PhiShown::CoPay,
        PhiShown::Form,
    ]
    .into_iter()
    .find(|w| w.as_str() == s)
}
