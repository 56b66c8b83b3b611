//! The clinic server's SQLite schema and its migrations.
//!
//! **Architecture invariant:** every table that holds clinic data has a
//! `clinic_id` column, and every query filters on it. The one exception is
//! `staff_sessions`: a session belongs to a person, who may work for several
//! clinics; what the person may see is decided per request from
//! `staff_members`, which does carry `clinic_id`.
//!
//! Times are stored as integer unix milliseconds (`*_ms`).

use rusqlite_migration::{M, Migrations};

/// Every migration, oldest first. Append; never edit a released one.
const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
CREATE TABLE clinic_cursor (
    clinic_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL
) STRICT;

CREATE TABLE patients (
    clinic_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    demographics TEXT NOT NULL,
    demographics_confirmed_ms INTEGER,
    coverage TEXT,
    PRIMARY KEY (clinic_id, patient_id)
) STRICT;

CREATE TABLE appointments (
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    day TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    time_zone TEXT NOT NULL,
    clinician TEXT NOT NULL,
    status TEXT NOT NULL,
    expected_copay_cents INTEGER NOT NULL,
    prior_balance_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, appointment_id)
) STRICT;
CREATE INDEX appointments_by_day ON appointments (clinic_id, day, start_ms);
CREATE INDEX appointments_by_seq ON appointments (clinic_id, change_seq);
CREATE INDEX appointments_by_patient ON appointments (clinic_id, patient_id);

CREATE TABLE enrollment_codes (
    clinic_id TEXT NOT NULL,
    code_hash TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER,
    kiosk_id TEXT
) STRICT;

CREATE TABLE kiosks (
    clinic_id TEXT NOT NULL,
    kiosk_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    enrolled_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    app_version TEXT NOT NULL,
    outbox_depth INTEGER NOT NULL DEFAULT 0,
    outbox_oldest_age_secs INTEGER,
    last_sync_ms INTEGER,
    last_seen_ms INTEGER,
    reported_online INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX kiosks_by_clinic ON kiosks (clinic_id);

CREATE TABLE events (
    clinic_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    appointment_id TEXT,
    occurred_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, event_id)
) STRICT;

CREATE TABLE flags (
    clinic_id TEXT NOT NULL,
    flag_id INTEGER PRIMARY KEY,
    event_id TEXT,
    kiosk_id TEXT,
    appointment_id TEXT,
    code TEXT NOT NULL,
    step TEXT NOT NULL,
    text TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    resolved_by TEXT,
    resolution_note TEXT
) STRICT;
CREATE INDEX flags_open ON flags (clinic_id, resolved_ms, raised_ms);

CREATE TABLE proposed_changes (
    clinic_id TEXT NOT NULL,
    change_id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    proposed_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    decided_ms INTEGER,
    decided_by TEXT,
    note TEXT
) STRICT;
CREATE INDEX proposed_changes_by_status ON proposed_changes (clinic_id, status);

CREATE TABLE copay_items (
    clinic_id TEXT NOT NULL,
    item_id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_ms INTEGER NOT NULL,
    decided_ms INTEGER,
    decided_by TEXT
) STRICT;
CREATE INDEX copay_items_by_status ON copay_items (clinic_id, status);

CREATE TABLE audit (
    clinic_id TEXT NOT NULL,
    audit_id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    appointment_id TEXT,
    patient_id TEXT,
    detail TEXT
) STRICT;
CREATE INDEX audit_by_time ON audit (clinic_id, at_ms);

