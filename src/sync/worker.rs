//! The sync worker: a thread with its own tokio runtime, its own store
//! connection and its own HTTP client, which delivers the outbox, pulls the
//! schedule, sends heartbeats, backs off when the server is away, and
//! publishes a [`SyncStatus`] to the UI side.
//!
//! One round is: push every pending event, oldest first, in batches; pull
//! the schedule delta when due; record the sync; send a heartbeat when due.
//! Rounds run after every [`SyncNotifier::notify`], when a pull or
//! heartbeat falls due, and every `push_every` as a safety net.
//!
//! When a round fails the worker waits: with exponential backoff for an
//! unreachable, failing or slow server; for a fixed long time when the
//! server refused the token or the clinic, since retrying cannot help.
//! Notifications during a wait refresh the status but do not cut the wait
//! short, so a busy lobby cannot make the kiosk hammer a struggling server.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;
use uuid::Uuid;

use super::backoff::Backoff;
use super::client::{ExchangeError, ServerClient};
use super::forms::{usable_crisis_text, usable_forms};
use super::{SyncError, SyncSettings};
use crate::domain::{Appointment, AppointmentId};
use crate::protocol::{EventBatch, EventBatchResponse, EventStatus, Heartbeat, clock_is_off};
use crate::store::{ScheduleUpdate, Store, StoreError};

/// What the UI side shows about sync: the offline mark for staff and IT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// Whether the last round with the server worked; drives the offline mark.
    pub online: bool,
    /// The last completed push or pull, for IT; `None` before the first.
    pub last_sync: Option<DateTime<Utc>>,
    /// Events waiting in the outbox, so staff can see check-ins are queued.
    pub outbox_depth: u64,
    /// How long the oldest waiting event has waited; `None` when none waits.
    pub outbox_oldest_age: Option<Duration>,
    /// Why sync is not working, when it is not; `None` when all is well.
    pub problem: Option<SyncProblem>,
    /// Client event ids of this kiosk's help flags that staff resolved, from
    /// the latest heartbeat reply; reported once, then cleared.
    pub help_answered: Vec<Uuid>,
}

/// How often the worker sends a heartbeat while a patient waits for help,
/// so staff resolving the request from the console ends the wait soon.
pub const HELP_POLL_EVERY: Duration = Duration::from_secs(5);

/// Why sync is not working, in terms IT can act on. Carries no PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncProblem {
    /// The store holds no enrollment yet.
    NotEnrolled,
    /// The server refused the device token: revoked or unknown (401).
    TokenRevoked,
    /// The server does not serve the kiosk's clinic, or sent another
    /// clinic's schedule (403).
    ClinicMismatch,
    /// The worker's server URL is not the one the kiosk enrolled with, so
    /// the token is not sent there.
    ServerMismatch,
    /// No connection, or no answer in time; the transport's diagnostic.
    ServerUnreachable(String),
    /// The TLS handshake failed; the diagnostic.
    Tls(String),
    /// The server failed or is overloaded: this HTTP status (5xx, 408, 429).
    ServerFailed(u16),
    /// The server refused a request with this HTTP status (4xx).
    ServerRefused(u16),
    /// The server's reply did not follow the protocol; what was wrong.
    BadReply(String),
    /// The kiosk's own database failed; the store's message.
    Storage(String),
}

impl std::fmt::Display for SyncProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotEnrolled => f.write_str(
                "this kiosk is not enrolled; run `kiosk enroll --server URL --code CODE`",
            ),
            Self::TokenRevoked => f.write_str(
                "the clinic server refused this kiosk's token (revoked or unknown); enroll the \
                 kiosk again with a new code (`kiosk enroll --force`)",
            ),
            Self::ClinicMismatch => f.write_str(
                "the clinic server does not serve this kiosk's clinic; check the server's \
                 clinics, or enroll the kiosk again",
            ),
            Self::ServerMismatch => f.write_str(
                "the configured server URL is not the one this kiosk enrolled with; fix \
                 `server.url`, or enroll the kiosk with the new server",
            ),
            Self::ServerUnreachable(reason) => {
                write!(f, "cannot reach the clinic server: {reason}")
            }
            Self::Tls(reason) => write!(f, "TLS with the clinic server failed: {reason}"),
            Self::ServerFailed(status) => write!(f, "the clinic server answered HTTP {status}"),
            Self::ServerRefused(status) => {
                write!(f, "the clinic server refused a request with HTTP {status}")
            }
            Self::BadReply(reason) => {
                write!(f, "the clinic server's reply was not understood: {reason}")
            }
            Self::Storage(reason) => write!(f, "the kiosk's database failed: {reason}"),
        }
    }
}

