//! The schedule cache: this clinic's appointments for the sync window, each
//! with its patient's demographics and coverage snapshot, replaced or patched
//! atomically together with the sync cursor, and looked up by appointment id
//! (passes) or by date of birth and last-name prefix (the keypad).
//!
//! Each appointment is stored as the JSON `protocol::AppointmentWire` the
//! server sent, next to the columns lookups need: the date of birth and the
//! last name folded by `domain::normalize_name`, under one index. The
//! matching rules themselves stay in `domain::match_appointments`.
//!
//! The kiosk's own progress (arrived, checked in, demographics confirmed)
//! lives in separate tables written by [`Store::record_step`] and is laid
//! over the server's snapshot when an appointment is read, so a schedule pull
//! that predates the kiosk's events cannot undo them.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::error::{StoreError, describe_json_error};
use super::forms::ScheduleUpdate;
use super::{Store, clinic_zone, parse_timestamp, purge, start_of_day, timestamp};
use crate::domain::{
    Appointment, AppointmentId, AppointmentStatus, LookupQuery, MatchOutcome, match_appointments,
    normalize_name,
};
use crate::protocol::AppointmentWire;

/// The columns [`decode_row`] reads, in order.
const SELECT_APPOINTMENT: &str = "
    SELECT s.id, s.record, p.status, pp.demographics_confirmed_at
    FROM schedule_appointment AS s
    LEFT JOIN appointment_progress AS p ON p.appointment_id = s.id
    LEFT JOIN patient_progress AS pp ON pp.patient_id = s.patient_id";

/// The lookup's filter: a superset of what the domain accepts, since every
/// match starts with the typed (normalised) letters, and one the identity
/// index answers. `substr` counts characters, as `str::chars` does.
const LOOKUP_FILTER: &str = "WHERE s.date_of_birth = ?1 AND substr(s.last_name_norm, 1, ?2) = ?3";

impl Store {
    /// Applies a schedule pull in one transaction: with `full`, `upserts`
    /// become the whole cache; otherwise they are added or replaced and
    /// `removals` deleted. The new `cursor` is stored in the same
    /// transaction, and past days are purged.
    ///
    /// On any error nothing changes: the old schedule and the old cursor
    /// stay. An appointment of a clinic other than the enrolled one is an
    /// error.
    pub fn apply_schedule(
        &mut self,
        full: bool,
        upserts: &[Appointment],
        removals: &[AppointmentId],
        cursor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.apply_update(
            &ScheduleUpdate {
                full,
                upserts,
                forms_due: &[],
                removals,
                forms: &[],
                crisis_text: None,
                cursor,
            },
            now,
        )
    }

    /// [`Store::apply_schedule`] with the reply's intake forms: each
    /// upsert's forms due, the form definitions and the crisis text, all in
    /// the same transaction (see [`ScheduleUpdate`]).
    pub fn apply_update(
        &mut self,
        update: &ScheduleUpdate<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const OP: &str = "apply a schedule update";
        let ScheduleUpdate {
            full,
            upserts,
            removals,
            cursor,
            ..
        } = *update;
        let tx = self.conn.transaction().map_err(StoreError::sqlite(OP))?;
        let enrolled_clinic: Option<String> = tx
            .query_row("SELECT clinic_id FROM enrollment", [], |r| r.get(0))
            .optional()
            .map_err(StoreError::sqlite(OP))?;
        if full {
            tx.execute("DELETE FROM schedule_appointment", [])
                .map_err(StoreError::sqlite(OP))?;
        }
        upsert_appointments(&tx, upserts, enrolled_clinic.as_deref())?;
        remove_appointments(&tx, removals)?;
        super::forms::write(&tx, update).map_err(StoreError::sqlite(OP))?;
        tx.execute(
            "UPDATE sync_state SET schedule_cursor = ?1, schedule_applied_at = ?2",
            params![cursor, timestamp(now)],
        )
        .map_err(StoreError::sqlite(OP))?;
        let zone = clinic_zone(&tx).map_err(StoreError::sqlite(OP))?;
        let today = now.with_timezone(&zone).date_naive();
        purge(&tx, today, start_of_day(zone, today)).map_err(StoreError::sqlite(OP))?;
        tx.commit().map_err(StoreError::sqlite(OP))
    }

