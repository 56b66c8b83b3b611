//! The kiosk's identity (its enrollment with a clinic server) and the sync
//! state the sync worker keeps between runs.
//!
//! The enrollment is stored once and read at every start. Replacing it is a
//! deliberate act, [`Store::reenroll`], never a side effect of a second save.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use url::Url;

use super::error::{StoreError, describe_json_error};
use super::{Store, parse_timestamp, timestamp};
use crate::domain::{ClinicId, KioskId};
use crate::protocol::{ClinicSettings, EnrollResponse};

/// Who this kiosk is, as the clinic server told it at enrollment.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The clinic server every request goes to.
    pub server_url: Url,
    /// This kiosk's id, recorded in audit rows and shown in the fleet view.
    pub kiosk_id: KioskId,
    /// The bearer token for every request; a secret, never printed.
    pub device_token: String,
    /// The server's Ed25519 pass-verification key, base64url without
    /// padding, exactly as received; passes are verified offline with it.
    pub pass_public_key: String,
    /// The clinic's settings: name, zone, currency, locations, payment.
    pub clinic: ClinicSettings,
    /// When the kiosk enrolled.
    pub enrolled_at: DateTime<Utc>,
}

impl Enrollment {
    /// The enrollment a successful `POST /api/v1/kiosk/enroll` describes.
    pub fn from_response(server_url: Url, response: &EnrollResponse, now: DateTime<Utc>) -> Self {
        Self {
            server_url,
            kiosk_id: KioskId(response.kiosk_id.clone()),
            device_token: response.device_token.clone(),
            pass_public_key: response.pass_public_key.clone(),
            clinic: response.clinic.clone(),
            enrolled_at: now,
        }
    }

    /// The clinic this kiosk serves; it sees no other clinic's data.
    pub fn clinic_id(&self) -> ClinicId {
        ClinicId(self.clinic.clinic_id.clone())
    }
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("server_url", &self.server_url.as_str())
            .field("kiosk_id", &self.kiosk_id)
            .field("device_token", &"<redacted>")
            .field("pass_public_key", &self.pass_public_key)
            .field("clinic", &self.clinic)
            .field("enrolled_at", &self.enrolled_at)
            .finish()
    }
}

impl Store {
    /// The kiosk's enrollment, or `None` before it has enrolled.
    pub fn enrollment(&self) -> Result<Option<Enrollment>, StoreError> {
        let row: Option<(String, String, String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT server_url, kiosk_id, device_token, pass_public_key, clinic_settings,
                        enrolled_at
                 FROM enrollment",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::sqlite("read the enrollment"))?;
        let Some((url, kiosk_id, device_token, pass_public_key, clinic, enrolled_at)) = row else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::CorruptRow {
            table: "enrollment",
            key: kiosk_id.clone(),
            reason,
        };
        let server_url = Url::parse(&url).map_err(|e| corrupt(format!("server URL: {e}")))?;
        let clinic: ClinicSettings = serde_json::from_str(&clinic)
            .map_err(|e| corrupt(format!("clinic settings: {}", describe_json_error(&e))))?;
        let enrolled_at = parse_timestamp(&enrolled_at, "enrollment", &kiosk_id)?;
        Ok(Some(Enrollment {
            server_url,
            kiosk_id: KioskId(kiosk_id),
            device_token,
            pass_public_key,
            clinic,
            enrolled_at,
        }))
    }

    /// Stores the kiosk's first enrollment. Fails with
    /// [`StoreError::AlreadyEnrolled`] if it is enrolled already; see
    /// [`Store::reenroll`].
    pub fn save_enrollment(&mut self, enrollment: &Enrollment) -> Result<(), StoreError> {
        const OP: &str = "save the enrollment";
        let tx = self.conn.transaction().map_err(StoreError::sqlite(OP))?;
        let existing: Option<String> = tx
            .query_row("SELECT kiosk_id FROM enrollment", [], |r| r.get(0))
            .optional()
            .map_err(StoreError::sqlite(OP))?;
        if let Some(kiosk_id) = existing {
            return Err(StoreError::AlreadyEnrolled { kiosk_id });
        }
        insert_enrollment(&tx, enrollment)?;
        tx.commit().map_err(StoreError::sqlite(OP))
    }

    /// Replaces the kiosk's identity, for example after IT re-enrolled it
    /// with a new one-time code.
    ///
    /// The cached schedule and its cursor are dropped, so the next pull is a
    /// full one under the new identity. When the clinic or the server
    /// changes, the kiosk's progress records are dropped too, and the call
    /// is refused while undelivered events remain: they belong to the old
    /// clinic and would be stranded.
    pub fn reenroll(&mut self, enrollment: &Enrollment) -> Result<(), StoreError> {
        const OP: &str = "re-enroll the kiosk";
        let tx = self.conn.transaction().map_err(StoreError::sqlite(OP))?;
        let previous: Option<(String, String)> = tx
            .query_row("SELECT clinic_id, server_url FROM enrollment", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(StoreError::sqlite(OP))?;
        let moved = previous.is_some_and(|(clinic, url)| {
            clinic != enrollment.clinic.clinic_id || url != enrollment.server_url.as_str()
        });
        if moved {
            let pending: i64 = tx
                .query_row(
                    "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND rejected_at IS NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(StoreError::sqlite(OP))?;
            if pending > 0 {
                return Err(StoreError::PendingEventsBlockReenroll {
                    pending: u64::try_from(pending).unwrap_or(0),
                });
            }
            tx.execute_batch("DELETE FROM appointment_progress; DELETE FROM patient_progress;")
                .map_err(StoreError::sqlite(OP))?;
        }
        tx.execute_batch(
            "DELETE FROM enrollment;
             DELETE FROM schedule_appointment;
             UPDATE sync_state SET schedule_cursor = '', schedule_applied_at = NULL;",
        )
        .map_err(StoreError::sqlite(OP))?;
        insert_enrollment(&tx, enrollment)?;
        tx.commit().map_err(StoreError::sqlite(OP))
    }

    /// The last time the kiosk completed a sync with the server, if ever.
    pub fn last_sync(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT last_sync_at FROM sync_state", [], |r| r.get(0))
            .map_err(StoreError::sqlite("read the last sync time"))?;
        text.map(|t| parse_timestamp(&t, "sync_state", "last_sync_at"))
            .transpose()
    }

    /// Records a completed sync with the server, for the heartbeat and the
    /// offline mark.
    pub fn set_last_sync(&mut self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sync_state SET last_sync_at = ?1",
                params![timestamp(at)],
            )
            .map_err(StoreError::sqlite("record the last sync time"))?;
        Ok(())
    }
}

fn insert_enrollment(
    conn: &rusqlite::Connection,
    enrollment: &Enrollment,
) -> Result<(), StoreError> {
    let clinic = serde_json::to_string(&enrollment.clinic).map_err(|e| StoreError::Encode {
        what: "the clinic settings",
        reason: describe_json_error(&e),
    })?;
    conn.execute(
        "INSERT INTO enrollment (singleton, server_url, kiosk_id, clinic_id, device_token,
                                 pass_public_key, clinic_settings, enrolled_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            enrollment.server_url.as_str(),
            enrollment.kiosk_id.as_str(),
            enrollment.clinic.clinic_id,
            enrollment.device_token,
            enrollment.pass_public_key,
            clinic,
            timestamp(enrollment.enrolled_at),
        ],
    )
    .map_err(StoreError::sqlite("save the enrollment"))?;
    Ok(())
}
