//! Staff sessions on PostgreSQL, so a console signed in through one
//! replica stays signed in on every other.

use chrono::{DateTime, Duration, Utc};

use super::{PgError, PgStore, ms};
use crate::domain::ClinicId;
use crate::server::db::from_ms;
use crate::server::storage::staff::StoredSession;

impl PgStore {
    /// Stores a new session for `username` (dropping expired ones).
    pub async fn insert_session(
        &self,
        token_hash: &str,
        username: &str,
        now: DateTime<Utc>,
        lasts: Duration,
    ) -> Result<(), PgError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM staff_sessions WHERE expires_ms <= $1",
                &[&ms(now)],
            )
            .await?;
        client
            .execute(
                "INSERT INTO staff_sessions (token_hash, username, created_ms, expires_ms, last_used_ms)
                 VALUES ($1, $2, $3, $4, $3)",
                &[&token_hash, &username, &ms(now), &ms(now + lasts)],
            )
            .await?;
        Ok(())
    }

    /// The session with `token_hash` and its user's clinics, if it exists.
    pub async fn load_session(&self, token_hash: &str) -> Result<Option<StoredSession>, PgError> {
        let client = self.client().await?;
        let Some(row) = client
            .query_opt(
                "SELECT username, expires_ms, COALESCE(last_used_ms, created_ms) FROM staff_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?
        else {
            return Ok(None);
        };
        let username: String = row.get(0);
        let clinics = client
            .query(
                "SELECT clinic_id FROM staff_members WHERE username = $1 ORDER BY clinic_id",
                &[&username],
            )
            .await?
            .into_iter()
            .map(|r| ClinicId(r.get(0)))
            .collect();
        Ok(Some(StoredSession {
            username,
            expires_at: from_ms(row.get(1)),
            last_used_at: from_ms(row.get(2)),
            clinics,
        }))
    }

    /// Records that the session with `token_hash` was used at `now`.
    pub async fn touch_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<(), PgError> {
        self.client()
            .await?
            .execute(
                "UPDATE staff_sessions SET last_used_ms = $2 WHERE token_hash = $1",
                &[&token_hash, &ms(now)],
            )
            .await?;
        Ok(())
    }

    /// Ends the session with `token_hash`.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), PgError> {
        self.client()
            .await?
            .execute(
                "DELETE FROM staff_sessions WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?;
        Ok(())
    }

    /// Adds `username` with `password_hash` to `clinic`, or sets the hash
    /// when the membership exists; returns whether it was added.
    pub async fn add_member(
        &self,
        clinic: &ClinicId,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, PgError> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO staff_members (clinic_id, username, password_hash, created_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (clinic_id, username) DO UPDATE SET password_hash = EXCLUDED.password_hash
                 RETURNING (xmax = 0)",
                &[&clinic.as_str(), &username, &password_hash, &ms(now)],
            )
            .await?;
        Ok(row.get(0))
    }
}
