//! The one storage handle handlers reach either backend through:
//! [`Store`], SQLite (the embedded default) or PostgreSQL (replicas
//! sharing one database), with one async method per storage operation.
//! Each method runs the operation's SQLite twin on the blocking pool, or
//! its PostgreSQL twin on the pool, and answers in [`StorageError`].
//!
//! Every operation the HTTP handlers and the staff commands run is here;
//! event ingest goes through [`crate::server::AppState::apply_events`],
//! which adds SQLite's group commit. The EHR connector still runs on
//! SQLite only.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::forms;
use super::kiosks::{self, Enrollment, TokenOwner};
use super::pg::PgStore;
use super::schedule::{self, UpsertSummary, VisitFacts};
use super::staff::{self, ChangeDecided, Liveness, StoredSession};
use super::{AuditRow, StorageError};
use crate::domain::{Appointment, ClinicId};
use crate::protocol::{
    CopayItem, CopayStatus, FleetKiosk, Heartbeat, ProposedChange, ScheduleResponse,
    StaffAppointment, StaffFlag,
};
use crate::server::db::Db;
use crate::server::intake::FormCatalog;

/// Where the server's data lives.
#[derive(Debug, Clone)]
pub enum Store {
    /// One SQLite file, owned by this process.
    Sqlite(Db),
    /// A PostgreSQL database, shared by every replica.
    Postgres(PgStore),
}

/// A kiosk enrolling, with owned fields so the work can move to another
/// thread; see [`Enrollment`].
#[derive(Debug, Clone)]
pub struct NewKiosk {
    /// The hash of the normalized one-time code.
    pub code_hash: String,
    /// The new kiosk's id.
    pub kiosk_id: String,
    /// Its name.
    pub name: String,
    /// Its app version.
    pub app_version: String,
    /// The hash of its new device token.
    pub token_hash: String,
    /// When.
    pub now: DateTime<Utc>,
}

impl NewKiosk {
    fn enrollment(&self) -> Enrollment<'_> {
        Enrollment {
            code_hash: &self.code_hash,
            kiosk_id: &self.kiosk_id,
            name: &self.name,
            app_version: &self.app_version,
            token_hash: &self.token_hash,
            now: self.now,
        }
    }
}

/// A staff decision on a proposed change, with owned fields; see
/// [`ChangeDecided`].
#[derive(Debug, Clone)]
pub struct ChangeDecision {
    /// The change.
    pub id: i64,
    /// Approve (apply it) or reject (leave the record).
    pub approve: bool,
    /// Who decided.
    pub user: String,
    /// Their note.
    pub note: Option<String>,
    /// Whether an approval is also queued for the EHR.
    pub write_back: bool,
    /// When.
    pub now: DateTime<Utc>,
}

impl ChangeDecision {
    fn borrowed(&self) -> ChangeDecided<'_> {
        ChangeDecided {
            id: self.id,
            approve: self.approve,
            user: &self.user,
            note: self.note.as_deref(),
            write_back: self.write_back,
            now: self.now,
        }
    }
}

/// When a kiosk was last heard from by this process, for the fleet view.
pub type SeenHere = Arc<dyn Fn(&str) -> Option<DateTime<Utc>> + Send + Sync>;