CREATE TABLE staff_members (
    clinic_id TEXT NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, username)
) STRICT;
CREATE INDEX staff_members_by_user ON staff_members (username);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) STRICT;
"#,
    ),
    // 2: the FHIR connector's write-back outbox and its per-clinic status
    // (see `server::fhir`).
    M::up(
        r#"
CREATE TABLE fhir_outbox (
    clinic_id TEXT NOT NULL,
    item_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    finished_ms INTEGER
) STRICT;
CREATE INDEX fhir_outbox_due ON fhir_outbox (clinic_id, state, item_id);

CREATE TABLE fhir_resources (
    clinic_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    version_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (clinic_id, resource_type, resource_id)
) STRICT;

CREATE TABLE fhir_status (
    clinic_id TEXT PRIMARY KEY,
    last_pull_ms INTEGER,
    last_pull_ok_ms INTEGER,
    last_pull_summary TEXT,
    last_pull_error TEXT,
    last_write_error TEXT,
    last_write_error_ms INTEGER,
    skipped_resources INTEGER NOT NULL DEFAULT 0
) STRICT;
"#,
    ),
    // 3: each kiosk's last reported clock skew, for the fleet view.
    M::up("ALTER TABLE kiosks ADD COLUMN clock_skew_secs INTEGER;"),
    // 4: when each staff session was last used, for the idle timeout;
    // NULL means not since it started.
    M::up("ALTER TABLE staff_sessions ADD COLUMN last_used_ms INTEGER;"),
    // 5: removals an EHR pull held back for staff to confirm, as JSON
    // (see `server::fhir::pull`); NULL when nothing is held.
    M::up("ALTER TABLE fhir_status ADD COLUMN held_removals TEXT;"),
    // 6: appointment statuses and audit actors and actions are closed sets
    // (`domain::AppointmentStatus`, `storage::Actor`, `storage::AuditAction`),
    // enforced by CHECK constraints. SQLite cannot add a CHECK to a table,
    // so both tables are rebuilt with their rows; a row outside the sets
    // fails the migration rather than being dropped.
    M::up(
        r#"
CREATE TABLE appointments_v6 (
    clinic_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    day TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    time_zone TEXT NOT NULL,
    clinician TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('booked', 'arrived', 'checked_in', 'cancelled', 'no_show')),
    expected_copay_cents INTEGER NOT NULL,
    prior_balance_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    change_seq INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, appointment_id)
) STRICT;
INSERT INTO appointments_v6 (clinic_id, appointment_id, patient_id, location_id, day,
    start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
    prior_balance_cents, currency, removed, change_seq)
SELECT clinic_id, appointment_id, patient_id, location_id, day,
    start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
    prior_balance_cents, currency, removed, change_seq
FROM appointments;
DROP TABLE appointments;
ALTER TABLE appointments_v6 RENAME TO appointments;
CREATE INDEX appointments_by_day ON appointments (clinic_id, day, start_ms);
CREATE INDEX appointments_by_seq ON appointments (clinic_id, change_seq);
CREATE INDEX appointments_by_patient ON appointments (clinic_id, patient_id);

CREATE TABLE audit_v6 (
    clinic_id TEXT NOT NULL,
    audit_id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('staff', 'kiosk', 'system')),
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN (
        'viewed_appointments', 'viewed_proposed_changes', 'flag_resolved',
        'copay_collected', 'copay_waived',
        'demographics_change_approved', 'demographics_change_rejected',
        'coverage_change_approved', 'coverage_change_rejected',
        'kiosk_revoked', 'enrollment_code_created', 'login_alert', 'enrolled',
        'phi_viewed', 'demographics_confirmed', 'copay_chosen',
        'demographics_proposed', 'coverage_proposed',
        'ehr_removals_confirmed', 'ehr_write_retried'
    )),
    appointment_id TEXT,
    patient_id TEXT,
    detail TEXT
) STRICT;
INSERT INTO audit_v6 (clinic_id, audit_id, at_ms, actor_kind, actor_id, action,
    appointment_id, patient_id, detail)
SELECT clinic_id, audit_id, at_ms, actor_kind, actor_id, action,
    appointment_id, patient_id, detail
