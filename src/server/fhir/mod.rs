//! The EHR connector: for each clinic with a `[clinic.fhir]` table, a
//! background task pulls the day's schedule from the EHR's FHIR R4 API and
//! drains the write-back outbox (arrivals, check-ins, approved demographics
//! and coverage changes, completed intake forms).
//!
//! # Layout
//! - [`client`]: the FHIR REST client (search with paging, read, update
//!   with `If-Match`, conditional create), timeouts and credentials.
//! - [`auth`]: bearer tokens from a file or variable; SMART Backend
//!   Services tokens from a signed client assertion (RS384, ES384).
//! - [`mapping`]: pure FHIR JSON <-> schedule translation.
//! - [`forms`]: pure translation of completed intake forms into a
//!   QuestionnaireResponse, a score Observation and a Consent.
//! - [`pull`]: the schedule pull, written through `schedule::upsert`.
//! - [`writeback`]: the `fhir_outbox` queue and its drain.
//! - [`status`]: the staff endpoint and the `/metrics` lines.
//! - [`lease`]: on PostgreSQL, which replica runs each clinic's connector.
//!
//! Each clinic runs two tasks: the pull on its timer, and the write-back
//! drain, woken by [`Wake`] as soon as a write-back is committed (and every
//! few seconds for retries that come due). SIGHUP reloads every
//! connector's token file or private key. Every read and write of the
//! connector's tables goes through the `Store` facade, so it runs the same
//! on SQLite and on PostgreSQL; on PostgreSQL one replica per clinic runs
//! it, the one holding the clinic's lease.
//!
//! **Architecture invariants:** a kiosk never waits on the EHR (ingest
//! and approvals only insert an outbox row in their own transaction);
//! an EHR outage loses nothing (rows stay until written or failed for
//! good); logs carry resource ids and codes, never PHI or credentials.

pub mod auth;
pub mod client;
pub mod forms;
pub mod lease;
pub mod mapping;
pub mod pull;
pub mod status;
pub mod writeback;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ClinicSettings, FhirSettings};
use crate::domain::ClinicId;
use crate::server::AppState;
use crate::server::storage::backend::Store;

pub use client::FhirClient;
pub use pull::PullSummary;
pub use status::EhrStatus;
pub use writeback::{DrainReport, WriteBack};

/// How often the outbox is looked at when nothing wakes the drain, for
/// retries that come due.
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

/// Wakes every clinic's write-back drain; rung after a commit that queued
/// a write-back. Cheap to clone; a wake while a drain runs is not lost.
#[derive(Debug, Clone)]
pub struct Wake(Arc<watch::Sender<u64>>);

