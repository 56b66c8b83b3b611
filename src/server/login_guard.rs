//! Staff sign-in abuse limits: a growing delay per client address and per
//! user name, a bound on concurrent password checks, and the alerts staff
//! see when sign-ins keep failing.
//!
//! Every attempt is counted as a failure *before* its password is checked,
//! in the same lock as the check that admits it, so a burst of parallel
//! guesses cannot all pass the limit; a correct password takes its count
//! back. A user name's delay does not lock its owner out: a correct
//! password from an address that has not failed for that user passes it.
//!
//! On SQLite the counts live in memory: a restart forgives, which is fine
//! for limits whose job is to make guessing slow. On PostgreSQL they live
//! in the database ([`crate::server::storage::pg::login_limits`]), so a
//! guesser spreading attempts over several replicas meets one limit; each
//! attempt's decision locks its address's and user name's rows. The
//! bound on concurrent password checks is per process either way: it
//! protects this process's CPU.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::storage::StorageError;
use super::storage::pg::PgStore;

/// Failures from one address before it is delayed.
pub const ADDRESS_FREE_FAILURES: u32 = 5;
/// Failures for one user name before it is delayed.
pub const USER_FREE_FAILURES: u32 = 5;
/// The longest delay, in seconds.
pub const MAX_DELAY_SECS: i64 = 15 * 60;
/// How long a quiet address or user name keeps its count, in seconds.
pub const FORGET_AFTER_SECS: i64 = 60 * 60;
/// Addresses remembered per user name as having failed for it.
pub const ADDRESSES_PER_USER: usize = 64;
/// Entries kept before stale ones are dropped.
const MAX_ENTRIES: usize = 10_000;
/// On PostgreSQL, stale rows are dropped once every this many attempts.
const PRUNE_EVERY: u64 = 64;

/// Why a sign-in attempt was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum LoginGuardError {
    /// Too many failures from the address or for the user name: none is
    /// admitted for this many seconds.
    #[error("too many failed sign-ins; try again in {0} s")]
    Delayed(u64),
    /// The shared counts could not be read or written.
    #[error("sign-in limits: {0}")]
    Storage(#[from] StorageError),
}

impl From<LoginGuardError> for ApiError {
    fn from(e: LoginGuardError) -> Self {
        match e {
            LoginGuardError::Delayed(retry_after_secs) => {
                ApiError::TooManyRequests { retry_after_secs }
            }
            LoginGuardError::Storage(e) => e.into(),
        }
    }
}

/// Where a sign-in comes from: an IP address, or `None` when the server
/// cannot tell (no socket address), which counts as one shared address.
pub type ClientIp = Option<IpAddr>;

/// Failures of one address or one user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strikes {
    /// Attempts that failed or are being checked.
    pub failures: u32,
    /// The last attempt.
    pub last: DateTime<Utc>,
    /// No attempt is admitted before this.
    pub until: DateTime<Utc>,
    /// Whether staff have been alerted for the current run of failures.
    pub alerted: bool,
}

impl Strikes {
    /// No failures yet, at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            failures: 0,
            last: now,
            until: now,
            alerted: false,
        }
    }

    fn stale(&self, now: DateTime<Utc>) -> bool {
        now >= self.until && now - self.last > Duration::seconds(FORGET_AFTER_SECS)
    }

    /// Forgets the failures when they are stale: no delay left, and quiet
    /// for [`FORGET_AFTER_SECS`].
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        if self.stale(now) {
            *self = Self::new(now);
        }
    }

    /// Seconds to wait, if delayed.
    fn wait(&self, now: DateTime<Utc>) -> Option<u64> {
        (now < self.until)
            .then(|| u64::try_from((self.until - now).num_seconds().max(1)).unwrap_or(1))
    }

    /// Counts one more failure and sets the delay it earns.
    fn strike(&mut self, now: DateTime<Utc>, free: u32) {
        self.failures += 1;
        self.last = now;
        if let Some(d) = delay(self.failures, free) {
            self.until = self.until.max(now + d);
        }
    }
}

