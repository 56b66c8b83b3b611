//! The clinic server's storage: every SQL query the server runs, behind
//! functions that take and return domain and record types, and the one
//! error type they share, [`StorageError`]. HTTP handlers call these
//! functions through [`super::db::Db`] and map the error to a response;
//! they hold no SQL themselves.

use std::path::PathBuf;

pub mod backend;
mod backend_ehr;
pub mod ehr;
pub mod forms;
pub mod ingest;
pub mod kiosks;
pub mod pg;
pub mod schedule;
pub mod staff;

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite refused or failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed.
    #[error("{0}")]
    Postgres(#[from] pg::PgError),
    /// The schema could not be brought up to date.
    #[error("migrating {path}: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        source: rusqlite_migration::Error,
    },
    /// A stored JSON column could not be read back.
    #[error("stored JSON in {column}: {source}")]
    Json {
        /// The column.
        column: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A stored value is not what the schema promises.
    #[error("stored value in {0} is invalid")]
    Corrupt(&'static str),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// The record is not in the caller's clinic (or does not exist).
    #[error("no {what} {id} in this clinic")]
    NotFound {
        /// What kind of record, such as "flag".
        what: &'static str,
        /// Its id as the caller gave it.
        id: String,
    },
    /// The record is not in a state that allows the change, such as a
    /// flag already resolved.
    #[error("{0}")]
    Conflict(String),
    /// The change breaks a rule that only the stored record shows, such
    /// as a proposal that no longer passes the field rules.
    #[error("{0}")]
    Refused(String),
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Postgres(pg::PgError::Postgres(e))
    }
}

impl StorageError {
    /// A [`StorageError::NotFound`] for `what` `id`.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// Answers when the database does: `SELECT 1` on the connection.
pub fn reachable(c: &mut rusqlite::Connection) -> Result<(), StorageError> {
    c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// Who did an audited thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A staff user; the actor id is the user name.
    Staff,
    /// An enrolled kiosk; the actor id is the kiosk id.
    Kiosk,
    /// The server itself (sign-in alerts); the actor id names the part.
    System,
}

impl Actor {
    /// Every actor kind, in the order of the table's CHECK constraint.
    pub const ALL: [Actor; 3] = [Self::Staff, Self::Kiosk, Self::System];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Kiosk => "kiosk",
            Self::System => "system",
        }
    }
}

/// What an audit row records. The `audit.action` column has a CHECK
/// constraint listing exactly these names (migration 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// Staff listed the day's appointments (patient names and dates of birth).
    ViewedAppointments,
    /// Staff listed pending proposed changes with what is on file.
    ViewedProposedChanges,
    /// Staff resolved a flag.
    FlagResolved,
    /// Staff marked a co-pay collected.
    CopayCollected,
    /// Staff waived a co-pay.
    CopayWaived,
    /// Staff approved a demographics change.
    DemographicsChangeApproved,
    /// Staff rejected a demographics change.
    DemographicsChangeRejected,
    /// Staff approved a coverage change.
    CoverageChangeApproved,
    /// Staff rejected a coverage change.
    CoverageChangeRejected,
    /// Staff revoked a kiosk.
    KioskRevoked,
    /// Staff created an enrollment code.
    EnrollmentCodeCreated,
    /// Repeated failed sign-ins raised an alert.
    LoginAlert,
    /// A kiosk enrolled.
    Enrolled,
    /// A kiosk showed patient data.
    PhiViewed,
    /// A patient confirmed their demographics at a kiosk.
    DemographicsConfirmed,
    /// A patient chose how to pay the co-pay.
    CopayChosen,
    /// A patient proposed a demographics change.
    DemographicsProposed,
    /// A patient proposed a coverage change.
    CoverageProposed,
    /// Staff confirmed removals an EHR pull held.
    EhrRemovalsConfirmed,
    /// Staff retried a failed EHR write-back.
    EhrWriteRetried,
    /// A kiosk sent a completed intake form, which was stored.
    FormCompleted,
    /// Staff viewed an appointment's completed forms and scores.
    ViewedFormResponses,
}