/// Why one round failed; decides how the worker waits.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The store holds no enrollment.
    #[error("not enrolled")]
    NotEnrolled,
    /// The enrollment names another server than the settings.
    #[error("enrolled with another server")]
    ServerMismatch,
    /// An exchange with the server failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The wake-up and stop signals shared by the handle, the notifiers and the
/// worker thread.
#[derive(Debug, Default)]
struct Signals {
    /// Woken after each local commit; a wake-up with nobody waiting is kept
    /// (one permit), so none is lost and many coalesce.
    wake: Notify,
    /// Woken once, to stop.
    stop: Notify,
    /// Set before `stop` is woken, for the checks between awaits.
    stopping: AtomicBool,
    /// Set while the kiosk shows "someone is coming": heartbeats then go
    /// every [`HELP_POLL_EVERY`].
    help_waiting: AtomicBool,
}

/// Wakes the worker after a local commit. Cheap to clone; never blocks.
#[derive(Debug, Clone)]
pub struct SyncNotifier {
    /// Shared with the worker.
    signals: Arc<Signals>,
}

impl SyncNotifier {
    /// Asks the worker to push the outbox now. Returns at once; calls made
    /// while the worker is busy coalesce into one more round.
    pub fn notify(&self) {
        self.signals.wake.notify_one();
    }

    /// Tells the worker whether a patient waits for help, so it asks the
    /// server for answers every [`HELP_POLL_EVERY`]. Returns at once.
    pub fn set_help_waiting(&self, waiting: bool) {
        let was = self.signals.help_waiting.swap(waiting, Ordering::SeqCst);
        if waiting && !was {
            self.signals.wake.notify_one();
        }
    }
}

/// The handle on the running worker thread. Dropping it stops the worker
/// too, as [`SyncWorker::shutdown`] does.
#[derive(Debug)]
pub struct SyncWorker {
    /// Shared with the thread and every notifier.
    signals: Arc<Signals>,
    /// The worker thread; taken when it is joined.
    thread: Option<JoinHandle<()>>,
}

impl SyncWorker {
    /// Spawns the worker thread with its own tokio runtime, its own store
    /// connection (opened here from `db_path` and `key_path`, so a store
    /// problem is reported now), and its own HTTP client. `on_status` is
    /// called on the worker thread whenever the status may have changed;
    /// it must return quickly (post the status to the UI thread).
    pub fn spawn(
        settings: SyncSettings,
        db_path: PathBuf,
        key_path: PathBuf,
        on_status: impl Fn(SyncStatus) + Send + 'static,
    ) -> Result<SyncWorker, SyncError> {
        let client = ServerClient::new(&settings)?;
        let store = Store::open(&db_path, &key_path, Utc::now())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SyncError::Runtime)?;
        let signals = Arc::new(Signals::default());
        let worker = Worker {
            backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
            settings,
            store,
            client,
            signals: Arc::clone(&signals),
            on_status: Box::new(on_status),
            online: false,
            problem: None,
            outbox: (0, None),
            next_pull: Instant::now(),
            next_heartbeat: Instant::now(),
            last_heartbeat: None,
            clock_skew_secs: None,
            help_answered: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("checkin-sync".into())
            .spawn(move || runtime.block_on(worker.run()))
            .map_err(SyncError::Runtime)?;
        Ok(SyncWorker {
            signals,
            thread: Some(thread),
        })
    }

    /// A notifier for the UI side to call after each local commit.
    pub fn notifier(&self) -> SyncNotifier {
        SyncNotifier {
            signals: Arc::clone(&self.signals),
        }
    }