/// The delay earned by `failures` when `free` are allowed: none below
/// `free`, then 1 s doubling with each failure up to [`MAX_DELAY_SECS`].
pub fn delay(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    let secs = 1i64.checked_shl(over.min(30)).unwrap_or(MAX_DELAY_SECS);
    Some(Duration::seconds(secs.min(MAX_DELAY_SECS)))
}

/// One user name's failures and the addresses they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStrikes {
    /// The failures.
    pub strikes: Strikes,
    /// The addresses that failed for it, up to [`ADDRESSES_PER_USER`].
    pub from: HashSet<ClientIp>,
}

impl UserStrikes {
    /// No failures yet, at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            strikes: Strikes::new(now),
            from: HashSet::new(),
        }
    }

    /// Forgets the failures and addresses when they are stale.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        if self.strikes.stale(now) {
            *self = Self::new(now);
        }
    }
}

/// Decides an attempt from `ip` given its address's and its user name's
/// (refreshed) strikes: the seconds to wait, or admitted and counted as
/// a failure of both. A delayed user name holds back only the addresses
/// that failed for it. Both backends decide through this one function.
pub fn admit(
    addr: &mut Strikes,
    user: &mut UserStrikes,
    ip: ClientIp,
    now: DateTime<Utc>,
) -> Result<(), u64> {
    if let Some(wait) = addr.wait(now) {
        return Err(wait);
    }
    if let Some(wait) = user.strikes.wait(now)
        && user.from.contains(&ip)
    {
        return Err(wait);
    }
    user.strikes.strike(now, USER_FREE_FAILURES);
    if user.from.len() < ADDRESSES_PER_USER {
        user.from.insert(ip);
    }
    addr.strike(now, ADDRESS_FREE_FAILURES);
    Ok(())
}

/// How an address is stored: the IP address, or `unknown`.
pub fn address_subject(ip: ClientIp) -> String {
    ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// The address [`address_subject`] stored, if it is one.
pub fn parse_address_subject(s: &str) -> Option<ClientIp> {
    if s == "unknown" {
        return Some(None);
    }
    s.parse().ok().map(Some)
}

/// What staff should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAlert {
    /// Repeated failed sign-ins for this user name.
    User(String),
    /// Repeated failed sign-ins from this address.
    Address(ClientIp),
}

impl LoginAlert {
    /// The alert's subject for the console and the audit, such as
    /// `user amy` or `address 203.0.113.9`.
    pub fn subject(&self) -> String {
        match self {
            Self::User(u) => format!("user {u}"),
            Self::Address(Some(ip)) => format!("address {ip}"),
            Self::Address(None) => "address unknown".to_string(),
        }
    }
}

/// An admitted attempt, already counted as a failure.
#[derive(Debug)]
pub struct Attempt {
    user: String,
    ip: ClientIp,
}

#[derive(Debug, Default)]
struct Tables {
    by_address: HashMap<ClientIp, Strikes>,
    by_user: HashMap<String, UserStrikes>,
}

/// Where the counts live.
#[derive(Debug)]
enum Counts {
    /// In this process (SQLite: one process serves the data).
    Memory(Mutex<Tables>),
    /// In PostgreSQL, shared by every replica.
    Shared {
        /// The database.
        store: PgStore,
        /// Attempts begun here, to drop stale rows now and then.
        begun: AtomicU64,
    },
}

/// The sign-in limits; one per server.
#[derive(Debug)]
pub struct LoginGuard {
    /// The failure counts.
    counts: Counts,
    /// One permit per password check in progress.
    checks: Arc<Semaphore>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::with_checks(cores())
    }
}

/// The cores this process may use: the bound on password checks.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

impl LoginGuard {
    /// Limits in memory allowing `checks` password checks at once.
    pub fn with_checks(checks: usize) -> Self {
        Self {
            counts: Counts::Memory(Mutex::new(Tables::default())),
            checks: Arc::new(Semaphore::new(checks.max(1))),
        }
    }

    /// Limits with the counts in PostgreSQL, shared by every replica, and
    /// one password check per core of this process at once.
    pub fn shared(store: PgStore) -> Self {
        Self {
            counts: Counts::Shared {
                store,
                begun: AtomicU64::new(0),
            },
            checks: Arc::new(Semaphore::new(cores())),
        }
    }

