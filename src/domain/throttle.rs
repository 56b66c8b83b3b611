//! The kiosk-wide lookup throttle: more than a set number of misses in a
//! window slows further lookups down, so a kiosk cannot be used to probe
//! the schedule by guessing dates of birth.

use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// Counts failed lookups on one kiosk, across sessions.
#[derive(Debug, Clone)]
pub struct LookupThrottle {
    /// Misses allowed within `window` before lookups slow down.
    free_misses: usize,
    /// The sliding window the misses are counted in.
    window: Duration,
    /// The delay after the first miss over the limit; doubles with each further miss.
    base_delay: Duration,
    /// The longest delay ever imposed.
    max_delay: Duration,
    /// When recent misses happened, oldest first.
    misses: VecDeque<DateTime<Utc>>,
}

impl LookupThrottle {
    /// A throttle that allows `free_misses` per `window`, then delays the next
    /// lookup by `base_delay`, doubling per further miss up to `max_delay`.
    pub fn new(
        free_misses: usize,
        window: Duration,
        base_delay: Duration,
        max_delay: Duration,
    ) -> Self {
        Self {
            free_misses,
            window,
            base_delay,
            max_delay,
            misses: VecDeque::new(),
        }
    }

    /// The product's default: 5 misses a minute, then 2 s doubling to 60 s.
    pub fn standard() -> Self {
        Self::new(
            5,
            Duration::minutes(1),
            Duration::seconds(2),
            Duration::seconds(60),
        )
    }

    fn forget_old(&mut self, now: DateTime<Utc>) {
        while self.misses.front().is_some_and(|t| *t <= now - self.window) {
            self.misses.pop_front();
        }
    }

    /// Records a lookup that found nobody.
    pub fn record_miss(&mut self, now: DateTime<Utc>) {
        self.forget_old(now);
        self.misses.push_back(now);
    }

    /// How long the next lookup must wait; zero when it may run now.
    pub fn wait_before_lookup(&mut self, now: DateTime<Utc>) -> Duration {
        self.forget_old(now);
        let count = self.misses.len();
        if count <= self.free_misses {
            return Duration::zero();
        }
        let excess = (count - self.free_misses - 1).min(16) as u32;
        let delay = (self.base_delay * 2i32.pow(excess)).min(self.max_delay);
        let last = *self.misses.back().expect("count > 0");
        (last + delay - now).max(Duration::zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::seconds(secs)
    }

    #[test]
    fn five_misses_a_minute_are_free() {
        let mut th = LookupThrottle::standard();
        for i in 0..5 {
            th.record_miss(t(i));
        }
        assert_eq!(th.wait_before_lookup(t(5)), Duration::zero());
    }

    #[test]
    fn the_sixth_miss_slows_lookups_and_further_misses_double_the_delay() {
        let mut th = LookupThrottle::standard();
        for i in 0..6 {
            th.record_miss(t(i));
        }
        assert_eq!(th.wait_before_lookup(t(5)), Duration::seconds(2));
        assert_eq!(th.wait_before_lookup(t(6)), Duration::seconds(1));
        assert_eq!(th.wait_before_lookup(t(7)), Duration::zero());
        th.record_miss(t(7));
        assert_eq!(th.wait_before_lookup(t(7)), Duration::seconds(4));
        for i in 8..30 {
            th.record_miss(t(i));
        }
        assert_eq!(th.wait_before_lookup(t(29)), Duration::seconds(60));
    }

    #[test]
    fn misses_older_than_the_window_are_forgotten() {
        let mut th = LookupThrottle::standard();
        for i in 0..6 {
            th.record_miss(t(i));
        }
        assert_eq!(th.wait_before_lookup(t(6)), Duration::seconds(1));
        // A minute after the first miss only five remain in the window.
        assert_eq!(th.wait_before_lookup(t(60)), Duration::zero());
    }
}