    /// Stops the worker and waits for its thread. An exchange in flight is
    /// abandoned; that is safe, since delivery is idempotent.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.signals.stopping.store(true, Ordering::SeqCst);
        self.signals.stop.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the sync worker thread panicked");
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What to do after a round.
#[derive(Debug)]
enum Next {
    /// Wait for a notification or the next timer.
    Idle,
    /// Retry after this backoff delay.
    Retry(Duration),
    /// Leave the server alone until the blocked-retry time has passed or
    /// the enrollment (as fingerprinted) changes.
    Blocked(Option<(String, String)>),
}

/// The worker's state, owned by its thread.
struct Worker {
    /// Link and timing settings.
    settings: SyncSettings,
    /// The worker's own connection to the kiosk store.
    store: Store,
    /// The worker's own HTTP client.
    client: ServerClient,
    /// Wake-up and stop.
    signals: Arc<Signals>,
    /// Where the status goes.
    on_status: Box<dyn Fn(SyncStatus) + Send>,
    /// Delays after consecutive transient failures.
    backoff: Backoff,
    /// Whether the last round worked.
    online: bool,
    /// Why the last round failed.
    problem: Option<SyncProblem>,
    /// The last outbox depth and oldest age read, kept for the status if a
    /// later read fails.
    outbox: (u64, Option<Duration>),
    /// When the next schedule pull is due.
    next_pull: Instant,
    /// When the next heartbeat is due.
    next_heartbeat: Instant,
    /// When the last heartbeat was answered.
    last_heartbeat: Option<Instant>,
    /// The kiosk's clock minus the server's, from the last heartbeat reply.
    clock_skew_secs: Option<i64>,
    /// Answered help flags from the last heartbeat reply, not yet published.
    help_answered: Vec<Uuid>,
}

impl Worker {
    async fn run(mut self) {
        tracing::info!(server = %self.settings.server_url, "sync worker started");
        self.publish();
        let signals = Arc::clone(&self.signals);
        loop {
            if signals.stopping.load(Ordering::SeqCst) {
                break;
            }
            let outcome = tokio::select! {
                biased;
                () = signals.stop.notified() => break,
                r = self.round() => r,
            };
            let next = self.judge(outcome);
            self.purge_on_a_new_day();
            self.publish();
            let carry_on = match next {
                Next::Idle => self.wait_idle().await,
                Next::Retry(delay) => self.wait_retry(delay).await,
                Next::Blocked(fingerprint) => self.wait_blocked(fingerprint).await,
            };
            if !carry_on {
                break;
            }
        }
        tracing::info!("sync worker stopped");
    }

    /// One round: push, pull if due, record the sync, heartbeat if due.
    async fn round(&mut self) -> Result<(), RoundError> {
        let enrollment = self.store.enrollment()?.ok_or(RoundError::NotEnrolled)?;
        if !same_server(&enrollment.server_url, &self.settings.server_url) {
            return Err(RoundError::ServerMismatch);
        }
        let token = enrollment.device_token;
        let mut synced = self.push_all(&token).await?;
        let started = Instant::now();
        if started >= self.next_pull {
            self.pull(&token).await?;
            self.next_pull = Instant::now() + self.settings.schedule_pull_every;
            synced = true;
        }
        if synced {
            self.store.set_last_sync(Utc::now())?;
        }
        if started >= self.heartbeat_due() {
            self.heartbeat(&token).await?;
            self.next_heartbeat = Instant::now() + self.settings.heartbeat_every;
        }
        Ok(())
    }