impl Default for Wake {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Wake {
    /// Wakes the drains.
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later wake.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The running connector tasks; dropping it stops them.
#[derive(Debug, Default)]
pub struct Connectors {
    /// One task per connected clinic.
    tasks: Vec<JoinHandle<()>>,
    /// On PostgreSQL, the name this replica holds leases under.
    replica: Option<String>,
}

impl Connectors {
    /// On PostgreSQL, the name this replica takes clinics' leases under,
    /// as the EHR status's `lease_holder` shows it.
    pub fn replica(&self) -> Option<&str> {
        self.replica.as_deref()
    }

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

/// One clinic's connector, ready to start.
#[derive(Clone)]
pub(crate) struct Connector {
    /// The clinic.
    pub(crate) clinic: ClinicSettings,
    /// Its `[clinic.fhir]`.
    pub(crate) settings: FhirSettings,
    /// Its FHIR client, shared with the SIGHUP reload.
    pub(crate) client: Arc<FhirClient>,
}

impl Connector {
    /// Starts this clinic's pull and, when it writes back, its drain.
    pub(crate) fn start(&self, state: &AppState) -> Connectors {
        let mut tasks = Vec::new();
        if self.settings.write_back {
            let (state, c) = (state.clone(), self.clone());
            tasks.push(tokio::spawn(async move {
                drain_loop(state, c.clinic, c.settings, c.client).await;
            }));
        }
        let (state, c) = (state.clone(), self.clone());
        tasks.push(tokio::spawn(async move {
            pull_loop(state, c.clinic, c.settings, c.client).await;
        }));
        Connectors {
            tasks,
            replica: None,
        }
    }
}

/// Starts the connector tasks for every clinic with `[clinic.fhir]`, and
/// the SIGHUP listener that reloads their credentials. On SQLite this
/// process runs every clinic's connector; on PostgreSQL each clinic's runs
/// on the one replica that holds its lease ([`lease`]).
pub fn spawn(state: &AppState) -> Connectors {
    let mut tasks = Vec::new();
    let mut replica = None;
    let mut connectors = Vec::new();
    for clinic in &state.config().clinics {
        let Some(settings) = clinic.fhir.clone() else {
            continue;
        };
        let client = match FhirClient::new(&settings) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(clinic = %clinic.id, "EHR connector not started: {e}");
                continue;
            }
        };
        tracing::info!(clinic = %clinic.id, "EHR connector: {}", settings.summary());
        connectors.push(Connector {
            clinic: clinic.clone(),
            settings,
            client,
        });
    }
    let clients: Vec<(ClinicId, Arc<FhirClient>)> = connectors
        .iter()
        .map(|c| (c.clinic.id.clone(), c.client.clone()))
        .collect();
    match state.store() {
        Store::Sqlite(_) => {
            for c in &connectors {
                tasks.append(&mut c.start(state).tasks);
            }
        }
        Store::Postgres(pg) if !connectors.is_empty() => {
            let name = lease::replica_name();
            replica = Some(name.clone());
            tasks.push(tokio::spawn(lease::run(
                state.clone(),
                pg.clone(),
                connectors,
                name,
            )));
        }
        Store::Postgres(_) => {}
    }
    if !clients.is_empty() {
        match reload_on_hangup(clients) {
            Ok(task) => tasks.push(task),
            Err(e) => tracing::error!(
                "cannot listen for SIGHUP; EHR credentials reload only after a 401 or a restart: {e}"
            ),
        }
    }
    Connectors { tasks, replica }
}

/// Listens for SIGHUP (from now on) and reloads every client's token file
/// or private key on each; the task ends when dropped or aborted.
pub fn reload_on_hangup(
    clients: Vec<(ClinicId, Arc<FhirClient>)>,
) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(reload_each_hangup(hangups, clients)))
}

async fn reload_each_hangup(
    mut hangups: tokio::signal::unix::Signal,
    clients: Vec<(ClinicId, Arc<FhirClient>)>,
) {
    while hangups.recv().await.is_some() {
        for (clinic, client) in &clients {
            match client.credentials().reload().await {
                Ok(()) => tracing::info!(clinic = %clinic, "EHR credentials reloaded"),
                Err(e) => tracing::error!(clinic = %clinic, "EHR credentials reload failed: {e}"),
            }
        }
    }
}

/// One clinic's pull, when due.
async fn pull_loop(
    state: AppState,
    clinic: ClinicSettings,
    settings: FhirSettings,
    client: Arc<FhirClient>,
) {
    loop {
        let wait = match pull::pull(&state, &clinic, &settings, &client).await {
            Ok(s) => {
                tracing::info!(clinic = %clinic.id, appointments = s.appointments, upserted = s.upserted, removed = s.removed, held = s.held, skipped = s.skipped, "EHR pull done");
                settings.poll_every
            }
            Err(e) => {
                tracing::warn!(clinic = %clinic.id, "EHR pull failed: {e}");
                record_pull_error(&state, &clinic.id, &e.to_string()).await;
                settings.poll_every.min(PULL_RETRY)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// One clinic's write-back drain: at once when woken, else every few
/// seconds.
async fn drain_loop(
    state: AppState,
    clinic: ClinicSettings,
    settings: FhirSettings,
    client: Arc<FhirClient>,
) {
    let mut woken = state.ehr_wake().subscribe();
    loop {
        woken.mark_unchanged();
        if let Err(e) = writeback::drain(&state, &clinic, &settings, &client).await {
            tracing::warn!(clinic = %clinic.id, "EHR write-back drain failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(DRAIN_EVERY) => {}
            changed = woken.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(DRAIN_EVERY).await;
                }
            }
        }
    }
}

async fn record_pull_error(state: &AppState, clinic: &ClinicId, error: &str) {
    let now = state.now();
    if let Err(e) = state
        .store()
        .ehr_record_pull_error(clinic.clone(), now, error.to_string())
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
