//! Kiosk records on PostgreSQL: enrollment codes, enrollment, device-token
//! look-up, heartbeats, and the idempotent recording of a batch of kiosk
//! events (by event UUID, through the primary key and `ON CONFLICT`).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::notify::{notice, payloads, publish_on};
use super::{PgError, PgStore, audit, ms};
use crate::domain::ClinicId;
use crate::protocol::{HELP_ANSWERED_WINDOW_SECS, Heartbeat, MAX_HELP_ANSWERED};
use crate::server::storage::kiosks::{Enrollment, TokenOwner};
use crate::server::storage::{Actor, AuditAction, AuditEntry};

/// One kiosk event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The kiosk's id for it; the same id sent twice is one event.
    pub event_id: Uuid,
    /// What happened, such as "arrived".
    pub kind: &'a str,
    /// The appointment it concerns, if any.
    pub appointment_id: Option<&'a str>,
    /// When the kiosk says it happened.
    pub occurred_at: DateTime<Utc>,
}

impl PgStore {
    /// Stores a one-time enrollment code's hash for `clinic`.
    pub async fn insert_enrollment_code(
        &self,
        clinic: &ClinicId,
        code_hash: &str,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO enrollment_codes (clinic_id, code_hash, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
                &[&clinic.as_str(), &code_hash, &ms(now), &ms(expires)],
            )
            .await?;
        Ok(())
    }

