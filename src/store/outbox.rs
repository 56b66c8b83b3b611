//! The outbox: each check-in step's domain events, written in the same
//! transaction as the kiosk's own record of that step, then offered to the
//! sync worker oldest first until the server acknowledges or rejects them.
//!
//! **Invariants:**
//! - A step's events, its progress rows and its audit rows commit together
//!   or not at all.
//! - Urgent events (a screener result staff must see now) are offered
//!   first; otherwise events are offered in the order they were recorded
//!   (`seq`). An event that was delivered or rejected is never offered
//!   again.
//! - An undelivered event is never deleted, whatever its age.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

use super::audit;
use super::error::{StoreError, describe_json_error};
use super::schedule::cached_local_day;
use super::{Store, clinic_zone, parse_timestamp, timestamp};
use crate::domain::{AppointmentId, DomainEvent, KioskId};
use crate::protocol::EventEnvelope;

/// A rejection reason longer than this is cut; it is for IT to read, not a log.
const MAX_REASON_CHARS: usize = 500;

/// One undelivered event, as the sync worker sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Position in the outbox: strictly increasing in recording order, never reused.
    pub seq: i64,
    /// The event as it goes on the wire; `envelope.id` is its client UUID.
    pub envelope: EventEnvelope,
    /// When the kiosk recorded it; the age shown to IT counts from here.
    pub recorded_at: DateTime<Utc>,
}

/// How far behind delivery is, for the status mark and the heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events waiting for the server.
    pub depth: u64,
    /// How long the oldest waiting event has waited; `None` when none waits.
    pub oldest_age: Option<std::time::Duration>,
    /// Events the server refused for good (kept for IT until the day is past).
    pub rejected: u64,
}

/// What became of one recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventState {
    /// Waiting for the server.
    Pending,
    /// Acknowledged by the server at this time.
    Delivered(DateTime<Utc>),
    /// Refused by the server for good, with its reason.
    Rejected {
        /// When the refusal was recorded.
        at: DateTime<Utc>,
        /// What the server said.
        reason: String,
    },
}