    /// Pushes every pending event, oldest first. Returns whether anything
    /// was exchanged.
    async fn push_all(&mut self, token: &str) -> Result<bool, RoundError> {
        let mut limit = self.settings.push_batch_size.max(1);
        let mut exchanged = false;
        loop {
            let items = self.store.pending(limit)?;
            let Some(first) = items.first() else {
                return Ok(exchanged);
            };
            let first_id = first.envelope.id;
            let batch = EventBatch {
                events: items.iter().map(|i| i.envelope.clone()).collect(),
            };
            match self.client.push(token, &batch).await {
                Ok(reply) => {
                    self.settle_batch(&batch, reply)?;
                    exchanged = true;
                }
                // The batch as a whole was refused as too large or
                // malformed: halve it to find the event at fault.
                Err(ExchangeError::TooLarge | ExchangeError::Refused { status: 422, .. })
                    if items.len() > 1 =>
                {
                    limit = items.len() / 2;
                    tracing::debug!(limit, "event batch refused; sending smaller batches");
                }
                // One event the server will never take as it is: record it
                // as rejected so it does not block the events behind it.
                Err(e @ (ExchangeError::TooLarge | ExchangeError::Refused { status: 422, .. })) => {
                    self.store
                        .mark_rejected(first_id, &e.to_string(), Utc::now())?;
                    tracing::warn!(event_id = %first_id, "the server refused an event for good; recorded as rejected");
                    exchanged = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records the server's verdict on each event of `batch`.
    fn settle_batch(
        &mut self,
        batch: &EventBatch,
        reply: EventBatchResponse,
    ) -> Result<(), RoundError> {
        let matches = reply.results.len() == batch.events.len()
            && reply
                .results
                .iter()
                .zip(&batch.events)
                .all(|(r, e)| r.id == e.id);
        if !matches {
            return Err(ExchangeError::BadReply(
                "the event results do not match the events sent".into(),
            )
            .into());
        }
        let now = Utc::now();
        let delivered: Vec<Uuid> = reply
            .results
            .iter()
            .filter(|r| matches!(r.status, EventStatus::Accepted | EventStatus::Duplicate))
            .map(|r| r.id)
            .collect();
        self.store.mark_delivered(&delivered, now)?;
        let mut rejected = 0usize;
        for r in reply
            .results
            .iter()
            .filter(|r| r.status == EventStatus::Rejected)
        {
            let reason = r.reason.as_deref().unwrap_or("rejected by the server");
            self.store.mark_rejected(r.id, reason, now)?;
            tracing::warn!(event_id = %r.id, "the server rejected an event; it will not be sent again");
            rejected += 1;
        }
        let duplicate = reply
            .results
            .iter()
            .filter(|r| r.status == EventStatus::Duplicate)
            .count();
        tracing::debug!(
            delivered = delivered.len(),
            duplicate,
            rejected,
            "event batch acknowledged"
        );
        Ok(())
    }

    /// Pulls the schedule delta since the stored cursor and applies it in
    /// one transaction.
    async fn pull(&mut self, token: &str) -> Result<(), RoundError> {
        let cursor = self.store.cursor()?;
        let since = (!cursor.is_empty()).then_some(cursor.as_str());
        let reply = self.client.pull(token, since).await?;
        let mut upserts = Vec::with_capacity(reply.upserts.len());
        let mut forms_due = Vec::with_capacity(reply.upserts.len());
        let forms = usable_forms(reply.forms);
        let crisis_text = reply.crisis_text.and_then(usable_crisis_text);
        for wire in reply.upserts {
            let id = wire.id.clone();
            let due = wire.forms_due.clone();
            match Appointment::try_from(wire) {
                Ok(a) => {
                    upserts.push(a);
                    forms_due.push(due);
                }
                // One bad record must not freeze the whole schedule.
                Err(e) => {
                    tracing::warn!(appointment_id = %id, error = %e, "skipped an appointment the kiosk cannot use");
                }
            }
        }
        let removals: Vec<AppointmentId> = reply.removals.into_iter().map(AppointmentId).collect();
        self.store.apply_update(
            &ScheduleUpdate {
                full: reply.full,
                upserts: &upserts,
                forms_due: &forms_due,
                removals: &removals,
                forms: &forms,
                crisis_text: crisis_text.as_ref(),
                cursor: &reply.cursor,
            },
            Utc::now(),
        )?;
        if reply.full || !upserts.is_empty() || !removals.is_empty() {
            tracing::debug!(
                full = reply.full,
                upserts = upserts.len(),
                removals = removals.len(),
                "schedule applied"
            );
        }
        Ok(())
    }

    /// Reports version, outbox and last sync. A heartbeat the server
    /// refuses as malformed is logged and does not stop sync.
    async fn heartbeat(&mut self, token: &str) -> Result<(), RoundError> {
        let stats = self.store.stats(Utc::now())?;
        let hb = Heartbeat {
            app_version: self.settings.app_version.trim().to_string(),
            outbox_depth: stats.depth,
            outbox_oldest_age_secs: stats.oldest_age.map(|a| a.as_secs()),
            last_sync_at: self.store.last_sync()?,
            online: true,
            clock_skew_secs: self.clock_skew_secs,
        };
        let reply = self.client.heartbeat_measuring_clock(token, &hb).await;
        // Answered or refused, the next help poll waits its turn.
        self.last_heartbeat = Some(Instant::now());
        match reply {
            Ok((skew, help_answered)) => {
                self.help_answered = help_answered;
                let was_off = self.clock_skew_secs.is_some_and(clock_is_off);
                if clock_is_off(skew) && !was_off {
                    tracing::warn!(
                        skew_secs = skew,
                        "this kiosk's clock is off the server's; appointment windows and passes \
                         are judged by it (check time synchronisation)"
                    );
                }
                self.clock_skew_secs = Some(skew);
                Ok(())
            }
            Err(ExchangeError::Refused { status, .. }) => {
                tracing::warn!(status, "the server refused the heartbeat");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// When the next heartbeat is due: on the regular timer, or every
    /// [`HELP_POLL_EVERY`] while a patient waits for help.
    fn heartbeat_due(&self) -> Instant {
        if !self.signals.help_waiting.load(Ordering::SeqCst) {
            return self.next_heartbeat;
        }
        let soon = self
            .last_heartbeat
            .map_or_else(Instant::now, |at| at + HELP_POLL_EVERY);
        self.next_heartbeat.min(soon)
    }

    /// Turns a round's outcome into the status and what to do next.
    fn judge(&mut self, outcome: Result<(), RoundError>) -> Next {
        let err = match outcome {
            Ok(()) => {
                if !self.online {
                    tracing::info!("in sync with the clinic server");
                }
                self.online = true;
                self.problem = None;
                self.backoff.reset();
                return Next::Idle;
            }
            Err(e) => e,
        };
        let retry = |b: &mut Backoff| Next::Retry(b.next_delay());
        let (problem, next) = match err {
            RoundError::NotEnrolled => (SyncProblem::NotEnrolled, self.blocked()),
            RoundError::ServerMismatch => (SyncProblem::ServerMismatch, self.blocked()),
            RoundError::Exchange(ExchangeError::Unauthorized(_)) => {
                (SyncProblem::TokenRevoked, self.blocked())
            }
            RoundError::Exchange(ExchangeError::Forbidden(_))
            | RoundError::Store(StoreError::ForeignClinic { .. }) => {
                (SyncProblem::ClinicMismatch, self.blocked())
            }
            RoundError::Exchange(ExchangeError::Timeout) => (
                SyncProblem::ServerUnreachable(format!(
                    "no answer within {} ms",
                    self.settings.request_timeout.as_millis()
                )),
                retry(&mut self.backoff),
            ),
            RoundError::Exchange(ExchangeError::Unreachable(reason)) => (
                SyncProblem::ServerUnreachable(reason),
                retry(&mut self.backoff),
            ),
            RoundError::Exchange(ExchangeError::Tls(reason)) => {
                (SyncProblem::Tls(reason), retry(&mut self.backoff))
            }
            RoundError::Exchange(ExchangeError::ServerFailed(status)) => {
                (SyncProblem::ServerFailed(status), retry(&mut self.backoff))
            }
            RoundError::Exchange(ExchangeError::Refused { status, .. }) => {
                (SyncProblem::ServerRefused(status), retry(&mut self.backoff))
            }
            RoundError::Exchange(ExchangeError::TooLarge) => {
                (SyncProblem::ServerRefused(413), retry(&mut self.backoff))
            }
            RoundError::Exchange(ExchangeError::BadReply(reason)) => {
                (SyncProblem::BadReply(reason), retry(&mut self.backoff))
            }
            RoundError::Store(e) => (
                SyncProblem::Storage(e.to_string()),
                retry(&mut self.backoff),
            ),
        };
        if self.problem.as_ref() != Some(&problem) {
            tracing::warn!(%problem, "sync is not working");
        }
        self.online = false;
        self.problem = Some(problem);
        next
    }

    fn blocked(&self) -> Next {
        Next::Blocked(self.fingerprint())
    }

    /// The enrollment's token and server, to notice a re-enrollment while
    /// blocked. Kept in memory only; never logged.
    fn fingerprint(&self) -> Option<(String, String)> {
        match self.store.enrollment() {
            Ok(e) => e.map(|e| (e.device_token, e.server_url.to_string())),
            Err(_) => None,
        }
    }

    /// Idle: until a notification, the next pull or heartbeat, or the
    /// push safety net. False when stopping.
    async fn wait_idle(&mut self) -> bool {
        let signals = Arc::clone(&self.signals);
        let deadline = self
            .next_pull
            .min(self.heartbeat_due())
            .min(Instant::now() + self.settings.push_every);
        tokio::select! {
            biased;
            () = signals.stop.notified() => false,
            () = signals.wake.notified() => true,
            () = tokio::time::sleep_until(deadline) => true,
        }
    }

    /// Backing off: until `delay` has passed. Notifications refresh the
    /// status (the outbox grew) without cutting the wait short.
    async fn wait_retry(&mut self, delay: Duration) -> bool {
        let signals = Arc::clone(&self.signals);
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                () = signals.stop.notified() => return false,
                () = tokio::time::sleep_until(until) => return true,
                () = signals.wake.notified() => self.publish(),
            }
        }
    }

    /// Blocked: no requests until `blocked_retry` has passed, unless the
    /// enrollment changes (the kiosk was enrolled or re-enrolled), which is
    /// checked locally now and then.
    async fn wait_blocked(&mut self, fingerprint: Option<(String, String)>) -> bool {
        let signals = Arc::clone(&self.signals);
        let until = Instant::now() + self.settings.blocked_retry;
        loop {
            let tick = until.min(Instant::now() + self.settings.schedule_pull_every);
            tokio::select! {
                biased;
                () = signals.stop.notified() => return false,
                () = tokio::time::sleep_until(tick) => {}
                () = signals.wake.notified() => {}
            }
            if Instant::now() >= until || self.fingerprint() != fingerprint {
                return true;
            }
            self.publish();
        }
    }

    /// Purges past days from the store when the clinic's day has changed,
    /// online or not (see [`Store::purge_on_a_new_day`]).
    fn purge_on_a_new_day(&mut self) {
        match self.store.purge_on_a_new_day(Utc::now()) {
            Ok(Some(report)) if report.appointments + report.progress > 0 => {
                tracing::info!(
                    appointments = report.appointments,
                    progress = report.progress,
                    "past days purged from the cache"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot purge past days"),
        }
    }

    /// Sends the current status to the UI side.
    fn publish(&mut self) {
        let now = Utc::now();
        match self.store.stats(now) {
            Ok(s) => self.outbox = (s.depth, s.oldest_age),
            Err(e) => tracing::warn!(error = %e, "cannot measure the outbox"),
        }
        let last_sync = self.store.last_sync().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the last sync time");
            None
        });
        (self.on_status)(SyncStatus {
            online: self.online,
            last_sync,
            outbox_depth: self.outbox.0,
            outbox_oldest_age: self.outbox.1,
            problem: self.problem.clone(),
            help_answered: std::mem::take(&mut self.help_answered),
        });
    }
}

/// Whether two server URLs name the same server (a trailing slash aside).
fn same_server(a: &url::Url, b: &url::Url) -> bool {
    a.as_str().trim_end_matches('/') == b.as_str().trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_advice_without_secrets() {
        assert!(SyncProblem::TokenRevoked.to_string().contains("enroll"));
        assert!(
            SyncProblem::NotEnrolled
                .to_string()
                .contains("kiosk enroll")
        );
        assert_eq!(
            SyncProblem::ServerFailed(503).to_string(),
            "the clinic server answered HTTP 503"
        );
    }

    #[test]
    fn a_trailing_slash_is_the_same_server() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(same_server(
            &u("https://a.example.org"),
            &u("https://a.example.org/")
        ));
        assert!(same_server(
            &u("https://a.example.org/x/"),
            &u("https://a.example.org/x")
        ));
        assert!(!same_server(
            &u("https://a.example.org"),
            &u("https://b.example.org")
        ));
        assert!(!same_server(
            &u("https://a.example.org"),
            &u("http://a.example.org")
        ));
    }
}
