//! Which replica runs a clinic's EHR connector: a lease per clinic, held as
//! a PostgreSQL session advisory lock (`pg_try_advisory_lock`) on one
//! connection taken out of the pool for good, the replica's
//! [`LeaseSession`]. A session lock belongs to its connection, so when the
//! replica stops or dies, its connection closes and PostgreSQL releases
//! every lease it held; another replica takes them on its next try.
//!
//! The session's connection names the replica (`application_name`), so
//! [`holder`] can say who holds a clinic's lease from `pg_locks`.

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};

use super::{PgError, PgStore};
use crate::domain::ClinicId;
use crate::server::storage::StorageError;

/// The advisory lock key of `clinic`'s lease: 64 bits of a hash of the
/// clinic id, apart from every other lock key the server uses.
pub fn key(clinic: &ClinicId) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"checkin-kiosk EHR connector lease\0")
        .chain_update(clinic.as_str().as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The connection a replica holds its leases on; dropping it closes the
/// connection, which releases them all.
pub struct LeaseSession {
    /// The connection, no longer the pool's.
    client: deadpool_postgres::ClientWrapper,
    /// The replica's name, as `application_name` shows it.
    name: String,
}

impl std::fmt::Debug for LeaseSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseSession")
            .field("name", &self.name)
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

/// The longest `application_name` PostgreSQL keeps.
const NAME_MAX: usize = 63;

impl PgStore {
    /// Takes a connection out of the pool for good and names it `name`
    /// (printable ASCII, cut to 63 bytes), for holding leases. TCP
    /// keepalives are set short, so the database notices a replica that
    /// vanished without closing its connection within about 30 s.
    pub async fn lease_session(&self, name: &str) -> Result<LeaseSession, PgError> {
        let object = self.client().await?;
        let client = deadpool_postgres::Object::take(object);
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(NAME_MAX)
            .collect();
        client
            .execute("SELECT set_config('application_name', $1, false)", &[&name])
            .await?;
        client
            .batch_execute(
                "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;
                 SET tcp_keepalives_count = 3",
            )
            .await?;
        Ok(LeaseSession { client, name })
    }
}

impl LeaseSession {
    /// The replica's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes `clinic`'s lease if no session holds it; true when this one
    /// does now (or did already).
    pub async fn try_take(&self, clinic: &ClinicId) -> Result<bool, PgError> {
        let row = self
            .client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key(clinic)])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Whether the connection still answers; a session that does not has
    /// lost its leases, or soon will.
    pub async fn alive(&self) -> bool {
        !self.client.is_closed() && self.client.simple_query("SELECT 1").await.is_ok()
    }
}

/// The name of the replica that holds `clinic`'s lease, if one does.
pub async fn holder(
    c: &impl GenericClient,
    clinic: &ClinicId,
) -> Result<Option<String>, StorageError> {
    // pg_locks shows a bigint key as its high and low 32 bits.
    let k = key(clinic).cast_unsigned();
    let high = i64::try_from(k >> 32).unwrap_or_default();
    let low = i64::try_from(k & 0xffff_ffff).unwrap_or_default();
    let row = c
        .query_opt(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.classid::bigint = $1 AND l.objid::bigint = $2",
            &[&high, &low],
        )
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_clinic_has_its_own_stable_key() {
        let north = key(&ClinicId::from("north"));
        assert_eq!(north, key(&ClinicId::from("north")));
        assert_ne!(north, key(&ClinicId::from("south")));
        assert_ne!(north, key(&ClinicId::from("north ")));
    }
}
