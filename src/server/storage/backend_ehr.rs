//! The EHR connector's part of the [`Store`] facade: its write-back queue,
//! resource cache, pull writes and status, on SQLite (the twins in
//! `fhir::pull`, `fhir::writeback` and `storage::ehr`, run on the
//! blocking pool) or on PostgreSQL (`storage::pg::ehr`).

use chrono::{DateTime, NaiveDate, Utc};

use super::StorageError;
use super::backend::Store;
use crate::domain::ClinicId;
use crate::server::fhir::client::Versioned;
use crate::server::fhir::forms::CompletedForm;
use crate::server::fhir::pull::{self, Batch, PullSummary};
use crate::server::fhir::status::EhrStatus;
use crate::server::fhir::writeback::{self, Item, Settled};

impl Store {
    /// The EHR connector's stored status of `clinic`, without its
    /// configuration; `today` is the clinic's.
    pub async fn ehr_status(
        &self,
        clinic: ClinicId,
        today: NaiveDate,
    ) -> Result<EhrStatus, StorageError> {
        match self {
            Self::Sqlite(db) => db.read(move |c| super::ehr::load(c, &clinic, today)).await,
            Self::Postgres(pg) => pg.ehr_status(&clinic, today).await,
        }
    }

    /// Makes the removals held for `clinic` as staff `user`, audited;
    /// returns the appointments that were held. A conflict when nothing
    /// is held.
    pub async fn ehr_confirm_held(
        &self,
        clinic: ClinicId,
        user: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| super::ehr::confirm_held_audited(c, &clinic, &user, now))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_confirm_held(&clinic, &user, now).await,
        }
    }

    /// Queues failed write-back `item` of `clinic` again, due now, as
    /// staff `user`, audited.
    pub async fn ehr_retry_failed(
        &self,
        clinic: ClinicId,
        item: i64,
        user: String,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| super::ehr::retry_failed_audited(c, &clinic, item, &user, now))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_retry_failed(&clinic, item, &user, now).await,
        }
    }

    /// Records that a pull of `clinic` failed with `error`.
    pub async fn ehr_record_pull_error(
        &self,
        clinic: ClinicId,
        now: DateTime<Utc>,
        error: String,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| super::ehr::record_pull(c, &clinic, now, Err(&error)))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_record_pull(&clinic, now, Err(&error)).await,
        }
    }

    /// Stores a mapped pull (upserts, removals or a hold, the resource
    /// cache) and records it as the last pull; returns `summary`
    /// completed with what changed.
    pub async fn ehr_store_pull(
        &self,
        clinic: ClinicId,
        batch: Batch,
        summary: PullSummary,
    ) -> Result<PullSummary, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| pull::store_and_record(c, &clinic, batch, summary))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_store_pull(&clinic, batch, summary).await,
        }
    }

    /// The oldest `limit` pending write-backs of `clinic`, in queue order.
    pub async fn ehr_pending_items(
        &self,
        clinic: ClinicId,
        limit: i64,
    ) -> Result<Vec<Item>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| writeback::pending_items(c, &clinic, limit))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_pending_items(&clinic, limit).await,
        }
    }

    /// Claims pending item `item` of `clinic`, due at `now`, until `until`;
    /// false when it is not due or another drain has it. SQLite has one
    /// drain per clinic, so there every claim succeeds.
    pub async fn ehr_claim_item(
        &self,
        clinic: ClinicId,
        item: i64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        match self {
            Self::Sqlite(_) => Ok(true),
            Self::Postgres(pg) => pg.ehr_claim_item(&clinic, item, now, until).await,
        }
    }

    /// Stores the outcome of an attempt at item `item` of `clinic`.
    pub async fn ehr_record_attempt(
        &self,
        clinic: ClinicId,
        item: i64,
        settled: Settled,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| writeback::store_attempt(c, &clinic, item, &settled, now))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_record_attempt(&clinic, item, &settled, now).await,
        }
    }

    /// The completed form of kiosk event `event_id`, for its write-back.
    pub async fn ehr_completed_form(
        &self,
        clinic: ClinicId,
        event_id: String,
    ) -> Result<Option<CompletedForm>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| writeback::load_form(c, &clinic, &event_id))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_completed_form(&clinic, &event_id).await,
        }
    }

    /// The cached copy of an EHR resource, if a pull or write saw it.
    pub async fn ehr_cached_resource(
        &self,
        clinic: ClinicId,
        kind: &'static str,
        id: String,
    ) -> Result<Option<Versioned>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| pull::cached_resource(c, &clinic, kind, &id))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_cached_resource(&clinic, kind, &id).await,
        }
    }

    /// Remembers the EHR's copy of a resource and its version.
    pub async fn ehr_cache_resource(
        &self,
        clinic: ClinicId,
        kind: &'static str,
        id: String,
        v: Versioned,
    ) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| pull::cache_resource(c, &clinic, kind, &id, &v))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_cache_resource(&clinic, kind, &id, &v).await,
        }
    }

    /// The co-pay (cents, currency) of the patient's visit: today's (or
    /// the next) appointment, else the latest.
    pub async fn ehr_known_copay(
        &self,
        clinic: ClinicId,
        patient_id: String,
        today: NaiveDate,
    ) -> Result<Option<(i64, String)>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| writeback::known_copay(c, &clinic, &patient_id, today))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_known_copay(&clinic, &patient_id, today).await,
        }
    }

    /// Makes every pending write-back of `clinic` due now; returns how
    /// many. For tests, and for an operator who knows the EHR is back.
    pub async fn ehr_retry_now(
        &self,
        clinic: ClinicId,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.call(move |c| writeback::retry_now(c, &clinic, now))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_retry_now(&clinic, now).await,
        }
    }

    /// The state of write-back `item` of `clinic` (`pending`, `done` or
    /// `failed`), if it exists.
    pub async fn ehr_item_state(
        &self,
        clinic: ClinicId,
        item: i64,
    ) -> Result<Option<String>, StorageError> {
        match self {
            Self::Sqlite(db) => {
                db.read(move |c| writeback::item_state(c, &clinic, item))
                    .await
            }
            Self::Postgres(pg) => pg.ehr_item_state(&clinic, item).await,
        }
    }
}