FROM audit;
DROP TABLE audit;
ALTER TABLE audit_v6 RENAME TO audit;
CREATE INDEX audit_by_time ON audit (clinic_id, at_ms);
"#,
    ),
    // 7: intake forms. Appointments gain the clinician's id and the visit
    // type (server-side only, for which forms are due); `form_responses`
    // holds each completed form, scored; the audit's actions gain the
    // form's storing and staff viewing forms (the table is rebuilt, as in
    // migration 6, to widen its CHECK).
    M::up(
        r#"
ALTER TABLE appointments ADD COLUMN clinician_id TEXT;
ALTER TABLE appointments ADD COLUMN visit_type TEXT;

CREATE TABLE form_responses (
    clinic_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    form_id TEXT NOT NULL,
    form_version TEXT NOT NULL,
    response TEXT NOT NULL,
    signature_png BLOB,
    score INTEGER,
    band TEXT,
    urgent INTEGER NOT NULL DEFAULT 0 CHECK (urgent IN (0, 1)),
    completed_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (clinic_id, event_id)
) STRICT;
CREATE INDEX form_responses_by_patient ON form_responses (clinic_id, patient_id, form_id);
CREATE INDEX form_responses_by_appointment ON form_responses (clinic_id, appointment_id);

CREATE TABLE audit_v7 (
    clinic_id TEXT NOT NULL,
    audit_id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('staff', 'kiosk', 'system')),
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN (
        'viewed_appointments', 'viewed_proposed_changes', 'flag_resolved',
        'copay_collected', 'copay_waived',
        'demographics_change_approved', 'demographics_change_rejected',
        'coverage_change_approved', 'coverage_change_rejected',
        'kiosk_revoked', 'enrollment_code_created', 'login_alert', 'enrolled',
        'phi_viewed', 'demographics_confirmed', 'copay_chosen',
        'demographics_proposed', 'coverage_proposed',
        'ehr_removals_confirmed', 'ehr_write_retried',
        'form_completed', 'viewed_form_responses'
    )),
    appointment_id TEXT,
    patient_id TEXT,
    detail TEXT
) STRICT;
INSERT INTO audit_v7 (clinic_id, audit_id, at_ms, actor_kind, actor_id, action,
    appointment_id, patient_id, detail)
SELECT clinic_id, audit_id, at_ms, actor_kind, actor_id, action,
    appointment_id, patient_id, detail
FROM audit;
DROP TABLE audit;
ALTER TABLE audit_v7 RENAME TO audit;
CREATE INDEX audit_by_time ON audit (clinic_id, at_ms);
"#,
    ),
    // 8: a consent signed by keypad keeps the name the patient typed
    // instead of a signature PNG; NULL for every other form.
    M::up("ALTER TABLE form_responses ADD COLUMN signature_name TEXT;"),
];

/// The schema version [`migrations`] brings a database to.
pub const SCHEMA_VERSION: usize = 8;