    /// The cursor of the last applied schedule pull; empty before the first.
    pub fn cursor(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("SELECT schedule_cursor FROM sync_state", [], |r| r.get(0))
            .map_err(StoreError::sqlite("read the schedule cursor"))
    }

    /// When the last schedule pull was applied, if ever.
    pub fn schedule_applied_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT schedule_applied_at FROM sync_state", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::sqlite("read the schedule time"))?;
        text.map(|t| parse_timestamp(&t, "sync_state", "schedule_applied_at"))
            .transpose()
    }

    /// The cached appointment with this id, with the kiosk's own progress
    /// applied; `None` when it is not in the cache (for a pass: not today's).
    pub fn appointment_by_id(&self, id: &AppointmentId) -> Result<Option<Appointment>, StoreError> {
        const OP: &str = "look up an appointment";
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_APPOINTMENT} WHERE s.id = ?1"))
            .map_err(StoreError::sqlite(OP))?;
        let raw = stmt
            .query_row([id.as_str()], RawRow::read)
            .optional()
            .map_err(StoreError::sqlite(OP))?;
        raw.map(RawRow::decode).transpose()
    }

    /// The appointments whose patient has the query's date of birth and a
    /// last name matching the typed letters, by the rules of
    /// `domain::match_appointments`, in its order (start time, then
    /// clinician). Empty when nothing matches.
    ///
    /// The index narrows the cache to that date of birth and the typed
    /// prefix first, so the cost does not grow with the schedule. A query
    /// the rules refuse (no letters, too few letters) is a
    /// [`StoreError::Query`].
    pub fn lookup(
        &self,
        query: &LookupQuery,
        prefix_len: usize,
    ) -> Result<Vec<Appointment>, StoreError> {
        const OP: &str = "look up appointments";
        let prefix = normalize_name(&query.last_name_prefix);
        let prefix_chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_APPOINTMENT} {LOOKUP_FILTER}"))
            .map_err(StoreError::sqlite(OP))?;
        let raw: Vec<RawRow> = stmt
            .query_map(
                params![query.date_of_birth.to_string(), prefix_chars, prefix],
                RawRow::read,
            )
            .and_then(|rows| rows.collect())
            .map_err(StoreError::sqlite(OP))?;
        let candidates = raw
            .into_iter()
            .map(RawRow::decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match match_appointments(&candidates, query, prefix_len)? {
            MatchOutcome::None => Vec::new(),
            MatchOutcome::One(a) => vec![a.clone()],
            MatchOutcome::Several(found) => found.into_iter().cloned().collect(),
        })
    }

    /// How many appointments the cache holds.
    pub fn appointment_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM schedule_appointment", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::sqlite("count cached appointments"))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

/// The local day (in the clinic's zone) an appointment is cached under, if
/// it is cached.
pub(crate) fn cached_local_day(
    conn: &Connection,
    id: &AppointmentId,
) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT local_day FROM schedule_appointment WHERE id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()
}

/// One schedule row as read, before decoding.
struct RawRow {
    /// The appointment id, named in decoding errors.
    id: String,
    /// The JSON `AppointmentWire`.
    record: String,
    /// The kiosk's own status for it, if it recorded one.
    local_status: Option<String>,
    /// When the patient confirmed demographics at this kiosk, if they did.
    local_confirmed_at: Option<String>,
}

impl RawRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            record: row.get(1)?,
            local_status: row.get(2)?,
            local_confirmed_at: row.get(3)?,
        })
    }

    /// The appointment, with the kiosk's progress laid over the server's snapshot.
    fn decode(self) -> Result<Appointment, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            table: "schedule_appointment",
            key: self.id.clone(),
            reason,
        };
        let wire: AppointmentWire =
            serde_json::from_str(&self.record).map_err(|e| corrupt(describe_json_error(&e)))?;
        let mut appointment = Appointment::try_from(wire).map_err(|e| corrupt(e.to_string()))?;
        if let Some(status) = &self.local_status {
            let local = AppointmentStatus::parse(status)
                .ok_or_else(|| corrupt("unknown local status".into()))?;
            appointment.status = merged_status(appointment.status, local);
        }
        if let Some(text) = &self.local_confirmed_at {
            let local = parse_timestamp(text, "patient_progress", &self.id)?;
            let confirmed = &mut appointment.patient.demographics_confirmed_at;
            *confirmed = Some(confirmed.map_or(local, |server| server.max(local)));
        }
        Ok(appointment)
    }
}

