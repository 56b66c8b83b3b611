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

/// Version 3: intake forms. Each cached appointment keeps the ids of the
/// forms due; the form definitions and the clinic's crisis text are cached
/// beside the schedule; outbox events get a priority, so an urgent screener
/// result goes first; and the audit log records submitted forms.
const V3: &str = r#"
-- A JSON array of form ids, in the order they are asked.
ALTER TABLE schedule_appointment ADD COLUMN forms_due TEXT NOT NULL DEFAULT '[]';

-- The definitions of the forms the schedule names, newest version by id.
CREATE TABLE form_definition (
    id          TEXT PRIMARY KEY NOT NULL,
    version     TEXT NOT NULL,
    -- The FHIR R4 Questionnaire JSON, as the server sent it; it parsed
    -- before it was stored.
    definition  TEXT NOT NULL
) STRICT;

-- The clinic's crisis text, shown after a PHQ-9 item 9 above zero.
ALTER TABLE sync_state ADD COLUMN crisis_text_en TEXT;
ALTER TABLE sync_state ADD COLUMN crisis_text_es TEXT;

-- 1 for an urgent screener result, delivered before everything else.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (priority DESC, seq)
    WHERE delivered_at IS NULL AND rejected_at IS NULL;

-- The audit log gains 'submitted' forms; SQLite cannot change a CHECK, so
-- the table is rebuilt with its rows and sequence.
CREATE TABLE audit_log_v3 (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL UNIQUE,
    kiosk_id        TEXT NOT NULL,
    at              TEXT NOT NULL,
    appointment_id  TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('viewed', 'proposed', 'submitted')),
    what            TEXT NOT NULL
        CHECK (what IN ('identity', 'demographics', 'coverage', 'copay', 'form'))
) STRICT;
INSERT INTO audit_log_v3 (seq, event_id, kiosk_id, at, appointment_id, action, what)
SELECT seq, event_id, kiosk_id, at, appointment_id, action, what FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_v3 RENAME TO audit_log;
CREATE INDEX audit_by_appointment ON audit_log (appointment_id);
CREATE INDEX audit_by_time ON audit_log (at);
"#;

const MIGRATION_LIST: &[M<'static>] = &[M::up(V1), M::up(V2), M::up(V3)];

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
        assert_eq!(SCHEMA_VERSION, 3);
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

    /// A version 2 database keeps its audit rows, their sequence and its
    /// outbox through the upgrade, and takes form rows afterwards.
    #[test]
    fn version_2_upgrades_keeping_audit_rows_and_the_outbox() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 2).unwrap();
        conn.execute_batch(
            "INSERT INTO outbox (id, kind, occurred_at, created_at, envelope)
                 VALUES ('e1', 'phi_viewed', 't', 't', '{}');
             INSERT INTO audit_log (event_id, kiosk_id, at, appointment_id, action, what)
                 VALUES ('e1', 'k1', 't', 'a1', 'viewed', 'identity');",
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let (seq, what): (i64, String) = conn
            .query_row("SELECT seq, what FROM audit_log", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((seq, what.as_str()), (1, "identity"));
        let priority: i64 = conn
            .query_row("SELECT priority FROM outbox WHERE id = 'e1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(priority, 0);
        conn.execute(
            "INSERT INTO audit_log (event_id, kiosk_id, at, appointment_id, action, what)
             VALUES ('e2', 'k1', 't', 'a1', 'submitted', 'form')",
            [],
        )
        .unwrap();
        let next: i64 = conn
            .query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(next, 2, "the sequence carries on");
        assert!(
            conn.execute(
                "INSERT INTO audit_log (event_id, kiosk_id, at, appointment_id, action, what)
                 VALUES ('e3', 'k1', 't', 'a1', 'deleted', 'form')",
                [],
            )
            .is_err()
        );
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
