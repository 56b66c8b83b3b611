//! The store's schema and its migrations, one per released version.
//!
//! Migrations are append-only: a shipped migration is never edited, because
//! kiosks in the field already ran it. A test loads a fixture made by the
//! previous version (`tests/fixtures/store_v1.sql`) and upgrades it.
//!
//! Timestamps are stored as RFC 3339 UTC text with microseconds and a `Z`
//! suffix, so text order is time order; days are `YYYY-MM-DD`.

use rusqlite_migration::{M, Migrations};

/// Version 1: the schedule cache, the kiosk's own check-in progress, the
/// outbox, the enrollment and the sync state.
const V1: &str = r#"
CREATE TABLE schedule_appointment (
    -- The appointment id, as bound into QR passes.
    id              TEXT PRIMARY KEY NOT NULL,
    clinic_id       TEXT NOT NULL,
    -- The IANA zone the appointment is laid out in; `local_day` is in it.
    time_zone       TEXT NOT NULL,
    -- The appointment's calendar day in its clinic's zone; drives the purge.
    local_day       TEXT NOT NULL,
    start_utc       TEXT NOT NULL,
    -- Joins the kiosk's own demographics confirmations.
    patient_id      TEXT NOT NULL,
    -- Identity factors, for the indexed lookup.
    date_of_birth   TEXT NOT NULL,
    last_name_norm  TEXT NOT NULL,
    -- The whole appointment with its patient and coverage snapshot, as a
    -- JSON `protocol::AppointmentWire`, exactly as the server sent it.
    record          TEXT NOT NULL
) STRICT;
CREATE INDEX schedule_by_identity ON schedule_appointment (date_of_birth, last_name_norm);
CREATE INDEX schedule_by_day ON schedule_appointment (local_day);

-- What this kiosk did with an appointment, kept apart from the server's
-- snapshot so that a schedule pull that predates the kiosk's events cannot
-- move an appointment back to "booked".
CREATE TABLE appointment_progress (
    appointment_id  TEXT PRIMARY KEY NOT NULL,
    local_day       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('arrived', 'checked_in')),
    arrived_at      TEXT,
    checked_in_at   TEXT
) STRICT;
CREATE INDEX appointment_progress_by_day ON appointment_progress (local_day);

-- When a patient confirmed their demographics at this kiosk.
CREATE TABLE patient_progress (
    patient_id                  TEXT PRIMARY KEY NOT NULL,
    demographics_confirmed_at   TEXT NOT NULL
) STRICT;

-- Events waiting for the clinic server, oldest first by `seq`.
CREATE TABLE outbox (
    -- AUTOINCREMENT: a sequence number is never reused, even after purges.
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The client-generated UUID the server deduplicates on.
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    appointment_id  TEXT,
    occurred_at     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    -- The JSON `protocol::EventEnvelope`, exactly as it will be sent.
    envelope        TEXT NOT NULL,
    delivered_at    TEXT,
    rejected_at     TEXT,
    rejected_reason TEXT,
    CHECK (delivered_at IS NULL OR rejected_at IS NULL),
    CHECK ((rejected_at IS NULL) = (rejected_reason IS NULL))
) STRICT;
CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_at IS NULL AND rejected_at IS NULL;
CREATE INDEX outbox_by_appointment ON outbox (appointment_id);

-- Who this kiosk is; at most one row.
CREATE TABLE enrollment (
    singleton       INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    server_url      TEXT NOT NULL,
    kiosk_id        TEXT NOT NULL,
    clinic_id       TEXT NOT NULL,
    device_token    TEXT NOT NULL,
    pass_public_key TEXT NOT NULL,
    -- JSON `protocol::ClinicSettings`.
    clinic_settings TEXT NOT NULL,
    enrolled_at     TEXT NOT NULL
) STRICT;

-- Where synchronisation stands; exactly one row.
CREATE TABLE sync_state (
    singleton           INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    schedule_cursor     TEXT NOT NULL DEFAULT '',
    schedule_applied_at TEXT,
    last_sync_at        TEXT
) STRICT;
INSERT INTO sync_state (singleton) VALUES (1);
"#;

/// Version 2: the local audit log of PHI views and proposed changes.
///
/// Kiosks on version 1 already synced PHI views and proposals as outbox
/// events; the backfill gives each of those an audit row, so the local log
/// is complete from the first check-in on.
const V2: &str = r#"
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The outbox event that carries this entry to the server.
    event_id        TEXT NOT NULL UNIQUE,
    kiosk_id        TEXT NOT NULL,
    at              TEXT NOT NULL,
    appointment_id  TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('viewed', 'proposed')),
    what            TEXT NOT NULL CHECK (what IN ('identity', 'demographics', 'coverage', 'copay'))
) STRICT;
CREATE INDEX audit_by_appointment ON audit_log (appointment_id);
CREATE INDEX audit_by_time ON audit_log (at);

INSERT INTO audit_log (event_id, kiosk_id, at, appointment_id, action, what)
SELECT o.id,
       COALESCE((SELECT kiosk_id FROM enrollment WHERE singleton = 1), 'unenrolled'),
       o.occurred_at,
       o.appointment_id,
       CASE o.kind WHEN 'phi_viewed' THEN 'viewed' ELSE 'proposed' END,
       CASE o.kind
           WHEN 'phi_viewed' THEN json_extract(o.envelope, '$.body.what')
           WHEN 'demographics_proposed' THEN 'demographics'
           ELSE 'coverage'
       END
FROM outbox AS o
WHERE o.kind IN ('phi_viewed', 'demographics_proposed', 'coverage_proposed')
  AND o.appointment_id IS NOT NULL
ORDER BY o.seq;
"#;

const MIGRATION_LIST: &[M<'static>] = &[M::up(V1), M::up(V2)];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: usize = MIGRATION_LIST.len();

/// Every migration, oldest first.
pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATION_LIST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_validate() {
        migrations().validate().unwrap();
    }

    #[test]
    fn the_version_constant_counts_the_migrations() {
        assert_eq!(SCHEMA_VERSION, 2);
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION as i64);
    }

    fn schema_of(conn: &rusqlite::Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, sql FROM sqlite_schema
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The fixture stands for databases in the field; if this fails, a
    /// shipped migration was edited (add a new one instead).
    #[test]
    fn the_v1_fixture_has_exactly_the_schema_of_migration_1() {
        let fixture = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/store_v1.sql"
        ));
        let loaded = rusqlite::Connection::open_in_memory().unwrap();
        loaded.execute_batch(fixture).unwrap();
        let mut migrated = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut migrated, 1).unwrap();
        assert_eq!(schema_of(&loaded), schema_of(&migrated));
        let v: i64 = loaded
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
    }

    #[test]
    fn the_outbox_refuses_a_row_both_delivered_and_rejected() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let err = conn.execute(
            "INSERT INTO outbox (id, kind, occurred_at, created_at, envelope, delivered_at, \
             rejected_at, rejected_reason) VALUES ('u', 'arrived', 't', 't', '{}', 't', 't', 'r')",
            [],
        );
        assert!(err.is_err());
    }
}