/// The status to show: the kiosk's own progress when it is further along
/// than a booked or arrived snapshot; otherwise the server's word, which
/// alone can cancel an appointment or mark a no-show.
fn merged_status(server: AppointmentStatus, local: AppointmentStatus) -> AppointmentStatus {
    use AppointmentStatus::{Arrived, Booked, CheckedIn};
    let rank = |s| match s {
        Booked => Some(0),
        Arrived => Some(1),
        CheckedIn => Some(2),
        _ => None,
    };
    match (rank(server), rank(local)) {
        (Some(s), Some(l)) if l > s => local,
        _ => server,
    }
}

/// Inserts or replaces `upserts`, refusing any of another clinic than the
/// enrolled one.
fn upsert_appointments(
    tx: &rusqlite::Transaction<'_>,
    upserts: &[Appointment],
    enrolled_clinic: Option<&str>,
) -> Result<(), StoreError> {
    const OP: &str = "apply a schedule update";
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO schedule_appointment
                (id, clinic_id, time_zone, local_day, start_utc, patient_id,
                 date_of_birth, last_name_norm, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET
                clinic_id = excluded.clinic_id,
                time_zone = excluded.time_zone,
                local_day = excluded.local_day,
                start_utc = excluded.start_utc,
                patient_id = excluded.patient_id,
                date_of_birth = excluded.date_of_birth,
                last_name_norm = excluded.last_name_norm,
                record = excluded.record",
        )
        .map_err(StoreError::sqlite(OP))?;
    for appointment in upserts {
        if let Some(expected) = enrolled_clinic
            && appointment.clinic_id.as_str() != expected
        {
            return Err(StoreError::ForeignClinic {
                appointment_id: appointment.id.to_string(),
                expected: expected.to_string(),
                found: appointment.clinic_id.to_string(),
            });
        }
        let record = serde_json::to_string(&AppointmentWire::from(appointment)).map_err(|e| {
            StoreError::Encode {
                what: "an appointment",
                reason: describe_json_error(&e),
            }
        })?;
        upsert
            .execute(params![
                appointment.id.as_str(),
                appointment.clinic_id.as_str(),
                appointment.start.timezone().name(),
                appointment.local_day().to_string(),
                timestamp(appointment.start.with_timezone(&Utc)),
                appointment.patient.id.as_str(),
                appointment.patient.date_of_birth.to_string(),
                normalize_name(&appointment.patient.last_name),
                record,
            ])
            .map_err(StoreError::sqlite(OP))?;
    }
    Ok(())
}

/// Deletes the appointments the server removed.
fn remove_appointments(
    tx: &rusqlite::Transaction<'_>,
    removals: &[AppointmentId],
) -> Result<(), StoreError> {
    const OP: &str = "apply a schedule update";
    let mut remove = tx
        .prepare_cached("DELETE FROM schedule_appointment WHERE id = ?1")
        .map_err(StoreError::sqlite(OP))?;
    for id in removals {
        remove
            .execute([id.as_str()])
            .map_err(StoreError::sqlite(OP))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppointmentStatus::*;

    /// The lookup must go through the identity index, not scan the cache.
    #[test]
    fn lookups_use_the_identity_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrations()
            .to_latest(&mut conn)
            .unwrap();
        let plan_of = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<String> = stmt
                .query_map(params!["1980-05-17", 3, "gar"], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.join("\n")
        };
        let plan = plan_of(&format!("{SELECT_APPOINTMENT} {LOOKUP_FILTER}"));
        assert!(plan.contains("USING INDEX schedule_by_identity"), "{plan}");
        assert!(!plan.contains("SCAN s"), "{plan}");
    }

    #[test]
    fn local_progress_only_moves_an_appointment_forward() {
        assert_eq!(merged_status(Booked, Arrived), Arrived);
        assert_eq!(merged_status(Booked, CheckedIn), CheckedIn);
        assert_eq!(merged_status(Arrived, CheckedIn), CheckedIn);
        assert_eq!(merged_status(CheckedIn, Arrived), CheckedIn);
        assert_eq!(merged_status(Cancelled, CheckedIn), Cancelled);
        assert_eq!(merged_status(NoShow, Arrived), NoShow);
    }
}