    /// The permits of concurrent password checks; tests hold them all.
    pub fn checks(&self) -> &Arc<Semaphore> {
        &self.checks
    }

    /// A permit for one password check, or `None` when all are in use.
    pub fn check_permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.checks).try_acquire_owned().ok()
    }

    /// Admits an attempt for `user` from `ip` and counts it as a failure,
    /// or says how many seconds to wait.
    pub async fn begin(
        &self,
        user: &str,
        ip: ClientIp,
        now: DateTime<Utc>,
    ) -> Result<Attempt, LoginGuardError> {
        match &self.counts {
            Counts::Memory(tables) => {
                begin_in_memory(tables, user, ip, now).map_err(LoginGuardError::Delayed)?
            }
            Counts::Shared { store, begun } => {
                if begun.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == 0 {
                    store.login_prune(now).await.map_err(StorageError::from)?;
                }
                store
                    .login_begin(user, ip, now)
                    .await
                    .map_err(StorageError::from)?
                    .map_err(LoginGuardError::Delayed)?;
            }
        }
        Ok(Attempt {
            user: user.to_string(),
            ip,
        })
    }

    /// The attempt was not checked after all (the server was busy): its
    /// count is taken back.
    pub async fn abandon(&self, attempt: Attempt) -> Result<(), LoginGuardError> {
        match &self.counts {
            Counts::Memory(tables) => {
                let mut t = tables.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(u) = t.by_user.get_mut(&attempt.user) {
                    u.strikes.failures = u.strikes.failures.saturating_sub(1);
                }
                if let Some(a) = t.by_address.get_mut(&attempt.ip) {
                    a.failures = a.failures.saturating_sub(1);
                }
            }
            Counts::Shared { store, .. } => store
                .login_abandon(&attempt.user, attempt.ip)
                .await
                .map_err(StorageError::from)?,
        }
        Ok(())
    }

    /// The password was right: the user name's failures are forgiven, and
    /// the address's count for this attempt is taken back.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), LoginGuardError> {
        match &self.counts {
            Counts::Memory(tables) => {
                let mut t = tables.lock().unwrap_or_else(PoisonError::into_inner);
                t.by_user.remove(&attempt.user);
                if let Some(a) = t.by_address.get_mut(&attempt.ip) {
                    a.failures = a.failures.saturating_sub(1);
                }
            }
            Counts::Shared { store, .. } => store
                .login_succeeded(&attempt.user, attempt.ip)
                .await
                .map_err(StorageError::from)?,
        }
        Ok(())
    }

    /// The password was wrong; returns the alerts this failure raises,
    /// once for each run of failures that reaches a delay (once across
    /// every replica on PostgreSQL).
    pub async fn failed(&self, attempt: &Attempt) -> Result<Vec<LoginAlert>, LoginGuardError> {
        let (user, address) = match &self.counts {
            Counts::Memory(tables) => failed_in_memory(tables, attempt),
            Counts::Shared { store, .. } => store
                .login_failed(&attempt.user, attempt.ip)
                .await
                .map_err(StorageError::from)?,
        };
        let mut alerts = Vec::new();
        if user {
            alerts.push(LoginAlert::User(attempt.user.clone()));
        }
        if address {
            alerts.push(LoginAlert::Address(attempt.ip));
        }
        Ok(alerts)
    }
}

/// [`LoginGuard::begin`] on the counts in memory.
fn begin_in_memory(
    tables: &Mutex<Tables>,
    user: &str,
    ip: ClientIp,
    now: DateTime<Utc>,
) -> Result<(), u64> {
    let mut t = tables.lock().unwrap_or_else(PoisonError::into_inner);
    if t.by_address.len() + t.by_user.len() > MAX_ENTRIES {
        t.by_address.retain(|_, s| !s.stale(now));
        t.by_user.retain(|_, u| !u.strikes.stale(now));
    }
    let Tables {
        by_address,
        by_user,
    } = &mut *t;
    let addr = by_address.entry(ip).or_insert_with(|| Strikes::new(now));
    addr.refresh(now);
    if let Some(wait) = addr.wait(now) {
        return Err(wait);
    }
    let entry = by_user
        .entry(user.to_string())
        .or_insert_with(|| UserStrikes::new(now));
    entry.refresh(now);
    admit(addr, entry, ip, now)
}