impl AuditAction {
    /// Every action, in the order of the table's CHECK constraint.
    pub const ALL: [AuditAction; 22] = [
        Self::ViewedAppointments,
        Self::ViewedProposedChanges,
        Self::FlagResolved,
        Self::CopayCollected,
        Self::CopayWaived,
        Self::DemographicsChangeApproved,
        Self::DemographicsChangeRejected,
        Self::CoverageChangeApproved,
        Self::CoverageChangeRejected,
        Self::KioskRevoked,
        Self::EnrollmentCodeCreated,
        Self::LoginAlert,
        Self::Enrolled,
        Self::PhiViewed,
        Self::DemographicsConfirmed,
        Self::CopayChosen,
        Self::DemographicsProposed,
        Self::CoverageProposed,
        Self::EhrRemovalsConfirmed,
        Self::EhrWriteRetried,
        Self::FormCompleted,
        Self::ViewedFormResponses,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewedAppointments => "viewed_appointments",
            Self::ViewedProposedChanges => "viewed_proposed_changes",
            Self::FlagResolved => "flag_resolved",
            Self::CopayCollected => "copay_collected",
            Self::CopayWaived => "copay_waived",
            Self::DemographicsChangeApproved => "demographics_change_approved",
            Self::DemographicsChangeRejected => "demographics_change_rejected",
            Self::CoverageChangeApproved => "coverage_change_approved",
            Self::CoverageChangeRejected => "coverage_change_rejected",
            Self::KioskRevoked => "kiosk_revoked",
            Self::EnrollmentCodeCreated => "enrollment_code_created",
            Self::LoginAlert => "login_alert",
            Self::Enrolled => "enrolled",
            Self::PhiViewed => "phi_viewed",
            Self::DemographicsConfirmed => "demographics_confirmed",
            Self::CopayChosen => "copay_chosen",
            Self::DemographicsProposed => "demographics_proposed",
            Self::CoverageProposed => "coverage_proposed",
            Self::EhrRemovalsConfirmed => "ehr_removals_confirmed",
            Self::EhrWriteRetried => "ehr_write_retried",
            Self::FormCompleted => "form_completed",
            Self::ViewedFormResponses => "viewed_form_responses",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One audit row: who did what, to which record, with what detail.
#[derive(Debug, Clone, Copy)]
pub struct AuditEntry<'a> {
    /// Who.
    pub actor: Actor,
    /// Their id: a user name, a kiosk id, or the part of the server.
    pub actor_id: &'a str,
    /// What.
    pub action: AuditAction,
    /// The appointment concerned, if any.
    pub appointment_id: Option<&'a str>,
    /// The patient concerned, if any.
    pub patient_id: Option<&'a str>,
    /// More, such as a record id; never PHI.
    pub detail: Option<&'a str>,
}

impl<'a> AuditEntry<'a> {
    /// An entry with no record and no detail.
    pub fn new(actor: Actor, actor_id: &'a str, action: AuditAction) -> Self {
        Self {
            actor,
            actor_id,
            action,
            appointment_id: None,
            patient_id: None,
            detail: None,
        }
    }
}

/// An audit row with owned fields, for work that moves to another thread
/// or task; see [`AuditEntry`].
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// The clinic whose audit it belongs to.
    pub clinic: crate::domain::ClinicId,
    /// Who.
    pub actor: Actor,
    /// Their id.
    pub actor_id: String,
    /// What.
    pub action: AuditAction,
    /// More, such as a record id or a day; never PHI.
    pub detail: Option<String>,
}

impl AuditRow {
    /// The row as an [`AuditEntry`] (no appointment, no patient).
    pub fn entry(&self) -> AuditEntry<'_> {
        AuditEntry {
            detail: self.detail.as_deref(),
            ..AuditEntry::new(self.actor, &self.actor_id, self.action)
        }
    }
}

/// Appends an audit row for `clinic` at `at`.
pub fn audit(
    conn: &rusqlite::Connection,
    clinic: &crate::domain::ClinicId,
    at: chrono::DateTime<chrono::Utc>,
    e: &AuditEntry<'_>,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO audit (clinic_id, at_ms, actor_kind, actor_id, action, appointment_id, patient_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(rusqlite::params![
        clinic.as_str(),
        crate::server::db::to_ms(at),
        e.actor.as_str(),
        e.actor_id,
        e.action.as_str(),
        e.appointment_id,
        e.patient_id,
        e.detail
    ])?;
    Ok(())
}

/// Reads column `i` as an [`AppointmentStatus`](crate::domain::AppointmentStatus);
/// the CHECK constraint makes any other value a corrupt database.
pub fn stored_status(
    r: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<crate::domain::AppointmentStatus> {
    let s: String = r.get(i)?;
    crate::domain::AppointmentStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("appointment status {s:?}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    /// The HTTP layer's sources, up to their unit tests.
    const HANDLERS: [(&str, &str); 6] = [
        ("staff_api.rs", include_str!("../staff_api.rs")),
        ("staff.rs", include_str!("../staff.rs")),
        ("kiosk_api.rs", include_str!("../kiosk_api.rs")),
        ("ops.rs", include_str!("../ops.rs")),
        ("routes.rs", include_str!("../routes.rs")),
        ("fhir/status.rs", include_str!("../fhir/status.rs")),
    ];

    #[test]
    fn http_handlers_hold_no_sql() {
        for (file, text) in HANDLERS {
            let code = text.split("#[cfg(test)]").next().unwrap_or(text);
            for sql in [
                "SELECT ",
                "INSERT ",
                "UPDATE ",
                "DELETE ",
                "query_row",
                "prepare_cached",
                ".execute(",
                ".transaction(",
            ] {
                assert!(
                    !code.contains(sql),
                    "{file} runs SQL ({sql:?}); move it to storage"
                );
            }
        }
    }

    #[test]
    fn storage_outcomes_map_to_their_http_statuses() {
        use super::StorageError;
        use crate::server::error::ApiError;
        use axum::http::StatusCode;
        let status = |e: StorageError| ApiError::from(e).status();
        assert_eq!(
            status(StorageError::not_found("flag", 7)),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(StorageError::not_found("flag", 7)).to_string(),
            "no flag 7 in this clinic"
        );
        assert_eq!(
            status(StorageError::Conflict("x".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(StorageError::Refused("x".into())),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(StorageError::Corrupt("audit.action")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(StorageError::Task("stopped".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn audit_actions_round_trip_their_stored_names() {
        use super::AuditAction;
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::parse("viewed_everything"), None);
    }
}
