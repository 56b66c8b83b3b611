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
//! Counts live in memory: a restart forgives, which is fine for limits
//! whose job is to make guessing slow.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Failures from one address before it is delayed.
pub const ADDRESS_FREE_FAILURES: u32 = 5;
/// Failures for one user name before it is delayed.
pub const USER_FREE_FAILURES: u32 = 5;
/// The longest delay, in seconds.
pub const MAX_DELAY_SECS: i64 = 15 * 60;
/// How long a quiet address or user name keeps its count, in seconds.
pub const FORGET_AFTER_SECS: i64 = 60 * 60;
/// Addresses remembered per user name as having failed for it.
const ADDRESSES_PER_USER: usize = 64;
/// Entries kept before stale ones are dropped.
const MAX_ENTRIES: usize = 10_000;

/// Where a sign-in comes from: an IP address, or `None` when the server
/// cannot tell (no socket address), which counts as one shared address.
pub type ClientIp = Option<IpAddr>;

/// Failures of one address or one user name.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    /// Attempts that failed or are being checked.
    failures: u32,
    /// The last attempt.
    last: DateTime<Utc>,
    /// No attempt is admitted before this.
    until: DateTime<Utc>,
    /// Whether staff have been alerted for the current run of failures.
    alerted: bool,
}

impl Strikes {
    fn new(now: DateTime<Utc>) -> Self {
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
#[derive(Debug)]
struct UserStrikes {
    strikes: Strikes,
    from: HashSet<ClientIp>,
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

/// The sign-in limits; one per server.
#[derive(Debug)]
pub struct LoginGuard {
    tables: Mutex<Tables>,
    /// One permit per password check in progress.
    checks: Arc<Semaphore>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_checks(cores)
    }
}

impl LoginGuard {
    /// Limits allowing `checks` password checks at once.
    pub fn with_checks(checks: usize) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            checks: Arc::new(Semaphore::new(checks.max(1))),
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
    pub fn begin(&self, user: &str, ip: ClientIp, now: DateTime<Utc>) -> Result<Attempt, u64> {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if t.by_address.len() + t.by_user.len() > MAX_ENTRIES {
            t.by_address.retain(|_, s| !s.stale(now));
            t.by_user.retain(|_, u| !u.strikes.stale(now));
        }
        let addr = t.by_address.entry(ip).or_insert_with(|| Strikes::new(now));
        if addr.stale(now) {
            *addr = Strikes::new(now);
        }
        if let Some(wait) = addr.wait(now) {
            return Err(wait);
        }
        let entry = t
            .by_user
            .entry(user.to_string())
            .or_insert_with(|| UserStrikes {
                strikes: Strikes::new(now),
                from: HashSet::new(),
            });
        if entry.strikes.stale(now) {
            entry.strikes = Strikes::new(now);
            entry.from.clear();
        }
        if let Some(wait) = entry.strikes.wait(now)
            && entry.from.contains(&ip)
        {
            return Err(wait);
        }
        entry.strikes.strike(now, USER_FREE_FAILURES);
        if entry.from.len() < ADDRESSES_PER_USER {
            entry.from.insert(ip);
        }
        if let Some(addr) = t.by_address.get_mut(&ip) {
            addr.strike(now, ADDRESS_FREE_FAILURES);
        }
        Ok(Attempt {
            user: user.to_string(),
            ip,
        })
    }

    /// The attempt was not checked after all (the server was busy): its
    /// count is taken back.
    pub fn abandon(&self, attempt: Attempt) {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(u) = t.by_user.get_mut(&attempt.user) {
            u.strikes.failures = u.strikes.failures.saturating_sub(1);
        }
        if let Some(a) = t.by_address.get_mut(&attempt.ip) {
            a.failures = a.failures.saturating_sub(1);
        }
    }

    /// The password was right: the user name's failures are forgiven, and
    /// the address's count for this attempt is taken back.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        t.by_user.remove(&attempt.user);
        if let Some(a) = t.by_address.get_mut(&attempt.ip) {
            a.failures = a.failures.saturating_sub(1);
        }
    }

    /// The password was wrong; returns the alerts this failure raises,
    /// once for each run of failures that reaches a delay.
    pub fn failed(&self, attempt: &Attempt) -> Vec<LoginAlert> {
        let mut t = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        let mut alerts = Vec::new();
        if let Some(u) = t.by_user.get_mut(&attempt.user)
            && u.strikes.failures >= USER_FREE_FAILURES
            && !u.strikes.alerted
        {
            u.strikes.alerted = true;
            alerts.push(LoginAlert::User(attempt.user.clone()));
        }
        if let Some(a) = t.by_address.get_mut(&attempt.ip)
            && a.failures >= ADDRESS_FREE_FAILURES
            && !a.alerted
        {
            a.alerted = true;
            alerts.push(LoginAlert::Address(attempt.ip));
        }
        alerts
    }
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

    #[test]
    fn attempts_in_flight_count_so_a_burst_cannot_pass_the_limit() {
        let g = LoginGuard::default();
        let now = Utc::now();
        // Nobody has finished checking a password yet.
        let admitted: Vec<_> = (0..32)
            .filter_map(|_| g.begin("amy", ip("203.0.113.9"), now).ok())
            .collect();
        assert_eq!(admitted.len(), ADDRESS_FREE_FAILURES as usize);
    }

    #[test]
    fn a_delayed_user_can_still_sign_in_from_a_new_address() {
        let g = LoginGuard::default();
        let now = Utc::now();
        for i in 0..USER_FREE_FAILURES {
            let a = g.begin("amy", ip(&format!("198.51.100.{i}")), now).unwrap();
            let alerts = g.failed(&a);
            assert_eq!(
                alerts.contains(&LoginAlert::User("amy".into())),
                i + 1 == USER_FREE_FAILURES
            );
        }
        // An address that failed for amy waits; a new one is let through.
        assert!(g.begin("amy", ip("198.51.100.0"), now).is_err());
        let a = g.begin("amy", ip("192.0.2.1"), now).unwrap();
        g.succeeded(a);
        assert!(g.begin("amy", ip("198.51.100.0"), now).is_ok());
    }

    #[test]
    fn an_address_waits_longer_with_each_failure_and_is_forgotten() {
        let g = LoginGuard::default();
        let mut now = Utc::now();
        let from = ip("203.0.113.9");
        let mut waits = Vec::new();
        for n in 0..12 {
            match g.begin(&format!("user{n}"), from, now) {
                Ok(a) => {
                    let _ = g.failed(&a);
                }
                Err(wait) => {
                    waits.push(wait);
                    now += Duration::seconds(i64::try_from(wait).unwrap());
                }
            }
        }
        assert_eq!(waits, [1, 2, 4, 8]);
        now += Duration::seconds(FORGET_AFTER_SECS + 1);
        assert!(g.begin("someone", from, now).is_ok());
    }

    #[test]
    fn an_abandoned_attempt_is_not_counted() {
        let g = LoginGuard::default();
        let now = Utc::now();
        for _ in 0..10 {
            let a = g.begin("amy", None, now).unwrap();
            g.abandon(a);
        }
        assert!(g.begin("amy", None, now).is_ok());
    }
}