/// The migrations, for [`super::db::Db::open`] and the validate test.
pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn a_version_1_database_upgrades_keeping_its_rows() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO clinic_cursor (clinic_id, epoch, seq) VALUES ('north', 'e', 7)",
            [],
        )
        .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let seq: i64 = conn
            .query_row(
                "SELECT seq FROM clinic_cursor WHERE clinic_id = 'north'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(seq, 7);
        let outbox: i64 = conn
            .query_row("SELECT COUNT(*) FROM fhir_outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outbox, 0);
    }

    #[test]
    fn the_schema_version_is_the_number_of_migrations() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION);
    }

    /// Inserts an appointment with `status` and an audit row with `actor`
    /// and `action`; the errors, if any.
    fn insert(
        conn: &rusqlite::Connection,
        id: &str,
        status: &str,
        actor: &str,
        action: &str,
    ) -> (bool, bool) {
        let appointment = conn.execute(
            "INSERT INTO appointments (clinic_id, appointment_id, patient_id, location_id, day,
                 start_ms, end_ms, time_zone, clinician, status, expected_copay_cents,
                 prior_balance_cents, currency, removed, change_seq)
             VALUES ('north', ?1, 'p', 'main', '2026-03-02', 0, 1, 'UTC', 'Dr', ?2, 0, 0, 'USD', 0, 1)",
            [id, status],
        );
        let audit = conn.execute(
            "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action) VALUES ('north', 0, ?1, 'x', ?2)",
            [actor, action],
        );
        (appointment.is_ok(), audit.is_ok())
    }

    #[test]
    fn the_check_constraints_hold_exactly_the_enums() {
        use crate::domain::AppointmentStatus;
        use crate::server::storage::{Actor, AuditAction};
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        for (i, status) in AppointmentStatus::ALL.iter().enumerate() {
            let ok = insert(
                &conn,
                &format!("a{i}"),
                status.as_str(),
                "kiosk",
                "enrolled",
            );
            assert_eq!(ok, (true, true), "{status:?}");
        }
        for actor in Actor::ALL {
            for action in AuditAction::ALL {
                let ok = insert(&conn, "a0", "booked", actor.as_str(), action.as_str());
                assert!(ok.1, "{actor:?} {action:?}");
            }
        }
        assert_eq!(
            insert(&conn, "b", "seated", "kiosk", "enrolled"),
            (false, true)
        );
        assert!(!insert(&conn, "c", "booked", "robot", "enrolled").1);
        assert!(!insert(&conn, "d", "booked", "staff", "viewed_everything").1);
    }

    #[test]
    fn a_version_5_database_gains_the_checks_keeping_its_rows() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        assert_eq!(
            insert(&conn, "old", "checked_in", "staff", "copay_waived"),
            (true, true)
        );
        migrations().to_latest(&mut conn).unwrap();
        let (status, audits): (String, i64) = conn
            .query_row(
                "SELECT status, (SELECT COUNT(*) FROM audit WHERE action = 'copay_waived')
                 FROM appointments WHERE appointment_id = 'old'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((status.as_str(), audits), ("checked_in", 1));
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('appointments', 'audit') AND name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 4, "the indexes are rebuilt");
        assert_eq!(
            insert(&conn, "new", "seated", "staff", "copay_waived"),
            (false, true)
        );
    }

    #[test]
    fn a_stray_value_fails_the_migration_and_changes_nothing() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        // Version 5 has no check, so a stray status can be there.
        assert_eq!(
            insert(&conn, "odd", "seated", "staff", "copay_waived"),
            (true, true)
        );
        assert!(migrations().to_latest(&mut conn).is_err());
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 5);
        let kept: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM appointments WHERE status = 'seated'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, 1);
    }

    #[test]
    fn a_version_6_database_gains_forms_keeping_its_rows() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_version(&mut conn, 6).unwrap();
        assert_eq!(
            insert(&conn, "old", "arrived", "kiosk", "copay_chosen"),
            (true, true)
        );
        assert!(!insert(&conn, "x", "booked", "kiosk", "form_completed").1);
        migrations().to_latest(&mut conn).unwrap();
        let (clinician, audits): (Option<String>, i64) = conn
            .query_row(
                "SELECT clinician_id, (SELECT COUNT(*) FROM audit WHERE action = 'copay_chosen')
                 FROM appointments WHERE appointment_id = 'old'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((clinician, audits), (None, 1));
        assert!(insert(&conn, "y", "booked", "kiosk", "form_completed").1);
        let forms: i64 = conn
            .query_row("SELECT COUNT(*) FROM form_responses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(forms, 0);
    }

    #[test]
    fn every_clinic_table_has_a_clinic_id() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() >= 12, "{tables:?}");
        for t in tables {
            if t == "staff_sessions" {
                continue;
            }
            let has: bool = conn
                .query_row(
                    &format!(
                        "SELECT COUNT(*) > 0 FROM pragma_table_info('{t}') WHERE name = 'clinic_id'"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(has, "table {t} has no clinic_id");
        }
    }
}