impl Store {
    /// Records one check-in step in one transaction: every event goes into
    /// the outbox with a fresh client UUID; the kiosk's own record is
    /// updated (arrived, checked in, demographics confirmed); and each PHI
    /// view or proposed change gets an audit row. Returns the events' UUIDs,
    /// in the order of `events`.
    ///
    /// When this returns `Ok`, the step is on disk and survives a crash or
    /// power cut; when it returns an error, nothing of it was written.
    pub fn record_step(
        &mut self,
        kiosk_id: &KioskId,
        events: &[DomainEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        const OP: &str = "record a check-in step";
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.conn.transaction().map_err(StoreError::sqlite(OP))?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let id = Uuid::new_v4();
            let envelope = EventEnvelope::from_domain_with_id(event, id);
            let json = serde_json::to_string(&envelope).map_err(|e| StoreError::Encode {
                what: "an event",
                reason: describe_json_error(&e),
            })?;
            tx.prepare_cached(
                "INSERT INTO outbox
                    (id, kind, appointment_id, occurred_at, created_at, envelope, priority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id.to_string(),
                    envelope.body.kind(),
                    envelope.appointment_id,
                    timestamp(envelope.occurred_at),
                    timestamp(now),
                    json,
                    priority(event),
                ])
            })
            .map_err(StoreError::sqlite(OP))?;
            record_progress(&tx, event).map_err(StoreError::sqlite(OP))?;
            if let Some(entry) = audit::entry_for(event) {
                audit::insert(&tx, id, kiosk_id, &entry).map_err(StoreError::sqlite(OP))?;
            }
            ids.push(id);
        }
        tx.commit().map_err(StoreError::sqlite(OP))?;
        Ok(ids)
    }

    /// Up to `limit` undelivered events: urgent ones first, then oldest
    /// first. The same events are offered again until they are marked
    /// delivered or rejected.
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        const OP: &str = "read the outbox";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, id, envelope, created_at FROM outbox
                 WHERE delivered_at IS NULL AND rejected_at IS NULL
                 ORDER BY priority DESC, seq LIMIT ?1",
            )
            .map_err(StoreError::sqlite(OP))?;
        let raw: Vec<RawItem> = stmt
            .query_map([limit], RawItem::read)
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sqlite(OP))?;
        raw.into_iter().map(RawItem::decode).collect()
    }

    /// Marks events delivered after the server acknowledged them (accepted or
    /// duplicate). Unknown ids and events already settled are ignored.
    /// Returns how many events changed.
    pub fn mark_delivered(
        &mut self,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        const OP: &str = "mark events delivered";
        let tx = self.conn.transaction().map_err(StoreError::sqlite(OP))?;
        let mut changed = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE outbox SET delivered_at = ?2
                     WHERE id = ?1 AND delivered_at IS NULL AND rejected_at IS NULL",
                )
                .map_err(StoreError::sqlite(OP))?;
            let at = timestamp(now);
            for id in ids {
                changed += stmt
                    .execute(params![id.to_string(), at])
                    .map_err(StoreError::sqlite(OP))?;
            }
        }
        tx.commit().map_err(StoreError::sqlite(OP))?;
        Ok(changed)
    }

    /// Records that the server refused an event for good; it is never
    /// offered again. Returns false when the event is unknown or already
    /// settled.
    pub fn mark_rejected(
        &mut self,
        id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let changed = self
            .conn
            .execute(
                "UPDATE outbox SET rejected_at = ?2, rejected_reason = ?3
                 WHERE id = ?1 AND delivered_at IS NULL AND rejected_at IS NULL",
                params![id.to_string(), timestamp(now), reason],
            )
            .map_err(StoreError::sqlite("mark an event rejected"))?;
        Ok(changed == 1)
    }

    /// The outbox's depth and the age of its oldest undelivered event at `now`.
    pub fn stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        const OP: &str = "measure the outbox";
        let (depth, oldest): (i64, Option<String>) = self
            .conn
            .query_row(
                "SELECT count(*), min(created_at) FROM outbox
                 WHERE delivered_at IS NULL AND rejected_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::sqlite(OP))?;
        let rejected: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE rejected_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::sqlite(OP))?;
        let oldest_age = oldest
            .map(|t| parse_timestamp(&t, "outbox", "oldest"))
            .transpose()?
            // A clock set back makes the age negative; show zero.
            .map(|t| (now - t).to_std().unwrap_or_default());
        Ok(OutboxStats {
            depth: u64::try_from(depth).unwrap_or(0),
            oldest_age,
            rejected: u64::try_from(rejected).unwrap_or(0),
        })
    }

    /// What became of the event with this UUID; `None` if the outbox never
    /// held it or it was purged after delivery.
    pub fn event_state(&self, id: Uuid) -> Result<Option<EventState>, StoreError> {
        let key = id.to_string();
        let row: Option<(Option<String>, Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT delivered_at, rejected_at, rejected_reason FROM outbox WHERE id = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(StoreError::sqlite("read an event's state"))?;
        let Some((delivered, rejected, reason)) = row else {
            return Ok(None);
        };
        Ok(Some(match (delivered, rejected) {
            (Some(at), _) => EventState::Delivered(parse_timestamp(&at, "outbox", &key)?),
            (None, Some(at)) => EventState::Rejected {
                at: parse_timestamp(&at, "outbox", &key)?,
                reason: reason.unwrap_or_default(),
            },
            (None, None) => EventState::Pending,
        }))
    }

    /// Every event recorded for an appointment and still held, delivered or
    /// not, in recording order: the kiosk's history of that check-in.
    pub fn events_for(
        &self,
        appointment_id: &AppointmentId,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        const OP: &str = "read an appointment's events";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, id, envelope, created_at FROM outbox
                 WHERE appointment_id = ?1 ORDER BY seq",
            )
            .map_err(StoreError::sqlite(OP))?;
        let raw: Vec<RawItem> = stmt
            .query_map([appointment_id.as_str()], RawItem::read)
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sqlite(OP))?;
        raw.into_iter().map(RawItem::decode).collect()
    }
}

/// The delivery priority of an event: 1 for an urgent screener result,
/// which goes before everything else; 0 for the rest.
fn priority(event: &DomainEvent) -> i64 {
    match event {
        DomainEvent::FormCompleted { completed, .. } if completed.urgent => 1,
        _ => 0,
    }
}

/// Updates the kiosk's own record of a check-in for one event.
fn record_progress(tx: &Transaction<'_>, event: &DomainEvent) -> rusqlite::Result<()> {
    match event {
        DomainEvent::Arrived { appointment_id, at } => {
            let day = progress_day(tx, appointment_id, *at)?;
            tx.prepare_cached(
                "INSERT INTO appointment_progress (appointment_id, local_day, status, arrived_at)
                 VALUES (?1, ?2, 'arrived', ?3)
                 ON CONFLICT (appointment_id) DO UPDATE SET
                    arrived_at = coalesce(arrived_at, excluded.arrived_at)",
            )?
            .execute(params![appointment_id.as_str(), day, timestamp(*at)])?;
        }
        DomainEvent::CheckedIn { appointment_id, at } => {
            let day = progress_day(tx, appointment_id, *at)?;
            tx.prepare_cached(
                "INSERT INTO appointment_progress
                    (appointment_id, local_day, status, checked_in_at)
                 VALUES (?1, ?2, 'checked_in', ?3)
                 ON CONFLICT (appointment_id) DO UPDATE SET
                    status = 'checked_in',
                    checked_in_at = coalesce(checked_in_at, excluded.checked_in_at)",
            )?
            .execute(params![appointment_id.as_str(), day, timestamp(*at)])?;
        }
        DomainEvent::DemographicsConfirmed { patient_id, at, .. } => {
            tx.prepare_cached(
                "INSERT INTO patient_progress (patient_id, demographics_confirmed_at)
                 VALUES (?1, ?2)
                 ON CONFLICT (patient_id) DO UPDATE SET
                    demographics_confirmed_at =
                        max(demographics_confirmed_at, excluded.demographics_confirmed_at)",
            )?
            .execute(params![patient_id.as_str(), timestamp(*at)])?;
        }
        DomainEvent::Flag(_)
        | DomainEvent::DemographicsProposed { .. }
        | DomainEvent::CoverageProposed { .. }
        | DomainEvent::CoPayChosen { .. }
        | DomainEvent::PhiShown { .. }
        | DomainEvent::FormCompleted { .. } => {}
    }
    Ok(())
}

