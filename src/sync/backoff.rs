//! Exponential backoff with jitter and a cap, for retrying a server that is
//! unreachable, failing or slow.
//!
//! The ceiling doubles from the initial delay with each failure up to the
//! cap; the delay is drawn from the upper half of the ceiling ("equal
//! jitter"), so a fleet of kiosks that lost the server together does not
//! come back in lockstep, yet each waits at least half the ceiling.

use std::time::Duration;

/// The retry delays after consecutive failures.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    /// The ceiling after the first failure.
    initial: Duration,
    /// No delay is longer than this.
    max: Duration,
    /// Consecutive failures so far; 0 after a success.
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max` (at least `initial`).
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The delay before the next attempt after one more failure, with a
    /// fresh random jitter.
    pub(super) fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// As [`Backoff::next_delay`], with the jitter `unit` in `[0, 1)` given.
    pub(super) fn next_delay_with(&mut self, unit: f64) -> Duration {
        let doublings = self.failures.min(31);
        self.failures = self.failures.saturating_add(1);
        let ceiling = self
            .initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max);
        let half = ceiling / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Forgets the failures after a success.
    pub(super) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(non_snake_case)]
    fn MS(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::new(MS(100), MS(1000));
        let top: Vec<Duration> = (0..7).map(|_| b.next_delay_with(1.0)).collect();
        assert_eq!(
            top,
            [
                MS(100),
                MS(200),
                MS(400),
                MS(800),
                MS(1000),
                MS(1000),
                MS(1000)
            ]
        );
        let mut b = Backoff::new(MS(100), MS(1000));
        let bottom: Vec<Duration> = (0..5).map(|_| b.next_delay_with(0.0)).collect();
        assert_eq!(bottom, [MS(50), MS(100), MS(200), MS(400), MS(500)]);
    }

    #[test]
    fn jitter_stays_in_the_upper_half_and_reset_starts_over() {
        let mut b = Backoff::new(MS(100), MS(60_000));
        for _ in 0..100 {
            let d = b.next_delay();
            assert!(d <= MS(60_000));
        }
        // Hundreds of failures never overflow and stay capped.
        assert!(b.next_delay() >= MS(30_000));
        b.reset();
        let d = b.next_delay();
        assert!(d >= MS(50) && d <= MS(100), "{d:?}");
    }
}