/// Marks the user name's and the address's runs of failures alerted when
/// they reached a delay and were not yet; says which it marked.
fn failed_in_memory(tables: &Mutex<Tables>, attempt: &Attempt) -> (bool, bool) {
    let mut t = tables.lock().unwrap_or_else(PoisonError::into_inner);
    let mut user = false;
    if let Some(u) = t.by_user.get_mut(&attempt.user)
        && u.strikes.failures >= USER_FREE_FAILURES
        && !u.strikes.alerted
    {
        u.strikes.alerted = true;
        user = true;
    }
    let mut address = false;
    if let Some(a) = t.by_address.get_mut(&attempt.ip)
        && a.failures >= ADDRESS_FREE_FAILURES
        && !a.alerted
    {
        a.alerted = true;
        address = true;
    }
    (user, address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> ClientIp {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_delay_starts_after_the_free_failures_and_doubles_to_a_cap() {
        assert_eq!(delay(4, 5), None);
        assert_eq!(delay(5, 5), Some(Duration::seconds(1)));
        assert_eq!(delay(7, 5), Some(Duration::seconds(4)));
        assert_eq!(delay(60, 5), Some(Duration::seconds(MAX_DELAY_SECS)));
        assert_eq!(delay(u32::MAX, 5), Some(Duration::seconds(MAX_DELAY_SECS)));
    }

    #[tokio::test]
    async fn attempts_in_flight_count_so_a_burst_cannot_pass_the_limit() {
        let g = LoginGuard::default();
        let now = Utc::now();
        // Nobody has finished checking a password yet.
        let mut admitted = 0;
        for _ in 0..32 {
            if g.begin("amy", ip("203.0.113.9"), now).await.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, ADDRESS_FREE_FAILURES);
    }

    #[tokio::test]
    async fn a_delayed_user_can_still_sign_in_from_a_new_address() {
        let g = LoginGuard::default();
        let now = Utc::now();
        for i in 0..USER_FREE_FAILURES {
            let a = g
                .begin("amy", ip(&format!("198.51.100.{i}")), now)
                .await
                .unwrap();
            let alerts = g.failed(&a).await.unwrap();
            assert_eq!(
                alerts.contains(&LoginAlert::User("amy".into())),
                i + 1 == USER_FREE_FAILURES
            );
        }
        // An address that failed for amy waits; a new one is let through.
        assert!(g.begin("amy", ip("198.51.100.0"), now).await.is_err());
        let a = g.begin("amy", ip("192.0.2.1"), now).await.unwrap();
        g.succeeded(a).await.unwrap();
        assert!(g.begin("amy", ip("198.51.100.0"), now).await.is_ok());
    }

    #[tokio::test]
    async fn an_address_waits_longer_with_each_failure_and_is_forgotten() {
        let g = LoginGuard::default();
        let mut now = Utc::now();
        let from = ip("203.0.113.9");
        let mut waits = Vec::new();
        for n in 0..12 {
            match g.begin(&format!("user{n}"), from, now).await {
                Ok(a) => {
                    let _ = g.failed(&a).await.unwrap();
                }
                Err(LoginGuardError::Delayed(wait)) => {
                    waits.push(wait);
                    now += Duration::seconds(i64::try_from(wait).unwrap());
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(waits, [1, 2, 4, 8]);
        now += Duration::seconds(FORGET_AFTER_SECS + 1);
        assert!(g.begin("someone", from, now).await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_attempt_is_not_counted() {
        let g = LoginGuard::default();
        let now = Utc::now();
        for _ in 0..10 {
            let a = g.begin("amy", None, now).await.unwrap();
            g.abandon(a).await.unwrap();
        }
        assert!(g.begin("amy", None, now).await.is_ok());
    }

    #[test]
    fn addresses_are_stored_and_read_back() {
        for ip in [None, ip("203.0.113.9"), ip("2001:db8::1")] {
            assert_eq!(parse_address_subject(&address_subject(ip)), Some(ip));
        }
        assert_eq!(parse_address_subject("nonsense"), None);
    }
}