    /// Uses the code and stores the kiosk, audited, in one transaction;
    /// returns the code's clinic, or `None` (and changes nothing) when the
    /// code is unknown, used or expired. Two kiosks racing for one code:
    /// the row lock makes the second see it used.
    pub async fn enroll(&self, e: &Enrollment<'_>) -> Result<Option<ClinicId>, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT clinic_id, expires_ms, used_ms FROM enrollment_codes WHERE code_hash = $1 FOR UPDATE",
                &[&e.code_hash],
            )
            .await?;
        let clinic = match row.map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, Option<i64>>(2),
            )
        }) {
            Some((clinic, expires, None)) if expires > ms(e.now) => ClinicId(clinic),
            _ => return Ok(None),
        };
        tx.execute(
            "UPDATE enrollment_codes SET used_ms = $2, kiosk_id = $3 WHERE code_hash = $1",
            &[&e.code_hash, &ms(e.now), &e.kiosk_id],
        )
        .await?;
        tx.execute(
            "INSERT INTO kiosks (clinic_id, kiosk_id, name, token_hash, enrolled_ms, app_version, last_seen_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $5)",
            &[&clinic.as_str(), &e.kiosk_id, &e.name, &e.token_hash, &ms(e.now), &e.app_version],
        )
        .await?;
        audit(
            &tx,
            &clinic,
            e.now,
            &AuditEntry::new(Actor::Kiosk, e.kiosk_id, AuditAction::Enrolled),
        )
        .await?;
        self.announce_in(&tx, &[notice(&clinic, "kiosk", e.kiosk_id)])
            .await?;
        tx.commit().await?;
        Ok(Some(clinic))
    }

    /// The kiosk whose token hashes to `token_hash`, if any.
    pub async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>, PgError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT kiosk_id, clinic_id, revoked_ms FROM kiosks WHERE token_hash = $1",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&token_hash]).await?;
        Ok(row.map(|r| TokenOwner {
            kiosk_id: r.get(0),
            clinic_id: ClinicId(r.get(1)),
            revoked: r.get::<_, Option<i64>>(2).is_some(),
        }))
    }

    /// Stores what kiosk `kiosk` of `clinic` reported in `hb` at `now`.
    pub async fn record_heartbeat(
        &self,
        clinic: &ClinicId,
        kiosk: &str,
        hb: &Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<(), PgError> {
        self.heartbeat(clinic, kiosk, hb, now).await.map(drop)
    }

    /// A kiosk's heartbeat: stores what `hb` reports, as
    /// [`Self::record_heartbeat`], and answers with
    /// [`Self::help_answered`]. On one connection, in one round trip: the
    /// update, the notice for the other replicas and the read go as one
    /// pipeline, each its own transaction, so the update's commit waits
    /// for the disk without holding the lock every notifying commit takes.
    /// A kiosk removed since its request was authenticated updates
    /// nothing; the notice then only makes consoles reread the list.
    pub async fn heartbeat(
        &self,
        clinic: &ClinicId,
        kiosk: &str,
        hb: &Heartbeat,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, PgError> {
        let depth = i64::try_from(hb.outbox_depth).unwrap_or(i64::MAX);
        let oldest = hb
            .outbox_oldest_age_secs
            .map(|a| i64::try_from(a).unwrap_or(i64::MAX));
        let payloads = payloads(self.origin, &[notice(clinic, "kiosk", kiosk)]);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE kiosks SET app_version = $3, outbox_depth = $4, outbox_oldest_age_secs = $5,
                     last_sync_ms = $6, last_seen_ms = $7, reported_online = $8,
                     clock_skew_secs = COALESCE($9, clock_skew_secs)
                 WHERE clinic_id = $1 AND kiosk_id = $2",
            )
            .await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &clinic.as_str(),
            &kiosk,
            &hb.app_version.trim(),
            &depth,
            &oldest,
            &hb.last_sync_at.map(ms),
            &ms(now),
            &hb.online,
            &hb.clock_skew_secs,
        ];
        let (_, (), answered) = tokio::try_join!(
            client.execute(&stmt, &params),
            publish_on(&client, &payloads),
            help_answered_on(&client, clinic, kiosk, now),
        )?;
        Ok(answered)
    }

    /// Client event ids of the help flags (`help_requested`,
    /// `identity_not_found`) that kiosk `kiosk` of `clinic` raised and
    /// staff resolved in the [`HELP_ANSWERED_WINDOW_SECS`] before `now`,
    /// newest first; as the SQLite `kiosks::help_answered`.
    pub async fn help_answered(
        &self,
        clinic: &ClinicId,
        kiosk: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, PgError> {
        let client = self.client().await?;
        Ok(help_answered_on(&client, clinic, kiosk, now).await?)
    }

    /// Records a batch of `kiosk`'s events in one transaction; returns,
    /// per event, whether it is new (`false`: already recorded, by this
    /// batch or any earlier one, on any replica). Idempotent through the
    /// `(clinic_id, event_id)` primary key and `ON CONFLICT DO NOTHING`: a
    /// batch racing its own copy waits on the key, then finds it taken.
    pub async fn record_events(
        &self,
        clinic: &ClinicId,
        kiosk: &str,
        events: &[NewEvent<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>, PgError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare(
                "INSERT INTO events (clinic_id, event_id, kiosk_id, kind, appointment_id, occurred_ms, received_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (clinic_id, event_id) DO NOTHING",
            )
            .await?;
        let mut fresh = Vec::with_capacity(events.len());
        for e in events {
            let n = tx
                .execute(
                    &insert,
                    &[
                        &clinic.as_str(),
                        &e.event_id,
                        &kiosk,
                        &e.kind,
                        &e.appointment_id,
                        &ms(e.occurred_at),
                        &ms(now),
                    ],
                )
                .await?;
            fresh.push(n == 1);
        }
        tx.commit().await?;
        Ok(fresh)
    }
}

/// [`PgStore::help_answered`], on `client`.
async fn help_answered_on(
    client: &impl GenericClient,
    clinic: &ClinicId,
    kiosk: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let since = ms(now) - HELP_ANSWERED_WINDOW_SECS * 1000;
    let limit = i64::try_from(MAX_HELP_ANSWERED).unwrap_or(i64::MAX);
    let stmt = client
        .prepare_cached(
            "SELECT event_id FROM flags
             WHERE clinic_id = $1 AND kiosk_id = $2 AND resolved_ms >= $3
               AND code IN ('help_requested', 'identity_not_found') AND event_id IS NOT NULL
             ORDER BY resolved_ms DESC LIMIT $4",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&clinic.as_str(), &kiosk, &since, &limit])
        .await?;
    rows.iter().map(|r| r.try_get::<_, Uuid>(0)).collect()
}
