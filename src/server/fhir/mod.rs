//! The EHR connector: for each clinic with a `[clinic.fhir]` table, a
//! background task pulls the day's schedule from the EHR's FHIR R4 API and
//! drains the write-back outbox (arrivals, check-ins, approved demographics
//! and coverage changes).
//!
//! # Layout
//! - [`client`]: the FHIR REST client (search with paging, read, update
//!   with `If-Match`, conditional create), timeouts and credentials.
//! - [`auth`]: bearer tokens from a file or variable; SMART Backend
//!   Services tokens from a signed client assertion (RS384, ES384).
//! - [`mapping`]: pure FHIR JSON <-> schedule translation.
//! - [`pull`]: the schedule pull, written through `schedule::upsert`.
//! - [`writeback`]: the `fhir_outbox` queue and its drain.
//! - [`status`]: the staff endpoint and the `/metrics` lines.
//!
//! **Architecture invariants:** a kiosk never waits on the EHR (ingest
//! and approvals only insert an outbox row in their own transaction);
//! an EHR outage loses nothing (rows stay until written or failed for
//! good); logs carry resource ids and codes, never PHI or credentials.

pub mod auth;
pub mod client;
pub mod mapping;
pub mod pull;
pub mod status;
pub mod writeback;

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::{ClinicSettings, FhirSettings};
use crate::domain::ClinicId;
use crate::server::AppState;

pub use client::FhirClient;
pub use pull::PullSummary;
pub use status::EhrStatus;
pub use writeback::{DrainReport, WriteBack};

/// How often the outbox is looked at between pulls.
const DRAIN_EVERY: Duration = Duration::from_secs(2);
/// How soon a failed pull is tried again (or the poll interval, if shorter).
const PULL_RETRY: Duration = Duration::from_secs(60);

/// Why a connector operation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The clinic is not served here, or has no `[clinic.fhir]`.
    #[error("clinic {0} has no EHR connector")]
    NotConfigured(String),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(#[from] client::ClientError),
    /// The pull failed; nothing was written.
    #[error("pull: {0}")]
    Pull(#[from] pull::PullError),
    /// The outbox could not be drained.
    #[error("{0}")]
    WriteBack(#[from] writeback::WriteBackError),
}

/// The running connector tasks; dropping it stops them.
#[derive(Debug, Default)]
pub struct Connectors {
    /// One task per connected clinic.
    tasks: Vec<JoinHandle<()>>,
}

impl Connectors {
    /// How many clinics have a running connector.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no clinic has a connector.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Drop for Connectors {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts a connector task for every clinic with `[clinic.fhir]`.
pub fn spawn(state: &AppState) -> Connectors {
    let mut tasks = Vec::new();
    for clinic in &state.config().clinics {
        let Some(settings) = clinic.fhir.clone() else {
            continue;
        };
        let client = match FhirClient::new(&settings) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(clinic = %clinic.id, "EHR connector not started: {e}");
                continue;
            }
        };
        tracing::info!(clinic = %clinic.id, "EHR connector: {}", settings.summary());
        let state = state.clone();
        let clinic = clinic.clone();
        tasks.push(tokio::spawn(async move {
            run(state, clinic, settings, client).await;
        }));
    }
    Connectors { tasks }
}

/// One clinic's loop: pull when due, drain the outbox every few seconds.
async fn run(state: AppState, clinic: ClinicSettings, settings: FhirSettings, client: FhirClient) {
    let mut next_pull = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_pull {
            let wait = match pull::pull(&state, &clinic, &settings, &client).await {
                Ok(s) => {
                    tracing::info!(clinic = %clinic.id, appointments = s.appointments, upserted = s.upserted, removed = s.removed, skipped = s.skipped, "EHR pull done");
                    settings.poll_every
                }
                Err(e) => {
                    tracing::warn!(clinic = %clinic.id, "EHR pull failed: {e}");
                    record_pull_error(&state, &clinic.id, &e.to_string()).await;
                    settings.poll_every.min(PULL_RETRY)
                }
            };
            next_pull = tokio::time::Instant::now() + wait;
        }
        if settings.write_back
            && let Err(e) = writeback::drain(&state, &clinic, &settings, &client).await
        {
            tracing::warn!(clinic = %clinic.id, "EHR write-back drain failed: {e}");
        }
        tokio::time::sleep(DRAIN_EVERY).await;
    }
}

async fn record_pull_error(state: &AppState, clinic: &ClinicId, error: &str) {
    let cid = clinic.clone();
    let now = state.now();
    let error = error.to_string();
    if let Err(e) = state
        .db()
        .call(move |c| Ok(status::record_pull(c, &cid, now, Err(&error))?))
        .await
    {
        tracing::error!(clinic = %clinic, "recording the EHR pull error failed: {e}");
    }
}

fn connected(
    state: &AppState,
    clinic: &ClinicId,
) -> Result<(ClinicSettings, FhirSettings), ConnectorError> {
    let c = state
        .clinic(clinic)
        .ok_or_else(|| ConnectorError::NotConfigured(clinic.to_string()))?;
    let f = c
        .fhir
        .clone()
        .ok_or_else(|| ConnectorError::NotConfigured(clinic.to_string()))?;
    Ok((c.clone(), f))
}

/// Runs one pull for `clinic` now, recording its outcome; for the command
/// line and tests.
pub async fn pull_now(state: &AppState, clinic: &ClinicId) -> Result<PullSummary, ConnectorError> {
    let (c, f) = connected(state, clinic)?;
    let client = FhirClient::new(&f)?;
    match pull::pull(state, &c, &f, &client).await {
        Ok(s) => Ok(s),
        Err(e) => {
            record_pull_error(state, clinic, &e.to_string()).await;
            Err(e.into())
        }
    }
}

/// Drains `clinic`'s due write-backs now; for the command line and tests.
pub async fn drain_now(state: &AppState, clinic: &ClinicId) -> Result<DrainReport, ConnectorError> {
    let (c, f) = connected(state, clinic)?;
    let client = FhirClient::new(&f)?;
    Ok(writeback::drain(state, &c, &f, &client).await?)
}