/// The local day a progress row is kept under: the cached appointment's day,
/// or the event's day in the clinic's zone when it is not cached.
fn progress_day(
    conn: &Connection,
    appointment_id: &AppointmentId,
    at: DateTime<Utc>,
) -> rusqlite::Result<String> {
    match cached_local_day(conn, appointment_id)? {
        Some(day) => Ok(day),
        None => Ok(at
            .with_timezone(&clinic_zone(conn)?)
            .date_naive()
            .to_string()),
    }
}

/// One outbox row as read, before decoding.
struct RawItem {
    /// The row's sequence number.
    seq: i64,
    /// The row's UUID column, checked against the envelope's.
    id: String,
    /// The JSON envelope.
    envelope: String,
    /// When it was recorded.
    created_at: String,
}

impl RawItem {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            id: row.get(1)?,
            envelope: row.get(2)?,
            created_at: row.get(3)?,
        })
    }

    fn decode(self) -> Result<OutboxItem, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            table: "outbox",
            key: self.id.clone(),
            reason,
        };
        let envelope: EventEnvelope =
            serde_json::from_str(&self.envelope).map_err(|e| corrupt(describe_json_error(&e)))?;
        if envelope.id.to_string() != self.id {
            return Err(corrupt("the envelope's id differs from the row's".into()));
        }
        Ok(OutboxItem {
            seq: self.seq,
            recorded_at: parse_timestamp(&self.created_at, "outbox", &self.id)?,
            envelope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testkit;
    use crate::domain::{PatientId, PhiShown};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 17, 0, 0).unwrap()
    }

    fn store(dir: &tempfile::TempDir) -> Store {
        Store::open_with_key(
            &dir.path().join("kiosk.db"),
            &super::super::DbKey::from_bytes([7; 32]),
            now(),
        )
        .unwrap()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// A step whose last insert fails leaves no trace: no events, no
    /// progress, no audit rows.
    #[test]
    fn a_step_that_fails_part_way_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(&dir);
        let a = testkit::appointment("a1", "Ana", "Diaz", (1980, 5, 17), 10, 0);
        store
            .apply_schedule(true, std::slice::from_ref(&a), &[], "c1", now())
            .unwrap();
        // Sabotage: the database refuses any checked_in event.
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER refuse_checked_in BEFORE INSERT ON outbox
                 WHEN NEW.kind = 'checked_in'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        let kiosk = KioskId::from("k1");
        let events = [
            DomainEvent::PhiShown {
                appointment_id: a.id.clone(),
                what: PhiShown::Identity,
                at: now(),
            },
            DomainEvent::Arrived {
                appointment_id: a.id.clone(),
                at: now(),
            },
            DomainEvent::DemographicsConfirmed {
                appointment_id: a.id.clone(),
                patient_id: PatientId::from("p-a1"),
                at: now(),
            },
            DomainEvent::CheckedIn {
                appointment_id: a.id.clone(),
                at: now(),
            },
        ];
        let err = store.record_step(&kiosk, &events, now()).unwrap_err();
        assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
        for table in [
            "outbox",
            "appointment_progress",
            "patient_progress",
            "audit_log",
        ] {
            assert_eq!(count(&store, table), 0, "{table} must be empty");
        }
        let cached = store.appointment_by_id(&a.id).unwrap().unwrap();
        assert_eq!(cached.status, crate::domain::AppointmentStatus::Booked);

        // Without the sabotage the same step writes everything at once.
        store
            .conn
            .execute_batch("DROP TRIGGER refuse_checked_in;")
            .unwrap();
        let ids = store.record_step(&kiosk, &events, now()).unwrap();
        assert_eq!(ids.len(), 4);
        assert_eq!(count(&store, "outbox"), 4);
        assert_eq!(count(&store, "appointment_progress"), 1);
        assert_eq!(count(&store, "patient_progress"), 1);
        assert_eq!(count(&store, "audit_log"), 1);
    }
}
