//! On PostgreSQL, which replica runs each clinic's connector: every replica
//! tries every few seconds to take the lease of each clinic it does not
//! run (`storage::pg::lease`), and starts the clinic's pull and drain when
//! it gets it. The leases live on one connection; when that connection
//! stops answering, the replica stops those connectors at once and starts
//! over with a new one, as another replica may have taken them.
//!
//! A replica that stops or dies closes its connection, which frees its
//! leases; the next replica to try takes each within [`LEASE_RETRY`]. A
//! write-back item it was sending is tried again once its claim runs out
//! (see `writeback`).

use std::collections::HashMap;
use std::time::Duration;

use super::{Connector, Connectors};
use crate::domain::ClinicId;
use crate::server::AppState;
use crate::server::storage::pg::PgStore;
use crate::server::storage::pg::lease::LeaseSession;

/// How often a replica tries to take the leases it does not hold, and
/// checks that its lease connection still answers.
pub const LEASE_RETRY: Duration = Duration::from_secs(5);
/// How long the lease connection may take to answer before the replica
/// gives up its connectors.
const ALIVE_WITHIN: Duration = Duration::from_secs(10);

/// This replica's name for the lease: the host, the process id and a
/// random instance tag (two servers in one process differ too).
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!(
        "clinic-server {host} pid {} #{}",
        std::process::id(),
        crate::server::db::random_token(3)
    )
}

/// Runs for as long as the server: holds what leases it can of
/// `connectors`' clinics, and runs the connectors of those it holds.
pub(crate) async fn run(state: AppState, pg: PgStore, connectors: Vec<Connector>, name: String) {
    let mut session: Option<LeaseSession> = None;
    // Dropping a clinic's `Connectors` stops its tasks.
    let mut running: HashMap<ClinicId, Connectors> = HashMap::new();
    loop {
        if let Some(s) = &session {
            let alive = tokio::time::timeout(ALIVE_WITHIN, s.alive())
                .await
                .unwrap_or(false);
            if !alive {
                tracing::warn!(
                    clinics = running.len(),
                    "EHR lease connection lost; stopping this replica's connectors"
                );
                running.clear();
                session = None;
            }
        }
        if session.is_none() {
            match pg.lease_session(&name).await {
                Ok(s) => session = Some(s),
                Err(e) => tracing::warn!("EHR lease connection: {e}"),
            }
        }
        if let Some(s) = &session
            && let Err(e) = take_free(&state, s, &connectors, &mut running).await
        {
            tracing::warn!("EHR lease: {e}");
            running.clear();
            session = None;
        }
        tokio::time::sleep(LEASE_RETRY).await;
    }
}

/// Tries each lease this replica does not hold, and starts the connector
/// of each it takes.
async fn take_free(
    state: &AppState,
    session: &LeaseSession,
    connectors: &[Connector],
    running: &mut HashMap<ClinicId, Connectors>,
) -> Result<(), crate::server::storage::pg::PgError> {
    for c in connectors {
        let id = &c.clinic.id;
        if running.contains_key(id) || !session.try_take(id).await? {
            continue;
        }
        tracing::info!(clinic = %id, replica = %session.name(), "EHR lease taken; this replica runs the clinic's connector");
        running.insert(id.clone(), c.start(state));
    }
    Ok(())
}