impl Store {
    /// Answers when the database does.
    pub async fn reachable(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => db.read(super::reachable).await,
            Self::Postgres(pg) => Ok(pg.reachable().await?),
        }
    }

    /// The kiosk whose token hashes to `token_hash`, if any; on SQLite
    /// from the read connection, so it never waits for a commit.
    pub async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.read(move |c| kiosks::token_owner(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.token_owner(token_hash).await?),
        }
    }

    /// Uses the code and stores the kiosk, audited, in one transaction;
    /// `None` (nothing changed) when the code is unknown, used or expired.
    pub async fn enroll(&self, kiosk: NewKiosk) -> Result<Option<ClinicId>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| kiosks::enroll(c, &kiosk.enrollment()))
                    .await
            }
            Self::Postgres(pg) => Ok(pg.enroll(&kiosk.enrollment()).await?),
        }
    }

    /// Stores what kiosk `kiosk` of `clinic` reported in `hb` at `now`,
    /// and returns the client event ids of its help flags that staff
    /// resolved lately, for the heartbeat reply.
    pub async fn record_heartbeat(
        &self,
        clinic: ClinicId,
        kiosk: String,
        hb: Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    kiosks::record_heartbeat(c, &clinic, &kiosk, &hb, now)?;
                    kiosks::help_answered(c, &clinic, &kiosk, now)
                })
                .await
            }
            Self::Postgres(pg) => Ok(pg.heartbeat(&clinic, &kiosk, &hb, now).await?),
        }
    }

    /// The kiosk's schedule pull for `today`: the changes since `since`
    /// when that cursor is known, otherwise a full snapshot. On SQLite on
    /// the write connection, as it may create the clinic's cursor.
    pub async fn pull(
        &self,
        clinic: ClinicId,
        today: NaiveDate,
        since: Option<String>,
    ) -> Result<ScheduleResponse, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| schedule::pull(c, &clinic, today, since.as_deref()))
                    .await
            }
            Self::Postgres(pg) => Ok(pg.pull(&clinic, today, since.as_deref()).await?),
        }
    }

    /// Stores a one-time enrollment code's hash for `clinic`.
    pub async fn insert_enrollment_code(
        &self,
        clinic: ClinicId,
        code_hash: String,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    staff::insert_enrollment_code(c, &clinic, &code_hash, now, expires)
                })
                .await
            }
            Self::Postgres(pg) => Ok(pg
                .insert_enrollment_code(&clinic, &code_hash, now, expires)
                .await?),
        }
    }

    /// Stores a new staff session (dropping expired ones).
    pub async fn insert_session(
        &self,
        token_hash: String,
        username: String,
        now: DateTime<Utc>,
        lasts: Duration,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::insert_session(c, &token_hash, &username, now, lasts))
                    .await
            }
            Self::Postgres(pg) => Ok(pg
                .insert_session(&token_hash, &username, now, lasts)
                .await?),
        }
    }

    /// The staff session with `token_hash`, if it exists.
    pub async fn load_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StoredSession>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.read(move |c| staff::load_session(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.load_session(token_hash).await?),
        }
    }

    /// Records that the session with `token_hash` was used at `now`.
    pub async fn touch_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.call(move |c| staff::touch_session(c, &hash, now)).await
            }
            Self::Postgres(pg) => Ok(pg.touch_session(token_hash, now).await?),
        }
    }

    /// Ends the session with `token_hash`.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                let hash = token_hash.to_string();
                db.call(move |c| staff::delete_session(c, &hash)).await
            }
            Self::Postgres(pg) => Ok(pg.delete_session(token_hash).await?),
        }
    }

    /// The stored password hash and clinics of `username`, if the user
    /// exists; on SQLite from the read connection.
    pub async fn load_user(
        &self,
        username: &str,
    ) -> Result<Option<(String, Vec<ClinicId>)>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                let name = username.to_string();
                db.read(move |c| staff::load_user(c, &name)).await
            }
            Self::Postgres(pg) => pg.load_user(username).await,
        }
    }

    /// Adds `username` to `clinic` with the password hash `hash`, or sets
    /// the password of an existing user in every clinic and ends their
    /// sessions; true when the membership is new.
    pub async fn add_staff(
        &self,
        clinic: ClinicId,
        username: String,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    if staff::set_password(c, &username, &hash)? > 0 {
                        staff::end_sessions(c, &username)?;
                    }
                    staff::add_member(c, &clinic, &username, &hash, now)
                })
                .await
            }
            Self::Postgres(pg) => pg.add_staff(&clinic, &username, &hash, now).await,
        }
    }

    /// Removes `username` from `clinic`, or from every clinic, and ends
    /// their sessions; returns how many memberships were removed.
    pub async fn remove_staff(
        &self,
        clinic: Option<ClinicId>,
        username: String,
    ) -> Result<u64, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    let removed = staff::remove_member(c, clinic.as_ref(), &username)?;
                    if removed > 0 {
                        staff::end_sessions(c, &username)?;
                    }
                    Ok(u64::try_from(removed).unwrap_or(u64::MAX))
                })
                .await
            }
            Self::Postgres(pg) => pg.remove_staff(clinic.as_ref(), &username).await,
        }
    }

    /// Appends audit `rows` at `now`, committed before this returns.
    pub async fn audit(&self, rows: Vec<AuditRow>, now: DateTime<Utc>) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    rows.iter()
                        .try_for_each(|r| super::audit(c, &r.clinic, now, &r.entry()))
                })
                .await
            }
            Self::Postgres(pg) => pg.audit_rows(&rows, now).await,
        }
    }

    /// Appends audit `rows` at `now`; on PostgreSQL also sends `notices`
    /// to the other replicas in the same transaction (the caller publishes
    /// them in process).
    pub async fn audit_and_announce(
        &self,
        rows: Vec<AuditRow>,
        notices: Vec<crate::protocol::ChangeNotice>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(_) => self.audit(rows, now).await,
            Self::Postgres(pg) => pg.audit_rows_announced(&rows, &notices, now).await,
        }
    }

    /// Stores a one-time enrollment code's hash for `clinic` and audits
    /// that `user` created it.
    pub async fn create_enrollment_code(
        &self,
        clinic: ClinicId,
        code_hash: String,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
        user: String,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    staff::insert_enrollment_code(c, &clinic, &code_hash, now, expires)?;
                    let entry = super::AuditEntry::new(
                        super::Actor::Staff,
                        &user,
                        super::AuditAction::EnrollmentCodeCreated,
                    );
                    super::audit(c, &clinic, now, &entry)
                })
                .await
            }
            Self::Postgres(pg) => {
                pg.create_enrollment_code(&clinic, &code_hash, now, expires, &user)
                    .await
            }
        }
    }

    /// `clinic`'s appointments on `day` with their check-in state at `now`
    /// and open flags; on SQLite from the read connection.
    pub async fn appointments_on(
        &self,
        clinic: ClinicId,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<StaffAppointment>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| staff::appointments_on(c, &clinic, day, now))
                    .await
            }
            Self::Postgres(pg) => pg.appointments_on(&clinic, day, now).await,
        }
    }

    /// The start of appointment `id` of `clinic`, unless removed.
    pub async fn appointment_start(
        &self,
        clinic: ClinicId,
        id: String,
    ) -> Result<DateTime<Utc>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| staff::appointment_start(c, &clinic, &id))
                    .await
            }
            Self::Postgres(pg) => pg.appointment_start(&clinic, &id).await,
        }
    }

    /// `clinic`'s open flags, oldest first.
    pub async fn open_flags(&self, clinic: ClinicId) -> Result<Vec<StaffFlag>, StorageError> {
        match self {
            Self::Sqlite(db) => db.read(move |c| staff::open_flags(c, &clinic)).await,
            Self::Postgres(pg) => pg.open_flags(&clinic).await,
        }
    }

    /// Counts `clinic`'s unresolved flags.
    pub async fn open_flag_count(&self, clinic: ClinicId) -> Result<i64, StorageError> {
        match self {
            Self::Sqlite(db) => db.read(move |c| staff::open_flag_count(c, &clinic)).await,
            Self::Postgres(pg) => pg.open_flag_count(&clinic).await,
        }
    }

    /// Resolves open flag `id` as `user` with `note`, audited.
    pub async fn resolve_flag(
        &self,
        clinic: ClinicId,
        id: i64,
        user: String,
        note: String,
        now: DateTime<Utc>,
    ) -> Result<StaffFlag, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::resolve_flag(c, &clinic, id, &user, &note, now))
                    .await
            }
            Self::Postgres(pg) => pg.resolve_flag(&clinic, id, &user, &note, now).await,
        }
    }

    /// `clinic`'s co-pay items in `status`, oldest first.
    pub async fn copays(
        &self,
        clinic: ClinicId,
        status: CopayStatus,
    ) -> Result<Vec<CopayItem>, StorageError> {
        match self {
            Self::Sqlite(db) => db.read(move |c| staff::copays(c, &clinic, status)).await,
            Self::Postgres(pg) => pg.copays(&clinic, status).await,
        }
    }

    /// Marks pending co-pay item `id` collected or waived as `user`, audited.
    pub async fn decide_copay(
        &self,
        clinic: ClinicId,
        id: i64,
        status: CopayStatus,
        user: String,
        now: DateTime<Utc>,
    ) -> Result<CopayItem, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::decide_copay(c, &clinic, id, status, &user, now))
                    .await
            }
            Self::Postgres(pg) => pg.decide_copay(&clinic, id, status, &user, now).await,
        }
    }

    /// `clinic`'s pending proposals, oldest first, each with what is on file.
    pub async fn pending_changes(
        &self,
        clinic: ClinicId,
    ) -> Result<Vec<ProposedChange>, StorageError> {
        match self {
            Self::Sqlite(db) => db.read(move |c| staff::pending_changes(c, &clinic)).await,
            Self::Postgres(pg) => pg.pending_changes(&clinic).await,
        }
    }

    /// Decides a pending change, audited; an approval is applied to the
    /// patient record (and queued for the EHR) in the same transaction.
    pub async fn decide_change(
        &self,
        clinic: ClinicId,
        d: ChangeDecision,
    ) -> Result<ProposedChange, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::decide_change(c, &clinic, &d.borrowed()))
                    .await
            }
            Self::Postgres(pg) => pg.decide_change(&clinic, &d.borrowed()).await,
        }
    }

    /// The clinic's kiosks, online when seen (in the database, or by this
    /// process through `seen`) within `offline_after` of `now`.
    pub async fn fleet(
        &self,
        clinic: ClinicId,
        now: DateTime<Utc>,
        offline_after: Duration,
        seen: SeenHere,
    ) -> Result<Vec<FleetKiosk>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| {
                    let seen = |id: &str| seen(id);
                    let live = Liveness {
                        now,
                        offline_after,
                        seen: &seen,
                    };
                    staff::fleet(c, &clinic, &live)
                })
                .await
            }
            Self::Postgres(pg) => {
                let stored = pg.fleet(&clinic).await?;
                let seen = |id: &str| seen(id);
                let live = Liveness {
                    now,
                    offline_after,
                    seen: &seen,
                };
                Ok(stored.into_iter().map(|k| k.with_liveness(&live)).collect())
            }
        }
    }

    /// Revokes kiosk `kiosk` as `user`, audited.
    pub async fn revoke_kiosk(
        &self,
        clinic: ClinicId,
        kiosk: String,
        user: String,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| staff::revoke_kiosk(c, &clinic, &kiosk, &user, now))
                    .await
            }
            Self::Postgres(pg) => pg.revoke_kiosk(&clinic, &kiosk, &user, now).await,
        }
    }

    /// Records in the database that `kiosk` was heard from at `now`, for
    /// the other replicas' fleet views. SQLite has one process, which
    /// keeps this in memory, so there it writes nothing.
    pub async fn kiosk_seen(&self, kiosk: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(pg) => pg.kiosk_seen(kiosk, now).await,
        }
    }

    /// Fills in a schedule reply's forms due, the definitions they name and
    /// the crisis text, from `catalog`'s rules and the patients' completed
    /// forms (days counted in `tz`); on SQLite from the read connection.
    pub async fn annotate_forms(
        &self,
        clinic: ClinicId,
        tz: chrono_tz::Tz,
        reply: ScheduleResponse,
        catalog: Arc<FormCatalog>,
    ) -> Result<ScheduleResponse, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| {
                    let mut reply = reply;
                    forms::annotate(c, &clinic, tz, &mut reply, &catalog)?;
                    Ok(reply)
                })
                .await
            }
            Self::Postgres(pg) => {
                let mut reply = reply;
                pg.annotate_forms(&clinic, tz, &mut reply, &catalog).await?;
                Ok(reply)
            }
        }
    }

    /// The completed forms of `clinic`'s appointments on `day`, by
    /// appointment start and completion time.
    pub async fn completed_forms(
        &self,
        clinic: ClinicId,
        day: NaiveDate,
    ) -> Result<Vec<forms::StoredForm>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| forms::completed_on_day(c, &clinic, day))
                    .await
            }
            Self::Postgres(pg) => Ok(pg.completed_forms_on(&clinic, day).await?),
        }
    }

    /// Upserts `appointments` and their patients for `clinic` in one
    /// transaction, each with its visit facts from `facts`; with
    /// `replace_days` the other appointments of the days listed are
    /// removed. See [`schedule::upsert_with_facts`].
    pub async fn upsert_schedule(
        &self,
        clinic: ClinicId,
        appointments: Vec<Appointment>,
        facts: HashMap<String, VisitFacts>,
        replace_days: bool,
    ) -> Result<UpsertSummary, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| {
                    schedule::upsert_with_facts(c, &clinic, &appointments, &facts, replace_days)
                })
                .await
            }
            Self::Postgres(pg) => Ok(pg
                .upsert_schedule(&clinic, &appointments, &facts, replace_days)
                .await?),
        }
    }
}
